/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of image detection and selection (lib/image.c), the image JSON
 * parsers (lib/image_json.c) and the archive member table
 * (lib/tarmembers.c).  Every input is built here, with libarchive's writer
 * and plain files, so that each test states exactly what it feeds in.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/image.h"
#include "image_int.h"
#include "testutil.h"

#define MT_TAR	"application/vnd.oci.image.layer.v1.tar"
#define MT_TGZ	"application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DTGZ "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define AMD64	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}"
#define ARM64	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}"
#define ARMV7	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}"

enum { F_NONE, F_GZIP, F_ZSTD };

/* A file set: what goes into a tarball or a directory tree. */
struct ent {
	char *name;
	char type; /* 'f'ile, 'd'irectory, 'l' symlink, 'h'ard link */
	char *data;
	size_t len;
	char *link;
};

struct fset {
	size_t n;
	struct ent e[64];
};

struct blob {
	char *data;
	size_t len;
	char digest[72];
	char diff_id[72]; /* sha256 of the uncompressed tar, for layers */
};

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static void sha256_hex(const void *data, size_t len, char out[72])
{
	uint8_t sum[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, len, data);
	sha256_digest(&c, sizeof(sum), sum);
	lfs_digest_format(sum, out);
}

static struct ent *fs_add(struct fset *f, const char *name, char type)
{
	struct ent *e = &f->e[f->n++];

	assert_true(f->n <= 64);
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	e->type = type;
	return e;
}

static void fs_file(struct fset *f, const char *name, const void *data, size_t len)
{
	struct ent *e = fs_add(f, name, 'f');

	e->data = malloc(len + 1);
	memcpy(e->data, data, len);
	e->len = len;
}

static void fs_str(struct fset *f, const char *name, const char *s)
{
	fs_file(f, name, s, strlen(s));
}

static void fs_link(struct fset *f, const char *name, char type, const char *target)
{
	fs_add(f, name, type)->link = strdup(target);
}

static void fs_blob(struct fset *f, const struct blob *b)
{
	char *name = xasprintf("blobs/sha256/%s", b->digest + 7);

	fs_file(f, name, b->data, b->len);
	free(name);
}

static void fs_free(struct fset *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->e[i].name);
		free(f->e[i].data);
		free(f->e[i].link);
	}
	f->n = 0;
}

static void tar_entries(struct archive *a, const struct fset *f)
{
	struct archive_entry *e = archive_entry_new();
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct ent *x = &f->e[i];

		archive_entry_clear(e);
		archive_entry_set_pathname(e, x->name);
		archive_entry_set_mtime(e, 1700000000, 0);
		archive_entry_set_perm(e, x->type == 'd' ? 0755 : 0644);
		switch (x->type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)x->len);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, x->link);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, x->link);
			break;
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (x->type == 'f' && x->len)
			assert_int_equal(archive_write_data(a, x->data, x->len), (ssize_t)x->len);
	}
	archive_entry_free(e);
}

static struct archive *tar_writer(int filter)
{
	struct archive *a = archive_write_new();

	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (filter == F_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == F_ZSTD)
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	return a;
}

/* The file set as a tarball in the temporary directory; returns its path. */
static char *tar_file(const struct fset *f, const char *fname, int filter)
{
	char *path = xasprintf("%s/%s", tu_tmpdir(), fname);
	struct archive *a = tar_writer(filter);

	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	tar_entries(a, f);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static void blob_set(struct blob *b, void *data, size_t len)
{
	b->data = data;
	b->len = len;
	sha256_hex(data, len, b->digest);
}

static void blob_free(struct blob *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static struct blob blob_str(const char *s)
{
	struct blob b = {0};

	blob_set(&b, strdup(s), strlen(s));
	return b;
}

/* A tarball in memory. */
static struct blob tar_mem(const struct fset *f, int filter)
{
	size_t cap = 1 << 20, used = 0;
	struct archive *a = tar_writer(filter);
	struct blob b = {0};
	char *buf = malloc(cap);

	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	tar_entries(a, f);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	blob_set(&b, buf, used);
	return b;
}

/* A layer holding one file NAME with CONTENT, compressed with FILTER. */
static struct blob layer(const char *name, const char *content, int filter)
{
	struct fset f = {0};
	struct blob plain, b;

	fs_str(&f, name, content);
	plain = tar_mem(&f, F_NONE);
	b = tar_mem(&f, filter);
	memcpy(b.diff_id, plain.digest, sizeof(b.diff_id));
	blob_free(&plain);
	fs_free(&f);
	return b;
}

/* Create the file set as a directory tree; returns its path. */
static char *dir_write(const struct fset *f, const char *dname)
{
	char *root = xasprintf("%s/%s", tu_tmpdir(), dname);
	size_t i;

	assert_int_equal(mkdir(root, 0755), 0);
	for (i = 0; i < f->n; i++) {
		char *path = xasprintf("%s/%s", root, f->e[i].name), *p;
		int fd;

		for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
		if (f->e[i].type == 'd') {
			mkdir(path, 0755);
		} else if (f->e[i].type == 'l') {
			assert_int_equal(symlink(f->e[i].link, path), 0);
		} else {
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, f->e[i].data, f->e[i].len),
					 (ssize_t)f->e[i].len);
			close(fd);
		}
		free(path);
	}
	return root;
}

/* {"mediaType":MT,"digest":...,"size":...EXTRA} */
static char *desc(const char *mt, const struct blob *b, const char *extra)
{
	return xasprintf("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu%s%s}", mt, b->digest,
			 b->len, extra ? "," : "", extra ? extra : "");
}

/*
 * Add an image of N layers (blobs, config, manifest) to F; returns the
 * manifest blob (its data is freed here, digest and size remain).
 */
static struct blob oci_image(struct fset *f, struct blob *layers, size_t n, const char *mt)
{
	char *ids = strdup(""), *descs = strdup(""), *t, *d, *cfgd;
	struct blob cfg = {0}, man;
	size_t i;

	bool docker = !strcmp(mt, MT_DTGZ);

	for (i = 0; i < n; i++) {
		d = desc(mt, &layers[i], NULL);
		t = xasprintf("%s%s\"%s\"", ids, i ? "," : "", layers[i].diff_id);
		free(ids);
		ids = t;
		t = xasprintf("%s%s%s", descs, i ? "," : "", d);
		free(descs);
		descs = t;
		free(d);
		fs_blob(f, &layers[i]);
	}
	t = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[]},"
		      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
		      ids);
	blob_set(&cfg, t, strlen(t));
	fs_blob(f, &cfg);
	cfgd = desc(docker ? LFS_MT_DOCKER_CONFIG : LFS_MT_OCI_CONFIG, &cfg, NULL);
	t = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,\"layers\":[%s]}",
		      docker ? LFS_MT_DOCKER_MANIFEST : LFS_MT_OCI_MANIFEST, cfgd, descs);
	man = blob_str(t);
	fs_blob(f, &man);
	free(t);
	free(cfgd);
	free(ids);
	free(descs);
	blob_free(&cfg);
	free(man.data);
	man.data = NULL;
	return man;
}

/* oci-layout and an index.json listing the descriptors DESCS. */
static void oci_finish(struct fset *f, const char *descs)
{
	char *t = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
			    LFS_MT_OCI_INDEX, descs);

	fs_str(f, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	fs_str(f, "index.json", t);
	free(t);
}

/* A one-image OCI layout with layers L[0..N), tagged TAG; *man gets the manifest. */
static void oci_simple(struct fset *f, struct blob *l, size_t n, struct blob *man)
{
	char *d;

	*man = oci_image(f, l, n, MT_TGZ);
	d = desc(LFS_MT_OCI_MANIFEST, man,
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}");
	oci_finish(f, d);
	free(d);
}

/* Open file descriptors of this process: an image must close all it opened. */
static int nfds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static int open1(struct lfs_image **img, const char *path, const char *tag, const char *plat)
{
	struct lfs_image_opts o = {.tag = tag, .platform = plat ? plat : "linux/amd64"};
	char *const src[] = {(char *)path};
	int before = nfds(), ret;

	*img = NULL;
	lfs_err_clear();
	ret = lfs_image_open(img, src, 1, &o);
	if (ret < 0)
		assert_int_equal(nfds(), before);
	return ret;
}

/* Bytes this process has read so far (rchar of /proc/self/io). */
static unsigned long long bytes_read(void)
{
	unsigned long long n = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void check_err(int ret, int want, const char *const *subs)
{
	if (ret != want)
		print_message("returned %d, expected %d; message: %s\n", ret, want, lfs_err_get());
	assert_int_equal(ret, want);
	for (; *subs; subs++) {
		if (!strstr(lfs_err_get(), *subs)) {
			print_message("message \"%s\" lacks \"%s\"\n", lfs_err_get(), *subs);
			fail();
		}
	}
}

#define assert_err(ret, want, ...) check_err(ret, want, (const char *const[]){__VA_ARGS__, NULL})

/* Layer I of IMG holds exactly the bytes of B. */
static void assert_layer(const struct lfs_image *img, size_t i, const struct blob *b)
{
	const struct lfs_layer_desc *l = &img->layers[i];
	char *buf = malloc(b->len + 1);

	assert_int_equal(l->len, b->len);
	assert_int_equal(pread(l->fd, buf, b->len, (off_t)l->off), (ssize_t)b->len);
	assert_memory_equal(buf, b->data, b->len);
	free(buf);
}

static void test_digest(void **state)
{
	const char *good = "sha256:0123456789abcdef0123456789abcdef"
			   "0123456789abcdef0123456789abcdef";
	uint8_t raw[32];
	char out[72], bad[80];

	assert_int_equal(lfs_digest_parse(good, raw), 0);
	assert_int_equal(raw[0], 0x01);
	assert_int_equal(raw[31], 0xef);
	lfs_digest_format(raw, out);
	assert_string_equal(out, good);
	strcpy(bad, good);
	bad[10] = 'A';
	assert_int_equal(lfs_digest_parse(bad, raw), -EINVAL);
	assert_int_equal(lfs_digest_parse(good + 7, raw), -EINVAL);
	strcpy(bad, good);
	strcat(bad, "0");
	assert_int_equal(lfs_digest_parse(bad, raw), -EINVAL);
	assert_int_equal(lfs_digest_parse("sha256:../../etc/passwd", raw), -EINVAL);
	assert_int_equal(lfs_digest_check(good), LFS_DIGEST_SHA256);
	snprintf(bad, sizeof(bad), "sha512:%s", good + 7);
	assert_int_equal(lfs_digest_check(bad), -EINVAL);
	{
		char long512[7 + 128 + 1];

		snprintf(long512, sizeof(long512), "sha512:%s%s", good + 7, good + 7);
		assert_int_equal(lfs_digest_check(long512), LFS_DIGEST_SHA512);
		assert_int_equal(lfs_digest_parse(long512, raw), -EINVAL);
	}
}

static void plat_is(const char *machine, const char *want)
{
	struct lfs_platform p;
	char buf[64];

	assert_int_equal(lfs_platform_from_machine(&p, machine), 0);
	assert_string_equal(lfs_platform_str(&p, buf, sizeof(buf)), want);
	lfs_platform_clear(&p);
}

static int score(const char *have, const char *want)
{
	struct lfs_platform h, w;
	int s;

	assert_int_equal(lfs_platform_parse(&h, have), 0);
	assert_int_equal(lfs_platform_parse(&w, want), 0);
	s = lfs_platform_score(&h, &w);
	lfs_platform_clear(&h);
	lfs_platform_clear(&w);
	return s;
}

static void test_platform(void **state)
{
	struct lfs_platform p;
	char buf[64];

	plat_is("x86_64", "linux/amd64");
	plat_is("aarch64", "linux/arm64/v8");
	plat_is("armv7l", "linux/arm/v7");
	plat_is("armv6l", "linux/arm/v6");
	plat_is("i686", "linux/386");
	plat_is("ppc64le", "linux/ppc64le");
	plat_is("sparc64", "linux/sparc64");
	assert_int_equal(lfs_platform_host(&p), 0);
	assert_string_equal(p.os, "linux");
	lfs_platform_clear(&p);
	assert_int_equal(lfs_platform_parse(&p, "linux/x86_64"), 0);
	assert_string_equal(lfs_platform_str(&p, buf, sizeof(buf)), "linux/amd64");
	lfs_platform_clear(&p);
	assert_err(lfs_platform_parse(&p, "linux"), -EINVAL, "platform 'linux'", "os/arch");
	assert_err(lfs_platform_parse(&p, "linux//arm"), -EINVAL, "os/arch");
	assert_err(lfs_platform_parse(&p, "a/b/c/d"), -EINVAL, "os/arch");
	assert_int_equal(score("linux/arm64", "linux/arm64/v8"), 3);
	assert_int_equal(score("linux/arm/v7", "linux/arm/v7"), 3);
	assert_true(score("linux/arm/v6", "linux/arm/v7") > 0);
	assert_int_equal(score("linux/arm/v7", "linux/arm/v6"), 0);
	assert_int_equal(score("linux/amd64", "linux/arm64"), 0);
	assert_int_equal(score("windows/amd64", "linux/amd64"), 0);
}

static void test_normalise(void **state)
{
	char a[] = "./a//b/", b[] = "/x/./y", c[] = "a/../b", d[] = "./";

	assert_int_equal(lfs_tar_normalise(a), 0);
	assert_string_equal(a, "a/b");
	assert_int_equal(lfs_tar_normalise(b), 0);
	assert_string_equal(b, "x/y");
	assert_int_equal(lfs_tar_normalise(c), -EINVAL);
	assert_int_equal(lfs_tar_normalise(d), 0);
	assert_string_equal(d, "");
}

static void test_tarmembers(void **state)
{
	struct lfs_tarmembers *t;
	struct fset f = {0};
	char longname[300], *path, *buf;
	uint64_t off, len, off2, len2;
	size_t n;
	int fd;

	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "deep/", 5);
	longname[200] = '\0';
	fs_add(&f, "./d/", 'd');
	fs_str(&f, "./d//a.txt", "first");
	fs_str(&f, longname, "long name data");
	fs_str(&f, "d/a.txt", "second, the one that counts");
	fs_link(&f, "e/layer.tar", 'l', "../d/a.txt");
	fs_link(&f, "hard", 'h', "d/a.txt");
	fs_link(&f, "dirlink", 'l', "d");
	fs_link(&f, "out", 'l', "../../etc/passwd");
	fs_link(&f, "abs", 'l', "/etc/passwd");
	fs_link(&f, "loop1", 'l', "loop2");
	fs_link(&f, "loop2", 'l', "loop1");
	fs_file(&f, "big", "0123456789", 10);
	path = tar_file(&f, "members.tar", F_NONE);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lfs_tarmembers_open(&t, fd, path), 0);
	assert_true(lfs_tarmembers_has(t, "d"));
	assert_true(lfs_tarmembers_has(t, "d/a.txt"));
	assert_false(lfs_tarmembers_has(t, "./d/a.txt"));
	assert_true(lfs_tarmembers_count(t) >= 10);

	assert_int_equal(lfs_tarmembers_read(t, "d/a.txt", 100, &buf, &n), 0);
	assert_string_equal(buf, "second, the one that counts");
	free(buf);
	assert_int_equal(lfs_tarmembers_read(t, longname, 100, &buf, &n), 0);
	assert_string_equal(buf, "long name data");
	free(buf);
	assert_int_equal(lfs_tarmembers_find(t, "d/a.txt", &off, &len), 0);
	assert_int_equal(len, 27);
	assert_int_equal(lfs_tarmembers_find(t, "e/layer.tar", &off2, &len2), 0);
	assert_true(off == off2 && len == len2);
	assert_int_equal(lfs_tarmembers_find(t, "hard", &off2, &len2), 0);
	assert_true(off == off2 && len == len2);
	assert_int_equal(lfs_tarmembers_find(t, "dirlink/a.txt", &off2, &len2), 0);
	assert_true(off == off2 && len == len2);
	assert_int_equal(lfs_tarmembers_find(t, "./e//layer.tar", &off2, &len2), 0);
	assert_true(off == off2);

	assert_err(lfs_tarmembers_find(t, "out", &off, &len), -EINVAL, path, "out",
		   "outside the archive");
	assert_err(lfs_tarmembers_find(t, "abs", &off, &len), -EINVAL, "outside the archive");
	assert_err(lfs_tarmembers_find(t, "loop1", &off, &len), -ELOOP, "too many levels");
	assert_err(lfs_tarmembers_find(t, "nope", &off, &len), -ENOENT, path, "nope",
		   "no such member");
	assert_err(lfs_tarmembers_find(t, "d", &off, &len), -EINVAL, "not a regular file");
	assert_err(lfs_tarmembers_find(t, "big/x", &off, &len), -ENOTDIR, "not a directory");
	assert_err(lfs_tarmembers_read(t, "big", 9, &buf, &n), -EFBIG, "big", "too large");
	lfs_tarmembers_free(t);

	/* The table does not follow a compressed tarball. */
	free(path);
	path = tar_file(&f, "members.tar.gz", F_GZIP);
	close(fd);
	fd = open(path, O_RDONLY);
	assert_err(lfs_tarmembers_open(&t, fd, path), -EINVAL, path, "not a tar archive");
	close(fd);
	free(path);
	fs_free(&f);
}

static void test_first_name(void **state)
{
	struct fset f = {0};
	char *path, *first;
	int fd;

	fs_add(&f, "./blobs/", 'd');
	fs_str(&f, "x", "y");
	path = tar_file(&f, "first.tar.zst", F_ZSTD);
	fd = open(path, O_RDONLY);
	assert_int_equal(lfs_tar_first_name(fd, path, true, &first), 0);
	assert_string_equal(first, "blobs/");
	free(first);
	close(fd);
	free(path);
	fs_free(&f);
}

static void test_oci_dir(void **state)
{
	struct blob l[3] = {layer("a", "A", F_GZIP), layer("b", "B", F_NONE),
			    layer("c", "C", F_ZSTD)};
	struct lfs_image *img;
	struct fset f = {0};
	struct blob man;
	char *path, *cfg;
	size_t i;
	int fds = nfds();

	oci_simple(&f, l, 3, &man);
	path = dir_write(&f, "ocidir");
	assert_int_equal(open1(&img, path, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_OCI_DIR);
	assert_string_equal(lfs_image_kind_name(img->kind), "OCI image layout");
	assert_int_equal(img->nlayers, 3);
	assert_string_equal(img->manifest_digest, man.digest);
	assert_string_equal(img->ref, "v1");
	for (i = 0; i < 3; i++) {
		assert_layer(img, i, &l[i]);
		assert_string_equal(img->layers[i].digest, l[i].digest);
		assert_null(img->layers[i].diff_id);
		assert_string_equal(img->layers[i].media_type, MT_TGZ);
		assert_non_null(strstr(img->layers[i].name, l[i].digest + 7));
	}
	assert_true(img->layers[0].fd != img->layers[1].fd);
	assert_non_null(strstr(img->config, "\"diff_ids\""));
	assert_int_equal(strlen(img->config), img->config_len);
	/* The config parsed once, with the image: what the tools read. */
	assert_non_null(img->cfg);
	assert_string_equal(img->cfg->architecture, "amd64");
	assert_string_equal(img->cfg->os, "linux");
	assert_int_equal(img->cfg->env.n, 0);
	assert_non_null(img->cfg->env.v);
	assert_int_equal(img->cfg->diff_ids.n, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(img->cfg->diff_ids.v[i], l[i].diff_id);
	cfg = strdup(img->config);
	lfs_image_free(img);

	/* Selected by tag, and by digest with and without the algorithm. */
	assert_int_equal(open1(&img, path, "v1", NULL), 0);
	lfs_image_free(img);
	assert_int_equal(open1(&img, path, man.digest, NULL), 0);
	lfs_image_free(img);
	assert_int_equal(open1(&img, path, man.digest + 7, NULL), 0);
	assert_string_equal(img->config, cfg);
	lfs_image_free(img);
	assert_int_equal(nfds(), fds);
	free(cfg);
	free(path);
	fs_free(&f);
	for (i = 0; i < 3; i++)
		blob_free(&l[i]);
}

static void test_oci_archive(void **state)
{
	struct blob l[2] = {layer("a", "A", F_GZIP), layer("b", "B", F_NONE)};
	struct lfs_image *img;
	struct fset f = {0};
	struct blob man;
	char *path;
	int fds = nfds();

	oci_simple(&f, l, 2, &man);
	path = tar_file(&f, "oci.tar", F_NONE);
	assert_int_equal(open1(&img, path, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_OCI_ARCHIVE);
	assert_int_equal(img->nlayers, 2);
	assert_layer(img, 0, &l[0]);
	assert_layer(img, 1, &l[1]);
	/* One archive, one fd: freeing must close it once. */
	assert_int_equal(img->layers[0].fd, img->layers[1].fd);
	assert_true(img->layers[0].off > 0);
	assert_string_equal(img->manifest_digest, man.digest);
	lfs_image_free(img);
	assert_int_equal(nfds(), fds);
	free(path);
	fs_free(&f);
	blob_free(&l[0]);
	blob_free(&l[1]);
}

/* The member table seeks over data: a 32 MiB member is not read. */
static void test_tarmembers_seek(void **state)
{
	size_t big = 32u << 20;
	struct lfs_tarmembers *t;
	unsigned long long before;
	struct fset f = {0};
	uint64_t off, len;
	char *path, *data = calloc(1, big), *buf;
	size_t n;
	int fd;

	data[big - 1] = 'z';
	fs_str(&f, "first", "1");
	fs_file(&f, "big", data, big);
	fs_str(&f, "last", "the end");
	path = tar_file(&f, "big.tar", F_NONE);
	fd = open(path, O_RDONLY);
	before = bytes_read();
	assert_int_equal(lfs_tarmembers_open(&t, fd, path), 0);
	assert_true(bytes_read() - before < (4u << 20));
	assert_int_equal(lfs_tarmembers_read(t, "last", 100, &buf, &n), 0);
	assert_string_equal(buf, "the end");
	free(buf);
	assert_int_equal(lfs_tarmembers_find(t, "big", &off, &len), 0);
	assert_int_equal(len, big);
	assert_int_equal(pread(fd, data, 1, (off_t)(off + big - 1)), 1);
	assert_int_equal(data[0], 'z');
	lfs_tarmembers_free(t);
	close(fd);
	free(path);
	free(data);
	fs_free(&f);
}

/* A docker-save (classic) archive; layer 2 duplicates layer 0 through a link. */
static void docker_classic(struct fset *f, struct blob *l, const char *tags, char linktype,
			   char cfgdigest[72])
{
	char id[3][72], *t, *man, name[3][100];
	struct blob cfg;
	size_t i;

	for (i = 0; i < 3; i++) {
		char seed[8];

		snprintf(seed, sizeof(seed), "id%zu", i);
		sha256_hex(seed, strlen(seed), id[i]);
		snprintf(name[i], sizeof(name[i]), "%s/layer.tar", id[i] + 7);
		t = xasprintf("%s/", id[i] + 7);
		fs_add(f, t, 'd');
		free(t);
		if (i < 2) {
			fs_file(f, name[i], l[i].data, l[i].len);
		} else {
			char *target = xasprintf(linktype == 'l' ? "../%s" : "%s", name[0]);

			fs_link(f, name[i], linktype, target);
			free(target);
		}
	}
	t = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
		      "\"layers\",\"diff_ids\":[\"%s\",\"%s\",\"%s\"]}}",
		      l[0].diff_id, l[1].diff_id, l[0].diff_id);
	blob_set(&cfg, t, strlen(t));
	memcpy(cfgdigest, cfg.digest, 72);
	t = xasprintf("%s.json", cfg.digest + 7);
	fs_file(f, t, cfg.data, cfg.len);
	man = xasprintf("[{\"Config\":\"%s\",\"RepoTags\":%s,\"Layers\":[\"%s\",\"%s\",\"%s\"]}]",
			t, tags, name[0], name[1], name[2]);
	fs_str(f, "manifest.json", man);
	fs_str(f, "repositories", "{}");
	free(t);
	free(man);
	blob_free(&cfg);
}

static void test_docker_classic(void **state)
{
	struct blob l[2] = {layer("a", "A", F_NONE), layer("b", "B", F_NONE)};
	struct lfs_image *img;
	struct fset f = {0};
	char cfg[72], *path;
	size_t i;
	char linktype[] = {'l', 'h'};

	for (i = 0; i < 2; i++) {
		docker_classic(&f, l, "[\"busybox:latest\"]", linktype[i], cfg);
		path = tar_file(&f, i ? "docker-h.tar" : "docker-l.tar", F_NONE);
		assert_int_equal(open1(&img, path, NULL, NULL), 0);
		assert_int_equal(img->kind, LFS_IMAGE_DOCKER);
		assert_int_equal(img->nlayers, 3);
		assert_layer(img, 0, &l[0]);
		assert_layer(img, 1, &l[1]);
		assert_layer(img, 2, &l[0]);
		assert_int_equal(img->layers[2].off, img->layers[0].off);
		assert_null(img->layers[0].digest);
		assert_null(img->layers[0].media_type);
		assert_string_equal(img->layers[0].diff_id, l[0].diff_id);
		assert_string_equal(img->layers[1].diff_id, l[1].diff_id);
		assert_int_equal(img->cfg->diff_ids.n, 3);
		assert_null(img->cfg->entrypoint.v);
		assert_string_equal(img->ref, "busybox:latest");
		assert_null(img->manifest_digest);
		assert_non_null(strstr(img->layers[1].name, "/layer.tar"));
		lfs_image_free(img);
		/* docker's short forms of the name and of the image ID select it too. */
		assert_int_equal(open1(&img, path, "busybox", NULL), 0);
		lfs_image_free(img);
		assert_int_equal(open1(&img, path, "docker.io/library/busybox:latest", NULL), 0);
		lfs_image_free(img);
		cfg[7 + 12] = '\0';
		assert_int_equal(open1(&img, path, cfg + 7, NULL), 0);
		lfs_image_free(img);
		assert_err(open1(&img, path, "busybox:1.0", NULL), -ENOENT, path,
			   "no image matches --tag 'busybox:1.0'", "busybox:latest");
		fs_free(&f);
		free(path);
	}
	blob_free(&l[0]);
	blob_free(&l[1]);
}

/* manifest.json whose layers are blobs: the digest comes from the path. */
static void test_docker_blob_paths(void **state)
{
	struct blob l = layer("a", "A", F_NONE), cfg;
	struct lfs_image *img;
	struct fset f = {0};
	char *t, *path;

	t = xasprintf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", l.diff_id);
	cfg = blob_str(t);
	free(t);
	fs_blob(&f, &l);
	fs_blob(&f, &cfg);
	t = xasprintf("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":null,\"Layers\":"
		      "[\"blobs/sha256/%s\"]}]",
		      cfg.digest + 7, l.digest + 7);
	fs_str(&f, "manifest.json", t);
	free(t);
	path = tar_file(&f, "docker-blobs.tar", F_NONE);
	assert_int_equal(open1(&img, path, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_DOCKER);
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->layers[0].digest, l.digest);
	assert_string_equal(img->layers[0].diff_id, l.diff_id);
	assert_null(img->ref);
	assert_layer(img, 0, &l);
	lfs_image_free(img);
	free(path);
	fs_free(&f);
	blob_free(&l);
	blob_free(&cfg);
}

/* Newer docker save: an OCI layout plus manifest.json with RepoTags. */
static void test_docker_new(void **state)
{
	struct blob la = layer("a", "A", F_NONE), lb = layer("b", "B", F_NONE), ma, mb;
	struct lfs_image *img;
	struct fset f = {0};
	char *da, *db, *t, *path, cfga[100], cfgb[100];
	size_t i;

	ma = oci_image(&f, &la, 1, MT_TAR);
	mb = oci_image(&f, &lb, 1, MT_TAR);
	/* The config blobs are the entries oci_image added just before each manifest. */
	for (i = 0; i < f.n; i++) {
		if (strstr(f.e[i].name, ma.digest + 7))
			snprintf(cfga, sizeof(cfga), "%s", f.e[i - 1].name);
		if (strstr(f.e[i].name, mb.digest + 7))
			snprintf(cfgb, sizeof(cfgb), "%s", f.e[i - 1].name);
	}
	da = desc(LFS_MT_OCI_MANIFEST, &ma,
		  "\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/foo:1.0\","
		  "\"org.opencontainers.image.ref.name\":\"1.0\"}");
	db = desc(LFS_MT_OCI_MANIFEST, &mb, NULL);
	t = xasprintf("%s,%s", da, db);
	oci_finish(&f, t);
	free(t);
	t = xasprintf(
	    "[{\"Config\":\"%s\",\"RepoTags\":[\"foo:1.0\"],\"Layers\":[\"blobs/sha256/%s\"]},"
	    "{\"Config\":\"%s\",\"RepoTags\":[\"bar:2\"],\"Layers\":[\"blobs/sha256/%s\"]}]",
	    cfga, la.digest + 7, cfgb, lb.digest + 7);
	fs_str(&f, "manifest.json", t);
	free(t);
	path = tar_file(&f, "docker-new.tar", F_NONE);
	assert_int_equal(open1(&img, path, "foo:1.0", NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_OCI_ARCHIVE);
	assert_string_equal(img->ref, "docker.io/library/foo:1.0");
	assert_layer(img, 0, &la);
	assert_string_equal(img->layers[0].media_type, MT_TAR);
	lfs_image_free(img);
	/* bar:2 is only in manifest.json: found through its config. */
	assert_int_equal(open1(&img, path, "bar:2", NULL), 0);
	assert_string_equal(img->manifest_digest, mb.digest);
	assert_layer(img, 0, &lb);
	lfs_image_free(img);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "holds 2 images", "--tag",
		   "docker.io/library/foo:1.0");
	free(da);
	free(db);
	free(path);
	fs_free(&f);
	blob_free(&la);
	blob_free(&lb);
}

static void test_oci_multi(void **state)
{
	struct blob la = layer("a", "A", F_GZIP), lb = layer("b", "B", F_GZIP), ma, mb, mc;
	struct lfs_image *img;
	struct fset f = {0};
	char *da, *db, *dc, *t, *path, prefix[20];

	ma = oci_image(&f, &la, 1, MT_TGZ);
	mb = oci_image(&f, &lb, 1, MT_TGZ);
	mc = oci_image(&f, &la, 0, MT_TGZ);
	da = desc(LFS_MT_OCI_MANIFEST, &ma,
		  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"a\"}");
	db = desc(LFS_MT_OCI_MANIFEST, &mb,
		  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"b\"}");
	dc = desc(LFS_MT_OCI_MANIFEST, &mc,
		  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"b\"}");
	t = xasprintf("%s,%s,%s", da, db, dc);
	oci_finish(&f, t);
	free(t);
	path = dir_write(&f, "multi");

	assert_int_equal(open1(&img, path, "a", NULL), 0);
	assert_string_equal(img->manifest_digest, ma.digest);
	assert_string_equal(img->ref, "a");
	lfs_image_free(img);
	snprintf(prefix, sizeof(prefix), "%.12s", mb.digest + 7);
	assert_int_equal(open1(&img, path, prefix, NULL), 0);
	assert_string_equal(img->manifest_digest, mb.digest);
	lfs_image_free(img);
	snprintf(prefix, sizeof(prefix), "sha256:%.8s", mc.digest + 7);
	assert_int_equal(open1(&img, path, prefix, NULL), 0);
	/* An image with no layers is an empty tree, not an error. */
	assert_int_equal(img->nlayers, 0);
	lfs_image_free(img);

	assert_err(open1(&img, path, "b", NULL), -EINVAL, path, "--tag 'b' is ambiguous");
	assert_err(open1(&img, path, "c", NULL), -ENOENT, path, "no image matches --tag 'c'",
		   "available: a, b, b");
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "holds 3 images",
		   "choose one with --tag");
	free(da);
	free(db);
	free(dc);
	free(path);
	fs_free(&f);
	blob_free(&la);
	blob_free(&lb);
}

static void test_platforms(void **state)
{
	struct blob l[3] = {layer("a", "amd", F_GZIP), layer("a", "arm64", F_GZIP),
			    layer("a", "armv7", F_GZIP)};
	const char *plats[3] = {AMD64, ARM64, ARMV7},
		   *idxmt[2] = {LFS_MT_OCI_INDEX, LFS_MT_DOCKER_LIST};
	struct blob m[3], idx, outer;
	struct lfs_image *img;
	struct fset f = {0};
	char *d[3], *od, *t, *path;
	size_t i, k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < 3; i++) {
			/* The manifest list holds docker v2 manifests. */
			m[i] = oci_image(&f, &l[i], 1, k ? MT_DTGZ : MT_TGZ);
			d[i] =
			    desc(k ? LFS_MT_DOCKER_MANIFEST : LFS_MT_OCI_MANIFEST, &m[i], plats[i]);
		}
		t = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s,%s]}",
			      idxmt[k], d[0], d[1], d[2]);
		idx = blob_str(t);
		fs_blob(&f, &idx);
		free(t);
		for (i = 0; i < 3; i++)
			free(d[i]);
		/* An index of one index: nested indexes are followed. */
		od = desc(idxmt[k], &idx, NULL);
		t = xasprintf("{\"schemaVersion\":2,\"manifests\":[%s]}", od);
		outer = blob_str(t);
		fs_blob(&f, &outer);
		free(t);
		free(od);
		t = desc(LFS_MT_OCI_INDEX, &outer,
			 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}");
		oci_finish(&f, t);
		free(t);
		path = tar_file(&f, k ? "plat-docker.tar" : "plat-oci.tar", F_NONE);

		assert_int_equal(open1(&img, path, NULL, "linux/amd64"), 0);
		assert_string_equal(img->manifest_digest, m[0].digest);
		assert_string_equal(img->ref, "multi");
		assert_layer(img, 0, &l[0]);
		assert_string_equal(img->layers[0].media_type, k ? MT_DTGZ : MT_TGZ);
		lfs_image_free(img);
		assert_int_equal(open1(&img, path, "multi", "linux/arm64"), 0);
		assert_string_equal(img->manifest_digest, m[1].digest);
		lfs_image_free(img);
		assert_int_equal(open1(&img, path, NULL, "linux/aarch64/v8"), 0);
		assert_string_equal(img->manifest_digest, m[1].digest);
		lfs_image_free(img);
		assert_int_equal(open1(&img, path, NULL, "linux/arm/v7"), 0);
		assert_layer(img, 0, &l[2]);
		lfs_image_free(img);
		assert_err(open1(&img, path, NULL, "linux/s390x"), -ENOENT, path,
			   "no image for platform linux/s390x",
			   "linux/amd64, linux/arm64/v8, linux/arm/v7", "--platform");
		assert_err(open1(&img, path, NULL, "linux/arm/v6"), -ENOENT, "linux/arm/v6");

		blob_free(&idx);
		blob_free(&outer);
		free(path);
		fs_free(&f);
	}
	for (i = 0; i < 3; i++)
		blob_free(&l[i]);
}

/* Per-platform manifests side by side in index.json, as podman writes them. */
static void test_platforms_flat(void **state)
{
	struct blob l[2] = {layer("a", "amd", F_NONE), layer("a", "arm", F_NONE)}, m[2];
	const char *pl[2] = {AMD64, ARM64};
	struct lfs_image *img;
	struct fset f = {0};
	char *d[2], *t, *path;
	size_t i;

	for (i = 0; i < 2; i++) {
		m[i] = oci_image(&f, &l[i], 1, MT_TAR);
		t = xasprintf("%s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"x\"}",
			      pl[i]);
		d[i] = desc(LFS_MT_OCI_MANIFEST, &m[i], t);
		free(t);
	}
	t = xasprintf("%s,%s", d[0], d[1]);
	oci_finish(&f, t);
	free(t);
	path = dir_write(&f, "flat");
	assert_int_equal(open1(&img, path, "x", "linux/arm64"), 0);
	assert_string_equal(img->manifest_digest, m[1].digest);
	lfs_image_free(img);
	assert_int_equal(open1(&img, path, NULL, "linux/amd64"), 0);
	assert_string_equal(img->manifest_digest, m[0].digest);
	lfs_image_free(img);
	assert_err(open1(&img, path, "x", "linux/riscv64"), -ENOENT, path, "linux/riscv64",
		   "linux/amd64, linux/arm64/v8");
	for (i = 0; i < 2; i++) {
		free(d[i]);
		blob_free(&l[i]);
	}
	free(path);
	fs_free(&f);
}

static void test_layer_files(void **state)
{
	struct blob l[3] = {layer("a", "A", F_NONE), layer("b", "B", F_GZIP),
			    layer("c", "C", F_ZSTD)};
	const char *names[3] = {"l0.tar", "l1.tgz", "l2.tzst"};
	struct lfs_image *img;
	char *paths[3], *trunc;
	size_t i;

	for (i = 0; i < 3; i++) {
		paths[i] = tu_write(names[i], l[i].data, l[i].len);
		assert_int_equal(open1(&img, paths[i], NULL, NULL), 0);
		assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
		assert_int_equal(img->nlayers, 1);
		assert_layer(img, 0, &l[i]);
		assert_string_equal(img->layers[0].name, paths[i]);
		assert_null(img->layers[0].digest);
		assert_null(img->config);
		assert_null(img->cfg);
		lfs_image_free(img);
	}
	assert_err(open1(&img, paths[1], "latest", NULL), -EINVAL, paths[1], "layer file", "--tag");
	/* A damaged gzip layer is still a layer here: scanning it reports the damage. */
	trunc = tu_write("trunc.tgz", l[1].data, 20);
	assert_int_equal(open1(&img, trunc, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
	assert_int_equal(img->layers[0].len, 20);
	lfs_image_free(img);
	free(trunc);
	lfs_err_clear();
	assert_int_equal(lfs_image_open(&img, paths, 3, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
	assert_int_equal(img->nlayers, 3);
	for (i = 0; i < 3; i++) {
		assert_layer(img, i, &l[i]);
		assert_string_equal(img->layers[i].name, paths[i]);
	}
	lfs_image_free(img);
	for (i = 0; i < 3; i++) {
		free(paths[i]);
		blob_free(&l[i]);
	}
}

/* An OCI layout whose index.json, manifest or layer we replace with bad ones. */
static char *bad_layout(const char *dname, const char *index, const char *manifest,
			const char *extra_blob)
{
	struct blob l = layer("a", "A", F_GZIP), man, mb;
	struct fset f = {0};
	char *path, *d;

	man = oci_image(&f, &l, 1, MT_TGZ);
	if (manifest) {
		mb = blob_str(manifest);
		fs_blob(&f, &mb);
		man = mb;
	}
	if (extra_blob) {
		struct blob x = blob_str(extra_blob);

		fs_blob(&f, &x);
		blob_free(&x);
	}
	d = desc(LFS_MT_OCI_MANIFEST, &man, NULL);
	if (index) {
		fs_str(&f, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
		fs_str(&f, "index.json", index);
	} else {
		oci_finish(&f, d);
	}
	path = dir_write(&f, dname);
	if (manifest)
		blob_free(&mb);
	free(d);
	fs_free(&f);
	blob_free(&l);
	return path;
}

static void test_err_json(void **state)
{
	struct lfs_image *img;
	struct fset f = {0};
	char *path;

	fs_str(&f, "manifest.json", "x[]");
	fs_str(&f, "repositories", "{}");
	path = tar_file(&f, "notjson.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   ": manifest.json: not JSON: '[' or '{' expected near 'x' (line 1)");
	free(path);
	fs_free(&f);

	path = bad_layout("badtype1", "{\"schemaVersion\":2,\"manifests\":\"no\"}", NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   "index.json: manifests: expected an array, got a string");
	free(path);
	path = bad_layout("badtype2", "{\"schemaVersion\":\"2\",\"manifests\":[]}", NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL,
		   "index.json: schemaVersion: expected an integer, got a string");
	free(path);
	path = bad_layout("dupkey", "{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}",
			  NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, "index.json: not JSON", "duplicate");
	free(path);
	path =
	    bad_layout("nul", "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a\\u0000b\"}]}",
		       NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   "index.json: not JSON: \\u0000 is not allowed");
	free(path);
	path = bad_layout("empty", "{\"schemaVersion\":2,\"manifests\":[]}", NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -ENOENT, path, "lists no images");
	free(path);
}

static void test_err_manifest(void **state)
{
	const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct blob c = blob_str(cfg);
	struct lfs_image *img;
	char *path, *man, *t;

	/* A layer size that is a string. */
	man = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":\"1\"}]}",
			LFS_MT_OCI_CONFIG, c.digest, c.len, MT_TGZ, c.digest);
	path = bad_layout("badsize", NULL, man, cfg);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "blobs/sha256/",
		   "layers[0].size: expected an integer, got a string");
	free(path);
	free(man);

	man = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":%zu},\"layers\":[{\"mediaType\":\"application/x-foo\","
			"\"digest\":\"%s\",\"size\":1}]}",
			LFS_MT_OCI_CONFIG, c.digest, c.len, c.digest);
	path = bad_layout("badmt", NULL, man, cfg);
	assert_err(open1(&img, path, NULL, NULL), -ENOTSUP, path,
		   "layers[0]: unknown layer media type 'application/x-foo'");
	free(path);
	free(man);

	man = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":"
			"\"sha256:../../../../etc/passwd\",\"size\":1}]}",
			LFS_MT_OCI_CONFIG, c.digest, c.len, MT_TGZ);
	path = bad_layout("baddigest", NULL, man, cfg);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   "layers[0].digest: 'sha256:../../../../etc/passwd' is not a well-formed digest");
	free(path);
	free(man);

	/* The config lists no layer, the manifest one. */
	man = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
			"\"size\":%zu}]}",
			LFS_MT_OCI_CONFIG, c.digest, c.len, MT_TGZ, c.digest, c.len);
	path = bad_layout("count", NULL, man, cfg);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, c.digest + 7,
		   "rootfs.diff_ids lists 0 layers, but the manifest 1");
	free(path);
	free(man);

	/* A layer blob whose size is not the one its descriptor gives. */
	{
		char *cfg2 =
		    xasprintf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", c.digest);
		struct blob c2 = blob_str(cfg2);

		man =
		    xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
			      "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
			      "\"digest\":\"%s\",\"size\":%zu}]}",
			      LFS_MT_OCI_CONFIG, c2.digest, c2.len, MT_TGZ, c2.digest, c2.len + 1);
		path = bad_layout("layersize", NULL, man, cfg2);
		t = xasprintf("%zu bytes, but the manifest says %zu", c2.len, c2.len + 1);
		assert_err(open1(&img, path, NULL, NULL), -EBADMSG, path, c2.digest + 7, t);
		free(t);
		free(path);
		free(man);
		free(cfg2);
		blob_free(&c2);
	}

	/* Not a container image at all. */
	man = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/x-helm\","
			"\"digest\":\"%s\",\"size\":%zu},\"layers\":[]}",
			c.digest, c.len);
	path = bad_layout("artifact", NULL, man, cfg);
	assert_err(open1(&img, path, NULL, NULL), -ENOTSUP, "not a container image");
	free(path);
	free(man);
	blob_free(&c);
}

static void test_err_blobs(void **state)
{
	struct blob l = layer("a", "A", F_GZIP), man;
	struct lfs_image *img;
	struct fset f = {0};
	char *path, *rm, *d, *t;
	size_t i;

	/* A missing layer blob, in a directory and in an archive. */
	oci_simple(&f, &l, 1, &man);
	path = dir_write(&f, "missing");
	rm = xasprintf("%s/blobs/sha256/%s", path, l.digest + 7);
	assert_int_equal(unlink(rm), 0);
	assert_err(open1(&img, path, NULL, NULL), -ENOENT, path, l.digest + 7,
		   "No such file or directory");
	free(rm);
	free(path);
	for (i = 0; i < f.n; i++)
		if (strstr(f.e[i].name, l.digest + 7))
			strcpy(f.e[i].name, "blobs/sha256/gone");
	path = tar_file(&f, "missing.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -ENOENT, path, l.digest + 7, "no such member");
	free(path);
	fs_free(&f);

	/* A manifest whose bytes do not match its digest. */
	oci_simple(&f, &l, 1, &man);
	for (i = 0; i < f.n; i++)
		if (strstr(f.e[i].name, man.digest + 7))
			f.e[i].data[f.e[i].len - 1] = ' ';
	path = tar_file(&f, "mismatch.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EBADMSG, path, man.digest + 7,
		   "digest mismatch");
	free(path);
	fs_free(&f);

	/* A manifest descriptor with the right digest but the wrong size. */
	oci_simple(&f, &l, 1, &man);
	for (i = 0; i < f.n; i++) {
		if (!strcmp(f.e[i].name, "index.json")) {
			free(f.e[i].data);
			f.e[i].data =
			    xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
				      "\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
				      LFS_MT_OCI_MANIFEST, man.digest, man.len + 1);
			f.e[i].len = strlen(f.e[i].data);
		}
	}
	path = dir_write(&f, "descsize");
	t = xasprintf("%zu bytes, but the descriptor says %zu", man.len, man.len + 1);
	assert_err(open1(&img, path, NULL, NULL), -EBADMSG, path, man.digest + 7, t);
	free(t);
	free(path);
	fs_free(&f);

	/* sha512 is well-formed but cannot be verified. */
	t = xasprintf("{\"mediaType\":\"%s\",\"digest\":\"sha512:%s%s\",\"size\":1}",
		      LFS_MT_OCI_MANIFEST, l.digest + 7, l.digest + 7);
	d = xasprintf("{\"schemaVersion\":2,\"manifests\":[%s]}", t);
	path = bad_layout("sha512", d, NULL, NULL);
	assert_err(open1(&img, path, NULL, NULL), -ENOTSUP, path, "only sha256");
	free(path);
	free(t);
	free(d);
	blob_free(&l);
}

static void test_err_docker(void **state)
{
	struct blob l[2] = {layer("a", "A", F_NONE), layer("b", "B", F_NONE)};
	struct lfs_image *img;
	struct fset f = {0};
	char cfg[72], *path;
	size_t i;

	/* "../" in a layer path. */
	docker_classic(&f, l, "[\"x:1\"]", 'l', cfg);
	for (i = 0; i < f.n; i++) {
		if (!strcmp(f.e[i].name, "manifest.json")) {
			free(f.e[i].data);
			f.e[i].data = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[],"
						"\"Layers\":[\"../etc/layer.tar\"]}]",
						cfg + 7);
			f.e[i].len = strlen(f.e[i].data);
		}
	}
	path = tar_file(&f, "dotdot.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   "manifest.json: [0].Layers[0]: '../etc/layer.tar' is not a path inside the "
		   "archive");
	free(path);
	fs_free(&f);

	/* A symlinked duplicate layer that escapes the archive. */
	docker_classic(&f, l, "[\"x:1\"]", 'l', cfg);
	for (i = 0; i < f.n; i++)
		if (f.e[i].type == 'l')
			strcpy(f.e[i].link, "../../../etc/passwd");
	path = tar_file(&f, "escape.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "/layer.tar",
		   "outside the archive");
	free(path);
	fs_free(&f);

	/* Wrong RepoTags type. */
	fs_str(&f, "manifest.json", "[{\"Config\":\"c.json\",\"RepoTags\":\"x\",\"Layers\":[]}]");
	path = tar_file(&f, "tags.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path,
		   "[0].RepoTags: expected an array, got a string");
	free(path);
	fs_free(&f);

	/* A config whose name is its digest, but whose content is not. */
	docker_classic(&f, l, "[\"x:1\"]", 'l', cfg);
	for (i = 0; i < f.n; i++)
		if (strstr(f.e[i].name, ".json") && strcmp(f.e[i].name, "manifest.json"))
			f.e[i].data[f.e[i].len - 1] = ' ';
	path = tar_file(&f, "cfgsum.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EBADMSG, path, cfg + 7, "digest mismatch");
	free(path);
	fs_free(&f);

	/* Two images: choosing needs --tag; the error lists them. */
	docker_classic(&f, l, "[\"x:1\",\"x:2\"]", 'l', cfg);
	for (i = 0; i < f.n; i++) {
		if (!strcmp(f.e[i].name, "manifest.json")) {
			char *two =
			    xasprintf("[%.*s,{\"Config\":\"%s.json\",\"RepoTags\":[\"y:1\"],"
				      "\"Layers\":[]}]",
				      (int)f.e[i].len - 2, f.e[i].data + 1, cfg + 7);

			free(f.e[i].data);
			f.e[i].data = two;
			f.e[i].len = strlen(two);
		}
	}
	path = tar_file(&f, "two.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "holds 2 images", "x:1, x:2, y:1");
	assert_int_equal(open1(&img, path, "x:2", NULL), 0);
	assert_string_equal(img->ref, "x:2");
	assert_int_equal(img->nlayers, 3);
	lfs_image_free(img);
	/* y:1 lists no layer while its config lists three. */
	assert_err(open1(&img, path, "y:1", NULL), -EINVAL, "diff_ids lists 3 layers");
	free(path);
	fs_free(&f);
	blob_free(&l[0]);
	blob_free(&l[1]);
}

static void test_err_huge(void **state)
{
	size_t n = LFS_JSON_MAX + 1;
	struct lfs_image *img;
	char *big = malloc(n), *path, *idx;

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	path = bad_layout("huge", "{}", NULL, NULL);
	idx = xasprintf("%s/index.json", path);
	unlink(idx);
	free(tu_write("huge/index.json", big, n));
	assert_err(open1(&img, path, NULL, NULL), -EFBIG, path, "index.json", "too large");
	assert_err(lfs_json_index(big, n, "buf", &(struct lfs_index){0}), -EFBIG, "buf: too large");
	free(idx);
	free(path);
	free(big);
}

static void test_err_sources(void **state)
{
	struct blob l[2] = {layer("a", "A", F_NONE), layer("b", "B", F_NONE)};
	struct lfs_image *img;
	struct fset f = {0};
	char cfg[72], *path, *gz, *plain, *dir, *srcs[2];

	/* A directory without oci-layout is a layer, which --tag cannot select in. */
	dir = xasprintf("%s/plain-dir", tu_tmpdir());
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_err(open1(&img, dir, "x:1", NULL), -EINVAL, dir, "layer directory", "--tag");

	/* A gzip-compressed docker save. */
	docker_classic(&f, l, "[\"x:1\"]", 'l', cfg);
	gz = tar_file(&f, "docker.tar.gz", F_GZIP);
	assert_err(open1(&img, gz, NULL, NULL), -ENOTSUP, gz,
		   "compressed image archives are not supported; decompress it first");
	path = tar_file(&f, "docker.tar", F_NONE);
	fs_free(&f);

	/* With several SOURCEs, each must be a layer. */
	plain = tu_write("plain.tar", l[0].data, l[0].len);
	srcs[0] = plain;
	srcs[1] = path;
	lfs_err_clear();
	assert_err(lfs_image_open(&img, srcs, 2, NULL), -EINVAL, path, "image archive",
		   "several SOURCEs");
	srcs[1] = gz;
	assert_err(lfs_image_open(&img, srcs, 2, NULL), -ENOTSUP, gz, "compressed image");

	/* Neither a tar nor a layout. */
	free(path);
	path = tu_write("junk.bin", "this is not a tarball at all, not even close....", 48);
	assert_err(open1(&img, path, NULL, NULL), -EINVAL, path, "not a tar archive");
	free(path);
	path = xasprintf("%s/does-not-exist", tu_tmpdir());
	assert_err(open1(&img, path, NULL, NULL), -ENOENT, path, "No such file");
	free(path);

	/* docker save from before manifest.json existed. */
	fs_str(&f, "repositories", "{}");
	fs_str(&f, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/VERSION",
	       "1.0");
	path = tar_file(&f, "legacy.tar", F_NONE);
	assert_err(open1(&img, path, NULL, NULL), -ENOTSUP, path, "without manifest.json");
	free(path);
	fs_free(&f);

	/* A layer that happens to start with "blobs/" is still a layer. */
	fs_str(&f, "blobs/readme", "not an image");
	path = tar_file(&f, "blobs-layer.tar", F_NONE);
	assert_int_equal(open1(&img, path, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
	lfs_image_free(img);
	free(path);
	fs_free(&f);

	free(plain);
	free(gz);
	free(dir);
	blob_free(&l[0]);
	blob_free(&l[1]);
}

/*
 * A layer may hold files named like an image's documents: an image that
 * copies index.json (or manifest.json, oci-layout, repositories) to / has a
 * layer whose first member is that file.  It is a layer, alone, among
 * several SOURCEs, and compressed.
 */
static void test_layer_like_image(void **state)
{
	static const char *const docs[][2] = {
	    {"index.json", "{\"schemaVersion\":2,\"manifests\":[]}"},
	    {"manifest.json", "{\"name\":\"app\",\"start_url\":\"/\"}"},
	    {"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"},
	    {"repositories", "{\"app\":{\"latest\":\"0123\"}}"},
	};
	struct blob base = layer("base", "B", F_NONE);
	struct lfs_image *img;
	struct fset f = {0};
	char *paths[2];
	size_t i;

	paths[0] = tu_write("base.tar", base.data, base.len);
	for (i = 0; i < LFS_ARRAY_SIZE(docs); i++) {
		for (int filter = F_NONE; filter <= F_ZSTD; filter++) {
			char *name = xasprintf("like-%zu-%d.tar", i, filter);

			fs_str(&f, docs[i][0], docs[i][1]);
			fs_add(&f, "etc", 'd');
			fs_str(&f, "etc/hostname", "app\n");
			/* Two documents, but no blobs: still no OCI layout. */
			if (i == 2)
				fs_str(&f, "index.json", docs[0][1]);
			paths[1] = tar_file(&f, name, filter);
			if (open1(&img, paths[1], NULL, NULL) != 0)
				print_message("%s: %s\n", name, lfs_err_get());
			assert_non_null(img);
			assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
			assert_int_equal(img->nlayers, 1);
			lfs_image_free(img);
			lfs_err_clear();
			assert_int_equal(lfs_image_open(&img, paths, 2, NULL), 0);
			assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
			assert_int_equal(img->nlayers, 2);
			lfs_image_free(img);
			free(paths[1]);
			free(name);
			fs_free(&f);
		}
	}
	free(paths[0]);
	blob_free(&base);
}

/* An OCI layout packed with "tar -C layout ." starts with "./": still an image. */
static void test_oci_archive_dot(void **state)
{
	struct blob l[1] = {layer("a", "A", F_GZIP)};
	struct lfs_image *img;
	struct fset f = {0};
	struct blob man;
	char *path;

	fs_add(&f, "./", 'd');
	oci_simple(&f, l, 1, &man);
	path = tar_file(&f, "oci-dot.tar", F_NONE);
	assert_int_equal(open1(&img, path, NULL, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_OCI_ARCHIVE);
	assert_int_equal(img->nlayers, 1);
	assert_layer(img, 0, &l[0]);
	lfs_image_free(img);
	free(path);
	fs_free(&f);
	blob_free(&l[0]);
}

/*
 * A directory among several SOURCEs (first, or twice) is refused with a
 * message; the classification's member table must not be freed unset.
 */
static void test_dir_among_sources(void **state)
{
	struct blob l = layer("a", "A", F_NONE);
	char *dir = xasprintf("%s/a-dir", tu_tmpdir()), *plain = tu_write("dl.tar", l.data, l.len);
	char *const orders[][2] = {{dir, plain}, {dir, dir}, {plain, dir}};
	struct lfs_image *img;

	char *layout = xasprintf("%s/a-layout", tu_tmpdir()), *lay[2] = {plain, layout};
	struct stat st;

	/* A plain directory is a layer, alone or among others: it is handed on open. */
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(lfs_image_open(&img, &dir, 1, NULL), 0);
	assert_int_equal(img->kind, LFS_IMAGE_LAYERS);
	assert_int_equal(img->nlayers, 1);
	assert_int_equal(fstat(img->layers[0].fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	lfs_image_free(img);
	for (size_t i = 0; i < LFS_ARRAY_SIZE(orders); i++) {
		lfs_err_clear();
		assert_int_equal(lfs_image_open(&img, orders[i], 2, NULL), 0);
		assert_int_equal(img->nlayers, 2);
		for (size_t j = 0; j < 2; j++) {
			assert_int_equal(fstat(img->layers[j].fd, &st), 0);
			assert_int_equal(S_ISDIR(st.st_mode), orders[i][j] == dir);
			assert_string_equal(img->layers[j].name, orders[i][j]);
		}
		lfs_image_free(img);
	}
	/* One holding oci-layout stays an image, which cannot be one of several SOURCEs. */
	assert_int_equal(mkdir(layout, 0755), 0);
	{
		static const char v[] = "{\"imageLayoutVersion\": \"1.0.0\"}";

		free(tu_write("a-layout/oci-layout", v, sizeof(v) - 1));
	}
	lfs_err_clear();
	assert_err(lfs_image_open(&img, lay, 2, NULL), -EINVAL, layout, "OCI image layout",
		   "several SOURCEs");
	lfs_err_clear();
	assert_err(lfs_image_open(&img, &layout, 1, NULL), -ENOENT, layout);
	free(layout);
	free(dir);
	free(plain);
	blob_free(&l);
}

static void test_err_platform_opt(void **state)
{
	struct lfs_image *img;
	char *path = bad_layout("platopt", NULL, NULL, NULL);

	assert_err(open1(&img, path, NULL, "amd64"), -EINVAL, "platform 'amd64'");
	free(path);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_platform),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_tarmembers),
		cmocka_unit_test(test_tarmembers_seek),
		cmocka_unit_test(test_first_name),
		cmocka_unit_test(test_oci_dir),
		cmocka_unit_test(test_oci_archive),
		cmocka_unit_test(test_docker_classic),
		cmocka_unit_test(test_docker_blob_paths),
		cmocka_unit_test(test_docker_new),
		cmocka_unit_test(test_oci_multi),
		cmocka_unit_test(test_platforms),
		cmocka_unit_test(test_platforms_flat),
		cmocka_unit_test(test_layer_files),
		cmocka_unit_test(test_err_json),
		cmocka_unit_test(test_err_manifest),
		cmocka_unit_test(test_err_blobs),
		cmocka_unit_test(test_err_docker),
		cmocka_unit_test(test_err_huge),
		cmocka_unit_test(test_err_sources),
		cmocka_unit_test(test_err_platform_opt),
		cmocka_unit_test(test_layer_like_image),
		cmocka_unit_test(test_oci_archive_dot),
		cmocka_unit_test(test_dir_among_sources),
	};
	/* clang-format on */
	int ret;

	ret = cmocka_run_group_tests(tests, NULL, NULL);
	tu_cleanup();
	return ret;
}
