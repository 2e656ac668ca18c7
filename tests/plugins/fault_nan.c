/* fault_nan.c: returns NaN for its first zone after normal_s. */
#include <math.h>

#define FAULT_NAME		"fault_nan"
#define FAULT_DESCRIPTION	"Test routine: NaN after normal_s seconds."
#define FAULT_EXTRA	{ "zone", MASSAGED_PARAM_INT, "", 0, 0, 31, NULL, \
			    "Which zone gets the NaN." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	out[(size_t)f->extra[0] < f->n ? (size_t)f->extra[0] : 0] = nan("");
	return (MASSAGED_STEP_RUNNING);
}
