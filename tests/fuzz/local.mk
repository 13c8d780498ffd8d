# Fuzz targets: built as plain programs replaying their corpora in make check,
# or as libFuzzer binaries with --enable-fuzzing (clang).
LFS_FUZZ_TARGETS = tests/fuzz/fuzz_layer tests/fuzz/fuzz_json tests/fuzz/fuzz_image \
	tests/fuzz/fuzz_merge
check_PROGRAMS += $(LFS_FUZZ_TARGETS)
TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/replay.sh tests/fuzz/make-corpus.py tests/fuzz/README.md \
	tests/fuzz/layer.dict tests/fuzz/json.dict tests/fuzz/corpus

LFS_FUZZ_COMMON = tests/fuzz/fuzzutil.h tests/fuzz/fuzzutil.c
if !FUZZING
# libFuzzer brings its own main(); the plain build runs the inputs it is given.
LFS_FUZZ_COMMON += tests/fuzz/replay.c
endif
LFS_FUZZ_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS) $(FUZZ_CFLAGS)
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
tests_fuzz_fuzz_merge_SOURCES = tests/fuzz/fuzz_merge.c $(LFS_FUZZ_COMMON)
tests_fuzz_fuzz_merge_CFLAGS = $(LFS_FUZZ_CFLAGS)
tests_fuzz_fuzz_merge_LDFLAGS = $(LFS_FUZZ_LINK)
tests_fuzz_fuzz_merge_LDADD = $(LFS_CORE_LIBS)
