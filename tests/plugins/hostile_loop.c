/* hostile_loop.c: step() never returns (an infinite loop). */
#define FAULT_NAME		"hostile_loop"
#define FAULT_DESCRIPTION	"Test routine: loops forever."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	volatile unsigned long	 n = 0;

	hostile_mark(FAULT_NAME);
	for (;;)
		n++;
	return (MASSAGED_STEP_RUNNING);
}
