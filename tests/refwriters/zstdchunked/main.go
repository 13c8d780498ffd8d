// SPDX-License-Identifier: Apache-2.0
//
// refwriter-zstdchunked: builds a zstd:chunked blob from an uncompressed
// layer tar with the REFERENCE writer, compressor.ZstdCompressor from
// github.com/containers/storage/pkg/chunked/compressor (Debian's
// golang-github-containers-storage-dev), the code podman/buildah/skopeo use
// for `--compression-format zstd:chunked`.
//
// Usage:
//
//	refwriter-zstdchunked [-level N] IN.tar OUT.blob
//
// Prints one JSON object on stdout:
//
//	{"annotations": {"io.containers.zstd-chunked.manifest-checksum": ...,
//	                 "io.containers.zstd-chunked.manifest-position": ...},
//	 "diff_id": "sha256:...", "blob_digest": "sha256:...",
//	 "blob_size": N, "uncompressed_size": N,
//	 "input_digest": "sha256:...", "input_size": N}
//
// diff_id/uncompressed_size are of the blob's decompressed stream (the
// compressor drops the input's padding after the end-of-archive blocks, so
// they can differ from input_digest/input_size).
//
// The annotations are exactly the metadata map the compressor filled; they
// go in the layer descriptor of the image manifest.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/containers/storage/pkg/chunked/compressor"
	"github.com/klauspost/compress/zstd"
)

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "refwriter-zstdchunked: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	level := flag.Int("level", 0, "zstd level (0: the compressor's default, 10)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: refwriter-zstdchunked [-level N] IN.tar OUT.blob")
		flag.PrintDefaults()
		os.Exit(2)
	}
	in, err := os.Open(flag.Arg(0))
	if err != nil {
		die("%v", err)
	}
	defer in.Close()
	out, err := os.Create(flag.Arg(1))
	if err != nil {
		die("%v", err)
	}
	bh := sha256.New()
	bc := &countWriter{}
	metadata := map[string]string{}
	var lv *int
	if *level != 0 {
		lv = level
	}
	zw, err := compressor.ZstdCompressor(io.MultiWriter(out, bh, bc), metadata, lv)
	if err != nil {
		die("compressor.ZstdCompressor: %v", err)
	}
	dh := sha256.New()
	dc := &countWriter{}
	if _, err := io.Copy(io.MultiWriter(zw, dh, dc), in); err != nil {
		die("compressing: %v", err)
	}
	if err := zw.Close(); err != nil {
		die("compressor close: %v", err)
	}
	if err := out.Close(); err != nil {
		die("%v", err)
	}
	// The DiffID is the digest of what the blob decompresses to, which
	// is not always the input: the compressor stops at the tar's
	// end-of-archive blocks and drops any record padding after them.
	f, err := os.Open(flag.Arg(1))
	if err != nil {
		die("%v", err)
	}
	zr, err := zstd.NewReader(f)
	if err != nil {
		die("%v", err)
	}
	uh := sha256.New()
	un, err := io.Copy(uh, zr)
	if err != nil {
		die("decompressing the blob: %v", err)
	}
	zr.Close()
	f.Close()
	res := map[string]interface{}{
		"annotations":       metadata,
		"diff_id":           fmt.Sprintf("sha256:%x", uh.Sum(nil)),
		"blob_digest":       fmt.Sprintf("sha256:%x", bh.Sum(nil)),
		"blob_size":         bc.n,
		"uncompressed_size": un,
		"input_digest":      fmt.Sprintf("sha256:%x", dh.Sum(nil)),
		"input_size":        dc.n,
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		die("%v", err)
	}
}
