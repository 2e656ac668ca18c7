/* loader_size.c: ABI version 1, but a descriptor one pointer too short. */
#include <stdlib.h>

#include <massaged/routine.h>

static void *
size_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	return (NULL);
}

static int
size_step(void *inst, const struct massaged_step_in *in, double *out)
{
	return (MASSAGED_STEP_DONE);
}

static void
size_destroy(void *inst)
{
}

static const struct massaged_routine size_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine) - sizeof(void *),
	.name = "loader_size",
	.version = "1.0.0",
	.description = "Test routine: wrong size.",
	.create = size_create,
	.step = size_step,
	.destroy = size_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&size_routine);
}
