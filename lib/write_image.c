/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image writer: a source image's layers (copied as they are, hard-linked
 * where they are whole files, never recompressed) and new layers, with the
 * config and manifest of write_config.c, put in a destination named as the
 * containers-transports name it: an OCI layout directory (oci:), the same
 * in a tarball (oci-archive:), or docker save's format (docker-archive:).
 * Everything is written under a temporary name beside DEST and renamed at
 * the end: a failure leaves no partial DEST.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobsrc.h"
#include "layerfs/blob.h"
#include "image_int.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"
#include "write_int.h"

#define COPY_CHUNK (1u << 20)

/* Where the files of the image go: a directory, or a tarball. */
struct sink {
	int tar;
	int dirfd;	   /* the directory being built */
	struct archive *a; /* the tarball being written */
	int fd;
	char *tmp; /* its temporary name */
	char *buf;
};

static int sink_fail(struct sink *s, const char *name, int rc)
{
	return lfs_error(rc, "%s/%s: %s", s->tmp, name,
			 s->tar && archive_error_string(s->a) ? archive_error_string(s->a)
							      : strerror(-rc));
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct sink *s = arg;
	const char *p = buf;
	size_t left = len;

	while (left) {
		ssize_t w = write(s->fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	return (la_ssize_t)len;
}

static int sink_open(struct sink *s, const char *path, int tar)
{
	size_t n = strlen(path) + 32;

	s->tar = tar;
	s->fd = s->dirfd = -1;
	s->tmp = lfs_xmalloc(n);
	snprintf(s->tmp, n, "%s.tmp-%ld", path, (long)getpid());
	s->buf = lfs_xmalloc(COPY_CHUNK);
	if (!tar) {
		if (mkdir(s->tmp, 0755) < 0)
			return lfs_error(-errno, "%s: %s", s->tmp, strerror(errno));
		s->dirfd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0)
			return lfs_error(-errno, "%s: %s", s->tmp, strerror(errno));
		return 0;
	}
	s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s->fd < 0)
		return lfs_error(-errno, "%s: %s", s->tmp, strerror(errno));
	s->a = archive_write_new();
	archive_write_set_format_pax_restricted(s->a);
	if (archive_write_open2(s->a, s, NULL, tar_out, NULL, NULL) != ARCHIVE_OK)
		return sink_fail(s, "", -EIO);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p) < 0 ? 0 : 0;
}

/* Finish (RC 0: rename to PATH) or drop what was written. */
static int sink_close(struct sink *s, const char *path, int rc)
{
	if (s->a) {
		if (rc == 0 && archive_write_close(s->a) != ARCHIVE_OK)
			rc = sink_fail(s, "", -EIO);
		archive_write_free(s->a);
	}
	if (rc == 0 && s->fd >= 0 && fsync(s->fd) < 0)
		rc = lfs_error(-errno, "%s: %s", s->tmp, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (rc == 0 && rename(s->tmp, path) < 0)
		rc = lfs_error(-errno, "%s: %s", path, strerror(errno));
	if (rc < 0 && s->tmp)
		nftw(s->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(s->tmp);
	free(s->buf);
	return rc;
}

static int tar_header(struct sink *s, const char *name, uint64_t size, int dir)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	rc = archive_write_header(s->a, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK ? 0 : sink_fail(s, name, -EIO);
}

static int sink_mkdir(struct sink *s, const char *name)
{
	if (s->tar)
		return tar_header(s, name, 0, 1);
	if (mkdirat(s->dirfd, name, 0755) < 0 && errno != EEXIST)
		return sink_fail(s, name, -errno);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int sink_bytes(struct sink *s, const char *name, const void *buf, size_t len)
{
	int fd, rc;

	if (s->tar) {
		rc = tar_header(s, name, len, 0);
		if (rc == 0 && len && archive_write_data(s->a, buf, len) != (la_ssize_t)len)
			rc = sink_fail(s, name, -EIO);
		return rc;
	}
	fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sink_fail(s, name, -errno);
	rc = write_all(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc < 0 ? sink_fail(s, name, rc) : 0;
}

/*
 * Blob NAME from SRC (SIZE bytes); a whole local file (FD, nothing before
 * nor after) is hard-linked into a directory when it can be.
 */
static int sink_blob(struct sink *s, const char *name, struct lfs_blobsrc *src, int fd,
		     uint64_t size)
{
	uint64_t off = 0;
	struct stat st;
	int out = -1, rc = 0;

	if (!s->tar && fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == size) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, p, s->dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
	}
	if (s->tar)
		rc = tar_header(s, name, size, 0);
	else if ((out = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		rc = sink_fail(s, name, -errno);
	while (rc == 0 && off < size) {
		size_t n = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;

		rc = lfs_blobsrc_read_full(src, s->buf, n, off, name);
		if (rc < 0)
			break;
		if (s->tar)
			rc = archive_write_data(s->a, s->buf, n) == (la_ssize_t)n
				 ? 0
				 : sink_fail(s, name, -EIO);
		else if ((rc = write_all(out, s->buf, n)) < 0)
			rc = sink_fail(s, name, rc);
		off += n;
	}
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = sink_fail(s, name, -errno);
	return rc;
}

static int put_layer(struct sink *s, const char *name, const struct lfs_wlayer *l)
{
	struct lfs_blobsrc *src = NULL;
	int fd, rc = lfs_wlayer_src(l, &src, &fd);

	if (rc == 0)
		rc = sink_blob(s, name, src, fd, l->res.size);
	if (src)
		lfs_blobsrc_unref(src);
	if (!l->src && fd >= 0)
		close(fd);
	return rc;
}

/* sha256 of the stored bytes of SRC and of its uncompressed stream (one pass). */
static int scan_digests(struct lfs_blobsrc *src, char digest[72], char diff_id[72])
{
	struct lfs_scan_opts so = {.hash_stored = 1, .hash_plain = 1, .sequential = 1};
	uint8_t stored[32], plain[32];
	struct lfs_scan *s;
	struct lfs_blob *b = NULL;
	int rc = lfs_scan_open(&s, src, &so);

	if (rc < 0)
		return rc;
	rc = lfs_scan_finish(s, &b, stored, plain);
	if (b)
		lfs_blob_free(b);
	if (rc == 0) {
		lfs_digest_format(stored, digest);
		lfs_digest_format(plain, diff_id);
	}
	return rc;
}

/*
 * Digest, diff_id, size and media type of a layer kept from the source: from
 * the manifest and config, else read from the layer itself.
 */
static int fill_source_layer(const struct lfs_image *img, struct lfs_wlayer *l)
{
	size_t idx = (size_t)(l->src - img->layers);
	struct lfs_blobsrc *src;
	unsigned char magic[4] = {0};
	uint64_t size = lfs_layer_desc_size(l->src);
	int rc;

	l->res.size = size;
	rc = lfs_layer_desc_src(l->src, &src);
	if (rc < 0)
		return rc;
	if (size >= 4)
		rc = lfs_blobsrc_read_full(src, magic, 4, 0, l->src->name);
	if (rc == 0 && l->src->digest && img->cfg && idx < img->cfg->diff_ids.n) {
		snprintf(l->res.digest, sizeof(l->res.digest), "%s", l->src->digest);
		snprintf(l->res.diff_id, sizeof(l->res.diff_id), "%s", img->cfg->diff_ids.v[idx]);
	} else if (rc == 0) {
		rc = scan_digests(src, l->res.digest, l->res.diff_id);
	}
	lfs_blobsrc_unref(src);
	if (magic[0] == 0x1f && magic[1] == 0x8b)
		l->res.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	else if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
		l->res.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
	else
		l->res.media_type = "application/vnd.oci.image.layer.v1.tar";
	return rc;
}

static void blob_name(char *out, size_t n, const char *digest)
{
	snprintf(out, n, "blobs/sha256/%s", digest + 7);
}

static int write_oci(struct sink *s, const char *tag, const char *cfg, const char *cfg_digest,
		     const char *man, const char *man_digest, const struct lfs_wlayer *layers,
		     size_t n)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	char name[128];
	char *index = lfs_write_index_json(man_digest, strlen(man), tag);
	int rc = sink_bytes(s, "oci-layout", layout, strlen(layout));

	if (rc == 0)
		rc = sink_mkdir(s, "blobs");
	if (rc == 0)
		rc = sink_mkdir(s, "blobs/sha256");
	for (size_t i = 0; i < n && rc == 0; i++) {
		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(layers[j].res.digest, layers[i].res.digest);
		blob_name(name, sizeof(name), layers[i].res.digest);
		if (!dup)
			rc = put_layer(s, name, &layers[i]);
	}
	blob_name(name, sizeof(name), cfg_digest);
	if (rc == 0)
		rc = sink_bytes(s, name, cfg, strlen(cfg));
	blob_name(name, sizeof(name), man_digest);
	if (rc == 0)
		rc = sink_bytes(s, name, man, strlen(man));
	if (rc == 0)
		rc = sink_bytes(s, "index.json", index, strlen(index));
	free(index);
	return rc;
}

static int write_docker(struct sink *s, const char *ref, const char *cfg, const char *cfg_digest,
			const struct lfs_wlayer *layers, size_t n)
{
	char cname[96], **names = lfs_xcalloc(n + 1, sizeof(char *)), *man, *repotag = NULL;
	int rc;

	snprintf(cname, sizeof(cname), "%s.json", cfg_digest + 7);
	rc = sink_bytes(s, cname, cfg, strlen(cfg));
	for (size_t i = 0; i < n && rc == 0; i++) {
		int dup = 0;

		names[i] = lfs_xmalloc(80);
		snprintf(names[i], 80, "%s.tar", layers[i].res.digest + 7);
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(layers[j].res.digest, layers[i].res.digest);
		if (!dup)
			rc = put_layer(s, names[i], &layers[i]);
	}
	if (ref) {
		const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');

		repotag = lfs_xmalloc(strlen(ref) + 8);
		sprintf(repotag, "%s%s", ref, colon && (!slash || colon > slash) ? "" : ":latest");
	}
	man = rc == 0 ? lfs_write_docker_manifest_json(cname, repotag, names, n) : NULL;
	if (man)
		rc = sink_bytes(s, "manifest.json", man, strlen(man));
	free(man);
	if (rc == 0 && repotag && n) {
		char *repos = lfs_write_repositories_json(repotag, layers[n - 1].res.diff_id + 7);

		rc = sink_bytes(s, "repositories", repos, strlen(repos));
		free(repos);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(repotag);
	return rc;
}

int lfs_write_dest_check(const char *dest)
{
	struct lfs_transport_src tr;
	struct stat st;
	int rc = lfs_transport_parse(dest, &tr);

	if (rc < 0)
		return rc;
	if (tr.t == LFS_TRANSPORT_DOCKER) {
		lfs_transport_clear(&tr);
		return 0;
	}
	if (tr.t != LFS_TRANSPORT_OCI && tr.t != LFS_TRANSPORT_OCI_ARCHIVE &&
	    tr.t != LFS_TRANSPORT_DOCKER_ARCHIVE)
		rc = lfs_error(-ENOTSUP,
			       "%s: DEST is written oci:DIR[:TAG], oci-archive:FILE[:TAG], "
			       "docker-archive:FILE[:NAME:TAG] or docker://REF",
			       dest);
	else if (lstat(tr.path, &st) == 0)
		rc = lfs_error(-EEXIST, "%s: already exists (DEST is never overwritten)", tr.path);
	lfs_transport_clear(&tr);
	return rc;
}

int lfs_write_image(const char *dest, const struct lfs_image *src, struct lfs_wlayer *layers,
		    size_t nlayers, const struct lfs_wimage_opts *opts)
{
	struct lfs_transport_src tr;
	struct sink s = {0};
	char cfg_digest[72], man_digest[72];
	char *cfg = NULL, *man = NULL;
	int rc = lfs_transport_parse(dest, &tr);

	if (rc < 0)
		return rc;
	rc = lfs_write_dest_check(dest);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nlayers && rc == 0; i++)
		if (layers[i].src)
			rc = fill_source_layer(src, &layers[i]);
	if (rc < 0)
		goto out;
	cfg = lfs_write_config_json(src, layers, nlayers, opts);
	if (!cfg) {
		rc = -EINVAL;
		goto out;
	}
	lfs_digest_of(cfg, strlen(cfg), cfg_digest);
	man = lfs_write_manifest_json(cfg_digest, strlen(cfg), layers, nlayers);
	lfs_digest_of(man, strlen(man), man_digest);
	if (tr.t == LFS_TRANSPORT_DOCKER) {
		rc = lfs_write_registry(dest, layers, nlayers, cfg, cfg_digest, man, opts);
		goto done;
	}
	rc = sink_open(&s, tr.path, tr.t != LFS_TRANSPORT_OCI);
	if (rc == 0 && tr.t == LFS_TRANSPORT_DOCKER_ARCHIVE)
		rc = write_docker(&s, tr.ref, cfg, cfg_digest, layers, nlayers);
	else if (rc == 0)
		rc = write_oci(&s, tr.ref, cfg, cfg_digest, man, man_digest, layers, nlayers);
	rc = sink_close(&s, tr.path, rc);
done:
	if (rc == 0 && !opts->quiet)
		fprintf(stderr, "%s: wrote %s (manifest %s)\n", lfs_progname, dest, man_digest);
out:
	free(cfg);
	free(man);
	lfs_transport_clear(&tr);
	return rc;
}
