# SPDX-License-Identifier: Apache-2.0
# The FUSE driver: options, mount and the FUSE operations over the core library.
bin_PROGRAMS += src/layerfs
src_layerfs_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
src_layerfs_SOURCES = src/layerfs.c src/fuse_ops.c src/fuse_ops.h
src_layerfs_LDADD = $(LFS_CORE_LIBS) $(FUSE_LIBS)
