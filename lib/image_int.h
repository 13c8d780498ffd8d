/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private interface shared by image.c (selection of the image and its
 * layers), image_json.c (strict parsing of the image JSON documents and of
 * platforms), image_config.c (the image config), classify.c (telling image
 * archives from layers) and tarmembers.c (the member table of an
 * uncompressed image archive, and file access common to archives and layout
 * directories).  The buffer-based parsers and lfs_tarmembers_open are meant
 * as fuzzing entry points too.
 */
#ifndef LFS_IMAGE_INT_H
#define LFS_IMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "layerfs/image.h"

/* No JSON document of an image is read past this size. */
#define LFS_JSON_MAX (16u << 20)
/* Depth of index -> index -> ... -> manifest we follow. */
#define LFS_INDEX_DEPTH 4

#define LFS_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define LFS_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define LFS_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define LFS_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define LFS_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define LFS_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"

enum lfs_digest_alg {
	LFS_DIGEST_SHA256 = 1,
	LFS_DIGEST_SHA512,
};

/*
 * "sha256:" + 64 or "sha512:" + 128 lowercase hex digits: returns the
 * algorithm, or -EINVAL.  Only such strings are ever used to build a path,
 * which is what keeps a manifest from pointing outside blobs/.
 */
int lfs_digest_check(const char *digest);
/* The N characters at S are all lowercase hex digits. */
bool lfs_is_hex(const char *s, size_t n);
/* "sha256:<hex>" of LEN bytes at BUF. */
void lfs_digest_of(const void *buf, size_t len, char out[72]);
/*
 * The image ID docker derives from a docker-save config member's name
 * ("<hex>.json" or "blobs/sha256/<hex>"), malloc'ed, or NULL.
 */
char *lfs_docker_config_id(const char *path);

struct lfs_platform {
	char *os;
	char *arch;
	char *variant; /* NULL when absent */
};

/* "os/arch[/variant]" -> platform; -EINVAL (message set) when malformed. */
int lfs_platform_parse(struct lfs_platform *p, const char *s);
/* The platform of this machine ("linux/amd64", "linux/arm64/v8", ...). */
int lfs_platform_host(struct lfs_platform *p);
/* Same, for the given uname machine string (exposed for the tests). */
int lfs_platform_from_machine(struct lfs_platform *p, const char *machine);
void lfs_platform_clear(struct lfs_platform *p);
/* "os/arch[/variant]" into BUF. */
const char *lfs_platform_str(const struct lfs_platform *p, char *buf, size_t n);
/* 0: cannot run; higher is a better match of HAVE for WANT. */
int lfs_platform_score(const struct lfs_platform *have, const struct lfs_platform *want);

/* An OCI content descriptor (or a docker manifest list entry). */
struct lfs_desc {
	char *media_type; /* NULL when absent */
	char *digest;	  /* well-formed (lfs_digest_check) */
	int64_t size;
	char *ref_name;	  /* annotation org.opencontainers.image.ref.name */
	char *image_name; /* annotation io.containerd.image.name */
	char **annotations; /* all of them: key, value, ..., NULL (NULL: none) */
	bool has_platform;
	struct lfs_platform platform;
};

struct lfs_index {
	size_t n;
	struct lfs_desc *m;
};

struct lfs_manifest {
	char *media_type; /* NULL when absent */
	struct lfs_desc config;
	size_t nlayers;
	struct lfs_desc *layers;
};

/* One element of a docker-save manifest.json. */
struct lfs_docker_image {
	char *config; /* member path, normalised */
	size_t ntags;
	char **tags;
	size_t nlayers;
	char **layers; /* member paths, normalised */
};

struct lfs_docker_manifest {
	size_t n;
	struct lfs_docker_image *img;
};

enum lfs_doc_kind {
	LFS_DOC_INDEX = 1,
	LFS_DOC_MANIFEST,
};

/*
 * Parsers of the JSON documents.  WHAT names the document in messages
 * ("img.tar: index.json"); each returns 0 or -errno with the reason set.
 * On failure the output holds nothing that needs freeing.
 */
int lfs_json_layout(const char *buf, size_t len, const char *what);
int lfs_json_index(const char *buf, size_t len, const char *what, struct lfs_index *out);
int lfs_json_manifest(const char *buf, size_t len, const char *what, struct lfs_manifest *out);
int lfs_json_docker(const char *buf, size_t len, const char *what, struct lfs_docker_manifest *out);
/* The image config (image_config.c); see struct lfs_image_config for what is strict. */
int lfs_json_config(const char *buf, size_t len, const char *what, struct lfs_image_config *out);
/*
 * Helpers of the strict parsers, shared by image_json.c and image_config.c.
 * WHAT names the document, CTX the object ("" at the top level, else
 * "rootfs"); messages name the field ("rootfs.diff_ids[2]").
 */
#define LFS_JSON_FIELD_MAX 128
int lfs_json_bad(int err, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "an object", "a string", ... */
const char *lfs_json_type_name(const json_t *j);
/* A field name for messages into BUF, cut to fit. */
const char *lfs_json_fname(char buf[LFS_JSON_FIELD_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parse BUF (at most LFS_JSON_MAX bytes, no duplicate keys) into a WANT. */
int lfs_json_load(json_t **out, const char *buf, size_t len, const char *what, json_type want);
/* J is a string: *out gets it. */
int lfs_json_str_value(const json_t *j, const char *what, const char *name, const char **out);
/* String member KEY of OBJ copied to *out; NULL when absent (unless REQUIRED). */
int lfs_json_get_str(const json_t *obj, const char *key, bool required, const char *what,
		     const char *ctx, char **out);
/* Member KEY of OBJ is absent (*out NULL; an error when REQUIRED) or of TYPE. */
int lfs_json_get_typed(const json_t *obj, const char *key, json_type type, bool required,
		       const char *what, const char *ctx, json_t **out);
/* D is a well-formed digest; NAME is its field. */
int lfs_json_check_digest(const char *d, const char *what, const char *name);

/*
 * What a descriptor of this media type points at: an index (manifest list)
 * or an image manifest.  -ENOTSUP (message set) for anything else.
 */
int lfs_json_doc_kind(const char *media_type, const char *what);
/* Whether the media type is one of the layer types we can mount. */
bool lfs_json_layer_type_ok(const char *media_type);
/* A member path from manifest.json: relative, no "..": normalised in place. */
int lfs_json_member_path(char *path);

void lfs_index_clear(struct lfs_index *x);
void lfs_manifest_clear(struct lfs_manifest *m);
void lfs_docker_manifest_clear(struct lfs_docker_manifest *d);

/*
 * Member table of an uncompressed tarball: built in one pass that seeks
 * over the data.  Lookups follow symbolic and hard links inside the archive.
 */
struct lfs_tarmembers;

/* FD stays the caller's; NAME names the archive in messages. */
int lfs_tarmembers_open(struct lfs_tarmembers **out, int fd, const char *name);
/*
 * The same for a COMPRESSED (gzip, zstd) stream too: then only the names
 * are of use (find and read need offsets in the file).
 */
int lfs_tarmembers_scan(struct lfs_tarmembers **out, int fd, const char *name, bool compressed);
void lfs_tarmembers_free(struct lfs_tarmembers *t);
/* Whether the archive has an entry of this name (no links followed). */
bool lfs_tarmembers_has(const struct lfs_tarmembers *t, const char *name);
size_t lfs_tarmembers_count(const struct lfs_tarmembers *t);
/* Normalised name of entry I (in name order), for scans of the table. */
const char *lfs_tarmembers_name(const struct lfs_tarmembers *t, size_t i);
/* The regular file NAME resolves to: its data is [*off, *off + *len) of the archive. */
int lfs_tarmembers_find(const struct lfs_tarmembers *t, const char *name, uint64_t *off,
			uint64_t *len);
/* Read a member of at most MAX bytes into a NUL-terminated malloc'ed buffer. */
int lfs_tarmembers_read(const struct lfs_tarmembers *t, const char *name, size_t max, char **buf,
			size_t *len);

/* An image being opened: an archive (TM set) or a layout directory. */
struct lfs_src {
	const char *path; /* as the user named it */
	int fd;		  /* the archive, or the layout directory */
	struct lfs_tarmembers *tm;
};

/*
 * Where file REL of the source is: bytes [*off, *off + *len) of *fd.  For an
 * archive *fd is the archive's own (shared); for a directory it is a new fd
 * the caller owns.
 */
int lfs_src_locate(const struct lfs_src *s, const char *rel, int *fd, uint64_t *off, uint64_t *len);
/* File REL (a JSON document, at most LFS_JSON_MAX bytes), NUL-terminated. */
int lfs_src_read(const struct lfs_src *s, const char *rel, char **buf, size_t *len);
bool lfs_src_has(const struct lfs_src *s, const char *rel);

/* "blobs/sha512/" + 128 hex digits. */
#define LFS_BLOB_REL_MAX 160
/* "blobs/<alg>/<hex>" for a descriptor's digest (digest.c); only sha256 can be checked. */
int lfs_blob_rel(const struct lfs_src *s, const char *digest, char rel[LFS_BLOB_REL_MAX]);
/* The blob of descriptor D, checked against its size and digest (digest.c). */
int lfs_src_read_blob(const struct lfs_src *s, const struct lfs_desc *d, char **buf, size_t *len);

/*
 * image_select.c: which image the user means.  Follow descriptor D down to
 * an image manifest *M (its digest *MDIGEST), choosing by platform in
 * indexes.
 */
int lfs_oci_resolve(const struct lfs_src *s, const struct lfs_desc *d, const struct lfs_platform *p,
		    int depth, struct lfs_manifest *m, char **mdigest);
/*
 * Choose among the entries of index.json X by TAG (DM: a docker-save
 * manifest.json alongside, or NULL), then by platform: *out its index,
 * *ref the name it goes by.
 */
int lfs_oci_select(const struct lfs_src *s, const struct lfs_index *x,
		   const struct lfs_docker_manifest *dm, const char *tag,
		   const struct lfs_platform *p, size_t *out, const char **ref);
/* Choose among the images of docker-save's manifest.json DM by TAG. */
int lfs_docker_select(const struct lfs_src *s, const struct lfs_docker_manifest *dm,
		      const char *tag, size_t *out, const char **ref);

/*
 * Name of the first entry of the tar stream in FD (decompressing gzip or zstd
 * when COMPRESSED), normalised; *first is NULL for an empty archive.
 */
int lfs_tar_first_name(int fd, const char *name, bool compressed, char **first);
/*
 * What the regular file FD is, by structure (classify.c): layer (tar, gzip or
 * zstd) or image archive.  A compressed image archive is an error.  A tarball
 * is an image archive when it holds an OCI layout (oci-layout, index.json and
 * blobs/<alg>/<hex>) or a docker-save manifest.json; it then gets a member
 * table (*tm).  Member names alone never make an image: a layer may hold
 * index.json or manifest.json.
 */
int lfs_tar_classify(int fd, const char *path, enum lfs_image_kind *kind,
		     struct lfs_tarmembers **tm);
/* "./a//b/" -> "a/b" in place; -EINVAL when a ".." component remains. */
int lfs_tar_normalise(char *path);

/*
 * image_transport.c: SOURCE in the containers-transports spelling.  Only
 * "docker:", "oci:", "oci-archive:" and "docker-archive:" are transports;
 * anything else is a plain path (T == LFS_TRANSPORT_NONE, PATH a copy).
 */
enum lfs_transport {
	LFS_TRANSPORT_NONE = 0,
	LFS_TRANSPORT_DOCKER,	      /* PATH: the whole "docker://..." */
	LFS_TRANSPORT_OCI,	      /* oci:PATH[:REF] */
	LFS_TRANSPORT_OCI_ARCHIVE,    /* oci-archive:PATH[:REF] */
	LFS_TRANSPORT_DOCKER_ARCHIVE, /* docker-archive:PATH[:REF] */
};

struct lfs_transport_src {
	enum lfs_transport t;
	char *path;
	char *ref; /* REF, or NULL */
};

/* -EINVAL (message set) for a transport with a malformed rest. */
int lfs_transport_parse(const char *s, struct lfs_transport_src *out);
void lfs_transport_clear(struct lfs_transport_src *t);
const char *lfs_transport_name(enum lfs_transport t);
/* S names an image through a transport (never a layer file). */
bool lfs_transport_is_image(const char *s);

/*
 * image_registry.c: the image "docker://..." (SOURCE): its manifest (chosen
 * by platform P in an index), config and layers read from the registry.
 */
int lfs_registry_image_open(struct lfs_image *img, const char *source,
			    const struct lfs_image_opts *o, const struct lfs_platform *p);
/* What an image from a registry keeps open (lfs_image.remote). */
struct lfs_image_remote {
	struct lfs_registry *r;
	struct lfs_chunkcache *cc;
	uint64_t compressed;	/* the layer blobs' bytes */
	uint64_t manifest_size; /* the image manifest's, for a descriptor of it */
	char *manifest_type;	/* ... and its media type */
	char ***annotations;	/* the layers' annotations (lfs_layer_desc), nlayers of them */
	size_t nannotations;
};
/* Release what an image from a registry kept open (lfs_image_free). */
void lfs_image_remote_free(struct lfs_image_remote *rm);

/*
 * The annotations of layer descriptors (lfs_layer_desc.annotations).  A
 * local image's layer L takes D's (image.c, as it fills L from the
 * manifest's descriptor D); a registry image's are kept by img->remote.
 * lfs_image_annotations_free (from lfs_image_free) frees the local ones.
 */
void lfs_layer_desc_take_annotations(struct lfs_layer_desc *l, struct lfs_desc *d);
void lfs_image_annotations_free(struct lfs_image *img);
void lfs_strv_free(char **v);

/*
 * image_select.c: the entry of index X for platform P (among CAND when not
 * NULL): the best-scoring one, the first among equals.  WHAT names X.
 */
int lfs_pick_platform(const struct lfs_index *x, const bool *cand, const struct lfs_platform *p,
		      const char *what, size_t *out);

#endif
