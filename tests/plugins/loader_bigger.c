/*
 * loader_bigger.c: built against a newer routine.h whose descriptor has
 * two more fields. With new_field 0 it uses none of them (loads); built
 * with -DLOADER_BIGGER_USED (loader_bigger_used.c) it sets one (refused).
 */
#include <stdlib.h>

#include <massaged/routine.h>

/* The descriptor of a future minor version: v1's, then more. */
struct future_routine {
	struct massaged_routine	 v1;
	uint32_t		 new_flags;
	const void		*new_field;
};

static void *
bigger_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	static int	 one;

	return (&one);
}

static int
bigger_step(void *inst, const struct massaged_step_in *in, double *out)
{
	return (MASSAGED_STEP_DONE);
}

static void
bigger_destroy(void *inst)
{
}

#ifndef LOADER_BIGGER_NAME
#define LOADER_BIGGER_NAME	"loader_bigger"
#define LOADER_BIGGER_FIELD	NULL
#endif

static const struct future_routine bigger_routine = {
	.v1 = {
		.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
		.size = sizeof(struct future_routine),
		.name = LOADER_BIGGER_NAME,
		.version = "1.0.0",
		.description = "Test routine: a descriptor from a newer SDK.",
		.create = bigger_create,
		.step = bigger_step,
		.destroy = bigger_destroy,
	},
	.new_field = LOADER_BIGGER_FIELD,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&bigger_routine.v1);
}
