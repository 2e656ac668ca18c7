/* fault_huge.c: asks for a huge pressure on every zone after normal_s. */
#define FAULT_NAME		"fault_huge"
#define FAULT_DESCRIPTION	"Test routine: a huge pressure after normal_s seconds."
#define FAULT_EXTRA	{ "value_kpa", MASSAGED_PARAM_REAL, "kPa", 1e6, 0, \
			    1e12, NULL, "The pressure it asks for after normal_s." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	size_t	 i;

	for (i = 0; i < f->n; i++)
		out[i] = f->extra[0];
	return (MASSAGED_STEP_RUNNING);
}
