/*
 * plant.c: one simulated actuator controller, the "plant" of the control
 * loop: its register map (docs/register-map.md, v2 or v1), what it
 * refuses, the owner claim (v2), its latched faults, its watchdog and the
 * pressure physics of its channels.
 *
 * Each channel's measured pressure follows a first-order response toward
 * its target, advanced by elapsed monotonic time (exact exponential step,
 * so the result does not depend on how often the loop runs). The target is
 * the setpoint while the controller is ACTIVE and 0 otherwise; following a
 * setpoint uses tau_ms, venting uses the faster vent_tau_ms.
 *
 * The device personalities (pers-wago.c, pers-rs485.c) keep their own
 * registers and drive the same physics through plant_advance(): an
 * analogue output sets a pressure regulator's target, a vent valve vents.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sim.h"

static int	plant_mapped(const struct sim_ctl *, int, int, int);
static int	plant_value_ok(const struct sim_ctl *, int, uint16_t);
static int	plant_cause(const struct sim_ctl *);
static int	plant_claim_live(const struct sim_ctl *, uint64_t);
static int	plant_claim_check(struct sim_ctl *, int, int, const uint8_t *);
static void	plant_latch(struct sim_ctl *, int, uint64_t);
static void	plant_reset(struct sim_ctl *, uint64_t);
static uint16_t	plant_reading(double);

int
plant_init(struct sim_ctl *c, uint64_t now)
{
	uint16_t	*in;

	c->map = modbus_mapping_new(0, 0, REGMAP_HR_COUNT, REGMAP_IR_COUNT);
	if (c->map == NULL) {
		log_warnx("controller %d: %s", c->idx, modbus_strerror(errno));
		return (-1);
	}
	c->max_p = (uint16_t)lround(c->p.max_kpa * 10.0);
	c->map->tab_registers[REGMAP_HR_WATCHDOG_MS] =
	    (uint16_t)c->p.watchdog_ms;
	in = c->map->tab_input_registers;
	in[REGMAP_IR_MAP_VERSION] = (uint16_t)c->p.map_version;
	in[REGMAP_IR_CHANNELS] = (uint16_t)c->p.channels;
	in[REGMAP_IR_MAX_PRESSURE] = c->max_p;
	c->step_ns = now;
	c->hb_ns = now;
	plant_step(c, now);
	return (0);
}

void
plant_free(struct sim_ctl *c)
{
	if (c->map != NULL)
		modbus_mapping_free(c->map);
	c->map = NULL;
}

static uint16_t
plant_reading(double p)
{
	if (p <= 0.0)
		return (0);
	if (p >= 65535.0)
		return (65535);
	return ((uint16_t)lround(p));
}

/* Whether [addr, addr+n) lies inside one block of the map (v2: OWNER
 * follows the last setpoint and the last pressure). */
static int
plant_mapped(const struct sim_ctl *c, int input, int addr, int n)
{
	int	 end = addr + n;

	if (addr >= 0 && end <= REGMAP_HR_SETPOINT + c->p.channels +
	    (c->p.map_version >= 2))
		return (1);
	if (input)
		return (addr >= REGMAP_IR_MAP_VERSION &&
		    end <= REGMAP_IR_COUNT);
	return (addr >= REGMAP_HR_WATCHDOG_MS && end <= REGMAP_HR_COUNT);
}

static int
plant_value_ok(const struct sim_ctl *c, int addr, uint16_t v)
{
	if (addr >= REGMAP_HR_SETPOINT &&
	    addr < REGMAP_HR_SETPOINT + c->p.channels)
		return (v <= c->max_p);
	if (addr == REGMAP_HR_WATCHDOG_MS)
		return (v >= 50 && v <= 10000);
	return (1);
}

/* Whether the v2 claim is held and alive. */
static int
plant_claim_live(const struct sim_ctl *c, uint64_t now)
{
	return (c->owner != 0 && now - c->claim_ns <
	    (uint64_t)c->map->tab_registers[REGMAP_HR_WATCHDOG_MS] * 1000000ULL);
}

/*
 * Map v2, the owner claim, for a write of n registers at addr with the
 * values at v (big-endian): a write of OWNER alone claims (refused while
 * another owner's claim lives); CONTROL, HEARTBEAT and SETPOINTs are
 * written only in a frame that also writes the live owner's id to OWNER;
 * FC06 CONTROL = 0 (a vent) is always obeyed.
 */
static int
plant_claim_check(struct sim_ctl *c, int addr, int n, const uint8_t *v)
{
	int		 own = REGMAP_HR_OWNER(c->p.channels), end = addr + n;
	unsigned	 id;
	uint64_t	 now = clock_mono_ns();

	if (c->p.map_version < 2)
		return (0);
	if (n == 1 && addr == REGMAP_HR_CONTROL && v[0] == 0 && v[1] == 0)
		return (0);
	if (addr > own || end <= REGMAP_HR_CONTROL)
		return (0);		/* WATCHDOG_MS: not claimed */
	if (own >= end) {
		evlog_emit(c, now, "claim_refused reason=no_owner owner=%u",
		    c->owner);
		return (REGMAP_EXC_CLAIMED);
	}
	id = (v[2 * (own - addr)] << 8) | v[2 * (own - addr) + 1];
	if (id == 0)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
	if (addr == own) {
		/* The claim itself. */
		if (plant_claim_live(c, now) && id != c->owner) {
			evlog_emit(c, now, "claim_refused reason=claimed "
			    "owner=%u by=%u", c->owner, id);
			return (REGMAP_EXC_CLAIMED);
		}
		return (0);
	}
	if (!plant_claim_live(c, now) || id != c->owner) {
		evlog_emit(c, now, "claim_refused reason=%s owner=%u by=%u",
		    plant_claim_live(c, now) ? "claimed" : "unclaimed",
		    c->owner, id);
		return (REGMAP_EXC_CLAIMED);
	}
	return (0);
}

/* A write bearing OWNER = id was served: the claim is id's, renewed. */
void
plant_claimed(struct sim_ctl *c, unsigned id, uint64_t now)
{
	if (c->owner != id)
		evlog_emit(c, now, "claim owner=%u was=%u", id, c->owner);
	c->owner = id;
	c->claim_ns = now;
	c->map->tab_input_registers[REGMAP_IR_OWNER(c->p.channels)] =
	    (uint16_t)id;
}

/*
 * Power lost and back: every holding register to its power-up value,
 * the latched fault and the claim gone, the valves open. What is wired
 * (e-stop circuit, client switch, a stuck valve) stays.
 */
void
plant_powercycle(struct sim_ctl *c, uint64_t now)
{
	uint16_t	*hr = c->map->tab_registers;

	plant_step(c, now);
	evlog_emit(c, now, "powercycle owner=%u", c->owner);
	log_info("controller %d: power cycle", c->idx);
	memset(hr, 0, REGMAP_HR_COUNT * sizeof(*hr));
	hr[REGMAP_HR_WATCHDOG_MS] = (uint16_t)c->p.watchdog_ms;
	c->fault = REGMAP_FAULT_NONE;
	c->owner = 0;
	c->map->tab_input_registers[REGMAP_IR_OWNER(c->p.channels)] = 0;
	c->hb_ns = now;
	plant_step(c, now);
}

/*
 * Checks a request PDU (function code first) against the map. Returns 0
 * if it may be served, else the Modbus exception code to answer, in the
 * order the Modbus specification checks: function, quantity, address,
 * value. A refused write changes nothing.
 */
int
plant_check(struct sim_ctl *c, const uint8_t *pdu, int len)
{
	int	 fc = pdu[0], addr, n, i;

	if (fc != MODBUS_FC_READ_HOLDING_REGISTERS &&
	    fc != MODBUS_FC_READ_INPUT_REGISTERS &&
	    fc != MODBUS_FC_WRITE_SINGLE_REGISTER &&
	    fc != MODBUS_FC_WRITE_MULTIPLE_REGISTERS)
		return (MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
	if (len < 5)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
	addr = (pdu[1] << 8) | pdu[2];
	n = (pdu[3] << 8) | pdu[4];

	switch (fc) {
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
		if (len != 5 || n < 1 || n > MODBUS_MAX_READ_REGISTERS)
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		if (!plant_mapped(c, fc == MODBUS_FC_READ_INPUT_REGISTERS,
		    addr, n))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		return (0);
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		if (len != 5)
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		if (!plant_mapped(c, 0, addr, 1))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		if (!plant_value_ok(c, addr, (uint16_t)n))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		return (plant_claim_check(c, addr, 1, pdu + 3));
	default:	/* MODBUS_FC_WRITE_MULTIPLE_REGISTERS */
		if (len < 6 || n < 1 || n > MODBUS_MAX_WRITE_REGISTERS ||
		    pdu[5] != 2 * n || len != 6 + 2 * n)
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		if (!plant_mapped(c, 0, addr, n))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
		for (i = 0; i < n; i++) {
			if (!plant_value_ok(c, addr + i, (uint16_t)
			    ((pdu[6 + 2 * i] << 8) | pdu[7 + 2 * i])))
				return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		}
		return (plant_claim_check(c, addr, n, pdu + 6));
	}
}

/* The cause of a fault that is present now, 0 if none. */
static int
plant_cause(const struct sim_ctl *c)
{
	int	 i;

	if (c->estop)
		return (REGMAP_FAULT_ESTOP);
	if (c->sensor_fault)
		return (REGMAP_FAULT_SENSOR);
	for (i = 0; i < c->p.channels; i++) {
		if (plant_reading(c->pressure[i]) > c->max_p)
			return (REGMAP_FAULT_OVERPRESSURE);
	}
	return (REGMAP_FAULT_NONE);
}

static void
plant_latch(struct sim_ctl *c, int code, uint64_t now)
{
	if (c->fault != REGMAP_FAULT_NONE)
		return;
	c->fault = code;
	if (code == REGMAP_FAULT_WATCHDOG)
		evlog_emit(c, now, "watchdog");
	if (code == REGMAP_FAULT_WATCHDOG && c->owner != 0) {
		evlog_emit(c, now, "claim_lapsed owner=%u", c->owner);
		c->owner = 0;
	}
	evlog_emit(c, now, "fault code=%d name=%s", code,
	    regmap_fault_name(code));
	log_info("controller %d: fault %d (%s) latched", c->idx, code,
	    regmap_fault_name(code));
}

/* FAULT_RESET edge: clears the latched fault if no cause is left. */
static void
plant_reset(struct sim_ctl *c, uint64_t now)
{
	int	 cause;

	if (c->fault == REGMAP_FAULT_NONE)
		return;
	if ((cause = plant_cause(c)) != REGMAP_FAULT_NONE) {
		evlog_emit(c, now, "reset_refused code=%d cause=%d",
		    c->fault, cause);
		return;
	}
	evlog_emit(c, now, "reset code=%d", c->fault);
	log_info("controller %d: fault %d reset", c->idx, c->fault);
	c->fault = REGMAP_FAULT_NONE;
	c->hb_ns = now;
}

/*
 * Called after a write was applied to the holding registers; the caller
 * advanced the physics to now before applying it.
 */
void
plant_written(struct sim_ctl *c, uint16_t old_control, uint16_t old_hb,
    uint64_t now)
{
	uint16_t	*hr = c->map->tab_registers;

	if (hr[REGMAP_HR_HEARTBEAT] != old_hb)
		c->hb_ns = now;
	if ((hr[REGMAP_HR_CONTROL] & REGMAP_CONTROL_ENABLE) &&
	    !(old_control & REGMAP_CONTROL_ENABLE))
		c->hb_ns = now;
	if ((hr[REGMAP_HR_CONTROL] & REGMAP_CONTROL_FAULT_RESET) &&
	    !(old_control & REGMAP_CONTROL_FAULT_RESET))
		plant_reset(c, now);
	plant_step(c, now);
}

/* Injected: channel ch (or all, -1) reads above MAX_PRESSURE. */
void
plant_overpressure(struct sim_ctl *c, int ch)
{
	double	 over;
	int	 i;

	over = c->max_p + (c->max_p / 10 > 10 ? c->max_p / 10 : 10);
	for (i = 0; i < c->p.channels; i++) {
		if (ch == -1 || ch == i)
			c->pressure[i] = over;
	}
}

/* Advances the physics to now and refreshes the input registers. */
void
plant_step(struct sim_ctl *c, uint64_t now)
{
	uint16_t	*hr = c->map->tab_registers;
	uint16_t	*in = c->map->tab_input_registers;
	uint16_t	 status;
	double		 dt_ms, target, tau, k_follow, k_vent;
	int		 i, was_active, enabled, vented, cause;

	dt_ms = now > c->step_ns ? (now - c->step_ns) / 1e6 : 0.0;
	c->step_ns = now > c->step_ns ? now : c->step_ns;
	k_follow = c->sim->fast ? 1.0 : 1.0 - exp(-dt_ms / c->p.tau_ms);
	k_vent = c->sim->fast ? 1.0 : 1.0 - exp(-dt_ms / c->p.vent_tau_ms);
	for (i = 0; i < c->p.channels; i++) {
		if (c->stuck[i])
			continue;
		target = c->active ? hr[REGMAP_HR_SETPOINT + i] : 0.0;
		tau = c->active ? k_follow : k_vent;
		c->pressure[i] += (target - c->pressure[i]) * tau;
		if (c->pressure[i] < 0.0)
			c->pressure[i] = 0.0;
	}

	enabled = (hr[REGMAP_HR_CONTROL] & REGMAP_CONTROL_ENABLE) != 0;
	if (c->fault == REGMAP_FAULT_NONE) {
		if ((cause = plant_cause(c)) != REGMAP_FAULT_NONE)
			plant_latch(c, cause, now);
		else if (enabled && !c->wd_broken && now > c->hb_ns &&
		    now - c->hb_ns >=
		    (uint64_t)hr[REGMAP_HR_WATCHDOG_MS] * 1000000ULL)
			plant_latch(c, REGMAP_FAULT_WATCHDOG, now);
	}

	if (c->owner != 0 && !plant_claim_live(c, now)) {
		evlog_emit(c, now, "claim_lapsed owner=%u", c->owner);
		c->owner = 0;
	}
	if (c->p.map_version >= 2)
		in[REGMAP_IR_OWNER(c->p.channels)] = (uint16_t)c->owner;

	was_active = c->active;
	c->active = enabled && c->fault == REGMAP_FAULT_NONE && !c->estop;
	if (was_active && !c->active) {
		c->vent_pending = 1;
		c->vent_ns = now;
		evlog_emit(c, now, "vent reason=%s",
		    c->fault != REGMAP_FAULT_NONE ? "fault" :
		    c->estop ? "estop" : "disable");
	} else if (!was_active && c->active) {
		c->vent_pending = 0;
		evlog_emit(c, now, "active");
	}
	if (c->vent_pending) {
		vented = 1;
		for (i = 0; i < c->p.channels; i++) {
			if (c->pressure[i] >= VENTED_BELOW)
				vented = 0;
		}
		if (vented) {
			c->vent_pending = 0;
			evlog_emit(c, now, "vented ms=%.1f",
			    (now - c->vent_ns) / 1e6);
		}
	}

	status = REGMAP_STATUS_READY;
	if (c->active)
		status |= REGMAP_STATUS_ACTIVE;
	if (c->fault != REGMAP_FAULT_NONE)
		status |= REGMAP_STATUS_FAULT;
	if (c->estop)
		status |= REGMAP_STATUS_ESTOP;
	if (c->client_stop)
		status |= REGMAP_STATUS_CLIENT_STOP;
	if (c->fault == REGMAP_FAULT_WATCHDOG)
		status |= REGMAP_STATUS_WATCHDOG;
	in[REGMAP_IR_STATUS] = status;
	in[REGMAP_IR_FAULT_CODE] = (uint16_t)c->fault;
	for (i = 0; i < c->p.channels; i++) {
		if (!c->frozen[i])
			in[REGMAP_IR_PRESSURE + i] =
			    plant_reading(c->pressure[i]);
	}
}

/*
 * The physics of a device's channels, advanced to now: channel i follows
 * its regulator's target[i] (0.1 kPa) with tau_ms, or, while the vent
 * valve is open (vent), falls to 0 with vent_tau_ms. A stuck regulator
 * (stick) holds its pressure, but an open vent valve still vents it.
 * The "vent reason=why", "active" and "vented" events are the regmap's.
 */
void
plant_advance(struct sim_ctl *c, uint64_t now, const double *target, int vent,
    const char *why)
{
	double	 dt_ms, k_follow, k_vent, t;
	int	 i, vented;

	dt_ms = now > c->step_ns ? (now - c->step_ns) / 1e6 : 0.0;
	c->step_ns = now > c->step_ns ? now : c->step_ns;
	k_follow = c->sim->fast ? 1.0 : 1.0 - exp(-dt_ms / c->p.tau_ms);
	k_vent = c->sim->fast ? 1.0 : 1.0 - exp(-dt_ms / c->p.vent_tau_ms);
	for (i = 0; i < c->p.channels; i++) {
		if (c->stuck[i] && c->active)
			continue;
		t = c->active ? target[i] : 0.0;
		c->pressure[i] += (t - c->pressure[i]) *
		    (c->active ? k_follow : k_vent);
		if (c->pressure[i] < 0.0)
			c->pressure[i] = 0.0;
	}
	if (c->active && vent) {
		c->active = 0;
		c->vent_pending = 1;
		c->vent_ns = now;
		evlog_emit(c, now, "vent reason=%s", why);
	} else if (!c->active && !vent) {
		c->active = 1;
		c->vent_pending = 0;
		evlog_emit(c, now, "active");
	}
	if (!c->vent_pending)
		return;
	vented = 1;
	for (i = 0; i < c->p.channels; i++) {
		if (c->pressure[i] >= VENTED_BELOW)
			vented = 0;
	}
	if (vented) {
		c->vent_pending = 0;
		evlog_emit(c, now, "vented ms=%.1f", (now - c->vent_ns) / 1e6);
	}
}
