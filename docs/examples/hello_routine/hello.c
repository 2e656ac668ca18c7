/*
 * hello.c: the smallest useful massaged routine. Every zone of the step
 * breathes together: pressure rises and falls smoothly once per period_s.
 *
 *   make                       builds hello.so (see Makefile)
 *   massaged -n ...            checks that the daemon accepts it
 *
 * Everything is static except massaged_routine_entry(), the one symbol the
 * daemon looks for.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <massaged/routine.h>

#define HELLO_PI	3.14159265358979323846

/* Parameters, in the order create() finds them in args->params. */
enum { P_PRESSURE, P_PERIOD, P_COUNT };

static const struct massaged_param hello_params[P_COUNT] = {
	[P_PRESSURE] = { "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 6, 1, 15,
	    NULL, "Peak pressure at full intensity." },
	[P_PERIOD] = { "period_s", MASSAGED_PARAM_REAL, "s", 8, 2, 60, NULL,
	    "Seconds per breath." },
};

/* One instance per program step: no globals, so instances never mix. */
struct hello {
	double	 pressure_kpa;
	double	 period_s;
	double	 duration_s;
	size_t	 n_zones;
};

static void *
hello_create(const struct massaged_routine_args *args, char *err,
    size_t errlen)
{
	struct hello	*h;

	/* Every field it reads; not sizeof(*args), which grows with the SDK. */
	if (!MASSAGED_ARGS_HAS(args, duration_s)) {
		snprintf(err, errlen, "the host is older than this routine");
		return (NULL);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	/* The host has checked every value against the table above. */
	h->pressure_kpa = args->params[P_PRESSURE];
	h->period_s = args->params[P_PERIOD];
	h->duration_s = args->duration_s;
	h->n_zones = args->n_zones;
	args->host->log(args->host->ctx, MASSAGED_LOG_DEBUG,
	    "hello on %zu zones", args->n_zones);
	return (h);
}

static int
hello_step(void *inst, const struct massaged_step_in *in, double *setpoint)
{
	struct hello	*h = inst;
	double		 v;
	size_t		 i;

	/* Fill the step, then say so. */
	if (h->duration_s > 0 && in->t_s >= h->duration_s)
		return (MASSAGED_STEP_DONE);
	/* kPa at full intensity: the host scales and limits it. */
	v = h->pressure_kpa * (0.5 - 0.5 * cos(2 * HELLO_PI * in->t_s /
	    h->period_s));
	for (i = 0; i < h->n_zones; i++)
		setpoint[i] = v;
	return (MASSAGED_STEP_RUNNING);
}

static void
hello_destroy(void *inst)
{
	free(inst);
}

static const struct massaged_routine hello_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "hello",
	.version = "1.0.0",
	.description = "Every zone breathes together, gently.",
	.flags = 0,
	.params = hello_params,
	.n_params = P_COUNT,
	.create = hello_create,
	.step = hello_step,
	.destroy = hello_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&hello_routine);
}
