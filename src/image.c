/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images: decide by content what the SOURCE arguments are (layer files or
 * plain directories used as layers, a docker-save tarball, an OCI image
 * layout directory or archive), pick the image the user asked for (--tag,
 * --platform), and hand back the layers as byte ranges of open files, each
 * with the blob source it is read through (a directory layer: the open
 * directory).  The JSON documents on the way are checked against their
 * digests here; the layers themselves are verified later, when indexed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lfs.h"
#include "blob.h"
#include "blobsrc.h"
#include "image.h"
#include "image_int.h"

/* "blobs/sha512/" + 128 hex digits. */
#define REL_MAX 160

/* "blobs/<alg>/<hex>" for a descriptor's digest; only sha256 can be checked. */
static int blob_rel(const struct lfs_src *s, const char *digest, char rel[REL_MAX])
{
	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256) {
		lfs_err_set("%s: digest %.16s...: only sha256 digests are supported", s->path,
			    digest);
		return -ENOTSUP;
	}
	snprintf(rel, REL_MAX, "blobs/sha256/%s", digest + 7);
	return 0;
}

/* The blob of descriptor D, checked against its size and digest. */
static int read_blob(const struct lfs_src *s, const struct lfs_desc *d, char **buf, size_t *len)
{
	char rel[REL_MAX], sum[72];
	int ret;

	ret = blob_rel(s, d->digest, rel);
	if (!ret)
		ret = lfs_src_read(s, rel, buf, len);
	if (ret < 0)
		return ret;
	if ((uint64_t)d->size != *len) {
		lfs_err_set("%s: %s: %zu bytes, but the descriptor says %lld", s->path, rel, *len,
			    (long long)d->size);
		ret = -EBADMSG;
	} else {
		lfs_digest_of(*buf, *len, sum);
		if (strcmp(sum, d->digest)) {
			lfs_err_set("%s: %s: digest mismatch: the content is %s", s->path, rel,
				    sum);
			ret = -EBADMSG;
		}
	}
	if (ret < 0)
		free(*buf);
	return ret;
}

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
static int pick_platform(const struct lfs_index *x, const bool *cand, const struct lfs_platform *p,
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
static int oci_resolve(const struct lfs_src *s, const struct lfs_desc *d,
		       const struct lfs_platform *p, int depth, struct lfs_manifest *m,
		       char **mdigest)
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
	ret = read_blob(s, d, &buf, &len);
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
		ret = pick_platform(&x, NULL, p, what, &pick);
	if (!ret)
		ret = oci_resolve(s, &x.m[pick], p, depth + 1, m, mdigest);
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
	    read_blob(s, d, &buf, &len) < 0)
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
static int oci_select(const struct lfs_src *s, const struct lfs_index *x,
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
		ret = pick_platform(x, cand, p, s->path, out);
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

static int parse_config(const struct lfs_src *s, const char *rel, const char *buf, size_t len,
			size_t nlayers, struct lfs_image_config *c)
{
	char what[LFS_ERRMAX];
	int ret;

	snprintf(what, sizeof(what), "%s: %s", s->path, rel);
	ret = lfs_json_config(buf, len, what, c);
	if (!ret && c->diff_ids.n != nlayers) {
		lfs_err_set("%s: rootfs.diff_ids lists %zu layers, but the manifest %zu", what,
			    c->diff_ids.n, nlayers);
		lfs_image_config_clear(c);
		ret = -EINVAL;
	}
	return ret;
}

/* Where a layer's bytes are: the shared archive fd, or a new fd of a layout's blob. */
static int layer_locate(const struct lfs_src *s, const char *rel, struct lfs_layer_desc *l)
{
	int ret = lfs_src_locate(s, rel, &l->fd, &l->off, &l->len);

	if (!ret) {
		l->name = lfs_xmalloc(strlen(s->path) + strlen(rel) + 2);
		sprintf(l->name, "%s%s%s", s->path, s->tm ? ":" : "/", rel);
	}
	return ret;
}

static int oci_open(struct lfs_image *img, const struct lfs_src *s, const struct lfs_image_opts *o,
		    const struct lfs_platform *p)
{
	struct lfs_docker_manifest dm = {0};
	struct lfs_manifest m = {0};
	struct lfs_image_config c = {0};
	struct lfs_index x = {0};
	char what[LFS_ERRMAX], rel[REL_MAX];
	const char *ref = NULL;
	size_t len, i, pick;
	bool has_dm;
	char *buf;
	int ret;

	if (!s->tm && !lfs_src_has(s, "oci-layout")) {
		lfs_err_set("%s: not an OCI image layout (no oci-layout file)", s->path);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "%s: oci-layout", s->path);
	ret = lfs_src_read(s, "oci-layout", &buf, &len);
	if (ret < 0)
		return ret;
	ret = lfs_json_layout(buf, len, what);
	free(buf);
	if (ret < 0)
		return ret;
	snprintf(what, sizeof(what), "%s: index.json", s->path);
	ret = lfs_src_read(s, "index.json", &buf, &len);
	if (ret < 0)
		return ret;
	ret = lfs_json_index(buf, len, what, &x);
	free(buf);
	if (ret < 0)
		return ret;
	/* Newer docker save writes its RepoTags next to the layout. */
	has_dm = lfs_src_has(s, "manifest.json");
	if (has_dm) {
		snprintf(what, sizeof(what), "%s: manifest.json", s->path);
		ret = lfs_src_read(s, "manifest.json", &buf, &len);
		if (ret < 0)
			goto out;
		ret = lfs_json_docker(buf, len, what, &dm);
		free(buf);
	}
	if (!ret)
		ret = oci_select(s, &x, has_dm ? &dm : NULL, o->tag, p, &pick, &ref);
	if (!ret)
		ret = oci_resolve(s, &x.m[pick], p, 0, &m, &img->manifest_digest);
	if (!ret)
		ret = read_blob(s, &m.config, &buf, &len);
	if (ret < 0)
		goto out;
	img->ref = ref ? lfs_xstrdup(ref) : NULL;
	img->config = buf;
	img->config_len = len;
	blob_rel(s, m.config.digest, rel);
	ret = parse_config(s, rel, buf, len, m.nlayers, &c);
	if (ret < 0)
		goto out;
	img->layers = lfs_xcalloc(m.nlayers, sizeof(*img->layers));
	for (i = 0; i < m.nlayers; i++) {
		struct lfs_layer_desc *l = &img->layers[i];

		ret = blob_rel(s, m.layers[i].digest, rel);
		if (!ret)
			ret = layer_locate(s, rel, l);
		if (ret < 0)
			goto out;
		img->nlayers++;
		l->digest = lfs_xstrdup(m.layers[i].digest);
		l->media_type = lfs_xstrdup(m.layers[i].media_type);
		if (l->len != (uint64_t)m.layers[i].size) {
			lfs_err_set("%s: %llu bytes, but the manifest says %lld", l->name,
				    (unsigned long long)l->len, (long long)m.layers[i].size);
			ret = -EBADMSG;
			goto out;
		}
	}
	img->cfg = lfs_xmalloc(sizeof(*img->cfg));
	*img->cfg = c;
	memset(&c, 0, sizeof(c));
out:
	lfs_image_config_clear(&c);
	lfs_manifest_clear(&m);
	lfs_docker_manifest_clear(&dm);
	lfs_index_clear(&x);
	return ret;
}

/* The image ID docker derives from the config member's name, or NULL. */
static char *docker_config_id(const char *path)
{
	const char *hex = NULL;
	char *id;

	if (strlen(path) == 64 + 5 && !strcmp(path + 64, ".json"))
		hex = path;
	else if (!strncmp(path, "blobs/sha256/", 13) && strlen(path) == 13 + 64)
		hex = path + 13;
	if (!hex || !lfs_is_hex(hex, 64))
		return NULL;
	id = lfs_xmalloc(72);
	sprintf(id, "sha256:%.64s", hex);
	return id;
}

static int docker_select(const struct lfs_src *s, const struct lfs_docker_manifest *dm,
			 const char *tag, size_t *out, const char **ref)
{
	char list[768] = "", shown[96], sd[20];
	size_t i, j, nmatch = 0;
	int pass;

	/* Tags first; an image ID (the config digest) or a prefix of it only if no tag matches. */
	for (pass = 0; tag && !nmatch && pass < 2; pass++) {
		for (i = 0; i < dm->n; i++) {
			char *id = docker_config_id(dm->img[i].config);
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
		char *id = docker_config_id(dm->img[i].config);

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

static int docker_open(struct lfs_image *img, const struct lfs_src *s,
		       const struct lfs_image_opts *o)
{
	struct lfs_docker_manifest dm = {0};
	const struct lfs_docker_image *di;
	struct lfs_image_config c = {0};
	char what[LFS_ERRMAX], sum[72];
	const char *ref = NULL;
	char *buf, *id = NULL;
	size_t len, i, pick = 0;
	int ret;

	snprintf(what, sizeof(what), "%s: manifest.json", s->path);
	ret = lfs_src_read(s, "manifest.json", &buf, &len);
	if (ret < 0)
		return ret;
	ret = lfs_json_docker(buf, len, what, &dm);
	free(buf);
	if (!ret)
		ret = docker_select(s, &dm, o->tag, &pick, &ref);
	if (ret < 0)
		goto out;
	di = &dm.img[pick];
	ret = lfs_src_read(s, di->config, &buf, &len);
	if (ret < 0)
		goto out;
	img->config = buf;
	img->config_len = len;
	img->ref = ref ? lfs_xstrdup(ref) : NULL;
	id = docker_config_id(di->config);
	if (id) {
		lfs_digest_of(buf, len, sum);
		if (strcmp(sum, id)) {
			lfs_err_set("%s: %s: digest mismatch: the content is %s", s->path,
				    di->config, sum);
			ret = -EBADMSG;
			goto out;
		}
	}
	ret = parse_config(s, di->config, buf, len, di->nlayers, &c);
	if (ret < 0)
		goto out;
	img->layers = lfs_xcalloc(di->nlayers, sizeof(*img->layers));
	for (i = 0; i < di->nlayers; i++) {
		struct lfs_layer_desc *l = &img->layers[i];

		ret = layer_locate(s, di->layers[i], l);
		if (ret < 0)
			goto out;
		img->nlayers++;
		l->diff_id = lfs_xstrdup(c.diff_ids.v[i]);
		if (!strncmp(di->layers[i], "blobs/sha256/", 13)) {
			l->digest = lfs_xmalloc(72);
			snprintf(l->digest, 72, "sha256:%s", di->layers[i] + 13);
			if (lfs_digest_check(l->digest) < 0) {
				free(l->digest);
				l->digest = NULL;
			}
		}
	}
	img->cfg = lfs_xmalloc(sizeof(*img->cfg));
	*img->cfg = c;
	memset(&c, 0, sizeof(c));
out:
	free(id);
	lfs_image_config_clear(&c);
	lfs_docker_manifest_clear(&dm);
	return ret;
}

static int open_file(const char *path, int *fd, struct stat *st)
{
	int ret;

	/* O_NONBLOCK: opening a FIFO must not hang before the type check (files ignore it). */
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0 || fstat(*fd, st) < 0) {
		ret = -errno;
		lfs_err_set("%s: %s", path, strerror(-ret));
		if (*fd >= 0)
			close(*fd);
		return ret;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		lfs_err_set("%s: not a regular file or directory", path);
		close(*fd);
		return -EINVAL;
	}
	return 0;
}

/*
 * A directory holding an "oci-layout" file is an OCI image layout; any
 * other directory is a layer read in place (an overlayfs lowerdir).
 */
static bool is_layout(int dirfd)
{
	return faccessat(dirfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Several SOURCES: every one must be a layer (file or directory). */
static int open_layers(struct lfs_image *img, char *const *sources, size_t n)
{
	struct lfs_tarmembers *tm;
	enum lfs_image_kind kind;
	struct stat st;
	size_t i;
	int fd, ret;

	img->layers = lfs_xcalloc(n, sizeof(*img->layers));
	for (i = 0; i < n; i++) {
		/* A directory is not classified: TM must not be left unset. */
		tm = NULL;
		kind = LFS_IMAGE_LAYERS;
		ret = open_file(sources[i], &fd, &st);
		if (ret < 0)
			return ret;
		if (S_ISDIR(st.st_mode))
			kind = is_layout(fd) ? LFS_IMAGE_OCI_DIR : LFS_IMAGE_LAYERS;
		else
			ret = lfs_tar_classify(fd, sources[i], &kind, &tm);
		if (!ret && kind != LFS_IMAGE_LAYERS) {
			lfs_tarmembers_free(tm);
			lfs_err_set(
			    "%s: is %s; with several SOURCEs each must be a layer", sources[i],
			    S_ISDIR(st.st_mode) ? "an OCI image layout" : "an image archive");
			ret = -EINVAL;
		}
		if (ret < 0) {
			close(fd);
			return ret;
		}
		img->layers[i].fd = fd;
		img->layers[i].len = S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size;
		img->layers[i].name = lfs_xstrdup(sources[i]);
		img->nlayers++;
	}
	return 0;
}

/* Every layer file gets the source its blob is read through; a directory has none. */
static int layer_sources(struct lfs_image *img)
{
	struct stat st;
	int ret = 0;

	for (size_t i = 0; i < img->nlayers && !ret; i++) {
		struct lfs_layer_desc *l = &img->layers[i];

		if (fstat(l->fd, &st) < 0 || !S_ISDIR(st.st_mode))
			ret = lfs_blobsrc_fd_new(&l->src, l->fd, l->off, l->len, l->name);
	}
	return ret;
}

int lfs_layer_desc_src(const struct lfs_layer_desc *d, struct lfs_blobsrc **out)
{
	if (d->src) {
		*out = lfs_blobsrc_ref(d->src);
		return 0;
	}
	return lfs_blobsrc_fd_new(out, d->fd, d->off, d->len, d->name);
}

int lfs_image_open(struct lfs_image **out, char *const *sources, size_t nsources,
		   const struct lfs_image_opts *opts)
{
	static const struct lfs_image_opts none = {0};
	struct lfs_image *img = lfs_xcalloc(1, sizeof(*img));
	struct lfs_platform plat = {0};
	struct lfs_src s = {.fd = -1};
	enum lfs_image_kind kind;
	struct stat st;
	size_t i;
	int ret;

	if (!opts)
		opts = &none;
	if (!nsources) {
		lfs_err_set("no SOURCE given");
		ret = -EINVAL;
		goto err;
	}
	ret = opts->platform ? lfs_platform_parse(&plat, opts->platform) : lfs_platform_host(&plat);
	if (ret < 0)
		goto err;
	if (nsources > 1 && opts->tag) {
		lfs_err_set("--tag selects an image, but several SOURCEs are layer files");
		ret = -EINVAL;
		goto err;
	}
	if (nsources > 1) {
		ret = open_layers(img, sources, nsources);
		if (ret < 0)
			goto err;
		goto done;
	}
	s.path = sources[0];
	ret = open_file(s.path, &s.fd, &st);
	if (ret < 0)
		goto err;
	if (S_ISDIR(st.st_mode) && is_layout(s.fd)) {
		img->kind = LFS_IMAGE_OCI_DIR;
		ret = oci_open(img, &s, opts, &plat);
		close(s.fd);
		s.fd = -1;
		if (ret < 0)
			goto err;
		goto done;
	}
	kind = LFS_IMAGE_LAYERS;
	ret = S_ISDIR(st.st_mode) ? 0 : lfs_tar_classify(s.fd, s.path, &kind, &s.tm);
	if (ret < 0)
		goto err_fd;
	img->kind = kind;
	if (kind == LFS_IMAGE_LAYERS && opts->tag) {
		lfs_err_set("%s: is a layer %s, but --tag selects an image", s.path,
			    S_ISDIR(st.st_mode) ? "directory (it holds no oci-layout)" : "file");
		ret = -EINVAL;
		goto err_fd;
	}
	if (kind == LFS_IMAGE_LAYERS) {
		img->layers = lfs_xcalloc(1, sizeof(*img->layers));
		img->layers[0] =
		    (struct lfs_layer_desc){.name = lfs_xstrdup(s.path),
					    .fd = s.fd,
					    .len = S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size};
		img->nlayers = 1;
		goto done;
	}
	ret =
	    kind == LFS_IMAGE_DOCKER ? docker_open(img, &s, opts) : oci_open(img, &s, opts, &plat);
	lfs_tarmembers_free(s.tm);
	/* The archive fd now belongs to the layers that read from it, if any. */
	for (i = 0; i < img->nlayers; i++)
		if (img->layers[i].fd == s.fd && ret < 0)
			img->layers[i].fd = -1;
	if (ret < 0)
		goto err_fd;
	if (!img->nlayers)
		close(s.fd);
done:
	ret = layer_sources(img);
	if (ret < 0)
		goto err;
	lfs_platform_clear(&plat);
	*out = img;
	return 0;

err_fd:
	close(s.fd);
err:
	lfs_platform_clear(&plat);
	lfs_image_free(img);
	return ret;
}

void lfs_image_free(struct lfs_image *img)
{
	size_t i, j;

	if (!img)
		return;
	for (i = 0; i < img->nlayers; i++) {
		struct lfs_layer_desc *l = &img->layers[i];

		/* Layers of one archive share its fd: close each fd once. */
		for (j = 0; j < i && img->layers[j].fd != l->fd; j++)
			;
		if (l->fd >= 0 && j == i)
			close(l->fd);
		lfs_blobsrc_unref(l->src);
		free(l->name);
		free(l->digest);
		free(l->diff_id);
		free(l->media_type);
	}
	free(img->layers);
	free(img->config);
	if (img->cfg)
		lfs_image_config_clear(img->cfg);
	free(img->cfg);
	free(img->manifest_digest);
	free(img->ref);
	free(img);
}

const char *lfs_image_kind_name(enum lfs_image_kind k)
{
	switch (k) {
	case LFS_IMAGE_LAYERS:
		return "layer files";
	case LFS_IMAGE_DOCKER:
		return "docker save archive";
	case LFS_IMAGE_OCI_DIR:
		return "OCI image layout";
	case LFS_IMAGE_OCI_ARCHIVE:
		return "OCI image archive";
	}
	return "unknown";
}
