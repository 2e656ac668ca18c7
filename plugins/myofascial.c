/*
 * myofascial.c: myofascial release, light pressure held long, then moved
 * slowly on.
 *
 * The pressure has a centre, a zone: it gets pressure_kpa, other zones
 * less the farther they are from it (a Gaussian of spread_cm), which keeps
 * the contact broad and gentle. It sinks in over engage_s on the program's
 * first zone, holds still for hold_s (at least 90 s: fascia releases
 * slowly), then drifts over drift_s to the nearest zone not yet held (by
 * position on the body, not program order): the pressure passes smoothly
 * from one to the other. It holds there, and so on; after the last zone it
 * comes back the same way, so the pressure only ever drifts to a
 * neighbouring zone.
 *
 * The routine fills the step: it returns DONE when t_s reaches duration_s
 * (never, if duration_s is 0), and refuses a step too short for one hold.
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <massaged/routine.h>

#define MYO_SPREAD_MIN_CM	0.5

enum { P_PRESSURE, P_HOLD, P_DRIFT, P_ENGAGE, P_SPREAD, P_COUNT };

struct myo {
	double	 pressure_kpa;
	double	 hold_s;
	double	 drift_s;
	double	 engage_s;
	double	 spread_cm;
	double	 duration_s;
	size_t	 n;
	double	*along_cm;
	double	*across_cm;
	size_t	*path;		/* zone indexes in the order they are held */
};

static const struct massaged_param myo_params[P_COUNT] = {
	[P_PRESSURE] = { "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 8, 2, 20,
	    NULL, "Light, sustained pressure at the centre of the hold." },
	[P_HOLD] = { "hold_s", MASSAGED_PARAM_REAL, "s", 120, 90, 600, NULL,
	    "Seconds each hold lasts before the pressure moves on (fascia "
	    "needs at least 90)." },
	[P_DRIFT] = { "drift_s", MASSAGED_PARAM_REAL, "s", 30, 10, 120, NULL,
	    "Seconds the pressure takes to drift to the next zone." },
	[P_ENGAGE] = { "engage_s", MASSAGED_PARAM_REAL, "s", 20, 5, 60, NULL,
	    "Seconds to sink in gently at the start." },
	[P_SPREAD] = { "spread_cm", MASSAGED_PARAM_REAL, "cm", 6, 0, 30, NULL,
	    "How broad the pressure is: a zone this far from the one held gets "
	    "about 60% of it." },
};

static void	*myo_create(const struct massaged_routine_args *, char *,
		    size_t);
static int	 myo_step(void *, const struct massaged_step_in *, double *);
static void	 myo_destroy(void *);

static const struct massaged_routine myo_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "myofascial",
	.version = "1.0.0",
	.description = "Myofascial release: light, broad pressure held for "
	    "minutes, then drifting slowly to the neighbouring zone.",
	.flags = 0,
	.params = myo_params,
	.n_params = P_COUNT,
	.create = myo_create,
	.step = myo_step,
	.destroy = myo_destroy,
};

/* From the first zone, always on to the nearest zone not yet held. */
static void
myo_path(struct myo *m, int *seen)
{
	size_t	 i, j, best, cur = 0;
	double	 d, bestd;

	m->path[0] = 0;
	seen[0] = 1;
	for (i = 1; i < m->n; i++) {
		best = 0;
		bestd = HUGE_VAL;
		for (j = 0; j < m->n; j++) {
			if (seen[j])
				continue;
			d = hypot(m->along_cm[j] - m->along_cm[cur],
			    m->across_cm[j] - m->across_cm[cur]);
			if (d < bestd) {	/* ties: program order */
				bestd = d;
				best = j;
			}
		}
		m->path[i] = cur = best;
		seen[best] = 1;
	}
}

/* The j-th hold: along the path and back, so every drift is short. */
static size_t
myo_stop(const struct myo *m, size_t j)
{
	size_t	 period;

	if (m->n == 1)
		return (0);
	period = 2 * (m->n - 1);
	j %= period;
	return (j < m->n ? j : period - j);
}

static void *
myo_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct myo	*m;
	const double	*p = a->params;
	int		*seen = NULL;
	size_t		 i;

	if (a->size < sizeof(*a)) {
		snprintf(err, errlen, "the host is older than this routine");
		return (NULL);
	}
	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones to work on");
		return (NULL);
	}
	if (a->duration_s > 0 && a->duration_s < p[P_ENGAGE] + p[P_HOLD]) {
		snprintf(err, errlen, "a %g s step is shorter than one hold "
		    "(engage_s %g + hold_s %g)", a->duration_s, p[P_ENGAGE],
		    p[P_HOLD]);
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->along_cm = calloc(a->n_zones, sizeof(double))) == NULL ||
	    (m->across_cm = calloc(a->n_zones, sizeof(double))) == NULL ||
	    (m->path = calloc(a->n_zones, sizeof(size_t))) == NULL ||
	    (seen = calloc(a->n_zones, sizeof(int))) == NULL) {
		snprintf(err, errlen, "out of memory");
		myo_destroy(m);
		return (NULL);
	}
	m->n = a->n_zones;
	for (i = 0; i < m->n; i++) {
		m->along_cm[i] = a->zones[i].along_cm;
		m->across_cm[i] = a->zones[i].across_cm;
	}
	myo_path(m, seen);
	free(seen);
	m->pressure_kpa = p[P_PRESSURE];
	m->hold_s = p[P_HOLD];
	m->drift_s = p[P_DRIFT];
	m->engage_s = p[P_ENGAGE];
	m->spread_cm = p[P_SPREAD] < MYO_SPREAD_MIN_CM ? MYO_SPREAD_MIN_CM :
	    p[P_SPREAD];
	m->duration_s = a->duration_s;
	return (m);
}

static int
myo_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct myo	*m = inst;
	double		 t, unit, tau, s, da, db, w, amp;
	size_t		 i, j, a, b;

	if (in->size < sizeof(*in) || !isfinite(in->t_s) || in->t_s < 0)
		return (MASSAGED_STEP_ERROR);
	if (m->duration_s > 0 && in->t_s >= m->duration_s) {
		for (i = 0; i < m->n; i++)
			out[i] = 0;
		return (MASSAGED_STEP_DONE);
	}

	/* On path[j], or passing from it to path[j + 1]. */
	amp = m->pressure_kpa * massaged_ease(in->t_s / m->engage_s);
	t = in->t_s - m->engage_s;
	j = 0;
	s = 0;
	if (t > 0) {
		unit = m->hold_s + m->drift_s;
		j = (size_t)floor(t / unit);
		tau = t - (double)j * unit;
		s = massaged_ease((tau - m->hold_s) / m->drift_s);
	}
	a = m->path[myo_stop(m, j)];
	b = m->path[myo_stop(m, j + 1)];
	w = 2 * m->spread_cm * m->spread_cm;
	for (i = 0; i < m->n; i++) {
		da = hypot(m->along_cm[i] - m->along_cm[a],
		    m->across_cm[i] - m->across_cm[a]);
		db = hypot(m->along_cm[i] - m->along_cm[b],
		    m->across_cm[i] - m->across_cm[b]);
		out[i] = amp * ((1 - s) * exp(-da * da / w) +
		    s * exp(-db * db / w));
	}
	return (MASSAGED_STEP_RUNNING);
}

static void
myo_destroy(void *inst)
{
	struct myo	*m = inst;

	if (m == NULL)
		return;
	free(m->along_cm);
	free(m->across_cm);
	free(m->path);
	free(m);
}

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&myo_routine);
}
