/* placeholder */
typedef int lfs_placeholder_blob_zstd;
