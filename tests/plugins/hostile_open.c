/* hostile_open.c: step() opens a file (to write, or with read_only to
 * read) and writes to it. */
#define FAULT_NAME		"hostile_open"
#define FAULT_DESCRIPTION	"Test routine: opens a file."
#define FAULT_EXTRA	{ "read_only", MASSAGED_PARAM_BOOL, "", 0, 0, 1, \
			    NULL, "Open /etc/passwd to read instead." }
#include "hostile.h"

#include <fcntl.h>

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	int	 fd;

	hostile_mark(FAULT_NAME);
	if (f->extra[0] != 0)
		fd = open("/etc/passwd", O_RDONLY);
	else
		fd = open("/tmp/massaged-hostile-open", O_WRONLY | O_CREAT |
		    O_TRUNC, 0644);
	if (fd == -1)
		return (MASSAGED_STEP_ERROR);
	(void)!write(fd, "x", 1);
	close(fd);
	return (MASSAGED_STEP_RUNNING);
}
