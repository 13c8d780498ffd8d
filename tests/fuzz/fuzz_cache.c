/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the persistent index loader (a cache file from
 * $XDG_CACHE_HOME, which a crash or another program may have damaged).
 * The input is one control byte, then three parts joined by the 8 bytes
 * "LFSCACHE": the decompressed payload (cache_format.h; in file mode the
 * 64-byte header first), the layer blob it describes, and the blob's
 * scratch data (the ".scr" file).  Control byte:
 *   bits 0-2  0: the payload as it is; else fix it up first: the blob
 *             state's xxh3 and its restart points' scratch hashes, and the
 *             sizes that must match the blob and scratch parts, so that
 *             mutations get past the checksums into the parsers
 *   bit 3     file mode: write the header and the zstd-compressed payload
 *             (header key, payload length and checksums fixed up likewise,
 *             the raw length too unless bits 0-2 are 1) into a cache
 *             directory and go through lfs_cache_load()
 *   bit 4     ask lfs_cache_load for content hashes
 *   bit 5     no scratch file
 *   bit 6     as a mount: the superseded list is stepped over, not parsed
 * Otherwise lfs_cache_decode() parses the payload, with the blob as a
 * byte range of a memfd (as in an image archive).  A loaded layer must be
 * what the mount relies on: a well-formed tree (valid names, directories
 * with one parent, file types the indexer makes, symlinks with their
 * target, known flags), its files readable or failing with a message,
 * stable through encode and decode again, and mergeable; its superseded
 * list what a report relies on (valid paths, nameless files of the layer,
 * each once, replaced by nodes of the layer).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "blob_int.h"
#include "cache.h"
#include "cache_format.h"
#include "layerfs/core.h"
#include "fuzzutil.h"
#include "layerfs/lfs.h"
#include "layerfs/tree.h"

#define NAME	    "fuzz-cache-layer"
#define SEP	    "LFSCACHE"
#define SEP_LEN	    8
#define MAX_PLAIN   (4u << 20) /* larger streams are not read back (slow) */
#define MAX_FILE    (1u << 20)
#define MAX_READS   32 /* files read back per run: a point far back costs a lot */
#define READ_BUDGET (8u << 20)

#define CTL_FIXUP   0x07
#define CTL_FILE    0x08
#define CTL_HASHES  0x10
#define CTL_NO_SCR  0x20
#define CTL_MOUNT   0x40
#define HDR_LEN	    ((size_t)sizeof(struct lfs_cache_header))
#define OFF_STORED  10 /* payload: u8 comp, u8 hashed, u64 nentries, u64 stored_size */
#define OFF_SCRATCH 90 /* ... u64 plain_size, 2 * 32 bytes sha256, u64 scratch_len */
#define OFF_STATE   98 /* ... str blob_state */
#define STATE_HDR   40 /* blob_state.c: header, POINT_REC-byte points, u64 xxh3 */
#define STATE_SUM   8
#define POINT_REC   40

struct part {
	const uint8_t *p;
	size_t n;
};

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* The scratch data a restart point covers, as the codecs read it back (NULL: none). */
static const uint8_t *point_data(int comp, const struct lfs_point *pt, const struct part *scr,
				 size_t *n)
{
	uint64_t off = comp == LFS_COMP_GZIP ? pt->win : pt->in;

	*n = 0;
	if (!pt->len || (comp == LFS_COMP_ZSTD && pt->kind != 1) || off > scr->n ||
	    pt->len > scr->n - off)
		return NULL;
	*n = pt->len;
	return scr->p + off;
}

/*
 * What a damaged file does not get right by chance: the blob state's
 * checksum, its points' hashes, and the sizes of the blob and scratch data.
 */
static void fixup_payload(uint8_t *p, size_t n, uint64_t blob_len, const struct part *scr)
{
	uint32_t slen;
	uint8_t *s;

	if (n < OFF_STATE + 4)
		return;
	put_le64(p + OFF_STORED, blob_len);
	put_le64(p + OFF_SCRATCH, scr->n);
	memcpy(&slen, p + OFF_STATE, 4);
	slen = le32toh(slen);
	if (slen < STATE_HDR + STATE_SUM || slen > n - OFF_STATE - 4)
		return;
	s = p + OFF_STATE + 4;
	put_le64(s + 8, blob_len);
	put_le64(s + 24, scr->n);
	if ((slen - STATE_HDR - STATE_SUM) % POINT_REC == 0)
		put_le64(s + 32, (slen - STATE_HDR - STATE_SUM) / POINT_REC);
	for (size_t i = 0; STATE_HDR + (i + 1) * POINT_REC + STATE_SUM <= slen; i++) {
		uint8_t *r = s + STATE_HDR + i * POINT_REC;
		uint32_t len;
		struct lfs_point pt;
		const uint8_t *data;
		size_t dn;

		memcpy(&len, r + 24, 4);
		pt = (struct lfs_point){.out = le64_at(r),
					.in = le64_at(r + 8),
					.win = le64_at(r + 16),
					.len = le32toh(len),
					.bits = r[28],
					.byte = r[29],
					.kind = r[31] ? UINT8_MAX : r[30]};
		data = point_data(s[6], &pt, scr, &dn);
		put_le64(r + 32, lfs_point_hash(&pt, data, dn));
	}
	put_le64(s + slen - STATE_SUM, XXH3_64bits(s, slen - STATE_SUM));
}

/* ---- file mode: a cache directory of our own, made before the first run's fd count */

static struct lfs_cache *cache;
static char cache_path[256];

static void cache_cleanup(void)
{
	lfs_cache_close(cache);
	rmdir(cache_path);
}

static void cache_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (cache)
		return;
	snprintf(cache_path, sizeof(cache_path), "%s/fuzz-cache.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(cache_path) || lfs_cache_open(&cache, cache_path, 0) < 0) {
		fprintf(stderr, "fuzz: cannot make a cache directory in %s\n", cache_path);
		abort();
	}
	atexit(cache_cleanup);
}

static void write_file(const char *path, const void *a, size_t an, const void *b, size_t bn)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, a, an) != (ssize_t)an || (bn && write(fd, b, bn) != (ssize_t)bn)) {
		perror("fuzz: writing a cache file");
		abort();
	}
	close(fd);
}

/* Header and compressed payload as lfs_cache_store writes them; 0 or what load returned. */
static int load_file(const uint8_t *sec, size_t n, int fix, const struct lfs_layer_desc *d,
		     const struct part *scr, int flags, struct lfs_layer **out)
{
	struct lfs_cache_header h;
	char idx[320], scrp[320];
	size_t clen;
	void *comp;
	uint8_t key[16];
	int rc;

	if (n < HDR_LEN)
		return -ENOENT;
	memcpy(&h, sec, HDR_LEN);
	clen = ZSTD_compressBound(n - HDR_LEN);
	comp = lfs_xmalloc(clen);
	clen = ZSTD_compress(comp, clen, sec + HDR_LEN, n - HDR_LEN, 1);
	if (ZSTD_isError(clen))
		fuzz_fail("ZSTD_compress: %s", ZSTD_getErrorName(clen));
	if (lfs_cache_key(d, key) < 0)
		fuzz_fail("lfs_cache_key of a memfd failed");
	if (fix >= 2)
		h.raw_len = htole64(n - HDR_LEN);
	if (fix) {
		memcpy(h.key, key, 16);
		h.payload_len = htole64(clen);
		h.payload_xxh3 = htole64(XXH3_64bits(comp, clen));
		h.header_xxh3 =
		    htole64(XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)));
	}
	snprintf(idx, sizeof(idx), "%s/", cache_path);
	for (int i = 0; i < 16; i++)
		snprintf(idx + strlen(idx), 3, "%02x", key[i]);
	snprintf(scrp, sizeof(scrp), "%s.scr", idx);
	strcat(idx, ".idx");
	write_file(idx, &h, HDR_LEN, comp, clen);
	free(comp);
	if (scr)
		write_file(scrp, scr->p, scr->n, NULL, 0);
	rc = lfs_cache_load(cache, d, key, 0, flags, out);
	if (rc != 0 && rc != -ENOENT)
		fuzz_fail("lfs_cache_load returned %d, expected 0 or -ENOENT", rc);
	unlink(idx);
	unlink(scrp);
	return rc;
}

/* ---- checks of a loaded layer */

/* One read: exactly WANT bytes, or a failure with a message naming the layer. */
static int try_read(const struct lfs_core *c, const struct lfs_node *n, char *buf, size_t len,
		    uint64_t off, size_t want, uint64_t *budget)
{
	ssize_t r;

	lfs_err_clear();
	r = lfs_core_read(c, n, buf, len, off);
	if (r < 0) {
		fuzz_check_err((int)r, NAME, "lfs_core_read");
		return -1;
	}
	if ((size_t)r != want)
		fuzz_fail("lfs_core_read(%zu at %llu) of a %llu-byte file returned %zd, expected "
			  "%zu (%s)",
			  len, (unsigned long long)off, (unsigned long long)n->size, r, want,
			  fuzz_describe(n));
	*budget = *budget > want ? *budget - want : 0;
	return 0;
}

static void read_file(const struct lfs_core *c, const struct lfs_node *n, uint64_t *budget)
{
	static char buf[65536];
	uint64_t want = n->size < MAX_FILE ? n->size : MAX_FILE;

	for (uint64_t off = 0; off < want && *budget; off += sizeof(buf)) {
		size_t len = want - off < sizeof(buf) ? (size_t)(want - off) : sizeof(buf);

		if (try_read(c, n, buf, len, off, len, budget) < 0)
			return;
	}
	if (n->size && *budget && try_read(c, n, buf, 1, n->size - 1, 1, budget) < 0)
		return;
	try_read(c, n, buf, sizeof(buf), n->size, 0, budget);
}

static int valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		return !(mode & ~(uint32_t)(S_IFMT | 07777));
	}
	return 0;
}

/* One node of the layer (NAME[0..LEN) says where): what the merge, FUSE and reports assume. */
static void check_node(const struct lfs_layer *l, const struct lfs_node *n, const char *name,
		       int len)
{
	const uint32_t known = LFS_NF_IMPLIED | LFS_NF_OPAQUE | LFS_NF_WHITEOUT;

	if (n->layer != l->index)
		fuzz_fail("'%.*s': node of layer %u in layer %u", len, name, n->layer, l->index);
	if (!valid_type(n->mode))
		fuzz_fail("'%.*s': mode 0%o is no file type the indexer makes", len, name, n->mode);
	if (!!n->dir != lfs_node_is_dir(n))
		fuzz_fail("'%.*s': mode 0%o with%s a directory table", len, name, n->mode,
			  n->dir ? "" : "out");
	if ((n->flags & ~known) || (n->dir && (n->flags & LFS_NF_WHITEOUT)) ||
	    (!n->dir && (n->flags & (LFS_NF_IMPLIED | LFS_NF_OPAQUE))))
		fuzz_fail("'%.*s': flags %#x on mode 0%o", len, name, n->flags, n->mode);
	if (S_ISLNK(n->mode) && (!n->link || strlen(n->link) != n->size))
		fuzz_fail("'%.*s': symlink of size %llu without that target", len, name,
			  (unsigned long long)n->size);
}

/*
 * The superseded list as a report reads it: absolute paths of valid names,
 * files (no whiteouts) each listed once, replaced by another node of the
 * layer.  MARK: the listed files get ino 1, for walk() to check that none
 * has a name in the tree; else the marks are taken off.
 */
static void check_superseded(const struct lfs_layer *l, int need_hashes, int mark)
{
	for (const struct lfs_superseded *s = l->superseded; s; s = s->next) {
		size_t plen = strlen(s->path);
		struct lfs_node *n = (struct lfs_node *)s->node;

		if (!mark) {
			n->ino = 0;
			continue;
		}
		if (s->path[0] != '/' || plen < 2 || s->path[plen - 1] == '/' ||
		    strstr(s->path, "//") || strstr(s->path, "/./") || strstr(s->path, "/../") ||
		    (plen >= 2 && !strcmp(s->path + plen - 2, "/.")) ||
		    (plen >= 3 && !strcmp(s->path + plen - 3, "/..")))
			fuzz_fail("superseded entry at a bad path '%s'", s->path);
		check_node(l, n, s->path, (int)plen);
		check_node(l, s->by, s->path, (int)plen);
		if (n->dir || (n->flags & LFS_NF_WHITEOUT) || s->by == n || s->below > 1)
			fuzz_fail("'%s': superseded %s by %s (below %d)", s->path, fuzz_describe(n),
				  fuzz_describe(s->by), s->below);
		if (need_hashes && S_ISREG(n->mode) && !n->hash)
			fuzz_fail("'%s': superseded file without a content hash", s->path);
		if (n->ino)
			fuzz_fail("'%s': superseded file listed twice", s->path);
		n->ino = 1;
	}
}

/* Every node reachable from the root: what the merge and the FUSE operations assume. */
static void walk(struct lfs_core *c, struct lfs_layer *l, size_t max_dirs, int need_hashes,
		 uint64_t *budget)
{
	const uint32_t known = LFS_NF_IMPLIED | LFS_NF_OPAQUE | LFS_NF_WHITEOUT;
	size_t cap = 64, top = 0, visited = 0, reads = 0;
	struct lfs_node **stack = lfs_xmalloc(cap * sizeof(*stack));
	int readable = l->plain_size <= MAX_PLAIN;

	if (!l->root->dir || !lfs_node_is_dir(l->root) || (l->root->flags & ~known))
		fuzz_fail("the root is not a directory (mode 0%o, flags %#x)", l->root->mode,
			  l->root->flags);
	stack[top++] = l->root;
	while (top) {
		struct lfs_node *d = stack[--top];

		if (++visited > max_dirs)
			fuzz_fail("more directories than the payload holds: a cycle?");
		for (uint32_t i = 0; i < d->dir->n; i++) {
			const struct lfs_dirent *e = &d->dir->ents[i];
			struct lfs_node *n = e->node;
			int len = (int)e->len;

			if (!n)
				fuzz_fail("deleted entry in a loaded directory");
			if (lfs_dir_lookup(d, e->name, e->len) != n)
				fuzz_fail("'%.*s': lookup finds another node", len, e->name);
			if (!e->len || memchr(e->name, '/', e->len) || memchr(e->name, 0, e->len) ||
			    (e->len <= 2 && !memcmp(e->name, "..", e->len)))
				fuzz_fail("bad name '%.*s' in a loaded directory", len, e->name);
			check_node(l, n, e->name, len);
			if (n->ino)
				fuzz_fail("'%.*s': listed as superseded, but has a name", len,
					  e->name);
			if (n->dir) {
				if (n->parent != d)
					fuzz_fail("'%.*s': directory with another parent", len,
						  e->name);
				if (top == cap) {
					cap *= 2;
					stack = lfs_xrealloc(stack, cap * sizeof(*stack));
				}
				stack[top++] = n;
			} else if (S_ISREG(n->mode) && !(n->flags & LFS_NF_WHITEOUT)) {
				/* lfs_cache_load's promise to reports that ask for hashes */
				if (need_hashes && !n->hash)
					fuzz_fail("'%.*s': no content hash, though asked for", len,
						  e->name);
				if (readable && *budget && reads++ < MAX_READS)
					read_file(c, n, budget);
			}
		}
	}
	free(stack);
}

/* What the loader accepted, written again, must load again and encode the same. */
static void check_roundtrip(struct lfs_layer *l, const struct lfs_layer_desc *d,
			    uint64_t scratch_len, int sfd)
{
	void *e1, *e2;
	size_t n1, n2;
	struct lfs_layer *m;
	int rc;

	if (lfs_cache_encode(l, scratch_len, &e1, &n1) < 0)
		fuzz_fail("lfs_cache_encode of a loaded layer failed: %s", lfs_err_get());
	lfs_err_clear();
	rc = lfs_cache_decode(e1, n1, d, l->index, sfd, LFS_CACHE_SUPERSEDED, &m);
	if (rc < 0)
		fuzz_fail("a loaded layer, encoded again, does not load: %s", lfs_err_get());
	if (lfs_cache_encode(m, scratch_len, &e2, &n2) < 0)
		fuzz_fail("lfs_cache_encode of a reloaded layer failed: %s", lfs_err_get());
	if (n1 != n2 || memcmp(e1, e2, n1))
		fuzz_fail("encode(decode(encode(L))) differs from encode(L) (%zu, %zu bytes)", n1,
			  n2);
	free(e1);
	free(e2);
	lfs_layer_free(m);
}

static void check_layer(struct lfs_layer *l, const struct lfs_layer_desc *d, size_t max_dirs,
			int need_hashes, int mount, uint64_t scratch_len, int sfd)
{
	struct lfs_core c = {.nlayers = 1, .layers = &l};
	uint64_t budget = READ_BUDGET;
	struct lfs_tree *t;

	if (l->index != 0 || l->stored_size != d->len || lfs_blob_size(l->blob) != l->plain_size ||
	    lfs_blob_comp(l->blob) != l->comp)
		fuzz_fail("loaded layer %u: stored %llu of %llu, plain %llu, blob %llu, comp %d "
			  "of %d",
			  l->index, (unsigned long long)l->stored_size, (unsigned long long)d->len,
			  (unsigned long long)l->plain_size,
			  (unsigned long long)lfs_blob_size(l->blob), l->comp,
			  lfs_blob_comp(l->blob));
	if (mount && l->superseded)
		fuzz_fail("a superseded list, though the mount did not ask for it");
	check_superseded(l, need_hashes, 1);
	walk(&c, l, max_dirs, need_hashes, &budget);
	check_superseded(l, need_hashes, 0);
	check_roundtrip(l, d, scratch_len, sfd);
	/* As a mount does with it (this numbers the layer's nodes: last). */
	t = lfs_tree_new();
	lfs_tree_apply(t, l->root);
	lfs_tree_freeze(t);
	for (uint64_t i = 1; i < t->ninodes; i++)
		if (!t->inodes[i] || t->inodes[i]->ino != i)
			fuzz_fail("merged inode %llu: lfs_tree_node(ino)->ino != ino",
				  (unsigned long long)i);
	lfs_tree_free(t);
}

/* Split after the control byte: payload, blob, scratch; the last takes the rest. */
static void split(const uint8_t *data, size_t size, struct part v[3])
{
	size_t start = 1, k = 0;

	memset(v, 0, 3 * sizeof(*v));
	for (size_t i = 1; k < 2 && i + SEP_LEN <= size; i++) {
		if (memcmp(data + i, SEP, SEP_LEN))
			continue;
		v[k++] = (struct part){data + start, i - start};
		start = i + SEP_LEN;
		i += SEP_LEN - 1;
	}
	v[k] = (struct part){data + start, size - start};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lfs_layer_desc d = {.name = NAME,
				   .digest = "sha256:"
					     "0000000000000000000000000000000000000000000000000000"
					     "000000000000",
				   .media_type = "application/vnd.oci.image.layer.v1.tar"};
	struct part v[3];
	struct lfs_layer *l = NULL;
	uint8_t ctl, *payload;
	size_t plen, poff;
	int lowest, fix, flags, sfd = -1, rc;
	uint64_t scratch_len = 0;

	if (size < 1)
		return 0;
	cache_setup();
	lowest = fuzz_fd_lowest();
	ctl = data[0];
	fix = ctl & CTL_FIXUP;
	flags = ctl & CTL_MOUNT ? 0 : LFS_CACHE_SUPERSEDED;
	split(data, size, v);
	/* The blob is a byte range of the input, as layers in an image archive are. */
	d.fd = fuzz_memfd(data, size);
	d.off = (uint64_t)(v[1].p ? v[1].p - data : 0);
	d.len = v[1].n;
	poff = ctl & CTL_FILE ? HDR_LEN : 0;
	plen = v[0].n;
	/* A copy of exactly its size: ASan sees reads past the end. */
	payload = lfs_xmalloc(plen ? plen : 1);
	memcpy(payload, v[0].p, plen);
	if (fix && plen >= poff)
		fixup_payload(payload + poff, plen - poff, d.len, &v[2]);
	if (!(ctl & CTL_NO_SCR) && plen >= poff + OFF_SCRATCH + 8)
		scratch_len = le64_at(payload + poff + OFF_SCRATCH);
	lfs_err_clear();
	if (ctl & CTL_FILE) {
		int scr = !(ctl & CTL_NO_SCR) && v[2].n;

		rc = load_file(payload, plen, fix, &d, scr ? &v[2] : NULL,
			       (ctl & CTL_HASHES ? LFS_CACHE_HASHES : 0) | flags, &l);
		if (!scr)
			scratch_len = 0;
		if (scr)
			sfd = fuzz_memfd(v[2].p, v[2].n);
	} else {
		if (!(ctl & CTL_NO_SCR))
			sfd = fuzz_memfd(v[2].p, v[2].n);
		rc = lfs_cache_decode(payload, plen, &d, 0, sfd, flags, &l);
		if (rc < 0)
			fuzz_check_err(rc, NAME, "lfs_cache_decode");
		if (sfd < 0)
			scratch_len = 0;
	}
	if (rc == 0) {
		fuzz_note("loaded: %llu plain bytes, comp %d", (unsigned long long)l->plain_size,
			  l->comp);
		check_layer(l, &d, plen / LFS_CACHE_NODE_FIXED + 1,
			    (ctl & CTL_FILE) && (ctl & CTL_HASHES), !flags, scratch_len, sfd);
		lfs_layer_free(l);
	}
	if (sfd >= 0)
		close(sfd);
	close(d.fd);
	free(payload);
	fuzz_fd_check(lowest);
	return 0;
}
