/* Unit tests of the upper directory's on-disk format (upper.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "upper.h"

struct fixture {
	char base[64];
	char up[96], wk[96];
	struct lfs_upper u;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	snprintf(f->base, sizeof(f->base), "%s/lfs-upper.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->up, sizeof(f->up), "%s/up", f->base);
	snprintf(f->wk, sizeof(f->wk), "%s/wk", f->base);
	assert_int_equal(lfs_upper_open(&f->u, f->up, f->wk, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lfs_upper_close(&f->u);
	lfs_upper_rmtree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static void put_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int is_chr00(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(0, 0);
}

static void test_whiteout_file(void **state)
{
	struct fixture *f = *state;
	struct lfs_upper *u = &f->u;

	if (u->wh_files)
		skip(); /* mknod of 0:0 is refused here */
	put_file(u->root, "a", "x");
	assert_int_equal(lfs_upper_is_whiteout(u, u->root, "a"), 0);
	assert_int_equal(lfs_upper_whiteout(u, u->root, "a"), 0);
	assert_true(is_chr00(u->root, "a"));
	assert_int_equal(lfs_upper_is_whiteout(u, u->root, "a"), 1);
	assert_int_equal(lfs_upper_exists(u, u->root, "a"), 1);
	/* a whiteout where nothing was */
	assert_int_equal(lfs_upper_whiteout(u, u->root, "b"), 0);
	assert_true(is_chr00(u->root, "b"));
	assert_int_equal(lfs_upper_drop_whiteout(u, u->root, "a"), 0);
	assert_int_equal(lfs_upper_exists(u, u->root, "a"), 0);
	/* a real device that is not 0:0 is no whiteout */
	if (geteuid() != 0)
		return;
	assert_int_equal(mknodat(u->root, "tty", S_IFCHR | 0600, makedev(5, 0)), 0);
	assert_int_equal(lfs_upper_is_whiteout(u, u->root, "tty"), 0);
}

static void test_whiteout_dir_and_install(void **state)
{
	struct fixture *f = *state;
	struct lfs_upper *u = &f->u;
	char tmp[40];
	struct stat st;

	if (u->wh_files)
		skip();
	assert_int_equal(mkdirat(u->root, "d", 0755), 0);
	assert_int_equal(mkdirat(u->root, "d/sub", 0755), 0);
	put_file(u->root, "d/sub/f", "y");
	assert_int_equal(lfs_upper_whiteout_dir(u, u->root, "d"), 0);
	assert_true(is_chr00(u->root, "d"));
	/* nothing of the old directory is left in the work directory */
	assert_int_equal(fstatat(u->work, ".", &st, 0), 0);
	assert_int_equal(st.st_nlink, 2);

	/* a directory built aside replaces the whiteout */
	lfs_upper_tmpname(u, tmp);
	assert_int_equal(mkdirat(u->work, tmp, 0700), 0);
	assert_int_equal(lfs_upper_set_opaque(u, u->work, tmp), 0);
	assert_int_equal(lfs_upper_install(u, tmp, u->root, "d"), 0);
	assert_int_equal(fstatat(u->root, "d", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(lfs_upper_is_opaque(u, u->root, "d"), 1);
	assert_int_equal(fstatat(u->work, tmp, &st, AT_SYMLINK_NOFOLLOW), -1);

	/* a file replaces a whiteout; a free name is taken as is */
	assert_int_equal(lfs_upper_whiteout(u, u->root, "g"), 0);
	lfs_upper_tmpname(u, tmp);
	put_file(u->work, tmp, "z");
	assert_int_equal(lfs_upper_install(u, tmp, u->root, "g"), 0);
	assert_int_equal(fstatat(u->root, "g", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	lfs_upper_tmpname(u, tmp);
	put_file(u->work, tmp, "z");
	assert_int_equal(lfs_upper_install(u, tmp, u->root, "h"), 0);
	/* never over a real entry */
	lfs_upper_tmpname(u, tmp);
	put_file(u->work, tmp, "z");
	assert_int_equal(lfs_upper_install(u, tmp, u->root, "h"), -EEXIST);
}

static void test_wh_files(void **state)
{
	struct fixture *f = *state;
	struct lfs_upper *u = &f->u;
	struct stat st;

	u->wh_files = 1;
	put_file(u->root, "a", "x");
	assert_int_equal(lfs_upper_whiteout(u, u->root, "a"), 0);
	assert_int_equal(fstatat(u->root, "a", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(u->root, ".wh.a", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(lfs_upper_is_whiteout(u, u->root, "a"), 1);
	assert_int_equal(lfs_upper_drop_whiteout(u, u->root, "a"), 0);
	assert_int_equal(fstatat(u->root, ".wh.a", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(lfs_upper_is_whiteout(u, u->root, "a"), 0);
	/* the opaque marker as a file is read too */
	assert_int_equal(mkdirat(u->root, "o", 0755), 0);
	assert_int_equal(lfs_upper_is_opaque(u, u->root, "o"), 0);
	put_file(u->root, "o/.wh..wh..opq", "");
	assert_int_equal(lfs_upper_is_opaque(u, u->root, "o"), 1);
}

/* A symlink inside the upper directory is never followed on the way down. */
static void test_opendir_no_symlinks(void **state)
{
	struct fixture *f = *state;
	struct lfs_upper *u = &f->u;
	const char *via_link[] = {"link", "x"};
	const char *plain[] = {"real"};
	int fd;

	assert_int_equal(mkdirat(u->root, "real", 0755), 0);
	assert_int_equal(symlinkat(f->base, u->root, "link"), 0);
	fd = lfs_upper_opendir(u, plain, 1);
	assert_true(fd >= 0);
	close(fd);
	fd = lfs_upper_opendir(u, via_link, 1);
	assert_true(fd < 0);
	fd = lfs_upper_opendir(u, via_link, 2);
	assert_true(fd < 0);
}

/* Open empties WORK/work (what a crash left) and refuses one directory for both. */
static void test_open_rules(void **state)
{
	struct fixture *f = *state;
	struct lfs_upper again;
	char path[160];
	struct stat st;

	put_file(f->u.work, "leftover", "half a copy");
	lfs_upper_close(&f->u);
	assert_int_equal(lfs_upper_open(&f->u, f->up, f->wk, NULL), 0);
	snprintf(path, sizeof(path), "%s/work/leftover", f->wk);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(lfs_upper_open(&again, f->up, f->up, NULL), -EINVAL);
	/* a private pair goes away at close */
	assert_int_equal(lfs_upper_open(&again, NULL, NULL, f->base), 0);
	assert_non_null(again.ephemeral);
	snprintf(path, sizeof(path), "%s", again.ephemeral);
	assert_int_equal(stat(path, &st), 0);
	lfs_upper_close(&again);
	assert_int_equal(stat(path, &st), -1);
}

static void test_private_xattrs(void **state)
{
	(void)state;
	assert_true(lfs_upper_private_xattr("trusted.overlay.opaque"));
	assert_true(lfs_upper_private_xattr("user.overlay.redirect"));
	assert_false(lfs_upper_private_xattr("user.overlayx"));
	assert_false(lfs_upper_private_xattr("security.capability"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_whiteout_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whiteout_dir_and_install, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wh_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_opendir_no_symlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_rules, setup, teardown),
	    cmocka_unit_test(test_private_xattrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
