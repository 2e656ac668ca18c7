/*
 * fuzz_program.c: libFuzzer target for the program parser
 * (programs_load() in daemon/core/program.c), with the real routine plugins.
 *
 * The plugins (swedish, trigger_point, deep_tissue, myofascial) are loaded
 * once; each input is one program, programs/prog.ini, checked against the
 * demo table (config/massaged.ini). A step that passes the parser's own
 * checks is instantiated by the loader, so the plugins' create() functions
 * see fuzzed parameters too. A program that loads without an error must be
 * safe to run: every step has a routine, a duration in range, zones of the
 * table (never an endangerment site for focused work) and parameters in
 * the routine's ranges.
 */
#include <math.h>

#include "fuzz_common.h"
#include "program.h"
#include "routine-load.h"

static struct table		*fuzz_program_table;
static struct routine_set	 fuzz_program_routines;
static char			 fuzz_program_dir[PATH_MAX];
static char			 fuzz_program_path[PATH_MAX];

static FUZZ_UNUSED void
fuzz_program_init(void)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 path[PATH_MAX];

	fuzz_setup();
	if (fuzz_program_table != NULL)
		return;
	if ((fuzz_program_table = calloc(1, sizeof(*fuzz_program_table))) ==
	    NULL)
		abort();
	fuzz_src_path(path, sizeof(path), "config/massaged.ini");
	if (table_load(fuzz_program_table, path, &errs) != 0)
		fuzz_setup_failed(path, &errs);
	if (routines_load_dir(&fuzz_program_routines, fuzz_plugindir,
	    &errs) != 0 || fuzz_program_routines.n == 0)
		fuzz_setup_failed(fuzz_plugindir, &errs);
	fuzz_tmp_path(fuzz_program_path, sizeof(fuzz_program_path),
	    "programs/prog.ini");
	snprintf(fuzz_program_dir, sizeof(fuzz_program_dir), "%s/programs",
	    fuzz_tmp);
}

static void
fuzz_program_invariants(const struct program *p, const struct table *t)
{
	const struct program_step	*st;
	const struct massaged_routine	*d;
	const struct zone_conf		*z;
	double				 total = 0;
	size_t				 k;
	int				 i, j, m;

	FUZZ_CHECK(strcmp(p->id, "prog") == 0, "id '%s'", p->id);
	FUZZ_CHECK(p->name[0] != '\0', "no name");
	FUZZ_CHECK(p->nsteps >= 1 && p->nsteps <= PROGRAM_MAX_STEPS,
	    "%d steps", p->nsteps);
	for (i = 0; i < p->nsteps; i++) {
		st = &p->steps[i];
		d = st->routine;
		FUZZ_CHECK(d != NULL, "step %s without a routine", st->name);
		FUZZ_CHECK(routines_find(&fuzz_program_routines, d->name) == d,
		    "step %s routine not loaded", st->name);
		FUZZ_CHECK(inifile_name_ok(st->name, NAME_LEN), "step name '%s'",
		    st->name);
		FUZZ_CHECK(st->duration_s >= 1 && st->duration_s <= 3600,
		    "step %s duration %g", st->name, st->duration_s);
		FUZZ_CHECK(st->nzones >= 1 && st->nzones <= t->nzones,
		    "step %s: %d zones", st->name, st->nzones);
		for (j = 0; j < st->nzones; j++) {
			FUZZ_CHECK(st->zones[j] >= 0 &&
			    st->zones[j] < t->nzones, "step %s zone index %d",
			    st->name, st->zones[j]);
			z = &t->zones[st->zones[j]];
			FUZZ_CHECK(!z->endangerment ||
			    !(d->flags & MASSAGED_ROUTINE_FOCUSED),
			    "step %s: focused %s on endangerment site %s",
			    st->name, d->name, z->name);
			for (m = 0; m < j; m++)
				FUZZ_CHECK(st->zones[m] != st->zones[j],
				    "step %s: zone %s twice", st->name,
				    z->name);
		}
		for (k = 0; k < d->n_params; k++)
			FUZZ_CHECK(isfinite(st->params[k]) &&
			    st->params[k] >= d->params[k].min &&
			    st->params[k] <= d->params[k].max,
			    "step %s: %s = %g outside [%g, %g]", st->name,
			    d->params[k].name, st->params[k],
			    d->params[k].min, d->params[k].max);
		total += st->duration_s;
	}
	FUZZ_CHECK(fabs(total - p->total_s) < 1e-6, "total %g, steps %g",
	    p->total_s, total);
}

static FUZZ_UNUSED int
fuzz_program_one(const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	struct program_set	 set;
	int			 n;

	if (fuzz_known_bug(data, size))
		return (0);
	fuzz_write(fuzz_program_path, data, size);
	n = programs_load(&set, fuzz_program_dir, &fuzz_program_routines,
	    fuzz_program_table, &errs);
	FUZZ_CHECK(n == errs.count, "programs_load returned %d for %d errors",
	    n, errs.count);
	fuzz_check_errors(&errs, fuzz_program_dir);
	if (n == 0) {
		FUZZ_CHECK(set.n == 1, "%d programs from one file", set.n);
		FUZZ_CHECK(programs_find(&set, "prog") == &set.programs[0],
		    "programs_find");
		fuzz_program_invariants(&set.programs[0], fuzz_program_table);
	} else
		FUZZ_CHECK(set.n == 0, "a program with %d errors was kept", n);
	programs_free(&set);
	inifile_errors_free(&errs);
	return (0);
}

FUZZ_MAIN(program)
