/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-squash: rewrite an image's layers without rebuilding it.
 * --from N makes layers N..top one layer: the difference between the
 * merged tree of the layers below N and that of all (lfs_wentries_diff);
 * --slim keeps every layer but drops what the final image never shows
 * (squash_slim.c); --keep N leaves the first N layers as they are.
 * Prints the bytes saved.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/image.h"
#include "layerfs/lfs.h"
#include "write_tool.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: layerfs-squash [OPTIONS] SOURCE... DEST\n"
		   "Write DEST: the image SOURCE with its layers squashed or slimmed; the tree\n"
		   "it shows is the same.\n"
		   "\n"
		   "SOURCE and DEST as for layerfs-commit (DEST must not exist).\n"
		   "\n"
		   "      --from N            layers N..top become one layer (1, the default:\n"
		   "                          all of them)\n"
		   "      --slim              keep every layer, but drop from each what the final\n"
		   "                          image never shows, and the whiteouts that then hide\n"
		   "                          nothing\n"
		   "      --keep N            the first N layers stay byte-identical\n"
		   "  -m, --message TEXT      the squashed layer's history created_by\n"
		   "      --compress ALGO     gzip (default, on every core), zstd or none\n"
		   "      --level N           compression level\n"
		   "      --timestamp SECONDS clamp mtimes in the new layers and set the config's\n"
		   "                          times (default: $SOURCE_DATE_EPOCH, else now)\n"
		   "      --tag NAME          pick SOURCE's image by tag or digest\n"
		   "      --platform OS/ARCH[/VARIANT]  pick from a multi-platform SOURCE\n"
		   "      --tls-verify=BOOL   docker://: false is plain HTTP with no TLS check\n"
		   "      --authfile PATH     docker://: registry credentials\n"
		   "  -q, --quiet             print nothing but errors\n"
		   "  -h, --help              this help\n"
		   "  -V, --version           the version\n"
		   "\n"
		   "Exit status: 0 written, 1 failure (nothing left at DEST), 2 usage.\n");
}

enum {
	OPT_FROM = 256,
	OPT_SLIM,
	OPT_KEEP,
	OPT_COMPRESS,
	OPT_LEVEL,
	OPT_TIMESTAMP,
	OPT_TAG,
	OPT_PLATFORM,
	OPT_TLS,
	OPT_AUTHFILE
};

struct job {
	struct lfs_wsource src;
	struct lfs_wlayer_opts lo;
	struct lfs_wlayer *layers;
	size_t n;
	char *dir;
};

/* Write ENTS as a new layer in slot I. */
static int new_layer(struct job *j, size_t i, struct lfs_wentries *ents, const char *created_by)
{
	int rc = lfs_write_layer_file(j->dir, ents->v, ents->n, &j->lo, &j->layers[i].res,
				      &j->layers[i].path);

	j->layers[i].src = NULL;
	j->layers[i].created_by = (char *)created_by;
	return rc;
}

static int do_slim(struct job *j, size_t keep)
{
	struct lfs_tree *final = lfs_wsource_tree(&j->src, j->src.n);
	int rc = 0;

	j->n = j->src.n;
	for (size_t k = 0; k < j->n; k++)
		j->layers[k].src = &j->src.img->layers[k];
	for (size_t k = keep; k < j->n && rc == 0; k++) {
		struct lfs_wentries ents = {0};

		if (squash_slim_layer(&ents, &j->src, k, keep, final))
			rc = new_layer(j, k, &ents, NULL);
		lfs_wentries_free(&ents);
	}
	lfs_tree_free(final);
	return rc;
}

static int do_from(struct job *j, size_t from, const char *created_by)
{
	struct lfs_tree *low = lfs_wsource_tree(&j->src, from - 1),
			*high = lfs_wsource_tree(&j->src, j->src.n);
	struct lfs_wentries ents = {0};
	int rc;

	for (size_t k = 0; k + 1 < from; k++)
		j->layers[k].src = &j->src.img->layers[k];
	lfs_wentries_diff(&ents, low->root, high->root, (uint32_t)(from - 1));
	rc = new_layer(j, from - 1, &ents, created_by);
	j->n = from;
	lfs_wentries_free(&ents);
	lfs_tree_free(low);
	lfs_tree_free(high);
	return rc;
}

static long number(const char *opt, const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0) {
		fprintf(stderr, "layerfs-squash: %s: not a number\n", opt);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"from", required_argument, NULL, OPT_FROM},
	    {"slim", no_argument, NULL, OPT_SLIM},
	    {"keep", required_argument, NULL, OPT_KEEP},
	    {"message", required_argument, NULL, 'm'},
	    {"compress", required_argument, NULL, OPT_COMPRESS},
	    {"level", required_argument, NULL, OPT_LEVEL},
	    {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct job j = {.lo = {.comp = LFS_WCOMP_GZIP, .read = lfs_wsource_read}};
	struct lfs_wimage_opts wo = {.nsrc_history = (size_t)-1};
	struct lfs_image_opts io = {0};
	const char *message = NULL, *ts = NULL;
	long from = 0, keep = 0;
	int c, rc, slim = 0;
	uint64_t before = 0, after = 0;
	char made_by[64];

	lfs_progname = "layerfs-squash";
	while ((c = getopt_long(argc, argv, "m:qhV", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
			from = number("--from", optarg);
			if (from < 1) {
				fprintf(stderr, "layerfs-squash: --from: layers count from 1\n");
				return 2;
			}
			break;
		case OPT_SLIM:
			slim = 1;
			break;
		case OPT_KEEP:
			keep = number("--keep", optarg);
			break;
		case 'm':
			message = optarg;
			break;
		case OPT_COMPRESS:
			if (lfs_wcomp_parse(optarg, &j.lo.comp) < 0) {
				fprintf(stderr, "layerfs-squash: --compress: gzip, zstd or none\n");
				return 2;
			}
			break;
		case OPT_LEVEL:
			j.lo.level = (int)number("--level", optarg);
			break;
		case OPT_TIMESTAMP:
			ts = optarg;
			break;
		case OPT_TAG:
			io.tag = optarg;
			break;
		case OPT_PLATFORM:
			io.platform = optarg;
			break;
		case OPT_TLS:
			if (optarg && strcmp(optarg, "true") && strcmp(optarg, "false")) {
				fprintf(stderr, "%s: --tls-verify: true or false\n", lfs_progname);
				return 2;
			}
			io.tls_insecure = wo.tls_insecure = optarg && !strcmp(optarg, "false");
			break;
		case OPT_AUTHFILE:
			io.authfile = wo.authfile = optarg;
			break;
		case 'q':
			lfs_quiet = 1;
			wo.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("layerfs-squash %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "layerfs-squash: SOURCE and DEST are required\n");
		usage(stderr);
		return 2;
	}
	if (slim && from) {
		fprintf(stderr, "layerfs-squash: --slim and --from do not go together\n");
		return 2;
	}
	j.lo.clamp_mtime = lfs_write_timestamp(ts);
	if (j.lo.clamp_mtime == -2) {
		fprintf(stderr, "layerfs-squash: %s: not a number of seconds\n",
			ts ? "--timestamp" : "SOURCE_DATE_EPOCH");
		return 2;
	}
	wo.created = j.lo.clamp_mtime;
	rc = lfs_write_dest_check(argv[argc - 1]);
	if (rc == 0)
		rc = lfs_wsource_open(&j.src, argv + optind, (size_t)(argc - optind - 1), &io);
	if (rc < 0) {
		fprintf(stderr, "layerfs-squash: %s\n", lfs_err_get());
		return 1;
	}
	if ((size_t)keep > j.src.n || (from && (size_t)from > j.src.n) || (from && from <= keep)) {
		fprintf(stderr, "layerfs-squash: the image has %zu layers: %s\n", j.src.n,
			from && from <= keep ? "--from must be above --keep"
					     : "--from/--keep past the top");
		lfs_wsource_close(&j.src);
		return 2;
	}
	if (!slim && !from)
		from = keep + 1;
	j.lo.read_arg = &j.src;
	j.dir = lfs_write_dest_dir(argv[argc - 1]);
	j.layers = calloc(j.src.n + 1, sizeof(*j.layers));
	snprintf(made_by, sizeof(made_by), "layerfs-squash --from %ld", from);
	if (slim) {
		rc = do_slim(&j, (size_t)keep);
	} else {
		wo.nsrc_history = (size_t)from - 1;
		rc = do_from(&j, (size_t)from, message ? message : made_by);
	}
	if (rc == 0)
		rc = lfs_write_image(argv[argc - 1], j.src.img, j.layers, j.n, &wo);
	if (rc == 0) {
		for (size_t k = 0; k < j.src.n; k++) {
			before += lfs_layer_desc_size(&j.src.img->layers[k]);
		}
		for (size_t k = 0; k < j.n; k++)
			after += j.layers[k].res.size;
		if (!wo.quiet)
			printf("%lld bytes saved (%llu -> %llu bytes of layers)\n",
			       (long long)(before - after), (unsigned long long)before,
			       (unsigned long long)after);
	} else {
		fprintf(stderr, "layerfs-squash: %s\n", lfs_err_get());
	}
	for (size_t k = 0; k < j.src.n; k++) {
		if (j.layers[k].path)
			unlink(j.layers[k].path);
		free(j.layers[k].path);
	}
	free(j.layers);
	free(j.dir);
	lfs_wsource_close(&j.src);
	return rc < 0 ? 1 : 0;
}
