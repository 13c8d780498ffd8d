/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: what to run, from the image config (Entrypoint, Cmd, Env,
 * WorkingDir, User, as the core parsed them) and the options that override it,
 * with docker run's rules: CMD arguments replace Cmd, --entrypoint replaces
 * Entrypoint and drops Cmd, --env adds to or replaces the image's Env.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"

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
 * Entrypoint or Cmd into OUT: the shell form (a plain string) runs with
 * /bin/sh -c, as docker runs it.  Wrongly typed in the config: refused here
 * (the config parser leaves such a field empty, for the tools that do not run it).
 */
static int config_words(const struct lfs_image_config *cfg, unsigned flag, struct strv *out)
{
	const struct lfs_image_strv *w =
	    flag == LFS_CONFIG_ENTRYPOINT ? &cfg->entrypoint : &cfg->cmd;
	int shell = flag == LFS_CONFIG_ENTRYPOINT ? cfg->entrypoint_shell : cfg->cmd_shell;

	if (cfg->bad & flag) {
		lfs_chroot_msg("image config: %s is not a list of strings",
			       flag == LFS_CONFIG_ENTRYPOINT ? "Entrypoint" : "Cmd");
		return -EINVAL;
	}
	if (shell) {
		strv_push(out, lfs_xstrdup("/bin/sh"));
		strv_push(out, lfs_xstrdup("-c"));
	}
	for (size_t i = 0; i < w->n; i++)
		strv_push(out, lfs_xstrdup(w->v[i]));
	return 0;
}

/* WorkingDir or User: NULL when absent or empty. */
static int config_str(const struct lfs_image_config *cfg, unsigned flag, const char **out)
{
	const char *v = flag == LFS_CONFIG_WORKING_DIR ? cfg->working_dir : cfg->user;

	*out = NULL;
	if (cfg->bad & flag) {
		lfs_chroot_msg("image config: %s is not a string",
			       flag == LFS_CONFIG_WORKING_DIR ? "WorkingDir" : "User");
		return -EINVAL;
	}
	if (v && *v)
		*out = v;
	return 0;
}

/* The environment: the image's Env, then --env in order, then defaults. */
static int build_env(struct strv *env, const struct lfs_image_config *cfg,
		     const struct lfs_chroot_opts *o)
{
	char sb[256];

	if (cfg && (cfg->bad & LFS_CONFIG_ENV)) {
		lfs_chroot_msg("image config: Env is not a list of strings");
		return -EINVAL;
	}
	for (size_t i = 0; cfg && i < cfg->env.n; i++) {
		const char *kv = cfg->env.v[i];

		if (!strchr(kv, '=') || kv[0] == '=') {
			lfs_warn("image config: Env entry '%s' is not NAME=VALUE: ignored",
				 lfs_show(kv, sb, sizeof(sb)));
			continue;
		}
		env_set(env, lfs_xstrdup(kv));
	}
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
static int build_argv(struct strv *argv, const struct lfs_image_config *cfg,
		      const struct lfs_chroot_opts *o)
{
	int rc = 0;

	if (o->entrypoint_given) {
		if (*o->entrypoint)
			strv_push(argv, lfs_xstrdup(o->entrypoint));
	} else if (cfg) {
		rc = config_words(cfg, LFS_CONFIG_ENTRYPOINT, argv);
	}
	if (rc < 0)
		return rc;
	if (o->cmd && o->cmd[0]) {
		for (char **a = o->cmd; *a; a++)
			strv_push(argv, lfs_xstrdup(*a));
	} else if (cfg && !o->entrypoint_given) {
		rc = config_words(cfg, LFS_CONFIG_CMD, argv);
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

int lfs_chroot_spec_build(struct lfs_chroot_spec *spec, const struct lfs_image_config *cfg,
			  const struct lfs_chroot_opts *o)
{
	struct strv argv = {0}, env = {0};
	const char *wd = NULL, *user = NULL;
	int rc;

	memset(spec, 0, sizeof(*spec));
	rc = build_argv(&argv, cfg, o);
	if (rc == 0)
		rc = build_env(&env, cfg, o);
	if (rc == 0 && cfg)
		rc = config_str(cfg, LFS_CONFIG_WORKING_DIR, &wd);
	if (rc == 0 && cfg)
		rc = config_str(cfg, LFS_CONFIG_USER, &user);
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
	return 0;
fail:
	strv_free(&argv);
	strv_free(&env);
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
