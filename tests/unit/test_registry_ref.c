/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the registry client's parsers, with no network:
 * docker:// references (docker.io's defaults, hosts, tags, digests, and
 * what is refused), WWW-Authenticate challenges, and credentials from auth
 * files (the order of the files, the spellings of a host's key).
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs/lfs.h"
#include "registry_int.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_ref(const char *s, const char *host, const char *repo, const char *tag,
		       const char *digest)
{
	struct lfs_registry_ref r;
	int rc = lfs_registry_ref_parse(s, &r);

	if (rc)
		fail_msg("%s: %s", s, lfs_err_get());
	assert_string_equal(r.host, host);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	assert_string_equal(r.name, s + strlen("docker://"));
	lfs_registry_ref_clear(&r);
}

static void expect_bad(const char *s, const char *why)
{
	struct lfs_registry_ref r;
	int rc = lfs_registry_ref_parse(s, &r);

	if (rc != -EINVAL)
		fail_msg("%s: accepted (or %d), expected -EINVAL", s, rc);
	if (!strstr(lfs_err_get(), why))
		fail_msg("%s: message \"%s\" lacks \"%s\"", s, lfs_err_get(), why);
	assert_null(r.host);
	assert_null(r.repo);
}

static void test_ref_good(void **state)
{
	(void)state;
	expect_ref("docker://busybox", "registry-1.docker.io", "library/busybox", "latest", NULL);
	expect_ref("docker://busybox:1.36", "registry-1.docker.io", "library/busybox", "1.36",
		   NULL);
	expect_ref("docker://docker.io/busybox", "registry-1.docker.io", "library/busybox",
		   "latest", NULL);
	expect_ref("docker://index.docker.io/library/debian:bookworm", "registry-1.docker.io",
		   "library/debian", "bookworm", NULL);
	expect_ref("docker://docker.io/user/app:v1", "registry-1.docker.io", "user/app", "v1",
		   NULL);
	expect_ref("docker://user/app", "registry-1.docker.io", "user/app", "latest", NULL);
	expect_ref("docker://127.0.0.1:5000/lfs/img:v1", "127.0.0.1:5000", "lfs/img", "v1", NULL);
	expect_ref("docker://localhost/img", "localhost", "img", "latest", NULL);
	expect_ref("docker://quay.io/a/b/c-d__e.f:T_a.g-1", "quay.io", "a/b/c-d__e.f", "T_a.g-1",
		   NULL);
	expect_ref("docker://ghcr.io/o/r@sha256:" D64, "ghcr.io", "o/r", NULL, "sha256:" D64);
	expect_ref("docker://busybox@sha256:" D64, "registry-1.docker.io", "library/busybox", NULL,
		   "sha256:" D64);
	expect_ref("docker://h.example:443/a---b", "h.example:443", "a---b", "latest", NULL);
	/* 128 characters of tag is the limit */
	expect_ref("docker://x/y:"
		   "a123456789012345678901234567890123456789012345678901234567890123456789"
		   "0123456789012345678901234567890123456789012345678901234567",
		   "registry-1.docker.io", "x/y",
		   "a123456789012345678901234567890123456789012345678901234567890123456789"
		   "0123456789012345678901234567890123456789012345678901234567",
		   NULL);
}

static void test_ref_bad(void **state)
{
	(void)state;
	expect_bad("busybox", "not a docker:// reference");
	expect_bad("oci:busybox", "not a docker:// reference");
	expect_bad("docker://", "repository");
	expect_bad("docker://Busybox", "repository");
	expect_bad("docker://quay.io/Org/app", "repository");
	expect_bad("docker://quay.io//app", "repository");
	expect_bad("docker://quay.io/app/", "repository");
	expect_bad("docker://a/-b", "repository");
	expect_bad("docker://a/b_", "repository");
	expect_bad("docker://a/b___c", "repository");
	expect_bad("docker://a/b..c", "repository");
	expect_bad("docker://quay.io/", "repository");
	expect_bad("docker://busybox:", "tag");
	expect_bad("docker://busybox:.x", "tag");
	expect_bad("docker://busybox:-x", "tag");
	expect_bad("docker://busybox:a+b", "tag");
	expect_bad("docker://x/y:"
		   "a123456789012345678901234567890123456789012345678901234567890123456789"
		   "01234567890123456789012345678901234567890123456789012345678",
		   "tag");
	expect_bad("docker://busybox@sha256:abc", "digest");
	expect_bad("docker://busybox@sha256:" D64 "0", "digest");
	expect_bad("docker://busybox@md5:" D64, "digest");
	expect_bad("docker://busybox@SHA256:" D64, "digest");
	expect_bad("docker://busybox:1@sha256:" D64, "both a tag and a digest");
	expect_bad("docker://host:port/x", "host");
	expect_bad("docker://host:5000:1/x", "host");
	expect_bad("docker://.host.io/x", "host");
	expect_bad("docker://ho_st.io/x", "host");
	expect_bad("docker://a/b\n", "repository");
}

static void expect_chall(const char *hdr, const char *scheme, const char *realm,
			 const char *service, const char *scope)
{
	struct lfs_www_auth a;

	if (lfs_www_auth_parse(hdr, &a))
		fail_msg("%s: refused", hdr);
	assert_string_equal(a.scheme, scheme);
#define CHECK(f)                                                                                   \
	if (f)                                                                                     \
		assert_string_equal(a.f, f);                                                       \
	else                                                                                       \
		assert_null(a.f);
	CHECK(realm);
	CHECK(service);
	CHECK(scope);
#undef CHECK
	lfs_www_auth_clear(&a);
}

static void test_www_auth(void **state)
{
	struct lfs_www_auth a;

	(void)state;
	expect_chall("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		     "scope=\"repository:library/busybox:pull\"",
		     "Bearer", "https://auth.docker.io/token", "registry.docker.io",
		     "repository:library/busybox:pull");
	expect_chall("Bearer realm=\"http://127.0.0.1:1/token\", service=\"s\", "
		     "scope=\"repository:a:pull repository:b:pull\", error=\"invalid_token\"",
		     "Bearer", "http://127.0.0.1:1/token", "s",
		     "repository:a:pull repository:b:pull");
	/* quoted-pair, a token value, other case, the order */
	expect_chall("bearer scope=x,REALM=\"r\\\"q\"", "bearer", "r\"q", NULL, "x");
	expect_chall("Basic realm=\"Registry Realm\"", "Basic", "Registry Realm", NULL, NULL);
	expect_chall("Basic", "Basic", NULL, NULL, NULL);
	/* a second challenge ends the first */
	expect_chall("Bearer realm=\"a\",service=\"b\", Basic realm=\"c\"", "Bearer", "a", "b",
		     NULL);
	assert_int_equal(lfs_www_auth_parse("", &a), -EINVAL);
	assert_int_equal(lfs_www_auth_parse("Bearer realm=\"unterminated", &a), -EINVAL);
	assert_int_equal(lfs_www_auth_parse("Bearer service=\"no realm\"", &a), -EINVAL);
	assert_int_equal(lfs_www_auth_parse("Bearer realm=\"a\" junk", &a), -EINVAL);
}

static char tmp[256];

static void write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_creds(const char *authfile, const char *host, const char *user, const char *pass)
{
	char *u = NULL, *p = NULL;
	int rc = lfs_registry_creds(authfile, host, &u, &p);

	if (rc)
		fail_msg("%s: %d %s", host, rc, lfs_err_get());
	assert_string_equal(u, user);
	assert_string_equal(p, pass);
	free(u);
	free(p);
}

static void expect_no_creds(const char *authfile, const char *host, int want)
{
	char *u = NULL, *p = NULL;
	int rc = lfs_registry_creds(authfile, host, &u, &p);

	if (rc != want)
		fail_msg("%s: %d (%s), expected %d", host, rc, lfs_err_get(), want);
	assert_null(u);
	assert_null(p);
}

static void test_creds(void **state)
{
	char a[512], xdg[512], home[512];

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/test_registry_ref.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmp);
	snprintf(home, sizeof(home), "%s/home", tmp);
	snprintf(a, sizeof(a), "%s/xdg/containers", tmp);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(home, 0700), 0);
	snprintf(a, sizeof(a), "%s/home/.docker", tmp);
	assert_int_equal(mkdir(a, 0700), 0);

	/* base64("alice:s3cr:et") = YWxpY2U6czNjcjpldA==, ("bob:pw") = Ym9iOnB3 */
	write_file("a.json", "{\"auths\": {"
			     "\"127.0.0.1:5000\": {\"auth\": \"YWxpY2U6czNjcjpldA==\"},"
			     "\"https://quay.io\": {\"auth\": \"Ym9iOnB3\"},"
			     "\"https://index.docker.io/v1/\": {\"auth\": \"Ym9iOnB3\"},"
			     "\"plain.io\": {\"username\": \"u\", \"password\": \"p\"},"
			     "\"bad.io\": {\"auth\": \"!!!\"},"
			     "\"nocolon.io\": {\"auth\": \"Ym9i\"},"
			     "\"helper.io\": {}}}");
	snprintf(a, sizeof(a), "%s/a.json", tmp);
	expect_creds(a, "127.0.0.1:5000", "alice", "s3cr:et");
	expect_creds(a, "quay.io", "bob", "pw");
	expect_creds(a, "registry-1.docker.io", "bob", "pw");
	expect_creds(a, "plain.io", "u", "p");
	expect_no_creds(a, "127.0.0.1:5001", -ENOENT);
	expect_no_creds(a, "127.0.0.1", -ENOENT);
	expect_no_creds(a, "helper.io", -ENOENT);
	expect_no_creds(a, "bad.io", -EINVAL);
	expect_no_creds(a, "nocolon.io", -EINVAL);
	write_file("b.json", "{\"auths\": [");
	snprintf(a, sizeof(a), "%s/b.json", tmp);
	expect_no_creds(a, "quay.io", -EINVAL);
	snprintf(a, sizeof(a), "%s/missing.json", tmp);
	expect_no_creds(a, "quay.io", -EINVAL); /* named explicitly: must exist */

	/* The order of the default files: $REGISTRY_AUTH_FILE, XDG, ~/.docker. */
	write_file("xdg/containers/auth.json",
		   "{\"auths\": {\"quay.io\": {\"auth\": \"YWxpY2U6czNjcjpldA==\"}}}");
	write_file("home/.docker/config.json", "{\"auths\": {\"quay.io\": {\"auth\": \"Ym9iOnB3\"},"
					       "\"docker.io\": {\"auth\": \"Ym9iOnB3\"}}}");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	setenv("HOME", home, 1);
	unsetenv("REGISTRY_AUTH_FILE");
	expect_creds(NULL, "quay.io", "alice", "s3cr:et");
	/* a file without the host's entry passes on to the next */
	expect_creds(NULL, "registry-1.docker.io", "bob", "pw");
	snprintf(a, sizeof(a), "%s/a.json", tmp);
	setenv("REGISTRY_AUTH_FILE", a, 1);
	expect_creds(NULL, "quay.io", "bob", "pw");
	expect_creds(NULL, "127.0.0.1:5000", "alice", "s3cr:et");
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("XDG_RUNTIME_DIR", "/nonexistent", 1);
	expect_creds(NULL, "quay.io", "bob", "pw");
	setenv("HOME", "/nonexistent", 1);
	expect_no_creds(NULL, "quay.io", -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ref_good),
	    cmocka_unit_test(test_ref_bad),
	    cmocka_unit_test(test_www_auth),
	    cmocka_unit_test(test_creds),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[512];

	if (tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", tmp);
	}
	return rc;
}
