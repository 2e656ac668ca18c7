/* hostile_fork.c: step() forks; the child returns from step() too (as
 * the daemon's code), or with child_exits exits at once. */
#define FAULT_NAME		"hostile_fork"
#define FAULT_DESCRIPTION	"Test routine: forks in step()."
#define FAULT_EXTRA	{ "child_exits", MASSAGED_PARAM_BOOL, "", 0, 0, 1, \
			    NULL, "The child exits instead of returning." }
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	hostile_mark(FAULT_NAME);
	if (fork() == 0 && f->extra[0] != 0)
		_exit(0);
	return (MASSAGED_STEP_RUNNING);
}
