/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-commit: SOURCE plus one new layer holding the changes of an
 * overlayfs upper directory (as layerfs or the kernel wrote it), written
 * to DEST.  The new layer's entries come from the merge of the upper over
 * SOURCE's layers (lfs_wentries_commit); the image writer copies SOURCE's
 * layers as they are.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/image.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: layerfs-commit [OPTIONS] --upper DIR SOURCE... DEST\n"
		   "Write DEST: the image SOURCE plus one layer holding the changes in DIR, an\n"
		   "overlayfs upper directory (as layerfs or the kernel's overlayfs wrote it).\n"
		   "\n"
		   "SOURCE: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF],\n"
		   "docker://REF, an image file or directory (detected by content), or layer\n"
		   "files lowest first.\n"
		   "DEST: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]\n"
		   "(it must not exist), or docker://REF (pushed: the blobs the registry lacks,\n"
		   "then the manifest).\n"
		   "\n"
		   "  -u, --upper DIR         the upper directory to commit (required)\n"
		   "  -m, --message TEXT      the new layer's history created_by (default:\n"
		   "                          \"layerfs-commit\")\n"
		   "  -a, --author TEXT       the image's author\n"
		   "  -c, --change 'INSTR'    apply a Dockerfile instruction to the config: CMD,\n"
		   "                          ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,\n"
		   "                          VOLUME, WORKDIR (repeatable)\n"
		   "      --compress ALGO     gzip (default, on every core), zstd or none\n"
		   "      --level N           compression level (gzip 1-9, zstd 1-19)\n"
		   "      --timestamp SECONDS clamp mtimes in the layer and set the config's\n"
		   "                          times to SECONDS (default: $SOURCE_DATE_EPOCH,\n"
		   "                          else the files' mtimes and now)\n"
		   "      --tag NAME          pick SOURCE's image by tag or digest\n"
		   "      --platform OS/ARCH[/VARIANT]  pick from a multi-platform SOURCE\n"
		   "      --tls-verify=BOOL   docker://: false is plain HTTP with no TLS check\n"
		   "      --authfile PATH     docker://: registry credentials\n"
		   "  -q, --quiet             no progress, no warnings\n"
		   "  -h, --help              this help\n"
		   "  -V, --version           the version\n"
		   "\n"
		   "Exit status: 0 written, 1 failure (nothing left at DEST), 2 usage.\n");
}

enum { OPT_COMPRESS = 256, OPT_LEVEL, OPT_TIMESTAMP, OPT_TAG, OPT_PLATFORM, OPT_TLS, OPT_AUTHFILE };

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"upper", required_argument, NULL, 'u'},
	    {"message", required_argument, NULL, 'm'},
	    {"author", required_argument, NULL, 'a'},
	    {"change", required_argument, NULL, 'c'},
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
	struct lfs_wlayer_opts lo = {.comp = LFS_WCOMP_GZIP, .read = lfs_wsource_read};
	struct lfs_wimage_opts wo = {.nsrc_history = (size_t)-1};
	struct lfs_image_opts io = {0};
	const char *upper = NULL, *message = NULL, *ts = NULL;
	char **changes = NULL, *path = NULL, *dir;
	struct lfs_wentries ents = {0};
	struct lfs_wsource src;
	struct lfs_wlayer *layers;
	struct lfs_layer *up;
	struct lfs_tree *t;
	int c, rc;

	lfs_progname = "layerfs-commit";
	while ((c = getopt_long(argc, argv, "u:m:a:c:qhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			upper = optarg;
			break;
		case 'm':
			message = optarg;
			break;
		case 'a':
			wo.author = optarg;
			break;
		case 'c':
			changes = realloc(changes, (wo.nchanges + 1) * sizeof(*changes));
			changes[wo.nchanges++] = optarg;
			break;
		case OPT_COMPRESS:
			if (lfs_wcomp_parse(optarg, &lo.comp) < 0) {
				fprintf(stderr, "layerfs-commit: --compress: gzip, zstd or none\n");
				return 2;
			}
			break;
		case OPT_LEVEL:
			lo.level = atoi(optarg);
			if (lo.level < 1 || lo.level > 19) {
				fprintf(stderr, "layerfs-commit: --level: 1 to 19\n");
				return 2;
			}
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
			printf("layerfs-commit %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!upper || argc - optind < 2) {
		fprintf(stderr, "layerfs-commit: %s\n",
			!upper ? "--upper DIR is required" : "SOURCE and DEST are required");
		usage(stderr);
		return 2;
	}
	lo.clamp_mtime = lfs_write_timestamp(ts);
	if (lo.clamp_mtime == -2) {
		fprintf(stderr, "layerfs-commit: %s: not a number of seconds\n",
			ts ? "--timestamp" : "SOURCE_DATE_EPOCH");
		return 2;
	}
	wo.created = lo.clamp_mtime;
	wo.changes = changes;
	if (lfs_write_changes_check(changes, wo.nchanges) < 0) {
		fprintf(stderr, "layerfs-commit: %s\n", lfs_err_get());
		free(changes);
		return 2;
	}
	if (lo.level && lo.comp == LFS_WCOMP_GZIP && lo.level > 9) {
		fprintf(stderr, "layerfs-commit: --level: gzip takes 1 to 9\n");
		return 2;
	}

	rc = lfs_write_dest_check(argv[argc - 1]);
	if (rc == 0)
		rc = lfs_wsource_open(&src, argv + optind, (size_t)(argc - optind - 1), &io);
	if (rc < 0) {
		fprintf(stderr, "layerfs-commit: %s\n", lfs_err_get());
		free(changes);
		return 1;
	}
	rc = lfs_upper_layer(&up, upper, (uint32_t)src.n);
	if (rc < 0) {
		fprintf(stderr, "layerfs-commit: %s\n", lfs_err_get());
		lfs_wsource_close(&src);
		free(changes);
		return 1;
	}
	lfs_wsource_push(&src, up);
	t = lfs_wsource_tree(&src, src.n - 1);
	lfs_wentries_commit(&ents, t, up->root);
	lo.read_arg = &src;
	dir = lfs_write_dest_dir(argv[argc - 1]);
	layers = calloc(src.n, sizeof(*layers));
	for (size_t i = 0; i + 1 < src.n; i++)
		layers[i].src = &src.img->layers[i];
	rc = lfs_write_layer_file(dir, ents.v, ents.n, &lo, &layers[src.n - 1].res, &path);
	if (rc == 0) {
		if (isatty(2) && !wo.quiet)
			fprintf(stderr, "layerfs-commit: new layer %s: %llu entries, %llu bytes\n",
				layers[src.n - 1].res.digest,
				(unsigned long long)layers[src.n - 1].res.nentries,
				(unsigned long long)layers[src.n - 1].res.size);
		layers[src.n - 1].path = path;
		layers[src.n - 1].created_by = (char *)(message ? message : "layerfs-commit");
		rc = lfs_write_image(argv[argc - 1], src.img, layers, src.n, &wo);
		unlink(path);
	}
	if (rc < 0)
		fprintf(stderr, "layerfs-commit: %s\n", lfs_err_get());
	free(path);
	free(layers);
	free(dir);
	free(changes);
	lfs_wentries_free(&ents);
	lfs_tree_free(t);
	lfs_wsource_close(&src);
	return rc < 0 ? 1 : 0;
}
