/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The --html report: one self-contained page (inline CSS, SVG and a little
 * JavaScript, nothing fetched from the network) with a stacked bar per layer
 * (kept / wasted by cause), the biggest wasted paths with their cause and
 * the instructions involved, suggestions, and each layer's file list.  Every
 * figure is rendered here, so the page reads without JavaScript; the script
 * only sorts and filters tables and checks the bars against the table.
 * Elements carry data-* attributes with exact values for tests and tools.
 * A writer only: it reads struct report and the rows report_select.c chose.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "report.h"

#define LIST_MAX 500 /* rows of one layer's file list */
#define BAR_W	 560
#define LABEL_W	 300
#define ROW_H	 26

/* Segment colours: kept, then the causes in enum order, then ignored. */
static const char *const seg_color[] = {"#4c9a2a", "#d62728", "#ff7f0e",
					"#9467bd", "#8c564b", "#b0b0b0"};
static const char *const seg_name[] = {"kept",	    "deleted", "overwritten",
				       "identical", "type",    "ignored"};

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;"
    "color:#222;background:#fff}\n"
    "h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px "
    "solid #ddd}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}.card{border:1px solid #ddd;"
    "border-radius:6px;padding:.6em 1em;min-width:10em}.card b{display:block;font-size:1.5em}"
    "\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:2px 6px;"
    "border-bottom:1px solid #eee;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4;cursor:pointer;user-select:none}td.n,th.n{text-align:right;"
    "white-space:nowrap}\n"
    "td.p{font-family:ui-monospace,monospace;word-break:break-all;min-width:16em}"
    ".i{color:#555;font-family:ui-monospace,monospace;font-size:12px}\n"
    "td.i{max-width:24em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
    ".legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;"
    "width:12px;height:12px;margin-right:4px;vertical-align:middle}\n"
    ".bad{color:#c00;font-weight:bold}.good{color:#080;font-weight:bold}"
    "details{margin:.3em 0}summary{cursor:pointer}\n"
    "input.filter{margin:.5em 0;padding:3px;width:30em}\n"
    "ul.tree{list-style:none;padding-left:1.2em;font-family:ui-monospace,monospace;"
    "font-size:13px}ul.tree ul{list-style:none;padding-left:1.2em}.td{cursor:pointer}"
    ".tm{margin-left:1em;font-size:12px}\n";

/*
 * Sort any table by a header click (numbers by data-sort), filter the file
 * lists, and check that every layer's bar segments add up to its stored bytes.
 */
static const char js[] =
    "(function(){\n"
    "document.querySelectorAll('table.sortable th').forEach(function(th,i){\n"
    " th.addEventListener('click',function(){\n"
    "  var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),d=th.dataset.dir=="
    "'a'?-1:1;\n"
    "  th.dataset.dir=d>0?'a':'d';\n"
    "  rows.sort(function(x,y){var a=x.cells[i],b=y.cells[i];\n"
    "   var u=a.dataset.sort,v=b.dataset.sort;\n"
    "   if(u!==undefined&&v!==undefined)return d*(Number(v)-Number(u));\n"
    "   return d*a.textContent.localeCompare(b.textContent);});\n"
    "  rows.forEach(function(r){tb.appendChild(r);});});});\n"
    "document.querySelectorAll('input.filter').forEach(function(inp){\n"
    " inp.addEventListener('input',function(){var q=inp.value.toLowerCase();\n"
    "  document.querySelectorAll('tr[data-path]').forEach(function(tr){\n"
    "   tr.style.display=tr.dataset.path.toLowerCase().indexOf(q)>=0?'':'none';});});});\n"
    "var ok=true,n=0;\n"
    "document.querySelectorAll('g.bar').forEach(function(g){var s=0;n++;\n"
    " g.querySelectorAll('rect[data-bytes]').forEach(function(r){s+=Number(r.dataset.bytes);"
    "});\n"
    " var row=document.querySelector('#layers tr[data-layer=\"'+g.dataset.layer+'\"]');\n"
    " if(!row||s!==Number(row.dataset.stored))ok=false;});\n"
    "document.body.dataset.check=ok?'ok':'mismatch';document.body.dataset.bars=n;\n"
    "})();\n";

/* Text into HTML: cleaned to UTF-8 first, then the five specials escaped. */
static void esc(FILE *f, const char *s)
{
	char *c = report_clean(s ? s : "");

	for (const char *p = c; *p; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
	free(c);
}

static void size_td(FILE *f, const char *key, uint64_t b)
{
	char s[16];

	report_fmt_size(s, sizeof(s), b);
	fprintf(f, "<td class=\"n\" data-key=\"%s\" data-bytes=\"%llu\" data-sort=\"%llu\">%s</td>",
		key, (unsigned long long)b, (unsigned long long)b, s);
}

static void count_td(FILE *f, const char *key, uint64_t n)
{
	fprintf(f, "<td class=\"n\" data-key=\"%s\" data-sort=\"%llu\">%llu</td>", key,
		(unsigned long long)n, (unsigned long long)n);
}

/* A cell clamped by CSS, the whole text in its tooltip. */
static void clamp_td(FILE *f, const char *text)
{
	fputs("<td class=\"i\" title=\"", f);
	esc(f, text);
	fputs("\">", f);
	esc(f, text);
	fputs("</td>", f);
}

static void instr_td(FILE *f, const struct report *r, uint32_t k)
{
	fprintf(f, "<td class=\"n\" data-sort=\"%u\"><a href=\"#layer-%u\">%u</a></td>", k + 1,
		k + 1, k + 1);
	clamp_td(f, r->layers[k].instruction ? r->layers[k].instruction : "");
}

static void card(FILE *f, const char *id, const char *label, const char *val, const char *attr)
{
	fprintf(f, "<div class=\"card\" id=\"%s\" %s>%s<b>%s</b></div>\n", id, attr, label, val);
}

static void cards(FILE *f, const struct report *r)
{
	const struct report_totals *t = &r->totals;
	char v[64], a[96], s[16];

	snprintf(v, sizeof(v), "<span class=\"%s\">%.4f</span>",
		 t->efficiency >= 0.95 ? "good" : "bad", t->efficiency);
	snprintf(a, sizeof(a), "data-value=\"%.6f\"", t->efficiency);
	card(f, "efficiency", "efficiency", v, a);
	report_fmt_size(s, sizeof(s), t->wasted_bytes);
	snprintf(a, sizeof(a), "data-bytes=\"%llu\"", (unsigned long long)t->wasted_bytes);
	card(f, "wasted", "wasted", s, a);
	report_fmt_size(s, sizeof(s), t->stored_bytes);
	snprintf(a, sizeof(a), "data-bytes=\"%llu\"", (unsigned long long)t->stored_bytes);
	card(f, "stored", "stored in files", s, a);
	report_fmt_size(s, sizeof(s), t->visible_bytes);
	snprintf(a, sizeof(a), "data-bytes=\"%llu\"", (unsigned long long)t->visible_bytes);
	card(f, "visible", "visible", s, a);
	report_fmt_size(s, sizeof(s), t->stored_size);
	snprintf(a, sizeof(a), "data-bytes=\"%llu\"", (unsigned long long)t->stored_size);
	card(f, "compressed", "compressed layers", s, a);
	snprintf(v, sizeof(v), "%.4f", r->dive.efficiency);
	snprintf(a, sizeof(a), "data-value=\"%.6f\"", r->dive.efficiency);
	card(f, "dive-efficiency", "dive's score", v, a);
	if (r->opts.base) {
		snprintf(v, sizeof(v), "%.4f", t->user_efficiency);
		snprintf(a, sizeof(a), "data-value=\"%.6f\"", t->user_efficiency);
		card(f, "user-efficiency", "your layers' efficiency", v, a);
	}
}

/* One stacked bar per layer: kept, then waste by cause, then ignored. */
static void bars(FILE *f, const struct report *r)
{
	uint64_t max = 1;
	unsigned h = ROW_H * (r->nlayers ? r->nlayers : 1) + 10;

	for (uint32_t k = 0; k < r->nlayers; k++)
		if (r->layers[k].stored_bytes > max)
			max = r->layers[k].stored_bytes;
	fputs("<p class=\"legend\">", f);
	for (size_t i = 0; i < LFS_ARRAY_SIZE(seg_name); i++)
		fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", seg_color[i],
			seg_name[i]);
	fprintf(f,
		"</p>\n<svg id=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%u\" role=\"img\" aria-label=\"bytes per layer, kept and wasted\">\n",
		LABEL_W + BAR_W + 100, h);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];
		uint64_t part[6] = {L->visible_bytes};
		double x = LABEL_W;
		unsigned y = 5 + k * ROW_H;
		char s[16];

		for (int c = 0; c < REPORT_NCAUSES; c++)
			part[1 + c] = L->wasted_by_cause[c];
		part[5] = L->ignored_bytes;
		fprintf(f,
			"<g class=\"bar\" data-layer=\"%u\"><text x=\"0\" y=\"%u\" "
			"font-size=\"12\">%u ",
			k + 1, y + 15, k + 1);
		{
			char buf[44];

			snprintf(buf, sizeof(buf), "%s", L->instruction ? L->instruction : "");
			if (L->instruction && strlen(L->instruction) > 40)
				strcpy(buf + 37, "...");
			esc(f, buf);
		}
		fputs("</text>\n", f);
		for (int i = 0; i < 6; i++) {
			double w = (double)BAR_W * (double)part[i] / (double)max;

			if (!part[i])
				continue;
			report_fmt_size(s, sizeof(s), part[i]);
			fprintf(
			    f,
			    "<rect x=\"%.2f\" y=\"%u\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
			    "data-part=\"%s\" data-bytes=\"%llu\"><title>layer %u: %s %s"
			    "</title></rect>\n",
			    x, y, w < 0.5 ? 0.5 : w, ROW_H - 6, seg_color[i], seg_name[i],
			    (unsigned long long)part[i], k + 1, seg_name[i], s);
			x += w;
		}
		report_fmt_size(s, sizeof(s), L->stored_bytes);
		fprintf(f, "<text x=\"%.2f\" y=\"%u\" font-size=\"12\">%s</text></g>\n", x + 6,
			y + 15, s);
	}
	fputs("</svg>\n", f);
}

static void layer_table(FILE *f, const struct report *r)
{
	fputs("<table id=\"layers\" class=\"sortable\"><thead><tr><th class=\"n\">#</th>"
	      "<th>digest</th><th class=\"n\">compressed</th><th class=\"n\">uncompressed</th>"
	      "<th class=\"n\">added</th><th class=\"n\">bytes</th><th class=\"n\">modified</th>"
	      "<th class=\"n\">bytes</th><th class=\"n\">deleted</th><th class=\"n\">bytes</th>"
	      "<th class=\"n\">visible</th><th class=\"n\">wasted</th><th class=\"n\">hides</th>"
	      "<th>instruction</th></tr></thead><tbody>\n",
	      f);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];

		fprintf(f, "<tr data-layer=\"%u\" data-stored=\"%llu\"%s>", k + 1,
			(unsigned long long)L->stored_bytes,
			k < r->opts.base ? " class=\"base\"" : "");
		count_td(f, "number", k + 1);
		{
			const char *d = L->digest ? L->digest : L->diff_id ? L->diff_id : L->name;
			const char *hex = strchr(d, ':');

			fputs("<td class=\"i\" data-key=\"digest\" title=\"", f);
			esc(f, d);
			fprintf(f, "\">%.12s</td>", hex ? hex + 1 : d);
		}
		size_td(f, "stored_size", L->stored_size);
		size_td(f, "plain_size", L->plain_size);
		count_td(f, "added_entries", L->added.entries);
		size_td(f, "added_bytes", L->added.bytes);
		count_td(f, "modified_entries", L->modified.entries);
		size_td(f, "modified_bytes", L->modified.bytes);
		count_td(f, "deleted_entries", L->removed.entries);
		size_td(f, "deleted_bytes", L->removed.bytes);
		size_td(f, "visible_bytes", L->visible_bytes);
		size_td(f, "wasted_bytes", L->wasted_bytes);
		size_td(f, "hides_bytes", L->hides_bytes);
		clamp_td(f, L->instruction ? L->instruction : "");
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static const char *cause_text(int cause, int marker)
{
	if (cause == REPORT_DELETED)
		return marker == REPORT_BY_OPAQUE ? "deleted (opaque dir)" : "deleted (whiteout)";
	return cause == REPORT_OVERWRITTEN ? "overwritten"
	       : cause == REPORT_IDENTICAL ? "identical (metadata change)"
					   : "type changed";
}

static void wasted(FILE *f, const struct report *r, const struct report_view *v)
{
	const struct report_rows *rows = &v->sel->waste;
	size_t n = rows->n, show = v->top && v->top < n ? v->top : n;

	fprintf(f, "<h2>Biggest wasted paths</h2><p>%zu of %zu</p>\n", show, n);
	fputs("<table id=\"wasted-paths\" class=\"sortable\"><thead><tr><th class=\"n\">bytes</th>"
	      "<th>cause</th><th>path</th><th class=\"n\">stored</th><th>by</th>"
	      "<th class=\"n\">hidden</th><th>by</th></tr></thead>"
	      "<tbody>\n",
	      f);
	for (size_t i = 0; i < show; i++) {
		const struct report_waste *w = &r->waste[rows->idx[i]];

		fputs("<tr data-path=\"", f);
		esc(f, w->path);
		fprintf(f, "\" data-cause=\"%s\">", report_cause_names[w->cause]);
		size_td(f, "bytes", w->bytes);
		fprintf(f, "<td>%s</td><td class=\"p\">", cause_text(w->cause, w->marker));
		esc(f, w->path);
		fputs("</td>", f);
		instr_td(f, r, w->stored);
		instr_td(f, r, w->hidden_by);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void suggestions(FILE *f, const struct report *r)
{
	if (!r->nsugg)
		return;
	fputs("<h2>Suggestions</h2><ul id=\"suggestions\">\n", f);
	for (size_t i = 0; i < r->nsugg; i++) {
		fprintf(f, "<li data-kind=\"%s\" data-bytes=\"%llu\">",
			report_sugg_names[r->sugg[i].kind], (unsigned long long)r->sugg[i].bytes);
		esc(f, r->sugg[i].text);
		fputs("</li>\n", f);
	}
	fputs("</ul>\n", f);
}

/* --packages with --html: each layer's packages, as the text lists them. */
static void packages(FILE *f, const struct report *r, const struct report_packages *pk)
{
	if (!pk)
		return;
	fputs("<h2>Packages per layer</h2>\n", f);
	for (uint32_t k = 0; k < pk->nlayers; k++) {
		const struct report_pkg_layer *L = &pk->layers[k];

		if (!L->n)
			continue;
		fprintf(f,
			"<details class=\"pkgs\" data-layer=\"%u\"><summary>Layer %u: %zu "
			"packages &mdash; <span class=\"i\">",
			k + 1, k + 1, L->n);
		esc(f, r->layers[k].instruction);
		fputs("</span></summary><table class=\"sortable\"><thead><tr><th>manager</th>"
		      "<th>change</th><th>package</th><th>version</th><th class=\"n\">bytes</th>"
		      "<th class=\"n\">files</th><th class=\"n\">not in final image</th></tr>"
		      "</thead><tbody>\n",
		      f);
		for (size_t i = 0; i < L->n; i++) {
			const struct report_pkg_change *c = &L->v[i];
			char b[16], w[16];

			report_fmt_size(b, sizeof(b), c->bytes);
			report_fmt_size(w, sizeof(w), c->wasted);
			fprintf(f, "<tr><td>%s</td><td>%s</td><td>",
				report_pkg_managers[c->manager], report_pkg_changes[c->change]);
			esc(f, c->name);
			fputs("</td><td>", f);
			if (c->change == REPORT_PKG_UPGRADED) {
				esc(f, c->old_version);
				fputs(" &rarr; ", f);
			}
			esc(f, c->version ? c->version : c->old_version);
			fprintf(
			    f,
			    "</td><td class=\"n\" data-sort=\"%llu\">%s</td><td class=\"n\">%llu"
			    "</td><td class=\"n\" data-sort=\"%llu\">%s</td></tr>\n",
			    (unsigned long long)c->bytes, b, (unsigned long long)c->files,
			    (unsigned long long)c->wasted, w);
		}
		fputs("</tbody></table></details>\n", f);
	}
}

static void dive_note(FILE *f, const struct report *r)
{
	char a[16], b[16];

	report_fmt_size(a, sizeof(a), r->dive.wasted);
	report_fmt_size(b, sizeof(b), r->dive.kept_copy_bytes);
	fprintf(f,
		"<p id=\"dive\">dive would say: efficiency %.4f, wasted %s. It counts the "
		"copy the image keeps as waste (%s here)",
		r->dive.efficiency, a, b);
	if (r->dive.dir_whiteout_bytes) {
		report_fmt_size(a, sizeof(a), r->dive.dir_whiteout_bytes);
		fprintf(f, ", ignores directories deleted by one whiteout (%s)", a);
	}
	if (r->dive.opaque_bytes) {
		report_fmt_size(a, sizeof(a), r->dive.opaque_bytes);
		fprintf(f, ", drops opaque directories (%s)", a);
	}
	for (uint32_t k = 0; k < r->nlayers; k++)
		if (r->layers[k].dive_stop) {
			fprintf(f, ", stops reading layer %u at the whiteout of ", k + 1);
			esc(f, r->layers[k].dive_stop);
		}
	fputs(".</p>\n", f);
}

static void file_lists(FILE *f, const struct report *r, const struct report_view *v)
{
	fputs("<h2>Files per layer</h2><input class=\"filter\" placeholder=\"filter paths\">\n", f);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];
		const struct report_rows *rows = &v->sel->changes[k];
		size_t n = rows->n, show = n < LIST_MAX ? n : LIST_MAX;

		fprintf(f,
			"<details id=\"layer-%u\" data-changes=\"%zu\"><summary>layer %u: ", k + 1,
			n, k + 1);
		esc(f, L->instruction ? L->instruction : L->digest);
		fprintf(f, " (%zu paths%s)</summary>\n", n, show < n ? ", biggest shown" : "");
		fputs("<table class=\"sortable files\"><thead><tr><th>change</th><th>type</th>"
		      "<th class=\"n\">bytes</th><th class=\"n\">hides</th><th>how</th>"
		      "<th>path</th></tr></thead><tbody>\n",
		      f);
		for (size_t i = 0; i < show; i++) {
			const struct report_change *c = &L->changes[rows->idx[i]];

			fputs("<tr data-path=\"", f);
			esc(f, c->path);
			fprintf(
			    f, "\"><td>%s</td><td>%s</td>", report_kind_names[c->kind],
			    report_type_name(c->kind == REPORT_REMOVED ? c->old_mode : c->mode));
			size_td(f, "bytes", c->bytes);
			size_td(f, "hidden", c->hidden);
			fprintf(f, "<td>%s</td><td class=\"p\">",
				c->kind == REPORT_ADDED ? "" : cause_text(c->cause, c->marker));
			esc(f, c->path);
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>", f);
		if (show < n)
			fprintf(f, "<p>%zu more not shown (use --layer %u).</p>", n - show, k + 1);
		fputs("</details>\n", f);
	}
}

static void gates(FILE *f, const struct report_view *v)
{
	if (!v->ngates)
		return;
	fputs("<h2>Gates</h2><ul id=\"gates\">\n", f);
	for (size_t i = 0; i < v->ngates; i++) {
		const struct report_gate *g = &v->gates[i];
		char a[48];

		report_fmt_value(a, sizeof(a), g->unit, g->actual);
		fprintf(f, "<li data-violated=\"%d\" class=\"%s\">", g->violated,
			g->violated ? "bad" : "good");
		esc(f, g->expr);
		fprintf(f, ": %s (%s = %s)</li>\n",
			g->violated  ? "FAILED"
			: g->applies ? "ok"
				     : "skipped",
			g->metric, a);
	}
	fputs("</ul>\n", f);
}

/*
 * The final image as a collapsible tree: the rows as compact JSON (names,
 * depths, bytes, layers, types, in pre-order), rendered by the script a
 * directory at a time when opened, and a filter over every path whose
 * count updates as one types.
 */
static const char tree_js[] =
    "(function(){\n"
    "var el=document.getElementById('treedata');if(!el)return;\n"
    "var D=JSON.parse(el.textContent),n=D.n.length,par=new Int32Array(n),"
    "first=new Int32Array(n).fill(-1),next=new Int32Array(n).fill(-1),"
    "last=new Int32Array(n).fill(-1),st=[0];par[0]=-1;\n"
    "for(var i=1;i<n;i++){var d=D.d[i],p=st[d-1];par[i]=p;"
    "if(last[p]<0)first[p]=i;else next[last[p]]=i;last[p]=i;st[d]=i;}\n"
    "function fmt(b){var u=['B','kB','MB','GB','TB'],k=0;while(b>=999.5&&k<4){b/=1000;k++;}"
    "return (k?b.toFixed(b<9.995?2:b<99.95?1:0):b)+' '+u[k];}\n"
    "function col(l){return 'hsl('+(l*67%360)+',60%,40%)';}\n"
    "function row(i,label){var li=document.createElement('li'),s=document.createElement('span'),"
    "dir=D.t[i]=='d';li.dataset.i=i;s.className=dir?'td':'tf';"
    "s.textContent=(dir?'\\u25b8 ':'')+(label||D.n[i])+(dir?'/':'');li.appendChild(s);"
    "var m=document.createElement('span');m.className='tm';m.textContent=fmt(D.b[i])+' \\u00b7 "
    "layer '+(D.l[i]+1);m.style.color=col(D.l[i]);li.appendChild(m);"
    "if(dir&&first[i]>=0&&!label)s.addEventListener('click',function(){toggle(li,i,s);});"
    "return li;}\n"
    "function kids(ul,i,from){var c=from,k=0;for(;c>=0&&k<500;c=next[c],k++)ul.appendChild(row(c));"
    "if(c>=0){var more=document.createElement('li'),a=document.createElement('a');a.href='#';"
    "a.textContent='more...';a.addEventListener('click',function(e){e.preventDefault();"
    "more.remove();kids(ul,i,c);});more.appendChild(a);ul.appendChild(more);}}\n"
    "function toggle(li,i,s){var ul=li.querySelector(':scope>ul');"
    "if(ul){ul.remove();s.textContent='\\u25b8'+s.textContent.slice(1);return;}"
    "ul=document.createElement('ul');kids(ul,i,first[i]);li.appendChild(ul);"
    "s.textContent='\\u25be'+s.textContent.slice(1);}\n"
    "kids(document.getElementById('tree'),0,first[0]);\n"
    "var P=null;function paths(){if(P)return P;P=new Array(n);P[0]='';"
    "for(var i=1;i<n;i++)P[i]=P[par[i]]+'/'+D.n[i];return P;}\n"
    "var inp=document.getElementById('treefilter'),cnt=document.getElementById('treecount'),"
    "hits=document.getElementById('treehits'),t=0;\n"
    "cnt.textContent=(n-1)+' paths';\n"
    "function run(){var q=inp.value,A=paths(),c=0;hits.textContent='';"
    "if(!q){cnt.textContent=(n-1)+' paths';return;}"
    "for(var i=1;i<n;i++)if(A[i].indexOf(q)>=0){if(c<200)hits.appendChild(row(i,A[i]));c++;}"
    "cnt.textContent=c+' of '+(n-1)+' paths';cnt.dataset.count=c;}\n"
    "inp.addEventListener('input',function(){clearTimeout(t);t=setTimeout(run,150);});\n"
    /* #q=TEXT fills the filter, #open=/a/b opens those directories (links, tests) */
    "var h=decodeURIComponent(location.hash.slice(1));\n"
    "if(h.indexOf('q=')==0){inp.value=h.slice(2);run();}\n"
    "if(h.indexOf('open=')==0){var ul=document.getElementById('tree');"
    "h.slice(5).split('/').filter(Boolean).forEach(function(nm){if(!ul)return;"
    "var li=Array.prototype.find.call(ul.children,function(x){return D.n[x.dataset.i]==nm;});"
    "if(!li){ul=null;return;}li.firstChild.click();ul=li.querySelector(':scope>ul');});}\n"
    "})();\n";

/* S (a name) inside a JSON string inside a <script>: no '<', nothing raw. */
static void json_esc(FILE *f, const char *s)
{
	char *c = report_clean(s);

	fputc('"', f);
	for (const char *p = c; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '<' || *p == '>' || *p == '&')
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
	free(c);
}

static void tree(FILE *f, const struct report_tree *t)
{
	if (!t || !t->n)
		return;
	fputs("<h2>Final image</h2><input id=\"treefilter\" class=\"filter\" "
	      "placeholder=\"filter every path\"> <span id=\"treecount\"></span>"
	      "<ul id=\"treehits\" class=\"tree\"></ul><ul id=\"tree\" class=\"tree\"></ul>\n"
	      "<script type=\"application/json\" id=\"treedata\">{\"n\":[",
	      f);
	for (size_t i = 0; i < t->n; i++) {
		if (i)
			fputc(',', f);
		json_esc(f, t->rows[i].name);
	}
	fputs("],\"d\":[", f);
	for (size_t i = 0; i < t->n; i++)
		fprintf(f, "%s%u", i ? "," : "", t->rows[i].depth);
	fputs("],\"b\":[", f);
	for (size_t i = 0; i < t->n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)t->rows[i].bytes);
	fputs("],\"l\":[", f);
	for (size_t i = 0; i < t->n; i++)
		fprintf(f, "%s%d", i ? "," : "", t->rows[i].layer);
	fputs("],\"t\":\"", f);
	for (size_t i = 0; i < t->n; i++)
		fputc(report_type_name(t->rows[i].mode)[0], f);
	fputs("\"}</script>\n", f);
}

int report_html(FILE *f, const struct report *r, const struct report_view *v)
{
	const char *name = v->cmp ? v->sources[1] : v->sources[0];
	char a[16], b[16];

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	      "<title>layerfs-report: ",
	      f);
	esc(f, name);
	fprintf(f, "</title>\n<style>\n%s</style></head>\n<body data-check=\"no-js\">\n", css);
	fputs("<h1>layerfs-report</h1>\n<p id=\"image\">", f);
	esc(f, name);
	report_fmt_size(a, sizeof(a), r->totals.stored_size);
	report_fmt_size(b, sizeof(b), r->totals.plain_size);
	fprintf(f,
		" &mdash; %s, <span id=\"layer-count\">%u</span> layers, %s compressed, %s "
		"uncompressed</p>\n",
		lfs_image_kind_name(r->core->img->kind), r->nlayers, a, b);
	if (v->cmp) {
		fprintf(f, "<p id=\"compare\">Compared with ");
		esc(f, v->sources[0]);
		fprintf(f,
			": the first <span id=\"shared\">%u</span> layers are shared; they "
			"count as the base below.</p>\n",
			v->cmp->shared_prefix);
	}
	fputs("<div class=\"cards\">\n", f);
	cards(f, r);
	fputs("</div>\n", f);
	dive_note(f, r);
	fputs("<h2>Layers</h2>\n", f);
	bars(f, r);
	layer_table(f, r);
	wasted(f, r, v);
	suggestions(f, r);
	gates(f, v);
	file_lists(f, r, v);
	packages(f, r, v->packages);
	tree(f, v->tree);
	fprintf(f,
		"<p class=\"i\">layerfs-report %s</p>\n<script>\n%s%s</script>\n</body></html>\n",
		PACKAGE_VERSION, js, tree_js);
	return ferror(f) ? -EIO : 0;
}
