/* placeholder */
typedef int lfs_placeholder_tarmembers;
