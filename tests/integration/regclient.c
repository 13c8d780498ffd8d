/* SPDX-License-Identifier: Apache-2.0 */
/*
 * regclient: drives the registry client (lib/registry.h) for
 * registry_client.py.  One registry, many commands read from stdin, one
 * line each, so that what a run shares (tokens, connections, counters) is
 * what the test sees.  Each command prints one line: "ok ..." or
 * "err -ERRNO MESSAGE".
 *
 *   regclient [-k] [-a AUTHFILE] [-t TIMEOUT] [-r RETRIES] docker://REF
 *   manifest REFERENCE            ok DIGEST MEDIATYPE LEN (body to $REGCLIENT_OUT)
 *   blob DIGEST SIZE MAX OUT      ok LEN
 *   range DIGEST OFF LEN OUT      ok N
 *   size DIGEST                   ok SIZE (HEAD, or the first byte by GET)
 *   seq DIGEST SIZE CHUNK OUT     the whole blob through lfs_blobsrc_http_new
 *   rand DIGEST SIZE SEED COUNT LEN OUT
 *                                 COUNT reads at random offsets through the
 *                                 blob source; OUT gets "OFF N" lines and
 *                                 the bytes appended
 *   threads DIGEST SIZE N OUT     N threads read the whole blob in turns
 *   stats                         ok requests=R bytes=B retries=T tokens=K
 *   sleep SECONDS
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobsrc.h"
#include "layerfs/lfs.h"
#include "registry.h"

static struct lfs_registry *reg;

static int put(const char *path, const void *buf, size_t n, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (!f || fwrite(buf, 1, n, f) != n) {
		if (f)
			fclose(f);
		return -EIO;
	}
	return fclose(f) ? -EIO : 0;
}

static void err_line(long rc)
{
	printf("err %ld %s\n", rc, lfs_err_get());
}

static void cmd_manifest(const char *reference)
{
	char *buf, *mt, digest[72];
	const char *out = getenv("REGCLIENT_OUT");
	size_t len;
	int rc;

	rc = lfs_registry_manifest(reg, reference, &buf, &len, &mt, digest);
	if (rc) {
		err_line(rc);
		return;
	}
	if (out)
		put(out, buf, len, "wb");
	printf("ok %s %s %zu\n", digest, mt, len);
	free(buf);
	free(mt);
}

static void cmd_blob(const char *digest, long long size, size_t max, const char *out)
{
	char *buf;
	size_t len;
	int rc;

	rc = lfs_registry_blob(reg, digest, size, max, &buf, &len);
	if (rc) {
		err_line(rc);
		return;
	}
	put(out, buf, len, "wb");
	printf("ok %zu\n", len);
	free(buf);
}

static void cmd_range(const char *digest, uint64_t off, size_t len, const char *out)
{
	char *buf = malloc(len ? len : 1);
	ssize_t n;

	n = lfs_registry_blob_range(reg, digest, buf, len, off);
	if (n < 0)
		err_line(n);
	else {
		put(out, buf, (size_t)n, "wb");
		printf("ok %zd\n", n);
	}
	free(buf);
}

static void cmd_seq(const char *digest, uint64_t size, size_t chunk, const char *out)
{
	struct lfs_blobsrc *s;
	char *buf = malloc(chunk);
	FILE *f = fopen(out, "wb");
	uint64_t off = 0;
	ssize_t n = 0;
	int rc;

	rc = lfs_blobsrc_http_new(&s, reg, NULL, digest, size);
	if (rc || !f || !buf) {
		err_line(rc ? rc : -ENOMEM);
		goto out;
	}
	while (off < size) {
		n = s->ops->pread(s, buf, chunk, off);
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, f);
		off += (uint64_t)n;
	}
	lfs_blobsrc_unref(s);
	/* The file is complete before the test reads our answer. */
	if (fclose(f))
		n = -EIO;
	f = NULL;
	if (n < 0)
		err_line(n);
	else
		printf("ok %" PRIu64 "\n", off);
out:
	if (f)
		fclose(f);
	free(buf);
}

static void cmd_rand(const char *digest, uint64_t size, unsigned seed, int count, size_t len,
		     const char *out)
{
	struct lfs_blobsrc *s;
	char *buf = malloc(len);
	FILE *f = fopen(out, "wb");
	int i, rc;

	rc = lfs_blobsrc_http_new(&s, reg, NULL, digest, size);
	if (rc || !f || !buf) {
		err_line(rc ? rc : -ENOMEM);
		goto out;
	}
	srand(seed);
	for (i = 0; i < count; i++) {
		uint64_t off = ((uint64_t)rand() << 16 ^ (uint64_t)rand()) % size;

		rc = lfs_blobsrc_read_full(s, buf, off + len > size ? (size_t)(size - off) : len,
					   off, "the blob");
		if (rc) {
			err_line(rc);
			goto unref;
		}
		fprintf(f, "%" PRIu64 " %zu\n", off, off + len > size ? (size_t)(size - off) : len);
		fwrite(buf, 1, off + len > size ? (size_t)(size - off) : len, f);
		fputc('\n', f);
	}
	rc = fclose(f);
	f = NULL;
	if (rc)
		printf("err -5 writing %s\n", out);
	else
		printf("ok %d\n", count);
unref:
	lfs_blobsrc_unref(s);
out:
	if (f)
		fclose(f);
	free(buf);
}

struct worker {
	struct lfs_blobsrc *s;
	char *dst;
	int k, n;
	size_t chunk;
	int rc;
};

/* Thread K reads chunks K, K+N, K+2N... */
static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t off;

	for (off = (uint64_t)w->k * w->chunk; off < w->s->size; off += (uint64_t)w->n * w->chunk) {
		size_t len = off + w->chunk > w->s->size ? (size_t)(w->s->size - off) : w->chunk;
		int rc = lfs_blobsrc_read_full(w->s, w->dst + off, len, off, "the blob");

		if (rc) {
			w->rc = rc;
			break;
		}
	}
	return NULL;
}

static void cmd_threads(const char *digest, uint64_t size, int n, const char *out)
{
	struct worker w[16];
	pthread_t t[16];
	struct lfs_blobsrc *s;
	char *dst = malloc(size ? size : 1);
	int i, rc = 0;

	if (n < 1 || n > 16 || !dst) {
		printf("err -22 bad thread count\n");
		free(dst);
		return;
	}
	rc = lfs_blobsrc_http_new(&s, reg, NULL, digest, size);
	if (rc) {
		err_line(rc);
		free(dst);
		return;
	}
	for (i = 0; i < n; i++) {
		w[i] = (struct worker){.s = s, .dst = dst, .k = i, .n = n, .chunk = 100000};
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		if (w[i].rc && !rc)
			rc = w[i].rc;
	}
	if (rc)
		printf("err %d (in a thread)\n", rc);
	else {
		put(out, dst, size, "wb");
		printf("ok %d\n", n);
	}
	lfs_blobsrc_unref(s);
	free(dst);
}

int main(int argc, char **argv)
{
	struct lfs_registry_opts o = {.tls_verify = 1};
	struct lfs_registry_ref ref;
	struct lfs_registry_stats st;
	char line[4096], a[1024], b[1024], c[1024], d[1024], e[1024], f[1024], g[1024];
	int opt, rc;

	while ((opt = getopt(argc, argv, "ka:t:r:")) != -1) {
		switch (opt) {
		case 'k':
			o.tls_verify = 0;
			break;
		case 'a':
			o.authfile = optarg;
			break;
		case 't':
			o.timeout = atoi(optarg);
			break;
		case 'r':
			o.retries = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: regclient [-k] [-a AUTHFILE] [-t S] [-r N] docker://REF\n");
		return 2;
	}
	rc = lfs_registry_ref_parse(argv[optind], &ref);
	if (!rc)
		rc = lfs_registry_open(&reg, &ref, &o);
	if (rc) {
		fprintf(stderr, "regclient: %s\n", lfs_err_get());
		lfs_registry_ref_clear(&ref);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		int n = sscanf(line, "%1023s %1023s %1023s %1023s %1023s %1023s %1023s", g, a, b, c,
			       d, e, f);

		lfs_err_clear();
		if (n <= 0)
			continue;
		if (!strcmp(g, "manifest") && n == 2)
			cmd_manifest(a);
		else if (!strcmp(g, "blob") && n == 5)
			cmd_blob(a, atoll(b), strtoull(c, NULL, 10), d);
		else if (!strcmp(g, "range") && n == 5)
			cmd_range(a, strtoull(b, NULL, 10), strtoull(c, NULL, 10), d);
		else if (!strcmp(g, "size") && n == 2) {
			uint64_t size;
			int err = lfs_registry_blob_size(reg, a, &size);

			if (err)
				printf("err %d %s\n", err, lfs_err_get());
			else
				printf("ok %" PRIu64 "\n", size);
		} else if (!strcmp(g, "seq") && n == 5)
			cmd_seq(a, strtoull(b, NULL, 10), strtoull(c, NULL, 10), d);
		else if (!strcmp(g, "rand") && n == 7)
			cmd_rand(a, strtoull(b, NULL, 10), (unsigned)atoi(c), atoi(d),
				 strtoull(e, NULL, 10), f);
		else if (!strcmp(g, "threads") && n == 5)
			cmd_threads(a, strtoull(b, NULL, 10), atoi(c), d);
		else if (!strcmp(g, "stats")) {
			lfs_registry_stats(reg, &st);
			printf("ok requests=%" PRIu64 " bytes=%" PRIu64 " retries=%" PRIu64
			       " tokens=%" PRIu64 "\n",
			       st.requests, st.bytes, st.retries, st.token_fetches);
		} else if (!strcmp(g, "sleep") && n == 2) {
			usleep((useconds_t)(atof(a) * 1e6));
			printf("ok\n");
		} else
			printf("err -22 unknown command: %s", line);
	}
	lfs_registry_unref(reg);
	lfs_registry_ref_clear(&ref);
	return 0;
}
