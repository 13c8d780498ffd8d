# SPDX-License-Identifier: Apache-2.0
# The registry client (lib/registry.h), part of the core library.
lib_liblayerfs_a_SOURCES += lib/registry.h
