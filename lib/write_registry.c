/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image writer's docker:// destination, through the registry client's
 * push (registry_push.c): every layer blob, then the config, uploaded
 * unless the registry has it already (the client asks first), and the
 * manifest put last under the tag (or by its digest), so a reader never
 * sees a manifest whose blobs are missing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blobsrc.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"
#include "image_int.h"
#include "registry.h"
#include "write_int.h"

static int push_layer(struct lfs_registry *r, const struct lfs_wlayer *l)
{
	struct lfs_blobsrc *src = NULL;
	uint64_t size = l->res.size;
	void *buf = NULL;
	int fd, rc = lfs_wlayer_src(l, &src, &fd), mapped = 0;

	if (rc == 0 && size && fd >= 0) {
		buf = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		mapped = buf != MAP_FAILED;
		if (!mapped)
			buf = NULL;
	}
	if (rc == 0 && !buf && size) {
		buf = lfs_xmalloc((size_t)size);
		rc = lfs_blobsrc_read_full(src, buf, (size_t)size, 0, "the layer");
	}
	if (rc == 0)
		rc = lfs_registry_put_blob(r, l->res.digest, buf ? buf : "", (size_t)size);
	if (mapped)
		munmap(buf, (size_t)size);
	else
		free(buf);
	if (src)
		lfs_blobsrc_unref(src);
	if (!l->src && fd >= 0)
		close(fd);
	return rc;
}

int lfs_write_registry(const char *dest, struct lfs_wlayer *layers, size_t n, const char *cfg,
		       const char *cfg_digest, const char *man, const struct lfs_wimage_opts *o)
{
	struct lfs_registry_opts ro = {.tls_verify = !o->tls_insecure, .authfile = o->authfile};
	struct lfs_registry_ref ref;
	struct lfs_registry *r = NULL;
	char man_digest[72];
	int rc = lfs_registry_ref_parse(dest, &ref);

	if (rc == 0)
		rc = lfs_registry_open(&r, &ref, &ro);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = push_layer(r, &layers[i]);
	if (rc == 0)
		rc = lfs_registry_put_blob(r, cfg_digest, cfg, strlen(cfg));
	lfs_digest_of(man, strlen(man), man_digest);
	if (rc == 0)
		rc = lfs_registry_put_manifest(r, ref.tag ? ref.tag : man_digest,
					       "application/vnd.oci.image.manifest.v1+json", man,
					       strlen(man));
	if (rc < 0)
		lfs_err_prefix("%s", dest);
	if (r)
		lfs_registry_unref(r);
	lfs_registry_ref_clear(&ref);
	return rc;
}
