# SPDX-License-Identifier: Apache-2.0
# Tests of the registry client (lib/registry.h).
