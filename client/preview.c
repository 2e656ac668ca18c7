/*
 * preview.c: massagectl preview, a program's planned pressures, computed
 * offline.
 *
 * Loads the table, the plugins, profiles, programs and rules exactly as
 * the daemon does and writes the planned pressure of every zone as CSV and
 * as an SVG chart.
 *
 * The session state machine runs unchanged, tick by tick, with a
 * first-order model of the table (150 ms time constant) standing in for
 * the controllers. Every setpoint therefore comes out of the same limit
 * pipeline as on a real table. Routines run as in the daemon: each
 * step in its own sandboxed worker (massaged-worker), never in massagectl;
 * only the deadline is looser (a second per call), since the preview runs
 * faster than real time on whatever machine it is given.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"
#include "log.h"
#include "preview.h"
#include "routine-inst.h"
#include "routine-load.h"
#include "session.h"

#define PREVIEW_DEADLINE_MS	1000.0	/* per routine call */

#define PREVIEW_TAU_S		0.150
#define PREVIEW_MAX_S		(4 * 3600.0)

struct preview_ctx {
	struct preview	*p;
	struct session	*s;
};

static void
preview_event(void *arg, enum session_event ev)
{
	struct preview_ctx	*c = arg;
	struct preview		*p = c->p;
	struct session		*s = c->s;
	const struct program_step *st;

	if ((ev != SESSION_EV_STARTED && ev != SESSION_EV_STEP) ||
	    p->nsteps >= PROGRAM_MAX_STEPS)
		return;
	st = &s->prog.steps[s->step];
	p->steps[p->nsteps].t_s = s->active_s;
	snprintf(p->steps[p->nsteps].name, NAME_LEN, "%s", st->name);
	snprintf(p->steps[p->nsteps].routine, NAME_LEN, "%s",
	    st->routine->name);
	p->nsteps++;
}

static int
preview_sample(struct preview *p, double t, const double *kpa, int nzones)
{
	int	 z;

	if (p->nsamples == p->cap) {
		int	 ncap = p->cap ? p->cap * 2 : 4096;
		double	*nt = realloc(p->t_s, ncap * sizeof(*nt));
		float	*nk;

		if (nt == NULL)
			return (-1);
		p->t_s = nt;
		if ((nk = realloc(p->kpa, (size_t)ncap * nzones *
		    sizeof(*nk))) == NULL)
			return (-1);
		p->kpa = nk;
		p->cap = ncap;
	}
	p->t_s[p->nsamples] = t;
	for (z = 0; z < nzones; z++) {
		p->kpa[(size_t)p->nsamples * nzones + z] = (float)kpa[z];
		if (kpa[z] > 0)
			p->used[z] = 1;
		if (kpa[z] > p->limit_kpa[z] + 1e-9)
			p->above_limit++;
	}
	p->nsamples++;
	return (0);
}

int
preview_run(struct preview *p, const struct config *cfg, const char *program,
    const char *profile, int intensity_pct, char *why, size_t whylen)
{
	const struct table	*t = cfg->table;
	struct session		*s;
	struct session_input	 in;
	struct session_output	 out;
	struct preview_ctx	 ctx;
	struct session_hooks	 hooks = { &ctx, NULL, preview_event };
	double			 dt, alpha, prev[TABLE_MAX_ZONES];
	int			 i, z, every, n;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->tick_hz = t->tick_hz;
	p->sample_hz = t->tick_hz >= 10 ? 10 : t->tick_hz;
	snprintf(p->program, sizeof(p->program), "%s", program);
	snprintf(p->profile, sizeof(p->profile), "%s", profile);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return (-1);
	}
	ctx.p = p;
	ctx.s = s;
	session_init(s, cfg, &hooks, &routine_inst_port);
	s->routine_deadline_ms = PREVIEW_DEADLINE_MS;
	s->routine_wait_ms = 0;	/* wait for every answer */
	s->routine_budget_ms = 1000;	/* timing is the daemon's concern */

	memset(&in, 0, sizeof(in));
	in.nctls = t->nctls;
	for (i = 0; i < t->nctls; i++) {
		in.ctl[i].connected = 1;
		in.ctl[i].rating_kpa = 0;	/* not known offline */
	}
	in.now_s = 1.0;
	if (session_start(s, program, profile, &in, "preview", why,
	    whylen) != 0) {
		session_free(s);
		free(s);
		return (-1);
	}
	if (intensity_pct != 0 && session_intensity(s, intensity_pct,
	    "preview", why,
	    whylen) != 0) {
		session_free(s);
		free(s);
		return (-1);
	}
	for (z = 0; z < t->nzones; z++) {
		p->limit_kpa[z] = s->lim.limit_kpa[z];
		p->excluded[z] = s->lim.excluded[z];
		prev[z] = 0;
	}
	p->ramp_kpa_s = s->lim.ramp_kpa_s;
	dt = 1.0 / t->tick_hz;
	alpha = 1 - exp(-dt / PREVIEW_TAU_S);
	every = (int)lround(t->tick_hz / p->sample_hz);
	if (every < 1)
		every = 1;
	for (n = 0; session_active(s) && n * dt < PREVIEW_MAX_S; n++) {
		in.now_s += dt;
		session_tick(s, &in, &out);
		for (z = 0; z < t->nzones; z++) {
			double rise = (out.setpoint_kpa[z] - prev[z]) / dt;

			if (rise > p->max_rise_kpa_s)
				p->max_rise_kpa_s = rise;
			prev[z] = out.setpoint_kpa[z];
			/* the simulated table follows with a lag */
			in.measured_kpa[z] += alpha *
			    (out.setpoint_kpa[z] - in.measured_kpa[z]);
		}
		if (n % every == 0 && preview_sample(p, n * dt,
		    out.setpoint_kpa, t->nzones) == -1) {
			snprintf(why, whylen, "out of memory");
			session_free(s);
			free(s);
			return (-1);
		}
	}
	p->end_s = n * dt;
	snprintf(p->end_reason, sizeof(p->end_reason), "%s",
	    session_reason_name(s->stop_reason));
	if (s->state == SESSION_FAULT) {
		snprintf(why, whylen, "%s", s->stop_message);
		session_free(s);
		free(s);
		return (-1);
	}
	session_free(s);
	free(s);
	return (0);
}

void
preview_write_csv(const struct preview *p, FILE *fp)
{
	const struct table	*t = p->cfg->table;
	int			 i, z;

	fprintf(fp, "t_s");
	for (z = 0; z < t->nzones; z++)
		fprintf(fp, ",%s", t->zones[z].name);
	fprintf(fp, "\n");
	fprintf(fp, "limit");
	for (z = 0; z < t->nzones; z++)
		fprintf(fp, ",%.1f", p->limit_kpa[z]);
	fprintf(fp, "\n");
	for (i = 0; i < p->nsamples; i++) {
		fprintf(fp, "%.2f", p->t_s[i]);
		for (z = 0; z < t->nzones; z++)
			fprintf(fp, ",%.2f",
			    p->kpa[(size_t)i * t->nzones + z]);
		fprintf(fp, "\n");
	}
}

static void
preview_xml(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':	fputs("&lt;", fp); break;
		case '>':	fputs("&gt;", fp); break;
		case '&':	fputs("&amp;", fp); break;
		case '"':	fputs("&quot;", fp); break;
		default:	fputc(*s, fp); break;
		}
	}
}

/*
 * One lane per zone that the program presses (or that a rule excluded),
 * in table order; pressure as a filled curve, the zone's effective limit
 * as a dashed red line, step boundaries as vertical lines, time in minutes.
 */
/* The time axis in minutes, at y under the lanes, and the SVG's end. */
static void
preview_svg_axis(FILE *fp, int left, double plot, double total, double y)
{
	double	 x;
	int	 m, tick_min = total > 1800 ? 5 : total > 600 ? 2 : 1;

	for (m = 0; m * 60.0 <= total; m += tick_min) {
		x = left + plot * m * 60 / total;
		fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#333\"/><text x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"middle\">%d</text>\n", x, y, x, y + 5, x,
		    y + 18, m);
	}
	fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
	    "minutes</text>\n</svg>\n", left + plot / 2, y + 36);
}

void
preview_write_svg(const struct preview *p, FILE *fp)
{
	const struct table	*t = p->cfg->table;
	const int		 left = 190, right = 30, top = 70, lane = 46;
	const int		 width = 1200;
	double			 scale_kpa = 1, total = p->end_s > 0 ? p->end_s : 1;
	double			 plot = width - left - right, x, y;
	int			 z, i, nl = 0, row, height;

	for (z = 0; z < t->nzones; z++) {
		if (p->used[z] || p->excluded[z])
			nl++;
		if (p->limit_kpa[z] > scale_kpa)
			scale_kpa = p->limit_kpa[z];
	}
	height = top + nl * lane + 50;
	fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
	    "font-size=\"12\">\n", width, height, width, height);
	fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	fprintf(fp, "<text x=\"%d\" y=\"24\" font-size=\"18\" "
	    "font-weight=\"bold\">", left);
	preview_xml(fp, p->program);
	fprintf(fp, " for ");
	preview_xml(fp, p->profile);
	fprintf(fp, "</text>\n<text x=\"%d\" y=\"44\" fill=\"#555\">planned "
	    "pressure per zone, %.1f min, ramp limit %.1f kPa/s; dashed red: "
	    "the zone's effective limit; lane height %.0f kPa</text>\n", left,
	    total / 60, p->ramp_kpa_s, scale_kpa);

	/* steps */
	for (i = 0; i < p->nsteps; i++) {
		x = left + plot * p->steps[i].t_s / total;
		fprintf(fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#bbb\"/>\n", x, top - 8, x, top + nl * lane);
		fprintf(fp, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">", x + 3,
		    top - 10);
		preview_xml(fp, p->steps[i].name);
		fprintf(fp, " (");
		preview_xml(fp, p->steps[i].routine);
		fprintf(fp, ")</text>\n");
	}

	row = 0;
	for (z = 0; z < t->nzones; z++) {
		double base;

		if (!p->used[z] && !p->excluded[z])
			continue;
		base = top + (row + 1) * lane - 4;
		fprintf(fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
		    left - 8, base - lane / 2.0 + 8);
		preview_xml(fp, t->zones[z].name);
		fprintf(fp, "</text>\n<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, base, left + plot,
		    base);
		if (p->excluded[z]) {
			fprintf(fp, "<text x=\"%d\" y=\"%.1f\" fill=\"#999\">"
			    "excluded by a contraindication</text>\n", left + 6,
			    base - 12);
			row++;
			continue;
		}
		fprintf(fp, "<path fill=\"#4a90d9\" fill-opacity=\"0.55\" "
		    "stroke=\"#1f5fa8\" stroke-width=\"1\" d=\"M%d %.1f",
		    left, base);
		/* One point per pixel column, the column's peak, so that a
		 * long program stays a small file and no peak is lost. */
		for (i = 0; i < p->nsamples; ) {
			int	 col = (int)(plot * p->t_s[i] / total);
			double	 peak = 0, v;

			x = left + col;
			while (i < p->nsamples &&
			    (int)(plot * p->t_s[i] / total) == col) {
				v = p->kpa[(size_t)i * t->nzones + z];
				if (v > peak)
					peak = v;
				i++;
			}
			y = base - (lane - 10) * peak / scale_kpa;
			fprintf(fp, " L%.1f %.1f", x, y);
		}
		fprintf(fp, " L%.1f %.1f Z\"/>\n", left + plot, base);
		y = base - (lane - 10) * p->limit_kpa[z] / scale_kpa;
		fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\" stroke=\"#d33\" stroke-dasharray=\"5 4\"/>\n"
		    "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d33\" font-size=\"10\" "
		    "text-anchor=\"end\">%.0f kPa</text>\n", left, y,
		    left + plot, y, left + plot, y - 2, p->limit_kpa[z]);
		row++;
	}

	preview_svg_axis(fp, left, plot, total, top + nl * lane);
}

void
preview_free(struct preview *p)
{
	free(p->t_s);
	free(p->kpa);
	p->t_s = NULL;
	p->kpa = NULL;
}

static void
preview_usage(FILE *fp)
{
	fprintf(fp,
"usage: massagectl preview PROGRAM --profile PROFILE [-f CONFIG]\n"
"           [-o KEY=VALUE ...] [--csv FILE] [--svg FILE] [--intensity N]\n"
"\n"
"Runs PROGRAM for PROFILE offline, through the real routines and the real\n"
"limit pipeline, against a simulated table: no hardware, no daemon. Writes\n"
"the planned pressure of every zone over time as CSV (a column per zone, a\n"
"row of limits, then a row every 0.1 s) and as an SVG chart (a lane per\n"
"zone, the zone's effective limit dashed, steps marked, time in minutes).\n"
"\n"
"  -p, --profile ID    the client profile (required)\n"
"  -f, --config FILE   table configuration (default %s/massaged.ini)\n"
"  -o KEY=VALUE        override a [daemon] key, e.g. -o plugin_dir=DIR\n"
"      --csv FILE      CSV output (default PROGRAM-PROFILE.csv; - for stdout)\n"
"      --svg FILE      SVG output (default PROGRAM-PROFILE.svg; - for stdout)\n"
"      --intensity N   intensity in percent, 10..100 (default: the profile's)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 written; 1 refused (contraindicated, or a routine failed);\n"
"2 usage; 3 the configuration has errors (each is printed).\n", CONFDIR);
}

static FILE *
preview_open(const char *path)
{
	FILE	*fp;

	if (strcmp(path, "-") == 0)
		return (stdout);
	if ((fp = fopen(path, "w")) == NULL)
		fprintf(stderr, "massagectl: preview: %s: cannot write\n", path);
	return (fp);
}

static int
preview_close(FILE *fp, const char *path)
{
	int	 bad = ferror(fp);

	if (fp != stdout)
		bad |= fclose(fp) != 0;
	else
		bad |= fflush(fp) != 0;
	if (bad)
		fprintf(stderr, "massagectl: preview: %s: write error\n", path);
	return (bad ? -1 : 0);
}

static void
preview_summary(const struct preview *p)
{
	const struct table	*t = p->cfg->table;
	double			 peak[TABLE_MAX_ZONES] = { 0 };
	int			 i, z;

	for (i = 0; i < p->nsamples; i++)
		for (z = 0; z < t->nzones; z++)
			if (p->kpa[(size_t)i * t->nzones + z] > peak[z])
				peak[z] = p->kpa[(size_t)i * t->nzones + z];
	fprintf(stderr, "%s for %s: %.1f min, ended by %s\n", p->program,
	    p->profile, p->end_s / 60, p->end_reason);
	for (i = 0; i < p->nsteps; i++)
		fprintf(stderr, "  %6.1f min  %-20s %s\n", p->steps[i].t_s / 60,
		    p->steps[i].name, p->steps[i].routine);
	fprintf(stderr, "  %-24s %8s %8s\n", "zone", "peak kPa", "limit");
	for (z = 0; z < t->nzones; z++) {
		if (p->excluded[z])
			fprintf(stderr, "  %-24s %8s %8s\n", t->zones[z].name,
			    "-", "excluded");
		else if (p->used[z])
			fprintf(stderr, "  %-24s %8.1f %8.1f\n",
			    t->zones[z].name, peak[z], p->limit_kpa[z]);
	}
}

/*
 * The configuration as the daemon loads it, with the routines in
 * routines: a refused plugin file disables only the programs that need
 * it. NULL with every error on stderr.
 */
static struct config *
preview_config(const char *path, char *const *overrides, int noverrides,
    struct routine_set *routines)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	struct inifile_errors	 refused = { .quiet = 1 };
	struct config		*cfg = NULL;
	struct table		*t;

	if ((t = config_load_table(path, overrides, noverrides,
	    &errs)) != NULL) {
		routines_load_dir(routines, t->plugin_dir, &refused);
		if (refused.text != NULL)
			fputs(refused.text, stderr);
		inifile_errors_free(&refused);
		free(t);
		cfg = config_load(path, overrides, noverrides, routines,
		    &errs);
		routines_checked(routines);
	}
	if (cfg == NULL) {
		fputs(errs.text != NULL ? errs.text : "", stderr);
		fprintf(stderr, "massagectl: preview: %s: %d error%s\n", path,
		    errs.count, errs.count == 1 ? "" : "s");
	}
	inifile_errors_free(&errs);
	return (cfg);
}

/* The CSV, then the SVG ("-": stdout); -1 if one could not be written. */
static int
preview_write(const struct preview *p, const char *csv, const char *svg)
{
	FILE	*fp;

	if ((fp = preview_open(csv)) == NULL)
		return (-1);
	preview_write_csv(p, fp);
	if (preview_close(fp, csv) == -1)
		return (-1);
	if ((fp = preview_open(svg)) == NULL)
		return (-1);
	preview_write_svg(p, fp);
	if (preview_close(fp, svg) == -1)
		return (-1);
	if (strcmp(csv, "-") != 0 && strcmp(svg, "-") != 0)
		fprintf(stderr, "wrote %s and %s\n", csv, svg);
	return (0);
}

int
preview_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile",	required_argument,	NULL, 'p' },
		{ "config",	required_argument,	NULL, 'f' },
		{ "csv",	required_argument,	NULL, 'c' },
		{ "svg",	required_argument,	NULL, 's' },
		{ "intensity",	required_argument,	NULL, 'i' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct routine_set	 routines = { 0 };
	struct config		*cfg;
	struct preview		 p;
	char			*overrides[CONFIG_MAX_OVERRIDES];
	const char		*path = CONFDIR "/massaged.ini", *profile = NULL;
	char			 csv[512] = "", svg[512] = "", why[512];
	const char		*program;
	long			 intensity = 0;
	int			 ch, noverrides = 0, rc = 1;

	log_init("massagectl", -1);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "p:f:o:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'p':
			profile = optarg;
			break;
		case 'f':
			path = optarg;
			break;
		case 'o':
			if (noverrides == CONFIG_MAX_OVERRIDES) {
				fprintf(stderr, "massagectl: preview: too many "
				    "-o\n");
				return (2);
			}
			overrides[noverrides++] = optarg;
			break;
		case 'c':
			snprintf(csv, sizeof(csv), "%s", optarg);
			break;
		case 's':
			snprintf(svg, sizeof(svg), "%s", optarg);
			break;
		case 'i':
			if (parse_int(optarg, 10, 100, &intensity) == -1) {
				fprintf(stderr, "massagectl: preview: "
				    "--intensity: '%s' is not valid (expected "
				    "10 to 100)\n", optarg);
				return (2);
			}
			break;
		case 'h':
			preview_usage(stdout);
			return (0);
		default:
			preview_usage(stderr);
			return (2);
		}
	}
	if (optind + 1 != argc || profile == NULL) {
		preview_usage(stderr);
		return (2);
	}
	program = argv[optind];
	if (csv[0] == '\0')
		snprintf(csv, sizeof(csv), "%s-%s.csv", program, profile);
	if (svg[0] == '\0')
		snprintf(svg, sizeof(svg), "%s-%s.svg", program, profile);

	if ((cfg = preview_config(path, overrides, noverrides,
	    &routines)) == NULL) {
		routines_free(&routines);
		return (3);
	}
	if (preview_run(&p, cfg, program, profile, (int)intensity, why,
	    sizeof(why)) == -1)
		fprintf(stderr, "massagectl: preview: %s\n", why);
	else if (preview_write(&p, csv, svg) == 0) {
		preview_summary(&p);
		rc = 0;
	}
	preview_free(&p);
	config_free(cfg);
	routines_free(&routines);
	return (rc);
}
