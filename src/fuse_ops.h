/* SPDX-License-Identifier: Apache-2.0 */
/* FUSE low-level operations: decode a request, call the core, reply once. */
#ifndef LFS_FUSE_OPS_H
#define LFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "layerfs/core.h"
#include "layerfs/cow.h"

struct lfs_fs {
	struct fuse_session *se; /* for notifications (set before the session runs) */
	struct lfs_cow *cow;	 /* the mounted tree (locks inside) */
	struct lfs_core *core;	 /* the lower layers: read-only after mount */
	double timeout;		 /* entry and attr cache timeout, seconds */
	int read_only;		 /* no writes: files need no open (no handle) */
	int no_open;		 /* set at init: the kernel may skip OPEN (read-only) */
	int no_opendir;		 /* set at init: the kernel may skip OPENDIR */
	int owners_user;	 /* --owners=user: every entry shows as UID:GID's, u+rX */
	uid_t uid;		 /* with owners_user: the mounting user */
	gid_t gid;
	int own_userns; /* the daemon went to a user namespace mapping UID:GID to 0 after mounting
			 */
};

extern const struct fuse_lowlevel_ops lfs_fuse_ops;

#endif
