/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the shared image options (lib/opts.c): good and bad values
 * of each, the single error line a bad value gets (stderr captured), size
 * suffixes and overflow, --tls-verify's booleans, and the words
 * layerfs-chroot passes on.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs/lfs.h"
#include "layerfs/opts.h"

static char errbuf[4096];

/* lfs_image_cli_opt with stderr captured into errbuf. */
static int opt(struct lfs_image_cli *o, int c, const char *arg)
{
	FILE *f = tmpfile();
	int saved, ret;
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	ret = lfs_image_cli_opt(o, c, arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(errbuf, 1, sizeof(errbuf) - 1, f);
	errbuf[n] = '\0';
	fclose(f);
	return ret;
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A bad value: -1, one line naming the option and the value, nothing set. */
static void expect_bad(int c, const char *name, const char *arg, const char *why)
{
	struct lfs_image_cli o, before;
	char want[256];

	lfs_image_cli_init(&o);
	before = o;
	assert_int_equal(opt(&o, c, arg), -1);
	snprintf(want, sizeof(want), "layerfs: --%s: '%s' %s", name, arg, why);
	if (strncmp(errbuf, want, strlen(want)))
		fail_msg("got \"%s\", want \"%s...\"", errbuf, want);
	assert_int_equal(lines(errbuf), 1);
	assert_memory_equal(&o, &before, sizeof(o));
}

static void test_strings(void **state)
{
	struct lfs_image_cli o;

	(void)state;
	lfs_image_cli_init(&o);
	assert_int_equal(opt(&o, LFS_OPT_TAG, "app:1"), 1);
	assert_string_equal(o.tag, "app:1");
	assert_int_equal(opt(&o, LFS_OPT_TMPDIR, "/scratch"), 1);
	assert_string_equal(o.tmpdir, "/scratch");
	assert_int_equal(opt(&o, LFS_OPT_CACHE, "/c"), 1);
	assert_string_equal(o.cache_dir, "/c");
	assert_int_equal(opt(&o, LFS_OPT_NO_CACHE, NULL), 1);
	assert_int_equal(o.no_cache, 1);
	assert_int_equal(opt(&o, LFS_OPT_PLATFORM, "linux/arm64/v8"), 1);
	assert_string_equal(o.platform, "linux/arm64/v8");
	assert_int_equal(opt(&o, LFS_OPT_PLATFORM, "linux/amd64"), 1);
	assert_string_equal(errbuf, "");
	/* not one of ours: left to the program, silently */
	assert_int_equal(opt(&o, 'f', NULL), 0);
	assert_int_equal(opt(&o, 256, "x"), 0);
	assert_string_equal(errbuf, "");

	expect_bad(LFS_OPT_TAG, "tag", "", "is empty");
	expect_bad(LFS_OPT_TMPDIR, "tmpdir", "", "is empty");
	expect_bad(LFS_OPT_CACHE, "cache", "", "is empty");
	expect_bad(LFS_OPT_PLATFORM, "platform", "linux", "is not OS/ARCH");
	expect_bad(LFS_OPT_PLATFORM, "platform", "linux//amd64", "is not OS/ARCH");
	expect_bad(LFS_OPT_PLATFORM, "platform", "a/b/c/d", "is not OS/ARCH");
	expect_bad(LFS_OPT_PLATFORM, "platform", "/amd64", "is not OS/ARCH");
}

static void test_jobs(void **state)
{
	struct lfs_image_cli o;

	(void)state;
	lfs_image_cli_init(&o);
	assert_int_equal(o.jobs, 0);
	assert_int_equal(opt(&o, LFS_OPT_JOBS, "4"), 1);
	assert_int_equal(o.jobs, 4);
	assert_int_equal(opt(&o, 'j', "2147483647"), 1);
	assert_int_equal(o.jobs, 2147483647);
	assert_string_equal(errbuf, "");

	expect_bad('j', "jobs", "x", "is not a positive number");
	expect_bad('j', "jobs", "0", "is not a positive number");
	expect_bad('j', "jobs", "", "is not a positive number");
	expect_bad('j', "jobs", "3x", "is not a positive number");
	expect_bad('j', "jobs", "-1", "is not a positive number");
	expect_bad('j', "jobs", " 2", "is not a positive number");
	expect_bad('j', "jobs", "+2", "is not a positive number");
	/* atoi took these as 2 (or wrapped) */
	expect_bad('j', "jobs", "2.5", "is not a positive number");
	expect_bad('j', "jobs", "2147483648", "is too large");
	expect_bad('j', "jobs", "99999999999999999999999", "is too large");
}

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"10B", 10},
	    {"1K", 1024},
	    {"1k", 1024},
	    {"3KiB", 3072},
	    {"2kB", 2000},
	    {"10M", 10ULL << 20},
	    {"10m", 10ULL << 20},
	    {"10MiB", 10ULL << 20},
	    {"10MB", 10000000},
	    {"2G", 2ULL << 30},
	    {"2gb", 2000000000},
	    {"1T", 1ULL << 40},
	    {"1TB", 1000000000000ULL},
	    {"18446744073709551615", UINT64_MAX},
	    {"16777215T", 16777215ULL << 40},
	};
	static const char *const bad[] = {
	    "", "x", "-1", " 1", "+1", "1.5G", "1X", "1KK", "1 K", "K", "1Ki", "1GiBs",
	};
	static const char *const huge[] = {
	    "18446744073709551616",
	    "99999999999999999999999",
	    "16777216T",
	    "18446744073709552kB",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (lfs_parse_size(good[i].s, &v) != 0 || v != good[i].v)
			fail_msg("'%s': got %llu, want %llu", good[i].s, (unsigned long long)v,
				 (unsigned long long)good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lfs_parse_size(bad[i], &v), -EINVAL);
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
		assert_int_equal(lfs_parse_size(huge[i], &v), -ERANGE);
}

static void test_size_opts(void **state)
{
	struct lfs_image_cli o;

	(void)state;
	lfs_image_cli_init(&o);
	assert_int_equal(o.cache_max, 4ULL << 30);
	assert_int_equal(o.max_plain, 0);
	assert_int_equal(opt(&o, LFS_OPT_MAX_LAYER_SIZE, "60M"), 1);
	assert_int_equal(o.max_plain, 60ULL << 20);
	assert_int_equal(opt(&o, LFS_OPT_CACHE_SIZE, "0"), 1);
	assert_int_equal(o.cache_max, 0);
	assert_int_equal(opt(&o, LFS_OPT_CACHE_SIZE, "1GB"), 1);
	assert_int_equal(o.cache_max, 1000000000);
	assert_string_equal(errbuf, "");

	/* a limit of 0 would refuse every layer; a cache of 0 is no limit */
	expect_bad(LFS_OPT_MAX_LAYER_SIZE, "max-layer-size", "0", "is not a positive size");
	expect_bad(LFS_OPT_MAX_LAYER_SIZE, "max-layer-size", "1Q", "is not a positive size");
	expect_bad(LFS_OPT_MAX_LAYER_SIZE, "max-layer-size", "99999999999999999999",
		   "is too large");
	expect_bad(LFS_OPT_CACHE_SIZE, "cache-size", "lots", "is not a size");
	expect_bad(LFS_OPT_CACHE_SIZE, "cache-size", "-5", "is not a size");
	expect_bad(LFS_OPT_CACHE_SIZE, "cache-size", "17000000T", "is too large");
}

/* What layerfs-chroot hands to its layerfs daemon reads back the same. */
static void test_argv(void **state)
{
	struct lfs_image_cli o, back;
	const char *argv[LFS_IMAGE_CLI_MAXWORDS + 1];
	char nums[LFS_IMAGE_CLI_NUMS][24];
	size_t n = 0;

	(void)state;
	lfs_image_cli_init(&o);
	lfs_image_cli_argv(&o, argv, &n, nums);
	assert_int_equal(n, 0);
	assert_int_equal(opt(&o, LFS_OPT_TAG, "t"), 1);
	assert_int_equal(opt(&o, LFS_OPT_PLATFORM, "linux/arm/v7"), 1);
	assert_int_equal(opt(&o, LFS_OPT_MAX_LAYER_SIZE, "16E"), -1);
	assert_int_equal(opt(&o, LFS_OPT_MAX_LAYER_SIZE, "18446744073709551615"), 1);
	assert_int_equal(opt(&o, LFS_OPT_TMPDIR, "/t"), 1);
	assert_int_equal(opt(&o, LFS_OPT_CACHE, "/c"), 1);
	assert_int_equal(opt(&o, LFS_OPT_NO_CACHE, NULL), 1);
	assert_int_equal(opt(&o, LFS_OPT_CACHE_SIZE, "0"), 1);
	assert_int_equal(opt(&o, LFS_OPT_JOBS, "3"), 1);
	assert_int_equal(opt(&o, LFS_OPT_TLS_VERIFY, "false"), 1);
	assert_int_equal(opt(&o, LFS_OPT_AUTHFILE, "/a.json"), 1);
	assert_int_equal(opt(&o, LFS_OPT_CHUNK_CACHE_SIZE, "5M"), 1);
	assert_int_equal(opt(&o, LFS_OPT_KEEP_BLOBS, NULL), 1);
	assert_int_equal(opt(&o, LFS_OPT_OFFLINE, NULL), 1);
	assert_int_equal(opt(&o, LFS_OPT_STATS, NULL), 1);
	assert_int_equal(opt(&o, LFS_OPT_REGISTRY_TIMEOUT, "7"), 1);
	assert_int_equal(opt(&o, LFS_OPT_RETRY_TIMES, "0"), 1);
	assert_int_equal(opt(&o, LFS_OPT_DATA_CACHE_SIZE, "0"), 1);
	lfs_image_cli_argv(&o, argv, &n, nums);
	assert_int_equal(n, LFS_IMAGE_CLI_MAXWORDS);
	lfs_image_cli_init(&back);
	for (size_t i = 0; i < n; i++) {
		static const struct {
			const char *name;
			int c;
		} names[] = {
		    {"--tag", LFS_OPT_TAG},
		    {"--platform", LFS_OPT_PLATFORM},
		    {"--tmpdir", LFS_OPT_TMPDIR},
		    {"--cache", LFS_OPT_CACHE},
		    {"--no-cache", LFS_OPT_NO_CACHE},
		    {"--max-layer-size", LFS_OPT_MAX_LAYER_SIZE},
		    {"--cache-size", LFS_OPT_CACHE_SIZE},
		    {"--jobs", LFS_OPT_JOBS},
		    {"--authfile", LFS_OPT_AUTHFILE},
		    {"--tls-verify=false", LFS_OPT_TLS_VERIFY},
		    {"--chunk-cache-size", LFS_OPT_CHUNK_CACHE_SIZE},
		    {"--keep-blobs", LFS_OPT_KEEP_BLOBS},
		    {"--offline", LFS_OPT_OFFLINE},
		    {"--stats", LFS_OPT_STATS},
		    {"--registry-timeout", LFS_OPT_REGISTRY_TIMEOUT},
		    {"--retry-times", LFS_OPT_RETRY_TIMES},
		    {"--data-cache-size", LFS_OPT_DATA_CACHE_SIZE},
		};
		size_t k;

		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strcmp(argv[i], names[k].name))
				break;
		assert_true(k < sizeof(names) / sizeof(names[0]));
		if (names[k].c == LFS_OPT_NO_CACHE || names[k].c == LFS_OPT_KEEP_BLOBS ||
		    names[k].c == LFS_OPT_OFFLINE || names[k].c == LFS_OPT_STATS) {
			assert_int_equal(opt(&back, names[k].c, NULL), 1);
		} else if (names[k].c == LFS_OPT_TLS_VERIFY) {
			assert_int_equal(opt(&back, names[k].c, "false"), 1);
		} else {
			assert_int_equal(opt(&back, names[k].c, argv[i + 1]), 1);
			i++;
		}
	}
	assert_string_equal(back.tag, "t");
	assert_string_equal(back.platform, "linux/arm/v7");
	assert_string_equal(back.tmpdir, "/t");
	assert_string_equal(back.cache_dir, "/c");
	assert_int_equal(back.no_cache, 1);
	assert_true(back.max_plain == UINT64_MAX);
	assert_int_equal(back.cache_max, 0);
	assert_int_equal(back.jobs, 3);
	assert_int_equal(back.tls_insecure, 1);
	assert_string_equal(back.authfile, "/a.json");
	assert_true(back.chunk_max == 5u << 20);
	assert_true(back.data_max == 0);
	assert_int_equal(back.keep_blobs, 1);
	assert_int_equal(back.offline, 1);
	assert_int_equal(back.stats, 1);
	assert_int_equal(back.timeout, 7);
	assert_int_equal(back.retries, 0);
}

/* The registry's numbers: a timeout of at least a second, retries from 0. */
static void test_registry_numbers(void **state)
{
	struct lfs_image_cli o;

	(void)state;
	lfs_image_cli_init(&o);
	assert_int_equal(o.retries, -1);
	assert_true(o.chunk_max == LFS_CHUNK_CACHE_SIZE_DEFAULT);
	assert_int_equal(opt(&o, LFS_OPT_RETRY_TIMES, "100"), 1);
	assert_int_equal(o.retries, 100);
	assert_int_equal(opt(&o, LFS_OPT_CHUNK_CACHE_SIZE, "0"), 1);
	assert_true(o.chunk_max == 0);
	expect_bad(LFS_OPT_REGISTRY_TIMEOUT, "registry-timeout", "0", "is not a positive number");
	expect_bad(LFS_OPT_REGISTRY_TIMEOUT, "registry-timeout", "1s", "is not a positive number");
	expect_bad(LFS_OPT_REGISTRY_TIMEOUT, "registry-timeout", "86401", "is too large");
	expect_bad(LFS_OPT_RETRY_TIMES, "retry-times", "-1", "is not a number");
	expect_bad(LFS_OPT_RETRY_TIMES, "retry-times", "101", "is too large");
	expect_bad(LFS_OPT_CHUNK_CACHE_SIZE, "chunk-cache-size", "big", "is not a size");
}

/* --tls-verify[=BOOL] as skopeo spells it (Go's ParseBool); --authfile PATH. */
static void test_registry_opts(void **state)
{
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	struct lfs_image_cli o;

	(void)state;
	lfs_image_cli_init(&o);
	assert_int_equal(o.tls_insecure, 0);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(opt(&o, LFS_OPT_TLS_VERIFY, no[i]), 1);
		assert_int_equal(o.tls_insecure, 1);
		assert_int_equal(opt(&o, LFS_OPT_TLS_VERIFY, yes[i]), 1);
		assert_int_equal(o.tls_insecure, 0);
	}
	assert_int_equal(opt(&o, LFS_OPT_TLS_VERIFY, "false"), 1);
	/* --tls-verify alone is true */
	assert_int_equal(opt(&o, LFS_OPT_TLS_VERIFY, NULL), 1);
	assert_int_equal(o.tls_insecure, 0);
	assert_int_equal(opt(&o, LFS_OPT_AUTHFILE, "auth.json"), 1);
	assert_string_equal(o.authfile, "auth.json");
	assert_string_equal(errbuf, "");
	expect_bad(LFS_OPT_TLS_VERIFY, "tls-verify", "no", "is not true or false");
	expect_bad(LFS_OPT_TLS_VERIFY, "tls-verify", "", "is not true or false");
	expect_bad(LFS_OPT_TLS_VERIFY, "tls-verify", "yes", "is not true or false");
	expect_bad(LFS_OPT_AUTHFILE, "authfile", "", "is empty");
}

/* The table programs splice in: every option reaches the parser. */
static void test_table(void **state)
{
	static const struct option lopts[] = {LFS_IMAGE_LONGOPTS, {NULL, 0, NULL, 0}};
	struct lfs_image_cli o;
	size_t n = 0;

	(void)state;
	for (const struct option *p = lopts; p->name; p++, n++) {
		const int flag = p->val == LFS_OPT_NO_CACHE || p->val == LFS_OPT_KEEP_BLOBS ||
				 p->val == LFS_OPT_OFFLINE || p->val == LFS_OPT_STATS;

		lfs_image_cli_init(&o);
		/* "1" is a good value for each, except as a platform */
		if (p->val == LFS_OPT_PLATFORM)
			assert_int_equal(opt(&o, p->val, "linux/amd64"), 1);
		else
			assert_int_equal(opt(&o, p->val, p->has_arg ? "1" : NULL), 1);
		assert_int_equal(p->has_arg, flag			    ? no_argument
					     : p->val == LFS_OPT_TLS_VERIFY ? optional_argument
									    : required_argument);
	}
	assert_int_equal(n, 17);
	assert_non_null(strchr(LFS_IMAGE_SHORTOPTS, 'j'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strings),	  cmocka_unit_test(test_jobs),
	    cmocka_unit_test(test_sizes),	  cmocka_unit_test(test_size_opts),
	    cmocka_unit_test(test_argv),	  cmocka_unit_test(test_table),
	    cmocka_unit_test(test_registry_opts), cmocka_unit_test(test_registry_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
