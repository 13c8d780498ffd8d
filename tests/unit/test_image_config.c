/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the typed image config (lib/image_config.c): every field,
 * fields missing, and wrong types: fatal where the image depends on the
 * field, flagged (and left empty) where only some tool uses it.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image_int.h"
#include "layerfs/lfs.h"

#define D1     "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2     "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define ROOTFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}"

static int parse(const char *json, struct lfs_image_config *c)
{
	memset(c, 0x5a, sizeof(*c)); /* what a failure leaves must not matter */
	lfs_err_clear();
	return lfs_json_config(json, strlen(json), "img.tar: cfg.json", c);
}

static void assert_strv(const struct lfs_image_strv *s, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	assert_int_equal(s->n, n);
	assert_non_null(s->v);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(s->v[i], want[i]);
	assert_null(s->v[n]);
}

static void test_all_fields(void **state)
{
	static const char *json =
	    "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
	    "\"config\":{\"Entrypoint\":[\"/init\",\"--x\"],\"Cmd\":[\"serve\"],"
	    "\"Env\":[\"PATH=/bin\",\"A=b=c\"],\"WorkingDir\":\"/srv\",\"User\":\"app:app\","
	    "\"Labels\":{\"org.x\":\"1\",\"b\":\"\"},"
	    "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}},"
	    "\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"ADD x /\","
	    "\"comment\":\"base\"},{\"created_by\":\"ENV A=b\",\"empty_layer\":true},"
	    "{\"created_by\":\"RUN y\",\"empty_layer\":false}]," ROOTFS "}";
	struct lfs_image_config c;

	(void)state;
	assert_int_equal(parse(json, &c), 0);
	assert_string_equal(c.architecture, "arm64");
	assert_string_equal(c.os, "linux");
	assert_string_equal(c.variant, "v8");
	assert_strv(&c.entrypoint, (const char *[]){"/init", "--x", NULL});
	assert_int_equal(c.entrypoint_shell, 0);
	assert_strv(&c.cmd, (const char *[]){"serve", NULL});
	assert_int_equal(c.cmd_shell, 0);
	assert_strv(&c.env, (const char *[]){"PATH=/bin", "A=b=c", NULL});
	assert_string_equal(c.working_dir, "/srv");
	assert_string_equal(c.user, "app:app");
	assert_int_equal(c.nlabels, 2);
	assert_string_equal(c.labels[0].key, "org.x");
	assert_string_equal(c.labels[0].value, "1");
	assert_string_equal(c.labels[1].key, "b");
	assert_string_equal(c.labels[1].value, "");
	assert_strv(&c.exposed_ports, (const char *[]){"80/tcp", "53/udp", NULL});
	assert_int_equal(c.nhistory, 3);
	assert_string_equal(c.history[0].created, "2024-01-01T00:00:00Z");
	assert_string_equal(c.history[0].created_by, "ADD x /");
	assert_string_equal(c.history[0].comment, "base");
	assert_int_equal(c.history[0].empty_layer, 0);
	assert_null(c.history[1].created);
	assert_string_equal(c.history[1].created_by, "ENV A=b");
	assert_null(c.history[1].comment);
	assert_int_equal(c.history[1].empty_layer, 1);
	assert_int_equal(c.history[2].empty_layer, 0);
	assert_strv(&c.diff_ids, (const char *[]){D1, D2, NULL});
	assert_int_equal(c.bad, 0);
	lfs_image_config_clear(&c);
	assert_null(c.history);
	assert_int_equal(c.diff_ids.n, 0);
}

/* The shell form: one string, kept as one word and marked. */
static void test_shell_form(void **state)
{
	struct lfs_image_config c;

	(void)state;
	assert_int_equal(
	    parse("{\"config\":{\"Entrypoint\":\"exec a b\",\"Cmd\":\"\"}," ROOTFS "}", &c), 0);
	assert_strv(&c.entrypoint, (const char *[]){"exec a b", NULL});
	assert_int_equal(c.entrypoint_shell, 1);
	assert_strv(&c.cmd, (const char *[]){"", NULL});
	assert_int_equal(c.cmd_shell, 1);
	assert_int_equal(c.bad, 0);
	lfs_image_config_clear(&c);
}

static void test_missing(void **state)
{
	static const char *const forms[] = {
	    "{" ROOTFS "}",
	    "{\"config\":null," ROOTFS "}",
	    "{\"config\":{}," ROOTFS "}",
	    "{\"config\":{\"Entrypoint\":null,\"Cmd\":null,\"Env\":null,\"WorkingDir\":null,"
	    "\"User\":null,\"Labels\":null,\"ExposedPorts\":null}," ROOTFS "}",
	};
	struct lfs_image_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_int_equal(parse(forms[i], &c), 0);
		assert_null(c.os);
		assert_null(c.architecture);
		assert_null(c.variant);
		assert_null(c.entrypoint.v);
		assert_null(c.cmd.v);
		assert_null(c.env.v);
		assert_null(c.working_dir);
		assert_null(c.user);
		assert_int_equal(c.nlabels, 0);
		assert_null(c.exposed_ports.v);
		assert_int_equal(c.nhistory, 0);
		assert_int_equal(c.diff_ids.n, 2);
		assert_int_equal(c.bad, 0);
		lfs_image_config_clear(&c);
	}
	/* empty lists stay lists (an empty Entrypoint is "none" to docker too) */
	assert_int_equal(parse("{\"config\":{\"Entrypoint\":[],\"Env\":[]},\"history\":[],"
			       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
			       &c),
			 0);
	assert_non_null(c.entrypoint.v);
	assert_int_equal(c.entrypoint.n, 0);
	assert_int_equal(c.env.n, 0);
	assert_int_equal(c.nhistory, 0);
	assert_int_equal(c.diff_ids.n, 0);
	lfs_image_config_clear(&c);
}

/* Fields only some tools use: a wrong type is flagged, the field left empty, the rest kept. */
static void test_wrong_types_flagged(void **state)
{
	static const struct {
		const char *config;
		unsigned bad;
	} cases[] = {
	    {"\"Entrypoint\":42", LFS_CONFIG_ENTRYPOINT},
	    {"\"Entrypoint\":{}", LFS_CONFIG_ENTRYPOINT},
	    {"\"Entrypoint\":[\"a\",1]", LFS_CONFIG_ENTRYPOINT},
	    {"\"Cmd\":true", LFS_CONFIG_CMD},
	    {"\"Cmd\":[null]", LFS_CONFIG_CMD},
	    {"\"Env\":\"A=1\"", LFS_CONFIG_ENV},
	    {"\"Env\":[\"A=1\",2]", LFS_CONFIG_ENV},
	    {"\"WorkingDir\":[\"/\"]", LFS_CONFIG_WORKING_DIR},
	    {"\"User\":0", LFS_CONFIG_USER},
	    {"\"Labels\":[]", LFS_CONFIG_LABELS},
	    {"\"ExposedPorts\":[\"80/tcp\"]", LFS_CONFIG_EXPOSED_PORTS},
	};
	struct lfs_image_config c;
	char json[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* with a good User and Cmd, unless the case is about them */
		snprintf(json, sizeof(json), "{\"config\":{%s%s%s}," ROOTFS "}",
			 cases[i].bad == LFS_CONFIG_USER ? "" : "\"User\":\"u\",",
			 cases[i].bad == LFS_CONFIG_CMD ? "" : "\"Cmd\":[\"c\"],", cases[i].config);
		if (parse(json, &c) != 0)
			fail_msg("%s: %s", cases[i].config, lfs_err_get());
		if (c.bad != cases[i].bad)
			fail_msg("%s: bad is %#x, want %#x", cases[i].config, c.bad, cases[i].bad);
		if (cases[i].bad == LFS_CONFIG_ENTRYPOINT)
			assert_null(c.entrypoint.v);
		if (cases[i].bad == LFS_CONFIG_ENV)
			assert_null(c.env.v);
		if (cases[i].bad == LFS_CONFIG_WORKING_DIR)
			assert_null(c.working_dir);
		if (cases[i].bad != LFS_CONFIG_CMD)
			assert_strv(&c.cmd, (const char *[]){"c", NULL});
		else
			assert_null(c.cmd.v);
		if (cases[i].bad != LFS_CONFIG_USER)
			assert_string_equal(c.user, "u");
		else
			assert_null(c.user);
		assert_int_equal(c.diff_ids.n, 2);
		lfs_image_config_clear(&c);
	}
	/* a label that is not a string is left out, the others kept */
	assert_int_equal(parse("{\"config\":{\"Labels\":{\"a\":1,\"b\":\"2\"}}," ROOTFS "}", &c),
			 0);
	assert_int_equal(c.bad, LFS_CONFIG_LABELS);
	assert_int_equal(c.nlabels, 1);
	assert_string_equal(c.labels[0].key, "b");
	lfs_image_config_clear(&c);
}

/*
 * The history's entries: each counts as one (the report pairs them with
 * layers), whatever is wrong inside it.
 */
static void test_history_loose(void **state)
{
	struct lfs_image_config c;

	(void)state;
	assert_int_equal(
	    parse("{\"history\":[1,{\"created_by\":2,\"comment\":\"c\","
		  "\"empty_layer\":\"true\"},{\"created\":null,\"empty_layer\":1}]," ROOTFS "}",
		  &c),
	    0);
	assert_int_equal(c.bad, LFS_CONFIG_HISTORY);
	assert_int_equal(c.nhistory, 3);
	assert_null(c.history[0].created_by);
	assert_int_equal(c.history[0].empty_layer, 0);
	assert_null(c.history[1].created_by);
	assert_string_equal(c.history[1].comment, "c");
	/* only JSON true makes an empty layer */
	assert_int_equal(c.history[1].empty_layer, 0);
	assert_null(c.history[2].created);
	assert_int_equal(c.history[2].empty_layer, 0);
	lfs_image_config_clear(&c);
}

/* What the image depends on: the open fails, naming the field. */
static void test_wrong_types_fatal(void **state)
{
	static const struct {
		const char *json;
		int err;
		const char *msg;
	} cases[] = {
	    {"[]", -EINVAL, "expected a JSON object, got an array"},
	    {"{", -EINVAL, "not JSON"},
	    {"{\"architecture\":1," ROOTFS "}", -EINVAL, "architecture: expected a string"},
	    {"{\"os\":null," ROOTFS "}", -EINVAL, "os: expected a string, got null"},
	    {"{\"variant\":[]," ROOTFS "}", -EINVAL, "variant: expected a string"},
	    {"{\"config\":[]," ROOTFS "}", -EINVAL, "config: expected an object, got an array"},
	    {"{\"history\":{}," ROOTFS "}", -EINVAL, "history: expected an array"},
	    {"{\"history\":null," ROOTFS "}", -EINVAL, "history: expected an array, got null"},
	    {"{}", -EINVAL, "rootfs: missing"},
	    {"{\"rootfs\":[]}", -EINVAL, "rootfs: expected an object"},
	    {"{\"rootfs\":{\"diff_ids\":[]}}", -EINVAL, "rootfs.type: missing"},
	    {"{\"rootfs\":{\"type\":\"x\",\"diff_ids\":[]}}", -ENOTSUP,
	     "rootfs.type 'x' is not supported"},
	    {"{\"rootfs\":{\"type\":\"layers\"}}", -EINVAL, "rootfs.diff_ids: missing"},
	    {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",3]}}", -EINVAL,
	     "rootfs.diff_ids[1]: expected a string, got an integer"},
	    {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:12\"]}}", -EINVAL,
	     "rootfs.diff_ids[0]: 'sha256:12' is not a well-formed digest"},
	    {"{\"os\":\"a\",\"os\":\"b\"," ROOTFS "}", -EINVAL, "duplicate"},
	};
	struct lfs_image_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = parse(cases[i].json, &c);

		if (ret != cases[i].err || strncmp(lfs_err_get(), "img.tar: cfg.json: ", 19) ||
		    !strstr(lfs_err_get(), cases[i].msg))
			fail_msg("%s: returned %d (%s), want %d and \"%s\"", cases[i].json, ret,
				 lfs_err_get(), cases[i].err, cases[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_fields),	  cmocka_unit_test(test_shell_form),
	    cmocka_unit_test(test_missing),	  cmocka_unit_test(test_wrong_types_flagged),
	    cmocka_unit_test(test_history_loose), cmocka_unit_test(test_wrong_types_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
