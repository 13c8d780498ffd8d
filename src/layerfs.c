/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs: mount the merged tree of a container image's layers, read
 * straight from the layer tarballs.  Options, indexing before the mount (so
 * every error is reported with nothing mounted), then the FUSE session.
 */
#include "config.h"

#include <archive.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "fuse_ops.h"
#include "layerfs/lfs.h"
#include "layerfs/opts.h"

enum {
	OPT_UPPER = 256,
	OPT_WORK,
	OPT_READ_ONLY,
	OPT_PUBLISH_INDEX,
	OPT_OWNERS,
};

struct options {
	int foreground, debug, single_thread;
	struct lfs_image_cli image; /* the options shared with the tools */
	const char *upper, *work;
	int read_only;
	int publish;	 /* --publish-index: no mount */
	char *fuse_opts; /* comma-joined -o values */
	int owners;	 /* --owners: -1 by default, else 0 (image) or 1 (user) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: layerfs [OPTION]... SOURCE... MOUNTPOINT\n"
		"  or:  layerfs --publish-index [OPTION]... docker://REF\n"
		"Mount the merged root filesystem of a container image, read straight from its\n"
		"layer tarballs, exactly as the kernel's overlayfs would show it.  The mount is\n"
		"writable: changes go to a copy-on-write upper directory in overlayfs' format,\n"
		"a private one removed at unmount unless --upper is given.\n"
		"\n"
		"SOURCE is a docker-save tarball, an OCI image layout directory, an OCI archive,\n"
		"or layers, lowest first: files (tar, tar.gz, tar.zst) and plain directories\n"
		"(read in place, as an overlayfs lowerdir).  An image may be named as skopeo\n"
		"does: docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST] (a registry's image, its\n"
		"layers read by HTTP ranges), oci:PATH[:REF], oci-archive:PATH[:REF],\n"
		"docker-archive:PATH[:REF] (REF as --tag).\n"
		"\n"
		"      --upper DIR         keep changes in DIR (created if missing)\n"
		"      --work DIR          scratch directory on the filesystem of --upper\n"
		"      --read-only         no upper layer: every change fails with EROFS\n"
		"      --owners=image|user show the image's owners and modes (image), or\n"
		"                          every entry as yours, readable by you (user;\n"
		"                          the default when not run as root)\n"
		"      --publish-index     mount nothing: push the image's layer indexes to its\n"
		"                          registry as an artifact referring to it, so that\n"
		"                          mounts elsewhere need no pass over the layers\n"
		"  -f, --foreground        stay in the foreground\n"
		"  -d, --debug             print FUSE requests (implies -f)\n"
		"  -s, --single-thread     serve requests on one thread\n"
		"  -o OPT[,OPT...]         FUSE mount options (allow_other, ...), and this\n"
		"                          program's own as KEY[=VALUE] (upper=DIR, work=DIR,\n"
		"                          tag=NAME, read-only or ro, ...), as mount(8) and\n"
		"                          fstab pass them; options go anywhere on the line\n"
		"  -q, --quiet             no warnings, no progress\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"Image options (as in layerfs-chroot and layerfs-report):\n" LFS_IMAGE_HELP "\n"
		"Unmount with: fusermount3 -u MOUNTPOINT\n"
		"Exit status: 0 when mounted, 1 on bad input or a failed mount, 2 on bad usage.\n");
}

static void version(void)
{
	printf("layerfs %s\n", PACKAGE_VERSION);
	printf("libfuse %s, %s, zlib %s, zstd %s\n", fuse_pkgversion(), archive_version_string(),
	       zlibVersion(), ZSTD_versionString());
}

static void add_fuse_opt(struct options *o, const char *opt)
{
	size_t n = o->fuse_opts ? strlen(o->fuse_opts) : 0;

	o->fuse_opts = lfs_xrealloc(o->fuse_opts, n + strlen(opt) + 2);
	if (n)
		o->fuse_opts[n++] = ',';
	strcpy(o->fuse_opts + n, opt);
}

static const struct option lopts[] = {
    {"foreground", no_argument, NULL, 'f'},
    {"debug", no_argument, NULL, 'd'},
    {"single-thread", no_argument, NULL, 's'},
    {"quiet", no_argument, NULL, 'q'},
    LFS_IMAGE_LONGOPTS,
    {"upper", required_argument, NULL, OPT_UPPER},
    {"work", required_argument, NULL, OPT_WORK},
    {"read-only", no_argument, NULL, OPT_READ_ONLY},
    {"publish-index", no_argument, NULL, OPT_PUBLISH_INDEX},
    {"owners", required_argument, NULL, OPT_OWNERS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int parse_mount_opts(struct options *o, char *arg);

/* Option C with ARG: 0, -1 (bad usage, said), -2 (done: exit 0). */
static int handle(struct options *o, int c, char *arg)
{
	switch (lfs_image_cli_opt(&o->image, c, arg)) {
	case 1:
		return 0;
	case -1:
		return -1;
	}
	switch (c) {
	case 'f':
		o->foreground = 1;
		return 0;
	case 'd':
		o->debug = o->foreground = 1;
		return 0;
	case 's':
		o->single_thread = 1;
		return 0;
	case 'q':
		lfs_quiet = 1;
		return 0;
	case 'o':
		return parse_mount_opts(o, arg);
	case OPT_UPPER:
		o->upper = arg;
		return 0;
	case OPT_WORK:
		o->work = arg;
		return 0;
	case OPT_READ_ONLY:
		o->read_only = 1;
		return 0;
	case OPT_PUBLISH_INDEX:
		o->publish = 1;
		return 0;
	case OPT_OWNERS:
		if (strcmp(arg, "image") && strcmp(arg, "user")) {
			fprintf(stderr, "layerfs: --owners %s: expected image or user\n", arg);
			return -1;
		}
		o->owners = !strcmp(arg, "user");
		return 0;
	case 'h':
		usage(stdout);
		return -2;
	case 'V':
		version();
		return -2;
	default:
		fprintf(stderr, "Try 'layerfs --help' for more information.\n");
		return -1;
	}
}

/*
 * -o OPT[,OPT]...: layerfs' own options by their long names (upper=DIR,
 * tag=NAME, read-only, ...: what mount(8) and fstab can only pass this
 * way), "ro" for --read-only, "rw" for the default; the rest is FUSE's.
 */
static int parse_mount_opts(struct options *o, char *arg)
{
	char *save = NULL, *item, *val;
	const struct option *p;
	int rc = 0;

	/* Cut in place: the options keep pointers into ARG (argv), as into the others. */
	for (item = strtok_r(arg, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
		val = strchr(item, '=');
		if (val)
			*val++ = '\0';
		if (!strcmp(item, "ro") && !val) {
			o->read_only = 1;
			continue;
		}
		if (!strcmp(item, "rw") && !val)
			continue;
		for (p = lopts; p->name; p++)
			if (!strcmp(p->name, item))
				break;
		if (!p->name || p->val == 'o' || p->val == 'h' || p->val == 'V' ||
		    p->val == OPT_PUBLISH_INDEX) {
			if (val)
				val[-1] = '=';
			add_fuse_opt(o, item);
			continue;
		}
		if ((p->has_arg == required_argument && !val) ||
		    (p->has_arg == no_argument && val)) {
			fprintf(stderr, "layerfs: -o %s%s%s: %s\n", item, val ? "=" : "",
				val ? val : "",
				val ? "takes no value" : "needs a value (KEY=VALUE)");
			rc = -1;
			break;
		}
		rc = handle(o, p->val, val);
	}
	return rc;
}

/* Returns the index of the first positional argument, or -1 (exit 2), or -2 (exit 0). */
static int parse_args(int argc, char **argv, struct options *o)
{
	int c, rc;

	/* Options anywhere, as mount.fuse3 puts -o after the positional arguments. */
	while ((c = getopt_long(argc, argv, "fdsqo:hV" LFS_IMAGE_SHORTOPTS, lopts, NULL)) != -1) {
		rc = handle(o, c, optarg);
		if (rc)
			return rc;
	}
	if (!o->upper != !o->work) {
		fprintf(stderr, "layerfs: --upper and --work go together\n"
				"Try 'layerfs --help' for more information.\n");
		return -1;
	}
	if (o->read_only && o->upper) {
		fprintf(stderr, "layerfs: --read-only and --upper exclude each other\n"
				"Try 'layerfs --help' for more information.\n");
		return -1;
	}
	if (o->publish && (argc - optind != 1 || strncmp(argv[optind], "docker://", 9))) {
		fprintf(stderr, "layerfs: --publish-index takes one docker://REF and no "
				"MOUNTPOINT\nTry 'layerfs --help' for more information.\n");
		return -1;
	}
	if (o->publish)
		return optind;
	if (argc - optind < 2) {
		fprintf(stderr, "layerfs: %s\nTry 'layerfs --help' for more information.\n",
			argc - optind == 0 ? "missing SOURCE and MOUNTPOINT"
					   : "missing MOUNTPOINT");
		return -1;
	}
	return optind;
}

/* fsname=layerfs:<first source>, with characters that -o parsing splits on replaced. */
static char *fsname_opt(const char *source)
{
	const char *base = strrchr(source, '/');
	char *s;

	base = base && base[1] ? base + 1 : source;
	s = lfs_xmalloc(strlen(base) + 32);
	sprintf(s, "fsname=layerfs:%s", base);
	for (char *p = s; *p; p++)
		if (*p == ',' || *p == '\\' || *p == ' ')
			*p = '_';
	return s;
}

/* Copy-up and upper directories walk with one fd per level: allow many. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int write_proc(const char *file, const char *text)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Not root, once mounted (the mount stays fusermount3's): a user namespace
 * of our own mapping us to 0, so that the upper directory's files, ours, are
 * root's to us (a directory the image made 0555 can be copied up and
 * written into).  The kernel still reads our replies' owners outside it: the
 * presentation (fs->uid, fs->gid) does not change.  From there we cannot
 * unmount: start_unmounter() does.  Where user namespaces are not allowed
 * (or a thread runs already), we go on as we are.  -1 when half made
 * (unusable).
 */
/*
 * The unmount, for when we cannot do it ourselves: a process left outside
 * our user namespace runs fusermount3 -u once we are gone, however we end
 * (our end of the pipe closes), unless told first to just go (a byte).
 * Returns the pipe's write end, or -1.
 */
static int start_unmounter(const char *mnt)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char c;
		ssize_t n;

		/* out of the terminal's reach: ^C to us must not stop it */
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		dup2(p[0], STDIN_FILENO);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		do
			n = read(STDIN_FILENO, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 0)
			_exit(0);
		execl("/bin/sh", "sh", "-c", "exec fusermount3 -u -q -z -- \"$0\"", mnt,
		      (char *)NULL);
		_exit(1);
	}
	close(p[0]);
	return p[1];
}

static int own_userns(struct lfs_fs *fs, const char *mnt)
{
	int unmounter = start_unmounter(mnt);
	char map[64];
	int rc;

	if (unmounter < 0)
		return 0;
	if (unshare(CLONE_NEWUSER) < 0) {
		/* (a thread of ours started already, or no user namespaces here) */
		if (write(unmounter, "x", 1) != 1)
			fprintf(stderr, "layerfs: the unmount helper: %s\n", strerror(errno));
		close(unmounter);
		return 0;
	}
	/* UNMOUNTER stays open until we exit */
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)fs->uid);
	rc = write_proc("uid_map", map);
	if (rc == 0)
		rc = write_proc("setgroups", "deny\n");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)fs->gid);
	if (rc == 0)
		rc = write_proc("gid_map", map);
	fs->own_userns = 1;
	if (rc < 0) {
		fprintf(stderr, "layerfs: cannot map ids in a user namespace: %s\n", strerror(-rc));
		return -1;
	}
	return 0;
}

static int run_session(struct lfs_fs *fs, const struct options *o, const char *mnt,
		       const char *source)
{
	char *fsname = fsname_opt(source);
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	int rc = 1;

	fuse_opt_add_arg(&args, "layerfs");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, o->read_only ? "ro,default_permissions,subtype=layerfs"
					     : "default_permissions,subtype=layerfs");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, fsname);
	/* As root the mount is for everyone, like a kernel mount. */
	if (geteuid() == 0) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, "allow_other");
	}
	if (o->fuse_opts) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, o->fuse_opts);
	}
	if (o->debug)
		fuse_opt_add_arg(&args, "-d");

	se = fuse_session_new(&args, &lfs_fuse_ops, sizeof(lfs_fuse_ops), fs);
	if (!se) {
		fprintf(stderr, "layerfs: cannot start the FUSE session (bad -o option?)\n");
		goto out_args;
	}
	fs->se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "layerfs: %s: mount failed\n", mnt);
		goto out_signals;
	}
	/* The parent returns only now: the mount is ready when the shell gets its prompt. */
	if (fuse_daemonize(o->foreground) != 0)
		goto out_unmount;
	if (fs->owners_user && geteuid() != 0 && own_userns(fs, mnt) < 0)
		goto out_unmount;
	/*
	 * The layers' background work (a TOC layer's prefetch) starts in the
	 * daemon, once it is alone (threads do not survive the fork, and the
	 * user namespace above is entered by a process of one thread).
	 */
	for (uint32_t i = 0; i < fs->core->nlayers; i++)
		lfs_layer_ready(fs->core->layers[i]);
	if (o->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_max_threads(cfg, 16);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	rc = rc < 0 ? 1 : 0;
out_unmount:
	if (!fs->own_userns)
		fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	free(fsname);
	return rc;
}

/*
 * Is the topmost mount on MNT (a canonical path) a layerfs mount?  Mounting
 * again there would stack a second daemon over the first.
 */
static int layerfs_mounted(const char *mnt)
{
	char type[64];

	return lfs_mount_fstype(mnt, type, sizeof(type)) && !strcmp(type, "fuse.layerfs");
}

/*
 * The mount point as a full path, checked: the daemon leaves the working
 * directory, and unmounts by this path when a signal ends it.
 */
static char *mountpoint(const char *arg)
{
	struct stat st;
	char *mnt = realpath(arg, NULL);
	int e = errno;

	if (mnt && stat(mnt, &st) < 0)
		e = errno;
	else if (mnt && !S_ISDIR(st.st_mode))
		e = ENOTDIR;
	else if (mnt && layerfs_mounted(mnt)) {
		fprintf(stderr,
			"layerfs: %s: already a layerfs mount (unmount it first: fusermount3 -u "
			"%s)\n",
			arg, arg);
		free(mnt);
		return NULL;
	} else if (mnt) {
		return mnt;
	}
	fprintf(stderr, "layerfs: %s: %s\n", arg, strerror(e));
	free(mnt);
	return NULL;
}

/* --publish-index: index (or load the indexes of) SOURCE, push them, say where. */
static int publish(const struct options *o, char *source)
{
	struct lfs_core_opts co = {0};
	struct lfs_core *core = NULL;
	char digest[72];
	int rc;

	lfs_image_cli_core(&o->image, &co);
	co.progress = !lfs_quiet && isatty(STDERR_FILENO);
	rc = lfs_core_open(&core, &source, 1, &co);
	if (!rc)
		rc = lfs_core_publish_index(core, &co, digest);
	if (rc < 0) {
		fprintf(stderr, "layerfs: %s\n", lfs_err_get());
	} else {
		printf("%s\n", digest);
		if (!lfs_quiet)
			fprintf(stderr, "layerfs: published the index of %u layers as %s\n",
				core->nlayers, digest);
	}
	if (core && o->image.stats)
		lfs_core_print_stats(core);
	lfs_core_free(core);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o = {.owners = -1};
	struct lfs_core_opts co = {0};
	struct lfs_cow_opts wo = {0};
	char *tmpdir = NULL;
	struct lfs_fs fs = {.timeout = 86400.0};
	char *mnt;
	int first, rc;

	/* Names in tarballs are bytes; a UTF-8 locale keeps pax names intact. */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	lfs_image_cli_init(&o.image);
	first = parse_args(argc, argv, &o);
	if (first < 0) {
		free(o.fuse_opts);
		return first == -2 ? 0 : 2;
	}
	if (o.publish)
		return publish(&o, argv[first]);
	mnt = mountpoint(argv[argc - 1]);
	if (!mnt) {
		rc = 1;
		goto out;
	}
	lfs_image_cli_core(&o.image, &co);
	co.progress = !lfs_quiet && isatty(STDERR_FILENO);
	rc = lfs_core_open(&fs.core, argv + first, (size_t)(argc - 1 - first), &co);
	if (rc < 0) {
		fprintf(stderr, "layerfs: %s\n", lfs_err_get());
		rc = 1;
		goto out;
	}
	raise_fd_limit();
	/* The daemon leaves the working directory: the private upper needs a full path. */
	if (!o.upper && !o.read_only && o.image.tmpdir &&
	    !(tmpdir = realpath(o.image.tmpdir, NULL))) {
		fprintf(stderr, "layerfs: %s: %s\n", o.image.tmpdir, strerror(errno));
		lfs_core_free(fs.core);
		rc = 1;
		goto out;
	}
	wo.read_only = o.read_only;
	wo.upper = o.upper;
	wo.work = o.work;
	wo.tmpdir = tmpdir;
	/* On failure the core is freed with the rest. */
	rc = lfs_cow_open(&fs.cow, fs.core, &wo);
	if (rc < 0) {
		fprintf(stderr, "layerfs: %s\n", lfs_err_get());
		rc = 1;
		goto out;
	}
	fs.read_only = o.read_only;
	/* Not root: the image's files would be the image's owners', out of our reach. */
	fs.owners_user = o.owners < 0 ? geteuid() != 0 : o.owners;
	fs.uid = geteuid();
	fs.gid = getegid();
	/*
	 * Indexing freed its buffers (decompressed indexes, windows); hand the
	 * pages back before the daemon forks, or they stay in its RSS for the
	 * life of the mount.
	 */
	malloc_trim(0);
	rc = run_session(&fs, &o, mnt, argv[first]);
	if (o.image.stats)
		lfs_core_print_stats(fs.core);
	lfs_cow_close(fs.cow);
out:
	free(mnt);
	free(tmpdir);
	free(o.fuse_opts);
	return rc;
}
