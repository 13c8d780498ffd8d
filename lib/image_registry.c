/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image in a registry ("docker://HOST/REPO:TAG").  Until the registry
 * client (registry.h) is in, such a SOURCE is refused with one line.
 */
#include "config.h"

#include <errno.h>

#include "layerfs/lfs.h"
#include "image_int.h"

int lfs_registry_image_open(struct lfs_image *img, const char *source,
			    const struct lfs_image_opts *o, const struct lfs_platform *p)
{
	(void)img;
	(void)o;
	(void)p;
	lfs_err_set("%s: registry images are not supported yet", source);
	return -ENOTSUP;
}
