/*
 * bus-wire.c: one Modbus wire, below bus.c: opening the TCP connection or
 * the serial device (locked, RS-485, RTS), the timeouts, the endpoint
 * lock, and the transactions, framed and checked here. Nothing here knows
 * a controller's registers (their backend's, ctl.h) or the link threads.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <modbus.h>

#include "bus-wire.h"
#include "log.h"

static int	bus_wire_serial(modbus_t *, const struct ctl_conf *, char *,
		    size_t);

/*
 * Response timeout, and between bytes of one frame half of it. libmodbus
 * refuses a microsecond part of a second or more (EINVAL), so split it.
 */
int
bus_wire_timeouts(modbus_t *mb, const struct ctl_conf *c)
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

/* The serial line: ours alone, RS-485 and RTS as configured. */
static int
bus_wire_serial(modbus_t *mb, const struct ctl_conf *c, char *why,
    size_t len)
{
	if (flock(modbus_get_socket(mb), LOCK_EX | LOCK_NB) == -1) {
		snprintf(why, len, "cannot lock %s: %s", c->device,
		    errno == EWOULDBLOCK ? "another process has it open (a "
		    "second massaged on this line?)" : strerror(errno));
		return (-1);
	}
	if (c->rs485 && modbus_rtu_set_serial_mode(mb,
	    MODBUS_RTU_RS485) == -1) {
		snprintf(why, len, "%s: cannot set RS-485 mode: %s",
		    c->device, modbus_strerror(errno));
		return (-1);
	}
	if (c->rts != TABLE_RTS_NONE &&
	    (modbus_rtu_set_rts(mb, c->rts == TABLE_RTS_UP ?
	    MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN) == -1 ||
	    (c->rts_delay_us >= 0 &&
	    modbus_rtu_set_rts_delay(mb, c->rts_delay_us) == -1))) {
		snprintf(why, len, "%s: cannot set RTS direction control: %s",
		    c->device, modbus_strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Opens the wire of c: the TCP connection or the serial device, locked.
 * The context, or NULL with why.
 */
modbus_t *
bus_wire_open(const struct ctl_conf *c, char *why, size_t len)
{
	modbus_t	*mb;
	char		 port[16];

	if (c->transport == TRANSPORT_TCP) {
		snprintf(port, sizeof(port), "%d", c->port);
		mb = modbus_new_tcp_pi(c->host, port);
	} else
		mb = modbus_new_rtu(c->device, c->baud, c->parity,
		    c->data_bits, c->stop_bits);
	if (mb == NULL) {
		snprintf(why, len, "cannot create Modbus context: %s",
		    strerror(errno));
		return (NULL);
	}
	modbus_set_error_recovery(mb, MODBUS_ERROR_RECOVERY_NONE);
	if (bus_wire_timeouts(mb, c) == -1)
		snprintf(why, len, "cannot set the timeouts (%d ms): %s",
		    c->response_timeout_ms, modbus_strerror(errno));
	else if (modbus_connect(mb) == -1) {
		if (c->transport == TRANSPORT_TCP)
			snprintf(why, len, "cannot connect to %s:%d: %s",
			    c->host, c->port, modbus_strerror(errno));
		else
			snprintf(why, len, "cannot open %s: %s", c->device,
			    modbus_strerror(errno));
	} else if (c->transport != TRANSPORT_RTU ||
	    bus_wire_serial(mb, c, why, len) == 0)
		return (mb);
	modbus_close(mb);
	modbus_free(mb);
	return (NULL);
}

/*
 * Creates the run directory, its last component only (its parent is the
 * system's, /run, or the administrator's), mode 0755 whatever the umask.
 * 0, or -1 with errno.
 */
static int
bus_wire_run_dir(const char *run_dir)
{
	int	 fd, e;

	if (mkdir(run_dir, 0755) == -1)
		return (errno == EEXIST ? 0 : -1);
	if ((fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fchmod(fd, 0755) == -1) {
		e = errno;
		if (fd != -1)
			close(fd);
		log_warnx("run directory %s: created, but cannot make it "
		    "mode 0755: %s", run_dir, strerror(e));
		return (0);
	}
	close(fd);
	log_info("run directory %s: created (mode 0755) for the endpoint "
	    "locks", run_dir);
	return (0);
}

/*
 * The local guard: one lock file per controller endpoint under the run
 * directory (created if missing), so two daemons on one machine cannot
 * drive one controller. 0 with *fd the lock; 1 when the lock file cannot
 * be made (why names it and the error: the caller decides whether the
 * controller may go without the guard); -1 refused, with why.
 */
int
bus_wire_lock(const struct ctl_conf *cc, int unit, const char *run_dir,
    int *fd, char *why, size_t len)
{
	char			 ep[320], path[PATH_MAX], pid[32];
	char			*p;
	ssize_t			 n;

	if (cc->transport == TRANSPORT_TCP)
		snprintf(ep, sizeof(ep), "tcp-%.255s-%d-unit%d", cc->host,
		    cc->port, unit);
	else
		snprintf(ep, sizeof(ep), "rtu-%.255s-unit%d", cc->device + 1,
		    unit);
	for (p = ep; *p != '\0'; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock", run_dir,
	    ep) >= sizeof(path)) {
		snprintf(why, len, "refused: the endpoint lock's path is too "
		    "long");
		return (-1);
	}
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (*fd == -1 && errno == ENOENT) {
		if (bus_wire_run_dir(run_dir) == -1) {
			snprintf(why, len, "cannot create the run directory "
			    "%s: %s", run_dir, strerror(errno));
			return (1);
		}
		*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	}
	if (*fd == -1) {
		snprintf(why, len, "cannot create the endpoint lock %s: %s",
		    path, strerror(errno));
		return (1);
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(*fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(why, len, "refused: endpoint locked by another "
		    "massaged on this machine (pid %s, %s)", pid[0] ? pid : "?",
		    path);
		close(*fd);
		*fd = -1;
		return (-1);
	}
	if (ftruncate(*fd, 0) == 0) {
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (write(*fd, pid, n) != n)
			log_debug("%s: cannot write the pid", path);
	}
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
bus_wire_xfer(struct bus_wire *w, int unit, const uint8_t *pdu, int len,
    uint8_t *rpdu, int rmax)
{
	uint8_t		 adu[MODBUS_TCP_MAX_ADU_LENGTH];
	uint8_t		 rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	int		 rtu, hl, n;
	uint16_t	 tid = 0;

	rtu = w->rtu;
	if (rtu) {
		adu[0] = (uint8_t)unit;
		memcpy(adu + 1, pdu, len);
		if (modbus_send_raw_request(w->mb, adu, len + 1) == -1)
			return (-1);
		hl = 1;
	} else {
		tid = ++w->tid;
		adu[0] = tid >> 8;
		adu[1] = tid & 0xff;
		adu[2] = adu[3] = 0;
		adu[4] = (len + 1) >> 8;
		adu[5] = (len + 1) & 0xff;
		adu[6] = (uint8_t)unit;
		memcpy(adu + 7, pdu, len);
		if (send(modbus_get_socket(w->mb), adu, len + 7,
		    MSG_NOSIGNAL) != len + 7) {
			if (errno == 0 || errno == EAGAIN)
				errno = EPIPE;
			return (-1);
		}
		hl = 7;
	}
	if ((n = modbus_receive_confirmation(w->mb, rsp)) == -1)
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
int
bus_wire_read(struct bus_wire *w, int unit, int input, int addr, int n,
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
	if (bus_wire_xfer(w, unit, pdu, 5, r, sizeof(r)) != 2 + 2 * n ||
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
int
bus_wire_write(struct bus_wire *w, int unit, int addr, int n, const uint16_t *v)
{
	uint8_t	 pdu[MODBUS_MAX_PDU_LENGTH], r[16];
	int	 i, len;

	if (n < 1 || n > MODBUS_MAX_WRITE_REGISTERS) {
		errno = EINVAL;
		return (-1);
	}
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
	if (bus_wire_xfer(w, unit, pdu, len, r, sizeof(r)) != 5 ||
	    memcmp(r + 1, pdu + 1, 4) != 0) {
		if (errno == 0)
			errno = EMBBADDATA;
		return (-1);
	}
	return (n);
}

/* FC01 (coils) or FC02 (discrete inputs) of n bits at addr. */
int
bus_wire_read_bits(struct bus_wire *w, int unit, int coils, int addr, int n,
    uint8_t *v)
{
	uint8_t	 pdu[5], r[MODBUS_TCP_MAX_ADU_LENGTH];
	int	 i, bytes = (n + 7) / 8;

	if (n < 1 || n > MODBUS_MAX_READ_BITS) {
		errno = EINVAL;
		return (-1);
	}
	pdu[0] = coils ? MODBUS_FC_READ_COILS : MODBUS_FC_READ_DISCRETE_INPUTS;
	pdu[1] = addr >> 8;
	pdu[2] = addr & 0xff;
	pdu[3] = n >> 8;
	pdu[4] = n & 0xff;
	errno = 0;
	if (bus_wire_xfer(w, unit, pdu, 5, r, sizeof(r)) != 2 + bytes ||
	    r[1] != bytes) {
		if (errno == 0)
			errno = EMBBADDATA;
		return (-1);
	}
	for (i = 0; i < n; i++)
		v[i] = (r[2 + i / 8] >> (i % 8)) & 1;
	return (n);
}

/* FC05: 0xFF00 on, 0x0000 off; the reply echoes the request. */
int
bus_wire_write_bit(struct bus_wire *w, int unit, int addr, int on)
{
	uint8_t	 pdu[5], r[16];

	pdu[0] = MODBUS_FC_WRITE_SINGLE_COIL;
	pdu[1] = addr >> 8;
	pdu[2] = addr & 0xff;
	pdu[3] = on ? 0xff : 0x00;
	pdu[4] = 0;
	errno = 0;
	if (bus_wire_xfer(w, unit, pdu, 5, r, sizeof(r)) != 5 ||
	    memcmp(r + 1, pdu + 1, 4) != 0) {
		if (errno == 0)
			errno = EMBBADDATA;
		return (-1);
	}
	return (1);
}
