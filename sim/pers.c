/*
 * pers.c: a controller's personality, the device it behaves as
 * (--personality): regmap, today's controller of register map v2/v1
 * (plant.c, the default), or one of the described devices of
 * config/devices/ (pers-wago.c, pers-rs485.c). This file is the one
 * place that knows them all: their names, the function codes they serve,
 * which control commands apply to them, and where each one's init, step,
 * request and power cycle go.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define FC(n)		(1U << ((n) - 1))

static const struct {
	const char	*name;
	unsigned	 fcs;		/* function codes served (devices) */
	int		 can;		/* PERS_CAN_*: control commands */
} pers_table[PERS_COUNT] = {
	[PERS_REGMAP] = { "regmap", 0, PERS_CAN_INPUTS | PERS_CAN_CHANNELS |
	    PERS_CAN_SENSORS | PERS_CAN_REGMAP | PERS_CAN_WATCHDOG },
	[PERS_WAGO] = { "wago-750-352", FC(1) | FC(2) | FC(3) | FC(4) | FC(5) |
	    FC(6) | FC(15) | FC(16), PERS_CAN_INPUTS | PERS_CAN_CHANNELS |
	    PERS_CAN_SENSORS | PERS_CAN_WATCHDOG },
	[PERS_AO8] = { "rs485-ao8", FC(3) | FC(6) | FC(16), PERS_CAN_CHANNELS },
	[PERS_AI8] = { "rs485-ai8", FC(4), PERS_CAN_SENSORS },
	[PERS_RELAY] = { "rs485-relay", FC(1) | FC(2) | FC(5) | FC(15),
	    PERS_CAN_INPUTS | PERS_CAN_RELAY },
};

static void	pers_cat(char *, size_t, size_t *, const char *, ...)
		    LOG_PRINTF(4, 5);
static void	pers_array(char *, size_t, size_t *, const char *,
		    const uint16_t *, const uint8_t *, const int *,
		    const double *);

/* The personality called name, -1 if none is. */
int
pers_find(const char *name)
{
	int	 i;

	for (i = 0; i < PERS_COUNT; i++) {
		if (strcmp(name, pers_table[i].name) == 0)
			return (i);
	}
	return (-1);
}

const char *
pers_name(int pers)
{
	return (pers >= 0 && pers < PERS_COUNT ? pers_table[pers].name : "?");
}

/* Whether c has what a control command needs (PERS_CAN_*). */
int
pers_can(const struct sim_ctl *c, int what)
{
	return ((pers_table[c->p.pers].can & what) != 0);
}

/*
 * A controller being added to sim: a device's fixed channel count, its
 * transport, and the wiring of an AI or relay module to the AO module
 * before it. Returns -1, having said why, if it cannot be.
 */
int
pers_attach(struct sim *sim, struct sim_ctl *c)
{
	struct sim_ctl	*ao = NULL;
	int		 i;

	if (c->p.pers == PERS_REGMAP)
		return (0);
	c->p.channels = SIM_DEV_CH;
	if (c->p.pers == PERS_WAGO && c->transport != SIM_TCP) {
		log_warnx("controller %d: %s is a Modbus TCP coupler (use "
		    "--tcp)", c->idx, pers_name(c->p.pers));
		return (-1);
	}
	if (c->p.pers != PERS_AI8 && c->p.pers != PERS_RELAY)
		return (0);
	for (i = 0; i < sim->nctls; i++) {
		if (sim->ctls[i] != c && sim->ctls[i]->p.pers == PERS_AO8)
			ao = sim->ctls[i];
	}
	if (ao == NULL) {
		log_warnx("controller %d: %s needs an rs485-ao8 before it on "
		    "the command line (the channels it is wired to)", c->idx,
		    pers_name(c->p.pers));
		return (-1);
	}
	if (c->p.pers == PERS_RELAY && ao->relay != NULL) {
		log_warnx("controller %d: rs485-ao8 controller %d already has "
		    "its relay, controller %d", c->idx, ao->idx,
		    ao->relay->idx);
		return (-1);
	}
	c->peer = ao;
	if (c->p.pers == PERS_RELAY)
		ao->relay = c;
	return (0);
}

int
pers_init(struct sim_ctl *c, uint64_t now)
{
	switch (c->p.pers) {
	case PERS_REGMAP:
		return (plant_init(c, now));
	case PERS_WAGO:
		wago_init(c, now);
		return (0);
	default:
		rs485_init(c, now);
		return (0);
	}
}

/* Advances c to now (its physics, watchdog, relay). */
void
pers_step(struct sim_ctl *c, uint64_t now)
{
	switch (c->p.pers) {
	case PERS_REGMAP:
		plant_step(c, now);
		break;
	case PERS_WAGO:
		wago_step(c, now);
		break;
	default:
		rs485_step(c, now);
		break;
	}
}

/*
 * A device's request PDU (len bytes, function code first), served at now:
 * returns 0 with the reply PDU in rsp (*rsp_len bytes), or the exception
 * to answer (a refused request changes nothing). Not for regmap, which
 * libmodbus answers (wire.c).
 */
int
pers_serve(struct sim_ctl *c, const uint8_t *pdu, int len, uint8_t *rsp,
    int *rsp_len, uint64_t now)
{
	struct pdu_req	 r;
	int		 exc;

	if (pdu[0] < 1 || pdu[0] > 16 ||
	    !(pers_table[c->p.pers].fcs & FC(pdu[0])))
		return (MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
	if ((exc = pdu_parse(pdu, len, &r)) != 0)
		return (exc);
	*rsp_len = 0;
	if (c->p.pers == PERS_WAGO)
		exc = wago_serve(c, &r, rsp, rsp_len, now);
	else
		exc = rs485_serve(c, &r, rsp, rsp_len, now);
	if (exc == 0 && r.write)
		pers_step(c, now);
	return (exc);
}

void
pers_powercycle(struct sim_ctl *c, uint64_t now)
{
	switch (c->p.pers) {
	case PERS_REGMAP:
		plant_powercycle(c, now);
		break;
	case PERS_WAGO:
		wago_powercycle(c, now);
		break;
	default:
		rs485_powercycle(c, now);
		break;
	}
}

static void
pers_cat(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	*off += n < 0 ? 0 : (size_t)n;
}

/* ,"key":[...] of SIM_DEV_CH values from whichever array is given
 * (pressures in 0.1 kPa are written in kPa). */
static void
pers_array(char *buf, size_t len, size_t *off, const char *key,
    const uint16_t *u16, const uint8_t *u8, const int *flag,
    const double *kpa)
{
	int	 i;

	pers_cat(buf, len, off, ",\"%s\":[", key);
	for (i = 0; i < SIM_DEV_CH; i++) {
		if (u16 != NULL)
			pers_cat(buf, len, off, "%s%u", i ? "," : "", u16[i]);
		else if (u8 != NULL)
			pers_cat(buf, len, off, "%s%u", i ? "," : "", u8[i]);
		else if (flag != NULL)
			pers_cat(buf, len, off, "%s%s", i ? "," : "",
			    flag[i] ? "true" : "false");
		else
			pers_cat(buf, len, off, "%s%.1f", i ? "," : "",
			    regmap_reg_to_kpa((uint16_t)lround(kpa[i])));
	}
	pers_cat(buf, len, off, "]");
}

/*
 * A device's state as one line of JSON (the regmap's is ctlsock.c's,
 * unchanged), without the transport counters ctlsock.c adds. Returns
 * the length, which is >= len if buf was too small.
 */
int
pers_json(struct sim_ctl *c, char *buf, size_t len)
{
	size_t		 off = 0;
	const char	*s;

	pers_step(c, clock_mono_ns());
	pers_cat(buf, len, &off, "{\"controller\":%d,\"personality\":\"%s\","
	    "\"transport\":\"%s\",\"address\":\"", c->idx,
	    pers_name(c->p.pers), c->transport == SIM_TCP ? "tcp" : "rtu");
	for (s = c->addr; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			pers_cat(buf, len, &off, "\\%c", *s);
		else
			pers_cat(buf, len, &off, "%c",
			    (unsigned char)*s < 0x20 ? '?' : *s);
	}
	pers_cat(buf, len, &off, "\",\"unit_id\":%d,\"wrong_unit\":%d,"
	    "\"channels\":%d", c->p.unit_id, c->wrong_unit, c->p.channels);
	if (c->p.pers == PERS_WAGO || c->p.pers == PERS_AO8) {
		pers_array(buf, len, &off, "outputs", c->ao, NULL, NULL, NULL);
		pers_array(buf, len, &off, "pressures", NULL, NULL, NULL,
		    c->pressure);
		pers_array(buf, len, &off, "stuck", NULL, NULL, c->stuck,
		    NULL);
		pers_cat(buf, len, &off, ",\"vent_open\":%s",
		    c->active ? "false" : "true");
	}
	if (c->p.pers == PERS_WAGO || c->p.pers == PERS_AI8) {
		pers_array(buf, len, &off, "inputs", c->ai, NULL, NULL, NULL);
		pers_array(buf, len, &off, "frozen", NULL, NULL, c->frozen,
		    NULL);
	}
	if (c->p.pers == PERS_WAGO || c->p.pers == PERS_RELAY) {
		pers_array(buf, len, &off, "coils", NULL, c->coil, NULL, NULL);
		pers_array(buf, len, &off, "discrete", NULL, c->di, NULL,
		    NULL);
		pers_cat(buf, len, &off, ",\"estop\":%s,\"client_stop\":%s",
		    c->estop ? "true" : "false",
		    c->client_stop ? "true" : "false");
	}
	if (c->p.pers == PERS_WAGO)	/* 0x1000, 0x1001, 0x1003, 0x1006 */
		pers_cat(buf, len, &off, ",\"watchdog\":{\"time\":%u,"
		    "\"mask\":%u,\"trigger\":%u,\"status\":%u}", c->wd[0],
		    c->wd[1], c->wd[3], c->wd[6]);
	if (c->p.pers == PERS_RELAY)
		pers_cat(buf, len, &off, ",\"relay_in\":%s,\"welded\":%s,"
		    "\"dropout_ms\":%d", c->relay_in ? "true" : "false",
		    c->welded ? "true" : "false", c->p.dropout_ms);
	if (c->peer != NULL)
		pers_cat(buf, len, &off, ",\"wired_to\":%d", c->peer->idx);
	return ((int)off);
}
