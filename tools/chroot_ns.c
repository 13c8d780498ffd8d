/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the namespaces and the mounts.  The wrapper enters a
 * private mount namespace (in a user namespace mapping the caller to root
 * when rootless), then a new pid and UTS namespace for the init it starts.
 *
 * The mounts inside the mounted image, made by the pid namespace's init
 * before the command starts: /proc (of the new pid namespace), a tmpfs /dev
 * with the host's null, zero, full, random, urandom and tty bound in, a new
 * devpts instance and /dev/shm, /sys bound read-only, a fresh tmpfs /tmp,
 * the host's /etc/resolv.conf (read-only) and the --bind mounts.
 *
 * The image comes from strangers: a path in it is walked one component at
 * a time from a directory fd with O_NOFOLLOW, and the mount goes onto
 * /proc/self/fd/N of the fd found, so a symlink in the image can never
 * send a mount outside it.  Missing mount points are created through the
 * writable mount (they land in the upper directory).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
/* struct mount_attr of <linux/mount.h>, which clashes with <sys/mount.h> */
struct lfs_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define LFS_MOUNT_ATTR_RDONLY 0x1
#define LFS_MOUNT_ATTR_NOSUID 0x2
#define LFS_MOUNT_ATTR_NODEV  0x4
#define LFS_MOUNT_ATTR_NOEXEC 0x8

/* ---------------------------------------------- the wrapper's namespaces */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = -errno;
	close(fd);
	return rc;
}

/* How many ids /proc/self/FILE maps (0: none yet, or unreadable). */
static unsigned long ids_mapped(const char *file)
{
	unsigned long inside, outside, count, total = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		total += count;
	fclose(f);
	return total;
}

/* Is PROG an executable in $PATH? */
static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, len ? path : ".", prog);
		if (access(buf, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

/* The subordinate ranges to map: 1 with both in M's words, 0 with none (WHY says). */
struct idplan {
	char uwords[4096], gwords[4096];
	unsigned long nuids, ngids;
	char why[160];
};

static int plan_ranges(struct idplan *p)
{
	struct lfs_chroot_idrange ur[LFS_CHROOT_MAX_RANGES], gr[LFS_CHROOT_MAX_RANGES];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct passwd *pw = getpwuid(uid);
	const char *name = pw ? pw->pw_name : NULL;
	size_t nu = 0, ng = 0;
	int rc;

	if (!in_path("newuidmap") || !in_path("newgidmap")) {
		snprintf(p->why, sizeof(p->why), "no newuidmap and newgidmap (Debian's uidmap)");
		return 0;
	}
	rc = lfs_chroot_subid_read("/etc/subuid", name, uid, ur, LFS_CHROOT_MAX_RANGES, &nu);
	if (rc == 0 && nu)
		rc =
		    lfs_chroot_subid_read("/etc/subgid", name, uid, gr, LFS_CHROOT_MAX_RANGES, &ng);
	if (rc < 0 || !nu || !ng) {
		snprintf(p->why, sizeof(p->why), "no range for %s (uid %u) in %s%s%s",
			 name ? name : "you", (unsigned)uid, nu ? "/etc/subgid" : "/etc/subuid",
			 rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
		return 0;
	}
	p->nuids = lfs_chroot_idmap_words(uid, ur, nu, p->uwords, sizeof(p->uwords));
	p->ngids = lfs_chroot_idmap_words(gid, gr, ng, p->gwords, sizeof(p->gwords));
	return p->nuids && p->ngids;
}

/* Run PROG PID WORDS... and wait: 0, or -1 (said). */
static int run_map(const char *prog, pid_t target, const char *words)
{
	char *dup = lfs_xstrdup(words), *argv[3 * LFS_CHROOT_MAX_RANGES + 8], *save = NULL;
	char pidbuf[24];
	size_t n = 0;
	pid_t pid;
	int st;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)target);
	argv[n++] = (char *)prog;
	argv[n++] = pidbuf;
	for (char *w = strtok_r(dup, " ", &save); w && n + 1 < LFS_ARRAY_SIZE(argv);
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		execvp(prog, argv);
		lfs_chroot_msg("cannot run %s: %s", prog, strerror(errno));
		_exit(127);
	}
	free(dup);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

/*
 * A helper forked before the unshare stays outside the new user namespace:
 * newuidmap must write the map of a process already inside it, from the
 * namespace above.  It waits for our word on GO, then maps our uids and
 * gids (newgidmap leaves setgroups allowed when a subordinate range is
 * mapped).  Returns its pid; it exits 0 when both maps are written.
 */
static pid_t start_mapper(const struct idplan *p, int go[2])
{
	pid_t self = getpid(), pid;
	sigset_t none;
	char c;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(go[0]);
		if (pid < 0)
			close(go[1]);
		return pid;
	}
	close(go[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* EOF: the unshare failed */
	if (read(go[0], &c, 1) != 1 || getppid() != self)
		_exit(1);
	if (run_map("newuidmap", self, p->uwords) < 0 || run_map("newgidmap", self, p->gwords) < 0)
		_exit(1);
	_exit(0);
}

/* Map UID and GID (ours, from before the unshare) to 0 where nothing is
 * mapped yet (setgroups denied). */
static int map_single(uid_t uid, gid_t gid)
{
	char map[64];
	int rc = 0;

	if (!ids_mapped("uid_map")) {
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
		rc = write_file("/proc/self/uid_map", map);
	}
	if (rc == 0 && !ids_mapped("gid_map")) {
		rc = write_file("/proc/self/setgroups", "deny\n");
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
		if (rc == 0)
			rc = write_file("/proc/self/gid_map", map);
	}
	if (rc < 0)
		lfs_chroot_msg("cannot map ids in the user namespace: %s", strerror(-rc));
	return rc;
}

static int enter_userns(struct lfs_chroot_spec *spec, int verbose, int quiet)
{
	struct idplan plan = {.nuids = 0};
	uid_t uid = geteuid(); /* (inside, until mapped, we are the overflow id) */
	gid_t gid = getegid();
	int ranges = uid != 0 && plan_ranges(&plan), go[2] = {-1, -1}, st, rc;
	pid_t mapper = ranges ? start_mapper(&plan, go) : -1;

	if (ranges && mapper < 0) {
		snprintf(plan.why, sizeof(plan.why), "fork: %s", strerror(errno));
		ranges = 0;
	}
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		rc = -errno;
		lfs_chroot_msg("cannot create a user namespace: %s (are unprivileged user "
			       "namespaces allowed? sysctl user.max_user_namespaces, "
			       "kernel.unprivileged_userns_clone)",
			       strerror(errno));
		if (ranges) {
			close(go[1]);
			waitpid(mapper, &st, 0);
		}
		return rc;
	}
	if (ranges) {
		rc = write(go[1], "g", 1) == 1 ? 0 : -1;
		close(go[1]);
		if (waitpid(mapper, &st, 0) != mapper || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
		    rc < 0) {
			if (!quiet)
				lfs_warn("newuidmap or newgidmap failed: only your own uid and gid "
					 "are mapped (to 0)");
			snprintf(plan.why, sizeof(plan.why), "newuidmap or newgidmap failed");
		}
	}
	rc = map_single(uid, gid);
	if (rc < 0)
		return rc;
	spec->ngids = ids_mapped("gid_map");
	spec->rootless = ids_mapped("uid_map") <= 1 || spec->ngids <= 1;
	if (verbose && !spec->rootless)
		lfs_chroot_msg("user namespace: uids %s, gids %s (inside outside count)",
			       plan.uwords, plan.gwords);
	else if (verbose)
		lfs_chroot_msg("user namespace: only uid %u and gid %u are mapped, to 0 (%s)",
			       (unsigned)uid, (unsigned)gid,
			       uid == 0 ? "root maps itself" : plan.why);
	return 0;
}

int lfs_chroot_ns_enter(struct lfs_chroot_spec *spec, int verbose, int quiet)
{
	if (spec->userns) {
		int rc = enter_userns(spec, verbose, quiet);

		if (rc < 0)
			return rc;
	} else if (unshare(CLONE_NEWNS) < 0) {
		int rc = -errno;

		lfs_chroot_msg("cannot create a mount namespace: %s", strerror(errno));
		return rc;
	}
	/*
	 * Nothing we mount may propagate back to the host; but the host's
	 * unmounts still reach our copies (slave, not private), so a long run
	 * does not keep the host's filesystems busy: a FUSE daemon whose mount
	 * the host removes can exit, a disk can be unmounted.
	 */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		int rc = -errno;

		lfs_chroot_msg("cannot make the mounts one-way (slave): %s", strerror(errno));
		return rc;
	}
	return 0;
}

int lfs_chroot_ns_pid_uts(const char *hostname)
{
	/* (the user namespace, when there is one, owns the UTS namespace) */
	if (unshare(CLONE_NEWPID | CLONE_NEWUTS) < 0) {
		int rc = -errno;

		lfs_chroot_msg("cannot create a pid and UTS namespace: %s", strerror(errno));
		return rc;
	}
	if (sethostname(hostname, strlen(hostname)) < 0) {
		int rc = -errno;

		lfs_chroot_msg("cannot set the hostname: %s", strerror(errno));
		return rc;
	}
	return 0;
}

/* ------------------------------------------------- the mounts in the image */

#define FDPATH_MAX 32

static const char *fdpath(int fd, char buf[FDPATH_MAX])
{
	snprintf(buf, FDPATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

/* Is NAME in DIRFD a symlink?  Then say so in lfs_err_get(). */
static int symlink_error(int dirfd, const char *name, const char *path, int rc)
{
	struct stat st;
	char sb[256];

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return lfs_error(-ELOOP, "%s is a symlink in the image (not followed)",
				 lfs_show(path, sb, sizeof(sb)));
	return lfs_error(rc, "%s: %s", lfs_show(path, sb, sizeof(sb)), strerror(-rc));
}

/* with the kind to create in walk(): a symlink as the last component is returned */
#define WALK_LINK_OK 01

/*
 * PATH (relative to ROOTFD; "." and empty components skipped, ".."
 * refused) as an O_PATH fd, following no symlink.  CREATE (S_IFDIR or
 * S_IFREG, 0: none; | WALK_LINK_OK) makes missing components: directories,
 * the last one of that kind with MODE.  Returns the fd or -errno
 * (lfs_err_get() says what).
 */
static int walk(int rootfd, const char *path, mode_t create, mode_t mode)
{
	char *dup = lfs_xstrdup(path), *save = NULL, *comp, *next, done[PATH_MAX] = "";
	int link_ok = create & WALK_LINK_OK, fd = -1, dfd, rc = 0;
	struct stat st;

	create &= (mode_t)~WALK_LINK_OK;
	dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0) {
		free(dup);
		return lfs_error(-errno, "dup: %s", strerror(errno));
	}
	comp = strtok_r(dup, "/", &save);
	while (comp && !strcmp(comp, "."))
		comp = strtok_r(NULL, "/", &save);
	if (!comp) {
		rc = lfs_error(-EINVAL, "/%s: not below the image's root", path);
		goto out;
	}
	for (; comp; comp = next) {
		int last;

		next = strtok_r(NULL, "/", &save);
		while (next && !strcmp(next, "."))
			next = strtok_r(NULL, "/", &save);
		last = !next;
		snprintf(done + strlen(done), sizeof(done) - strlen(done), "/%s", comp);
		if (!strcmp(comp, "..")) {
			rc = lfs_error(-EINVAL, "%s: '..' is not allowed", done);
			goto out;
		}
		fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
		if (fd < 0 && errno == ENOENT && create) {
			if (!last || create == S_IFDIR) {
				if (mkdirat(dfd, comp, last ? mode : 0755) < 0 && errno != EEXIST)
					goto fail;
			} else {
				int w = openat(dfd, comp,
					       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					       mode);

				if (w < 0 && errno != EEXIST)
					goto fail;
				if (w >= 0)
					close(w);
			}
			fd = openat(dfd, comp,
				    O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
		}
		if (fd < 0)
			goto fail;
		if (last && !link_ok && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
			close(fd);
			fd = -1;
			rc = lfs_error(-ELOOP, "%s is a symlink in the image (not followed)", done);
			goto out;
		}
		close(dfd);
		dfd = fd;
		fd = -1;
	}
	free(dup);
	return dfd;
fail:
	rc = symlink_error(dfd, comp, done, -errno);
out:
	close(dfd);
	free(dup);
	return rc;
}

/* Mount on PATH in the image, created as CREATE if missing. */
static int mount_in(int rootfd, const char *path, mode_t create, mode_t mode, const char *src,
		    const char *type, unsigned long flags, const char *data)
{
	char buf[FDPATH_MAX];
	int fd = walk(rootfd, path, create, mode), rc = 0;

	if (fd < 0) {
		lfs_chroot_msg("%s", lfs_err_get());
		return fd;
	}
	if (mount(src, fdpath(fd, buf), type, flags, data) < 0) {
		rc = -errno;
		lfs_chroot_msg("cannot mount %s on /%s: %s", type ? type : src, path,
			       strerror(errno));
	}
	close(fd);
	return rc;
}

/* Make the mount at FD (its root) and every mount below it read-only. */
static int make_readonly(int fd, unsigned extra)
{
	struct lfs_mount_attr attr = {.attr_set = LFS_MOUNT_ATTR_RDONLY | extra};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	char buf[FDPATH_MAX];
	struct statvfs sv;
	long rc;

	rc = syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
	if (rc == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 5.12: the top mount only, keeping its other (maybe locked) flags. */
	if (fstatvfs(fd, &sv) == 0) {
		if (sv.f_flag & ST_NOSUID)
			flags |= MS_NOSUID;
		if (sv.f_flag & ST_NODEV)
			flags |= MS_NODEV;
		if (sv.f_flag & ST_NOEXEC)
			flags |= MS_NOEXEC;
		if (sv.f_flag & ST_NOATIME)
			flags |= MS_NOATIME;
		if (sv.f_flag & ST_RELATIME)
			flags |= MS_RELATIME;
	}
	return mount(NULL, fdpath(fd, buf), NULL, flags, NULL) < 0 ? -errno : 0;
}

/* Bind host path SRC on PATH in the image (read-only if RO). */
static int bind_in(int rootfd, const char *path, const char *src, int ro, unsigned ro_extra)
{
	struct stat st;
	int rc, fd;

	if (stat(src, &st) < 0)
		return -errno;
	rc = mount_in(rootfd, path, S_ISDIR(st.st_mode) ? S_IFDIR : S_IFREG,
		      S_ISDIR(st.st_mode) ? 0755 : 0644, src, NULL, MS_BIND | MS_REC, NULL);
	if (rc < 0 || !ro)
		return rc;
	/* the mount's root, now that it is mounted */
	fd = walk(rootfd, path, 0, 0);
	if (fd < 0) {
		lfs_chroot_msg("%s", lfs_err_get());
		return fd;
	}
	rc = make_readonly(fd, ro_extra);
	if (rc < 0)
		lfs_chroot_msg("cannot make /%s read-only: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

/* A tmpfs /dev with the host's device nodes, a new devpts, /dev/shm. */
static int setup_dev(int rootfd, int tty_gid)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *const links[][2] = {
	    {"fd", "/proc/self/fd"},	   {"stdin", "/proc/self/fd/0"},
	    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	    {"ptmx", "pts/ptmx"},
	};
	char buf[FDPATH_MAX], host[64];
	int rc, dev;

	rc = mount_in(rootfd, "dev", S_IFDIR, 0755, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC,
		      "mode=755,size=65536k");
	if (rc < 0)
		return rc;
	dev = walk(rootfd, "dev", 0, 0);
	if (dev < 0) {
		lfs_chroot_msg("%s", lfs_err_get());
		return dev;
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(nodes); i++) {
		int fd;

		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		if (access(host, F_OK) < 0)
			continue;
		/* a device node cannot be made in a user namespace: bind the host's */
		fd = openat(dev, nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0)
			close(fd);
		fd = openat(dev, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || mount(host, fdpath(fd, buf), NULL, MS_BIND, NULL) < 0) {
			rc = -errno;
			lfs_chroot_msg("cannot bind %s: %s", host, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	rc = mount_in(dev, "pts", S_IFDIR, 0755, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		      tty_gid ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
			      : "newinstance,ptmxmode=0666,mode=0620");
	if (rc == 0)
		rc = mount_in(dev, "shm", S_IFDIR, 01777, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV,
			      "mode=1777");
	for (size_t i = 0; rc == 0 && i < LFS_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0 && errno != EEXIST) {
			rc = -errno;
			lfs_chroot_msg("/dev/%s: %s", links[i][0], strerror(errno));
		}
out:
	close(dev);
	return rc;
}

/*
 * The host's resolv.conf on the image's, read-only.  When the image's is a
 * symlink (to systemd-resolved's file, say), the mount covers the symlink
 * itself, which is never followed.
 */
static int setup_resolv(int rootfd)
{
	const char *path = "etc/resolv.conf";
	char buf[FDPATH_MAX], real[PATH_MAX];
	struct stat st;
	int fd, rc;

	if (!realpath("/etc/resolv.conf", real))
		return 0;
	fd = walk(rootfd, path, S_IFREG | WALK_LINK_OK, 0644);
	if (fd < 0) {
		lfs_chroot_msg("%s", lfs_err_get());
		return fd;
	}
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
		lfs_warn("/etc/resolv.conf in the image is not a file: the host's is not mounted");
		close(fd);
		return 0;
	}
	if (mount(real, fdpath(fd, buf), NULL, MS_BIND, NULL) < 0) {
		rc = -errno;
		lfs_chroot_msg("cannot bind /etc/resolv.conf: %s", strerror(errno));
		close(fd);
		return rc;
	}
	close(fd);
	/* reopen: the fd we had is what lies under the mount */
	fd = walk(rootfd, path, 0, 0);
	if (fd < 0)
		return fd;
	rc = make_readonly(fd, LFS_MOUNT_ATTR_NOSUID | LFS_MOUNT_ATTR_NODEV);
	if (rc < 0)
		lfs_chroot_msg("cannot make /etc/resolv.conf read-only: %s", strerror(-rc));
	close(fd);
	return rc;
}

int lfs_chroot_setup_mounts(const char *mnt, const struct lfs_chroot_opts *o,
			    const struct lfs_chroot_spec *spec)
{
	int root, rc;

	root = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		rc = -errno;
		lfs_chroot_msg("%s: %s", mnt, strerror(errno));
		return rc;
	}
	rc = mount_in(root, "proc", S_IFDIR, 0555, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      NULL);
	if (rc == 0)
		/* the group tty (5) owns the ptys when the namespace maps it */
		rc = setup_dev(root, !spec->userns || spec->ngids > 5);
	if (rc == 0)
		rc = bind_in(root, "sys", "/sys", 1,
			     LFS_MOUNT_ATTR_NOSUID | LFS_MOUNT_ATTR_NODEV | LFS_MOUNT_ATTR_NOEXEC);
	if (rc == 0)
		rc = mount_in(root, "tmp", S_IFDIR, 01777, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV,
			      "mode=1777");
	if (rc == 0)
		rc = setup_resolv(root);
	for (size_t i = 0; rc == 0 && i < o->nbinds; i++) {
		rc = bind_in(root, o->binds[i].dst + 1, o->binds[i].src, o->binds[i].ro, 0);
		if (rc < 0)
			lfs_chroot_msg("--bind %s:%s failed", o->binds[i].src, o->binds[i].dst);
	}
	close(root);
	return rc;
}
