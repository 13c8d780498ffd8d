/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line options every program that opens an image shares
 * (layerfs, layerfs-chroot, layerfs-report): which image (--tag,
 * --platform), how to reach a registry (--tls-verify, --authfile), limits and scratch space
 * (--max-layer-size, --tmpdir), the index cache (--cache, --no-cache, --cache-size) and -j.  One
 * parser, so that a value means the same everywhere and a bad one gets the same single error line
 * from every program.
 */
#ifndef LFS_OPTS_H
#define LFS_OPTS_H

#include <getopt.h>
#include <stdint.h>

#include "layerfs/core.h"

/* getopt_long values of the shared long options; -j keeps its letter. */
enum {
	LFS_OPT_TAG = 0x1000,
	LFS_OPT_PLATFORM,
	LFS_OPT_MAX_LAYER_SIZE,
	LFS_OPT_TMPDIR,
	LFS_OPT_CACHE,
	LFS_OPT_NO_CACHE,
	LFS_OPT_CACHE_SIZE,
	LFS_OPT_TLS_VERIFY,
	LFS_OPT_AUTHFILE,
	LFS_OPT_CHUNK_CACHE_SIZE,
	LFS_OPT_KEEP_BLOBS,
	LFS_OPT_OFFLINE,
	LFS_OPT_REGISTRY_TIMEOUT,
	LFS_OPT_RETRY_TIMES,
	LFS_OPT_STATS,
	LFS_OPT_DATA_CACHE_SIZE,
	LFS_OPT_JOBS = 'j',
};

/* To splice into a program's own table of struct option (before its {0} end). */
#define LFS_IMAGE_LONGOPTS                                                                         \
	{"tag", required_argument, NULL, LFS_OPT_TAG},                                             \
	    {"platform", required_argument, NULL, LFS_OPT_PLATFORM},                               \
	    {"max-layer-size", required_argument, NULL, LFS_OPT_MAX_LAYER_SIZE},                   \
	    {"tmpdir", required_argument, NULL, LFS_OPT_TMPDIR},                                   \
	    {"cache", required_argument, NULL, LFS_OPT_CACHE},                                     \
	    {"no-cache", no_argument, NULL, LFS_OPT_NO_CACHE},                                     \
	    {"cache-size", required_argument, NULL, LFS_OPT_CACHE_SIZE},                           \
	    {"tls-verify", optional_argument, NULL, LFS_OPT_TLS_VERIFY},                           \
	    {"authfile", required_argument, NULL, LFS_OPT_AUTHFILE},                               \
	    {"chunk-cache-size", required_argument, NULL, LFS_OPT_CHUNK_CACHE_SIZE},               \
	    {"keep-blobs", no_argument, NULL, LFS_OPT_KEEP_BLOBS},                                 \
	    {"offline", no_argument, NULL, LFS_OPT_OFFLINE},                                       \
	    {"registry-timeout", required_argument, NULL, LFS_OPT_REGISTRY_TIMEOUT},               \
	    {"retry-times", required_argument, NULL, LFS_OPT_RETRY_TIMES},                         \
	    {"stats", no_argument, NULL, LFS_OPT_STATS},                                           \
	    {"data-cache-size", required_argument, NULL, LFS_OPT_DATA_CACHE_SIZE},                 \
	{                                                                                          \
		"jobs", required_argument, NULL, LFS_OPT_JOBS                                      \
	}
/* To add to a program's short options string. */
#define LFS_IMAGE_SHORTOPTS "j:"

/* Their lines of --help, the same in every program. */
#define LFS_IMAGE_HELP                                                                             \
	"      --tag NAME          pick the image by tag, ref name or manifest digest\n"           \
	"      --platform OS/ARCH[/VARIANT]\n"                                                     \
	"                          pick from a multi-platform index (default: this host)\n"        \
	"      --max-layer-size SIZE\n"                                                            \
	"                          refuse layers that decompress past SIZE (default 1T)\n"         \
	"      --tmpdir DIR        scratch space for compressed layers when not cached,\n"         \
	"                          and for a private upper directory (default: $TMPDIR,\n"         \
	"                          else /var/tmp)\n"                                               \
	"      --cache DIR         keep layer indexes in DIR (default:\n"                          \
	"                          $XDG_CACHE_HOME/layerfs or ~/.cache/layerfs)\n"                 \
	"      --no-cache          neither read nor write the index cache\n"                       \
	"      --cache-size SIZE   evict the oldest indexes past SIZE (default 4G;\n"              \
	"                          0: no limit)\n"                                                 \
	"      --data-cache-size SIZE\n"                                                           \
	"                          mounts: keep up to SIZE of inflated file data of\n"             \
	"                          compressed layers in the cache's data/ directory, so\n"         \
	"                          later reads and mounts need not inflate it again\n"             \
	"                          (default 4G; 0: keep none)\n"                                   \
	"  -j, --jobs N            index N layers at a time (default: one per CPU)\n"              \
	"      --tls-verify[=BOOL] docker://: false is plain HTTP with no TLS check\n"             \
	"                          (default true)\n"                                               \
	"      --authfile PATH     docker://: registry credentials (default:\n"                    \
	"                          $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,\n"  \
	"                          ~/.docker/config.json)\n"                                       \
	"      --chunk-cache-size SIZE\n"                                                          \
	"                          docker://: keep at most SIZE of fetched layer chunks\n"         \
	"                          in the cache's chunks/ directory (default 1G; 0: no limit)\n"   \
	"      --keep-blobs        docker://: keep each layer blob whole in the cache's\n"         \
	"                          blobs/ directory once its digest verified\n"                    \
	"      --offline           docker://: no network: the image and its chunks must be\n"      \
	"                          in the cache (by digest, or by a tag seen before)\n"            \
	"      --registry-timeout SECONDS\n"                                                       \
	"                          docker://: a request with no progress for this long\n"          \
	"                          fails (default 30)\n"                                           \
	"      --retry-times N     docker://: retries of a failed request (default 3)\n"           \
	"      --stats             at exit: the bytes and requests fetched (docker://),\n"         \
	"                          and the blocks the data cache served and filled\n"              \
	"SIZE is bytes, or a number with a suffix K, M, G, T (or KiB, MiB, GiB, TiB:\n"            \
	"powers of 1024) or kB, MB, GB, TB (powers of 1000).\n"

/* The defaults of --cache-size and --chunk-cache-size. */
#define LFS_CACHE_SIZE_DEFAULT	     (4ULL << 30)
#define LFS_CHUNK_CACHE_SIZE_DEFAULT (1ULL << 30)
#define LFS_DATA_CACHE_SIZE_DEFAULT  (4ULL << 30)

/* What the shared options said; the strings point into argv. */
struct lfs_image_cli {
	const char *tag;
	const char *platform;
	uint64_t max_plain; /* 0: the core's default */
	const char *tmpdir;
	const char *cache_dir; /* NULL: the default */
	int no_cache;
	uint64_t cache_max; /* 0: no limit */
	int jobs;	    /* 0: one per CPU */
	int tls_insecure;   /* --tls-verify=false */
	const char *authfile;
	uint64_t chunk_max; /* --chunk-cache-size; 0: no limit */
	int keep_blobs;
	int offline;
	int timeout; /* 0: the default */
	int retries; /* -1: the default */
	int stats;
	uint64_t data_max; /* --data-cache-size; 0: none kept */
};

/* The defaults (a 4G cache, a 1G chunk cache, a 4G data cache, everything else unset). */
void lfs_image_cli_init(struct lfs_image_cli *o);
/*
 * Handle option OPT (a getopt_long return) with argument ARG: 1 when it is
 * one of the shared ones and its value is good, 0 when it is not one of
 * them, -1 when the value is bad (one line "PROG: --OPTION: 'VALUE' ..."
 * printed on stderr, PROG being lfs_progname).
 */
int lfs_image_cli_opt(struct lfs_image_cli *o, int opt, const char *arg);
/* Copy into the core's options (leaving the fields the program sets alone). */
void lfs_image_cli_core(const struct lfs_image_cli *o, struct lfs_core_opts *co);
/*
 * The options given, again, as command-line words for another program (the
 * layerfs daemon of layerfs-chroot): at most LFS_IMAGE_CLI_MAXWORDS words
 * appended at ARGV + *N.  The numbers are printed in bytes and jobs.
 */
#define LFS_IMAGE_CLI_MAXWORDS 29
#define LFS_IMAGE_CLI_NUMS     7
void lfs_image_cli_argv(const struct lfs_image_cli *o, const char **argv, size_t *n,
			char nums[LFS_IMAGE_CLI_NUMS][24]);

/*
 * A size: a decimal number of bytes, with an optional suffix K, M, G, T
 * (powers of 1024; also KiB, MiB, GiB, TiB) or kB, MB, GB, TB (powers of
 * 1000); B alone is bytes.  -EINVAL when malformed, -ERANGE past 2^64-1.
 */
int lfs_parse_size(const char *s, uint64_t *out);

#endif
