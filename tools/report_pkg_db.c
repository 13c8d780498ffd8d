/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --packages: the package databases' formats, read from one
 * version of their file into struct report_pkgs: dpkg's status (packages
 * installed) and info/PKG.list (a package's files), apk's installed
 * database (packages and their files), a Python *.dist-info/RECORD, and an
 * npm package's package.json (through jansson).  Parsers only: which
 * version of which file is the merge's word (report_pkg.c).
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "report.h"

static char *xstrndup(const char *s, size_t n)
{
	char *d = lfs_xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

struct report_pkg *report_pkgs_add(struct report_pkgs *ps, const char *key, const char *name,
				   size_t nlen, const char *ver, size_t vlen)
{
	struct report_pkg *p;

	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 16;
		ps->v = lfs_xrealloc(ps->v, ps->cap * sizeof(*ps->v));
	}
	p = &ps->v[ps->n++];
	memset(p, 0, sizeof(*p));
	p->name = xstrndup(name, nlen);
	p->version = xstrndup(ver, vlen);
	p->key = key ? lfs_xstrdup(key) : lfs_xstrdup(p->name);
	return p;
}

void report_pkg_file(struct report_pkg *p, const char *path, size_t len)
{
	if (p->nfiles == p->capfiles) {
		p->capfiles = p->capfiles ? 2 * p->capfiles : 16;
		p->files = lfs_xrealloc(p->files, p->capfiles * sizeof(*p->files));
	}
	p->files[p->nfiles++] = xstrndup(path, len);
}

void report_pkgs_free(struct report_pkgs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		for (size_t j = 0; j < ps->v[i].nfiles; j++)
			free(ps->v[i].files[j]);
		free(ps->v[i].files);
		free(ps->v[i].name);
		free(ps->v[i].version);
		free(ps->v[i].key);
	}
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

/* The next line of BUF[*AT..LEN): its start, its length in *N; NULL at the end. */
static const char *next_line(const char *buf, size_t len, size_t *at, size_t *n)
{
	const char *s = buf + *at, *e;

	if (*at >= len)
		return NULL;
	e = memchr(s, '\n', len - *at);
	*n = e ? (size_t)(e - s) : len - *at;
	*at += *n + 1;
	return s;
}

static int field(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t l = strlen(name);

	if (n < l || memcmp(line, name, l))
		return 0;
	*val = line + l;
	*vlen = n - l;
	while (*vlen && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	while (*vlen && ((*val)[*vlen - 1] == ' ' || (*val)[*vlen - 1] == '\r'))
		(*vlen)--;
	return 1;
}

/* dpkg's status: the paragraphs whose Status is "install ok installed". */
int report_dpkg_status(const char *buf, size_t len, struct report_pkgs *out)
{
	const char *name = NULL, *ver = "", *st = NULL, *line;
	size_t nl = 0, vl = 0, sl = 0, at = 0, n;

	for (;;) {
		line = next_line(buf, len, &at, &n);
		if (!line || n == 0) {
			if (name && st && sl >= 10 && !memcmp(st + sl - 10, " installed", 10))
				report_pkgs_add(out, NULL, name, nl, ver, vl);
			name = st = NULL;
			ver = "";
			vl = 0;
			if (!line)
				return 0;
			continue;
		}
		if (!field(line, n, "Package:", &name, &nl) &&
		    !field(line, n, "Version:", &ver, &vl))
			field(line, n, "Status:", &st, &sl);
	}
}

/* dpkg's info/PKG.list: one path per line ("/." for the root). */
int report_dpkg_list(const char *buf, size_t len, struct report_pkg *p)
{
	const char *line;
	size_t at = 0, n;

	while ((line = next_line(buf, len, &at, &n)))
		if (n > 1 && line[0] == '/' && !(n == 2 && line[1] == '.'))
			report_pkg_file(p, line, n);
	return 0;
}

/* apk's installed database: P: name, V: version, F: a directory, R: a file in it. */
int report_apk_installed(const char *buf, size_t len, struct report_pkgs *out)
{
	struct report_pkg *p = NULL;
	const char *line, *dir = "";
	size_t at = 0, n, dl = 0;
	char path[4096];

	while ((line = next_line(buf, len, &at, &n))) {
		if (n == 0) {
			p = NULL;
			continue;
		}
		if (n < 2 || line[1] != ':')
			continue;
		if (line[0] == 'P') {
			p = report_pkgs_add(out, NULL, line + 2, n - 2, "", 0);
			dir = "";
			dl = 0;
		} else if (p && line[0] == 'V') {
			free(p->version);
			p->version = xstrndup(line + 2, n - 2);
		} else if (p && line[0] == 'F') {
			dir = line + 2;
			dl = n - 2;
		} else if (p && line[0] == 'R') {
			int k = snprintf(path, sizeof(path), "/%.*s%s%.*s", (int)dl, dir,
					 dl ? "/" : "", (int)(n - 2), line + 2);

			if (k > 0 && (size_t)k < sizeof(path))
				report_pkg_file(p, path, (size_t)k);
		}
	}
	return 0;
}

/*
 * A Python RECORD at RECORD_PATH ("/usr/lib/python3/site-packages/
 * numpy-1.26.0.dist-info/RECORD"): the package and version from the
 * directory's name, the files from the first column, relative to the
 * directory above it.  -1 when the name is not NAME-VERSION.dist-info.
 */
int report_py_record(const char *record_path, const char *buf, size_t len, struct report_pkgs *out)
{
	const char *end = strrchr(record_path, '/'), *di, *dash, *line;
	size_t at = 0, n, site;
	struct report_pkg *p;
	char path[4096];

	if (!end)
		return -1;
	for (di = end; di > record_path && di[-1] != '/'; di--)
		;
	if (di == record_path || (size_t)(end - di) < 11 || memcmp(end - 10, ".dist-info", 10))
		return -1;
	/* NAME-VERSION before ".dist-info" (whose own '-' is not the one) */
	dash = memchr(di, '-', (size_t)(end - 10 - di));
	if (!dash)
		return -1;
	site = (size_t)(di - 1 - record_path);
	p = report_pkgs_add(out, NULL, di, (size_t)(dash - di), dash + 1,
			    (size_t)(end - 10 - dash - 1));
	/* the same package upgraded has another dist-info: its key is SITE/NAME */
	free(p->key);
	p->key = lfs_xmalloc(site + 1 + (size_t)(dash - di) + 1);
	sprintf(p->key, "%.*s/%.*s", (int)site, record_path, (int)(dash - di), di);
	while ((line = next_line(buf, len, &at, &n))) {
		const char *comma = memchr(line, ',', n);
		size_t fl = comma ? (size_t)(comma - line) : n;
		int k;

		if (!fl || line[0] == '"') /* quoted names (a comma in them): left out */
			continue;
		k = snprintf(path, sizeof(path), "%.*s/%.*s", (int)site, record_path, (int)fl,
			     line);
		if (k > 0 && (size_t)k < sizeof(path))
			report_pkg_file(p, path, (size_t)k);
	}
	return 0;
}

/* An npm package.json: name and version (its files are its directory's). -1: not JSON. */
int report_npm_package(const char *json_path, const char *buf, size_t len, struct report_pkgs *out)
{
	json_t *j = json_loadb(buf, len, 0, NULL);
	const char *name, *ver, *slash = strrchr(json_path, '/');
	struct report_pkg *p;

	if (!j || !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	name = json_string_value(json_object_get(j, "name"));
	ver = json_string_value(json_object_get(j, "version"));
	if (!name)
		name = "(unnamed)";
	p = report_pkgs_add(out, NULL, name, strlen(name), ver ? ver : "", ver ? strlen(ver) : 0);
	free(p->key);
	p->key = xstrndup(json_path, slash ? (size_t)(slash - json_path) : strlen(json_path));
	p->dir = 1;
	json_decref(j);
	return 0;
}
