/* hostile_alloc.c: step() allocates 1 GB and fills it. */
#define FAULT_NAME		"hostile_alloc"
#define FAULT_DESCRIPTION	"Test routine: allocates 1 GB."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	size_t		 len = (size_t)1 << 30;
	volatile char	*p;
	size_t		 i;

	hostile_mark(FAULT_NAME);
	p = malloc(len);
	if (p == NULL)		/* refused: say so, as a routine should */
		return (MASSAGED_STEP_ERROR);
	for (i = 0; i < len; i += 4096)
		p[i] = 1;
	return (MASSAGED_STEP_RUNNING);
}
