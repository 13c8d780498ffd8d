/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images: decide by content what the SOURCE arguments are (layer files or
 * plain directories used as layers, a docker-save tarball, an OCI image
 * layout directory or archive; a transport such as "oci:" only says which
 * of these it must be, and "docker://" hands over to image_registry.c),
 * pick the image the user asked for (--tag,
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

#include "layerfs/lfs.h"
#include "layerfs/blob.h"
#include "blobsrc.h"
#include "layerfs/image.h"
#include "image_int.h"

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
	char what[LFS_ERRMAX], rel[LFS_BLOB_REL_MAX];
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
		ret = lfs_oci_select(s, &x, has_dm ? &dm : NULL, o->tag, p, &pick, &ref);
	if (!ret)
		ret = lfs_oci_resolve(s, &x.m[pick], p, 0, &m, &img->manifest_digest);
	if (!ret)
		ret = lfs_src_read_blob(s, &m.config, &buf, &len);
	if (ret < 0)
		goto out;
	img->ref = ref ? lfs_xstrdup(ref) : NULL;
	img->config = buf;
	img->config_len = len;
	lfs_blob_rel(s, m.config.digest, rel);
	ret = parse_config(s, rel, buf, len, m.nlayers, &c);
	if (ret < 0)
		goto out;
	img->layers = lfs_xcalloc(m.nlayers, sizeof(*img->layers));
	for (i = 0; i < m.nlayers; i++) {
		struct lfs_layer_desc *l = &img->layers[i];

		ret = lfs_blob_rel(s, m.layers[i].digest, rel);
		if (!ret)
			ret = layer_locate(s, rel, l);
		if (ret < 0)
			goto out;
		img->nlayers++;
		l->digest = lfs_xstrdup(m.layers[i].digest);
		l->media_type = lfs_xstrdup(m.layers[i].media_type);
		/* A layer with a table of contents is found by its annotations too (layer_toc.c).
		 */
		lfs_layer_desc_take_annotations(l, &m.layers[i]);
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
		ret = lfs_docker_select(s, &dm, o->tag, &pick, &ref);
	if (ret < 0)
		goto out;
	di = &dm.img[pick];
	ret = lfs_src_read(s, di->config, &buf, &len);
	if (ret < 0)
		goto out;
	img->config = buf;
	img->config_len = len;
	img->ref = ref ? lfs_xstrdup(ref) : NULL;
	id = lfs_docker_config_id(di->config);
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

		/* A registry's blob came with its source. */
		if (l->src)
			continue;
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

/* An archive named through a transport must be of that kind (a directory is none). */
static int transport_check(const struct lfs_transport_src *tr, const char *path,
			   enum lfs_image_kind kind, const struct lfs_tarmembers *tm)
{
	bool ok = true;

	if (tr->t == LFS_TRANSPORT_OCI_ARCHIVE)
		ok = kind == LFS_IMAGE_OCI_ARCHIVE;
	/* Newer docker save writes an OCI layout with manifest.json beside it. */
	else if (tr->t == LFS_TRANSPORT_DOCKER_ARCHIVE)
		ok = kind == LFS_IMAGE_DOCKER ||
		     (kind == LFS_IMAGE_OCI_ARCHIVE && lfs_tarmembers_has(tm, "manifest.json"));
	if (ok)
		return 0;
	lfs_err_set("%s: is %s, not the %s that %s: names", path,
		    kind == LFS_IMAGE_LAYERS ? "a layer or directory" : lfs_image_kind_name(kind),
		    tr->t == LFS_TRANSPORT_OCI_ARCHIVE ? "OCI image archive"
						       : "docker save archive",
		    lfs_transport_name(tr->t));
	return -EINVAL;
}

int lfs_image_open(struct lfs_image **out, char *const *sources, size_t nsources,
		   const struct lfs_image_opts *opts)
{
	static const struct lfs_image_opts none = {0};
	struct lfs_image *img = lfs_xcalloc(1, sizeof(*img));
	struct lfs_transport_src tr = {0};
	struct lfs_image_opts sel;
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
	for (i = 0; nsources > 1 && i < nsources; i++) {
		if (lfs_transport_is_image(sources[i])) {
			lfs_err_set("%s: names an image; with several SOURCEs each must be a layer",
				    sources[i]);
			ret = -EINVAL;
			goto err;
		}
	}
	if (nsources > 1) {
		ret = open_layers(img, sources, nsources);
		if (ret < 0)
			goto err;
		goto done;
	}
	ret = lfs_transport_parse(sources[0], &tr);
	if (ret < 0)
		goto err;
	if (tr.ref && opts->tag && strcmp(tr.ref, opts->tag)) {
		lfs_err_set("%s: its REF '%s' and --tag '%s' name different images", sources[0],
			    tr.ref, opts->tag);
		ret = -EINVAL;
		goto err;
	}
	sel = *opts;
	if (tr.ref)
		sel.tag = tr.ref;
	opts = &sel;
	if (tr.t == LFS_TRANSPORT_DOCKER) {
		img->kind = LFS_IMAGE_REGISTRY;
		ret = lfs_registry_image_open(img, tr.path, opts, &plat);
		if (ret < 0)
			goto err;
		goto done;
	}
	s.path = tr.path;
	ret = open_file(s.path, &s.fd, &st);
	if (ret < 0)
		goto err;
	if (tr.t == LFS_TRANSPORT_OCI && !(S_ISDIR(st.st_mode) && is_layout(s.fd))) {
		lfs_err_set("%s: not an OCI image layout directory (no oci-layout file), as oci: "
			    "needs",
			    s.path);
		ret = -EINVAL;
		goto err_fd;
	}
	if (S_ISDIR(st.st_mode) && tr.t != LFS_TRANSPORT_NONE && tr.t != LFS_TRANSPORT_OCI) {
		lfs_err_set("%s: is a directory, not the archive that %s: names", s.path,
			    lfs_transport_name(tr.t));
		ret = -EINVAL;
		goto err_fd;
	}
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
	if (!ret)
		ret = transport_check(&tr, s.path, kind, s.tm);
	if (ret < 0) {
		lfs_tarmembers_free(s.tm);
		goto err_fd;
	}
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
	lfs_transport_clear(&tr);
	lfs_platform_clear(&plat);
	*out = img;
	return 0;

err_fd:
	close(s.fd);
err:
	lfs_transport_clear(&tr);
	lfs_platform_clear(&plat);
	lfs_image_free(img);
	return ret;
}

void lfs_image_free(struct lfs_image *img)
{
	size_t i, j;

	if (!img)
		return;
	lfs_image_annotations_free(img);
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
	lfs_image_remote_free(img->remote);
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
	case LFS_IMAGE_REGISTRY:
		return "registry image";
	}
	return "unknown";
}
