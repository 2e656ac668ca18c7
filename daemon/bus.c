/*
 * bus.c: one I/O thread per controller link, speaking register map v1.
 *
 * The loop and a link thread share one small mailbox under a mutex: the
 * loop posts requests and vents, the thread posts readings and wakes the
 * loop with event_active(). No lock is held across Modbus I/O.
 *
 * libmodbus pitfalls handled here: error recovery modes stay off (their
 * link recovery can block without bound); timeouts are set again before
 * every connect; after any failed transaction the link is flushed so a
 * late reply cannot be taken for the next one; reconnects are ours, with
 * backoff from 100 ms doubling to 5 s, and repeat the connect-time checks.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <modbus.h>

#include "bus.h"
#include "clock.h"
#include "log.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000

const double bus_rtt_bounds_s[RTT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, INFINITY
};

struct bus_req {
	uint16_t	 regs[2 + CHANNELS_MAX];
	int		 nregs;
};

struct bus_link {
	struct bus		*bus;
	int			 idx;
	struct ctl_conf		 conf;
	int			 need_channels;
	pthread_t		 thread;
	int			 started;
	modbus_t		*mb;		/* thread only */
	struct event		*ev;		/* wakes the loop */

	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	int			 quit;
	int			 vent;		/* CONTROL = 0 to send */
	int			 have_req;
	struct bus_req		 req;
	struct bus_reading	 rd;		/* shared reading */
	uint16_t		 stopbits;	/* thread only: last seen */
};

struct bus {
	struct event_base	*base;
	int			 n;
	struct bus_link		*links;
	bus_cb			 cb;
	void			*arg;
};

/* Thread side: tell the loop there is news. */
static void
bus_notify(struct bus_link *l)
{
	event_active(l->ev, EV_READ, 0);
}

static void
bus_set_error(struct bus_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bus_set_error(struct bus_link *l, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[sizeof(l->rd.error)];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&l->mtx);
	if (strcmp(buf, l->rd.error) != 0)
		log_warnx("controller %s: %s", l->conf.name, buf);
	memcpy(l->rd.error, buf, sizeof(buf));
	pthread_mutex_unlock(&l->mtx);
}

static void
bus_timeouts(struct bus_link *l)
{
	int	 ms = l->conf.response_timeout_ms;

	modbus_set_response_timeout(l->mb, ms / 1000, (ms % 1000) * 1000);
	/* Between bytes of one frame: short on TCP, a few characters on RTU. */
	modbus_set_byte_timeout(l->mb, 0, ms * 1000 / 2 > 0 ? ms * 500 : 1000);
}

static void
bus_close(struct bus_link *l)
{
	if (l->mb != NULL) {
		modbus_close(l->mb);
		modbus_free(l->mb);
		l->mb = NULL;
	}
}

/* Connects and runs the connect-time checks. 0, or -1 with the reason. */
static int
bus_connect(struct bus_link *l)
{
	struct ctl_conf	*c = &l->conf;
	uint16_t	 id[3];
	char		 port[16];

	bus_close(l);
	if (c->transport == TRANSPORT_TCP) {
		snprintf(port, sizeof(port), "%d", c->port);
		l->mb = modbus_new_tcp_pi(c->host, port);
	} else
		l->mb = modbus_new_rtu(c->device, c->baud, c->parity,
		    c->data_bits, c->stop_bits);
	if (l->mb == NULL) {
		bus_set_error(l, "cannot create Modbus context: %s",
		    strerror(errno));
		return (-1);
	}
	modbus_set_error_recovery(l->mb, MODBUS_ERROR_RECOVERY_NONE);
	modbus_set_slave(l->mb, c->unit_id);
	bus_timeouts(l);
	if (modbus_connect(l->mb) == -1) {
		if (c->transport == TRANSPORT_TCP)
			bus_set_error(l, "cannot connect to %s:%d: %s", c->host,
			    c->port, modbus_strerror(errno));
		else
			bus_set_error(l, "cannot open %s: %s", c->device,
			    modbus_strerror(errno));
		bus_close(l);
		return (-1);
	}
	bus_timeouts(l);
	if (modbus_read_input_registers(l->mb, REGMAP_IR_MAP_VERSION, 3,
	    id) != 3) {
		bus_set_error(l, "cannot read MAP_VERSION, CHANNELS and "
		    "MAX_PRESSURE: %s", modbus_strerror(errno));
		bus_close(l);
		return (-1);
	}
	if (id[0] != REGMAP_VERSION) {
		bus_set_error(l, "refused: register map version %u, expected "
		    "%d", id[0], REGMAP_VERSION);
		bus_close(l);
		return (-1);
	}
	if (id[1] < l->need_channels || id[1] > CHANNELS_MAX) {
		bus_set_error(l, "refused: it has %u channels, the configured "
		    "zones use %d", id[1], l->need_channels);
		bus_close(l);
		return (-1);
	}
	if (modbus_write_register(l->mb, REGMAP_HR_WATCHDOG_MS,
	    (uint16_t)c->watchdog_ms) != 1) {
		bus_set_error(l, "cannot write WATCHDOG_MS: %s",
		    modbus_strerror(errno));
		bus_close(l);
		return (-1);
	}
	pthread_mutex_lock(&l->mtx);
	l->rd.channels = id[1];
	l->rd.rating_kpa = regmap_reg_to_kpa(id[2]);
	l->rd.connected = 1;
	l->rd.failures = 0;
	l->rd.connects++;
	l->rd.error[0] = '\0';
	pthread_mutex_unlock(&l->mtx);
	log_info("controller %s: connected, map version %u, %u channels, "
	    "rated %.1f kPa, watchdog %d ms", c->name, id[0], id[1],
	    regmap_reg_to_kpa(id[2]), c->watchdog_ms);
	return (0);
}

/*
 * A reply that came too late is read as the answer to the next request
 * (which fails with "invalid data"); the real answer to that request is
 * then on its way and would be taken for the answer to the one after, and
 * so on until the link is declared down. So after a mismatched reply, wait
 * for the late answer and discard it. Waits at most one response timeout,
 * in short steps, and gives way at once to a pending vent. (Not after a
 * plain timeout: a hung controller must be declared down without delay.)
 */
static void
bus_drain(struct bus_link *l)
{
	struct pollfd	 pfd;
	uint64_t	 deadline, now;
	int		 drained = 0, vent, ms;

	if (l->mb == NULL || (pfd.fd = modbus_get_socket(l->mb)) < 0)
		return;
	pfd.events = POLLIN;
	deadline = clock_mono_ns() + (uint64_t)l->conf.response_timeout_ms *
	    1000000ull;
	while ((now = clock_mono_ns()) < deadline) {
		pthread_mutex_lock(&l->mtx);
		vent = l->vent;
		pthread_mutex_unlock(&l->mtx);
		if (vent)
			return;
		ms = (int)((deadline - now) / 1000000ull) + 1;
		if (ms > 5)
			ms = 5;
		if (poll(&pfd, 1, ms) > 0) {
			if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
				return;
			modbus_flush(l->mb);
			drained = 1;
		} else if (drained)
			return;		/* the late reply is gone */
	}
}

/* A failed transaction: count it; enough of them in a row, the link is down. */
static void
bus_fail(struct bus_link *l, const char *what)
{
	int	 down, saved = errno;

	if (l->mb != NULL) {
		modbus_flush(l->mb);
		if (saved == EMBBADDATA)
			bus_drain(l);
	}
	errno = saved;
	pthread_mutex_lock(&l->mtx);
	l->rd.errors++;
	l->rd.failures++;
	down = errno == ECONNRESET || errno == EPIPE || errno == EBADF ||
	    l->rd.failures >= l->conf.max_failures;
	if (down)
		l->rd.connected = 0;
	pthread_mutex_unlock(&l->mtx);
	bus_set_error(l, "%s: %s%s", what, modbus_strerror(errno),
	    down ? "; link down" : "");
	if (down)
		bus_close(l);
}

static void
bus_rtt(struct bus_reading *rd, double s)
{
	int	 i;

	rd->rtt_count++;
	rd->rtt_sum_s += s;
	for (i = 0; i < RTT_BUCKETS; i++)
		if (s <= bus_rtt_bounds_s[i])
			rd->rtt_bucket[i]++;
}

/* Vent: CONTROL = 0 with FC06, ahead of everything else. */
static void
bus_do_vent(struct bus_link *l)
{
	int	 ok;

	ok = l->mb != NULL &&
	    modbus_write_register(l->mb, REGMAP_HR_CONTROL, 0) == 1;
	if (!ok && l->mb != NULL)
		bus_fail(l, "vent (CONTROL = 0) failed");
	pthread_mutex_lock(&l->mtx);
	l->rd.vent_pending = 0;
	if (ok)
		l->rd.vents_acked++;
	else
		l->rd.vents_failed++;
	pthread_mutex_unlock(&l->mtx);
	bus_notify(l);
}

/* One tick: FC16 of CONTROL, HEARTBEAT, SETPOINTs; FC04 of STATUS,
 * FAULT_CODE, PRESSUREs. */
static void
bus_do_tick(struct bus_link *l, const struct bus_req *req)
{
	uint16_t	 in[2 + CHANNELS_MAX], stop;
	uint64_t	 t0, t1;
	int		 i, n = req->nregs;

	t0 = clock_mono_ns();
	if (modbus_write_registers(l->mb, REGMAP_HR_CONTROL, n,
	    req->regs) != n) {
		bus_fail(l, "write of CONTROL, HEARTBEAT and setpoints failed");
		bus_notify(l);
		return;
	}
	t1 = clock_mono_ns();
	if (modbus_read_input_registers(l->mb, REGMAP_IR_STATUS, n, in) != n) {
		bus_fail(l, "read of STATUS and pressures failed");
		bus_notify(l);
		return;
	}
	pthread_mutex_lock(&l->mtx);
	l->rd.transactions += 2;
	bus_rtt(&l->rd, (t1 - t0) / 1e9);
	bus_rtt(&l->rd, (clock_mono_ns() - t1) / 1e9);
	l->rd.failures = 0;
	l->rd.seq++;
	l->rd.t_ns = clock_mono_ns();
	l->rd.status = in[0];
	l->rd.fault_code = in[1];
	for (i = 0; i < n - 2; i++)
		l->rd.pressure_kpa[i] = regmap_reg_to_kpa(in[2 + i]);
	pthread_mutex_unlock(&l->mtx);
	/*
	 * A stop bit newly set (e-stop circuit, client stop switch, fault)
	 * vents every link from here, without a trip through the loop: the
	 * loop still runs the session's category 0 stop when told below.
	 */
	stop = in[0] & (REGMAP_STATUS_ESTOP | REGMAP_STATUS_CLIENT_STOP |
	    REGMAP_STATUS_FAULT);
	if ((stop & ~l->stopbits) != 0 &&
	    (req->regs[0] & REGMAP_CONTROL_ENABLE))
		bus_vent_all(l->bus);
	l->stopbits = stop;
	bus_notify(l);
}

static void
bus_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
bus_thread(void *arg)
{
	struct bus_link	*l = arg;
	struct bus_req	 req;
	struct timespec	 retry;
	int		 backoff = 0, up, vent, have;

	bus_deadline(&retry, 0);
	for (;;) {
		pthread_mutex_lock(&l->mtx);
		for (;;) {
			up = l->mb != NULL;
			if (l->quit || l->vent || (up && l->have_req))
				break;
			if (!up) {
				/* Down: wait for the retry time. */
				if (pthread_cond_timedwait(&l->cond, &l->mtx,
				    &retry) == ETIMEDOUT)
					break;
			} else
				pthread_cond_wait(&l->cond, &l->mtx);
		}
		if (l->quit && !l->vent) {
			pthread_mutex_unlock(&l->mtx);
			break;
		}
		vent = l->vent;
		l->vent = 0;
		have = !vent && up && l->have_req;
		if (have) {
			req = l->req;
			l->have_req = 0;
		}
		pthread_mutex_unlock(&l->mtx);

		if (vent) {
			bus_do_vent(l);
			continue;
		}
		if (!up) {
			if (bus_connect(l) == 0)
				backoff = 0;
			else {
				backoff = backoff == 0 ? BACKOFF_MIN_MS :
				    backoff * 2;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
			}
			bus_deadline(&retry, backoff);
			bus_notify(l);
			continue;
		}
		if (have)
			bus_do_tick(l, &req);
	}
	bus_close(l);
	return (NULL);
}

/* Loop side: a link has news. */
static void
bus_event(evutil_socket_t fd, short what, void *arg)
{
	struct bus_link	*l = arg;

	l->bus->cb(l->bus, l->idx, l->bus->arg);
}

struct bus *
bus_start(struct event_base *base, const struct table *t, bus_cb cb,
    void *arg)
{
	struct bus	*b;
	int		 i;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		fatal("calloc");
	b->base = base;
	b->cb = cb;
	b->arg = arg;
	b->n = t->nctls;
	if ((b->links = calloc(b->n, sizeof(*b->links))) == NULL)
		fatal("calloc");
	for (i = 0; i < b->n; i++) {
		struct bus_link *l = &b->links[i];

		l->bus = b;
		l->idx = i;
		l->conf = t->ctls[i];
		l->need_channels = table_ctl_channels(t, i);
		pthread_mutex_init(&l->mtx, NULL);
		pthread_cond_init(&l->cond, NULL);
		/* CLOCK_MONOTONIC for the retry deadline. */
		{
			pthread_condattr_t ca;

			pthread_condattr_init(&ca);
			pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
			pthread_cond_destroy(&l->cond);
			pthread_cond_init(&l->cond, &ca);
			pthread_condattr_destroy(&ca);
		}
		snprintf(l->rd.error, sizeof(l->rd.error), "not connected yet");
		l->ev = event_new(base, -1, 0, bus_event, l);
		if (l->ev == NULL)
			fatalx("event_new failed");
	}
	for (i = 0; i < b->n; i++) {
		if (pthread_create(&b->links[i].thread, NULL, bus_thread,
		    &b->links[i]) != 0)
			fatal("pthread_create");
		b->links[i].started = 1;
	}
	return (b);
}

void
bus_submit(struct bus *b, int ctl, uint16_t control, uint16_t heartbeat,
    const uint16_t *setpoints, int n)
{
	struct bus_link	*l = &b->links[ctl];

	if (n > CHANNELS_MAX)
		n = CHANNELS_MAX;
	pthread_mutex_lock(&l->mtx);
	l->req.regs[0] = control;
	l->req.regs[1] = heartbeat;
	memcpy(&l->req.regs[2], setpoints, n * sizeof(*setpoints));
	l->req.nregs = 2 + n;
	l->have_req = 1;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}

void
bus_vent_all(struct bus *b)
{
	int	 i;

	/* Signal every link first; none waits for another. */
	for (i = 0; i < b->n; i++) {
		struct bus_link *l = &b->links[i];

		pthread_mutex_lock(&l->mtx);
		l->vent = 1;
		l->have_req = 0;
		l->rd.vent_pending = 1;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mtx);
	}
}

int
bus_venting(struct bus *b)
{
	int	 i, v = 0;

	for (i = 0; i < b->n; i++) {
		pthread_mutex_lock(&b->links[i].mtx);
		v |= b->links[i].rd.vent_pending;
		pthread_mutex_unlock(&b->links[i].mtx);
	}
	return (v);
}

void
bus_get(struct bus *b, int ctl, struct bus_reading *out)
{
	struct bus_link	*l = &b->links[ctl];

	pthread_mutex_lock(&l->mtx);
	*out = l->rd;
	pthread_mutex_unlock(&l->mtx);
}

int
bus_count(struct bus *b)
{
	return (b->n);
}

void
bus_stop(struct bus *b)
{
	int	 i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		struct bus_link *l = &b->links[i];

		pthread_mutex_lock(&l->mtx);
		l->quit = 1;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mtx);
	}
	for (i = 0; i < b->n; i++) {
		struct bus_link *l = &b->links[i];

		if (l->started)
			pthread_join(l->thread, NULL);
		event_free(l->ev);
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->mtx);
	}
	free(b->links);
	free(b);
}
