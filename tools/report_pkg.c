/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --packages: per layer, the packages installed, removed,
 * upgraded or stored again, with the bytes their files take in that layer
 * and the part of them the final image does not show.  The databases' files
 * are followed across the layers by report_path.c (the merge's events say
 * which version each layer leaves visible); each version is read once and
 * parsed by report_pkg_db.c.  A package's bytes in layer K are those of its
 * files in layer K's own tree; wasted, those not the final tree's entry at
 * the same path.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"
#include "report.h"


static char *const db_globs[] = {
    "/var/lib/dpkg/status",  "/var/lib/dpkg/info/*.list",      "/lib/apk/db/installed",
    "**/*.dist-info/RECORD", "**/node_modules/*/package.json", "**/node_modules/@*/*/package.json",
};

#define DPKG_INFO "/var/lib/dpkg/info/"

void report_packages_init(struct report_packages *pk)
{
	memset(pk, 0, sizeof(*pk));
	report_paths_init(&pk->track, db_globs, LFS_ARRAY_SIZE(db_globs));
}

static void note(struct report_packages *pk, const char *path, const char *why)
{
	char *s = NULL;

	if (asprintf(&s, "%s: %s", path, why) < 0)
		return;
	pk->notes = lfs_xrealloc(pk->notes, (pk->nnotes + 1) * sizeof(*pk->notes));
	pk->notes[pk->nnotes++] = s;
	lfs_warn("--packages: %s", s);
}

/* The version of P visible once layer K is applied, or NULL. */
static struct report_version *at_layer(const struct report_path *p, uint32_t k)
{
	struct report_version *v = NULL;

	for (size_t i = 0; i < p->n && p->v[i].layer <= k; i++)
		v = &p->v[i];
	return v && v->change != REPORT_REMOVED && v->node && S_ISREG(v->node->mode) ? v : NULL;
}

/* V's content, read once (NULL when unreadable, said once). */
static const char *content(struct report_packages *pk, const struct report *r,
			   const struct report_path *p, struct report_version *v, size_t *len)
{
	if (!v->data && !v->unreadable) {
		size_t n = (size_t)v->node->size;
		char *buf = lfs_xmalloc(n + 1);
		ssize_t got = 0;

		for (size_t off = 0; off < n; off += (size_t)got) {
			got = lfs_core_read(r->core, v->node, buf + off, n - off, off);
			if (got <= 0)
				break;
		}
		if (got < 0 || (n && got == 0)) {
			free(buf);
			v->unreadable = 1;
			note(pk, p->path, "cannot be read");
			return NULL;
		}
		buf[n] = '\0';
		v->data = buf;
	}
	*len = v->data ? (size_t)v->node->size : 0;
	return v->data;
}

/* The first tracked path not before KEY (they are sorted). */
static size_t lower_bound(const struct report_paths *t, const char *key)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(t->p[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* dpkg's info/NAME.list or info/NAME:ARCH.list. */
static const struct report_path *dpkg_list(const struct report_paths *t, const char *name)
{
	char key[512];
	size_t i, kl;

	snprintf(key, sizeof(key), DPKG_INFO "%s.list", name);
	i = lower_bound(t, key);
	if (i < t->n && !strcmp(t->p[i].path, key))
		return &t->p[i];
	kl = (size_t)snprintf(key, sizeof(key), DPKG_INFO "%s:", name);
	i = lower_bound(t, key);
	return i < t->n && !strncmp(t->p[i].path, key, kl) ? &t->p[i] : NULL;
}

/* Every database's packages once layer K is applied, into S (by key). */
static void state(struct report_packages *pk, const struct report *r, uint32_t k,
		  struct report_pkgs s[REPORT_PKG_NMGR])
{
	struct report_paths *t = &pk->track;
	size_t len;

	for (size_t i = 0; i < t->n; i++) {
		struct report_path *p = &t->p[i];
		struct report_version *v = at_layer(p, k);
		const char *buf;
		size_t before;

		if (!v || !strncmp(p->path, DPKG_INFO, strlen(DPKG_INFO)))
			continue;
		buf = content(pk, r, p, v, &len);
		if (!buf)
			continue;
		pk->found[!strcmp(p->path, "/var/lib/dpkg/status")    ? REPORT_PKG_DPKG
			  : !strcmp(p->path, "/lib/apk/db/installed") ? REPORT_PKG_APK
			  : strstr(p->path, ".dist-info/RECORD")      ? REPORT_PKG_PY
								      : REPORT_PKG_NPM] = 1;
		if (!strcmp(p->path, "/var/lib/dpkg/status")) {
			before = s[REPORT_PKG_DPKG].n;
			report_dpkg_status(buf, len, &s[REPORT_PKG_DPKG]);
			for (size_t j = before; j < s[REPORT_PKG_DPKG].n; j++) {
				struct report_pkg *pkg = &s[REPORT_PKG_DPKG].v[j];
				const struct report_path *lp = dpkg_list(t, pkg->name);
				struct report_version *lv = lp ? at_layer(lp, k) : NULL;
				const char *lb = lv ? content(pk, r, lp, lv, &len) : NULL;

				if (lb)
					report_dpkg_list(lb, len, pkg);
			}
		} else if (!strcmp(p->path, "/lib/apk/db/installed")) {
			report_apk_installed(buf, len, &s[REPORT_PKG_APK]);
		} else if (strstr(p->path, ".dist-info/RECORD")) {
			if (report_py_record(p->path, buf, len, &s[REPORT_PKG_PY]) < 0 &&
			    !v->unreadable) {
				v->unreadable = 1;
				note(pk, p->path, "not in a NAME-VERSION.dist-info directory");
			}
		} else if (report_npm_package(p->path, buf, len, &s[REPORT_PKG_NPM]) < 0 &&
			   !v->unreadable) {
			v->unreadable = 1;
			note(pk, p->path, "not a JSON object");
		}
	}
}

static int pkg_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_pkg *)a)->key, ((const struct report_pkg *)b)->key);
}

struct cost {
	uint64_t bytes, files, wasted;
};

static void count(struct cost *c, const struct lfs_node *n, const struct lfs_node *final)
{
	if (!n || !S_ISREG(n->mode) || (n->flags & LFS_NF_WHITEOUT))
		return;
	c->bytes += report_node_bytes(n);
	c->files++;
	if (final != n)
		c->wasted += report_node_bytes(n);
}

/* A directory of layer K (an npm package): its files, not its node_modules. */
static void count_dir(struct cost *c, const struct lfs_node *d, const struct lfs_node *final)
{
	if (!d || !d->dir)
		return;
	for (uint32_t i = 0; i < d->dir->n; i++) {
		const struct lfs_dirent *e = &d->dir->ents[i];
		const struct lfs_node *f =
		    final && final->dir && e->name ? lfs_dir_lookup(final, e->name, e->len) : NULL;

		if (!e->node || !e->name || (e->len == 12 && !memcmp(e->name, "node_modules", 12)))
			continue;
		if (e->node->dir)
			count_dir(c, e->node, f);
		else
			count(c, e->node, f);
	}
}

/* Take the last component off OUT (of length *LEN). */
static void up(char *out, size_t *len)
{
	while (*len > 0 && out[*len - 1] != '/')
		(*len)--;
	*len = *len ? *len - 1 : 0;
	out[*len] = '\0';
}

/*
 * PATH as the final image resolves it, into OUT ("a/b", no leading '/'):
 * "." and ".." taken out, directories that are symlinks there followed
 * (/bin -> usr/bin on merged-/usr systems); the last name is not followed.
 * 0, or -1 when it does not resolve.
 */
static int canonical(const struct lfs_node *root, const char *path, char *out, size_t n)
{
	char buf[PATH_MAX], tmp[PATH_MAX];
	size_t len = 0;
	int hops = 0;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	out[0] = '\0';
	for (char *p = buf; *p;) {
		char *e = strchr(p, '/'), *name = p;
		const struct lfs_node *d;

		if (e)
			*e = '\0';
		p = e ? e + 1 : p + strlen(p);
		if (!*name || !strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			up(out, &len);
			continue;
		}
		if (len + 1 + strlen(name) + 1 > n)
			return -1;
		len += (size_t)sprintf(out + len, "%s%s", len ? "/" : "", name);
		if (!*p)
			break;
		d = lfs_node_walk((struct lfs_node *)root, out);
		if (!d || !S_ISLNK(d->mode) || !d->link)
			continue;
		/* a symlinked directory: resolve its target, then the rest */
		if (++hops > 16)
			return -1;
		up(out, &len);
		if (d->link[0] == '/')
			len = 0;
		if (snprintf(tmp, sizeof(tmp), "%s/%s", d->link, p) >= (int)sizeof(tmp))
			return -1;
		out[len] = '\0';
		memcpy(buf, tmp, strlen(tmp) + 1);
		p = buf;
	}
	return 0;
}

/* dpkg lists directories too: PATH is one when the next path is below it. */
static int listed_dir(const struct report_pkg *p, size_t i)
{
	size_t l = strlen(p->files[i]);

	return i + 1 < p->nfiles && !strncmp(p->files[i + 1], p->files[i], l) &&
	       p->files[i + 1][l] == '/';
}

static struct cost cost_in(const struct report *r, uint32_t k, const struct report_pkg *p)
{
	char path[PATH_MAX];

	struct lfs_node *lroot = r->core->layers[k]->root, *froot = r->core->tree->root;
	struct cost c = {0};

	if (p->dir) {
		count_dir(&c, lfs_node_walk(lroot, p->key + 1), lfs_node_walk(froot, p->key + 1));
		return c;
	}
	for (size_t i = 0; i < p->nfiles; i++) {
		if (listed_dir(p, i) || canonical(froot, p->files[i], path, sizeof(path)) < 0)
			continue;
		count(&c, lfs_node_walk(lroot, path), lfs_node_walk(froot, path));
	}
	return c;
}

static void add(struct report_pkg_layer *L, int mgr, int change, const struct report_pkg *now,
		const struct report_pkg *was, struct cost c)
{
	struct report_pkg_change *x;

	L->v = lfs_xrealloc(L->v, (L->n + 1) * sizeof(*L->v));
	x = &L->v[L->n++];
	x->manager = (uint8_t)mgr;
	x->change = (uint8_t)change;
	x->name = lfs_xstrdup((now ? now : was)->name);
	x->version = now ? lfs_xstrdup(now->version) : NULL;
	x->old_version = was ? lfs_xstrdup(was->version) : NULL;
	x->bytes = c.bytes;
	x->files = c.files;
	x->wasted = c.wasted;
}

/* What layer K did to each package: OLD and NOW sorted by key. */
static void changes(struct report_pkg_layer *L, const struct report *r, uint32_t k, int mgr,
		    const struct report_pkgs *old, const struct report_pkgs *now)
{
	size_t i = 0, j = 0;

	while (i < old->n || j < now->n) {
		int c = i == old->n ? 1 : j == now->n ? -1 : strcmp(old->v[i].key, now->v[j].key);

		if (c < 0) {
			add(L, mgr, REPORT_PKG_REMOVED, NULL, &old->v[i],
			    cost_in(r, k, &old->v[i]));
			i++;
		} else if (c > 0) {
			add(L, mgr, REPORT_PKG_INSTALLED, &now->v[j], NULL,
			    cost_in(r, k, &now->v[j]));
			j++;
		} else {
			struct cost cst = cost_in(r, k, &now->v[j]);

			if (strcmp(old->v[i].version, now->v[j].version))
				add(L, mgr, REPORT_PKG_UPGRADED, &now->v[j], &old->v[i], cst);
			else if (cst.bytes)
				add(L, mgr, REPORT_PKG_UNCHANGED, &now->v[j], &old->v[i], cst);
			i++;
			j++;
		}
	}
}

struct pending {
	struct report_path *p;
	struct report_version *v;
};

static int pending_cmp(const void *a, const void *b)
{
	const struct report_version *x = ((const struct pending *)a)->v,
				    *y = ((const struct pending *)b)->v;

	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return (x->node->data_off > y->node->data_off) - (x->node->data_off < y->node->data_off);
}

/* Read every version of the databases' files once, each layer in stream order. */
static void read_all(struct report_packages *pk, const struct report *r)
{
	struct report_paths *t = &pk->track;
	struct pending *v = NULL;
	size_t n = 0, len;

	for (size_t i = 0; i < t->n; i++)
		for (size_t j = 0; j < t->p[i].n; j++)
			if (t->p[i].v[j].change != REPORT_REMOVED && t->p[i].v[j].node &&
			    S_ISREG(t->p[i].v[j].node->mode)) {
				v = lfs_xrealloc(v, (n + 1) * sizeof(*v));
				v[n++] = (struct pending){&t->p[i], &t->p[i].v[j]};
			}
	if (n)
		qsort(v, n, sizeof(*v), pending_cmp);
	for (size_t i = 0; i < n; i++)
		content(pk, r, v[i].p, v[i].v, &len);
	free(v);
}

void report_packages_build(struct report_packages *pk, const struct report *r)
{
	struct report_pkgs prev[REPORT_PKG_NMGR] = {{0}}, cur[REPORT_PKG_NMGR];

	if (pk->built)
		return;
	pk->built = 1;
	report_paths_finish(&pk->track, r);
	read_all(pk, r); /* in stream order: 6.4 -> 4.5 s of CPU on a 330k-entry image */
	pk->nlayers = r->nlayers;
	pk->layers = lfs_xcalloc(r->nlayers ? r->nlayers : 1, sizeof(*pk->layers));
	for (uint32_t k = 0; k < r->nlayers; k++) {
		memset(cur, 0, sizeof(cur));
		state(pk, r, k, cur);
		for (int m = 0; m < REPORT_PKG_NMGR; m++) {
			if (cur[m].n)
				qsort(cur[m].v, cur[m].n, sizeof(*cur[m].v), pkg_cmp);
			changes(&pk->layers[k], r, k, m, &prev[m], &cur[m]);
			report_pkgs_free(&prev[m]);
			prev[m] = cur[m];
		}
	}
	for (int m = 0; m < REPORT_PKG_NMGR; m++) {
		pk->final_count[m] = prev[m].n;
		pk->final[m] = prev[m];
	}
}

void report_packages_compare(struct report_packages *b, const struct report_packages *a)
{
	b->compared = 1;
	for (int m = 0; m < REPORT_PKG_NMGR; m++) {
		const struct report_pkgs *o = &a->final[m], *n = &b->final[m];
		size_t i = 0, j = 0;

		while (i < o->n || j < n->n) {
			int c = i == o->n ? 1 : j == n->n ? -1 : strcmp(o->v[i].key, n->v[j].key);
			struct cost none = {0};

			if (c < 0)
				add(&b->cmp, m, REPORT_PKG_REMOVED, NULL, &o->v[i++], none);
			else if (c > 0)
				add(&b->cmp, m, REPORT_PKG_INSTALLED, &n->v[j++], NULL, none);
			else if (strcmp(o->v[i].version, n->v[j].version))
				add(&b->cmp, m, REPORT_PKG_UPGRADED, &n->v[j++], &o->v[i++], none);
			else
				i++, j++;
		}
	}
}

void report_packages_free(struct report_packages *pk)
{
	for (size_t i = 0; i < pk->track.n; i++)
		for (size_t j = 0; j < pk->track.p[i].n; j++)
			free(pk->track.p[i].v[j].data);
	report_paths_free(&pk->track);
	for (uint32_t k = 0; k < pk->nlayers; k++) {
		for (size_t i = 0; i < pk->layers[k].n; i++) {
			free(pk->layers[k].v[i].name);
			free(pk->layers[k].v[i].version);
			free(pk->layers[k].v[i].old_version);
		}
		free(pk->layers[k].v);
	}
	free(pk->layers);
	for (int m = 0; m < REPORT_PKG_NMGR; m++)
		report_pkgs_free(&pk->final[m]);
	for (size_t i = 0; i < pk->cmp.n; i++) {
		free(pk->cmp.v[i].name);
		free(pk->cmp.v[i].version);
		free(pk->cmp.v[i].old_version);
	}
	free(pk->cmp.v);
	for (size_t i = 0; i < pk->nnotes; i++)
		free(pk->notes[i]);
	free(pk->notes);
	memset(pk, 0, sizeof(*pk));
}
