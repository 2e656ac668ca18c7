/*
 * test_program.c: programs (daemon/core/program.c): good ones, every error with
 * its exact "file:line: [section] key: what (expected ...)" message, globs,
 * parameters, and the programs shipped in config/programs against the demo
 * table config/massaged.ini.
 *
 * The routines are the shipped plugins from $MASSAGED_BUILD/plugins
 * (default "build"); run from the top of the source tree.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "program.h"
#include "routine-load.h"

static struct routine_set	 routines;
static struct table		 table;
static char			 tmpdir[256];
static char			 progdir[300];

static const char *const ZONES = "gluteus_medius_left, gluteus_medius_right, "
    "piriformis_left, piriformis_right, sciatic_notch_left, calf_left";
static const char *const ROUTINES = "swedish, trigger_point, deep_tissue or "
    "myofascial";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	 path[PATH_MAX + 64];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		fail_msg("%s: cannot create", path);
	fputs(text, fp);
	fclose(fp);
}

static int
group_setup(void **state)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	static const char *const names[] = { "swedish", "trigger_point",
	    "deep_tissue", "myofascial" };
	const char		*b = getenv("MASSAGED_BUILD");
	char			 path[PATH_MAX + 32];
	size_t			 i;

	(void)state;
	if (b == NULL || *b == '\0')
		b = "build";
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/plugins/%s.so", b, names[i]);
		routines_load_file(&routines, path, &errs);
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/massaged-program-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return (-1);
	/* A small table: four muscles, an endangerment site, a calf. */
	write_file(tmpdir, "table.ini",
	    "[controller c]\n"
	    "transport = tcp\n"
	    "address = 127.0.0.1:1502\n"
	    "[zone gluteus_medius_left]\n"
	    "controller = c\nchannel = 0\nalong_cm = 88\nacross_cm = -15\n"
	    "limit_kpa = 35\n"
	    "[zone gluteus_medius_right]\n"
	    "controller = c\nchannel = 1\nalong_cm = 88\nacross_cm = 15\n"
	    "limit_kpa = 35\n"
	    "[zone piriformis_left]\n"
	    "controller = c\nchannel = 2\nalong_cm = 95\nacross_cm = -9\n"
	    "limit_kpa = 35\n"
	    "[zone piriformis_right]\n"
	    "controller = c\nchannel = 3\nalong_cm = 95\nacross_cm = 9\n"
	    "limit_kpa = 35\n"
	    "[zone sciatic_notch_left]\n"
	    "controller = c\nchannel = 4\nalong_cm = 99\nacross_cm = -13\n"
	    "limit_kpa = 15\nendangerment = yes\n"
	    "[zone calf_left]\n"
	    "controller = c\nchannel = 5\nalong_cm = 170\nacross_cm = -9\n"
	    "limit_kpa = 35\n");
	snprintf(path, sizeof(path), "%s/table.ini", tmpdir);
	table_load(&table, path, &errs);
	if (errs.count != 0) {
		fprintf(stderr, "%s", errs.text);
		inifile_errors_free(&errs);
		return (-1);
	}
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	routines_free(&routines);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (0);
}

/* A fresh, empty program directory per test. */
static int
setup_dir(void **state)
{
	static int	 n;

	(void)state;
	snprintf(progdir, sizeof(progdir), "%s/programs%d", tmpdir, ++n);
	return (mkdir(progdir, 0755));
}

/* Loads progdir; expects errs to be exactly want (NULL: none). */
static void
load_expect(struct program_set *set, const char *want)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	int			 n;

	n = programs_load(set, progdir, &routines, &table, &errs);
	if (want == NULL) {
		if (n != 0 || errs.count != 0)
			fail_msg("unexpected errors:\n%s", errs.text);
	} else {
		assert_int_equal(n, errs.count);
		if (errs.text == NULL || strcmp(errs.text, want) != 0)
			fail_msg("got:\n%s\nwant:\n%s", errs.text ? errs.text :
			    "(nothing)\n", want);
	}
	inifile_errors_free(&errs);
}

/* Appends one expected line: "progdir/file:line: rest". */
static void
want_add(char *buf, size_t len, const char *file, int line,
    const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n = strlen(buf);

	n += (size_t)snprintf(buf + n, len - n, "%s/%s:%d: ", progdir, file,
	    line);
	va_start(ap, fmt);
	n += (size_t)vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	snprintf(buf + n, len - n, "\n");
}

static void
test_good(void **state)
{
	struct program_set		 set;
	const struct program		*p;
	const struct program_step	*st;
	char				 path[PATH_MAX + 32];

	(void)state;
	write_file(progdir, "relief.ini",
	    "; Piriformis relief, for the tests\n"
	    "[program]\n"
	    "name = Piriformis relief\n"
	    "description = Warm-up, points, cool-down.\n"
	    "\n"
	    "[step warmup]\n"
	    "routine = swedish\n"
	    "duration = 5min\n"
	    "zones = piriformis_*, gluteus_*,piriformis_left ,  calf_left\n"
	    "stroke = kneading\n"
	    "pressure_kpa = 9.5\n"
	    "\n"
	    "[step points]\n"
	    "hold_s = 45\n"
	    "zones = gluteus_medius_left, piriformis_left\n"
	    "routine = trigger_point\n"
	    "duration_s = 600\n"
	    "\n"
	    "[step cooldown]\n"
	    "routine = myofascial\n"
	    "duration = 180s\n"
	    "zones = *_left\n");
	load_expect(&set, NULL);
	assert_int_equal(set.n, 1);
	p = programs_find(&set, "relief");
	assert_non_null(p);
	snprintf(path, sizeof(path), "%s/relief.ini", progdir);
	assert_string_equal(p->path, path);
	assert_string_equal(p->name, "Piriformis relief");
	assert_string_equal(p->description, "Warm-up, points, cool-down.");
	assert_int_equal(p->nsteps, 3);
	assert_true(p->total_s == 300 + 600 + 180);

	st = &p->steps[0];
	assert_string_equal(st->name, "warmup");
	assert_int_equal(st->line, 6);
	assert_ptr_equal(st->routine, routines_find(&routines, "swedish"));
	assert_true(st->duration_s == 300);
	assert_string_equal(st->zones_spec,
	    "piriformis_*, gluteus_*,piriformis_left ,  calf_left");
	/* In the order given, each zone once. */
	assert_int_equal(st->nzones, 5);
	assert_int_equal(st->zones[0], table_zone_find(&table,
	    "piriformis_left"));
	assert_int_equal(st->zones[1], table_zone_find(&table,
	    "piriformis_right"));
	assert_int_equal(st->zones[2], table_zone_find(&table,
	    "gluteus_medius_left"));
	assert_int_equal(st->zones[3], table_zone_find(&table,
	    "gluteus_medius_right"));
	assert_int_equal(st->zones[4], table_zone_find(&table, "calf_left"));
	/* Given, and defaults for the rest. */
	assert_true(st->params[routine_param_find(st->routine, "stroke")] == 1);
	assert_true(st->params[routine_param_find(st->routine,
	    "pressure_kpa")] == 9.5);
	assert_true(st->params[routine_param_find(st->routine,
	    "contact_kpa")] == 2);
	assert_true(st->params[routine_param_find(st->routine,
	    "width_cm")] == 30);

	st = &p->steps[1];
	assert_string_equal(st->name, "points");
	assert_ptr_equal(st->routine, routines_find(&routines,
	    "trigger_point"));
	assert_true(st->duration_s == 600);
	assert_true(st->params[routine_param_find(st->routine, "hold_s")] ==
	    45);
	assert_true(st->params[routine_param_find(st->routine, "ramp_s")] ==
	    20);
	assert_int_equal(st->nzones, 2);

	/* A glob may take in an endangerment site for light work. */
	st = &p->steps[2];
	assert_true(st->duration_s == 180);
	assert_int_equal(st->nzones, 4);
	assert_int_equal(st->zones[2], table_zone_find(&table,
	    "sciatic_notch_left"));
	programs_free(&set);
	assert_int_equal(set.n, 0);
}

static void
test_sorted(void **state)
{
	static const char prog[] =
	    "[program]\nname = P\n[step only]\nroutine = swedish\n"
	    "duration_s = 60\nzones = calf_left\n";
	struct program_set	 set;

	(void)state;
	write_file(progdir, "b_prog.ini", prog);
	write_file(progdir, "a_prog.ini", prog);
	write_file(progdir, "c_prog.ini", prog);
	write_file(progdir, "README", "not a program\n");
	write_file(progdir, ".hidden.ini", "not read\n");
	write_file(progdir, "old.ini~", "not read\n");
	load_expect(&set, NULL);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.programs[0].id, "a_prog");
	assert_string_equal(set.programs[1].id, "b_prog");
	assert_string_equal(set.programs[2].id, "c_prog");
	assert_ptr_equal(programs_find(&set, "b_prog"), &set.programs[1]);
	assert_ptr_equal(programs_find(&set, "c_prog"), &set.programs[2]);
	assert_null(programs_find(&set, "d_prog"));
	assert_null(programs_find(&set, "a"));
	programs_free(&set);
}

static void
test_errors(void **state)
{
	struct program_set	 set;
	char			 want[8192] = "";
	const char		*f = "bad.ini";

	(void)state;
	write_file(progdir, "bad.ini",
	    "[program]\n"					/* 1 */
	    "name = Bad\n"
	    "colour = blue\n"
	    "[step warmup]\n"
	    "routine = swedish\n"				/* 5 */
	    "duration_s = 0\n"
	    "zones = gluteus_*, nosuch_zone, hip_*, , piriformis_left\n"
	    "stroke = tapotement\n"
	    "pressure_kpa = 45\n"
	    "speed = fast\n"					/* 10 */
	    "[step trigger]\n"
	    "routine = trigger_point\n"
	    "duration = 5 weeks\n"
	    "zones = sciatic_notch_left, piriformis_left\n"
	    "hold_s = 120\n"					/* 15 */
	    "[step warmup]\n"
	    "routine = swedish\n"
	    "[stuff]\n"
	    "key = value\n"
	    "[step x]\n"					/* 20 */
	    "routine = shiatsu\n"
	    "duration_s = 60\n"
	    "zones = calf_left\n"
	    "[step Bad]\n"
	    "[step]\n"						/* 25 */
	    "[step nothing]\n"
	    "duration_s = 60\n"
	    "duration = 1min\n");
	/* Found while reading, in line order ... */
	want_add(want, sizeof(want), f, 3, "[program] colour: unknown key "
	    "(expected name or description)");
	want_add(want, sizeof(want), f, 6, "[step warmup] duration_s: not "
	    "valid (expected a decimal number from 1 to 3600 s)");
	want_add(want, sizeof(want), f, 7, "[step warmup] zones: zone "
	    "'nosuch_zone' is not a zone of the table (expected one of: %s)",
	    ZONES);
	want_add(want, sizeof(want), f, 7, "[step warmup] zones: glob 'hip_*' "
	    "matches no zone of the table (expected one of: %s)", ZONES);
	want_add(want, sizeof(want), f, 7, "[step warmup] zones: empty entry "
	    "in the list (expected zone names or globs separated by commas)");
	want_add(want, sizeof(want), f, 13, "[step trigger] duration: not "
	    "valid (expected a time from 1 s to 60 min, such as 90s, 300 or "
	    "5min)");
	want_add(want, sizeof(want), f, 16, "[step warmup] given twice "
	    "(first at line 4)");
	want_add(want, sizeof(want), f, 18, "[stuff] unknown section (expected "
	    "[program] or [step NAME])");
	want_add(want, sizeof(want), f, 24, "[step Bad] name 'Bad' is not "
	    "valid (expected 1 to 47 characters of [a-z0-9_], such as warmup)");
	want_add(want, sizeof(want), f, 25, "[step] a step needs a name "
	    "(expected [step NAME], such as [step warmup])");
	want_add(want, sizeof(want), f, 28, "[step nothing] duration: the step "
	    "already has duration_s at line 27 (expected duration or "
	    "duration_s, not both)");
	/* ... then, step by step, what needs the whole file. */
	want_add(want, sizeof(want), f, 8, "[step warmup] stroke: 'tapotement' "
	    "is not one of the choices (expected effleurage, kneading or "
	    "circular)");
	want_add(want, sizeof(want), f, 9, "[step warmup] pressure_kpa: 45 is "
	    "out of range (expected a number from 2 to 30 kPa)");
	want_add(want, sizeof(want), f, 10, "[step warmup] speed: unknown key "
	    "(expected routine, duration_s, zones or a parameter of swedish: "
	    "stroke, pressure_kpa, contact_kpa, period_s or width_cm)");
	want_add(want, sizeof(want), f, 15, "[step trigger] hold_s: 120 is out "
	    "of range (expected a number from 30 to 90 s)");
	want_add(want, sizeof(want), f, 14, "[step trigger] zones: "
	    "sciatic_notch_left is an endangerment site, where trigger_point "
	    "(focused: sustained or deep pressure) is never allowed (expected "
	    "zones that are not endangerment sites)");
	want_add(want, sizeof(want), f, 21, "[step x] routine: no routine named "
	    "'shiatsu' is loaded (loaded: %s)", ROUTINES);
	want_add(want, sizeof(want), f, 26, "[step nothing] routine: missing "
	    "(expected one of: %s)", ROUTINES);
	want_add(want, sizeof(want), f, 26, "[step nothing] zones: missing "
	    "(expected zone names or globs, such as piriformis_*)");
	load_expect(&set, want);
	/* A file with errors is left out. */
	assert_int_equal(set.n, 0);
	programs_free(&set);
}

static void
test_missing(void **state)
{
	struct program_set	 set;
	char			 want[8192] = "";

	(void)state;
	/* Nothing at all. */
	write_file(progdir, "empty.ini", "; nothing here\n");
	want_add(want, sizeof(want), "empty.ini", 1, "no [program] section "
	    "(expected [program] with name = and description =)");
	want_add(want, sizeof(want), "empty.ini", 1, "no [step NAME] section "
	    "(a program needs at least one step)");
	/* A program without a name, and a step without anything. */
	write_file(progdir, "noname.ini", "\n[program]\ndescription = x\n"
	    "[step a]\n");
	want_add(want, sizeof(want), "noname.ini", 2, "[program] name: missing "
	    "(expected a name for people, such as Piriformis syndrome "
	    "relief)");
	want_add(want, sizeof(want), "noname.ini", 4, "[step a] routine: "
	    "missing (expected one of: %s)", ROUTINES);
	want_add(want, sizeof(want), "noname.ini", 4, "[step a] duration_s: "
	    "missing (expected the step's length in seconds, or duration = "
	    "5min)");
	want_add(want, sizeof(want), "noname.ini", 4, "[step a] zones: missing "
	    "(expected zone names or globs, such as piriformis_*)");
	/* Twice the same section, a program with no steps. */
	write_file(progdir, "nosteps.ini", "[program]\nname = x\n[program]\n"
	    "name = y\n");
	want_add(want, sizeof(want), "nosteps.ini", 3, "[program] given twice "
	    "(first at line 1)");
	want_add(want, sizeof(want), "nosteps.ini", 1, "no [step NAME] section "
	    "(a program needs at least one step)");
	load_expect(&set, want);
	assert_int_equal(set.n, 0);
	programs_free(&set);
}

static void
test_routine_refusals(void **state)
{
	struct program_set	 set;
	char			 want[8192] = "";

	(void)state;
	/* What the routine itself refuses, found at load time. */
	write_file(progdir, "short.ini",
	    "[program]\nname = Too short\n"
	    "[step points]\n"					/* 3 */
	    "routine = trigger_point\n"
	    "duration_s = 300\n"
	    "zones = gluteus_medius_*, piriformis_left\n"
	    "[step deep]\n"					/* 7 */
	    "routine = deep_tissue\n"
	    "duration = 1min\n"
	    "zones = piriformis_*\n"
	    "warmup_s = 90\n"
	    "[step light]\n"					/* 12 */
	    "routine = swedish\n"
	    "duration = 1min\n"
	    "zones = calf_left\n"
	    "contact_kpa = 8\n"
	    "pressure_kpa = 5\n");
	want_add(want, sizeof(want), "short.ini", 3, "[step points] routine "
	    "trigger_point refuses these settings: 3 points x 1 rounds need "
	    "340 s (ramp 20 + hold 60 + release 20 s each, rest 20 s "
	    "between), longer than the 300 s step");
	want_add(want, sizeof(want), "short.ini", 7, "[step deep] routine "
	    "deep_tissue refuses these settings: warmup_s 90 leaves no time "
	    "for the work in a 60 s step");
	want_add(want, sizeof(want), "short.ini", 12, "[step light] routine "
	    "swedish refuses these settings: contact_kpa 8 is above "
	    "pressure_kpa 5");
	load_expect(&set, want);
	programs_free(&set);
}

static void
test_names_and_values(void **state)
{
	struct program_set		 set;
	const struct program		*p;
	char				 want[8192] = "";

	(void)state;
	write_file(progdir, "Bad-Name.ini", "[program]\nname = x\n");
	snprintf(want, sizeof(want), "%s/Bad-Name.ini: the file name is not a "
	    "valid program id (expected 1 to 47 characters of [a-z0-9_], then "
	    ".ini)\n", progdir);
	write_file(progdir, "durations.ini",
	    "[program]\nname = Durations\n"
	    "[step a]\nroutine = swedish\nduration = 90s\nzones = calf_left\n"
	    "[step b]\nroutine = swedish\nduration = 1.5 min\n"
	    "zones = calf_left\n"
	    "[step c]\nroutine = swedish\nduration = 1h\nzones = calf_left\n"
	    "[step d]\nroutine = swedish\nduration = 45\nzones = calf_left\n"
	    "[step e]\nroutine = swedish\nduration = 2h\nzones = calf_left\n"
	    "[step f]\nroutine = swedish\nduration = -5s\nzones = calf_left\n"
	    "[step g]\nroutine = swedish\nduration_s = 5min\n"
	    "zones = calf_left\n");
	want_add(want, sizeof(want), "durations.ini", 21, "[step e] duration: "
	    "not valid (expected a time from 1 s to 60 min, such as "
	    "90s, 300 or 5min)");
	want_add(want, sizeof(want), "durations.ini", 25, "[step f] duration: "
	    "not valid (expected a time from 1 s to 60 min, such as "
	    "90s, 300 or 5min)");
	want_add(want, sizeof(want), "durations.ini", 29, "[step g] "
	    "duration_s: not valid (expected a decimal number from 1 to 3600 "
	    "s)");
	write_file(progdir, "ok.ini",
	    "[program]\nname = Units\n"
	    "[step a]\nroutine = swedish\nduration = 90s\nzones = calf_left\n"
	    "[step b]\nroutine = swedish\nduration = 1.5 min\n"
	    "zones = calf_left\n"
	    "[step c]\nroutine = swedish\nduration = 1h\nzones = calf_left\n"
	    "[step d]\nroutine = swedish\nduration = 45\nzones = calf_left\n");
	load_expect(&set, want);
	assert_int_equal(set.n, 1);
	assert_non_null(p = programs_find(&set, "ok"));
	assert_true(p->steps[0].duration_s == 90);
	assert_true(p->steps[1].duration_s == 90);
	assert_true(p->steps[2].duration_s == 3600);
	assert_true(p->steps[3].duration_s == 45);
	assert_true(p->total_s == 90 + 90 + 3600 + 45);
	programs_free(&set);
}

static void
test_no_routines(void **state)
{
	struct program_set	 set;
	struct routine_set	 none = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 want[8192] = "";

	(void)state;
	write_file(progdir, "p.ini", "[program]\nname = x\n[step a]\n"
	    "duration_s = 60\nzones = calf_left\n[step b]\nroutine = swedish\n"
	    "duration_s = 60\nzones = calf_left\n");
	want_add(want, sizeof(want), "p.ini", 3, "[step a] routine: missing "
	    "(expected a routine, but none is loaded)");
	want_add(want, sizeof(want), "p.ini", 7, "[step b] routine: no routine "
	    "named 'swedish' is loaded (none is loaded: check plugin_dir)");
	assert_int_equal(programs_load(&set, progdir, &none, &table, &errs), 2);
	assert_string_equal(errs.text, want);
	inifile_errors_free(&errs);
	programs_free(&set);

	snprintf(want, sizeof(want), "%s/nope", tmpdir);
	assert_int_equal(programs_load(&set, want, &routines, &table, &errs),
	    1);
	snprintf(want, sizeof(want), "%s/nope: cannot open program directory: "
	    "No such file or directory\n", tmpdir);
	assert_string_equal(errs.text, want);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&errs);
}

/* The shipped programs, against the shipped demo table. */
static void
test_shipped(void **state)
{
	static const char *const ids[] = { "gluteal_trigger_points",
	    "piriformis_relief", "relaxation", "sciatica_buttock" };
	struct program_set		 set;
	struct inifile_errors		 errs = { .quiet = 1 };
	struct table			*demo;
	const struct program		*p;
	const struct program_step	*st;
	const struct zone_conf		*z;
	int				 i, j, k;

	(void)state;
	assert_non_null(demo = calloc(1, sizeof(*demo)));
	if (table_load(demo, "config/massaged.ini", &errs) != 0)
		fail_msg("config/massaged.ini:\n%s", errs.text);
	if (programs_load(&set, "config/programs", &routines, demo,
	    &errs) != 0)
		fail_msg("config/programs:\n%s", errs.text);
	for (i = 0; i < (int)(sizeof(ids) / sizeof(ids[0])); i++) {
		if ((p = programs_find(&set, ids[i])) == NULL)
			fail_msg("no program %s", ids[i]);
		assert_true(p->nsteps >= 3);
		assert_true(p->name[0] != '\0' && p->description[0] != '\0');
		/* 15 to 40 minutes, warm-up first, cool-down last. */
		if (p->total_s < 15 * 60 || p->total_s > 40 * 60)
			fail_msg("%s: %g min", p->id, p->total_s / 60);
		assert_string_equal(p->steps[0].name, "warmup");
		assert_string_equal(p->steps[p->nsteps - 1].name, "cooldown");
		assert_false(p->steps[0].routine->flags &
		    MASSAGED_ROUTINE_FOCUSED);
		assert_false(p->steps[p->nsteps - 1].routine->flags &
		    MASSAGED_ROUTINE_FOCUSED);
		/* Nothing ever on the sciatic notch, focused or not. */
		for (j = 0; j < p->nsteps; j++) {
			st = &p->steps[j];
			for (k = 0; k < st->nzones; k++) {
				z = &demo->zones[st->zones[k]];
				if (z->endangerment)
					fail_msg("%s: step %s: %s", p->id,
					    st->name, z->name);
			}
		}
	}
	programs_free(&set);
	inifile_errors_free(&errs);
	free(demo);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_good, setup_dir),
		cmocka_unit_test_setup(test_sorted, setup_dir),
		cmocka_unit_test_setup(test_errors, setup_dir),
		cmocka_unit_test_setup(test_missing, setup_dir),
		cmocka_unit_test_setup(test_routine_refusals, setup_dir),
		cmocka_unit_test_setup(test_names_and_values, setup_dir),
		cmocka_unit_test_setup(test_no_routines, setup_dir),
		cmocka_unit_test(test_shipped),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
