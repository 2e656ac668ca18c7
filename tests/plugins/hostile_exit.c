/* hostile_exit.c: step() calls exit(0), which a unit with
 * Restart=on-failure would not restart. */
#define FAULT_NAME		"hostile_exit"
#define FAULT_DESCRIPTION	"Test routine: exits with status 0."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	hostile_mark(FAULT_NAME);
	exit(0);
}
