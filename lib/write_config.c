/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The documents of a written image (jansson only): the config (the
 * source's, with the layers' diff_ids, a history entry per new layer,
 * "created", "author", and docker commit's --change instructions applied)
 * and the OCI manifest listing the config and the layers.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layerfs/lfs.h"
#include "layerfs/write.h"
#include "write_int.h"

static void rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The words of a shell-form or JSON-form argument: a new JSON array, or NULL. */
static json_t *words(const char *arg, int shell_wrap)
{
	json_t *a;

	while (isspace((unsigned char)*arg))
		arg++;
	if (*arg == '[') {
		a = json_loads(arg, JSON_DECODE_ANY, NULL);
		if (json_is_array(a)) {
			size_t i;
			json_t *v;

			json_array_foreach(a, i, v) if (!json_is_string(v)) break;
			if (i == json_array_size(a))
				return a;
		}
		json_decref(a);
		/* not a JSON array of strings: docker takes it as the shell form */
	}
	a = json_array();
	if (shell_wrap) {
		json_array_append_new(a, json_string("/bin/sh"));
		json_array_append_new(a, json_string("-c"));
		json_array_append_new(a, json_string(arg));
		return a;
	}
	for (const char *p = arg; *p;) {
		const char *s;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		json_array_append_new(a, json_stringn(s, (size_t)(p - s)));
	}
	return a;
}

/* "K=V" pairs (a value may be "quoted"), or "K V..." (one pair): calls FN for each. */
static int pairs(const char *arg, json_t *obj, int (*fn)(json_t *, const char *, const char *))
{
	char *buf = lfs_xstrdup(arg), *p = buf;
	int rc = 0;

	while (isspace((unsigned char)*p))
		p++;
	{
		char *sp = p + strcspn(p, " \t"), *eq = strchr(p, '=');

		if (!eq || (*sp && sp < eq)) {
			/* "K V...": the rest is the value */
			if (!*sp) {
				free(buf);
				return -EINVAL;
			}
			*sp++ = '\0';
			while (isspace((unsigned char)*sp))
				sp++;
			rc = fn(obj, p, sp);
			free(buf);
			return rc;
		}
	}
	while (*p && rc == 0) {
		char *k = p, *v, *o;

		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (*p != '=' || p == k) {
			rc = -EINVAL;
			break;
		}
		*p++ = '\0';
		v = o = p;
		while (*p && !isspace((unsigned char)*p)) {
			if (*p == '"' || *p == '\'') {
				char q = *p++;

				while (*p && *p != q)
					*o++ = *p++;
				if (*p)
					p++;
			} else if (*p == '\\' && p[1]) {
				p++;
				*o++ = *p++;
			} else {
				*o++ = *p++;
			}
		}
		if (*p)
			p++;
		*o = '\0';
		rc = fn(obj, k, v);
		while (isspace((unsigned char)*p))
			p++;
	}
	free(buf);
	return rc;
}

static int set_env(json_t *cfg, const char *k, const char *v)
{
	json_t *env = json_object_get(cfg, "Env"), *e;
	size_t i, kl = strlen(k);
	char *kv = lfs_xmalloc(kl + strlen(v) + 2);

	sprintf(kv, "%s=%s", k, v);
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	json_array_foreach(env, i, e)
	{
		const char *s = json_string_value(e);

		if (s && !strncmp(s, k, kl) && s[kl] == '=') {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return 0;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
	return 0;
}

static int set_label(json_t *cfg, const char *k, const char *v)
{
	json_t *l = json_object_get(cfg, "Labels");

	if (!json_is_object(l)) {
		l = json_object();
		json_object_set_new(cfg, "Labels", l);
	}
	json_object_set_new(l, k, json_string(v));
	return 0;
}

/* KEY's object of empty objects ("ExposedPorts", "Volumes") gains each word of WS. */
static void add_keys(json_t *cfg, const char *key, json_t *ws, int ports)
{
	json_t *o = json_object_get(cfg, key), *w;
	size_t i;

	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(cfg, key, o);
	}
	json_array_foreach(ws, i, w)
	{
		const char *s = json_string_value(w);
		char buf[256];

		if (ports && !strchr(s, '/')) {
			snprintf(buf, sizeof(buf), "%s/tcp", s);
			s = buf;
		}
		json_object_set_new(o, s, json_object());
	}
}

int lfs_write_change(void *cfgp, const char *change)
{
	json_t *cfg = cfgp;
	const char *arg = change;
	char ins[16];
	size_t n;
	int rc = 0;

	while (isspace((unsigned char)*arg))
		arg++;
	n = strcspn(arg, " \t");
	if (n == 0 || n >= sizeof(ins))
		goto bad;
	for (size_t i = 0; i < n; i++)
		ins[i] = (char)toupper((unsigned char)arg[i]);
	ins[n] = '\0';
	arg += n;
	while (isspace((unsigned char)*arg))
		arg++;
	if (!strcmp(ins, "CMD") || !strcmp(ins, "ENTRYPOINT")) {
		json_object_set_new(cfg, ins[0] == 'C' ? "Cmd" : "Entrypoint", words(arg, 1));
	} else if (!strcmp(ins, "ENV") && *arg) {
		rc = pairs(arg, cfg, set_env);
	} else if (!strcmp(ins, "LABEL") && *arg) {
		rc = pairs(arg, cfg, set_label);
	} else if (!strcmp(ins, "WORKDIR") && *arg) {
		json_object_set_new(cfg, "WorkingDir", json_string(arg));
	} else if (!strcmp(ins, "USER") && *arg) {
		json_object_set_new(cfg, "User", json_string(arg));
	} else if (!strcmp(ins, "STOPSIGNAL") && *arg) {
		json_object_set_new(cfg, "StopSignal", json_string(arg));
	} else if ((!strcmp(ins, "EXPOSE") || !strcmp(ins, "VOLUME")) && *arg) {
		json_t *ws = words(arg, 0);

		add_keys(cfg, ins[0] == 'E' ? "ExposedPorts" : "Volumes", ws, ins[0] == 'E');
		json_decref(ws);
	} else {
		goto bad;
	}
	if (rc == 0)
		return 0;
bad:
	return lfs_error(-EINVAL,
			 "--change '%s': not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
			 "STOPSIGNAL, USER, VOLUME, WORKDIR with its argument",
			 change);
}

int lfs_write_changes_check(char *const *changes, size_t n)
{
	json_t *scratch = json_object();
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = lfs_write_change(scratch, changes[i]);
	json_decref(scratch);
	return rc;
}

/* The history entries of the source covering its first NKEEP layers. */
static json_t *kept_history(json_t *hist, size_t nkeep)
{
	json_t *out = json_array(), *h;
	size_t i, layers = 0;

	if (!json_is_array(hist))
		return out;
	json_array_foreach(hist, i, h)
	{
		int empty = json_is_true(json_object_get(h, "empty_layer"));

		if (!empty && layers == nkeep)
			break;
		if (!empty)
			layers++;
		json_array_append(out, h);
	}
	return out;
}

char *lfs_write_config_json(const struct lfs_image *src, const struct lfs_wlayer *layers, size_t n,
			    const struct lfs_wimage_opts *o)
{
	json_t *root = NULL, *rootfs, *ids, *hist, *cfg;
	char when[32];
	char *out;

	if (src->config)
		root = json_loads(src->config, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		root = json_object();
		json_object_set_new(root, "architecture", json_string("amd64"));
		json_object_set_new(root, "os", json_string("linux"));
	}
	rfc3339(o->created >= 0 ? o->created : (int64_t)time(NULL), when);
	json_object_set_new(root, "created", json_string(when));
	if (o->author)
		json_object_set_new(root, "author", json_string(o->author));
	cfg = json_object_get(root, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(root, "config", cfg);
	}
	for (size_t i = 0; i < o->nchanges; i++)
		if (lfs_write_change(cfg, o->changes[i]) < 0) {
			json_decref(root);
			return NULL;
		}
	ids = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_string(layers[i].res.diff_id));
	rootfs = json_object();
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(rootfs, "diff_ids", ids);
	json_object_set_new(root, "rootfs", rootfs);
	hist = kept_history(json_object_get(root, "history"), o->nsrc_history);
	for (size_t i = 0; i < n; i++) {
		json_t *h;

		if (!layers[i].created_by)
			continue;
		h = json_object();
		json_object_set_new(h, "created", json_string(when));
		json_object_set_new(h, "created_by", json_string(layers[i].created_by));
		if (o->author)
			json_object_set_new(h, "author", json_string(o->author));
		if (layers[i].comment)
			json_object_set_new(h, "comment", json_string(layers[i].comment));
		json_array_append_new(hist, h);
	}
	json_object_set_new(root, "history", hist);
	out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (!out)
		lfs_err_set("cannot write the image config");
	return out;
}

static json_t *descriptor(const char *type, const char *digest, uint64_t size)
{
	json_t *d = json_object();

	json_object_set_new(d, "mediaType", json_string(type));
	json_object_set_new(d, "digest", json_string(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

char *lfs_write_manifest_json(const char *config_digest, uint64_t config_size,
			      const struct lfs_wlayer *layers, size_t n)
{
	json_t *m = json_object(), *ls = json_array();
	char *out;

	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType",
			    json_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_set_new(
	    m, "config",
	    descriptor("application/vnd.oci.image.config.v1+json", config_digest, config_size));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ls, descriptor(layers[i].res.media_type, layers[i].res.digest,
						     layers[i].res.size));
	json_object_set_new(m, "layers", ls);
	out = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	return out;
}

char *lfs_write_index_json(const char *manifest_digest, uint64_t size, const char *tag)
{
	json_t *idx = json_object(), *ms = json_array(),
	       *d = descriptor("application/vnd.oci.image.manifest.v1+json", manifest_digest, size);
	char *out;

	if (tag) {
		json_t *a = json_object();

		json_object_set_new(a, "org.opencontainers.image.ref.name", json_string(tag));
		json_object_set_new(d, "annotations", a);
	}
	json_array_append_new(ms, d);
	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "mediaType",
			    json_string("application/vnd.oci.image.index.v1+json"));
	json_object_set_new(idx, "manifests", ms);
	out = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(idx);
	return out;
}

char *lfs_write_docker_manifest_json(const char *config_name, const char *repotag,
				     char *const *layer_names, size_t n)
{
	json_t *arr = json_array(), *m = json_object(), *ls = json_array(), *tags = json_array();
	char *out;

	json_object_set_new(m, "Config", json_string(config_name));
	if (repotag)
		json_array_append_new(tags, json_string(repotag));
	json_object_set_new(m, "RepoTags", tags);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ls, json_string(layer_names[i]));
	json_object_set_new(m, "Layers", ls);
	json_array_append_new(arr, m);
	out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
}

char *lfs_write_repositories_json(const char *repotag, const char *top_id)
{
	json_t *r = json_object(), *t = json_object();
	const char *colon = strrchr(repotag, ':');
	char *name = lfs_xstrdup(repotag), *out;

	name[colon - repotag] = '\0';
	json_object_set_new(t, colon + 1, json_string(top_id));
	json_object_set_new(r, name, t);
	out = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	free(name);
	return out;
}
