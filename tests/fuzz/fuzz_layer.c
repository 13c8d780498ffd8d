/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: index one layer (raw tar, gzip or zstd) from a memfd, then
 * read everything back and compare it with an independent libarchive pass
 * over the same input:
 *   - the uncompressed stream through lfs_blob_pread, sequentially and at
 *     random offsets, against libarchive's own gzip/zstd decoding;
 *   - every regular file through lfs_core_read against the data libarchive
 *     returns for the same tar entry (sparse holes included);
 *   - with content hashing on (odd-sized inputs), the indexer's xxh3 of
 *     every plain file against the bytes read back.
 * Any difference means the mount would show other bytes than extracting
 * the layer: a bug.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "layerfs/core.h"
#include "fuzzutil.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"

#define NAME	    "fuzz-layer"
#define MAX_PLAIN   (8u << 20)	/* decompression bomb guard: keeps a run fast */
#define MAX_FILE    (4u << 20)	/* files compared byte for byte */
#define READ_BUDGET (16u << 20) /* bytes read back per run */
#define MAX_COMP    (PATH_MAX / 2)

/* Small deterministic generator for the random reads. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The uncompressed stream, read sequentially through the blob. */
static char *read_plain(struct lfs_blob *b, uint64_t size)
{
	char *p = lfs_xmalloc(size ? size : 1);
	uint64_t off = 0;

	while (off < size) {
		size_t len = size - off < 100000 ? (size_t)(size - off) : 100000;
		ssize_t r = lfs_blob_pread(b, p + off, len, off);

		if (r <= 0 || (size_t)r != len)
			fuzz_fail("lfs_blob_pread(%zu at %llu) of a %llu-byte stream returned %zd",
				  len, (unsigned long long)off, (unsigned long long)size, r);
		off += len;
	}
	return p;
}

/* Random reads (with the ends) must agree with the sequential pass. */
static void check_random_reads(struct lfs_blob *b, const char *plain, uint64_t size, uint64_t seed)
{
	static char buf[70000];
	uint64_t s = seed | 1;

	for (int i = 0; i < 8; i++) {
		uint64_t off = size ? rng_next(&s) % (size + 1) : 0;
		size_t len = (size_t)(rng_next(&s) % sizeof(buf));
		size_t want;
		ssize_t r;

		if (i == 0)
			off = size > 10 ? size - 10 : 0;
		if (i == 1)
			off = size + 1;
		want = off >= size ? 0 : size - off < len ? (size_t)(size - off) : len;
		r = lfs_blob_pread(b, buf, len, off);
		if (r < 0 || (size_t)r != want)
			fuzz_fail("lfs_blob_pread(%zu at %llu) of a %llu-byte stream returned %zd, "
				  "expected %zu",
				  len, (unsigned long long)off, (unsigned long long)size, r, want);
		if (memcmp(buf, plain + off, want))
			fuzz_fail("lfs_blob_pread(%zu at %llu) differs from a sequential read", len,
				  (unsigned long long)off);
	}
}

/*
 * libarchive decoding the stored bytes on its own (its gzip and zstd
 * filters, the raw format) must give the same stream as our blob.
 */
static void check_decompression(struct lfs_layer *l, const uint8_t *data, size_t size,
				const char *plain)
{
	struct archive *a;
	struct archive_entry *e;
	uint64_t pos = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	if (l->comp == LFS_COMP_NONE) {
		if (l->plain_size != size || memcmp(plain, data, size))
			fuzz_fail("the plain stream of an uncompressed layer is not its bytes");
		return;
	}
	a = archive_read_new();
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_memory(a, data, size) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK ||
	    archive_filter_code(a, 0) !=
		(l->comp == LFS_COMP_GZIP ? ARCHIVE_FILTER_GZIP : ARCHIVE_FILTER_ZSTD)) {
		/* libarchive does not take it (a skippable frame first, say): no reference. */
		archive_read_free(a);
		return;
	}
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if ((uint64_t)off != pos || pos + len > l->plain_size)
			fuzz_fail("%s stream: libarchive decodes %llu+ bytes, layerfs %llu",
				  lfs_comp_name(l->comp), (unsigned long long)(off + len),
				  (unsigned long long)l->plain_size);
		if (memcmp(buf, plain + pos, len))
			fuzz_fail("%s stream: layerfs and libarchive decode different bytes near "
				  "offset %llu",
				  lfs_comp_name(l->comp), (unsigned long long)pos);
		pos += len;
	}
	/* A stream libarchive ends early (trailing data it ignores) is no reference. */
	(void)r;
	archive_read_free(a);
}

static struct lfs_node *layer_lookup(struct lfs_layer *l, const char *path)
{
	static const char *comp[MAX_COMP];
	static uint32_t clen[MAX_COMP];
	struct lfs_node *cur = l->root;
	int n = lfs_path_split(path, comp, clen, MAX_COMP);

	if (n <= 0)
		return NULL;
	for (int i = 0; i < n && cur; i++)
		cur = cur->dir ? lfs_dir_lookup(cur, comp[i], clen[i]) : NULL;
	return cur;
}

/* The data libarchive returns for the current entry, holes as zeros; false on an error. */
static bool entry_data(struct archive *a, char *out, uint64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	memset(out, 0, size);
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
			return false;
		memcpy(out + off, buf, len);
	}
	return r == ARCHIVE_EOF;
}

/*
 * What the last tar entry for a path says the index holds there.  The
 * layer's own rules (OCI/containerd): a ".wh.NAME" entry of any type is a
 * whiteout of NAME, a character device 0:0 one too, ".wh..wh..opq" makes
 * its directory opaque, a later entry for a path wins.
 */
enum want {
	W_WHITEOUT,
	W_DIR,
	W_NONDIR,
};

struct event {
	char *path; /* normalised, "a/b/c" */
	size_t len;
	enum want want;
};

struct events {
	struct event *v;
	size_t n, cap;
	bool overflow;
};

#define MAX_EVENTS 2000

static void event_add(struct events *ev, const char *path, enum want want)
{
	static const char *comp[MAX_COMP];
	static uint32_t clen[MAX_COMP];
	int n = lfs_path_split(path, comp, clen, MAX_COMP);
	size_t len = 0;
	char *p;

	if (n <= 0)
		return; /* the root, "..", too long: skipped by the indexer */
	for (int i = 0; i < n; i++)
		if (clen[i] >
		    NAME_MAX + (i == n - 1 && clen[i] >= 4 && !memcmp(comp[i], ".wh.", 4) ? 4 : 0))
			return; /* a name Linux cannot hold: skipped too */
	if (ev->n == MAX_EVENTS) {
		ev->overflow = true;
		return;
	}
	/* A ".wh." name is a whiteout of the rest; meaningless ones are skipped. */
	if (clen[n - 1] >= 4 && !memcmp(comp[n - 1], ".wh.", 4)) {
		const char *rest = comp[n - 1] + 4;
		uint32_t rlen = clen[n - 1] - 4;

		if (rlen == 8 && !memcmp(rest, ".wh..opq", 8)) {
			n--; /* the opaque marker: its directory exists */
			want = W_DIR;
			if (!n)
				return;
		} else if (!rlen || (rlen == 1 && rest[0] == '.') ||
			   (rlen == 2 && !memcmp(rest, "..", 2))) {
			return;
		} else {
			comp[n - 1] = rest;
			clen[n - 1] = rlen;
			want = W_WHITEOUT;
		}
	}
	for (int i = 0; i < n; i++)
		len += clen[i] + 1;
	p = lfs_xmalloc(len);
	len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(p + len, comp[i], clen[i]);
		len += clen[i];
		p[len++] = '/';
	}
	p[--len] = '\0';
	if (ev->n == ev->cap) {
		ev->cap = ev->cap ? 2 * ev->cap : 64;
		ev->v = lfs_xrealloc(ev->v, ev->cap * sizeof(*ev->v));
	}
	ev->v[ev->n++] = (struct event){.path = p, .len = len, .want = want};
}

/* Whether A is B, or a directory above or below it. */
static bool related(const struct event *a, const struct event *b)
{
	size_t n = a->len < b->len ? a->len : b->len;

	if (memcmp(a->path, b->path, n))
		return false;
	return a->len == b->len || (a->len > n ? a->path[n] : b->path[n]) == '/';
}

/*
 * What a hard link to TARGET is: what the latest entry that touched TARGET
 * left there (a whiteout stays one), or -1 when nothing is there (the
 * indexer refuses the layer, or skips the link when the target was skipped).
 */
static int link_want(const struct events *ev, const char *target)
{
	struct events one = {0};
	int want = -1;

	event_add(&one, target, W_NONDIR);
	if (!one.n)
		return -1;
	for (size_t i = ev->n; i-- > 0;) {
		if (!related(&ev->v[i], &one.v[0]))
			continue;
		if (ev->v[i].len == one.v[0].len)
			want = (int)ev->v[i].want;
		break;
	}
	free(one.v[0].path);
	free(one.v);
	return want == W_DIR ? -1 : want;
}

/* Whether PATH's last component is a ".wh." name. */
static bool wh_name(const char *path)
{
	static const char *comp[MAX_COMP];
	static uint32_t clen[MAX_COMP];
	int n = lfs_path_split(path, comp, clen, MAX_COMP);

	return n > 0 && clen[n - 1] >= 4 && !memcmp(comp[n - 1], ".wh.", 4);
}

static void event_entry(struct events *ev, struct archive_entry *e, const char *path)
{
	mode_t type = archive_entry_filetype(e);
	const char *t = archive_entry_symlink(e);

	if (archive_entry_hardlink(e)) {
		int want = link_want(ev, archive_entry_hardlink(e));

		/* a ".wh." name is a whiteout whatever it links to */
		if (want >= 0 || wh_name(path))
			event_add(ev, path, want == W_WHITEOUT ? W_WHITEOUT : W_NONDIR);
	} else if (type == AE_IFLNK && (!t || !*t || strlen(t) > 4095))
		; /* a symlink Linux cannot hold: skipped */
	else if (type == AE_IFDIR)
		event_add(ev, path, W_DIR);
	else if (type == AE_IFCHR && archive_entry_rdev(e) == 0)
		event_add(ev, path, W_WHITEOUT);
	else if (type == AE_IFREG || type == AE_IFLNK || type == AE_IFCHR || type == AE_IFBLK ||
		 type == AE_IFIFO)
		event_add(ev, path, W_NONDIR);
}

/* The entries no later entry touches (same path, above or below) decide the node. */
static void check_events(struct lfs_layer *l, struct events *ev)
{
	for (size_t i = 0; i < ev->n; i++) {
		const struct event *a = &ev->v[i];
		struct lfs_node *n;
		size_t j;

		for (j = i + 1; !ev->overflow && j < ev->n && !related(a, &ev->v[j]); j++)
			;
		if (ev->overflow || j < ev->n)
			continue;
		n = layer_lookup(l, a->path);
		if (!n)
			fuzz_fail("'%s': the layer's last entry for it left nothing in the index",
				  a->path);
		if (a->want == W_WHITEOUT && !(n->flags & LFS_NF_WHITEOUT))
			fuzz_fail(
			    "'%s': the layer's last entry for it is a whiteout, the index holds "
			    "a %s",
			    a->path, n->dir ? "directory" : "file");
		if (a->want != W_WHITEOUT && (n->flags & LFS_NF_WHITEOUT))
			fuzz_fail("'%s': indexed as a whiteout, but the last entry is not one",
				  a->path);
		if ((a->want == W_DIR) != !!n->dir)
			fuzz_fail(
			    "'%s': the layer's last entry is %sa directory, the index says the "
			    "opposite",
			    a->path, a->want == W_DIR ? "" : "not ");
	}
}

static void events_free(struct events *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		free(ev->v[i].path);
	free(ev->v);
}

/*
 * Walk the tar again with libarchive; for every entry that is what the index
 * kept at its path (same data offset), the file read back through the core
 * must be the entry's data.
 */
static void check_files(struct lfs_core *c, struct lfs_layer *l, const char *plain,
			uint64_t *budget)
{
	static char want[MAX_FILE], got[MAX_FILE];
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	uint64_t nentries = 0, compared = 0;
	struct events ev = {0};
	int r;

	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, plain, l->plain_size) != ARCHIVE_OK)
		fuzz_fail("libarchive cannot open a stream the indexer took: %s",
			  archive_error_string(a));
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		uint64_t off = (uint64_t)archive_filter_bytes(a, 0);
		const char *path = archive_entry_pathname(e);
		struct lfs_node *n;

		nentries++;
		if (!path)
			path = archive_entry_pathname_utf8(e);
		if (path)
			event_entry(&ev, e, path);
		if (!path || archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		n = layer_lookup(l, path);
		if (!n || n->dir || (n->flags & LFS_NF_WHITEOUT) || !S_ISREG(n->mode) ||
		    n->data_off != off)
			continue;
		if (n->size != (uint64_t)archive_entry_size(e))
			fuzz_fail("%s: indexed size %llu, libarchive says %lld (%s)", path,
				  (unsigned long long)n->size, (long long)archive_entry_size(e),
				  fuzz_describe(n));
		if (n->size > MAX_FILE || !*budget)
			continue;
		if (!entry_data(a, want, n->size))
			goto out; /* libarchive cannot read it: no reference from here on */
		fuzz_read_file(c, n, path, got, MAX_FILE, budget);
		if (!*budget)
			goto out;
		if (memcmp(want, got, n->size)) {
			uint64_t i = 0;

			while (want[i] == got[i])
				i++;
			fuzz_fail(
			    "%s: lfs_core_read differs from the tar entry's data at byte %llu "
			    "(%s)",
			    path, (unsigned long long)i, fuzz_describe(n));
		}
		compared++;
		if (n->hash && !n->sparse) {
			XXH128_hash_t h = XXH3_128bits(got, n->size);

			if (h.low64 != n->hash->lo || h.high64 != n->hash->hi)
				fuzz_fail(
				    "%s: the indexer's content hash is not the hash of the data",
				    path);
		}
	}
	if (r == ARCHIVE_EOF && nentries != l->nentries)
		fuzz_fail("the indexer read %llu entries, libarchive %llu",
			  (unsigned long long)l->nentries, (unsigned long long)nentries);
	/* Only a pass that saw every entry knows which is the last. */
	if (r == ARCHIVE_EOF)
		check_events(l, &ev);
out:
	events_free(&ev);
	fuzz_note("%llu of %llu entries compared with libarchive's data",
		  (unsigned long long)compared, (unsigned long long)nentries);
	archive_read_free(a);
}

/* Every node of the layer: sane fields, every regular file readable. */
static void walk(struct lfs_core *c, struct lfs_layer *l, uint64_t *budget)
{
	size_t cap = 64, top = 0, visited = 0;
	struct lfs_node **stack = lfs_xmalloc(cap * sizeof(*stack));

	stack[top++] = l->root;
	while (top) {
		struct lfs_node *d = stack[--top];

		if (++visited > (l->nentries + 1) * MAX_COMP)
			fuzz_fail("more directories than the layer can have: a cycle?");
		for (uint32_t i = 0; i < d->dir->n; i++) {
			const struct lfs_dirent *e = &d->dir->ents[i];
			struct lfs_node *n = e->node;

			if (!n)
				continue;
			if (lfs_dir_lookup(d, e->name, e->len) != n)
				fuzz_fail("'%.*s': the directory's lookup finds another node",
					  (int)e->len, e->name);
			if (n->layer != l->index)
				fuzz_fail("'%.*s': node of layer %u in layer %u", (int)e->len,
					  e->name, n->layer, l->index);
			if (!e->len || memchr(e->name, '/', e->len) ||
			    (e->len <= 2 && !memcmp(e->name, "..", e->len)))
				fuzz_fail("bad name '%.*s' in a layer directory", (int)e->len,
					  e->name);
			if (n->dir) {
				if (!lfs_node_is_dir(n) || n->parent != d)
					fuzz_fail("'%.*s': bad directory node", (int)e->len,
						  e->name);
				if (top == cap) {
					cap *= 2;
					stack = lfs_xrealloc(stack, cap * sizeof(*stack));
				}
				stack[top++] = n;
			} else if (n->flags & LFS_NF_WHITEOUT) {
				continue;
			} else if (S_ISLNK(n->mode)) {
				if (!n->link || strlen(n->link) != n->size)
					fuzz_fail("'%.*s': symlink without its target", (int)e->len,
						  e->name);
			} else if (S_ISREG(n->mode) && *budget) {
				fuzz_read_file(c, n, e->name, NULL, 1u << 18, budget);
			} else if (lfs_node_is_dir(n)) {
				fuzz_fail("'%.*s': directory mode without a table", (int)e->len,
					  e->name);
			}
		}
	}
	free(stack);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Odd-sized inputs also hash every file: both indexer paths get fuzzed. */
	struct lfs_layer_opts o = {.max_plain = MAX_PLAIN, .hash_content = size & 1};
	struct lfs_layer_desc d = {.name = NAME, .len = size};
	struct lfs_layer *l = NULL;
	struct lfs_core c = {.nlayers = 1};
	uint64_t budget = READ_BUDGET;
	int lowest = fuzz_fd_lowest(), rc;
	char *plain;

	d.fd = fuzz_memfd(data, size);
	lfs_err_clear();
	rc = lfs_layer_index(&l, &d, 0, &o);
	close(d.fd);
	if (rc) {
		fuzz_check_err(rc, NAME, "lfs_layer_index");
		fuzz_fd_check(lowest);
		return 0;
	}
	if (l->stored_size != size || l->plain_size != lfs_blob_size(l->blob) ||
	    l->plain_size > MAX_PLAIN)
		fuzz_fail("layer sizes: stored %llu of %zu, plain %llu, blob %llu",
			  (unsigned long long)l->stored_size, size,
			  (unsigned long long)l->plain_size,
			  (unsigned long long)lfs_blob_size(l->blob));
	c.layers = &l;
	plain = read_plain(l->blob, l->plain_size);
	check_random_reads(l->blob, plain, l->plain_size, XXH3_64bits(data, size));
	check_decompression(l, data, size, plain);
	check_files(&c, l, plain, &budget);
	walk(&c, l, &budget);
	free(plain);
	lfs_layer_free(l);
	fuzz_fd_check(lowest);
	return 0;
}
