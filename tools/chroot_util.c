/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the helpers every other file may call, and which call none
 * of them (the bottom tier of chroot.h): messages on stderr.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "chroot.h"

void lfs_chroot_msg(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "layerfs-chroot: %s\n", buf);
}
