# Fuzz targets: built as plain programs replaying their corpora in make check,
# or as libFuzzer binaries with --enable-fuzzing (clang).
