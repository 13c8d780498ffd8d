# SPDX-License-Identifier: Apache-2.0
# Fuzz targets: built as plain programs replaying their corpora in make check,
# or as libFuzzer binaries with --enable-fuzzing (clang).
LFS_FUZZ_TARGETS = tests/fuzz/fuzz_layer tests/fuzz/fuzz_json tests/fuzz/fuzz_image \
	tests/fuzz/fuzz_merge tests/fuzz/fuzz_cache
check_PROGRAMS += $(LFS_FUZZ_TARGETS)
# Writes fuzz_cache's seeds for make-corpus.py: built only when asked for
# (make tests/fuzz/cache_seed).
EXTRA_PROGRAMS = tests/fuzz/cache_seed
TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/replay.sh tests/fuzz/make-corpus.py tests/fuzz/README.md tests/fuzz/RUNS.md \
	tests/fuzz/layer.dict tests/fuzz/json.dict tests/fuzz/cache.dict tests/fuzz/corpus

LFS_FUZZ_COMMON = tests/fuzz/fuzzutil.h tests/fuzz/fuzzutil.c
if !FUZZING
# libFuzzer brings its own main(); the plain build runs the inputs it is given.
LFS_FUZZ_COMMON += tests/fuzz/replay.c
endif
LFS_FUZZ_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS) $(FUZZ_CFLAGS) -I$(top_srcdir)/lib
LFS_FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_CFLAGS)

tests_fuzz_fuzz_layer_SOURCES = tests/fuzz/fuzz_layer.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_layer_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_layer_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_layer_LDADD = $(LFS_CORE_LIBS)
tests_fuzz_fuzz_json_SOURCES = tests/fuzz/fuzz_json.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_json_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_json_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_json_LDADD = $(LFS_CORE_LIBS)
tests_fuzz_fuzz_image_SOURCES = tests/fuzz/fuzz_image.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_image_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_image_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_image_LDADD = $(LFS_CORE_LIBS)
# with layerfs-report's books and dive's tally, which observe the merge
tests_fuzz_fuzz_merge_SOURCES = tests/fuzz/fuzz_merge.c tools/report_merge.c tools/report_events.c tools/report_dive.c \
	$(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_merge_CFLAGS = $(LFS_FUZZ_CFLAGS) -I$(top_srcdir)/tools
tests_fuzz_fuzz_merge_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_merge_LDADD = $(LFS_CORE_LIBS)
tests_fuzz_fuzz_cache_SOURCES = tests/fuzz/fuzz_cache.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_cache_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_cache_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_cache_LDADD = $(LFS_CORE_LIBS)
tests_fuzz_cache_seed_SOURCES = tests/fuzz/cache_seed.c
tests_fuzz_cache_seed_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS) -I$(top_srcdir)/lib
tests_fuzz_cache_seed_LDADD = $(LFS_CORE_LIBS)
CLEANFILES += tests/fuzz/cache_seed
# The TOC layers' parsers (issue 15); make check replays tests/fuzz/seeds/toc
# through replay-toc, a script written here (the target's own files: libFuzzer
# builds run each once).
LFS_FUZZ_TARGETS += tests/fuzz/fuzz_toc
tests_fuzz_fuzz_toc_SOURCES = tests/fuzz/fuzz_toc.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_toc_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_toc_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_toc_LDADD = $(LFS_CORE_LIBS)
check_SCRIPTS = tests/fuzz/replay-toc
tests/fuzz/replay-toc: Makefile
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && \
	printf '%s\n' '#!/bin/sh' '# Written by tests/fuzz/local.mk: fuzz_toc over its seeds.' \
	  'set -- "$${top_srcdir:-.}"/tests/fuzz/seeds/toc/*' \
	  'exec "$${top_builddir:-.}/tests/fuzz/fuzz_toc" "$$@"' >$@ && chmod +x $@
TESTS += tests/fuzz/replay-toc
CLEANFILES += tests/fuzz/replay-toc
EXTRA_DIST += tests/fuzz/seeds/toc
# layerfs-report --packages' readers of package databases (issue 17); make
# check replays tests/fuzz/seeds/pkgdb through replay-pkgdb.
LFS_FUZZ_TARGETS += tests/fuzz/fuzz_pkgdb
tests_fuzz_fuzz_pkgdb_SOURCES = tests/fuzz/fuzz_pkgdb.c tools/report_pkg_db.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_pkgdb_CFLAGS = $(LFS_FUZZ_CFLAGS) -I$(top_srcdir)/tools
tests_fuzz_fuzz_pkgdb_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_pkgdb_LDADD = $(LFS_CORE_LIBS)
check_SCRIPTS += tests/fuzz/replay-pkgdb
tests/fuzz/replay-pkgdb: Makefile
	$(AM_V_GEN)$(MKDIR_P) tests/fuzz && \
	printf '%s\n' '#!/bin/sh' '# Written by tests/fuzz/local.mk: fuzz_pkgdb over its seeds.' \
	  'set -- "$${top_srcdir:-.}"/tests/fuzz/seeds/pkgdb/*' \
	  'exec "$${top_builddir:-.}/tests/fuzz/fuzz_pkgdb" "$$@"' >$@ && chmod +x $@
TESTS += tests/fuzz/replay-pkgdb
CLEANFILES += tests/fuzz/replay-pkgdb
EXTRA_DIST += tests/fuzz/seeds/pkgdb
