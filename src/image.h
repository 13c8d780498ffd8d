/*
 * Images: find the layers of whatever the user named on the command line
 * (a docker-save tarball, an OCI image layout directory or archive, or
 * explicit layer files), detected by content, never by file name.
 */
#ifndef LFS_IMAGE_H
#define LFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

enum lfs_image_kind {
	LFS_IMAGE_LAYERS = 0,  /* explicit layer files */
	LFS_IMAGE_DOCKER,      /* docker save, manifest.json form */
	LFS_IMAGE_OCI_DIR,     /* OCI image layout directory */
	LFS_IMAGE_OCI_ARCHIVE, /* OCI layout inside a tarball (also newer docker save) */
};

struct lfs_layer_desc {
	char *name;   /* for messages: "img.tar:blobs/sha256/ab12..." or a path */
	int fd;	      /* holds the blob, or is the layer directory; owned by the image */
	uint64_t off; /* the blob is bytes [off, off+len) of fd (0, 0 for a directory) */
	uint64_t len;
	char *digest;	  /* expected "sha256:<hex>" of the stored bytes, or NULL */
	char *diff_id;	  /* expected "sha256:<hex>" of the uncompressed tar, or NULL */
	char *media_type; /* from the manifest, or NULL */
};

struct lfs_image {
	enum lfs_image_kind kind;
	size_t nlayers;
	struct lfs_layer_desc *layers; /* lowest first */
	char *config;		       /* image config JSON (NUL-terminated), or NULL */
	size_t config_len;
	char *manifest_digest; /* "sha256:..." of the chosen manifest, or NULL */
	char *ref;	       /* the tag / ref name chosen, or NULL */
};

struct lfs_image_opts {
	const char *tag;      /* ref name, "name:tag", or manifest digest (prefix) */
	const char *platform; /* "os/arch[/variant]"; NULL: the host's */
};

/*
 * Open SOURCES (one image, or several layer files lowest first).  Returns 0
 * or -errno with one clear line in lfs_err_get() naming the file and reason.
 */
int lfs_image_open(struct lfs_image **out, char *const *sources, size_t nsources,
		   const struct lfs_image_opts *opts);
void lfs_image_free(struct lfs_image *img);
const char *lfs_image_kind_name(enum lfs_image_kind k);

/* "sha256:<64 hex>" -> 32 bytes; -EINVAL for anything else. */
int lfs_digest_parse(const char *digest, uint8_t out[32]);
/* 32 bytes -> "sha256:<64 hex>" (72 bytes with NUL). */
void lfs_digest_format(const uint8_t sha[32], char out[72]);

#endif
