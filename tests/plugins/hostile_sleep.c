/* hostile_sleep.c: step() sleeps for 10 s. */
#define FAULT_NAME		"hostile_sleep"
#define FAULT_DESCRIPTION	"Test routine: sleeps in step()."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	struct timespec	 ts = { 10, 0 };

	hostile_mark(FAULT_NAME);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	return (MASSAGED_STEP_RUNNING);
}
