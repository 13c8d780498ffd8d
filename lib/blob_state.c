/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blob persistence: the restart points of a finished scan written out and
 * read back (checked field by field: the bytes come from disk), so a second
 * mount skips the scan.  Scratch data is checked when it is used.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "blob_int.h"
#include "layerfs/lfs.h"

/*
 * Persistence (and the checks of restart points it relies on).  A finished
 * blob is its restart points (the state) plus its scratch data, so that a
 * cache can rebuild it without a scan.
 *
 * State, little-endian: "LFSB", u16 version, u8 compression, u8 flags,
 * u64 stored length, u64 plain size, u64 scratch length, u64 point count,
 * the points (LFS_POINT_REC bytes each, see point_pack), with flag
 * STATE_SUMS the chunk sums (u64 count, then the sha256 of each piece of
 * the stored blob, see blobsrc.h), and the xxh3-64 of everything before it.  The state comes from
 * disk: lfs_blob_load checks every field before trusting it.  The trailing checksum catches
 * accidental damage; the structural checks keep a state that was written wrong on purpose (with a
 * valid checksum) from doing worse than failing reads.
 *
 * Each point carries the xxh3-64 of its scratch data, checked whenever that
 * data is read back, seeded with the point's other fields: a point that
 * was changed is caught on use like a damaged window or frame is.
 */
#define STATE_MAGIC   "LFSB"
#define STATE_VERSION 2
#define STATE_HDR     40
#define STATE_SUM     8
#define STATE_SUMS    0x1 /* flag: chunk sums follow the points */

int lfs_blob_state(const struct lfs_blob *b, void **state, size_t *len)
{
	const int sums = b->sums.sha != NULL;
	const size_t sums_len = sums ? 8 + (size_t)b->sums.n * 32 : 0;
	size_t n = STATE_HDR + b->npts * LFS_POINT_REC + sums_len + STATE_SUM;
	uint8_t *p = lfs_xmalloc(n), *q;

	memcpy(p, STATE_MAGIC, 4);
	lfs_put_le(p + 4, STATE_VERSION, 2);
	p[6] = (uint8_t)b->comp;
	p[7] = sums ? STATE_SUMS : 0;
	lfs_put_le(p + 8, b->src->size, 8);
	lfs_put_le(p + 16, b->size, 8);
	lfs_put_le(p + 24, b->scratch_len, 8);
	lfs_put_le(p + 32, b->npts, 8);
	for (size_t i = 0; i < b->npts; i++)
		lfs_point_pack(p + STATE_HDR + i * LFS_POINT_REC, &b->pts[i]);
	if (sums) {
		q = p + STATE_HDR + b->npts * LFS_POINT_REC;
		lfs_put_le(q, b->sums.n, 8);
		memcpy(q + 8, b->sums.sha, (size_t)b->sums.n * 32);
	}
	lfs_put_le(p + n - STATE_SUM, XXH3_64bits(p, n - STATE_SUM), 8);
	*state = p;
	*len = n;
	return 0;
}

/* Plain copy, for when copy_file_range cannot (other file system, old kernel). */
static int copy_slow(const struct lfs_blob *b, int fd, uint64_t from)
{
	const size_t bufsz = 128u << 10;
	uint8_t *buf = lfs_xmalloc(bufsz);
	uint64_t off = from;
	size_t m, k;
	ssize_t r;
	int ret = 0;

	while (off < b->scratch_len) {
		m = b->scratch_len - off < bufsz ? (size_t)(b->scratch_len - off) : bufsz;
		ret = lfs_pread_full(b->scratch_fd, buf, m, off, b->name, "the scratch file");
		if (ret)
			break;
		for (k = 0; k < m; k += (size_t)r) {
			r = pwrite(fd, buf + k, m - k, (off_t)(off + k));
			if (r < 0 && errno == EINTR) {
				r = 0;
			} else if (r < 0) {
				ret = -errno;
				lfs_err_set("%s: saving the scratch data: %s", b->name,
					    strerror(-ret));
				goto out;
			}
		}
		off += m;
	}
out:
	free(buf);
	return ret;
}

int lfs_blob_save_scratch(const struct lfs_blob *b, int fd, uint64_t *len)
{
	uint64_t done = 0;
	loff_t in, out;
	ssize_t r;
	int ret;

	*len = 0;
	/* copy_file_range: no copy through user space, a reflink on btrfs / XFS. */
	while (done < b->scratch_len) {
		in = out = (loff_t)done;
		r = copy_file_range(
		    b->scratch_fd, &in, fd, &out,
		    b->scratch_len - done < (1u << 30) ? b->scratch_len - done : (1u << 30), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 &&
		    (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			ret = copy_slow(b, fd, done);
			if (ret)
				return ret;
			break;
		}
		if (r < 0) {
			ret = -errno;
			lfs_err_set("%s: saving the scratch data: %s", b->name, strerror(-ret));
			return ret;
		}
		if (r == 0) {
			lfs_err_set("%s: reading the scratch file: unexpected end of file",
				    b->name);
			return -EIO;
		}
		done += (uint64_t)r;
	}
	*len = b->scratch_len;
	return 0;
}

static int bad_state(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad_state(const char *name, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lfs_err_set("%s: saved blob state: %s", name, why);
	return -EBADMSG;
}

/* The header and the points, checked against each other and the blob. */
static int check_points(const struct lfs_blob *b)
{
	struct lfs_point_check pc = {0};
	const struct lfs_point *p;
	const char *why;
	size_t i;

	if (!b->codec) {
		if (b->npts || b->scratch_len || b->size != b->src->size)
			return bad_state(b->name, "inconsistent for an uncompressed blob");
		return 0;
	}
	if (b->size > (uint64_t)INT64_MAX || (b->size && !b->npts))
		return bad_state(b->name, "plain size %llu with %zu restart points",
				 (unsigned long long)b->size, b->npts);
	for (i = 0; i < b->npts; i++) {
		p = &b->pts[i];
		if (p->out > b->size || (i == 0 && p->out) || (i && p->out < p[-1].out))
			why = "plain offset out of order or out of range";
		else
			why = b->codec->check_point(b, p, &pc);
		if (why)
			return bad_state(b->name, "restart point %zu: %s", i, why);
	}
	if (pc.scratch_end != b->scratch_len)
		return bad_state(b->name, "the scratch data is %llu bytes, not %llu",
				 (unsigned long long)pc.scratch_end,
				 (unsigned long long)b->scratch_len);
	return 0;
}

/* What a state says before its points; the points are checked with the blob. */
struct state_hdr {
	enum lfs_comp comp;
	uint64_t len, size, scratch_len;
	size_t npts;
	int has_sums;
	uint64_t nsums; /* at byte sums_at + 8 */
	size_t sums_at;
};

static int parse_state(const char *name, const uint8_t *s, size_t n, struct state_hdr *h)
{
	uint64_t npts, body;

	if (n < STATE_HDR + STATE_SUM)
		return bad_state(name, "truncated (%zu bytes)", n);
	if (memcmp(s, STATE_MAGIC, 4) != 0)
		return bad_state(name, "bad magic");
	if (lfs_get_le(s + 4, 2) != STATE_VERSION)
		return bad_state(name, "version %u, this layerfs reads %u",
				 (unsigned)lfs_get_le(s + 4, 2), STATE_VERSION);
	if (lfs_get_le(s + n - STATE_SUM, 8) != XXH3_64bits(s, n - STATE_SUM))
		return bad_state(name, "checksum mismatch (damaged or truncated)");
	if (s[6] > LFS_COMP_ZSTD || (s[7] & ~STATE_SUMS))
		return bad_state(name, "unknown compression %u or flags %#x", s[6], s[7]);
	h->comp = (enum lfs_comp)s[6];
	h->has_sums = s[7] & STATE_SUMS;
	h->len = lfs_get_le(s + 8, 8);
	h->size = lfs_get_le(s + 16, 8);
	h->scratch_len = lfs_get_le(s + 24, 8);
	npts = lfs_get_le(s + 32, 8);
	body = n - STATE_HDR - STATE_SUM;
	if (npts > body / LFS_POINT_REC)
		return bad_state(name, "%llu restart points do not fit in %zu bytes",
				 (unsigned long long)npts, n);
	h->npts = (size_t)npts;
	h->sums_at = STATE_HDR + h->npts * LFS_POINT_REC;
	body -= h->npts * LFS_POINT_REC;
	if (h->has_sums) {
		h->nsums = body >= 8 ? lfs_get_le(s + h->sums_at, 8) : UINT64_MAX;
		if (body < 8 || h->nsums != lfs_chunk_count(h->len) ||
		    (body - 8) / 32 != h->nsums || (body - 8) % 32)
			return bad_state(name, "the chunk digests do not fit %llu stored bytes",
					 (unsigned long long)h->len);
	} else if (body) {
		return bad_state(name, "%zu bytes after %llu restart points", (size_t)body,
				 (unsigned long long)npts);
	}
	return 0;
}

static struct lfs_point *unpack_points(const uint8_t *s, size_t npts)
{
	struct lfs_point *v = npts ? lfs_xmalloc(npts * sizeof(*v)) : NULL;
	const uint8_t *r;

	for (size_t i = 0; i < npts; i++) {
		r = s + STATE_HDR + i * LFS_POINT_REC;
		v[i] = (struct lfs_point){
		    .out = lfs_get_le(r, 8),
		    .in = lfs_get_le(r + 8, 8),
		    .win = lfs_get_le(r + 16, 8),
		    .len = (uint32_t)lfs_get_le(r + 24, 4),
		    .bits = r[28],
		    .byte = r[29],
		    /* A reserved byte that is set is an unknown kind: refused. */
		    .kind = r[31] ? UINT8_MAX : r[30],
		    .hash = lfs_get_le(r + 32, 8),
		};
	}
	return v;
}

/*
 * The files must be (at least) as long as the state says, and the blob of
 * its kind.  A truncated local file is told here, up front, with a clear
 * message rather than at the first read past its end; other sources report
 * a short blob when it is read.
 */
static int check_files(const struct lfs_blob *b)
{
	uint8_t head[4];
	size_t hn = b->src->size < sizeof(head) ? (size_t)b->src->size : sizeof(head);
	struct stat st;
	uint64_t base;
	int fd, ret, local = lfs_blobsrc_local_fd(b->src, &fd, &base) == 0;

	if (local && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < base + b->src->size) {
		lfs_err_set("%s: the file ends at byte %llu, before the blob does (truncated?)",
			    b->name, (unsigned long long)st.st_size);
		return -EIO;
	}
	if (b->scratch_fd >= 0 && fstat(b->scratch_fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < b->scratch_len)
		return bad_state(b->name, "the scratch file has %llu bytes, not %llu",
				 (unsigned long long)st.st_size,
				 (unsigned long long)b->scratch_len);
	/*
	 * A blob that is not a local file (a registry's) was cached under its
	 * verified digest: it is the blob the state was made from, and reading
	 * its head would cost a request per layer on every mount.
	 */
	if (!local)
		return 0;
	ret = lfs_blobsrc_read_full(b->src, head, hn, 0, "the blob");
	if (ret)
		return ret;
	if (lfs_comp_detect(head, hn) != b->comp)
		return bad_state(b->name, "made for a %s blob, this one is %s",
				 lfs_comp_name(b->comp), lfs_comp_name(lfs_comp_detect(head, hn)));
	return 0;
}

int lfs_blob_load(struct lfs_blob **out, struct lfs_blobsrc *src, const void *state,
		  size_t state_len, int scratch_fd, uint64_t scratch_len)
{
	const char *name = src->name;
	struct state_hdr h = {0};
	struct lfs_blob *b;
	int sfd = -1, ret;

	*out = NULL;
	ret = parse_state(name, state, state_len, &h);
	if (ret)
		return ret;
	if (h.len != src->size || h.scratch_len != scratch_len)
		return bad_state(name,
				 "made for %llu stored and %llu scratch bytes, not %llu and %llu",
				 (unsigned long long)h.len, (unsigned long long)h.scratch_len,
				 (unsigned long long)src->size, (unsigned long long)scratch_len);
	if (scratch_len && scratch_fd < 0) {
		lfs_err_set("%s: the saved blob state needs its scratch file", name);
		return -EINVAL;
	}
	if (scratch_len) {
		sfd = fcntl(scratch_fd, F_DUPFD_CLOEXEC, 0);
		if (sfd < 0) {
			ret = -errno;
			lfs_err_set("%s: %s", name, strerror(-ret));
			return ret;
		}
	}
	b = lfs_blob_new(h.comp, lfs_xstrdup(name), lfs_blobsrc_ref(src), h.size, sfd, scratch_len,
			 unpack_points(state, h.npts), h.npts);
	if (h.has_sums) {
		struct lfs_chunk_sums sums = {.n = h.nsums};

		sums.sha = lfs_xmalloc(h.nsums ? (size_t)h.nsums * 32 : 1);
		memcpy(sums.sha, (const uint8_t *)state + h.sums_at + 8, (size_t)h.nsums * 32);
		lfs_blob_take_sums(b, &sums);
	}
	ret = check_points(b);
	if (!ret)
		ret = check_files(b);
	/* A remote source reads nothing it cannot check: the state must bring the sums. */
	if (!ret && lfs_blobsrc_wants_sums(src) && !h.has_sums)
		ret = bad_state(name, "no chunk digests for a blob read from afar");
	if (!ret)
		ret = lfs_blobsrc_set_sums(src, &b->sums);
	if (ret) {
		lfs_blob_free(b);
		return ret;
	}
	*out = b;
	return 0;
}
