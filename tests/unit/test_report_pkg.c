/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of layerfs-report's package database parsers (report_pkg_db.c)
 * and --path's exact glob match: what each format's corner cases must give,
 * written from the formats' documentation (dpkg's status paragraphs and
 * states, apk's P/V/F/R lines, a wheel's RECORD, package.json).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

static void dpkg_states(void **state)
{
	static const char st[] = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\n"
				 "Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n"
				 "Package: c\nStatus: install ok half-installed\nVersion: 3\n\n"
				 "Package: d\nVersion: 4:1.2-3\nStatus: install ok installed\r\n"
				 "Description: last, no blank line at the end";
	static const char list[] = "/.\n/usr\n/usr/bin/x\n\nrel\n";
	struct report_pkgs ps = {0};

	(void)state;
	assert_int_equal(report_dpkg_status(st, strlen(st), &ps), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.v[0].name, "a");
	assert_string_equal(ps.v[0].version, "1.0");
	assert_string_equal(ps.v[1].name, "d");
	assert_string_equal(ps.v[1].version, "4:1.2-3");
	assert_int_equal(report_dpkg_list(list, strlen(list), &ps.v[0]), 0);
	assert_int_equal(ps.v[0].nfiles, 2); /* "/." and non-absolute lines are not files */
	assert_string_equal(ps.v[0].files[1], "/usr/bin/x");
	report_pkgs_free(&ps);
}

static void apk_db(void **state)
{
	static const char db[] = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl.so.1\nR:libc.so\n"
				 "F:usr/bin\nR:ldd\n\nP:top\nV:1\nR:rootfile\n";
	struct report_pkgs ps = {0};

	(void)state;
	assert_int_equal(report_apk_installed(db, strlen(db), &ps), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.v[0].version, "1.2.4-r2");
	assert_int_equal(ps.v[0].nfiles, 3);
	assert_string_equal(ps.v[0].files[0], "/lib/ld-musl.so.1");
	assert_string_equal(ps.v[0].files[2], "/usr/bin/ldd");
	assert_string_equal(ps.v[1].files[0], "/rootfile"); /* R: before any F: */
	report_pkgs_free(&ps);
}

static void python_record(void **state)
{
	static const char rec[] = "pkg/__init__.py,sha256=x,10\n\"odd,name\",,\n"
				  "../../../bin/tool,,5\npkg-1.0.dist-info/RECORD,,\n";
	struct report_pkgs ps = {0};

	(void)state;
	assert_int_equal(report_py_record("/site/pkg-1.0.dist-info/RECORD", rec, strlen(rec), &ps),
			 0);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.v[0].name, "pkg");
	assert_string_equal(ps.v[0].version, "1.0");
	assert_string_equal(ps.v[0].key, "/site/pkg"); /* an upgrade keeps the key */
	assert_int_equal(ps.v[0].nfiles, 3);	       /* the quoted name left out */
	assert_string_equal(ps.v[0].files[1], "/site/../../../bin/tool");
	assert_int_equal(report_py_record("/site/notadistinfo/RECORD", rec, strlen(rec), &ps), -1);
	report_pkgs_free(&ps);
}

static void npm_package(void **state)
{
	static const char ok[] = "{\"name\": \"@s/x\", \"version\": \"2.0.0\", \"main\": \"i.js\"}";
	struct report_pkgs ps = {0};

	(void)state;
	assert_int_equal(
	    report_npm_package("/app/node_modules/@s/x/package.json", ok, strlen(ok), &ps), 0);
	assert_int_equal(report_npm_package("/a/node_modules/y/package.json", "[1]", 3, &ps), -1);
	assert_int_equal(report_npm_package("/a/node_modules/y/package.json", "{x", 2, &ps), -1);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.v[0].name, "@s/x");
	assert_string_equal(ps.v[0].key, "/app/node_modules/@s/x");
	assert_true(ps.v[0].dir);
	report_pkgs_free(&ps);
}

static void exact_glob(void **state)
{
	(void)state;
	/* --filter's match takes a directory's contents, --path's does not */
	assert_true(report_glob_match("/etc", "/etc/passwd"));
	assert_false(report_glob_match_exact("/etc", "/etc/passwd"));
	assert_true(report_glob_match_exact("/etc", "/etc"));
	assert_true(report_glob_match_exact("/usr/share/doc/**", "/usr/share/doc/sub/c"));
	assert_true(report_glob_match_exact("**/*.dist-info/RECORD", "/a/b/x-1.dist-info/RECORD"));
	assert_true(report_glob_match_exact("*.so", "/usr/lib/libbig.so"));
	assert_false(report_glob_match_exact("*.so", "/usr/lib/libbig.so.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dpkg_states),   cmocka_unit_test(apk_db),
	    cmocka_unit_test(python_record), cmocka_unit_test(npm_package),
	    cmocka_unit_test(exact_glob),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
