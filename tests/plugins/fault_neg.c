/* fault_neg.c: asks for a negative pressure on its first zone. */
#define FAULT_NAME		"fault_neg"
#define FAULT_DESCRIPTION	"Test routine: a negative pressure after normal_s seconds."
#define FAULT_EXTRA	{ "value_kpa", MASSAGED_PARAM_REAL, "kPa", -5, -1000, \
			    -0.1, NULL, "The negative pressure it asks for." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	out[0] = f->extra[0];
	return (MASSAGED_STEP_RUNNING);
}
