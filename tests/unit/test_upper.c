/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the upper directory's on-disk format (upper.c), of the
 * tables of upper directories (names come and go: node.c's holes), and of
 * the copy-on-write tree's nodes as the kernel sees them (cow_nodes.c: an
 * open file keeps its identity, forgotten nodes are freed).  None needs
 * root (the whiteout device tests skip where mknod of 0:0 is refused).  The
 * operations themselves - copy-up, rename, whiteouts - are in test_cow.c.
 */
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

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "layerfs/cow.h"
#include "layerfs/node.h"
#include "layerfs/upper.h"

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

/* ---- tables of upper directories: holes ---- */

/* Every live name of D is found, every other one is not, and a walk sees each live one once. */
static void check_table(struct lfs_node *d, char names[][16], struct lfs_node **nodes, int n)
{
	uint32_t seen = 0;

	for (int i = 0; i < n; i++) {
		struct lfs_node *got = lfs_dir_lookup(d, names[i], strlen(names[i]));

		assert_ptr_equal(got, nodes[i]);
	}
	for (uint32_t i = 0; i < d->dir->n; i++) {
		const struct lfs_dirent *e = &d->dir->ents[i];

		if (!e->node)
			continue;
		seen++;
		assert_ptr_equal(lfs_dir_lookup(d, e->name, e->len), e->node);
	}
	assert_int_equal(seen, d->dir->live);
}

static void test_table_holes(void **state)
{
	enum { N = 300 };
	static char names[N][16];
	struct lfs_node *nodes[N] = {0}, *place[N] = {0};
	struct lfs_arena *a = lfs_arena_new();
	struct lfs_node *d = lfs_dir_new(a, NULL), *keep;
	uint32_t rnd = 12345, maxlive = 0, live = 0, pos;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		place[i] = lfs_node_new(a, 0100644);
	}
	/* A name that stays: its place (readdir position) never moves. */
	keep = lfs_node_new(a, 0100644);
	lfs_dir_set(d, lfs_arena_name(a, "keep", 4), 4, keep);
	pos = 0;
	for (int step = 0; step < 20000; step++) {
		int i;

		rnd = rnd * 1103515245u + 12345u;
		i = (int)((rnd >> 8) % N);
		if (nodes[i]) {
			const char *old =
			    lfs_dir_drop(d, lfs_dir_find(d, names[i], strlen(names[i])));

			assert_string_equal(old, names[i]);
			lfs_arena_name_free(a, old);
			nodes[i] = NULL;
			live--;
		} else {
			lfs_dir_set(d, lfs_arena_name(a, names[i], strlen(names[i])),
				    strlen(names[i]), place[i]);
			nodes[i] = place[i];
			if (++live > maxlive)
				maxlive = live;
		}
		if (step % 997 == 0)
			check_table(d, names, nodes, N);
		assert_ptr_equal(d->dir->ents[pos].node, keep);
	}
	check_table(d, names, nodes, N);
	/* The table is as big as the most names it held at once, not as the names it saw. */
	assert_true(d->dir->n <= maxlive + 1);
	assert_int_equal(d->dir->live, live + 1);
	/* Pooled blocks are reused: a name given back is the next one handed out. */
	{
		char *x = lfs_arena_name(a, "abcdefghij", 10), *y;

		lfs_arena_name_free(a, x);
		y = lfs_arena_name(a, "0123456789", 10);
		assert_ptr_equal(x, y);
	}
	lfs_arena_free(a);
}

/* ---- the copy-on-write tree's nodes ---- */

struct cowfix {
	char base[64];
	char up[96], wk[96], tar[96];
	struct lfs_cow *w;
	uint64_t root;
	int notified;
};

static void notified(void *ctx, uint64_t ino)
{
	(void)ino;
	((struct cowfix *)ctx)->notified++;
}

static void tar_entry(struct archive *a, const char *path, mode_t mode, const char *data,
		      const char *hardlink)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = data ? strlen(data) : 0;

	archive_entry_set_pathname(e, path);
	archive_entry_set_mode(e, mode);
	archive_entry_set_mtime(e, 1600000000, 0);
	if (hardlink)
		archive_entry_set_hardlink(e, hardlink);
	else
		archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static int cow_setup(void **state)
{
	struct cowfix *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct lfs_core_opts co = {.no_cache = 1, .jobs = 1};
	struct lfs_cow_opts wo = {0};
	struct lfs_core *core;
	struct archive *a;
	char *src[1];

	snprintf(f->base, sizeof(f->base), "%s/lfs-cow.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->up, sizeof(f->up), "%s/up", f->base);
	snprintf(f->wk, sizeof(f->wk), "%s/wk", f->base);
	snprintf(f->tar, sizeof(f->tar), "%s/layer.tar", f->base);
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, f->tar), ARCHIVE_OK);
	tar_entry(a, "d", AE_IFDIR | 0755, NULL, NULL);
	tar_entry(a, "d/lf", AE_IFREG | 0644, "lower data\n", NULL);
	tar_entry(a, "h1", AE_IFREG | 0644, "linked\n", NULL);
	tar_entry(a, "h2", AE_IFREG | 0644, NULL, "h1");
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	src[0] = f->tar;
	assert_int_equal(lfs_core_open(&core, src, 1, &co), 0);
	wo.upper = f->up;
	wo.work = f->wk;
	assert_int_equal(lfs_cow_open(&f->w, core, &wo), 0);
	lfs_cow_set_notify(f->w, notified, f);
	f->root = 1;
	*state = f;
	return 0;
}

static int cow_teardown(void **state)
{
	struct cowfix *f = *state;

	lfs_cow_close(f->w);
	lfs_upper_rmtree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

static struct lfs_node *lookup(struct cowfix *f, uint64_t parent, const char *name)
{
	struct lfs_node *n = NULL;
	struct stat st;

	assert_int_equal(lfs_cow_lookup(f->w, parent, name, &n, &st), 0);
	assert_int_equal(st.st_ino, n->ino);
	return n;
}

static struct lfs_node *create(struct cowfix *f, uint64_t parent, const char *name, int *fd)
{
	struct lfs_cow_new nw = {.mode = S_IFREG | 0644, .flags = O_RDWR};
	struct lfs_node *n = NULL;
	struct stat st;

	assert_int_equal(lfs_cow_create(f->w, parent, name, &nw, &n, &st, fd), 0);
	assert_true(*fd >= 0);
	return n;
}

static uint64_t nodes_in_use(struct cowfix *f, uint64_t *orphans)
{
	struct lfs_cow_stats s;

	lfs_cow_stats(f->w, &s);
	if (orphans)
		*orphans = s.orphans;
	return s.nodes;
}

/* An unlinked open file answers through its own upper copy; forgotten, it is freed. */
static void test_cow_unlinked_open(void **state)
{
	struct cowfix *f = *state;
	struct lfs_node *d = lookup(f, f->root, "d"), *n;
	struct stat st, attr = {.st_mode = 0600};
	uint64_t ino, orphans;
	char buf[32];
	int fd;

	n = create(f, d->ino, "new", &fd);
	ino = n->ino;
	assert_int_equal(pwrite(fd, "new data", 8, 0), 8);
	assert_int_equal(nodes_in_use(f, NULL), 1);
	assert_int_equal(lfs_cow_unlink(f->w, d->ino, "new", 0), 0);
	assert_int_equal(lfs_cow_lookup(f->w, d->ino, "new", &n, &st), -ENOENT);
	n = lfs_cow_node(f->w, ino);
	assert_non_null(n);
	assert_int_equal(lfs_cow_getattr(f->w, n, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 8);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(lfs_cow_setattr(f->w, n, -1, &attr, LFS_SET_MODE, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lfs_cow_read(f->w, n, buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "new data", 8);
	/* The handle goes, the kernel still knows the inode: an orphan. */
	lfs_cow_release(f->w, n, fd);
	assert_int_equal(nodes_in_use(f, &orphans), 1);
	assert_int_equal(orphans, 1);
	assert_int_equal(lfs_cow_getattr(f->w, n, &st), 0);
	/* Forgotten: freed, and its inode number goes to the next node made. */
	lfs_cow_forget(f->w, ino, 1);
	assert_null(lfs_cow_node(f->w, ino));
	assert_int_equal(nodes_in_use(f, &orphans), 0);
	assert_int_equal(orphans, 0);
	n = create(f, d->ino, "again", &fd);
	assert_int_equal(n->ino, ino);
	lfs_cow_release(f->w, n, fd);
	/* Forgotten while it still has its name: it stays. */
	lfs_cow_forget(f->w, ino, 1);
	assert_ptr_equal(lookup(f, d->ino, "again"), n);
	assert_int_equal(nodes_in_use(f, NULL), 1);
}

/* The old file of a write-to-temporary-then-rename stays the old file. */
static void test_cow_renamed_over(void **state)
{
	struct cowfix *f = *state;
	struct lfs_node *old, *tmp;
	struct stat st, attr = {.st_mode = 0640};
	int ofd, tfd;

	old = create(f, f->root, "cfg", &ofd);
	assert_int_equal(pwrite(ofd, "old contents", 12, 0), 12);
	tmp = create(f, f->root, "cfg.tmp", &tfd);
	assert_int_equal(pwrite(tfd, "new", 3, 0), 3);
	assert_int_equal(lfs_cow_rename(f->w, f->root, "cfg.tmp", f->root, "cfg", 0), 0);
	assert_int_equal(lfs_cow_getattr(f->w, old, &st), 0);
	assert_int_equal(st.st_size, 12);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(lfs_cow_setattr(f->w, old, -1, &attr, LFS_SET_MODE, &st), 0);
	assert_ptr_equal(lookup(f, f->root, "cfg"), tmp);
	assert_int_equal(lfs_cow_getattr(f->w, tmp, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(st.st_mode & 07777, 0644);
	lfs_cow_release(f->w, old, ofd);
	lfs_cow_release(f->w, tmp, tfd);
}

/* A lower file unlinked while open is still the lower file; a hard-link copy-up notifies. */
static void test_cow_lower(void **state)
{
	struct cowfix *f = *state;
	struct lfs_node *d = lookup(f, f->root, "d"), *lf = lookup(f, d->ino, "lf"), *h;
	struct stat st, attr = {.st_mode = 0600};
	char buf[32];
	int fd;

	assert_int_equal(lfs_cow_open_file(f->w, lf, O_RDONLY, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(lfs_cow_unlink(f->w, d->ino, "lf", 0), 0);
	assert_int_equal(lfs_cow_getattr(f->w, lf, &st), 0);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(lfs_cow_read(f->w, lf, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "lower data\n", 11);
	/* The kernel's overlayfs cannot copy it up either: its name is a whiteout. */
	assert_int_equal(lfs_cow_setattr(f->w, lf, -1, &attr, LFS_SET_MODE, &st), -EEXIST);
	lfs_cow_release(f->w, lf, -1);
	lfs_cow_forget(f->w, lf->ino, 2);
	/* A copy-up by an open: the kernel is told its cached attributes are stale. */
	h = lookup(f, f->root, "h1");
	f->notified = 0;
	assert_int_equal(lfs_cow_open_file(f->w, h, O_WRONLY, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(f->notified, 1);
	assert_int_equal(lfs_cow_getattr(f->w, h, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	lfs_cow_release(f->w, h, fd);
}

static int count_entry(void *ctx, const char *name, const struct stat *st, uint64_t next)
{
	(void)name;
	(void)st;
	(void)next;
	++*(int *)ctx;
	return 0;
}

/* READDIRPLUS counts a lookup per entry (not "." and ".."): forgetting them frees. */
static void test_cow_readdirplus_refs(void **state)
{
	struct cowfix *f = *state;
	struct lfs_node *n;
	uint64_t ino;
	int fd, seen = 0;

	struct lfs_cow_new nw = {.mode = S_IFDIR | 0755};
	struct lfs_node *dir;
	struct stat st;

	assert_int_equal(lfs_cow_create(f->w, f->root, "dir", &nw, &dir, &st, &fd), 0);
	n = create(f, dir->ino, "x", &fd);
	ino = n->ino;
	lfs_cow_release(f->w, n, fd);
	assert_int_equal(lfs_cow_readdir(f->w, dir, 0, 1, count_entry, &seen), 0);
	assert_int_equal(seen, 3);
	assert_int_equal(lfs_cow_unlink(f->w, dir->ino, "x", 0), 0);
	/* The create's lookup goes: still the readdir's. */
	lfs_cow_forget(f->w, ino, 1);
	assert_non_null(lfs_cow_node(f->w, ino));
	lfs_cow_forget(f->w, ino, 1);
	assert_null(lfs_cow_node(f->w, ino));
	/* An empty directory removed and forgotten goes too. */
	ino = dir->ino;
	assert_int_equal(lfs_cow_unlink(f->w, f->root, "dir", 1), 0);
	lfs_cow_forget(f->w, ino, 1);
	assert_null(lfs_cow_node(f->w, ino));
	assert_int_equal(nodes_in_use(f, NULL), 0);
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
	    cmocka_unit_test(test_table_holes),
	    cmocka_unit_test_setup_teardown(test_cow_unlinked_open, cow_setup, cow_teardown),
	    cmocka_unit_test_setup_teardown(test_cow_renamed_over, cow_setup, cow_teardown),
	    cmocka_unit_test_setup_teardown(test_cow_lower, cow_setup, cow_teardown),
	    cmocka_unit_test_setup_teardown(test_cow_readdirplus_refs, cow_setup, cow_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
