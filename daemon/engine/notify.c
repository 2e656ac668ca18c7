/*
 * notify.c: systemd service notifications for Type=notify units.
 *
 *   READY=1         once every controller has been tried (the API listens
 *                   before the loop runs), and again after each reload
 *   STATUS=...      what a person wants in `systemctl status`: at once on
 *                   a state change, otherwise (the countdown, a link going
 *                   down) at most once a second
 *   WATCHDOG=1      from a timer at half of WATCHDOG_USEC, and only while
 *                   the control loop ticks on time: the last tick is
 *                   recent and no more than a few ticks were missed since
 *                   the last ping. A loop that stalls or keeps missing its
 *                   ticks stops the pings and systemd restarts the daemon.
 *   RELOADING=1     with MONOTONIC_USEC, before a reload
 *   STOPPING=1      on SIGTERM
 *
 * sd_notify() sends on a blocking datagram socket: if the reader stops
 * reading, it blocks. So the loop never calls it: it queues messages for a
 * sender thread, and drops them when the queue is full (a stalled systemd
 * must not stall the control loop; missing WATCHDOG=1 pings then do what
 * they are for).
 *
 * Built without libsystemd, or run without NOTIFY_SOCKET, every call
 * does nothing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "clock.h"
#include "tick.h"
#include "log.h"
#include "notify.h"
#include "status.h"

#ifdef HAVE_SYSTEMD

#define STATUS_MIN_NS		1000000000ull	/* one STATUS= a second */
#define WATCHDOG_LATE_TICKS	5	/* last tick at most this many periods
					   ago */
#define WATCHDOG_MISSED_MIN	2	/* missed ticks tolerated per ping */

struct notify {
	struct tick	*c;
	struct event	*status_ev;	/* every second */
	struct event	*watchdog_ev;
	char		 status[256];	/* the last one sent */
	uint64_t	 status_ns;
	uint64_t	 watchdog_usec;
	uint64_t	 missed_seen;
	uint64_t	 reload_failures;
	int		 reload_refused;
	int		 ready_sent;
	int		 stopping;
	int		 withheld;	/* pings withheld in a row */
};

#define NOTIFY_QUEUE		16
#define NOTIFY_MSG_MAX		320

static struct notify	 notify;

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	pthread_t	 thread;
	int		 started;
	int		 head;
	int		 len;
	uint64_t	 dropped;
	char		 msg[NOTIFY_QUEUE][NOTIFY_MSG_MAX];
} notify_q = { .mtx = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER };

static void *
notify_thread(void *arg)
{
	char	 msg[NOTIFY_MSG_MAX];
	int	 rc;

	for (;;) {
		pthread_mutex_lock(&notify_q.mtx);
		while (notify_q.len == 0)
			pthread_cond_wait(&notify_q.cond, &notify_q.mtx);
		memcpy(msg, notify_q.msg[notify_q.head], sizeof(msg));
		notify_q.head = (notify_q.head + 1) % NOTIFY_QUEUE;
		notify_q.len--;
		pthread_mutex_unlock(&notify_q.mtx);
		if ((rc = sd_notify(0, msg)) < 0)
			log_debug("sd_notify(%s): %s", msg, strerror(-rc));
	}
	return (NULL);
}

/* Queues msg for the sender thread; never blocks. */
static void
notify_send(const char *msg)
{
	int	 dropped = 0;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	pthread_mutex_lock(&notify_q.mtx);
	if (!notify_q.started) {
		pthread_attr_t	 attr;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&notify_q.thread, &attr, notify_thread,
		    NULL) == 0)
			notify_q.started = 1;
		pthread_attr_destroy(&attr);
	}
	if (notify_q.len == NOTIFY_QUEUE) {
		dropped = ++notify_q.dropped == 1;
	} else {
		snprintf(notify_q.msg[(notify_q.head + notify_q.len) %
		    NOTIFY_QUEUE], NOTIFY_MSG_MAX, "%s", msg);
		notify_q.len++;
		pthread_cond_signal(&notify_q.cond);
	}
	pthread_mutex_unlock(&notify_q.mtx);
	if (dropped)
		log_warnx("notify: the service manager does not read its "
		    "socket; notifications are dropped");
}

/* The one line a person reads in `systemctl status`. */
static void
notify_status_text(struct notify *n, char *buf, size_t len)
{
	char	 text[256];

	if (n->stopping)
		snprintf(text, sizeof(text), "stopping: venting every "
		    "controller");
	else
		status_text(n->c, n->reload_refused ? "; last reload refused, "
		    "see the journal" : "", text, sizeof(text));
	/* Which table: several run on one machine. */
	snprintf(buf, len, "%s: %.200s", n->c->cfg->table->name, text);
}

/*
 * Sends STATUS= if it changed: at once for a state change (force), else
 * at most once a second (the countdown, a controller link).
 */
static void
notify_status(struct notify *n, int force)
{
	char		 text[sizeof(n->status)], msg[sizeof(n->status) + 8];
	uint64_t	 now = clock_mono_ns();

	notify_status_text(n, text, sizeof(text));
	if (strcmp(text, n->status) == 0)
		return;
	if (!force && now - n->status_ns < STATUS_MIN_NS)
		return;		/* the next second's timer sends it */
	snprintf(n->status, sizeof(n->status), "%s", text);
	n->status_ns = now;
	snprintf(msg, sizeof(msg), "STATUS=%s", text);
	notify_send(msg);
}

static void
notify_status_timer(evutil_socket_t fd, short what, void *arg)
{
	notify_status(arg, 0);
}

/* The control loop is healthy: it ticked lately and keeps its time. */
static int
notify_loop_ok(struct notify *n, char *why, size_t len)
{
	struct tick	*c = n->c;
	uint64_t	 now = clock_mono_ns(), age, missed, tolerated;

	missed = c->missed_ticks - n->missed_seen;
	n->missed_seen = c->missed_ticks;
	if (c->last_tick_ns == 0) {
		snprintf(why, len, "the control loop has not ticked yet");
		return (0);
	}
	/* Late against the tick the loop scheduled (idle ticks are
	 * further apart than session ticks). */
	age = now - c->last_tick_ns;
	if (now > c->next_ns + (WATCHDOG_LATE_TICKS - 1) * c->period_ns) {
		snprintf(why, len, "the last control tick was %.0f ms ago",
		    age / 1e6);
		return (0);
	}
	/* About 5 % of the ticks between two pings, at least 2. */
	tolerated = n->watchdog_usec * 1000 / 2 / c->period_ns / 20;
	if (tolerated < WATCHDOG_MISSED_MIN)
		tolerated = WATCHDOG_MISSED_MIN;
	if (missed > tolerated) {
		snprintf(why, len, "%llu control ticks were missed since the "
		    "last check", (unsigned long long)missed);
		return (0);
	}
	return (1);
}

static void
notify_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct notify	*n = arg;
	char		 why[128];

	if (n->stopping || n->c->stopping)
		return;
	if (notify_loop_ok(n, why, sizeof(why))) {
		if (n->withheld > 0)
			log_info("watchdog: the control loop keeps its time "
			    "again");
		n->withheld = 0;
		notify_send("WATCHDOG=1");
		return;
	}
	if (n->withheld++ == 0)
		log_warnx("watchdog: not telling systemd the daemon is alive: "
		    "%s", why);
}

static void
notify_ready(void *arg)
{
	struct notify	*n = arg;

	if (n->ready_sent)
		return;
	n->ready_sent = 1;
	notify_status(n, 1);
	notify_send("READY=1");
}

static void
notify_event(void *arg, enum session_event ev)
{
	notify_status(arg, 1);
}

void
notify_start(struct tick *c, struct event_base *base)
{
	struct notify		*n = &notify;
	struct tick_observer	 o = { 0 };
	struct timeval		 tv;
	uint64_t		 usec = 0;
	int			 rc;

	n->c = c;
	n->reload_failures = c->reload_failures;
	n->status_ev = event_new(base, -1, EV_PERSIST, notify_status_timer, n);
	if (n->status_ev == NULL)
		fatalx("notify: event_new failed");
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	evtimer_add(n->status_ev, &tv);

	if ((rc = sd_watchdog_enabled(0, &usec)) < 0)
		log_warnx("watchdog: WATCHDOG_USEC is not valid: %s",
		    strerror(-rc));
	else if (rc > 0 && usec > 0) {
		n->watchdog_usec = usec;
		n->missed_seen = c->missed_ticks;
		n->watchdog_ev = event_new(base, -1, EV_PERSIST,
		    notify_watchdog, n);
		if (n->watchdog_ev == NULL)
			fatalx("notify: event_new failed");
		usec /= 2;
		tv.tv_sec = (long)(usec / 1000000);
		tv.tv_usec = (long)(usec % 1000000);
		evtimer_add(n->watchdog_ev, &tv);
		log_info("watchdog: pinging systemd every %llu ms while the "
		    "control loop keeps its time",
		    (unsigned long long)(usec / 1000));
	}

	o.arg = n;
	o.event = notify_event;
	o.ready = notify_ready;
	tick_observe(c, &o);
	if (c->ready)
		notify_ready(n);
	else
		notify_status(n, 1);
}

void
notify_reloading(void)
{
	char	 msg[64];

	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)(clock_mono_ns() / 1000));
	notify_send(msg);
}

void
notify_reloaded(struct tick *c)
{
	struct notify	*n = &notify;

	if (n->c == NULL)
		return;
	n->reload_refused = c->reload_failures != n->reload_failures;
	n->reload_failures = c->reload_failures;
	notify_status(n, 1);
	notify_send("READY=1");
}

void
notify_stopping(void)
{
	struct notify	*n = &notify;

	n->stopping = 1;
	notify_send("STOPPING=1\nSTATUS=stopping: venting every controller");
	if (n->c == NULL)
		return;
	if (n->status_ev != NULL)
		event_free(n->status_ev);
	if (n->watchdog_ev != NULL)
		event_free(n->watchdog_ev);
	n->status_ev = n->watchdog_ev = NULL;
}

#else	/* !HAVE_SYSTEMD */

void
notify_start(struct tick *c, struct event_base *base)
{
}

void
notify_reloading(void)
{
}

void
notify_reloaded(struct tick *c)
{
}

void
notify_stopping(void)
{
}

#endif
