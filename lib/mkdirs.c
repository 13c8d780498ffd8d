/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkdir -p for the caches' directories (the index cache, the chunk cache,
 * kept blobs and manifests): below everything that writes to them, so that
 * none of those files calls another just for this.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"

int lfs_mkdirs(const char *dir)
{
	char *p = lfs_xstrdup(dir);
	int rc = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
		if (rc)
			break;
	}
	if (!rc && mkdir(p, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}
