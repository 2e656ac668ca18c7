/*
 * fault_slow.c: after normal_s, every `every`-th step() sleeps 50 ms (far
 * over the daemon's budget of a quarter tick) before it answers; with
 * sleep_ms it sleeps that long instead.
 */
#define _POSIX_C_SOURCE 200809L	/* nanosleep() under -std=c11 */

#include <errno.h>
#include <time.h>

#define FAULT_NAME		"fault_slow"
#define FAULT_DESCRIPTION	"Test routine: step() takes too long after normal_s seconds."
#define FAULT_EXTRA	{ "every", MASSAGED_PARAM_INT, "", 1, 1, 100, NULL, \
			    "After normal_s, every how many step() calls one is slow." }, \
			{ "sleep_ms", MASSAGED_PARAM_REAL, "ms", 50, 1, 5000, NULL, \
			    "How long a slow step() takes." }
#include "fault.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	struct timespec	 ts;
	double		 ms = f->extra[1];

	if (f->calls++ % (unsigned long)f->extra[0] != 0)
		return (MASSAGED_STEP_RUNNING);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	return (MASSAGED_STEP_RUNNING);
}
