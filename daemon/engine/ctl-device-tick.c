/*
 * ctl-device-tick.c: described devices once proven (ctl-device.c has
 * the plans and the connect, ctl-device-prove.c the proof): the tick's
 * writes and reads, the read-backs of verify(), the vent, the fault
 * reset and the names status and metrics print.
 *
 * Faults are the daemon's, latched here until a fault reset finds their
 * cause gone: a sensor reading outside its raw range (a broken 4-20 mA
 * loop, an unplugged sensor: its pressure stays at the last good
 * reading), and the interlock relay reading out while its heartbeat is
 * toggled.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl-device-private.h"
#include "log.h"

static void	ctl_dev_latch(struct ctl_dev *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

void
ctl_dev_fail(struct bus_ctl *c, struct ctl_dev *st, int part,
    const char *what)
{
	const struct device	*d = st->d[part];
	char			 buf[200];
	int			 e = errno;

	if (ctl_dev_is_tripped(st, part, e)) {
		st->tripped = 1;
		st->armed = 0;
		bus_io_lost(c, "device %s (unit %d): its watchdog has tripped "
		    "(exception %02d): %s", d->name, st->unit[part],
		    d->watchdog.tripped_exception, what);
		return;
	}
	snprintf(buf, sizeof(buf), "device %s (unit %d): %s", d->name,
	    st->unit[part], what);
	errno = e;
	bus_io_fail(c, buf);
}

/*
 * This tick's intent: the outputs (kPa when enabled, else safe) with the
 * watchdog's feed, the vent valves when they change (opened before the
 * outputs, closed after them), the relay's heartbeat toggled.
 */
int
ctl_dev_tick_write(struct bus_ctl *c, void *arg, const struct ctl_intent *in,
    struct ctl_reading *rd)
{
	struct ctl_dev	*st = arg;
	int		 venting = !in->enable;

	if (venting && st->vent != 1 && ctl_dev_vents(c, st, 1) == -1) {
		ctl_dev_fail(c, st, st->xpart, "opening the vent valves "
		    "failed");
		return (-1);
	}
	if (ctl_dev_outputs(c, st, in) == -1) {
		ctl_dev_fail(c, st, st->xpart, "write of the outputs failed");
		return (-1);
	}
	if (!venting && st->vent != 0 && ctl_dev_vents(c, st, 0) == -1) {
		ctl_dev_fail(c, st, st->xpart, "closing the vent valves "
		    "failed");
		return (-1);
	}
	if (st->hb_io >= 0 && ctl_dev_heartbeat(c, st) == -1) {
		ctl_dev_fail(c, st, st->xpart, "write of the relay's heartbeat "
		    "failed");
		return (-1);
	}
	return (0);
}

/* Latches fault code with its text (kept while it stays latched). */
static void
ctl_dev_latch(struct ctl_dev *st, int code, const char *fmt, ...)
{
	va_list	 ap;
	char	*t;

	if (st->faults & (1u << (code - 1)))
		return;
	st->text_i[code] ^= 1;
	t = st->text[code][st->text_i[code]];
	va_start(ap, fmt);
	vsnprintf(t, sizeof(st->text[0][0]), fmt, ap);
	va_end(ap);
	st->faults |= 1u << (code - 1);
	log_warnx("controller %s: %s", st->set.conf->name, t);
}

/* The pressures of the tick's reads; one out of its raw range latches
 * a sensor fault and keeps its last good reading. */
static void
ctl_dev_pressures(struct ctl_dev *st, struct ctl_reading *rd)
{
	const struct device	*s = st->d[st->ai_part];
	const struct device_ai	*ai;
	const uint16_t		*p;
	uint16_t		 regs[2];
	double			 kpa;
	int			 i;

	st->bad = 0;
	for (i = 0; i < st->nsense; i++) {
		ai = &s->ai[i];
		p = st->in.buf + st->in.items[st->ai_item[i]].at;
		regs[0] = p[0];
		regs[1] = device_type_regs(ai->type) > 1 ? p[1] : 0;
		kpa = device_raw_to_kpa(ai, regs);
		if (isnan(kpa)) {
			st->bad |= 1u << i;
			ctl_dev_latch(st, CTL_DEV_FAULT_SENSOR, "sensor out of "
			    "range: channel %d (%s [ai %s], unit %d) reads raw "
			    "%g, outside %g..%g", i, s->name, ai->name,
			    st->unit[st->ai_part], device_raw_decode(ai->type,
			    ai->words, regs), ai->raw_min, ai->raw_max);
		} else
			st->kpa[i] = kpa;
		rd->pressure_kpa[i] = st->kpa[i];
	}
	for (; i < st->nch; i++)
		rd->pressure_kpa[i] = 0;
}

/* The e-stop circuit, the client's switch (either input of a role
 * stops) and the relay's feedback. */
static void
ctl_dev_inputs(struct ctl_dev *st, struct ctl_reading *rd)
{
	const struct ctl_dev_io	*io;
	int			 i, level, on;

	rd->estop = rd->client_stop = 0;
	for (i = 0; i < st->nio; i++) {
		io = &st->io[i];
		if (io->role == DEVICE_ROLE_VENT_VALVE ||
		    io->role == DEVICE_ROLE_RELAY_HEARTBEAT)
			continue;
		level = st->in.buf[st->in.items[io->item].at];
		if (io->x->bit >= 0)
			level = (level >> io->x->bit) & 1;
		on = level == io->x->active;
		if (io->role == DEVICE_ROLE_ESTOP_CIRCUIT)
			rd->estop |= on;
		else if (io->role == DEVICE_ROLE_CLIENT_STOP)
			rd->client_stop |= on;
		else
			st->relay_in = on;
	}
	if (st->fb_io >= 0 && st->hb_live && !st->relay_in) {
		io = &st->io[st->fb_io];
		ctl_dev_latch(st, CTL_DEV_FAULT_RELAY, "interlock relay out: "
		    "its feedback ([di %s], %s, unit %d) reads out while its "
		    "heartbeat is toggled", io->x->name,
		    st->d[io->part]->name, st->unit[io->part]);
	}
}

int
ctl_dev_tick_read(struct bus_ctl *c, void *arg, struct ctl_reading *rd)
{
	struct ctl_dev	*st = arg;
	int		 r, code;

	for (r = 0; r < st->in.nruns; r++)
		if (ctl_dev_plan_read(c, st, &st->in, r) == -1) {
			ctl_dev_fail(c, st, st->in.runs[r].part, "read of the "
			    "pressures and inputs failed");
			return (-1);
		}
	ctl_dev_pressures(st, rd);
	ctl_dev_inputs(st, rd);
	rd->fault = st->faults != 0;
	rd->fault_code = 0;
	rd->fault_text = NULL;
	for (code = 1; code < CTL_DEV_FAULTS && rd->fault_code == 0; code++)
		if (st->faults & (1u << (code - 1))) {
			rd->fault_code = code;
			rd->fault_text = st->text[code][st->text_i[code]];
		}
	rd->flags = (st->fb_io >= 0 && st->relay_in ?
	    1u << CTL_DEV_FLAG_RELAY_IN : 0) |
	    (st->nvent > 0 && st->vent != 0 ? 1u << CTL_DEV_FLAG_VENT_OPEN :
	    0) |
	    (st->armed ? 1u << CTL_DEV_FLAG_ARMED : 0);
	return (0);
}

/* The watchdog's state must read armed. */
static int
ctl_dev_check_state(struct bus_ctl *c, struct ctl_dev *st)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	int				 unit = st->unit[CTL_PART_DEVICE];
	uint16_t			 v;

	if (ctl_dev_reg_read(c, st, CTL_PART_DEVICE, &w->state, &v) == -1) {
		ctl_dev_fail(c, st, CTL_PART_DEVICE, "verification: read of "
		    "its watchdog's state failed");
		return (-1);
	}
	v &= w->state_mask;
	if (v == w->state_armed)
		return (0);
	st->armed = 0;
	if (v == w->state_tripped) {
		st->tripped = 1;
		bus_io_lost(c, "device %s (unit %d): its watchdog has tripped "
		    "(state reads %u)", d->name, unit, v);
	} else if (w->state_off >= 0 && v == w->state_off)
		bus_io_lost(c, "device %s (unit %d): its watchdog is off: the "
		    "device was reset or power cycled", d->name, unit);
	else
		bus_io_lost(c, "device %s (unit %d): its watchdog's state "
		    "reads %u, armed is %d", d->name, unit, v, w->state_armed);
	return (-1);
}

/* A holding register of the watchdog must read what was written. */
static int
ctl_dev_check_reg(struct bus_ctl *c, struct ctl_dev *st,
    const struct device_reg *r, uint16_t want)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	char			 name[48];
	uint16_t		 v;

	ctl_dev_reg_name(r, name, sizeof(name));
	if (ctl_dev_reg_read(c, st, CTL_PART_DEVICE, r, &v) == -1) {
		ctl_dev_fail(c, st, CTL_PART_DEVICE, "verification: read of "
		    "its watchdog's settings failed");
		return (-1);
	}
	if (v == want)
		return (0);
	st->armed = 0;
	bus_io_lost(c, "device %s (unit %d): its watchdog lost its settings: "
	    "%s reads %u, %u written (reset or power cycle?)", d->name,
	    st->unit[CTL_PART_DEVICE], name, v, want);
	return (-1);
}

/* A vent valve must read back what was last written. */
static int
ctl_dev_check_vent(struct bus_ctl *c, struct ctl_dev *st,
    const struct ctl_dev_io *io)
{
	int	 level, want;

	if (st->vent < 0)
		return (0);
	if (ctl_dev_dio_read(c, st, io, &io->x->readback, &level) == -1) {
		ctl_dev_fail(c, st, io->part, "verification: read back of "
		    "the vent valve failed");
		return (-1);
	}
	want = st->vent ? io->x->active : !io->x->active;
	if (level == want)
		return (0);
	bus_io_lost(c, "device %s (unit %d): vent valve [do %s] reads %d, %d "
	    "written (reset or power cycle?)", st->d[io->part]->name,
	    st->unit[io->part], io->x->name, level, want);
	return (-1);
}

static int
ctl_dev_check(struct bus_ctl *c, struct ctl_dev *st,
    const struct ctl_dev_check *k)
{
	const struct device_watchdog	*w;
	char				 why[200];

	w = &st->d[CTL_PART_DEVICE]->watchdog;
	switch (k->kind) {
	case CTL_DEV_CHECK_STATE:
		return (ctl_dev_check_state(c, st));
	case CTL_DEV_CHECK_TIMEOUT:
		return (ctl_dev_check_reg(c, st, &w->timeout,
		    (uint16_t)st->wd_units));
	case CTL_DEV_CHECK_CONFIGURE:
		return (ctl_dev_check_reg(c, st, &w->configure[k->arg].reg,
		    w->configure[k->arg].value));
	case CTL_DEV_CHECK_VENT:
		return (ctl_dev_check_vent(c, st, &st->io[k->arg]));
	default:
		if (ctl_dev_plan_read(c, st, &st->ident, k->arg) == -1) {
			ctl_dev_fail(c, st, st->ident.runs[k->arg].part,
			    "verification: read of its identity failed");
			return (-1);
		}
		if (ctl_dev_ident_cmp(st, k->arg, why, sizeof(why)) == 0)
			return (0);
		bus_io_lost(c, "controller changed: %s", why);
		return (-1);
	}
}

/* Step 0: nothing to check without a transaction; then one check a
 * step (the last one counts a verification). */
int
ctl_dev_verify(struct bus_ctl *c, void *arg, int step)
{
	struct ctl_dev	*st = arg;

	if (step == 0)
		return (0);
	if (step <= st->nchecks &&
	    ctl_dev_check(c, st, &st->checks[step - 1]) == -1)
		return (-1);
	if (step < st->nchecks)
		return (1);
	bus_io_verified(c);
	return (0);
}

/*
 * Pressure off now: the vent valves venting, then every output safe;
 * acknowledged when the device part took its outputs (or answered that
 * its trusted watchdog has tripped: the trip vented it).
 */
int
ctl_dev_vent(struct bus_ctl *c, void *arg)
{
	struct ctl_dev	*st = arg;
	int		 vrc, ve = 0, vpart = CTL_PART_DEVICE, tripped;

	if (st->error[0] != '\0')
		return (-1);
	st->probed = 0;
	if ((vrc = ctl_dev_vents(c, st, 1)) == -1) {
		ve = errno;
		vpart = st->xpart;
	}
	if (ctl_dev_outputs(c, st, NULL) == -1) {
		tripped = st->wd && ctl_dev_is_tripped(st, CTL_PART_DEVICE,
		    errno);
		ctl_dev_fail(c, st, CTL_PART_DEVICE, "vent: write of the "
		    "outputs' safe values failed");
		return (tripped ? 0 : -1);
	}
	if (vrc == -1) {
		errno = ve;
		ctl_dev_fail(c, st, vpart, "vent: opening the vent valves "
		    "failed");
		return (vpart == CTL_PART_DEVICE ? -1 : 0);
	}
	return (0);
}

/* Clears the faults whose cause is gone; a tripped watchdog is reset. */
int
ctl_dev_fault_reset(struct bus_ctl *c, void *arg)
{
	struct ctl_dev			*st = arg;
	const struct device_watchdog	*w;
	char				 why[160];

	if (st->error[0] != '\0')
		return (0);
	w = &st->d[CTL_PART_DEVICE]->watchdog;
	if (st->tripped && w->nreset > 0) {
		if (ctl_dev_writes(c, st, CTL_PART_DEVICE, w->reset, w->nreset,
		    0, why, sizeof(why)) == -1) {
			ctl_dev_fail(c, st, CTL_PART_DEVICE, why);
			return (-1);
		}
		st->tripped = 0;
	}
	if (st->bad == 0)
		st->faults &= ~(1u << (CTL_DEV_FAULT_SENSOR - 1));
	if (st->fb_io < 0 || st->relay_in)
		st->faults &= ~(1u << (CTL_DEV_FAULT_RELAY - 1));
	return (0);
}

static const char *
ctl_dev_flag_name(int bit)
{
	static const char *const names[CTL_DEV_FLAGS] = {
		"relay_in", "vent_open", "watchdog_armed"
	};

	return (bit >= 0 && bit < CTL_DEV_FLAGS ? names[bit] : "unknown");
}

static const char *
ctl_dev_fault_name(unsigned code)
{
	static const char *const names[CTL_DEV_FAULTS] = {
		"none", "sensor_range", "relay_out"
	};

	return (code < CTL_DEV_FAULTS ? names[code] : "unknown");
}

const struct ctl_desc *
ctl_dev_describe(void)
{
	static const struct ctl_desc desc = {
		.kind = "device",
		.interface = "device description",
		.version = 0,
		.nflags = CTL_DEV_FLAGS,
		.flag_name = ctl_dev_flag_name,
		.fault_name = ctl_dev_fault_name,
	};

	return (&desc);
}
