/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict parsing of the JSON documents of an image: the OCI layout marker,
 * index.json / image index / docker manifest list, image manifests (OCI and
 * docker v2) and docker-save manifest.json (the image config is in
 * image_config.c, with the helpers shared from here).  Every field
 * we use is type-checked, and every digest is checked for form before it
 * can become part of a path.  Platforms (the values of "platform" objects,
 * --platform, and this machine's) are parsed and compared here too.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "layerfs/lfs.h"
#include "image_int.h"

static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};

int lfs_json_bad(int err, const char *what, const char *fmt, ...)
{
	char msg[LFS_ERRMAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lfs_err_set("%s: %s", what, msg);
	return err;
}

const char *lfs_json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* A truncated field name is still clear enough. */
const char *lfs_json_fname(char buf[LFS_JSON_FIELD_MAX], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, LFS_JSON_FIELD_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

/* "CTX.KEY", or "KEY" at the top level. */
static const char *field(char buf[LFS_JSON_FIELD_MAX], const char *ctx, const char *key)
{
	return lfs_json_fname(buf, "%s%s%s", ctx, ctx[0] ? "." : "", key);
}

int lfs_json_load(json_t **out, const char *buf, size_t len, const char *what, json_type want)
{
	json_error_t e;
	json_t *j;

	if (len > LFS_JSON_MAX)
		return lfs_json_bad(-EFBIG, what, "too large (%zu bytes; the limit is %u MiB)", len,
				    LFS_JSON_MAX >> 20);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		return lfs_json_bad(-EINVAL, what, "not JSON: %s (line %d)", e.text, e.line);
	if (json_typeof(j) != want) {
		int ret =
		    lfs_json_bad(-EINVAL, what, "expected a JSON %s, got %s",
				 want == JSON_OBJECT ? "object" : "array", lfs_json_type_name(j));

		json_decref(j);
		return ret;
	}
	*out = j;
	return 0;
}

/*
 * J must be a string; NAME is the field for messages.  It holds no NUL:
 * json_loadb refuses "\u0000" unless asked for JSON_ALLOW_NUL.
 */
int lfs_json_str_value(const json_t *j, const char *what, const char *name, const char **out)
{
	if (!json_is_string(j))
		return lfs_json_bad(-EINVAL, what, "%s: expected a string, got %s", name,
				    lfs_json_type_name(j));
	*out = json_string_value(j);
	return 0;
}

/* Optional (or required) string member KEY of OBJ, copied to *out (NULL when absent). */
int lfs_json_get_str(const json_t *obj, const char *key, bool required, const char *what,
		     const char *ctx, char **out)
{
	const json_t *v = json_object_get(obj, key);
	char name[LFS_JSON_FIELD_MAX];
	const char *s = "";
	int ret;

	*out = NULL;
	field(name, ctx, key);
	if (!v) {
		if (required)
			return lfs_json_bad(-EINVAL, what, "%s: missing", name);
		return 0;
	}
	ret = lfs_json_str_value(v, what, name, &s);
	if (ret < 0)
		return ret;
	*out = lfs_xstrdup(s);
	return 0;
}

/* KEY of OBJ must be absent or of type TYPE; *out gets it or NULL. */
int lfs_json_get_typed(const json_t *obj, const char *key, json_type type, bool required,
		       const char *what, const char *ctx, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char name[LFS_JSON_FIELD_MAX];

	*out = NULL;
	field(name, ctx, key);
	if (!v) {
		if (required)
			return lfs_json_bad(-EINVAL, what, "%s: missing", name);
		return 0;
	}
	if (json_typeof(v) != type) {
		static const char *const names[] = {
		    [JSON_OBJECT] = "an object",
		    [JSON_ARRAY] = "an array",
		    [JSON_STRING] = "a string",
		    [JSON_INTEGER] = "an integer",
		};

		return lfs_json_bad(-EINVAL, what, "%s: expected %s, got %s", name, names[type],
				    lfs_json_type_name(v));
	}
	*out = v;
	return 0;
}

/* Every element of the array V must be a string. */
static int all_strings(const json_t *v, const char *what, const char *name)
{
	char el[LFS_JSON_FIELD_MAX];
	const json_t *x;
	const char *s = "";
	size_t i;
	int ret;

	json_array_foreach(v, i, x)
	{
		lfs_json_fname(el, "%s[%zu]", name, i);
		ret = lfs_json_str_value(x, what, el, &s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Every value of the object V must be a string. */
static int all_string_values(const json_t *v, const char *what, const char *name)
{
	char el[LFS_JSON_FIELD_MAX];
	const char *k, *s;
	const json_t *x;
	int ret;

	json_object_foreach((json_t *)v, k, x)
	{
		lfs_json_fname(el, "%s.%s", name, k);
		ret = lfs_json_str_value(x, what, el, &s);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int lfs_json_check_digest(const char *d, const char *what, const char *name)
{
	char shown[96];

	if (lfs_digest_check(d) < 0)
		return lfs_json_bad(
		    -EINVAL, what,
		    "%s: '%s' is not a well-formed digest (sha256: and 64 lowercase hex "
		    "digits)",
		    name, lfs_show(d, shown, sizeof(shown)));
	return 0;
}

void lfs_platform_clear(struct lfs_platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
	memset(p, 0, sizeof(*p));
}

static const struct {
	const char *machine, *arch, *variant;
} machines[] = {
    {"x86_64", "amd64", NULL},
    {"amd64", "amd64", NULL},
    {"i386", "386", NULL},
    {"i486", "386", NULL},
    {"i586", "386", NULL},
    {"i686", "386", NULL},
    {"aarch64", "arm64", "v8"},
    {"arm64", "arm64", "v8"},
    {"armv8l", "arm", "v7"},
    {"armv7l", "arm", "v7"},
    {"armv7", "arm", "v7"},
    {"armv6l", "arm", "v6"},
    {"armv5tel", "arm", "v5"},
    {"armv5l", "arm", "v5"},
    {"ppc64le", "ppc64le", NULL},
    {"ppc64", "ppc64", NULL},
    {"s390x", "s390x", NULL},
    {"riscv64", "riscv64", NULL},
    {"mips64", "mips64", NULL},
    {"mips64el", "mips64le", NULL},
    {"mips", "mips", NULL},
    {"mipsel", "mipsle", NULL},
    {"loongarch64", "loong64", NULL},
};

int lfs_platform_from_machine(struct lfs_platform *p, const char *machine)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->os = lfs_xstrdup("linux");
	for (i = 0; i < LFS_ARRAY_SIZE(machines); i++) {
		if (!strcmp(machine, machines[i].machine)) {
			p->arch = lfs_xstrdup(machines[i].arch);
			if (machines[i].variant)
				p->variant = lfs_xstrdup(machines[i].variant);
			return 0;
		}
	}
	p->arch = lfs_xstrdup(machine);
	return 0;
}

int lfs_platform_host(struct lfs_platform *p)
{
	struct utsname u;

	if (uname(&u) < 0) {
		int e = errno;

		lfs_err_set("uname: %s", strerror(e));
		return -e;
	}
	return lfs_platform_from_machine(p, u.machine);
}

int lfs_platform_parse(struct lfs_platform *p, const char *s)
{
	char *copy = lfs_xstrdup(s), *parts[4] = {0}, *save = NULL, *tok;
	size_t n = 0, i;
	char shown[96];

	memset(p, 0, sizeof(*p));
	for (tok = strtok_r(copy, "/", &save); tok && n < 4; tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	if (n < 2 || n > 3 || s[0] == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//")) {
		free(copy);
		lfs_err_set("platform '%s': expected os/arch or os/arch/variant",
			    lfs_show(s, shown, sizeof(shown)));
		return -EINVAL;
	}
	p->os = lfs_xstrdup(parts[0]);
	/* Accept the kernel's names for architectures too (x86_64, aarch64, armv7l). */
	for (i = 0; i < LFS_ARRAY_SIZE(machines); i++)
		if (!strcmp(parts[1], machines[i].machine))
			break;
	if (i < LFS_ARRAY_SIZE(machines)) {
		p->arch = lfs_xstrdup(machines[i].arch);
		if (n == 2 && machines[i].variant)
			p->variant = lfs_xstrdup(machines[i].variant);
	} else {
		p->arch = lfs_xstrdup(parts[1]);
	}
	if (n == 3)
		p->variant = lfs_xstrdup(parts[2]);
	free(copy);
	return 0;
}

const char *lfs_platform_str(const struct lfs_platform *p, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s%s%s", p->os, p->arch, p->variant ? "/" : "",
		 p->variant ? p->variant : "");
	return buf;
}

/* arm64 without a variant means v8, as containerd normalises it. */
static const char *variant_of(const struct lfs_platform *p)
{
	if (!p->variant && !strcmp(p->arch, "arm64"))
		return "v8";
	return p->variant;
}

int lfs_platform_score(const struct lfs_platform *have, const struct lfs_platform *want)
{
	const char *hv = variant_of(have), *wv = variant_of(want);

	if (strcmp(have->os, want->os) || strcmp(have->arch, want->arch))
		return 0;
	if ((!hv && !wv) || (hv && wv && !strcmp(hv, wv)))
		return 3;
	if (!hv || !wv)
		return 2;
	/* An arm v7 machine runs v6 and v5 code. */
	if (!strcmp(have->arch, "arm") && hv[0] == 'v' && wv[0] == 'v' && atoi(hv + 1) > 0 &&
	    atoi(hv + 1) <= atoi(wv + 1))
		return 1;
	return 0;
}

static void desc_clear(struct lfs_desc *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	free(d->image_name);
	lfs_strv_free(d->annotations);
	lfs_platform_clear(&d->platform);
	memset(d, 0, sizeof(*d));
}

static int parse_platform(const json_t *p, const char *what, const char *ctx,
			  struct lfs_platform *out)
{
	char name[LFS_JSON_FIELD_MAX];
	json_t *v;
	int ret;

	ret = lfs_json_get_str(p, "architecture", true, what, ctx, &out->arch);
	if (!ret)
		ret = lfs_json_get_str(p, "os", true, what, ctx, &out->os);
	if (!ret)
		ret = lfs_json_get_str(p, "variant", false, what, ctx, &out->variant);
	if (!ret)
		ret = lfs_json_get_typed(p, "os.version", JSON_STRING, false, what, ctx, &v);
	if (!ret)
		ret = lfs_json_get_typed(p, "os.features", JSON_ARRAY, false, what, ctx, &v);
	if (!ret && v)
		ret = all_strings(v, what, field(name, ctx, "os.features"));
	if (!ret)
		ret = lfs_json_get_typed(p, "features", JSON_ARRAY, false, what, ctx, &v);
	if (!ret && v)
		ret = all_strings(v, what, field(name, ctx, "features"));
	if (!ret && (!out->os[0] || !out->arch[0] || strchr(out->os, '/') ||
		     strchr(out->arch, '/') || (out->variant && strchr(out->variant, '/'))))
		ret = lfs_json_bad(-EINVAL, what, "%s: malformed platform", ctx);
	if (ret < 0)
		lfs_platform_clear(out);
	return ret;
}

/* An object of strings (checked) as key, value, ..., NULL; NULL when empty. */
static char **annotations(const json_t *v)
{
	size_t i = 0, n = json_object_size(v);
	const char *k;
	json_t *x;
	char **a;

	if (!n)
		return NULL;
	a = lfs_xcalloc(2 * n + 1, sizeof(*a));
	json_object_foreach((json_t *)v, k, x)
	{
		a[i++] = lfs_xstrdup(k);
		a[i++] = lfs_xstrdup(json_string_value(x));
	}
	return a;
}

void lfs_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

const char *lfs_layer_desc_annotation(const struct lfs_layer_desc *d, const char *key)
{
	for (size_t i = 0; d->annotations && d->annotations[i]; i += 2)
		if (!strcmp(d->annotations[i], key))
			return d->annotations[i + 1];
	return NULL;
}

void lfs_layer_desc_take_annotations(struct lfs_layer_desc *l, struct lfs_desc *d)
{
	l->annotations = d->annotations;
	d->annotations = NULL;
}

void lfs_image_annotations_free(struct lfs_image *img)
{
	/* A registry image's are its remote's (lfs_image_remote_free). */
	for (size_t i = 0; !img->remote && i < img->nlayers; i++) {
		lfs_strv_free(img->layers[i].annotations);
		img->layers[i].annotations = NULL;
	}
}

/* An OCI content descriptor at J; CTX names it ("layers[3]"). */
static int parse_desc(const json_t *j, const char *what, const char *ctx, struct lfs_desc *d)
{
	char name[LFS_JSON_FIELD_MAX];
	json_t *v;
	int ret;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return lfs_json_bad(-EINVAL, what, "%s: expected an object, got %s", ctx,
				    lfs_json_type_name(j));
	ret = lfs_json_get_str(j, "mediaType", true, what, ctx, &d->media_type);
	if (!ret)
		ret = lfs_json_get_str(j, "digest", true, what, ctx, &d->digest);
	if (!ret)
		ret = lfs_json_check_digest(d->digest, what, field(name, ctx, "digest"));
	if (!ret)
		ret = lfs_json_get_typed(j, "size", JSON_INTEGER, true, what, ctx, &v);
	if (!ret) {
		d->size = json_integer_value(v);
		if (d->size < 0)
			ret = lfs_json_bad(-EINVAL, what, "%s: negative size",
					   field(name, ctx, "size"));
	}
	if (!ret)
		ret = lfs_json_get_typed(j, "urls", JSON_ARRAY, false, what, ctx, &v);
	if (!ret && v)
		ret = all_strings(v, what, field(name, ctx, "urls"));
	if (!ret)
		ret = lfs_json_get_typed(j, "annotations", JSON_OBJECT, false, what, ctx, &v);
	if (!ret && v) {
		ret = all_string_values(v, what, field(name, ctx, "annotations"));
		if (!ret) {
			const json_t *r = json_object_get(v, "org.opencontainers.image.ref.name");
			const json_t *n = json_object_get(v, "io.containerd.image.name");

			d->ref_name = r ? lfs_xstrdup(json_string_value(r)) : NULL;
			d->image_name = n ? lfs_xstrdup(json_string_value(n)) : NULL;
			d->annotations = annotations(v);
		}
	}
	if (!ret)
		ret = lfs_json_get_typed(j, "platform", JSON_OBJECT, false, what, ctx, &v);
	if (!ret && v) {
		ret = parse_platform(v, what, field(name, ctx, "platform"), &d->platform);
		d->has_platform = ret == 0;
	}
	if (ret < 0)
		desc_clear(d);
	return ret;
}

static int schema_version_2(const json_t *j, const char *what)
{
	json_t *v;
	int ret = lfs_json_get_typed(j, "schemaVersion", JSON_INTEGER, true, what, "", &v);

	if (!ret && json_integer_value(v) != 2)
		ret = lfs_json_bad(-ENOTSUP, what, "schemaVersion %lld is not supported (only 2)",
				   (long long)json_integer_value(v));
	return ret;
}

int lfs_json_layout(const char *buf, size_t len, const char *what)
{
	char *version = NULL;
	json_t *j;
	int ret;

	ret = lfs_json_load(&j, buf, len, what, JSON_OBJECT);
	if (ret < 0)
		return ret;
	ret = lfs_json_get_str(j, "imageLayoutVersion", true, what, "", &version);
	if (!ret && strncmp(version, "1.", 2) != 0) {
		char shown[96];

		ret = lfs_json_bad(-ENOTSUP, what, "image layout version '%s' is not supported",
				   lfs_show(version, shown, sizeof(shown)));
	}
	free(version);
	json_decref(j);
	return ret;
}

int lfs_json_doc_kind(const char *media_type, const char *what)
{
	char shown[96];

	if (media_type &&
	    (!strcmp(media_type, LFS_MT_OCI_INDEX) || !strcmp(media_type, LFS_MT_DOCKER_LIST)))
		return LFS_DOC_INDEX;
	if (media_type && (!strcmp(media_type, LFS_MT_OCI_MANIFEST) ||
			   !strcmp(media_type, LFS_MT_DOCKER_MANIFEST)))
		return LFS_DOC_MANIFEST;
	return lfs_json_bad(-ENOTSUP, what, "unsupported manifest media type '%s'",
			    media_type ? lfs_show(media_type, shown, sizeof(shown)) : "(none)");
}

int lfs_json_index(const char *buf, size_t len, const char *what, struct lfs_index *out)
{
	struct lfs_index x = {0};
	char *mt = NULL;
	char ctx[LFS_JSON_FIELD_MAX];
	json_t *j, *arr, *el;
	size_t i;
	int ret;

	ret = lfs_json_load(&j, buf, len, what, JSON_OBJECT);
	if (ret < 0)
		return ret;
	ret = schema_version_2(j, what);
	if (!ret)
		ret = lfs_json_get_str(j, "mediaType", false, what, "", &mt);
	if (!ret && mt && lfs_json_doc_kind(mt, what) != LFS_DOC_INDEX)
		ret = lfs_json_bad(-EINVAL, what, "mediaType '%s' is not an image index", mt);
	if (!ret)
		ret = lfs_json_get_typed(j, "manifests", JSON_ARRAY, true, what, "", &arr);
	if (!ret)
		ret = lfs_json_get_typed(j, "annotations", JSON_OBJECT, false, what, "", &el);
	if (!ret && el)
		ret = all_string_values(el, what, "annotations");
	if (ret < 0)
		goto out;
	x.m = lfs_xcalloc(json_array_size(arr), sizeof(*x.m));
	json_array_foreach(arr, i, el)
	{
		lfs_json_fname(ctx, "manifests[%zu]", i);
		ret = parse_desc(el, what, ctx, &x.m[i]);
		if (ret < 0)
			goto out;
		x.n++;
	}
	*out = x;
	memset(&x, 0, sizeof(x));
out:
	lfs_index_clear(&x);
	free(mt);
	json_decref(j);
	return ret;
}

bool lfs_json_layer_type_ok(const char *media_type)
{
	size_t i;

	for (i = 0; i < LFS_ARRAY_SIZE(layer_types); i++)
		if (!strcmp(media_type, layer_types[i]))
			return true;
	return false;
}

int lfs_json_manifest(const char *buf, size_t len, const char *what, struct lfs_manifest *out)
{
	struct lfs_manifest m = {0};
	char ctx[LFS_JSON_FIELD_MAX], shown[96];
	json_t *j, *arr, *el;
	size_t i;
	int ret;

	ret = lfs_json_load(&j, buf, len, what, JSON_OBJECT);
	if (ret < 0)
		return ret;
	ret = schema_version_2(j, what);
	if (!ret)
		ret = lfs_json_get_str(j, "mediaType", false, what, "", &m.media_type);
	if (!ret && m.media_type && lfs_json_doc_kind(m.media_type, what) != LFS_DOC_MANIFEST)
		ret = lfs_json_bad(-EINVAL, what, "mediaType '%s' is not an image manifest",
				   lfs_show(m.media_type, shown, sizeof(shown)));
	if (!ret)
		ret = lfs_json_get_typed(j, "config", JSON_OBJECT, true, what, "", &el);
	if (!ret)
		ret = parse_desc(el, what, "config", &m.config);
	if (!ret && strcmp(m.config.media_type, LFS_MT_OCI_CONFIG) &&
	    strcmp(m.config.media_type, LFS_MT_DOCKER_CONFIG))
		ret = lfs_json_bad(-ENOTSUP, what, "not a container image: config media type '%s'",
				   lfs_show(m.config.media_type, shown, sizeof(shown)));
	if (!ret)
		ret = lfs_json_get_typed(j, "annotations", JSON_OBJECT, false, what, "", &el);
	if (!ret && el)
		ret = all_string_values(el, what, "annotations");
	if (!ret)
		ret = lfs_json_get_typed(j, "layers", JSON_ARRAY, true, what, "", &arr);
	if (ret < 0)
		goto out;
	m.layers = lfs_xcalloc(json_array_size(arr), sizeof(*m.layers));
	json_array_foreach(arr, i, el)
	{
		lfs_json_fname(ctx, "layers[%zu]", i);
		ret = parse_desc(el, what, ctx, &m.layers[i]);
		if (ret < 0)
			goto out;
		m.nlayers++;
		if (!lfs_json_layer_type_ok(m.layers[i].media_type)) {
			ret = lfs_json_bad(-ENOTSUP, what, "%s: unknown layer media type '%s'", ctx,
					   lfs_show(m.layers[i].media_type, shown, sizeof(shown)));
			goto out;
		}
	}
	*out = m;
	memset(&m, 0, sizeof(m));
out:
	lfs_manifest_clear(&m);
	json_decref(j);
	return ret;
}

int lfs_json_member_path(char *path)
{
	if (!path[0] || path[0] == '/' || lfs_tar_normalise(path) < 0 || !path[0])
		return -EINVAL;
	return 0;
}

/* A member path of manifest.json at V, checked and normalised into *out. */
static int member_path(const json_t *v, const char *what, const char *name, char **out)
{
	char shown[96];
	const char *s = "";
	int ret;

	ret = lfs_json_str_value(v, what, name, &s);
	if (ret < 0)
		return ret;
	*out = lfs_xstrdup(s);
	if (lfs_json_member_path(*out) < 0) {
		free(*out);
		*out = NULL;
		return lfs_json_bad(-EINVAL, what, "%s: '%s' is not a path inside the archive",
				    name, lfs_show(s, shown, sizeof(shown)));
	}
	return 0;
}

static void docker_image_clear(struct lfs_docker_image *d)
{
	size_t i;

	for (i = 0; i < d->ntags; i++)
		free(d->tags[i]);
	for (i = 0; i < d->nlayers; i++)
		free(d->layers[i]);
	free(d->tags);
	free(d->layers);
	free(d->config);
	memset(d, 0, sizeof(*d));
}

static int parse_docker_image(const json_t *j, const char *what, const char *ctx,
			      struct lfs_docker_image *d)
{
	char name[LFS_JSON_FIELD_MAX];
	json_t *v, *tags = NULL, *layers = NULL, *x;
	size_t i;
	int ret;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return lfs_json_bad(-EINVAL, what, "%s: expected an object, got %s", ctx,
				    lfs_json_type_name(j));
	v = json_object_get(j, "Config");
	if (!v)
		return lfs_json_bad(-EINVAL, what, "%s: missing", field(name, ctx, "Config"));
	ret = member_path(v, what, field(name, ctx, "Config"), &d->config);
	if (!ret && !json_is_null(json_object_get(j, "RepoTags")))
		ret = lfs_json_get_typed(j, "RepoTags", JSON_ARRAY, false, what, ctx, &tags);
	if (!ret && tags)
		ret = all_strings(tags, what, field(name, ctx, "RepoTags"));
	if (!ret)
		ret = lfs_json_get_typed(j, "Layers", JSON_ARRAY, true, what, ctx, &layers);
	if (!ret)
		ret = lfs_json_get_typed(j, "Parent", JSON_STRING, false, what, ctx, &v);
	if (!ret)
		ret = lfs_json_get_typed(j, "LayerSources", JSON_OBJECT, false, what, ctx, &v);
	if (ret < 0)
		goto out;
	d->tags = lfs_xcalloc(tags ? json_array_size(tags) : 0, sizeof(*d->tags));
	json_array_foreach(tags, i, x) d->tags[d->ntags++] = lfs_xstrdup(json_string_value(x));
	d->layers = lfs_xcalloc(json_array_size(layers), sizeof(*d->layers));
	json_array_foreach(layers, i, x)
	{
		char el[LFS_JSON_FIELD_MAX];

		lfs_json_fname(el, "%s[%zu]", field(name, ctx, "Layers"), i);
		ret = member_path(x, what, el, &d->layers[i]);
		if (ret < 0)
			goto out;
		d->nlayers++;
	}
	return 0;
out:
	docker_image_clear(d);
	return ret;
}

int lfs_json_docker(const char *buf, size_t len, const char *what, struct lfs_docker_manifest *out)
{
	struct lfs_docker_manifest d = {0};
	char ctx[LFS_JSON_FIELD_MAX];
	json_t *j, *el;
	size_t i;
	int ret;

	ret = lfs_json_load(&j, buf, len, what, JSON_ARRAY);
	if (ret < 0)
		return ret;
	d.img = lfs_xcalloc(json_array_size(j), sizeof(*d.img));
	json_array_foreach(j, i, el)
	{
		lfs_json_fname(ctx, "[%zu]", i);
		ret = parse_docker_image(el, what, ctx, &d.img[i]);
		if (ret < 0)
			goto out;
		d.n++;
	}
	*out = d;
	memset(&d, 0, sizeof(d));
out:
	lfs_docker_manifest_clear(&d);
	json_decref(j);
	return ret;
}

void lfs_index_clear(struct lfs_index *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		desc_clear(&x->m[i]);
	free(x->m);
	memset(x, 0, sizeof(*x));
}

void lfs_manifest_clear(struct lfs_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nlayers; i++)
		desc_clear(&m->layers[i]);
	free(m->layers);
	desc_clear(&m->config);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

void lfs_docker_manifest_clear(struct lfs_docker_manifest *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		docker_image_clear(&d->img[i]);
	free(d->img);
	memset(d, 0, sizeof(*d));
}
