# SPDX-License-Identifier: Apache-2.0
# Unit tests (cmocka) and integration tests (real mounts, scripts).
LFS_TEST_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/tests/unit \
	-I$(top_srcdir)/lib
LFS_TEST_LIBS = $(LFS_CORE_LIBS) $(CMOCKA_LIBS)

if UNIT_TESTS
check_PROGRAMS += tests/unit/test_blob tests/unit/test_blobsrc tests/unit/test_image tests/unit/test_layer tests/unit/test_layer_dir tests/unit/test_tree \
	tests/unit/test_cache tests/unit/test_upper tests/unit/test_cow tests/unit/test_glob \
	tests/unit/test_image_config tests/unit/test_opts tests/unit/test_transport tests/unit/test_datacache
TESTS += tests/unit/test_blob tests/unit/test_blobsrc tests/unit/test_image tests/unit/test_layer tests/unit/test_layer_dir tests/unit/test_tree \
	tests/unit/test_cache tests/unit/test_upper tests/unit/test_cow tests/unit/test_glob \
	tests/unit/test_image_config tests/unit/test_opts tests/unit/test_transport tests/unit/test_datacache
endif
tests_unit_test_blob_SOURCES = tests/unit/test_blob.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_blob_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_blob_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_blobsrc_SOURCES = tests/unit/test_blobsrc.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_blobsrc_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_blobsrc_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_image_SOURCES = tests/unit/test_image.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_image_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_image_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_image_config_SOURCES = tests/unit/test_image_config.c
tests_unit_test_image_config_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_image_config_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_opts_SOURCES = tests/unit/test_opts.c
tests_unit_test_opts_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_opts_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_transport_SOURCES = tests/unit/test_transport.c
tests_unit_test_transport_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_transport_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_layer_SOURCES = tests/unit/test_layer.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_layer_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_layer_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_layer_dir_SOURCES = tests/unit/test_layer_dir.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_layer_dir_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_layer_dir_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_cache_SOURCES = tests/unit/test_cache.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_cache_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_cache_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_upper_SOURCES = tests/unit/test_upper.c
tests_unit_test_upper_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_upper_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_cow_SOURCES = tests/unit/test_cow.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_cow_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_cow_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_tree_SOURCES = tests/unit/test_tree.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_tree_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_tree_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_datacache_SOURCES = tests/unit/test_datacache.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_datacache_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_datacache_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_glob_SOURCES = tests/unit/test_glob.c tools/report_glob.c tools/report.h
tests_unit_test_glob_CFLAGS = $(LFS_TEST_CFLAGS) -I$(top_srcdir)/tools
tests_unit_test_glob_LDADD = $(LFS_TEST_LIBS)

LFS_INTEGRATION_TESTS = \
	tests/integration/mount_basic.sh \
	tests/integration/mount_setup.sh \
	tests/integration/round_trips.sh \
	tests/integration/bad_input.sh \
	tests/integration/sample_image.sh \
	tests/integration/difftest.sh \
	tests/integration/dir_layer.sh \
	tests/integration/report.sh \
	tests/integration/report_html.sh \
	tests/integration/report_layering.sh \
	tests/integration/real_image.sh \
	tests/integration/pkg_chroot.sh \
	tests/integration/copyup_stall.sh \
	tests/integration/hostile.sh \
	tests/integration/load.sh \
	tests/integration/crash.sh \
	tests/integration/enospc.sh \
	tests/integration/cowdiff.sh \
	tests/integration/openfile.sh \
	tests/integration/forget.sh \
	tests/integration/chroot.sh \
	tests/integration/registry_infra.sh \
	tests/integration/registry_mount.sh \
	tests/integration/refwriters_selftest.sh \
	tests/integration/mount_helper.sh \
	tests/integration/completion.sh
TESTS += $(LFS_INTEGRATION_TESTS) tests/spdx.sh
EXTRA_DIST += tests/spdx.sh
EXTRA_DIST += $(LFS_INTEGRATION_TESTS) tests/integration/lib.sh \
	tests/integration/difftest.py tests/integration/mkimage.py tests/integration/dir_layer.py \
	tests/integration/bad_input.py tests/integration/realcmp.py \
	tests/integration/report_cases.py tests/integration/report_schema.py \
	tests/integration/report_html_check.py tests/integration/report_real.py \
	tests/data/report.schema.json scripts/check-layering \
	tests/integration/hostile_image.py tests/integration/hostile_ops.py \
	tests/integration/load_image.py tests/integration/load_reader.py \
	tests/integration/load_writer.py \
	tests/integration/crash_image.py tests/integration/crash_ops.py \
	tests/integration/enospc_ops.py \
	tests/integration/cowdiff.py tests/integration/cowdiff_ops.py \
	tests/integration/openfile.py \
	tests/integration/chroot_image.py \
	tests/integration/registry.py tests/integration/registry_infra.py \
	tests/integration/registry_mount.py tests/integration/difftest_registry.py tests/integration/checks.py \
	tests/integration/refwriters.py tests/refwriters/build.sh tests/refwriters/README.md \
	tests/refwriters/estargz/main.go tests/refwriters/zstdchunked/main.go \
	tests/registry/config.yml tests/registry/config-silly.yml tests/registry/README.md
if UNIT_TESTS
check_PROGRAMS += tests/unit/test_toc
TESTS += tests/unit/test_toc
endif
tests_unit_test_toc_SOURCES = tests/unit/test_toc.c
tests_unit_test_toc_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_toc_LDADD = $(LFS_TEST_LIBS)
EXTRA_DIST += tests/integration/report_query.py
if UNIT_TESTS
check_PROGRAMS += tests/unit/test_chroot_ids
TESTS += tests/unit/test_chroot_ids
endif
tests_unit_test_chroot_ids_SOURCES = tests/unit/test_chroot_ids.c tools/chroot_ids.c tools/chroot.h
tests_unit_test_chroot_ids_CFLAGS = $(LFS_TEST_CFLAGS) -I$(top_srcdir)/tools
tests_unit_test_chroot_ids_LDADD = $(LFS_TEST_LIBS)
TESTS += tests/integration/rootless.sh
EXTRA_DIST += tests/integration/rootless.sh tests/integration/rootless.py \
	tests/integration/rootless_lib.sh
if UNIT_TESTS
check_PROGRAMS += tests/unit/test_write_layer
TESTS += tests/unit/test_write_layer
endif
tests_unit_test_write_layer_SOURCES = tests/unit/test_write_layer.c tests/unit/testutil.h tests/unit/testutil.c
tests_unit_test_write_layer_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_write_layer_LDADD = $(LFS_TEST_LIBS)
TESTS += tests/integration/datacache.sh
EXTRA_DIST += tests/integration/datacache.sh tests/integration/datacache.py
TESTS += tests/integration/commit.sh
EXTRA_DIST += tests/integration/commit.sh tests/integration/commit.py
TESTS += tests/integration/squash.sh
EXTRA_DIST += tests/integration/squash.sh tests/integration/squash.py
# eStargz and zstd:chunked layers read through their TOC (issue 15).
TESTS += tests/integration/toc.sh
EXTRA_DIST += tests/integration/toc.sh tests/integration/toc.py
if UNIT_TESTS
check_PROGRAMS += tests/unit/test_report_pkg
TESTS += tests/unit/test_report_pkg
endif
tests_unit_test_report_pkg_SOURCES = tests/unit/test_report_pkg.c tools/report_pkg_db.c tools/report_glob.c tools/report.h
tests_unit_test_report_pkg_CFLAGS = $(LFS_TEST_CFLAGS) -I$(top_srcdir)/tools
tests_unit_test_report_pkg_LDADD = $(LFS_TEST_LIBS)
EXTRA_DIST += tests/integration/difftest_toc.py
EXTRA_DIST += tests/integration/report_real_pkgs.py
TESTS += tests/integration/commit_registry.sh
EXTRA_DIST += tests/integration/commit_registry.sh tests/integration/commit_registry.py
EXTRA_DIST += tests/integration/report_kernel.py
TESTS += tests/integration/chroot_commit.sh
EXTRA_DIST += tests/integration/chroot_commit.sh
# The reference writers' binaries and Go build cache (refwriters.py builds
# them into the build tree once, for every test that needs them).
clean-local: clean-refwriters
clean-refwriters:
	-chmod -R u+w tests/refwriters/out 2>/dev/null; rm -rf tests/refwriters/out
.PHONY: clean-refwriters
