/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image config, parsed once into struct lfs_image_config for everyone:
 * the layers' diff_ids for image.c, what to run for layerfs-chroot, the
 * history for layerfs-report.
 *
 * Two degrees of strictness.  What opening the image depends on fails the
 * open with a message naming the field, as it always did: rootfs and its
 * diff_ids, and the types of os, architecture, variant, config and history.
 * The fields inside config (Entrypoint, Cmd, Env, WorkingDir, User, Labels,
 * ExposedPorts) and the history's entries are only used by some tools, and
 * real images get them wrong in harmless ways (a number as a label, a
 * history entry without created_by); one wrongly typed is left empty and
 * flagged in `bad`, so that mounting and reporting still work and the tool
 * that needs the field refuses it.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "layerfs/lfs.h"

static void strv_clear(struct lfs_image_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* A copy of the string J, or NULL (with FLAG set in *bad) when J is not a string. */
static char *dup_str(const json_t *j, unsigned flag, unsigned *bad)
{
	if (json_is_string(j))
		return lfs_xstrdup(json_string_value(j));
	*bad |= flag;
	return NULL;
}

/*
 * KEY of CFG: an array of strings into OUT; when SHELL is not NULL a plain
 * string too (the shell form: one word, *shell set).  Absent or null: OUT
 * stays empty.  Anything else, or an element that is not a string: FLAG.
 */
static void words(const json_t *cfg, const char *key, unsigned flag, int *shell,
		  struct lfs_image_strv *out, unsigned *bad)
{
	const json_t *v = json_object_get(cfg, key), *w;
	size_t i;

	if (!v || json_is_null(v))
		return;
	if (json_is_string(v) && shell) {
		out->v = lfs_xcalloc(2, sizeof(*out->v));
		out->v[out->n++] = lfs_xstrdup(json_string_value(v));
		*shell = 1;
		return;
	}
	if (!json_is_array(v)) {
		*bad |= flag;
		return;
	}
	json_array_foreach(v, i, w)
	{
		if (!json_is_string(w)) {
			/* half a command line is worse than none */
			strv_clear(out);
			*bad |= flag;
			return;
		}
	}
	out->v = lfs_xcalloc(json_array_size(v) + 1, sizeof(*out->v));
	json_array_foreach(v, i, w) out->v[out->n++] = lfs_xstrdup(json_string_value(w));
}

/* KEY of CFG: a string (possibly empty) into *out; absent or null: NULL. */
static void string(const json_t *cfg, const char *key, unsigned flag, char **out, unsigned *bad)
{
	const json_t *v = json_object_get(cfg, key);

	if (v && !json_is_null(v))
		*out = dup_str(v, flag, bad);
}

/* config.Labels: the string values, in the config's order. */
static void labels(const json_t *cfg, struct lfs_image_config *c)
{
	const json_t *v = json_object_get(cfg, "Labels"), *x;
	const char *k;

	if (!v || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		c->bad |= LFS_CONFIG_LABELS;
		return;
	}
	c->labels = lfs_xcalloc(json_object_size(v), sizeof(*c->labels));
	json_object_foreach((json_t *)v, k, x)
	{
		if (!json_is_string(x)) {
			c->bad |= LFS_CONFIG_LABELS;
			continue;
		}
		c->labels[c->nlabels].key = lfs_xstrdup(k);
		c->labels[c->nlabels++].value = lfs_xstrdup(json_string_value(x));
	}
}

/* config.ExposedPorts: {"80/tcp": {}, ...}, the keys in the config's order. */
static void exposed_ports(const json_t *cfg, struct lfs_image_config *c)
{
	const json_t *v = json_object_get(cfg, "ExposedPorts"), *x;
	const char *k;

	if (!v || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		c->bad |= LFS_CONFIG_EXPOSED_PORTS;
		return;
	}
	c->exposed_ports.v = lfs_xcalloc(json_object_size(v) + 1, sizeof(char *));
	json_object_foreach((json_t *)v, k, x) c->exposed_ports.v[c->exposed_ports.n++] =
	    lfs_xstrdup(k);
}

/* The history's entries (the array itself is checked strictly). */
static void history(const json_t *hist, struct lfs_image_config *c)
{
	const json_t *h, *v;
	size_t i;

	c->history = lfs_xcalloc(json_array_size(hist), sizeof(*c->history));
	json_array_foreach(hist, i, h)
	{
		struct lfs_image_history *e = &c->history[c->nhistory++];

		/* An entry that is no object still counts: it stands for a layer. */
		if (!json_is_object(h)) {
			c->bad |= LFS_CONFIG_HISTORY;
			continue;
		}
		if ((v = json_object_get(h, "created")))
			e->created = dup_str(v, LFS_CONFIG_HISTORY, &c->bad);
		if ((v = json_object_get(h, "created_by")))
			e->created_by = dup_str(v, LFS_CONFIG_HISTORY, &c->bad);
		if ((v = json_object_get(h, "comment")))
			e->comment = dup_str(v, LFS_CONFIG_HISTORY, &c->bad);
		e->empty_layer = json_is_true(json_object_get(h, "empty_layer"));
	}
}

/* The strict part: rootfs.diff_ids. */
static int diff_ids(const json_t *j, const char *what, struct lfs_image_config *c)
{
	char name[LFS_JSON_FIELD_MAX], shown[96];
	json_t *rootfs, *ids, *v;
	const char *s = "";
	char *type = NULL;
	size_t i;
	int ret;

	ret = lfs_json_get_typed(j, "rootfs", JSON_OBJECT, true, what, "", &rootfs);
	if (!ret)
		ret = lfs_json_get_str(rootfs, "type", true, what, "rootfs", &type);
	if (!ret && strcmp(type, "layers"))
		ret = lfs_json_bad(-ENOTSUP, what,
				   "rootfs.type '%s' is not supported (only 'layers')",
				   lfs_show(type, shown, sizeof(shown)));
	if (!ret)
		ret =
		    lfs_json_get_typed(rootfs, "diff_ids", JSON_ARRAY, true, what, "rootfs", &ids);
	if (ret < 0)
		goto out;
	c->diff_ids.v = lfs_xcalloc(json_array_size(ids) + 1, sizeof(char *));
	json_array_foreach(ids, i, v)
	{
		lfs_json_fname(name, "rootfs.diff_ids[%zu]", i);
		ret = lfs_json_str_value(v, what, name, &s);
		if (!ret)
			ret = lfs_json_check_digest(s, what, name);
		if (ret < 0)
			goto out;
		c->diff_ids.v[c->diff_ids.n++] = lfs_xstrdup(s);
	}
out:
	free(type);
	return ret;
}

int lfs_json_config(const char *buf, size_t len, const char *what, struct lfs_image_config *out)
{
	struct lfs_image_config c = {0};
	json_t *j, *cfg = NULL, *hist = NULL;
	int ret;

	ret = lfs_json_load(&j, buf, len, what, JSON_OBJECT);
	if (ret < 0)
		return ret;
	ret = lfs_json_get_str(j, "architecture", false, what, "", &c.architecture);
	if (!ret)
		ret = lfs_json_get_str(j, "os", false, what, "", &c.os);
	if (!ret)
		ret = lfs_json_get_str(j, "variant", false, what, "", &c.variant);
	if (!ret && !json_is_null(json_object_get(j, "config")))
		ret = lfs_json_get_typed(j, "config", JSON_OBJECT, false, what, "", &cfg);
	if (!ret)
		ret = lfs_json_get_typed(j, "history", JSON_ARRAY, false, what, "", &hist);
	if (!ret)
		ret = diff_ids(j, what, &c);
	if (ret < 0)
		goto out;
	if (cfg) {
		words(cfg, "Entrypoint", LFS_CONFIG_ENTRYPOINT, &c.entrypoint_shell, &c.entrypoint,
		      &c.bad);
		words(cfg, "Cmd", LFS_CONFIG_CMD, &c.cmd_shell, &c.cmd, &c.bad);
		words(cfg, "Env", LFS_CONFIG_ENV, NULL, &c.env, &c.bad);
		string(cfg, "WorkingDir", LFS_CONFIG_WORKING_DIR, &c.working_dir, &c.bad);
		string(cfg, "User", LFS_CONFIG_USER, &c.user, &c.bad);
		labels(cfg, &c);
		exposed_ports(cfg, &c);
	}
	if (hist)
		history(hist, &c);
	*out = c;
	memset(&c, 0, sizeof(c));
out:
	lfs_image_config_clear(&c);
	json_decref(j);
	return ret;
}

void lfs_image_config_clear(struct lfs_image_config *c)
{
	free(c->os);
	free(c->architecture);
	free(c->variant);
	strv_clear(&c->entrypoint);
	strv_clear(&c->cmd);
	strv_clear(&c->env);
	free(c->working_dir);
	free(c->user);
	for (size_t i = 0; i < c->nlabels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	strv_clear(&c->exposed_ports);
	for (size_t i = 0; i < c->nhistory; i++) {
		free(c->history[i].created);
		free(c->history[i].created_by);
		free(c->history[i].comment);
	}
	free(c->history);
	strv_clear(&c->diff_ids);
	memset(c, 0, sizeof(*c));
}
