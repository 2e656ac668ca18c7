/* hostile_segv.c: step() dereferences a wild pointer (SIGSEGV). */
#define FAULT_NAME		"hostile_segv"
#define FAULT_DESCRIPTION	"Test routine: crashes with SIGSEGV."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	/* Not NULL: a plain fault, not a sanitizer finding. */
	volatile int	*p = (volatile int *)(uintptr_t)(16 + f->extra[0]);

	hostile_mark(FAULT_NAME);
	*p = 1;
	return (MASSAGED_STEP_RUNNING);
}
