/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry store (regstore.h): documents and tags of registry images
 * kept in the cache directory, each file written whole and renamed into
 * place, each document checked against its digest when read back.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "layerfs/lfs.h"
#include "regstore.h"

#define DOC_MAX (LFS_JSON_MAX + 512)

struct lfs_regstore {
	char *dir;
	int warned; /* one warning per image for a store that cannot be written */
};

int lfs_regstore_open(struct lfs_regstore **out, const char *dir)
{
	struct lfs_regstore *st = lfs_xcalloc(1, sizeof(*st));

	st->dir = lfs_xstrdup(dir);
	*out = st;
	return 0;
}

void lfs_regstore_close(struct lfs_regstore *st)
{
	if (!st)
		return;
	free(st->dir);
	free(st);
}

/* SUB/NAME under the store's directory. */
static void path_of(const struct lfs_regstore *st, const char *sub, const char *name, char *out,
		    size_t n)
{
	snprintf(out, n, "%s/%s/%s", st->dir, sub, name);
}

static int hex_of(const char *digest, char hex[65])
{
	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256)
		return -EINVAL;
	memcpy(hex, digest + 7, 64);
	hex[64] = '\0';
	return 0;
}

/* Write A then B to SUB/NAME, atomically. */
static void put_file(struct lfs_regstore *st, const char *sub, const char *name, const void *a,
		     size_t alen, const void *b, size_t blen)
{
	char dir[4096], path[4200], tmp[4300];
	int fd, ok, err;

	snprintf(dir, sizeof(dir), "%s/%s", st->dir, sub);
	path_of(st, sub, name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	err = lfs_mkdirs(dir);
	fd = err ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = err ? err : -errno;
		goto fail;
	}
	ok = write(fd, a, alen) == (ssize_t)alen && write(fd, b, blen) == (ssize_t)blen;
	err = ok ? 0 : (errno ? -errno : -EIO);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (!err)
		return;
	unlink(tmp);
fail:
	if (!st->warned++)
		lfs_warn("%s: %s; a later --offline mount will not find this image", dir,
			 strerror(-err));
}

/* All of SUB/NAME (at most MAX bytes), NUL-terminated: 0 or -ENOENT. */
static int get_file(const struct lfs_regstore *st, const char *sub, const char *name, size_t max,
		    char **buf, size_t *len)
{
	char path[4200];
	struct stat sb;
	char *p;
	int fd, ok;

	path_of(st, sub, name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size <= max;
	p = ok ? lfs_xmalloc((size_t)sb.st_size + 1) : NULL;
	ok = ok && read(fd, p, (size_t)sb.st_size) == (ssize_t)sb.st_size;
	close(fd);
	if (!ok) {
		free(p);
		return -ENOENT;
	}
	p[sb.st_size] = '\0';
	*buf = p;
	*len = (size_t)sb.st_size;
	return 0;
}

void lfs_regstore_put_doc(struct lfs_regstore *st, const char *digest, const char *ctype,
			  const void *buf, size_t len)
{
	char hex[65], line[256], *have = NULL, *have_type = NULL;
	size_t have_len;

	if (hex_of(digest, hex) < 0)
		return;
	/* Kept already (every later mount fetches the tag's manifest again): no rewrite. */
	if (lfs_regstore_get_doc(st, digest, &have, &have_len, &have_type) == 0) {
		free(have);
		free(have_type);
		return;
	}
	lfs_err_clear();
	snprintf(line, sizeof(line), "%.200s\n", ctype && !strchr(ctype, '\n') ? ctype : "");
	put_file(st, "registry/docs", hex, line, strlen(line), buf, len);
}

int lfs_regstore_get_doc(struct lfs_regstore *st, const char *digest, char **buf, size_t *len,
			 char **ctype)
{
	char hex[65], got[72], *raw = NULL, *nl;
	size_t n;

	if (hex_of(digest, hex) < 0 || get_file(st, "registry/docs", hex, DOC_MAX, &raw, &n) < 0 ||
	    !(nl = memchr(raw, '\n', n))) {
		free(raw);
		return lfs_error(-ENOENT, "%s is not in the cache (%s)", digest, st->dir);
	}
	lfs_digest_of(nl + 1, n - (size_t)(nl + 1 - raw), got);
	if (strcmp(got, digest) != 0) {
		free(raw);
		return lfs_error(-ENOENT, "the cached copy of %s is damaged (%s)", digest, st->dir);
	}
	*nl = '\0';
	*ctype = raw[0] ? lfs_xstrdup(raw) : NULL;
	*len = n - (size_t)(nl + 1 - raw);
	*buf = lfs_xmalloc(*len + 1);
	memcpy(*buf, nl + 1, *len + 1);
	free(raw);
	return 0;
}

void lfs_regstore_put_tag(struct lfs_regstore *st, const char *name, const char *digest)
{
	char hex[72], line[600], have[72];

	if (lfs_regstore_get_tag(st, name, have) == 0 && !strcmp(have, digest))
		return; /* unchanged since the last mount */
	lfs_err_clear();
	lfs_digest_of(name, strlen(name), hex);
	snprintf(line, sizeof(line), "%.500s\n", name);
	put_file(st, "registry/tags", hex + 7, line, strlen(line), digest, strlen(digest));
}

int lfs_regstore_get_tag(struct lfs_regstore *st, const char *name, char digest[72])
{
	char hex[72], *raw = NULL, *nl;
	size_t n;

	lfs_digest_of(name, strlen(name), hex);
	if (get_file(st, "registry/tags", hex + 7, 1024, &raw, &n) < 0 ||
	    !(nl = strchr(raw, '\n')) || (size_t)(nl - raw) != strlen(name) ||
	    memcmp(raw, name, strlen(name)) != 0 || lfs_digest_check(nl + 1) != LFS_DIGEST_SHA256) {
		free(raw);
		return lfs_error(-ENOENT, "%s was never seen online (%s)", name, st->dir);
	}
	snprintf(digest, 72, "%s", nl + 1);
	free(raw);
	return 0;
}

int lfs_regstore_blob_path(const struct lfs_regstore *st, const char *digest, char *path, size_t n)
{
	char hex[65];
	int r;

	if (hex_of(digest, hex) < 0)
		return -EINVAL;
	r = snprintf(path, n, "%s/blobs/sha256/%s", st->dir, hex);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}
