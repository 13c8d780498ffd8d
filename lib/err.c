/* SPDX-License-Identifier: Apache-2.0 */
/* Thread-local error messages, warnings, and allocation that never returns NULL. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"

const char *lfs_progname = "layerfs";
int lfs_quiet;

static __thread char err_buf[LFS_ERRMAX];

/* Messages quote names from images: keep them one line, free of escape sequences. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void lfs_err_vset(const char *fmt, va_list ap)
{
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	one_line(err_buf);
}

void lfs_err_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lfs_err_vset(fmt, ap);
	va_end(ap);
}

int lfs_error(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lfs_err_vset(fmt, ap);
	va_end(ap);
	return rc;
}

void lfs_err_prefix(const char *fmt, ...)
{
	char old[LFS_ERRMAX];
	char pre[LFS_ERRMAX];
	va_list ap;

	memcpy(old, err_buf, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	snprintf(err_buf, sizeof(err_buf), "%.256s: %.760s", pre, old);
	one_line(err_buf);
}

const char *lfs_err_get(void)
{
	return err_buf[0] ? err_buf : "unknown error";
}

void lfs_err_clear(void)
{
	err_buf[0] = '\0';
}

const char *lfs_show(const char *s, char *buf, size_t n)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	if (s[i] && n > 4)
		memcpy(buf + n - 4, "...", 4);
	return buf;
}

void lfs_warn(const char *fmt, ...)
{
	char msg[LFS_ERRMAX];
	va_list ap;

	if (lfs_quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	one_line(msg);
	fprintf(stderr, "%s: warning: %s\n", lfs_progname, msg);
}

static void *oom(size_t n)
{
	fprintf(stderr, "%s: out of memory (allocating %zu bytes)\n", lfs_progname, n);
	abort();
}

void *lfs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : oom(n);
}

void *lfs_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	return p ? p : oom(n * m);
}

void *lfs_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : oom(n);
}

char *lfs_xstrdup(const char *s)
{
	char *p = strdup(s);

	return p ? p : oom(strlen(s) + 1);
}
