/*
 * trigger_point.c: sustained pressure on one trigger point at a time
 * (ischemic compression).
 *
 * The zones are the points, in the program's order (for buttock pain:
 * gluteus minimus, piriformis, gluteus medius). For each point: sink in
 * slowly over ramp_s, hold for hold_s (30 to 90 s, 60 by default), release
 * slowly over release_s, then rest_s with no pressure before the next
 * point. Only the current point is pressed; every other zone is at 0. After
 * the last point of the last round the routine returns DONE: its length is
 * points x rounds x (ramp + hold + release + rest) - rest, and it refuses a
 * step shorter than that (duration_s is the budget; a longer step ends
 * early).
 *
 * Client feedback: each "less" lowers the hold pressure of the current and
 * every following point by feedback_pct, never below floor_kpa; each "more"
 * takes one such step back, never above pressure_kpa.
 *
 * Focused work: endangerment sites are skipped (0 kPa; the host enforces it
 * too, and programs may not list them).
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <massaged/routine.h>

enum { P_PRESSURE, P_RAMP, P_HOLD, P_RELEASE, P_REST, P_ROUNDS,
	P_FEEDBACK, P_FLOOR, P_COUNT };

struct tp {
	const struct massaged_host *host;
	double	 pressure_kpa;
	double	 ramp_s;
	double	 hold_s;
	double	 release_s;
	double	 rest_s;
	double	 cycle_s;	/* one point, rest included */
	double	 total_s;
	double	 factor;	/* 1 - feedback_pct / 100 */
	double	 floor_kpa;
	int	 nless;		/* "less" steps in force */
	size_t	 n;		/* zones */
	size_t	 npoints;	/* points per round */
	size_t	 nsteps;	/* points x rounds */
	size_t	*points;	/* zone indexes, in program order */
};

static const struct massaged_param tp_params[P_COUNT] = {
	[P_PRESSURE] = { "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 20, 5, 45,
	    NULL, "Hold pressure on each point at full intensity." },
	[P_RAMP] = { "ramp_s", MASSAGED_PARAM_REAL, "s", 20, 5, 120, NULL,
	    "Seconds to sink slowly into a point." },
	[P_HOLD] = { "hold_s", MASSAGED_PARAM_REAL, "s", 60, 30, 90, NULL,
	    "Seconds each point is held (ischemic compression: 30 to 90)." },
	[P_RELEASE] = { "release_s", MASSAGED_PARAM_REAL, "s", 20, 5, 120,
	    NULL, "Seconds to release a point slowly." },
	[P_REST] = { "rest_s", MASSAGED_PARAM_REAL, "s", 20, 0, 300, NULL,
	    "Seconds without pressure between two points." },
	[P_ROUNDS] = { "rounds", MASSAGED_PARAM_INT, "", 1, 1, 5, NULL,
	    "How many times the list of points is worked through." },
	[P_FEEDBACK] = { "feedback_pct", MASSAGED_PARAM_REAL, "%", 15, 5, 50,
	    NULL, "How much each 'less' from the client lowers the hold "
	    "pressure; each 'more' takes one step back." },
	[P_FLOOR] = { "floor_kpa", MASSAGED_PARAM_REAL, "kPa", 6, 1, 45, NULL,
	    "'Less' never lowers the hold pressure below this." },
};

static void	*tp_create(const struct massaged_routine_args *, char *,
		    size_t);
static int	 tp_step(void *, const struct massaged_step_in *, double *);
static void	 tp_destroy(void *);

static const struct massaged_routine tp_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "trigger_point",
	.version = "1.0.0",
	.description = "Trigger point therapy: slow, sustained pressure on one "
	    "point after another, eased when the client asks for less.",
	.flags = MASSAGED_ROUTINE_FOCUSED,
	.params = tp_params,
	.n_params = P_COUNT,
	.create = tp_create,
	.step = tp_step,
	.destroy = tp_destroy,
};

/* The hold pressure with the client's feedback applied. */
static double
tp_level(const struct tp *t, int nless)
{
	double	 v = t->pressure_kpa * pow(t->factor, nless);

	return (v < t->floor_kpa ? t->floor_kpa : v);
}

static void *
tp_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct tp	*t;
	const double	*p = a->params;
	size_t		 i;

	if (a->size < sizeof(*a)) {
		snprintf(err, errlen, "the host is older than this routine");
		return (NULL);
	}
	if (p[P_FLOOR] > p[P_PRESSURE]) {
		snprintf(err, errlen, "floor_kpa %g is above pressure_kpa %g",
		    p[P_FLOOR], p[P_PRESSURE]);
		return (NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL || (a->n_zones > 0 &&
	    (t->points = calloc(a->n_zones, sizeof(*t->points))) == NULL)) {
		snprintf(err, errlen, "out of memory");
		tp_destroy(t);
		return (NULL);
	}
	t->n = a->n_zones;
	for (i = 0; i < t->n; i++) {
		if (!a->zones[i].endangerment)
			t->points[t->npoints++] = i;
		else if (a->host != NULL && a->host->log != NULL)
			a->host->log(a->host->ctx, MASSAGED_LOG_WARNING,
			    "%s is an endangerment site: skipped",
			    a->zones[i].name);
	}
	if (t->npoints == 0) {
		snprintf(err, errlen, "no trigger points: %s", t->n == 0 ?
		    "no zones" : "every zone is an endangerment site, where "
		    "sustained pressure is not allowed");
		tp_destroy(t);
		return (NULL);
	}
	t->host = a->host;
	t->pressure_kpa = p[P_PRESSURE];
	t->ramp_s = p[P_RAMP];
	t->hold_s = p[P_HOLD];
	t->release_s = p[P_RELEASE];
	t->rest_s = p[P_REST];
	t->factor = 1 - p[P_FEEDBACK] / 100;
	t->floor_kpa = p[P_FLOOR];
	t->cycle_s = t->ramp_s + t->hold_s + t->release_s + t->rest_s;
	t->nsteps = t->npoints * (size_t)p[P_ROUNDS];
	t->total_s = (double)t->nsteps * t->cycle_s - t->rest_s;
	if (a->duration_s > 0 && t->total_s > a->duration_s) {
		snprintf(err, errlen, "%zu points x %zu rounds need %g s "
		    "(ramp %g + hold %g + release %g s each, rest %g s "
		    "between), longer than the %g s step", t->npoints,
		    t->nsteps / t->npoints, t->total_s, t->ramp_s, t->hold_s,
		    t->release_s, t->rest_s, a->duration_s);
		tp_destroy(t);
		return (NULL);
	}
	return (t);
}

static void
tp_feedback(struct tp *t, int feedback)
{
	int	 before = t->nless;

	if (feedback == MASSAGED_FEEDBACK_LESS &&
	    tp_level(t, t->nless) > t->floor_kpa)
		t->nless++;
	else if (feedback == MASSAGED_FEEDBACK_MORE && t->nless > 0)
		t->nless--;
	if (t->nless != before && t->host != NULL && t->host->log != NULL)
		t->host->log(t->host->ctx, MASSAGED_LOG_INFO, "client asked "
		    "for %s: hold pressure %.1f kPa", t->nless > before ?
		    "less" : "more", tp_level(t, t->nless));
}

static int
tp_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct tp	*t = inst;
	double		 level, tau;
	size_t		 i, k;

	if (in->size < sizeof(*in) || !isfinite(in->t_s) || in->t_s < 0)
		return (MASSAGED_STEP_ERROR);
	for (i = 0; i < t->n; i++)
		out[i] = 0;
	if (in->t_s >= t->total_s)
		return (MASSAGED_STEP_DONE);
	tp_feedback(t, in->feedback);
	level = tp_level(t, t->nless);

	k = (size_t)floor(in->t_s / t->cycle_s);
	tau = in->t_s - (double)k * t->cycle_s;
	if (k >= t->nsteps)
		return (MASSAGED_STEP_DONE);
	i = t->points[k % t->npoints];
	if (tau < t->ramp_s)
		out[i] = level * massaged_ease(tau / t->ramp_s);
	else if ((tau -= t->ramp_s) < t->hold_s)
		out[i] = level;
	else if ((tau -= t->hold_s) < t->release_s)
		out[i] = level * (1 - massaged_ease(tau / t->release_s));
	return (MASSAGED_STEP_RUNNING);
}

static void
tp_destroy(void *inst)
{
	struct tp	*t = inst;

	if (t == NULL)
		return;
	free(t->points);
	free(t);
}

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&tp_routine);
}
