/*
 * pers-rs485.c: the cheap 8-channel RS-485 modules (Modbus RTU, each its
 * own unit id; docs/simulator.md):
 *
 *	rs485-ao8	holding registers 0-7, raw 0..1000 = 0..10.00 V, each
 *			driving a 0-10 V = 0-60 kPa pressure regulator; no
 *			communication watchdog at all
 *	rs485-ai8	input registers 0-7, raw 0..1000 = 0-10 V, the
 *			pressure sensors (0-10 V = 0-60 kPa) of the AO
 *			module's channels
 *	rs485-relay	coils 0-7 and discrete inputs 0-7. Coil 0 drives a
 *			retriggerable safety relay: it stays in while coil 0
 *			toggles at least every dropout_ms; its contacts power
 *			the AO module's regulators and hold a normally-open
 *			vent valve closed; its feedback contact is DI 0.
 *			DI 1 is the e-stop circuit (1 = closed), DI 2 the
 *			client's stop switch (1 = pressed).
 *
 * An AI or relay module is wired to the AO module before it on the
 * command line (pers_attach()); the AO module owns the channels'
 * pressures, the others read or gate them.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sim.h"

#define RS485_FULL		1000	/* 10.00 V */

static void	rs485_relay(struct sim_ctl *, uint64_t);
static int	rs485_bits(struct sim_ctl *, const struct pdu_req *,
		    uint8_t *, int *, uint64_t);

void
rs485_init(struct sim_ctl *c, uint64_t now)
{
	c->max_p = (uint16_t)lround(SIM_DEV_KPA * 10.0);
	c->step_ns = now;
	rs485_step(c, now);
}

/* The safety relay at now: in while coil 0 toggled less than dropout_ms
 * ago (or welded); its feedback and the wired inputs. */
static void
rs485_relay(struct sim_ctl *r, uint64_t now)
{
	uint64_t	 dropout_ns = (uint64_t)r->p.dropout_ms * 1000000ULL;
	int		 in;

	in = r->welded ||
	    (r->edge_ns != 0 && now - r->edge_ns < dropout_ns);
	if (in != r->relay_in) {
		r->relay_in = in;
		if (in)
			evlog_emit(r, now, "relay in");
		else
			evlog_emit(r, now, "relay out ms=%.1f",
			    (now - r->edge_ns) / 1e6);
	}
	r->di[0] = (uint8_t)r->relay_in;
	r->di[1] = !r->estop;
	r->di[2] = r->client_stop != 0;
}

/* Advances a module to now: the relay, the regulators, the sensors. */
void
rs485_step(struct sim_ctl *c, uint64_t now)
{
	double	 target[SIM_DEV_CH];
	int	 i, powered = 1;

	switch (c->p.pers) {
	case PERS_AO8:
		if (c->relay != NULL) {
			rs485_relay(c->relay, now);
			powered = c->relay->relay_in;
		}
		for (i = 0; i < SIM_DEV_CH; i++)
			target[i] = powered ? fmin(c->ao[i], RS485_FULL) *
			    SIM_DEV_KPA * 10.0 / RS485_FULL : 0.0;
		plant_advance(c, now, target, !powered, "relay");
		break;
	case PERS_AI8:
		rs485_step(c->peer, now);
		for (i = 0; i < SIM_DEV_CH; i++) {
			if (!c->frozen[i])
				c->ai[i] = (uint16_t)lround(fmin(
				    c->peer->pressure[i] / (SIM_DEV_KPA * 10.0),
				    1.0) * RS485_FULL);
		}
		break;
	default:	/* PERS_RELAY */
		rs485_relay(c, now);
		break;
	}
}

/* The relay module: FC1 coils, FC2 inputs, FC5/FC15 coils; a change of
 * coil 0 retriggers the safety relay. */
static int
rs485_bits(struct sim_ctl *c, const struct pdu_req *r, uint8_t *rsp,
    int *rsp_len, uint64_t now)
{
	int	 i, v;

	if (r->addr + r->n > SIM_DEV_CH)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
	if (r->fc == MODBUS_FC_READ_COILS)
		*rsp_len = pdu_bits(rsp, r->fc, c->coil + r->addr, r->n);
	else if (r->fc == MODBUS_FC_READ_DISCRETE_INPUTS)
		*rsp_len = pdu_bits(rsp, r->fc, c->di + r->addr, r->n);
	else {
		for (i = 0; i < r->n; i++) {
			v = pdu_bit(r, i);
			if (r->addr + i == 0 && v != c->coil[0])
				c->edge_ns = now;
			c->coil[r->addr + i] = (uint8_t)v;
		}
		*rsp_len = pdu_echo(rsp, r);
	}
	return (0);
}

/* Serves a request checked for its form and function (pers_serve()). */
int
rs485_serve(struct sim_ctl *c, const struct pdu_req *r, uint8_t *rsp,
    int *rsp_len, uint64_t now)
{
	int	 i;

	if (c->p.pers == PERS_RELAY)
		return (rs485_bits(c, r, rsp, rsp_len, now));
	if (r->addr + r->n > SIM_DEV_CH)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
	if (c->p.pers == PERS_AI8) {
		*rsp_len = pdu_regs(rsp, r->fc, c->ai + r->addr, r->n);
		return (0);
	}
	if (!r->write) {
		*rsp_len = pdu_regs(rsp, r->fc, c->ao + r->addr, r->n);
		return (0);
	}
	for (i = 0; i < r->n; i++) {
		if (pdu_reg(r, i) > RS485_FULL)
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
	}
	for (i = 0; i < r->n; i++)
		c->ao[r->addr + i] = pdu_reg(r, i);
	*rsp_len = pdu_echo(rsp, r);
	return (0);
}

/* Power lost and back: outputs and coils off (the coil's fall is no
 * toggle: the relay drops dropout_ms after the last one). */
void
rs485_powercycle(struct sim_ctl *c, uint64_t now)
{
	rs485_step(c, now);
	evlog_emit(c, now, "powercycle");
	log_info("controller %d: power cycle", c->idx);
	memset(c->ao, 0, sizeof(c->ao));
	memset(c->coil, 0, sizeof(c->coil));
	rs485_step(c, now);
}
