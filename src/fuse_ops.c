/* placeholder */
typedef int lfs_placeholder_fuse_ops;
