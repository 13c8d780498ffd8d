/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upper directory in overlayfs' on-disk format.  Whiteouts are 0:0
 * character devices (the OCI ".wh." files only where mknod is refused);
 * opaque directories carry trusted.overlay.opaque=y as root and
 * user.overlay.opaque=y otherwise (what the kernel's userxattr option
 * reads).  New entries are built in WORK/work and renamed into place, so a
 * crash never leaves a half-made entry visible.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/upper.h"

#define WH_PREFIX     ".wh."
#define WH_PREFIX_LEN 4
#define OPAQUE_FILE   ".wh..wh..opq"

void lfs_upper_procpath(char *buf, size_t n, int dirfd, const char *name)
{
	if (name && *name)
		snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, name);
	else
		snprintf(buf, n, "/proc/self/fd/%d", dirfd);
}

int lfs_upper_private_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

void lfs_upper_tmpname(struct lfs_upper *u, char buf[40])
{
	unsigned long long s = (unsigned long long)atomic_fetch_add(&u->seq, 1);

	snprintf(buf, 40, "#lfs-%ld-%llu", (long)getpid(), s);
}

/* The name ".wh.NAME" in BUF, or -ENAMETOOLONG. */
static int wh_name(char *buf, size_t n, const char *name)
{
	if (strlen(name) + WH_PREFIX_LEN > NAME_MAX || strlen(name) + WH_PREFIX_LEN >= n)
		return -ENAMETOOLONG;
	snprintf(buf, n, WH_PREFIX "%s", name);
	return 0;
}

int lfs_upper_empty(int dirfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = lfs_upper_rmtree(fd, de->d_name);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

int lfs_upper_rmtree(int dirfd, const char *name)
{
	struct stat st;
	int rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	rc = lfs_upper_empty(dirfd, name);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

int lfs_upper_opendir(const struct lfs_upper *u, const char *const *names, size_t n)
{
	int fd = openat(u->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		int next = openat(fd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;

		close(fd);
		if (next < 0)
			return -e;
		fd = next;
	}
	return fd;
}

int lfs_upper_is_whiteout(const struct lfs_upper *u, int dirfd, const char *name)
{
	char wh[NAME_MAX + 2];
	struct stat st;

	(void)u;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
	if (errno != ENOENT)
		return -errno;
	if (wh_name(wh, sizeof(wh), name) < 0)
		return 0;
	if (fstatat(dirfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int lfs_upper_exists(const struct lfs_upper *u, int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno != ENOENT)
		return -errno;
	return lfs_upper_is_whiteout(u, dirfd, name);
}

int lfs_upper_drop_whiteout(const struct lfs_upper *u, int dirfd, const char *name)
{
	char wh[NAME_MAX + 2];
	struct stat st;

	(void)u;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(0, 0))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	if (wh_name(wh, sizeof(wh), name) < 0)
		return 0;
	if (unlinkat(dirfd, wh, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Build a whiteout for NAME in the work directory: its name there in TMP. */
static int make_whiteout(struct lfs_upper *u, char tmp[40])
{
	int fd;

	lfs_upper_tmpname(u, tmp);
	if (!u->wh_files)
		return mknodat(u->work, tmp, S_IFCHR | 0, makedev(0, 0)) < 0 ? -errno : 0;
	fd = openat(u->work, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int lfs_upper_whiteout(struct lfs_upper *u, int dirfd, const char *name)
{
	char tmp[40], wh[NAME_MAX + 2];
	int rc;

	if (u->wh_files) {
		rc = wh_name(wh, sizeof(wh), name);
		if (rc < 0)
			return rc;
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		name = wh;
	}
	rc = make_whiteout(u, tmp);
	if (rc < 0)
		return rc;
	if (renameat(u->work, tmp, dirfd, name) < 0) {
		rc = -errno;
		unlinkat(u->work, tmp, 0);
	}
	return rc;
}

int lfs_upper_whiteout_dir(struct lfs_upper *u, int dirfd, const char *name)
{
	char tmp[40];
	int rc;

	if (u->wh_files) {
		lfs_upper_tmpname(u, tmp);
		if (renameat(dirfd, name, u->work, tmp) < 0)
			return -errno;
		lfs_upper_rmtree(u->work, tmp);
		return lfs_upper_whiteout(u, dirfd, name);
	}
	rc = make_whiteout(u, tmp);
	if (rc < 0)
		return rc;
	if (renameat2(u->work, tmp, dirfd, name, RENAME_EXCHANGE) < 0) {
		rc = -errno;
		unlinkat(u->work, tmp, 0);
		return rc;
	}
	/* The old directory is in the work directory now: out of sight. */
	return lfs_upper_rmtree(u->work, tmp);
}

int lfs_upper_install(struct lfs_upper *u, const char *tmp, int dirfd, const char *name)
{
	struct stat st, wst;
	int wh;

	wh = lfs_upper_is_whiteout(u, dirfd, name);
	if (wh < 0)
		return wh;
	if (!wh)
		return renameat2(u->work, tmp, dirfd, name, RENAME_NOREPLACE) < 0 ? -errno : 0;
	if (fstatat(dirfd, name, &wst, AT_SYMLINK_NOFOLLOW) < 0) {
		/* A .wh. file: the name itself is free. */
		if (renameat2(u->work, tmp, dirfd, name, RENAME_NOREPLACE) < 0)
			return -errno;
		return lfs_upper_drop_whiteout(u, dirfd, name);
	}
	if (fstatat(u->work, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return renameat(u->work, tmp, dirfd, name) < 0 ? -errno : 0;
	/* A directory cannot replace a device: swap them, then drop the whiteout. */
	if (renameat2(u->work, tmp, dirfd, name, RENAME_EXCHANGE) < 0)
		return -errno;
	unlinkat(u->work, tmp, 0);
	return 0;
}

int lfs_upper_set_opaque(const struct lfs_upper *u, int dirfd, const char *name)
{
	char path[64 + NAME_MAX];

	lfs_upper_procpath(path, sizeof(path), dirfd, name);
	return lsetxattr(path, u->opaque_xattr, "y", 1, 0) < 0 ? -errno : 0;
}

static int xattr_is_y(const char *path, const char *xname)
{
	char v[4];
	ssize_t r = lgetxattr(path, xname, v, sizeof(v));

	return r == 1 && v[0] == 'y';
}

int lfs_upper_is_opaque(const struct lfs_upper *u, int dirfd, const char *name)
{
	char path[64 + NAME_MAX + 16];
	struct stat st;

	(void)u;
	lfs_upper_procpath(path, sizeof(path) - 16, dirfd, name);
	if (xattr_is_y(path, "trusted.overlay.opaque") || xattr_is_y(path, "user.overlay.opaque"))
		return 1;
	strcat(path, "/" OPAQUE_FILE);
	return stat(path, &st) == 0;
}

/* Create DIR (one level) unless it exists; open it.  *made: whether we created it. */
static int open_made_dir(const char *dir, bool *made)
{
	int fd;

	*made = mkdir(dir, 0755) == 0;
	if (!*made && errno != EEXIST)
		return -errno;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* What this process may do in the work directory decides the formats. */
static void probe_formats(struct lfs_upper *u)
{
	char tmp[40], path[96];

	lfs_upper_tmpname(u, tmp);
	if (mknodat(u->work, tmp, S_IFCHR | 0, makedev(0, 0)) == 0)
		unlinkat(u->work, tmp, 0);
	else
		u->wh_files = 1;
	u->opaque_xattr = "user.overlay.opaque";
	lfs_upper_tmpname(u, tmp);
	if (mkdirat(u->work, tmp, 0700) == 0) {
		lfs_upper_procpath(path, sizeof(path), u->work, tmp);
		if (lsetxattr(path, "trusted.overlay.opaque", "y", 1, 0) == 0)
			u->opaque_xattr = "trusted.overlay.opaque";
		unlinkat(u->work, tmp, AT_REMOVEDIR);
	}
}

/*
 * Is the directory FD TOP itself or below it?  1, 0 or -errno.  Walks up
 * by "..", across mounts, to the root (whose ".." is itself).
 */
static int is_below(int fd, const struct stat *top)
{
	struct stat st;
	int cur = dup(fd), rc = 0;

	if (cur < 0)
		return -errno;
	for (int depth = 0; depth < 4096; depth++) {
		struct stat up;
		int next;

		if (fstat(cur, &st) < 0) {
			rc = -errno;
			break;
		}
		if (st.st_dev == top->st_dev && st.st_ino == top->st_ino) {
			rc = 1;
			break;
		}
		next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || fstat(next, &up) < 0) {
			rc = -errno;
			if (next >= 0)
				close(next);
			break;
		}
		close(cur);
		cur = next;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
			break; /* the root */
	}
	close(cur);
	return rc;
}

/*
 * The process (other than this one) with a lock on the file ST, as
 * /proc/PID/fdinfo shows it (OFD locks record no pid), or 0.  COMM: its name.
 */
static pid_t lock_holder(const struct stat *st, char comm[32])
{
	char path[320], line[256], dev[64];
	pid_t found = 0, self = getpid();
	struct dirent *p;
	DIR *proc = opendir("/proc");

	snprintf(dev, sizeof(dev), " %02x:%02x:%llu ", major(st->st_dev), minor(st->st_dev),
		 (unsigned long long)st->st_ino);
	while (proc && !found && (p = readdir(proc)) != NULL) {
		pid_t pid = (pid_t)atoi(p->d_name);
		struct dirent *f;
		DIR *fds;

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
		fds = opendir(path);
		while (fds && !found && (f = readdir(fds)) != NULL) {
			FILE *info;

			if (f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, f->d_name);
			info = fopen(path, "re");
			while (info && !found && fgets(line, sizeof(line), info))
				if (!strncmp(line, "lock:", 5) && strstr(line, dev))
					found = pid;
			if (info)
				fclose(info);
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	comm[0] = '\0';
	if (found) {
		FILE *c;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)found);
		c = fopen(path, "re");
		if (c && fgets(comm, 32, c))
			comm[strcspn(comm, "\n")] = '\0';
		if (c)
			fclose(c);
	}
	return found;
}

/*
 * Lock the directory FD (named DIR, the WHAT directory) for this mount.  A
 * write lock needs a file open for writing, which a directory cannot be:
 * each mount holds a read lock and then asks whether anyone else holds one.
 * Two mounts starting at the same moment may then both refuse, never both
 * proceed.  OFD locks belong to the open file, so the daemon keeps them
 * across fork, and they do not clash with layerfs-chroot's flock.
 */
static int lock_dir(int fd, const char *dir, const char *what, int *out)
{
	struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_len = 1};
	char sb[256], comm[32];
	struct stat st;
	pid_t pid;
	int lfd, rc;

	lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0 || fcntl(lfd, F_OFD_SETLK, &l) < 0) {
		rc = -errno;
		if (lfd >= 0)
			close(lfd);
		return lfs_error(rc, "%s: cannot lock the %s directory: %s",
				 lfs_show(dir, sb, sizeof(sb)), what, strerror(-rc));
	}
	l.l_type = F_WRLCK;
	l.l_pid = 0;
	if (fcntl(lfd, F_OFD_GETLK, &l) < 0 || fstat(lfd, &st) < 0) {
		rc = -errno;
		close(lfd);
		return lfs_error(rc, "%s: cannot lock the %s directory: %s",
				 lfs_show(dir, sb, sizeof(sb)), what, strerror(-rc));
	}
	if (l.l_type == F_UNLCK) {
		*out = lfd;
		return 0;
	}
	pid = lock_holder(&st, comm);
	close(lfd);
	if (pid)
		return lfs_error(-EBUSY,
				 "%s: the %s directory is in use by another mount (pid %d, %s)",
				 lfs_show(dir, sb, sizeof(sb)), what, (int)pid, comm);
	return lfs_error(-EBUSY, "%s: the %s directory is in use by another mount",
			 lfs_show(dir, sb, sizeof(sb)), what);
}

/* The checks of the kernel's overlayfs on an upper and work directory, and their locks. */
static int check_pair(struct lfs_upper *u, int wfd, const char *upper, const char *work)
{
	char sb[256], sb2[256];
	struct stat su, sw;
	int rc;

	if (fstat(u->root, &su) < 0 || fstat(wfd, &sw) < 0)
		return lfs_error(-errno, "cannot stat the upper or work directory: %s",
				 strerror(errno));
	if (su.st_dev != sw.st_dev)
		return lfs_error(-EXDEV,
				 "%s and %s: the upper and work directories must be on one "
				 "filesystem",
				 lfs_show(upper, sb, sizeof(sb)), lfs_show(work, sb2, sizeof(sb2)));
	if (su.st_ino == sw.st_ino)
		return lfs_error(-EINVAL, "%s: the upper and work directories must differ",
				 lfs_show(upper, sb, sizeof(sb)));
	/* WORK/work is emptied at mount, and a work directory in the upper would show. */
	rc = is_below(u->root, &sw);
	if (rc == 0)
		rc = is_below(wfd, &su) ? 2 : 0;
	if (rc < 0)
		return lfs_error(rc, "%s: cannot check where the upper directory is: %s",
				 lfs_show(upper, sb, sizeof(sb)), strerror(-rc));
	if (rc)
		return lfs_error(-EINVAL,
				 "%s and %s: the upper and work directories must be separate "
				 "subtrees (the %s directory is inside the %s directory)",
				 lfs_show(upper, sb, sizeof(sb)), lfs_show(work, sb2, sizeof(sb2)),
				 rc == 1 ? "upper" : "work", rc == 1 ? "work" : "upper");
	rc = lock_dir(u->root, upper, "upper", &u->lock[0]);
	if (rc == 0)
		rc = lock_dir(wfd, work, "work", &u->lock[1]);
	return rc;
}

int lfs_upper_open(struct lfs_upper *u, const char *upper, const char *work, const char *tmpdir)
{
	char *base = NULL, *up = NULL, *wk = NULL, sb[256];
	bool made_upper = false, made_work = false;
	int wfd = -1, rc;

	memset(u, 0, sizeof(*u));
	u->root = u->work = u->lock[0] = u->lock[1] = -1;
	if (!upper) {
		if (!tmpdir)
			tmpdir = getenv("TMPDIR");
		if (!tmpdir || !*tmpdir)
			tmpdir = "/var/tmp";
		if (asprintf(&base, "%s/layerfs-upper.XXXXXX", tmpdir) < 0)
			return lfs_error(-ENOMEM, "out of memory");
		if (!mkdtemp(base)) {
			rc = lfs_error(-errno, "%s: cannot create a private upper directory: %s",
				       lfs_show(tmpdir, sb, sizeof(sb)), strerror(errno));
			free(base);
			return rc;
		}
		u->ephemeral = base;
		if (asprintf(&up, "%s/upper", base) < 0 || asprintf(&wk, "%s/work", base) < 0) {
			rc = lfs_error(-ENOMEM, "out of memory");
			goto fail;
		}
		upper = up;
		work = wk;
	}
	rc = open_made_dir(upper, &made_upper);
	if (rc < 0) {
		rc = lfs_error(rc, "%s: cannot open the upper directory: %s",
			       lfs_show(upper, sb, sizeof(sb)), strerror(-rc));
		goto fail;
	}
	u->root = rc;
	rc = open_made_dir(work, &made_work);
	if (rc < 0) {
		rc = lfs_error(rc, "%s: cannot open the work directory: %s",
			       lfs_show(work, sb, sizeof(sb)), strerror(-rc));
		goto fail;
	}
	wfd = rc;
	/* Locked before WORK/work is emptied: it may hold another mount's copy-up. */
	rc = check_pair(u, wfd, upper, work);
	if (rc < 0)
		goto fail;
	/* As the kernel does: WORK/work holds only what a crash left behind. */
	rc = lfs_upper_rmtree(wfd, "work");
	if (rc == 0 && mkdirat(wfd, "work", 0700) < 0)
		rc = -errno;
	if (rc == 0) {
		u->work = openat(wfd, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (u->work < 0)
			rc = -errno;
	}
	if (rc < 0) {
		rc = lfs_error(rc, "%s/work: cannot prepare the work directory: %s",
			       lfs_show(work, sb, sizeof(sb)), strerror(-rc));
		goto fail;
	}
	close(wfd);
	free(up);
	free(wk);
	probe_formats(u);
	return 0;
fail:
	if (wfd >= 0)
		close(wfd);
	/* Refused: leave no directory behind that we made. */
	if (made_work)
		rmdir(work);
	if (made_upper)
		rmdir(upper);
	free(up);
	free(wk);
	lfs_upper_close(u);
	return rc;
}

void lfs_upper_close(struct lfs_upper *u)
{
	if (u->work >= 0)
		close(u->work);
	if (u->root >= 0)
		close(u->root);
	/* The locks go with the last fds of the directories. */
	for (int i = 0; i < 2; i++)
		if (u->lock[i] >= 0)
			close(u->lock[i]);
	u->work = u->root = u->lock[0] = u->lock[1] = -1;
	if (u->ephemeral) {
		char sb[256];
		int rc = lfs_upper_rmtree(AT_FDCWD, u->ephemeral);

		if (rc < 0)
			lfs_warn("%s: cannot remove the private upper directory: %s",
				 lfs_show(u->ephemeral, sb, sizeof(sb)), strerror(-rc));
		free(u->ephemeral);
		u->ephemeral = NULL;
	}
}
