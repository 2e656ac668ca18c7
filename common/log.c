/*
 * log.c: one log API for the daemon, the simulator and the client.
 *
 * Lines go to stderr as "<N>progname: message": the "<N>" syslog priority
 * prefix is what journald reads as the priority when the daemon runs under
 * systemd, and the program's name tells the daemon's lines from the
 * simulator's when both write to one terminal.
 *
 * The simulator and the client write each line at once (one write(2) of a
 * whole line, so threads do not interleave). The daemon calls
 * log_async_start(): from then on a line is copied into a bounded queue
 * and a writer thread does the write(2), so a slow or stalled log reader
 * (journald, a pipe nobody reads) never blocks the control loop. When the
 * queue is full the line is dropped and counted (log_dropped_total(), and
 * one line saying how many once the queue drains), and a message that
 * repeats (a flood of 401s, accept errors) is logged LOG_RL_BURST times
 * per LOG_RL_WINDOW_S, then summed up as "N similar messages suppressed".
 * fatal() and log_async_stop() wait a bounded time for the queue to drain.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"

#define LOG_LINE_MAX		2048
#define LOG_QUEUE_BYTES		(256 * 1024)
#define LOG_FLUSH_MS		2000	/* fatal() and shutdown wait no longer */
#define LOG_RL_SLOTS		64
#define LOG_RL_BURST		10
#define LOG_RL_WINDOW_S		10

/* A message format being rate-limited. */
struct log_rl {
	uintptr_t	 key;		/* the format's address, or 0: free */
	int		 prio;
	int64_t		 start_ms;	/* of the current window */
	unsigned	 n;		/* lines in the window */
	unsigned	 suppressed;
	char		 sample[160];	/* the first one suppressed */
};

static const char	*log_progname = "massaged";
static int		 log_verbose;

static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 log_more;	/* to the writer: lines queued */
static pthread_cond_t	 log_drained;	/* from the writer: queue empty */
static pthread_t	 log_thread;
static int		 log_async;	/* the writer thread runs */
static int		 log_quit;
static int		 log_atfork_set;
static int		 log_writing;	/* the writer holds lines not written */
static char		*log_queue;	/* a ring of whole lines */
static size_t		 log_head, log_len;
static uint64_t		 log_dropped;	/* lines dropped, ever */
static uint64_t		 log_dropped_told;	/* ... of which reported */
static struct log_rl	 log_rl[LOG_RL_SLOTS];

static int64_t
log_now_ms(void)
{
	return ((int64_t)(clock_mono_ns() / 1000000));
}

/* Writes all of buf to stderr, waiting if it is non-blocking; 0 or -1. */
static int
log_write_all(const char *buf, size_t len)
{
	struct pollfd	 pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
	ssize_t		 n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			(void)poll(&pfd, 1, 1000);
			continue;
		}
		if (n <= 0)
			return (-1);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Formats "<prio>progname: text\n" into line; its length. */
static size_t
log_format(char *line, size_t size, int prio, const char *fmt, va_list ap)
{
	int	 n, m;

	n = snprintf(line, size, "<%d>%s: ", prio, log_progname);
	if (n < 0 || (size_t)n >= size - 2)
		n = 0;
	m = vsnprintf(line + n, size - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)size - 2)
		n = (int)size - 2;
	line[n++] = '\n';
	return ((size_t)n);
}

/* Queues one line (log_mtx held); 0, or -1 when the queue is full. */
static int
log_put(const char *line, size_t len)
{
	size_t	 tail, first;

	if (len > LOG_QUEUE_BYTES - log_len)
		return (-1);
	tail = (log_head + log_len) % LOG_QUEUE_BYTES;
	first = LOG_QUEUE_BYTES - tail;
	if (first > len)
		first = len;
	memcpy(log_queue + tail, line, first);
	memcpy(log_queue, line + first, len - first);
	log_len += len;
	pthread_cond_signal(&log_more);
	return (0);
}

/* Queues a line we made ourselves (log_mtx held). */
static void
log_put_own(int prio, const char *fmt, ...) LOG_PRINTF(2, 3);

static void
log_put_own(int prio, const char *fmt, ...)
{
	char	 line[LOG_LINE_MAX];
	size_t	 len;
	va_list	 ap;

	va_start(ap, fmt);
	len = log_format(line, sizeof(line), prio, fmt, ap);
	va_end(ap);
	if (log_put(line, len) == -1)
		log_dropped++;
}

/* The summary of a window with suppressed lines (log_mtx held). */
static void
log_rl_tell(struct log_rl *r)
{
	if (r->suppressed > 0)
		log_put_own(r->prio, "%u similar message%s suppressed in %d s, "
		    "the first: %s", r->suppressed, r->suppressed == 1 ? "" :
		    "s", LOG_RL_WINDOW_S, r->sample);
	r->suppressed = 0;
}

/*
 * Whether a line of this kind may go out now (log_mtx held); counts it as
 * suppressed otherwise. The key is the caller's format's address: every
 * 401 is one format, whatever its peer.
 */
static int
log_rl_pass(int prio, uintptr_t key, const char *text, int64_t now)
{
	struct log_rl	*r = NULL, *s, *old = NULL;
	const char	*p;
	size_t		 h = (key >> 3) % LOG_RL_SLOTS, i;

	for (i = 0; i < 8; i++) {
		s = &log_rl[(h + i) % LOG_RL_SLOTS];
		if (s->key == key || s->key == 0) {
			r = s;
			break;
		}
		if (old == NULL || s->start_ms < old->start_ms)
			old = s;
	}
	if (r == NULL) {		/* every slot near: reuse the oldest */
		r = old;
		log_rl_tell(r);
		r->key = 0;
	}
	if (r->key == 0 || now - r->start_ms >= LOG_RL_WINDOW_S * 1000) {
		log_rl_tell(r);
		r->key = key;
		r->prio = prio;
		r->start_ms = now;
		r->n = 0;
	}
	if (++r->n <= LOG_RL_BURST)
		return (1);
	if (r->suppressed++ == 0) {
		/* the text without "<N>progname: " and the newline */
		p = strstr(text, ": ");
		p = p != NULL ? p + 2 : text;
		snprintf(r->sample, sizeof(r->sample), "%.*s",
		    (int)strcspn(p, "\n"), p);
	}
	return (0);
}

/* Windows that ended with suppressed lines get their summary (held). */
static void
log_rl_expire(int64_t now)
{
	size_t	 i;

	for (i = 0; i < LOG_RL_SLOTS; i++)
		if (log_rl[i].key != 0 &&
		    now - log_rl[i].start_ms >= LOG_RL_WINDOW_S * 1000) {
			log_rl_tell(&log_rl[i]);
			log_rl[i].key = 0;
		}
}

static void *
log_writer(void *arg)
{
	static char	 buf[LOG_QUEUE_BYTES];
	struct timespec	 ts;
	size_t		 len, first;

	(void)arg;
	pthread_mutex_lock(&log_mtx);
	for (;;) {
		log_rl_expire(log_now_ms());
		if (log_len == 0 && log_dropped > log_dropped_told &&
		    LOG_QUEUE_BYTES - log_len >= LOG_LINE_MAX) {
			uint64_t d = log_dropped - log_dropped_told;

			log_dropped_told = log_dropped;
			log_put_own(LOG_WARNING, "%llu log line%s dropped: the "
			    "log reader did not keep up",
			    (unsigned long long)d, d == 1 ? "" : "s");
		}
		if (log_len == 0) {
			pthread_cond_broadcast(&log_drained);
			if (log_quit)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&log_more, &log_mtx, &ts);
			continue;
		}
		len = log_len;
		first = LOG_QUEUE_BYTES - log_head;
		if (first > len)
			first = len;
		memcpy(buf, log_queue + log_head, first);
		memcpy(buf + first, log_queue, len - first);
		log_head = (log_head + len) % LOG_QUEUE_BYTES;
		log_len = 0;
		log_writing = 1;
		pthread_mutex_unlock(&log_mtx);
		(void)log_write_all(buf, len);	/* nowhere to report */
		pthread_mutex_lock(&log_mtx);
		log_writing = 0;
	}
	pthread_mutex_unlock(&log_mtx);
	return (NULL);
}

void
log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

/* A child of fork() has no writer thread: it writes at once. */
static void
log_atfork_prepare(void)
{
	pthread_mutex_lock(&log_mtx);
}

static void
log_atfork_parent(void)
{
	pthread_mutex_unlock(&log_mtx);
}

static void
log_atfork_child(void)
{
	log_async = 0;
	pthread_mutex_unlock(&log_mtx);
}

int
log_async_start(void)
{
	pthread_condattr_t	 ca;

	if (log_async)
		return (0);
	if ((log_queue = malloc(LOG_QUEUE_BYTES)) == NULL)
		return (-1);
	pthread_condattr_init(&ca);
	pthread_cond_init(&log_more, &ca);
	pthread_cond_init(&log_drained, &ca);
	pthread_condattr_destroy(&ca);
	log_quit = 0;
	if (pthread_create(&log_thread, NULL, log_writer, NULL) != 0) {
		free(log_queue);
		log_queue = NULL;
		return (-1);
	}
	pthread_mutex_lock(&log_mtx);
	log_async = 1;
	pthread_mutex_unlock(&log_mtx);
	if (!log_atfork_set && pthread_atfork(log_atfork_prepare,
	    log_atfork_parent, log_atfork_child) == 0)
		log_atfork_set = 1;
	return (0);
}

/* Waits until the writer wrote everything, at most ms; 0 if it did. */
static int
log_wait_drained(int ms)
{
	struct timespec	 ts;
	int		 rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&log_mtx);
	log_rl_expire(INT64_MAX / 2);
	pthread_cond_signal(&log_more);
	while ((log_len > 0 || log_writing) && rc == 0)
		rc = pthread_cond_timedwait(&log_drained, &log_mtx, &ts);
	rc = log_len > 0 || log_writing;
	pthread_mutex_unlock(&log_mtx);
	return (rc ? -1 : 0);
}

int
log_flush(void)
{
	if (!log_async)
		return (0);
	return (log_wait_drained(LOG_FLUSH_MS));
}

void
log_async_stop(void)
{
	if (!log_async)
		return;
	if (log_wait_drained(LOG_FLUSH_MS) == -1)
		return;		/* the reader is stuck: leave the writer be */
	pthread_mutex_lock(&log_mtx);
	log_quit = 1;
	pthread_cond_signal(&log_more);
	pthread_mutex_unlock(&log_mtx);
	pthread_join(log_thread, NULL);
	log_async = 0;
	free(log_queue);
	log_queue = NULL;
}

uint64_t
log_dropped_total(void)
{
	uint64_t	 n;

	pthread_mutex_lock(&log_mtx);
	n = log_dropped;
	pthread_mutex_unlock(&log_mtx);
	return (n);
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

/* Logs one line; key says which lines are "similar" for the rate limit. */
static void
log_vemit_key(int prio, uintptr_t key, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	size_t	 len;
	int	 pass;

	if (prio == LOG_DEBUG && log_verbose <= 0)
		return;
	if (log_verbose < 0 && prio > LOG_WARNING)
		return;		/* quiet: warnings and errors only */
	len = log_format(line, sizeof(line), prio, fmt, ap);
	if (!log_async) {
		(void)log_write_all(line, len);	/* nowhere to report */
		return;
	}
	pthread_mutex_lock(&log_mtx);
	/* Debug is asked for; critical lines are rare and must be seen. */
	pass = prio == LOG_DEBUG || prio <= LOG_CRIT ||
	    log_rl_pass(prio, key, line, log_now_ms());
	if (pass && log_put(line, len) == -1)
		log_dropped++;
	pthread_mutex_unlock(&log_mtx);
}

static void
log_emit_key(int prio, uintptr_t key, const char *fmt, ...) LOG_PRINTF(3, 4);

static void
log_emit_key(int prio, uintptr_t key, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit_key(prio, key, fmt, ap);
	va_end(ap);
}

void
log_vemit(int prio, const char *fmt, va_list ap)
{
	log_vemit_key(prio, (uintptr_t)fmt, fmt, ap);
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
	log_emit_key(prio, (uintptr_t)fmt, "%s: %s", buf, strerror(saved));
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
	(void)log_flush();
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, fmt, ap);
	va_end(ap);
	(void)log_flush();
	exit(1);
}

static void
log_event_cb(int severity, const char *msg)
{
	uintptr_t	 key = 5381;
	const char	*p;
	int		 prio;

	/* libevent's text is all we have to tell its messages apart */
	for (p = msg; *p != '\0'; p++)
		key = key * 33 + (unsigned char)*p;
	switch (severity) {
	case EVENT_LOG_DEBUG:	prio = LOG_DEBUG; break;
	case EVENT_LOG_MSG:	prio = LOG_INFO; break;
	case EVENT_LOG_WARN:	prio = LOG_WARNING; break;
	default:		prio = LOG_ERR; break;
	}
	log_emit_key(prio, key | 1, "libevent: %s", msg);
}

void
log_libevent(void)
{
	event_set_log_callback(log_event_cb);
}
