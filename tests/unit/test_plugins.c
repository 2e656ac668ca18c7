/*
 * test_plugins.c: the shipped routines (plugins/NAME.c), loaded in this
 * process through the SDK's test harness (massaged/routine-test.h, as an
 * integrator would test a routine; the daemon runs them in workers, which
 * test_routines.c and the integration tests cover), checked as the loader
 * checks them (routine_desc_check()), run tick by tick through
 * routine_inst_*(), and checked for their shape: where and when the peaks are,
 * how long the holds last, the order of the zones, feedback, the end of the
 * step, determinism, and outputs that are finite and never negative.
 *
 * Routines return kPa at full intensity; the host applies the intensity
 * (and every limit) afterwards, so a routine's outputs must not depend on
 * in->intensity at all. That is tested too.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "massaged/routine-test.h"
#include "routine-desc.h"
#include "routine-inst.h"
#include "routine-load.h"

#define EPS	1e-9

static struct massaged_test		 loaded[4];
static const struct massaged_routine	*swedish, *deep, *tp, *myo;

/* One run of one instance: outputs of every tick. */
struct sim {
	size_t	 n;
	double	 dt;
	int	 nt;		/* ticks run */
	int	 done;		/* tick that returned DONE, or -1 */
	double	*out;		/* nt x n */
	double	*t;		/* time of each tick */
};

/* Client feedback to send at given ticks. */
struct fb {
	int	 n;
	int	 tick[32];
	int	 val[32];
};

static const char *
build_dir(void)
{
	const char	*b = getenv("MASSAGED_BUILD");

	return (b != NULL && *b != '\0' ? b : "build");
}

static int
group_setup(void **state)
{
	static const char *const names[] = { "swedish", "deep_tissue",
	    "trigger_point", "myofascial" };
	const struct massaged_routine **d[] = { &swedish, &deep, &tp, &myo };
	char			 path[PATH_MAX], why[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/plugins/%s.so", build_dir(),
		    names[i]);
		if (massaged_test_open(&loaded[i], path) == -1) {
			fprintf(stderr, "%s: %s\n", path, loaded[i].err);
			return (-1);
		}
		if (routine_desc_check(loaded[i].desc, why, sizeof(why)) == -1) {
			fprintf(stderr, "%s: %s\n", path, why);
			return (-1);
		}
		if (strcmp(loaded[i].desc->name, names[i]) != 0)
			return (-1);
		*d[i] = loaded[i].desc;
	}
	return (0);
}

static int
group_teardown(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < 4; i++)
		massaged_test_close(&loaded[i]);
	return (0);
}

static void
defaults(const struct massaged_routine *d, double *p)
{
	size_t	 i;

	for (i = 0; i < d->n_params; i++)
		p[i] = d->params[i].def;
}

/* Sets a parameter from program text, as a program would. */
static void
setp(const struct massaged_routine *d, double *p, const char *name,
    const char *value)
{
	char	 why[256];
	int	 i;

	if ((i = routine_param_find(d, name)) == -1)
		fail_msg("%s has no parameter %s", d->name, name);
	if (routine_param_parse(&d->params[i], value, &p[i], why,
	    sizeof(why)) == -1)
		fail_msg("%s = %s: %s", name, value, why);
}

static const struct massaged_param *
param(const struct massaged_routine *d, const char *name)
{
	int	 i = routine_param_find(d, name);

	if (i == -1)
		fail_msg("%s has no parameter %s", d->name, name);
	return (&d->params[i]);
}

static struct massaged_zone
zone(const char *name, double along, double across, int endangerment)
{
	struct massaged_zone	 z;

	memset(&z, 0, sizeof(z));
	z.name = name;
	z.along_cm = along;
	z.across_cm = across;
	z.limit_kpa = 35;
	z.endangerment = endangerment;
	return (z);
}

static double
at(const struct sim *s, int k, size_t i)
{
	return (s->out[(size_t)k * s->n + i]);
}

static void
sim_free(struct sim *s)
{
	free(s->out);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

/*
 * Runs until t_end or DONE, checking that every output is finite and not
 * negative and that the instance never fails.
 */
static void
sim_run(struct sim *s, const struct massaged_routine *d, const double *p,
    const struct massaged_zone *z, size_t n, double duration, double dt,
    double t_end, double intensity, const struct fb *fb)
{
	struct routine_inst	 ri;
	struct massaged_step_in	 in;
	double			*meas;
	char			 why[256];
	int			 k, maxk, rc, f;
	size_t			 i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	s->dt = dt;
	s->done = -1;
	maxk = (int)ceil(t_end / dt) + 1;
	assert_non_null(s->out = calloc((size_t)maxk * n, sizeof(double)));
	assert_non_null(s->t = calloc((size_t)maxk, sizeof(double)));
	assert_non_null(meas = calloc(n, sizeof(double)));
	if (routine_inst_create(&ri, d, p, z, n, duration, why,
	    sizeof(why)) == -1)
		fail_msg("%s refused: %s", d->name, why);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.dt_s = dt;
	in.intensity = intensity;
	in.pressure_kpa = meas;
	for (k = 0; k < maxk; k++) {
		in.t_s = k * dt;
		in.feedback = MASSAGED_FEEDBACK_NONE;
		for (f = 0; fb != NULL && f < fb->n; f++)
			if (fb->tick[f] == k)
				in.feedback = fb->val[f];
		for (i = 0; i < n; i++)
			s->out[(size_t)k * n + i] = -12345;
		rc = routine_inst_step(&ri, &in, &s->out[(size_t)k * n]);
		s->t[k] = in.t_s;
		s->nt = k + 1;
		assert_int_not_equal(rc, MASSAGED_STEP_ERROR);
		for (i = 0; i < n; i++) {
			if (!isfinite(at(s, k, i)) || at(s, k, i) < 0)
				fail_msg("%s: zone %zu at %g s: %g", d->name,
				    i, in.t_s, at(s, k, i));
			meas[i] = at(s, k, i);
		}
		if (rc == MASSAGED_STEP_DONE) {
			s->done = k;
			break;
		}
	}
	routine_inst_destroy(&ri);
	free(meas);
}

/* Tick of the highest output of zone i in [k0, k1). */
static int
peak_tick(const struct sim *s, size_t i, int k0, int k1)
{
	int	 k, best = k0;

	for (k = k0; k < k1 && k < s->nt; k++)
		if (at(s, k, i) > at(s, best, i))
			best = k;
	return (best);
}

static double
max_of(const struct sim *s, size_t i, int k0, int k1)
{
	double	 m = -1;
	int	 k;

	for (k = k0; k < k1 && k < s->nt; k++)
		if (at(s, k, i) > m)
			m = at(s, k, i);
	return (m);
}

static double
min_of(const struct sim *s, size_t i, int k0, int k1)
{
	double	 m = HUGE_VAL;
	int	 k;

	for (k = k0; k < k1 && k < s->nt; k++)
		if (at(s, k, i) < m)
			m = at(s, k, i);
	return (m);
}

/* Ticks in [k0, k1) where zone i is at v (within EPS). */
static int
ticks_at(const struct sim *s, size_t i, double v, int k0, int k1)
{
	int	 k, n = 0;

	for (k = k0; k < k1 && k < s->nt; k++)
		if (fabs(at(s, k, i) - v) < EPS)
			n++;
	return (n);
}

static void
assert_near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.6f, want %.6f (+-%g)", what, got, want,
		    tol);
}

/* --- descriptors ------------------------------------------------------- */

static void
test_descriptors(void **state)
{
	const struct massaged_param	*p;

	(void)state;
	assert_string_equal(swedish->name, "swedish");
	assert_int_equal(swedish->flags & MASSAGED_ROUTINE_FOCUSED, 0);
	assert_int_equal(myo->flags & MASSAGED_ROUTINE_FOCUSED, 0);
	assert_int_equal(deep->flags & MASSAGED_ROUTINE_FOCUSED,
	    MASSAGED_ROUTINE_FOCUSED);
	assert_int_equal(tp->flags & MASSAGED_ROUTINE_FOCUSED,
	    MASSAGED_ROUTINE_FOCUSED);

	p = param(swedish, "stroke");
	assert_int_equal(p->type, MASSAGED_PARAM_CHOICE);
	assert_string_equal(p->choices, "effleurage|kneading|circular");
	p = param(swedish, "pressure_kpa");
	assert_true(p->def >= 8 && p->def <= 12);
	assert_string_equal(p->unit, "kPa");

	p = param(tp, "hold_s");
	assert_true(p->def == 60 && p->min == 30 && p->max == 90);
	assert_string_equal(p->unit, "s");
	param(tp, "ramp_s");
	param(tp, "release_s");
	param(tp, "rest_s");
	assert_int_equal(param(tp, "rounds")->type, MASSAGED_PARAM_INT);

	p = param(myo, "hold_s");
	assert_true(p->def == 120 && p->min >= 90);
	assert_true(param(myo, "pressure_kpa")->def <= 10);

	param(deep, "warmup_s");
	param(deep, "segment_s");
	assert_true(param(deep, "pressure_kpa")->def >
	    param(swedish, "pressure_kpa")->def);
}

/* --- swedish ----------------------------------------------------------- */

static void
test_effleurage_order(void **state)
{
	/* Listed out of order: the wave follows the body, not the list. */
	const struct massaged_zone z[5] = {
		zone("c", 100, 0, 0), zone("a", 60, 0, 0),
		zone("e", 140, 0, 0), zone("b", 80, -10, 0),
		zone("d", 120, 10, 0),
	};
	static const size_t by_along[5] = { 1, 3, 0, 4, 2 };
	double		 p[ROUTINE_PARAMS_MAX];
	struct sim	 s;
	int		 k, half, kp[5];
	size_t		 i;

	(void)state;
	defaults(swedish, p);
	setp(swedish, p, "stroke", "effleurage");
	setp(swedish, p, "period_s", "20");
	sim_run(&s, swedish, p, z, 5, 120, 0.05, 40, 1, NULL);
	half = 200;	/* 10 s: head to feet, then back */

	for (i = 0; i < 5; i++) {
		kp[i] = peak_tick(&s, by_along[i], 0, half);
		assert_true(max_of(&s, i, 0, 2 * half) > 9.9);
		assert_true(max_of(&s, i, 0, 2 * half) <= 10 + EPS);
		assert_near(min_of(&s, i, 0, 2 * half), 2, EPS, "contact");
	}
	for (i = 1; i < 5; i++)
		if (kp[i] <= kp[i - 1])
			fail_msg("going down, zone at %g cm peaks at %g s, "
			    "before the one at %g cm (%g s)",
			    z[by_along[i]].along_cm, kp[i] * s.dt,
			    z[by_along[i - 1]].along_cm, kp[i - 1] * s.dt);
	/* Evenly: the stroke glides at one speed. */
	for (i = 2; i < 5; i++)
		assert_true(abs((kp[i] - kp[i - 1]) - (kp[1] - kp[0])) <= 1);
	/* A bump, not a flood: 40 cm away is at contact meanwhile. */
	assert_near(at(&s, kp[2], by_along[0]), 2, EPS, "far zone");
	assert_near(at(&s, kp[2], by_along[4]), 2, EPS, "far zone");

	for (i = 0; i < 5; i++)
		kp[i] = peak_tick(&s, by_along[i], half, 2 * half);
	for (i = 1; i < 5; i++)
		assert_true(kp[i] < kp[i - 1]);
	/* And again in the next period. */
	for (k = 0; k < half; k++)
		for (i = 0; i < 5; i++)
			assert_near(at(&s, k + 2 * half, i), at(&s, k, i), 1e-6,
			    "periodic");
	sim_free(&s);
}

static void
test_swedish_duration(void **state)
{
	const struct massaged_zone z[2] = {
		zone("a", 90, -10, 0), zone("b", 90, 10, 0),
	};
	double		 p[ROUTINE_PARAMS_MAX];
	struct sim	 s;
	const char	*strokes[] = { "effleurage", "kneading", "circular" };
	size_t		 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		defaults(swedish, p);
		setp(swedish, p, "stroke", strokes[i]);
		sim_run(&s, swedish, p, z, 2, 30, 0.1, 60, 1, NULL);
		assert_int_equal(s.done, 300);
		/* Gentle by default. */
		assert_true(max_of(&s, 0, 0, s.nt) <= 12);
		assert_true(max_of(&s, 0, 0, s.nt) >= 8);
		sim_free(&s);
	}
	/* duration_s 0: runs until the host moves on. */
	sim_run(&s, swedish, p, z, 2, 0, 0.5, 600, 1, NULL);
	assert_int_equal(s.done, -1);
	sim_free(&s);
}

static void
test_kneading(void **state)
{
	/* Two rows of two, and the demo table's piriformis row. */
	const struct massaged_zone z[8] = {
		zone("l1", 90, -10, 0), zone("r1", 90, 10, 0),
		zone("l2", 110, -10, 0), zone("r2", 110, 10, 0),
		zone("gmin_l", 94 + 40, -20, 0), zone("pir_l", 95 + 40, -9, 0),
		zone("pir_r", 95 + 40, 9, 0), zone("gmin_r", 94 + 40, 20, 0),
	};
	static const int pairs[][2] = {
		{ 0, 1 }, { 2, 3 }, { 0, 2 }, { 1, 3 },	/* neighbours */
		{ 4, 5 }, { 5, 6 }, { 6, 7 },
	};
	double		 p[ROUTINE_PARAMS_MAX], c, amp;
	struct sim	 s;
	int		 k, k0;
	size_t		 i, j;

	(void)state;
	defaults(swedish, p);
	setp(swedish, p, "stroke", "kneading");
	sim_run(&s, swedish, p, z, 8, 120, 0.05, 30, 1, NULL);
	c = p[routine_param_find(swedish, "contact_kpa")];
	amp = p[routine_param_find(swedish, "pressure_kpa")] - c;
	k0 = (int)(4 / s.dt) + 1;	/* after the first cycle's fade-in */

	for (i = 0; i < 8; i++) {
		assert_true(max_of(&s, i, k0, s.nt) > c + 0.99 * amp);
		assert_true(min_of(&s, i, k0, s.nt) < c + 0.01 * amp);
	}
	/* Neighbours out of phase: one squeezes while the other lets go. */
	for (j = 0; j < sizeof(pairs) / sizeof(pairs[0]); j++) {
		for (k = k0; k < s.nt; k++)
			assert_near(at(&s, k, pairs[j][0]) +
			    at(&s, k, pairs[j][1]), 2 * c + amp, 1e-6,
			    "neighbours out of phase");
	}
	/* Diagonals together, and the cycle is 4 s. */
	for (k = k0; k < s.nt; k++)
		assert_near(at(&s, k, 0), at(&s, k, 3), 1e-9, "diagonal");
	k = peak_tick(&s, 0, k0, k0 + 80);
	assert_int_equal(peak_tick(&s, 0, k + 40, k + 120), k + 80);
	/* Fading in over the first cycle: gentle at the start. */
	for (i = 0; i < 8; i++)
		assert_true(at(&s, 0, i) < c + EPS);
	sim_free(&s);
}

static void
test_circular(void **state)
{
	/* Around (100, 0): head end, right, feet end, left. */
	const struct massaged_zone z[4] = {
		zone("head", 90, 0, 0), zone("right", 100, 10, 0),
		zone("feet", 110, 0, 0), zone("left", 100, -10, 0),
	};
	double		 p[ROUTINE_PARAMS_MAX];
	struct sim	 s;
	int		 kp[4], k0;
	size_t		 i;

	(void)state;
	defaults(swedish, p);
	setp(swedish, p, "stroke", "circular");
	setp(swedish, p, "period_s", "8");
	sim_run(&s, swedish, p, z, 4, 120, 0.01, 30, 1, NULL);
	k0 = 1000;	/* 10 s, after the fade-in */
	for (i = 0; i < 4; i++)
		kp[i] = peak_tick(&s, i, k0, k0 + 800);
	/* The peak goes round: left, feet, right, head, a quarter apart. */
	assert_int_equal((kp[2] - kp[3] + 800) % 800, 200);
	assert_int_equal((kp[1] - kp[2] + 800) % 800, 200);
	assert_int_equal((kp[0] - kp[1] + 800) % 800, 200);
	assert_int_equal((kp[3] - kp[0] + 800) % 800, 200);
	for (i = 0; i < 4; i++)
		assert_true(max_of(&s, i, k0, s.nt) > 9.99);
	sim_free(&s);
}

static void
test_swedish_refusals(void **state)
{
	const struct massaged_zone z[1] = { zone("a", 90, 0, 0) };
	struct routine_inst	 ri;
	double			 p[ROUTINE_PARAMS_MAX];
	char			 why[256];

	(void)state;
	defaults(swedish, p);
	setp(swedish, p, "contact_kpa", "6");
	setp(swedish, p, "pressure_kpa", "4");
	assert_int_equal(routine_inst_create(&ri, swedish, p, z, 1, 60, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "contact_kpa 6 is above pressure_kpa 4");
	defaults(swedish, p);
	setp(swedish, p, "period_s", "1");
	assert_int_equal(routine_inst_create(&ri, swedish, p, z, 1, 60, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "period_s 1 is too fast (expected 0 for the "
	    "stroke's own tempo, or 2 to 120 s)");
	defaults(swedish, p);
	assert_int_equal(routine_inst_create(&ri, swedish, p, z, 0, 60, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "no zones to work on");
}

/* --- deep tissue ------------------------------------------------------- */

static void
test_deep_warmup_and_segments(void **state)
{
	/* Program order X, Y, Z; not the order along the body. */
	const struct massaged_zone z[3] = {
		zone("x", 100, -9, 0), zone("y", 120, -9, 0),
		zone("z", 90, -9, 0),
	};
	double		 p[ROUTINE_PARAMS_MAX], excess, prev = -1;
	struct sim	 s;
	int		 k, warm;
	size_t		 i;

	(void)state;
	defaults(deep, p);	/* 25 kPa, warm-up 60 s, 30 s + 10 s, contact 2 */
	sim_run(&s, deep, p, z, 3, 300, 0.1, 400, 1, NULL);
	assert_int_equal(s.done, 3000);
	warm = 600;

	/* The stroke's pressure rises gradually over the warm-up ... */
	for (k = 0; k < s.done; k++) {
		excess = 0;
		for (i = 0; i < 3; i++)
			excess += at(&s, k, i) - 2;
		if (k <= warm)
			assert_true(excess >= prev - EPS);
		else
			assert_near(excess, 23, 1e-6, "after the warm-up");
		prev = excess;
	}
	for (i = 0; i < 3; i++)
		assert_true(max_of(&s, i, 0, 301) <= 2 + 23 * 0.5 + 1e-6);
	assert_true(max_of(&s, 0, 0, 151) < 5.4);

	/*
	 * ... then each zone in turn, 30 s of sustained pressure, 10 s of
	 * glide: y until 70 s, z 80-110, x 120-150, y 160-190.
	 */
	assert_near(at(&s, 650, 1), 25, EPS, "y held");
	assert_int_equal(ticks_at(&s, 1, 25, 600, 800), 101);	/* 60..70 */
	assert_int_equal(ticks_at(&s, 2, 25, 700, 1200), 301);	/* 80..110 */
	assert_near(at(&s, 800, 2), 25, EPS, "z from 80 s");
	assert_near(at(&s, 1100, 2), 25, EPS, "z until 110 s");
	assert_int_equal(ticks_at(&s, 0, 25, 1100, 1600), 301);	/* 120..150 */
	assert_near(at(&s, 1200, 0), 25, EPS, "x from 120 s");
	assert_near(at(&s, 1600, 1), 25, EPS, "y again at 160 s");
	/* Half-way through a glide: half on each. */
	assert_near(at(&s, 750, 1), 2 + 11.5, 1e-6, "glide");
	assert_near(at(&s, 750, 2), 2 + 11.5, 1e-6, "glide");
	assert_near(at(&s, 750, 0), 2, EPS, "contact");
	sim_free(&s);
}

static void
test_deep_endangerment(void **state)
{
	const struct massaged_zone z[3] = {
		zone("gluteus_maximus_left", 104, -9, 0),
		zone("sciatic_notch_left", 99, -13, 1),
		zone("piriformis_left", 95, -9, 0),
	};
	struct routine_inst	 ri;
	double			 p[ROUTINE_PARAMS_MAX];
	struct sim		 s;
	char			 why[256];

	(void)state;
	defaults(deep, p);
	setp(deep, p, "warmup_s", "0");
	sim_run(&s, deep, p, z, 3, 200, 0.1, 200, 1, NULL);
	assert_true(max_of(&s, 1, 0, s.nt) == 0);
	assert_near(max_of(&s, 0, 0, s.nt), 25, EPS, "worked");
	assert_near(max_of(&s, 2, 0, s.nt), 25, EPS, "worked");
	sim_free(&s);

	assert_int_equal(routine_inst_create(&ri, deep, p, &z[1], 1, 200, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "every zone is an endangerment site, where "
	    "deep tissue work is not allowed");
	defaults(deep, p);
	assert_int_equal(routine_inst_create(&ri, deep, p, z, 3, 45, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "warmup_s 60 leaves no time for the work in "
	    "a 45 s step");
}

/* --- trigger point ----------------------------------------------------- */

static const struct massaged_zone tp_zones[4] = {
	{ "gluteus_minimus_left", 94, -20, 35, 0 },
	{ "piriformis_left", 95, -9, 35, 0 },
	{ "sciatic_notch_left", 99, -13, 15, 1 },
	{ "gluteus_medius_left", 88, -15, 35, 0 },
};

static void
test_tp_shape(void **state)
{
	static const size_t pts[3] = { 0, 1, 3 };
	double		 p[ROUTINE_PARAMS_MAX];
	struct sim	 s;
	int		 k, first[3], nonzero;
	size_t		 i, j;

	(void)state;
	defaults(tp, p);	/* 20 kPa; 20 + 60 + 20 s, rest 20 s */
	sim_run(&s, tp, p, tp_zones, 4, 400, 0.1, 400, 1, NULL);
	/* 3 points x 120 s - the last rest. */
	assert_int_equal(s.done, 3400);

	for (k = 0; k < s.nt; k++) {
		nonzero = 0;
		for (i = 0; i < 4; i++)
			nonzero += at(&s, k, i) > 0;
		assert_true(nonzero <= 1);
		assert_true(at(&s, k, 2) == 0);
	}
	for (j = 0; j < 3; j++) {
		i = pts[j];
		/* Held 60 s at the pressure, ramps of 20 s. */
		assert_int_equal(ticks_at(&s, i, 20, 0, s.nt), 601);
		for (first[j] = 0; at(&s, first[j], i) == 0; first[j]++)
			;
		/* Slow ramp up, then down, both smooth. */
		for (k = first[j]; k < first[j] + 200; k++)
			assert_true(at(&s, k + 1, i) >= at(&s, k, i));
		assert_true(at(&s, first[j] + 100, i) > 9 &&
		    at(&s, first[j] + 100, i) < 11);
		for (k = first[j] + 800; k < first[j] + 1000; k++)
			assert_true(at(&s, k + 1, i) <= at(&s, k, i));
		assert_true(at(&s, first[j] + 1000, i) == 0);
		/* Rest: nothing pressed for 20 s between points. */
		if (j < 2)
			for (k = first[j] + 1000; k < first[j] + 1200; k++)
				for (i = 0; i < 4; i++)
					assert_true(at(&s, k, i) == 0);
	}
	/* In the program's order: minimus, piriformis, medius. */
	assert_int_equal(first[0], 1);
	assert_int_equal(first[1], 1201);
	assert_int_equal(first[2], 2401);
	sim_free(&s);

	/* Two rounds; a 90 s hold. */
	setp(tp, p, "rounds", "2");
	setp(tp, p, "hold_s", "90");
	sim_run(&s, tp, p, tp_zones, 4, 900, 0.1, 900, 1, NULL);
	assert_int_equal(s.done, 8800);	/* 6 x 150 s - 20 s */
	assert_int_equal(ticks_at(&s, 0, 20, 0, s.nt), 2 * 901);
	assert_int_equal(ticks_at(&s, 0, 20, 0, 1500), 901);
	sim_free(&s);
}

static void
test_tp_duration(void **state)
{
	struct routine_inst	 ri;
	double			 p[ROUTINE_PARAMS_MAX];
	char			 why[256];
	struct sim		 s;

	(void)state;
	defaults(tp, p);
	assert_int_equal(routine_inst_create(&ri, tp, p, tp_zones, 4, 300, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "3 points x 1 rounds need 340 s (ramp 20 + "
	    "hold 60 + release 20 s each, rest 20 s between), longer than the "
	    "300 s step");
	assert_int_equal(routine_inst_create(&ri, tp, p, &tp_zones[2], 1, 300,
	    why, sizeof(why)), -1);
	assert_string_equal(why, "no trigger points: every zone is an "
	    "endangerment site, where sustained pressure is not allowed");
	setp(tp, p, "floor_kpa", "30");
	assert_int_equal(routine_inst_create(&ri, tp, p, tp_zones, 4, 900, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "floor_kpa 30 is above pressure_kpa 20");

	/* A longer step ends early: the routine says DONE at its end. */
	defaults(tp, p);
	sim_run(&s, tp, p, tp_zones, 4, 1800, 0.5, 1800, 1, NULL);
	assert_int_equal(s.done, 680);
	sim_free(&s);
}

static void
test_tp_feedback(void **state)
{
	double		 p[ROUTINE_PARAMS_MAX], lv;
	struct sim	 s;
	struct fb	 fb;
	int		 i;

	(void)state;
	defaults(tp, p);	/* holds: 20-80, 140-200, 260-320 s */
	memset(&fb, 0, sizeof(fb));
	fb.tick[fb.n] = 500;	/* 50 s: less */
	fb.val[fb.n++] = MASSAGED_FEEDBACK_LESS;
	fb.tick[fb.n] = 2500;	/* 250 s: more, twice */
	fb.val[fb.n++] = MASSAGED_FEEDBACK_MORE;
	fb.tick[fb.n] = 2700;
	fb.val[fb.n++] = MASSAGED_FEEDBACK_MORE;
	sim_run(&s, tp, p, tp_zones, 4, 400, 0.1, 400, 1, &fb);
	assert_near(at(&s, 499, 0), 20, EPS, "before less");
	assert_near(at(&s, 500, 0), 17, 1e-9, "current point lowered");
	assert_int_equal(ticks_at(&s, 0, 17, 0, 1200), 301);
	assert_near(max_of(&s, 1, 1200, 2400), 17, 1e-9, "next point too");
	assert_int_equal(ticks_at(&s, 1, 17, 1200, 2400), 601);
	/* "More" raises it back, never above pressure_kpa. */
	assert_near(max_of(&s, 3, 2400, s.nt), 20, 1e-9, "back up");
	assert_int_equal(ticks_at(&s, 3, 20, 2400, s.nt), 601);
	sim_free(&s);

	/* Never below the floor; one "more" from there is one step up. */
	memset(&fb, 0, sizeof(fb));
	for (i = 0; i < 20; i++) {
		fb.tick[fb.n] = 300 + i;
		fb.val[fb.n++] = MASSAGED_FEEDBACK_LESS;
	}
	fb.tick[fb.n] = 600;
	fb.val[fb.n++] = MASSAGED_FEEDBACK_MORE;
	sim_run(&s, tp, p, tp_zones, 4, 400, 0.1, 100, 1, &fb);
	assert_near(at(&s, 500, 0), 6, EPS, "floor");
	lv = 20 * pow(0.85, 7);
	assert_true(lv > 6);
	assert_near(at(&s, 700, 0), lv, 1e-9, "one step up");
	sim_free(&s);
}

/* --- myofascial -------------------------------------------------------- */

static void
test_myofascial(void **state)
{
	/* a first; c is nearer to a than b is. */
	const struct massaged_zone z[3] = {
		zone("a", 100, 0, 0), zone("b", 140, 0, 0),
		zone("c", 110, 0, 0),
	};
	struct routine_inst	 ri;
	double			 p[ROUTINE_PARAMS_MAX];
	char			 why[256];
	struct sim		 s;
	int			 k;
	size_t			 i;

	(void)state;
	defaults(myo, p);	/* 8 kPa; engage 20, hold 120, drift 30 s */
	sim_run(&s, myo, p, z, 3, 600, 0.1, 700, 1, NULL);
	assert_int_equal(s.done, 6000);
	for (i = 0; i < 3; i++)
		assert_true(max_of(&s, i, 0, s.nt) <= 8 + EPS);

	/* Sinks in slowly ... */
	assert_true(at(&s, 0, 0) == 0);
	for (k = 0; k < 200; k++)
		assert_true(at(&s, k + 1, 0) >= at(&s, k, 0));
	/* ... holds still, for at least 90 s (120 here) ... */
	for (k = 200; k <= 1400; k++)
		for (i = 0; i < 3; i++)
			assert_true(at(&s, k, i) == at(&s, 200, i));
	assert_near(at(&s, 200, 0), 8, EPS, "a held");
	/* ... broad: the neighbour 10 cm away gets some, less. */
	assert_true(at(&s, 700, 2) > 0.1 && at(&s, 700, 2) < 4);
	assert_true(at(&s, 700, 1) < at(&s, 700, 2));
	/*
	 * ... then drifts to the nearest zone, c (140-170 s): the pressure
	 * passes smoothly from a to c. It holds c (170-290 s), drifts on to
	 * b, holds it, and comes back to c.
	 */
	for (k = 1400; k < 1700; k++) {
		assert_true(at(&s, k + 1, 2) > at(&s, k, 2));
		assert_true(at(&s, k + 1, 0) < at(&s, k, 0));
	}
	assert_near(at(&s, 1550, 0), at(&s, 1550, 2), 1e-9, "half-way");
	for (k = 1700; k <= 2900; k++)
		for (i = 0; i < 3; i++)
			assert_true(at(&s, k, i) == at(&s, 1700, i));
	assert_near(at(&s, 1700, 2), 8, EPS, "c from 170 s");
	assert_near(at(&s, 2900, 2), 8, EPS, "c held until 290 s");
	assert_near(at(&s, 3200, 1), 8, EPS, "then b from 320 s");
	assert_near(at(&s, 4400, 1), 8, EPS, "b until 440 s");
	assert_near(at(&s, 4700, 2), 8, EPS, "back to c at 470 s");
	assert_near(at(&s, 5900, 2), 8, EPS, "c until 590 s");
	assert_true(at(&s, 5900, 0) < 8 && at(&s, 5900, 1) < 8);
	/* The drift is slow and smooth: no jumps. */
	for (k = 1; k < s.nt - 1; k++)
		for (i = 0; i < 3; i++)
			if (fabs(at(&s, k, i) - at(&s, k - 1, i)) > 0.07)
				fail_msg("zone %zu jumps at %g s: %g to %g", i,
				    s.t[k], at(&s, k - 1, i), at(&s, k, i));
	sim_free(&s);

	/* A narrow spread presses only the centre. */
	setp(myo, p, "spread_cm", "0");
	sim_run(&s, myo, p, z, 3, 600, 0.5, 100, 1, NULL);
	assert_true(at(&s, 100, 2) < 1e-6 && at(&s, 100, 1) < 1e-6);
	sim_free(&s);

	defaults(myo, p);
	assert_int_equal(routine_inst_create(&ri, myo, p, z, 3, 100, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "a 100 s step is shorter than one hold "
	    "(engage_s 20 + hold_s 120)");
}

/* --- every routine ----------------------------------------------------- */

static const struct massaged_zone demo[8] = {
	{ "gluteus_medius_left", 88, -15, 35, 0 },
	{ "gluteus_medius_right", 88, 15, 35, 0 },
	{ "gluteus_minimus_left", 94, -20, 35, 0 },
	{ "piriformis_left", 95, -9, 35, 0 },
	{ "piriformis_right", 95, 9, 35, 0 },
	{ "gluteus_maximus_left", 104, -9, 35, 0 },
	{ "hamstring_upper_left", 122, -9, 35, 0 },
	{ "sciatic_notch_left", 99, -13, 15, 1 },
};

static const struct massaged_routine **
all_routines(void)
{
	static const struct massaged_routine	*all[5];

	all[0] = swedish;
	all[1] = deep;
	all[2] = tp;
	all[3] = myo;
	all[4] = NULL;
	return (all);
}

/* Two instances, uneven ticks and feedback: identical outputs. */
static void
test_determinism(void **state)
{
	const struct massaged_routine	**all = all_routines(), *d;
	struct routine_inst		 ri[2];
	struct massaged_step_in		 in;
	double				 p[ROUTINE_PARAMS_MAX], out[2][8];
	double				 meas[8] = { 0 };
	char				 why[256];
	uint32_t			 lcg = 12345;
	int				 rc[2], k, j, m;

	(void)state;
	for (j = 0; all[j] != NULL; j++) {
		d = all[j];
		defaults(d, p);
		for (m = 0; m < 3; m++) {
			if (d == swedish)
				p[0] = m;	/* every stroke */
			for (k = 0; k < 2; k++)
				if (routine_inst_create(&ri[k], d, p, demo, 7,
				    1200, why, sizeof(why)) == -1)
					fail_msg("%s: %s", d->name, why);
			memset(&in, 0, sizeof(in));
			in.size = sizeof(in);
			in.intensity = 1;
			in.pressure_kpa = meas;
			for (k = 0; k < 100000; k++) {
				lcg = lcg * 1103515245u + 12345u;
				in.dt_s = 0.01 + (lcg >> 16) % 100 / 1000.0;
				in.t_s += in.dt_s;
				in.feedback = (lcg >> 8) % 97 == 0 ?
				    MASSAGED_FEEDBACK_LESS : (lcg >> 8) % 89 ==
				    0 ? MASSAGED_FEEDBACK_MORE : 0;
				memset(out, 0, sizeof(out));
				rc[0] = routine_inst_step(&ri[0], &in, out[0]);
				rc[1] = routine_inst_step(&ri[1], &in, out[1]);
				assert_int_equal(rc[0], rc[1]);
				assert_memory_equal(out[0], out[1],
				    sizeof(out[0]));
				if (rc[0] != MASSAGED_STEP_RUNNING)
					break;
			}
			assert_int_equal(rc[0], MASSAGED_STEP_DONE);
			routine_inst_destroy(&ri[0]);
			routine_inst_destroy(&ri[1]);
		}
	}
}

/* The host applies the intensity: a routine's shape never changes. */
static void
test_intensity(void **state)
{
	const struct massaged_routine	**all = all_routines();
	double				 p[ROUTINE_PARAMS_MAX];
	struct sim			 lo, hi;
	int				 j;

	(void)state;
	for (j = 0; all[j] != NULL; j++) {
		defaults(all[j], p);
		sim_run(&lo, all[j], p, demo, 7, 1200, 0.2, 1200, 0.1, NULL);
		sim_run(&hi, all[j], p, demo, 7, 1200, 0.2, 1200, 1.0, NULL);
		assert_int_equal(lo.nt, hi.nt);
		assert_int_equal(lo.done, hi.done);
		assert_memory_equal(lo.out, hi.out,
		    (size_t)lo.nt * 7 * sizeof(double));
		assert_true(max_of(&hi, 3, 0, hi.nt) > 1);
		sim_free(&lo);
		sim_free(&hi);
	}
}

/* Every parameter at its least and its most: still sane outputs. */
static void
test_extremes(void **state)
{
	const struct massaged_routine	**all = all_routines(), *d;
	struct routine_inst		 ri;
	double				 p[ROUTINE_PARAMS_MAX];
	char				 why[256];
	struct sim			 s;
	size_t				 i;
	int				 j, m, ok = 0;

	(void)state;
	for (j = 0; all[j] != NULL; j++) {
		d = all[j];
		for (m = 0; m < 2; m++) {
			for (i = 0; i < d->n_params; i++)
				p[i] = m == 0 ? d->params[i].min :
				    d->params[i].max;
			if (routine_inst_create(&ri, d, p, demo, 7, 3600, why,
			    sizeof(why)) == -1) {
				/* Only refusals that explain themselves. */
				assert_true(strlen(why) > 10);
				continue;
			}
			routine_inst_destroy(&ri);
			sim_run(&s, d, p, demo, 7, 3600, 0.25, 3700, 1, NULL);
			assert_true(s.done > 0);
			sim_free(&s);
			ok++;
		}
	}
	assert_true(ok >= 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptors),
		cmocka_unit_test(test_effleurage_order),
		cmocka_unit_test(test_swedish_duration),
		cmocka_unit_test(test_kneading),
		cmocka_unit_test(test_circular),
		cmocka_unit_test(test_swedish_refusals),
		cmocka_unit_test(test_deep_warmup_and_segments),
		cmocka_unit_test(test_deep_endangerment),
		cmocka_unit_test(test_tp_shape),
		cmocka_unit_test(test_tp_duration),
		cmocka_unit_test(test_tp_feedback),
		cmocka_unit_test(test_myofascial),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_intensity),
		cmocka_unit_test(test_extremes),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
