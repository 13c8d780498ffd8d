/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the merge: overlayfs rules applied to hand-built layer trees. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "layerfs/tree.h"

struct stack {
	struct lfs_arena *arena;
	struct lfs_node *roots[8];
	int n;
	struct lfs_tree *copied; /* the merge by copying, checked against the taking one */
};

static struct stack *stack_new(void)
{
	struct stack *s = test_calloc(1, sizeof(*s));

	s->arena = lfs_arena_new();
	return s;
}

static struct lfs_node *layer(struct stack *s)
{
	struct lfs_node *r = lfs_dir_new(s->arena, NULL);

	r->flags = LFS_NF_IMPLIED;
	r->layer = (uint32_t)s->n;
	s->roots[s->n++] = r;
	return r;
}

/* The directory holding PATH's last component in layer ROOT; implied dirs as needed. */
static struct lfs_node *parent_of(struct stack *s, struct lfs_node *root, const char *path,
				  const char **base)
{
	struct lfs_node *cur = root;
	const char *p = path, *slash;

	while ((slash = strchr(p, '/'))) {
		size_t len = (size_t)(slash - p);
		struct lfs_node *c = lfs_dir_lookup(cur, p, len);

		if (!c || !c->dir) {
			c = lfs_dir_new(s->arena, cur);
			c->flags = LFS_NF_IMPLIED;
			c->layer = root->layer;
			lfs_dir_set(cur, lfs_arena_strndup(s->arena, p, len), len, c);
		}
		cur = c;
		p = slash + 1;
	}
	*base = p;
	return cur;
}

static struct lfs_node *put(struct stack *s, struct lfs_node *root, const char *path, uint32_t mode)
{
	const char *base;
	struct lfs_node *d = parent_of(s, root, path, &base);
	struct lfs_node *n = S_ISDIR(mode) ? lfs_dir_new(s->arena, d) : lfs_node_new(s->arena, 0);

	n->mode = mode;
	n->layer = root->layer;
	n->mtime_sec = 1000 + root->layer;
	lfs_dir_set(d, lfs_arena_strndup(s->arena, base, strlen(base)), strlen(base), n);
	return n;
}

static void whiteout(struct stack *s, struct lfs_node *root, const char *path)
{
	struct lfs_node *n = put(s, root, path, S_IFCHR);

	n->flags = LFS_NF_WHITEOUT;
}

static void opaque(struct stack *s, struct lfs_node *root, const char *dirpath)
{
	const char *base;
	char buf[256];
	struct lfs_node *d;

	snprintf(buf, sizeof(buf), "%s/x", dirpath);
	d = parent_of(s, root, buf, &base);
	d->flags |= LFS_NF_OPAQUE;
}

/* Directories A (copied merge) and B (taken merge) hold the same names, nodes and metadata. */
static void same_dir(const struct lfs_node *a, const struct lfs_node *b)
{
	assert_non_null(b->dir);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->mtime_sec, b->mtime_sec);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->ino, b->ino);
	assert_ptr_equal(a->xattrs, b->xattrs);
	assert_int_equal(a->dir->n, b->dir->n);
	assert_int_equal(a->dir->live, b->dir->live);
	assert_int_equal(a->dir->nsubdirs, b->dir->nsubdirs);
	for (uint32_t i = 0; i < a->dir->n; i++) {
		const struct lfs_dirent *ea = &a->dir->ents[i], *eb = &b->dir->ents[i];

		assert_int_equal(ea->len, eb->len);
		assert_memory_equal(ea->name, eb->name, ea->len);
		if (ea->node->dir) {
			assert_ptr_equal(eb->node->parent, b);
			same_dir(ea->node, eb->node);
		} else {
			assert_ptr_equal(ea->node, eb->node);
		}
	}
}

/*
 * Merge by copying, then again by taking the layers' directories (as a
 * mount does), which consumes the layer trees: both must give the same
 * tree, down to the inode numbers.  The taken one is returned.
 */
static struct lfs_tree *merge(struct stack *s)
{
	struct lfs_tree *t = lfs_tree_new(), *c = lfs_tree_new();

	for (int i = 0; i < s->n; i++)
		lfs_tree_apply(c, s->roots[i]);
	lfs_tree_freeze(c);
	/* the files are shared: let the second freeze number them afresh */
	for (uint64_t i = 1; i < c->ninodes; i++)
		c->inodes[i]->ino = 0;
	for (int i = 0; i < s->n; i++)
		lfs_tree_apply_take(t, s->roots[i]);
	lfs_tree_freeze(t);
	for (uint64_t i = 1; i < c->ninodes; i++)
		c->inodes[i]->ino = i;
	assert_int_equal(c->ninodes, t->ninodes);
	assert_int_equal(c->nentries, t->nentries);
	same_dir(c->root, t->root);
	s->copied = c;
	return t;
}

static struct lfs_node *get(struct lfs_tree *t, const char *path)
{
	return lfs_node_walk(t->root, path);
}

static void done(struct stack *s, struct lfs_tree *t)
{
	lfs_tree_free(t);
	lfs_tree_free(s->copied);
	lfs_arena_free(s->arena);
	test_free(s);
}

/* Whiteouts in a directory no lower layer has hide nothing, and never show. */
static void test_whiteout_in_new_dir(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "a/file", S_IFREG | 0644);
	l1 = layer(s);
	whiteout(s, l1, "b/x");
	whiteout(s, l1, "b/c/y");
	put(s, l1, "b/c/z", S_IFREG | 0644);
	opaque(s, l1, "b/c");
	t = merge(s);
	assert_non_null(get(t, "a/file"));
	assert_null(get(t, "b/x"));
	assert_null(get(t, "b/c/y"));
	assert_non_null(get(t, "b/c/z"));
	assert_int_equal(get(t, "b")->dir->n, 1);
	assert_int_equal(get(t, "b/c")->dir->n, 1);
	assert_int_equal(get(t, "b/c")->flags, 0);
	assert_int_equal(get(t, "b")->nlink, 3);
	done(s, t);
}

static void test_whiteout_hides_file_and_subtree(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "etc/passwd", S_IFREG | 0644);
	put(s, l0, "etc/shadow", S_IFREG | 0600);
	put(s, l0, "usr/share/doc/a", S_IFREG | 0644);
	l1 = layer(s);
	whiteout(s, l1, "etc/shadow");
	whiteout(s, l1, "usr/share");
	whiteout(s, l1, "nonexistent");
	t = merge(s);
	assert_non_null(get(t, "etc/passwd"));
	assert_null(get(t, "etc/shadow"));
	assert_null(get(t, "usr/share"));
	assert_null(get(t, "usr/share/doc/a"));
	assert_non_null(get(t, "usr"));
	assert_null(get(t, "nonexistent"));
	assert_int_equal(get(t, "usr")->dir->n, 0);
	done(s, t);
}

static void test_opaque_keeps_own_children(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "d/old1", S_IFREG | 0644);
	put(s, l0, "d/sub/old2", S_IFREG | 0644);
	put(s, l0, "other", S_IFREG | 0644);
	l1 = layer(s);
	put(s, l1, "d/new", S_IFREG | 0644);
	opaque(s, l1, "d");
	t = merge(s);
	assert_null(get(t, "d/old1"));
	assert_null(get(t, "d/sub"));
	assert_non_null(get(t, "d/new"));
	assert_non_null(get(t, "other"));
	assert_int_equal(get(t, "d")->dir->n, 1);
	/* An opaque directory is not merged: its own st_nlink. */
	assert_int_equal(get(t, "d")->nlink, 2);
	done(s, t);
}

static void test_nondir_replaces_dir(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1, *l2, *f;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "x/y/z", S_IFREG | 0644);
	l1 = layer(s);
	f = put(s, l1, "x", S_IFLNK | 0777);
	t = merge(s);
	assert_ptr_equal(get(t, "x"), f);
	done(s, t);

	/* ...and a directory over a non-directory hides it, starting empty. */
	s = stack_new();
	l0 = layer(s);
	put(s, l0, "x/y/z", S_IFREG | 0644);
	l1 = layer(s);
	put(s, l1, "x", S_IFLNK | 0777);
	l2 = layer(s);
	put(s, l2, "x/new", S_IFREG | 0600);
	t = merge(s);
	assert_true(S_ISDIR(get(t, "x")->mode));
	assert_null(get(t, "x/y"));
	assert_non_null(get(t, "x/new"));
	/* Implied over a non-directory: 0755 root:root, epoch. */
	assert_int_equal(get(t, "x")->mode, 040755);
	assert_int_equal(get(t, "x")->mtime_sec, 0);
	done(s, t);
}

static void test_dir_metadata_topmost_explicit(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1, *l2, *d0, *d1;
	struct lfs_tree *t;

	(void)state;
	d0 = put(s, l0, "app", S_IFDIR | 0700);
	d0->uid = 10;
	put(s, l0, "app/a", S_IFREG | 0644);
	l1 = layer(s);
	d1 = put(s, l1, "app", S_IFDIR | 0750);
	d1->uid = 20;
	put(s, l1, "app/b", S_IFREG | 0644);
	l2 = layer(s);
	/* Implied by app/c only: metadata stays that of layer 1. */
	put(s, l2, "app/c", S_IFREG | 0644);
	t = merge(s);
	assert_int_equal(get(t, "app")->mode, S_IFDIR | 0750);
	assert_int_equal(get(t, "app")->uid, 20);
	assert_int_equal(get(t, "app")->mtime_sec, 1001);
	assert_non_null(get(t, "app/a"));
	assert_non_null(get(t, "app/b"));
	assert_non_null(get(t, "app/c"));
	/* Merged directories report st_nlink 1, like the kernel. */
	assert_int_equal(get(t, "app")->nlink, 1);
	done(s, t);
}

static void test_implied_root_default(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s);
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "a/b/c", S_IFREG | 0644);
	t = merge(s);
	assert_int_equal(t->root->mode, 040755);
	assert_int_equal(t->root->uid, 0);
	assert_int_equal(get(t, "a")->mode, 040755);
	assert_int_equal(get(t, "a/b")->mtime_sec, 0);
	assert_int_equal(t->root->ino, 1);
	/* Not merged: 2 + its one subdirectory. */
	assert_int_equal(t->root->nlink, 3);
	done(s, t);
}

static void test_hardlinks_share_inode(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1, *f;
	const char *base;
	struct lfs_tree *t;

	(void)state;
	f = put(s, l0, "bin/a", S_IFREG | 0755);
	lfs_dir_set(parent_of(s, l0, "bin/b", &base), "b", 1, f);
	lfs_dir_set(parent_of(s, l0, "sbin/c", &base), "c", 1, f);
	f->nlink = 3;
	l1 = layer(s);
	whiteout(s, l1, "sbin/c");
	t = merge(s);
	assert_int_equal(get(t, "bin/a")->ino, get(t, "bin/b")->ino);
	assert_null(get(t, "sbin/c"));
	/* The layer still holds three names: the kernel reports 3. */
	assert_int_equal(get(t, "bin/a")->nlink, 3);
	done(s, t);
}

static void test_inodes_unique(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1;
	struct lfs_tree *t;
	char name[32];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 7, i);
		put(s, l0, name, S_IFREG | 0644);
	}
	l1 = layer(s);
	for (int i = 0; i < 100; i += 3) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 7, i);
		put(s, l1, name, S_IFREG | 0600);
	}
	t = merge(s);
	/* root + 7 dirs + 100 files */
	assert_int_equal(t->ninodes, 1 + 1 + 7 + 100);
	for (uint64_t i = 1; i < t->ninodes; i++)
		assert_int_equal(lfs_tree_node(t, i)->ino, i);
	assert_int_equal(get(t, "d3/f3")->mode, S_IFREG | 0600);
	assert_int_equal(get(t, "d4/f4")->mode, S_IFREG | 0644);
	assert_null(lfs_tree_node(t, t->ninodes));
	assert_null(lfs_tree_node(t, 0));
	done(s, t);
}

static void test_readd_after_whiteout(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1, *l2;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "d/a", S_IFREG | 0644);
	l1 = layer(s);
	whiteout(s, l1, "d");
	l2 = layer(s);
	put(s, l2, "d/b", S_IFREG | 0644);
	t = merge(s);
	assert_null(get(t, "d/a"));
	assert_non_null(get(t, "d/b"));
	/* Re-created over a whiteout, implied: defaults, not layer 0's metadata. */
	assert_int_equal(get(t, "d")->mode, 040755);
	done(s, t);
}

/*
 * An implied directory takes the metadata of the view below even when an
 * opaque marker of the same layer hides that directory's contents.
 */
static void test_implied_under_opaque_keeps_lower_meta(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1, *d;
	struct lfs_tree *t;

	(void)state;
	d = put(s, l0, "a/b", S_IFDIR | 0711);
	d->uid = 5;
	put(s, l0, "a/b/old", S_IFREG | 0644);
	l1 = layer(s);
	opaque(s, l1, "a");
	opaque(s, l1, "a/b");
	put(s, l1, "a/b/new", S_IFREG | 0644);
	t = merge(s);
	assert_int_equal(get(t, "a/b")->mode, S_IFDIR | 0711);
	assert_int_equal(get(t, "a/b")->uid, 5);
	assert_null(get(t, "a/b/old"));
	assert_non_null(get(t, "a/b/new"));
	done(s, t);
}

/* overlayfs builds the root from every layer: an opaque marker there hides nothing. */
static void test_opaque_root_ignored(void **state)
{
	struct stack *s = stack_new();
	struct lfs_node *l0 = layer(s), *l1;
	struct lfs_tree *t;

	(void)state;
	put(s, l0, "a", S_IFREG | 0644);
	l1 = layer(s);
	put(s, l1, "b", S_IFREG | 0644);
	l1->flags |= LFS_NF_OPAQUE;
	t = merge(s);
	assert_non_null(get(t, "a"));
	assert_non_null(get(t, "b"));
	done(s, t);
}

static void test_dir_table_grows(void **state)
{
	struct lfs_arena *a = lfs_arena_new();
	struct lfs_node *d = lfs_dir_new(a, NULL);
	char name[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		lfs_dir_set(d, lfs_arena_strndup(a, name, strlen(name)), strlen(name),
			    lfs_node_new(a, S_IFREG));
	}
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_non_null(lfs_dir_remove(d, name, strlen(name)));
	}
	assert_int_equal(d->dir->live, 500);
	lfs_dir_compact(d);
	assert_int_equal(d->dir->n, 500);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (i % 2)
			assert_non_null(lfs_dir_lookup(d, name, strlen(name)));
		else
			assert_null(lfs_dir_lookup(d, name, strlen(name)));
	}
	lfs_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whiteout_hides_file_and_subtree),
	    cmocka_unit_test(test_whiteout_in_new_dir),
	    cmocka_unit_test(test_opaque_keeps_own_children),
	    cmocka_unit_test(test_nondir_replaces_dir),
	    cmocka_unit_test(test_dir_metadata_topmost_explicit),
	    cmocka_unit_test(test_implied_root_default),
	    cmocka_unit_test(test_hardlinks_share_inode),
	    cmocka_unit_test(test_inodes_unique),
	    cmocka_unit_test(test_readd_after_whiteout),
	    cmocka_unit_test(test_opaque_root_ignored),
	    cmocka_unit_test(test_implied_under_opaque_keeps_lower_meta),
	    cmocka_unit_test(test_dir_table_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
