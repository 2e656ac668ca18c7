/* fault_inf.c: returns an infinity for its first zone after normal_s. */
#include <math.h>

#define FAULT_NAME		"fault_inf"
#define FAULT_DESCRIPTION	"Test routine: an infinity after normal_s seconds."
#define FAULT_EXTRA	{ "negative", MASSAGED_PARAM_BOOL, "", 0, 0, 1, NULL, \
			    "-infinity instead of +infinity." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	out[0] = f->extra[0] != 0 ? -INFINITY : INFINITY;
	return (MASSAGED_STEP_RUNNING);
}
