/*
 * preview.c: massagectl preview, the offline program preview.
 *
 * Loads the table, the plugins, profiles, programs and rules exactly as
 * the daemon does, runs the program through daemon/preview.c (the real
 * session logic and limit pipeline against a simulated table) and writes
 * the planned pressure of every zone as CSV and as an SVG chart.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/preview.h"
#include "cfg.h"
#include "log.h"
#include "preview.h"

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
	struct cfg_errors	 errs = { 0 };
	struct routine_set	 routines = { 0 };
	struct table		*t;
	struct config		*cfg = NULL;
	struct preview		 p;
	char			*overrides[CONFIG_MAX_OVERRIDES];
	const char		*path = CONFDIR "/massaged.ini", *profile = NULL;
	char			 csv[512] = "", svg[512] = "", why[512];
	const char		*program;
	long			 intensity = 0;
	int			 ch, noverrides = 0, rc = 1;
	FILE			*fp;

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

	errs.quiet = 1;
	if ((t = config_load_table(path, overrides, noverrides,
	    &errs)) != NULL) {
		routines_load_dir(&routines, t->plugin_dir, &errs);
		free(t);
		if (errs.count == 0)
			cfg = config_load(path, overrides, noverrides,
			    &routines, &errs);
	}
	if (cfg == NULL) {
		fputs(errs.text != NULL ? errs.text : "", stderr);
		fprintf(stderr, "massagectl: preview: %s: %d error%s\n", path,
		    errs.count, errs.count == 1 ? "" : "s");
		cfg_errors_free(&errs);
		routines_free(&routines);
		return (3);
	}
	cfg_errors_free(&errs);

	if (preview_run(&p, cfg, program, profile, (int)intensity, why,
	    sizeof(why)) == -1) {
		fprintf(stderr, "massagectl: preview: %s\n", why);
		goto out;
	}
	if ((fp = preview_open(csv)) == NULL)
		goto out;
	preview_write_csv(&p, fp);
	if (preview_close(fp, csv) == -1)
		goto out;
	if ((fp = preview_open(svg)) == NULL)
		goto out;
	preview_write_svg(&p, fp);
	if (preview_close(fp, svg) == -1)
		goto out;
	preview_summary(&p);
	if (strcmp(csv, "-") != 0 && strcmp(svg, "-") != 0)
		fprintf(stderr, "wrote %s and %s\n", csv, svg);
	rc = 0;
out:
	preview_free(&p);
	config_free(cfg);
	routines_free(&routines);
	return (rc);
}
