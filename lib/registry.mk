# SPDX-License-Identifier: Apache-2.0
# The registry client (lib/registry.h), part of the core library.
lib_liblayerfs_a_SOURCES += lib/registry.h lib/registry_int.h lib/http.h lib/http.c \
	lib/registry_ref.c lib/registry_auth.c lib/registry.c lib/registry_push.c lib/blobsrc_http.c \
	lib/chunkcache.h lib/chunkcache.c lib/regstore.h lib/regstore.c \
	lib/index_artifact.h lib/index_artifact.c
