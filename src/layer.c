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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include "layer.h"
#include "layer_int.h"
#include "lfs.h"

#define MAX_COMPONENTS (PATH_MAX / 2)
#define LFS_STR_(x)    #x
#define LFS_STR(x)     LFS_STR_(x)
#define SHOWN	       LFS_SHOWN
#define LINK_MAX_LEN   4095  /* a symlink body is at most a page less its NUL */
#define XNAME_MAX      255   /* XATTR_NAME_MAX */
#define XSIZE_MAX      65536 /* XATTR_SIZE_MAX */
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
	struct lfs_hdrwin win;	    /* header bytes, for the pax check */
	char **skipped;		    /* entries skipped as Linux cannot hold them */
	size_t nskipped;
	const char *const *comp; /* the entry being added: its path's components */
	const uint32_t *clen;
	int nc;
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

/*
 * Drop one name of N (and of everything below it when it is a directory),
 * at PATH[0..PLEN): a file left with no name is superseded by BY, stored and
 * never shown, which reports count (l->superseded).
 */
static void drop_names(struct lfs_layer *l, struct lfs_node *n, char *path, size_t plen,
		       const struct lfs_node *by, int below)
{
	struct lfs_superseded *s;

	if (!n->dir) {
		if (!n->nlink || --n->nlink || (n->flags & LFS_NF_WHITEOUT))
			return;
		s = lfs_arena_alloc(l->arena, sizeof(*s));
		*s = (struct lfs_superseded){l->superseded, lfs_arena_strndup(l->arena, path, plen),
					     n, by, below};
		l->superseded = s;
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++) {
		const struct lfs_dirent *e = &n->dir->ents[i];

		if (!e->node)
			continue;
		path[plen] = '/';
		memcpy(path + plen + 1, e->name, e->len);
		drop_names(l, e->node, path, plen + 1 + e->len, by, 1);
	}
}

/* BY, a later entry of the layer, replaced OLD (may be NULL) at COMP[0..DEPTH)/NAME. */
static void unlink_subtree(struct lfs_layer *l, struct lfs_node *old, const char *const *comp,
			   const uint32_t *clen, int depth, const char *name, uint32_t len,
			   const struct lfs_node *by)
{
	char *path;
	size_t plen = 0;

	if (!old)
		return;
	/* layer paths are shorter than PATH_MAX */
	path = lfs_xmalloc(2 * PATH_MAX + 2);
	for (int i = 0; i < depth; i++) {
		path[plen++] = '/';
		memcpy(path + plen, comp[i], clen[i]);
		plen += clen[i];
	}
	path[plen++] = '/';
	memcpy(path + plen, name, len);
	drop_names(l, old, path, plen + len, by, 0);
	free(path);
}

static struct lfs_node *implied_dir(struct lfs_layer *l, struct lfs_node *parent,
				    const char *const *comp, const uint32_t *clen, int i)
{
	struct lfs_node *d = lfs_dir_new(l->arena, parent);
	/* Names live in the arena: a directory keeps pointers to them. */
	const char *name = lfs_arena_strndup(l->arena, comp[i], clen[i]);

	d->flags = LFS_NF_IMPLIED;
	d->layer = l->index;
	unlink_subtree(l, lfs_dir_set(parent, name, clen[i], d), comp, clen, i, name, clen[i], d);
	return d;
}

/* The directory for components [0, n), created as implied directories where missing. */
static struct lfs_node *walk_parents(struct lfs_layer *l, const char **comp, const uint32_t *len,
				     int n)
{
	struct lfs_node *cur = l->root;

	for (int i = 0; i < n; i++) {
		struct lfs_node *c = lfs_dir_lookup(cur, comp[i], len[i]);

		if (!c || !c->dir)
			c = implied_dir(l, cur, comp, len, i);
		cur = c;
	}
	return cur;
}

static const struct lfs_xattrs *read_xattrs(struct lfs_layer *l, struct archive_entry *e,
					    const char *path, int *opaque)
{
	char s1[SHOWN], s2[64];
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
		/* What setxattr(2) cannot hold is left out, as a '..' entry is. */
		if (!name[0] || strlen(name) > XNAME_MAX || size > XSIZE_MAX) {
			lfs_warn("%s: '%s': skipping xattr '%s' (%zu-byte name, %zu-byte value): "
				 "Linux holds names of 1 to %d bytes and values up to %d",
				 l->name, lfs_show(path, s1, sizeof(s1)),
				 lfs_show(name, s2, sizeof(s2)), strlen(name), size, XNAME_MAX,
				 XSIZE_MAX);
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

static void fill_meta(struct lfs_node *n, struct archive_entry *e)
{
	mode_t type = archive_entry_filetype(e);

	/* Linux shows every symlink as 0777, whatever the tar says. */
	n->mode = (uint32_t)(type | (type == AE_IFLNK ? 0777 : archive_entry_perm(e) & 07777));
	n->uid = (uint32_t)archive_entry_uid(e);
	n->gid = (uint32_t)archive_entry_gid(e);
	n->mtime_sec = archive_entry_mtime(e);
	n->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	lfs_pax_fix_time(&n->mtime_sec, &n->mtime_nsec);
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

/* "a/b/c" from components (malloc'ed). */
static char *join(const char *const *comp, const uint32_t *len, int n)
{
	size_t total = 1;
	char *s, *p;

	for (int i = 0; i < n; i++)
		total += len[i] + 1;
	p = s = lfs_xmalloc(total);
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = '/';
		memcpy(p, comp[i], len[i]);
		p += len[i];
	}
	*p = '\0';
	return s;
}

/*
 * An entry Linux cannot hold (a name past NAME_MAX, a symlink target past
 * a page) is skipped with a warning, as a '..' entry is; a hard link to it
 * later is skipped too.
 */
static int skip_entry(struct indexer *ix, const char *const *comp, const uint32_t *len, int n,
		      const char *path, const char *why)
{
	char s[SHOWN];

	lfs_warn("%s: skipping '%s': %s", ix->l->name, lfs_show(path, s, sizeof(s)), why);
	ix->skipped = lfs_xrealloc(ix->skipped, (ix->nskipped + 1) * sizeof(*ix->skipped));
	ix->skipped[ix->nskipped++] = join(comp, len, n);
	return 0;
}

static int was_skipped(const struct indexer *ix, const char *const *comp, const uint32_t *len,
		       int n)
{
	char *p;
	int hit = 0;

	for (int i = 0; i < n; i++)
		if (len[i] > NAME_MAX)
			return 1;
	if (!ix->nskipped || n <= 0)
		return 0;
	p = join(comp, len, n);
	for (size_t i = 0; i < ix->nskipped && !hit; i++)
		hit = !strcmp(ix->skipped[i], p);
	free(p);
	return hit;
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
	if ((n <= 0 || !cur) && was_skipped(ix, comp, clen, n)) {
		lfs_warn("%s: skipping hard link '%s' to '%s', which was skipped", ix->l->name,
			 lfs_show(path, s1, sizeof(s1)), lfs_show(target, s2, sizeof(s2)));
		return 0;
	}
	if (cur && (cur->flags & LFS_NF_WHITEOUT)) {
		/*
		 * A link to a 0:0 character device is one too: extracted, both
		 * names are whiteouts for the kernel (GNU tar and the kernel
		 * accept it).
		 */
		struct lfs_node *w = lfs_node_new(ix->l->arena, 0);

		w->layer = ix->l->index;
		w->mode = S_IFCHR;
		w->flags = LFS_NF_WHITEOUT;
		unlink_subtree(ix->l, lfs_dir_set(dir, name, len, w), ix->comp, ix->clen,
			       ix->nc - 1, name, len, w);
		return 0;
	}
	if (n <= 0 || !cur || cur->dir) {
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
	unlink_subtree(ix->l, old, ix->comp, ix->clen, ix->nc - 1, name, len, cur);
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
	ix->comp = comp;
	ix->clen = clen;
	ix->nc = nc;
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
			l->root->xattrs = read_xattrs(l, e, path, &opaque);
			l->root->flags &= ~(uint32_t)LFS_NF_IMPLIED;
			if (opaque)
				l->root->flags |= LFS_NF_OPAQUE;
		} else {
			lfs_warn("%s: skipping non-directory entry for the root", l->name);
		}
		return 0;
	}
	for (int i = 0; i < nc; i++) {
		/* a whiteout's own name may be longer: it stands for NAME */
		uint32_t max =
		    NAME_MAX +
		    (i == nc - 1 && clen[i] >= 4 && !memcmp(comp[i], WH_PREFIX, 4) ? 4 : 0);

		if (clen[i] > max)
			return skip_entry(ix, comp, clen, nc, path,
					  "a name longer than " LFS_STR(NAME_MAX) " bytes");
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
			unlink_subtree(l, lfs_dir_set(dir, name, len, n), comp, clen, nc - 1, name,
				       len, n);
		}
		fill_meta(n, e);
		n->layer = l->index;
		n->xattrs = read_xattrs(l, e, path, &opaque);
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
		n->xattrs = read_xattrs(l, e, path, &opaque);
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
			if (!t || !*t || strlen(t) > LINK_MAX_LEN)
				return skip_entry(
				    ix, comp, clen, nc, path,
				    "a symlink target that is empty or longer than " LFS_STR(
					LINK_MAX_LEN) " bytes");
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
	unlink_subtree(l, lfs_dir_set(dir, name, len, n), comp, clen, nc - 1, name, len, n);
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
	for (size_t i = 0; i < ix->nskipped; i++)
		free(ix->skipped[i]);
	free(ix->skipped);
	ix->skipped = NULL;
	ix->nskipped = 0;
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
	indexer_free(&ix);
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
	indexer_free(&ix);
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
