/* placeholder */
typedef int lfs_placeholder_report_json;
