# SPDX-License-Identifier: Apache-2.0
# The core library (shared by the driver and tools/) and the FUSE driver.
noinst_LIBRARIES += src/liblayerfs.a
src_liblayerfs_a_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
src_liblayerfs_a_SOURCES = \
	src/lfs.h src/err.c \
	src/blob.h src/blob_int.h src/blob.c src/blob_io.c src/blob_state.c src/blob_gzip.c src/blob_zstd.c \
	src/blobsrc.h src/blobsrc.c src/blobsrc_fd.c \
	src/image.h src/image_int.h src/image.c src/digest.c src/image_json.c src/image_config.c \
	src/tarmembers.c \
	src/classify.c \
	src/layer.h src/layer_int.h src/layer.c src/layer_build.c src/layer_pax.c \
	src/layer_tar.c src/layer_dir.c \
	src/node.h src/node.c src/tree.h src/tree.c \
	src/cache.h src/cache_format.h src/cache.c src/cache_codec.c \
	src/core.h src/core.c src/opts.h src/opts.c \
	src/upper.h src/upper.c \
	src/cow.h src/cow_int.h src/cow.c src/cow_nodes.c src/cow_ops.c src/cow_mount.c src/copyup.c

bin_PROGRAMS += src/layerfs
src_layerfs_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
src_layerfs_SOURCES = src/layerfs.c src/fuse_ops.c src/fuse_ops.h
src_layerfs_LDADD = $(LFS_CORE_LIBS) $(FUSE_LIBS)
