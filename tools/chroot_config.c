/*
 * layerfs-chroot: what to run, from the image config (Entrypoint, Cmd, Env,
 * WorkingDir, User, parsed with jansson) and the options that override it,
 * with docker run's rules: CMD arguments replace Cmd, --entrypoint replaces
 * Entrypoint and drops Cmd, --env adds to or replaces the image's Env.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chroot.h"
#include "lfs.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A growable NULL-terminated array of strings. */
struct strv {
	char **v;
	size_t n, cap;
};

static void strv_push(struct strv *s, char *str)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->v = lfs_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Index of the variable named like the "K" or "K=V" in KV, or -1. */
static long env_find(const struct strv *env, const char *kv)
{
	size_t k = strcspn(kv, "=");

	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], kv, k) && env->v[i][k] == '=')
			return (long)i;
	return -1;
}

/* Set "K=V" (takes KV), replacing an earlier K. */
static void env_set(struct strv *env, char *kv)
{
	long i = env_find(env, kv);

	if (i < 0) {
		strv_push(env, kv);
		return;
	}
	free(env->v[i]);
	env->v[i] = kv;
}

static void env_unset(struct strv *env, const char *k)
{
	long i = env_find(env, k);

	if (i < 0)
		return;
	free(env->v[i]);
	memmove(env->v + i, env->v + i + 1, (env->n - (size_t)i) * sizeof(*env->v));
	env->n--;
}

/*
 * A list of strings of the config (Entrypoint, Cmd, Env) into OUT.  A plain
 * string is the shell form ["/bin/sh", "-c", S]; null or absent: nothing.
 */
static int json_words(json_t *cfg, const char *key, struct strv *out, int shell_form)
{
	json_t *v = json_object_get(cfg, key);
	size_t i;
	json_t *w;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && shell_form) {
		strv_push(out, lfs_xstrdup("/bin/sh"));
		strv_push(out, lfs_xstrdup("-c"));
		strv_push(out, lfs_xstrdup(json_string_value(v)));
		return 0;
	}
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, w)
	{
		if (!json_is_string(w))
			goto bad;
		strv_push(out, lfs_xstrdup(json_string_value(w)));
	}
	return 0;
bad:
	lfs_chroot_msg("image config: %s is not a list of strings", key);
	return -EINVAL;
}

/* A string of the config, or NULL when absent, null or empty. */
static int json_str(json_t *cfg, const char *key, const char **out)
{
	json_t *v = json_object_get(cfg, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		lfs_chroot_msg("image config: %s is not a string", key);
		return -EINVAL;
	}
	if (*json_string_value(v))
		*out = json_string_value(v);
	return 0;
}

/* The environment: the image's Env, then --env in order, then defaults. */
static int build_env(struct strv *env, json_t *cfg, const struct lfs_chroot_opts *o)
{
	struct strv img = {0};
	char sb[256];
	int rc;

	rc = cfg ? json_words(cfg, "Env", &img, 0) : 0;
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < img.n; i++) {
		if (!strchr(img.v[i], '=') || img.v[i][0] == '=') {
			lfs_warn("image config: Env entry '%s' is not NAME=VALUE: ignored",
				 lfs_show(img.v[i], sb, sizeof(sb)));
			continue;
		}
		env_set(env, lfs_xstrdup(img.v[i]));
	}
	strv_free(&img);
	for (size_t i = 0; i < o->nenvs; i++) {
		const char *e = o->envs[i];

		if (strchr(e, '=')) {
			env_set(env, lfs_xstrdup(e));
		} else if (getenv(e)) {
			char *kv = lfs_xmalloc(strlen(e) + strlen(getenv(e)) + 2);

			sprintf(kv, "%s=%s", e, getenv(e));
			env_set(env, kv);
		} else {
			env_unset(env, e);
		}
	}
	if (env_find(env, "PATH") < 0)
		strv_push(env, lfs_xstrdup(DEFAULT_PATH));
	/* An interactive command needs to know the terminal (docker run -t sets it). */
	if (env_find(env, "TERM") < 0 && isatty(STDIN_FILENO) && getenv("TERM")) {
		char *kv = lfs_xmalloc(strlen(getenv("TERM")) + 6);

		sprintf(kv, "TERM=%s", getenv("TERM"));
		strv_push(env, kv);
	}
	return 0;
}

/* Entrypoint + Cmd, with the options' overrides. */
static int build_argv(struct strv *argv, json_t *cfg, const struct lfs_chroot_opts *o)
{
	int rc = 0;

	if (o->entrypoint_given) {
		if (*o->entrypoint)
			strv_push(argv, lfs_xstrdup(o->entrypoint));
	} else if (cfg) {
		rc = json_words(cfg, "Entrypoint", argv, 1);
	}
	if (rc < 0)
		return rc;
	if (o->cmd && o->cmd[0]) {
		for (char **a = o->cmd; *a; a++)
			strv_push(argv, lfs_xstrdup(*a));
	} else if (cfg && !o->entrypoint_given) {
		rc = json_words(cfg, "Cmd", argv, 1);
		if (rc < 0)
			return rc;
	}
	if (!argv->n) {
		lfs_chroot_msg("no command: the image has no Entrypoint or Cmd; "
			       "give one after '--'");
		return -EINVAL;
	}
	return 0;
}

int lfs_chroot_spec_build(struct lfs_chroot_spec *spec, const char *config,
			  const struct lfs_chroot_opts *o)
{
	struct strv argv = {0}, env = {0};
	json_t *root = NULL, *cfg = NULL;
	const char *wd = NULL, *user = NULL;
	json_error_t jerr;
	int rc;

	memset(spec, 0, sizeof(*spec));
	if (config) {
		root = json_loads(config, 0, &jerr);
		if (!root) {
			lfs_chroot_msg("image config: not JSON: %s (line %d)", jerr.text,
				       jerr.line);
			return -EINVAL;
		}
		cfg = json_object_get(root, "config");
		if (cfg && !json_is_object(cfg))
			cfg = NULL;
	}
	rc = build_argv(&argv, cfg, o);
	if (rc == 0)
		rc = build_env(&env, cfg, o);
	if (rc == 0 && cfg)
		rc = json_str(cfg, "WorkingDir", &wd);
	if (rc == 0 && cfg)
		rc = json_str(cfg, "User", &user);
	if (rc < 0)
		goto fail;
	if (o->workdir)
		wd = o->workdir;
	if (wd && wd[0] != '/') {
		lfs_chroot_msg("working directory '%s' is not an absolute path", wd);
		rc = -EINVAL;
		goto fail;
	}
	if (o->user)
		user = o->user;
	spec->argv = argv.v;
	spec->envp = env.v;
	spec->workdir = lfs_xstrdup(wd ? wd : "/");
	spec->user = lfs_xstrdup(user ? user : "");
	json_decref(root);
	return 0;
fail:
	strv_free(&argv);
	strv_free(&env);
	json_decref(root);
	return rc;
}

void lfs_chroot_spec_free(struct lfs_chroot_spec *spec)
{
	for (char **p = spec->argv; p && *p; p++)
		free(*p);
	for (char **p = spec->envp; p && *p; p++)
		free(*p);
	free(spec->argv);
	free(spec->envp);
	free(spec->workdir);
	free(spec->user);
	memset(spec, 0, sizeof(*spec));
}
