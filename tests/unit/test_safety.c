/*
 * test_safety.c: the limit pipeline and stop monitoring (daemon/core/safety.c).
 *
 * Unit tests for each limit source and rule kind, then property tests: a
 * seeded PRNG feeds random and adversarial routine output (NaN, infinities,
 * negatives, huge values, alternating extremes) with random intensity, dt,
 * last values and stricter reloads through many thousands of ticks, and
 * every output is checked against the invariants. SAFETY_SEED=N in the
 * environment replays another seed.
 */
#include <float.h>
#include <fnmatch.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safety.h"

#define EPS		1e-9
#define ECAP		8.0	/* endangerment cap of the test table */

#define assert_near(a, b) do {						\
	double a_ = (a), b_ = (b);					\
	if (!(fabs(a_ - b_) <= EPS))					\
		fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);	\
} while (0)

/* --- fixtures ------------------------------------------------------------ */

static const struct massaged_routine r_swedish = {
	.name = "swedish"
};
static const struct massaged_routine r_trigger = {
	.name = "trigger_point", .flags = MASSAGED_ROUTINE_FOCUSED
};
static const struct massaged_routine r_deep = {
	.name = "deep_tissue", .flags = MASSAGED_ROUTINE_FOCUSED
};

static struct rule rule_set[] = {
	{ .name = "anticoagulants", .reason = "Blood thinners.",
	  .nforbid = 2, .forbid = { "deep_tissue", "trigger_point" },
	  .scale = 0.6 },
	{ .name = "varicose_veins", .reason = "Veins.",
	  .nexclude = 2, .exclude = { "hamstring_*", "calf_*" }, .scale = 1 },
	{ .name = "dvt", .reason = "Clot.", .refuse = 1, .scale = 1 },
	{ .name = "osteoporosis", .reason = "Bones.", .scale = 0.5 },
	{ .name = "fever", .reason = "Fever.", .refuse = 1, .scale = 1 },
	{ .name = "pregnancy", .reason = "Pregnancy.",
	  .nexclude = 2, .exclude = { "lumbar_*", "sacroiliac_*" },
	  .nforbid = 1, .forbid = { "deep_tissue" }, .scale = 0.8 },
};
static const struct rules rules = {
	.path = "rules.ini", .n = sizeof(rule_set) / sizeof(rule_set[0]),
	.rules = rule_set
};

enum {
	Z_LUMBAR_L, Z_PIRI_L, Z_PIRI_R, Z_NOTCH_L, Z_HAM_L, Z_CALF_L, NZ
};

static void
make_table(struct table *t)
{
	static const struct {
		const char	*name;
		int		 ctl;
		double		 limit;
		int		 endangerment;
	} z[NZ] = {
		{ "lumbar_left", 0, 30, 0 },
		{ "piriformis_left", 0, 35, 0 },
		{ "piriformis_right", 0, 30, 0 },
		{ "sciatic_notch_left", 0, 15, 1 },
		{ "hamstring_upper_left", 1, 35, 0 },
		{ "calf_left", 1, 35, 0 },
	};
	int	 i;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "table.ini");
	t->nctls = 2;
	snprintf(t->ctls[0].name, NAME_LEN, "pelvis");
	snprintf(t->ctls[1].name, NAME_LEN, "legs");
	for (i = 0; i < NZ; i++) {
		snprintf(t->zones[i].name, NAME_LEN, "%s", z[i].name);
		t->zones[i].ctl = z[i].ctl;
		t->zones[i].channel = i;
		t->zones[i].limit_kpa = z[i].limit;
		t->zones[i].endangerment = z[i].endangerment;
	}
	t->nzones = NZ;
	t->safety.overpressure_tolerance_kpa = 2;
	t->safety.overpressure_ms = 200;
	t->safety.tracking_error_kpa = 6;
	t->safety.tracking_ms = 3000;
	t->safety.endangerment_cap_kpa = ECAP;
}

static void
make_profile(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "p");
	p->cap_kpa = 25;
	p->ramp_kpa_s = 5;
	p->max_session_min = 45;
	p->intensity_pct = 60;
}

static void
add_cond(struct profile *p, const char *name)
{
	snprintf(p->conditions[p->nconditions++], NAME_LEN, "%s", name);
}

static void
add_cap(struct profile *p, const char *glob, double kpa)
{
	snprintf(p->caps[p->ncaps].glob, NAME_LEN, "%s", glob);
	p->caps[p->ncaps++].cap_kpa = kpa;
}

static void
add_step(struct program *g, const char *name,
    const struct massaged_routine *r)
{
	snprintf(g->steps[g->nsteps].name, NAME_LEN, "%s", name);
	g->steps[g->nsteps++].routine = r;
}

/* Resolves and expects success. */
static void
resolve_ok(const struct table *t, const struct profile *p,
    const struct program *g, const double *rating, struct limits *l)
{
	char	 why[512] = "junk";

	if (safety_resolve(t, p, &rules, g, rating, l, why,
	    sizeof(why)) != 0)
		fail_msg("safety_resolve refused: %s", why);
	assert_string_equal(why, "");
}

/* --- safety_resolve ------------------------------------------------------ */

static void
test_resolve_sources(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct limits	 l;
	double		 rating[2] = { 0, 0 };

	make_table(&t);
	make_profile(&p);

	/* The profile cap (25) is below every zone limit but the notch. */
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_int_equal(l.nzones, NZ);
	assert_near(l.limit_kpa[Z_LUMBAR_L], 25);
	assert_string_equal(l.why[Z_LUMBAR_L], "profile cap");
	assert_near(l.limit_kpa[Z_NOTCH_L], ECAP);
	assert_string_equal(l.why[Z_NOTCH_L], "endangerment site");
	assert_int_equal(l.endangerment[Z_NOTCH_L], 1);
	assert_int_equal(l.endangerment[Z_LUMBAR_L], 0);
	assert_near(l.ramp_kpa_s, 5);
	assert_near(l.max_session_s, 45 * 60);

	/* Zone hardware limit. */
	p.cap_kpa = 35;
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_LUMBAR_L], 30);
	assert_string_equal(l.why[Z_LUMBAR_L], "zone hardware limit");
	assert_near(l.limit_kpa[Z_PIRI_L], 35);

	/* Controller rating, when known; 0 is "not known yet". */
	rating[0] = 28;
	resolve_ok(&t, &p, NULL, rating, &l);
	assert_near(l.limit_kpa[Z_LUMBAR_L], 28);
	assert_string_equal(l.why[Z_LUMBAR_L], "controller rating");
	assert_near(l.limit_kpa[Z_PIRI_L], 28);
	assert_near(l.limit_kpa[Z_HAM_L], 35);
	assert_string_equal(l.why[Z_HAM_L], "zone hardware limit");
	rating[1] = 40;		/* above the zone limit: no effect */
	resolve_ok(&t, &p, NULL, rating, &l);
	assert_near(l.limit_kpa[Z_HAM_L], 35);

	/* Zone caps: the lowest of every matching glob wins. */
	make_profile(&p);
	add_cap(&p, "piriformis_*", 20);
	add_cap(&p, "piriformis_left", 22);
	add_cap(&p, "*_left", 18);
	add_cap(&p, "calf_?eft", 30);	/* above the profile cap */
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_PIRI_L], 18);
	assert_string_equal(l.why[Z_PIRI_L], "zone_caps *_left");
	assert_near(l.limit_kpa[Z_PIRI_R], 20);
	assert_string_equal(l.why[Z_PIRI_R], "zone_caps piriformis_*");
	assert_near(l.limit_kpa[Z_CALF_L], 18);
	assert_near(l.limit_kpa[Z_NOTCH_L], ECAP);
	assert_string_equal(l.why[Z_NOTCH_L], "endangerment site");
	(void)state;
}

static void
test_resolve_endangerment(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct limits	 l;

	make_table(&t);
	make_profile(&p);

	/* A cap below the endangerment cap stays the reason. */
	add_cap(&p, "sciatic_notch_*", 5);
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_NOTCH_L], 5);
	assert_string_equal(l.why[Z_NOTCH_L], "zone_caps sciatic_notch_*");
	assert_int_equal(l.endangerment[Z_NOTCH_L], 1);

	/* The table's endangerment cap, whatever it is. */
	make_profile(&p);
	t.safety.endangerment_cap_kpa = 3;
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_NOTCH_L], 3);
	t.safety.endangerment_cap_kpa = NAN;	/* unknown: nothing */
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_NOTCH_L], 0);
	assert_near(l.limit_kpa[Z_LUMBAR_L], 25);
	(void)state;
}

static void
test_resolve_scale(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct limits	 l;

	make_table(&t);
	make_profile(&p);
	add_cap(&p, "piriformis_*", 20);
	add_cond(&p, "anticoagulants");
	resolve_ok(&t, &p, NULL, NULL, &l);
	/* The scale multiplies the lowest cap so far. */
	assert_near(l.limit_kpa[Z_LUMBAR_L], 25 * 0.6);
	assert_string_equal(l.why[Z_LUMBAR_L], "anticoagulants scale 0.6");
	assert_near(l.limit_kpa[Z_PIRI_L], 20 * 0.6);
	/* 15 * 0.6 = 9 is above the endangerment cap. */
	assert_near(l.limit_kpa[Z_NOTCH_L], ECAP);
	assert_string_equal(l.why[Z_NOTCH_L], "endangerment site");

	/* Two scales multiply. */
	add_cond(&p, "osteoporosis");
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_near(l.limit_kpa[Z_LUMBAR_L], 25 * 0.6 * 0.5);
	assert_string_equal(l.why[Z_LUMBAR_L],
	    "anticoagulants scale 0.6, osteoporosis scale 0.5");
	assert_near(l.limit_kpa[Z_PIRI_R], 20 * 0.3);
	assert_near(l.limit_kpa[Z_NOTCH_L], 15 * 0.3);	/* below 8 now */
	assert_int_equal(l.endangerment[Z_NOTCH_L], 1);

	/* A scale that is not a number is read as 0, never as 1. */
	rule_set[3].scale = NAN;
	resolve_ok(&t, &p, NULL, NULL, &l);
	rule_set[3].scale = 0.5;
	assert_near(l.limit_kpa[Z_LUMBAR_L], 0);
	assert_near(l.limit_kpa[Z_PIRI_L], 0);
	(void)state;
}

/* Conditions that exclude every zone leave nothing to press: refused. */
static void
test_resolve_no_zone_left(void **state)
{
	struct rule	 both[2] = {
		{ .name = "upper", .reason = "Upper.", .nexclude = 3,
		  .exclude = { "lumbar_*", "piriformis_*", "sciatic_*" },
		  .scale = 1 },
		{ .name = "lower", .reason = "Lower.", .nexclude = 2,
		  .exclude = { "hamstring_*", "calf_*" }, .scale = 1 },
	};
	const struct rules	 r = { .path = "rules.ini", .n = 2,
				    .rules = both };
	struct table	 t;
	struct profile	 p;
	struct limits	 l;
	char		 why[256];

	make_table(&t);
	make_profile(&p);
	add_cond(&p, "upper");
	assert_int_equal(safety_resolve(&t, &p, &r, NULL, NULL, &l, why,
	    sizeof(why)), 0);
	add_cond(&p, "lower");
	assert_int_equal(safety_resolve(&t, &p, &r, NULL, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "profile p leaves no zone to press: the "
	    "client's conditions exclude every zone of the table");
	assert_int_equal(l.nzones, 0);
	(void)state;
}

static void
test_resolve_exclude(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct limits	 l;
	int		 z;

	make_table(&t);
	make_profile(&p);
	add_cond(&p, "varicose_veins");
	add_cap(&p, "calf_left", 10);
	resolve_ok(&t, &p, NULL, NULL, &l);
	for (z = 0; z < NZ; z++) {
		if (z == Z_HAM_L || z == Z_CALF_L) {
			assert_int_equal(l.excluded[z], 1);
			assert_near(l.limit_kpa[z], 0);
			assert_string_equal(l.why[z],
			    "excluded by varicose_veins");
		} else {
			assert_int_equal(l.excluded[z], 0);
			assert_true(l.limit_kpa[z] > 0);
		}
	}

	/* Exclusion with a scale and a forbidden routine not in use. */
	make_profile(&p);
	add_cond(&p, "pregnancy");
	resolve_ok(&t, &p, NULL, NULL, &l);
	assert_int_equal(l.excluded[Z_LUMBAR_L], 1);
	assert_string_equal(l.why[Z_LUMBAR_L], "excluded by pregnancy");
	assert_near(l.limit_kpa[Z_PIRI_L], 25 * 0.8);
	assert_string_equal(l.why[Z_PIRI_L], "pregnancy scale 0.8");
	(void)state;
}

static void
test_resolve_refuse(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct program	 g;
	struct limits	 l;
	char		 why[512];
	int		 z;

	make_table(&t);
	make_profile(&p);
	add_cond(&p, "dvt");
	assert_int_equal(safety_resolve(&t, &p, &rules, NULL, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "contraindicated: dvt: Clot.");
	/* A refused resolve leaves nothing that could be pressed. */
	assert_int_equal(l.nzones, 0);
	for (z = 0; z < NZ; z++)
		assert_near(l.limit_kpa[z], 0);
	assert_near(safety_apply(&l, Z_LUMBAR_L, 10, 1, 0, 0, 1, ECAP), 0);

	/* The first refusing condition is named; refusal comes before the
	 * routines are looked at. */
	make_profile(&p);
	add_cond(&p, "anticoagulants");
	add_cond(&p, "fever");
	add_cond(&p, "dvt");
	memset(&g, 0, sizeof(g));
	snprintf(g.id, sizeof(g.id), "prog");
	add_step(&g, "work", &r_trigger);
	assert_int_equal(safety_resolve(&t, &p, &rules, &g, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "contraindicated: fever: Fever.");

	/* No why buffer is fine. */
	assert_int_equal(safety_resolve(&t, &p, &rules, &g, NULL, &l, NULL,
	    0), -1);
	(void)state;
}

static void
test_resolve_forbidden(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct program	 g;
	struct limits	 l;
	char		 why[512];

	make_table(&t);
	make_profile(&p);
	add_cond(&p, "varicose_veins");
	add_cond(&p, "anticoagulants");
	memset(&g, 0, sizeof(g));
	snprintf(g.id, sizeof(g.id), "prog");
	add_step(&g, "warmup", &r_swedish);
	resolve_ok(&t, &p, &g, NULL, &l);

	add_step(&g, "release", &r_trigger);
	add_step(&g, "deep", &r_deep);
	assert_int_equal(safety_resolve(&t, &p, &rules, &g, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "contraindicated: anticoagulants: Blood "
	    "thinners. (routine trigger_point in step release)");
	assert_int_equal(l.nzones, 0);

	/* Without a program only the limits are resolved. */
	resolve_ok(&t, &p, NULL, NULL, &l);

	/* Forbidding is per condition: pregnancy forbids only deep_tissue. */
	make_profile(&p);
	add_cond(&p, "pregnancy");
	assert_int_equal(safety_resolve(&t, &p, &rules, &g, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "contraindicated: pregnancy: Pregnancy. "
	    "(routine deep_tissue in step deep)");
	g.nsteps = 2;
	resolve_ok(&t, &p, &g, NULL, &l);

	/* A step without a routine is refused, not skipped. */
	add_step(&g, "broken", NULL);
	assert_int_equal(safety_resolve(&t, &p, &rules, &g, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "program prog: step broken has no routine");
	(void)state;
}

static void
test_resolve_unknown_condition(void **state)
{
	struct table	 t;
	struct profile	 p;
	struct limits	 l;
	char		 why[512];

	make_table(&t);
	make_profile(&p);
	add_cond(&p, "anticoagulants");
	add_cond(&p, "diabetes");
	assert_int_equal(safety_resolve(&t, &p, &rules, NULL, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "profile p: unknown condition 'diabetes' "
	    "(not in rules.ini)");
	assert_int_equal(l.nzones, 0);

	/* A profile struct that is not sane is refused, not read. */
	p.nconditions = PROFILE_MAX_CONDITIONS + 1;
	assert_int_equal(safety_resolve(&t, &p, &rules, NULL, NULL, &l, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "profile p: bad condition count");
	p.nconditions = -1;
	assert_int_equal(safety_resolve(&t, &p, &rules, NULL, NULL, &l, why,
	    sizeof(why)), -1);
	(void)state;
}

/* --- safety_stricter ----------------------------------------------------- */

static void
limits_fill(struct limits *l, int n, double kpa, const char *why)
{
	int	 z;

	memset(l, 0, sizeof(*l));
	l->nzones = n;
	l->ramp_kpa_s = 5;
	l->max_session_s = 3600;
	for (z = 0; z < n; z++) {
		l->limit_kpa[z] = kpa;
		snprintf(l->why[z], sizeof(l->why[z]), "%s", why);
	}
}

static void
test_stricter(void **state)
{
	struct limits	 a, b, o;

	limits_fill(&a, 4, 20, "a");
	limits_fill(&b, 4, 25, "b");
	b.limit_kpa[1] = 10;
	b.excluded[2] = 1;
	snprintf(b.why[2], sizeof(b.why[2]), "excluded by b");
	a.endangerment[3] = 1;
	b.ramp_kpa_s = 4;
	a.max_session_s = 1800;
	safety_stricter(&a, &b, &o);
	assert_int_equal(o.nzones, 4);
	assert_near(o.limit_kpa[0], 20);
	assert_string_equal(o.why[0], "a");
	assert_near(o.limit_kpa[1], 10);
	assert_string_equal(o.why[1], "b");
	assert_near(o.limit_kpa[2], 0);
	assert_int_equal(o.excluded[2], 1);
	assert_string_equal(o.why[2], "excluded by b");
	assert_int_equal(o.endangerment[3], 1);
	assert_int_equal(o.endangerment[0], 0);
	assert_near(o.ramp_kpa_s, 4);
	assert_near(o.max_session_s, 1800);

	/* Symmetric, and out may be either input (the session does this). */
	safety_stricter(&b, &a, &b);
	assert_near(b.limit_kpa[0], 20);
	assert_near(b.limit_kpa[1], 10);
	assert_int_equal(b.excluded[2], 1);
	assert_int_equal(b.endangerment[3], 1);
	assert_near(b.ramp_kpa_s, 4);
	assert_near(b.max_session_s, 1800);
	limits_fill(&b, 4, 25, "b");
	safety_stricter(&a, &b, &a);
	assert_near(a.limit_kpa[0], 20);

	/* An excluded zone stays excluded even if the other side allows
	 * more; a limit that is not a number counts as 0. */
	limits_fill(&a, 2, 20, "a");
	limits_fill(&b, 2, 20, "b");
	a.excluded[0] = 1;
	a.limit_kpa[0] = 12;	/* inconsistent on purpose */
	b.limit_kpa[1] = NAN;
	b.ramp_kpa_s = NAN;
	safety_stricter(&a, &b, &o);
	assert_near(o.limit_kpa[0], 0);
	assert_int_equal(o.excluded[0], 1);
	assert_near(o.limit_kpa[1], 0);
	assert_near(o.ramp_kpa_s, 0);

	/* A zone only one side knows: excluded. */
	limits_fill(&a, 2, 20, "a");
	limits_fill(&b, 3, 20, "b");
	safety_stricter(&a, &b, &o);
	assert_int_equal(o.nzones, 3);
	assert_int_equal(o.excluded[2], 1);
	assert_near(o.limit_kpa[2], 0);
	assert_string_equal(o.why[2], "zone not in both limit sets");
	assert_near(safety_apply(&o, 2, 10, 1, 0, 0, 1, ECAP), 0);
	(void)state;
}

/* --- safety_apply: single cases ------------------------------------------ */

static void
one_zone(struct limits *l, double limit, double ramp)
{
	memset(l, 0, sizeof(*l));
	l->nzones = 2;
	l->limit_kpa[0] = limit;
	l->limit_kpa[1] = limit;
	l->ramp_kpa_s = ramp;
}

static void
test_apply_pipeline(void **state)
{
	struct limits	 l;
	const double	 dt = 0.02;	/* step = 5 * 0.02 = 0.1 kPa */

	one_zone(&l, 20, 5);
	assert_near(safety_apply(&l, 0, 10, 1, 0, 10, dt, ECAP), 10);
	assert_near(safety_apply(&l, 0, 12, 1, 0, 10, dt, ECAP), 10.1);
	assert_near(safety_apply(&l, 0, 9, 1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, 10.05, 1, 0, 10, dt, ECAP), 10.05);

	/* 1. Rejected routine output becomes 0, and ramps down. */
	assert_near(safety_apply(&l, 0, NAN, 1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, INFINITY, 1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, -INFINITY, 1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, -0.5, 1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, NAN, 1, 0, 0.05, dt, ECAP), 0);

	/* 3. Intensity, clamped to [0, 1]. */
	assert_near(safety_apply(&l, 0, 20, 0.5, 0, 10, dt, ECAP), 10);
	assert_near(safety_apply(&l, 0, 16, 0.5, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, 10, 7, 0, 10, dt, ECAP), 10);
	assert_near(safety_apply(&l, 0, 10, INFINITY, 0, 10, dt, ECAP), 10);
	assert_near(safety_apply(&l, 0, 10, -1, 0, 10, dt, ECAP), 9.9);
	assert_near(safety_apply(&l, 0, 10, NAN, 0, 10, dt, ECAP), 9.9);

	/* 4. The limit. */
	assert_near(safety_apply(&l, 0, 100, 1, 0, 19.95, dt, ECAP), 20);
	assert_near(safety_apply(&l, 0, DBL_MAX, 1, 0, 20, dt, ECAP), 20);
	(void)state;
}

static void
test_apply_limits_win(void **state)
{
	struct limits	 l;

	/* A stricter reload: last is above the new limit; drop at once. */
	one_zone(&l, 12, 5);
	assert_near(safety_apply(&l, 0, 30, 1, 0, 30, 0.02, ECAP), 12);
	assert_near(safety_apply(&l, 0, 0, 1, 0, 30, 0.02, ECAP), 12);
	assert_near(safety_apply(&l, 0, 30, 1, 0, 30, 0, ECAP), 12);

	/* An exclusion: 0 at once, whatever the ramp. */
	l.excluded[0] = 1;
	assert_near(safety_apply(&l, 0, 30, 1, 0, 30, 0.02, ECAP), 0);
	assert_near(safety_apply(&l, 0, 5, 1, 0, 5, 0.02, ECAP), 0);

	/* A limit that is not a number: nothing. */
	one_zone(&l, NAN, 5);
	assert_near(safety_apply(&l, 0, 10, 1, 0, 10, 0.02, ECAP), 0);
	one_zone(&l, -3, 5);
	assert_near(safety_apply(&l, 0, 10, 1, 0, 10, 0.02, ECAP), 0);
	(void)state;
}

static void
test_apply_endangerment(void **state)
{
	struct limits	 l;

	/* The limit says 15, the endangerment cap 8: 8 holds. */
	one_zone(&l, 15, 50);
	l.endangerment[0] = 1;
	assert_near(safety_apply(&l, 0, 100, 1, 0, 7.5, 0.02, ECAP), 8);
	assert_near(safety_apply(&l, 0, 100, 1, 0, 15, 0.02, ECAP), 8);
	assert_near(safety_apply(&l, 0, 100, 1, 0, 8, 0.02, 3), 3);
	assert_near(safety_apply(&l, 0, 100, 1, 0, 8, 0.02, NAN), 0);
	assert_near(safety_apply(&l, 0, 100, 1, 0, 8, 0.02, -1), 0);
	/* A focused routine gets nothing there, at once. */
	assert_near(safety_apply(&l, 0, 5, 1, 1, 5, 0.02, ECAP), 0);
	assert_near(safety_apply(&l, 0, 5, 1, 2, 5, 0.02, ECAP), 0);
	/* The other zone is not an endangerment site. */
	assert_near(safety_apply(&l, 1, 100, 1, 1, 14, 0.02, ECAP), 15);
	(void)state;
}

static void
test_apply_ramp(void **state)
{
	struct limits	 l;
	double		 v = 0;
	int		 i;

	/* From 0 to 20 at 5 kPa/s with 20 ms ticks: 200 ticks, no less. */
	one_zone(&l, 30, 5);
	for (i = 1; i <= 200; i++) {
		v = safety_apply(&l, 0, 20, 1, 0, v, 0.02, ECAP);
		assert_true(fabs(v - i * 0.1) < 1e-6);
	}
	v = safety_apply(&l, 0, 20, 1, 0, v, 0.02, ECAP);
	assert_near(v, 20);
	/* And down again at the same rate. */
	v = safety_apply(&l, 0, 0, 1, 0, v, 0.02, ECAP);
	assert_near(v, 19.9);

	/* A doubtful last value counts as 0. */
	assert_near(safety_apply(&l, 0, 20, 1, 0, NAN, 0.02, ECAP), 0.1);
	assert_near(safety_apply(&l, 0, 20, 1, 0, -5, 0.02, ECAP), 0.1);
	assert_near(safety_apply(&l, 0, 20, 1, 0, INFINITY, 0.02, ECAP), 0.1);

	/* A doubtful dt allows no change; a long one counts as at most
	 * SAFETY_DT_MAX_S. */
	assert_near(safety_apply(&l, 0, 20, 1, 0, 10, NAN, ECAP), 10);
	assert_near(safety_apply(&l, 0, 20, 1, 0, 10, -1, ECAP), 10);
	assert_near(safety_apply(&l, 0, 0, 1, 0, 10, -INFINITY, ECAP), 10);
	assert_near(safety_apply(&l, 0, 30, 1, 0, 10, 100, ECAP),
	    10 + 5 * SAFETY_DT_MAX_S);
	assert_near(safety_apply(&l, 0, 30, 1, 0, 10, INFINITY, ECAP),
	    10 + 5 * SAFETY_DT_MAX_S);
	assert_near(safety_apply(&l, 0, 30, 1, 0, 10, 0, ECAP), 10);

	/* A ramp that is not a number, or 0, allows no change. */
	one_zone(&l, 30, NAN);
	assert_near(safety_apply(&l, 0, 20, 1, 0, 10, 0.02, ECAP), 10);
	one_zone(&l, 30, 0);
	assert_near(safety_apply(&l, 0, 0, 1, 0, 10, 0.02, ECAP), 10);
	(void)state;
}

static void
test_apply_zone_range(void **state)
{
	struct limits	 l;

	one_zone(&l, 30, 5);
	l.limit_kpa[2] = 30;	/* stale, beyond nzones */
	assert_near(safety_apply(&l, -1, 10, 1, 0, 10, 0.02, ECAP), 0);
	assert_near(safety_apply(&l, 2, 10, 1, 0, 10, 0.02, ECAP), 0);
	assert_near(safety_apply(&l, TABLE_MAX_ZONES, 10, 1, 0, 10, 0.02,
	    ECAP), 0);
	(void)state;
}

/* --- property tests ------------------------------------------------------ */

static uint64_t	 rng_state;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 0x2545F4914F6CDD1DULL);
}

static double
urand(void)
{
	return ((double)(rng() >> 11) / 9007199254740992.0);	/* [0, 1) */
}

static double
urange(double lo, double hi)
{
	return (lo + (hi - lo) * urand());
}

static int
chance(double p)
{
	return (urand() < p);
}

static void
rng_seed(void)
{
	const char	*s = getenv("SAFETY_SEED");

	rng_state = s != NULL ? strtoull(s, NULL, 0) : 0x5afe7ab1e5eedULL;
	if (rng_state == 0)
		rng_state = 1;
	print_message("seed %#llx (SAFETY_SEED to replay)\n",
	    (unsigned long long)rng_state);
}

/* Adversarial routine output: many kinds, some of them every tick. */
enum req_mode {
	REQ_RANDOM, REQ_HUGE, REQ_NAN, REQ_PINF, REQ_NINF, REQ_NEGATIVE,
	REQ_ALTERNATE, REQ_NEAR_LIMIT, REQ_TINY, REQ_MIXED, REQ_MODES
};

static double
adversarial(enum req_mode m, long tick, double limit)
{
	static const double specials[] = {
		NAN, -NAN, INFINITY, -INFINITY, -0.0, 0.0, -1.0, -DBL_MAX,
		DBL_MAX, DBL_MIN, 4.9e-324, 1e300, -1e-300, 1e9, 65535.0
	};

	switch (m) {
	case REQ_RANDOM:
		return (urange(0, 60));
	case REQ_HUGE:
		return (chance(0.5) ? DBL_MAX : urange(1e3, 1e300));
	case REQ_NAN:
		return (NAN);
	case REQ_PINF:
		return (INFINITY);
	case REQ_NINF:
		return (-INFINITY);
	case REQ_NEGATIVE:
		return (-urange(0, 1e6));
	case REQ_ALTERNATE:
		return (tick % 2 ? 1e9 : 0);
	case REQ_NEAR_LIMIT:
		return (limit + urange(-0.5, 0.5));
	case REQ_TINY:
		return (urange(0, 1e-6));
	default:
		return (specials[rng() % (sizeof(specials) /
		    sizeof(specials[0]))]);
	}
}

static double
adversarial_intensity(void)
{
	static const double odd[] = {
		NAN, INFINITY, -INFINITY, -0.5, 0, 1, 1.5, 1e300, DBL_MIN
	};

	if (chance(0.9))
		return (urange(0.1, 1.0));
	return (odd[rng() % (sizeof(odd) / sizeof(odd[0]))]);
}

static double
adversarial_dt(void)
{
	static const double odd[] = {
		0, -0.02, NAN, INFINITY, -INFINITY, 1e-12, 0.5, 1.0, 1.5, 30,
		1e300
	};

	if (chance(0.9))
		return (urange(0.015, 0.025));
	return (odd[rng() % (sizeof(odd) / sizeof(odd[0]))]);
}

static double
adversarial_last(double out)
{
	static const double odd[] = {
		NAN, INFINITY, -INFINITY, -3, 1e300, 100, 0
	};

	if (chance(0.98))
		return (out);	/* what the session passes back */
	return (odd[rng() % (sizeof(odd) / sizeof(odd[0]))]);
}

static void
random_limits(struct limits *l, int nzones)
{
	int	 z;

	memset(l, 0, sizeof(*l));
	l->nzones = nzones;
	l->ramp_kpa_s = chance(0.1) ? urange(0, 0.5) : urange(0.5, 50);
	l->max_session_s = 3600;
	for (z = 0; z < nzones; z++) {
		l->limit_kpa[z] = chance(0.05) ? 0 : urange(0, 50);
		l->endangerment[z] = chance(0.15);
		if (chance(0.1)) {
			l->excluded[z] = 1;
			l->limit_kpa[z] = 0;
		}
	}
}

struct prop_stats {
	long	 calls;
	long	 at_limit;	/* out == the effective limit, above 0 */
	long	 ramp_bound;	/* the ramp decided the output */
	long	 limit_drops;	/* dropped faster than the ramp: limit won */
	long	 followed;	/* out == target */
	long	 rejected;	/* routine output was not a number >= 0 */
};

/*
 * The invariants of one call. The bounds together pin the output: it is
 * the target (routine output times intensity, within the limit) moved from
 * last by at most the ramp step, except where the limit is lower still.
 */
static void
check_one(const struct limits *l, int z, double req, double inten,
    int focused, double last, double dt, double ecap, double out,
    struct prop_stats *st)
{
	double	 lim, lastv, dtv, step, target, want, tol;
	int	 off;

	st->calls++;
	if (!isfinite(out) || out < 0)
		fail_msg("zone %d: output %g is not a finite number >= 0", z,
		    out);
	/* The effective limit as the caller sees it. */
	lim = l->limit_kpa[z] >= 0 ? l->limit_kpa[z] : 0;
	if (l->endangerment[z])
		lim = fmin(lim, ecap >= 0 ? ecap : 0);
	if (out > lim)
		fail_msg("zone %d: output %.17g above the limit %.17g", z,
		    out, lim);
	off = l->excluded[z] || (l->endangerment[z] && focused);
	if (l->excluded[z] && out != 0)
		fail_msg("zone %d: excluded, output %g", z, out);
	if (l->endangerment[z] && focused && out != 0)
		fail_msg("zone %d: endangerment site under a focused routine, "
		    "output %g", z, out);
	if (l->endangerment[z] && out > ecap)
		fail_msg("zone %d: endangerment cap %g broken: %g", z, ecap,
		    out);
	if (off)
		return;

	/* The ramp, read as safety.c documents it. */
	lastv = isfinite(last) && last >= 0 ? last : 0;
	dtv = dt >= 0 ? fmin(dt, SAFETY_DT_MAX_S) : 0;
	step = l->ramp_kpa_s * dtv;
	if (!(isfinite(step) && step >= 0))
		step = 0;
	tol = EPS * (1 + lastv);
	if (out - lastv > step + tol)
		fail_msg("zone %d: rose %.17g in one tick, ramp allows %.17g",
		    z, out - lastv, step);
	if (lastv - out > step + tol) {
		if (out != lim)
			fail_msg("zone %d: fell %.17g in one tick to %.17g, "
			    "ramp allows %.17g and the limit is %.17g", z,
			    lastv - out, out, step, lim);
		st->limit_drops++;
	}

	/* Progress: as close to the target as the ramp and limit allow. */
	if (!(isfinite(req) && req >= 0)) {
		req = 0;
		st->rejected++;
	}
	inten = inten >= 0 ? fmin(inten, 1) : 0;
	target = fmin(req * inten, lim);
	want = fmin(fmax(target, lastv - step), lastv + step);
	want = fmin(want, lim);
	if (fabs(out - want) > tol)
		fail_msg("zone %d: output %.17g, expected %.17g (request %g, "
		    "intensity %g, last %g, step %g, limit %g)", z, out, want,
		    req, inten, last, step, lim);
	if (out == lim && out > 0)
		st->at_limit++;
	else if (fabs(out - target) <= tol)
		st->followed++;
	else
		st->ramp_bound++;
}

static void
test_property_apply(void **state)
{
	struct limits		 l, b;
	struct prop_stats	 st;
	enum req_mode		 mode[TABLE_MAX_ZONES];
	double			 out[TABLE_MAX_ZONES], req, inten, dt, last;
	double			 ecap;
	int			 run, z, focused, nz = 24;
	long			 tick;

	rng_seed();
	memset(&st, 0, sizeof(st));
	for (run = 0; run < 40; run++) {
		random_limits(&l, nz);
		ecap = chance(0.05) ? NAN : urange(0, 20);
		focused = 0;
		for (z = 0; z < nz; z++) {
			mode[z] = (enum req_mode)(rng() % REQ_MODES);
			out[z] = chance(0.5) ? 0 : urange(0, 60);
		}
		for (tick = 0; tick < 5000; tick++) {
			if (tick % 250 == 0) {
				focused = chance(0.3);
				for (z = 0; z < nz; z++)
					if (chance(0.3))
						mode[z] = (enum req_mode)
						    (rng() % REQ_MODES);
			}
			/* Now and then a stricter reload. */
			if (tick % 997 == 996) {
				random_limits(&b, nz);
				safety_stricter(&l, &b, &l);
			}
			inten = adversarial_intensity();
			dt = adversarial_dt();
			for (z = 0; z < nz; z++) {
				req = adversarial(mode[z], tick,
				    l.limit_kpa[z]);
				last = adversarial_last(out[z]);
				out[z] = safety_apply(&l, z, req, inten,
				    focused, last, dt, ecap);
				check_one(&l, z, req, inten, focused, last, dt,
				    ecap, out[z], &st);
			}
		}
	}
	print_message("%ld calls: %ld at the limit, %ld following, %ld "
	    "ramp-bound, %ld dropped to a lowered limit, %ld rejected "
	    "outputs\n", st.calls, st.at_limit, st.followed, st.ramp_bound,
	    st.limit_drops, st.rejected);
	/* The generator reached every interesting branch. */
	assert_true(st.at_limit > 1000);
	assert_true(st.followed > 1000);
	assert_true(st.ramp_bound > 1000);
	assert_true(st.limit_drops > 10);
	assert_true(st.rejected > 1000);
	(void)state;
}

/* Every zone, every tick, through resolved limits of random profiles. */
static void
test_property_resolved(void **state)
{
	struct table		 t;
	struct profile		 p;
	struct limits		 l;
	struct prop_stats	 st;
	static const char *const conds[] = {
		"anticoagulants", "varicose_veins", "osteoporosis",
		"pregnancy"
	};
	static const char *const globs[] = {
		"*", "*_left", "piriformis_*", "calf_left", "sciatic_*", "?*"
	};
	double			 out[NZ], rating[2], req, lim, scale, last;
	int			 run, z, i, k, focused;
	long			 tick;

	rng_seed();
	memset(&st, 0, sizeof(st));
	make_table(&t);
	for (run = 0; run < 300; run++) {
		make_profile(&p);
		p.cap_kpa = urange(1, 35);
		p.ramp_kpa_s = urange(0.5, 50);
		for (i = 0; i < 4; i++)
			if (chance(0.3))
				add_cond(&p, conds[i]);
		for (i = 0; i < 6; i++)
			if (chance(0.3))
				add_cap(&p, globs[i], urange(0, 35));
		rating[0] = chance(0.5) ? 0 : urange(5, 40);
		rating[1] = chance(0.5) ? 0 : urange(5, 40);
		resolve_ok(&t, &p, NULL, rating, &l);

		/* Every source bounds the resolved limit. */
		for (z = 0; z < NZ; z++) {
			lim = l.limit_kpa[z];
			assert_true(lim >= 0);
			assert_true(lim <= t.zones[z].limit_kpa);
			assert_true(lim <= p.cap_kpa);
			if (rating[t.zones[z].ctl] > 0)
				assert_true(lim <= rating[t.zones[z].ctl]);
			for (i = 0; i < p.ncaps; i++)
				if (fnmatch(p.caps[i].glob, t.zones[z].name,
				    0) == 0)
					assert_true(lim <= p.caps[i].cap_kpa);
			scale = 1;
			for (i = 0; i < p.nconditions; i++) {
				const struct rule *ru = rules_find(&rules,
				    p.conditions[i]);

				scale *= ru->scale;
				for (k = 0; k < ru->nexclude; k++)
					if (fnmatch(ru->exclude[k],
					    t.zones[z].name, 0) == 0)
						assert_int_equal(
						    l.excluded[z], 1);
			}
			assert_true(lim <= fmin(fmin(p.cap_kpa,
			    t.zones[z].limit_kpa), 1e9) * scale + EPS);
			if (t.zones[z].endangerment)
				assert_true(lim <= ECAP);
			if (l.excluded[z])
				assert_true(lim == 0);
			assert_int_equal(l.endangerment[z],
			    t.zones[z].endangerment);
		}

		for (z = 0; z < NZ; z++)
			out[z] = 0;
		focused = chance(0.5);
		for (tick = 0; tick < 400; tick++) {
			for (z = 0; z < NZ; z++) {
				req = adversarial((enum req_mode)
				    (rng() % REQ_MODES), tick, l.limit_kpa[z]);
				last = out[z];
				out[z] = safety_apply(&l, z, req, 1, focused,
				    last, 0.02, ECAP);
				check_one(&l, z, req, 1, focused, last, 0.02,
				    ECAP, out[z], &st);
			}
		}
	}
	assert_true(st.calls == 300L * 400 * NZ);
	(void)state;
}

/* --- monitoring ---------------------------------------------------------- */

static void
mon_setup(struct safety_conf *sc, struct limits *l, int n, double limit)
{
	memset(sc, 0, sizeof(*sc));
	sc->overpressure_tolerance_kpa = 2;
	sc->overpressure_ms = 200;
	sc->tracking_error_kpa = 6;
	sc->tracking_ms = 3000;
	limits_fill(l, n, limit, "test");
}

/* Runs ticks of 20 ms; returns the tick (1-based) that tripped, or 0. */
static int
mon_run(struct monitor *m, const struct safety_conf *sc,
    const struct limits *l, int n, const double *cmd, const double *meas,
    int ticks, enum monitor_result *res, int *zone)
{
	int	 i;

	for (i = 1; i <= ticks; i++) {
		*res = monitor_check(m, sc, l, n, cmd, meas, 20, zone);
		if (*res != MONITOR_OK)
			return (i);
		assert_int_equal(*zone, -1);
	}
	return (0);
}

static void
test_monitor_overpressure(void **state)
{
	struct safety_conf	 sc;
	struct limits		 l;
	struct monitor		 m;
	enum monitor_result	 r;
	double			 cmd[3] = { 20, 20, 20 };
	double			 meas[3] = { 20, 20, 20 };
	int			 zone;

	mon_setup(&sc, &l, 3, 20);
	monitor_reset(&m);

	/* At limit + tolerance exactly: never. */
	meas[1] = 22.0;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 1000, &r, &zone),
	    0);

	/* Just above: for longer than 200 ms is the 11th tick of 20 ms. */
	meas[1] = 22.01;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 1000, &r, &zone),
	    11);
	assert_int_equal(r, MONITOR_OVERPRESSURE);
	assert_int_equal(zone, 1);

	/* The time counts only while the condition lasts. */
	monitor_reset(&m);
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 10, &r, &zone),
	    0);
	meas[1] = 21;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 1, &r, &zone), 0);
	meas[1] = 22.01;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 10, &r, &zone),
	    0);
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 1, &r, &zone), 1);

	/* monitor_reset forgets. */
	monitor_reset(&m);
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 10, &r, &zone),
	    0);

	/* overpressure_ms = 0: the first tick above trips. */
	monitor_reset(&m);
	sc.overpressure_ms = 0;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 10, &r, &zone),
	    1);
	assert_int_equal(r, MONITOR_OVERPRESSURE);
	(void)state;
}

static void
test_monitor_limits(void **state)
{
	struct safety_conf	 sc;
	struct limits		 l;
	struct monitor		 m;
	enum monitor_result	 r;
	double			 cmd[3] = { 0, 0, 0 };
	double			 meas[3] = { 0, 0, 0 };
	int			 zone;

	/* An excluded zone has limit 0: above the tolerance trips. */
	mon_setup(&sc, &l, 3, 20);
	l.excluded[2] = 1;
	l.limit_kpa[2] = 0;
	monitor_reset(&m);
	meas[2] = 2.0;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    0);
	meas[2] = 2.5;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    11);
	assert_int_equal(zone, 2);

	/* A reading that is not a number counts as over the limit. */
	monitor_reset(&m);
	meas[2] = NAN;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    11);
	assert_int_equal(r, MONITOR_OVERPRESSURE);
	assert_int_equal(zone, 2);

	/* Zones the limits do not know count as limit 0. */
	monitor_reset(&m);
	mon_setup(&sc, &l, 2, 20);
	meas[2] = 3;
	cmd[2] = 3;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    11);
	assert_int_equal(zone, 2);

	/* A dt that is not a number does not count time. */
	monitor_reset(&m);
	r = monitor_check(&m, &sc, &l, 3, cmd, meas, NAN, &zone);
	assert_int_equal(r, MONITOR_OK);
	assert_true(m.over_ms[2] == 0);
	r = monitor_check(&m, &sc, &l, 3, cmd, meas, -50, NULL);
	assert_int_equal(r, MONITOR_OK);
	r = monitor_check(&m, &sc, &l, 3, cmd, meas, 500, NULL);
	assert_int_equal(r, MONITOR_OVERPRESSURE);
	(void)state;
}

static void
test_monitor_stuck(void **state)
{
	struct safety_conf	 sc;
	struct limits		 l;
	struct monitor		 m;
	enum monitor_result	 r;
	double			 cmd[2] = { 10, 10 };
	double			 meas[2] = { 10, 10 };
	int			 zone;

	mon_setup(&sc, &l, 2, 20);
	monitor_reset(&m);

	/* Off by exactly the allowed error: never. */
	meas[0] = 16;
	meas[1] = 4;
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 1000, &r, &zone),
	    0);

	/* Above it (under the limit, so not an over-pressure): for longer
	 * than 3000 ms is the 151st tick. */
	meas[0] = 16.01;
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 1000, &r, &zone),
	    151);
	assert_int_equal(r, MONITOR_STUCK);
	assert_int_equal(zone, 0);

	/* Below the setpoint: a zone that does not inflate. */
	monitor_reset(&m);
	meas[0] = 10;
	meas[1] = 3.99;
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 1000, &r, &zone),
	    151);
	assert_int_equal(zone, 1);

	/* Cleared for one tick: counts again from 0. */
	monitor_reset(&m);
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 150, &r, &zone),
	    0);
	meas[1] = 9;
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 1, &r, &zone), 0);
	meas[1] = 3.99;
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 150, &r, &zone),
	    0);
	assert_int_equal(mon_run(&m, &sc, &l, 2, cmd, meas, 1, &r, &zone), 1);
	(void)state;
}

static void
test_monitor_both(void **state)
{
	struct safety_conf	 sc;
	struct limits		 l;
	struct monitor		 m;
	enum monitor_result	 r;
	double			 cmd[3] = { 10, 10, 10 };
	double			 meas[3] = { 10, 10, 10 };
	int			 zone;

	/* Zone 0 stuck, zone 2 over, same time: over-pressure is named. */
	mon_setup(&sc, &l, 3, 20);
	sc.tracking_ms = 200;
	monitor_reset(&m);
	meas[0] = 17;
	meas[2] = 23;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    11);
	assert_int_equal(r, MONITOR_OVERPRESSURE);
	assert_int_equal(zone, 2);

	/* Over-pressure in two zones: the first is named. */
	monitor_reset(&m);
	meas[0] = 23;
	assert_int_equal(mon_run(&m, &sc, &l, 3, cmd, meas, 100, &r, &zone),
	    11);
	assert_int_equal(zone, 0);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_sources),
		cmocka_unit_test(test_resolve_endangerment),
		cmocka_unit_test(test_resolve_scale),
		cmocka_unit_test(test_resolve_exclude),
		cmocka_unit_test(test_resolve_no_zone_left),
		cmocka_unit_test(test_resolve_refuse),
		cmocka_unit_test(test_resolve_forbidden),
		cmocka_unit_test(test_resolve_unknown_condition),
		cmocka_unit_test(test_stricter),
		cmocka_unit_test(test_apply_pipeline),
		cmocka_unit_test(test_apply_limits_win),
		cmocka_unit_test(test_apply_endangerment),
		cmocka_unit_test(test_apply_ramp),
		cmocka_unit_test(test_apply_zone_range),
		cmocka_unit_test(test_property_apply),
		cmocka_unit_test(test_property_resolved),
		cmocka_unit_test(test_monitor_overpressure),
		cmocka_unit_test(test_monitor_limits),
		cmocka_unit_test(test_monitor_stuck),
		cmocka_unit_test(test_monitor_both),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
