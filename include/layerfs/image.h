/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images: find the layers of whatever the user named on the command line
 * (a docker-save tarball, an OCI image layout directory or archive, or
 * explicit layer files), detected by content, never by file name; or named
 * in the containers-transports spelling (docker://, oci:, oci-archive:,
 * docker-archive:), a registry's image included.
 */
#ifndef LFS_IMAGE_H
#define LFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct lfs_blobsrc;
struct lfs_image_remote;

enum lfs_image_kind {
	LFS_IMAGE_LAYERS = 0,  /* explicit layer files */
	LFS_IMAGE_DOCKER,      /* docker save, manifest.json form */
	LFS_IMAGE_OCI_DIR,     /* OCI image layout directory */
	LFS_IMAGE_OCI_ARCHIVE, /* OCI layout inside a tarball (also newer docker save) */
	LFS_IMAGE_REGISTRY,    /* docker://: an image in a registry */
};

struct lfs_layer_desc {
	char *name;   /* for messages: "img.tar:blobs/sha256/ab12..." or a path */
	int fd;	      /* holds the blob, or is the layer directory; owned by the image;
		       * -1 for a registry's blob (then SRC reads it, and DIGEST is set) */
	uint64_t off; /* the blob is bytes [off, off+len) of fd (0, 0 for a directory) */
	uint64_t len;
	/*
	 * The blob's stored bytes as the codecs read them (a reference owned
	 * by the image); NULL for a directory.  FD, OFF and LEN stay for the
	 * cache key and directory layers.
	 */
	struct lfs_blobsrc *src;
	char *digest;	  /* expected "sha256:<hex>" of the stored bytes, or NULL */
	char *diff_id;	  /* expected "sha256:<hex>" of the uncompressed tar, or NULL */
	char *media_type; /* from the manifest, or NULL */
	/*
	 * The manifest's annotations of the layer: key, value, key, value,
	 * ..., NULL (NULL when it has none).  Owned by the image
	 * (lfs_image_annotations_free).  TOC layers (eStargz, zstd:chunked)
	 * find and check their table of contents with them.
	 */
	char **annotations;
};

/* The value of annotation KEY of D, or NULL. */
const char *lfs_layer_desc_annotation(const struct lfs_layer_desc *d, const char *key);

/* A list of strings of the image config: NULL-terminated V, or NULL when absent. */
struct lfs_image_strv {
	char **v;
	size_t n;
};

/* One entry of the config's history (a field absent or not a string: NULL). */
struct lfs_image_history {
	char *created;
	char *created_by;
	char *comment;
	int empty_layer; /* "empty_layer": true (anything else: 0) */
};

struct lfs_image_label {
	char *key, *value;
};

/*
 * Fields of lfs_image_config.bad: present in the config with the wrong type,
 * so left empty.  Only the tools that use a field care (layerfs-chroot
 * refuses a bad Entrypoint); the image stays readable for the others.
 */
enum {
	LFS_CONFIG_ENTRYPOINT = 1 << 0,
	LFS_CONFIG_CMD = 1 << 1,
	LFS_CONFIG_ENV = 1 << 2,
	LFS_CONFIG_WORKING_DIR = 1 << 3,
	LFS_CONFIG_USER = 1 << 4,
	LFS_CONFIG_LABELS = 1 << 5,
	LFS_CONFIG_EXPOSED_PORTS = 1 << 6,
	LFS_CONFIG_HISTORY = 1 << 7, /* an entry, or a field of one */
};

/*
 * The image config, parsed once when the image is opened (image_config.c).
 * What the layers depend on is strict and fails the open: rootfs and its
 * diff_ids, and the types of os, architecture, variant, config and
 * history.  The rest (config.Entrypoint and its like, the history's
 * entries) is taken as far as it is well-typed, the rest flagged in BAD.
 */
struct lfs_image_config {
	char *os, *architecture, *variant; /* NULL when absent */
	/* config.Entrypoint and config.Cmd; a plain string (the shell form) is one word and *_shell
	 */
	struct lfs_image_strv entrypoint, cmd;
	int entrypoint_shell, cmd_shell;
	struct lfs_image_strv env;	/* config.Env, as written ("K=V", not checked) */
	char *working_dir, *user;	/* NULL when absent or null; may be "" */
	struct lfs_image_label *labels; /* config.Labels with string values, in order */
	size_t nlabels;
	struct lfs_image_strv exposed_ports; /* the keys of config.ExposedPorts ("80/tcp") */
	struct lfs_image_history *history;
	size_t nhistory;
	struct lfs_image_strv diff_ids; /* rootfs.diff_ids: well-formed digests */
	unsigned bad;			/* LFS_CONFIG_* */
};

void lfs_image_config_clear(struct lfs_image_config *c);

struct lfs_image {
	enum lfs_image_kind kind;
	size_t nlayers;
	struct lfs_layer_desc *layers; /* lowest first */
	char *config;		       /* image config JSON (NUL-terminated), or NULL */
	size_t config_len;
	struct lfs_image_config *cfg;	 /* the config parsed, or NULL without one */
	char *manifest_digest;		 /* "sha256:..." of the chosen manifest, or NULL */
	char *ref;			 /* the tag / ref name chosen, or NULL */
	struct lfs_image_remote *remote; /* docker://: what --stats reports on; else NULL */
};

struct lfs_image_opts {
	const char *tag;      /* ref name, "name:tag", or manifest digest (prefix) */
	const char *platform; /* "os/arch[/variant]"; NULL: the host's */
	int tls_insecure;     /* docker://: plain HTTP, no TLS check (--tls-verify=false) */
	const char *authfile; /* docker://: credentials file; NULL: the usual ones */
	/* docker:// only: */
	const char *cache_dir; /* the index cache's directory: chunks, kept blobs and
				* manifests go in it; NULL: memory only, nothing kept */
	uint64_t chunk_max;    /* bytes of chunk files kept; 0: no limit */
	int keep_blobs;	       /* keep each verified blob whole in CACHE_DIR/blobs */
	int offline;	       /* no network: manifests and chunks from CACHE_DIR */
	int timeout;	       /* seconds without progress per request; 0: 30 */
	int retries;	       /* retries after a failed request; -1: the default (3) */
};

/*
 * Open SOURCES (one image, or several layer files lowest first).  One image
 * may be named with a transport: "docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]",
 * "oci:PATH[:REF]", "oci-archive:PATH[:REF]", "docker-archive:PATH[:REF]"
 * (REF as OPTS->tag; both given and different is an error).  Returns 0
 * or -errno with one clear line in lfs_err_get() naming the file and reason.
 */
int lfs_image_open(struct lfs_image **out, char *const *sources, size_t nsources,
		   const struct lfs_image_opts *opts);
void lfs_image_free(struct lfs_image *img);
/*
 * A new reference to the source of D's stored bytes: D->src, or for a
 * descriptor filled in by hand without one (tests, tools), a new source
 * over [off, off+len) of D->fd.
 */
int lfs_layer_desc_src(const struct lfs_layer_desc *d, struct lfs_blobsrc **out);
const char *lfs_image_kind_name(enum lfs_image_kind k);

/* What an image from a registry fetched so far (--stats). */
struct lfs_fetch_stats {
	uint64_t requests;   /* HTTP requests, retries included */
	uint64_t bytes;	     /* body bytes received */
	uint64_t compressed; /* the image's layer blobs, bytes */
	uint64_t chunks_fetched, chunks_cached, chunks_bad;
};
/* 0, or -ENOENT when IMG did not come from a registry. */
int lfs_image_fetch_stats(const struct lfs_image *img, struct lfs_fetch_stats *st);
/* The --stats line on stderr (nothing for an image not from a registry). */
void lfs_image_print_stats(const struct lfs_image *img);

/* "sha256:<64 hex>" -> 32 bytes; -EINVAL for anything else. */
int lfs_digest_parse(const char *digest, uint8_t out[32]);
/* 32 bytes -> "sha256:<64 hex>" (72 bytes with NUL). */
void lfs_digest_format(const uint8_t sha[32], char out[72]);

#endif
