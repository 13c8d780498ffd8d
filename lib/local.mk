# SPDX-License-Identifier: Apache-2.0
# The core library: what the driver (src/) and the tools (tools/) use, through
# the public headers in include/layerfs/ only (they do not see lib/).
noinst_LIBRARIES += lib/liblayerfs.a
lib_liblayerfs_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
lib_liblayerfs_a_CFLAGS = $(AM_CFLAGS) $(LFS_DEP_CFLAGS)
lib_liblayerfs_a_SOURCES = \
	include/layerfs/lfs.h lib/err.c lib/mountinfo.c lib/mkdirs.c \
	include/layerfs/blob.h lib/blob_int.h lib/blob.c lib/blob_io.c lib/blob_state.c lib/blob_gzip.c lib/blob_zstd.c \
	lib/blobsrc.h lib/blobsrc.c lib/blobsrc_fd.c \
	include/layerfs/image.h lib/image_int.h lib/image.c lib/image_select.c lib/digest.c lib/image_json.c lib/image_config.c \
	lib/image_transport.c lib/image_registry.c \
	lib/tarmembers.c \
	lib/classify.c \
	include/layerfs/layer.h lib/layer_int.h lib/layer.c lib/layer_build.c lib/layer_pax.c \
	lib/layer_tar.c lib/layer_dir.c \
	include/layerfs/node.h lib/node.c include/layerfs/tree.h lib/tree.c \
	lib/cache.h lib/cache_format.h lib/cache.c lib/cache_codec.c lib/datacache.h lib/datacache.c \
	include/layerfs/core.h lib/core.c include/layerfs/opts.h lib/opts.c \
	include/layerfs/upper.h lib/upper.c \
	include/layerfs/cow.h lib/cow_int.h lib/cow.c lib/cow_nodes.c lib/cow_ops.c lib/cow_mount.c lib/copyup.c

lib_liblayerfs_a_SOURCES += lib/toc.h lib/toc_estargz.c lib/toc_zstdchunked.c lib/toc_parse.c lib/toc_chunk.c
# the image writer (layerfs-commit, layerfs-squash)
lib_liblayerfs_a_SOURCES += include/layerfs/write.h lib/write_int.h lib/write_stream.c lib/write_layer.c \
	lib/write_upper.c lib/write_entries.c lib/write_config.c lib/write_image.c lib/write_source.c lib/write_registry.c
lib_liblayerfs_a_SOURCES += lib/layer_toc.c
