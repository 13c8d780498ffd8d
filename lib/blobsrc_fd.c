/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob source of a local file: a byte range of an open file descriptor
 * (a layer file, or a member of an image archive), read with pread, which
 * is thread safe without a lock.  It also hands out its descriptor, so that
 * the FUSE driver can splice from an uncompressed layer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobsrc.h"
#include "layerfs/lfs.h"

struct fd_src {
	struct lfs_blobsrc s; /* first: the generic part */
	int fd;
	uint64_t base; /* byte 0 of the blob is byte BASE of FD */
};

static ssize_t fd_pread(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off)
{
	const struct fd_src *f = (const struct fd_src *)s;
	ssize_t r;
	int ret;

	/* Never past the range: what follows it in the file is not the blob's. */
	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	do
		r = pread(f->fd, buf, len, (off_t)(f->base + off));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		ret = -errno;
		lfs_err_set("%s: reading the blob: %s", s->name, strerror(-ret));
		return ret;
	}
	return r;
}

static int fd_local_fd(const struct lfs_blobsrc *s, int *fd, uint64_t *base)
{
	const struct fd_src *f = (const struct fd_src *)s;

	*fd = f->fd;
	*base = f->base;
	return 0;
}

static void fd_free(struct lfs_blobsrc *s)
{
	struct fd_src *f = (struct fd_src *)s;

	close(f->fd);
	free(f);
}

static const struct lfs_blobsrc_ops fd_ops = {
    .pread = fd_pread,
    .local_fd = fd_local_fd,
    .free = fd_free,
};

int lfs_blobsrc_fd_new(struct lfs_blobsrc **out, int fd, uint64_t off, uint64_t len,
		       const char *name)
{
	struct fd_src *f;
	int dfd, ret;

	*out = NULL;
	/* off_t arithmetic must not wrap, and the blob's size fits int64_t. */
	if (off + len < off || off + len > (uint64_t)INT64_MAX) {
		lfs_err_set("%s: blob range %llu+%llu is out of bounds", name,
			    (unsigned long long)off, (unsigned long long)len);
		return -EINVAL;
	}
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		ret = -errno;
		lfs_err_set("%s: %s", name, strerror(-ret));
		return ret;
	}
	f = lfs_xcalloc(1, sizeof(*f));
	lfs_blobsrc_init(&f->s, &fd_ops, len, name);
	f->fd = dfd;
	f->base = off;
	*out = &f->s;
	return 0;
}
