/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The source of a written image: the image opened, every layer indexed
 * (lowest first), merged trees of its first layers, and the data of any
 * layer's file for the layer writer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobsrc.h"
#include "image_int.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"
#include "write_int.h"

int lfs_wsource_open(struct lfs_wsource *s, char *const *sources, size_t n,
		     const struct lfs_image_opts *o)
{
	struct lfs_layer_opts lo = {.sequential = 1};
	int rc;

	memset(s, 0, sizeof(*s));
	rc = lfs_image_open(&s->img, sources, n, o);
	if (rc < 0)
		return rc;
	s->layers = lfs_xcalloc(s->img->nlayers + 1, sizeof(*s->layers));
	for (size_t i = 0; i < s->img->nlayers; i++) {
		rc = lfs_layer_index(&s->layers[i], &s->img->layers[i], (uint32_t)i, &lo);
		if (rc < 0) {
			lfs_wsource_close(s);
			return rc;
		}
		s->n++;
	}
	return 0;
}

void lfs_wsource_push(struct lfs_wsource *s, struct lfs_layer *l)
{
	s->layers = lfs_xrealloc(s->layers, (s->n + 1) * sizeof(*s->layers));
	s->layers[s->n++] = l;
}

struct lfs_tree *lfs_wsource_tree(const struct lfs_wsource *s, size_t n)
{
	struct lfs_tree *t = lfs_tree_new();

	for (size_t i = 0; i < n && i < s->n; i++)
		lfs_tree_apply(t, s->layers[i]->root);
	return t;
}

static ssize_t read_plain(const struct lfs_layer *l, const struct lfs_node *n, void *buf,
			  size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = lfs_layer_pread(l, n, (char *)buf + got, len - got, off + got);

		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t lfs_wsource_read(void *arg, const struct lfs_node *n, void *buf, size_t len, uint64_t off)
{
	const struct lfs_wsource *s = arg;
	const struct lfs_layer *l;

	if (n->layer >= s->n)
		return lfs_error(-EINVAL, "a file of no layer");
	l = s->layers[n->layer];
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	if (!n->sparse)
		return read_plain(l, n, buf, len, off);
	/* a sparse file: zeros, and the extents' stored bytes where they are */
	memset(buf, 0, len);
	for (uint32_t i = 0; i < n->sparse->n; i++) {
		uint64_t a = n->sparse->ext[i].off, b = a + n->sparse->ext[i].len;
		uint64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
		ssize_t r;

		if (lo >= hi)
			continue;
		r = read_plain(l, n, (char *)buf + (lo - off), (size_t)(hi - lo),
			       n->sparse->ext[i].stored + (lo - a));
		if (r < 0)
			return r;
	}
	return (ssize_t)len;
}

void lfs_wsource_close(struct lfs_wsource *s)
{
	for (size_t i = 0; i < s->n; i++)
		lfs_layer_free(s->layers[i]);
	free(s->layers);
	if (s->img)
		lfs_image_free(s->img);
	memset(s, 0, sizeof(*s));
}

char *lfs_write_dest_dir(const char *dest)
{
	struct lfs_transport_src tr;
	char *d, *out;

	if (lfs_transport_parse(dest, &tr) < 0 || !tr.path) {
		lfs_err_clear();
		return lfs_xstrdup(".");
	}
	if (tr.t == LFS_TRANSPORT_DOCKER) {
		/* nothing to link into: scratch space */
		const char *t = getenv("TMPDIR");

		lfs_transport_clear(&tr);
		return lfs_xstrdup(t && *t ? t : "/var/tmp");
	}
	d = lfs_xstrdup(tr.path);
	out = lfs_xstrdup(dirname(d));
	free(d);
	lfs_transport_clear(&tr);
	return out;
}

int lfs_write_layer_file(const char *dir, struct lfs_wentry *ents, size_t n,
			 const struct lfs_wlayer_opts *o, struct lfs_wlayer_result *res,
			 char **path)
{
	size_t len = strlen(dir) + 32;
	char *p = lfs_xmalloc(len);
	int fd, rc;

	snprintf(p, len, "%s/.layerfs-layer-XXXXXX", dir);
	fd = mkstemp(p);
	if (fd < 0) {
		rc = lfs_error(-errno, "%s: %s", p, strerror(errno));
		free(p);
		return rc;
	}
	rc = lfs_write_layer(fd, ents, n, o, res);
	if (rc == 0 && fsync(fd) < 0)
		rc = lfs_error(-errno, "%s: %s", p, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = lfs_error(-errno, "%s: %s", p, strerror(errno));
	if (rc < 0) {
		unlink(p);
		free(p);
		return rc;
	}
	*path = p;
	return 0;
}

int64_t lfs_write_timestamp(const char *arg)
{
	const char *s = arg ? arg : getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || (!arg && !*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -2;
	return (int64_t)v;
}

uint64_t lfs_layer_desc_size(const struct lfs_layer_desc *d)
{
	return d->src ? d->src->size : d->len;
}

/* A layer's bytes: the source's, or the new layer file's. */
int lfs_wlayer_src(const struct lfs_wlayer *l, struct lfs_blobsrc **src, int *fd)
{
	struct stat st;

	*fd = -1;
	if (l->src) {
		*fd = l->src->fd >= 0 && l->src->off == 0 ? l->src->fd : -1;
		return lfs_layer_desc_src(l->src, src);
	}
	*fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0)
		return lfs_error(-errno, "%s: %s", l->path, strerror(errno));
	return lfs_blobsrc_fd_new(src, *fd, 0, (uint64_t)st.st_size, l->path);
}
