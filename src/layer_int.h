/*
 * Inside the layer indexer: the window of header bytes the pass keeps, and
 * the check of pax records in it (layer_pax.c).
 */
#ifndef LFS_LAYER_INT_H
#define LFS_LAYER_INT_H

#include <stddef.h>
#include <stdint.h>

#define LFS_SHOWN 256 /* room for a name in a message */

/* Bytes [base, base + len) of the plain stream, kept from keep_from on. */
struct lfs_hdrwin {
	char *buf;
	size_t len, cap;
	uint64_t base;
	uint64_t keep_from; /* where the next header is expected: nothing before is kept */
};

/* Bytes P[0, N) at stream offset POS went by. */
void lfs_hdrwin_add(struct lfs_hdrwin *w, const void *p, uint64_t pos, size_t n);
void lfs_hdrwin_free(struct lfs_hdrwin *w);
/*
 * Check the pax records among the header blocks [H, D) of the entry ENTRY
 * (H: archive_read_header_position(), D: where its data starts).  0, or
 * -EIO with one message naming LAYER, ENTRY and the record.  Entries whose
 * headers the window does not hold are not checked.
 */
int lfs_pax_check(const struct lfs_hdrwin *w, uint64_t h, uint64_t d, const char *layer,
		  const char *entry);

/*
 * Some libarchive versions read a pax time "-1.25" as -1 s + 0.25 (the
 * fraction's sign lost): put such a time right.
 */
void lfs_pax_fix_time(int64_t *sec, uint32_t *nsec);

#endif
