/* hostile_thread.c: step() starts a thread that outlives it and keeps
 * writing into the outputs. */
#define FAULT_NAME		"hostile_thread"
#define FAULT_DESCRIPTION	"Test routine: leaves a thread running."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <pthread.h>

static void *
hostile_run(void *arg)
{
	volatile double	*out = arg;

	for (;;)
		out[0] = 1e6;
	return (NULL);
}

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	pthread_t	 t;

	hostile_mark(FAULT_NAME);
	if (pthread_create(&t, NULL, hostile_run, out) != 0)
		return (MASSAGED_STEP_ERROR);
	return (MASSAGED_STEP_RUNNING);
}
