// SPDX-License-Identifier: Apache-2.0
//
// refwriter-estargz: builds an eStargz blob from an uncompressed (or gzip /
// zstd) layer tar with the REFERENCE writer, estargz.Build from
// github.com/containerd/stargz-snapshotter/estargz (Debian's
// golang-github-containerd-stargz-snapshotter-dev), so that layerfs's
// readers are tested against blobs they did not write themselves.
//
// Usage:
//
//	refwriter-estargz [-chunk-size N] [-prioritized a,b,...] [-level N]
//	                  [-zstdchunked] [-procs N] IN.tar OUT.blob
//
// Prints one JSON object on stdout:
//
//	{"toc_digest": "sha256:...", "diff_id": "sha256:...",
//	 "blob_digest": "sha256:...", "blob_size": N, "uncompressed_size": N,
//	 "missed_prioritized": [...], "annotations": {...}}
//
// toc_digest goes in the layer descriptor's annotation
// containerd.io/snapshot/stargz/toc.digest; uncompressed_size in
// io.containers.estargz.uncompressed-size.  Without -prioritized the blob
// has a .no.prefetch.landmark entry; with it, the listed files come first,
// followed by .prefetch.landmark.  -zstdchunked uses the stargz-snapshotter's
// own zstd:chunked compressor (estargz/zstdchunked, the TOC is an eStargz
// JTOC, what `ctr-remote image optimize --zstdchunked` writes).
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/zstd"
)

// estargz.Compression is a Compressor and a Decompressor (as in
// estargz/testutil.go's zstdchunked test compression).
type zstdCompression struct {
	*zstdchunked.Compressor
	*zstdchunked.Decompressor
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "refwriter-estargz: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	chunkSize := flag.Int("chunk-size", 0, "estargz.WithChunkSize (0: the library's default, 4 MiB)")
	prio := flag.String("prioritized", "", "comma-separated prioritized files (estargz.WithPrioritizedFiles); makes a .prefetch.landmark")
	prioNL := flag.String("prioritized-file", "", "file with one prioritized path per line (alternative to -prioritized)")
	allowMissing := flag.Bool("allow-missing", false, "estargz.WithAllowPrioritizeNotFound: prioritized files missing from the tar are reported, not fatal")
	level := flag.Int("level", -100, "compression level (gzip: estargz.WithCompressionLevel, default BestCompression=9; zstd: zstd level, default 3)")
	zc := flag.Bool("zstdchunked", false, "use estargz/zstdchunked.Compressor (stargz-snapshotter's zstd:chunked) instead of gzip")
	procs := flag.Int("procs", 0, "GOMAXPROCS: Build splits the layer into that many gzip sub-blobs (0: leave as is)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: refwriter-estargz [options] IN.tar OUT.blob")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	in, err := os.Open(flag.Arg(0))
	if err != nil {
		die("%v", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		die("%v", err)
	}

	prioritized := []string{}
	if *prio != "" {
		prioritized = append(prioritized, strings.Split(*prio, ",")...)
	}
	if *prioNL != "" {
		b, err := os.ReadFile(*prioNL)
		if err != nil {
			die("%v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				prioritized = append(prioritized, l)
			}
		}
	}

	opts := []estargz.Option{}
	if *chunkSize > 0 {
		opts = append(opts, estargz.WithChunkSize(*chunkSize))
	}
	if len(prioritized) > 0 {
		opts = append(opts, estargz.WithPrioritizedFiles(prioritized))
	}
	missed := []string{}
	if *allowMissing {
		opts = append(opts, estargz.WithAllowPrioritizeNotFound(&missed))
	}
	annotations := map[string]string{}
	if *zc {
		lv := zstd.SpeedDefault
		if *level != -100 {
			lv = zstd.EncoderLevelFromZstd(*level)
		}
		opts = append(opts, estargz.WithCompression(zstdCompression{
			&zstdchunked.Compressor{CompressionLevel: lv, Metadata: annotations},
			&zstdchunked.Decompressor{},
		}))
	} else if *level != -100 {
		opts = append(opts, estargz.WithCompressionLevel(*level))
	}

	blob, err := estargz.Build(io.NewSectionReader(in, 0, st.Size()), opts...)
	if err != nil {
		die("estargz.Build: %v", err)
	}
	out, err := os.Create(flag.Arg(1))
	if err != nil {
		die("%v", err)
	}
	h := sha256.New()
	cnt := &countWriter{}
	if _, err := io.Copy(io.MultiWriter(out, h, cnt), blob); err != nil {
		die("writing %s: %v", flag.Arg(1), err)
	}
	if err := blob.Close(); err != nil {
		die("%v", err)
	}
	if err := out.Close(); err != nil {
		die("%v", err)
	}

	// The uncompressed size: decompress the blob we wrote (the whole
	// stream, TOC entry included, as the DiffID is computed).
	var usize int64
	{
		f, err := os.Open(flag.Arg(1))
		if err != nil {
			die("%v", err)
		}
		var d estargz.Decompressor = &estargz.GzipDecompressor{}
		if *zc {
			d = &zstdchunked.Decompressor{}
		}
		r, err := d.Reader(f)
		if err != nil {
			die("%v", err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			die("decompressing the blob: %v", err)
		}
		r.Close()
		f.Close()
		usize = n
	}

	annotations[estargz.TOCJSONDigestAnnotation] = blob.TOCDigest().String()
	annotations[estargz.StoreUncompressedSizeAnnotation] = fmt.Sprintf("%d", usize)
	res := map[string]interface{}{
		"toc_digest":         blob.TOCDigest().String(),
		"diff_id":            blob.DiffID().String(),
		"blob_digest":        fmt.Sprintf("sha256:%x", h.Sum(nil)),
		"blob_size":          cnt.n,
		"uncompressed_size":  usize,
		"missed_prioritized": missed,
		"prioritized":        prioritized,
		"compression":        map[bool]string{false: "gzip", true: "zstdchunked"}[*zc],
		"annotations":        annotations,
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		die("%v", err)
	}
}
