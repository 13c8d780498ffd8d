/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blob sources, the part common to every kind: the reference count, and
 * reading an exact range over sources that may return short reads.  The
 * kinds of source live in blobsrc_<kind>.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobsrc.h"
#include "layerfs/lfs.h"

void lfs_blobsrc_init(struct lfs_blobsrc *s, const struct lfs_blobsrc_ops *ops, uint64_t size,
		      const char *name)
{
	s->ops = ops;
	atomic_init(&s->refs, 1);
	s->size = size;
	s->name = lfs_xstrdup(name);
}

struct lfs_blobsrc *lfs_blobsrc_ref(struct lfs_blobsrc *s)
{
	/* Taking a reference needs one already held: no ordering to enforce. */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void lfs_blobsrc_unref(struct lfs_blobsrc *s)
{
	if (!s)
		return;
	/* Release our writes; the last holder acquires everyone's before freeing. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->name);
	s->name = NULL;
	s->ops->free(s);
}

int lfs_blobsrc_read_full(struct lfs_blobsrc *s, void *buf, size_t n, uint64_t off,
			  const char *what)
{
	uint8_t *p = buf;
	ssize_t r;

	if (off > s->size || n > s->size - off) {
		lfs_err_set("%s: reading %s: bytes %llu+%zu are past its end (%llu bytes)", s->name,
			    what, (unsigned long long)off, n, (unsigned long long)s->size);
		return -EIO;
	}
	while (n > 0) {
		r = s->ops->pread(s, p, n, off);
		if (r < 0)
			return (int)r;
		/* More than asked for would be a bug in the source: never trust it. */
		if (r == 0 || (size_t)r > n) {
			lfs_err_set("%s: reading %s: unexpected end of data at byte %llu "
				    "(truncated?)",
				    s->name, what, (unsigned long long)off);
			return -EIO;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int lfs_blobsrc_local_fd(const struct lfs_blobsrc *s, int *fd, uint64_t *base)
{
	if (!s->ops->local_fd) {
		lfs_err_set("%s: not a local file", s->name);
		return -ENOTSUP;
	}
	return s->ops->local_fd(s, fd, base);
}

void lfs_blobsrc_exact(struct lfs_blobsrc *s)
{
	if (s->ops->exact)
		s->ops->exact(s);
}

int lfs_blobsrc_set_sums(struct lfs_blobsrc *s, const struct lfs_chunk_sums *sums)
{
	if (!s->ops->set_sums)
		return 0;
	if (sums->n != lfs_chunk_count(s->size)) {
		lfs_err_set("%s: %llu chunk digests for %llu bytes", s->name,
			    (unsigned long long)sums->n, (unsigned long long)s->size);
		return -EINVAL;
	}
	return s->ops->set_sums(s, sums);
}
