/*
 * bus-io.c: the services of ctl.h a backend calls on its link thread (one
 * Modbus transaction each, through bus-wire.c), and how a failed
 * transaction is counted: enough of them, the controller is down.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <modbus.h>

#include "bus-private.h"
#include "clock.h"
#include "log.h"

/* Thread side: tell the loop there is news of c. */
void
bus_notify(struct bus_ctl *c)
{
	event_active(c->ev, EV_READ, 0);
}

void
bus_set_error(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	bus_vset_error(c, fmt, ap);
	va_end(ap);
}

void
bus_vset_error(struct bus_ctl *c, const char *fmt, va_list ap)
{
	char	 buf[sizeof(c->rd.error)];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	pthread_mutex_lock(&c->link->mtx);
	if (strcmp(buf, c->rd.error) != 0)
		log_warnx("controller %s: %s", c->conf.name, buf);
	memcpy(c->rd.error, buf, sizeof(buf));
	pthread_mutex_unlock(&c->link->mtx);
}

/*
 * c is down. A controller that was up counts a down with its reason, so
 * the loop sees it even when the reconnect is quicker than the loop.
 */
void
bus_mark_down(struct bus_ctl *c)
{
	pthread_mutex_lock(&c->link->mtx);
	if (c->up) {
		c->rd.downs++;
		memcpy(c->rd.down_why, c->rd.error, sizeof(c->rd.down_why));
	}
	c->rd.connected = 0;
	if (c->rd.proof.state == CTL_PROOF_RUNNING)
		c->rd.proof.state = CTL_PROOF_NONE;
	pthread_mutex_unlock(&c->link->mtx);
	c->up = 0;
	c->proving = 0;
}

/* An error that breaks the whole wire, not one controller's turn. */
int
bus_breaks_wire(int e)
{
	return (e == ECONNRESET || e == EPIPE || e == EBADF || e == EIO);
}

/* c was lost: the reading says so, the connect sequence comes again. */
void
bus_ctl_down(struct bus_ctl *c, int backoff)
{
	bus_mark_down(c);
	c->backoff = backoff;
	c->retry_ns = clock_mono_ns() + (uint64_t)backoff * MS;
}

void
bus_backoff(int *backoff, uint64_t *retry_ns)
{
	*backoff = *backoff == 0 ? BACKOFF_MIN_MS : *backoff * 2;
	if (*backoff > BACKOFF_MAX_MS)
		*backoff = BACKOFF_MAX_MS;
	*retry_ns = clock_mono_ns() + (uint64_t)*backoff * MS;
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
bus_drain(struct bus_ctl *c)
{
	struct bus_link	*l = c->link;
	struct pollfd	 pfd;
	uint64_t	 deadline, now;
	int		 drained = 0, vent = 0, ms, i;

	if (l->w.mb == NULL || (pfd.fd = modbus_get_socket(l->w.mb)) < 0)
		return;
	pfd.events = POLLIN;
	deadline = clock_mono_ns() + (uint64_t)c->conf.response_timeout_ms * MS;
	while ((now = clock_mono_ns()) < deadline) {
		pthread_mutex_lock(&l->mtx);
		for (i = 0; i < l->n; i++)
			vent |= l->ctls[i]->vent;
		pthread_mutex_unlock(&l->mtx);
		if (vent)
			return;
		ms = (int)((deadline - now) / MS) + 1;
		if (ms > 5)
			ms = 5;
		if (poll(&pfd, 1, ms) > 0) {
			if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
				return;
			modbus_flush(l->w.mb);
			drained = 1;
		} else if (drained)
			return;		/* the late reply is gone */
	}
}

/*
 * A failed transaction: count it; enough of them in a row, or one missed
 * response timeout while the controller is enabled (a session runs: a hang
 * must stop it at once), the controller is down. A broken connection takes the wire down, and so
 * does a lost controller that has the wire to itself (a fresh connection
 * may help); on a shared wire the others go on.
 */
void
bus_fail(struct bus_ctl *c, const char *what)
{
	struct bus_link	*l = c->link;
	int		 down, wire, saved = errno;

	if (l->w.mb != NULL) {
		modbus_flush(l->w.mb);
		/* A late reply: another transaction's (TCP), or another
		 * unit's on a shared line (RTU). */
		if (saved == EMBBADDATA || saved == EMBBADSLAVE)
			bus_drain(c);
	}
	errno = saved;
	wire = bus_breaks_wire(saved);
	pthread_mutex_lock(&l->mtx);
	c->rd.errors++;
	c->rd.failures++;
	down = wire || c->rd.failures >= c->conf.max_failures ||
	    (saved == ETIMEDOUT && c->enabled);
	pthread_mutex_unlock(&l->mtx);
	bus_set_error(c, "%s: %s%s", what, modbus_strerror(saved),
	    down ? "; link down" : "");
	if (!down)
		return;
	bus_ctl_down(c, BACKOFF_MIN_MS);
	if (wire || l->n == 1) {
		bus_link_close(l);
		bus_backoff(&l->backoff, &l->retry_ns);
	}
}

void
bus_rtt(struct bus_reading *rd, double s)
{
	int	 i;

	rd->rtt_count++;
	rd->rtt_sum_s += s;
	for (i = 0; i < RTT_BUCKETS; i++)
		if (s <= bus_rtt_bounds_s[i])
			rd->rtt_bucket[i]++;
}

const char *
bus_io_unguarded(struct bus_ctl *c)
{
	return (c->lockfd >= 0 ? NULL : c->unguarded);
}

/* A transaction's result, counted when it succeeded. */
static int
bus_io_count(struct bus_ctl *c, int rc)
{
	if (rc >= 0)
		c->xacts++;
	return (rc);
}

/*
 * The services of ctl.h: what a backend may do with its controller, on
 * the link thread, between the other controllers' turns.
 */
int
bus_io_read(struct bus_ctl *c, int input, int addr, int n, uint16_t *v)
{
	return (bus_io_count(c, bus_wire_read(&c->link->w, c->unit, input,
	    addr, n, v)));
}

int
bus_io_write(struct bus_ctl *c, int addr, int n, const uint16_t *v)
{
	return (bus_io_count(c, bus_wire_write(&c->link->w, c->unit, addr, n,
	    v)));
}

int
bus_io_read_bits(struct bus_ctl *c, int coils, int addr, int n, uint8_t *v)
{
	return (bus_io_count(c, bus_wire_read_bits(&c->link->w, c->unit,
	    coils, addr, n, v)));
}

int
bus_io_write_bit(struct bus_ctl *c, int addr, int on)
{
	return (bus_io_count(c, bus_wire_write_bit(&c->link->w, c->unit, addr,
	    on)));
}

void
bus_io_unit(struct bus_ctl *c, int unit_id)
{
	c->unit = unit_id;
	if (c->link->w.mb != NULL)
		modbus_set_slave(c->link->w.mb, unit_id);
}

int
bus_io_send_raw(struct bus_ctl *c, const uint8_t *adu, int len)
{
	return (c->link->w.mb != NULL &&
	    modbus_send_raw_request(c->link->w.mb, adu, len) > 0);
}

void
bus_io_flush(struct bus_ctl *c)
{
	if (c->link->w.mb != NULL)
		modbus_flush(c->link->w.mb);
}

void
bus_io_refuse(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	bus_vset_error(c, fmt, ap);
	va_end(ap);
}

void
bus_io_failed(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;
	char	 what[160];
	int	 saved = errno;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->wire_err = bus_breaks_wire(saved);
	bus_set_error(c, "%s: %s", what, modbus_strerror(saved));
	bus_io_flush(c);
}

void
bus_io_fail(struct bus_ctl *c, const char *what)
{
	bus_fail(c, what);
}

void
bus_io_lost(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	pthread_mutex_lock(&c->link->mtx);
	c->rd.verify_failures++;
	pthread_mutex_unlock(&c->link->mtx);
	va_start(ap, fmt);
	bus_vset_error(c, fmt, ap);
	va_end(ap);
	/* The connect sequence again, after the shortest back-off. */
	bus_ctl_down(c, BACKOFF_MIN_MS);
}

void
bus_io_verified(struct bus_ctl *c)
{
	pthread_mutex_lock(&c->link->mtx);
	c->rd.verifications++;
	pthread_mutex_unlock(&c->link->mtx);
}
