/*
 * pers-wago.c: the wago-750-352 personality, a WAGO 750-352 Modbus TCP
 * coupler with two 750-559 analogue output modules (8 channels driving
 * 0-10 V pressure regulators, 0-60 kPa), two 750-459 analogue input
 * modules (8 pressure sensors, 0-10 V = 0-60 kPa), a 750-430 (8 digital
 * inputs: 0 the e-stop circuit, 1 the client's stop switch) and a 750-530
 * (8 digital outputs: 0 the vent valve, energised = closed), and the
 * coupler's Modbus watchdog, as WAGO's public manuals describe them
 * (check them against your coupler's manual; docs/simulator.md).
 *
 * The process image: reads (FC1..FC4) at 0x0000 give the inputs and at
 * 0x0200 the outputs read back; writes (FC5, FC6, FC15, FC16) at either
 * set the outputs. The watchdog in holding registers 0x1000..0x1008 is off
 * after power-up; once it expires the outputs go to 0 and every request
 * but the watchdog's own registers is answered with exception 04 until a
 * simple stop (0x1008) or a restart (0x1007).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sim.h"

#define WAGO_FULL		0x7ff8	/* 10 V, the low 3 bits unused */
#define WAGO_OUT		0x0200	/* the output image, read back */
#define WAGO_WD			0x1000
#define WAGO_ID			0x2010	/* firmware index, series, device */
#define WAGO_FIRMWARE		7

/* The watchdog registers, from 0x1000. */
enum {
	WD_TIME,		/* timeout in 100 ms, 0 off */
	WD_MASK,		/* function codes 1..16 that feed it */
	WD_MASK_17_32,
	WD_TRIGGER,		/* fed each time it changes */
	WD_MIN_TIME,
	WD_STOP_MASK,
	WD_STATUS,		/* read only */
	WD_RESTART,		/* write 1 */
	WD_STOP			/* write 0xAA55 or 0x55AA */
};

enum {
	WD_OFF,
	WD_ACTIVE,
	WD_EXPIRED
};

static const uint16_t wago_ident[3] = { WAGO_FIRMWARE, 750, 352 };

static int	wago_in(const struct pdu_req *, int, int);
static int	wago_exempt(const struct sim_ctl *, const struct pdu_req *);
static int	wago_wd_write(struct sim_ctl *, const struct pdu_req *,
		    uint64_t);
static void	wago_wd_set(struct sim_ctl *, int, uint16_t, uint64_t);
static int	wago_read(struct sim_ctl *, const struct pdu_req *, uint8_t *,
		    int *);

void
wago_init(struct sim_ctl *c, uint64_t now)
{
	c->max_p = (uint16_t)lround(SIM_DEV_KPA * 10.0);
	c->step_ns = now;
	wago_step(c, now);
}

/* Whether the request lies in [base, base + n). */
static int
wago_in(const struct pdu_req *r, int base, int n)
{
	return (r->addr >= base && r->addr + r->n <= base + n);
}

/* After expiry, the watchdog's registers still serve: reads of them, and
 * writes of restart and stop. */
static int
wago_exempt(const struct sim_ctl *c, const struct pdu_req *r)
{
	if (c->wd[WD_STATUS] != WD_EXPIRED)
		return (1);
	if (r->fc == MODBUS_FC_READ_HOLDING_REGISTERS ||
	    r->fc == MODBUS_FC_READ_INPUT_REGISTERS)
		return (wago_in(r, WAGO_WD, SIM_WD_REGS));
	if (r->fc == MODBUS_FC_WRITE_SINGLE_REGISTER ||
	    r->fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS)
		return (wago_in(r, WAGO_WD + WD_RESTART, 2));
	return (0);
}

/* Advances the coupler to now: the watchdog, the inputs, the physics. */
void
wago_step(struct sim_ctl *c, uint64_t now)
{
	uint16_t	*wd = c->wd;
	double		 target[SIM_DEV_CH];
	unsigned	 raw;
	int		 i;

	if (wd[WD_STATUS] == WD_ACTIVE && wd[WD_TIME] > 0 && !c->wd_broken &&
	    now - c->wd_fed_ns >= (uint64_t)wd[WD_TIME] * 100000000ULL) {
		wd[WD_STATUS] = WD_EXPIRED;
		memset(c->ao, 0, sizeof(c->ao));
		memset(c->coil, 0, sizeof(c->coil));
		evlog_emit(c, now, "watchdog ms=%u", wd[WD_TIME] * 100U);
		log_info("controller %d: watchdog expired, outputs off",
		    c->idx);
	}
	c->di[0] = !c->estop;
	c->di[1] = c->client_stop != 0;
	for (i = 0; i < SIM_DEV_CH; i++) {
		raw = c->ao[i] >= 0x8000 ? 0 : c->ao[i] & WAGO_FULL;
		target[i] = raw * SIM_DEV_KPA * 10.0 / WAGO_FULL;
	}
	plant_advance(c, now, target, c->coil[0] == 0,
	    wd[WD_STATUS] == WD_EXPIRED ? "watchdog" : "valve");
	for (i = 0; i < SIM_DEV_CH; i++) {
		if (c->frozen[i])
			continue;
		raw = (unsigned)lround(fmin(c->pressure[i] /
		    (SIM_DEV_KPA * 10.0), 1.0) * 4095.0);
		c->ai[i] = (uint16_t)(raw << 3);
	}
}

/* One watchdog register written with v. */
static void
wago_wd_set(struct sim_ctl *c, int reg, uint16_t v, uint64_t now)
{
	uint16_t	*wd = c->wd;

	switch (reg) {
	case WD_TIME:
		/* Not while it runs; a time starts it. */
		if (wd[WD_STATUS] != WD_OFF)
			break;
		wd[WD_TIME] = v;
		if (v > 0) {
			wd[WD_STATUS] = WD_ACTIVE;
			c->wd_fed_ns = now;
			evlog_emit(c, now, "watchdog_start ms=%u", v * 100U);
		}
		break;
	case WD_MASK:
	case WD_MASK_17_32:
		/* "not possible to modify this value while the watchdog is
		 * running": the write is answered, the value stays. */
		if (wd[WD_STATUS] == WD_OFF)
			wd[reg] = v;
		break;
	case WD_TRIGGER:
		if (v != wd[WD_TRIGGER] && wd[WD_STATUS] == WD_ACTIVE)
			c->wd_fed_ns = now;
		wd[WD_TRIGGER] = v;
		break;
	case WD_RESTART:
		wd[reg] = v;
		if (v == 1 && wd[WD_STATUS] != WD_OFF && wd[WD_TIME] > 0) {
			if (wd[WD_STATUS] == WD_EXPIRED)
				evlog_emit(c, now, "watchdog_restart");
			wd[WD_STATUS] = WD_ACTIVE;
			c->wd_fed_ns = now;
		}
		break;
	case WD_STOP:
		wd[reg] = v;
		if ((v == 0xaa55 || v == 0x55aa) && wd[WD_STATUS] != WD_OFF) {
			evlog_emit(c, now, "watchdog_stop status=%u",
			    wd[WD_STATUS]);
			wd[WD_STATUS] = WD_OFF;
		}
		break;
	default:
		wd[reg] = v;
		break;
	}
}

/* FC6/FC16 at 0x1000..0x1008, in register order; 0x1006 is read only. */
static int
wago_wd_write(struct sim_ctl *c, const struct pdu_req *r, uint64_t now)
{
	int	 i, reg = r->addr - WAGO_WD;

	if (reg <= WD_STATUS && reg + r->n > WD_STATUS)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
	for (i = 0; i < r->n; i++)
		wago_wd_set(c, reg + i, pdu_reg(r, i), now);
	return (0);
}

/* FC1..FC4: the inputs at 0x0000, the outputs at 0x0200, the watchdog,
 * the identity. */
static int
wago_read(struct sim_ctl *c, const struct pdu_req *r, uint8_t *rsp,
    int *rsp_len)
{
	if (r->fc == MODBUS_FC_READ_COILS ||
	    r->fc == MODBUS_FC_READ_DISCRETE_INPUTS) {
		if (wago_in(r, 0, SIM_DEV_CH))
			*rsp_len = pdu_bits(rsp, r->fc, c->di + r->addr, r->n);
		else if (wago_in(r, WAGO_OUT, SIM_DEV_CH))
			*rsp_len = pdu_bits(rsp, r->fc,
			    c->coil + r->addr - WAGO_OUT, r->n);
		else
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		return (0);
	}
	if (wago_in(r, 0, SIM_DEV_CH))
		*rsp_len = pdu_regs(rsp, r->fc, c->ai + r->addr, r->n);
	else if (wago_in(r, WAGO_OUT, SIM_DEV_CH))
		*rsp_len = pdu_regs(rsp, r->fc, c->ao + r->addr - WAGO_OUT,
		    r->n);
	else if (wago_in(r, WAGO_WD, SIM_WD_REGS))
		*rsp_len = pdu_regs(rsp, r->fc, c->wd + r->addr - WAGO_WD,
		    r->n);
	else if (wago_in(r, WAGO_ID, 3))
		*rsp_len = pdu_regs(rsp, r->fc, wago_ident + r->addr - WAGO_ID,
		    r->n);
	else
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
	return (0);
}

/*
 * Serves a request checked for its form: 0 with the reply in rsp, or the
 * exception to answer. A served request whose function code is in the
 * watchdog's mask feeds it.
 */
int
wago_serve(struct sim_ctl *c, const struct pdu_req *r, uint8_t *rsp,
    int *rsp_len, uint64_t now)
{
	int	 i, base, exc = 0;

	if (!wago_exempt(c, r))
		return (MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE);
	if (!r->write)
		exc = wago_read(c, r, rsp, rsp_len);
	else if (r->fc == MODBUS_FC_WRITE_SINGLE_COIL ||
	    r->fc == MODBUS_FC_WRITE_MULTIPLE_COILS ||
	    wago_in(r, 0, SIM_DEV_CH) || wago_in(r, WAGO_OUT, SIM_DEV_CH)) {
		base = r->addr >= WAGO_OUT ? WAGO_OUT : 0;
		if (!wago_in(r, base, SIM_DEV_CH))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		for (i = 0; i < r->n; i++) {
			if (r->fc == MODBUS_FC_WRITE_SINGLE_COIL ||
			    r->fc == MODBUS_FC_WRITE_MULTIPLE_COILS)
				c->coil[r->addr - base + i] =
				    (uint8_t)pdu_bit(r, i);
			else
				c->ao[r->addr - base + i] = pdu_reg(r, i);
		}
	} else if (wago_in(r, WAGO_WD, SIM_WD_REGS))
		exc = wago_wd_write(c, r, now);
	else
		exc = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
	if (exc != 0)
		return (exc);
	if (r->write)
		*rsp_len = pdu_echo(rsp, r);
	if (c->wd[WD_STATUS] == WD_ACTIVE && (c->wd[WD_MASK] >> (r->fc - 1)) & 1)
		c->wd_fed_ns = now;
	return (0);
}

/* Power lost and back: outputs off, the watchdog off with its registers
 * at 0, as after any power-up. What is wired stays. */
void
wago_powercycle(struct sim_ctl *c, uint64_t now)
{
	wago_step(c, now);
	evlog_emit(c, now, "powercycle watchdog=%u", c->wd[WD_STATUS]);
	log_info("controller %d: power cycle", c->idx);
	memset(c->ao, 0, sizeof(c->ao));
	memset(c->coil, 0, sizeof(c->coil));
	memset(c->wd, 0, sizeof(c->wd));
	wago_step(c, now);
}
