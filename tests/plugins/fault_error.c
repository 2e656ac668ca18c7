/* fault_error.c: step() returns an error (or any value) after normal_s. */
#define FAULT_NAME		"fault_error"
#define FAULT_DESCRIPTION	"Test routine: step() fails after normal_s seconds."
#define FAULT_EXTRA	{ "ret", MASSAGED_PARAM_INT, "", -1, -100, 100, NULL, \
			    "What step() returns after normal_s." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	return ((int)f->extra[0]);
}
