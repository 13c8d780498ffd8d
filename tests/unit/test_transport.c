/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of SOURCE in the containers-transports spelling
 * (lib/image_transport.c): which prefixes are transports and which are
 * plain paths, PATH and REF split as containers/image does, the malformed
 * forms, and what lfs_image_open says for a transport that does not fit
 * (oci: on a plain directory, REF against --tag, an image among layers).
 * And what a registry's layer descriptor (no fd, a blob source, a digest)
 * gets from the layer code and the cache: the tar front end, a key from the
 * digest alone, no key without one, and no index when the digest is wrong.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blobsrc.h"
#include "cache.h"
#include "image_int.h"
#include "layerfs/layer.h"
#include "layerfs/image.h"
#include "layerfs/lfs.h"

static void expect_ok(const char *s, enum lfs_transport t, const char *path, const char *ref)
{
	struct lfs_transport_src tr;

	if (lfs_transport_parse(s, &tr) < 0)
		fail_msg("%s: %s", s, lfs_err_get());
	assert_int_equal(tr.t, t);
	assert_string_equal(tr.path, path);
	if (ref)
		assert_string_equal(tr.ref, ref);
	else
		assert_null(tr.ref);
	assert_int_equal(lfs_transport_is_image(s), t != LFS_TRANSPORT_NONE);
	lfs_transport_clear(&tr);
}

static void expect_bad(const char *s, const char *msg)
{
	struct lfs_transport_src tr;

	assert_int_equal(lfs_transport_parse(s, &tr), -EINVAL);
	if (!strstr(lfs_err_get(), msg))
		fail_msg("%s: got \"%s\", want \"...%s...\"", s, lfs_err_get(), msg);
	assert_null(strchr(lfs_err_get(), '\n'));
	assert_null(tr.path);
}

static void test_plain_paths(void **state)
{
	(void)state;
	/* Only the four names are transports: anything else is a path, ':' and all. */
	expect_ok("img.tar", LFS_TRANSPORT_NONE, "img.tar", NULL);
	expect_ok("a:b.tar", LFS_TRANSPORT_NONE, "a:b.tar", NULL);
	expect_ok("/x/oci:y", LFS_TRANSPORT_NONE, "/x/oci:y", NULL);
	expect_ok("./oci:y", LFS_TRANSPORT_NONE, "./oci:y", NULL);
	expect_ok("oci", LFS_TRANSPORT_NONE, "oci", NULL);
	expect_ok("docker", LFS_TRANSPORT_NONE, "docker", NULL);
	expect_ok("OCI:dir", LFS_TRANSPORT_NONE, "OCI:dir", NULL);
	expect_ok("ocifoo:dir", LFS_TRANSPORT_NONE, "ocifoo:dir", NULL);
	expect_ok("containers-storage:x", LFS_TRANSPORT_NONE, "containers-storage:x", NULL);
	expect_ok("dir:x", LFS_TRANSPORT_NONE, "dir:x", NULL);
	expect_ok("http://x/y", LFS_TRANSPORT_NONE, "http://x/y", NULL);
}

static void test_transports(void **state)
{
	(void)state;
	expect_ok("oci:dir", LFS_TRANSPORT_OCI, "dir", NULL);
	expect_ok("oci:/abs/dir:latest", LFS_TRANSPORT_OCI, "/abs/dir", "latest");
	/* PATH ends at the first ':' (containers/image): REF may hold one. */
	expect_ok("oci:dir:app:1.0", LFS_TRANSPORT_OCI, "dir", "app:1.0");
	expect_ok("oci-archive:img.tar", LFS_TRANSPORT_OCI_ARCHIVE, "img.tar", NULL);
	expect_ok("oci-archive:img.tar:v2", LFS_TRANSPORT_OCI_ARCHIVE, "img.tar", "v2");
	expect_ok("docker-archive:s.tar", LFS_TRANSPORT_DOCKER_ARCHIVE, "s.tar", NULL);
	expect_ok("docker-archive:s.tar:busybox:latest", LFS_TRANSPORT_DOCKER_ARCHIVE, "s.tar",
		  "busybox:latest");
	expect_ok("docker://busybox", LFS_TRANSPORT_DOCKER, "docker://busybox", NULL);
	expect_ok("docker://127.0.0.1:5000/a/b:t", LFS_TRANSPORT_DOCKER,
		  "docker://127.0.0.1:5000/a/b:t", NULL);
	assert_string_equal(lfs_transport_name(LFS_TRANSPORT_OCI_ARCHIVE), "oci-archive");
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("oci:", "no PATH after 'oci:'");
	expect_bad("oci::latest", "no PATH after 'oci:'");
	expect_bad("oci-archive:", "no PATH after 'oci-archive:'");
	expect_bad("docker-archive::x", "no PATH after 'docker-archive:'");
	expect_bad("oci:dir:", "empty REF");
	expect_bad("docker-archive:s.tar:", "empty REF");
	expect_bad("docker:busybox", "docker://[HOST[:PORT]/]REPO");
	expect_bad("docker://", "docker://[HOST[:PORT]/]REPO");
	expect_bad("docker:/x", "docker://[HOST[:PORT]/]REPO");
}

/* lfs_image_open: one line, -errno, nothing opened. */
static void expect_open_fails(char *const *src, size_t n, const char *tag, int err, const char *msg)
{
	struct lfs_image_opts o = {.tag = tag};
	struct lfs_image *img = NULL;

	assert_int_equal(lfs_image_open(&img, src, n, &o), err);
	assert_null(img);
	if (!strstr(lfs_err_get(), msg))
		fail_msg("got \"%s\", want \"...%s...\"", lfs_err_get(), msg);
	assert_null(strchr(lfs_err_get(), '\n'));
}

static void test_open(void **state)
{
	char dir[] = "/tmp/lfs-transport-XXXXXX", file[128], layout[64], src[160], src2[96];
	char *one[1] = {src}, *two[2] = {file, src2};
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/l.tar", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	/* An empty tar: two zero blocks. */
	for (int i = 0; i < 1024; i++)
		fputc(0, f);
	fclose(f);

	snprintf(src, sizeof(src), "oci:%s", dir);
	expect_open_fails(one, 1, NULL, -EINVAL, "not an OCI image layout directory");
	snprintf(src, sizeof(src), "oci-archive:%s", dir);
	expect_open_fails(one, 1, NULL, -EINVAL, "is a directory, not the archive");
	snprintf(src, sizeof(src), "oci-archive:%s", file);
	expect_open_fails(one, 1, NULL, -EINVAL, "not the OCI image archive that oci-archive:");
	snprintf(src, sizeof(src), "docker-archive:%s", file);
	expect_open_fails(one, 1, NULL, -EINVAL, "not the docker save archive");
	snprintf(src, sizeof(src), "oci:%s/none:latest", dir);
	expect_open_fails(one, 1, NULL, -ENOENT, "/none");
	snprintf(src, sizeof(src), "oci:%s:a", dir);
	expect_open_fails(one, 1, "b", -EINVAL, "its REF 'a' and --tag 'b' name different");
	snprintf(src, sizeof(src), "oci:%s", dir);
	expect_open_fails(one, 1, NULL, -EINVAL, "oci-layout");
	snprintf(src2, sizeof(src2), "oci:%s", dir);
	expect_open_fails(two, 2, NULL, -EINVAL, "names an image; with several SOURCEs");
	expect_open_fails((char *[]){"oci:"}, 1, NULL, -EINVAL, "no PATH");

	/* A layout directory named by oci: gets past the transport (then fails on index.json). */
	snprintf(layout, sizeof(layout), "%s/lay", dir);
	assert_int_equal(mkdir(layout, 0755), 0);
	snprintf(file, sizeof(file), "%s/oci-layout", layout);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("{\"imageLayoutVersion\": \"1.0.0\"}", f);
	fclose(f);
	snprintf(src, sizeof(src), "oci:%s:x", layout);
	expect_open_fails(one, 1, "x", -ENOENT, "index.json");
	unlink(file);
	rmdir(layout);
	snprintf(file, sizeof(file), "%s/l.tar", dir);
	unlink(file);
	rmdir(dir);
}

/* A one-file tar (uncompressed) in a temporary file; its fd and sha256. */
static int tar_file(char digest[72], size_t *len)
{
	static char tar[3 * 512];
	char path[] = "/tmp/lfs-transport-tar-XXXXXX";
	int fd = mkstemp(path);
	unsigned sum = 0;

	assert_true(fd >= 0);
	unlink(path);
	memset(tar, 0, sizeof(tar));
	strcpy(tar, "f");
	memcpy(tar + 100, "0000644", 7);
	memcpy(tar + 108, "0000000", 7);
	memcpy(tar + 116, "0000000", 7);
	memcpy(tar + 124, "00000000000", 11);
	memcpy(tar + 136, "00000000000", 11);
	tar[156] = '0';
	memcpy(tar + 257, "ustar", 6);
	memcpy(tar + 263, "00", 2);
	memset(tar + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)tar[i];
	snprintf(tar + 148, 8, "%06o", sum);
	assert_int_equal(write(fd, tar, sizeof(tar)), (ssize_t)sizeof(tar));
	lfs_digest_of(tar, sizeof(tar), digest);
	*len = sizeof(tar);
	return fd;
}

static void test_registry_desc(void **state)
{
	char digest[72], bad[72];
	uint8_t k1[16], k2[16];
	struct lfs_layer *l = NULL;
	struct lfs_layer_desc d = {.fd = -1, .name = "reg/x@sha256"};
	size_t len;
	int fd = tar_file(digest, &len);

	(void)state;
	assert_int_equal(lfs_blobsrc_fd_new(&d.src, fd, 0, len, "blob"), 0);
	close(fd);
	d.len = len;
	d.digest = digest;
	/* No fd: the tar front end all the same, cacheable, keyed by the digest. */
	assert_int_equal(lfs_layer_cacheable(&d), 1);
	assert_int_equal(lfs_cache_key(&d, k1), 0);
	assert_int_equal(lfs_cache_key(&d, k2), 0);
	assert_memory_equal(k1, k2, 16);
	d.diff_id = digest;
	assert_int_equal(lfs_cache_key(&d, k2), 0);
	assert_memory_not_equal(k1, k2, 16);
	d.diff_id = NULL;
	assert_int_equal(lfs_layer_index(&l, &d, 0, NULL), 0);
	assert_int_equal(l->nentries, 1);
	lfs_layer_free(l);
	l = NULL;
	/* Another digest: another key, and the pass refuses the blob. */
	snprintf(bad, sizeof(bad), "sha256:%064d", 0);
	d.digest = bad;
	assert_int_equal(lfs_cache_key(&d, k2), 0);
	assert_memory_not_equal(k1, k2, 16);
	assert_int_equal(lfs_layer_index(&l, &d, 0, NULL), -EBADMSG);
	assert_null(l);
	assert_non_null(strstr(lfs_err_get(), "digest mismatch"));
	/* Without a sha256 digest nothing vouches for the bytes: no key. */
	d.digest = NULL;
	assert_int_equal(lfs_cache_key(&d, k2), -ENOTSUP);
	lfs_blobsrc_unref(d.src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_paths),	  cmocka_unit_test(test_transports),
	    cmocka_unit_test(test_malformed),	  cmocka_unit_test(test_open),
	    cmocka_unit_test(test_registry_desc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
