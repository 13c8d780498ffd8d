# SPDX-License-Identifier: Apache-2.0
# Tests of the registry client (lib/registry.h): reference, challenge and
# credentials parsing (unit), and the client against the local registry
# test bed (tests/integration/registry.py) through regclient.
if UNIT_TESTS
check_PROGRAMS += tests/unit/test_registry_ref tests/unit/test_chunkcache
TESTS += tests/unit/test_registry_ref tests/unit/test_chunkcache
endif
tests_unit_test_chunkcache_SOURCES = tests/unit/test_chunkcache.c tests/unit/testutil.h \
	tests/unit/testutil.c
tests_unit_test_chunkcache_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_chunkcache_LDADD = $(LFS_TEST_LIBS)
tests_unit_test_registry_ref_SOURCES = tests/unit/test_registry_ref.c
tests_unit_test_registry_ref_CFLAGS = $(LFS_TEST_CFLAGS)
tests_unit_test_registry_ref_LDADD = $(LFS_TEST_LIBS)

check_PROGRAMS += tests/integration/regclient
tests_integration_regclient_SOURCES = tests/integration/regclient.c
tests_integration_regclient_CFLAGS = $(LFS_TEST_CFLAGS)
tests_integration_regclient_LDADD = $(LFS_TEST_LIBS)
TESTS += tests/integration/registry_client.sh
EXTRA_DIST += tests/integration/registry_client.sh tests/integration/registry_client.py

# What a registry image leaves in the cache and what later mounts fetch.
TESTS += tests/integration/registry_cache.sh
EXTRA_DIST += tests/integration/registry_cache.sh tests/integration/registry_cache.py

# The published layerfs index (layerfs --publish-index).
TESTS += tests/integration/registry_index.sh
EXTRA_DIST += tests/integration/registry_index.sh tests/integration/registry_index.py

# Lazy reads through faults: EIO (never wrong bytes), then recovery.
TESTS += tests/integration/registry_faults.sh
EXTRA_DIST += tests/integration/registry_faults.sh tests/integration/registry_faults.py
