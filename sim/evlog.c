/*
 * evlog.c: the simulator's event log.
 *
 * One line per thing that arrives on or leaves the wire, per state change
 * of a controller and per fault injected through the control socket:
 *
 *	<CLOCK_MONOTONIC ns> c=<controller> <kind> [key=value ...]
 *
 * Each line is a single write(2), so a reader tailing the file never sees
 * half a line and nothing waits in a buffer. The clock is the one the
 * daemon uses, so latencies can be measured across the two processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static int	evlog_fd = -1;

int
evlog_open(const char *path)
{
	if (strcmp(path, "-") == 0) {
		evlog_fd = STDOUT_FILENO;
		return (0);
	}
	evlog_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0644);
	if (evlog_fd == -1) {
		log_warn("events: %s", path);
		return (-1);
	}
	return (0);
}

void
evlog_close(void)
{
	if (evlog_fd != -1 && evlog_fd != STDOUT_FILENO)
		close(evlog_fd);
	evlog_fd = -1;
}

void
evlog_emit(const struct sim_ctl *c, uint64_t ns, const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;
	int	 n, m;

	if (evlog_fd == -1 && !log_getverbose())
		return;
	n = snprintf(line, sizeof(line), "%llu c=%d ", (unsigned long long)ns,
	    c != NULL ? c->idx : -1);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	log_debug("event: %.*s", n, line);
	line[n++] = '\n';
	if (evlog_fd != -1) {
		while (write(evlog_fd, line, n) == -1 && errno == EINTR)
			;
	}
}
