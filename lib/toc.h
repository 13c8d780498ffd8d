/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers that carry their own table of contents (TOC): eStargz (gzip
 * members, `stargz.index.json`) and zstd:chunked (zstd frames, a manifest in
 * a skippable frame; both the containers/storage writer and the
 * stargz-snapshotter's flavour).  Everything here works on bytes in memory,
 * so that the unit test and the fuzz target reach it without a blob:
 *
 *   - toc_estargz.c: the 51- and 47-byte footers, the TOC's gzip member
 *     (a tar holding stargz.index.json) to the JSON;
 *   - toc_zstdchunked.c: the 48-byte footer, the position annotation, the
 *     compressed manifest to the JSON;
 *   - toc_parse.c: the JSON (jansson) to entries and chunks, checked.
 *
 * layer_toc.c is the layer front end that uses them and serves the chunks.
 */
#ifndef LFS_TOC_H
#define LFS_TOC_H

#include <stddef.h>
#include <stdint.h>

#include "layerfs/node.h"

enum lfs_toc_kind {
	LFS_TOC_ESTARGZ, /* gzip members */
	LFS_TOC_ZSTD,	 /* zstd frames (either zstd:chunked writer) */
};

#define LFS_ESTARGZ_FOOTER	  51
#define LFS_ESTARGZ_FOOTER_LEGACY 47
#define LFS_ZSTD_FOOTER		  48 /* skippable frame header (8) + 40 */
#define LFS_ZSTD_MANIFEST_CRFS	  1
/* Refused beyond this (containers/storage's own limit is 50 MiB). */
#define LFS_TOC_MAX (64u << 20)
/*
 * A chunk is decoded whole into memory: larger ones are refused (the layer
 * is then read by the pass).  The writers cut at 4 MiB (eStargz's default)
 * or about 64 KiB (containers/storage's rolling checksum).
 */
#define LFS_TOC_CHUNK_MAX (256u << 20)

/* Where a zstd:chunked manifest is (footer or position annotation). */
struct lfs_zpos {
	uint64_t off;  /* of the compressed manifest (after its skippable frame header) */
	uint64_t clen; /* compressed length */
	uint64_t ulen; /* uncompressed length */
	uint64_t type; /* LFS_ZSTD_MANIFEST_CRFS */
};

/* One chunk of a regular file's data. */
struct lfs_toc_chunk {
	uint64_t off;  /* blob offset where its compressed data starts */
	uint64_t end;  /* blob offset its compressed data cannot reach past */
	uint64_t foff; /* offset in the file */
	uint64_t len;  /* bytes of the file */
	uint8_t sha[32];
};

/* One entry of the layer, as the builder gets it (layer_int.h). */
struct lfs_toc_ent {
	char *name;    /* as the writer spelled it */
	uint32_t mode; /* type and permission bits */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	uint64_t rdev;
	char *link;	/* symlink target, or a hard link's target name */
	int hardlink;	/* LINK names an earlier entry */
	size_t chunk0;	/* regular files: its chunks are chunks[chunk0, chunk0 + nchunks) */
	size_t nchunks; /* 0 for an empty file */
	struct lfs_xattr *xattrs;
	size_t nxattrs;
};

struct lfs_toc {
	enum lfs_toc_kind kind;
	struct lfs_toc_ent *ents; /* in layer order; the landmarks are left out */
	size_t nents;
	struct lfs_toc_chunk *chunks;
	size_t nchunks;
	/* Entries [0, nprefetch) came before .prefetch.landmark (0: none). */
	size_t nprefetch;
};

/*
 * eStargz footer: TAIL is the last N bytes of a blob of BLOB_SIZE bytes (N
 * at least LFS_ESTARGZ_FOOTER, or the whole blob when shorter).  *TOC_OFF
 * gets the TOC's offset and *FOOTER its length (51, or 47 for the legacy
 * stargz footer).  0, or -EINVAL when there is none (no message set: most
 * blobs have none).
 */
int lfs_toc_estargz_footer(const uint8_t *tail, size_t n, uint64_t blob_size, uint64_t *toc_off,
			   size_t *footer);
/*
 * The TOC's gzip member (GZ, N bytes: from the TOC offset to the footer):
 * the JSON of its tar's one entry stargz.index.json, malloc'ed in *JSON.
 * 0 or -errno with the reason set (naming NAME).
 */
int lfs_toc_estargz_json(const uint8_t *gz, size_t n, const char *name, char **json, size_t *len);

/* zstd:chunked footer (the last LFS_ZSTD_FOOTER bytes): 0, or -EINVAL (no message). */
int lfs_toc_zstd_footer(const uint8_t *tail, size_t n, uint64_t blob_size, struct lfs_zpos *p);
/* The position annotation "OFF:CLEN:ULEN:TYPE": 0, or -EINVAL with the reason set. */
int lfs_toc_zstd_position(const char *s, uint64_t blob_size, const char *name, struct lfs_zpos *p);
/* Decompress the manifest (P->clen bytes at Z) to exactly P->ulen bytes, malloc'ed. */
int lfs_toc_zstd_json(const uint8_t *z, const struct lfs_zpos *p, const char *name, char **json);

/*
 * Parse the TOC JSON (LEN bytes) of a layer of kind KIND whose payload (the
 * compressed entries) ends at PAYLOAD_END: entries, chunks, and for each
 * chunk its place in the blob, all checked (chunk offsets inside the
 * payload, each file's chunks covering it exactly, every chunk with a
 * sha256).  0, or -EBADMSG / -ENOMEM with the reason set, naming NAME.
 */
int lfs_toc_parse(const char *json, size_t len, enum lfs_toc_kind kind, uint64_t payload_end,
		  const char *name, struct lfs_toc *out);
void lfs_toc_free(struct lfs_toc *t);

/*
 * Decode chunk C of TOC from its compressed bytes IN[0, N) (blob bytes
 * from c->off on; N may stop short of c->end) into OUT (c->len bytes), and
 * check its sha256.  0; -EAGAIN when more input is needed; -EIO with the
 * reason set (naming NAME) when the data is damaged or does not match.
 */
int lfs_toc_chunk_decode(enum lfs_toc_kind kind, const struct lfs_toc_chunk *c, const uint8_t *in,
			 size_t n, uint8_t *out, const char *name);

#endif
