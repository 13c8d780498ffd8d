/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a SOURCE file is: a layer (tar, gzip or zstd) or an image archive
 * (docker save, oci-archive).  Decided by structure: an image archive holds
 * an OCI layout (oci-layout, index.json and blobs) or a docker-save
 * manifest.json, and any layer may hold files of those names — an image
 * that copies index.json to / must still mount.  Reading a whole layer's
 * headers costs a pass over it, so that is done only for tarballs whose
 * first member is one an image archive starts with; every other tarball is
 * a layer at the price of one header.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/blob.h"
#include "layerfs/image.h"
#include "image_int.h"

/* "<64 lowercase hex>" followed by one of the characters in END. */
static bool hex_id(const char *n, const char *end)
{
	return strlen(n) >= 64 && lfs_is_hex(n, 64) && n[64] && strchr(end, n[64]);
}

/* Whether the first member of a tarball is one an image archive starts with. */
static bool image_first_name(const char *n)
{
	static const char *const names[] = {"oci-layout", "index.json", "manifest.json",
					    "repositories"};
	size_t i;

	for (i = 0; i < LFS_ARRAY_SIZE(names); i++)
		if (!strcmp(n, names[i]))
			return true;
	if (!strncmp(n, "blobs/", 6))
		return true;
	/* docker writes "<id>/" and "<id>.json" first; buildah and podman "<digest>.tar". */
	return hex_id(n, "/.") || (strlen(n) == 64 && lfs_is_hex(n, 64));
}

/* What the member names of an archive show. */
struct marks {
	bool blob;	/* blobs/<alg>/<hex> */
	bool docker_id; /* <id>/layer.tar, <id>.json, <id>.tar: docker-save members */
	bool legacy_id; /* <id>/...: a layer directory of docker before 1.10 */
};

static void scan_marks(const struct lfs_tarmembers *t, struct marks *m)
{
	size_t i, n = lfs_tarmembers_count(t);

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++) {
		const char *s = lfs_tarmembers_name(t, i), *slash;

		if (!strncmp(s, "blobs/", 6) && (slash = strchr(s + 6, '/')) && slash[1] &&
		    !strchr(slash + 1, '/'))
			m->blob = true;
		if (hex_id(s, "/") && s[65])
			m->legacy_id = true;
		if ((hex_id(s, "/") && !strcmp(s + 64, "/layer.tar")) ||
		    (hex_id(s, ".") && (!strcmp(s + 64, ".json") || !strcmp(s + 64, ".tar"))))
			m->docker_id = true;
	}
}

/*
 * Has the JSON document BUF the shape of docker save's manifest.json: an
 * array of objects, each with a Config and a Layers?  Only the shape: the
 * values are checked (strictly) when the image is opened, so that a damaged
 * image is reported as such.
 */
static bool docker_shape(const char *buf, size_t len)
{
	json_t *j = json_loadb(buf, len, 0, NULL), *el;
	bool yes = json_is_array(j) && json_array_size(j) > 0;
	size_t i;

	json_array_foreach(j, i, el) yes = yes && json_is_object(el) &&
					   json_object_get(el, "Config") &&
					   json_object_get(el, "Layers");
	json_decref(j);
	return yes;
}

/*
 * Is manifest.json a docker-save manifest?  Yes when it has the shape of one;
 * when it has not (damaged, too large, or unread in a compressed archive),
 * when the archive has docker's other members next to it: a damaged image is
 * then reported as such rather than mounted as a layer.
 */
static bool docker_manifest(const struct lfs_tarmembers *t, const struct marks *m, bool readable)
{
	bool yes = false;
	size_t len;
	char *buf;

	if (readable && lfs_tarmembers_read(t, "manifest.json", LFS_JSON_MAX, &buf, &len) == 0) {
		yes = docker_shape(buf, len);
		free(buf);
	}
	lfs_err_clear();
	/* docker save writes repositories beside manifest.json. */
	return yes || m->docker_id || m->blob || lfs_tarmembers_has(t, "repositories");
}

/*
 * The kind of the archive whose members are T.  READABLE: T's offsets are
 * those of the file (an uncompressed archive), so documents can be read.
 */
static int kind_of(const struct lfs_tarmembers *t, const char *path, bool readable,
		   enum lfs_image_kind *kind)
{
	struct marks m;

	scan_marks(t, &m);
	*kind = LFS_IMAGE_LAYERS;
	if (lfs_tarmembers_has(t, "oci-layout") && lfs_tarmembers_has(t, "index.json") && m.blob)
		*kind = LFS_IMAGE_OCI_ARCHIVE;
	else if (lfs_tarmembers_has(t, "manifest.json") && docker_manifest(t, &m, readable))
		*kind = LFS_IMAGE_DOCKER;
	else if (lfs_tarmembers_has(t, "repositories") && m.legacy_id) {
		lfs_err_set("%s: docker save archive without manifest.json (the format of "
			    "docker before 1.10) is not supported",
			    path);
		return -ENOTSUP;
	}
	return 0;
}

int lfs_tar_classify(int fd, const char *path, enum lfs_image_kind *kind,
		     struct lfs_tarmembers **tm)
{
	unsigned char head[512];
	char *first = NULL;
	enum lfs_comp comp;
	ssize_t n;
	int ret;

	*kind = LFS_IMAGE_LAYERS;
	*tm = NULL;
	do {
		n = pread(fd, head, sizeof(head), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = -errno;
		lfs_err_set("%s: %s", path, strerror(-ret));
		return ret;
	}
	comp = lfs_comp_detect(head, (size_t)n);
	ret = lfs_tar_first_name(fd, path, comp != LFS_COMP_NONE, &first);
	/* A damaged compressed layer is reported, more precisely, when it is scanned. */
	if (ret < 0 && comp != LFS_COMP_NONE) {
		lfs_err_clear();
		ret = 0;
	}
	if (ret < 0 || !first || !image_first_name(first))
		goto out;
	/* Only the names of a compressed stream are looked at: that is one pass over it. */
	ret = lfs_tarmembers_scan(tm, fd, path, comp != LFS_COMP_NONE);
	if (ret < 0 && comp != LFS_COMP_NONE) {
		lfs_err_clear();
		ret = 0;
		goto out;
	}
	if (ret == 0)
		ret = kind_of(*tm, path, comp == LFS_COMP_NONE, kind);
	if (ret == 0 && *kind != LFS_IMAGE_LAYERS && comp != LFS_COMP_NONE) {
		lfs_err_set("%s: compressed image archives are not supported; decompress it first",
			    path);
		ret = -ENOTSUP;
	}
out:
	if (ret < 0 || *kind == LFS_IMAGE_LAYERS) {
		lfs_tarmembers_free(*tm);
		*tm = NULL;
		*kind = LFS_IMAGE_LAYERS;
	}
	free(first);
	return ret;
}
