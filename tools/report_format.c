/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Formatting helpers shared by layerfs-report's writers (and the advice the
 * suggestions spell out): the names of causes, markers, change kinds,
 * suggestion kinds and file types, sizes made readable, and paths cleaned to
 * printable UTF-8.  They know no report: leaves of the report's call graph.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"
#include "report.h"

const char *const report_cause_names[REPORT_NCAUSES] = {"deleted", "overwritten", "identical",
							"type"};
const char *const report_marker_names[3] = {"entry", "whiteout", "opaque"};
const char *const report_kind_names[3] = {"added", "modified", "deleted"};
const char *const report_sugg_names[REPORT_NSUGG] = {
    "package-cache", "logs", "copy-up", "deleted-later", "overwritten-later", "shipped-cache",
};

const char *const report_pkg_managers[REPORT_PKG_NMGR] = {"dpkg", "apk", "python", "npm"};
const char *const report_pkg_changes[4] = {"installed", "removed", "upgraded", "unchanged"};

const char *report_type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	default:
		return "none";
	}
}

void report_fmt_size(char *buf, size_t n, uint64_t b)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	int u = -1;

	if (b < 1000) {
		snprintf(buf, n, "%llu B", (unsigned long long)b);
		return;
	}
	while (v >= 999.5 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, n, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void report_fmt_value(char *buf, size_t n, int unit, double v)
{
	char sz[32];

	if (unit == REPORT_UNIT_BYTES) {
		report_fmt_size(sz, sizeof(sz), v > 0 ? (uint64_t)v : 0);
		snprintf(buf, n, "%s", sz);
	} else if (unit == REPORT_UNIT_RATIO) {
		snprintf(buf, n, "%.4f (%.1f%%)", v, v * 100);
	} else {
		snprintf(buf, n, "%.0f", v);
	}
}

/* Length of the valid UTF-8 sequence at S (0: not one). */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4
											       : 0;
	}
	return 0;
}

char *report_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = lfs_xmalloc(strlen(s) * 4 + 1), *o = out;

	while (*p) {
		int l = utf8_len(p);

		if (l == 0 || *p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p++);
			continue;
		}
		memcpy(o, p, (size_t)l);
		o += l;
		p += l;
	}
	*o = '\0';
	return out;
}
