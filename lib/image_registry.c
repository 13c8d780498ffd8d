/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image in a registry ("docker://HOST/REPO:TAG"): the manifest named by
 * the tag or digest, the platform's manifest when that is an index (chosen
 * as for a local layout, then fetched by its digest), the config, and one
 * layer descriptor per blob with no fd, read through an HTTP blob source.
 * The registry client (registry.h) checks every manifest and config against
 * its digest; the layers are verified against theirs by the indexing pass,
 * before anything is cached.  This mirrors oci_open of image.c.
 *
 * With a cache directory, every manifest and config fetched and the digest
 * of the tag are kept there (regstore.h), so that --offline opens the image
 * with no request; layer chunks go to DIR/chunks (chunkcache.h), and with
 * --keep-blobs each verified blob is kept whole and later read locally.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/image.h"
#include "image_int.h"
#include "chunkcache.h"
#include "registry.h"
#include "regstore.h"

/* Where documents come from: the registry (kept in ST if there is one), or ST alone. */
struct docs {
	struct lfs_registry *r; /* NULL: --offline */
	struct lfs_regstore *st;
};

/*
 * Manifest or index REFERENCE: one named by digest and kept needs no
 * request (the copy is checked against the digest); offline, only those.
 */
static int get_manifest(struct docs *d, const char *reference, char **buf, size_t *len,
			char **ctype, char digest[72])
{
	int ret = -ENOENT;

	if (d->st && (!d->r || lfs_digest_check(reference) == LFS_DIGEST_SHA256))
		ret = lfs_regstore_get_doc(d->st, reference, buf, len, ctype);
	if (!ret) {
		snprintf(digest, 72, "%s", reference);
		return 0;
	}
	if (!d->r)
		return ret;
	ret = lfs_registry_manifest(d->r, reference, buf, len, ctype, digest);
	if (!ret && d->st)
		lfs_regstore_put_doc(d->st, digest, *ctype, *buf, *len);
	return ret;
}

/* The config: kept ones need no request (checked against the digest). */
static int get_config(struct docs *d, const struct lfs_desc *c, char **buf, size_t *len)
{
	char *ctype = NULL;
	int ret = -ENOENT;

	if (d->st) {
		ret = lfs_regstore_get_doc(d->st, c->digest, buf, len, &ctype);
		free(ctype);
		if (!ret && c->size >= 0 && (uint64_t)c->size != *len) {
			free(*buf);
			ret = lfs_error(-ENOENT, "the cached config %s has the wrong size",
					c->digest);
		}
	}
	if (!ret || !d->r)
		return ret;
	ret = lfs_registry_blob(d->r, c->digest, c->size, LFS_JSON_MAX, buf, len);
	if (!ret && d->st)
		lfs_regstore_put_doc(d->st, c->digest, c->media_type, *buf, *len);
	return ret;
}

/*
 * What the document is: by its Content-Type (parameters dropped), else by
 * its own mediaType, as a registry may send a generic type.
 */
static int doc_kind(const char *buf, size_t len, const char *ctype, const char *what, char mt[128])
{
	json_t *j, *v;
	int kind;

	mt[0] = '\0';
	if (ctype) {
		snprintf(mt, 128, "%.*s", (int)strcspn(ctype, "; \t"), ctype);
		kind = lfs_json_doc_kind(mt, "");
		lfs_err_clear();
		if (kind > 0)
			return kind;
	}
	j = json_loadb(buf, len, 0, NULL);
	v = j ? json_object_get(j, "mediaType") : NULL;
	if (json_is_string(v))
		snprintf(mt, 128, "%s", json_string_value(v));
	json_decref(j);
	return lfs_json_doc_kind(mt[0] ? mt : NULL, what);
}

/*
 * Follow REFERENCE (a tag or digest) down to an image manifest *M, choosing
 * by platform P in indexes; *MDIGEST its digest.
 */
static int resolve(struct docs *r, const char *name, const char *reference,
		   const struct lfs_platform *p, struct lfs_manifest *m, char **mdigest,
		   char top[72], struct lfs_image_remote *rm)
{
	char what[LFS_ERRMAX], digest[72], next[72], mt[128];
	struct lfs_index x = {0};
	char *buf = NULL, *ctype = NULL;
	size_t len, pick;
	int depth, kind, ret = 0;

	snprintf(next, sizeof(next), "%s", reference);
	for (depth = 0; depth < LFS_INDEX_DEPTH; depth++) {
		ret = get_manifest(r, next, &buf, &len, &ctype, digest);
		if (ret < 0)
			goto out;
		if (!depth)
			snprintf(top, 72, "%s", digest);
		snprintf(what, sizeof(what), "%s: manifest %s", name, digest);
		kind = doc_kind(buf, len, ctype, what, mt);
		if (kind < 0) {
			ret = kind;
			goto out;
		}
		if (kind == LFS_DOC_MANIFEST) {
			ret = lfs_json_manifest(buf, len, what, m);
			if (!ret) {
				*mdigest = lfs_xstrdup(digest);
				rm->manifest_size = len;
				rm->manifest_type = lfs_xstrdup(mt);
			}
			goto out;
		}
		ret = lfs_json_index(buf, len, what, &x);
		if (!ret)
			ret = lfs_pick_platform(&x, NULL, p, what, &pick);
		if (ret < 0)
			goto out;
		/* The chosen manifest by digest: the registry checks it against that. */
		snprintf(next, sizeof(next), "%s", x.m[pick].digest);
		lfs_index_clear(&x);
		free(buf);
		free(ctype);
		buf = ctype = NULL;
	}
	lfs_err_set("%s: image indexes nested too deeply", name);
	ret = -ELOOP;
out:
	lfs_index_clear(&x);
	free(buf);
	free(ctype);
	return ret;
}

/* --tag with docker:// only repeats the reference's own tag or digest. */
static int tag_check(const struct lfs_registry_ref *ref, const char *tag)
{
	char shown[96];

	if (!tag || (ref->tag && !strcmp(tag, ref->tag)) ||
	    (ref->digest && !strcmp(tag, ref->digest)))
		return 0;
	lfs_err_set("docker://%s: --tag '%s' names another image; give the tag or digest in the "
		    "reference",
		    ref->name, lfs_show(tag, shown, sizeof(shown)));
	return -EINVAL;
}

/* A kept blob of the right size, as a local source: 0, or -ENOENT. */
static int kept_blob(struct lfs_regstore *st, const struct lfs_desc *d, const char *name,
		     struct lfs_blobsrc **out)
{
	char path[4200];
	struct stat sb;
	int fd, ret = -ENOENT;

	if (!st || lfs_regstore_blob_path(st, d->digest, path, sizeof(path)) < 0)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == d->size)
		ret = lfs_blobsrc_fd_new(out, fd, 0, (uint64_t)d->size, name);
	close(fd);
	return ret;
}

static int fill_layers(struct lfs_image *img, struct lfs_registry *r, struct lfs_regstore *st,
		       const struct lfs_image_opts *o, const struct lfs_registry_ref *ref,
		       struct lfs_manifest *m, const struct lfs_image_config *c)
{
	char path[4200];
	size_t i;
	int ret;

	img->layers = lfs_xcalloc(m->nlayers ? m->nlayers : 1, sizeof(*img->layers));
	for (i = 0; i < m->nlayers; i++) {
		const struct lfs_desc *d = &m->layers[i];
		struct lfs_layer_desc *l = &img->layers[i];

		if (lfs_digest_check(d->digest) != LFS_DIGEST_SHA256 || d->size < 0) {
			lfs_err_set("%s/%s: layer %zu: only sha256 blobs of a known size are read",
				    ref->host, ref->repo, i);
			return -ENOTSUP;
		}
		/* No fd, even for a kept blob: the index cache knows it by digest. */
		l->fd = -1;
		l->len = (uint64_t)d->size;
		l->name =
		    lfs_xmalloc(strlen(ref->host) + strlen(ref->repo) + strlen(d->digest) + 3);
		sprintf(l->name, "%s/%s@%s", ref->host, ref->repo, d->digest);
		l->digest = lfs_xstrdup(d->digest);
		l->diff_id = lfs_xstrdup(c->diff_ids.v[i]);
		l->media_type = d->media_type ? lfs_xstrdup(d->media_type) : NULL;
		/* Kept by the remote, which lfs_image_free frees. */
		if (!img->remote->annotations)
			img->remote->annotations =
			    lfs_xcalloc(m->nlayers, sizeof(*img->remote->annotations));
		lfs_layer_desc_take_annotations(l, &m->layers[i]);
		img->remote->annotations[img->remote->nannotations++] = l->annotations;
		img->nlayers++;
		img->remote->compressed += (uint64_t)d->size;
		if (kept_blob(st, d, l->name, &l->src) == 0)
			continue;
		ret =
		    lfs_blobsrc_http_new(&l->src, r, img->remote->cc, d->digest, (uint64_t)d->size);
		if (ret < 0)
			return ret;
		if (o->keep_blobs && st &&
		    lfs_regstore_blob_path(st, d->digest, path, sizeof(path)) == 0)
			lfs_blobsrc_http_keep(l->src, path);
	}
	return 0;
}

/* The chunk cache: DIR/chunks, or in memory only without a cache directory. */
static int open_chunks(const struct lfs_image_opts *o, struct lfs_chunkcache **cc)
{
	struct lfs_chunkcache_opts co = {.max_disk = o->chunk_max};
	char dir[4200];
	int ret;

	if (o->cache_dir) {
		ret = lfs_mkdirs(o->cache_dir);
		if (ret < 0)
			return lfs_error(ret, "%s: %s", o->cache_dir, strerror(-ret));
		snprintf(dir, sizeof(dir), "%s/chunks", o->cache_dir);
		co.dir = dir;
	}
	return lfs_chunkcache_open(cc, &co);
}

/* The manifest digest to start from: the reference's, or --offline the tag's last. */
static int start_ref(const struct lfs_registry_ref *ref, struct docs *d, char tagged[72],
		     const char **start)
{
	char name[600];
	int ret;

	*start = ref->digest ? ref->digest : ref->tag;
	if (d->r || ref->digest)
		return 0;
	snprintf(name, sizeof(name), "%s/%s:%s", ref->host, ref->repo, ref->tag);
	ret = lfs_regstore_get_tag(d->st, name, tagged);
	if (ret < 0)
		return lfs_error(ret, "--offline: %s", lfs_err_get());
	*start = tagged;
	return 0;
}

int lfs_registry_image_open(struct lfs_image *img, const char *source,
			    const struct lfs_image_opts *o, const struct lfs_platform *p)
{
	struct lfs_registry_opts ro = {.tls_verify = !o->tls_insecure,
				       .authfile = o->authfile,
				       .offline = o->offline,
				       .timeout = o->timeout,
				       .retries = o->retries >= 0 ? o->retries + 1 : 0};
	struct lfs_registry_ref ref = {0};
	struct lfs_image_config c = {0};
	struct lfs_registry *r = NULL;
	struct lfs_manifest m = {0};
	struct docs docs = {0};
	char what[LFS_ERRMAX], top[72] = "", tagged[72], name[600];
	const char *start;
	char *buf = NULL;
	size_t len;
	int ret;

	ret = lfs_registry_ref_parse(source, &ref);
	if (!ret)
		ret = tag_check(&ref, o->tag);
	if (!ret && o->offline && !o->cache_dir)
		ret = lfs_error(-EINVAL, "docker://%s: --offline needs the cache (not --no-cache)",
				ref.name);
	if (!ret)
		ret = lfs_registry_open(&r, &ref, &ro);
	if (ret < 0)
		goto out;
	img->remote = lfs_xcalloc(1, sizeof(*img->remote));
	img->remote->r = lfs_registry_ref(r);
	ret = open_chunks(o, &img->remote->cc);
	if (ret < 0)
		goto out;
	if (o->cache_dir)
		lfs_regstore_open(&docs.st, o->cache_dir);
	docs.r = o->offline ? NULL : r;
	ret = start_ref(&ref, &docs, tagged, &start);
	if (!ret)
		ret =
		    resolve(&docs, ref.name, start, p, &m, &img->manifest_digest, top, img->remote);
	if (!ret)
		ret = get_config(&docs, &m.config, &buf, &len);
	if (ret < 0)
		goto out;
	if (docs.r && docs.st && !ref.digest) {
		snprintf(name, sizeof(name), "%s/%s:%s", ref.host, ref.repo, ref.tag);
		lfs_regstore_put_tag(docs.st, name, top);
	}
	img->config = buf;
	img->config_len = len;
	img->ref = lfs_xstrdup(ref.digest ? ref.digest : ref.tag);
	snprintf(what, sizeof(what), "%s: config %s", ref.name, m.config.digest);
	ret = lfs_json_config(buf, len, what, &c);
	if (ret < 0)
		goto out;
	if (c.diff_ids.n != m.nlayers) {
		lfs_err_set("%s: rootfs.diff_ids lists %zu layers, but the manifest %zu", what,
			    c.diff_ids.n, m.nlayers);
		ret = -EINVAL;
		goto out;
	}
	ret = fill_layers(img, r, docs.st, o, &ref, &m, &c);
	if (ret < 0)
		goto out;
	img->cfg = lfs_xmalloc(sizeof(*img->cfg));
	*img->cfg = c;
	memset(&c, 0, sizeof(c));
out:
	lfs_image_config_clear(&c);
	lfs_manifest_clear(&m);
	lfs_regstore_close(docs.st);
	/* The blob sources hold their own references. */
	if (r)
		lfs_registry_unref(r);
	lfs_registry_ref_clear(&ref);
	return ret;
}

void lfs_image_remote_free(struct lfs_image_remote *rm)
{
	if (!rm)
		return;
	lfs_registry_unref(rm->r);
	lfs_chunkcache_unref(rm->cc);
	for (size_t i = 0; i < rm->nannotations; i++)
		lfs_strv_free(rm->annotations[i]);
	free(rm->annotations);
	free(rm->manifest_type);
	free(rm);
}

int lfs_image_fetch_stats(const struct lfs_image *img, struct lfs_fetch_stats *st)
{
	struct lfs_chunkcache_stats cs;
	struct lfs_registry_stats rs;

	memset(st, 0, sizeof(*st));
	if (!img->remote)
		return -ENOENT;
	lfs_registry_stats(img->remote->r, &rs);
	lfs_chunkcache_stats(img->remote->cc, &cs);
	st->requests = rs.requests;
	st->bytes = rs.bytes;
	st->compressed = img->remote->compressed;
	st->chunks_fetched = cs.fetched;
	st->chunks_cached = cs.mem_hits + cs.disk_hits;
	st->chunks_bad = cs.bad;
	return 0;
}

void lfs_image_print_stats(const struct lfs_image *img)
{
	struct lfs_fetch_stats st;

	if (lfs_image_fetch_stats(img, &st) < 0)
		return;
	fprintf(stderr,
		"%s: registry: fetched %llu bytes in %llu requests (%.1f%% of the image's %llu "
		"compressed layer bytes); chunks: %llu fetched, %llu from the cache, %llu "
		"rejected\n",
		lfs_progname, (unsigned long long)st.bytes, (unsigned long long)st.requests,
		st.compressed ? 100.0 * (double)st.bytes / (double)st.compressed : 0.0,
		(unsigned long long)st.compressed, (unsigned long long)st.chunks_fetched,
		(unsigned long long)st.chunks_cached, (unsigned long long)st.chunks_bad);
}
