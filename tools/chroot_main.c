/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: run a command inside a container image without a
 * container engine.  This file: the options, reading the image config with
 * the core library, and the exit status.
 *
 * Exit status: the command's (128+N when a signal N killed it); 125 when
 * layerfs-chroot or the layerfs daemon failed (bad usage included), 126
 * when the command cannot be executed, 127 when it is not found.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/image.h"
#include "layerfs/lfs.h"

enum {
	OPT_UPPER = 256,
	OPT_WORK,
	OPT_BIND,
	OPT_ENTRYPOINT,
	OPT_USERNS,
	OPT_NOSUID,
	OPT_STOP_TIMEOUT,
	OPT_HOSTNAME,
	OPT_COMMIT,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: layerfs-chroot [OPTION]... IMAGE [--] [CMD [ARG]...]\n"
		"Run a command inside a container image without a container engine: mount the\n"
		"image with layerfs, give it /proc, a minimal /dev, a read-only /sys, a fresh\n"
		"/tmp and the host's resolv.conf in private namespaces, and run CMD in it (by\n"
		"default the image's Entrypoint and Cmd, with its Env, WorkingDir and User).\n"
		"As an ordinary user it runs in a user namespace mapping you to root, and your\n"
		"subordinate ids (/etc/subuid, /etc/subgid) to 1, 2, ... when you have some.\n"
		"\n"
		"IMAGE is a docker-save tarball, an OCI image layout directory, an OCI archive,\n"
		"or one layer file; or docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST] (a registry's\n"
		"image), oci:PATH[:REF], oci-archive:PATH[:REF], docker-archive:PATH[:REF]\n"
		"(REF as --tag).\n"
		"\n"
		"      --upper DIR         keep the changes in DIR (default: a private upper\n"
		"                          directory removed at the end)\n"
		"      --work DIR          layerfs' work directory for --upper (default: a\n"
		"                          temporary one next to DIR)\n"
		"      --commit DEST       after CMD exits with 0, write its changes as a new\n"
		"                          layer on top of IMAGE to DEST (as layerfs-commit:\n"
		"                          oci:DIR[:TAG], oci-archive:, docker-archive:,\n"
		"                          docker://; root only)\n"
		"      --bind SRC:DST[:ro] bind-mount host path SRC on DST in the image\n"
		"                          (repeatable; DST is created if missing)\n"
		"  -e, --env NAME=VALUE    set a variable (NAME alone: take it from here;\n"
		"                          repeatable)\n"
		"  -w, --workdir DIR       working directory of the command\n"
		"  -u, --user USER[:GROUP] run as USER (name or uid; names are looked up in\n"
		"                          the image's /etc/passwd and /etc/group)\n"
		"      --entrypoint PROG   replace the image's Entrypoint (and drop its Cmd);\n"
		"                          '' for none\n"
		"      --userns            use a user namespace even as root\n"
		"      --nosuid            ignore setuid bits and file capabilities in the image\n"
		"      --hostname NAME     the command's hostname (default: a random 12-digit\n"
		"                          hex id)\n"
		"      --stop-timeout SECONDS\n"
		"                          after SIGTERM, how long the command has to end\n"
		"                          before it is killed (default 10)\n"
		"  -q, --quiet             no warnings, no progress\n"
		"  -v, --verbose           say which ids the user namespace maps\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"Image options (as in layerfs and layerfs-report; passed on to "
		"layerfs):\n" LFS_IMAGE_HELP "\n"
		"The layerfs binary is $LAYERFS, else the one next to layerfs-chroot, else the\n"
		"one on $PATH.  The private upper directory goes to --tmpdir, else $TMPDIR,\n"
		"else /var/tmp.\n"
		"\n"
		"The command runs in its own UTS namespace with that hostname.  When standard\n"
		"input is the terminal, the command gets a pseudo-terminal of its own.  Mount\n"
		"points made for it are removed from a kept --upper afterwards.\n"
		"\n"
		"Exit status: the command's (128+N when killed by signal N: 137 when killed\n"
		"after --stop-timeout); 125 when layerfs-chroot or layerfs failed (or the\n"
		"commit), 126 when CMD cannot run, 127 when CMD is not found.\n");
}

static void *grow(void *p, size_t n, size_t size)
{
	/* arrays grow one element at a time: they are a few command-line words */
	return lfs_xrealloc(p, (n + 1) * size);
}

/* SRC:DST[:ro|:rw] */
static int parse_bind(struct lfs_chroot_opts *o, const char *arg)
{
	char *s = lfs_xstrdup(arg), *dst, *mode, *src;
	struct lfs_chroot_bind *b;

	dst = strchr(s, ':');
	if (!dst || dst == s)
		goto bad;
	*dst++ = '\0';
	mode = strchr(dst, ':');
	if (mode)
		*mode++ = '\0';
	if (dst[0] != '/' || (mode && strcmp(mode, "ro") && strcmp(mode, "rw")))
		goto bad;
	src = realpath(s, NULL);
	if (!src) {
		lfs_chroot_msg("--bind %s: %s: %s", arg, s, strerror(errno));
		free(s);
		return -1;
	}
	o->binds = grow(o->binds, o->nbinds, sizeof(*o->binds));
	b = &o->binds[o->nbinds++];
	b->src = src;
	b->dst = lfs_xstrdup(dst);
	b->ro = mode && !strcmp(mode, "ro");
	free(s);
	return 0;
bad:
	lfs_chroot_msg("--bind %s: expected SRC:DST[:ro|:rw] with an absolute DST", arg);
	free(s);
	return -1;
}

/* A non-negative number of seconds. */
static int parse_stop_timeout(struct lfs_chroot_opts *o, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || v > 1000000) {
		lfs_chroot_msg("--stop-timeout %s: expected a number of seconds (0 to 1000000)",
			       arg);
		return -1;
	}
	o->stop_timeout = (int)v;
	return 0;
}

/* A hostname (RFC 1123): dot-separated labels of letters, digits and '-'. */
static int parse_hostname(struct lfs_chroot_opts *o, const char *arg)
{
	size_t len = strlen(arg), label = 0;
	int ok = len >= 1 && len <= LFS_CHROOT_HOSTNAME_MAX;

	for (size_t i = 0; ok && i <= len; i++) {
		char c = arg[i];

		if (c == '.' || c == '\0') {
			/* a label is 1-63 characters, '-' not first or last */
			ok = label >= 1 && label <= 63 && arg[i - 1] != '-';
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			ok = 0;
		}
	}
	if (!ok) {
		char sb[128];

		lfs_chroot_msg("--hostname %s: expected 1 to %d letters, digits, '-' and '.' "
			       "(a valid hostname)",
			       lfs_show(arg, sb, sizeof(sb)), LFS_CHROOT_HOSTNAME_MAX);
		return -1;
	}
	memcpy(o->hostname, arg, len + 1);
	return 0;
}

/* As docker's container id prefix: 12 random hex digits. */
static void default_hostname(struct lfs_chroot_opts *o)
{
	unsigned char id[6];

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		pid_t pid = getpid();

		memcpy(id, &pid, sizeof(pid) < sizeof(id) ? sizeof(pid) : sizeof(id));
	}
	for (size_t i = 0; i < sizeof(id); i++)
		sprintf(o->hostname + 2 * i, "%02x", id[i]);
}

/* Returns the index of IMAGE, or -1 (bad usage), or -2 (done: --help). */
static int parse_args(int argc, char **argv, struct lfs_chroot_opts *o)
{
	static const struct option lopts[] = {
	    {"upper", required_argument, NULL, OPT_UPPER},
	    {"work", required_argument, NULL, OPT_WORK},
	    {"bind", required_argument, NULL, OPT_BIND},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
	    LFS_IMAGE_LONGOPTS,
	    {"userns", no_argument, NULL, OPT_USERNS},
	    {"nosuid", no_argument, NULL, OPT_NOSUID},
	    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
	    {"hostname", required_argument, NULL, OPT_HOSTNAME},
	    {"commit", required_argument, NULL, OPT_COMMIT},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	o->stop_timeout = LFS_CHROOT_STOP_TIMEOUT;
	lfs_image_cli_init(&o->imgopts);
	while ((c = getopt_long(argc, argv, "+e:w:u:qvhV" LFS_IMAGE_SHORTOPTS, lopts, NULL)) !=
	       -1) {
		switch (lfs_image_cli_opt(&o->imgopts, c, optarg)) {
		case 1:
			continue;
		case -1:
			return -1;
		}
		switch (c) {
		case OPT_UPPER:
			o->upper = optarg;
			break;
		case OPT_COMMIT:
			o->commit = optarg;
			break;
		case OPT_WORK:
			o->work = optarg;
			break;
		case OPT_BIND:
			if (parse_bind(o, optarg) < 0)
				return -1;
			break;
		case 'e':
			if (!*optarg || optarg[0] == '=') {
				lfs_chroot_msg("--env %s: expected NAME=VALUE or NAME", optarg);
				return -1;
			}
			o->envs = grow(o->envs, o->nenvs, sizeof(*o->envs));
			o->envs[o->nenvs++] = optarg;
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_ENTRYPOINT:
			o->entrypoint = optarg;
			o->entrypoint_given = 1;
			break;
		case OPT_USERNS:
			o->userns = 1;
			break;
		case OPT_NOSUID:
			o->nosuid = 1;
			break;
		case OPT_STOP_TIMEOUT:
			if (parse_stop_timeout(o, optarg) < 0)
				return -1;
			break;
		case OPT_HOSTNAME:
			if (parse_hostname(o, optarg) < 0)
				return -1;
			break;
		case 'q':
			o->quiet = 1;
			lfs_quiet = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return -2;
		case 'V':
			printf("layerfs-chroot %s\n", PACKAGE_VERSION);
			return -2;
		default:
			fprintf(stderr, "Try 'layerfs-chroot --help' for more information.\n");
			return -1;
		}
	}
	if (o->work && !o->upper) {
		lfs_chroot_msg("--work needs --upper");
		return -1;
	}
	if (optind >= argc) {
		lfs_chroot_msg("missing IMAGE\nTry 'layerfs-chroot --help' for more information.");
		return -1;
	}
	if (!o->hostname[0])
		default_hostname(o);
	o->image = argv[optind];
	if (optind + 1 < argc && !strcmp(argv[optind + 1], "--"))
		o->cmd = argv + optind + 2;
	else
		o->cmd = argv + optind + 1;
	return optind;
}

static void free_opts(struct lfs_chroot_opts *o)
{
	for (size_t i = 0; i < o->nbinds; i++) {
		free(o->binds[i].src);
		free(o->binds[i].dst);
	}
	free(o->binds);
	free(o->envs);
}

int main(int argc, char **argv)
{
	struct lfs_chroot_opts o = {0};
	struct lfs_chroot_spec spec;
	struct lfs_core_opts co = {0};
	struct lfs_image_opts io;
	struct lfs_image *img = NULL;
	char dir[4096];
	char *src[1];
	int rc;

	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	lfs_progname = "layerfs-chroot";
	rc = parse_args(argc, argv, &o);
	if (rc < 0) {
		free_opts(&o);
		return rc == -2 ? 0 : LFS_CHROOT_EXIT_FAIL;
	}
	/* The image config: what to run.  The daemon opens the image again to mount it. */
	lfs_image_cli_core(&o.imgopts, &co);
	lfs_core_image_opts(&co, &io, dir, sizeof(dir));
	src[0] = (char *)o.image;
	rc = lfs_image_open(&img, src, 1, &io);
	if (rc < 0) {
		lfs_chroot_msg("%s", lfs_err_get());
		free_opts(&o);
		return LFS_CHROOT_EXIT_FAIL;
	}
	rc = lfs_chroot_spec_build(&spec, img->cfg, &o);
	lfs_image_free(img);
	if (rc < 0) {
		free_opts(&o);
		return LFS_CHROOT_EXIT_FAIL;
	}
	if (o.commit && lfs_chroot_commit_prepare(&o, &spec) < 0) {
		rc = LFS_CHROOT_EXIT_FAIL;
		goto out;
	}
	rc = lfs_chroot_run(&o, &spec);
	/* As buildah: a command that failed commits nothing, its status is ours. */
	if (o.commit) {
		const int crc = lfs_chroot_commit_run(&o, rc == 0);

		rc = rc ? rc : crc;
	}
out:
	lfs_chroot_commit_clean(&o);
	lfs_chroot_spec_free(&spec);
	free_opts(&o);
	return rc;
}
