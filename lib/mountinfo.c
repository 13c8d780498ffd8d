/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What is mounted where: the one reader of /proc/self/mountinfo, for the
 * driver (is a layerfs already mounted here?) and layerfs-chroot (is the
 * image's FUSE mount up yet?).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"

/*
 * Copy mountinfo field SRC (up to the next space) to DST, undoing the octal
 * escapes the kernel writes for ' ', '\t', '\n' and '\\'.  Returns 0, or -1
 * when it does not fit.
 */
static int unescape(const char *src, char *dst, size_t n)
{
	size_t w = 0;

	for (const char *p = src; *p && *p != ' ' && *p != '\n'; p++) {
		if (w + 1 >= n)
			return -1;
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			dst[w++] = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
			p += 3;
		} else {
			dst[w++] = *p;
		}
	}
	dst[w] = '\0';
	return 0;
}

int lfs_mount_fstype(const char *mnt, char *fstype, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, path[PATH_MAX + 1];
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		const char *field = line, *dash = strstr(line, " - ");

		/* field 5 is the mount point; the type follows " - " */
		for (int i = 0; i < 4 && field; i++)
			field = strchr(field + 1, ' ');
		if (!field || !dash || unescape(field + 1, path, sizeof(path)) || strcmp(path, mnt))
			continue;
		/* the last mount on a path is the one on top */
		found = !unescape(dash + 3, fstype, n);
	}
	free(line);
	fclose(f);
	return found;
}
