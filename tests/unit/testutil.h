/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cmocka unit tests. */
#ifndef LFS_TESTUTIL_H
#define LFS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh temporary directory (removed by tu_cleanup). */
const char *tu_tmpdir(void);
/* Write a file below tu_tmpdir(); returns its malloc'ed full path. */
char *tu_write(const char *name, const void *data, size_t len);
/* Read a whole file (malloc'ed, NUL-terminated); *len gets its length. */
void *tu_read(const char *path, size_t *len);
/* Remove the temporary directory. */
void tu_cleanup(void);

#endif
