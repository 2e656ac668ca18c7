/*
 * wire.c: the Modbus side of a simulated controller, over TCP (one
 * listening socket, several clients) or RTU (one serial device).
 *
 * Frames are assembled here from non-blocking reads, by the MBAP length on
 * TCP and by the function code on RTU, so that a slow or malformed sender
 * never stalls the single-threaded loop (modbus_receive() would wait up to
 * its byte timeout for the rest of a frame, freezing every other
 * controller). A regmap request is then checked against the register map
 * by plant_check() and answered with modbus_reply() or
 * modbus_reply_exception() on the controller's modbus_t, pointed at the
 * right client with modbus_set_socket(); a device's goes to its
 * personality (pers_serve()), whose reply PDU is framed here. Injected
 * faults (hang, delay, exception, refuse, drop, a wrong unit id) are
 * applied on the way, and a TCP client idle for --idle-ms is closed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static void	wire_kill(struct sim_client *, const char *);
static void	wire_owner(struct sim_ctl *, const uint8_t *, uint64_t);
static int	wire_bad_reply(struct sim_ctl *, modbus_t *, const uint8_t *,
		    int);
static void	wire_frame(struct sim_ctl *, struct sim_client *,
		    const uint8_t *, int, uint64_t);
static void	wire_serve(struct sim_ctl *, struct sim_client *,
		    const uint8_t *, int);
static int	wire_serve_map(struct sim_ctl *, modbus_t *, const uint8_t *,
		    int, int, int, const char *);
static int	wire_serve_dev(struct sim_ctl *, struct sim_client *,
		    const uint8_t *, int, int, int, const char *);
static int	wire_send(struct sim_ctl *, struct sim_client *,
		    const uint8_t *, const uint8_t *, int);
static void	wire_describe(char *, size_t, const uint8_t *, int, int);
static void	wire_describe_dev(char *, size_t, const uint8_t *, int);
static void	wire_frame_unit(struct sim_ctl *, struct sim_client *,
		    const uint8_t *, int, uint64_t);
static struct sim_ctl *wire_unit(struct sim_ctl *, int);
static void	wire_sfx_tcp(char *, size_t, const struct sim_ctl *,
		    const struct sim_client *, const uint8_t *);
static int	wire_rtu_len(const uint8_t *, size_t);
static uint16_t	wire_crc16(const uint8_t *, size_t);
static void	wire_serial_lost(struct sim_ctl *, const char *);
static int	wire_serial_open(struct sim_ctl *, int);

int
wire_open(struct sim_ctl *c)
{
	TAILQ_INIT(&c->clients);
	TAILQ_INIT(&c->pending);
	c->listen_fd = -1;
	c->serial_fd = -1;
	if (c->ep != c) {
		/* Another unit on an open port or line: its fds serve. */
		c->port = c->ep->port;
		snprintf(c->addr, sizeof(c->addr), "%s", c->ep->addr);
	} else if (c->transport == SIM_TCP) {
		c->mb = modbus_new_tcp(NULL, c->port > 0 ? c->port : 502);
		if (c->mb == NULL) {
			log_warnx("controller %d: modbus_new_tcp: %s", c->idx,
			    modbus_strerror(errno));
			return (-1);
		}
		c->listen_fd = net_listen(c->host, c->port, &c->port);
		if (c->listen_fd == -1)
			return (-1);
		net_hostport(c->addr, sizeof(c->addr), c->host, c->port);
	} else {
		c->mb = modbus_new_rtu(c->addr, c->p.baud, c->p.parity,
		    c->p.data_bits, c->p.stop_bits);
		if (c->mb == NULL) {
			log_warnx("controller %d: %s: %s", c->idx, c->addr,
			    modbus_strerror(errno));
			return (-1);
		}
		if (modbus_set_slave(c->mb, c->p.unit_id) == -1) {
			log_warnx("controller %d: unit id %d: %s", c->idx,
			    c->p.unit_id, modbus_strerror(errno));
			return (-1);
		}
		if (wire_serial_open(c, 0) == -1)
			return (-1);
	}
	return (pers_init(c, clock_mono_ns()));
}

/* Opens the serial device; quiet when retrying after a loss. */
static int
wire_serial_open(struct sim_ctl *c, int quiet)
{
	if (modbus_connect(c->mb) == -1) {
		if (quiet)
			log_debug("controller %d: %s: %s", c->idx, c->addr,
			    modbus_strerror(errno));
		else
			log_warnx("controller %d: %s: %s", c->idx, c->addr,
			    modbus_strerror(errno));
		return (-1);
	}
	c->serial_fd = modbus_get_socket(c->mb);
	c->rxlen = 0;
	return (0);
}

/* The serial line failed (a pty whose other side went away): retry. */
static void
wire_serial_lost(struct sim_ctl *c, const char *why)
{
	uint64_t	 now = clock_mono_ns();

	log_warnx("controller %d: %s: %s, reopening in 1 s", c->idx, c->addr,
	    why);
	evlog_emit(c, now, "serial_lost reason=%s", strcmp(why, "hangup") == 0 ?
	    "hangup" : strcmp(why, "end of file") == 0 ? "eof" : "error");
	modbus_close(c->mb);
	c->serial_fd = -1;
	c->rxlen = 0;
	c->reopen_ns = now + 1000000000ULL;
}

void
wire_close(struct sim_ctl *c)
{
	struct sim_client	*cl;

	TAILQ_FOREACH(cl, &c->clients, entry)
		wire_kill(cl, "exit");
	wire_reap(c);
	wire_flush(c);
	if (c->listen_fd != -1)
		close(c->listen_fd);
	c->listen_fd = -1;
	if (c->mb != NULL && c->ep == c) {
		if (c->transport == SIM_RTU && c->serial_fd != -1)
			modbus_close(c->mb);
		modbus_free(c->mb);
	}
	c->mb = NULL;
	plant_free(c);
}

/* Forgets the requests whose replies are delayed (a power cycle). */
void
wire_flush(struct sim_ctl *c)
{
	struct sim_pending	*pe;

	while ((pe = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, pe, entry);
		c->npending--;
		free(pe);
	}
}

void
wire_poll(struct sim_ctl *c, struct pollset *ps)
{
	struct sim_client	*cl;

	if (c->listen_fd != -1)
		pollset_add(ps, c->listen_fd, POLLIN, POLL_TCP_LISTEN, c);
	if (c->serial_fd != -1)
		pollset_add(ps, c->serial_fd, POLLIN, POLL_SERIAL, c);
	TAILQ_FOREACH(cl, &c->clients, entry) {
		if (!cl->dead)
			pollset_add(ps, cl->fd, POLLIN, POLL_TCP_CLIENT, cl);
	}
}

void
wire_accept(struct sim_ctl *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct sim_client	*cl;
	struct linger		 lg = { 1, 0 };
	char			 host[INET6_ADDRSTRLEN], serv[8], peer[80];
	int			 fd, one = 1, i;

	for (i = 0; i < 16; i++) {
		sslen = sizeof(ss);
		fd = accept4(c->listen_fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("controller %d: accept", c->idx);
			return;
		}
		if (getnameinfo((struct sockaddr *)&ss, sslen, host,
		    sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
			snprintf(peer, sizeof(peer), "?");
		else
			snprintf(peer, sizeof(peer), "%s:%s", host, serv);
		if (c->refuse || c->nclients >= SIM_MAXCLIENTS) {
			/* Reset, so the master sees the link fail at once. */
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
			close(fd);
			evlog_emit(c, clock_mono_ns(), "refused peer=%s reason=%s",
			    peer, c->refuse ? "refuse" : "too_many");
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((cl = calloc(1, sizeof(*cl))) == NULL) {
			log_warn("controller %d: calloc", c->idx);
			close(fd);
			continue;
		}
		cl->ctl = c;
		cl->fd = fd;
		cl->id = ++c->next_client_id;
		cl->last_ns = clock_mono_ns();
		snprintf(cl->peer, sizeof(cl->peer), "%s", peer);
		TAILQ_INSERT_TAIL(&c->clients, cl, entry);
		c->nclients++;
		evlog_emit(c, clock_mono_ns(), "connect cl=%d peer=%s", cl->id,
		    cl->peer);
		log_debug("controller %d: client %d connected from %s", c->idx,
		    cl->id, cl->peer);
	}
}

/* Marks a client closed; its fd is closed by wire_reap(). */
static void
wire_kill(struct sim_client *cl, const char *reason)
{
	struct sim_ctl	*c = cl->ctl;

	if (cl->dead)
		return;
	cl->dead = 1;
	c->nclients--;
	shutdown(cl->fd, SHUT_RDWR);
	evlog_emit(c, clock_mono_ns(), "disconnect cl=%d reason=%s", cl->id,
	    reason);
	log_debug("controller %d: client %d closed (%s)", c->idx, cl->id,
	    reason);
}

int
wire_drop(struct sim_ctl *c, const char *reason)
{
	struct sim_client	*cl;
	int			 n = 0;

	c = c->ep;	/* the connections are the endpoint's */
	TAILQ_FOREACH(cl, &c->clients, entry) {
		if (!cl->dead) {
			wire_kill(cl, reason);
			n++;
		}
	}
	c->rxlen = 0;
	return (n);
}

void
wire_reap(struct sim_ctl *c)
{
	struct sim_client	*cl, *next;
	struct sim_pending	*pe, *pnext;
	struct sim_ctl		*u;
	int			 i;

	for (cl = TAILQ_FIRST(&c->clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (!cl->dead)
			continue;
		for (i = 0; i < c->sim->nctls; i++) {
			if ((u = c->sim->ctls[i])->ep != c)
				continue;
			for (pe = TAILQ_FIRST(&u->pending); pe != NULL;
			    pe = pnext) {
				pnext = TAILQ_NEXT(pe, entry);
				if (pe->client == cl) {
					TAILQ_REMOVE(&u->pending, pe, entry);
					u->npending--;
					free(pe);
				}
			}
		}
		TAILQ_REMOVE(&c->clients, cl, entry);
		close(cl->fd);
		free(cl);
	}
}

void
wire_read(struct sim_client *cl)
{
	struct sim_ctl	*c = cl->ctl;
	ssize_t		 n;
	uint64_t	 ts;
	size_t		 total;
	int		 proto, mlen, rounds;

	for (rounds = 0; rounds < 64 && !cl->dead; rounds++) {
		n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len,
		    0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				wire_kill(cl, "error");
			return;
		}
		if (n == 0) {
			wire_kill(cl, "eof");
			return;
		}
		ts = clock_mono_ns();
		cl->last_ns = ts;
		cl->len += n;
		while (cl->len >= 7 && !cl->dead) {
			proto = (cl->buf[2] << 8) | cl->buf[3];
			mlen = (cl->buf[4] << 8) | cl->buf[5];
			if (proto != 0 || mlen < 2 || mlen > 254) {
				evlog_emit(c, ts, "bad_frame reason=%s cl=%d",
				    proto != 0 ? "protocol_id" : "length",
				    cl->id);
				wire_kill(cl, "bad_frame");
				return;
			}
			total = 6 + (size_t)mlen;
			if (cl->len < total)
				break;
			wire_frame(c, cl, cl->buf, (int)total, ts);
			memmove(cl->buf, cl->buf + total, cl->len - total);
			cl->len -= total;
		}
	}
}

void
wire_serial(struct sim_ctl *c, short revents)
{
	ssize_t		 n;
	uint64_t	 ts;
	int		 need;

	if (!(revents & POLLIN)) {
		wire_serial_lost(c, (revents & POLLHUP) ? "hangup" : "error");
		return;
	}
	n = read(c->serial_fd, c->rx + c->rxlen, sizeof(c->rx) - c->rxlen);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		wire_serial_lost(c, strerror(errno));
		return;
	}
	if (n == 0) {
		wire_serial_lost(c, "end of file");
		return;
	}
	ts = clock_mono_ns();
	c->rxlen += n;
	c->rx_last_ns = ts;
	while (c->rxlen >= 4 && c->serial_fd != -1) {
		if ((need = wire_rtu_len(c->rx, c->rxlen)) == 0 ||
		    (size_t)need > c->rxlen) {
			if (need > (int)sizeof(c->rx)) {
				evlog_emit(c, ts, "bad_frame reason=length");
				c->rxlen = 0;
			}
			break;
		}
		if (wire_crc16(c->rx, need - 2) !=
		    (c->rx[need - 2] | (c->rx[need - 1] << 8))) {
			/* Out of step: drop everything, as libmodbus does. */
			evlog_emit(c, ts, "bad_frame reason=crc len=%zu",
			    c->rxlen);
			c->rxlen = 0;
			break;
		}
		wire_frame(c, NULL, c->rx, need, ts);
		memmove(c->rx, c->rx + need, c->rxlen - need);
		c->rxlen -= need;
	}
}

/*
 * Length of the RTU request frame starting at b (unit, function, data,
 * CRC), or 0 if more bytes are needed to tell.
 */
static int
wire_rtu_len(const uint8_t *b, size_t len)
{
	switch (b[1]) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_READ_DISCRETE_INPUTS:
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
	case MODBUS_FC_WRITE_SINGLE_COIL:
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		return (8);
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		return (len < 7 ? 0 : 9 + b[6]);
	case MODBUS_FC_MASK_WRITE_REGISTER:
		return (10);
	case MODBUS_FC_WRITE_AND_READ_REGISTERS:
		return (len < 11 ? 0 : 13 + b[10]);
	default:
		return (4);
	}
}

static uint16_t
wire_crc16(const uint8_t *b, size_t len)
{
	uint16_t	 crc = 0xffff;
	size_t		 i;
	int		 bit;

	for (i = 0; i < len; i++) {
		crc ^= b[i];
		for (bit = 0; bit < 8; bit++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xa001 : crc >> 1;
	}
	return (crc);
}

/* Request as an event line: "fc16 control=1 heartbeat=42 sp=12.0,...
 * owner=N" (owner: the register at owner_at, map v2, else -1). */
static void
wire_describe(char *out, size_t outlen, const uint8_t *pdu, int len,
    int owner_at)
{
	int	 fc = pdu[0], addr = 0, n = 0, i, have, off;
	size_t	 o;
	uint16_t sp;

	if (len >= 5) {
		addr = (pdu[1] << 8) | pdu[2];
		n = (pdu[3] << 8) | pdu[4];
	}
	if (len < 5 || (fc != MODBUS_FC_READ_HOLDING_REGISTERS &&
	    fc != MODBUS_FC_READ_INPUT_REGISTERS &&
	    fc != MODBUS_FC_WRITE_SINGLE_REGISTER &&
	    fc != MODBUS_FC_WRITE_MULTIPLE_REGISTERS)) {
		snprintf(out, outlen, "fc%d len=%d", fc, len);
		return;
	}
	if (fc == MODBUS_FC_WRITE_SINGLE_REGISTER) {
		snprintf(out, outlen, "fc6 addr=%d value=%d", addr, n);
		return;
	}
	if (fc != MODBUS_FC_WRITE_MULTIPLE_REGISTERS) {
		snprintf(out, outlen, "fc%d addr=%d n=%d", fc, addr, n);
		return;
	}
	have = len > 6 ? (len - 6) / 2 : 0;
	if (have > n)
		have = n;
	if (addr != REGMAP_HR_CONTROL || have == 0) {
		o = snprintf(out, outlen, "fc16 addr=%d n=%d values=", addr, n);
		for (i = 0; i < have && o < outlen; i++)
			o += snprintf(out + o, outlen - o, "%s%d", i ? "," : "",
			    (pdu[6 + 2 * i] << 8) | pdu[7 + 2 * i]);
		return;
	}
	o = snprintf(out, outlen, "fc16 control=%d",
	    (pdu[6] << 8) | pdu[7]);
	if (have > 1 && o < outlen)
		o += snprintf(out + o, outlen - o, " heartbeat=%d",
		    (pdu[8] << 8) | pdu[9]);
	for (i = 2; i < have && o < outlen; i++) {
		off = 6 + 2 * i;
		sp = (uint16_t)((pdu[off] << 8) | pdu[off + 1]);
		if (i == owner_at)
			o += snprintf(out + o, outlen - o, " owner=%u", sp);
		else
			o += snprintf(out + o, outlen - o, "%s%.1f",
			    i == 2 ? " sp=" : ",", regmap_reg_to_kpa(sp));
	}
}

/* A device's request as an event line: "fc16 addr=0 n=2 values=1,2",
 * "fc5 addr=0 value=1", "fc4 addr=0 n=8" (raw, as on the wire). */
static void
wire_describe_dev(char *out, size_t outlen, const uint8_t *pdu, int len)
{
	struct pdu_req	 r;
	size_t		 o;
	int		 i;

	if (pdu_parse(pdu, len, &r) != 0) {
		snprintf(out, outlen, "fc%d len=%d", pdu[0], len);
		return;
	}
	if (!r.write) {
		snprintf(out, outlen, "fc%d addr=%d n=%d", r.fc, r.addr, r.n);
		return;
	}
	if (r.fc == MODBUS_FC_WRITE_SINGLE_COIL ||
	    r.fc == MODBUS_FC_WRITE_SINGLE_REGISTER) {
		snprintf(out, outlen, "fc%d addr=%d value=%d", r.fc, r.addr,
		    r.fc == MODBUS_FC_WRITE_SINGLE_COIL ? pdu_bit(&r, 0) :
		    pdu_reg(&r, 0));
		return;
	}
	o = snprintf(out, outlen, "fc%d addr=%d n=%d values=", r.fc, r.addr,
	    r.n);
	for (i = 0; i < r.n && i < 64 && o < outlen; i++)
		o += snprintf(out + o, outlen - o, "%s%d", i ? "," : "",
		    r.fc == MODBUS_FC_WRITE_MULTIPLE_COILS ? pdu_bit(&r, i) :
		    pdu_reg(&r, i));
}

/*
 * The unit of the endpoint ep that answers to unit id: on RTU and on a
 * TCP port shared by several units (a gateway) the one with that id; a
 * TCP port of one controller answers any unit id, as most do.
 */
static struct sim_ctl *
wire_unit(struct sim_ctl *ep, int unit)
{
	struct sim_ctl	*u, *only = NULL;
	int		 i, n = 0;

	for (i = 0; i < ep->sim->nctls; i++) {
		if ((u = ep->sim->ctls[i])->ep != ep)
			continue;
		n++;
		only = u;
		if ((u->wrong_unit != 0 ? u->wrong_unit : u->p.unit_id) == unit)
			return (u);
	}
	return (ep->transport == SIM_TCP && n == 1 && only->wrong_unit == 0 ?
	    only : NULL);
}

/* " cl=N", and " unit=U" on a port shared by several units (a gateway). */
static void
wire_sfx_tcp(char *sfx, size_t len, const struct sim_ctl *c,
    const struct sim_client *cl, const uint8_t *adu)
{
	int	 i, shared = 0;

	for (i = 0; i < c->sim->nctls; i++)
		if (c->sim->ctls[i]->ep == c->ep && c->sim->ctls[i] != c)
			shared = 1;
	if (shared)
		snprintf(sfx, len, " cl=%d unit=%d", cl->id, adu[6]);
	else
		snprintf(sfx, len, " cl=%d", cl->id);
}

/*
 * A complete frame arrived at ts on the endpoint ep: find its unit (every
 * unit, for an RTU broadcast) and hand it over.
 */
static void
wire_frame(struct sim_ctl *ep, struct sim_client *cl, const uint8_t *adu,
    int len, uint64_t ts)
{
	struct sim_ctl	*u;
	int		 unit, i;

	unit = ep->transport == SIM_TCP ? adu[6] : adu[0];
	if (ep->transport == SIM_RTU && unit == REGMAP_BROADCAST) {
		for (i = 0; i < ep->sim->nctls; i++)
			if ((u = ep->sim->ctls[i])->ep == ep)
				wire_frame_unit(u, cl, adu, len, ts);
		return;
	}
	if ((u = wire_unit(ep, unit)) == NULL) {
		evlog_emit(ep, ts, "ignore unit=%d fc=%d", unit,
		    adu[ep->transport == SIM_TCP ? 7 : 1]);
		return;
	}
	wire_frame_unit(u, cl, adu, len, ts);
}

/* A frame for unit c: log it, then serve, delay or drop it. */
static void
wire_frame_unit(struct sim_ctl *c, struct sim_client *cl, const uint8_t *adu,
    int len, uint64_t ts)
{
	struct sim_pending	*pe;
	char			 what[768], sfx[32];
	int			 hl, pdu_len;

	if (c->transport == SIM_TCP) {
		hl = 7;
		pdu_len = len - hl;
		wire_sfx_tcp(sfx, sizeof(sfx), c, cl, adu);
	} else {
		hl = 1;
		pdu_len = len - hl - 2;
		snprintf(sfx, sizeof(sfx), " unit=%d", adu[0]);
	}
	c->requests++;
	if (c->p.pers == PERS_REGMAP)
		wire_describe(what, sizeof(what), adu + hl, pdu_len,
		    c->p.map_version >= 2 ? REGMAP_HR_OWNER(c->p.channels) :
		    -1);
	else
		wire_describe_dev(what, sizeof(what), adu + hl, pdu_len);
	evlog_emit(c, ts, "%s%s", what, sfx);

	if (c->hang_forever || ts < c->hang_until_ns) {
		evlog_emit(c, ts, "discard reason=hang%s", sfx);
		return;
	}
	if (c->transport == SIM_RTU && c->refuse) {
		evlog_emit(c, ts, "discard reason=refuse%s", sfx);
		return;
	}
	if (c->delay_ms > 0 || !TAILQ_EMPTY(&c->pending)) {
		if (c->npending >= SIM_PENDING_MAX ||
		    (pe = calloc(1, sizeof(*pe))) == NULL) {
			evlog_emit(c, ts, "discard reason=queue_full%s", sfx);
			return;
		}
		pe->client = cl;
		pe->due_ns = ts + (uint64_t)c->delay_ms * 1000000ULL;
		pe->len = len;
		memcpy(pe->adu, adu, len);
		TAILQ_INSERT_TAIL(&c->pending, pe, entry);
		c->npending++;
		return;
	}
	wire_serve(c, cl, adu, len);
}

/*
 * Injected: the reply carries another unit id (the request's plus one) or
 * protocol id 1, as a confused gateway might. Writes are applied as usual.
 */
static int
wire_bad_reply(struct sim_ctl *c, modbus_t *mb, const uint8_t *adu, int len)
{
	uint8_t		 req[SIM_ADU_MAX], rsp[SIM_ADU_MAX];
	const uint8_t	*pdu = adu + 7;
	int		 fc = pdu[0], addr, n, i, bytes;
	uint16_t	*regs;

	memcpy(req, adu, len);
	if (c->bad_reply == SIM_BAD_UNIT) {
		req[6]++;
		return (modbus_reply(mb, req, len, c->map));
	}
	if (fc != MODBUS_FC_READ_HOLDING_REGISTERS &&
	    fc != MODBUS_FC_READ_INPUT_REGISTERS)
		return (modbus_reply(mb, adu, len, c->map));
	addr = (pdu[1] << 8) | pdu[2];
	n = (pdu[3] << 8) | pdu[4];
	regs = fc == MODBUS_FC_READ_INPUT_REGISTERS ?
	    c->map->tab_input_registers : c->map->tab_registers;
	bytes = 2 * n;
	memcpy(rsp, adu, 7);
	rsp[2] = 0;
	rsp[3] = 1;			/* not Modbus */
	rsp[4] = (3 + bytes) >> 8;
	rsp[5] = (3 + bytes) & 0xff;
	rsp[7] = (uint8_t)fc;
	rsp[8] = (uint8_t)bytes;
	for (i = 0; i < n; i++) {
		rsp[9 + 2 * i] = regs[addr + i] >> 8;
		rsp[10 + 2 * i] = regs[addr + i] & 0xff;
	}
	return (send(modbus_get_socket(mb), rsp, 9 + bytes, MSG_NOSIGNAL) ==
	    9 + bytes ? 9 + bytes : -1);
}

/* Map v2: a served write that covered OWNER claims or renews. */
static void
wire_owner(struct sim_ctl *c, const uint8_t *pdu, uint64_t now)
{
	int	 own = REGMAP_HR_OWNER(c->p.channels), addr, n;

	if (c->p.map_version < 2)
		return;
	addr = (pdu[1] << 8) | pdu[2];
	n = pdu[0] == MODBUS_FC_WRITE_SINGLE_REGISTER ? 1 :
	    (pdu[3] << 8) | pdu[4];
	if (own >= addr && own < addr + n)
		plant_claimed(c, c->map->tab_registers[own], now);
}

/*
 * A regmap request, pdu_len bytes at pdu, on mb pointed at its client:
 * checked by plant_check() and answered by libmodbus; writes take effect
 * here. Returns what the reply's send returned (-1 failed).
 */
static int
wire_serve_map(struct sim_ctl *c, modbus_t *mb, const uint8_t *adu, int len,
    int hl, int bcast, const char *sfx)
{
	uint16_t	*hr = c->map->tab_registers;
	const uint8_t	*pdu = adu + hl;
	uint16_t	 old_control, old_hb;
	uint64_t	 now = clock_mono_ns();
	int		 pdu_len, fc, exc, rc = 0, write, addr, n, i;

	pdu_len = len - hl - (c->transport == SIM_RTU ? 2 : 0);
	fc = pdu[0];
	write = fc == MODBUS_FC_WRITE_SINGLE_REGISTER ||
	    fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS;
	plant_step(c, now);

	exc = c->exc_code != 0 ? c->exc_code : plant_check(c, pdu, pdu_len);
	if (exc != 0) {
		c->exceptions++;
		if (bcast)
			return (0);
		rc = modbus_reply_exception(mb, adu, exc);
		evlog_emit(c, clock_mono_ns(), "exception code=%d fc=%d%s", exc,
		    fc, sfx);
	} else if (bcast) {
		/* Broadcast: writes are applied, nothing is answered. */
		if (!write)
			return (0);
		old_control = hr[REGMAP_HR_CONTROL];
		old_hb = hr[REGMAP_HR_HEARTBEAT];
		addr = (pdu[1] << 8) | pdu[2];
		if (fc == MODBUS_FC_WRITE_SINGLE_REGISTER)
			hr[addr] = (pdu[3] << 8) | pdu[4];
		else {
			n = (pdu[3] << 8) | pdu[4];
			for (i = 0; i < n; i++)
				hr[addr + i] = (pdu[6 + 2 * i] << 8) |
				    pdu[7 + 2 * i];
		}
		c->writes++;
		wire_owner(c, pdu, now);
		plant_written(c, old_control, old_hb, now);
	} else {
		old_control = hr[REGMAP_HR_CONTROL];
		old_hb = hr[REGMAP_HR_HEARTBEAT];
		if (c->transport == SIM_TCP && c->bad_reply != 0)
			rc = wire_bad_reply(c, mb, adu, len);
		else
			rc = modbus_reply(mb, adu, len, c->map);
		if (write) {
			c->writes++;
			wire_owner(c, pdu, now);
			plant_written(c, old_control, old_hb, now);
		}
		if (rc != -1)
			evlog_emit(c, clock_mono_ns(), "reply fc=%d%s", fc, sfx);
	}
	return (rc);
}

/*
 * A device's request: served by its personality (pers_serve()), the reply
 * framed by wire_send(), exceptions by libmodbus on mb. A broadcast's
 * writes are applied and nothing is answered. Returns -1 if the reply
 * could not be sent.
 */
static int
wire_serve_dev(struct sim_ctl *c, struct sim_client *cl, const uint8_t *adu,
    int len, int hl, int bcast, const char *sfx)
{
	uint8_t		 rsp[SIM_ADU_MAX];
	const uint8_t	*pdu = adu + hl;
	uint64_t	 now = clock_mono_ns();
	int		 exc, rc, rsp_len = 0, fc = pdu[0];

	pers_step(c, now);
	exc = c->exc_code != 0 ? c->exc_code : pers_serve(c, pdu,
	    len - hl - (c->transport == SIM_RTU ? 2 : 0), rsp, &rsp_len, now);
	if (exc != 0)
		c->exceptions++;
	else if (fc == MODBUS_FC_WRITE_SINGLE_COIL ||
	    fc == MODBUS_FC_WRITE_SINGLE_REGISTER ||
	    fc == MODBUS_FC_WRITE_MULTIPLE_COILS ||
	    fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS)
		c->writes++;
	if (bcast)
		return (0);
	if (exc != 0) {
		rc = modbus_reply_exception(c->ep->mb, adu, exc);
		evlog_emit(c, clock_mono_ns(), "exception code=%d fc=%d%s", exc,
		    fc, sfx);
		return (rc);
	}
	if ((rc = wire_send(c, cl, adu, rsp, rsp_len)) != -1)
		evlog_emit(c, clock_mono_ns(), "reply fc=%d%s", fc, sfx);
	return (rc);
}

/*
 * Sends a device's reply PDU framed as its request was: on TCP with the
 * request's transaction and unit id (or, injected, another unit id or
 * protocol id 1 on reads), on RTU with its unit id and a CRC.
 */
static int
wire_send(struct sim_ctl *c, struct sim_client *cl, const uint8_t *adu,
    const uint8_t *rsp, int rsp_len)
{
	uint8_t		 out[SIM_ADU_MAX + 8];
	uint16_t	 crc;
	int		 n;

	if (c->transport == SIM_TCP) {
		memcpy(out, adu, 7);
		out[2] = 0;
		out[3] = c->bad_reply == SIM_BAD_PROTO && rsp[0] <= 4;
		out[4] = (rsp_len + 1) >> 8;
		out[5] = (rsp_len + 1) & 0xff;
		if (c->bad_reply == SIM_BAD_UNIT)
			out[6]++;
		memcpy(out + 7, rsp, rsp_len);
		n = 7 + rsp_len;
		return (send(cl->fd, out, n, MSG_NOSIGNAL) == n ? n : -1);
	}
	out[0] = adu[0];
	memcpy(out + 1, rsp, rsp_len);
	crc = wire_crc16(out, 1 + rsp_len);
	out[1 + rsp_len] = crc & 0xff;
	out[2 + rsp_len] = crc >> 8;
	n = 3 + rsp_len;
	return (write(c->ep->serial_fd, out, n) == n ? n : -1);
}

/* Answers one request now, by its personality. */
static void
wire_serve(struct sim_ctl *c, struct sim_client *cl, const uint8_t *adu,
    int len)
{
	modbus_t	*mb;
	char		 sfx[32];
	int		 hl, rc, bcast;

	if (cl != NULL && cl->dead)
		return;
	mb = c->ep->mb;
	if (c->transport == SIM_TCP) {
		hl = 7;
		bcast = 0;
		modbus_set_socket(mb, cl->fd);
		wire_sfx_tcp(sfx, sizeof(sfx), c, cl, adu);
	} else {
		if (c->ep->serial_fd == -1)
			return;
		hl = 1;
		bcast = adu[0] == REGMAP_BROADCAST;
		modbus_set_socket(mb, c->ep->serial_fd);
		snprintf(sfx, sizeof(sfx), " unit=%d", adu[0]);
	}
	if (c->p.pers == PERS_REGMAP)
		rc = wire_serve_map(c, mb, adu, len, hl, bcast, sfx);
	else
		rc = wire_serve_dev(c, cl, adu, len, hl, bcast, sfx);
	if (rc == -1) {
		if (cl != NULL)
			wire_kill(cl, "error");
		else
			log_warnx("controller %d: %s: reply: %s", c->idx,
			    c->addr, modbus_strerror(errno));
	}
}

void
wire_timers(struct sim_ctl *c, uint64_t now)
{
	struct sim_pending	*pe;
	struct sim_client	*cl;

	while ((pe = TAILQ_FIRST(&c->pending)) != NULL && pe->due_ns <= now) {
		TAILQ_REMOVE(&c->pending, pe, entry);
		c->npending--;
		wire_serve(c, pe->client, pe->adu, pe->len);
		free(pe);
	}
	if (c->hang_until_ns != 0 && now >= c->hang_until_ns) {
		c->hang_until_ns = 0;
		evlog_emit(c, now, "hang_end");
	}
	if (c->p.idle_ms > 0 && c->ep == c) {
		/* Only the socket closes: the outputs stay as they were. */
		TAILQ_FOREACH(cl, &c->clients, entry) {
			if (!cl->dead && now - cl->last_ns >=
			    (uint64_t)c->p.idle_ms * 1000000ULL)
				wire_kill(cl, "idle");
		}
	}
	if (c->transport != SIM_RTU || c->ep != c)
		return;
	if (c->serial_fd != -1 && c->rxlen > 0 &&
	    now - c->rx_last_ns >= RTU_FRAME_TIMEOUT_NS) {
		evlog_emit(c, now, "bad_frame reason=timeout len=%zu",
		    c->rxlen);
		c->rxlen = 0;
	}
	if (c->serial_fd == -1 && now >= c->reopen_ns) {
		if (wire_serial_open(c, 1) == -1)
			c->reopen_ns = now + 1000000000ULL;
		else {
			log_info("controller %d: %s reopened", c->idx, c->addr);
			evlog_emit(c, now, "serial_open");
		}
	}
}

/* When wire_timers() next has something to do, UINT64_MAX if never. */
uint64_t
wire_next_ns(struct sim_ctl *c, uint64_t now)
{
	struct sim_pending	*pe;
	struct sim_client	*cl;
	uint64_t		 t = UINT64_MAX;

	if ((pe = TAILQ_FIRST(&c->pending)) != NULL)
		t = pe->due_ns;
	if (c->hang_until_ns != 0 && c->hang_until_ns < t)
		t = c->hang_until_ns;
	TAILQ_FOREACH(cl, &c->clients, entry) {
		if (c->p.idle_ms > 0 && !cl->dead && cl->last_ns +
		    (uint64_t)c->p.idle_ms * 1000000ULL < t)
			t = cl->last_ns + (uint64_t)c->p.idle_ms * 1000000ULL;
	}
	if (c->transport == SIM_RTU && c->ep == c) {
		if (c->serial_fd != -1 && c->rxlen > 0 &&
		    c->rx_last_ns + RTU_FRAME_TIMEOUT_NS < t)
			t = c->rx_last_ns + RTU_FRAME_TIMEOUT_NS;
		if (c->serial_fd == -1 && c->reopen_ns < t)
			t = c->reopen_ns;
	}
	return (t < now ? now : t);
}
