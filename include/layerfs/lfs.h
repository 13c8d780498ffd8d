/* SPDX-License-Identifier: Apache-2.0 */
/* Shared definitions of the layerfs core: error reporting and small helpers. */
#ifndef LFS_H
#define LFS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LFS_ERRMAX 1024

/*
 * Core functions return 0 or -errno.  The human-readable reason (naming the
 * file and what is wrong with it) goes to a thread-local buffer, so that the
 * caller that finally reports the failure can print one clear line.
 */
void lfs_err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lfs_err_vset(const char *fmt, va_list ap);
/* Prefix the current message with "PREFIX: " (adds context on the way up). */
void lfs_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *lfs_err_get(void);
/* lfs_err_set, then return RC (a -errno): `return lfs_error(rc, ...)`. */
int lfs_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lfs_err_clear(void);

/*
 * NAME made safe to print: control characters become '?', and it is cut to
 * fit BUF (ending in "...").  Names in images come from strangers; a message
 * stays one line and sends no escape sequence to the terminal.
 */
const char *lfs_show(const char *name, char *buf, size_t n);

/* Warnings go straight to stderr as "layerfs: warning: ...". */
void lfs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Program name used as the prefix of messages ("layerfs", "layerfs-report"). */
extern const char *lfs_progname;
/* Set by -q: warnings are not printed. */
extern int lfs_quiet;

/*
 * The type of the topmost mount exactly at MNT (a canonical path), from
 * /proc/self/mountinfo, into FSTYPE ("fuse.layerfs"): 1 when something is
 * mounted there, 0 when not (or when mountinfo cannot be read).
 */
int lfs_mount_fstype(const char *mnt, char *fstype, size_t n);

/*
 * mkdir -p DIR, the last component with mode 0700 (the caches hold names
 * of images), the others 0755: 0 or -errno.
 */
int lfs_mkdirs(const char *dir);

void *lfs_xmalloc(size_t n);
void *lfs_xcalloc(size_t n, size_t m);
void *lfs_xrealloc(void *p, size_t n);
char *lfs_xstrdup(const char *s);

#define LFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
