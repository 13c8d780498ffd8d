/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk cache (see chunkcache.h): chunks in memory in one hash table
 * with a least-recently-used list, under one mutex that is never held over
 * a request or a file operation; a chunk being loaded is in the table, so
 * that another reader of it waits for that load rather than starting its
 * own.  The disk side is files, one per chunk, written whole and renamed
 * into place; their total is bounded by evicting the files used longest ago
 * (a hit refreshes the file's mtime).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "chunkcache.h"
#include "layerfs/lfs.h"

#define MEM_DEFAULT (64u << 20)
#define NBUCKETS    4096
#define MAX_RUN	    32 /* chunks fetched in one request: 8 MiB */
#define READ_AHEAD  7  /* at most this many more chunks for a sequential reader */
#define ATTEMPTS    3  /* fetches of a run whose bytes do not match their sums */
/*
 * A chunk that failed fails again at once for this long: the kernel asks
 * for a page twice (read-ahead, then the read), and a dead registry would
 * otherwise cost the whole retry budget twice per read.
 */
#define FAIL_HOLD_MS 1000

enum { LOADING, READY, FAILED, GONE };

struct chunk {
	struct chunk *hnext;	   /* hash chain */
	struct chunk *prev, *next; /* least-recently-used list, READY ones */
	const struct lfs_chunked *owner;
	uint64_t idx;
	int state;
	int err;		/* FAILED or GONE after a failed load: why */
	char *msg;		/* ... and the message */
	struct timespec failed; /* FAILED: when */
	unsigned refs;
	size_t len;
	uint8_t *data;
};

struct lfs_chunkcache {
	atomic_uint refs;
	int dirfd; /* -1: memory only */
	uint64_t max_disk, max_mem;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* a chunk left LOADING */
	struct chunk *buckets[NBUCKETS];
	struct chunk lru;	   /* list head: lru.next most recent */
	uint64_t mem;		   /* bytes of READY chunks */
	pthread_mutex_t disk_lock; /* disk_used, disk_known */
	uint64_t disk_used;
	int disk_known;
	atomic_uint_fast64_t mem_hits, disk_hits, fetched, bad;
};

struct lfs_chunked {
	struct lfs_chunkcache *cc;
	char hex[65];
	char *name;
	uint64_t size;
	struct lfs_chunk_sums sums;
	lfs_chunk_fetch_fn fetch;
	void *arg;
	atomic_uint_fast64_t last_end; /* where the last read ended: sequential readers */
	atomic_uint seq_run;	       /* fetches in a row for a sequential reader */
};

/* ---- memory */

static size_t bucket(const struct lfs_chunked *c, uint64_t idx)
{
	uint64_t h =
	    ((uint64_t)(uintptr_t)c >> 4) * 0x9e3779b97f4a7c15ULL ^ idx * 0xff51afd7ed558ccdULL;

	return (size_t)(h >> 32) % NBUCKETS;
}

static struct chunk *lookup(struct lfs_chunkcache *cc, const struct lfs_chunked *c, uint64_t idx)
{
	struct chunk *e;

	for (e = cc->buckets[bucket(c, idx)]; e; e = e->hnext)
		if (e->owner == c && e->idx == idx)
			return e;
	return NULL;
}

static void unlink_hash(struct lfs_chunkcache *cc, struct chunk *e)
{
	struct chunk **pp = &cc->buckets[bucket(e->owner, e->idx)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void lru_del(struct chunk *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct lfs_chunkcache *cc, struct chunk *e)
{
	e->next = cc->lru.next;
	e->prev = &cc->lru;
	cc->lru.next->prev = e;
	cc->lru.next = e;
}

static void chunk_free(struct chunk *e)
{
	free(e->data);
	free(e->msg);
	free(e);
}

/* Drop a reference, under the lock: a chunk out of the table goes with its last one. */
static void put_locked(struct chunk *e)
{
	if (--e->refs == 0 && e->state == GONE)
		chunk_free(e);
}

/* Out of the table and the list; freed now or by its last reader. */
static void remove_locked(struct lfs_chunkcache *cc, struct chunk *e)
{
	unlink_hash(cc, e);
	if (e->state == READY) {
		lru_del(e);
		cc->mem -= e->len;
	}
	e->state = GONE;
	if (e->refs == 0)
		chunk_free(e);
}

/* Least recently used chunks nobody is copying from, until under the bound. */
static void evict_mem_locked(struct lfs_chunkcache *cc)
{
	struct chunk *e = cc->lru.prev, *prev;

	while (cc->mem > cc->max_mem && e != &cc->lru) {
		prev = e->prev;
		if (e->refs == 0)
			remove_locked(cc, e);
		e = prev;
	}
}

/* ---- disk */

static int sum_ok(const struct lfs_chunked *c, uint64_t idx, const uint8_t *data, size_t len)
{
	struct sha256_ctx ctx;
	uint8_t got[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(got), got);
	return memcmp(got, c->sums.sha[idx], sizeof(got)) == 0;
}

static void chunk_path(const struct lfs_chunked *c, uint64_t idx, char out[96])
{
	snprintf(out, 96, "%s/%016" PRIx64, c->hex, idx);
}

/* Chunk E from its file, checked: 1 when it is there and good. */
static int disk_load(struct lfs_chunked *c, struct chunk *e)
{
	const int dirfd = c->cc->dirfd;
	char path[96];
	struct stat st;
	ssize_t r;
	int fd, ok = 0;

	if (dirfd < 0)
		return 0;
	chunk_path(c, e->idx, path);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == e->len) {
		e->data = lfs_xmalloc(e->len ? e->len : 1);
		r = pread(fd, e->data, e->len, 0);
		ok = r == (ssize_t)e->len && sum_ok(c, e->idx, e->data, e->len);
		if (ok)
			futimens(fd, NULL); /* most recently used: evicted last */
	}
	close(fd);
	if (!ok) {
		/* Damaged or not ours: fetched again and replaced. */
		free(e->data);
		e->data = NULL;
		unlinkat(dirfd, path, 0);
	}
	return ok;
}

struct old_file {
	struct timespec mtime;
	uint64_t size;
	char path[96];
};

static int by_age(const void *a, const void *b)
{
	const struct old_file *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return 0;
}

/* Every chunk file, with its size and age (*N of them, malloc'ed). */
static struct old_file *list_files(int root, size_t *n, uint64_t *total)
{
	struct old_file *v = NULL;
	size_t cap = 0;
	struct dirent *de, *fe;
	struct stat st;
	DIR *top, *sub;
	int fd;

	*n = 0;
	*total = 0;
	fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	top = fd >= 0 ? fdopendir(fd) : NULL;
	if (!top) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((de = readdir(top))) {
		if (strlen(de->d_name) != 64)
			continue;
		fd = openat(root, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		sub = fd >= 0 ? fdopendir(fd) : NULL;
		if (!sub) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((fe = readdir(sub))) {
			if (fe->d_name[0] == '.' ||
			    fstatat(dirfd(sub), fe->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 256;
				v = lfs_xrealloc(v, cap * sizeof(*v));
			}
			v[*n].mtime = st.st_mtim;
			v[*n].size = (uint64_t)st.st_size;
			snprintf(v[*n].path, sizeof(v[*n].path), "%.64s/%.24s", de->d_name,
				 fe->d_name);
			*total += (uint64_t)st.st_size;
			(*n)++;
		}
		closedir(sub);
	}
	closedir(top);
	return v;
}

/* Past the bound: the oldest files go until 90% of it is used. */
static void evict_disk(struct lfs_chunkcache *cc)
{
	struct old_file *v;
	uint64_t total;
	size_t n, i;

	v = list_files(cc->dirfd, &n, &total);
	qsort(v, n, sizeof(*v), by_age);
	for (i = 0; i < n && total > cc->max_disk / 10 * 9; i++)
		if (unlinkat(cc->dirfd, v[i].path, 0) == 0)
			total -= v[i].size;
	free(v);
	cc->disk_used = total;
}

/* Keep a verified chunk on disk; failures only cost a later fetch. */
static void disk_store(struct lfs_chunked *c, uint64_t idx, const uint8_t *data, size_t len)
{
	struct lfs_chunkcache *cc = c->cc;
	char path[96], tmp[128];
	int fd, ok;

	if (cc->dirfd < 0)
		return;
	if (mkdirat(cc->dirfd, c->hex, 0700) < 0 && errno != EEXIST)
		return;
	chunk_path(c, idx, path);
	/* Another process may write the same chunk: its own temporary name. */
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%016" PRIx64 "-%ld-%lx", c->hex, idx, (long)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(cc->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	ok = write(fd, data, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || renameat(cc->dirfd, tmp, cc->dirfd, path) < 0) {
		unlinkat(cc->dirfd, tmp, 0);
		return;
	}
	pthread_mutex_lock(&cc->disk_lock);
	if (!cc->disk_known) {
		free(list_files(cc->dirfd, &(size_t){0}, &cc->disk_used));
		cc->disk_known = 1;
	} else {
		cc->disk_used += len;
	}
	if (cc->max_disk && cc->disk_used > cc->max_disk)
		evict_disk(cc);
	pthread_mutex_unlock(&cc->disk_lock);
}

/* ---- loading */

static size_t chunk_len(const struct lfs_chunked *c, uint64_t idx)
{
	uint64_t start = idx << LFS_CHUNK_SHIFT, left = c->size - start;

	return left < LFS_CHUNK_SIZE ? (size_t)left : LFS_CHUNK_SIZE;
}

/*
 * Fetch chunks E[0..K) (adjacent) in one request and check each.  Bytes
 * that do not match are fetched again (a registry or proxy may have had a
 * bad moment); a failed request has had its retries in the client.
 */
static int fetch_run(struct lfs_chunked *c, struct chunk **e, size_t k)
{
	const uint64_t off = e[0]->idx << LFS_CHUNK_SHIFT;
	size_t len = 0, pos, i;
	uint8_t *buf;
	int attempt, rc = 0;
	uint64_t bad = 0;

	for (i = 0; i < k; i++)
		len += e[i]->len;
	buf = lfs_xmalloc(len ? len : 1);
	for (attempt = 0; attempt < ATTEMPTS; attempt++) {
		if (attempt) {
			struct timespec ts = {0, (100L << attempt) * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		rc = c->fetch(c->arg, buf, len, off);
		if (rc < 0)
			break;
		for (i = 0, pos = 0; i < k; pos += e[i]->len, i++)
			if (!sum_ok(c, e[i]->idx, buf + pos, e[i]->len))
				break;
		if (i == k)
			break;
		bad = e[i]->idx;
		atomic_fetch_add(&c->cc->bad, 1);
		rc = lfs_error(-EIO,
			       "%s: bytes %" PRIu64 "-%" PRIu64 " (chunk %" PRIu64
			       ") do not match the digest the index recorded, %d times",
			       c->name, bad << LFS_CHUNK_SHIFT,
			       (bad << LFS_CHUNK_SHIFT) + e[i]->len - 1, bad, attempt + 1);
	}
	if (rc == 0) {
		for (i = 0, pos = 0; i < k; pos += e[i]->len, i++) {
			e[i]->data = lfs_xmalloc(e[i]->len ? e[i]->len : 1);
			memcpy(e[i]->data, buf + pos, e[i]->len);
			disk_store(c, e[i]->idx, e[i]->data, e[i]->len);
		}
		atomic_fetch_add(&c->cc->fetched, k);
	}
	free(buf);
	return rc;
}

/* Fill E[0..N) (all LOADING, ours): from disk, else fetched. */
static void load_run(struct lfs_chunked *c, struct chunk **e, size_t n)
{
	size_t i = 0, j, m;
	int rc;

	while (i < n) {
		if (disk_load(c, e[i])) {
			atomic_fetch_add(&c->cc->disk_hits, 1);
			i++;
			continue;
		}
		for (j = i + 1; j < n && !disk_load(c, e[j]); j++)
			;
		rc = fetch_run(c, e + i, j - i);
		if (rc < 0) {
			/* One line for the failed read; whoever waited gets the same. */
			lfs_warn("%s", lfs_err_get());
			for (m = i; m < j; m++) {
				e[m]->err = rc;
				e[m]->msg = lfs_xstrdup(lfs_err_get());
			}
		}
		if (j < n) {
			atomic_fetch_add(&c->cc->disk_hits, 1);
			j++; /* e[j] came from disk */
		}
		i = j;
	}
}

/*
 * How many chunks to fetch past what a read needs: none for a random read
 * (a 4 KiB read of a gzip layer decodes from a restart point, a few
 * sequential reads of the codec's buffer that must not cost a megabyte
 * more), then 1, 3, 7 as a reader keeps going on where it stopped.
 */
static uint64_t ahead(struct lfs_chunked *c, int seq)
{
	unsigned run;

	if (!seq) {
		atomic_store(&c->seq_run, 0);
		return 0;
	}
	run = atomic_fetch_add(&c->seq_run, 1) + 1;
	if (run < 2)
		return 0;
	return run > 3 ? READ_AHEAD : (1u << (run - 1)) - 1;
}

/*
 * Chunk IDX, READY and referenced, or -errno.  LAST is the last chunk the
 * read needs (fetched in the same request when missing), SEQ says the
 * reader goes on from where it stopped (more chunks come along).
 */
static int get_chunk(struct lfs_chunked *c, uint64_t idx, uint64_t last, int seq,
		     struct chunk **out)
{
	struct lfs_chunkcache *cc = c->cc;
	struct chunk *run[MAX_RUN], *e;
	uint64_t end, j;
	size_t n = 0, i;
	int rc;

	pthread_mutex_lock(&cc->lock);
	e = lookup(cc, c, idx);
	if (e && e->state == FAILED && ms_since(&e->failed) >= FAIL_HOLD_MS) {
		remove_locked(cc, e);
		e = NULL;
	}
	if (e) {
		e->refs++;
		while (e->state == LOADING)
			pthread_cond_wait(&cc->cond, &cc->lock);
		if (e->state == READY) {
			lru_del(e);
			lru_front(cc, e);
			atomic_fetch_add(&cc->mem_hits, 1);
			pthread_mutex_unlock(&cc->lock);
			*out = e;
			return 0;
		}
		rc = e->err ? e->err : -EIO;
		lfs_err_set("%s", e->msg ? e->msg : "a chunk could not be loaded");
		put_locked(e);
		pthread_mutex_unlock(&cc->lock);
		return rc;
	}
	/* Ours to load, with what follows it that nobody has or loads. */
	end = last + ahead(c, seq);
	if (end >= c->sums.n)
		end = c->sums.n - 1;
	if (end - idx >= MAX_RUN)
		end = idx + MAX_RUN - 1;
	for (j = idx; j <= end && (j == idx || !lookup(cc, c, j)); j++) {
		e = lfs_xcalloc(1, sizeof(*e));
		e->owner = c;
		e->idx = j;
		e->state = LOADING;
		e->refs = 1;
		e->len = chunk_len(c, j);
		e->hnext = cc->buckets[bucket(c, j)];
		cc->buckets[bucket(c, j)] = e;
		run[n++] = e;
	}
	pthread_mutex_unlock(&cc->lock);

	load_run(c, run, n);

	pthread_mutex_lock(&cc->lock);
	for (i = 0; i < n; i++) {
		e = run[i];
		if (e->data) {
			e->state = READY;
			cc->mem += e->len;
			lru_front(cc, e);
		} else {
			/* Kept a moment, so that a read asked again fails at once. */
			e->state = FAILED;
			clock_gettime(CLOCK_MONOTONIC, &e->failed);
		}
	}
	pthread_cond_broadcast(&cc->cond);
	rc = run[0]->state == READY ? 0 : run[0]->err;
	if (rc < 0)
		lfs_err_set("%s", run[0]->msg);
	for (i = rc < 0 ? 0 : 1; i < n; i++)
		put_locked(run[i]);
	evict_mem_locked(cc);
	pthread_mutex_unlock(&cc->lock);
	if (rc == 0)
		*out = run[0];
	return rc;
}

ssize_t lfs_chunked_pread(struct lfs_chunked *c, void *buf, size_t len, uint64_t off)
{
	uint64_t first, last, idx, start, from, end;
	const int seq = off == atomic_load(&c->last_end);
	struct chunk *e;
	size_t done = 0, n;
	int rc;

	if (off >= c->size || len == 0)
		return 0;
	if (len > c->size - off)
		len = (size_t)(c->size - off);
	first = off >> LFS_CHUNK_SHIFT;
	last = (off + len - 1) >> LFS_CHUNK_SHIFT;
	for (idx = first; idx <= last; idx++) {
		rc = get_chunk(c, idx, last, seq, &e);
		if (rc < 0)
			return rc;
		start = idx << LFS_CHUNK_SHIFT;
		from = off + done - start;
		end = e->len < from + (len - done) ? e->len : from + (len - done);
		n = (size_t)(end - from);
		memcpy((uint8_t *)buf + done, e->data + from, n);
		done += n;
		pthread_mutex_lock(&c->cc->lock);
		put_locked(e);
		pthread_mutex_unlock(&c->cc->lock);
	}
	atomic_store(&c->last_end, off + len);
	return (ssize_t)len;
}

/* ---- set-up */

int lfs_chunkcache_open(struct lfs_chunkcache **out, const struct lfs_chunkcache_opts *o)
{
	struct lfs_chunkcache *cc;
	int fd = -1, ret;

	*out = NULL;
	if (o->dir) {
		if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			return lfs_error(ret, "chunk cache %s: %s", o->dir, strerror(-ret));
		}
		fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			return lfs_error(ret, "chunk cache %s: %s", o->dir, strerror(-ret));
		}
	}
	cc = lfs_xcalloc(1, sizeof(*cc));
	atomic_init(&cc->refs, 1);
	cc->dirfd = fd;
	cc->max_disk = o->max_disk;
	cc->max_mem = o->max_mem ? o->max_mem : MEM_DEFAULT;
	pthread_mutex_init(&cc->lock, NULL);
	pthread_cond_init(&cc->cond, NULL);
	pthread_mutex_init(&cc->disk_lock, NULL);
	cc->lru.next = cc->lru.prev = &cc->lru;
	*out = cc;
	return 0;
}

struct lfs_chunkcache *lfs_chunkcache_ref(struct lfs_chunkcache *cc)
{
	atomic_fetch_add(&cc->refs, 1);
	return cc;
}

void lfs_chunkcache_unref(struct lfs_chunkcache *cc)
{
	struct chunk *e, *next;

	if (!cc || atomic_fetch_sub(&cc->refs, 1) != 1)
		return;
	/* The blobs are gone (each held a reference): every chunk is unused. */
	for (size_t i = 0; i < NBUCKETS; i++)
		for (e = cc->buckets[i]; e; e = next) {
			next = e->hnext;
			chunk_free(e);
		}
	if (cc->dirfd >= 0)
		close(cc->dirfd);
	pthread_mutex_destroy(&cc->lock);
	pthread_cond_destroy(&cc->cond);
	pthread_mutex_destroy(&cc->disk_lock);
	free(cc);
}

int lfs_chunked_new(struct lfs_chunked **out, struct lfs_chunkcache *cc, const uint8_t sha256[32],
		    const char *name, uint64_t size, const struct lfs_chunk_sums *sums,
		    lfs_chunk_fetch_fn fetch, void *arg)
{
	struct lfs_chunked *c;

	*out = NULL;
	if (sums->n != lfs_chunk_count(size))
		return lfs_error(-EINVAL, "%s: %" PRIu64 " chunk digests for %" PRIu64 " bytes",
				 name, sums->n, size);
	c = lfs_xcalloc(1, sizeof(*c));
	c->cc = lfs_chunkcache_ref(cc);
	for (int i = 0; i < 32; i++)
		snprintf(c->hex + 2 * i, 3, "%02x", sha256[i]);
	c->name = lfs_xstrdup(name);
	c->size = size;
	c->sums.n = sums->n;
	c->sums.sha = lfs_xmalloc(sums->n ? (size_t)sums->n * 32 : 1);
	memcpy(c->sums.sha, sums->sha, (size_t)sums->n * 32);
	c->fetch = fetch;
	c->arg = arg;
	atomic_init(&c->last_end, UINT64_MAX);
	*out = c;
	return 0;
}

void lfs_chunked_free(struct lfs_chunked *c)
{
	struct lfs_chunkcache *cc;
	struct chunk *e, *next;

	if (!c)
		return;
	cc = c->cc;
	/* Its chunks leave memory with it (nobody reads a freed blob). */
	pthread_mutex_lock(&cc->lock);
	for (size_t i = 0; i < NBUCKETS; i++)
		for (e = cc->buckets[i]; e; e = next) {
			next = e->hnext;
			if (e->owner == c)
				remove_locked(cc, e);
		}
	pthread_mutex_unlock(&cc->lock);
	lfs_chunkcache_unref(cc);
	free(c->sums.sha);
	free(c->name);
	free(c);
}

void lfs_chunkcache_stats(const struct lfs_chunkcache *cc, struct lfs_chunkcache_stats *st)
{
	struct lfs_chunkcache *m = (struct lfs_chunkcache *)cc;

	st->mem_hits = atomic_load(&m->mem_hits);
	st->disk_hits = atomic_load(&m->disk_hits);
	st->fetched = atomic_load(&m->fetched);
	st->bad = atomic_load(&m->bad);
}
