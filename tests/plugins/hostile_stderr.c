/*
 * hostile_stderr.c: writes to stderr (the journal, were it the daemon's)
 * lines that claim a priority of their own ("<0>", "<2>"), carry a
 * terminal escape and a carriage return, and one without its newline,
 * in its constructor and its first step() after normal_s; then
 * behaves. The daemon must
 * pass each on as its own line, named after the routine, at one fixed
 * priority.
 */
#define FAULT_NAME		"hostile_stderr"
#define FAULT_DESCRIPTION	"Test routine: writes lines with priorities to stderr."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

static void
stderr_say(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

__attribute__((constructor)) static void
stderr_ctor(void)
{
	stderr_say("<2>hostile_stderr ctor: critical, it says\n");
}

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	if (f->calls++ == 0) {
		hostile_mark(FAULT_NAME);
		stderr_say("<0>hostile_stderr step: emergency\x1b[2J\r<3>"
		    "again\n<1><7>two prefixes\n");
		stderr_say("no newline at all");
	}
	return (MASSAGED_STEP_RUNNING);
}
