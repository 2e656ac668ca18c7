/*
 * ctl-device-prove.c: the proof of the safe state of described devices
 * (ctl.h prove(), docs/devices.md), after every connect and before
 * anything is driven, at zero pressure: every output at its safe value,
 * every vent valve venting, then
 *
 *  - a trusted watchdog of the device part (kind = modbus): a watchdog
 *    left running stopped (its reset list), its configure list and its
 *    timeout (the table's watchdog_ms, in its unit) written and read
 *    back, fed CTL_DEV_FEEDS times and seen armed (when it has a state
 *    register); then no longer fed (reads only: a watchdog fed by writes
 *    is not fed by them) until the trip is seen: the state reads
 *    tripped, or a request is answered with its exception, or (neither
 *    exists) an output reads back its trip value. No trip within the
 *    timeout plus CTL_DEV_MARGIN_MS() fails the proof. Then its reset
 *    list, every output read back at its trip value, and set up, fed and
 *    armed again;
 *  - an interlock (the device's own [interlock], or the interlock part):
 *    the heartbeat toggled every call until the feedback reads the relay
 *    in, then no longer toggled: the relay must drop within its dropout
 *    plus the margin; then toggled until it is in again.
 *
 * A device with both proves its watchdog, then its interlock (fed all
 * along). Every call makes a few transactions and asks to be called
 * again after CTL_DEV_POLL_MS; nothing here sleeps.
 *
 * Reading back an output's trip value shows nothing if the output was
 * already there, so before feeding stops every output is written one
 * raw count away from its trip value (above it when the raw range allows)
 * when that count is at most CTL_DEV_PROBE_KPA on its map: 0.002 kPa on
 * the WAGO's 0..32760 = 0..60 kPa. With no state register and no
 * exception, this count is how the trip is seen; a device that offers
 * none of the three cannot be proven.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ctl-device-private.h"
#include "log.h"

#define MS		1000000ull

enum {
	PV_BEGIN,	/* outputs safe, vent valves venting, watchdog off */
	PV_ARM,		/* configure and timeout, read back */
	PV_FEED,	/* fed, seen armed; outputs to probe values */
	PV_TRIP,	/* not fed: the trip must come */
	PV_RESET,	/* reset; outputs read back their trip value */
	PV_REARM,	/* outputs safe; configure and timeout again */
	PV_REFEED,	/* fed, seen armed again */
	PV_IL_IN,	/* heartbeat toggled until the relay is in */
	PV_IL_DROP,	/* heartbeat stopped: the relay must drop */
	PV_IL_AGAIN	/* toggled until it is in again */
};

static unsigned
ctl_dev_pv_ms(uint64_t since_ns)
{
	return ((unsigned)((clock_mono_ns() - since_ns) / MS));
}

/*
 * A transaction of the proof failed: a Modbus exception is the device's
 * answer and fails the proof, naming it; a read-back that differs
 * (errno 0) too; anything else is the link's (bus_io_fail()). part -1:
 * what names its device already. -1.
 */
static int
ctl_dev_pv_fail(struct bus_ctl *c, struct ctl_dev *st, int part,
    const char *what)
{
	char	 pre[80] = "", buf[200];
	int	 e = errno, x = ctl_dev_exception(e);

	if (part >= 0)
		snprintf(pre, sizeof(pre), "device %s (unit %d): ",
		    st->d[part]->name, st->unit[part]);
	if (e == 0)
		bus_io_unproven(c, "%s%s", pre, what);
	else if (x > 0)
		bus_io_unproven(c, "%s%s: exception %02d", pre, what, x);
	else {
		snprintf(buf, sizeof(buf), "proof: %s%s", pre, what);
		errno = e;
		bus_io_fail(c, buf);
	}
	return (-1);
}

/* The kPa of raw on an output's map. */
static double
ctl_dev_pv_kpa(const struct device_ao *ao, double raw)
{
	return (ao->kpa[0] + (raw - ao->raw[0]) * (ao->kpa[1] - ao->kpa[0]) /
	    (ao->raw[1] - ao->raw[0]));
}

/*
 * The safe state, at connect (ctl-device.c) and in the proof. A part
 * whose watchdog may be running (a daemon before us) or tripped: its
 * reset list, so that it starts from off, unless its state reads off.
 * 0, or -1 with why and errno.
 */
int
ctl_dev_untrip(struct bus_ctl *c, struct ctl_dev *st, int part, char *why,
    size_t len)
{
	const struct device_watchdog	*w = &st->d[part]->watchdog;
	char				 name[48];
	uint16_t			 v;
	int				 e;

	if (w->kind != DEVICE_WD_MODBUS || w->nreset == 0)
		return (0);
	if (w->state.addr >= 0) {
		if (ctl_dev_reg_read(c, st, part, &w->state, &v) == 0) {
			if (w->state_off >= 0 &&
			    (v & w->state_mask) == w->state_off)
				return (0);
		} else if (!ctl_dev_is_tripped(st, part, errno)) {
			e = errno;
			snprintf(why, len, "reading %s (watchdog state)",
			    ctl_dev_reg_name(&w->state, name, sizeof(name)));
			errno = e;
			return (-1);
		}
	}
	return (ctl_dev_writes(c, st, part, w->reset, w->nreset, 0, why,
	    len));
}

/* Whether the [ao] and vent valves read back what was written (back
 * plan, read); 0, or -1 with why. */
static int
ctl_dev_back_cmp(struct ctl_dev *st, char *why, size_t len)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const struct device_ao	*ao;
	const struct ctl_dev_io	*io;
	uint16_t		 want[2], *got;
	int			 i, n, level;

	for (i = 0; i < st->nch; i++) {
		ao = &d->ao[i];
		n = device_type_regs(ao->type);
		got = st->back.buf + st->back.items[st->ao_back[i]].at;
		device_raw_encode(ao->type, ao->words, ao->safe, want);
		if (memcmp(got, want, n * sizeof(*got)) != 0) {
			snprintf(why, len, "device %s (unit %d): [ao %s] reads "
			    "back raw %g, its safe value %g was written",
			    d->name, st->unit[CTL_PART_DEVICE], ao->name,
			    device_raw_decode(ao->type, ao->words, got),
			    ao->safe);
			return (-1);
		}
	}
	for (i = 0; i < st->nio; i++) {
		io = &st->io[i];
		if (io->role != DEVICE_ROLE_VENT_VALVE)
			continue;
		level = st->back.buf[st->back.items[io->item].at];
		if (io->x->bit >= 0)
			level = (level >> io->x->bit) & 1;
		if (level != io->x->active) {
			snprintf(why, len, "device %s (unit %d): vent valve "
			    "[do %s] reads %d, venting (%d) was written",
			    st->d[io->part]->name, st->unit[io->part],
			    io->x->name, level, io->x->active);
			return (-1);
		}
	}
	return (0);
}

int
ctl_dev_safe(struct bus_ctl *c, struct ctl_dev *st, char *why, size_t len)
{
	const char	*name = st->d[CTL_PART_DEVICE]->name;
	int		 r, e, unit = st->unit[CTL_PART_DEVICE];

	if (ctl_dev_vents(c, st, 1) == -1) {
		e = errno;
		snprintf(why, len, "device %s: writing the vent valves venting",
		    name);
		errno = e;
		return (-1);
	}
	if (ctl_dev_outputs(c, st, NULL) == -1) {
		e = errno;
		snprintf(why, len, "device %s (unit %d): writing the outputs "
		    "their safe value", name, unit);
		errno = e;
		return (-1);
	}
	for (r = 0; r < st->back.nruns; r++)
		if (ctl_dev_plan_read(c, st, &st->back, r) == -1) {
			e = errno;
			snprintf(why, len, "device %s: reading back the "
			    "outputs", name);
			errno = e;
			return (-1);
		}
	errno = 0;
	return (ctl_dev_back_cmp(st, why, len));
}

/* After a connect or a vent: the watchdog off, the safe state. */
static int
ctl_dev_pv_begin(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	char	 why[200];

	st->armed = st->hb_live = st->probed = 0;
	if (st->wd && ctl_dev_untrip(c, st, CTL_PART_DEVICE, why,
	    sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, why));
	if (ctl_dev_safe(c, st, why, sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, -1, why));
	bus_io_proved(c, "device %s (unit %d): outputs at their safe value%s, "
	    "read back", st->d[CTL_PART_DEVICE]->name,
	    st->unit[CTL_PART_DEVICE], st->nvent > 0 ?
	    ", vent valves venting" : "");
	pf->wait_ms = CTL_DEV_POLL_MS;
	if (st->wd) {
		pf->step = PV_ARM;
		return (1);
	}
	if (st->fb_io >= 0 && st->hb_io >= 0) {
		pf->step = PV_IL_IN;
		pf->mark_ns = clock_mono_ns();
		return (1);
	}
	bus_io_proved(c, "no watchdog or interlock to prove: it drives no "
	    "outputs");
	return (0);
}

/* The configure list and the timeout, written and read back. */
static int
ctl_dev_pv_arm(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	struct device_write		 tw;
	char				 why[160];

	if (ctl_dev_writes(c, st, CTL_PART_DEVICE, w->configure,
	    w->nconfigure, 1, why, sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, why));
	tw.reg = w->timeout;
	tw.value = (uint16_t)st->wd_units;
	if (ctl_dev_writes(c, st, CTL_PART_DEVICE, &tw, 1, 1, why,
	    sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, why));
	bus_io_proved(c, "device %s (unit %d): watchdog set and read back: "
	    "timeout 0x%04x = %d (%d ms), %d configure write%s", d->name,
	    st->unit[CTL_PART_DEVICE], w->timeout.addr, st->wd_units,
	    st->wd_ms, w->nconfigure, w->nconfigure == 1 ? "" : "s");
	pf->step = pf->step == PV_ARM ? PV_FEED : PV_REFEED;
	pf->count = 0;
	pf->wait_ms = CTL_DEV_POLL_MS;
	return (1);
}

/* The watchdog's state reads armed (or it has no state register). */
static int
ctl_dev_pv_armed(struct bus_ctl *c, struct ctl_dev *st)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	char				 name[48];
	uint16_t			 v;

	if (w->state.addr < 0)
		return (0);
	ctl_dev_reg_name(&w->state, name, sizeof(name));
	if (ctl_dev_reg_read(c, st, CTL_PART_DEVICE, &w->state, &v) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, "reading its "
		    "watchdog's state"));
	if ((v & w->state_mask) == w->state_armed)
		return (0);
	bus_io_unproven(c, "device %s (unit %d): watchdog not armed: %s reads "
	    "%u, armed is %d", d->name,
	    st->unit[CTL_PART_DEVICE], name, v & w->state_mask,
	    w->state_armed);
	return (-1);
}

/*
 * Before feeding stops: every output one raw count from its trip value
 * where that is at most CTL_DEV_PROBE_KPA, so that the trip is seen to
 * move it. 0, or -1.
 */
static int
ctl_dev_pv_probe(struct bus_ctl *c, struct ctl_dev *st)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	const struct device_ao		*ao;
	double				 raw;
	int				 i, n = 0;

	for (i = 0; i < st->nch; i++) {
		ao = &d->ao[i];
		ctl_dev_trip_regs(st, i, st->probe[i]);
		raw = device_raw_decode(ao->type, ao->words, st->probe[i]);
		raw = raw + 1 <= ao->raw_max ? raw + 1 : raw - 1;
		if (raw < ao->raw_min || raw > ao->raw_max ||
		    ctl_dev_pv_kpa(ao, raw) > CTL_DEV_PROBE_KPA)
			continue;
		device_raw_encode(ao->type, ao->words, raw, st->probe[i]);
		n++;
	}
	if (n == 0 && w->state.addr < 0 && w->tripped_exception == 0) {
		bus_io_unproven(c, "device %s: a trip cannot be seen (no state "
		    "register, no exception, no output to move)", d->name);
		return (-1);
	}
	if (n == 0)
		return (0);
	st->probed = 1;
	if (ctl_dev_outputs(c, st, NULL) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, "writing the "
		    "outputs one count off their trip value"));
	return (0);
}

/* Whether an output reads back its trip value, or the device answers its
 * exception (seen); 0, or -1. */
static int
ctl_dev_pv_back(struct bus_ctl *c, struct ctl_dev *st, char *seen,
    size_t len)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const uint16_t		*got;
	uint16_t		 trip[2];
	int			 i, n, run, rc;

	if (st->nch == 0) {
		/* No output to read back: any request shows the exception. */
		rc = ctl_dev_reg_read(c, st, CTL_PART_DEVICE,
		    &d->watchdog.feed, trip);
		run = -1;
	} else {
		run = st->back.items[st->ao_back[0]].run;
		rc = ctl_dev_plan_read(c, st, &st->back, run);
	}
	if (rc == -1) {
		if (!ctl_dev_is_tripped(st, CTL_PART_DEVICE, errno))
			return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE,
			    "reading back its outputs"));
		snprintf(seen, len, "it answers exception %02d",
		    d->watchdog.tripped_exception);
		return (0);
	}
	for (i = 0; i < st->nch; i++) {
		if (st->back.items[st->ao_back[i]].run != run)
			continue;
		ctl_dev_trip_regs(st, i, trip);
		n = device_type_regs(d->ao[i].type);
		got = st->back.buf + st->back.items[st->ao_back[i]].at;
		if (memcmp(trip, st->probe[i], n * sizeof(*got)) != 0 &&
		    memcmp(trip, got, n * sizeof(*got)) == 0) {
			snprintf(seen, len, "[ao %s] reads back its trip value",
			    d->ao[i].name);
			return (0);
		}
	}
	return (0);
}

static int
ctl_dev_pv_next(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	if (st->fb_io < 0 || st->hb_io < 0)
		return (0);
	pf->step = PV_IL_IN;
	pf->mark_ns = clock_mono_ns();
	pf->wait_ms = CTL_DEV_POLL_MS;
	return (1);
}

/* Fed, and seen armed: then feeding stops (or, again: proven). */
static int
ctl_dev_pv_feed(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	int			 unit = st->unit[CTL_PART_DEVICE];

	if (ctl_dev_feed(c, st) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, "feeding its "
		    "watchdog"));
	pf->wait_ms = CTL_DEV_POLL_MS;
	if (++pf->count < CTL_DEV_FEEDS)
		return (1);
	if (ctl_dev_pv_armed(c, st) == -1)
		return (-1);
	if (pf->step == PV_REFEED) {
		st->armed = 1;
		bus_io_proved(c, "device %s (unit %d): watchdog armed and fed "
		    "again: proven", d->name, unit);
		return (ctl_dev_pv_next(c, st, pf));
	}
	if (ctl_dev_pv_probe(c, st) == -1)
		return (-1);
	pf->mark_ns = clock_mono_ns();
	pf->step = PV_TRIP;
	bus_io_proved(c, "device %s (unit %d): watchdog armed, fed %d times, "
	    "feeding stopped", d->name, unit, CTL_DEV_FEEDS);
	return (1);
}

/* Not fed, reads only: the trip must come within timeout + margin. */
static int
ctl_dev_pv_trip(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	int				 unit = st->unit[CTL_PART_DEVICE];
	int				 limit = st->wd_ms +
					    CTL_DEV_MARGIN_MS(st->wd_ms);
	char				 seen[80] = "", now[40], name[48];
	unsigned			 ms = ctl_dev_pv_ms(pf->mark_ns);
	uint16_t			 v = 0;

	snprintf(now, sizeof(now), "outputs as written");
	if (w->state.addr >= 0) {
		ctl_dev_reg_name(&w->state, name, sizeof(name));
		if (ctl_dev_reg_read(c, st, CTL_PART_DEVICE, &w->state, &v) ==
		    0) {
			v &= w->state_mask;
			if (v == w->state_tripped)
				snprintf(seen, sizeof(seen), "%s reads %u",
				    name, v);
			snprintf(now, sizeof(now), "state %u", v);
		} else if (ctl_dev_is_tripped(st, CTL_PART_DEVICE, errno))
			snprintf(seen, sizeof(seen), "it answers exception "
			    "%02d", w->tripped_exception);
		else
			return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE,
			    "reading its watchdog's state"));
	} else if (ctl_dev_pv_back(c, st, seen, sizeof(seen)) == -1)
		return (-1);
	if (seen[0] != '\0') {
		bus_io_proved(c, "device %s (unit %d): watchdog tripped %u ms "
		    "after feeding stopped: %s", d->name, unit, ms, seen);
		pf->step = PV_RESET;
		return (1);
	}
	if (ms > (unsigned)limit) {
		bus_io_unproven(c, "device %s (unit %d): watchdog did not trip "
		    "within %d ms after feeding stopped (%s)", d->name, unit,
		    limit, now);
		return (-1);
	}
	pf->wait_ms = CTL_DEV_POLL_MS;
	return (1);
}

/* The reset list; then every output must read back its trip value. */
static int
ctl_dev_pv_reset(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	int				 unit = st->unit[CTL_PART_DEVICE];
	const uint16_t			*got;
	uint16_t			 trip[2];
	char				 why[160];
	int				 i, r, n;

	if (w->nreset == 0 && w->tripped_exception > 0) {
		bus_io_unproven(c, "device %s: its watchdog has no reset list: "
		    "a trip could not be cleared", d->name);
		return (-1);
	}
	if (ctl_dev_writes(c, st, CTL_PART_DEVICE, w->reset, w->nreset, 0,
	    why, sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, why));
	st->probed = 0;
	for (r = 0; r < st->back.nruns; r++)
		if (ctl_dev_plan_read(c, st, &st->back, r) == -1)
			return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE,
			    "reading back its outputs after the trip"));
	for (i = 0; i < st->nch; i++) {
		ctl_dev_trip_regs(st, i, trip);
		n = device_type_regs(d->ao[i].type);
		got = st->back.buf + st->back.items[st->ao_back[i]].at;
		if (memcmp(got, trip, n * sizeof(*got)) == 0)
			continue;
		bus_io_unproven(c, "device %s (unit %d): after the trip "
		    "[ao %s] reads back raw %g, not its trip value %g", d->name,
		    unit,
		    d->ao[i].name, device_raw_decode(d->ao[i].type,
		    d->ao[i].words, got), device_raw_decode(d->ao[i].type,
		    d->ao[i].words, trip));
		return (-1);
	}
	bus_io_proved(c, "device %s (unit %d): outputs read back their trip "
	    "value; watchdog reset", d->name, unit);
	pf->step = PV_REARM;
	pf->wait_ms = CTL_DEV_POLL_MS;
	return (1);
}

static int
ctl_dev_pv_rearm(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	char	 why[200];

	if (ctl_dev_safe(c, st, why, sizeof(why)) == -1)
		return (ctl_dev_pv_fail(c, st, -1, why));
	return (ctl_dev_pv_arm(c, st, pf));
}

/* The relay's feedback: 1 in, 0 out, -1 failed. The watchdog (proven
 * before) is fed meanwhile. */
static int
ctl_dev_pv_relay(struct bus_ctl *c, struct ctl_dev *st)
{
	const struct ctl_dev_io	*io = &st->io[st->fb_io];
	int			 level;

	if (st->armed && ctl_dev_feed(c, st) == -1)
		return (ctl_dev_pv_fail(c, st, CTL_PART_DEVICE, "feeding its "
		    "watchdog"));
	if (ctl_dev_dio_read(c, st, io, &io->x->reg, &level) == -1)
		return (ctl_dev_pv_fail(c, st, io->part, "reading the "
		    "relay's feedback"));
	return (level == io->x->active);
}

/* PV_IL_IN, PV_IL_AGAIN: the heartbeat toggled until the relay is in. */
static int
ctl_dev_pv_il_in(struct bus_ctl *c, struct ctl_dev *st, struct ctl_proof *pf)
{
	const struct ctl_dev_io	*hb = &st->io[st->hb_io];
	const struct device	*il = st->d[st->il_part];
	int			 unit = st->unit[st->il_part], in;
	int			 dropout = il->interlock.dropout_ms;
	unsigned		 ms;

	if (ctl_dev_heartbeat(c, st) == -1)
		return (ctl_dev_pv_fail(c, st, hb->part, "toggling the "
		    "relay's heartbeat"));
	if ((in = ctl_dev_pv_relay(c, st)) == -1)
		return (-1);
	ms = ctl_dev_pv_ms(pf->mark_ns);
	pf->wait_ms = CTL_DEV_POLL_MS;
	if (in && pf->step == PV_IL_AGAIN) {
		st->hb_live = st->relay_in = 1;
		bus_io_proved(c, "interlock relay (unit %d) in again after %u "
		    "ms of heartbeat: proven", unit, ms);
		return (0);
	}
	if (in) {
		bus_io_proved(c, "interlock relay (unit %d) in after %u ms of "
		    "heartbeat; heartbeat stopped", unit, ms);
		pf->mark_ns = st->hb_ns;
		pf->step = PV_IL_DROP;
		return (1);
	}
	if (ms > (unsigned)CTL_DEV_RELAY_IN_MS(dropout)) {
		bus_io_unproven(c, "interlock relay (unit %d) never came in: "
		    "its feedback reads out after %u ms of heartbeat", unit,
		    ms);
		return (-1);
	}
	return (1);
}

/* PV_IL_DROP: no heartbeat; the relay must drop within its dropout. */
static int
ctl_dev_pv_il_drop(struct bus_ctl *c, struct ctl_dev *st,
    struct ctl_proof *pf)
{
	int		 unit = st->unit[st->il_part], in;
	int		 dropout = st->d[st->il_part]->interlock.dropout_ms;
	unsigned	 ms;

	if ((in = ctl_dev_pv_relay(c, st)) == -1)
		return (-1);
	ms = ctl_dev_pv_ms(pf->mark_ns);
	pf->wait_ms = CTL_DEV_POLL_MS;
	if (!in) {
		bus_io_proved(c, "interlock relay (unit %d) dropped %u ms "
		    "after its heartbeat stopped (rated %d ms)", unit, ms,
		    dropout);
		pf->step = PV_IL_AGAIN;
		pf->mark_ns = clock_mono_ns();
		return (1);
	}
	if (ms > (unsigned)(dropout + CTL_DEV_MARGIN_MS(dropout))) {
		bus_io_unproven(c, "interlock relay (unit %d) still in %u ms "
		    "after its heartbeat stopped: welded or wired wrong", unit,
		    ms);
		return (-1);
	}
	return (1);
}

int
ctl_dev_prove(struct bus_ctl *c, void *arg, struct ctl_proof *pf)
{
	struct ctl_dev	*st = arg;

	pf->wait_ms = 0;
	if (st->error[0] != '\0') {
		bus_io_unproven(c, "%s", st->error);
		return (-1);
	}
	switch (pf->step) {
	case PV_BEGIN:
		return (ctl_dev_pv_begin(c, st, pf));
	case PV_ARM:
		return (ctl_dev_pv_arm(c, st, pf));
	case PV_FEED:
	case PV_REFEED:
		return (ctl_dev_pv_feed(c, st, pf));
	case PV_TRIP:
		return (ctl_dev_pv_trip(c, st, pf));
	case PV_RESET:
		return (ctl_dev_pv_reset(c, st, pf));
	case PV_REARM:
		return (ctl_dev_pv_rearm(c, st, pf));
	case PV_IL_DROP:
		return (ctl_dev_pv_il_drop(c, st, pf));
	default:
		return (ctl_dev_pv_il_in(c, st, pf));
	}
}
