/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --diff: for each version of a regular file that replaced
 * an earlier regular file (the versions report_path.c gathered from the
 * merge's events), a unified diff of the two contents.  Both are read
 * through the core (each from its own layer), written to temporary files
 * and compared by diff(1) from GNU diffutils: a well-tested diff rather
 * than a new one.  Without diff(1), too big a file (DIFF_MAX), or content
 * that is not text (a NUL byte), the two versions are given by size and
 * xxh3-128 only, with the reason.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "report.h"

#define DIFF_MAX (8u << 20) /* bytes of each version compared as text */
#define OUT_MAX	 (4u << 20) /* bytes of diff output kept per pair */

extern char **environ;

static int is_file(const struct report_version *v)
{
	return v->change != REPORT_REMOVED && v->node && S_ISREG(v->node->mode);
}

/* N's content into a new temporary file; its name in NAME. 0, 1 (binary), -errno. */
static int dump(const struct report *r, const struct lfs_node *n, char *name, size_t len)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *buf = lfs_xmalloc(n->size ? (size_t)n->size : 1);
	ssize_t got = 0;
	int fd, rc = 0;

	for (uint64_t off = 0; off < n->size; off += (uint64_t)got) {
		got = lfs_core_read(r->core, n, buf + off, (size_t)(n->size - off), off);
		if (got <= 0) {
			free(buf);
			return got < 0 ? (int)got : -EIO;
		}
	}
	if (memchr(buf, '\0', (size_t)n->size)) {
		free(buf);
		return 1;
	}
	snprintf(name, len, "%s/layerfs-report-diff.XXXXXX", tmp);
	fd = mkstemp(name);
	if (fd < 0) {
		rc = -errno;
	} else {
		for (size_t off = 0; off < n->size && rc == 0;) {
			ssize_t w = write(fd, buf + off, (size_t)n->size - off);

			if (w < 0 && errno != EINTR)
				rc = -errno;
			else if (w > 0)
				off += (size_t)w;
		}
		close(fd);
		if (rc)
			unlink(name);
	}
	free(buf);
	return rc;
}

/* diff -u of A and B, labelled; the output (NULL: diff(1) could not run). */
static char *run_diff(const char *a, const char *b, const char *la, const char *lb)
{
	char *argv[] = {"diff",	    "-u",      "--label", (char *)la, "--label",
			(char *)lb, (char *)a, (char *)b, NULL};
	posix_spawn_file_actions_t fa;
	char *out = lfs_xmalloc(OUT_MAX + 64);
	size_t len = 0;
	int p[2], status;
	pid_t pid;

	if (pipe(p) < 0) {
		free(out);
		return NULL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	if (posix_spawnp(&pid, "diff", &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	for (;;) {
		char chunk[65536];
		ssize_t n = read(p[0], chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + (size_t)n > OUT_MAX)
			n = (ssize_t)(OUT_MAX - len);
		memcpy(out + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) > 1) {
		free(out);
		return NULL;
	}
	if (len == OUT_MAX)
		len += (size_t)snprintf(out + len, 64, "[diff cut at %u bytes]\n", OUT_MAX);
	out[len] = '\0';
	return out;
}

static void compare(struct report_diff *d, const struct report *r)
{
	char fa[PATH_MAX], fb[PATH_MAX], la[PATH_MAX + 32], lb[PATH_MAX + 32];
	int ra, rb;
	const struct lfs_hash128 *ha = d->from->node->hash, *hb = d->to->node->hash;

	if (ha && hb && ha->hi == hb->hi && ha->lo == hb->lo &&
	    d->from->node->size == d->to->node->size) {
		d->note = "same content";
		return;
	}
	if (d->from->node->size > DIFF_MAX || d->to->node->size > DIFF_MAX) {
		d->note = "too big to compare as text";
		return;
	}
	ra = dump(r, d->from->node, fa, sizeof(fa));
	rb = ra ? ra : dump(r, d->to->node, fb, sizeof(fb));
	if (ra || rb) {
		d->note = ra < 0 || rb < 0 ? "could not be read" : "not text";
		if (!ra)
			unlink(fa);
		return;
	}
	snprintf(la, sizeof(la), "%s (layer %u)", d->path, d->from->layer + 1);
	snprintf(lb, sizeof(lb), "%s (layer %u)", d->path, d->to->layer + 1);
	d->text = run_diff(fa, fb, la, lb);
	if (!d->text)
		d->note = "diff(1) from GNU diffutils did not run";
	unlink(fa);
	unlink(fb);
}

void report_diffs_build(struct report_diffs *ds, const struct report *r,
			const struct report_paths *ps, int layer)
{
	memset(ds, 0, sizeof(*ds));
	for (size_t i = 0; i < ps->n; i++) {
		const struct report_path *p = &ps->p[i];

		for (size_t j = 1; j < p->n; j++) {
			struct report_diff *d;

			/* a file that replaced the file just below it */
			if (!is_file(&p->v[j]) || !is_file(&p->v[j - 1]) ||
			    (layer >= 0 && p->v[j].layer != (uint32_t)layer))
				continue;
			ds->v = lfs_xrealloc(ds->v, (ds->n + 1) * sizeof(*ds->v));
			d = &ds->v[ds->n++];
			memset(d, 0, sizeof(*d));
			d->path = p->path;
			d->from = &p->v[j - 1];
			d->to = &p->v[j];
			compare(d, r);
		}
	}
}

void report_diffs_free(struct report_diffs *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		free(ds->v[i].text);
	free(ds->v);
	memset(ds, 0, sizeof(*ds));
}
