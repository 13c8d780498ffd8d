/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report: what each layer of an image adds, changes and deletes, and
 * which stored bytes the final image never shows (waste).
 *
 * Four tiers, each calling only the tiers below it (scripts/check-layering
 * checks it on the object files):
 *   report_main.c      options, gates, and the run: analyse, select, write;
 *   writers            report_text.c, report_json.c, report_html.c: read
 *                      struct report and the selected rows, and format;
 *   analysis           report_analyze.c drives the mount's merge (tree.c,
 *                      through report_merge.c)
 *                      with the books (report_events.c) and dive's tally
 *                      (report_dive.c) observing it; report_history.c,
 *                      report_suggest.c, report_select.c (the rows each
 *                      listing shows);
 *   helpers            report_format.c (names, sizes, paths),
 *                      report_glob.c (--ignore/--filter globs).
 */
#ifndef LFS_REPORT_H
#define LFS_REPORT_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "layerfs/core.h"

/* Why bytes stored in a layer are not visible in the final image. */
enum report_cause {
	REPORT_DELETED = 0, /* a whiteout or an opaque directory */
	REPORT_OVERWRITTEN, /* replaced by a file with other content */
	REPORT_IDENTICAL,   /* re-stored with the same content (chmod, chown, touch) */
	REPORT_TYPE,	    /* replaced by another type (file <-> dir, symlink, ...) */
	REPORT_NCAUSES,
};

/* What marked a deletion. */
enum report_marker {
	REPORT_BY_ENTRY = 0, /* not a deletion: an entry of the hiding layer */
	REPORT_BY_WHITEOUT,
	REPORT_BY_OPAQUE,
};

enum report_change_kind {
	REPORT_ADDED = 0,
	REPORT_MODIFIED,
	REPORT_REMOVED,
};

/* A file whose stored bytes the final image does not show. */
struct report_waste {
	const char *path; /* the last name it had in the merged view */
	uint64_t bytes;
	uint32_t stored;    /* layer index that stores it */
	uint32_t hidden_by; /* layer index that hid its last name */
	uint8_t cause;	    /* enum report_cause */
	uint8_t marker;	    /* enum report_marker */
	uint8_t ignored;    /* matches --ignore: left out of the figures */
};

/* One path a layer adds, modifies or deletes (kept for --layer and HTML). */
struct report_change {
	const char *path;
	uint64_t bytes;	   /* file data this layer stores at the path */
	uint64_t hidden;   /* bytes of lower layers this change made invisible */
	uint32_t mode;	   /* the layer's entry (0 for deletions) */
	uint32_t old_mode; /* what it replaced or deleted (0 when added) */
	uint8_t kind;	   /* enum report_change_kind */
	uint8_t cause;	   /* how the lower entry went (modified, removed) */
	uint8_t marker;	   /* removed: whiteout or opaque directory */
};

struct report_count {
	uint64_t entries, bytes;
};

struct report_layer {
	/* Identity, from the image (not owned). */
	const char *digest, *diff_id, *media_type;
	/* From the config's history (owned), NULL when unknown. */
	char *created_by, *instruction, *comment;
	int history_index;    /* -1: none */
	char name[64];	      /* the layer file's name, for layers without a digest */
	char *config_diff_id; /* from the config's rootfs.diff_ids when the image has none */
	const char *comp;
	uint64_t stored_size, plain_size, tar_entries;
	uint64_t files, dirs, symlinks, others, hardlinks, whiteouts, opaque_dirs;
	uint64_t dangling_whiteouts; /* whiteouts of paths absent below */
	struct report_count added, modified, removed;
	uint64_t stored_bytes;	/* file data in the layer (hard links once) */
	uint64_t visible_bytes; /* of it, still in the final image */
	uint64_t hidden_bytes;	/* of it, hidden by later layers */
	uint64_t wasted_bytes;	/* hidden, not --ignore'd */
	uint64_t ignored_bytes; /* hidden, --ignore'd */
	uint64_t wasted_by_cause[REPORT_NCAUSES];
	uint64_t hides_bytes; /* bytes of lower layers this layer hid (not ignored) */
	uint64_t hides_by_cause[REPORT_NCAUSES];
	struct report_change *changes; /* only for the layers asked for */
	size_t nchanges, capchanges;
	/* dive's reading of the layer stopped at a whiteout of a missing path */
	const char *dive_stop;
	uint64_t dive_skipped;
};

struct report_dup_copy {
	const char *path;
	uint32_t layer;
	uint8_t visible;
};

/* Distinct stored files with the same content (xxh3-128 and size). */
struct report_dup {
	uint64_t size;
	uint64_t hash_hi, hash_lo;
	uint32_t ncopies, nvisible, nlayers;
	uint64_t redundant;	   /* (visible copies - 1) * size */
	uint64_t stored_redundant; /* (copies - 1) * size */
	struct report_dup_copy *copies;
};

enum report_sugg_kind {
	REPORT_SUGG_PKG_CACHE = 0, /* package-manager lists and caches, deleted later */
	REPORT_SUGG_LOGS,	   /* logs deleted later */
	REPORT_SUGG_COPY_UP,	   /* chmod/chown/touch re-stored a whole tree */
	REPORT_SUGG_DELETED,	   /* other files created and deleted in different steps */
	REPORT_SUGG_OVERWRITTEN,   /* files rewritten by a later step */
	REPORT_SUGG_SHIPPED_CACHE, /* caches still visible in the final image */
	REPORT_NSUGG,
};

struct report_suggestion {
	uint8_t kind;
	const char *path; /* the directory the finding is about */
	uint64_t bytes, files;
	uint32_t stored;   /* layer index that stores the bytes */
	int64_t hidden_by; /* layer index that hid them, -1 for shipped caches */
	char *text;	   /* the advice, one sentence or two */
};

struct report_totals {
	uint64_t stored_size, plain_size, tar_entries;
	uint64_t stored_bytes, visible_bytes, hidden_bytes, wasted_bytes, ignored_bytes;
	uint64_t wasted_by_cause[REPORT_NCAUSES];
	uint64_t wasted_by_marker[3];
	uint64_t visible_files;
	double efficiency; /* 1 - wasted / stored */
	/* layers from --base on ("your" layers) */
	uint64_t user_stored_bytes, user_wasted_bytes;
	uint64_t base_hidden_by_user; /* base bytes your layers hid: not reclaimable by you */
	double user_efficiency;
	uint64_t dup_groups, dup_visible_redundant, dup_stored_redundant;
	double est_wasted_compressed;
};

/*
 * dive's efficiency score, computed the way dive computes it (report_dive.c);
 * the bytes dive misses that the books count (directories deleted by one
 * whiteout, what opaque directories hid) come from the books (report_events.c).
 */
struct report_dive {
	double efficiency;
	uint64_t wasted;	     /* sum of all copies of paths stored more than once */
	uint64_t kept_copy_bytes;    /* the copies of those paths the final image shows */
	uint64_t dir_whiteout_bytes; /* whole directories deleted by one whiteout */
	uint64_t opaque_bytes;	     /* bytes hidden by opaque directories */
	uint32_t layers_stopped;
};

struct report_opts {
	uint32_t base;	     /* the first BASE layers are the base image */
	char *const *ignore; /* --ignore globs */
	size_t nignore;
	int changes_layer; /* -1: none, -2: every layer, else a layer index */
	/* told every event of the merge too (--path), after the books; NULL: none */
	const struct lfs_merge_observer *watch;
};

struct report {
	const struct lfs_core *core;
	struct report_opts opts;
	struct lfs_arena *arena; /* paths and small objects */
	uint32_t nlayers;
	struct report_layer *layers;
	struct report_waste *waste;
	size_t nwaste, capwaste;
	struct report_dup *dups;
	size_t ndups;
	struct report_suggestion *sugg;
	size_t nsugg;
	struct report_totals totals;
	struct report_dive dive;
};

/* Two images: what B shares with A and what it adds. */
struct report_compare {
	const struct report *a;
	uint32_t shared_prefix; /* B's first layers equal to A's */
	int32_t *b_in_a;	/* for each layer of B: its index in A, or -1 */
	struct report_count added, removed, changed; /* final trees, B against A */
	struct report_change *files;		     /* those paths */
	size_t nfiles, capfiles;
	struct lfs_arena *arena;
};

/* --fail-if gates. */
enum report_unit { REPORT_UNIT_BYTES, REPORT_UNIT_RATIO, REPORT_UNIT_COUNT };

struct report_gate {
	const char *expr;
	const char *metric;
	int op; /* '<', 'l' (<=), '>', 'g' (>=), '=', '!' */
	double value;
	double actual;
	int unit;    /* enum report_unit */
	int applies; /* 0: the absolute floor (--min-waste) was not reached */
	int violated;
};

enum report_sort { REPORT_SORT_SIZE = 0, REPORT_SORT_PATH, REPORT_SORT_LAYER, REPORT_SORT_CAUSE };

/* Rows of a listing: indexes into the report's array, in the order shown. */
struct report_rows {
	size_t *idx;
	size_t n;
};

/* What the listings show (report_select.c): --filter applied, --sort order. */
struct report_selection {
	struct report_rows waste;     /* r->waste, not --ignore'd */
	struct report_rows dups;      /* r->dups with a copy --filter keeps */
	struct report_rows *changes;  /* per layer, its change list */
	struct report_rows cmp_files; /* the comparison's paths */
	uint32_t nlayers;
};

/* What the writers show and how. */
struct report_view {
	char *const *sources;
	size_t nsources;
	size_t top;	    /* listings: at most TOP rows, 0: all */
	size_t top_changes; /* --layer listings: --top when given, else 0 (all) */
	int sort;	    /* enum report_sort */
	char *const *filter;
	size_t nfilter;
	int layer; /* --layer: index, or -1 */
	int color;
	uint64_t min_waste;
	struct report_gate *gates;
	size_t ngates;
	const struct report_compare *cmp;
	const struct report_selection *sel;	/* the rows the listings show */
	const struct report_tree *tree;		/* HTML: the final image's tree */
	const struct report_packages *packages; /* HTML with --packages */
};

/* What the books know of a stored non-directory (hard links share one). */
struct report_file {
	const struct lfs_node *n;
	const char *path; /* its first name */
	uint32_t names;	  /* names it has in the merged view now */
	uint8_t counted;  /* bytes counted in its layer's stored bytes */
};

/* The books kept over the merge's events (report_events.c). */
struct report_acct {
	struct report *r;
	struct report_file *files; /* open addressing on the node's address */
	size_t cap, used;
	int record;		       /* keep the change list of the layer applied */
	struct lfs_merge_observer obs; /* to pass to lfs_tree_apply_observed */
	uint64_t freed;		       /* bytes the current event made invisible */
	char path[2 * PATH_MAX + 2];   /* of the entry at hand */
};

/* report_events.c: the books */
void report_acct_init(struct report_acct *x, struct report *r);
/* Before layer K is applied: what it superseded itself; RECORD: keep its changes. */
void report_acct_layer(struct report_acct *x, uint32_t k, const struct lfs_layer *l, int record);
/* After the last layer: visible bytes, then the waste rows' sums (after --ignore marked them). */
void report_acct_visible(struct report_acct *x);
void report_acct_sum_waste(struct report *r);
struct report_file *report_acct_file(struct report_acct *x, const struct lfs_node *n, int create);
void report_acct_free(struct report_acct *x);
uint64_t report_node_bytes(const struct lfs_node *n);
int report_replace_cause(const struct lfs_node *lower, const struct lfs_node *upper);

/* report_dive.c: dive's score, kept over the same merge */
struct report_dive_acct;
/* LAYERS: the image's, merged in order (report_dive_layer reads their trees). */
struct report_dive_acct *report_dive_new(struct report *r, struct lfs_layer *const *layers);
/* To be told every event of the mount's merge of each layer. */
const struct lfs_merge_observer *report_dive_observer(struct report_dive_acct *d);
/* After layer K was merged. */
void report_dive_layer(struct report_dive_acct *d, uint32_t k);
/* dive's view of the layers so far, when it differs from the mount's (else NULL). */
const struct lfs_node *report_dive_view(const struct report_dive_acct *d);
/* After the last layer, FINAL the merged root: r->dive; frees D. */
void report_dive_finish(struct report_dive_acct *d, struct lfs_node *final);

/*
 * report_merge.c: merge LAYERS[0..N) as the mount does, with the books X
 * and dive's tally DIVE watching; layer K's changes are kept when
 * CHANGES_LAYER is K or -2 (all).  Returns the merged tree (the caller
 * frees it).
 */
struct lfs_tree *report_merge(struct report_acct *x, struct report_dive_acct *dive,
			      struct lfs_layer *const *layers, uint32_t n, int changes_layer);

/* report_history.c: which instruction made each layer, from the image config */
void report_history(struct report *r, const struct lfs_image_config *cfg);

/* report_analyze.c */
int report_analyze(struct report *r, const struct lfs_core *c, const struct report_opts *o);
void report_free(struct report *r);
void report_set_base(struct report *r, uint32_t base);
int report_compare(struct report_compare *cmp, const struct report *a, const struct report *b);
void report_compare_free(struct report_compare *cmp);

/* report_suggest.c: find the usual culprits in R's waste and say which instruction to change */
void report_suggest(struct report *r);

/* report_select.c */
void report_select(struct report_selection *s, const struct report *r, const struct report_view *v);
void report_selection_free(struct report_selection *s);

/* Writers: report_text.c, report_json.c, report_html.c */
int report_text(FILE *f, const struct report *r, const struct report_view *v);
int report_json(FILE *f, const struct report *r, const struct report_view *v);
int report_html(FILE *f, const struct report *r, const struct report_view *v);

/* report_format.c: helpers for the writers */
extern const char *const report_cause_names[REPORT_NCAUSES];
extern const char *const report_marker_names[3];
extern const char *const report_kind_names[3];
extern const char *const report_sugg_names[REPORT_NSUGG];
const char *report_type_name(uint32_t mode);
void report_fmt_size(char *buf, size_t n, uint64_t bytes);
/* V in UNIT (enum report_unit) for people: "247 MB", "0.9123 (91.2%)", "6". */
void report_fmt_value(char *buf, size_t n, int unit, double v);
/* S with control characters and bytes that are not UTF-8 as \xNN. */
char *report_clean(const char *s);

/* report_path.c: --path, every layer's version of the paths asked for */
struct report_version {
	const struct lfs_node *node; /* the layer's entry (NULL for a deletion) */
	const char *by;		     /* deletion through an ancestor: its path */
	uint64_t size, bytes;	     /* st_size; file data stored */
	uint32_t layer, mode, old_mode, uid, gid;
	uint8_t change;	    /* enum report_change_kind */
	uint8_t how;	    /* deletions: enum report_marker (ENTRY: a non-directory took BY) */
	uint8_t unreadable; /* --packages: could not be read or parsed (said once) */
	char *data;	    /* --packages: the content, once read (the reader frees it) */
};

struct report_path {
	const char *path;
	struct report_version *v; /* in layer order */
	size_t n, capv;
	int visible;	 /* index into V of the version the final image shows, -1: none */
	uint64_t wasted; /* bytes the books count as waste under this name */
};

struct report_paths {
	char *const *globs;
	size_t nglobs;
	char **tails;			       /* each glob's literal end: a quick first test */
	struct lfs_merge_observer obs;	       /* for report_opts.watch */
	const struct lfs_merge_observer *next; /* told each event after this one */
	struct report_path *p;		       /* sorted by path after report_paths_finish */
	size_t n, cap, *slots;
	struct lfs_arena *arena;
	char buf[2 * PATH_MAX + 2];
};

void report_paths_init(struct report_paths *ps, char *const *globs, size_t nglobs);
void report_paths_finish(struct report_paths *ps, const struct report *r);
size_t report_paths_unmatched(const struct report_paths *ps, const char **first);
void report_paths_free(struct report_paths *ps);
/* report_path_out.c: --path as text, and as JSON (a jansson json_t *) */
int report_paths_text(FILE *f, const struct report *r, const struct report_paths *ps);
void *report_paths_json(const struct report *r, const struct report_paths *ps);

/* report_tree.c: --tree, the rows of the final image's tree or of a layer's changes */
struct report_tree_row {
	const char *name;	     /* "" for the root */
	const char *path;	     /* a layer's tree: the change's path; NULL in the final tree */
	const struct lfs_node *node; /* the final tree's entry (NULL in a layer's tree) */
	uint64_t bytes;		     /* file data; directories: everything below */
	uint64_t files;		     /* regular files (directories: below) */
	uint64_t hidden;	     /* a layer's tree: lower bytes the change hid (summed) */
	uint32_t depth;		     /* 0: the root */
	uint32_t mode;
	int32_t layer; /* the layer that stores the entry, -1: none */
	int8_t change; /* a layer's tree: enum report_change_kind, -1: passed through */
	uint8_t implied;
};

struct report_tree {
	int layer;		      /* -1: the final image */
	uint32_t depth;		      /* rows shown down to this depth, 0: all */
	struct report_tree_row *rows; /* pre-order, siblings by name */
	size_t n, cap;
	struct lfs_arena *arena;
};

/* LAYER: -1 the final image, else a layer whose changes the books kept. */
void report_tree_build(struct report_tree *t, const struct report *r, int layer, uint32_t depth);
void report_tree_free(struct report_tree *t);
/* report_tree_out.c */
int report_tree_text(FILE *f, const struct report *r, const struct report_tree *t);
void *report_tree_json(const struct report *r, const struct report_tree *t);

/* report_diff.c: --diff, each file version against the one it replaced */
struct report_diff {
	const char *path;
	const struct report_version *from, *to;
	char *text;	  /* diff -u's output ("" when the contents are equal) */
	const char *note; /* why there is no diff (binary, too big ...), else NULL */
};

struct report_diffs {
	struct report_diff *v;
	size_t n;
};

/* LAYER >= 0: only the versions that layer wrote (--diff with --layer) */
void report_diffs_build(struct report_diffs *ds, const struct report *r,
			const struct report_paths *ps, int layer);
void report_diffs_free(struct report_diffs *ds);
/* report_diff_out.c */
int report_diff_text(FILE *f, const struct report *r, const struct report_diffs *ds);
void *report_diff_json(const struct report *r, const struct report_diffs *ds);

/* report_pkg_db.c: the package databases' formats */
struct report_pkg {
	char *key; /* identity across layers: the name, or the package's directory */
	char *name, *version;
	char **files; /* absolute paths */
	size_t nfiles, capfiles;
	int dir; /* its files are those below KEY (npm) */
};

struct report_pkgs {
	struct report_pkg *v;
	size_t n, cap;
};

struct report_pkg *report_pkgs_add(struct report_pkgs *ps, const char *key, const char *name,
				   size_t nlen, const char *ver, size_t vlen);
void report_pkg_file(struct report_pkg *p, const char *path, size_t len);
void report_pkgs_free(struct report_pkgs *ps);
int report_dpkg_status(const char *buf, size_t len, struct report_pkgs *out);
int report_dpkg_list(const char *buf, size_t len, struct report_pkg *p);
int report_apk_installed(const char *buf, size_t len, struct report_pkgs *out);
int report_py_record(const char *record_path, const char *buf, size_t len, struct report_pkgs *out);
int report_npm_package(const char *json_path, const char *buf, size_t len, struct report_pkgs *out);

/* report_pkg.c: --packages, what each layer did to the packages */
enum { REPORT_PKG_DPKG, REPORT_PKG_APK, REPORT_PKG_PY, REPORT_PKG_NPM, REPORT_PKG_NMGR };
enum { REPORT_PKG_INSTALLED, REPORT_PKG_REMOVED, REPORT_PKG_UPGRADED, REPORT_PKG_UNCHANGED };
extern const char *const report_pkg_managers[REPORT_PKG_NMGR];
extern const char *const report_pkg_changes[4];

struct report_pkg_change {
	char *name, *version, *old_version; /* version NULL when removed, old NULL when new */
	uint64_t bytes, files;		    /* its files the layer stores */
	uint64_t wasted;		    /* of them, not shown by the final image */
	uint8_t manager, change;
};

struct report_pkg_layer {
	struct report_pkg_change *v;
	size_t n;
};

struct report_packages {
	struct report_paths track; /* the databases' files, for report_opts.watch */
	struct report_pkg_layer *layers;
	uint32_t nlayers;
	int found[REPORT_PKG_NMGR];		   /* some layer has that database */
	size_t final_count[REPORT_PKG_NMGR];	   /* packages in the final image */
	struct report_pkgs final[REPORT_PKG_NMGR]; /* those packages, by key */
	struct report_pkg_layer cmp; /* two images: what B has that A had not, by final trees */
	int compared;
	int built;    /* report_packages_build ran */
	char **notes; /* databases that could not be read */
	size_t nnotes;
};

void report_packages_init(struct report_packages *pk);
void report_packages_build(struct report_packages *pk, const struct report *r);
void report_packages_free(struct report_packages *pk);
/* B's final packages against A's, into B->cmp (bytes: B's files' in B's final image). */
void report_packages_compare(struct report_packages *b, const struct report_packages *a);
/* report_pkg_out.c */
int report_packages_text(FILE *f, const struct report *r, const struct report_packages *pk);
void *report_packages_json(const struct report *r, const struct report_packages *pk);

/* report_query.c: the answers to --path, --tree, --diff (instead of the report) */
struct report_query {
	const struct report_paths *paths;
	const struct report_tree *tree;
	const struct report_diffs *diffs;
	const struct report_packages *packages;
};
int report_query_write(FILE *f, const struct report *r, const struct report_query *q,
		       char *const *sources, size_t nsources, int json);
/*
 * After the analysis: finish PS (may be NULL), build the tree when TREE
 * (LAYER: -1 the final image), write the answers.  0, 1 when a --path glob
 * matched nothing (said on stderr), or -errno.
 */
int report_query_answer(FILE *f, const struct report *r, struct report_paths *ps,
			struct report_paths *diff, struct report_packages *pk,
			struct report_packages *pk_a, const struct report *ra, int tree,
			uint32_t depth, int layer, char *const *sources, size_t nsources, int json);

/* report_glob.c */
int report_glob_match(const char *pat, const char *path);
/* PAT matches PATH itself (not through an ancestor); same syntax otherwise. */
int report_glob_match_exact(const char *pat, const char *path);

#endif
