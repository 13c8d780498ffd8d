/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: image archives.  The input is a tarball (a docker save, an
 * oci-archive, or anything else) in a memfd; it goes through
 *   - the member table (lfs_tarmembers_*): every listed name must be
 *     found, and what is read must be the archive's own bytes;
 *   - the classification of a SOURCE (lfs_tar_classify, lfs_tar_first_name);
 *   - lfs_image_open on /proc/self/fd/N, once as the user gives no options
 *     and once with a --tag and --platform picked from the input's hash;
 *     the layers it hands back must lie inside the archive, and are indexed
 *     (most fail their digest check: the indexer's error paths get fuzzed).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzzutil.h"
#include "image_int.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"

#define NAME	   "fuzz.tar"
#define MAX_READ   (1u << 20)
#define MAX_LAYERS 4
#define MAX_PLAIN  (4u << 20)

/* Names worth asking for whatever the archive holds (links, "..", odd forms). */
static const char *const probes[] = {
    "manifest.json",
    "index.json",
    "oci-layout",
    "repositories",
    "./manifest.json",
    "blobs/sha256",
    "blobs//sha256/",
    "../manifest.json",
    "/manifest.json",
    "",
    ".",
    "a/../b",
};

/* Tags of the seeds (see make-corpus.py) and odd forms of references. */
static const char *const tags[] = {
    NULL,      "latest",	"fuzz:latest",	  "docker.io/library/fuzz:1",
    "decoy",   "a:1",		"localhost/fuzz", "sha256:",
    "busybox", "a@sha256:0000", "0123",
};

static const char *const platforms[] = {"linux/amd64", "linux/arm64/v8", "linux/arm/v6",
					"windows/amd64"};

static void check_read(const struct lfs_tarmembers *t, const char *name, const uint8_t *data,
		       size_t size)
{
	uint64_t off = 0, len = 0;
	size_t blen = 0;
	char *buf = NULL;
	int rc;

	lfs_err_clear();
	rc = lfs_tarmembers_find(t, name, &off, &len);
	if (rc) {
		fuzz_check_err(rc, NAME, "lfs_tarmembers_find");
		return;
	}
	if (off > size || len > size - off)
		fuzz_fail("member '%s' at [%llu, +%llu) lies outside the %zu-byte archive", name,
			  (unsigned long long)off, (unsigned long long)len, size);
	lfs_err_clear();
	rc = lfs_tarmembers_read(t, name, MAX_READ, &buf, &blen);
	if (rc) {
		fuzz_check_err(rc, NAME, "lfs_tarmembers_read");
		if (len <= MAX_READ)
			fuzz_fail("member '%s' (%llu bytes) found but not read", name,
				  (unsigned long long)len);
		return;
	}
	if (blen != len || memcmp(buf, data + off, len) || buf[blen])
		fuzz_fail("member '%s': lfs_tarmembers_read does not return the bytes "
			  "lfs_tarmembers_find locates",
			  name);
	free(buf);
}

static void members(int fd, const uint8_t *data, size_t size)
{
	struct lfs_tarmembers *t = NULL;
	const char *prev = NULL;
	size_t n;
	int rc;

	lfs_err_clear();
	rc = lfs_tarmembers_open(&t, fd, NAME);
	if (rc) {
		fuzz_check_err(rc, NAME, "lfs_tarmembers_open");
		return;
	}
	n = lfs_tarmembers_count(t);
	for (size_t i = 0; i < n; i++) {
		const char *name = lfs_tarmembers_name(t, i);
		char *copy;

		if (!name)
			fuzz_fail("member %zu of %zu has no name", i, n);
		if (prev && strcmp(prev, name) >= 0)
			fuzz_fail("member table not sorted and unique: '%s' then '%s'", prev, name);
		copy = lfs_xstrdup(name);
		if (lfs_tar_normalise(copy) < 0 || strcmp(copy, name))
			fuzz_fail("member name '%s' is not normalised", name);
		free(copy);
		if (!lfs_tarmembers_has(t, name))
			fuzz_fail("listed member '%s' is not found", name);
		if (i < 64)
			check_read(t, name, data, size);
		prev = name;
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(probes); i++) {
		lfs_tarmembers_has(t, probes[i]);
		check_read(t, probes[i], data, size);
	}
	lfs_tarmembers_free(t);
}

static void classify(int fd)
{
	struct lfs_tarmembers *t = NULL;
	enum lfs_image_kind kind;
	char *first = NULL;
	int rc;

	lfs_err_clear();
	rc = lfs_tar_classify(fd, NAME, &kind, &t);
	if (rc)
		fuzz_check_err(rc, NAME, "lfs_tar_classify");
	else if ((kind == LFS_IMAGE_LAYERS) != !t)
		fuzz_fail("lfs_tar_classify: kind %d with%s a member table", kind, t ? "" : "out");
	lfs_tarmembers_free(t);
	for (int compressed = 0; compressed < 2; compressed++) {
		lfs_err_clear();
		rc = lfs_tar_first_name(fd, NAME, compressed, &first);
		if (rc)
			fuzz_check_err(rc, NAME, "lfs_tar_first_name");
		else
			free(first);
	}
}

static void open_image(const char *path, const struct lfs_image_opts *o, size_t size,
		       const struct stat *st)
{
	struct lfs_layer_opts lo = {.max_plain = MAX_PLAIN};
	struct lfs_image *img = NULL;
	char *src = (char *)path;
	int rc;

	lfs_err_clear();
	rc = lfs_image_open(&img, &src, 1, o);
	if (rc) {
		fuzz_check_err(rc, path, "lfs_image_open");
		return;
	}
	if (img->config && strlen(img->config) > img->config_len)
		fuzz_fail("config longer than config_len");
	for (size_t i = 0; i < img->nlayers; i++) {
		struct lfs_layer_desc *d = &img->layers[i];
		struct lfs_layer *l = NULL;
		struct stat ls;

		if (d->fd < 0 || fstat(d->fd, &ls) < 0)
			fuzz_fail("layer %zu: no open fd", i);
		if (ls.st_ino == st->st_ino && ls.st_dev == st->st_dev &&
		    (d->off > size || d->len > size - d->off))
			fuzz_fail("layer %zu at [%llu, +%llu) lies outside the %zu-byte archive", i,
				  (unsigned long long)d->off, (unsigned long long)d->len, size);
		if (!d->name || !strstr(d->name, path))
			fuzz_fail("layer %zu is named '%s'", i, d->name ? d->name : "(null)");
		if (i >= MAX_LAYERS)
			continue;
		lfs_err_clear();
		rc = lfs_layer_index(&l, d, (uint32_t)i, &lo);
		if (rc)
			fuzz_check_err(rc, d->name, "lfs_layer_index");
		else
			lfs_layer_free(l);
	}
	lfs_image_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = XXH3_64bits(data, size);
	struct lfs_image_opts none = {.platform = "linux/amd64"};
	struct lfs_image_opts pick = {
	    .tag = tags[h % LFS_ARRAY_SIZE(tags)],
	    .platform = platforms[(h >> 8) % LFS_ARRAY_SIZE(platforms)],
	};
	int lowest = fuzz_fd_lowest(), fd;
	char path[64];
	struct stat st;

	fd = fuzz_memfd(data, size);
	if (fstat(fd, &st) < 0)
		fuzz_fail("fstat of the memfd");
	members(fd, data, size);
	classify(fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	open_image(path, &none, size, &st);
	open_image(path, &pick, size, &st);
	close(fd);
	fuzz_fd_check(lowest);
	return 0;
}
