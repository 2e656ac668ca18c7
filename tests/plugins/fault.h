/*
 * fault.h: the common part of the fault-injection routines used by
 * tests/integration/test_faults.py. Each routine behaves for normal_s
 * seconds (level_kpa on every zone, so pressure rises), then misbehaves
 * in its own way: a file defines FAULT_NAME, FAULT_DESCRIPTION, one or
 * two extra parameters FAULT_EXTRA (struct massaged_param initialisers,
 * read as f->extra[0] and f->extra[1]) and fault_misbehave(), then
 * includes this file.
 *
 * The daemon must stop the session at once (category 0, routine_error)
 * naming the routine, and nothing above a limit may reach the wire.
 */
#include <stdio.h>
#include <stdlib.h>

#include <massaged/routine.h>

struct fault {
	double		 level_kpa;
	double		 normal_s;
	double		 extra[2];
	unsigned long	 calls;		/* misbehaving calls so far */
	size_t		 n;
};

/* After normal_s: fill out[] (it holds level_kpa) and return a result. */
static int	fault_misbehave(struct fault *, const struct massaged_step_in *,
		    double *);

static const struct massaged_param fault_params[] = {
	{ "level_kpa", MASSAGED_PARAM_REAL, "kPa", 12, 0, 30, NULL,
	    "Pressure asked for on every zone while behaving." },
	{ "normal_s", MASSAGED_PARAM_REAL, "s", 1, 0, 60, NULL,
	    "How long it behaves before the fault." },
	FAULT_EXTRA,
};

static void *
fault_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct fault	*f;

	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones");
		return (NULL);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	f->level_kpa = a->params[0];
	f->normal_s = a->params[1];
	f->extra[0] = a->params[2];
	if (sizeof(fault_params) / sizeof(fault_params[0]) > 3)
		f->extra[1] = a->params[3];
	f->n = a->n_zones;
	return (f);
}

static int
fault_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct fault	*f = inst;
	size_t		 i;

	for (i = 0; i < f->n; i++)
		out[i] = f->level_kpa;
	if (in->t_s < f->normal_s)
		return (MASSAGED_STEP_RUNNING);
	return (fault_misbehave(f, in, out));
}

static void
fault_destroy(void *inst)
{
	free(inst);
}

static const struct massaged_routine fault_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = FAULT_NAME,
	.version = "1.0.0",
	.description = FAULT_DESCRIPTION,
	.params = fault_params,
	.n_params = sizeof(fault_params) / sizeof(fault_params[0]),
	.create = fault_create,
	.step = fault_step,
	.destroy = fault_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&fault_routine);
}
