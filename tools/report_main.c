/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report: options, the --fail-if gates, and the run itself: open the
 * image(s) with the core (layers indexed in parallel, every file's content
 * hashed), analyse, suggest, select the rows to list, write.
 *
 * Exit status: 0 fine, 1 bad input or an I/O error, 2 a --fail-if gate
 * holds, 64 bad usage (EX_USAGE: 2 is taken by the gates).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "layerfs/opts.h"
#include "report.h"

#define EXIT_GATE  2
#define EXIT_USAGE 64

enum {
	OPT_JSON = 256,
	OPT_HTML,
	OPT_TOP,
	OPT_LAYER,
	OPT_SORT,
	OPT_FILTER,
	OPT_IGNORE,
	OPT_BASE,
	OPT_FAIL_IF,
	OPT_MIN_WASTE,
	OPT_LAYERS,
	OPT_COLOR,
	OPT_TIMING,
	OPT_PATH,
	OPT_TREE,
	OPT_DEPTH,
	OPT_DIFF,
	OPT_PACKAGES,
};

struct cli {
	int json, layers_mode, timing, color, base_given;
	const char *html;
	long layer;
	int layer_given;
	uint32_t base;
	char **filter, **ignore, **gates, **paths, **diffs;
	size_t nfilter, nignore, ngates, npaths, ndiffs;
	int tree, packages;
	uint32_t depth;
	int depth_given;
	const struct lfs_merge_observer *watch;	  /* --path's, on the image reported */
	const struct lfs_merge_observer *watch_a; /* --packages on IMAGE_A */
	struct lfs_image_cli image;		  /* the options shared with layerfs */
	struct lfs_core_opts core;
	struct report_view view;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: layerfs-report [OPTION]... IMAGE [IMAGE_B]\n"
		"       layerfs-report [OPTION]... --layers LAYER...\n"
		"Show what each layer of a container image adds, changes and deletes, and the\n"
		"bytes stored in layers that the final image never shows (waste).\n"
		"\n"
		"IMAGE is a docker-save tarball, an OCI image layout directory or an OCI archive,\n"
		"or docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST] (a registry's image), oci:PATH,\n"
		"oci-archive:PATH, docker-archive:PATH (each with :REF, as --tag).\n"
		"With IMAGE_B: the layers B shares with IMAGE, and what B adds or wastes over it.\n"
		"With --layers: the arguments are the layer files of one image, lowest first.\n"
		"\n"
		"Output:\n"
		"      --json              the report as JSON (schema in layerfs-report(1))\n"
		"      --html FILE         a self-contained HTML page with charts ('-': stdout)\n"
		"      --top N             list the N biggest wasted paths (default 10, 0: all)\n"
		"      --layer K           every path layer K adds, modifies and deletes\n"
		"                          (1 is the lowest layer; -1 the topmost)\n"
		"      --sort KEY          order listings by size, path, layer or cause\n"
		"      --filter GLOB       list only paths matching GLOB (repeatable)\n"
		"      --color[=WHEN]      colour the text: auto (default), always, never\n"
		"      --timing            print how long indexing and analysis took\n"
		"\n"
		"Questions (their answers replace the report; text or --json):\n"
		"      --path GLOB         every layer's version of the matching paths: added,\n"
		"                          modified or deleted, type, size, mode, owner,\n"
		"                          content hash, instruction; which one is visible\n"
		"                          (repeatable)\n"
		"      --tree              the final image as a tree, bytes per directory and\n"
		"                          each entry's layer; with --layer K, that layer's\n"
		"                          changes as a tree (added, modified, deleted)\n"
		"      --depth N           --tree: show N levels below / (sizes still count all)\n"
		"      --diff GLOB         a unified diff of each file version against the\n"
		"                          one it replaced (diff -u; binary: size and hash)\n"
		"      --packages          per layer, the packages installed, removed, upgraded\n"
		"                          or stored again (dpkg, apk, Python, npm), with the\n"
		"                          bytes of their files there\n"
		"\n"
		"Figures and CI gates:\n"
		"      --ignore GLOB       leave matching paths out of the waste (repeatable)\n"
		"      --base N            the first N layers are the base image: leave them\n"
		"                          out of the user_* figures\n"
		"      --fail-if EXPR      exit 2 when EXPR holds, e.g. 'wasted>50MB',\n"
		"                          'efficiency<0.9' (repeatable; metrics in the man page)\n"
		"      --min-waste SIZE    ratio gates apply only when the waste they are about\n"
		"                          exceeds SIZE (default 1MB)\n"
		"\n"
		"Input:\n"
		"      --layers            the arguments are layer files, lowest first\n"
		"  -q, --quiet             no warnings, no progress\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"Image options (as in layerfs and layerfs-chroot):\n" LFS_IMAGE_HELP "\n"
		"Exit status: 0 fine, 1 bad input or I/O error, 2 a --fail-if gate holds,\n"
		"64 bad usage.\n");
}

/*
 * "50MB", "1.5GiB", "4096", "90%" (-> 0.9); *UNIT: whether a unit or '%'
 * followed the number.  Returns 0 or -EINVAL.
 */
static int parse_quantity(const char *s, double *out, int *percent, int *unit)
{
	static const struct {
		const char *u;
		double f;
	} units[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", 1e3},
	    {"kb", 1e3},
	    {"m", 1e6},
	    {"mb", 1e6},
	    {"g", 1e9},
	    {"gb", 1e9},
	    {"t", 1e12},
	    {"tb", 1e12},
	    {"kib", 1024.0},
	    {"mib", 1048576.0},
	    {"gib", 1073741824.0},
	    {"tib", 1099511627776.0},
	};
	char *end;
	double v;

	while (*s == ' ')
		s++;
	v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	while (*end == ' ')
		end++;
	*percent = 0;
	*unit = *end != '\0';
	if (!strcmp(end, "%")) {
		*percent = 1;
		*out = v / 100;
		return 0;
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(units); i++) {
		if (!strcasecmp(end, units[i].u)) {
			*out = v * units[i].f;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	double v;
	int pct, unit;

	if (parse_quantity(s, &v, &pct, &unit) < 0 || pct || v > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* The metrics --fail-if knows; FLOOR names the waste a ratio is about. */
enum floor { NO_FLOOR, FLOOR_WASTED, FLOOR_USER, FLOOR_DIVE };
enum metric_id {
	M_WASTED,
	M_USER_WASTED,
	M_EFFICIENCY,
	M_USER_EFFICIENCY,
	M_WASTED_RATIO,
	M_USER_WASTED_RATIO,
	M_DELETED, /* the causes, in enum report_cause order */
	M_OVERWRITTEN,
	M_IDENTICAL,
	M_TYPE,
	M_DUPLICATES,
	M_SIZE,
	M_PLAIN_SIZE,
	M_VISIBLE,
	M_LAYERS,
	M_DIVE_EFFICIENCY,
	M_DIVE_WASTED,
	M_COUNT,
};

static const struct metric {
	const char *name;
	int unit;
	int floor;
} metrics[M_COUNT] = {
    [M_WASTED] = {"wasted", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_USER_WASTED] = {"user_wasted", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_EFFICIENCY] = {"efficiency", REPORT_UNIT_RATIO, FLOOR_WASTED},
    [M_USER_EFFICIENCY] = {"user_efficiency", REPORT_UNIT_RATIO, FLOOR_USER},
    [M_WASTED_RATIO] = {"wasted_ratio", REPORT_UNIT_RATIO, FLOOR_WASTED},
    [M_USER_WASTED_RATIO] = {"user_wasted_ratio", REPORT_UNIT_RATIO, FLOOR_USER},
    [M_DELETED] = {"deleted", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_OVERWRITTEN] = {"overwritten", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_IDENTICAL] = {"identical", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_TYPE] = {"type", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_DUPLICATES] = {"duplicates", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_SIZE] = {"size", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_PLAIN_SIZE] = {"plain_size", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_VISIBLE] = {"visible", REPORT_UNIT_BYTES, NO_FLOOR},
    [M_LAYERS] = {"layers", REPORT_UNIT_COUNT, NO_FLOOR},
    [M_DIVE_EFFICIENCY] = {"dive_efficiency", REPORT_UNIT_RATIO, FLOOR_DIVE},
    [M_DIVE_WASTED] = {"dive_wasted", REPORT_UNIT_BYTES, NO_FLOOR},
};

static double metric_value(const struct report *r, int m, double *floor)
{
	const struct report_totals *t = &r->totals;
	double stored = t->stored_bytes ? (double)t->stored_bytes : 1;
	double ustored = t->user_stored_bytes ? (double)t->user_stored_bytes : 1;

	*floor = metrics[m].floor == FLOOR_WASTED ? (double)t->wasted_bytes
		 : metrics[m].floor == FLOOR_USER ? (double)t->user_wasted_bytes
		 : metrics[m].floor == FLOOR_DIVE ? (double)r->dive.wasted
						  : 0;
	switch (m) {
	case M_WASTED:
		return (double)t->wasted_bytes;
	case M_USER_WASTED:
		return (double)t->user_wasted_bytes;
	case M_EFFICIENCY:
		return t->efficiency;
	case M_USER_EFFICIENCY:
		return t->user_efficiency;
	case M_WASTED_RATIO:
		return (double)t->wasted_bytes / stored;
	case M_USER_WASTED_RATIO:
		return (double)t->user_wasted_bytes / ustored;
	case M_DELETED:
	case M_OVERWRITTEN:
	case M_IDENTICAL:
	case M_TYPE:
		return (double)t->wasted_by_cause[m - M_DELETED];
	case M_DUPLICATES:
		return (double)t->dup_visible_redundant;
	case M_SIZE:
		return (double)t->stored_size;
	case M_PLAIN_SIZE:
		return (double)t->plain_size;
	case M_VISIBLE:
		return (double)t->visible_bytes;
	case M_LAYERS:
		return r->nlayers;
	case M_DIVE_EFFICIENCY:
		return r->dive.efficiency;
	default:
		return (double)r->dive.wasted;
	}
}

/* "metric OP value": 0, or -EINVAL with a message. */
static int parse_gate(const char *expr, struct report_gate *g)
{
	const char *p = expr, *name;
	size_t len;
	int m, pct, unit;

	memset(g, 0, sizeof(*g));
	g->expr = expr;
	while (*p == ' ')
		p++;
	name = p;
	while ((*p >= 'a' && *p <= 'z') || *p == '_')
		p++;
	len = (size_t)(p - name);
	for (m = 0; m < M_COUNT; m++)
		if (strlen(metrics[m].name) == len && !strncmp(metrics[m].name, name, len))
			break;
	if (m == M_COUNT) {
		fprintf(stderr, "layerfs-report: --fail-if '%s': unknown metric '%.*s'\n", expr,
			(int)len, name);
		return -EINVAL;
	}
	g->metric = metrics[m].name;
	g->unit = metrics[m].unit;
	while (*p == ' ')
		p++;
	if (p[0] == '<' || p[0] == '>' || p[0] == '=' || p[0] == '!') {
		g->op = p[0] == '=' ? '=' : p[0];
		if (p[1] == '=') {
			g->op = p[0] == '<' ? 'l' : p[0] == '>' ? 'g' : g->op;
			p++;
		} else if (p[0] == '!') {
			g->op = 0;
		}
		p++;
	}
	if (g->op && parse_quantity(p, &g->value, &pct, &unit) == 0 && !unit &&
	    g->unit == REPORT_UNIT_BYTES) {
		/* 'wasted>50' is 50 bytes to the program and 50 MB to the reader */
		fprintf(stderr,
			"layerfs-report: --fail-if '%s': %s is a size: give a unit (B, kB, MB, "
			"GB, KiB, MiB, GiB), e.g. '%sMB'\n",
			expr, g->metric, expr);
		return -EINVAL;
	}
	if (!g->op || parse_quantity(p, &g->value, &pct, &unit) < 0 ||
	    (pct && g->unit != REPORT_UNIT_RATIO)) {
		fprintf(stderr,
			"layerfs-report: --fail-if '%s': expected METRIC OP VALUE, OP one of < <= "
			"> >= == !=, VALUE a number with an optional unit (B, kB, MB, GB, KiB, "
			"MiB, GiB) or, for ratios, a percentage\n",
			expr);
		return -EINVAL;
	}
	return 0;
}

static int eval_gates(const struct report *r, struct report_view *v)
{
	int violated = 0;

	for (size_t i = 0; i < v->ngates; i++) {
		struct report_gate *g = &v->gates[i];
		double floor, a;
		int m, hit;

		for (m = 0; strcmp(metrics[m].name, g->metric); m++)
			;
		a = g->actual = metric_value(r, m, &floor);
		switch (g->op) {
		case '<':
			hit = a < g->value;
			break;
		case 'l':
			hit = a <= g->value;
			break;
		case '>':
			hit = a > g->value;
			break;
		case 'g':
			hit = a >= g->value;
			break;
		case '=':
			hit = a == g->value;
			break;
		default:
			hit = a != g->value;
			break;
		}
		/* A ratio says little about a small image: only past the absolute floor. */
		g->applies = metrics[m].floor == NO_FLOOR || floor > (double)v->min_waste;
		g->violated = g->applies && hit;
		if (g->violated) {
			char buf[48];

			report_fmt_value(buf, sizeof(buf), g->unit, a);
			fprintf(stderr, "layerfs-report: gate '%s' violated: %s is %s\n", g->expr,
				g->metric, buf);
			violated = 1;
		}
	}
	return violated;
}

static void push(char ***v, size_t *n, char *s)
{
	*v = lfs_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

/* Index of the first positional argument; -1: exit 64, -2: exit 0. */
static int parse_args(int argc, char **argv, struct cli *o)
{
	static const struct option lopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"html", required_argument, NULL, OPT_HTML},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"layer", required_argument, NULL, OPT_LAYER},
	    {"sort", required_argument, NULL, OPT_SORT},
	    {"filter", required_argument, NULL, OPT_FILTER},
	    {"ignore", required_argument, NULL, OPT_IGNORE},
	    {"base", required_argument, NULL, OPT_BASE},
	    {"fail-if", required_argument, NULL, OPT_FAIL_IF},
	    {"min-waste", required_argument, NULL, OPT_MIN_WASTE},
	    {"layers", no_argument, NULL, OPT_LAYERS},
	    {"color", optional_argument, NULL, OPT_COLOR},
	    {"colour", optional_argument, NULL, OPT_COLOR},
	    {"timing", no_argument, NULL, OPT_TIMING},
	    {"path", required_argument, NULL, OPT_PATH},
	    {"tree", no_argument, NULL, OPT_TREE},
	    {"depth", required_argument, NULL, OPT_DEPTH},
	    {"diff", required_argument, NULL, OPT_DIFF},
	    {"packages", no_argument, NULL, OPT_PACKAGES},
	    LFS_IMAGE_LONGOPTS,
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const sorts[] = {"size", "path", "layer", "cause"};
	uint64_t u;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "qhV" LFS_IMAGE_SHORTOPTS, lopts, NULL)) != -1) {
		switch (lfs_image_cli_opt(&o->image, c, optarg)) {
		case 1:
			continue;
		case -1:
			goto usage;
		}
		switch (c) {
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_HTML:
			o->html = optarg;
			break;
		case OPT_TOP:
			if (parse_u64(optarg, &u) < 0)
				goto bad;
			o->view.top = o->view.top_changes = (size_t)u;
			break;
		case OPT_LAYER:
			o->layer = strtol(optarg, &end, 10);
			if (*end || end == optarg || !o->layer)
				goto bad;
			o->layer_given = 1;
			break;
		case OPT_SORT: {
			int k;

			for (k = 0; k < 4 && strcmp(sorts[k], optarg); k++)
				;
			if (k == 4) {
				fprintf(stderr,
					"layerfs-report: --sort '%s': unknown key; expected size, "
					"path, layer or cause\n",
					optarg);
				goto usage;
			}
			o->view.sort = k;
			break;
		}
		case OPT_FILTER:
			push(&o->filter, &o->nfilter, optarg);
			break;
		case OPT_IGNORE:
			push(&o->ignore, &o->nignore, optarg);
			break;
		case OPT_BASE:
			if (parse_u64(optarg, &u) < 0 || u > UINT32_MAX)
				goto bad;
			o->base = (uint32_t)u;
			o->base_given = 1;
			break;
		case OPT_FAIL_IF:
			push(&o->gates, &o->ngates, optarg);
			break;
		case OPT_MIN_WASTE:
			if (parse_u64(optarg, &o->view.min_waste) < 0)
				goto bad;
			break;
		case OPT_LAYERS:
			o->layers_mode = 1;
			break;
		case OPT_COLOR:
			if (!optarg || !strcmp(optarg, "auto"))
				o->color = -1;
			else if (!strcmp(optarg, "always"))
				o->color = 1;
			else if (!strcmp(optarg, "never"))
				o->color = 0;
			else
				goto bad;
			break;
		case OPT_TIMING:
			o->timing = 1;
			break;
		case OPT_PATH:
			push(&o->paths, &o->npaths, optarg);
			break;
		case OPT_DIFF:
			push(&o->diffs, &o->ndiffs, optarg);
			break;
		case OPT_PACKAGES:
			o->packages = 1;
			break;
		case OPT_TREE:
			o->tree = 1;
			break;
		case OPT_DEPTH:
			u = strtoull(optarg, &end, 10);
			if (*end || end == optarg || !u || u > PATH_MAX)
				goto bad;
			o->depth = (uint32_t)u;
			o->depth_given = 1;
			break;
		case 'q':
			lfs_quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return -2;
		case 'V':
			printf("layerfs-report %s\n", PACKAGE_VERSION);
			return -2;
		default:
			goto usage;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "layerfs-report: no image given\n");
		goto usage;
	}
	if (o->json && o->html && !strcmp(o->html, "-")) {
		fprintf(stderr, "layerfs-report: --json and --html - both want standard output\n");
		goto usage;
	}
	if (o->depth_given && !o->tree) {
		fprintf(stderr, "layerfs-report: --depth goes with --tree\n");
		goto usage;
	}
	if ((o->npaths || o->tree || o->ndiffs) && !o->layers_mode && argc - optind > 1) {
		fprintf(stderr, "layerfs-report: --path, --tree and --diff are about one image\n");
		goto usage;
	}
	if (!o->layers_mode && argc - optind > 2) {
		fprintf(stderr, "layerfs-report: at most two images (use --layers for layer "
				"files)\n");
		goto usage;
	}
	return optind;
bad:
	for (size_t i = 0; lopts[i].name; i++)
		if (lopts[i].val == c)
			fprintf(stderr, "layerfs-report: invalid argument '%s' for --%s\n", optarg,
				lopts[i].name);
usage:
	fprintf(stderr, "Try 'layerfs-report --help' for more information.\n");
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Open and analyse one image (FOCUS: the one reported, which --layer is
 * about); 0 or -errno, the message already printed.
 */
static int load(struct cli *o, char *const *src, size_t n, int focus, struct lfs_core **core,
		struct report *r, double *t_open)
{
	struct report_opts ro = {.base = o->base, .ignore = o->ignore, .nignore = o->nignore};
	double t0 = now();
	int rc = lfs_core_open(core, src, n, &o->core);

	if (rc < 0) {
		fprintf(stderr, "layerfs-report: %s\n", lfs_err_get());
		return rc;
	}
	*t_open += now() - t0;
	ro.changes_layer = o->html ? -2 : -1;
	ro.watch = focus ? o->watch : o->watch_a;
	if (o->layer_given && focus) {
		long k = o->layer > 0 ? o->layer - 1 : (long)(*core)->nlayers + o->layer;

		if (k < 0 || k >= (long)(*core)->nlayers) {
			fprintf(stderr, "layerfs-report: --layer %ld: the image has %u layers\n",
				o->layer, (*core)->nlayers);
			return -EINVAL;
		}
		o->view.layer = (int)k;
		if (ro.changes_layer == -1)
			ro.changes_layer = (int)k;
	}
	return report_analyze(r, *core, &ro);
}

static int write_html(const char *path, const struct report *r, const struct report_view *v)
{
	int to_stdout = !strcmp(path, "-");
	FILE *f = to_stdout ? stdout : fopen(path, "w");
	int rc;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "layerfs-report: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = report_html(f, r, v);
	if ((to_stdout ? fflush(f) : fclose(f)) == EOF && !rc)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "layerfs-report: %s: %s\n", path, strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	struct cli o = {.layer = 0, .color = -1};
	struct lfs_core *ca = NULL, *cb = NULL;
	struct report ra = {0}, rb = {0}, *r = &ra;
	struct report_compare cmp = {0};
	struct report_selection sel = {0};
	struct report_gate *gates = NULL;
	double t0 = now(), t_open = 0;
	int first, rc, ret = 1, violated, unmatched = 0;
	static struct report_paths ps, pd;
	static struct report_packages pk, pka;
	struct report_tree tree;
	size_t nsrc;
	char **src;

	lfs_progname = "layerfs-report";
	o.view.top = 10;
	o.view.layer = -1;
	o.view.min_waste = 1000000;
	lfs_image_cli_init(&o.image);
	first = parse_args(argc, argv, &o);
	if (first < 0) {
		ret = first == -2 ? 0 : EXIT_USAGE;
		goto out;
	}
	gates = lfs_xcalloc(o.ngates ? o.ngates : 1, sizeof(*gates));
	for (size_t i = 0; i < o.ngates; i++) {
		if (parse_gate(o.gates[i], &gates[i]) < 0) {
			ret = EXIT_USAGE;
			goto out;
		}
	}
	src = argv + first;
	nsrc = (size_t)(argc - first);
	lfs_image_cli_core(&o.image, &o.core);
	o.core.hash_content = 1;
	o.core.sequential = 1;
	o.core.keep_layers = 1;
	o.core.superseded = 1;
	o.core.progress = !lfs_quiet && isatty(STDERR_FILENO);
	if (o.packages) {
		report_packages_init(&pk);
		o.watch = &pk.track.obs;
		report_packages_init(&pka);
		o.watch_a = &pka.track.obs;
	}
	if (o.ndiffs) {
		report_paths_init(&pd, o.diffs, o.ndiffs);
		pd.next = o.watch;
		o.watch = &pd.obs;
	}
	if (o.npaths) {
		report_paths_init(&ps, o.paths, o.npaths);
		ps.next = o.watch;
		o.watch = &ps.obs;
	}
	if (load(&o, src, o.layers_mode ? nsrc : 1, o.layers_mode || nsrc == 1, &ca, &ra, &t_open) <
	    0)
		goto out;
	if (!o.layers_mode && nsrc == 2) {
		if (load(&o, src + 1, 1, 1, &cb, &rb, &t_open) < 0)
			goto out;
		report_compare(&cmp, &ra, &rb);
		if (!o.base_given)
			report_set_base(&rb, cmp.shared_prefix);
		r = &rb;
		o.view.cmp = &cmp;
	}
	report_suggest(r);
	o.view.sources = src;
	o.view.nsources = nsrc;
	o.view.filter = o.filter;
	o.view.nfilter = o.nfilter;
	o.view.gates = gates;
	o.view.ngates = o.ngates;
	o.view.color = o.color < 0
			   ? isatty(STDOUT_FILENO) && !(getenv("NO_COLOR") && *getenv("NO_COLOR"))
			   : o.color;
	violated = eval_gates(r, &o.view);
	report_select(&sel, r, &o.view);
	o.view.sel = &sel;
	if (o.html) {
		report_tree_build(&tree, r, -1, 0);
		o.view.tree = &tree;
		if (o.packages) {
			report_packages_build(&pk, r);
			o.view.packages = &pk;
		}
		rc = write_html(o.html, r, &o.view);
		report_tree_free(&tree);
		if (rc < 0)
			goto out;
	}
	rc = 0;
	if (o.npaths || o.tree || o.ndiffs || o.packages) {
		rc = report_query_answer(stdout, r, o.npaths ? &ps : NULL, o.ndiffs ? &pd : NULL,
					 o.packages ? &pk : NULL,
					 o.packages && r == &rb ? &pka : NULL, &ra, o.tree, o.depth,
					 o.view.layer, src, nsrc, o.json);
		if (rc == 1) {
			unmatched = 1;
			rc = 0;
		}
	} else if (o.json)
		rc = report_json(stdout, r, &o.view);
	else if (!(o.html && !strcmp(o.html, "-")))
		rc = report_text(stdout, r, &o.view);
	/* the writers only see that a write failed: fflush says why */
	if (fflush(stdout) == EOF)
		rc = -errno;
	if (rc < 0) {
		if (rc != -EPIPE)
			fprintf(stderr, "layerfs-report: writing the report: %s\n", strerror(-rc));
		goto out;
	}
	if (o.timing)
		fprintf(stderr, "layerfs-report: open and index %.3fs, analysis and output %.3fs\n",
			t_open, now() - t0 - t_open);
	ret = unmatched ? 1 : violated ? EXIT_GATE : 0;
out:
	if (o.image.stats && ca)
		lfs_image_print_stats(ca->img);
	if (o.image.stats && cb)
		lfs_image_print_stats(cb->img);
	report_paths_free(&ps);
	report_paths_free(&pd);
	report_packages_free(&pk);
	report_packages_free(&pka);
	report_selection_free(&sel);
	report_compare_free(&cmp);
	report_free(&rb);
	report_free(&ra);
	lfs_core_free(cb);
	lfs_core_free(ca);
	free(gates);
	free(o.filter);
	free(o.ignore);
	free(o.gates);
	free(o.paths);
	free(o.diffs);
	return ret;
}
