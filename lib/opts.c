/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options shared by the programs that open an image (see opts.h): their
 * values checked in full here, once, so every program accepts the same
 * spellings and says the same single line about a bad one.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image_int.h"
#include "layerfs/lfs.h"
#include "layerfs/opts.h"

void lfs_image_cli_init(struct lfs_image_cli *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_max = LFS_CACHE_SIZE_DEFAULT;
	o->chunk_max = LFS_CHUNK_CACHE_SIZE_DEFAULT;
	o->data_max = LFS_DATA_CACHE_SIZE_DEFAULT;
	o->retries = -1;
}

/* Digits only: strtoul alone would take " 12", "+12" and "-12" (as a huge number). */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	unsigned long long v;
	char *e;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*end = e;
	*out = v;
	return 0;
}

int lfs_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"K", 1ULL << 10},
	    {"KiB", 1ULL << 10},
	    {"kB", 1000ULL},
	    {"M", 1ULL << 20},
	    {"MiB", 1ULL << 20},
	    {"MB", 1000000ULL},
	    {"G", 1ULL << 30},
	    {"GiB", 1ULL << 30},
	    {"GB", 1000000000ULL},
	    {"T", 1ULL << 40},
	    {"TiB", 1ULL << 40},
	    {"TB", 1000000000000ULL},
	};
	const char *end;
	uint64_t v;
	int ret = parse_u64(s, &end, &v);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < LFS_ARRAY_SIZE(units); i++) {
		/* The letters in any case, as the suffixes were always taken ("10m", "2g"). */
		if (strcasecmp(end, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*out = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

/* The one line about a bad value; returns -1. */
static int bad_value(const char *opt, const char *arg, const char *why)
{
	char shown[128];

	fprintf(stderr, "%s: --%s: '%s' %s\n", lfs_progname, opt,
		lfs_show(arg, shown, sizeof(shown)), why);
	return -1;
}

static int size_opt(const char *opt, const char *arg, int zero_ok, uint64_t *out)
{
	int ret = lfs_parse_size(arg, out);

	if (ret == -ERANGE)
		return bad_value(opt, arg, "is too large (the limit is 16E)");
	if (ret < 0 || (!zero_ok && !*out))
		return bad_value(opt, arg,
				 zero_ok ? "is not a size (like 4096, 512K, 2G or 10GB)"
					 : "is not a positive size (like 4096, 512K, 2G or 10GB)");
	return 1;
}

/* BOOL as skopeo (Go's strconv.ParseBool) takes it; no value is true. */
static int bool_opt(const char *opt, const char *arg, int *out)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

	for (size_t i = 0; i < LFS_ARRAY_SIZE(yes); i++) {
		if (!arg || !strcmp(arg, yes[i])) {
			*out = 1;
			return 1;
		}
		if (!strcmp(arg, no[i])) {
			*out = 0;
			return 1;
		}
	}
	return bad_value(opt, arg, "is not true or false");
}

static int string_opt(const char *opt, const char *arg, const char **out)
{
	if (!*arg)
		return bad_value(opt, arg, "is empty");
	*out = arg;
	return 1;
}

/* A whole number in [MIN, MAX]. */
static int int_opt(const char *name, const char *arg, uint64_t min, uint64_t max, int *out)
{
	const char *end;
	uint64_t v;
	int ret = parse_u64(arg, &end, &v);

	if (ret == -ERANGE || (!ret && !*end && v > max))
		return bad_value(name, arg, "is too large");
	if (ret < 0 || *end || v < min)
		return bad_value(name, arg, min ? "is not a positive number" : "is not a number");
	*out = (int)v;
	return 1;
}

int lfs_image_cli_opt(struct lfs_image_cli *o, int opt, const char *arg)
{
	struct lfs_platform p;
	int ret, b;

	switch (opt) {
	case LFS_OPT_TAG:
		return string_opt("tag", arg, &o->tag);
	case LFS_OPT_PLATFORM:
		/* Checked now, so that a typo is bad usage rather than a bad image. */
		if (lfs_platform_parse(&p, arg) < 0)
			return bad_value("platform", arg, "is not OS/ARCH or OS/ARCH/VARIANT");
		lfs_platform_clear(&p);
		o->platform = arg;
		return 1;
	case LFS_OPT_MAX_LAYER_SIZE:
		return size_opt("max-layer-size", arg, 0, &o->max_plain);
	case LFS_OPT_TMPDIR:
		return string_opt("tmpdir", arg, &o->tmpdir);
	case LFS_OPT_CACHE:
		return string_opt("cache", arg, &o->cache_dir);
	case LFS_OPT_NO_CACHE:
		o->no_cache = 1;
		return 1;
	case LFS_OPT_CACHE_SIZE:
		return size_opt("cache-size", arg, 1, &o->cache_max);
	case LFS_OPT_TLS_VERIFY:
		ret = bool_opt("tls-verify", arg, &b);
		if (ret > 0)
			o->tls_insecure = !b;
		return ret;
	case LFS_OPT_AUTHFILE:
		return string_opt("authfile", arg, &o->authfile);
	case LFS_OPT_CHUNK_CACHE_SIZE:
		return size_opt("chunk-cache-size", arg, 1, &o->chunk_max);
	case LFS_OPT_DATA_CACHE_SIZE:
		return size_opt("data-cache-size", arg, 1, &o->data_max);
	case LFS_OPT_KEEP_BLOBS:
		o->keep_blobs = 1;
		return 1;
	case LFS_OPT_OFFLINE:
		o->offline = 1;
		return 1;
	case LFS_OPT_STATS:
		o->stats = 1;
		return 1;
	case LFS_OPT_REGISTRY_TIMEOUT:
		return int_opt("registry-timeout", arg, 1, 86400, &o->timeout);
	case LFS_OPT_RETRY_TIMES:
		return int_opt("retry-times", arg, 0, 100, &o->retries);
	case LFS_OPT_JOBS:
		return int_opt("jobs", arg, 1, INT_MAX, &o->jobs);
	default:
		return 0;
	}
}

void lfs_image_cli_core(const struct lfs_image_cli *o, struct lfs_core_opts *co)
{
	co->tag = o->tag;
	co->platform = o->platform;
	co->max_plain = o->max_plain;
	co->tmpdir = o->tmpdir;
	co->cache_dir = o->cache_dir;
	co->no_cache = o->no_cache;
	co->cache_max = o->cache_max;
	co->jobs = o->jobs;
	co->tls_insecure = o->tls_insecure;
	co->authfile = o->authfile;
	co->chunk_max = o->chunk_max;
	co->keep_blobs = o->keep_blobs;
	co->offline = o->offline;
	co->timeout = o->timeout;
	co->retries = o->retries;
	co->no_data_cache = o->data_max == 0;
	co->data_cache_max = o->data_max;
}

void lfs_image_cli_argv(const struct lfs_image_cli *o, const char **argv, size_t *n,
			char nums[LFS_IMAGE_CLI_NUMS][24])
{
	static const struct {
		const char *opt;
		size_t at;
	} flags[] = {
	    {"--no-cache", offsetof(struct lfs_image_cli, no_cache)},
	    {"--tls-verify=false", offsetof(struct lfs_image_cli, tls_insecure)},
	    {"--keep-blobs", offsetof(struct lfs_image_cli, keep_blobs)},
	    {"--offline", offsetof(struct lfs_image_cli, offline)},
	    {"--stats", offsetof(struct lfs_image_cli, stats)},
	};
	const struct {
		const char *opt, *val;
	} strs[] = {
	    {"--tag", o->tag},	       {"--platform", o->platform}, {"--tmpdir", o->tmpdir},
	    {"--cache", o->cache_dir}, {"--authfile", o->authfile},
	};

	for (size_t i = 0; i < LFS_ARRAY_SIZE(strs); i++) {
		if (strs[i].val) {
			argv[(*n)++] = strs[i].opt;
			argv[(*n)++] = strs[i].val;
		}
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(flags); i++)
		if (*(const int *)((const char *)o + flags[i].at))
			argv[(*n)++] = flags[i].opt;
	if (o->max_plain) {
		snprintf(nums[0], sizeof(nums[0]), "%llu", (unsigned long long)o->max_plain);
		argv[(*n)++] = "--max-layer-size";
		argv[(*n)++] = nums[0];
	}
	if (o->cache_max != LFS_CACHE_SIZE_DEFAULT) {
		snprintf(nums[1], sizeof(nums[1]), "%llu", (unsigned long long)o->cache_max);
		argv[(*n)++] = "--cache-size";
		argv[(*n)++] = nums[1];
	}
	if (o->jobs) {
		snprintf(nums[2], sizeof(nums[2]), "%d", o->jobs);
		argv[(*n)++] = "--jobs";
		argv[(*n)++] = nums[2];
	}
	if (o->chunk_max != LFS_CHUNK_CACHE_SIZE_DEFAULT) {
		snprintf(nums[3], sizeof(nums[3]), "%llu", (unsigned long long)o->chunk_max);
		argv[(*n)++] = "--chunk-cache-size";
		argv[(*n)++] = nums[3];
	}
	if (o->timeout) {
		snprintf(nums[4], sizeof(nums[4]), "%d", o->timeout);
		argv[(*n)++] = "--registry-timeout";
		argv[(*n)++] = nums[4];
	}
	if (o->data_max != LFS_DATA_CACHE_SIZE_DEFAULT) {
		snprintf(nums[6], sizeof(nums[6]), "%llu", (unsigned long long)o->data_max);
		argv[(*n)++] = "--data-cache-size";
		argv[(*n)++] = nums[6];
	}
	if (o->retries >= 0) {
		snprintf(nums[5], sizeof(nums[5]), "%d", o->retries);
		argv[(*n)++] = "--retry-times";
		argv[(*n)++] = nums[5];
	}
}
