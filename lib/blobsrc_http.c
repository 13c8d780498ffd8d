/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob source of a layer in a registry: reads are ranged GETs
 * (lfs_registry_blob_range).  A reader that continues where the last read
 * ended (the indexing pass, 128 KiB at a time) is served from a read-ahead
 * window that grows from 1 to 8 MiB per request, so a scan costs a few
 * requests per blob rather than one per read; a random read fetches what it
 * needs, at least 64 KiB.  The window is a small buffer under a mutex that is
 * never held across a request.
 *
 * That is for the indexing pass, whose bytes the blob's digest checks.
 * Once the digest has verified (or the index comes from the cache), the
 * source gets the sums of its chunks and every read goes through the chunk
 * cache (chunkcache.c), which checks each piece it fetches before serving it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobsrc.h"
#include "chunkcache.h"
#include "image_int.h"
#include "layerfs/lfs.h"
#include "registry_int.h"

#define RA_FIRST   (2u << 20)
#define RA_MAX	   (8u << 20)
#define RANDOM_MIN (64u << 10)
#define PF_SLOTS   3 /* windows fetched ahead of a sequential reader */

struct http_src {
	struct lfs_blobsrc s; /* first: the generic part */
	struct lfs_registry *r;
	char *digest;
	struct lfs_chunkcache *cc;	/* NULL: reads are never checked (tests) */
	struct lfs_chunked *_Atomic ck; /* set once, with the sums: reads go through it */
	atomic_int exact;		/* the reader's ranges are exact: no read-ahead */
	pthread_mutex_t lock;		/* the fields below */
	char *win;			/* bytes [win_off, win_off + win_len) of the blob */
	uint64_t win_off;
	size_t win_len;
	uint64_t last_end; /* where the last read served ended */
	size_t ra;	   /* the next sequential request's size */
	char *keep;	   /* --keep-blobs: where the verified blob goes, else NULL */
	int keep_fd;	   /* the copy being written (KEEP.tmp-PID), -1 */
	uint64_t keep_end; /* bytes of it written, from the start */
	int keep_failed;
	int size_checked; /* the registry's size of the blob matched the descriptor's */
	/*
	 * The next windows of a sequential reader, each fetched by a thread of
	 * its own while the reader works through this one: the transfer
	 * overlaps decompressing and indexing, and a big layer comes over a
	 * few connections at once.
	 */
	pthread_cond_t cond; /* a slot left PF_BUSY */
	struct pf_slot {
		int state;
		char *buf; /* bytes [off, off + len) when PF_DONE and ret is 0 */
		uint64_t off;
		size_t len;
		int ret;
	} pf[PF_SLOTS];
	uint64_t pf_next; /* where the next background window starts */
};

enum { PF_NONE, PF_BUSY, PF_DONE };

/*
 * Before the pass reads a byte: a blob whose size is not the descriptor's
 * fails at once, with both sizes, rather than as a digest mismatch after
 * it was streamed (or, longer, never read to its end).
 */
static int check_size(struct http_src *h)
{
	uint64_t size;
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = h->size_checked;
	pthread_mutex_unlock(&h->lock);
	if (ret)
		return 0;
	ret = lfs_registry_blob_size(h->r, h->digest, &size);
	if (ret) /* the reason stays in the message; for the reader, it is an I/O error */
		return ret == -ENOMEM ? ret : -EIO;
	if (size != h->s.size)
		return lfs_error(-EIO, "%s: the registry has %llu bytes, the manifest says %llu",
				 h->s.name, (unsigned long long)size,
				 (unsigned long long)h->s.size);
	pthread_mutex_lock(&h->lock);
	h->size_checked = 1;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* The pass's bytes BUF[0..N) at OFF, into the copy when they continue it. */
static void keep_bytes(struct http_src *h, const void *buf, size_t n, uint64_t off)
{
	char tmp[4200], *slash;

	pthread_mutex_lock(&h->lock);
	if (!h->keep || h->keep_failed || off != h->keep_end)
		goto out;
	if (h->keep_fd < 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", h->keep, (long)getpid());
		slash = strrchr(tmp, '/');
		*slash = '\0';
		if (lfs_mkdirs(tmp) == 0) {
			*slash = '/';
			h->keep_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		}
		if (h->keep_fd < 0) {
			lfs_warn("%s: cannot keep a copy: %s", h->keep, strerror(errno));
			h->keep_failed = 1;
			goto out;
		}
	}
	if (pwrite(h->keep_fd, buf, n, (off_t)off) != (ssize_t)n) {
		lfs_warn("%s: cannot keep a copy: %s", h->keep, strerror(errno ? errno : ENOSPC));
		h->keep_failed = 1;
		goto out;
	}
	h->keep_end += n;
out:
	pthread_mutex_unlock(&h->lock);
}

/* The blob verified: its copy, if whole, takes its name; else it goes. */
static void keep_finish(struct http_src *h, int verified)
{
	char tmp[4200];

	pthread_mutex_lock(&h->lock);
	if (h->keep_fd >= 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", h->keep, (long)getpid());
		if (verified && !h->keep_failed && h->keep_end == h->s.size &&
		    fsync(h->keep_fd) == 0 && rename(tmp, h->keep) == 0)
			tmp[0] = '\0';
		close(h->keep_fd);
		h->keep_fd = -1;
		if (tmp[0])
			unlink(tmp);
	}
	h->keep_failed = 1; /* done: later reads are not the pass */
	pthread_mutex_unlock(&h->lock);
}

/* From the window, under the lock: bytes copied (0: not there). */
static size_t from_window(struct http_src *h, void *buf, size_t len, uint64_t off)
{
	size_t n;

	if (!h->win || off < h->win_off || off >= h->win_off + h->win_len)
		return 0;
	n = (size_t)(h->win_off + h->win_len - off);
	if (n > len)
		n = len;
	memcpy(buf, h->win + (off - h->win_off), n);
	h->last_end = off + n;
	if (h->last_end == h->win_off + h->win_len) {
		/* Used up: a finished scan keeps no megabytes per layer. */
		free(h->win);
		h->win = NULL;
		h->win_len = 0;
	}
	return n;
}

static int fetch(struct http_src *h, char *buf, size_t want, uint64_t off);

struct pf_arg {
	struct http_src *h;
	struct pf_slot *slot;
};

static void *prefetch_main(void *arg)
{
	struct pf_arg a = *(struct pf_arg *)arg;
	struct http_src *h = a.h;
	uint64_t off;
	size_t len;
	char *buf;
	int ret;

	free(arg);
	pthread_mutex_lock(&h->lock);
	off = a.slot->off;
	len = a.slot->len;
	pthread_mutex_unlock(&h->lock);
	buf = malloc(len);
	ret = buf ? fetch(h, buf, len, off) : -ENOMEM;
	pthread_mutex_lock(&h->lock);
	if (ret) {
		free(buf);
		buf = NULL;
	}
	a.slot->buf = buf;
	a.slot->ret = ret;
	a.slot->state = PF_DONE;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	lfs_blobsrc_unref(&h->s); /* the reference the thread held */
	return NULL;
}

static void slot_clear(struct pf_slot *p)
{
	free(p->buf);
	p->buf = NULL;
	p->state = PF_NONE;
}

/* Under the lock: windows from pf_next on into the free slots, each by a thread. */
static void prefetch_locked(struct http_src *h)
{
	struct pf_arg *a;
	pthread_attr_t attr;
	pthread_t t;
	int ok;

	for (int i = 0; i < PF_SLOTS && h->pf_next < h->s.size && !atomic_load(&h->ck); i++) {
		struct pf_slot *p = &h->pf[i];

		if (p->state != PF_NONE)
			continue;
		p->off = h->pf_next;
		p->len = h->s.size - p->off < h->ra ? (size_t)(h->s.size - p->off) : h->ra;
		h->pf_next += p->len;
		h->ra = h->ra * 2 > RA_MAX ? RA_MAX : h->ra * 2;
		p->state = PF_BUSY;
		lfs_blobsrc_ref(&h->s);
		a = lfs_xmalloc(sizeof(*a));
		a->h = h;
		a->slot = p;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &attr, prefetch_main, a) == 0;
		pthread_attr_destroy(&attr);
		if (!ok) {
			/* No thread: the reader fetches it when it gets there. */
			free(a);
			p->state = PF_NONE;
			h->pf_next = p->off;
			lfs_blobsrc_unref(&h->s); /* not the last: the caller holds one */
			return;
		}
	}
}

/*
 * Under the lock, nothing in the window for OFF: take the background
 * window that holds OFF (waiting for it), and start fetching more.  Bytes
 * copied (0: the reader fetches itself).
 */
static size_t from_prefetch(struct http_src *h, void *buf, size_t len, uint64_t off)
{
	struct pf_slot *p = NULL;

	for (int i = 0; i < PF_SLOTS; i++) {
		struct pf_slot *q = &h->pf[i];

		if (q->state != PF_NONE && off >= q->off && off < q->off + q->len)
			p = q;
		else if (q->state == PF_DONE && (q->off + q->len <= off || !q->buf))
			slot_clear(q); /* passed, or failed: not wanted any more */
	}
	if (!p)
		return 0;
	while (p->state == PF_BUSY)
		pthread_cond_wait(&h->cond, &h->lock);
	if (p->ret) {
		slot_clear(p);
		return 0; /* fetched again by the reader, with its retries and message */
	}
	free(h->win);
	h->win = p->buf;
	h->win_off = p->off;
	h->win_len = p->len;
	p->buf = NULL;
	p->state = PF_NONE;
	prefetch_locked(h);
	return from_window(h, buf, len, off);
}

/* Exactly WANT bytes at OFF (the blob has them) into BUF, or -errno. */
static int fetch(struct http_src *h, char *buf, size_t want, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = lfs_registry_blob_range(h->r, h->digest, buf + got, want - got, off + got);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return lfs_error(-EIO,
					 "%s: the registry's blob ends at byte %llu, before "
					 "its size %llu",
					 h->s.name, (unsigned long long)(off + got),
					 (unsigned long long)h->s.size);
		got += (size_t)n;
	}
	if (h->keep)
		keep_bytes(h, buf, want, off);
	return 0;
}

static ssize_t http_pread(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off)
{
	struct http_src *h = (struct http_src *)s;
	size_t n, want;
	char *nb;
	bool seq;
	int ret;

	struct lfs_chunked *ck = atomic_load(&h->ck);

	if (ck)
		return lfs_chunked_pread(ck, buf, len, off);
	if (off >= s->size || len == 0)
		return 0;
	ret = check_size(h);
	if (ret)
		return ret;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	/* A TOC layer's chunk: exactly it, not the 2-8 MiB windows around it. */
	if (atomic_load(&h->exact)) {
		if (len > RA_MAX)
			len = RA_MAX;
		ret = fetch(h, buf, len, off);
		return ret ? ret : (ssize_t)len;
	}

	pthread_mutex_lock(&h->lock);
	n = from_window(h, buf, len, off);
	if (!n)
		n = from_prefetch(h, buf, len, off);
	seq = off == h->last_end;
	want = RANDOM_MIN;
	if (!n && seq) {
		want = h->ra;
		h->ra = h->ra * 2 > RA_MAX ? RA_MAX : h->ra * 2;
	} else if (!n) {
		h->ra = RA_FIRST; /* a new sequential run starts small again */
	}
	pthread_mutex_unlock(&h->lock);
	if (n)
		return (ssize_t)n;

	/* A big read needs no window: straight into the caller's buffer. */
	if (len >= want) {
		if (len > RA_MAX)
			len = RA_MAX;
		ret = fetch(h, buf, len, off);
		if (ret)
			return ret;
		pthread_mutex_lock(&h->lock);
		h->last_end = off + len;
		pthread_mutex_unlock(&h->lock);
		return (ssize_t)len;
	}
	if (want > s->size - off)
		want = (size_t)(s->size - off);
	nb = malloc(want);
	if (!nb)
		return lfs_error(-ENOMEM, "%s: no memory for %zu bytes of read-ahead", s->name,
				 want);
	ret = fetch(h, nb, want, off);
	if (ret) {
		free(nb);
		return ret;
	}
	memcpy(buf, nb, len);
	pthread_mutex_lock(&h->lock);
	free(h->win);
	h->win = NULL;
	h->win_len = 0;
	if (want > len) {
		/* The rest for the next reads (another thread's window may go). */
		h->win = nb;
		h->win_off = off;
		h->win_len = want;
		nb = NULL;
	}
	h->last_end = off + len;
	/* A sequential reader: the next windows come while it reads this one. */
	if (seq) {
		h->pf_next = off + want;
		prefetch_locked(h);
	}
	pthread_mutex_unlock(&h->lock);
	free(nb);
	return (ssize_t)len;
}

/* For the chunk cache: exactly LEN bytes at OFF, straight from the registry. */
static int fetch_cb(void *arg, void *buf, size_t len, uint64_t off)
{
	return fetch(arg, buf, len, off);
}

static int http_set_sums(struct lfs_blobsrc *s, const struct lfs_chunk_sums *sums)
{
	struct http_src *h = (struct http_src *)s;
	struct lfs_chunked *ck = NULL, *none = NULL;
	uint8_t sha[32];
	int ret;

	keep_finish(h, 1);
	if (!h->cc || atomic_load(&h->ck))
		return 0; /* the same blob, the same sums: the first set stays */
	ret = lfs_digest_parse(h->digest, sha);
	if (!ret)
		ret = lfs_chunked_new(&ck, h->cc, sha, s->name, s->size, sums, fetch_cb, h);
	if (ret)
		return ret;
	if (!atomic_compare_exchange_strong(&h->ck, &none, ck))
		lfs_chunked_free(ck);
	/* The pass's read-ahead window is no longer needed. */
	pthread_mutex_lock(&h->lock);
	free(h->win);
	h->win = NULL;
	h->win_len = 0;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void http_free(struct lfs_blobsrc *s)
{
	struct http_src *h = (struct http_src *)s;

	keep_finish(h, 0);
	free(h->keep);
	for (int i = 0; i < PF_SLOTS; i++)
		free(h->pf[i].buf); /* no prefetch runs: it would hold a reference */
	pthread_cond_destroy(&h->cond);
	lfs_chunked_free(atomic_load(&h->ck));
	lfs_chunkcache_unref(h->cc);
	lfs_registry_unref(h->r);
	free(h->digest);
	free(h->win);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void http_exact(struct lfs_blobsrc *s)
{
	atomic_store(&((struct http_src *)s)->exact, 1);
}

static const struct lfs_blobsrc_ops http_ops = {
    .pread = http_pread,
    .local_fd = NULL,
    .set_sums = http_set_sums,
    .exact = http_exact,
    .free = http_free,
};

int lfs_blobsrc_http_new(struct lfs_blobsrc **out, struct lfs_registry *r,
			 struct lfs_chunkcache *cc, const char *digest, uint64_t size)
{
	struct http_src *h;
	char *name;
	size_t n;

	*out = NULL;
	if (lfs_digest_check(digest) < 0)
		return lfs_error(-EINVAL, "registry %s, %s: %.80s is not a digest", r->host,
				 r->repo, digest);
	if (size > INT64_MAX)
		return lfs_error(-EINVAL, "registry %s, %s, blob %s: size %llu is too large",
				 r->host, r->repo, digest, (unsigned long long)size);
	h = lfs_xcalloc(1, sizeof(*h));
	n = strlen(r->host) + strlen(r->repo) + strlen(digest) + 32;
	name = lfs_xmalloc(n);
	snprintf(name, n, "registry %s, %s, blob %s", r->host, r->repo, digest);
	lfs_blobsrc_init(&h->s, &http_ops, size, name);
	free(name);
	h->r = lfs_registry_ref(r);
	h->digest = lfs_xstrdup(digest);
	h->cc = cc ? lfs_chunkcache_ref(cc) : NULL;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->ra = RA_FIRST;
	h->keep_fd = -1;
	*out = &h->s;
	return 0;
}

void lfs_blobsrc_http_keep(struct lfs_blobsrc *s, const char *path)
{
	struct http_src *h = (struct http_src *)s;

	free(h->keep);
	h->keep = lfs_xstrdup(path);
}
