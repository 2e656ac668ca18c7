/* hostile_output.c: step() writes NaN (how = nan), 1e12 kPa (huge) into
 * its outputs, or writes 4096 values past their end (past_end). */
#define FAULT_NAME		"hostile_output"
#define FAULT_DESCRIPTION	"Test routine: bad outputs."
#define FAULT_EXTRA	{ "how", MASSAGED_PARAM_CHOICE, "", 0, 0, 2, \
			    "nan|huge|past_end", "What it writes." }
#include "hostile.h"

#include <math.h>

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	size_t	 i, from = 0, to = f->n;
	double	 v = NAN;

	if (f->extra[0] == 1)
		v = 1e12;
	else if (f->extra[0] == 2) {
		from = f->n;
		to = f->n + 4096;
		v = 1e9;
	}
	hostile_mark(FAULT_NAME);
	for (i = from; i < to; i++)
		out[i] = v;
	return (MASSAGED_STEP_RUNNING);
}
