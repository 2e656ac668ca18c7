/*
 * bus.c: one I/O thread per wire (its Modbus transactions: bus-wire.c);
 * what the controllers' registers mean is their backend's (ctl.h), chosen
 * per controller at bus_start().
 *
 * A wire is a serial device or a TCP host:port; the controllers on it
 * (different unit ids) share its modbus_t and take their turns, one
 * transaction at a time. The loop and a link thread share one small
 * mailbox per controller under the link's mutex: the loop posts requests
 * and vents, the thread posts readings and wakes the loop with
 * event_active(). No lock is held across Modbus I/O.
 *
 * libmodbus pitfalls handled here: error recovery modes stay off (their
 * link recovery can block without bound); timeouts are set before every
 * controller's turn; after any failed transaction the link is flushed so a
 * late reply cannot be taken for the next one; reconnects are ours, with
 * backoff from 100 ms doubling to 5 s, and repeat the connect-time checks.
 *
 * What a controller says of itself is not trusted once: its backend's
 * read-backs run in a cycle begun every VERIFY_MS (one step a tick) and all
 * at once at every enable; a controller that changed (reset, power cycle,
 * another master) is declared lost with the reason, which stops a session,
 * and goes through a fresh connect sequence.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <modbus.h>

#include "bus.h"
#include "bus-private.h"
#include "bus-wire.h"
#include "clock.h"
#include "log.h"

const double bus_rtt_bounds_s[RTT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, INFINITY
};

/* The transport settings of the wire, from its first controller. */
static const struct ctl_conf *
bus_link_conf(const struct bus_link *l)
{
	return (&l->ctls[0]->conf);
}

void
bus_link_close(struct bus_link *l)
{
	int	 i;

	if (l->w.mb != NULL) {
		modbus_close(l->w.mb);
		modbus_free(l->w.mb);
		l->w.mb = NULL;
	}
	for (i = 0; i < l->n; i++)
		bus_mark_down(l->ctls[i]);
}

/* Every controller of the wire gets the same error; the wire is closed. */
static int
bus_link_error(struct bus_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bus_link_error(struct bus_link *l, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[sizeof(l->ctls[0]->rd.error)];
	int	 i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = 0; i < l->n; i++)
		bus_set_error(l->ctls[i], "%s", msg);
	bus_link_close(l);
	return (-1);
}

/* Opens the wire: the TCP connection or the serial device, locked. */
static int
bus_link_open(struct bus_link *l)
{
	const struct ctl_conf	*c = bus_link_conf(l);
	char			 why[sizeof(l->ctls[0]->rd.error)];

	bus_link_close(l);
	l->w.rtu = c->transport == TRANSPORT_RTU;
	if ((l->w.mb = bus_wire_open(c, why, sizeof(why))) == NULL)
		return (bus_link_error(l, "%s", why));
	return (0);
}

/*
 * The endpoint lock of c (bus_wire_lock()); -1 refused. A lock file that
 * cannot be made leaves c unguarded, the reason kept for its backend
 * (bus_io_unguarded(): a controller without an owner claim is refused)
 * and tried again at the next connect.
 */
/* The locks of a described controller's other devices on its wire (its
 * sensors, its interlock relay: units of their own); -1 refused. */
static int
bus_lock_parts(struct bus_ctl *c, char *why, size_t len)
{
	const struct ctl_part	*pt;
	int			 r;

	for (r = CTL_PART_SENSORS; r < CTL_PARTS; r++) {
		pt = &c->conf.parts[r];
		if (c->conf.kind != CTL_KIND_DEVICE || pt->path[0] == '\0' ||
		    c->partfd[r] >= 0 || pt->unit_id == c->conf.unit_id)
			continue;
		if (bus_wire_lock(&c->conf, pt->unit_id, c->link->bus->run_dir,
		    &c->partfd[r], why, len) == -1)
			return (-1);
	}
	return (0);
}

static int
bus_lock_endpoint(struct bus_ctl *c)
{
	char	 why[sizeof(c->rd.error)];
	int	 rc;

	if (c->lockfd >= 0)
		return (0);
	if (c->link->bus->run_dir[0] == '\0') {
		snprintf(c->unguarded, sizeof(c->unguarded),
		    "run_dir is empty");
		return (0);
	}
	rc = bus_lock_parts(c, why, sizeof(why)) == -1 ? -1 :
	    bus_wire_lock(&c->conf, c->conf.unit_id, c->link->bus->run_dir,
	    &c->lockfd, why, sizeof(why));
	if (rc == -1)
		bus_set_error(c, "%s", why);
	else if (rc == 1 && strcmp(why, c->unguarded) != 0)
		log_warnx("controller %s: no endpoint lock: %s", c->conf.name,
		    why);
	snprintf(c->unguarded, sizeof(c->unguarded), "%s", rc == 1 ? why :
	    "");
	return (rc == -1 ? -1 : 0);
}

/*
 * The connect sequence of one controller on an open wire: the endpoint
 * lock, then its backend's checks. 0, or -1 with the reason in the reading.
 */
static int
bus_ctl_connect(struct bus_ctl *c)
{
	struct ctl_conf	*cc = &c->conf;
	struct bus_link	*l = c->link;

	c->wire_err = 0;
	if (bus_lock_endpoint(c) == -1)
		return (-1);
	bus_io_unit(c, cc->unit_id);
	if (bus_wire_timeouts(l->w.mb, cc) == -1) {
		bus_set_error(c, "cannot set the timeouts (%d ms): %s",
		    cc->response_timeout_ms, modbus_strerror(errno));
		return (-1);
	}
	if (c->be->connect(c, c->st, &c->scratch) == -1)
		return (-1);
	c->backoff = 0;
	l->backoff = 0;		/* the wire works: back-off starts again */
	pthread_mutex_lock(&c->link->mtx);
	c->rd.ctl = c->scratch;
	c->rd.failures = 0;
	c->rd.connects++;
	snprintf(c->rd.error, sizeof(c->rd.error), "proving its safe state");
	pthread_mutex_unlock(&c->link->mtx);
	/* Driven only once proven (bus-prove.c). */
	bus_prove_begin(c);
	return (0);
}

/*
 * The verification: all of it at an enable, before the controller is
 * trusted with pressure; otherwise one step a tick, a cycle every
 * VERIFY_MS, so it never costs a tick more than one transaction.
 */
static void
bus_verify(struct bus_ctl *c, int enable)
{
	uint64_t	 now = clock_mono_ns();
	int		 step;

	if (enable) {
		c->verify_ns = now;
		for (step = 1; c->be->verify(c, c->st, step) == 1; step++)
			continue;
		c->verify_step = 0;
		return;
	}
	if (c->verify_step == 0) {
		if (now - c->verify_ns < (uint64_t)VERIFY_MS * MS)
			return;
		c->verify_ns = now;
		c->verify_step = 1;
	}
	step = c->verify_step;
	c->verify_step = c->be->verify(c, c->st, step) == 1 ? step + 1 : 0;
}

/* Whether the wire vents with one broadcast first: a shared RS-485 line
 * whose controllers are all of a kind that has one. */
static int
bus_broadcasts(struct bus_link *l)
{
	int	 i;

	if (l->w.mb == NULL || l->n < 2 ||
	    bus_link_conf(l)->transport != TRANSPORT_RTU ||
	    l->ctls[0]->be->vent_broadcast == NULL)
		return (0);
	for (i = 1; i < l->n; i++)
		if (l->ctls[i]->be != l->ctls[0]->be)
			return (0);
	return (1);
}

/*
 * Vent: on a shared RS-485 line one broadcast first (every controller
 * obeys, none answers), then each controller's vent, to the live
 * controllers before the lost ones, so a dead unit costs the others
 * nothing. Only controllers we own are vented (the backend knows): one
 * claimed by another master is not ours to stop.
 */
static void
bus_do_vent(struct bus_link *l, const int *vent)
{
	struct bus_ctl	*c;
	int		 pass, i, ok, sent = 0;

	if (bus_broadcasts(l))
		sent = l->ctls[0]->be->vent_broadcast(l->ctls[0]) > 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < l->n; i++) {
			c = l->ctls[i];
			if (!vent[i] || c->up != !pass)
				continue;
			ok = 0;
			if (l->w.mb != NULL) {
				bus_io_unit(c, c->conf.unit_id);
				bus_wire_timeouts(l->w.mb, &c->conf);
				ok = c->be->vent(c, c->st) == 0;
				if (ok)
					c->enabled = 0;
				bus_prove_vented(c);
			}
			pthread_mutex_lock(&l->mtx);
			c->rd.vent_pending = 0;
			if (ok)
				c->rd.vents_acked++;
			else
				c->rd.vents_failed++;
			pthread_mutex_unlock(&l->mtx);
			bus_notify(c);
		}
	}
	if (sent)
		log_debug("link %d: vent broadcast on %s", l->idx,
		    bus_link_conf(l)->device);
}

/* The reading's stop facts as bits: estop, client stop, fault. */
static int
bus_stopbits(const struct ctl_reading *rd)
{
	return ((rd->estop ? 1 : 0) | (rd->client_stop ? 2 : 0) |
	    (rd->fault ? 4 : 0));
}

/*
 * One controller's turn: the backend writes this tick's intent and reads
 * the controller (one transaction each: their round trips are timed
 * apart); then the verification when due.
 */
static void
bus_do_tick(struct bus_ctl *c, const struct ctl_intent *req)
{
	struct bus_link	*l = c->link;
	uint64_t	 t0, t1;
	int		 stop, enable = req->enable && !c->enabled;

	bus_io_unit(c, c->conf.unit_id);
	bus_wire_timeouts(l->w.mb, &c->conf);
	c->xacts = 0;
	t0 = clock_mono_ns();
	if ((req->fault_reset && c->be->fault_reset != NULL &&
	    c->be->fault_reset(c, c->st) == -1) ||
	    c->be->tick_write(c, c->st, req, &c->scratch) == -1) {
		pthread_mutex_lock(&l->mtx);
		c->rd.ctl = c->scratch;		/* who owns it, if refused */
		pthread_mutex_unlock(&l->mtx);
		bus_notify(c);
		return;
	}
	c->enabled = req->enable;
	t1 = clock_mono_ns();
	if (c->be->tick_read(c, c->st, &c->scratch) == -1) {
		bus_notify(c);
		return;
	}
	pthread_mutex_lock(&l->mtx);
	c->rd.transactions += c->xacts;	/* the backend's: 2 for the map */
	bus_rtt(&c->rd, (t1 - t0) / 1e9);
	bus_rtt(&c->rd, (clock_mono_ns() - t1) / 1e9);
	c->rd.failures = 0;
	c->rd.seq++;
	c->rd.t_ns = clock_mono_ns();
	c->rd.ctl = c->scratch;
	pthread_mutex_unlock(&l->mtx);
	/*
	 * A stop newly seen (e-stop circuit, client stop switch, fault)
	 * vents every link from here, without a trip through the loop: the
	 * loop still runs the session's category 0 stop when told below.
	 */
	stop = bus_stopbits(&c->scratch);
	if ((stop & ~c->stopbits) != 0 && req->enable)
		bus_vent_all(c->link->bus);
	c->stopbits = stop;
	if (c->be->verify(c, c->st, 0) == 0)
		bus_verify(c, enable);
	bus_notify(c);
}

static void
bus_deadline(struct timespec *ts, uint64_t mono_ns)
{
	ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
	ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

/* Under l->mtx: whether a vent waits on any controller of the wire. */
static int
bus_vent_waiting(struct bus_link *l)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		if (l->ctls[i]->vent)
			return (1);
	return (0);
}

/* Under l->mtx: when the thread next has work with nothing posted. */
static uint64_t
bus_due(struct bus_link *l)
{
	uint64_t	 due = UINT64_MAX;
	int		 i;

	if (l->w.mb == NULL)
		return (l->retry_ns);
	for (i = 0; i < l->n; i++) {
		if (l->ctls[i]->proving) {
			if (l->ctls[i]->proof_next_ns < due)
				due = l->ctls[i]->proof_next_ns;
		} else if (!l->ctls[i]->up && l->ctls[i]->retry_ns < due)
			due = l->ctls[i]->retry_ns;
	}
	return (due);
}

/*
 * The turn of a controller that is not driven: its proof's next call
 * when due, or its connect sequence when its back-off has passed.
 */
static void
bus_turn_down(struct bus_ctl *c)
{
	struct bus_link	*l = c->link;

	if (c->proving) {
		if (clock_mono_ns() < c->proof_next_ns)
			return;
		bus_io_unit(c, c->conf.unit_id);
		bus_wire_timeouts(l->w.mb, &c->conf);
		bus_prove_turn(c);
		bus_notify(c);
		return;
	}
	if (clock_mono_ns() < c->retry_ns)
		return;
	if (bus_ctl_connect(c) == -1 && (l->n == 1 || c->wire_err)) {
		/* A wire of its own, or a broken one: a fresh connection
		 * next time. */
		bus_link_close(l);
		bus_backoff(&l->backoff, &l->retry_ns);
		c->retry_ns = 0;
	} else if (!c->up && !c->proving)
		bus_backoff(&c->backoff, &c->retry_ns);
	bus_notify(c);
}

static void *
bus_thread(void *arg)
{
	struct bus_link	*l = arg;
	struct bus_ctl	*c;
	struct ctl_intent req;
	struct timespec	 ts;
	uint64_t	 due;
	int		 vent[TABLE_MAX_CONTROLLERS], i, any, have;

	for (;;) {
		pthread_mutex_lock(&l->mtx);
		for (;;) {
			if (l->quit || bus_vent_waiting(l))
				break;
			any = 0;
			for (i = 0; i < l->n; i++)
				any |= l->ctls[i]->up && l->ctls[i]->have_req;
			if (any && l->w.mb != NULL)
				break;
			if ((due = bus_due(l)) <= clock_mono_ns())
				break;
			if (due == UINT64_MAX)
				pthread_cond_wait(&l->cond, &l->mtx);
			else {
				bus_deadline(&ts, due);
				pthread_cond_timedwait(&l->cond, &l->mtx, &ts);
			}
		}
		if (l->quit && !bus_vent_waiting(l)) {
			pthread_mutex_unlock(&l->mtx);
			break;
		}
		any = 0;
		for (i = 0; i < l->n; i++) {
			vent[i] = l->ctls[i]->vent;
			l->ctls[i]->vent = 0;
			any |= vent[i];
		}
		pthread_mutex_unlock(&l->mtx);

		if (any) {
			bus_do_vent(l, vent);
			continue;
		}
		if (l->w.mb == NULL) {
			if (clock_mono_ns() < l->retry_ns)
				continue;
			/* Not even a connection for endpoints another
			 * daemon on this machine drives. */
			for (any = 0, i = 0; i < l->n; i++)
				any |= bus_lock_endpoint(l->ctls[i]) == 0;
			if (!any || bus_link_open(l) == -1) {
				bus_backoff(&l->backoff, &l->retry_ns);
				for (i = 0; i < l->n; i++)
					bus_notify(l->ctls[i]);
				continue;
			}
			for (i = 0; i < l->n; i++)
				l->ctls[i]->retry_ns = 0;
		}
		/* Each controller's turn; a vent cuts in between turns. */
		for (i = 0; i < l->n && l->w.mb != NULL; i++) {
			c = l->ctls[i];
			pthread_mutex_lock(&l->mtx);
			if (bus_vent_waiting(l) || l->quit) {
				pthread_mutex_unlock(&l->mtx);
				break;
			}
			have = c->up && c->have_req;
			if (have) {
				req = c->req;
				c->have_req = 0;
			}
			pthread_mutex_unlock(&l->mtx);
			if (c->proving || !c->up)
				bus_turn_down(c);
			else if (have)
				bus_do_tick(c, &req);
		}
	}
	bus_link_close(l);
	return (NULL);
}

/* Loop side: a controller has news. */
static void
bus_event(evutil_socket_t fd, short what, void *arg)
{
	struct bus_ctl	*c = arg;

	c->link->bus->cb(c->link->bus, c->idx, c->link->bus->arg);
}

/* A stable owner id for this table: FNV-1a of host name, table name and
 * listen address, folded to 16 bits, never 0. */
static unsigned
bus_owner_derive(const struct table *t)
{
	char		 host[256], buf[512];
	uint32_t	 h = 2166136261u;
	const char	*p;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, sizeof(buf), "%s|%s|%s:%d", host, t->name,
	    t->listen_host, t->listen_port);
	for (p = buf; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	h = (h >> 16) ^ (h & 0xffff);
	return (h == 0 ? 1 : h);
}

struct bus *
bus_start(struct event_base *base, const struct table *t, bus_cb cb,
    void *arg)
{
	struct bus		*b;
	struct bus_link		*l;
	struct bus_ctl		*c;
	struct ctl_setup	 set;
	pthread_condattr_t	 ca;
	int			 i, j;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		fatal("calloc");
	b->base = base;
	b->cb = cb;
	b->arg = arg;
	b->n = t->nctls;
	b->owner = t->owner_id != 0 ? (unsigned)t->owner_id :
	    bus_owner_derive(t);
	snprintf(b->run_dir, sizeof(b->run_dir), "%s", t->run_dir);
	if ((b->ctls = calloc(b->n, sizeof(*b->ctls))) == NULL ||
	    (b->links = calloc(b->n, sizeof(*b->links))) == NULL)
		fatal("calloc");
	for (i = 0; i < b->n; i++) {
		c = &b->ctls[i];
		c->idx = i;
		c->conf = t->ctls[i];
		if ((c->be = ctl_backend_find(c->conf.kind == CTL_KIND_DEVICE ?
		    "device" : "regmap")) == NULL)
			fatalx("controller %s: no backend", c->conf.name);
		set.conf = &c->conf;
		set.need_channels = table_ctl_channels(t, i);
		set.owner = b->owner;
		c->st = c->be->create(&set);
		c->lockfd = -1;
		for (j = 0; j < CTL_PARTS; j++)
			c->partfd[j] = -1;
		snprintf(c->rd.error, sizeof(c->rd.error), "not connected yet");
		if ((c->ev = event_new(base, -1, 0, bus_event, c)) == NULL)
			fatalx("event_new failed");
		for (j = 0; j < b->nlinks; j++)
			if (table_same_wire(&b->links[j].ctls[0]->conf, &c->conf))
				break;
		l = &b->links[j];
		if (j == b->nlinks) {
			b->nlinks++;
			l->bus = b;
			l->idx = j;
			pthread_mutex_init(&l->mtx, NULL);
			/* CLOCK_MONOTONIC for the retry deadlines. */
			pthread_condattr_init(&ca);
			pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
			pthread_cond_init(&l->cond, &ca);
			pthread_condattr_destroy(&ca);
		}
		l->ctls[l->n++] = c;
		c->link = l;
	}
	log_info("bus: %d controllers on %d links, owner id %u", b->n,
	    b->nlinks, b->owner);
	for (i = 0; i < b->nlinks; i++) {
		if (pthread_create(&b->links[i].thread, NULL, bus_thread,
		    &b->links[i]) != 0)
			fatal("pthread_create");
		b->links[i].started = 1;
	}
	return (b);
}

void
bus_submit(struct bus *b, int ctl, const struct ctl_intent *in)
{
	struct bus_ctl	*c = &b->ctls[ctl];

	pthread_mutex_lock(&c->link->mtx);
	c->req = *in;
	if (c->req.nchannels > CHANNELS_MAX)
		c->req.nchannels = CHANNELS_MAX;
	c->have_req = 1;
	pthread_cond_signal(&c->link->cond);
	pthread_mutex_unlock(&c->link->mtx);
}

void
bus_vent_all(struct bus *b)
{
	struct bus_link	*l;
	int		 i, j;

	/* Signal every link first; none waits for another. */
	for (i = 0; i < b->nlinks; i++) {
		l = &b->links[i];
		pthread_mutex_lock(&l->mtx);
		for (j = 0; j < l->n; j++) {
			l->ctls[j]->vent = 1;
			l->ctls[j]->have_req = 0;
			l->ctls[j]->rd.vent_pending = 1;
		}
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mtx);
	}
}

int
bus_venting(struct bus *b)
{
	int	 i, v = 0;

	for (i = 0; i < b->n; i++) {
		pthread_mutex_lock(&b->ctls[i].link->mtx);
		v |= b->ctls[i].rd.vent_pending;
		pthread_mutex_unlock(&b->ctls[i].link->mtx);
	}
	return (v);
}

void
bus_get(struct bus *b, int ctl, struct bus_reading *out)
{
	struct bus_ctl	*c = &b->ctls[ctl];

	pthread_mutex_lock(&c->link->mtx);
	*out = c->rd;
	pthread_mutex_unlock(&c->link->mtx);
}

int
bus_proving(struct bus *b, int ctl)
{
	struct bus_ctl	*c = &b->ctls[ctl];
	int		 p;

	pthread_mutex_lock(&c->link->mtx);
	p = c->rd.proof.state == CTL_PROOF_RUNNING;
	pthread_mutex_unlock(&c->link->mtx);
	return (p);
}

uint64_t
bus_downs(struct bus *b, int ctl)
{
	struct bus_ctl	*c = &b->ctls[ctl];
	uint64_t	 n;

	pthread_mutex_lock(&c->link->mtx);
	n = c->rd.downs;
	pthread_mutex_unlock(&c->link->mtx);
	return (n);
}

const struct ctl_backend *
bus_backend(struct bus *b, int ctl)
{
	return (b->ctls[ctl].be);
}

void
bus_stop(struct bus *b)
{
	struct bus_link	*l;
	int		 i, j;

	if (b == NULL)
		return;
	for (i = 0; i < b->nlinks; i++) {
		l = &b->links[i];
		pthread_mutex_lock(&l->mtx);
		l->quit = 1;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mtx);
	}
	for (i = 0; i < b->nlinks; i++) {
		l = &b->links[i];
		if (l->started)
			pthread_join(l->thread, NULL);
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->mtx);
	}
	for (i = 0; i < b->n; i++) {
		event_free(b->ctls[i].ev);
		b->ctls[i].be->destroy(b->ctls[i].st);
		if (b->ctls[i].lockfd >= 0)
			close(b->ctls[i].lockfd);
		for (j = 0; j < CTL_PARTS; j++)
			if (b->ctls[i].partfd[j] >= 0)
				close(b->ctls[i].partfd[j]);
	}
	free(b->links);
	free(b->ctls);
	free(b);
}
