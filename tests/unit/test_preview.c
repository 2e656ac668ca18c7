/*
 * test_preview.c: every shipped program, for the shipped profiles, run
 * end to end through the real plugins, the real session logic and the
 * real limit pipeline (client/preview.c): the invariants hold, programs
 * end as planned, refusals say why, and the CSV and SVG are well formed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "preview.h"
#include "routine-load.h"

static struct routine_set	 routines;
static struct config		*cfg;
/* The state directory: an empty one of our own, never the system's
 * (/var/lib/massaged holds the profiles saved on this machine, which a
 * test must not read: they are health data, and owned by the daemon's
 * user when the package is installed). */
static char			 state_dir[] = "/tmp/test_preview.XXXXXX";

static int
setup(void **state)
{
	struct inifile_errors	 errs = { 0 };
	const char		*b = getenv("MASSAGED_BUILD");
	char			 dir[1024], over[1100];
	char			*overrides[1] = { over };

	snprintf(dir, sizeof(dir), "%s/plugins", b != NULL ? b : "build");
	if (mkdtemp(state_dir) == NULL)
		return (-1);
	snprintf(over, sizeof(over), "state_dir=%s", state_dir);
	if (routines_load_dir(&routines, dir, &errs) != 0)
		return (-1);
	cfg = config_load("config/massaged.ini", overrides, 1, &routines,
	    &errs);
	inifile_errors_free(&errs);
	return (cfg == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	config_free(cfg);
	routines_free(&routines);
	(void)rmdir(state_dir);
	return (0);
}

static void
run_ok(const char *program, const char *profile, struct preview *p)
{
	char	 why[256] = "";

	if (preview_run(p, cfg, program, profile, 0, why, sizeof(why)) != 0)
		fail_msg("preview %s/%s: %s", program, profile, why);
}

static void
test_every_program(void **state)
{
	static const char	*profiles[] = { "standard", "sciatica", "gentle" };
	int			 i, j, used, ran = 0;
	char			 why[256];

	assert_true(cfg->programs.n >= 4);
	for (i = 0; i < cfg->programs.n; i++) {
		const struct program *prog = &cfg->programs.programs[i];

		for (j = 0; j < 3; j++) {
			struct preview	 p;

			if (preview_run(&p, cfg, prog->id, profiles[j], 0, why,
			    sizeof(why)) != 0) {
				/* only a contraindication may refuse */
				if (strncmp(why, "contraindicated: ", 17) != 0)
					fail_msg("%s/%s: %s", prog->id,
					    profiles[j], why);
				preview_free(&p);
				continue;
			}
			ran++;
			/* never above a limit, never faster than the ramp */
			assert_int_equal(p.above_limit, 0);
			assert_true(p.max_rise_kpa_s <= p.ramp_kpa_s + 1e-6);
			assert_string_equal(p.end_reason, "program_end");
			assert_int_equal(p.nsteps, prog->nsteps);
			/* the program runs its planned length, or ends early
			 * only when a routine finished its own work */
			assert_true(p.end_s <= prog->total_s + 60);
			assert_true(p.end_s > prog->total_s / 3);
			used = 0;
			for (int z = 0; z < cfg->table->nzones; z++)
				used += p.used[z];
			assert_true(used > 0);
			/* endangerment sites: at most the light cap */
			for (int z = 0; z < cfg->table->nzones; z++)
				if (cfg->table->zones[z].endangerment)
					assert_true(p.limit_kpa[z] <= cfg->table->
					    safety.endangerment_cap_kpa);
			preview_free(&p);
		}
	}
	/* every program runs for the standard and sciatica profiles */
	assert_true(ran >= 2 * cfg->programs.n);
}

static void
test_refusal(void **state)
{
	struct preview	 p;
	char		 why[256] = "";
	int		 i, refused = 0;

	/* anticoagulants forbid trigger point work */
	for (i = 0; i < cfg->programs.n; i++) {
		if (preview_run(&p, cfg, cfg->programs.programs[i].id,
		    "anticoagulated", 0, why, sizeof(why)) == -1) {
			assert_non_null(strstr(why, "contraindicated: "
			    "anticoagulants"));
			refused++;
		}
		preview_free(&p);
	}
	assert_true(refused > 0);
	assert_int_equal(preview_run(&p, cfg, "nope", "standard", 0, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "no program 'nope'");
	preview_free(&p);
}

static void
test_intensity_scales(void **state)
{
	struct preview	 full, half;
	double		 a = 0, b = 0;
	int		 i;

	assert_int_equal(preview_run(&full, cfg, cfg->programs.programs[0].id,
	    "standard", 100, NULL, 0), 0);
	assert_int_equal(preview_run(&half, cfg, cfg->programs.programs[0].id,
	    "standard", 50, NULL, 0), 0);
	for (i = 0; i < full.nsamples * cfg->table->nzones; i++)
		a += full.kpa[i];
	for (i = 0; i < half.nsamples * cfg->table->nzones; i++)
		b += half.kpa[i];
	assert_true(b < a * 0.6 && b > a * 0.3);
	preview_free(&full);
	preview_free(&half);
}

static void
test_outputs(void **state)
{
	struct preview	 p;
	char		*buf = NULL, *line;
	size_t		 len = 0;
	FILE		*fp;
	int		 rows = 0;

	run_ok(cfg->programs.programs[0].id, "standard", &p);
	fp = open_memstream(&buf, &len);
	preview_write_csv(&p, fp);
	fclose(fp);
	assert_true(strncmp(buf, "t_s,lumbar_left,lumbar_right,", 29) == 0);
	for (line = buf; (line = strchr(line, '\n')) != NULL; line++)
		rows++;
	assert_int_equal(rows, p.nsamples + 2);
	free(buf);

	buf = NULL;
	fp = open_memstream(&buf, &len);
	preview_write_svg(&p, fp);
	fclose(fp);
	assert_true(strncmp(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\"",
	    39) == 0);
	assert_non_null(strstr(buf, "minutes</text>"));
	assert_non_null(strstr(buf, "stroke-dasharray"));
	assert_non_null(strstr(buf, "</svg>\n"));
	free(buf);
	preview_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_program),
		cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_intensity_scales),
		cmocka_unit_test(test_outputs),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
