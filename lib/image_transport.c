/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SOURCE in the containers-transports spelling (skopeo, podman, buildah):
 * "docker://...", "oci:PATH[:REF]", "oci-archive:PATH[:REF]" and
 * "docker-archive:PATH[:REF]", split here and nowhere else.  Only these four
 * names are transports: anything else, "a:b.tar" or "/x/y:z" included, is a
 * plain path detected by content, as before.  Like skopeo, a transport name
 * always wins: a file named "oci:x" is "./oci:x".  PATH ends at the first
 * ':' after the transport (containers/image splits so), so REF may hold
 * ':' ("name:tag").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "image_int.h"

static const struct {
	const char *prefix; /* with its ':' */
	enum lfs_transport t;
} transports[] = {
    {"docker:", LFS_TRANSPORT_DOCKER},
    {"oci:", LFS_TRANSPORT_OCI},
    {"oci-archive:", LFS_TRANSPORT_OCI_ARCHIVE},
    {"docker-archive:", LFS_TRANSPORT_DOCKER_ARCHIVE},
};

const char *lfs_transport_name(enum lfs_transport t)
{
	switch (t) {
	case LFS_TRANSPORT_NONE:
		return "path";
	case LFS_TRANSPORT_DOCKER:
		return "docker";
	case LFS_TRANSPORT_OCI:
		return "oci";
	case LFS_TRANSPORT_OCI_ARCHIVE:
		return "oci-archive";
	case LFS_TRANSPORT_DOCKER_ARCHIVE:
		return "docker-archive";
	}
	return "unknown";
}

int lfs_transport_parse(const char *s, struct lfs_transport_src *out)
{
	char shown[128];
	const char *rest = NULL, *colon;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < LFS_ARRAY_SIZE(transports) && !rest; i++) {
		if (!strncmp(s, transports[i].prefix, strlen(transports[i].prefix))) {
			out->t = transports[i].t;
			rest = s + strlen(transports[i].prefix);
		}
	}
	if (!rest) {
		out->path = lfs_xstrdup(s);
		return 0;
	}
	if (out->t == LFS_TRANSPORT_DOCKER) {
		/* The reference itself is the registry client's to check (registry_ref.c). */
		if (strncmp(rest, "//", 2) || !rest[2]) {
			lfs_err_set(
			    "%s: a registry image is written docker://[HOST[:PORT]/]REPO[:TAG|@"
			    "DIGEST]",
			    lfs_show(s, shown, sizeof(shown)));
			return -EINVAL;
		}
		out->path = lfs_xstrdup(s);
		return 0;
	}
	colon = strchr(rest, ':');
	if (rest == colon || !*rest) {
		lfs_err_set("%s: no PATH after '%s:'", lfs_show(s, shown, sizeof(shown)),
			    lfs_transport_name(out->t));
		return -EINVAL;
	}
	if (colon && !colon[1]) {
		lfs_err_set("%s: empty REF after PATH (%s:PATH[:REF])",
			    lfs_show(s, shown, sizeof(shown)), lfs_transport_name(out->t));
		return -EINVAL;
	}
	out->path = lfs_xstrdup(rest);
	if (colon)
		out->path[colon - rest] = '\0';
	out->ref = colon ? lfs_xstrdup(colon + 1) : NULL;
	return 0;
}

void lfs_transport_clear(struct lfs_transport_src *t)
{
	free(t->path);
	free(t->ref);
	memset(t, 0, sizeof(*t));
}

bool lfs_transport_is_image(const char *s)
{
	for (size_t i = 0; i < LFS_ARRAY_SIZE(transports); i++)
		if (!strncmp(s, transports[i].prefix, strlen(transports[i].prefix)))
			return true;
	return false;
}
