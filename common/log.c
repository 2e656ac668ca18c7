/*
 * log.c: one log API for the daemon, the simulator and the client.
 *
 * Lines go to stderr as "<N>progname: message": the "<N>" syslog priority
 * prefix is what journald reads as the priority when the daemon runs under
 * systemd, and the program's name tells the daemon's lines from the
 * simulator's when both write to one terminal. Writes are single write(2)
 * calls of a whole line, so threads do not interleave.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

static const char	*log_progname = "massaged";
static int		 log_verbose;

void
log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
log_vemit(int prio, const char *fmt, va_list ap)
{
	char	 line[2048];
	int	 n, m;

	if (prio == LOG_DEBUG && log_verbose <= 0)
		return;
	if (log_verbose < 0 && prio > LOG_WARNING)
		return;		/* quiet: warnings and errors only */
	n = snprintf(line, sizeof(line), "<%d>%s: ", prio, log_progname);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) == -1)
		return;		/* nowhere left to say so */
}

void
log_emit(int prio, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(prio, fmt, ap);
	va_end(ap);
}

static void
log_verr(int prio, const char *fmt, va_list ap)
{
	char	 buf[1536];
	int	 saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_emit(prio, "%s: %s", buf, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_verr(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_verr(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_event_cb(int severity, const char *msg)
{
	int	 prio;

	switch (severity) {
	case EVENT_LOG_DEBUG:	prio = LOG_DEBUG; break;
	case EVENT_LOG_MSG:	prio = LOG_INFO; break;
	case EVENT_LOG_WARN:	prio = LOG_WARNING; break;
	default:		prio = LOG_ERR; break;
	}
	log_emit(prio, "libevent: %s", msg);
}

void
log_libevent(void)
{
	event_set_log_callback(log_event_cb);
}
