/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the fuzz targets: inputs as memfds, checks that a run
 * leaks no file descriptor, failing loudly, and reading a file back through
 * the core the way the FUSE driver does.
 */
#ifndef LFS_FUZZUTIL_H
#define LFS_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "layerfs/core.h"
#include "layerfs/layer.h"

/* The libFuzzer entry points (replay.c calls them too). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by LFS_FUZZ_VERBOSE=1: warnings and the reason of every rejection go to stderr. */
extern int fuzz_verbose;

/* Print "fuzz: BUG: ..." and abort(), so that libFuzzer saves the input. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* With LFS_FUZZ_VERBOSE: print a note on stderr. */
void fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A memfd holding DATA (aborts when it cannot be made). */
int fuzz_memfd(const void *data, size_t size);
/* The lowest free descriptor: equal before and after a run unless the run leaked one. */
int fuzz_fd_lowest(void);
void fuzz_fd_check(int lowest);

/*
 * A failed call must leave one line naming NAME in lfs_err_get() (the
 * design's "one clear message naming the file and the reason"), without
 * control characters (lfs_show's promise for names from images).
 */
void fuzz_check_err(int rc, const char *name, const char *call);

/*
 * Read up to MAX bytes of regular file N (WHAT in messages) from offset 0 through
 * lfs_core_read, in chunks of varying size, checking every length; the
 * data goes to BUF (at least MAX bytes) when not NULL.  Also reads a few
 * ranges out of order (the tail, beyond the end) to exercise the restart
 * points of compressed blobs.  *BUDGET is decreased by the bytes read; a
 * run stops reading when it reaches 0.
 */
void fuzz_read_file(const struct lfs_core *c, const struct lfs_node *n, const char *what, void *buf,
		    size_t max, uint64_t *budget);

/* "size S, data at D, sparse [off+len@stored ...]" of N, for messages (static buffer). */
const char *fuzz_describe(const struct lfs_node *n);

/*
 * st_nlink of every file of layer L must be the number of names it has in
 * the layer (hard links share one node; replaced names are not counted).
 */
void fuzz_check_nlink(const struct lfs_layer *l);

#endif
