/*
 * The merged tree: layers applied bottom to top with overlayfs' rules
 * (whiteouts, opaque directories, non-directories replacing whole subtrees,
 * directories merging), then frozen with stable inode numbers.
 */
#ifndef LFS_TREE_H
#define LFS_TREE_H

#include <stdint.h>

#include "node.h"

struct lfs_tree {
	struct lfs_arena *arena; /* the merged directories */
	struct lfs_node *root;
	struct lfs_node **inodes; /* st_ino -> node; [1] is the root */
	uint64_t ninodes;	  /* highest st_ino + 1 */
	uint64_t nentries;	  /* names in the tree */
	uint32_t nlayers;	  /* layers applied so far */
};

struct lfs_tree *lfs_tree_new(void);
/* Apply one layer's tree (its nodes must outlive the merged tree). */
void lfs_tree_apply(struct lfs_tree *t, const struct lfs_node *layer_root);
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
