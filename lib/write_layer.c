/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deterministic layer writer: a list of entries (nodes of a layer or of
 * the merged tree, with their paths) becomes a pax tar written by
 * libarchive through the compressed stream (write_stream.c).  Entries go
 * in path order (a directory before what it holds); whiteouts become
 * ".wh.NAME", an opaque directory gets "DIR/.wh..wh..opq" right after its
 * own entry; a file with several names is stored once, the later names
 * hard links to the first; only the xattrs an image should carry are kept;
 * sockets are skipped.  Nothing from the host (user names, atimes, the
 * time of writing) goes in, so the same entries give the same bytes.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "layerfs/lfs.h"
#include "layerfs/write.h"

#define DATA_CHUNK (256u * 1024)

int lfs_write_keep_xattr(const char *name)
{
	if (!strncmp(name, "user.overlay.", 13) || !strncmp(name, "trusted.overlay.", 16))
		return 0;
	return !strcmp(name, "security.capability") || !strncmp(name, "user.", 5);
}

/* Paths in tar order: '/' sorts before every other byte, so a directory's entries follow it. */
static int path_cmp(const char *a, const char *b)
{
	/* the root ("."), when the layer changes it, first */
	if (!strcmp(a, ".") || !strcmp(b, "."))
		return strcmp(b, ".") ? -1 : !strcmp(a, ".") ? 0 : 1;
	while (*a && *a == *b) {
		a++;
		b++;
	}
	if (*a == *b)
		return 0;
	if (!*a)
		return -1;
	if (!*b)
		return 1;
	if (*a == '/')
		return -1;
	if (*b == '/')
		return 1;
	return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
}

static int ent_cmp(const void *x, const void *y)
{
	const struct lfs_wentry *a = x, *b = y;

	return path_cmp(a->path, b->path);
}

/* Files with several names: node -> the first path written. */
struct links {
	const struct lfs_node **node;
	const char **path;
	size_t cap, n;
};

static size_t link_slot(const struct links *l, const struct lfs_node *n)
{
	size_t h = ((uintptr_t)n >> 4) * 0x9E3779B97F4A7C15ull;
	size_t i = h & (l->cap - 1);

	while (l->node[i] && l->node[i] != n)
		i = (i + 1) & (l->cap - 1);
	return i;
}

/* The path N was first written at, or NULL (and N is recorded at PATH). */
static const char *link_seen(struct links *l, const struct lfs_node *n, const char *path)
{
	size_t i;

	if (2 * (l->n + 1) > l->cap) {
		struct links o = *l;

		l->cap = l->cap ? 2 * l->cap : 64;
		l->node = lfs_xcalloc(l->cap, sizeof(*l->node));
		l->path = lfs_xcalloc(l->cap, sizeof(*l->path));
		l->n = 0;
		for (size_t k = 0; k < o.cap; k++)
			if (o.node[k]) {
				i = link_slot(l, o.node[k]);
				l->node[i] = o.node[k];
				l->path[i] = o.path[k];
				l->n++;
			}
		free(o.node);
		free(o.path);
	}
	i = link_slot(l, n);
	if (l->node[i])
		return l->path[i];
	l->node[i] = n;
	l->path[i] = path;
	l->n++;
	return NULL;
}

struct wctx {
	struct archive *a;
	struct lfs_wstream *s;
	const struct lfs_wlayer_opts *o;
	struct links links;
	char *buf;
	uint64_t nentries;
	int io_failed; /* the stream failed (its reason is set): not libarchive's */
	char name[2 * 4096 + 32];
};

static la_ssize_t on_write(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct wctx *w = arg;

	(void)a;
	if (lfs_wstream_write(w->s, buf, len) < 0) {
		w->io_failed = 1;
		return -1;
	}
	return (la_ssize_t)len;
}

static int arch_fail(struct wctx *w, const char *path)
{
	char shown[256];

	/* libarchive's reason, unless the stream below it failed and said why */
	if (!w->io_failed)
		lfs_err_set("%s: %s", lfs_show(path, shown, sizeof(shown)),
			    archive_error_string(w->a) ? archive_error_string(w->a)
						       : "cannot write the tar entry");
	return -EIO;
}

static void set_time(const struct wctx *w, struct archive_entry *e, const struct lfs_node *n)
{
	int64_t sec = n->mtime_sec;
	long nsec = (long)n->mtime_nsec;

	if (w->o->clamp_mtime >= 0 && sec >= w->o->clamp_mtime) {
		if (sec > w->o->clamp_mtime)
			nsec = 0;
		sec = w->o->clamp_mtime;
	}
	archive_entry_set_mtime(e, (time_t)sec, nsec);
}

/* An empty regular file NAME (a whiteout or an opaque marker) with N's time. */
static int put_marker(struct wctx *w, const char *name, const struct lfs_node *n)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	set_time(w, e, n);
	rc = archive_write_header(w->a, e);
	archive_entry_free(e);
	w->nentries++;
	return rc >= ARCHIVE_WARN ? 0 : arch_fail(w, name);
}

static int put_data(struct wctx *w, const struct lfs_wentry *ent)
{
	uint64_t off = 0, size = ent->node->size;
	char shown[256];

	while (off < size) {
		size_t want = size - off < DATA_CHUNK ? (size_t)(size - off) : DATA_CHUNK;
		ssize_t r = w->o->read(w->o->read_arg, ent->node, w->buf, want, off);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return lfs_error(-EIO, "%s: shorter than its size (changed while written?)",
					 lfs_show(ent->path, shown, sizeof(shown)));
		if (archive_write_data(w->a, w->buf, (size_t)r) != r)
			return arch_fail(w, ent->path);
		off += (uint64_t)r;
	}
	return 0;
}

static int is_whiteout(const struct lfs_node *n)
{
	return (n->flags & LFS_NF_WHITEOUT) || (S_ISCHR(n->mode) && n->rdev == 0);
}

static int put_entry(struct wctx *w, const struct lfs_wentry *ent)
{
	const struct lfs_node *n = ent->node;
	const char *slash = strrchr(ent->path, '/'), *first = NULL;
	struct archive_entry *e;
	char shown[256];
	int rc;

	if (is_whiteout(n)) {
		snprintf(w->name, sizeof(w->name), "%.*s%s.wh.%s",
			 slash ? (int)(slash - ent->path) : 0, ent->path, slash ? "/" : "",
			 slash ? slash + 1 : ent->path);
		return put_marker(w, w->name, n);
	}
	if (S_ISSOCK(n->mode)) {
		lfs_warn("%s: a socket, not written to the layer",
			 lfs_show(ent->path, shown, sizeof(shown)));
		return 0;
	}
	if (!S_ISDIR(n->mode))
		first = link_seen(&w->links, n, ent->path);
	e = archive_entry_new();
	archive_entry_set_pathname(e, ent->path);
	archive_entry_set_uid(e, n->uid);
	archive_entry_set_gid(e, n->gid);
	set_time(w, e, n);
	if (first) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, n->mode & 07777);
		archive_entry_set_hardlink(e, first);
		archive_entry_set_size(e, 0);
	} else {
		archive_entry_set_mode(e, n->mode);
		archive_entry_set_size(e, S_ISREG(n->mode) ? (la_int64_t)n->size : 0);
		if (S_ISLNK(n->mode))
			archive_entry_set_symlink(e, n->link ? n->link : "");
		if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
			archive_entry_set_rdev(e, (dev_t)n->rdev);
		for (uint32_t i = 0; n->xattrs && i < n->xattrs->n; i++)
			if (lfs_write_keep_xattr(n->xattrs->x[i].name))
				archive_entry_xattr_add_entry(e, n->xattrs->x[i].name,
							      n->xattrs->x[i].value,
							      n->xattrs->x[i].len);
	}
	rc = archive_write_header(w->a, e);
	archive_entry_free(e);
	w->nentries++;
	/* WARN: written (a name that is not UTF-8 goes in as its bytes, as GNU tar keeps it) */
	if (rc < ARCHIVE_WARN)
		return arch_fail(w, ent->path);
	if (!first && S_ISREG(n->mode) && n->size) {
		rc = put_data(w, ent);
		if (rc < 0)
			return rc;
	}
	if (ent->opaque && S_ISDIR(n->mode)) {
		snprintf(w->name, sizeof(w->name), "%s/.wh..wh..opq", ent->path);
		return put_marker(w, w->name, n);
	}
	return 0;
}

int lfs_write_layer(int fd, struct lfs_wentry *ents, size_t n, const struct lfs_wlayer_opts *o,
		    struct lfs_wlayer_result *res)
{
	struct wctx w = {.o = o};
	int rc;

	if (n)
		qsort(ents, n, sizeof(*ents), ent_cmp);
	lfs_err_clear();
	rc = lfs_wstream_open(&w.s, fd, o->comp, o->level, o->threads);
	if (rc < 0)
		return rc;
	w.a = archive_write_new();
	w.buf = lfs_xmalloc(DATA_CHUNK);
	/* xattrs as SCHILY.xattr records only: what GNU tar and Go's archive/tar read */
	if (archive_write_set_format_pax(w.a) != ARCHIVE_OK ||
	    archive_write_set_format_option(w.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
	    /* names as the bytes they are (an image's may not be UTF-8), never converted */
	    archive_write_set_format_option(w.a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
	    archive_write_open2(w.a, &w, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
		rc = arch_fail(&w, "the layer");
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = put_entry(&w, &ents[i]);
	if (rc == 0 && archive_write_close(w.a) != ARCHIVE_OK)
		rc = arch_fail(&w, "the layer");
out:
	archive_write_free(w.a);
	free(w.buf);
	free(w.links.node);
	free(w.links.path);
	if (rc < 0) {
		lfs_wstream_abort(w.s);
		return rc;
	}
	rc = lfs_wstream_close(w.s, res);
	if (rc == 0)
		res->nentries = w.nentries;
	return rc;
}
