/* hostile_abort.c: step() calls abort(). */
#define FAULT_NAME		"hostile_abort"
#define FAULT_DESCRIPTION	"Test routine: aborts."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	hostile_mark(FAULT_NAME);
	abort();
}
