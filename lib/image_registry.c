/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image in a registry ("docker://HOST/REPO:TAG"): the manifest named by
 * the tag or digest, the platform's manifest when that is an index (chosen
 * as for a local layout, then fetched by its digest), the config, and one
 * layer descriptor per blob with no fd, read through an HTTP blob source.
 * The registry client (registry.h) checks every manifest and config against
 * its digest; the layers are verified against theirs by the indexing pass,
 * before anything is cached.  This mirrors oci_open of image.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "layerfs/image.h"
#include "image_int.h"
#include "registry.h"

/*
 * What the document is: by its Content-Type (parameters dropped), else by
 * its own mediaType, as a registry may send a generic type.
 */
static int doc_kind(const char *buf, size_t len, const char *ctype, const char *what)
{
	char mt[128] = "";
	json_t *j, *v;
	int kind;

	if (ctype) {
		snprintf(mt, sizeof(mt), "%.*s", (int)strcspn(ctype, "; \t"), ctype);
		kind = lfs_json_doc_kind(mt, "");
		lfs_err_clear();
		if (kind > 0)
			return kind;
	}
	j = json_loadb(buf, len, 0, NULL);
	v = j ? json_object_get(j, "mediaType") : NULL;
	if (json_is_string(v))
		snprintf(mt, sizeof(mt), "%s", json_string_value(v));
	json_decref(j);
	return lfs_json_doc_kind(mt[0] ? mt : NULL, what);
}

/*
 * Follow REFERENCE (a tag or digest) down to an image manifest *M, choosing
 * by platform P in indexes; *MDIGEST its digest.
 */
static int resolve(struct lfs_registry *r, const char *name, const char *reference,
		   const struct lfs_platform *p, struct lfs_manifest *m, char **mdigest)
{
	char what[LFS_ERRMAX], digest[72], next[72];
	struct lfs_index x = {0};
	char *buf = NULL, *ctype = NULL;
	size_t len, pick;
	int depth, kind, ret = 0;

	snprintf(next, sizeof(next), "%s", reference);
	for (depth = 0; depth < LFS_INDEX_DEPTH; depth++) {
		ret = lfs_registry_manifest(r, next, &buf, &len, &ctype, digest);
		if (ret < 0)
			goto out;
		snprintf(what, sizeof(what), "%s: manifest %s", name, digest);
		kind = doc_kind(buf, len, ctype, what);
		if (kind < 0) {
			ret = kind;
			goto out;
		}
		if (kind == LFS_DOC_MANIFEST) {
			ret = lfs_json_manifest(buf, len, what, m);
			if (!ret)
				*mdigest = lfs_xstrdup(digest);
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

static int fill_layers(struct lfs_image *img, struct lfs_registry *r,
		       const struct lfs_registry_ref *ref, const struct lfs_manifest *m,
		       const struct lfs_image_config *c)
{
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
		l->fd = -1;
		l->len = (uint64_t)d->size;
		l->name =
		    lfs_xmalloc(strlen(ref->host) + strlen(ref->repo) + strlen(d->digest) + 3);
		sprintf(l->name, "%s/%s@%s", ref->host, ref->repo, d->digest);
		l->digest = lfs_xstrdup(d->digest);
		l->diff_id = lfs_xstrdup(c->diff_ids.v[i]);
		l->media_type = d->media_type ? lfs_xstrdup(d->media_type) : NULL;
		img->nlayers++;
		ret = lfs_blobsrc_http_new(&l->src, r, d->digest, (uint64_t)d->size);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int lfs_registry_image_open(struct lfs_image *img, const char *source,
			    const struct lfs_image_opts *o, const struct lfs_platform *p)
{
	struct lfs_registry_opts ro = {.tls_verify = !o->tls_insecure, .authfile = o->authfile};
	struct lfs_registry_ref ref = {0};
	struct lfs_image_config c = {0};
	struct lfs_registry *r = NULL;
	struct lfs_manifest m = {0};
	char what[LFS_ERRMAX];
	char *buf = NULL;
	size_t len;
	int ret;

	ret = lfs_registry_ref_parse(source, &ref);
	if (!ret)
		ret = tag_check(&ref, o->tag);
	if (!ret)
		ret = lfs_registry_open(&r, &ref, &ro);
	if (!ret)
		ret = resolve(r, ref.name, ref.digest ? ref.digest : ref.tag, p, &m,
			      &img->manifest_digest);
	if (!ret)
		ret =
		    lfs_registry_blob(r, m.config.digest, m.config.size, LFS_JSON_MAX, &buf, &len);
	if (ret < 0)
		goto out;
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
	ret = fill_layers(img, r, &ref, &m, &c);
	if (ret < 0)
		goto out;
	img->cfg = lfs_xmalloc(sizeof(*img->cfg));
	*img->cfg = c;
	memset(&c, 0, sizeof(c));
out:
	lfs_image_config_clear(&c);
	lfs_manifest_clear(&m);
	/* The blob sources hold their own references. */
	if (r)
		lfs_registry_unref(r);
	lfs_registry_ref_clear(&ref);
	return ret;
}
