/*
 * deep_tissue.c: slow, firm strokes into the deeper layers of muscle.
 *
 * The stroke works one zone at a time in the program's order: it stays on
 * a zone for segment_s (sustained pressure), then glides slowly to the next
 * one over travel_s (the pressure passes from one to the other), and after
 * the last zone starts again with the first. List the zones in the order
 * the stroke should travel, such as along a muscle.
 *
 * The warm-up comes first: over warmup_s the stroke's pressure rises
 * smoothly from contact_kpa to pressure_kpa, so the tissue is prepared
 * before it is pressed firmly. Zones not being worked keep contact_kpa.
 *
 * Focused work: endangerment sites are never pressed (0 kPa, and the host
 * enforces it too). The routine fills the step: it returns DONE when t_s
 * reaches duration_s (never, if duration_s is 0).
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <massaged/routine.h>

enum { P_PRESSURE, P_WARMUP, P_SEGMENT, P_TRAVEL, P_CONTACT, P_COUNT };

struct deep {
	double	 pressure_kpa;
	double	 warmup_s;
	double	 segment_s;
	double	 travel_s;
	double	 contact_kpa;
	double	 duration_s;
	size_t	 n;		/* zones */
	int	*skip;		/* endangerment sites: always 0 */
	size_t	 nwork;		/* zones the stroke visits */
	size_t	*work;		/* their indexes, in program order */
};

static const struct massaged_param deep_params[P_COUNT] = {
	[P_PRESSURE] = { "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 25, 5, 50,
	    NULL, "Firm pressure of the stroke at full intensity, reached "
	    "after the warm-up." },
	[P_WARMUP] = { "warmup_s", MASSAGED_PARAM_REAL, "s", 60, 0, 600, NULL,
	    "Seconds over which the pressure rises gradually from contact to "
	    "pressure_kpa." },
	[P_SEGMENT] = { "segment_s", MASSAGED_PARAM_REAL, "s", 30, 5, 180,
	    NULL, "Seconds of sustained pressure on each zone." },
	[P_TRAVEL] = { "travel_s", MASSAGED_PARAM_REAL, "s", 10, 2, 60, NULL,
	    "Seconds of slow glide from one zone to the next." },
	[P_CONTACT] = { "contact_kpa", MASSAGED_PARAM_REAL, "kPa", 2, 0, 10,
	    NULL, "Light contact kept on the zones not being worked." },
};

static void	*deep_create(const struct massaged_routine_args *, char *,
		    size_t);
static int	 deep_step(void *, const struct massaged_step_in *, double *);
static void	 deep_destroy(void *);

static const struct massaged_routine deep_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "deep_tissue",
	.version = "1.0.0",
	.description = "Deep tissue: after a gradual warm-up, slow strokes with "
	    "firm, sustained pressure on one zone after another.",
	.flags = MASSAGED_ROUTINE_FOCUSED,
	.params = deep_params,
	.n_params = P_COUNT,
	.create = deep_create,
	.step = deep_step,
	.destroy = deep_destroy,
};

static void *
deep_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct deep	*d;
	size_t		 i;
	const double	*p = a->params;

	if (a->size < sizeof(*a)) {
		snprintf(err, errlen, "the host is older than this routine");
		return (NULL);
	}
	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones to work on");
		return (NULL);
	}
	if (p[P_CONTACT] > p[P_PRESSURE]) {
		snprintf(err, errlen, "contact_kpa %g is above pressure_kpa %g",
		    p[P_CONTACT], p[P_PRESSURE]);
		return (NULL);
	}
	if (a->duration_s > 0 && p[P_WARMUP] >= a->duration_s) {
		snprintf(err, errlen, "warmup_s %g leaves no time for the work "
		    "in a %g s step", p[P_WARMUP], a->duration_s);
		return (NULL);
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->skip = calloc(a->n_zones, sizeof(*d->skip))) == NULL ||
	    (d->work = calloc(a->n_zones, sizeof(*d->work))) == NULL) {
		snprintf(err, errlen, "out of memory");
		deep_destroy(d);
		return (NULL);
	}
	d->n = a->n_zones;
	for (i = 0; i < d->n; i++) {
		if (a->zones[i].endangerment) {
			d->skip[i] = 1;
			if (a->host != NULL && a->host->log != NULL)
				a->host->log(a->host->ctx, MASSAGED_LOG_WARNING,
				    "%s is an endangerment site: no deep work "
				    "there", a->zones[i].name);
		} else
			d->work[d->nwork++] = i;
	}
	if (d->nwork == 0) {
		snprintf(err, errlen, "every zone is an endangerment site, where "
		    "deep tissue work is not allowed");
		deep_destroy(d);
		return (NULL);
	}
	d->pressure_kpa = p[P_PRESSURE];
	d->warmup_s = p[P_WARMUP];
	d->segment_s = p[P_SEGMENT];
	d->travel_s = p[P_TRAVEL];
	d->contact_kpa = p[P_CONTACT];
	d->duration_s = a->duration_s;
	return (d);
}

static int
deep_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct deep	*d = inst;
	double		 level, unit, tau, s;
	size_t		 i, k;

	if (in->size < sizeof(*in) || !isfinite(in->t_s) || in->t_s < 0)
		return (MASSAGED_STEP_ERROR);
	for (i = 0; i < d->n; i++)
		out[i] = d->skip[i] ? 0 : d->contact_kpa;
	if (d->duration_s > 0 && in->t_s >= d->duration_s)
		return (MASSAGED_STEP_DONE);

	level = d->pressure_kpa;
	if (d->warmup_s > 0)
		level = d->contact_kpa + (d->pressure_kpa - d->contact_kpa) *
		    massaged_ease(in->t_s / d->warmup_s);

	/* Which zone, and how far the glide to the next one has come. */
	unit = d->segment_s + d->travel_s;
	k = (size_t)floor(in->t_s / unit);
	tau = in->t_s - (double)k * unit;
	k %= d->nwork;
	s = d->nwork > 1 ?
	    massaged_ease((tau - d->segment_s) / d->travel_s) : 0;
	out[d->work[k]] = d->contact_kpa + (level - d->contact_kpa) * (1 - s);
	if (s > 0)
		out[d->work[(k + 1) % d->nwork]] = d->contact_kpa +
		    (level - d->contact_kpa) * s;
	return (MASSAGED_STEP_RUNNING);
}

static void
deep_destroy(void *inst)
{
	struct deep	*d = inst;

	if (d == NULL)
		return;
	free(d->skip);
	free(d->work);
	free(d);
}

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&deep_routine);
}
