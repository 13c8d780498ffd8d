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

struct lfs_dirent {
	const char *name;
	uint32_t len;
	uint32_t hash;
	struct lfs_node *node; /* NULL: deleted */
};

struct lfs_dir {
	struct lfs_dirent *ents;
	uint32_t n, cap;   /* entries used / allocated (incl. deleted) */
	uint32_t live;	   /* entries not deleted */
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

struct lfs_node *lfs_node_new(struct lfs_arena *a, uint32_t mode);
struct lfs_node *lfs_dir_new(struct lfs_arena *a, struct lfs_node *parent);
static inline int lfs_node_is_dir(const struct lfs_node *n)
{
	return (n->mode & 0170000) == 0040000;
}

/* A copy of SRC's table (same nodes and names) owned by A. */
struct lfs_dir *lfs_dir_clone(struct lfs_arena *a, const struct lfs_dir *src);

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
