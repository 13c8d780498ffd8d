/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of layerfs-chroot's subordinate ids (tools/chroot_ids.c): the
 * lines of /etc/subuid that are the user's (by name or by uid), the ones
 * skipped (others', malformed, empty, overflowing, holding the user's own
 * id, comments), the file's order kept, the cap on ranges, and the words
 * given to newuidmap (0 = the user, then the ranges one after the other).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chroot.h"

static void test_by_name_and_uid(void **state)
{
	struct lfs_chroot_idrange r[8];
	const char *text = "bob:100000:65536\n"
			   "alice:165536:65536\n"
			   "1001:300000:1000\n"
			   "1002:400000:10\n";

	(void)state;
	assert_int_equal(lfs_chroot_subid_parse(text, "alice", 1001, r, 8), 2);
	assert_int_equal(r[0].start, 165536);
	assert_int_equal(r[0].count, 65536);
	assert_int_equal(r[1].start, 300000);
	assert_int_equal(r[1].count, 1000);
	/* by uid alone (no name: a uid with no passwd entry) */
	assert_int_equal(lfs_chroot_subid_parse(text, NULL, 1002, r, 8), 1);
	assert_int_equal(r[0].start, 400000);
	/* nobody's */
	assert_int_equal(lfs_chroot_subid_parse(text, "carol", 1003, r, 8), 0);
	/* a name is not a prefix match */
	assert_int_equal(lfs_chroot_subid_parse(text, "ali", 5, r, 8), 0);
	assert_int_equal(lfs_chroot_subid_parse(text, "alice2", 5, r, 8), 0);
}

static void test_bad_lines(void **state)
{
	struct lfs_chroot_idrange r[8];
	const char *text = "# a comment alice:1:2\n"
			   "\n"
			   "alice\n"
			   "alice:100000\n"
			   "alice:100000:65536:extra\n"
			   "alice:-5:10\n"
			   "alice:100000:0\n"
			   "alice:x100:10\n"
			   "alice:100000:1x\n"
			   "alice:4294967295:1\n"  /* past the last valid id */
			   "alice:4294967290:10\n" /* overflows */
			   "alice:99999999999:1\n"
			   "alice:1000:10\n"  /* holds the user's own uid 1005 */
			   "alice:200000:10"; /* the last line, no newline: good */

	(void)state;
	assert_int_equal(lfs_chroot_subid_parse(text, "alice", 1005, r, 8), 1);
	assert_int_equal(r[0].start, 200000);
	assert_int_equal(r[0].count, 10);
	assert_int_equal(lfs_chroot_subid_parse("", "alice", 1, r, 8), 0);
	assert_int_equal(lfs_chroot_subid_parse(NULL, "alice", 1, r, 8), 0);
}

static void test_cap_and_total(void **state)
{
	struct lfs_chroot_idrange r[4];
	const char *text = "u:10:1\nu:20:1\nu:30:1\nu:40:1\nu:50:1\nu:60:1\n";
	/* inside, 1 + the counts must stay below 2^32 - 1 */
	const char *big = "u:1:4000000000\nu:4000000001:294967294\nu:10:5\n";

	(void)state;
	assert_int_equal(lfs_chroot_subid_parse(text, "u", 0, r, 4), 4);
	assert_int_equal(r[3].start, 40);
	assert_int_equal(lfs_chroot_subid_parse(big, "u", 0, r, 4), 2);
	assert_int_equal(r[1].start, 4000000001UL);
}

static void test_words(void **state)
{
	struct lfs_chroot_idrange r[2] = {{100000, 65536}, {300000, 10}};
	char buf[256], small[12];

	(void)state;
	assert_int_equal(lfs_chroot_idmap_words(1001, r, 2, buf, sizeof(buf)), 1 + 65536 + 10);
	assert_string_equal(buf, "0 1001 1 1 100000 65536 65537 300000 10");
	assert_int_equal(lfs_chroot_idmap_words(1001, r, 0, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0 1001 1");
	assert_int_equal(lfs_chroot_idmap_words(1001, r, 2, small, sizeof(small)), 0);
}

static void test_read_file(void **state)
{
	struct lfs_chroot_idrange r[4];
	char path[] = "/tmp/test_chroot_ids.XXXXXX";
	int fd = mkstemp(path);
	size_t n = 99;
	const char text[] = "other:1:1\nme:500000:65536\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(lfs_chroot_subid_read(path, "me", 1000, r, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].start, 500000);
	unlink(path);
	assert_int_equal(lfs_chroot_subid_read(path, "me", 1000, r, 4, &n), -ENOENT);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_by_name_and_uid), cmocka_unit_test(test_bad_lines),
	    cmocka_unit_test(test_cap_and_total),   cmocka_unit_test(test_words),
	    cmocka_unit_test(test_read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
