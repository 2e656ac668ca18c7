/* loader_params.c: a parameter whose default is outside its range. */
#include <stdlib.h>

#include <massaged/routine.h>

static const struct massaged_param params_params[] = {
	{ "hold_s", MASSAGED_PARAM_REAL, "s", 60, 30, 90, NULL, "Hold." },
	{ "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 50, 0, 40, NULL,
	    "Pressure." },
};

static void *
params_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	return (NULL);
}

static int
params_step(void *inst, const struct massaged_step_in *in, double *out)
{
	return (MASSAGED_STEP_DONE);
}

static void
params_destroy(void *inst)
{
}

static const struct massaged_routine params_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = "loader_params",
	.version = "1.0.0",
	.description = "Test routine: bad parameter table.",
	.params = params_params,
	.n_params = 2,
	.create = params_create,
	.step = params_step,
	.destroy = params_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&params_routine);
}
