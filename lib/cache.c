/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The persistent index cache.  A layer's tree, its metadata and the blob
 * reader's restart points are written once, compressed with zstd and
 * checksummed with xxh3; later mounts load them instead of reading the
 * layer.  Files are written to a temporary name and renamed, so a reader
 * sees a whole file or none; a file that fails any check is ignored and
 * rebuilt.  The layout is in cache_format.h.
 */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache.h"
#include "cache_format.h"
#include "layerfs/lfs.h"

#define MAX_RAW (1ULL << 32) /* largest payload we agree to decompress */

struct lfs_cache {
	char *dir;
	int dirfd;
	uint64_t max_bytes;
	pthread_mutex_t evict_lock; /* one eviction scan at a time */
};

/* ---- files */

int lfs_cache_default_dir(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int r;

	if (xdg && xdg[0] == '/')
		r = snprintf(buf, n, "%s/layerfs", xdg);
	else if (home && home[0] == '/')
		r = snprintf(buf, n, "%s/.cache/layerfs", home);
	else
		return -ENOENT;
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

int lfs_cache_open(struct lfs_cache **out, const char *dir, uint64_t max_bytes)
{
	struct lfs_cache *c;
	int rc = lfs_mkdirs(dir), fd = -1;

	if (rc == 0) {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	}
	if (rc < 0) {
		lfs_err_set("%s: cannot use as cache directory: %s", dir, strerror(-rc));
		return rc;
	}
	c = lfs_xcalloc(1, sizeof(*c));
	c->dir = lfs_xstrdup(dir);
	c->dirfd = fd;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->evict_lock, NULL);
	*out = c;
	return 0;
}

void lfs_cache_close(struct lfs_cache *c)
{
	if (!c)
		return;
	close(c->dirfd);
	pthread_mutex_destroy(&c->evict_lock);
	free(c->dir);
	free(c);
}

static int read_all(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EBADMSG;
		done += (size_t)r;
	}
	return 0;
}

/*
 * xxh3 of the first and last SAMPLE bytes of the blob: a file rewritten in
 * place, or a new file that got a freed inode number, is caught even where
 * the size and all the times came out the same.
 */
#define SAMPLE 4096

static int sample_hash(const struct lfs_layer_desc *d, uint64_t *out)
{
	char buf[2 * SAMPLE];
	size_t head = d->len < SAMPLE ? (size_t)d->len : SAMPLE;
	size_t tail = d->len - head < SAMPLE ? (size_t)(d->len - head) : SAMPLE;
	int rc = read_all(d->fd, buf, head, d->off);

	if (rc == 0)
		rc = read_all(d->fd, buf + head, tail, d->off + d->len - tail);
	if (rc < 0)
		return rc;
	*out = XXH3_64bits(buf, head + tail);
	return 0;
}

/* Both kinds of key end alike: the diff_id, then the 128-bit hash, little-endian. */
static void key_finish(XXH3_state_t *st, const struct lfs_layer_desc *d, uint8_t key[16])
{
	XXH128_hash_t h;
	uint64_t out[2];

	XXH3_128bits_update(st, d->diff_id ? d->diff_id : "",
			    d->diff_id ? strlen(d->diff_id) + 1 : 1);
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	out[0] = htole64(h.low64);
	out[1] = htole64(h.high64);
	memcpy(key, out, 16);
}

int lfs_cache_key_stat(const struct lfs_layer_desc *d, const struct stat *sb, uint8_t key[16])
{
	XXH3_state_t *st;
	uint64_t f[9];
	int rc;

	/* A changed file is a different key: the cache never vouches for stale bytes. */
	f[0] = LFS_CACHE_VERSION;
	f[1] = (uint64_t)sb->st_dev;
	f[2] = (uint64_t)sb->st_ino;
	f[3] = (uint64_t)sb->st_size;
	f[4] = (uint64_t)sb->st_mtim.tv_sec * 1000000000ULL + (uint64_t)sb->st_mtim.tv_nsec;
	/* utimensat can put the mtime back after a rewrite; nothing puts the ctime back. */
	f[5] = (uint64_t)sb->st_ctim.tv_sec * 1000000000ULL + (uint64_t)sb->st_ctim.tv_nsec;
	f[6] = d->off;
	f[7] = d->len;
	rc = sample_hash(d, &f[8]);
	if (rc < 0)
		return rc;
	st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, f, sizeof(f));
	XXH3_128bits_update(st, d->digest ? d->digest : "", d->digest ? strlen(d->digest) + 1 : 1);
	key_finish(st, d, key);
	return 0;
}

/*
 * A blob with no file (a registry's) is content-addressed: its sha256 names
 * it, and the index is stored only after the pass verified that digest
 * (layer_tar.c), so the digest alone is a key that never vouches for other
 * bytes.  Without a sha256 it is not cached.
 */
static int key_digest(const struct lfs_layer_desc *d, uint8_t key[16])
{
	static const char tag[] = "layerfs content-addressed blob";
	uint8_t sha[32];
	uint64_t f[2];
	XXH3_state_t *st;

	if (!d->digest || lfs_digest_parse(d->digest, sha) < 0)
		return -ENOTSUP;
	f[0] = LFS_CACHE_VERSION;
	f[1] = d->len;
	st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, tag, sizeof(tag));
	XXH3_128bits_update(st, f, sizeof(f));
	XXH3_128bits_update(st, sha, sizeof(sha));
	key_finish(st, d, key);
	return 0;
}

int lfs_cache_key(const struct lfs_layer_desc *d, uint8_t key[16])
{
	struct stat sb;

	if (d->fd < 0)
		return key_digest(d, key);
	if (fstat(d->fd, &sb) < 0)
		return -errno;
	return lfs_cache_key_stat(d, &sb, key);
}

static void key_name(const uint8_t key[16], const char *ext, char out[48])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", key[i]);
	strcpy(out + 32, ext);
}

static int write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

/* Read and check the header and payload of FD; returns the decompressed payload. */
static int read_payload(int fd, const uint8_t key[16], int need_hashes, void **out, size_t *len)
{
	struct lfs_cache_header h;
	struct stat sb;
	void *comp = NULL, *raw = NULL;
	size_t got = 0;
	int rc;

	if (fstat(fd, &sb) < 0 || read_all(fd, &h, sizeof(h), 0) < 0)
		return -EBADMSG;
	if (memcmp(h.magic, LFS_CACHE_MAGIC, 8) || le32toh(h.version) != LFS_CACHE_VERSION ||
	    le64toh(h.header_xxh3) !=
		XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)) ||
	    memcmp(h.key, key, 16) || le64toh(h.payload_len) != (uint64_t)sb.st_size - sizeof(h) ||
	    le64toh(h.raw_len) > MAX_RAW)
		return -EBADMSG;
	if (need_hashes && !(le32toh(h.flags) & LFS_CACHE_F_HASHES))
		return -ENOENT;
	comp = lfs_xmalloc(le64toh(h.payload_len));
	rc = read_all(fd, comp, le64toh(h.payload_len), sizeof(h));
	if (rc == 0 && XXH3_64bits(comp, le64toh(h.payload_len)) != le64toh(h.payload_xxh3))
		rc = -EBADMSG;
	/* Allocate raw_len (up to MAX_RAW) only when the zstd frame says so too. */
	if (rc == 0 && ZSTD_getFrameContentSize(comp, le64toh(h.payload_len)) != le64toh(h.raw_len))
		rc = -EBADMSG;
	if (rc == 0) {
		raw = lfs_xmalloc(le64toh(h.raw_len));
		got = ZSTD_decompress(raw, le64toh(h.raw_len), comp, le64toh(h.payload_len));
		if (ZSTD_isError(got) || got != le64toh(h.raw_len))
			rc = -EBADMSG;
	}
	free(comp);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	*out = raw;
	*len = got;
	return 0;
}

int lfs_cache_load(struct lfs_cache *c, const struct lfs_layer_desc *d, const uint8_t key[16],
		   uint32_t index, int flags, struct lfs_layer **out)
{
	const int need_hashes = !!(flags & LFS_CACHE_HASHES);
	char name[48];
	void *raw = NULL;
	size_t len;
	int fd, sfd, rc;

	key_name(key, ".idx", name);
	fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	rc = read_payload(fd, key, need_hashes, &raw, &len);
	if (rc == 0)
		futimens(fd, NULL); /* most recently used: evicted last */
	close(fd);
	if (rc < 0)
		return -ENOENT;
	key_name(key, ".scr", name);
	sfd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = lfs_cache_decode(raw, len, d, index, sfd, flags, out);
	if (sfd >= 0)
		close(sfd);
	free(raw);
	if (rc == 0 && need_hashes && !(*out)->hashed) {
		lfs_layer_free(*out);
		rc = -ENOENT; /* the header said hashes, the payload has none */
	}
	if (rc < 0) {
		lfs_err_clear();
		return -ENOENT;
	}
	return 0;
}

/* Write BUF to a temporary file in the cache and rename it to NAME. */
static int write_file(struct lfs_cache *c, const char *name, const struct lfs_blob *blob,
		      const void *hdr, size_t hlen, const void *buf, size_t len, uint64_t *blen)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.%lx", name, (long)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (blob)
		rc = lfs_blob_save_scratch(blob, fd, blen);
	else
		rc = write_all(fd, hdr, hlen);
	if (rc == 0 && !blob && len)
		rc = write_all(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(c->dirfd, tmp, 0);
	return rc;
}

struct cfile {
	char name[64];
	time_t mtime;
	uint64_t size;
};

static int by_mtime(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Oldest first until the directory fits in max_bytes. */
static void evict(struct lfs_cache *c)
{
	struct cfile *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *dir;
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		struct stat sb;
		size_t l = strlen(de->d_name);

		if (l != 36 || (strcmp(de->d_name + 32, ".idx") && strcmp(de->d_name + 32, ".scr")))
			continue;
		if (fstatat(c->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = lfs_xrealloc(v, cap * sizeof(*v));
		}
		strcpy(v[n].name, de->d_name);
		v[n].mtime = sb.st_mtime;
		v[n].size = (uint64_t)sb.st_blocks * 512;
		total += v[n].size;
		n++;
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), by_mtime);
	for (size_t i = 0; i < n && total > c->max_bytes; i++) {
		if (unlinkat(c->dirfd, v[i].name, 0) == 0)
			total -= v[i].size;
	}
	free(v);
}

void lfs_cache_store(struct lfs_cache *c, const struct lfs_layer_desc *d, const uint8_t key[16],
		     struct lfs_layer *l)
{
	struct lfs_cache_header h;
	char name[48];
	void *raw = NULL, *comp = NULL;
	size_t len, clen;
	uint64_t scratch_len = 0;
	int rc;

	key_name(key, ".scr", name);
	/* The scratch file first: an index never points at scratch that is not there. */
	rc = write_file(c, name, l->blob, NULL, 0, NULL, 0, &scratch_len);
	if (rc < 0)
		goto fail;
	if (!scratch_len)
		unlinkat(c->dirfd, name, 0);
	rc = lfs_cache_encode(l, scratch_len, &raw, &len);
	if (rc < 0)
		goto fail;
	clen = ZSTD_compressBound(len);
	comp = lfs_xmalloc(clen);
	clen = ZSTD_compress(comp, clen, raw, len, 3);
	if (ZSTD_isError(clen)) {
		rc = -EIO;
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, LFS_CACHE_MAGIC, 8);
	h.version = htole32(LFS_CACHE_VERSION);
	h.flags = htole32(l->hashed ? LFS_CACHE_F_HASHES : 0);
	memcpy(h.key, key, 16);
	h.payload_len = htole64(clen);
	h.raw_len = htole64(len);
	h.payload_xxh3 = htole64(XXH3_64bits(comp, clen));
	h.header_xxh3 = htole64(XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)));
	key_name(key, ".idx", name);
	rc = write_file(c, name, NULL, &h, sizeof(h), comp, clen, NULL);
	if (rc < 0)
		goto fail;
	free(raw);
	free(comp);
	if (c->max_bytes) {
		pthread_mutex_lock(&c->evict_lock);
		evict(c);
		pthread_mutex_unlock(&c->evict_lock);
	}
	return;
fail:
	free(raw);
	free(comp);
	lfs_warn("%s: not cached in %s: %s", d->name, c->dir, strerror(-rc));
}

/* All of file NAME of the cache (at most MAX bytes): 0, or -ENOENT. */
static int slurp(struct lfs_cache *c, const char *name, uint64_t max, void **buf, size_t *len)
{
	struct stat sb;
	int fd, rc = -ENOENT;

	*buf = NULL;
	*len = 0;
	fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size <= max) {
		*buf = lfs_xmalloc(sb.st_size ? (size_t)sb.st_size : 1);
		rc = read_all(fd, *buf, (size_t)sb.st_size, 0);
		if (rc == 0)
			*len = (size_t)sb.st_size;
		else
			rc = -ENOENT;
	}
	close(fd);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

int lfs_cache_files(struct lfs_cache *c, const uint8_t key[16], uint64_t max, void **idx,
		    size_t *idx_len, void **scr, size_t *scr_len)
{
	char name[48];
	int rc;

	key_name(key, ".idx", name);
	rc = slurp(c, name, max, idx, idx_len);
	if (rc)
		return rc;
	key_name(key, ".scr", name);
	if (slurp(c, name, max, scr, scr_len) < 0 && faccessat(c->dirfd, name, F_OK, 0) == 0) {
		free(*idx);
		*idx = NULL;
		return -EFBIG;
	}
	return 0;
}

bool lfs_cache_has(struct lfs_cache *c, const uint8_t key[16])
{
	char name[48];

	key_name(key, ".idx", name);
	return faccessat(c->dirfd, name, F_OK, 0) == 0;
}

int lfs_cache_install(struct lfs_cache *c, const uint8_t key[16], const void *idx, size_t idx_len,
		      const void *scr, size_t scr_len)
{
	char name[48], tmp[64];
	void *raw = NULL;
	size_t len;
	int fd, rc;

	/* The index is checked as a load checks it (magic, version, key, checksums) first. */
	snprintf(tmp, sizeof(tmp), ".install.%ld.%lx", (long)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(c->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, idx, idx_len);
	if (rc == 0)
		rc = read_payload(fd, key, 0, &raw, &len);
	free(raw);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && scr_len) {
		key_name(key, ".scr", name);
		rc = write_file(c, name, NULL, scr, scr_len, NULL, 0, NULL);
	}
	key_name(key, ".idx", name);
	if (rc == 0 && renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		rc = -errno;
	if (rc)
		unlinkat(c->dirfd, tmp, 0);
	return rc;
}
