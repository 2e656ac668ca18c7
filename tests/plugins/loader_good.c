/*
 * loader_good.c: a valid routine for the loader tests. Every zone gets
 * level_kpa; step() returns the ret parameter as is, so tests can see
 * what the host makes of odd return values. create() logs through the host
 * and refuses no zones (with a reason), level_kpa 9 (without one) and
 * level_kpa 8 (saying the ramp and tick rate it was told).
 */
#include <stdio.h>
#include <stdlib.h>

#include <massaged/routine.h>

struct good {
	double	 level_kpa;
	int	 ret;
	size_t	 n;
};

static const struct massaged_param good_params[] = {
	{ "level_kpa", MASSAGED_PARAM_REAL, "kPa", 5, 0, 10, NULL,
	    "Pressure on every zone." },
	{ "ret", MASSAGED_PARAM_INT, "", 0, -5, 10, NULL,
	    "What step() returns." },
	{ "stroke", MASSAGED_PARAM_CHOICE, "", 1, 0, 2,
	    "effleurage|kneading|circular", "Unused." },
	{ "slow", MASSAGED_PARAM_BOOL, "", 0, 0, 1, NULL, "Unused." },
};

static void *
good_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct good	*g;

	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones");
		return (NULL);
	}
	if (a->params[0] == 9)
		return (NULL);
	if (a->params[0] == 8) {
		snprintf(err, errlen, "ramp_kpa_s %g tick_hz %g",
		    MASSAGED_ARGS_HAS(a, ramp_kpa_s) ? a->ramp_kpa_s : -1,
		    MASSAGED_ARGS_HAS(a, tick_hz) ? a->tick_hz : -1);
		return (NULL);
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	g->level_kpa = a->params[0];
	g->ret = (int)a->params[1];
	g->n = a->n_zones;
	a->host->log(a->host->ctx, MASSAGED_LOG_INFO, "created with %zu zones "
	    "for %g s", a->n_zones, a->duration_s);
	return (g);
}

static int
good_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct good	*g = inst;
	size_t		 i;

	for (i = 0; i < g->n; i++)
		out[i] = g->level_kpa;
	return (g->ret);
}

static void
good_destroy(void *inst)
{
	free(inst);
}

static const struct massaged_routine good_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "loader_good",
	.version = "1.2.3",
	.description = "Test routine: constant pressure.",
	.params = good_params,
	.n_params = sizeof(good_params) / sizeof(good_params[0]),
	.create = good_create,
	.step = good_step,
	.destroy = good_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&good_routine);
}
