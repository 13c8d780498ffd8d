/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Member table of an image archive (docker save, oci-archive): one libarchive
 * pass over the uncompressed outer tarball that seeks over the data, so that
 * a multi-gigabyte image is indexed by reading only its headers.  A member is
 * then served straight from the outer file as (fd, offset, length).  The
 * files of an OCI layout directory are reached through the same calls.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/blob.h"
#include "layerfs/image.h"
#include "image_int.h"

/* Links followed while resolving one name, as the kernel's MAXSYMLINKS. */
#define MAX_LINKS 40
#define PATH_CAP  4096
#define READ_BUF  (64 * 1024)

enum member_type {
	M_FILE,
	M_DIR,
	M_SYMLINK,
	M_HARDLINK,
	M_OTHER,
};

struct member {
	char *name;
	char *link; /* symlink target as stored; hard link target normalised */
	uint64_t off;
	uint64_t size;
	size_t seq; /* position in the archive: the last of equal names wins */
	enum member_type type;
	bool sparse;
};

struct lfs_tarmembers {
	char *name;
	int fd;
	size_t n;
	struct member *m; /* sorted by name, unique */
};

struct reader {
	int fd;
	uint64_t pos;
	uint64_t end;
	char buf[READ_BUF];
};

/* The one place libarchive failures become -errno and a message. */
static int ar_fail(struct archive *a, const char *name, const char *what)
{
	const char *msg = archive_error_string(a);
	int e = archive_errno(a);

	lfs_err_set("%s: %s: %s", name, what, msg ? msg : "unknown libarchive error");
	/* Format problems come as EINVAL, EILSEQ or libarchive's -1. */
	if (e <= 0 || e == EILSEQ)
		return -EINVAL;
	return -e;
}

static la_ssize_t rd_read(struct archive *a, void *data, const void **buf)
{
	struct reader *r = data;
	size_t want = sizeof(r->buf);
	ssize_t n;

	if (r->pos >= r->end)
		return 0;
	if (r->end - r->pos < want)
		want = r->end - r->pos;
	do {
		n = pread(r->fd, r->buf, want, (off_t)r->pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		archive_set_error(a, e, "read error: %s", strerror(e));
		return -1;
	}
	r->pos += (uint64_t)n;
	*buf = r->buf;
	return n;
}

static la_int64_t rd_skip(struct archive *a, void *data, la_int64_t req)
{
	struct reader *r = data;
	uint64_t n = req > 0 ? (uint64_t)req : 0;

	if (n > r->end - r->pos)
		n = r->end - r->pos;
	r->pos += n;
	return (la_int64_t)n;
}

static la_int64_t rd_seek(struct archive *a, void *data, la_int64_t off, int whence)
{
	struct reader *r = data;
	int64_t base = 0;

	if (whence == SEEK_CUR)
		base = (int64_t)r->pos;
	else if (whence == SEEK_END)
		base = (int64_t)r->end;
	if (base + off < 0) {
		archive_set_error(a, EINVAL, "seek before the start");
		return ARCHIVE_FATAL;
	}
	r->pos = (uint64_t)(base + off);
	return (la_int64_t)r->pos;
}

/* An archive reader over FD: tar only, plain or (when COMPRESSED) gzip/zstd. */
static int reader_open(struct archive **out, struct reader **rout, int fd, const char *name,
		       bool compressed)
{
	struct archive *a;
	struct reader *r;
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		lfs_err_set("%s: %s", name, strerror(-ret));
		return ret;
	}
	r = lfs_xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->end = (uint64_t)st.st_size;
	a = archive_read_new();
	if (!a) {
		free(r);
		lfs_err_set("%s: out of memory", name);
		return -ENOMEM;
	}
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	if (compressed) {
		archive_read_support_filter_gzip(a);
		archive_read_support_filter_zstd(a);
	} else {
		archive_read_support_filter_none(a);
	}
	archive_read_set_read_callback(a, rd_read);
	archive_read_set_skip_callback(a, rd_skip);
	archive_read_set_seek_callback(a, rd_seek);
	archive_read_set_callback_data(a, r);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		ret = ar_fail(a, name, "not a tar archive");
		archive_read_free(a);
		free(r);
		return ret;
	}
	*out = a;
	*rout = r;
	return 0;
}

int lfs_tar_normalise(char *path)
{
	char *w = path;
	const char *s = path;

	while (*s) {
		const char *e = strchrnul(s, '/');
		size_t len = (size_t)(e - s);

		if (len == 2 && s[0] == '.' && s[1] == '.')
			return -EINVAL;
		if (len && !(len == 1 && s[0] == '.')) {
			if (w != path)
				*w++ = '/';
			memmove(w, s, len);
			w += len;
		}
		s = *e ? e + 1 : e;
	}
	*w = '\0';
	return 0;
}

static int member_cmp(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void member_clear(struct member *m)
{
	free(m->name);
	free(m->link);
}

/* Sort by name and keep only the last entry of each name, as tar extraction would. */
static void table_finish(struct lfs_tarmembers *t)
{
	size_t i, w = 0;

	if (!t->n)
		return; /* t->m may be NULL: qsort must not see it */
	qsort(t->m, t->n, sizeof(*t->m), member_cmp);
	for (i = 0; i < t->n; i++) {
		if (i + 1 < t->n && !strcmp(t->m[i].name, t->m[i + 1].name)) {
			member_clear(&t->m[i]);
			continue;
		}
		t->m[w++] = t->m[i];
	}
	t->n = w;
}

/* Fill M from the current header; false when the entry cannot be named inside the archive. */
static bool member_from_entry(struct member *m, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	const char *hl = archive_entry_hardlink(e);

	if (!path)
		return false;
	memset(m, 0, sizeof(*m));
	m->name = lfs_xstrdup(path);
	if (lfs_tar_normalise(m->name) < 0 || !m->name[0]) {
		free(m->name);
		return false;
	}
	if (hl) {
		m->type = M_HARDLINK;
		m->link = lfs_xstrdup(hl);
		if (lfs_tar_normalise(m->link) < 0 || !m->link[0]) {
			free(m->link);
			m->link = NULL;
		}
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			m->type = M_FILE;
			break;
		case AE_IFDIR:
			m->type = M_DIR;
			break;
		case AE_IFLNK:
			m->type = M_SYMLINK;
			m->link =
			    lfs_xstrdup(archive_entry_symlink(e) ? archive_entry_symlink(e) : "");
			break;
		default:
			m->type = M_OTHER;
			break;
		}
	}
	m->size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
		      ? (uint64_t)archive_entry_size(e)
		      : 0;
	m->sparse = archive_entry_sparse_count(e) > 0;
	return true;
}

int lfs_tarmembers_open(struct lfs_tarmembers **out, int fd, const char *name)
{
	return lfs_tarmembers_scan(out, fd, name, false);
}

int lfs_tarmembers_scan(struct lfs_tarmembers **out, int fd, const char *name, bool compressed)
{
	struct lfs_tarmembers *t;
	struct archive_entry *e;
	struct archive *a;
	struct reader *r;
	size_t cap = 0, seq = 0;
	int ret;

	ret = reader_open(&a, &r, fd, name, compressed);
	if (ret < 0)
		return ret;
	t = lfs_xcalloc(1, sizeof(*t));
	t->name = lfs_xstrdup(name);
	t->fd = fd;
	for (;;) {
		int st = archive_read_next_header(a, &e);

		if (st == ARCHIVE_EOF)
			break;
		if (st < ARCHIVE_WARN) {
			ret = ar_fail(a, name, "reading the archive");
			goto err_table;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 64;
			t->m = lfs_xrealloc(t->m, cap * sizeof(*t->m));
		}
		if (!member_from_entry(&t->m[t->n], e))
			continue;
		/* Header blocks are consumed by now: this is where the data starts. */
		t->m[t->n].off = (uint64_t)archive_filter_bytes(a, 0);
		t->m[t->n].seq = seq++;
		t->n++;
	}
	table_finish(t);
	archive_read_free(a);
	free(r);
	*out = t;
	return 0;

err_table:
	lfs_tarmembers_free(t);
	archive_read_free(a);
	free(r);
	return ret;
}

void lfs_tarmembers_free(struct lfs_tarmembers *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		member_clear(&t->m[i]);
	free(t->m);
	free(t->name);
	free(t);
}

static const struct member *lookup(const struct lfs_tarmembers *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->m[mid].name);

		if (!c)
			return &t->m[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool lfs_tarmembers_has(const struct lfs_tarmembers *t, const char *name)
{
	return lookup(t, name) != NULL;
}

size_t lfs_tarmembers_count(const struct lfs_tarmembers *t)
{
	return t->n;
}

const char *lfs_tarmembers_name(const struct lfs_tarmembers *t, size_t i)
{
	return i < t->n ? t->m[i].name : NULL;
}

/* REST becomes "PREFIX/REST" (PREFIX may be empty). */
static int prepend(char *rest, const char *prefix)
{
	size_t pl = strlen(prefix), rl = strlen(rest);

	if (pl + 1 + rl + 1 > PATH_CAP)
		return -ENAMETOOLONG;
	memmove(rest + pl + 1, rest, rl + 1);
	memcpy(rest, prefix, pl);
	rest[pl] = '/';
	return 0;
}

/* Remove the first component of REST, which ends at SLASH. */
static void drop_first(char *rest, const char *slash)
{
	if (*slash)
		slash++;
	memmove(rest, slash, strlen(slash) + 1);
}

/*
 * Walk NAME component by component as a path inside the archive, following
 * symbolic links (relative to their directory) and hard links (relative to
 * the root); ".." never climbs above the root.
 */
static int resolve(const struct lfs_tarmembers *t, const char *name, const struct member **out)
{
	char *done = lfs_xmalloc(PATH_CAP), *rest = lfs_xmalloc(PATH_CAP);
	const struct member *m = NULL;
	char shown[96];
	int links = 0, ret = 0;
	size_t dl = 0;

	done[0] = '\0';
	if (strlen(name) >= PATH_CAP) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	strcpy(rest, name);
	while (rest[0]) {
		char *slash = strchrnul(rest, '/');
		size_t cl = (size_t)(slash - rest);
		size_t save = dl;

		if (cl == 0 || (cl == 1 && rest[0] == '.')) {
			drop_first(rest, slash);
			continue;
		}
		if (cl == 2 && rest[0] == '.' && rest[1] == '.') {
			if (!dl) {
				ret = -EXDEV;
				goto out;
			}
			while (dl && done[dl - 1] != '/')
				dl--;
			dl = dl ? dl - 1 : 0;
			done[dl] = '\0';
			drop_first(rest, slash);
			continue;
		}
		if (dl + 1 + cl + 1 > PATH_CAP) {
			ret = -ENAMETOOLONG;
			goto out;
		}
		if (dl)
			done[dl++] = '/';
		memcpy(done + dl, rest, cl);
		dl += cl;
		done[dl] = '\0';
		drop_first(rest, slash);
		m = lookup(t, done);
		if (!m) {
			/* Tarballs need not list directories: only the last name must exist. */
			if (!rest[0]) {
				ret = -ENOENT;
				goto out;
			}
			continue;
		}
		if (m->type != M_SYMLINK && m->type != M_HARDLINK) {
			if (rest[0] && m->type != M_DIR) {
				ret = -ENOTDIR;
				goto out;
			}
			continue;
		}
		if (++links > MAX_LINKS) {
			ret = -ELOOP;
			goto out;
		}
		if (!m->link || m->link[0] == '/') {
			ret = -EXDEV;
			goto out;
		}
		/* Continue from the link's directory (symlink) or from the root (hard link). */
		dl = m->type == M_SYMLINK ? save : 0;
		done[dl] = '\0';
		if (rest[0])
			ret = prepend(rest, m->link);
		else if (strlen(m->link) < PATH_CAP)
			strcpy(rest, m->link);
		else
			ret = -ENAMETOOLONG;
		if (ret < 0)
			goto out;
		m = NULL;
	}
	m = dl ? lookup(t, done) : NULL;
	if (!m)
		ret = -ENOENT;
	else if (m->type != M_FILE)
		ret = -EINVAL;
	else if (m->sparse)
		ret = -ENOTSUP;
out:
	lfs_show(name, shown, sizeof(shown));
	switch (ret) {
	case 0:
		*out = m;
		break;
	case -ENOENT:
		lfs_err_set("%s: %s: no such member in the archive", t->name, shown);
		break;
	case -ENOTDIR:
		lfs_err_set("%s: %s: a path component is not a directory", t->name, shown);
		break;
	case -ELOOP:
		lfs_err_set("%s: %s: too many levels of links", t->name, shown);
		break;
	case -EXDEV:
		ret = -EINVAL;
		lfs_err_set("%s: %s: a link points outside the archive", t->name, shown);
		break;
	case -ENAMETOOLONG:
		lfs_err_set("%s: %s: path too long", t->name, shown);
		break;
	case -ENOTSUP:
		lfs_err_set("%s: %s: sparse members are not supported", t->name, shown);
		break;
	default:
		lfs_err_set("%s: %s: not a regular file", t->name, shown);
		break;
	}
	free(done);
	free(rest);
	return ret;
}

int lfs_tarmembers_find(const struct lfs_tarmembers *t, const char *name, uint64_t *off,
			uint64_t *len)
{
	const struct member *m;
	int ret = resolve(t, name, &m);

	if (ret < 0)
		return ret;
	*off = m->off;
	*len = m->size;
	return 0;
}

/* [off, off + len) of FD into a new NUL-terminated buffer; NAME: REL for messages. */
static int read_range(int fd, uint64_t off, uint64_t len, size_t max, const char *name,
		      const char *rel, char **buf)
{
	uint64_t done = 0;
	char shown[96];
	char *b;
	int ret;

	lfs_show(rel, shown, sizeof(shown));
	if (len > max) {
		lfs_err_set("%s: %s: too large (%llu bytes; the limit is %zu)", name, shown,
			    (unsigned long long)len, max);
		return -EFBIG;
	}
	b = lfs_xmalloc((size_t)len + 1);
	while (done < len) {
		ssize_t n = pread(fd, b + done, (size_t)(len - done), (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			lfs_err_set("%s: %s: %s", name, shown,
				    n < 0 ? strerror(-ret) : "unexpected end of file");
			free(b);
			return ret;
		}
		done += (uint64_t)n;
	}
	b[len] = '\0';
	*buf = b;
	return 0;
}

int lfs_tarmembers_read(const struct lfs_tarmembers *t, const char *name, size_t max, char **buf,
			size_t *len)
{
	uint64_t off, size;
	int ret;

	ret = lfs_tarmembers_find(t, name, &off, &size);
	if (!ret)
		ret = read_range(t->fd, off, size, max, t->name, name, buf);
	if (!ret)
		*len = (size_t)size;
	return ret;
}

int lfs_src_locate(const struct lfs_src *s, const char *rel, int *fd, uint64_t *off, uint64_t *len)
{
	struct stat st;
	int ret;

	*off = 0;
	if (s->tm) {
		*fd = s->fd;
		return lfs_tarmembers_find(s->tm, rel, off, len);
	}
	/* REL comes from checked digests or fixed names: it cannot climb out of the layout. */
	/* O_NONBLOCK: a FIFO planted as a blob must not hang us before the type check. */
	*fd = openat(s->fd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		ret = -errno;
		lfs_err_set("%s: %s: %s", s->path, rel, strerror(-ret));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		lfs_err_set("%s: %s: not a regular file", s->path, rel);
		goto err;
	}
	*len = (uint64_t)st.st_size;
	return 0;
err:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return ret;
}

int lfs_src_read(const struct lfs_src *s, const char *rel, char **buf, size_t *len)
{
	uint64_t off, size;
	int fd, ret;

	if (s->tm)
		return lfs_tarmembers_read(s->tm, rel, LFS_JSON_MAX, buf, len);
	ret = lfs_src_locate(s, rel, &fd, &off, &size);
	if (ret < 0)
		return ret;
	ret = read_range(fd, off, size, LFS_JSON_MAX, s->path, rel, buf);
	if (!ret)
		*len = (size_t)size;
	close(fd);
	return ret;
}

bool lfs_src_has(const struct lfs_src *s, const char *rel)
{
	if (s->tm)
		return lfs_tarmembers_has(s->tm, rel);
	return faccessat(s->fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int lfs_tar_first_name(int fd, const char *name, bool compressed, char **first)
{
	struct archive_entry *e;
	struct archive *a;
	struct reader *r;
	char *s = NULL;
	int ret, st;

	ret = reader_open(&a, &r, fd, name, compressed);
	if (ret < 0)
		return ret;
	*first = NULL;
	/* "tar -C dir ." starts with "./": the root itself says nothing, look past it. */
	for (int i = 0; i < 4 && (!s || (!s[0] && archive_entry_filetype(e) == AE_IFDIR)); i++) {
		const char *p;

		st = archive_read_next_header(a, &e);
		if (st == ARCHIVE_EOF)
			break;
		if (st < ARCHIVE_WARN) {
			ret = ar_fail(a, name, "not a tar archive");
			break;
		}
		p = archive_entry_pathname(e);
		free(s);
		s = lfs_xmalloc(strlen(p ? p : "") + 2);
		strcpy(s, p ? p : "");
		/* A name with ".." cannot be an image's: report it as nothing special. */
		if (lfs_tar_normalise(s) < 0) {
			s[0] = '\0';
			break;
		}
		if (s[0] && archive_entry_filetype(e) == AE_IFDIR)
			strcat(s, "/");
	}
	if (ret < 0)
		free(s);
	else
		*first = s;
	archive_read_free(a);
	free(r);
	return ret;
}
