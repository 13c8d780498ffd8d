/* placeholder */
typedef int lfs_placeholder_report_main;
int main(void) { return 0; }
