/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seed writer for fuzz_cache: index one layer file, encode its index as the
 * cache does (lfs_cache_encode, scratch data saved with the blob's), and
 * print the fuzz input to stdout: control byte, payload (after the cache
 * file's header in file mode), "LFSCACHE", the layer, "LFSCACHE", the
 * scratch data.  make-corpus.py runs it over some of the layer seeds.
 *
 *   cache_seed [-f] [-h] [-n] LAYER > SEED
 *     -f  file mode (header, lfs_cache_load);  -h  index with content
 *     hashes and ask for them;  -n  no scratch file
 */
#include "config.h"

#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache.h"
#include "cache_format.h"
#include "layerfs/lfs.h"

static void put(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) {
		perror("cache_seed: stdout");
		exit(1);
	}
}

/* The header lfs_cache_store writes (the key is fuzz_cache's to fix up). */
static void put_header(const void *raw, size_t len, int hashed)
{
	struct lfs_cache_header h;
	size_t clen = ZSTD_compressBound(len);
	void *comp = lfs_xmalloc(clen);

	clen = ZSTD_compress(comp, clen, raw, len, 1);
	if (ZSTD_isError(clen)) {
		fprintf(stderr, "cache_seed: zstd: %s\n", ZSTD_getErrorName(clen));
		exit(1);
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, LFS_CACHE_MAGIC, 8);
	h.version = htole32(LFS_CACHE_VERSION);
	h.flags = htole32(hashed ? LFS_CACHE_F_HASHES : 0);
	h.payload_len = htole64(clen);
	h.raw_len = htole64(len);
	h.payload_xxh3 = htole64(XXH3_64bits(comp, clen));
	h.header_xxh3 = htole64(XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)));
	put(&h, sizeof(h));
	free(comp);
}

int main(int argc, char **argv)
{
	struct lfs_layer_opts o = {0};
	struct lfs_layer_desc d = {0};
	struct lfs_layer *l;
	uint8_t ctl = 0x07;
	uint64_t slen = 0;
	struct stat st;
	void *raw, *buf;
	size_t len;
	int opt, sfd;

	lfs_progname = "cache_seed";
	lfs_quiet = 1;
	while ((opt = getopt(argc, argv, "fhn")) != -1) {
		if (opt == 'f')
			ctl |= 0x08;
		else if (opt == 'h')
			ctl |= 0x10;
		else if (opt == 'n')
			ctl |= 0x20;
		else
			goto usage;
	}
	if (optind + 1 != argc)
		goto usage;
	o.hash_content = !!(ctl & 0x10);
	d.name = argv[optind];
	d.fd = open(d.name, O_RDONLY | O_CLOEXEC);
	if (d.fd < 0 || fstat(d.fd, &st) < 0) {
		perror(d.name);
		return 1;
	}
	d.len = (uint64_t)st.st_size;
	sfd = memfd_create("scratch", MFD_CLOEXEC);
	if (sfd < 0 || lfs_layer_index(&l, &d, 0, &o) < 0 ||
	    lfs_blob_save_scratch(l->blob, sfd, &slen) < 0 ||
	    lfs_cache_encode(l, (ctl & 0x20) ? 0 : slen, &raw, &len) < 0) {
		fprintf(stderr, "cache_seed: %s\n", lfs_err_get());
		return 1;
	}
	put(&ctl, 1);
	if (ctl & 0x08)
		put_header(raw, len, l->hashed);
	put(raw, len);
	put("LFSCACHE", 8);
	buf = lfs_xmalloc(d.len + slen + 1);
	if (pread(d.fd, buf, d.len, 0) != (ssize_t)d.len ||
	    pread(sfd, (char *)buf + d.len, slen, 0) != (ssize_t)slen) {
		perror("cache_seed: reading back");
		return 1;
	}
	put(buf, d.len);
	put("LFSCACHE", 8);
	if (!(ctl & 0x20))
		put((char *)buf + d.len, slen);
	free(buf);
	free(raw);
	lfs_layer_free(l);
	close(sfd);
	close(d.fd);
	return fflush(stdout) ? 1 : 0;
usage:
	fprintf(stderr, "usage: cache_seed [-f] [-h] [-n] LAYER > SEED\n");
	return 2;
}
