# SPDX-License-Identifier: Apache-2.0
dist_man_MANS += man/layerfs.1 man/layerfs-report.1 man/layerfs-chroot.1
dist_man_MANS += man/layerfs-commit.1 man/layerfs-squash.1
