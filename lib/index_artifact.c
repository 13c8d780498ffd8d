/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Published indexes: the index cache's entries of an image from a registry,
 * pushed next to the image as an OCI artifact, so that another machine
 * mounts it with no pass (as lazily as an image that carries its own TOC).
 *
 * The artifact is an OCI image manifest with artifactType LFS_AT_INDEX, the
 * empty config, one layer per cache file (the <key>.idx and, when there is
 * one, the <key>.scr of each image layer, in the image's order), each
 * annotated with the image layer's digest and the part, and the image
 * manifest as its subject.  It is found through the referrers API, else
 * through the referrers tag schema ("sha256-<hex>" names an image index of
 * the referrers), which lfs_index_publish also keeps up to date, since
 * distribution 2.8 has no referrers API.
 *
 * What is fetched is checked before it is used: the artifact against its
 * digest and its subject, its layers against the image's layer digests,
 * each blob against its digest, each index as a cache load checks it (and
 * then as every cache entry is parsed).  Anything wrong is one warning, and
 * the layers are indexed by a pass as if there were no artifact.  An
 * artifact is trusted as the registry's tags are: whoever may push to the
 * repository may publish one.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cache.h"
#include "cache_format.h"
#include "image_int.h"
#include "layerfs/layer.h"
#include "index_artifact.h"
#include "layerfs/lfs.h"
#include "registry.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_EMPTY    "application/vnd.oci.empty.v1+json"
#define MT_PART	    "application/vnd.layerfs.index.part.v1"
#define AN_LAYER    "dev.layerfs.layer.digest"
#define AN_PART	    "dev.layerfs.part"
#define AN_VERSION  "dev.layerfs.index.version"
#define PART_MAX    (1ULL << 30) /* bytes of one cache file published or fetched */

static const char empty_json[] = "{}";

/* "sha256-<hex>": the referrers tag of manifest DIGEST. */
static void referrers_tag(const char *digest, char tag[80])
{
	snprintf(tag, 80, "sha256-%s", digest + 7);
}

static json_t *descriptor(const char *mt, const char *digest, uint64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size",
			 (json_int_t)size);
}

/* Push BUF as a blob and add its descriptor, annotated, to LAYERS. */
static int push_part(struct lfs_registry *r, json_t *layers, const struct lfs_layer_desc *d,
		     const char *part, const void *buf, size_t len)
{
	char digest[72];
	json_t *desc;
	int ret;

	lfs_digest_of(buf, len, digest);
	ret = lfs_registry_put_blob(r, digest, buf, len);
	if (ret)
		return ret;
	desc = descriptor(MT_PART, digest, len);
	json_object_set_new(desc, "annotations",
			    json_pack("{s:s, s:s}", AN_LAYER, d->digest, AN_PART, part));
	json_array_append_new(layers, desc);
	return 0;
}

/* Put the artifact's descriptor into the referrers tag's index (replacing ours). */
static int update_tag(struct lfs_registry *r, const char *subject, json_t *desc)
{
	char tag[80], digest[72], *buf = NULL, *mt = NULL, *out;
	json_t *idx = NULL, *list, *m, *keep;
	size_t len, i;
	int ret;

	referrers_tag(subject, tag);
	if (lfs_registry_manifest(r, tag, &buf, &len, &mt, digest) == 0)
		idx = json_loadb(buf, len, 0, NULL);
	lfs_err_clear();
	list = idx ? json_object_get(idx, "manifests") : NULL;
	keep = json_array();
	json_array_foreach(list, i, m)
	{
		const char *at = json_string_value(json_object_get(m, "artifactType"));

		if (!at || strcmp(at, LFS_AT_INDEX))
			json_array_append(keep, m);
	}
	json_array_append(keep, desc);
	json_decref(idx);
	idx = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests",
			keep);
	out = json_dumps(idx, JSON_COMPACT);
	ret = lfs_registry_put_manifest(r, tag, MT_INDEX, out, strlen(out));
	free(out);
	json_decref(idx);
	free(buf);
	free(mt);
	return ret;
}

int lfs_index_publish(const struct lfs_image *img, const char *cache_dir, char digest_out[72])
{
	struct lfs_image_remote *rm = img->remote;
	struct lfs_cache *cache = NULL;
	json_t *layers = json_array(), *man = NULL, *desc;
	char edigest[72], stamp[32], ver[16];
	void *idx = NULL, *scr = NULL;
	size_t ilen, slen, i;
	uint8_t key[16];
	char *out = NULL;
	time_t now = time(NULL);
	int ret;

	if (!rm || !img->manifest_digest)
		return lfs_error(-EINVAL, "--publish-index: only an image from a registry "
					  "(docker://) has somewhere to publish to");
	if (!cache_dir)
		return lfs_error(-EINVAL, "--publish-index: the index cache is off (--no-cache)");
	ret = lfs_cache_open(&cache, cache_dir, 0);
	for (i = 0; !ret && i < img->nlayers; i++) {
		const struct lfs_layer_desc *d = &img->layers[i];

		/* A layer with a table of contents (eStargz ...) needs no index: it has one. */
		if (lfs_layer_toc_annotated(d))
			continue;
		ret = lfs_cache_key(d, key);
		if (!ret && lfs_cache_files(cache, key, PART_MAX, &idx, &ilen, &scr, &slen) < 0)
			ret = lfs_error(-ENOENT, "%s: no index of it in %s to publish", d->name,
					cache_dir);
		if (!ret)
			ret = push_part(rm->r, layers, d, "index", idx, ilen);
		if (!ret && scr)
			ret = push_part(rm->r, layers, d, "scratch", scr, slen);
		free(idx);
		free(scr);
		idx = scr = NULL;
	}
	lfs_digest_of(empty_json, 2, edigest);
	if (!ret)
		ret = lfs_registry_put_blob(rm->r, edigest, empty_json, 2);
	if (ret)
		goto out;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(ver, sizeof(ver), "%d", LFS_CACHE_VERSION);
	man = json_pack("{s:i, s:s, s:s, s:o, s:O, s:o, s:{s:s, s:s}}", "schemaVersion", 2,
			"mediaType", MT_MANIFEST, "artifactType", LFS_AT_INDEX, "config",
			descriptor(MT_EMPTY, edigest, 2), "layers", layers, "subject",
			descriptor(rm->manifest_type, img->manifest_digest, rm->manifest_size),
			"annotations", AN_VERSION, ver, "org.opencontainers.image.created", stamp);
	out = json_dumps(man, JSON_COMPACT);
	lfs_digest_of(out, strlen(out), digest_out);
	ret = lfs_registry_put_manifest(rm->r, digest_out, MT_MANIFEST, out, strlen(out));
	if (ret)
		goto out;
	desc = descriptor(MT_MANIFEST, digest_out, strlen(out));
	json_object_set_new(desc, "artifactType", json_string(LFS_AT_INDEX));
	ret = update_tag(rm->r, img->manifest_digest, desc);
	json_decref(desc);
out:
	free(out);
	json_decref(man);
	json_decref(layers);
	lfs_cache_close(cache);
	return ret;
}

/* ---- fetching */

/* The newest artifact of ours that refers to the image: its digest, or -ENOENT. */
static int find_artifact(struct lfs_registry *r, const char *subject, char digest[72])
{
	char tag[80], d[72], *buf = NULL, *mt = NULL;
	json_t *idx, *m;
	size_t len, i;
	int ret;

	ret = lfs_registry_referrers(r, subject, &buf, &len);
	if (ret) {
		/* No referrers API (distribution 2.8): the tag schema. */
		lfs_err_clear();
		referrers_tag(subject, tag);
		ret = lfs_registry_manifest(r, tag, &buf, &len, &mt, d);
		free(mt);
		if (ret)
			return -ENOENT;
	}
	idx = json_loadb(buf, len, 0, NULL);
	free(buf);
	ret = -ENOENT;
	json_array_foreach(json_object_get(idx, "manifests"), i, m)
	{
		const char *at = json_string_value(json_object_get(m, "artifactType"));
		const char *dg = json_string_value(json_object_get(m, "digest"));

		if (at && dg && !strcmp(at, LFS_AT_INDEX) &&
		    lfs_digest_check(dg) == LFS_DIGEST_SHA256) {
			snprintf(digest, 72, "%s", dg);
			ret = 0; /* the last one listed wins */
		}
	}
	json_decref(idx);
	return ret;
}

/* Annotation NAME of descriptor D, or "". */
static const char *annotation(json_t *d, const char *name)
{
	const char *s = json_string_value(json_object_get(json_object_get(d, "annotations"), name));

	return s ? s : "";
}

/* Descriptor D into P: a sha256 digest and a size we take. */
static int part_of(json_t *d, struct lfs_index_part *p)
{
	const char *dg = json_string_value(json_object_get(d, "digest"));
	json_t *size = json_object_get(d, "size");

	if (!dg || lfs_digest_check(dg) != LFS_DIGEST_SHA256 || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || (uint64_t)json_integer_value(size) > PART_MAX)
		return lfs_error(-EINVAL, "a part without a sha256 digest or of a bad size");
	snprintf(p->digest, sizeof(p->digest), "%s", dg);
	p->size = (uint64_t)json_integer_value(size);
	return 0;
}

int lfs_index_artifact_parse(const char *buf, size_t len, const char *what,
			     const struct lfs_image *img, struct lfs_index_part *idx,
			     struct lfs_index_part *scr)
{
	json_t *a = json_loadb(buf, len, 0, NULL), *layers, *d;
	const char *at, *sub;
	size_t i, k = 0;
	int ret = 0;

	if (!json_is_object(a)) {
		ret = lfs_error(-EINVAL, "not a JSON object");
		goto out;
	}
	at = json_string_value(json_object_get(a, "artifactType"));
	sub = json_string_value(json_object_get(json_object_get(a, "subject"), "digest"));
	layers = json_object_get(a, "layers");
	if (!at || strcmp(at, LFS_AT_INDEX))
		ret = lfs_error(-EINVAL, "not a layerfs index");
	else if (!sub || !img->manifest_digest || strcmp(sub, img->manifest_digest))
		ret = lfs_error(-EINVAL, "its subject is not this image's manifest");
	else if (strcmp(annotation(a, AN_VERSION), "") &&
		 strtol(annotation(a, AN_VERSION), NULL, 10) != LFS_CACHE_VERSION)
		ret = lfs_error(-EINVAL, "index format %.20s, this layerfs reads %d",
				annotation(a, AN_VERSION), LFS_CACHE_VERSION);
	/*
	 * An index per layer in order, each followed by its scratch if it has
	 * one; a layer with a table of contents (never cached) has none.
	 */
	for (i = 0; !ret && i < img->nlayers; i++) {
		idx[i].digest[0] = scr[i].digest[0] = '\0';
		idx[i].size = scr[i].size = 0;
		d = json_array_get(layers, k);
		if ((!d || strcmp(annotation(d, AN_LAYER), img->layers[i].digest)) &&
		    lfs_layer_toc_annotated(&img->layers[i]))
			continue;
		k++;
		if (!d || strcmp(annotation(d, AN_LAYER), img->layers[i].digest) ||
		    strcmp(annotation(d, AN_PART), "index")) {
			ret = lfs_error(-EINVAL, "its parts do not name the image's layers");
			break;
		}
		ret = part_of(d, &idx[i]);
		d = json_array_get(layers, k);
		if (!ret && d && !strcmp(annotation(d, AN_LAYER), img->layers[i].digest) &&
		    !strcmp(annotation(d, AN_PART), "scratch")) {
			ret = part_of(d, &scr[i]);
			k++;
		}
	}
	if (!ret && k != json_array_size(layers))
		ret = lfs_error(-EINVAL, "its parts do not name the image's layers");
out:
	if (ret)
		lfs_err_prefix("%s", what);
	json_decref(a);
	return ret;
}

/* Part P whole, checked against its digest and size (nothing for no part). */
static int get_part(struct lfs_registry *r, const struct lfs_index_part *p, char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (!p->digest[0])
		return 0;
	return lfs_registry_blob(r, p->digest, (int64_t)p->size, PART_MAX, buf, len);
}

void lfs_index_fetch(const struct lfs_image *img, struct lfs_cache *cache)
{
	struct lfs_image_remote *rm = img->remote;
	struct lfs_index_part *idx = NULL, *scr = NULL;
	char adigest[72], digest[72], *buf = NULL, *mt = NULL, *ibuf, *sbuf;
	size_t len, ilen, slen, i, missing = 0;
	uint8_t key[16];
	int ret;

	if (!rm || !img->manifest_digest || !img->nlayers)
		return;
	/* Nothing to fetch (and no request) when every layer's index is here. */
	for (i = 0; i < img->nlayers; i++)
		if (!lfs_layer_toc_annotated(&img->layers[i]) &&
		    lfs_cache_key(&img->layers[i], key) == 0 && !lfs_cache_has(cache, key))
			missing++;
	if (!missing || find_artifact(rm->r, img->manifest_digest, adigest) < 0) {
		lfs_err_clear();
		return;
	}
	idx = lfs_xcalloc(img->nlayers, sizeof(*idx));
	scr = lfs_xcalloc(img->nlayers, sizeof(*scr));
	ret = lfs_registry_manifest(rm->r, adigest, &buf, &len, &mt, digest);
	if (!ret)
		ret = lfs_index_artifact_parse(buf, len, "its manifest", img, idx, scr);
	for (i = 0; !ret && i < img->nlayers; i++) {
		ibuf = sbuf = NULL;
		if (!idx[i].digest[0] || lfs_cache_key(&img->layers[i], key) < 0 ||
		    lfs_cache_has(cache, key))
			continue;
		ret = get_part(rm->r, &idx[i], &ibuf, &ilen);
		if (!ret)
			ret = get_part(rm->r, &scr[i], &sbuf, &slen);
		if (!ret && lfs_cache_install(cache, key, ibuf, ilen, sbuf, slen) < 0)
			ret = lfs_error(-EINVAL,
					"the index of layer %zu is damaged or of another "
					"version",
					i);
		free(ibuf);
		free(sbuf);
	}
	if (ret)
		lfs_warn("published index %s of %s ignored: %s; indexing the layers instead",
			 adigest, img->manifest_digest, lfs_err_get());
	free(idx);
	free(scr);
	free(buf);
	free(mt);
}
