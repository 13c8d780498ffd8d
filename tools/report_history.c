/*
 * Which instruction of the image config's history made each layer, and the
 * config's rootfs.diff_ids for images whose manifest names only compressed
 * blobs: part of the analysis, filling struct report's layers.
 */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lfs.h"
#include "report.h"

/*
 * "/bin/sh -c #(nop)  ADD file:.. in /" -> "ADD file:.. in /",
 * "|2 A=1 B=2 /bin/sh -c make" -> "RUN make", BuildKit's "RUN /bin/sh -c x
 * # buildkit" -> "RUN x"; runs of white space become one space.
 */
static char *instruction(const char *cb)
{
	const char *s = cb;
	char *out, *o;
	size_t n;
	int run = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '|' && isdigit((unsigned char)s[1])) {
		long args = strtol(s + 1, (char **)&s, 10);

		for (long i = 0; i <= args && *s; i++) {
			while (*s == ' ')
				s++;
			if (i < args)
				while (*s && *s != ' ')
					s++;
		}
	}
	if (!strncmp(s, "RUN /bin/sh -c ", 15))
		s += 4;
	if (!strncmp(s, "/bin/sh -c ", 11)) {
		s += 11;
		while (*s == ' ')
			s++;
		if (!strncmp(s, "#(nop)", 6)) {
			s += 6;
			while (*s == ' ')
				s++;
		} else {
			run = 1;
		}
	}
	n = strlen(s);
	if (n >= 11 && !strcmp(s + n - 11, " # buildkit"))
		n -= 11;
	out = o = lfs_xmalloc(n + 5);
	if (run)
		o = stpcpy(o, "RUN ");
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)s[i])) {
			if (o > out && o[-1] != ' ')
				*o++ = ' ';
			continue;
		}
		*o++ = s[i];
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

static char *dup_string(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? lfs_xstrdup(s) : NULL;
}

/*
 * History entries marked empty_layer (ENV, CMD, ...) made no layer; the
 * others match the layers in order, lowest first.
 */
void report_history(struct report *r, const char *config, size_t len)
{
	json_error_t err;
	json_t *root, *hist, *ids;
	uint32_t k = 0;
	size_t i;

	if (!config)
		return;
	root = json_loadb(config, len, 0, &err);
	if (!root) {
		lfs_warn("image config: line %d: %s", err.line, err.text);
		return;
	}
	/* OCI manifests name compressed blobs: the config knows the content. */
	ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	for (i = 0; i < json_array_size(ids) && i < r->nlayers; i++) {
		const char *id = json_string_value(json_array_get(ids, i));

		if (id && !r->layers[i].diff_id) {
			r->layers[i].config_diff_id = lfs_xstrdup(id);
			r->layers[i].diff_id = r->layers[i].config_diff_id;
		}
	}
	hist = json_object_get(root, "history");
	for (i = 0; i < json_array_size(hist); i++) {
		json_t *h = json_array_get(hist, i);
		struct report_layer *L;

		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (k >= r->nlayers) {
			k++;
			continue;
		}
		L = &r->layers[k++];
		L->history_index = (int)i;
		L->created_by = dup_string(h, "created_by");
		L->comment = dup_string(h, "comment");
		if (L->created_by)
			L->instruction = instruction(L->created_by);
	}
	if (json_array_size(hist) && k != r->nlayers) {
		lfs_warn("the image config's history lists %u layers, the image has %u: "
			 "instructions may be attributed to the wrong layers",
			 k, r->nlayers);
	}
	json_decref(root);
}
