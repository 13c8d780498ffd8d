/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening an image: find the layers, index them in parallel (one thread per
 * CPU, layers taken in turn), then merge them in order on the calling thread.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "datacache.h"
#include "layer_int.h"
#include "index_artifact.h"
#include "layerfs/core.h"
#include "layerfs/lfs.h"

struct indexing {
	const struct lfs_core_opts *opts;
	struct lfs_core *core;
	struct lfs_layer_opts lopts;
	atomic_uint next;	/* next layer to index */
	atomic_uint done;	/* layers indexed */
	atomic_uint cached;	/* of which loaded from the cache */
	_Atomic uint64_t bytes; /* stored bytes read by the indexers */
	uint64_t total;		/* stored bytes of all layers */
	struct timespec start;
	struct lfs_cache *cache; /* NULL: no persistent index */
	uint8_t (*keys)[16];	 /* each layer's cache key, when KEYED[i] */
	uint8_t *keyed;
	volatile int cancel;  /* set on the first failure */
	pthread_mutex_t lock; /* guards rc and msg */
	int rc;
	char msg[LFS_ERRMAX];
};

static void *index_worker(void *arg)
{
	struct indexing *ix = arg;
	struct lfs_core *c = ix->core;
	unsigned i;

	while (!ix->cancel && (i = atomic_fetch_add(&ix->next, 1)) < c->nlayers) {
		const struct lfs_layer_desc *d = &c->img->layers[i];
		const int flags = (ix->lopts.hash_content ? LFS_CACHE_HASHES : 0) |
				  (ix->opts->superseded ? LFS_CACHE_SUPERSEDED : 0);
		/* The key of the file as it is before the pass: the index is filed under it. */
		uint8_t key[16];
		/* A layer read in place (a directory) is never cached. */
		int keyed = ix->cache && lfs_layer_cacheable(d) && lfs_cache_key(d, key) == 0;
		int rc = -ENOENT;

		if (keyed) {
			memcpy(ix->keys[i], key, 16);
			ix->keyed[i] = 1;
			rc = lfs_cache_load(ix->cache, d, key, i, flags, &c->layers[i]);
		}
		if (rc == 0) {
			atomic_fetch_add(&ix->cached, 1);
			atomic_fetch_add(&ix->bytes, d->len);
		} else {
			rc = lfs_layer_index(&c->layers[i], d, i, &ix->lopts);
			/* An index that would make mounts slow stays out of the cache. */
			if (rc == 0 && keyed && !lfs_blob_slow(c->layers[i]->blob))
				lfs_cache_store(ix->cache, d, key, c->layers[i]);
		}
		if (rc < 0) {
			pthread_mutex_lock(&ix->lock);
			if (!ix->rc || ix->rc == -ECANCELED) {
				ix->rc = rc;
				snprintf(ix->msg, sizeof(ix->msg), "%s", lfs_err_get());
			}
			ix->cancel = 1;
			pthread_mutex_unlock(&ix->lock);
		}
		atomic_fetch_add(&ix->done, 1);
	}
	return NULL;
}

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* "layers 3/7, 412/1030 MiB, 95 MiB/s, ETA 6s" on one rewritten line. */
static void progress(struct indexing *ix, int final)
{
	double secs = since(&ix->start), mib = (double)atomic_load(&ix->bytes) / 1048576.0;
	double total = (double)ix->total / 1048576.0, rate = secs > 0 ? mib / secs : 0;

	if (!ix->opts->progress)
		return;
	fprintf(stderr, "\r%s: indexing layers %u/%u, %.0f/%.0f MiB, %.0f MiB/s", lfs_progname,
		(unsigned)atomic_load(&ix->done), ix->core->nlayers, mib, total, rate);
	if (!final && rate > 0 && total > mib)
		fprintf(stderr, ", ETA %.0fs", (total - mib) / rate);
	fprintf(stderr, "\033[K%s", final ? "\n" : "");
}

/* The index cache's directory: 0, or -ENOENT with --no-cache or no home. */
static int cache_dir(const struct lfs_core_opts *opts, char *dir, size_t n)
{
	if (opts->no_cache)
		return -ENOENT;
	if (opts->cache_dir) {
		snprintf(dir, n, "%s", opts->cache_dir);
		return 0;
	}
	return lfs_cache_default_dir(dir, n) < 0 ? -ENOENT : 0;
}

/* The cache is an optimisation: when it cannot be used, say so and go on. */
static struct lfs_cache *open_cache(const struct lfs_core_opts *opts)
{
	struct lfs_cache *cache = NULL;
	char dir[4096];

	if (cache_dir(opts, dir, sizeof(dir)) < 0)
		return NULL;
	if (lfs_cache_open(&cache, dir, opts->cache_max) < 0) {
		lfs_warn("%s; going on without the index cache", lfs_err_get());
		return NULL;
	}
	return cache;
}

/*
 * A mount keeps the file data it inflates (datacache.h), for the layers
 * whose reads inflate: compressed blobs read at stream offsets, with a key.
 */
static void open_data_cache(struct lfs_core *c, const struct lfs_core_opts *opts,
			    uint8_t (*keys)[16], const uint8_t *keyed)
{
	char dir[4096 + 8];
	int fd;
	uint64_t base;

	if (opts->sequential || opts->no_data_cache || cache_dir(opts, dir, sizeof(dir) - 8) < 0)
		return;
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const struct lfs_layer *l = c->layers[i];

		if (!keyed[i] || !l->blob || (l->ops && l->ops->pread) ||
		    lfs_blob_raw_fd(l->blob, &fd, &base) == 0)
			continue;
		if (!c->dcache) {
			strcat(dir, "/data");
			c->dcache = lfs_dcache_open(dir, opts->data_cache_max);
			if (!c->dcache)
				return;
			c->dlayers = lfs_xcalloc(c->nlayers, sizeof(*c->dlayers));
		}
		c->dlayers[i] = lfs_dcache_layer(c->dcache, keys[i], l->blob, !c->img->remote);
	}
}

static int index_layers(struct lfs_core *c, const struct lfs_core_opts *opts)
{
	struct indexing ix = {.opts = opts, .core = c};
	pthread_t tids[64];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned jobs = opts->jobs > 0 ? (unsigned)opts->jobs : (unsigned)(ncpu > 0 ? ncpu : 1);
	unsigned started = 0;
	pthread_attr_t attr;

	/* Layers from a registry wait on the network more than on the CPU: all at once. */
	if (opts->jobs <= 0 && c->img->remote && jobs < c->nlayers)
		jobs = c->nlayers < 16 ? c->nlayers : 16;
	if (jobs > c->nlayers)
		jobs = c->nlayers;
	if (jobs > LFS_ARRAY_SIZE(tids))
		jobs = LFS_ARRAY_SIZE(tids);
	ix.lopts.max_plain = opts->max_plain;
	ix.lopts.tmpdir = opts->tmpdir;
	ix.lopts.cancel = &ix.cancel;
	ix.lopts.hash_content = opts->hash_content;
	ix.lopts.progress = &ix.bytes;
	ix.lopts.sequential = opts->sequential;
	clock_gettime(CLOCK_MONOTONIC, &ix.start);
	for (uint32_t i = 0; i < c->nlayers; i++)
		ix.total += c->img->layers[i].len;
	ix.cache = open_cache(opts);
	ix.keys = lfs_xcalloc(c->nlayers, sizeof(*ix.keys));
	ix.keyed = lfs_xcalloc(c->nlayers, 1);
	/* From a registry: a published index spares the pass. */
	if (ix.cache && !opts->offline)
		lfs_index_fetch(c->img, ix.cache);
	pthread_mutex_init(&ix.lock, NULL);
	pthread_attr_init(&attr);
	/* Deep paths recurse in the indexer: give workers room. */
	pthread_attr_setstacksize(&attr, 16 << 20);
	for (unsigned i = 0; i < jobs; i++)
		if (pthread_create(&tids[started], &attr, index_worker, &ix) == 0)
			started++;
	pthread_attr_destroy(&attr);
	if (!started)
		index_worker(&ix);
	while (opts->progress && atomic_load(&ix.done) < c->nlayers && !ix.cancel) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		progress(&ix, 0);
		nanosleep(&ts, NULL);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	progress(&ix, 1);
	pthread_mutex_destroy(&ix.lock);
	lfs_cache_close(ix.cache);
	c->cached = atomic_load(&ix.cached);
	if (ix.rc == 0)
		open_data_cache(c, opts, ix.keys, ix.keyed);
	free(ix.keys);
	free(ix.keyed);
	if (ix.rc < 0)
		lfs_err_set("%s", ix.msg);
	return ix.rc;
}

void lfs_core_image_opts(const struct lfs_core_opts *opts, struct lfs_image_opts *io, char *dir,
			 size_t n)
{
	*io = (struct lfs_image_opts){.tag = opts->tag,
				      .platform = opts->platform,
				      .tls_insecure = opts->tls_insecure,
				      .authfile = opts->authfile,
				      .chunk_max = opts->chunk_max,
				      .keep_blobs = opts->keep_blobs,
				      .offline = opts->offline,
				      .timeout = opts->timeout,
				      .retries = opts->retries};
	/* A registry's chunks, kept blobs and manifests live beside the indexes. */
	if (cache_dir(opts, dir, n) == 0)
		io->cache_dir = dir;
}

int lfs_core_open(struct lfs_core **out, char *const *sources, size_t nsources,
		  const struct lfs_core_opts *opts)
{
	struct lfs_core *c = lfs_xcalloc(1, sizeof(*c));
	struct lfs_image_opts io;
	char dir[4096];
	int rc;

	lfs_core_image_opts(opts, &io, dir, sizeof(dir));
	rc = lfs_image_open(&c->img, sources, nsources, &io);
	if (rc < 0)
		goto fail;
	c->nlayers = (uint32_t)c->img->nlayers;
	c->layers = lfs_xcalloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layers));
	if (c->nlayers) {
		rc = index_layers(c, opts);
		if (rc < 0)
			goto fail;
	}
	c->tree = lfs_tree_new();
	/* A mount needs only the merged tree: taking the layers' directories saves copying them. */
	for (uint32_t i = 0; i < c->nlayers; i++) {
		if (opts->keep_layers) {
			lfs_tree_apply(c->tree, c->layers[i]->root);
		} else {
			lfs_tree_apply_take(c->tree, c->layers[i]->root);
			c->layers[i]->root = NULL;
		}
	}
	lfs_tree_freeze(c->tree);
	*out = c;
	return 0;
fail:
	lfs_core_free(c);
	return rc;
}

void lfs_core_print_stats(const struct lfs_core *c)
{
	uint64_t hits, fills;

	lfs_image_print_stats(c->img);
	if (!c->dcache)
		return;
	lfs_dcache_counts(c->dcache, &hits, &fills);
	fprintf(stderr,
		"%s: data cache: %llu blocks served from it, %llu inflated from the layers\n",
		lfs_progname, (unsigned long long)hits, (unsigned long long)fills);
}

void lfs_core_free(struct lfs_core *c)
{
	if (!c)
		return;
	lfs_tree_free(c->tree);
	lfs_dcache_close(c->dcache);
	free(c->dlayers);
	for (uint32_t i = 0; c->layers && i < c->nlayers; i++)
		lfs_layer_free(c->layers[i]);
	free(c->layers);
	lfs_image_free(c->img);
	free(c);
}

/* SIZE bytes at STORED_OFF from the start of N's stored data. */
static ssize_t read_stored(const struct lfs_core *c, const struct lfs_node *n, char *buf,
			   size_t size, uint64_t stored_off)
{
	const struct lfs_layer *l = c->layers[n->layer];
	struct lfs_dlayer *dl = c->dlayers ? c->dlayers[n->layer] : NULL;
	size_t got = 0;

	while (got < size) {
		ssize_t r =
		    dl ? lfs_dlayer_pread(dl, buf + got, size - got, n->data_off + stored_off + got)
		       : lfs_layer_pread(l, n, buf + got, size - got, stored_off + got);

		if (r < 0)
			return r;
		if (r == 0)
			return -EIO; /* the index promised bytes the stream lacks */
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t lfs_core_read(const struct lfs_core *c, const struct lfs_node *n, void *buf, size_t size,
		      uint64_t off)
{
	const struct lfs_sparse *sp = n->sparse;
	char *out = buf;
	size_t done = 0;

	if (off >= n->size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	if (!sp)
		return read_stored(c, n, buf, size, off);
	memset(buf, 0, size);
	for (uint32_t i = 0; i < sp->n && done < size; i++) {
		uint64_t s = sp->ext[i].off, e = s + sp->ext[i].len;
		uint64_t lo = off > s ? off : s, hi = off + size < e ? off + size : e;
		ssize_t r;

		if (lo >= hi)
			continue;
		r = read_stored(c, n, out + (lo - off), (size_t)(hi - lo),
				sp->ext[i].stored + (lo - s));
		if (r < 0)
			return r;
	}
	return (ssize_t)size;
}

int lfs_core_data_fd(const struct lfs_core *c, const struct lfs_node *n, uint64_t off, size_t size,
		     int *fd, uint64_t *pos, size_t *len)
{
	uint64_t base;
	int rc;

	if (n->sparse)
		return -ENOTSUP;
	rc = lfs_layer_raw_fd(c->layers[n->layer], fd, &base);
	/* A compressed layer's data, once inflated into the data cache, splices from there. */
	if (rc == -ENOTSUP && c->dlayers && c->dlayers[n->layer] && off < n->size)
		rc =
		    lfs_dlayer_fd(c->dlayers[n->layer], n->data_off + off,
				  size < n->size - off ? size : (size_t)(n->size - off), fd, &base);
	if (rc < 0)
		return rc;
	if (off >= n->size)
		size = 0;
	else if (size > n->size - off)
		size = (size_t)(n->size - off);
	*pos = base + n->data_off + off;
	*len = size;
	return 0;
}

int lfs_core_getxattr(const struct lfs_node *n, const char *name, const void **val, size_t *len)
{
	if (!n->xattrs)
		return -ENODATA;
	for (uint32_t i = 0; i < n->xattrs->n; i++) {
		if (!strcmp(n->xattrs->x[i].name, name)) {
			*val = n->xattrs->x[i].value;
			*len = n->xattrs->x[i].len;
			return 0;
		}
	}
	return -ENODATA;
}

size_t lfs_core_listxattr(const struct lfs_node *n, char *buf, size_t size)
{
	size_t need = 0;

	if (!n->xattrs)
		return 0;
	for (uint32_t i = 0; i < n->xattrs->n; i++) {
		size_t l = strlen(n->xattrs->x[i].name) + 1;

		if (buf && need + l <= size)
			memcpy(buf + need, n->xattrs->x[i].name, l);
		need += l;
	}
	return need;
}

int lfs_core_publish_index(const struct lfs_core *c, const struct lfs_core_opts *opts,
			   char digest[72])
{
	struct lfs_image_opts io;
	char dir[4096];

	lfs_core_image_opts(opts, &io, dir, sizeof(dir));
	return lfs_index_publish(c->img, io.cache_dir, digest);
}
