/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tar front end: a single pass with libarchive's tar reader over the
 * plain stream that the blob scan produces (raw, gzip or zstd), handing each
 * entry to the builder with the offset of its data in that stream, so reads
 * later go straight there through the blob.  The pass also checks what the
 * builder cannot: pax records, that each file's data is all there, the end
 * of the archive, and the manifest's digests.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include "blobsrc.h"
#include "layerfs/layer.h"
#include "layer_int.h"
#include "layerfs/lfs.h"

#define SHOWN LFS_SHOWN

struct indexer {
	struct lfs_layer *l;
	struct lfs_builder b;
	struct archive *a;
	struct lfs_scan *scan;
	int scan_err; /* -errno from the scan, so its message wins over libarchive's */
	char scan_msg[LFS_ERRMAX];
	int hash_content;
	struct lfs_node
	    *pending; /* last regular file: its stored bytes are checked at the next header */
	_Atomic uint64_t *progress; /* shared with the other indexers */
	uint64_t reported;	    /* stored bytes already added to *progress */
	struct lfs_hdrwin win;	    /* header bytes, for the pax check */
	struct lfs_xattr *xv;	    /* the entry's xattrs, for the builder */
	size_t xcap;
};

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
	lfs_hdrwin_add(&ix->win, *buf, lfs_scan_pos(ix->scan) - (uint64_t)n, (size_t)n);
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

/* E's xattrs as the builder takes them (valid until the next entry). */
static size_t get_xattrs(struct indexer *ix, struct archive_entry *e)
{
	int n = archive_entry_xattr_reset(e);
	size_t i = 0;

	if (n <= 0)
		return 0;
	if ((size_t)n > ix->xcap) {
		ix->xcap = (size_t)n;
		ix->xv = lfs_xrealloc(ix->xv, ix->xcap * sizeof(*ix->xv));
	}
	while (i < (size_t)n && archive_entry_xattr_next(e, &ix->xv[i].name, &ix->xv[i].value,
							 &ix->xv[i].len) == ARCHIVE_OK)
		i++;
	return i;
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
 * Does the data block libarchive returned (OFF, SIZE) come next in the sparse
 * map, where *I and *POS say how far the blocks so far went?  libarchive
 * drops extents it finds overlapping or out of range, and reads no further
 * than the header's size field: a damaged map then yields blocks other than
 * the extents the index recorded, and reads by offset would serve other
 * bytes than extracting the layer does.
 */
static int sparse_next(const struct lfs_sparse *sp, uint32_t *i, uint64_t *pos, la_int64_t off,
		       size_t size)
{
	while (size > 0) {
		uint64_t left;

		if (*i >= sp->n || off < 0 || (uint64_t)off != sp->ext[*i].off + *pos)
			return -1;
		left = sp->ext[*i].len - *pos;
		if (size < left) {
			*pos += size;
			return 0;
		}
		size -= (size_t)left;
		off += (la_int64_t)left;
		(*i)++;
		*pos = 0;
	}
	return 0;
}

/*
 * Go through a regular file's data with libarchive when the pass must see
 * it: to hash it (the content hashes of reports), or to check that a sparse
 * file's data blocks are exactly the extents its map recorded.  Sparse holes
 * are not hashed: the offsets of the extents are, so layout changes still
 * count.
 */
static int walk_data(struct indexer *ix, struct lfs_node *n, const struct lfs_sparse *sp,
		     const char *path)
{
	XXH3_state_t *st = NULL;
	const void *buf;
	size_t size;
	la_int64_t off;
	uint32_t ext = 0;
	uint64_t pos = 0;
	char shown[SHOWN];
	int rc;

	if (ix->hash_content) {
		st = XXH3_createState();
		if (!st) {
			lfs_err_set("%s: out of memory", ix->l->name);
			return -ENOMEM;
		}
		XXH3_128bits_reset(st);
	}
	while ((rc = archive_read_data_block(ix->a, &buf, &size, &off)) == ARCHIVE_OK) {
		if (sp && sparse_next(sp, &ext, &pos, off, size) < 0)
			break;
		if (st && sp)
			XXH3_128bits_update(st, &off, sizeof(off));
		if (st)
			XXH3_128bits_update(st, buf, size);
	}
	if (rc == ARCHIVE_OK || (rc == ARCHIVE_EOF && sp && ext < sp->n)) {
		XXH3_freeState(st);
		lfs_err_set("%s: '%s': damaged sparse map: its extents are not the data stored",
			    ix->l->name, lfs_show(path, shown, sizeof(shown)));
		return -EIO;
	}
	if (rc != ARCHIVE_EOF) {
		XXH3_freeState(st);
		return archive_fail(ix, "tar");
	}
	if (st) {
		struct lfs_hash128 *h = lfs_arena_alloc(ix->l->arena, sizeof(*h));
		XXH128_hash_t r = XXH3_128bits_digest(st);

		XXH3_freeState(st);
		h->lo = r.low64;
		h->hi = r.high64;
		n->hash = h;
	}
	return 0;
}

static int add_entry(struct indexer *ix, struct archive_entry *e, uint64_t data_off)
{
	struct lfs_layer *l = ix->l;
	const char *path = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);
	struct lfs_entry en = {0};
	struct lfs_node *n;
	char shown[SHOWN];
	int rc, sparse;

	if (!path)
		path = archive_entry_pathname_utf8(e);
	if (!path) {
		lfs_warn("%s: skipping an entry whose name cannot be read", l->name);
		return 0;
	}
	en.path = path;
	en.mode = (uint32_t)(type | (archive_entry_perm(e) & 07777));
	en.uid = (uint32_t)archive_entry_uid(e);
	en.gid = (uint32_t)archive_entry_gid(e);
	en.mtime_sec = archive_entry_mtime(e);
	en.mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	lfs_pax_fix_time(&en.mtime_sec, &en.mtime_nsec);
	en.hardlink = archive_entry_hardlink(e);
	if (type == AE_IFREG) {
		en.size = (uint64_t)archive_entry_size(e);
		en.data_off = data_off;
	} else if (type == AE_IFLNK) {
		en.link = archive_entry_symlink(e);
		if (!en.link)
			en.link = archive_entry_symlink_utf8(e);
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		en.rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	}
	en.nxattrs = get_xattrs(ix, e);
	en.xattrs = ix->xv; /* after get_xattrs: it may move */
	rc = lfs_build_add(&ix->b, &en, &n);
	if (rc < 0 || !n)
		return rc;
	sparse = archive_entry_sparse_count(e) > 0;
	if (sparse && read_sparse(l, e, n->size, &n->sparse) < 0) {
		lfs_err_set("%s: '%s': damaged sparse map", l->name,
			    lfs_show(path, shown, sizeof(shown)));
		return -EIO;
	}
	ix->pending = n;
	if (!ix->hash_content && !(sparse && n->sparse))
		return 0;
	return walk_data(ix, n, sparse ? n->sparse : NULL, path);
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

/*
 * Where the header after entry E (data at D) should start: the header window
 * keeps bytes from there on.  Only a regular file's data is predicted; for
 * anything else the window keeps all, which is a few blocks at most.
 */
static uint64_t next_header(struct archive_entry *e, uint64_t d)
{
	la_int64_t off, len;
	uint64_t stored = 0;

	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
	    archive_entry_size(e) < 0)
		return d;
	if (archive_entry_sparse_reset(e) > 0) {
		while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK)
			stored += len > 0 ? (uint64_t)len : 0;
	} else {
		stored = (uint64_t)archive_entry_size(e);
	}
	return d + ((stored + 511) & ~(uint64_t)511);
}

/* The pax records of E's headers, then the window moves past its data. */
static int check_headers(struct indexer *ix, struct archive_entry *e)
{
	uint64_t h = (uint64_t)archive_read_header_position(ix->a);
	uint64_t d = (uint64_t)archive_filter_bytes(ix->a, 0);
	const char *path = archive_entry_pathname(e);
	int rc = lfs_pax_check(&ix->win, h, d, ix->l->name, path ? path : "?");

	ix->win.keep_from = next_header(e, d);
	return rc;
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
		r = check_headers(ix, e);
		if (r < 0)
			return r;
		r = add_entry(ix, e, (uint64_t)archive_filter_bytes(ix->a, 0));
		if (r < 0)
			return r;
	}
}

static void indexer_free(struct indexer *ix)
{
	lfs_hdrwin_free(&ix->win);
	lfs_build_free(&ix->b);
	free(ix->xv);
	ix->xv = NULL;
	if (ix->a)
		archive_read_free(ix->a);
	ix->a = NULL;
	if (ix->scan)
		lfs_scan_free(ix->scan);
	ix->scan = NULL;
}

static int tar_index(struct lfs_layer *l, const struct lfs_layer_desc *desc,
		     const struct lfs_layer_opts *opts)
{
	struct lfs_scan_opts so = {0};
	struct lfs_blobsrc *src = NULL;
	struct indexer ix = {0};
	int rc;

	ix.l = l;
	lfs_build_init(&ix.b, l, 1);
	ix.hash_content = opts && opts->hash_content;
	ix.progress = opts ? opts->progress : NULL;
	l->hashed = ix.hash_content;
	l->stored_size = desc->len;

	so.hash_stored = desc->digest != NULL;
	so.hash_plain = desc->diff_id != NULL;
	so.max_plain = opts ? opts->max_plain : 0;
	so.tmpdir = opts ? opts->tmpdir : NULL;
	so.sequential = opts && opts->sequential;
	rc = lfs_layer_desc_src(desc, &src);
	if (rc == 0)
		rc = lfs_scan_open(&ix.scan, src, &so);
	if (rc < 0)
		goto out;
	l->comp = lfs_scan_comp(ix.scan);

	ix.a = archive_read_new();
	if (!ix.a) {
		lfs_err_set("%s: out of memory", l->name);
		rc = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(ix.a);
	archive_read_set_callback_data(ix.a, &ix);
	archive_read_set_read_callback(ix.a, read_cb);
	archive_read_set_skip_callback(ix.a, skip_cb);
	if (archive_read_open1(ix.a) != ARCHIVE_OK) {
		rc = archive_fail(&ix, "not a tar archive");
		goto out;
	}
	rc = index_entries(&ix, opts);
	if (rc < 0)
		goto out;
	archive_read_free(ix.a);
	ix.a = NULL;
	rc = lfs_scan_finish(ix.scan, &l->blob, l->stored_sha256, l->plain_sha256);
	ix.scan = NULL;
	if (rc < 0)
		goto out;
	l->plain_size = lfs_blob_size(l->blob);
	rc = check_digest(l, desc->digest, l->stored_sha256, "digest");
	if (rc == 0)
		rc = check_digest(l, desc->diff_id, l->plain_sha256, "diff_id");
	/* Without a digest nothing verified what a remote source gave. */
	if (rc == 0 && desc->digest)
		rc = lfs_blob_verified(l->blob);
out:
	indexer_free(&ix);
	lfs_blobsrc_unref(src);
	return rc;
}

/* Any regular file: whether it is a tar the pass finds out. */
static int tar_probe(const struct lfs_layer_desc *desc, const struct stat *st)
{
	(void)desc;
	return S_ISREG(st->st_mode);
}

const struct lfs_layer_ops lfs_layer_tar = {
    .name = "tar",
    .probe = tar_probe,
    .cacheable = 1,
    .index = tar_index,
};
