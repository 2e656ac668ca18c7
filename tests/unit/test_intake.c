/*
 * test_intake.c: the clinic's intake file (daemon/core/intake.c): the shipped
 * file, a missing file, and every error with its line.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "intake.h"

static void
srcpath(char *dst, size_t len, const char *rel)
{
	const char	*src = getenv("MASSAGED_SRCDIR");

	snprintf(dst, len, "%s/%s", src != NULL ? src : ".", rel);
}

static struct table *
demo_table(void)
{
	struct inifile_errors	 e = { 0 };
	struct table		*t = calloc(1, sizeof(*t));
	char			 path[PATH_MAX];

	assert_non_null(t);
	e.quiet = 1;
	srcpath(path, sizeof(path), "config/massaged.ini");
	assert_int_equal(table_load(t, path, &e), 0);
	return (t);
}

static void
test_shipped(void **state)
{
	struct inifile_errors	 e = { 0 };
	struct intake		 in;
	struct table		*t = demo_table();
	char			 path[PATH_MAX];

	e.quiet = 1;
	srcpath(path, sizeof(path), "config/intake.ini");
	assert_int_equal(intake_load(&in, path, t, &e), 0);
	assert_int_equal(in.loaded, 1);
	assert_int_equal(in.npressure, 3);
	assert_true(intake_pressure(&in, "light")->value == 18);
	assert_true(intake_pressure(&in, "medium")->value == 25);
	assert_true(intake_pressure(&in, "firm")->value == 32);
	assert_null(intake_pressure(&in, "extreme"));
	assert_true(intake_ramp(&in, "gentle")->value == 3);
	assert_true(in.sensitive_cap_kpa == 12);
	assert_int_equal(in.intensity_pct, 70);
	assert_int_equal(in.note_max, 400);

	/* No file: no intake, and no error. */
	assert_int_equal(intake_load(&in, "/nonexistent/intake.ini", t, &e), 0);
	assert_int_equal(in.loaded, 0);
	assert_null(e.text);
	free(t);
	(void)state;
}

static void
test_errors(void **state)
{
	struct inifile_errors	 e = { 0 };
	struct intake		 in;
	struct table		*t = demo_table();
	char			 dir[] = "/tmp/test_intake.XXXXXX", path[64];
	char			 want[4096];
	FILE			*fp;

	e.quiet = 1;
	/* A directory of our own: the daemon trusts no file in a directory
	 * others can write, such as /tmp itself. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/intake.ini", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("[pressure light]\n"		/* 1 */
	    "cap_kpa = 36\n"			/* 2: above every zone */
	    "[pressure light]\n"		/* 3 */
	    "[ramp gentle]\n"			/* 4 */
	    "speed = 3\n"			/* 5 */
	    "[extra]\n"				/* 6 */
	    "[defaults]\n"			/* 7 */
	    "note_max = 4000\n", fp);		/* 8 */
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(intake_load(&in, path, t, &e), 10);
	assert_int_equal(in.loaded, 0);
	snprintf(want, sizeof(want),
	    "%s:2: [pressure light] cap_kpa: not valid (expected a "
	    "decimal number from 1 to 35 kPa)\n"
	    "%s:3: [pressure light] pressure 'light' given twice (first at "
	    "line 1)\n"
	    "%s:5: [ramp gentle] speed: unknown key (expected ramp_kpa_s)\n"
	    "%s:6: [extra] unknown section (expected [pressure NAME], [ramp "
	    "NAME] or [defaults])\n"
	    "%s:8: [defaults] note_max: not valid (expected a whole "
	    "number from 0 to 400)\n"
	    "%s:1: cap_kpa: missing in [pressure light]\n"
	    "%s:4: ramp_kpa_s: missing in [ramp gentle]\n"
	    "%s:7: [defaults] sensitive_cap_kpa: missing\n"
	    "%s:7: [defaults] max_session_min: missing\n"
	    "%s:7: [defaults] intensity: missing\n",
	    path, path, path, path, path, path, path, path, path, path);
	assert_string_equal(e.text, want);
	inifile_errors_free(&e);
	unlink(path);
	rmdir(dir);
	free(t);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_errors),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
