/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The front end of layers that carry their own table of contents (toc.h):
 * eStargz and zstd:chunked.  Indexing reads the TOC only (a few ranges of
 * the stored bytes: the footer, the TOC), never the layer, and feeds its
 * entries to the builder; file data is then read chunk by chunk, each chunk
 * decompressed from its own offset and checked against its chunkDigest
 * before a byte of it is served (a mismatch: EIO for that read, one
 * warning).  A few decoded chunks are kept (least recently used first), so
 * that sequential reads do not decode a chunk again for each page.  The
 * files before .prefetch.landmark are read in the background once the
 * mount is ready (lfs_layer_ready), or else from the layer's first read:
 * never while indexing, since the daemon forks after that and a thread
 * would not survive it.
 *
 * What is verified.  The whole blob is never hashed: that would be the pass
 * this format exists to avoid.  So the manifest's digest of the layer and
 * the config's diff_id are not checked for a TOC layer; what is checked:
 * the TOC against the layer descriptor's annotation when there is one
 * (containerd.io/snapshot/stargz/toc.digest: sha256 of the TOC JSON;
 * zstd:chunked's manifest-checksum: sha256 of the compressed manifest), and
 * every chunk against the chunkDigest of that TOC.  Without an annotation
 * (a local layer file, a layout without them) the TOC is taken as the blob
 * holds it: the data served is then exactly what that TOC describes, as
 * with stargz-snapshotter.  A layer from a registry is read through its TOC
 * only when the descriptor has the annotation; else it is read by the pass.
 *
 * A footer or TOC that is malformed or does not match its annotation: the
 * layer is read by the tar front end instead (one warning), which checks the
 * manifest's digest over the whole blob.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "blobsrc.h"
#include "layer_int.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "toc.h"

#define SLOTS	     16		 /* decoded chunks kept */
#define MEM_MAX	     (32u << 20) /* ... and their bytes at most, per layer */
#define FIRST_SLACK  (64u << 10) /* compressed bytes read past a chunk's size at first */
#define CHUNK_IN_MAX (512u << 20)
#define ANN_TOC	     "containerd.io/snapshot/stargz/toc.digest"
#define ANN_POS_NEW  "io.github.containers.zstd-chunked.manifest-position"
#define ANN_SUM_NEW  "io.github.containers.zstd-chunked.manifest-checksum"
#define ANN_POS_OLD  "io.containers.zstd-chunked.manifest-position"
#define ANN_SUM_OLD  "io.containers.zstd-chunked.manifest-checksum"
#define TAIL	     LFS_ESTARGZ_FOOTER /* the longest footer */

extern const struct lfs_layer_ops lfs_layer_tar;

struct slot {
	size_t chunk;
	uint8_t *data; /* NULL: empty */
	uint64_t stamp;
};

struct toc_layer {
	struct lfs_toc toc;
	struct lfs_blobsrc *src;
	char *name;
	pthread_mutex_t lock; /* the fields below */
	struct slot slots[SLOTS];
	uint64_t clock, mem;
	uint8_t *warned; /* per chunk: its failure was reported */
	atomic_int started, stop;
	pthread_t prefetch;
};

static const char *pos_annotation(const struct lfs_layer_desc *d, const char **sum)
{
	const char *p = lfs_layer_desc_annotation(d, ANN_POS_NEW);

	*sum = lfs_layer_desc_annotation(d, ANN_SUM_NEW);
	if (!p) {
		p = lfs_layer_desc_annotation(d, ANN_POS_OLD);
		*sum = lfs_layer_desc_annotation(d, ANN_SUM_OLD);
	}
	return p;
}

/* The last TAIL bytes (fewer in a short blob) of DESC's blob into BUF; their count, or -errno. */
static ssize_t read_tail(const struct lfs_layer_desc *d, struct lfs_blobsrc *src, uint8_t *buf)
{
	size_t n = d->len < TAIL ? (size_t)d->len : TAIL;
	ssize_t r;

	if (src)
		return lfs_blobsrc_read_full(src, buf, n, d->len - n, "the blob") < 0 ? -EIO
										      : (ssize_t)n;
	r = pread(d->fd, buf, n, (off_t)(d->off + d->len - n));
	return r == (ssize_t)n ? r : -EIO;
}

int lfs_layer_toc_annotated(const struct lfs_layer_desc *d)
{
	const char *sum;

	return pos_annotation(d, &sum) || lfs_layer_desc_annotation(d, ANN_TOC);
}

/*
 * A layer file with a TOC.  A registry's blob only with the annotations
 * (a footer read there would cost every plain layer a request).
 */
static int toc_probe(const struct lfs_layer_desc *desc, const struct stat *st)
{
	uint8_t tail[TAIL];
	struct lfs_zpos zp;
	const char *sum;
	uint64_t off;
	size_t fl;
	ssize_t n;

	if (!S_ISREG(st->st_mode) || !desc->len)
		return 0;
	if (pos_annotation(desc, &sum) || lfs_layer_desc_annotation(desc, ANN_TOC))
		return 1;
	if (desc->fd < 0)
		return 0;
	n = read_tail(desc, NULL, tail);
	if (n <= 0)
		return 0;
	return !lfs_toc_estargz_footer(tail, (size_t)n, desc->len, &off, &fl) ||
	       !lfs_toc_zstd_footer(tail, (size_t)n, desc->len, &zp);
}

static int check_sha(const char *want, const void *data, size_t n, const char *name,
		     const char *what)
{
	struct sha256_ctx ctx;
	uint8_t w[32], got[32];
	char s[72];

	if (!want)
		return 0;
	if (lfs_digest_parse(want, w) < 0)
		return lfs_error(-EBADMSG, "%s: annotation %s is not a sha256 digest", name, what);
	sha256_init(&ctx);
	sha256_update(&ctx, n, data);
	sha256_digest(&ctx, 32, got);
	if (memcmp(w, got, 32)) {
		lfs_digest_format(got, s);
		return lfs_error(-EBADMSG, "%s: the TOC does not match annotation %s (%s, is %s)",
				 name, what, want, s);
	}
	return 0;
}

/* Read LEN bytes at OFF of the blob into a new buffer. */
static int read_range(struct lfs_blobsrc *src, uint64_t off, uint64_t len, uint8_t **out)
{
	int rc;

	*out = NULL;
	if (len > LFS_TOC_MAX + 64u)
		return lfs_error(-EBADMSG, "%s: TOC of %llu bytes is too large", src->name,
				 (unsigned long long)len);
	*out = lfs_xmalloc(len ? (size_t)len : 1);
	rc = lfs_blobsrc_read_full(src, *out, (size_t)len, off, "the blob");
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* Find, fetch, check and parse the TOC of DESC into T. */
static int load_toc(const struct lfs_layer_desc *desc, struct lfs_blobsrc *src, struct lfs_toc *t,
		    uint64_t *read)
{
	const char *name = desc->name, *sum, *pos = pos_annotation(desc, &sum);
	const char *tocd = lfs_layer_desc_annotation(desc, ANN_TOC);
	uint8_t tail[TAIL], *raw = NULL;
	enum lfs_toc_kind kind;
	struct lfs_zpos zp;
	uint64_t toc_off = 0, payload_end;
	char *json = NULL;
	size_t jlen = 0, fl;
	ssize_t n = 0;
	int rc;

	if (!pos || !sum) {
		n = read_tail(desc, src, tail);
		if (n < 0)
			return lfs_error(-EIO, "%s: cannot read the blob's footer", name);
		*read += (uint64_t)n;
	}
	if (pos) {
		rc = lfs_toc_zstd_position(pos, desc->len, name, &zp);
		if (rc)
			return -EBADMSG;
		kind = LFS_TOC_ZSTD;
	} else if (!lfs_toc_zstd_footer(tail, (size_t)n, desc->len, &zp)) {
		kind = LFS_TOC_ZSTD;
	} else if (!lfs_toc_estargz_footer(tail, (size_t)n, desc->len, &toc_off, &fl)) {
		kind = LFS_TOC_ESTARGZ;
	} else {
		return lfs_error(-EBADMSG, "%s: no eStargz or zstd:chunked footer", name);
	}
	if (kind == LFS_TOC_ZSTD) {
		rc = read_range(src, zp.off, zp.clen, &raw);
		if (rc)
			return rc;
		*read += zp.clen;
		rc = check_sha(sum, raw, (size_t)zp.clen, name, "manifest-checksum");
		if (!rc)
			rc = lfs_toc_zstd_json(raw, &zp, name, &json);
		jlen = (size_t)zp.ulen;
		payload_end = zp.off - 8;
	} else {
		rc = read_range(src, toc_off, desc->len - fl - toc_off, &raw);
		if (rc)
			return rc;
		*read += desc->len - fl - toc_off;
		rc = lfs_toc_estargz_json(raw, (size_t)(desc->len - fl - toc_off), name, &json,
					  &jlen);
		payload_end = toc_off;
	}
	free(raw);
	if (!rc)
		rc = check_sha(tocd, json, jlen, name, ANN_TOC);
	if (!rc)
		rc = lfs_toc_parse(json, jlen, kind, payload_end, name, t);
	free(json);
	return rc;
}

/* The entries of T to the builder. */
static int build(struct lfs_layer *l, const struct lfs_toc *t, const struct lfs_layer_opts *opts)
{
	struct lfs_builder b;
	uint64_t plain = 0;
	int rc = 0;

	lfs_build_init(&b, l, 1);
	for (size_t i = 0; i < t->nents && !rc; i++) {
		const struct lfs_toc_ent *te = &t->ents[i];
		struct lfs_entry e = {0};
		struct lfs_node *n;

		if (opts && opts->cancel && *opts->cancel) {
			rc = -ECANCELED;
			break;
		}
		e.path = te->name;
		e.mode = te->mode;
		e.uid = te->uid;
		e.gid = te->gid;
		e.mtime_sec = te->mtime_sec;
		e.mtime_nsec = te->mtime_nsec;
		e.rdev = te->rdev;
		e.xattrs = te->xattrs;
		e.nxattrs = te->nxattrs;
		if (te->hardlink) {
			e.hardlink = te->link;
		} else if (S_ISLNK(te->mode)) {
			e.link = te->link;
		} else if (S_ISREG(te->mode)) {
			e.size = te->size;
			e.data_off = i; /* the handle: the entry */
			plain += te->size;
		}
		rc = lfs_build_add(&b, &e, &n);
		l->nentries++;
	}
	lfs_build_free(&b);
	l->plain_size = plain; /* the files' bytes: the stream's length is not known */
	return rc;
}

/* ---- chunks */

static void slot_drop(struct toc_layer *tl, struct slot *s)
{
	if (!s->data)
		return;
	tl->mem -= tl->toc.chunks[s->chunk].len;
	free(s->data);
	s->data = NULL;
}

/* Under the lock: K's decoded bytes, or NULL. */
static struct slot *cached(struct toc_layer *tl, size_t k)
{
	for (int i = 0; i < SLOTS; i++)
		if (tl->slots[i].data && tl->slots[i].chunk == k) {
			tl->slots[i].stamp = ++tl->clock;
			return &tl->slots[i];
		}
	return NULL;
}

/* Under the lock: the least recently used full slot (FULL), or an empty one; NULL: none. */
static struct slot *oldest(struct toc_layer *tl, int full)
{
	struct slot *o = NULL;

	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &tl->slots[i];

		if ((s->data != NULL) == (full != 0) && (!o || s->stamp < o->stamp))
			o = s;
	}
	return o;
}

/* Under the lock: keep DATA as chunk K's (or free it when it is there already). */
static void keep(struct toc_layer *tl, size_t k, uint8_t *data)
{
	uint64_t len = tl->toc.chunks[k].len;
	struct slot *s;

	if (cached(tl, k)) {
		free(data);
		return;
	}
	/* Make room: a free slot, and the bytes within MEM_MAX. */
	while ((tl->mem + len > MEM_MAX || !oldest(tl, 0)) && (s = oldest(tl, 1)))
		slot_drop(tl, s);
	s = oldest(tl, 0);
	s->chunk = k;
	s->data = data;
	s->stamp = ++tl->clock;
	tl->mem += len;
}

/* Chunk K of file FILE decoded and verified, in a new buffer: 0 or -EIO (warned once per chunk). */
static int decode(struct toc_layer *tl, size_t k, const char *file, uint8_t **out)
{
	char shown[LFS_SHOWN], what[LFS_SHOWN * 2 + 8];
	const struct lfs_toc_chunk *c = &tl->toc.chunks[k];
	uint64_t avail = c->end - c->off, want = c->len + c->len / 8 + FIRST_SLACK;
	uint8_t *in = NULL, *data = lfs_xmalloc(c->len ? (size_t)c->len : 1);
	int rc;

	if (avail > CHUNK_IN_MAX) {
		rc = lfs_error(-EIO, "%s: chunk at byte %llu: too much compressed data", tl->name,
			       (unsigned long long)c->off);
		goto out;
	}
	if (want > avail)
		want = avail;
	snprintf(what, sizeof(what), "%s: '%s'", tl->name, lfs_show(file, shown, sizeof(shown)));
	for (;;) {
		in = lfs_xmalloc((size_t)want);
		rc = lfs_blobsrc_read_full(tl->src, in, (size_t)want, c->off, "the blob");
		if (!rc)
			rc = lfs_toc_chunk_decode(tl->toc.kind, c, in, (size_t)want, data, what);
		if (rc != -EAGAIN)
			break;
		/* Rare: the chunk compressed worse than expected; all that it may use. */
		free(in);
		in = NULL;
		want = avail;
	}
out:
	free(in);
	if (rc) {
		int first;

		free(data);
		pthread_mutex_lock(&tl->lock);
		first = !tl->warned[k];
		tl->warned[k] = 1;
		pthread_mutex_unlock(&tl->lock);
		if (first)
			lfs_warn("%s", lfs_err_get());
		return -EIO;
	}
	*out = data;
	return 0;
}

/* Bytes [from, from + n) of chunk K of FILE into BUF: 0 or -EIO. */
static int chunk_copy(struct toc_layer *tl, size_t k, const char *file, uint64_t from, void *buf,
		      size_t n)
{
	struct slot *s;
	uint8_t *data;
	int rc;

	pthread_mutex_lock(&tl->lock);
	s = cached(tl, k);
	if (s && buf)
		memcpy(buf, s->data + from, n);
	pthread_mutex_unlock(&tl->lock);
	if (s)
		return 0;
	rc = decode(tl, k, file, &data);
	if (rc)
		return rc;
	if (buf)
		memcpy(buf, data + from, n);
	pthread_mutex_lock(&tl->lock);
	keep(tl, k, data);
	pthread_mutex_unlock(&tl->lock);
	return 0;
}

/* The files before .prefetch.landmark, chunk by chunk, until the cache is half full. */
static void *prefetch_main(void *arg)
{
	struct toc_layer *tl = arg;
	uint64_t done = 0;

	for (size_t i = 0; i < tl->toc.nprefetch && !atomic_load(&tl->stop); i++) {
		const struct lfs_toc_ent *e = &tl->toc.ents[i];

		for (size_t k = 0; k < e->nchunks && !atomic_load(&tl->stop); k++) {
			if (done >= MEM_MAX / 2)
				return NULL;
			done += tl->toc.chunks[e->chunk0 + k].len;
			chunk_copy(tl, e->chunk0 + k, e->name, 0, NULL, 0);
		}
	}
	return NULL;
}

static void start_prefetch(struct toc_layer *tl)
{
	int no = 0;

	if (!tl->toc.nprefetch || atomic_load(&tl->started) ||
	    !atomic_compare_exchange_strong(&tl->started, &no, 1))
		return;
	if (pthread_create(&tl->prefetch, NULL, prefetch_main, tl) != 0)
		atomic_store(&tl->started, 0), atomic_store(&tl->stop, 1);
}

static void toc_ready(struct lfs_layer *l)
{
	if (l->priv)
		start_prefetch(l->priv);
}

static ssize_t toc_pread(const struct lfs_layer *l, const struct lfs_node *n, void *buf, size_t len,
			 uint64_t off)
{
	struct toc_layer *tl = l->priv;
	const struct lfs_toc_ent *e;
	size_t got = 0;

	if (n->data_off >= tl->toc.nents)
		return -EIO;
	e = &tl->toc.ents[n->data_off];
	start_prefetch(tl);
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	while (got < len) {
		size_t lo = e->chunk0, hi = e->chunk0 + e->nchunks, take;
		const struct lfs_toc_chunk *c;
		uint64_t at = off + got;
		int rc;

		/* The last chunk starting at or before AT. */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;

			if (tl->toc.chunks[mid].foff <= at)
				lo = mid;
			else
				hi = mid;
		}
		c = &tl->toc.chunks[lo];
		take =
		    c->foff + c->len - at < len - got ? (size_t)(c->foff + c->len - at) : len - got;
		rc = chunk_copy(tl, lo, e->name, at - c->foff, (char *)buf + got, take);
		if (rc)
			return got ? (ssize_t)got : rc;
		got += take;
	}
	return (ssize_t)got;
}

static void toc_free(struct lfs_layer *l)
{
	struct toc_layer *tl = l->priv;

	if (!tl)
		return;
	atomic_store(&tl->stop, 1);
	if (atomic_load(&tl->started))
		pthread_join(tl->prefetch, NULL);
	for (int i = 0; i < SLOTS; i++)
		free(tl->slots[i].data);
	pthread_mutex_destroy(&tl->lock);
	free(tl->warned);
	lfs_toc_free(&tl->toc);
	lfs_blobsrc_unref(tl->src);
	free(tl->name);
	free(tl);
	l->priv = NULL;
}

/*
 * The entries a TOC writer adds to the tar (the TOC itself, the landmarks)
 * are not part of the layer's tree, read either way: out of the tree the
 * pass built.
 */
static void drop_toc_names(struct lfs_layer *l)
{
	static const char *const names[] = {"stargz.index.json", ".prefetch.landmark",
					    ".no.prefetch.landmark"};

	for (size_t i = 0; i < LFS_ARRAY_SIZE(names); i++) {
		struct lfs_node *n = lfs_dir_lookup(l->root, names[i], strlen(names[i]));

		if (n && S_ISREG(n->mode))
			lfs_dir_remove(l->root, names[i], strlen(names[i]));
	}
}

static int toc_index(struct lfs_layer *l, const struct lfs_layer_desc *desc,
		     const struct lfs_layer_opts *opts)
{
	struct toc_layer *tl;
	struct lfs_toc t;
	uint64_t read = 0;
	int rc;

	/* Reports hash every file's content: a pass does that anyway. */
	if (opts && opts->hash_content) {
		l->ops = &lfs_layer_tar;
		rc = lfs_layer_tar.index(l, desc, opts);
		if (!rc)
			drop_toc_names(l);
		return rc;
	}
	tl = lfs_xcalloc(1, sizeof(*tl));
	rc = lfs_layer_desc_src(desc, &tl->src);
	if (!rc)
		rc = load_toc(desc, tl->src, &t, &read);
	if (opts && opts->progress)
		atomic_fetch_add(opts->progress, read);
	if (rc == -EBADMSG || rc == -EINVAL) {
		/* Not a TOC this program can trust: the whole blob, by the pass. */
		lfs_warn("%s; reading the layer as a plain tarball instead", lfs_err_get());
		lfs_blobsrc_unref(tl->src);
		free(tl);
		l->ops = &lfs_layer_tar;
		rc = lfs_layer_tar.index(l, desc, opts);
		if (!rc)
			drop_toc_names(l);
		return rc;
	}
	if (rc) {
		lfs_blobsrc_unref(tl->src);
		free(tl);
		return rc;
	}
	tl->toc = t;
	/* From now on reads are chunks, each asked for exactly (no read-ahead around it). */
	lfs_blobsrc_exact(tl->src);
	tl->name = lfs_xstrdup(desc->name);
	tl->warned = lfs_xcalloc(t.nchunks ? t.nchunks : 1, 1);
	pthread_mutex_init(&tl->lock, NULL);
	l->priv = tl;
	l->comp = t.kind == LFS_TOC_ESTARGZ ? LFS_COMP_GZIP : LFS_COMP_ZSTD;
	l->stored_size = desc->len;
	/* The diff_id and digest are not checked: see the top of this file. */
	return build(l, &tl->toc, opts);
}

const struct lfs_layer_ops lfs_layer_toc = {
    .name = "toc",
    .probe = toc_probe,
    .cacheable = 0,
    .index = toc_index,
    .pread = toc_pread,
    .free = toc_free,
    .ready = toc_ready,
};
