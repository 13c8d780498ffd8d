/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which image of an archive or layout the user means: --tag (docker's
 * reference normalisation, tags, image names, digests and their prefixes)
 * and --platform, over OCI index.json (nested indexes followed) and
 * docker-save's manifest.json, with one message listing the choices when
 * the choice is missing or ambiguous.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "layerfs/image.h"
#include "image_int.h"

/* Docker's reference normalisation: "busybox" is "docker.io/library/busybox:latest". */
static char *ref_normalise(const char *ref)
{
	const char *slash = strchr(ref, '/'), *last = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');
	const char *prefix = "docker.io/library/";
	char *out = lfs_xmalloc(strlen(ref) + 32);

	if (slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
		      memchr(ref, ':', (size_t)(slash - ref)) || !strncmp(ref, "localhost/", 10)))
		prefix = "";
	else if (slash)
		prefix = "docker.io/";
	/* A tag or digest is there when the last ':' is after the last '/'. */
	sprintf(out, "%s%s%s", prefix, ref,
		strchr(ref, '@') || (colon && (!last || colon > last)) ? "" : ":latest");
	return out;
}

static bool ref_match(const char *have, const char *want)
{
	char *h, *w;
	bool eq;

	if (!have)
		return false;
	if (!strcmp(have, want))
		return true;
	h = ref_normalise(have);
	w = ref_normalise(want);
	eq = !strcmp(h, w);
	free(h);
	free(w);
	return eq;
}

/* WANT as a digest: "sha256:<hex prefix>" or a bare prefix of at least 4 hex digits. */
static bool digest_match(const char *digest, const char *want)
{
	size_t n;

	if (!digest || strncmp(digest, "sha256:", 7))
		return false;
	if (!strncmp(want, "sha256:", 7))
		want += 7;
	else if (strlen(want) < 4)
		return false;
	n = strlen(want);
	return n && n <= 64 && lfs_is_hex(want, n) && !strncmp(digest + 7, want, n);
}

/* Append ITEM to the ", "-separated list in BUF, ending in "..." when full. */
static void list_add(char *buf, size_t n, const char *item)
{
	size_t used = strlen(buf);

	if (used + 2 + strlen(item) + 4 >= n) {
		if (used + 4 < n && !strstr(buf, "..."))
			strcat(buf, ", ...");
		return;
	}
	if (used)
		strcat(buf, ", ");
	strcat(buf, item);
}

static void short_digest(const char *digest, char out[20])
{
	snprintf(out, 20, "%.19s", digest);
}

/*
 * Pick the entry of index X for platform P: the best-scoring one, the first
 * among equals, as the order of an index is its preference.
 */
int lfs_pick_platform(const struct lfs_index *x, const bool *cand, const struct lfs_platform *p,
		      const char *what, size_t *out)
{
	char list[512] = "", pl[128];
	int best = 0;
	size_t i, nplain = 0, plain = 0;

	for (i = 0; i < x->n; i++) {
		int sc;

		if (cand && !cand[i])
			continue;
		if (!x->m[i].has_platform) {
			plain = i;
			nplain++;
			continue;
		}
		sc = lfs_platform_score(&x->m[i].platform, p);
		if (sc > best) {
			best = sc;
			*out = i;
		}
		list_add(list, sizeof(list), lfs_platform_str(&x->m[i].platform, pl, sizeof(pl)));
	}
	if (best)
		return 0;
	/* One entry without a platform is the image for every platform. */
	if (nplain == 1 && !list[0]) {
		*out = plain;
		return 0;
	}
	if (nplain > 1) {
		lfs_err_set("%s: lists %zu images without a platform; cannot choose", what, nplain);
		return -EINVAL;
	}
	lfs_err_set("%s: no image for platform %s; available: %s (choose with --platform)", what,
		    lfs_platform_str(p, pl, sizeof(pl)), list[0] ? list : "none");
	return -ENOENT;
}

/* Follow descriptor D down to an image manifest, choosing by platform in indexes. */
int lfs_oci_resolve(const struct lfs_src *s, const struct lfs_desc *d, const struct lfs_platform *p,
		    int depth, struct lfs_manifest *m, char **mdigest)
{
	struct lfs_index x = {0};
	char what[LFS_ERRMAX];
	size_t len, pick;
	char *buf;
	int kind, ret;

	snprintf(what, sizeof(what), "%s: blobs/%.6s/%s", s->path, d->digest, d->digest + 7);
	kind = lfs_json_doc_kind(d->media_type, what);
	if (kind < 0)
		return kind;
	if (depth >= LFS_INDEX_DEPTH) {
		lfs_err_set("%s: image indexes nested too deeply", what);
		return -ELOOP;
	}
	ret = lfs_src_read_blob(s, d, &buf, &len);
	if (ret < 0)
		return ret;
	if (kind == LFS_DOC_MANIFEST) {
		ret = lfs_json_manifest(buf, len, what, m);
		if (!ret)
			*mdigest = lfs_xstrdup(d->digest);
		free(buf);
		return ret;
	}
	ret = lfs_json_index(buf, len, what, &x);
	free(buf);
	if (!ret)
		ret = lfs_pick_platform(&x, NULL, p, what, &pick);
	if (!ret)
		ret = lfs_oci_resolve(s, &x.m[pick], p, depth + 1, m, mdigest);
	lfs_index_clear(&x);
	return ret;
}

/* Whether docker-save's manifest.json gives top-level entry D the tag WANT. */
static bool docker_tag_match(const struct lfs_src *s, const struct lfs_docker_manifest *dm,
			     const struct lfs_desc *d, const char *want)
{
	struct lfs_manifest m = {0};
	bool found = false;
	size_t len, i, j;
	char *buf;

	if (!dm || lfs_json_doc_kind(d->media_type, "") != LFS_DOC_MANIFEST ||
	    lfs_src_read_blob(s, d, &buf, &len) < 0)
		return false;
	if (lfs_json_manifest(buf, len, "", &m) == 0) {
		for (i = 0; i < dm->n && !found; i++) {
			const char *c = dm->img[i].config;

			if (strncmp(c, "blobs/sha256/", 13) || strcmp(c + 13, m.config.digest + 7))
				continue;
			for (j = 0; j < dm->img[i].ntags && !found; j++)
				found = ref_match(dm->img[i].tags[j], want);
		}
	}
	lfs_manifest_clear(&m);
	free(buf);
	lfs_err_clear();
	return found;
}

static const char *desc_label(const struct lfs_desc *d, char *buf, size_t n)
{
	char pl[128];

	if (d->image_name || d->ref_name)
		snprintf(buf, n, "%s", d->image_name ? d->image_name : d->ref_name);
	else
		short_digest(d->digest, buf);
	if (d->has_platform && strlen(buf) + 3 < n)
		snprintf(buf + strlen(buf), n - strlen(buf), " (%s)",
			 lfs_platform_str(&d->platform, pl, sizeof(pl)));
	return buf;
}

/* Choose among the entries of index.json by --tag, then by platform. */
int lfs_oci_select(const struct lfs_src *s, const struct lfs_index *x,
		   const struct lfs_docker_manifest *dm, const char *tag,
		   const struct lfs_platform *p, size_t *out, const char **ref)
{
	bool *cand = lfs_xcalloc(x->n, sizeof(*cand));
	char list[768] = "", label[160], shown[96];
	size_t i, first = 0, ncand = 0, ndistinct = 0, nplat = 0;
	int ret = 0;

	for (i = 0; i < x->n; i++) {
		const struct lfs_desc *d = &x->m[i];

		cand[i] = !tag;
		if (tag && ref_match(d->image_name, tag)) {
			cand[i] = true;
			*ref = d->image_name;
		} else if (tag && ref_match(d->ref_name, tag)) {
			cand[i] = true;
			*ref = d->ref_name;
		} else if (tag && docker_tag_match(s, dm, d, tag)) {
			cand[i] = true;
			*ref = tag;
		}
		ncand += cand[i];
	}
	for (i = 0; tag && !ncand && i < x->n; i++) {
		cand[i] = digest_match(x->m[i].digest, tag);
		ncand += cand[i];
	}
	for (i = 0; i < x->n; i++) {
		size_t j;

		list_add(list, sizeof(list), desc_label(&x->m[i], label, sizeof(label)));
		if (!cand[i])
			continue;
		nplat += x->m[i].has_platform;
		for (j = 0; j < i && !(cand[j] && !strcmp(x->m[j].digest, x->m[i].digest)); j++)
			;
		if (j == i && !ndistinct++)
			first = i;
	}
	if (!x->n) {
		lfs_err_set("%s: index.json lists no images", s->path);
		ret = -ENOENT;
	} else if (!ncand) {
		lfs_err_set("%s: no image matches --tag '%s'; available: %s", s->path,
			    lfs_show(tag, shown, sizeof(shown)), list);
		ret = -ENOENT;
	} else if (ndistinct == 1) {
		*out = first;
	} else if (nplat == ncand) {
		/* Per-platform manifests listed side by side (podman, buildah). */
		ret = lfs_pick_platform(x, cand, p, s->path, out);
	} else if (tag) {
		lfs_err_set("%s: --tag '%s' is ambiguous; it matches %zu images: %s", s->path,
			    lfs_show(tag, shown, sizeof(shown)), ndistinct, list);
		ret = -EINVAL;
	} else {
		lfs_err_set("%s: holds %zu images; choose one with --tag: %s", s->path, ndistinct,
			    list);
		ret = -EINVAL;
	}
	if (!ret && !*ref)
		*ref = x->m[*out].image_name ? x->m[*out].image_name : x->m[*out].ref_name;
	free(cand);
	return ret;
}

int lfs_docker_select(const struct lfs_src *s, const struct lfs_docker_manifest *dm,
		      const char *tag, size_t *out, const char **ref)
{
	char list[768] = "", shown[96], sd[20];
	size_t i, j, nmatch = 0;
	int pass;

	/* Tags first; an image ID (the config digest) or a prefix of it only if no tag matches. */
	for (pass = 0; tag && !nmatch && pass < 2; pass++) {
		for (i = 0; i < dm->n; i++) {
			char *id = lfs_docker_config_id(dm->img[i].config);
			const char *hit = pass && digest_match(id, tag) ? "" : NULL;

			for (j = 0; !pass && j < dm->img[i].ntags && !hit; j++)
				if (ref_match(dm->img[i].tags[j], tag))
					hit = dm->img[i].tags[j];
			/* The same image may be listed twice; that is no ambiguity. */
			if (hit && !(nmatch && !strcmp(dm->img[*out].config, dm->img[i].config))) {
				*ref = hit[0] ? hit : dm->img[i].ntags ? dm->img[i].tags[0] : NULL;
				*out = i;
				nmatch++;
			}
			free(id);
		}
	}
	for (i = 0; i < dm->n; i++) {
		char *id = lfs_docker_config_id(dm->img[i].config);

		for (j = 0; j < dm->img[i].ntags; j++)
			list_add(list, sizeof(list), dm->img[i].tags[j]);
		if (!dm->img[i].ntags) {
			short_digest(id ? id : dm->img[i].config, sd);
			list_add(list, sizeof(list), sd);
		}
		free(id);
	}
	if (!tag && dm->n == 1) {
		*out = 0;
		*ref = dm->img[0].ntags ? dm->img[0].tags[0] : NULL;
		return 0;
	}
	if (!dm->n) {
		lfs_err_set("%s: manifest.json lists no images", s->path);
		return -ENOENT;
	}
	if (!tag) {
		lfs_err_set("%s: holds %zu images; choose one with --tag: %s", s->path, dm->n,
			    list);
		return -EINVAL;
	}
	if (nmatch == 1)
		return 0;
	lfs_err_set(nmatch ? "%s: --tag '%s' is ambiguous; available: %s"
			   : "%s: no image matches --tag '%s'; available: %s",
		    s->path, lfs_show(tag, shown, sizeof(shown)), list);
	return nmatch ? -EINVAL : -ENOENT;
}
