/* placeholder */
typedef int lfs_placeholder_image_json;
