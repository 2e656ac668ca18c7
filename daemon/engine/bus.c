/*
 * bus.c: one I/O thread per wire, speaking register map v2 (and v1).
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
 * What a controller says of itself is not trusted once: the identity, the
 * WATCHDOG_MS and CONTROL read back in a cycle begun every VERIFY_MS (one
 * step a tick) and all at once at every enable; a controller that changed (reset, power cycle, another master)
 * is declared lost with the reason, which stops a session, and goes
 * through a fresh connect sequence.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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
#include "clock.h"
#include "log.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define VERIFY_MS	500	/* identity and read-backs, at least */
#define MS		1000000ull

const double bus_rtt_bounds_s[RTT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, INFINITY
};

struct bus_req {
	uint16_t	 regs[3 + CHANNELS_MAX];
	int		 nregs;
};

struct bus_link;

/* One controller: its mailbox (under link->mtx) and the thread's state. */
struct bus_ctl {
	struct bus_link		*link;
	int			 idx;
	struct ctl_conf		 conf;
	int			 need_channels;
	struct event		*ev;		/* wakes the loop */

	/* under link->mtx */
	int			 vent;		/* CONTROL = 0 to send */
	int			 have_req;
	struct bus_req		 req;
	struct bus_reading	 rd;

	/* thread only */
	int			 up;		/* connect checks passed */
	int			 owned;		/* ours: we may vent it */
	uint16_t		 id[3];		/* identity at connect */
	uint16_t		 stopbits;	/* last seen */
	uint16_t		 control;	/* last CONTROL written */
	uint64_t		 verify_ns;	/* last verification began */
	int			 verify_step;	/* next step, 0 none due */
	int			 backoff;
	uint64_t		 retry_ns;
	int			 lockfd;	/* endpoint lock, -1 none */
	int			 wire_err;	/* connect failed: link broken */
};

struct bus_link {
	struct bus		*bus;
	int			 idx;
	struct bus_ctl		*ctls[TABLE_MAX_CONTROLLERS];
	int			 n;
	pthread_t		 thread;
	int			 started;
	modbus_t		*mb;		/* thread only */
	int			 backoff;	/* thread only */
	uint64_t		 retry_ns;	/* thread only */
	uint16_t		 tid;		/* thread only: TCP */

	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	int			 quit;
};

struct bus {
	struct event_base	*base;
	int			 n;
	struct bus_ctl		*ctls;
	int			 nlinks;
	struct bus_link		*links;
	bus_cb			 cb;
	void			*arg;
	unsigned		 owner;		/* our owner id (map v2) */
	char			 run_dir[PATH_MAX];
};

static void	bus_backoff(int *, uint64_t *);

/* Thread side: tell the loop there is news of c. */
static void
bus_notify(struct bus_ctl *c)
{
	event_active(c->ev, EV_READ, 0);
}

static void
bus_set_error(struct bus_ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
bus_vset_error(struct bus_ctl *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
bus_set_error(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	bus_vset_error(c, fmt, ap);
	va_end(ap);
}

static void
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

/* The transport settings of the wire, from its first controller. */
static const struct ctl_conf *
bus_wire_conf(const struct bus_link *l)
{
	return (&l->ctls[0]->conf);
}

/*
 * Response timeout, and between bytes of one frame half of it. libmodbus
 * refuses a microsecond part of a second or more (EINVAL), so split it.
 */
static int
bus_timeouts(modbus_t *mb, const struct ctl_conf *c)
{
	uint32_t	 byte_us = (uint32_t)c->response_timeout_ms * 500;

	if (byte_us < 1000)
		byte_us = 1000;
	if (modbus_set_response_timeout(mb, c->response_timeout_ms / 1000,
	    (c->response_timeout_ms % 1000) * 1000) == -1 ||
	    modbus_set_byte_timeout(mb, byte_us / 1000000,
	    byte_us % 1000000) == -1)
		return (-1);
	return (0);
}

/*
 * c is down. A controller that was up counts a down with its reason, so
 * the loop sees it even when the reconnect is quicker than the loop.
 */
static void
bus_mark_down(struct bus_ctl *c)
{
	pthread_mutex_lock(&c->link->mtx);
	if (c->up) {
		c->rd.downs++;
		memcpy(c->rd.down_why, c->rd.error, sizeof(c->rd.down_why));
	}
	c->rd.connected = 0;
	pthread_mutex_unlock(&c->link->mtx);
	c->up = 0;
}

static void
bus_wire_close(struct bus_link *l)
{
	int	 i;

	if (l->mb != NULL) {
		modbus_close(l->mb);
		modbus_free(l->mb);
		l->mb = NULL;
	}
	for (i = 0; i < l->n; i++)
		bus_mark_down(l->ctls[i]);
}

/* Every controller of the wire gets the same error; the wire is closed. */
static int
bus_wire_error(struct bus_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bus_wire_error(struct bus_link *l, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[sizeof(l->ctls[0]->rd.error)];
	int	 i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = 0; i < l->n; i++)
		bus_set_error(l->ctls[i], "%s", msg);
	bus_wire_close(l);
	return (-1);
}

/* Opens the wire: the TCP connection or the serial device, locked. */
static int
bus_wire_open(struct bus_link *l)
{
	const struct ctl_conf	*c = bus_wire_conf(l);
	char			 port[16];

	bus_wire_close(l);
	if (c->transport == TRANSPORT_TCP) {
		snprintf(port, sizeof(port), "%d", c->port);
		l->mb = modbus_new_tcp_pi(c->host, port);
	} else
		l->mb = modbus_new_rtu(c->device, c->baud, c->parity,
		    c->data_bits, c->stop_bits);
	if (l->mb == NULL)
		return (bus_wire_error(l, "cannot create Modbus context: %s",
		    strerror(errno)));
	modbus_set_error_recovery(l->mb, MODBUS_ERROR_RECOVERY_NONE);
	if (bus_timeouts(l->mb, c) == -1)
		return (bus_wire_error(l, "cannot set the timeouts (%d ms): %s",
		    c->response_timeout_ms, modbus_strerror(errno)));
	if (modbus_connect(l->mb) == -1) {
		if (c->transport == TRANSPORT_TCP)
			return (bus_wire_error(l, "cannot connect to %s:%d: %s",
			    c->host, c->port, modbus_strerror(errno)));
		return (bus_wire_error(l, "cannot open %s: %s", c->device,
		    modbus_strerror(errno)));
	}
	if (c->transport != TRANSPORT_RTU)
		return (0);
	if (flock(modbus_get_socket(l->mb), LOCK_EX | LOCK_NB) == -1)
		return (bus_wire_error(l, "cannot lock %s: %s", c->device,
		    errno == EWOULDBLOCK ? "another process has it open (a "
		    "second massaged on this line?)" : strerror(errno)));
	if (c->rs485 && modbus_rtu_set_serial_mode(l->mb,
	    MODBUS_RTU_RS485) == -1)
		return (bus_wire_error(l, "%s: cannot set RS-485 mode: %s",
		    c->device, modbus_strerror(errno)));
	if (c->rts != TABLE_RTS_NONE &&
	    (modbus_rtu_set_rts(l->mb, c->rts == TABLE_RTS_UP ?
	    MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN) == -1 ||
	    (c->rts_delay_us >= 0 &&
	    modbus_rtu_set_rts_delay(l->mb, c->rts_delay_us) == -1)))
		return (bus_wire_error(l, "%s: cannot set RTS direction "
		    "control: %s", c->device, modbus_strerror(errno)));
	return (0);
}

/*
 * Transactions: libmodbus frames the request and reads the reply (with
 * its timeouts), we check it. libmodbus 3.1 takes a Modbus TCP reply with
 * any unit id or protocol id for the answer; a reply for another unit or
 * another protocol is an error on the link here (EMBBADSLAVE, EPROTO), as
 * is a transaction id that is not the request's (EMBBADDATA: a late
 * reply). Each returns what libmodbus's own call would, -1 with errno.
 */
static int
bus_xfer(struct bus_link *l, int unit, const uint8_t *pdu, int len,
    uint8_t *rpdu, int rmax)
{
	uint8_t		 adu[MODBUS_TCP_MAX_ADU_LENGTH];
	uint8_t		 rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	int		 rtu, hl, n;
	uint16_t	 tid = 0;

	rtu = bus_wire_conf(l)->transport == TRANSPORT_RTU;
	if (rtu) {
		adu[0] = (uint8_t)unit;
		memcpy(adu + 1, pdu, len);
		if (modbus_send_raw_request(l->mb, adu, len + 1) == -1)
			return (-1);
		hl = 1;
	} else {
		tid = ++l->tid;
		adu[0] = tid >> 8;
		adu[1] = tid & 0xff;
		adu[2] = adu[3] = 0;
		adu[4] = (len + 1) >> 8;
		adu[5] = (len + 1) & 0xff;
		adu[6] = (uint8_t)unit;
		memcpy(adu + 7, pdu, len);
		if (send(modbus_get_socket(l->mb), adu, len + 7,
		    MSG_NOSIGNAL) != len + 7) {
			if (errno == 0 || errno == EAGAIN)
				errno = EPIPE;
			return (-1);
		}
		hl = 7;
	}
	if ((n = modbus_receive_confirmation(l->mb, rsp)) == -1)
		return (-1);
	if (n == 0) {			/* RTU: libmodbus dropped another unit's */
		errno = EMBBADSLAVE;
		return (-1);
	}
	n -= hl + (rtu ? 2 : 0);	/* the PDU */
	if (n < 2 || n > rmax) {
		errno = EMBBADDATA;
		return (-1);
	}
	if (!rtu && ((rsp[0] << 8) | rsp[1]) != tid) {
		errno = EMBBADDATA;
		return (-1);
	}
	if (!rtu && (rsp[2] != 0 || rsp[3] != 0)) {
		errno = EPROTO;
		return (-1);
	}
	if (rsp[hl - 1] != unit) {
		errno = EMBBADSLAVE;
		return (-1);
	}
	if (rsp[hl] == (pdu[0] | 0x80)) {
		errno = MODBUS_ENOBASE + rsp[hl + 1];
		return (-1);
	}
	if (rsp[hl] != pdu[0]) {
		errno = EMBBADDATA;
		return (-1);
	}
	memcpy(rpdu, rsp + hl, n);
	return (n);
}

/* FC03 (input 0) or FC04 (input 1) of n registers at addr into v. */
static int
bus_read(struct bus_link *l, int unit, int input, int addr, int n,
    uint16_t *v)
{
	uint8_t	 pdu[5], r[MODBUS_TCP_MAX_ADU_LENGTH];
	int	 i;

	pdu[0] = input ? MODBUS_FC_READ_INPUT_REGISTERS :
	    MODBUS_FC_READ_HOLDING_REGISTERS;
	pdu[1] = addr >> 8;
	pdu[2] = addr & 0xff;
	pdu[3] = n >> 8;
	pdu[4] = n & 0xff;
	if (bus_xfer(l, unit, pdu, 5, r, sizeof(r)) != 2 + 2 * n ||
	    r[1] != 2 * n) {
		if (errno == 0)
			errno = EMBBADDATA;
		return (-1);
	}
	for (i = 0; i < n; i++)
		v[i] = (r[2 + 2 * i] << 8) | r[3 + 2 * i];
	return (n);
}

/* FC06 for one register, FC16 for more. */
static int
bus_write(struct bus_link *l, int unit, int addr, int n, const uint16_t *v)
{
	uint8_t	 pdu[6 + 2 * (3 + CHANNELS_MAX)], r[16];
	int	 i, len;

	pdu[1] = addr >> 8;
	pdu[2] = addr & 0xff;
	if (n == 1) {
		pdu[0] = MODBUS_FC_WRITE_SINGLE_REGISTER;
		pdu[3] = v[0] >> 8;
		pdu[4] = v[0] & 0xff;
		len = 5;
	} else {
		pdu[0] = MODBUS_FC_WRITE_MULTIPLE_REGISTERS;
		pdu[3] = n >> 8;
		pdu[4] = n & 0xff;
		pdu[5] = 2 * n;
		for (i = 0; i < n; i++) {
			pdu[6 + 2 * i] = v[i] >> 8;
			pdu[7 + 2 * i] = v[i] & 0xff;
		}
		len = 6 + 2 * n;
	}
	errno = 0;
	if (bus_xfer(l, unit, pdu, len, r, sizeof(r)) != 5 ||
	    memcmp(r + 1, pdu + 1, 4) != 0) {
		if (errno == 0)
			errno = EMBBADDATA;
		return (-1);
	}
	return (n);
}

/*
 * The local guard: one lock file per controller endpoint under the run
 * directory, so two daemons on one machine cannot drive one controller.
 * A run directory that cannot be used costs the guard, with a warning.
 */
static int
bus_lock_endpoint(struct bus_ctl *c)
{
	const struct ctl_conf	*cc = &c->conf;
	char			 ep[320], path[PATH_MAX], pid[32];
	char			*p;
	ssize_t			 n;
	int			 fd;

	if (c->lockfd >= 0 || c->link->bus->run_dir[0] == '\0')
		return (0);
	if (cc->transport == TRANSPORT_TCP)
		snprintf(ep, sizeof(ep), "tcp-%.255s-%d-unit%d", cc->host,
		    cc->port, cc->unit_id);
	else
		snprintf(ep, sizeof(ep), "rtu-%.255s-unit%d", cc->device + 1,
		    cc->unit_id);
	for (p = ep; *p != '\0'; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock",
	    c->link->bus->run_dir, ep) >= sizeof(path)) {
		bus_set_error(c, "refused: the endpoint lock's path is too "
		    "long");
		return (-1);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		bus_set_error(c, "cannot create the endpoint lock %s: %s; "
		    "going on without the local guard", path, strerror(errno));
		c->lockfd = -2;
		return (0);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		bus_set_error(c, "refused: endpoint locked by another massaged "
		    "on this machine (pid %s, %s)", pid[0] ? pid : "?", path);
		close(fd);
		return (-1);
	}
	if (ftruncate(fd, 0) == 0) {
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (write(fd, pid, n) != n)
			log_debug("%s: cannot write the pid", path);
	}
	c->lockfd = fd;
	return (0);
}

/* An error that breaks the whole wire, not one controller's turn. */
static int
bus_wire_errno(int e)
{
	return (e == ECONNRESET || e == EPIPE || e == EBADF || e == EIO);
}

/* c was lost: the reading says so, the connect sequence comes again. */
static void
bus_ctl_down(struct bus_ctl *c, int backoff)
{
	bus_mark_down(c);
	c->backoff = backoff;
	c->retry_ns = clock_mono_ns() + (uint64_t)backoff * MS;
}

/* Checks the identity read at connect or re-read later; 0 or -1 with why. */
static int
bus_identity_ok(struct bus_ctl *c, const uint16_t *id, char *why, size_t len)
{
	if (id[0] < REGMAP_VERSION_MIN || id[0] > REGMAP_VERSION) {
		snprintf(why, len, "refused: register map version %u, expected "
		    "%d or %d", id[0], REGMAP_VERSION_MIN, REGMAP_VERSION);
		return (-1);
	}
	if (id[1] < c->need_channels || id[1] > CHANNELS_MAX) {
		snprintf(why, len, "refused: it has %u channels, the configured "
		    "zones use %d", id[1], c->need_channels);
		return (-1);
	}
	return (0);
}

/*
 * The connect sequence of one controller on an open wire: identity, the
 * owner claim (v2), WATCHDOG_MS written and read back. 0, or -1 with the
 * reason in the reading.
 */
static int
bus_ctl_connect(struct bus_ctl *c)
{
	struct ctl_conf	*cc = &c->conf;
	struct bus_link	*l = c->link;
	modbus_t	*mb = l->mb;
	unsigned	 owner = l->bus->owner;
	uint16_t	 id[3], v;
	char		 why[160];
	int		 u = cc->unit_id;

	c->wire_err = 0;
	if (bus_lock_endpoint(c) == -1)
		return (-1);
	modbus_set_slave(mb, cc->unit_id);
	if (bus_timeouts(mb, cc) == -1) {
		bus_set_error(c, "cannot set the timeouts (%d ms): %s",
		    cc->response_timeout_ms, modbus_strerror(errno));
		return (-1);
	}
	if (bus_read(l, u, 1, REGMAP_IR_MAP_VERSION, 3, id) != 3) {
		c->wire_err = bus_wire_errno(errno);
		bus_set_error(c, "cannot read MAP_VERSION, CHANNELS and "
		    "MAX_PRESSURE: %s", modbus_strerror(errno));
		modbus_flush(mb);
		return (-1);
	}
	if (bus_identity_ok(c, id, why, sizeof(why)) == -1) {
		bus_set_error(c, "%s", why);
		return (-1);
	}
	v = (uint16_t)owner;
	if (id[0] >= 2 && bus_write(l, u, REGMAP_HR_OWNER(id[1]), 1,
	    &v) != 1) {
		if (errno == EMBXSBUSY && bus_read(l, u, 1,
		    REGMAP_IR_OWNER(id[1]), 1, &v) == 1) {
			c->owned = 0;
			bus_set_error(c, "refused: controller claimed by another "
			    "master: owner %u (ours %u)", v, owner);
		} else {
			c->wire_err = bus_wire_errno(errno);
			bus_set_error(c, "cannot claim the controller (OWNER): "
			    "%s", modbus_strerror(errno));
		}
		modbus_flush(mb);
		return (-1);
	}
	c->owned = 1;
	v = (uint16_t)cc->watchdog_ms;
	if (bus_write(l, u, REGMAP_HR_WATCHDOG_MS, 1, &v) != 1 ||
	    bus_read(l, u, 0, REGMAP_HR_WATCHDOG_MS, 1, &v) != 1) {
		c->wire_err = bus_wire_errno(errno);
		bus_set_error(c, "cannot write WATCHDOG_MS: %s",
		    modbus_strerror(errno));
		modbus_flush(mb);
		return (-1);
	}
	if (v != cc->watchdog_ms) {
		bus_set_error(c, "refused: WATCHDOG_MS reads %u after writing "
		    "%d", v, cc->watchdog_ms);
		return (-1);
	}
	memcpy(c->id, id, sizeof(c->id));
	c->up = 1;
	c->backoff = 0;
	l->backoff = 0;		/* the wire works: back-off starts again */
	c->control = 0;
	c->stopbits = 0;
	c->verify_ns = clock_mono_ns();
	c->verify_step = 0;
	pthread_mutex_lock(&c->link->mtx);
	c->rd.channels = id[1];
	c->rd.rating_kpa = regmap_reg_to_kpa(id[2]);
	c->rd.map_version = id[0];
	c->rd.owner = id[0] >= 2 ? owner : 0;
	c->rd.connected = 1;
	c->rd.failures = 0;
	c->rd.connects++;
	c->rd.error[0] = '\0';
	pthread_mutex_unlock(&c->link->mtx);
	log_info("controller %s: connected, map version %u, %u channels, "
	    "rated %.1f kPa, watchdog %d ms, response timeout %d ms", cc->name,
	    id[0], id[1], regmap_reg_to_kpa(id[2]), cc->watchdog_ms,
	    cc->response_timeout_ms);
	if (id[0] < 2)
		log_warnx("controller %s: register map version %u has no owner "
		    "claim: another master driving it would not be refused",
		    cc->name, id[0]);
	else
		log_info("controller %s: claimed as owner %u", cc->name, owner);
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
bus_drain(struct bus_ctl *c)
{
	struct bus_link	*l = c->link;
	struct pollfd	 pfd;
	uint64_t	 deadline, now;
	int		 drained = 0, vent = 0, ms, i;

	if (l->mb == NULL || (pfd.fd = modbus_get_socket(l->mb)) < 0)
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
			modbus_flush(l->mb);
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
static void
bus_fail(struct bus_ctl *c, const char *what)
{
	struct bus_link	*l = c->link;
	int		 down, wire, saved = errno;

	if (l->mb != NULL) {
		modbus_flush(l->mb);
		if (saved == EMBBADDATA)
			bus_drain(c);
	}
	errno = saved;
	wire = bus_wire_errno(saved);
	pthread_mutex_lock(&l->mtx);
	c->rd.errors++;
	c->rd.failures++;
	down = wire || c->rd.failures >= c->conf.max_failures ||
	    (saved == ETIMEDOUT && (c->control & REGMAP_CONTROL_ENABLE));
	pthread_mutex_unlock(&l->mtx);
	bus_set_error(c, "%s: %s%s", what, modbus_strerror(saved),
	    down ? "; link down" : "");
	if (!down)
		return;
	bus_ctl_down(c, BACKOFF_MIN_MS);
	if (wire || l->n == 1) {
		bus_wire_close(l);
		bus_backoff(&l->backoff, &l->retry_ns);
	}
}

/* c changed behind the link, or is not ours: lost, with the reason. */
static void
bus_lost(struct bus_ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bus_lost(struct bus_ctl *c, const char *fmt, ...)
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

/* The v2 OWNER is not ours: say whose it is. */
static void
bus_not_owner(struct bus_ctl *c, unsigned owner)
{
	unsigned	 ours = c->link->bus->owner;

	pthread_mutex_lock(&c->link->mtx);
	c->rd.owner = owner;
	pthread_mutex_unlock(&c->link->mtx);
	if (owner == 0)
		bus_lost(c, "controller lost our claim (reset or power cycle?)");
	else {
		c->owned = 0;
		bus_lost(c, "controller claimed by another master: owner %u "
		    "(ours %u)", owner, ours);
	}
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

/*
 * One step of the verification, one transaction: 1 re-reads the
 * identity, 2 reads back WATCHDOG_MS, 3 reads back CONTROL (the last one
 * counts a verification). 0, or -1 when c was lost (the reason is in the
 * reading).
 */
static int
bus_verify_step(struct bus_ctl *c, int step)
{
	struct bus_link	*l = c->link;
	uint16_t	 v[3];
	char		 why[160];
	int		 u = c->conf.unit_id;

	switch (step) {
	case 1:
		if (bus_read(l, u, 1, REGMAP_IR_MAP_VERSION, 3, v) != 3) {
			bus_fail(c, "verification: read of the identity failed");
			return (-1);
		}
		if (memcmp(v, c->id, sizeof(c->id)) == 0)
			return (0);
		if (bus_identity_ok(c, v, why, sizeof(why)) == -1)
			bus_lost(c, "controller changed: %s", why);
		else
			bus_lost(c, "controller changed: map version %u, %u "
			    "channels, rated %.1f kPa (at connect %u, %u, "
			    "%.1f kPa)", v[0], v[1], regmap_reg_to_kpa(v[2]),
			    c->id[0], c->id[1], regmap_reg_to_kpa(c->id[2]));
		return (-1);
	case 2:
		if (bus_read(l, u, 0, REGMAP_HR_WATCHDOG_MS, 1, v) != 1) {
			bus_fail(c, "verification: read of WATCHDOG_MS failed");
			return (-1);
		}
		if (v[0] == c->conf.watchdog_ms)
			return (0);
		bus_lost(c, "controller lost its configuration: WATCHDOG_MS "
		    "reads %u, %d written (reset or power cycle?)", v[0],
		    c->conf.watchdog_ms);
		return (-1);
	default:
		if (bus_read(l, u, 0, REGMAP_HR_CONTROL, 1, v) != 1) {
			bus_fail(c, "verification: read of CONTROL failed");
			return (-1);
		}
		pthread_mutex_lock(&c->link->mtx);
		c->rd.verifications++;
		pthread_mutex_unlock(&c->link->mtx);
		if (v[0] == c->control)
			return (0);
		bus_lost(c, "controller lost its configuration: CONTROL reads "
		    "%u, %u written (reset or power cycle?)", v[0], c->control);
		return (-1);
	}
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
		for (step = 1; step <= 3; step++)
			if (bus_verify_step(c, step) == -1)
				break;
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
	c->verify_step = bus_verify_step(c, step) == -1 || step == 3 ? 0 :
	    step + 1;
}

/*
 * Vent: on a shared RS-485 line one broadcast FC06 CONTROL = 0 first
 * (every controller obeys, none answers), then CONTROL = 0 per unit, to
 * the live controllers before the lost ones, so a dead unit costs the
 * others nothing. Only controllers we own are vented: one claimed by
 * another master is not ours to stop.
 */
static void
bus_do_vent(struct bus_link *l, const int *vent)
{
	static const uint8_t bcast[] = { REGMAP_BROADCAST,
	    MODBUS_FC_WRITE_SINGLE_REGISTER, 0, REGMAP_HR_CONTROL, 0, 0 };
	struct bus_ctl	*c;
	uint16_t	 zero = 0;
	int		 pass, i, ok, sent = 0;

	if (l->mb != NULL && l->n > 1 &&
	    bus_wire_conf(l)->transport == TRANSPORT_RTU)
		sent = modbus_send_raw_request(l->mb, bcast,
		    sizeof(bcast)) > 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < l->n; i++) {
			c = l->ctls[i];
			if (!vent[i] || c->up != !pass)
				continue;
			ok = 0;
			if (l->mb != NULL && c->owned) {
				modbus_set_slave(l->mb, c->conf.unit_id);
				bus_timeouts(l->mb, &c->conf);
				ok = bus_write(l, c->conf.unit_id,
				    REGMAP_HR_CONTROL, 1, &zero) == 1;
				if (ok)
					c->control = 0;
				else
					bus_fail(c, "vent (CONTROL = 0) failed");
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
		    bus_wire_conf(l)->device);
}

/*
 * One controller's turn: FC16 of CONTROL, HEARTBEAT, SETPOINTs (and OWNER,
 * v2); FC04 of STATUS, FAULT_CODE, PRESSUREs (and OWNER, v2); then the
 * verification when due.
 */
static void
bus_do_tick(struct bus_ctl *c, const struct bus_req *req)
{
	struct bus_link	*l = c->link;
	modbus_t	*mb = l->mb;
	uint16_t	 out[3 + CHANNELS_MAX], in[3 + CHANNELS_MAX], stop;
	uint16_t	 owner = (uint16_t)c->link->bus->owner;
	uint64_t	 t0, t1;
	int		 i, n = req->nregs, nin, v2 = c->id[0] >= 2, enable;
	int		 nch = req->nregs - 2, u = c->conf.unit_id;

	memcpy(out, req->regs, n * sizeof(*out));
	if (v2) {
		/* Every channel of the controller, then OWNER. */
		nch = c->id[1];
		for (i = n; i < 2 + nch; i++)
			out[i] = 0;
		out[2 + nch] = owner;
		n = 3 + nch;
	}
	nin = n;
	enable = (out[0] & REGMAP_CONTROL_ENABLE) &&
	    !(c->control & REGMAP_CONTROL_ENABLE);
	modbus_set_slave(mb, c->conf.unit_id);
	bus_timeouts(mb, &c->conf);
	t0 = clock_mono_ns();
	if (bus_write(l, u, REGMAP_HR_CONTROL, n, out) != n) {
		if (v2 && errno == EMBXSBUSY && bus_read(l, u, 1,
		    REGMAP_IR_OWNER(nch), 1, in) == 1 && in[0] != owner)
			bus_not_owner(c, in[0]);
		else
			bus_fail(c, "write of CONTROL, HEARTBEAT and setpoints "
			    "failed");
		bus_notify(c);
		return;
	}
	c->control = out[0];
	t1 = clock_mono_ns();
	if (bus_read(l, u, 1, REGMAP_IR_STATUS, nin, in) != nin) {
		bus_fail(c, "read of STATUS and pressures failed");
		bus_notify(c);
		return;
	}
	pthread_mutex_lock(&c->link->mtx);
	c->rd.transactions += 2;
	bus_rtt(&c->rd, (t1 - t0) / 1e9);
	bus_rtt(&c->rd, (clock_mono_ns() - t1) / 1e9);
	c->rd.failures = 0;
	c->rd.seq++;
	c->rd.t_ns = clock_mono_ns();
	c->rd.status = in[0];
	c->rd.fault_code = in[1];
	for (i = 0; i < req->nregs - 2; i++)
		c->rd.pressure_kpa[i] = regmap_reg_to_kpa(in[2 + i]);
	pthread_mutex_unlock(&c->link->mtx);
	/*
	 * A stop bit newly set (e-stop circuit, client stop switch, fault)
	 * vents every link from here, without a trip through the loop: the
	 * loop still runs the session's category 0 stop when told below.
	 */
	stop = in[0] & (REGMAP_STATUS_ESTOP | REGMAP_STATUS_CLIENT_STOP |
	    REGMAP_STATUS_FAULT);
	if ((stop & ~c->stopbits) != 0 && (out[0] & REGMAP_CONTROL_ENABLE))
		bus_vent_all(c->link->bus);
	c->stopbits = stop;
	if (v2 && in[2 + nch] != owner)
		bus_not_owner(c, in[2 + nch]);
	else
		bus_verify(c, enable);
	bus_notify(c);
}

static void
bus_deadline(struct timespec *ts, uint64_t mono_ns)
{
	ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
	ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

static void
bus_backoff(int *backoff, uint64_t *retry_ns)
{
	*backoff = *backoff == 0 ? BACKOFF_MIN_MS : *backoff * 2;
	if (*backoff > BACKOFF_MAX_MS)
		*backoff = BACKOFF_MAX_MS;
	*retry_ns = clock_mono_ns() + (uint64_t)*backoff * MS;
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

	if (l->mb == NULL)
		return (l->retry_ns);
	for (i = 0; i < l->n; i++)
		if (!l->ctls[i]->up && l->ctls[i]->retry_ns < due)
			due = l->ctls[i]->retry_ns;
	return (due);
}

static void *
bus_thread(void *arg)
{
	struct bus_link	*l = arg;
	struct bus_ctl	*c;
	struct bus_req	 req;
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
			if (any && l->mb != NULL)
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
		if (l->mb == NULL) {
			if (clock_mono_ns() < l->retry_ns)
				continue;
			/* Not even a connection for endpoints another
			 * daemon on this machine drives. */
			for (any = 0, i = 0; i < l->n; i++)
				any |= bus_lock_endpoint(l->ctls[i]) == 0;
			if (!any || bus_wire_open(l) == -1) {
				bus_backoff(&l->backoff, &l->retry_ns);
				for (i = 0; i < l->n; i++)
					bus_notify(l->ctls[i]);
				continue;
			}
			for (i = 0; i < l->n; i++)
				l->ctls[i]->retry_ns = 0;
		}
		/* Each controller's turn; a vent cuts in between turns. */
		for (i = 0; i < l->n && l->mb != NULL; i++) {
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
			if (!c->up) {
				if (clock_mono_ns() < c->retry_ns)
					continue;
				if (bus_ctl_connect(c) == -1 &&
				    (l->n == 1 || c->wire_err)) {
					/* A wire of its own, or a broken one:
					 * a fresh connection next time. */
					bus_wire_close(l);
					bus_backoff(&l->backoff, &l->retry_ns);
					c->retry_ns = 0;
				} else if (!c->up)
					bus_backoff(&c->backoff, &c->retry_ns);
				bus_notify(c);
			} else if (have)
				bus_do_tick(c, &req);
		}
	}
	bus_wire_close(l);
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
		c->need_channels = table_ctl_channels(t, i);
		c->lockfd = -1;
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
bus_submit(struct bus *b, int ctl, uint16_t control, uint16_t heartbeat,
    const uint16_t *setpoints, int n)
{
	struct bus_ctl	*c = &b->ctls[ctl];

	if (n > CHANNELS_MAX)
		n = CHANNELS_MAX;
	pthread_mutex_lock(&c->link->mtx);
	c->req.regs[0] = control;
	c->req.regs[1] = heartbeat;
	memcpy(&c->req.regs[2], setpoints, n * sizeof(*setpoints));
	c->req.nregs = 2 + n;
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

int
bus_count(struct bus *b)
{
	return (b->n);
}

void
bus_stop(struct bus *b)
{
	struct bus_link	*l;
	int		 i;

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
		if (b->ctls[i].lockfd >= 0)
			close(b->ctls[i].lockfd);
	}
	free(b->links);
	free(b->ctls);
	free(b);
}
