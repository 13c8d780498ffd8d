/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nodes: the inodes of one layer and of the merged tree, and the directory
 * tables that name them.  A layer index builds a tree of nodes; the merge
 * (tree.c) moves non-directories into the merged tree as they are, so hard
 * links within a layer keep sharing one node (one st_ino, the layer's
 * st_nlink).
 */
#ifndef LFS_NODE_H
#define LFS_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Flags of a node. */
enum {
	LFS_NF_IMPLIED = 1 << 0,  /* directory the layer implies but does not list */
	LFS_NF_OPAQUE = 1 << 1,	  /* directory hides the layers below it */
	LFS_NF_WHITEOUT = 1 << 2, /* hides the path in the layers below */
	LFS_NF_MERGED = 1 << 3,	  /* merged directory with lower parts (st_nlink 1) */
	LFS_NF_UPPER = 1 << 4,	  /* lives in the upper directory (cow.c) */
	LFS_NF_OWNED = 1 << 5,	  /* made by the copy-on-write tree: recycled once unused */
};

struct lfs_xattr {
	const char *name;
	const void *value;
	size_t len;
};

struct lfs_xattrs {
	uint32_t n;
	struct lfs_xattr x[];
};

/* GNU sparse files: extents of data; the rest reads as zeros. */
struct lfs_sparse {
	uint32_t n;
	struct {
		uint64_t off;	 /* logical offset in the file */
		uint64_t len;	 /* length of the extent */
		uint64_t stored; /* offset of its bytes from the entry's data start */
	} ext[];
};

/* xxh3-128 of a file's content (only when the indexer is asked for it). */
struct lfs_hash128 {
	uint64_t lo, hi;
};

/*
 * An entry of a directory table.  A deleted entry (lfs_dir_remove) keeps its
 * name and place; a dropped one (lfs_dir_drop) is a hole: NAME NULL, LEN
 * LFS_DIRENT_HOLE, HASH the next hole + 1, reused by the next new name.
 */
struct lfs_dirent {
	const char *name;
	uint32_t len;
	uint32_t hash;
	struct lfs_node *node; /* NULL: deleted, or a hole */
};

#define LFS_DIRENT_HOLE UINT32_MAX

struct lfs_dir {
	struct lfs_dirent *ents;
	uint32_t n, cap;   /* entries used / allocated (incl. deleted) */
	uint32_t live;	   /* entries not deleted */
	uint32_t holes;	   /* first hole + 1 (see lfs_dirent), 0: none */
	uint32_t *slots;   /* open addressing, index+1 into ents; 0 = free */
	uint32_t nslots;   /* power of two, or 0 while small */
	uint32_t nsubdirs; /* live subdirectories (for st_nlink) */
	/*
	 * Writable mounts: the table of the lower layers' merged view at this
	 * path, kept when the directory is copied up (NULL: no lower part).
	 */
	struct lfs_dir *lower;
};

struct lfs_node {
	uint64_t ino;	   /* st_ino in the mount (0 until the tree is frozen) */
	uint64_t size;	   /* regular: file size; symlink: target length */
	uint64_t data_off; /* regular: offset of the data in the layer's stream */
	uint64_t rdev;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t mode; /* st_mode, type included */
	uint32_t uid, gid;
	uint32_t nlink; /* non-directories: names in the layer that stores it */
	uint32_t layer; /* index of the layer that stores it */
	uint32_t flags;
	/*
	 * Writable mounts: the lookups the kernel holds (FUSE nlookup) plus
	 * open handles; atomic (cow.c).
	 */
	uint32_t refs;
	const char *link; /* symlink target */
	const struct lfs_xattrs *xattrs;
	const struct lfs_sparse *sparse;
	const struct lfs_hash128 *hash; /* regular files, when hashing was asked */
	struct lfs_dir *dir;		/* directories only */
	/*
	 * In the merged tree: the directory holding the node and its name there
	 * (for a hard link, one of its names).  Layer trees set it for
	 * directories only.
	 */
	struct lfs_node *parent;
	const char *name;
};

/*
 * Arena: bump allocation of nodes, names and small objects that live as long
 * as the layer (i.e. the mount); freed all at once.
 */
struct lfs_arena;
struct lfs_arena *lfs_arena_new(void);
void *lfs_arena_alloc(struct lfs_arena *a, size_t n);
char *lfs_arena_strndup(struct lfs_arena *a, const char *s, size_t n);
void *lfs_arena_memdup(struct lfs_arena *a, const void *p, size_t n);
size_t lfs_arena_bytes(const struct lfs_arena *a);
void lfs_arena_free(struct lfs_arena *a);
/*
 * Blocks that can be given back: N (at most LFS_ARENA_POOL_MAX bytes) is
 * rounded up to 8, and a block given back is reused by a later lfs_arena_get
 * of the same rounded size.  All are freed with the arena.
 */
#define LFS_ARENA_POOL_MAX 256
void *lfs_arena_get(struct lfs_arena *a, size_t n);
void lfs_arena_put(struct lfs_arena *a, void *p, size_t n);
/* A NUL-terminated copy of S[0..N) from the pool (from the arena when too long). */
char *lfs_arena_name(struct lfs_arena *a, const char *s, size_t n);
/* Give back a name lfs_arena_name made. */
void lfs_arena_name_free(struct lfs_arena *a, const char *name);

struct lfs_node *lfs_node_new(struct lfs_arena *a, uint32_t mode);
struct lfs_node *lfs_dir_new(struct lfs_arena *a, struct lfs_node *parent);
static inline int lfs_node_is_dir(const struct lfs_node *n)
{
	return (n->mode & 0170000) == 0040000;
}

/* A copy of SRC's table (same nodes and names) owned by A. */
struct lfs_dir *lfs_dir_clone(struct lfs_arena *a, const struct lfs_dir *src);
/* A new empty table owned by A: one lfs_dir_release gave back, else a new one. */
struct lfs_dir *lfs_dir_table_new(struct lfs_arena *a);
/*
 * Give table D of arena A back (its entries' arrays are freed; the names are
 * the caller's): a later lfs_dir_table_new of A reuses it.
 */
void lfs_dir_release(struct lfs_arena *a, struct lfs_dir *d);

uint32_t lfs_name_hash(const char *name, size_t len);
/* The entry NAME of directory D, or NULL. */
struct lfs_dirent *lfs_dir_find(const struct lfs_node *d, const char *name, size_t len);
struct lfs_node *lfs_dir_lookup(const struct lfs_node *d, const char *name, size_t len);
/*
 * Set NAME in D to NODE (replacing what was there).  NAME must stay valid as
 * long as the directory (arena-allocated).  Returns the node replaced, or NULL.
 */
struct lfs_node *lfs_dir_set(struct lfs_node *d, const char *name, size_t len,
			     struct lfs_node *node);
/* The node at relative PATH ("a/b/c", no "." or "..") below ROOT, or NULL. */
struct lfs_node *lfs_node_walk(struct lfs_node *root, const char *path);
/* Remove NAME from D; returns the node removed, or NULL. */
struct lfs_node *lfs_dir_remove(struct lfs_node *d, const char *name, size_t len);
/*
 * Take the entry E of D (deleted or not) out of the table: it becomes a hole
 * that the next new name of D fills, so a table where names come and go
 * stays as big as the most names it held at once.  The other entries keep
 * their places (readdir positions).  Returns E's name, for the caller to
 * give back if it owns it.
 */
const char *lfs_dir_drop(struct lfs_node *d, struct lfs_dirent *e);
/* Remove every entry of D. */
void lfs_dir_clear(struct lfs_node *d);
/* Room for N entries in D without growing (a decoder that knows the count). */
void lfs_dir_reserve(struct lfs_node *d, uint32_t n);
/*
 * Drop deleted entries so that positions 0..live-1 are the live entries,
 * and give back a table's unused room.
 */
void lfs_dir_compact(struct lfs_node *d);

#endif
