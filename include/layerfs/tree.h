/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged tree: layers applied bottom to top with overlayfs' rules
 * (whiteouts, opaque directories, non-directories replacing whole subtrees,
 * directories merging), then frozen with stable inode numbers.
 */
#ifndef LFS_TREE_H
#define LFS_TREE_H

#include <stdint.h>

#include "layerfs/node.h"

struct lfs_tree {
	struct lfs_arena *arena; /* the merged directories */
	struct lfs_node *root;
	struct lfs_node **inodes; /* st_ino -> node; [1] is the root */
	uint64_t ninodes;	  /* highest st_ino + 1 */
	uint64_t nentries;	  /* names in the tree */
	uint32_t nlayers;	  /* layers applied so far */
};

/*
 * What the merge does with each entry of a layer, told to an observer
 * (reports); the mount passes none.  OLD is what the view had at PATH before
 * the layer, its subtree intact; the merge never changes it afterwards.
 */
enum lfs_merge_kind {
	LFS_MERGE_ADDED,    /* NODE lands where the view had nothing */
	LFS_MERGE_REPLACED, /* NODE takes OLD's place (not both directories) */
	LFS_MERGE_DIR,	    /* directory NODE merges into the view's directory OLD */
	LFS_MERGE_WHITEOUT, /* whiteout NODE hides OLD, or nothing (OLD NULL) */
	LFS_MERGE_OPAQUE,   /* an opaque directory hides OLD, a name it does not list */
};

struct lfs_merge_event {
	enum lfs_merge_kind kind;
	uint32_t layer;	  /* the layer being applied */
	const char *path; /* "/a/b"; "" for the root (kind DIR, OLD NULL in the first layer) */
	size_t plen;
	const struct lfs_node *node; /* the layer's entry; NULL for OPAQUE */
	const struct lfs_node *old;
};

struct lfs_merge_observer {
	void (*event)(void *arg, const struct lfs_merge_event *ev);
	void *arg;
};

struct lfs_tree *lfs_tree_new(void);
/* Apply one layer's tree (its nodes must outlive the merged tree). */
void lfs_tree_apply(struct lfs_tree *t, const struct lfs_node *layer_root);
/*
 * The same, telling OBS (may be NULL) every entry's fate: ADDED, REPLACED,
 * DIR or WHITEOUT once per entry of the layer (its root as DIR), OPAQUE
 * once per name of the view an opaque directory hides, in that order.
 */
void lfs_tree_apply_observed(struct lfs_tree *t, const struct lfs_node *layer_root,
			     const struct lfs_merge_observer *obs);
/*
 * The same, but a directory of the layer that lands where the merged tree
 * has none is taken over whole (its node and table become the merged
 * ones) instead of copied: no copy of the directories most paths only one
 * layer has.  The layer's tree is the merged tree's afterwards: a caller
 * that needs the layer trees themselves (reports) uses lfs_tree_apply.
 */
void lfs_tree_apply_take(struct lfs_tree *t, struct lfs_node *layer_root);
/* Drop deleted entries, number the inodes. */
void lfs_tree_freeze(struct lfs_tree *t);
static inline struct lfs_node *lfs_tree_node(const struct lfs_tree *t, uint64_t ino)
{
	return ino > 0 && ino < t->ninodes ? t->inodes[ino] : NULL;
}
void lfs_tree_free(struct lfs_tree *t);

#endif
