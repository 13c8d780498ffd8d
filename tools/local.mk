# SPDX-License-Identifier: Apache-2.0
# Companion tools linking the core library.
bin_PROGRAMS += tools/layerfs-report
tools_layerfs_report_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
# analysis, helpers and writers (report.h says who may call whom; scripts/check-layering checks it)
tools_layerfs_report_SOURCES = tools/report.h tools/report_main.c tools/report_analyze.c \
	tools/report_events.c tools/report_dive.c tools/report_merge.c tools/report_history.c tools/report_suggest.c \
	tools/report_select.c tools/report_format.c tools/report_glob.c \
	tools/report_text.c tools/report_json.c tools/report_html.c
tools_layerfs_report_LDADD = $(LFS_CORE_LIBS)
tools_layerfs_report_SOURCES += tools/report_path.c tools/report_path_out.c tools/report_tree.c tools/report_tree_out.c tools/report_query.c
tools_layerfs_report_SOURCES += tools/report_diff.c tools/report_diff_out.c
tools_layerfs_report_SOURCES += tools/report_pkg.c tools/report_pkg_db.c tools/report_pkg_out.c

bin_PROGRAMS += tools/layerfs-chroot
# Where the build tree keeps the daemon, for layerfs-chroot run from tools/.
tools_layerfs_chroot_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS) \
	-DLFS_BUILD_TOOLS_DIR='"$(abs_top_builddir)/tools"' \
	-DLFS_BUILD_LAYERFS='"$(abs_top_builddir)/src/layerfs"'
# options, supervision, pid 1, the parts, helpers (chroot.h says who may call whom)
tools_layerfs_chroot_SOURCES = tools/chroot.h tools/chroot_main.c tools/chroot_config.c \
	tools/chroot_run.c tools/chroot_init.c tools/chroot_ns.c tools/chroot_exec.c \
	tools/chroot_pty.c tools/chroot_mp.c tools/chroot_util.c
tools_layerfs_chroot_LDADD = $(LFS_CORE_LIBS)
tools_layerfs_chroot_SOURCES += tools/chroot_ids.c tools/chroot_commit.c

bin_PROGRAMS += tools/layerfs-commit
tools_layerfs_commit_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
tools_layerfs_commit_SOURCES = tools/commit_main.c
tools_layerfs_commit_LDADD = $(LFS_CORE_LIBS)

bin_PROGRAMS += tools/layerfs-squash
tools_layerfs_squash_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
tools_layerfs_squash_SOURCES = tools/squash_main.c tools/squash_slim.c tools/write_tool.h
tools_layerfs_squash_LDADD = $(LFS_CORE_LIBS)
