/* hostile_exec.c: step() runs a shell that would create a file. */
#define FAULT_NAME		"hostile_exec"
#define FAULT_DESCRIPTION	"Test routine: runs a shell."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	hostile_mark(FAULT_NAME);
	execl("/bin/sh", "sh", "-c", "touch /tmp/massaged-hostile-exec",
	    (char *)NULL);
	return (MASSAGED_STEP_ERROR);
}
