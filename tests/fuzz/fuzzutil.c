/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the fuzz targets (see fuzzutil.h).  LLVMFuzzerInitialize
 * lives here: every target quiets the core's warnings the same way.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "layerfs/lfs.h"

int fuzz_verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *v = getenv("LFS_FUZZ_VERBOSE");

	(void)argc;
	(void)argv;
	fuzz_verbose = v && *v && strcmp(v, "0");
	lfs_quiet = !fuzz_verbose;
	lfs_progname = "fuzz";
	return 0;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: BUG: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void fuzz_note(const char *fmt, ...)
{
	va_list ap;

	if (!fuzz_verbose)
		return;
	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int fuzz_memfd(const void *data, size_t size)
{
	const char *p = data;
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0) {
		perror("fuzz: memfd_create");
		abort();
	}
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("fuzz: writing the memfd");
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	return fd;
}

int fuzz_fd_lowest(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd < 0) {
		perror("fuzz: F_DUPFD");
		abort();
	}
	close(fd);
	return fd;
}

void fuzz_fd_check(int lowest)
{
	int now = fuzz_fd_lowest();

	if (now != lowest)
		fuzz_fail("file descriptor leak: the lowest free fd was %d before the run, %d "
			  "after",
			  lowest, now);
}

void fuzz_check_err(int rc, const char *name, const char *call)
{
	const char *msg = lfs_err_get();

	if (rc >= 0)
		fuzz_fail("%s returned %d, expected 0 or -errno", call, rc);
	fuzz_note("%s: %d: %s", call, rc, msg);
	if (!msg || !*msg)
		fuzz_fail("%s failed (%d) without a message", call, rc);
	/* lfs_show's promise: one line, no escape sequence for the terminal. */
	for (const char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fuzz_fail(
			    "%s failed with a message holding control character 0x%02x at %zu: "
			    "%s",
			    call, (unsigned char)*p, (size_t)(p - msg), msg);
	if (name && !strstr(msg, name))
		fuzz_fail("%s failed with a message that does not name '%s': %s", call, name, msg);
}

const char *fuzz_describe(const struct lfs_node *n)
{
	static char buf[512];
	size_t used;

	used = (size_t)snprintf(buf, sizeof(buf), "size %llu, data at %llu",
				(unsigned long long)n->size, (unsigned long long)n->data_off);
	if (!n->sparse)
		return buf;
	used += (size_t)snprintf(buf + used, sizeof(buf) - used, ", sparse map");
	for (uint32_t i = 0; i < n->sparse->n && used < sizeof(buf) - 64; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %llu+%llu@%llu",
					 (unsigned long long)n->sparse->ext[i].off,
					 (unsigned long long)n->sparse->ext[i].len,
					 (unsigned long long)n->sparse->ext[i].stored);
	return buf;
}

/* One read, which must return exactly WANT bytes. */
static void read_exact(const struct lfs_core *c, const struct lfs_node *n, const char *what,
		       char *buf, size_t len, uint64_t off, size_t want, uint64_t *budget)
{
	ssize_t r = lfs_core_read(c, n, buf, len, off);

	if (r < 0)
		fuzz_fail("%s: lfs_core_read(%zu bytes at %llu) of an indexed file failed: %s "
			  "(%s; %s)",
			  what, len, (unsigned long long)off, strerror((int)-r), lfs_err_get(),
			  fuzz_describe(n));
	if ((size_t)r != want)
		fuzz_fail("%s: lfs_core_read(%zu bytes at %llu) of a %llu-byte file returned %zd, "
			  "expected %zu",
			  what, len, (unsigned long long)off, (unsigned long long)n->size, r, want);
	*budget = *budget > want ? *budget - want : 0;
}

static size_t expect(const struct lfs_node *n, size_t len, uint64_t off)
{
	if (off >= n->size)
		return 0;
	return n->size - off < len ? (size_t)(n->size - off) : len;
}

void fuzz_read_file(const struct lfs_core *c, const struct lfs_node *n, const char *what, void *buf,
		    size_t max, uint64_t *budget)
{
	/* Chunk sizes that do and do not line up with blocks and restart points. */
	static const size_t chunks[] = {4096, 1, 65536, 511, 131072, 7};
	static char scratch[131072];
	char *out = buf;
	uint64_t off = 0, want = n->size < max ? n->size : max;
	size_t k = 0;

	while (off < want && *budget) {
		size_t len = chunks[k++ % LFS_ARRAY_SIZE(chunks)];
		char *dst = out ? out + off : scratch;

		if (len > want - off)
			len = (size_t)(want - off);
		read_exact(c, n, what, dst, len, off, len, budget);
		off += len;
	}
	if (!*budget)
		return;
	/* Out of order: the last byte, the last block, and past the end. */
	if (n->size) {
		uint64_t tail = n->size > sizeof(scratch) ? n->size - sizeof(scratch) : 0;

		read_exact(c, n, what, scratch, 1, n->size - 1, 1, budget);
		read_exact(c, n, what, scratch, sizeof(scratch), tail,
			   expect(n, sizeof(scratch), tail), budget);
	}
	read_exact(c, n, what, scratch, 4096, n->size, 0, budget);
	if (n->size < UINT64_MAX - 4096)
		read_exact(c, n, what, scratch, 4096, n->size + 4096, 0, budget);
}

static int ptr_cmp(const void *a, const void *b)
{
	const struct lfs_node *x = *(const struct lfs_node *const *)a;
	const struct lfs_node *y = *(const struct lfs_node *const *)b;

	return (uintptr_t)x < (uintptr_t)y ? -1 : (uintptr_t)x > (uintptr_t)y;
}

void fuzz_check_nlink(const struct lfs_layer *l)
{
	size_t cap = 64, top = 0, n = 0, ncap = 64;
	const struct lfs_node **stack = lfs_xmalloc(cap * sizeof(*stack));
	const struct lfs_node **names = lfs_xmalloc(ncap * sizeof(*names));

	stack[top++] = l->root;
	while (top) {
		const struct lfs_node *d = stack[--top];

		for (uint32_t i = 0; i < d->dir->n; i++) {
			const struct lfs_node *c = d->dir->ents[i].node;

			if (!c || (c->flags & LFS_NF_WHITEOUT))
				continue;
			if (c->dir) {
				if (top == cap) {
					cap *= 2;
					stack = lfs_xrealloc(stack, cap * sizeof(*stack));
				}
				stack[top++] = c;
				continue;
			}
			if (n == ncap) {
				ncap *= 2;
				names = lfs_xrealloc(names, ncap * sizeof(*names));
			}
			names[n++] = c;
		}
	}
	qsort(names, n, sizeof(*names), ptr_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && names[j] == names[i]; j++)
			;
		if (names[i]->nlink != j - i)
			fuzz_fail("layer %u: a file with %zu names has st_nlink %u", l->index,
				  j - i, names[i]->nlink);
	}
	free(names);
	free(stack);
}
