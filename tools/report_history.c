/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which instruction of the image config's history made each layer, and the
 * config's rootfs.diff_ids for images whose manifest names only compressed
 * blobs (both from the config as the core parsed it): part of the analysis,
 * filling struct report's layers.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
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

static char *dup_or_null(const char *s)
{
	return s ? lfs_xstrdup(s) : NULL;
}

/*
 * History entries marked empty_layer (ENV, CMD, ...) made no layer; the
 * others match the layers in order, lowest first.  An entry that is not
 * an object, or lacks created_by, still stands for a layer.
 */
void report_history(struct report *r, const struct lfs_image_config *cfg)
{
	uint32_t k = 0;
	size_t i;

	if (!cfg)
		return;
	/* OCI manifests name compressed blobs: the config knows the content. */
	for (i = 0; i < cfg->diff_ids.n && i < r->nlayers; i++) {
		if (!r->layers[i].diff_id) {
			r->layers[i].config_diff_id = lfs_xstrdup(cfg->diff_ids.v[i]);
			r->layers[i].diff_id = r->layers[i].config_diff_id;
		}
	}
	for (i = 0; i < cfg->nhistory; i++) {
		const struct lfs_image_history *h = &cfg->history[i];
		struct report_layer *L;

		if (h->empty_layer)
			continue;
		if (k >= r->nlayers) {
			k++;
			continue;
		}
		L = &r->layers[k++];
		L->history_index = (int)i;
		L->created_by = dup_or_null(h->created_by);
		L->comment = dup_or_null(h->comment);
		if (L->created_by)
			L->instruction = instruction(L->created_by);
	}
	if (cfg->nhistory && k != r->nlayers) {
		lfs_warn("the image config's history lists %u layers, the image has %u: "
			 "instructions may be attributed to the wrong layers",
			 k, r->nlayers);
	}
}
