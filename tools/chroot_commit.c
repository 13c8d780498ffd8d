/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot --commit DEST: run the command, then turn its changes into
 * an image, as buildah run + buildah commit.  Before the run: DEST is
 * checked (so a long run is not wasted on a DEST that cannot be written)
 * and, without --upper, a private upper directory is made that outlives
 * the mount.  After a run that succeeded: layerfs-commit writes DEST from
 * the image and that upper; the private upper is removed either way.
 *
 * layerfs-commit is forked before the run and waits on a pipe: after the
 * run this process may no longer fork (its children would go to the pid
 * namespace it made, whose init is gone), and the commit belongs in the
 * host's namespaces anyway.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"

static void start_commit(struct lfs_chroot_opts *o, const struct lfs_chroot_spec *spec);

int lfs_chroot_commit_prepare(struct lfs_chroot_opts *o, const struct lfs_chroot_spec *spec)
{
	const char *tmp = o->imgopts.tmpdir ? o->imgopts.tmpdir : getenv("TMPDIR");
	char *base;

	if (lfs_write_dest_check(o->commit) < 0) {
		lfs_chroot_msg("--commit: %s", lfs_err_get());
		return -1;
	}
	/* The upper of an ordinary user's run holds subordinate ids: not ours to read back. */
	if (geteuid() != 0 || o->userns) {
		lfs_chroot_msg("--commit needs root (and no --userns): the upper's files would "
			       "carry the user namespace's ids");
		return -1;
	}
	if (o->upper)
		goto start;
	if (!tmp || !*tmp)
		tmp = "/var/tmp";
	base = realpath(tmp, NULL);
	if (!base) {
		lfs_chroot_msg("%s: %s", tmp, strerror(errno));
		return -1;
	}
	o->commit_dir = lfs_xmalloc(strlen(base) + 32);
	sprintf(o->commit_dir, "%s/layerfs-commit.XXXXXX", base);
	free(base);
	if (!mkdtemp(o->commit_dir)) {
		lfs_chroot_msg("cannot create %s: %s", o->commit_dir, strerror(errno));
		free(o->commit_dir);
		o->commit_dir = NULL;
		return -1;
	}
	o->commit_upper = lfs_xmalloc(strlen(o->commit_dir) + 8);
	o->commit_work = lfs_xmalloc(strlen(o->commit_dir) + 8);
	sprintf(o->commit_upper, "%s/upper", o->commit_dir);
	sprintf(o->commit_work, "%s/work", o->commit_dir);
	if (mkdir(o->commit_upper, 0755) < 0 || mkdir(o->commit_work, 0700) < 0) {
		lfs_chroot_msg("cannot create %s: %s", o->commit_upper, strerror(errno));
		return -1;
	}
	o->upper = o->commit_upper;
	o->work = o->commit_work;
start:
	start_commit(o, spec);
	return o->commit_pid > 0 ? 0 : -1;
}

/* The layerfs-commit beside us, as layerfs-chroot finds layerfs. */
static char *find_commit(void)
{
	const char *env = getenv("LAYERFS_COMMIT");
	char self[PATH_MAX], *p;
	ssize_t n;

	if (env && *env)
		return lfs_xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 32);
	if (n > 0) {
		self[n] = '\0';
		p = strrchr(self, '/');
		if (p) {
			strcpy(p + 1,
			       "layerfs-commit"); /* installed, or tools/ of the build tree */
			if (access(self, X_OK) == 0)
				return lfs_xstrdup(self);
		}
	}
	return lfs_xstrdup("layerfs-commit"); /* from $PATH */
}

/* WORDS as a shell would need them: the history's created_by. */
static char *quoted(char *const *words)
{
	size_t n = 1;
	char *s, *q;

	for (char *const *w = words; *w; w++)
		n += 4 * strlen(*w) + 3;
	s = q = lfs_xmalloc(n);
	for (char *const *w = words; *w; w++) {
		const int plain =
		    **w && strspn(*w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-_./=:,+@%") == strlen(*w);

		if (w != words)
			*q++ = ' ';
		if (plain) {
			q = stpcpy(q, *w);
			continue;
		}
		*q++ = '\'';
		for (const char *c = *w; *c; c++)
			q = *c == '\'' ? stpcpy(q, "'\\''") : (*q = *c, q + 1);
		*q++ = '\'';
	}
	*q = '\0';
	return s;
}

/* The commit's process, waiting for a byte on a pipe: '1' commits, anything else not. */
static void start_commit(struct lfs_chroot_opts *o, const struct lfs_chroot_spec *spec)
{
	const struct lfs_image_cli *io = &o->imgopts;
	const char *argv[32];
	char *bin = find_commit(), *msg = quoted(spec->argv);
	size_t n = 0;
	int fds[2];
	char go = 0;

	argv[n++] = bin;
	argv[n++] = "--upper";
	argv[n++] = o->upper;
	argv[n++] = "--message";
	argv[n++] = msg;
	if (io->tag) {
		argv[n++] = "--tag";
		argv[n++] = io->tag;
	}
	if (io->platform) {
		argv[n++] = "--platform";
		argv[n++] = io->platform;
	}
	if (io->tls_insecure)
		argv[n++] = "--tls-verify=false";
	if (io->authfile) {
		argv[n++] = "--authfile";
		argv[n++] = io->authfile;
	}
	if (o->quiet)
		argv[n++] = "--quiet";
	argv[n++] = "--";
	argv[n++] = o->image;
	argv[n++] = o->commit;
	argv[n] = NULL;
	o->commit_pid = -1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		lfs_chroot_msg("cannot run %s: %s", bin, strerror(errno));
		goto out;
	}
	o->commit_pid = fork();
	if (o->commit_pid == 0) {
		close(fds[1]);
		if (read(fds[0], &go, 1) != 1 || go != '1')
			_exit(0);
		execvp(bin, (char *const *)argv);
		fprintf(stderr, "layerfs-chroot: %s: %s\n", bin, strerror(errno));
		_exit(LFS_CHROOT_EXIT_FAIL);
	}
	close(fds[0]);
	if (o->commit_pid < 0) {
		lfs_chroot_msg("cannot run %s: %s", bin, strerror(errno));
		close(fds[1]);
	} else {
		o->commit_go = fds[1];
	}
out:
	free(bin);
	free(msg);
}

int lfs_chroot_commit_run(struct lfs_chroot_opts *o, int ok)
{
	int status, rc = 0;

	if (o->commit_pid <= 0)
		return ok ? LFS_CHROOT_EXIT_FAIL : 0;
	if (ok && write(o->commit_go, "1", 1) != 1)
		ok = 0;
	close(o->commit_go);
	while (waitpid(o->commit_pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		lfs_chroot_msg("the commit to %s failed", o->commit);
		rc = LFS_CHROOT_EXIT_FAIL;
	}
	o->commit_pid = 0;
	return rc;
}

void lfs_chroot_commit_clean(struct lfs_chroot_opts *o)
{
	if (o->commit_dir)
		lfs_chroot_rmtree(o->commit_dir);
	free(o->commit_dir);
	free(o->commit_upper);
	free(o->commit_work);
	o->commit_dir = o->commit_upper = o->commit_work = NULL;
}
