/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report: the path globs of --ignore and --filter.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "report.h"

/* One [...] class at *P against C: 1 match, 0 no match, -1 malformed. */
static int class_match(const char **pp, char c)
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

/*
 * The pattern compiled to a sequence of tokens, matched by simulating all
 * the positions the pattern could be at at once (an NFA): time is
 * O(tokens x path length) whatever the pattern, where trying every split
 * for every star took exponential time ('**a**a**a**a**a**a**b').
 */
enum tok_kind { T_CHAR, T_ANY, T_CLASS, T_STAR, T_DSTAR };

struct tok {
	enum tok_kind kind;
	char c;		   /* T_CHAR */
	const char *class; /* T_CLASS: its '[' */
	int skip_slash;	   /* T_DSTAR directly followed by a '/': "**" + "/" may match nothing */
};

/* Tokens of P into T (room for strlen(P)); returns their number. */
static size_t compile(const char *p, struct tok *t)
{
	size_t n = 0;

	while (*p) {
		struct tok *k = &t[n++];
		const char *q = p;

		memset(k, 0, sizeof(*k));
		if (p[0] == '*' && p[1] == '*') {
			k->kind = T_DSTAR;
			p += 2;
			k->skip_slash = *p == '/';
		} else if (*p == '*') {
			k->kind = T_STAR;
			p++;
		} else if (*p == '?') {
			k->kind = T_ANY;
			p++;
		} else if (*p == '[' && class_match(&q, 'x') >= 0) {
			k->kind = T_CLASS;
			k->class = p;
			p = q; /* past the ']' */
		} else {
			/* a literal; a malformed class's '[' and a trailing '\\' are literal too */
			if (*p == '\\' && p[1])
				p++;
			k->kind = T_CHAR;
			k->c = *p++;
		}
	}
	return n;
}

/*
 * Add state I and every state reachable from it without consuming a
 * character: a star may match nothing.  "**" + "/" may match nothing only
 * where the "**" starts (FRESH), not after it has taken characters.
 */
static void add_state(const struct tok *t, size_t n, unsigned char *set, size_t i, int fresh)
{
	for (; i <= n; i++, fresh = 1) {
		if (fresh && i < n && t[i].kind == T_DSTAR && t[i].skip_slash)
			add_state(t, n, set, i + 2, 1);
		if (set[i])
			return;
		set[i] = 1;
		if (i == n || (t[i].kind != T_STAR && t[i].kind != T_DSTAR))
			return;
	}
}

/* Does token K take character C? */
static int step_ok(const struct tok *k, char c)
{
	const char *q;

	switch (k->kind) {
	case T_CHAR:
		return k->c == c;
	case T_ANY:
	case T_STAR:
		return c != '/';
	case T_CLASS:
		q = k->class;
		return class_match(&q, c) == 1;
	case T_DSTAR:
		return 1;
	}
	return 0;
}

static int gmatch(const struct tok *t, size_t n, const char *s, unsigned char *cur,
		  unsigned char *next)
{
	memset(cur, 0, n + 1);
	add_state(t, n, cur, 0, 1);
	for (; *s; s++) {
		int any = 0;

		memset(next, 0, n + 1);
		for (size_t i = 0; i < n; i++) {
			if (!cur[i] || !step_ok(&t[i], *s))
				continue;
			any = 1;
			/* a star stays where it is; anything else moves on */
			if (t[i].kind == T_STAR || t[i].kind == T_DSTAR)
				add_state(t, n, next, i, 0);
			else
				add_state(t, n, next, i + 1, 1);
		}
		if (!any)
			return 0;
		unsigned char *tmp = cur;

		cur = next;
		next = tmp;
	}
	return cur[n];
}

/*
 * PAT against PATH (leading '/' optional on both).  A pattern matching a
 * directory matches everything in it; a pattern without '/' matches a name
 * at any depth, as in .gitignore.
 */
static int glob_match(const char *pat, const char *path, int ancestors)
{
	char pbuf[PATH_MAX], sbuf[PATH_MAX * 2];
	struct tok t[PATH_MAX];
	unsigned char set[2][PATH_MAX + 1];
	size_t pl, sl, n;
	int anydepth;

	while (*pat == '/')
		pat++;
	while (*path == '/')
		path++;
	pl = strlen(pat);
	while (pl && pat[pl - 1] == '/')
		pl--;
	sl = strlen(path);
	if (!pl || pl >= sizeof(pbuf) || sl >= sizeof(sbuf))
		return 0;
	memcpy(pbuf, pat, pl);
	pbuf[pl] = '\0';
	memcpy(sbuf, path, sl + 1);
	anydepth = !memchr(pbuf, '/', pl);
	n = compile(pbuf, t);
	/* Try PATH and each of its ancestors, longest first. */
	for (;;) {
		char *base = strrchr(sbuf, '/');

		if (gmatch(t, n, anydepth && base ? base + 1 : sbuf, set[0], set[1]))
			return 1;
		if (!base || !ancestors)
			return 0;
		*base = '\0';
	}
}

int report_glob_match(const char *pat, const char *path)
{
	return glob_match(pat, path, 1);
}

/* PAT against PATH itself only: its ancestors are not tried (--path). */
int report_glob_match_exact(const char *pat, const char *path)
{
	return glob_match(pat, path, 0);
}
