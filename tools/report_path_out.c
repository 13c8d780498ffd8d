/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --path, written out: each path's versions, one line per
 * layer that touched it (text), or the same as JSON (jansson).  A writer
 * only: report_path.c gathered the versions.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"
#include "report.h"

static const char *const how_names[3] = {"replaced", "whiteout", "opaque"};

static void digest(char *buf, size_t n, const struct report_version *v)
{
	if (v->node && S_ISREG(v->node->mode) && v->node->hash)
		snprintf(buf, n, "%016llx%016llx", (unsigned long long)v->node->hash->hi,
			 (unsigned long long)v->node->hash->lo);
	else
		buf[0] = '\0';
}

static const char *instr(const struct report *r, uint32_t k)
{
	return r->layers[k].instruction ? r->layers[k].instruction : "";
}

/* "whiteout", "whiteout of /usr/share/doc", "opaque /opt/app", "replaced by /srv/dir". */
static void removal(char *buf, size_t n, const struct report_version *v)
{
	char *by = v->by ? report_clean(v->by) : NULL;

	if (!by)
		snprintf(buf, n, "%s", how_names[v->how]);
	else if (v->how == REPORT_BY_WHITEOUT)
		snprintf(buf, n, "whiteout of %s", by);
	else if (v->how == REPORT_BY_OPAQUE)
		snprintf(buf, n, "opaque %s", *by ? by : "/");
	else
		snprintf(buf, n, "%s replaced", by);
	free(by);
}

int report_paths_text(FILE *f, const struct report *r, const struct report_paths *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct report_path *p = &ps->p[i];
		char *path = report_clean(p->path), w[32];

		report_fmt_size(w, sizeof(w), p->wasted);
		if (p->visible >= 0)
			fprintf(f, "%s%s: visible from layer %u, %s wasted by earlier versions\n",
				i ? "\n" : "", path, p->v[p->visible].layer + 1, w);
		else
			fprintf(f, "%s%s: not in the final image, %s wasted\n", i ? "\n" : "", path,
				w);
		free(path);
		fprintf(f, "  %-5s %-8s %-7s %9s %5s %-11s %-32s %s\n", "LAYER", "CHANGE", "TYPE",
			"SIZE", "MODE", "OWNER", "XXH3-128", "INSTRUCTION");
		for (size_t j = 0; j < p->n; j++) {
			const struct report_version *v = &p->v[j];
			char sz[32], own[24], d[40], why[PATH_MAX + 32],
			    *in = report_clean(instr(r, v->layer));

			if (v->change == REPORT_REMOVED) {
				removal(why, sizeof(why), v);
				fprintf(f, "  %-5u %-8s %-7s %9s %5s %-11s %-32s %s\n",
					v->layer + 1, "deleted", report_type_name(v->old_mode), "-",
					"-", "-", why, in);
			} else {
				report_fmt_size(sz, sizeof(sz), v->size);
				snprintf(own, sizeof(own), "%u:%u", v->uid, v->gid);
				digest(d, sizeof(d), v);
				fprintf(f, "%c %-5u %-8s %-7s %9s %04o %-11s %-32s %s\n",
					(int)j == p->visible ? '*' : ' ', v->layer + 1,
					report_kind_names[v->change], report_type_name(v->mode), sz,
					v->mode & 07777, own, d[0] ? d : "-", in);
			}
			free(in);
		}
	}
	return ferror(f) ? -EIO : 0;
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jclean(const char *s)
{
	char *c;
	json_t *j;

	if (!s)
		return json_null();
	c = report_clean(s);
	j = json_string(c);
	free(c);
	return j;
}

static json_t *jversion(const struct report *r, const struct report_path *p, size_t j)
{
	const struct report_version *v = &p->v[j];
	const struct report_layer *L = &r->layers[v->layer];
	json_t *o = json_object();
	char d[40];

	json_object_set_new(o, "layer", json_integer(v->layer + 1));
	json_object_set_new(o, "change", json_string(report_kind_names[v->change]));
	json_object_set_new(o, "instruction", jstr(L->instruction));
	json_object_set_new(o, "created_by", jstr(L->created_by));
	json_object_set_new(o, "visible", json_boolean((int)j == p->visible));
	if (v->change == REPORT_REMOVED) {
		json_object_set_new(o, "old_type", json_string(report_type_name(v->old_mode)));
		json_object_set_new(o, "removed_by", json_string(how_names[v->how]));
		json_object_set_new(o, "removed_at", v->by ? jclean(v->by) : jclean(p->path));
		return o;
	}
	digest(d, sizeof(d), v);
	json_object_set_new(o, "type", json_string(report_type_name(v->mode)));
	json_object_set_new(o, "old_type",
			    v->old_mode ? json_string(report_type_name(v->old_mode)) : json_null());
	json_object_set_new(o, "size", json_integer((json_int_t)v->size));
	json_object_set_new(o, "bytes", json_integer((json_int_t)v->bytes));
	json_object_set_new(o, "mode", json_integer(v->mode & 07777));
	json_object_set_new(o, "uid", json_integer(v->uid));
	json_object_set_new(o, "gid", json_integer(v->gid));
	json_object_set_new(o, "xxh3_128", d[0] ? json_string(d) : json_null());
	json_object_set_new(
	    o, "link", v->node && S_ISLNK(v->node->mode) ? jclean(v->node->link) : json_null());
	return o;
}

void *report_paths_json(const struct report *r, const struct report_paths *ps)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ps->n; i++) {
		const struct report_path *p = &ps->p[i];
		json_t *vs = json_array();

		for (size_t j = 0; j < p->n; j++)
			json_array_append_new(vs, jversion(r, p, j));
		json_array_append_new(
		    a, json_pack("{s:o, s:o, s:I, s:o}", "path", jclean(p->path), "visible_layer",
				 p->visible >= 0 ? json_integer(p->v[p->visible].layer + 1)
						 : json_null(),
				 "wasted_bytes", (json_int_t)p->wasted, "versions", vs));
	}
	return a;
}
