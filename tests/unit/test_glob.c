/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of layerfs-report's --ignore/--filter globs: the semantics
 * (checked against fnmatch(3) where the two agree, and against the previous
 * backtracking matcher, kept here as the reference, everywhere), and
 * patterns that made the backtracking matcher take exponential time.
 */
#include "config.h"

#include <fnmatch.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report.h"

/* ---- the reference: the recursive matcher layerfs-report had before */

static int ref_class(const char **pp, char c)
{
	const char *p = *pp + 1;
	int neg = 0, hit = 0;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	if (*p == ']') {
		hit |= c == ']';
		p++;
	}
	for (; *p && *p != ']'; p++) {
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hit |= (unsigned char)c >= (unsigned char)p[0] &&
			       (unsigned char)c <= (unsigned char)p[2];
			p += 2;
		} else {
			hit |= *p == c;
		}
	}
	if (!*p)
		return -1;
	*pp = p + 1;
	return c != '/' && hit != neg;
}

static int ref_gmatch(const char *p, const char *s)
{
	while (*p) {
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			if (*p == '/' && ref_gmatch(p + 1, s))
				return 1;
			for (;; s++) {
				if (ref_gmatch(p, s))
					return 1;
				if (!*s)
					return 0;
			}
		}
		if (*p == '*') {
			p++;
			for (;; s++) {
				if (ref_gmatch(p, s))
					return 1;
				if (!*s || *s == '/')
					return 0;
			}
		}
		if (!*s)
			return 0;
		if (*p == '[') {
			const char *q = p;
			int m = ref_class(&q, *s);

			if (m >= 0) {
				if (!m)
					return 0;
				p = q;
				s++;
				continue;
			}
		} else if (*p == '?') {
			if (*s == '/')
				return 0;
			p++;
			s++;
			continue;
		} else if (*p == '\\' && p[1]) {
			p++;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return !*s;
}

/*
 * What report_glob_match does around the matcher (leading '/', trailing '/',
 * ancestors, any depth for a pattern without '/'), with MATCH for the core.
 */
static int around(const char *pat, const char *path, int (*match)(const char *, const char *))
{
	char pbuf[256], sbuf[256];
	size_t pl;
	int anydepth;

	while (*pat == '/')
		pat++;
	while (*path == '/')
		path++;
	pl = strlen(pat);
	while (pl && pat[pl - 1] == '/')
		pl--;
	if (!pl)
		return 0;
	memcpy(pbuf, pat, pl);
	pbuf[pl] = '\0';
	snprintf(sbuf, sizeof(sbuf), "%s", path);
	anydepth = !memchr(pbuf, '/', pl);
	for (;;) {
		char *base = strrchr(sbuf, '/');

		if (match(pbuf, anydepth && base ? base + 1 : sbuf))
			return 1;
		if (!base)
			return 0;
		*base = '\0';
	}
}

static int by_fnmatch(const char *p, const char *s)
{
	return fnmatch(p, s, FNM_PATHNAME) == 0;
}

/* ---- tests */

static void test_cases(void **state)
{
	static const struct {
		const char *pat, *path;
		int want;
	} t[] = {
	    {"usr/**", "/usr/lib/libbig.so", 1},
	    {"usr/**", "/usr", 0},
	    {"usr", "/usr/lib/x", 1},
	    {"*.so", "/usr/lib/libbig.so", 1},
	    {"*.so", "/usr/lib/libbig.so.1", 0},
	    {"/var/lib/apt/**", "/var/lib/apt/lists/x", 1},
	    {"var/lib/apt", "/var/lib/apt/lists/x", 1},
	    {"**/b", "b", 1},
	    {"**/b", "a/x/b", 1},
	    {"a/**/b", "a/b", 1},
	    {"a/**/b", "a/x/y/b", 1},
	    {"a/**/b", "ab", 0},
	    {"a/*/b", "a/x/y/b", 0},
	    {"a/*", "a/x/y", 1}, /* a/x matches: everything in it does */
	    {"a?c", "a/c", 0},
	    {"a[/]c", "a/c", 0},
	    {"[!a]", "b", 1},
	    {"[^a]", "a", 0},
	    {"[]]", "]", 1},
	    {"[a-c]x", "bx", 1},
	    {"[a-]", "-", 1},
	    {"[ab", "[ab", 1}, /* an unclosed class is literal */
	    {"\\*", "*", 1},
	    {"\\*", "x", 0},
	    {"a\\", "a\\", 1},
	    {"***", "a/b/c", 1},
	    {"a**/b", "a/b", 1},
	    {"a**/b", "ax/y/b", 1},
	    {"a/**", "a/", 1},
	    {"", "a", 0},
	    {"/", "a", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = report_glob_match(t[i].pat, t[i].path);

		if (got != t[i].want)
			fail_msg("'%s' against '%s': %d, want %d", t[i].pat, t[i].path, got,
				 t[i].want);
		/* the reference agrees with the table */
		assert_int_equal(around(t[i].pat, t[i].path, ref_gmatch), t[i].want);
	}
}

/* Random short patterns and paths: the same answer as the reference, and as fnmatch without "**".
 */
static void test_random(void **state)
{
	static const char *const pp[] = {"a",	 "b",	  "/",	 "*", "**", "?",   "[ab]",
					 "[!a]", "[a-b]", "\\*", "[", "]",  "**/", "-"};
	static const char *const sp[] = {"a", "b", "/", "*", "[", "]", "-"};
	unsigned seed = 12345;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		char pat[128] = "", path[128] = "";
		int np, ns, want, got;

		seed = seed * 1103515245u + 12345u;
		np = 1 + (int)(seed >> 16) % 8;
		for (int i = 0; i < np; i++) {
			const char *x;

			seed = seed * 1103515245u + 12345u;
			x = pp[(seed >> 16) % (sizeof(pp) / sizeof(pp[0]))];
			strcat(pat, x);
		}
		seed = seed * 1103515245u + 12345u;
		ns = (int)(seed >> 16) % 12;
		for (int i = 0; i < ns; i++) {
			seed = seed * 1103515245u + 12345u;
			strcat(path, sp[(seed >> 16) % (sizeof(sp) / sizeof(sp[0]))]);
		}
		want = around(pat, path, ref_gmatch);
		got = report_glob_match(pat, path);
		if (got != want)
			fail_msg("'%s' against '%s': %d, the reference says %d", pat, path, got,
				 want);
		/*
		 * fnmatch(FNM_PATHNAME) has the same '*', '?' and classes; it
		 * differs on "**", on empty components and on "[" followed by
		 * a "/" (glibc ends the class there).
		 */
		if (!strstr(pat, "**") && !strstr(path, "//") && !strchr(pat, '[')) {
			want = around(pat, path, by_fnmatch);
			if (got != want)
				fail_msg("'%s' against '%s': %d, fnmatch says %d", pat, path, got,
					 want);
		}
	}
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_glob: the matcher took over 20 s\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/*
 * The backtracking matcher took 40 s for 6 groups against one 220-byte path
 * and over 100 s for 8: a linear one takes microseconds.  The alarm kills a
 * slow matcher; the assertions are on the answers.
 */
static void test_pathological(void **state)
{
	char path[512], deep[512];

	(void)state;
	signal(SIGALRM, on_alarm);
	alarm(20);
	memset(path, 'a', 220);
	path[220] = '\0';
	for (int i = 0; i < 220; i++)
		deep[i] = i % 8 == 7 ? '/' : 'a';
	deep[220] = '\0';
	assert_false(report_glob_match("**a**a**a**a**a**a**b", path));
	assert_false(report_glob_match("**a**a**a**a**a**a**a**a**b", path));
	assert_false(report_glob_match("/**a**a**a**a**a**a**a**a**b", deep));
	assert_false(report_glob_match("*a*a*a*a*a*a*a*a*a*a*a*b", path));
	assert_false(report_glob_match("**/a*a*a*a*a*a*a*a*a*a*/**/b", deep));
	assert_true(report_glob_match("**a**a**a**a**a**a**a**a**a", path));
	path[219] = 'b';
	assert_true(report_glob_match("**a**a**a**a**a**a**a**a**b", path));
	assert_true(report_glob_match("*a*a*a*a*a*a*a*a*a*a*a*b", path));
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_pathological),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
