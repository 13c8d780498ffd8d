/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: layerfs-report --packages' readers of the package databases
 * found in images (tools/report_pkg_db.c), untrusted input all.  The first
 * input byte picks the format of the rest:
 *
 *   0  dpkg's status;  1  a dpkg info/PKG.list;  2  apk's installed db;
 *   3  a Python RECORD: its first line is the RECORD's path in the image;
 *   4  an npm package.json: its first line is the file's path.
 *
 * What the readers hand on must hold what --packages relies on: every
 * package has a key and a name, every file an absolute path of the length
 * kept, and nothing leaks (ASan).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "report.h"

static void check(const struct report_pkgs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct report_pkg *p = &ps->v[i];

		if (!p->key || !p->name || !p->version)
			fuzz_fail("package %zu: no key, name or version", i);
		for (size_t k = 0; k < p->nfiles; k++)
			if (!p->files[k] || p->files[k][0] != '/')
				fuzz_fail("package %s: file %zu is not an absolute path", p->name,
					  k);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report_pkgs ps = {0};
	const char *buf = (const char *)data + 1, *nl;
	size_t n = size ? size - 1 : 0;
	char *path;

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		report_dpkg_status(buf, n, &ps);
		break;
	case 1:
		report_dpkg_list(buf, n, report_pkgs_add(&ps, NULL, "p", 1, "1", 1));
		break;
	case 2:
		report_apk_installed(buf, n, &ps);
		break;
	default:
		/* the path (NUL-free: it comes from a tar entry's name) and the file */
		nl = memchr(buf, '\n', n);
		if (!nl)
			break;
		/* an absolute path, as the merged tree gives */
		path = malloc((size_t)(nl - buf) + 2);
		if (!path)
			abort();
		path[0] = '/';
		memcpy(path + 1, buf, (size_t)(nl - buf));
		path[nl - buf + 1] = '\0';
		if (data[0] % 5 == 3)
			report_py_record(path, nl + 1, n - (size_t)(nl + 1 - buf), &ps);
		else
			report_npm_package(path, nl + 1, n - (size_t)(nl + 1 - buf), &ps);
		free(path);
		break;
	}
	check(&ps);
	report_pkgs_free(&ps);
	return 0;
}
