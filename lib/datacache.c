/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decompressed-data cache (datacache.h): a sparse file per layer blob,
 * filled block by block as file data is read, each block checked against
 * its xxh3-128 before this process uses it.  The format is in
 * cache_format.h.
 *
 * Read-ahead: once reads have inflated a tenth of a local layer's blocks
 * (a walk reading every file, a grep -r, a tar of the tree), a thread per
 * such layer inflates the rest in stream order, which is the cheap order
 * for gzip and zstd, so that the layers of an image are inflated on all
 * cores while the reader walks the tree in directory order.
 *
 * Concurrency: FUSE threads, the read-ahead threads (and other mounts of
 * the same layer) may fill the same block at once; they write the same
 * bytes and the same sum, so no lock is needed on the file.  A block's
 * state in this process is an atomic byte; the layer list is guarded by
 * lfs_dcache.lock.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "blob_int.h"
#include "cache_format.h"
#include "datacache.h"
#include "layerfs/lfs.h"

#define BLOCK ((uint64_t)1 << LFS_DCACHE_SHIFT)

enum { B_UNKNOWN = 0, B_GOOD, B_ABSENT };

struct lfs_dlayer {
	struct lfs_dlayer *next;
	struct lfs_dcache *dc;
	struct lfs_blob *blob;
	int fd;
	uint64_t plain;
	uint64_t data_off;
	uint64_t nblocks;
	_Atomic uint8_t *state;	 /* B_*, one per block */
	int ahead;		 /* read-ahead allowed (a local blob) */
	_Atomic uint64_t filled; /* blocks inflated by reads */
	atomic_int started;	 /* the read-ahead thread runs (join it) */
	pthread_t thread;
};

struct lfs_dcache {
	char dir[PATH_MAX];
	uint64_t max;
	_Atomic uint64_t used; /* bytes on disk, as counted at open plus written since */
	atomic_int off;	       /* a write failed: fill nothing more */
	atomic_int stop;       /* closing: read-ahead threads end */
	_Atomic uint64_t hits, fills;
	pthread_mutex_t lock; /* guards layers */
	struct lfs_dlayer *layers;
};

/* The table's end, rounded up to a page: where the data starts. */
static uint64_t data_start(uint64_t plain)
{
	uint64_t nblocks = (plain + BLOCK - 1) / BLOCK;

	return (sizeof(struct lfs_dcache_header) + nblocks * 16 + 4095) & ~(uint64_t)4095;
}

static void header_pack(uint8_t h[64], const uint8_t key[16], uint64_t plain)
{
	memset(h, 0, 64);
	memcpy(h, LFS_DCACHE_MAGIC, 8);
	lfs_put_le(h + 8, LFS_DCACHE_VERSION, 4);
	lfs_put_le(h + 12, LFS_DCACHE_SHIFT, 4);
	memcpy(h + 16, key, 16);
	lfs_put_le(h + 32, plain, 8);
	lfs_put_le(h + 40, data_start(plain), 8);
	lfs_put_le(h + 56, XXH3_64bits(h, 56), 8);
}

/* Remove the least recently used files until the rest fits in MAX bytes. */
struct file_use {
	char name[NAME_MAX + 1];
	struct timespec mtime;
	uint64_t bytes;
};

static int by_age(const void *a, const void *b)
{
	const struct file_use *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : x->mtime.tv_nsec > y->mtime.tv_nsec;
}

static uint64_t trim(const char *dir, uint64_t max)
{
	struct file_use *f = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (len < 5 || strcmp(de->d_name + len - 4, ".lfd") != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			f = lfs_xrealloc(f, cap * sizeof(*f));
		}
		snprintf(f[n].name, sizeof(f[n].name), "%s", de->d_name);
		f[n].mtime = st.st_mtim;
		f[n].bytes = (uint64_t)st.st_blocks * 512;
		total += f[n++].bytes;
	}
	if (total > max) {
		qsort(f, n, sizeof(*f), by_age);
		for (size_t i = 0; i < n && total > max; i++)
			if (unlinkat(dirfd(d), f[i].name, 0) == 0)
				total -= f[i].bytes;
	}
	closedir(d);
	free(f);
	return total;
}

struct lfs_dcache *lfs_dcache_open(const char *dir, uint64_t max)
{
	struct lfs_dcache *dc;
	int rc = lfs_mkdirs(dir);

	if (rc < 0) {
		lfs_warn("%s: %s; file data will not be cached", dir, strerror(-rc));
		return NULL;
	}
	dc = lfs_xcalloc(1, sizeof(*dc));
	snprintf(dc->dir, sizeof(dc->dir), "%s", dir);
	dc->max = max ? max : LFS_DCACHE_DEFAULT_MAX;
	atomic_store(&dc->used, trim(dir, dc->max));
	pthread_mutex_init(&dc->lock, NULL);
	return dc;
}

void lfs_dcache_close(struct lfs_dcache *dc)
{
	if (!dc)
		return;
	atomic_store(&dc->stop, 1);
	for (struct lfs_dlayer *dl = dc->layers; dl; dl = dl->next)
		if (atomic_load(&dl->started))
			pthread_join(dl->thread, NULL);
	while (dc->layers) {
		struct lfs_dlayer *dl = dc->layers;

		dc->layers = dl->next;
		close(dl->fd);
		free((void *)dl->state);
		free(dl);
	}
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}

/* The layer's file, checked, or made anew: an fd, or -errno. */
static int layer_file(const struct lfs_dcache *dc, const uint8_t key[16], uint64_t plain)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 128], hex[33];
	uint8_t want[64], got[64];
	int fd;

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	snprintf(path, sizeof(path), "%s/%s.lfd", dc->dir, hex);
	header_pack(want, key, plain);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		struct stat st;

		if (pread(fd, got, 64, 0) == 64 && !memcmp(got, want, 64) && fstat(fd, &st) == 0 &&
		    S_ISREG(st.st_mode) && (uint64_t)st.st_size == data_start(plain) + plain) {
			futimens(fd, NULL); /* recently used: trimmed last */
			return fd;
		}
		close(fd);
	}
	/* Missing or not ours: a new file, whole before it takes the name. */
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, want, 64, 0) != 64 ||
	    ftruncate(fd, (off_t)(data_start(plain) + plain)) < 0 || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;

		close(fd);
		unlink(tmp);
		return -e;
	}
	return fd;
}

struct lfs_dlayer *lfs_dcache_layer(struct lfs_dcache *dc, const uint8_t key[16],
				    struct lfs_blob *b, int ahead)
{
	uint64_t plain = lfs_blob_size(b);
	struct lfs_dlayer *dl;
	int fd;

	/* Nothing to gain on an empty layer; a stream this large is not mirrored. */
	if (!dc || plain == 0 || plain > ((uint64_t)1 << 50))
		return NULL;
	fd = layer_file(dc, key, plain);
	if (fd < 0) {
		if (!atomic_exchange(&dc->off, 1))
			lfs_warn("data cache %s: %s; file data will not be cached", dc->dir,
				 strerror(-fd));
		return NULL;
	}
	dl = lfs_xcalloc(1, sizeof(*dl));
	dl->dc = dc;
	dl->blob = b;
	dl->fd = fd;
	dl->plain = plain;
	dl->data_off = data_start(plain);
	dl->nblocks = (plain + BLOCK - 1) / BLOCK;
	dl->state = lfs_xcalloc(dl->nblocks, sizeof(*dl->state));
	dl->ahead = ahead;
	pthread_mutex_lock(&dc->lock);
	dl->next = dc->layers;
	dc->layers = dl;
	pthread_mutex_unlock(&dc->lock);
	return dl;
}

static void sum_of(const void *data, size_t n, uint8_t sum[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, n));
	memcpy(sum, c.digest, 16);
}

/* Room for N more bytes on disk (the bound is soft: one block over at most). */
static int reserve(struct lfs_dcache *dc, uint64_t n)
{
	if (atomic_load(&dc->off))
		return 0;
	if (atomic_fetch_add(&dc->used, n) + n > dc->max) {
		atomic_fetch_sub(&dc->used, n);
		return 0;
	}
	return 1;
}

/* A write to the cache failed: say so once, then leave the cache alone. */
static void write_failed(struct lfs_dlayer *dl, int err)
{
	if (!atomic_exchange(&dl->dc->off, 1))
		lfs_warn("data cache %s: %s; file data is no longer cached", dl->dc->dir,
			 strerror(err ? err : EIO));
}

static void filled_one(struct lfs_dlayer *dl);

/*
 * Block I's bytes into BUF (BLOCK bytes): from the cache file when it holds
 * them intact, else from the blob (then written to the file when there is
 * room).  1 when the file now holds the block (checked), 0 when only BUF
 * does, -errno when the blob cannot be read.
 */
static int block_get(struct lfs_dlayer *dl, uint64_t i, uint8_t *buf)
{
	const uint64_t off = i * BLOCK;
	const size_t n = (size_t)(dl->plain - off < BLOCK ? dl->plain - off : BLOCK);
	const off_t entry = (off_t)(sizeof(struct lfs_dcache_header) + i * 16);
	uint8_t want[16], sum[16];
	static const uint8_t none[16];
	size_t got = 0;

	if (atomic_load(&dl->state[i]) != B_ABSENT && pread(dl->fd, want, 16, entry) == 16 &&
	    memcmp(want, none, 16) != 0 &&
	    pread(dl->fd, buf, n, (off_t)(dl->data_off + off)) == (ssize_t)n) {
		sum_of(buf, n, sum);
		if (!memcmp(sum, want, 16)) {
			atomic_store(&dl->state[i], B_GOOD);
			atomic_fetch_add(&dl->dc->hits, 1);
			return 1;
		}
	}
	while (got < n) {
		ssize_t r = lfs_blob_pread(dl->blob, buf + got, n - got, off + got);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		got += (size_t)r;
	}
	atomic_fetch_add(&dl->dc->fills, 1);
	atomic_store(&dl->state[i], B_ABSENT);
	if (!reserve(dl->dc, n))
		return 0;
	sum_of(buf, n, sum);
	/* Data first, then its sum: a crash in between leaves the block absent. */
	if (pwrite(dl->fd, buf, n, (off_t)(dl->data_off + off)) != (ssize_t)n ||
	    pwrite(dl->fd, sum, 16, entry) != 16) {
		write_failed(dl, errno);
		return 0;
	}
	atomic_store(&dl->state[i], B_GOOD);
	/* only now: a read-ahead started earlier would inflate this block again */
	filled_one(dl);
	return 1;
}

/* The read-ahead: every block not yet checked, in stream order. */
static void *read_ahead(void *arg)
{
	struct lfs_dlayer *dl = arg;
	uint8_t *blk = lfs_xmalloc(BLOCK);

	for (uint64_t i = 0; i < dl->nblocks && !atomic_load(&dl->dc->stop); i++)
		if (atomic_load(&dl->state[i]) != B_GOOD && block_get(dl, i, blk) <= 0)
			break; /* a read error (the reader will meet it too) or no room */
	free(blk);
	return NULL;
}

/* A block was inflated for a read: past a tenth of the layer, read ahead. */
static void filled_one(struct lfs_dlayer *dl)
{
	const uint64_t n = atomic_fetch_add(&dl->filled, 1) + 1;
	pthread_attr_t attr;
	int expect = 0;

	if (!dl->ahead || n * 10 < dl->nblocks || n < 4 || atomic_load(&dl->dc->off) ||
	    atomic_load(&dl->dc->used) >= dl->dc->max ||
	    !atomic_compare_exchange_strong(&dl->started, &expect, 1))
		return;
	pthread_attr_init(&attr);
	if (pthread_create(&dl->thread, &attr, read_ahead, dl) != 0)
		atomic_store(&dl->started, 0);
	pthread_attr_destroy(&attr);
}

ssize_t lfs_dlayer_pread(struct lfs_dlayer *dl, void *buf, size_t len, uint64_t off)
{
	uint8_t *out = buf, *blk = NULL;
	size_t done = 0;

	if (off >= dl->plain)
		return 0;
	if (len > dl->plain - off)
		len = (size_t)(dl->plain - off);
	while (done < len) {
		const uint64_t pos = off + done, i = pos / BLOCK, in = pos % BLOCK;
		size_t n = (size_t)(BLOCK - in);
		int rc;

		if (n > len - done)
			n = len - done;
		/* Checked in this process: straight from the file. */
		if (atomic_load(&dl->state[i]) == B_GOOD &&
		    pread(dl->fd, out + done, n, (off_t)(dl->data_off + pos)) == (ssize_t)n) {
			done += n;
			continue;
		}
		if (!blk)
			blk = lfs_xmalloc(BLOCK);
		rc = block_get(dl, i, blk);
		if (rc < 0) {
			free(blk);
			return done ? (ssize_t)done : rc;
		}
		memcpy(out + done, blk + in, n);
		done += n;
	}
	free(blk);
	return (ssize_t)done;
}

int lfs_dlayer_fd(struct lfs_dlayer *dl, uint64_t off, size_t len, int *fd, uint64_t *base)
{
	uint8_t *blk = NULL;
	int rc = 0;

	if (atomic_load(&dl->dc->off))
		return -ENOSPC;
	if (off < dl->plain && len > dl->plain - off)
		len = (size_t)(dl->plain - off);
	for (uint64_t i = off / BLOCK; off < dl->plain && i <= (off + len - (len > 0)) / BLOCK;
	     i++) {
		if (atomic_load(&dl->state[i]) == B_GOOD)
			continue;
		if (!blk)
			blk = lfs_xmalloc(BLOCK);
		rc = block_get(dl, i, blk);
		if (rc <= 0) {
			rc = rc < 0 ? rc : -ENOSPC;
			break;
		}
		rc = 0;
	}
	free(blk);
	if (rc == 0) {
		*fd = dl->fd;
		*base = dl->data_off;
	}
	return rc;
}

void lfs_dcache_counts(const struct lfs_dcache *dc, uint64_t *hits, uint64_t *fills)
{
	*hits = dc ? atomic_load(&dc->hits) : 0;
	*fills = dc ? atomic_load(&dc->fills) : 0;
}
