/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the parsers of an image's JSON documents and the small
 * string functions next to them.  The first input byte picks what is fed the
 * rest: 0 oci-layout, 1 index.json / manifest list, 2 image manifest,
 * 3 docker-save manifest.json, 4 image config, 5 the string functions
 * (media types, member paths, digests, platforms), 6 a published layerfs
 * index (its manifest, checked against a fixed two-layer image).  The document is handed
 * over without a terminating NUL, as the parsers take (buffer, length).
 * Whatever a parser accepts must hold what its callers rely on: well-formed
 * digests (they become blob paths), normalised member paths, no "..".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "image_int.h"
#include "index_artifact.h"
#include "layerfs/lfs.h"

#define WHAT "fuzz.json"

static void check_digest(const char *d, const char *field)
{
	if (!d || lfs_digest_check(d) < 0)
		fuzz_fail("accepted %s '%s' is not a well-formed digest", field, d ? d : "(null)");
}

static void check_member_path(const char *p, const char *field)
{
	char *copy;

	if (!p || !*p || p[0] == '/' || !strcmp(p, "..") || !strncmp(p, "../", 3) ||
	    strstr(p, "/../") || (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		fuzz_fail("accepted %s '%s' is not a path inside the archive", field,
			  p ? p : "(null)");
	copy = lfs_xstrdup(p);
	if (lfs_json_member_path(copy) < 0 || strcmp(copy, p))
		fuzz_fail("accepted %s '%s' is not normalised ('%s')", field, p, copy);
	free(copy);
}

static void check_platform(const struct lfs_platform *p)
{
	if (!p->os || !p->arch)
		fuzz_fail("platform without os or architecture");
}

static void parse_index(const char *buf, size_t len)
{
	struct lfs_index x = {0};
	int rc = lfs_json_index(buf, len, WHAT, &x);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_json_index");
		return;
	}
	for (size_t i = 0; i < x.n; i++) {
		check_digest(x.m[i].digest, "manifests[].digest");
		if (x.m[i].size < 0)
			fuzz_fail("accepted a negative size");
		if (x.m[i].has_platform)
			check_platform(&x.m[i].platform);
		lfs_err_clear();
		if (lfs_json_doc_kind(x.m[i].media_type, WHAT) < 0)
			fuzz_check_err(-1, WHAT, "lfs_json_doc_kind");
	}
	lfs_index_clear(&x);
}

static void parse_manifest(const char *buf, size_t len)
{
	struct lfs_manifest m = {0};
	int rc = lfs_json_manifest(buf, len, WHAT, &m);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_json_manifest");
		return;
	}
	check_digest(m.config.digest, "config.digest");
	for (size_t i = 0; i < m.nlayers; i++) {
		check_digest(m.layers[i].digest, "layers[].digest");
		if (m.layers[i].size < 0)
			fuzz_fail("accepted a negative layer size");
		if (m.layers[i].media_type)
			lfs_json_layer_type_ok(m.layers[i].media_type);
	}
	lfs_manifest_clear(&m);
}

static void parse_docker(const char *buf, size_t len)
{
	struct lfs_docker_manifest d = {0};
	int rc = lfs_json_docker(buf, len, WHAT, &d);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_json_docker");
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		check_member_path(d.img[i].config, "Config");
		for (size_t j = 0; j < d.img[i].nlayers; j++)
			check_member_path(d.img[i].layers[j], "Layers[]");
		for (size_t j = 0; j < d.img[i].ntags; j++)
			if (!d.img[i].tags[j])
				fuzz_fail("NULL tag");
	}
	lfs_docker_manifest_clear(&d);
}

static void parse_config(const char *buf, size_t len)
{
	struct lfs_image_config c = {0};
	int rc = lfs_json_config(buf, len, WHAT, &c);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_json_config");
		return;
	}
	for (size_t i = 0; i < c.diff_ids.n; i++)
		check_digest(c.diff_ids.v[i], "rootfs.diff_ids[]");
	lfs_image_config_clear(&c);
}

/* The string helpers, on the input as a C string. */
static void strings(const char *buf, size_t len)
{
	char *s = lfs_xmalloc(len + 1), *copy, shown[24], str[256];
	struct lfs_platform p, q, m;
	uint8_t sha[32];
	char fmt[72];
	int rc;

	memcpy(s, buf, len);
	s[len] = '\0';
	lfs_json_doc_kind(s, WHAT);
	lfs_json_layer_type_ok(s);
	lfs_show(s, shown, sizeof(shown));
	if (strlen(shown) >= sizeof(shown))
		fuzz_fail("lfs_show overflowed");
	copy = lfs_xstrdup(s);
	if (lfs_json_member_path(copy) == 0)
		check_member_path(copy, "member path");
	strcpy(copy, s);
	if (lfs_tar_normalise(copy) == 0 && strstr(copy, "//"))
		fuzz_fail("lfs_tar_normalise('%s') left '%s'", s, copy);
	free(copy);
	rc = lfs_digest_check(s);
	if (lfs_digest_parse(s, sha) == 0) {
		if (rc != LFS_DIGEST_SHA256)
			fuzz_fail("lfs_digest_parse took what lfs_digest_check does not");
		lfs_digest_format(sha, fmt);
		if (strcmp(fmt, s))
			fuzz_fail("digest '%s' parsed and formatted back is '%s'", s, fmt);
	}
	lfs_err_clear();
	rc = lfs_platform_parse(&p, s);
	if (rc == 0) {
		check_platform(&p);
		lfs_platform_str(&p, str, sizeof(str));
		if (strlen(s) < 200 && lfs_platform_parse(&q, str) == 0) {
			if (lfs_platform_score(&p, &q) <= 0 || lfs_platform_score(&q, &p) <= 0)
				fuzz_fail("platform '%s' does not match itself", s);
			lfs_platform_clear(&q);
		}
		if (lfs_platform_from_machine(&m, "x86_64") == 0) {
			lfs_platform_score(&p, &m);
			lfs_platform_score(&m, &p);
			lfs_platform_clear(&m);
		}
		lfs_platform_clear(&p);
	} else {
		fuzz_check_err(rc, NULL, "lfs_platform_parse");
	}
	if (lfs_platform_from_machine(&m, s) == 0)
		lfs_platform_clear(&m);
	free(s);
}

/* What the artifact loader accepts are parts it will fetch: sha256 blobs of a bounded size. */
static void parse_artifact(const char *buf, size_t len)
{
	static char d1[] =
	    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	static char d2[] =
	    "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	static char md[] =
	    "sha256:3333333333333333333333333333333333333333333333333333333333333333";
	struct lfs_layer_desc layers[2] = {{.digest = d1, .fd = -1}, {.digest = d2, .fd = -1}};
	struct lfs_image img = {.nlayers = 2, .layers = layers, .manifest_digest = md};
	struct lfs_index_part idx[2], scr[2];
	int rc = lfs_index_artifact_parse(buf, len, WHAT, &img, idx, scr);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_index_artifact_parse");
		return;
	}
	for (int i = 0; i < 2; i++) {
		check_digest(idx[i].digest, "an index part's digest");
		if (scr[i].digest[0])
			check_digest(scr[i].digest, "a scratch part's digest");
		if (idx[i].size > (1ULL << 30) || scr[i].size > (1ULL << 30))
			fuzz_fail("accepted a part of %llu bytes",
				  (unsigned long long)(idx[i].size > scr[i].size ? idx[i].size
										 : scr[i].size));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	size_t len;

	if (size < 1)
		return 0;
	/* An exact-size copy: reading past the length is caught by ASan. */
	len = size - 1;
	buf = lfs_xmalloc(len ? len : 1);
	memcpy(buf, data + 1, len);
	lfs_err_clear();
	switch (data[0] % 7) {
	case 0: {
		int rc = lfs_json_layout(buf, len, WHAT);

		if (rc)
			fuzz_check_err(rc, WHAT, "lfs_json_layout");
		break;
	}
	case 1:
		parse_index(buf, len);
		break;
	case 2:
		parse_manifest(buf, len);
		break;
	case 3:
		parse_docker(buf, len);
		break;
	case 4:
		parse_config(buf, len);
		break;
	case 5:
		strings(buf, len);
		break;
	case 6:
		parse_artifact(buf, len);
		break;
	}
	free(buf);
	return 0;
}
