/*
 * Index one layer: a single pass with libarchive's tar reader over the plain
 * stream that the blob scan produces, recording for each entry its metadata
 * and where its data starts, so reads later go straight to that offset.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include "lfs.h"
#include "layer.h"

#define MAX_COMPONENTS (PATH_MAX / 2)
#define SHOWN	       256 /* room for a name in a message */
#define WH_PREFIX      ".wh."
#define WH_OPAQUE      ".wh..wh..opq"

struct indexer {
	struct lfs_layer *l;
	struct archive *a;
	struct lfs_scan *scan;
	int scan_err; /* -errno from the scan, so its message wins over libarchive's */
	char scan_msg[LFS_ERRMAX];
	int warned_abs;
	int hash_content;
	struct lfs_node
	    *pending; /* last regular file: its stored bytes are checked at the next header */
	_Atomic uint64_t *progress; /* shared with the other indexers */
	uint64_t reported;	    /* stored bytes already added to *progress */
};

int lfs_path_split(const char *path, const char **comp, uint32_t *len, int maxc)
{
	const char *p = path;
	int n = 0;

	if (strlen(path) > PATH_MAX)
		return -ENAMETOOLONG;
	while (*p) {
		const char *s;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		if (p - s == 1 && s[0] == '.')
			continue;
		if (p - s == 2 && s[0] == '.' && s[1] == '.')
			return -EINVAL;
		if (n == maxc)
			return -ENAMETOOLONG;
		comp[n] = s;
		len[n] = (uint32_t)(p - s);
		n++;
	}
	return n;
}

/* libarchive errors become one message here, in one place. */
static int archive_fail(struct indexer *ix, const char *what)
{
	int e = archive_errno(ix->a);

	if (ix->scan_err) {
		lfs_err_set("%s", ix->scan_msg);
		return ix->scan_err;
	}
	lfs_err_set("%s: %s: %s", ix->l->name, what,
		    archive_error_string(ix->a) ? archive_error_string(ix->a) : "tar error");
	return e == ENOMEM ? -ENOMEM : -EIO;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
	struct indexer *ix = ud;
	ssize_t n = lfs_scan_read(ix->scan, buf);

	if (n < 0) {
		ix->scan_err = (int)n;
		snprintf(ix->scan_msg, sizeof(ix->scan_msg), "%s", lfs_err_get());
		archive_set_error(a, (int)-n, "%s", ix->scan_msg);
		return -1;
	}
	if (ix->progress) {
		uint64_t pos = lfs_scan_stored_pos(ix->scan);

		atomic_fetch_add(ix->progress, pos - ix->reported);
		ix->reported = pos;
	}
	return n;
}

static la_int64_t skip_cb(struct archive *a, void *ud, la_int64_t req)
{
	struct indexer *ix = ud;

	(void)a;
	return lfs_scan_skip(ix->scan, req);
}

/* Drop one name of N (and of everything below it when it is a directory). */
static void unlink_subtree(struct lfs_node *n)
{
	if (!n)
		return;
	if (!n->dir) {
		if (n->nlink)
			n->nlink--;
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++)
		unlink_subtree(n->dir->ents[i].node);
}

static struct lfs_node *implied_dir(struct lfs_layer *l, struct lfs_node *parent, const char *name,
				    uint32_t len)
{
	struct lfs_node *d = lfs_dir_new(l->arena, parent);

	d->flags = LFS_NF_IMPLIED;
	d->layer = l->index;
	unlink_subtree(lfs_dir_set(parent, name, len, d));
	return d;
}

/* The directory for components [0, n), created as implied directories where missing. */
static struct lfs_node *walk_parents(struct lfs_layer *l, const char **comp, const uint32_t *len,
				     int n)
{
	struct lfs_node *cur = l->root;

	for (int i = 0; i < n; i++) {
		struct lfs_node *c = lfs_dir_lookup(cur, comp[i], len[i]);

		if (!c || !c->dir) {
			/* Names live in the arena: a directory keeps pointers to them. */
			c = implied_dir(l, cur, lfs_arena_strndup(l->arena, comp[i], len[i]),
					len[i]);
		}
		cur = c;
	}
	return cur;
}

static const struct lfs_xattrs *read_xattrs(struct lfs_layer *l, struct archive_entry *e,
					    int *opaque)
{
	const char *name;
	const void *val;
	size_t size, n = 0, i = 0, j;
	struct lfs_xattrs *xs;

	if (archive_entry_xattr_reset(e) == 0)
		return NULL;
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK)
		n++;
	xs = lfs_arena_alloc(l->arena, sizeof(*xs) + n * sizeof(xs->x[0]));
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		/* Overlay's own xattrs are consumed by the merge, never shown. */
		if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13)) {
			if ((!strcmp(name, "trusted.overlay.opaque") ||
			     !strcmp(name, "user.overlay.opaque")) &&
			    size == 1 && *(const char *)val == 'y')
				*opaque = 1;
			continue;
		}
		/*
		 * libarchive's pax writer stores each xattr twice (LIBARCHIVE.xattr
		 * and SCHILY.xattr) and its reader returns both: the later wins.
		 */
		for (j = 0; j < i && strcmp(xs->x[j].name, name); j++)
			;
		if (j == i) {
			xs->x[i].name = lfs_arena_strndup(l->arena, name, strlen(name));
			i++;
		}
		xs->x[j].value = lfs_arena_memdup(l->arena, val, size);
		xs->x[j].len = size;
	}
	xs->n = (uint32_t)i;
	return i ? xs : NULL;
}

/*
 * The sparse map, accepted only in the form real writers produce: extents in
 * order, not overlapping, inside the file.  Anything else is reported as
 * damage, since the bytes the layer stores could not be placed for sure.
 * Empty extents (GNU tar ends maps with one) are dropped.
 */
static int read_sparse(struct lfs_layer *l, struct archive_entry *e, uint64_t size,
		       const struct lfs_sparse **out)
{
	int n = archive_entry_sparse_reset(e);
	la_int64_t off, len;
	uint64_t stored = 0, end = 0;
	struct lfs_sparse *sp;
	int i = 0;

	*out = NULL;
	if (n <= 0)
		return 0;
	sp = lfs_arena_alloc(l->arena, sizeof(*sp) + (size_t)n * sizeof(sp->ext[0]));
	while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK) {
		if (off < 0 || len < 0 || (uint64_t)off < end || (uint64_t)len > size ||
		    (uint64_t)off > size - (uint64_t)len || i == n)
			return -EIO;
		if (!len)
			continue;
		sp->ext[i].off = (uint64_t)off;
		sp->ext[i].len = (uint64_t)len;
		sp->ext[i].stored = stored;
		stored += (uint64_t)len;
		end = (uint64_t)off + (uint64_t)len;
		i++;
	}
	sp->n = (uint32_t)i;
	*out = sp;
	return 0;
}

/*
 * Some libarchive versions read a pax time "-1.25" as -1 s + 0.25: the
 * fraction keeps its sign lost.  Ask the library once how it reads one.
 */
static pthread_once_t pax_probe_once = PTHREAD_ONCE_INIT;
static int pax_negative_truncates;

/* One ustar header block: just enough for the probe below. */
static void probe_block(char *b, char type, unsigned size)
{
	unsigned sum = 0;

	memset(b, 0, 512);
	strcpy(b, "probe");
	memcpy(b + 100, "0000644", 7);
	snprintf(b + 124, 12, "%011o", size);
	b[156] = type;
	memcpy(b + 257, "ustar\00000", 8);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)b[i];
	snprintf(b + 148, 8, "%06o", sum);
}

static void pax_probe(void)
{
	static const char rec[] = "18 mtime=-1.25000\n";
	char tar[3072] = {0};
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	/* a pax header with the record, the entry it applies to, the end blocks */
	probe_block(tar, 'x', sizeof(rec) - 1);
	memcpy(tar + 512, rec, sizeof(rec) - 1);
	probe_block(tar + 1024, '0', 0);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, tar, sizeof(tar)) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK)
		pax_negative_truncates = archive_entry_mtime(e) == -1;
	archive_read_free(a);
}

static void fill_meta(struct lfs_node *n, struct archive_entry *e)
{
	mode_t type = archive_entry_filetype(e);

	/* Linux shows every symlink as 0777, whatever the tar says. */
	n->mode = (uint32_t)(type | (type == AE_IFLNK ? 0777 : archive_entry_perm(e) & 07777));
	n->uid = (uint32_t)archive_entry_uid(e);
	n->gid = (uint32_t)archive_entry_gid(e);
	n->mtime_sec = archive_entry_mtime(e);
	n->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	pthread_once(&pax_probe_once, pax_probe);
	if (pax_negative_truncates && n->mtime_sec < 0 && n->mtime_nsec > 0) {
		n->mtime_sec -= 1;
		n->mtime_nsec = 1000000000 - n->mtime_nsec;
	}
}

/*
 * Hash a regular file's data while the pass goes by it anyway.  Sparse holes
 * are not fed: the offsets of the extents are, so layout changes still count.
 */
static int hash_data(struct indexer *ix, struct lfs_node *n)
{
	struct lfs_hash128 *h = lfs_arena_alloc(ix->l->arena, sizeof(*h));
	XXH3_state_t *st = XXH3_createState();
	const void *buf;
	size_t size;
	la_int64_t off;
	XXH128_hash_t r;
	int rc;

	if (!st) {
		lfs_err_set("%s: out of memory", ix->l->name);
		return -ENOMEM;
	}
	XXH3_128bits_reset(st);
	while ((rc = archive_read_data_block(ix->a, &buf, &size, &off)) == ARCHIVE_OK) {
		if (n->sparse)
			XXH3_128bits_update(st, &off, sizeof(off));
		XXH3_128bits_update(st, buf, size);
	}
	if (rc != ARCHIVE_EOF) {
		XXH3_freeState(st);
		return archive_fail(ix, "tar");
	}
	r = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	h->lo = r.low64;
	h->hi = r.high64;
	n->hash = h;
	return 0;
}

static int add_hardlink(struct indexer *ix, const char *target, struct lfs_node *dir,
			const char *name, uint32_t len, const char *path)
{
	const char *comp[MAX_COMPONENTS];
	uint32_t clen[MAX_COMPONENTS];
	struct lfs_node *cur = ix->l->root, *old;
	int n = lfs_path_split(target, comp, clen, MAX_COMPONENTS);
	char s1[SHOWN], s2[SHOWN];

	if (n == -EINVAL) {
		lfs_warn("%s: skipping hard link '%s' to '%s' outside the root", ix->l->name,
			 lfs_show(path, s1, sizeof(s1)), lfs_show(target, s2, sizeof(s2)));
		return 0;
	}
	for (int i = 0; i < n && cur; i++)
		cur = cur->dir ? lfs_dir_lookup(cur, comp[i], clen[i]) : NULL;
	if (n <= 0 || !cur || cur->dir || (cur->flags & LFS_NF_WHITEOUT)) {
		lfs_err_set("%s: hard link '%s' points to '%s', which is not an earlier file of "
			    "this layer",
			    ix->l->name, lfs_show(path, s1, sizeof(s1)),
			    lfs_show(target, s2, sizeof(s2)));
		return -EINVAL;
	}
	old = lfs_dir_set(dir, name, len, cur);
	if (old == cur)
		return 0;
	cur->nlink++;
	unlink_subtree(old);
	return 0;
}

static int add_entry(struct indexer *ix, struct archive_entry *e, uint64_t data_off)
{
	struct lfs_layer *l = ix->l;
	const char *path = archive_entry_pathname(e);
	const char *comp[MAX_COMPONENTS];
	uint32_t clen[MAX_COMPONENTS];
	const char *name;
	struct lfs_node *dir, *n, *old;
	uint32_t len;
	int nc, opaque = 0, whiteout = 0;
	mode_t type = archive_entry_filetype(e);
	char shown[SHOWN];

	if (!path)
		path = archive_entry_pathname_utf8(e);
	if (!path) {
		lfs_warn("%s: skipping an entry whose name cannot be read", l->name);
		return 0;
	}
	nc = lfs_path_split(path, comp, clen, MAX_COMPONENTS);
	if (nc == -EINVAL) {
		lfs_warn("%s: skipping '%s': it would land outside the root", l->name,
			 lfs_show(path, shown, sizeof(shown)));
		return 0;
	}
	if (nc == -ENAMETOOLONG) {
		lfs_warn("%s: skipping an entry whose path is longer than %d bytes or %d "
			 "components",
			 l->name, PATH_MAX, MAX_COMPONENTS);
		return 0;
	}
	if (path[0] == '/' && !ix->warned_abs) {
		ix->warned_abs = 1;
		lfs_warn("%s: removing leading '/' from entry names", l->name);
	}
	if (nc == 0) {
		/* The layer's root directory itself ("./"). */
		if (type == AE_IFDIR) {
			fill_meta(l->root, e);
			l->root->xattrs = read_xattrs(l, e, &opaque);
			l->root->flags &= ~(uint32_t)LFS_NF_IMPLIED;
			if (opaque)
				l->root->flags |= LFS_NF_OPAQUE;
		} else {
			lfs_warn("%s: skipping non-directory entry for the root", l->name);
		}
		return 0;
	}
	dir = walk_parents(l, comp, clen, nc - 1);
	name = comp[nc - 1];
	len = clen[nc - 1];

	if (len >= 4 && !memcmp(name, WH_PREFIX, 4)) {
		if (len == sizeof(WH_OPAQUE) - 1 && !memcmp(name, WH_OPAQUE, len)) {
			dir->flags |= LFS_NF_OPAQUE;
			return 0;
		}
		name += 4;
		len -= 4;
		if (len == 0 || (len == 1 && name[0] == '.') ||
		    (len == 2 && name[0] == '.' && name[1] == '.')) {
			lfs_warn("%s: skipping meaningless whiteout '%s'", l->name,
				 lfs_show(path, shown, sizeof(shown)));
			return 0;
		}
		whiteout = 1;
	}
	name = lfs_arena_strndup(l->arena, name, len);

	/* A ".wh." name is a whiteout whatever its type, a hard link included. */
	if (!whiteout && archive_entry_hardlink(e))
		return add_hardlink(ix, archive_entry_hardlink(e), dir, name, len, path);

	if (!whiteout && type == AE_IFDIR) {
		old = lfs_dir_lookup(dir, name, len);
		if (old && old->dir) {
			/* A directory over a directory of the same layer keeps its children. */
			n = old;
		} else {
			n = lfs_dir_new(l->arena, dir);
			unlink_subtree(lfs_dir_set(dir, name, len, n));
		}
		fill_meta(n, e);
		n->layer = l->index;
		n->xattrs = read_xattrs(l, e, &opaque);
		n->flags &= ~(uint32_t)LFS_NF_IMPLIED;
		if (opaque)
			n->flags |= LFS_NF_OPAQUE;
		return 0;
	}

	n = lfs_node_new(l->arena, 0);
	n->layer = l->index;
	if (whiteout || (type == AE_IFCHR && archive_entry_rdev(e) == 0)) {
		n->mode = S_IFCHR;
		n->flags = LFS_NF_WHITEOUT;
	} else {
		fill_meta(n, e);
		n->xattrs = read_xattrs(l, e, &opaque);
		switch (type) {
		case AE_IFREG:
			n->size = (uint64_t)archive_entry_size(e);
			n->data_off = data_off;
			if (archive_entry_sparse_count(e) > 0 &&
			    read_sparse(l, e, n->size, &n->sparse) < 0) {
				lfs_err_set("%s: '%s': damaged sparse map", l->name,
					    lfs_show(path, shown, sizeof(shown)));
				return -EIO;
			}
			ix->pending = n;
			if (ix->hash_content) {
				int rc = hash_data(ix, n);

				if (rc < 0)
					return rc;
			}
			break;
		case AE_IFLNK: {
			const char *t = archive_entry_symlink(e);

			if (!t)
				t = archive_entry_symlink_utf8(e);
			if (!t)
				t = "";
			n->size = strlen(t);
			n->link = lfs_arena_strndup(l->arena, t, n->size);
			break;
		}
		case AE_IFCHR:
		case AE_IFBLK:
			n->rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
			break;
		case AE_IFIFO:
			break;
		default:
			lfs_warn("%s: skipping '%s' of unsupported type 0%o", l->name,
				 lfs_show(path, shown, sizeof(shown)), (unsigned)type);
			return 0;
		}
	}
	unlink_subtree(lfs_dir_set(dir, name, len, n));
	return 0;
}

static int check_digest(const struct lfs_layer *l, const char *want, const uint8_t got[32],
			const char *what)
{
	uint8_t w[32];
	char s[SHOWN];

	if (!want)
		return 0;
	if (lfs_digest_parse(want, w) < 0) {
		lfs_err_set("%s: unsupported %s '%s'", l->name, what, lfs_show(want, s, sizeof(s)));
		return -ENOTSUP;
	}
	if (memcmp(w, got, 32)) {
		lfs_digest_format(got, s);
		lfs_err_set("%s: %s mismatch: manifest says %s, content is %s", l->name, what, want,
			    s);
		return -EBADMSG;
	}
	return 0;
}

/*
 * A file's data (a sparse file's extents) must account for exactly the bytes
 * the tar stores for it, up to the next header: libarchive may drop an extent
 * from a sparse map whose bytes are still there, or take a size whose bytes
 * are not, and reads would then come from the wrong place.
 */
static int check_stored(struct indexer *ix)
{
	const struct lfs_node *n = ix->pending;
	int64_t next = archive_read_header_position(ix->a);
	uint64_t sum = n->sparse ? 0 : n->size;

	ix->pending = NULL;
	for (uint32_t i = 0; n->sparse && i < n->sparse->n; i++)
		sum += n->sparse->ext[i].len;
	if (next < 0 || (uint64_t)next < n->data_off ||
	    ((sum + 511) & ~(uint64_t)511) != (uint64_t)next - n->data_off) {
		lfs_err_set("%s: damaged entry: %llu bytes of data expected, %lld stored",
			    ix->l->name, (unsigned long long)sum,
			    (long long)(next - (int64_t)n->data_off));
		return -EIO;
	}
	return 0;
}

static int index_entries(struct indexer *ix, const struct lfs_layer_opts *opts)
{
	struct archive_entry *e;
	int r;

	for (;;) {
		if (opts && opts->cancel && *opts->cancel)
			return -ECANCELED;
		r = archive_read_next_header(ix->a, &e);
		if ((r == ARCHIVE_OK || r == ARCHIVE_WARN || r == ARCHIVE_EOF) && ix->pending &&
		    check_stored(ix) < 0)
			return -EIO;
		if (r == ARCHIVE_EOF) {
			/*
			 * libarchive also reports a clean EOF for a tar cut at an
			 * entry boundary; only a consumed end-of-archive block
			 * proves the layer is whole.
			 */
			if (archive_filter_bytes(ix->a, 0) <= archive_read_header_position(ix->a)) {
				if (ix->scan_err)
					return archive_fail(ix, "tar");
				lfs_err_set(
				    "%s: tar: truncated: no end-of-archive marker after %lld "
				    "bytes",
				    ix->l->name, (long long)archive_filter_bytes(ix->a, 0));
				return -EIO;
			}
			return 0;
		}
		/* RETRY means libarchive skipped damage: never accept a partial layer. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(ix, "tar");
		if (r == ARCHIVE_WARN && ix->scan_err)
			return archive_fail(ix, "tar");
		ix->l->nentries++;
		r = add_entry(ix, e, (uint64_t)archive_filter_bytes(ix->a, 0));
		if (r < 0)
			return r;
	}
}

int lfs_layer_index(struct lfs_layer **out, const struct lfs_layer_desc *desc, uint32_t index,
		    const struct lfs_layer_opts *opts)
{
	struct lfs_scan_opts so = {0};
	struct indexer ix = {0};
	struct lfs_layer *l;
	int rc;

	l = lfs_xcalloc(1, sizeof(*l));
	l->index = index;
	l->name = lfs_xstrdup(desc->name);
	l->arena = lfs_arena_new();
	l->root = lfs_dir_new(l->arena, NULL);
	l->root->flags = LFS_NF_IMPLIED;
	l->root->layer = index;
	l->stored_size = desc->len;
	ix.l = l;
	ix.hash_content = opts && opts->hash_content;
	ix.progress = opts ? opts->progress : NULL;
	l->hashed = ix.hash_content;

	so.hash_stored = desc->digest != NULL;
	so.hash_plain = desc->diff_id != NULL;
	so.max_plain = opts ? opts->max_plain : 0;
	so.tmpdir = opts ? opts->tmpdir : NULL;
	so.sequential = opts && opts->sequential;
	rc = lfs_scan_open(&ix.scan, desc->fd, desc->off, desc->len, desc->name, &so);
	if (rc < 0)
		goto fail_layer;
	l->comp = lfs_scan_comp(ix.scan);

	ix.a = archive_read_new();
	if (!ix.a) {
		lfs_err_set("%s: out of memory", l->name);
		rc = -ENOMEM;
		goto fail_scan;
	}
	archive_read_support_format_tar(ix.a);
	archive_read_set_callback_data(ix.a, &ix);
	archive_read_set_read_callback(ix.a, read_cb);
	archive_read_set_skip_callback(ix.a, skip_cb);
	if (archive_read_open1(ix.a) != ARCHIVE_OK) {
		rc = archive_fail(&ix, "not a tar archive");
		goto fail_archive;
	}
	rc = index_entries(&ix, opts);
	if (rc < 0)
		goto fail_archive;
	archive_read_free(ix.a);
	ix.a = NULL;
	l->plain_size = lfs_scan_pos(ix.scan);
	rc = lfs_scan_finish(ix.scan, &l->blob, l->stored_sha256, l->plain_sha256);
	ix.scan = NULL;
	if (rc < 0)
		goto fail_layer;
	l->plain_size = lfs_blob_size(l->blob);
	rc = check_digest(l, desc->digest, l->stored_sha256, "digest");
	if (rc == 0)
		rc = check_digest(l, desc->diff_id, l->plain_sha256, "diff_id");
	if (rc < 0)
		goto fail_layer;
	*out = l;
	return 0;

fail_archive:
	if (ix.a)
		archive_read_free(ix.a);
fail_scan:
	if (ix.scan)
		lfs_scan_free(ix.scan);
fail_layer:
	lfs_layer_free(l);
	return rc;
}

void lfs_layer_free(struct lfs_layer *l)
{
	if (!l)
		return;
	if (l->blob)
		lfs_blob_free(l->blob);
	lfs_arena_free(l->arena);
	free(l->name);
	free(l);
}
