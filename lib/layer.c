/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers: the table of layer formats (front ends), and what is the same for
 * all of them: setting a layer up, picking its front end, serving its file
 * data, freeing it.  The formats themselves live in layer_<format>.c, the
 * format-neutral tree building in layer_build.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/layer.h"
#include "layer_int.h"
#include "layerfs/lfs.h"

/*
 * The front ends, tried in this order (the tar one takes any regular file,
 * so it comes last).  A new layer format is one X(name) here, for its
 * `const struct lfs_layer_ops lfs_layer_<name>`.
 */
#define LFS_LAYER_FORMATS(X) X(dir) X(toc) X(tar)

#define DECLARE(f) extern const struct lfs_layer_ops lfs_layer_##f;
#define ENTRY(f)   &lfs_layer_##f,
LFS_LAYER_FORMATS(DECLARE)
static const struct lfs_layer_ops *const formats[] = {LFS_LAYER_FORMATS(ENTRY)};

/* DESC's front end, or NULL with the reason set. */
static const struct lfs_layer_ops *format_of(const struct lfs_layer_desc *desc)
{
	struct stat st = {0};

	/*
	 * A blob with no fd (a registry's, read by HTTP ranges) is a stored
	 * blob like a regular file's: the probes see it as one of its size.
	 */
	if (desc->fd < 0 && desc->src) {
		st.st_mode = S_IFREG | 0444;
		st.st_size = (off_t)desc->len;
	} else if (fstat(desc->fd, &st) < 0) {
		lfs_err_set("%s: %s", desc->name, strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(formats); i++)
		if (formats[i]->probe(desc, &st))
			return formats[i];
	lfs_err_set("%s: not a layer in any format this program reads", desc->name);
	return NULL;
}

int lfs_layer_cacheable(const struct lfs_layer_desc *desc)
{
	const struct lfs_layer_ops *f = format_of(desc);

	return f && f->cacheable;
}

int lfs_layer_index(struct lfs_layer **out, const struct lfs_layer_desc *desc, uint32_t index,
		    const struct lfs_layer_opts *opts)
{
	const struct lfs_layer_ops *f = format_of(desc);
	struct lfs_layer *l;
	int rc;

	if (!f)
		return -EINVAL;
	l = lfs_xcalloc(1, sizeof(*l));
	l->index = index;
	l->name = lfs_xstrdup(desc->name);
	l->arena = lfs_arena_new();
	l->root = lfs_dir_new(l->arena, NULL);
	l->root->flags = LFS_NF_IMPLIED;
	l->root->layer = index;
	l->ops = f;
	rc = f->index(l, desc, opts);
	if (rc < 0) {
		lfs_layer_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

ssize_t lfs_layer_pread(const struct lfs_layer *l, const struct lfs_node *n, void *buf, size_t len,
			uint64_t off)
{
	if (l->ops && l->ops->pread)
		return l->ops->pread(l, n, buf, len, off);
	return lfs_blob_pread(l->blob, buf, len, n->data_off + off);
}

int lfs_layer_raw_fd(const struct lfs_layer *l, int *fd, uint64_t *base)
{
	if (!l->blob)
		return -ENOTSUP;
	return lfs_blob_raw_fd(l->blob, fd, base);
}

void lfs_layer_ready(struct lfs_layer *l)
{
	if (l && l->ops && l->ops->ready)
		l->ops->ready(l);
}

void lfs_layer_free(struct lfs_layer *l)
{
	if (!l)
		return;
	if (l->ops && l->ops->free)
		l->ops->free(l);
	if (l->blob)
		lfs_blob_free(l->blob);
	lfs_arena_free(l->arena);
	free(l->name);
	free(l);
}
