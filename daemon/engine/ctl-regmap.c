/*
 * ctl-regmap.c: the controller backend of register map v2 (and v1), the
 * only daemon file that knows its registers (include/massaged/regmap.h,
 * docs/register-map.md): the identity, the v2 owner claim, WATCHDOG_MS,
 * CONTROL and its bits, the heartbeat, kPa in tenths on the wire, STATUS
 * and FAULT_CODE decoded into the neutral struct ctl_reading, the vent as
 * FC06 CONTROL = 0 (a broadcast first on a shared RS-485 line).
 *
 * The tick is one FC16 of CONTROL, HEARTBEAT, SETPOINTs (and OWNER, v2)
 * and one FC04 of STATUS, FAULT_CODE, PRESSUREs (and OWNER, v2). What a
 * controller says of itself is not trusted once: the identity, WATCHDOG_MS
 * and CONTROL are read back (bus.c decides when: a step a tick, all at an
 * enable); a controller that changed (reset, power cycle, another master)
 * is lost with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "massaged/regmap.h"

/* The table's neutral channel maximum holds every channel of the map. */
_Static_assert(REGMAP_CHANNELS_MAX <= CHANNELS_MAX,
    "CHANNELS_MAX (table.h) below the register map's channel maximum");

/* One controller, on its link thread only. */
struct ctl_regmap_state {
	struct ctl_setup	 set;
	int			 owned;		/* ours: we may vent it */
	uint16_t		 id[3];		/* identity at connect */
	uint16_t		 control;	/* last CONTROL written */
	int			 nsent;		/* setpoints the tick sent */
	int			 nio;		/* registers of the tick */
	uint16_t		 owner_read;	/* v2: OWNER of the last tick */
	uint16_t		 found_fault;	/* latched before the proof reset
						   it: still reported, until a
						   fault reset */
};

static void *
ctl_regmap_create(const struct ctl_setup *set)
{
	struct ctl_regmap_state	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("calloc");
	st->set = *set;
	return (st);
}

static void
ctl_regmap_destroy(void *st)
{
	free(st);
}

/* Checks the identity read at connect or re-read later; 0 or -1 with why. */
static int
ctl_regmap_identity_ok(struct ctl_regmap_state *st, const uint16_t *id,
    char *why, size_t len)
{
	if (id[0] < REGMAP_VERSION_MIN || id[0] > REGMAP_VERSION) {
		snprintf(why, len, "refused: register map version %u, expected "
		    "%d or %d", id[0], REGMAP_VERSION_MIN, REGMAP_VERSION);
		return (-1);
	}
	if (id[1] < st->set.need_channels || id[1] > REGMAP_CHANNELS_MAX) {
		snprintf(why, len, "refused: it has %u channels, the "
		    "configured zones use %d", id[1], st->set.need_channels);
		return (-1);
	}
	return (0);
}

/* v2: claims the controller (OWNER); 0, or -1 with the reason given. */
static int
ctl_regmap_claim(struct bus_ctl *c, struct ctl_regmap_state *st,
    const uint16_t *id)
{
	unsigned	 owner = st->set.owner;
	uint16_t	 v = (uint16_t)owner;

	if (id[0] < 2 || bus_io_write(c, REGMAP_HR_OWNER(id[1]), 1, &v) == 1)
		return (0);
	if (errno == EMBXSBUSY && bus_io_read(c, 1, REGMAP_IR_OWNER(id[1]), 1,
	    &v) == 1) {
		st->owned = 0;
		bus_io_refuse(c, "refused: controller claimed by another "
		    "master: owner %u (ours %u)", v, owner);
		bus_io_flush(c);
	} else
		bus_io_failed(c, "cannot claim the controller (OWNER)");
	return (-1);
}

/*
 * The connect sequence on an open wire: identity, the owner claim (v2),
 * WATCHDOG_MS written and read back.
 */
static int
ctl_regmap_connect(struct bus_ctl *c, void *arg, struct ctl_reading *rd)
{
	struct ctl_regmap_state	*st = arg;
	const struct ctl_conf	*cc = st->set.conf;
	unsigned		 owner = st->set.owner;
	uint16_t		 id[3], v;
	char			 why[160];
	const char		*miss;

	if (bus_io_read(c, 1, REGMAP_IR_MAP_VERSION, 3, id) != 3) {
		bus_io_failed(c, "cannot read MAP_VERSION, CHANNELS and "
		    "MAX_PRESSURE");
		return (-1);
	}
	if (ctl_regmap_identity_ok(st, id, why, sizeof(why)) == -1) {
		bus_io_refuse(c, "%s", why);
		return (-1);
	}
	/* v1 has no claim: this machine's lock is all that keeps a second
	 * daemon here off it, so without the lock nothing is written. */
	if (id[0] < 2 && (miss = bus_io_unguarded(c)) != NULL) {
		bus_io_refuse(c, "refused: register map version %u has no "
		    "owner claim and the endpoint lock cannot be taken: %s",
		    id[0], miss);
		return (-1);
	}
	if (ctl_regmap_claim(c, st, id) == -1)
		return (-1);
	st->owned = 1;
	v = (uint16_t)cc->watchdog_ms;
	if (bus_io_write(c, REGMAP_HR_WATCHDOG_MS, 1, &v) != 1 ||
	    bus_io_read(c, 0, REGMAP_HR_WATCHDOG_MS, 1, &v) != 1) {
		bus_io_failed(c, "cannot write WATCHDOG_MS");
		return (-1);
	}
	if (v != cc->watchdog_ms) {
		bus_io_refuse(c, "refused: WATCHDOG_MS reads %u after writing "
		    "%d", v, cc->watchdog_ms);
		return (-1);
	}
	memcpy(st->id, id, sizeof(st->id));
	st->control = 0;
	st->owner_read = (uint16_t)owner;
	rd->channels = id[1];
	rd->rating_kpa = regmap_reg_to_kpa(id[2]);
	rd->version = id[0];
	rd->claimed = id[0] >= 2;
	rd->owner = id[0] >= 2 ? owner : 0;
	log_info("controller %s: connected, map version %u, %u channels, "
	    "rated %.1f kPa, watchdog %d ms, response timeout %d ms", cc->name,
	    id[0], id[1], regmap_reg_to_kpa(id[2]), cc->watchdog_ms,
	    cc->response_timeout_ms);
	if (id[0] < 2)
		log_warnx("controller %s: register map version %u has no owner "
		    "claim: a master on another machine driving it would not "
		    "be refused (this machine's endpoint lock is held)",
		    cc->name, id[0]);
	else
		log_info("controller %s: claimed as owner %u", cc->name, owner);
	return (0);
}

/* The v2 OWNER is not ours: say whose it is. */
static void
ctl_regmap_not_owner(struct bus_ctl *c, struct ctl_regmap_state *st,
    unsigned owner, struct ctl_reading *rd)
{
	if (rd != NULL)
		rd->owner = owner;
	if (owner == 0)
		bus_io_lost(c, "controller lost our claim (reset or power "
		    "cycle?)");
	else {
		st->owned = 0;
		bus_io_lost(c, "controller claimed by another master: owner %u "
		    "(ours %u)", owner, st->set.owner);
	}
}

/* 1 re-reads the identity. */
static int
ctl_regmap_verify_identity(struct bus_ctl *c, struct ctl_regmap_state *st)
{
	uint16_t	 v[3];
	char		 why[160];

	if (bus_io_read(c, 1, REGMAP_IR_MAP_VERSION, 3, v) != 3) {
		bus_io_fail(c, "verification: read of the identity failed");
		return (-1);
	}
	if (memcmp(v, st->id, sizeof(st->id)) == 0)
		return (1);
	if (ctl_regmap_identity_ok(st, v, why, sizeof(why)) == -1)
		bus_io_lost(c, "controller changed: %s", why);
	else
		bus_io_lost(c, "controller changed: map version %u, %u "
		    "channels, rated %.1f kPa (at connect %u, %u, %.1f kPa)",
		    v[0], v[1], regmap_reg_to_kpa(v[2]), st->id[0], st->id[1],
		    regmap_reg_to_kpa(st->id[2]));
	return (-1);
}

/*
 * Step 0: the OWNER the tick read is ours (v2). Then one transaction a
 * step: 1 re-reads the identity, 2 reads back WATCHDOG_MS, 3 reads back
 * CONTROL (the last one counts a verification).
 */
static int
ctl_regmap_verify(struct bus_ctl *c, void *arg, int step)
{
	struct ctl_regmap_state	*st = arg;
	int			 wd = st->set.conf->watchdog_ms;
	uint16_t		 v;

	switch (step) {
	case 0:
		if (st->id[0] < 2 || st->owner_read == st->set.owner)
			return (0);
		ctl_regmap_not_owner(c, st, st->owner_read, NULL);
		return (-1);
	case 1:
		return (ctl_regmap_verify_identity(c, st));
	case 2:
		if (bus_io_read(c, 0, REGMAP_HR_WATCHDOG_MS, 1, &v) != 1) {
			bus_io_fail(c, "verification: read of WATCHDOG_MS "
			    "failed");
			return (-1);
		}
		if (v == wd)
			return (1);
		bus_io_lost(c, "controller lost its configuration: WATCHDOG_MS "
		    "reads %u, %d written (reset or power cycle?)", v, wd);
		return (-1);
	default:
		if (bus_io_read(c, 0, REGMAP_HR_CONTROL, 1, &v) != 1) {
			bus_io_fail(c, "verification: read of CONTROL failed");
			return (-1);
		}
		bus_io_verified(c);
		if (v == st->control)
			return (0);
		bus_io_lost(c, "controller lost its configuration: CONTROL "
		    "reads %u, %u written (reset or power cycle?)", v,
		    st->control);
		return (-1);
	}
}

/*
 * The words of CONTROL, HEARTBEAT and the SETPOINTs (and OWNER, v2: every
 * channel of the controller, then OWNER) for this tick's intent into out;
 * returns how many. HEARTBEAT is the tick's number, so it changes with
 * every tick: if the loop stalls, no tick is written and the controller's
 * watchdog vents.
 */
static int
ctl_regmap_encode(struct ctl_regmap_state *st, const struct ctl_intent *in,
    uint16_t *out)
{
	int	 i, n, nch = in->nchannels;

	if (nch > REGMAP_CHANNELS_MAX)
		nch = REGMAP_CHANNELS_MAX;
	out[0] = (in->enable ? REGMAP_CONTROL_ENABLE : 0) |
	    (in->fault_reset ? REGMAP_CONTROL_FAULT_RESET : 0);
	out[1] = in->tick;
	for (i = 0; i < nch; i++)
		out[2 + i] = regmap_kpa_to_reg(in->kpa[i]);
	n = 2 + nch;
	st->nsent = nch;
	if (st->id[0] >= 2) {
		nch = st->id[1];
		for (i = n; i < 2 + nch; i++)
			out[i] = 0;
		out[2 + nch] = (uint16_t)st->set.owner;
		n = 3 + nch;
	}
	return (n);
}

static int
ctl_regmap_tick_write(struct bus_ctl *c, void *arg,
    const struct ctl_intent *in, struct ctl_reading *rd)
{
	struct ctl_regmap_state	*st = arg;
	uint16_t		 out[3 + REGMAP_CHANNELS_MAX], v;

	if (in->fault_reset)
		st->found_fault = 0;
	st->nio = ctl_regmap_encode(st, in, out);
	if (bus_io_write(c, REGMAP_HR_CONTROL, st->nio, out) != st->nio) {
		if (st->id[0] >= 2 && errno == EMBXSBUSY && bus_io_read(c, 1,
		    REGMAP_IR_OWNER(st->id[1]), 1, &v) == 1 &&
		    v != st->set.owner)
			ctl_regmap_not_owner(c, st, v, rd);
		else
			bus_io_fail(c, "write of CONTROL, HEARTBEAT and "
			    "setpoints failed");
		return (-1);
	}
	st->control = out[0];
	return (0);
}

/* STATUS, FAULT_CODE and the PRESSUREs (and OWNER, v2) into rd. */
static void
ctl_regmap_decode(struct ctl_regmap_state *st, const uint16_t *in,
    struct ctl_reading *rd)
{
	int	 i;

	rd->flags = in[0];
	rd->estop = (in[0] & REGMAP_STATUS_ESTOP) != 0;
	rd->client_stop = (in[0] & REGMAP_STATUS_CLIENT_STOP) != 0;
	rd->fault = (in[0] & REGMAP_STATUS_FAULT) != 0;
	rd->fault_code = in[1];
	rd->fault_text = regmap_fault_text(in[1]);
	if (st->found_fault != 0 && !rd->fault) {
		/* What a crashed daemon left is the operator's to reset, even
		 * though the proof had to clear it on the controller. */
		rd->fault = 1;
		rd->fault_code = st->found_fault;
		rd->fault_text = regmap_fault_text(st->found_fault);
		rd->flags |= REGMAP_STATUS_FAULT |
		    (st->found_fault == REGMAP_FAULT_WATCHDOG ?
		    REGMAP_STATUS_WATCHDOG : 0);
	}
	for (i = 0; i < st->nsent; i++)
		rd->pressure_kpa[i] = regmap_reg_to_kpa(in[2 + i]);
	if (st->id[0] >= 2)
		st->owner_read = in[2 + st->id[1]];
}

static int
ctl_regmap_tick_read(struct bus_ctl *c, void *arg, struct ctl_reading *rd)
{
	struct ctl_regmap_state	*st = arg;
	uint16_t		 in[3 + REGMAP_CHANNELS_MAX];

	if (bus_io_read(c, 1, REGMAP_IR_STATUS, st->nio, in) != st->nio) {
		bus_io_fail(c, "read of STATUS and pressures failed");
		return (-1);
	}
	ctl_regmap_decode(st, in, rd);
	return (0);
}

/*
 * The proof of the safe state (ctl.h): enabled at zero setpoints with the
 * heartbeat fed, then the heartbeat stopped: the controller must latch
 * its WATCHDOG fault within WATCHDOG_MS plus a margin. Then the claim is
 * renewed (a trip lapses it, v2), the fault reset and CONTROL written 0.
 */
#define PROVE_FEEDS		3	/* heartbeat writes before it stops */
#define PROVE_POLL_MS		5

enum {
	PROVE_VENT,		/* CONTROL = 0; a latched fault? */
	PROVE_RESET,		/* a fault left from before: reset it */
	PROVE_FEED,		/* enabled at zero, heartbeat changing */
	PROVE_WAIT,		/* heartbeat stopped: the trip must come */
	PROVE_RECOVER		/* claim, reset, CONTROL = 0 */
};

/* The tick block at zero setpoints with CONTROL = control. */
static int
ctl_regmap_prove_write(struct bus_ctl *c, struct ctl_regmap_state *st,
    int control, int beat)
{
	struct ctl_intent	 zi;
	uint16_t		 out[3 + REGMAP_CHANNELS_MAX];

	memset(&zi, 0, sizeof(zi));
	zi.enable = (control & REGMAP_CONTROL_ENABLE) != 0;
	zi.fault_reset = (control & REGMAP_CONTROL_FAULT_RESET) != 0;
	zi.nchannels = st->set.need_channels;
	zi.tick = (uint16_t)beat;
	st->nio = ctl_regmap_encode(st, &zi, out);
	if (bus_io_write(c, REGMAP_HR_CONTROL, st->nio, out) != st->nio) {
		bus_io_fail(c, "proof: write of CONTROL, HEARTBEAT and "
		    "setpoints failed");
		return (-1);
	}
	st->control = out[0];
	return (0);
}

/* FC06 CONTROL = 0, then STATUS and FAULT_CODE into v. */
static int
ctl_regmap_prove_status(struct bus_ctl *c, struct ctl_regmap_state *st,
    int vent, uint16_t v[2])
{
	uint16_t	 zero = 0;

	if (vent) {
		if (bus_io_write(c, REGMAP_HR_CONTROL, 1, &zero) != 1) {
			bus_io_fail(c, "proof: CONTROL = 0 failed");
			return (-1);
		}
		st->control = 0;
	}
	if (bus_io_read(c, 1, REGMAP_IR_STATUS, 2, v) != 2) {
		bus_io_fail(c, "proof: read of STATUS failed");
		return (-1);
	}
	return (0);
}

/* PROVE_WAIT: polls STATUS until the watchdog trip is seen. */
static int
ctl_regmap_prove_wait(struct bus_ctl *c, struct ctl_regmap_state *st,
    struct ctl_proof *pf)
{
	int		 wd = st->set.conf->watchdog_ms;
	int		 margin = wd / 10 + 50;
	uint64_t	 ms;
	uint16_t	 v[2];

	if (ctl_regmap_prove_status(c, st, 0, v) == -1)
		return (-1);
	ms = (clock_mono_ns() - pf->mark_ns) / 1000000u;
	if ((v[0] & REGMAP_STATUS_WATCHDOG) && v[1] == REGMAP_FAULT_WATCHDOG) {
		bus_io_proved(c, "watchdog tripped %u ms after the heartbeat "
		    "stopped (WATCHDOG_MS %d): vented, fault %s",
		    (unsigned)ms, wd, regmap_fault_name(v[1]));
		pf->step = PROVE_RECOVER;
		return (1);
	}
	if (v[0] & REGMAP_STATUS_FAULT) {
		bus_io_unproven(c, "fault %s latched instead of the watchdog "
		    "trip", regmap_fault_name(v[1]));
		return (-1);
	}
	if (ms > (uint64_t)(wd + margin)) {
		bus_io_unproven(c, "no watchdog trip within %d ms after the "
		    "heartbeat stopped (WATCHDOG_MS %d; STATUS 0x%02x)",
		    wd + margin, wd, v[0]);
		return (-1);
	}
	pf->wait_ms = PROVE_POLL_MS;
	return (1);
}

/* PROVE_RECOVER: claim again (v2), reset the trip, CONTROL = 0. */
static int
ctl_regmap_prove_recover(struct bus_ctl *c, struct ctl_regmap_state *st)
{
	uint16_t	 v[2];

	if (ctl_regmap_claim(c, st, st->id) == -1)
		return (-1);
	if (ctl_regmap_prove_status(c, st, 1, v) == -1 ||
	    ctl_regmap_prove_write(c, st, REGMAP_CONTROL_FAULT_RESET, 0) == -1 ||
	    ctl_regmap_prove_status(c, st, 1, v) == -1)
		return (-1);
	if (v[0] & REGMAP_STATUS_FAULT) {
		bus_io_unproven(c, "the watchdog fault does not reset (fault "
		    "%s)", regmap_fault_name(v[1]));
		return (-1);
	}
	st->owner_read = (uint16_t)st->set.owner;
	bus_io_proved(c, "fault reset%s, CONTROL 0: proven",
	    st->id[0] >= 2 ? ", claim renewed" : "");
	return (0);
}

static int
ctl_regmap_prove(struct bus_ctl *c, void *arg, struct ctl_proof *pf)
{
	struct ctl_regmap_state	*st = arg;
	uint16_t		 v[2];

	pf->wait_ms = 0;
	switch (pf->step) {
	case PROVE_VENT:
		if (ctl_regmap_prove_status(c, st, 1, v) == -1)
			return (-1);
		if (v[0] & REGMAP_STATUS_FAULT) {
			st->found_fault = v[1];
			bus_io_proved(c, "CONTROL 0 at zero setpoints; fault %s "
			    "latched (kept for the operator to reset)",
			    regmap_fault_name(v[1]));
		} else
			bus_io_proved(c, "CONTROL 0 at zero setpoints");
		pf->step = (v[0] & REGMAP_STATUS_FAULT) ? PROVE_RESET :
		    PROVE_FEED;
		return (1);
	case PROVE_RESET:
		if (ctl_regmap_prove_write(c, st, REGMAP_CONTROL_FAULT_RESET,
		    0) == -1 || ctl_regmap_prove_status(c, st, 1, v) == -1)
			return (-1);
		if (v[0] & REGMAP_STATUS_FAULT) {
			bus_io_unproven(c, "fault %s is latched and does not "
			    "reset: the watchdog cannot be shown",
			    regmap_fault_name(v[1]));
			return (-1);
		}
		pf->step = PROVE_FEED;
		return (1);
	case PROVE_FEED:
		if (ctl_regmap_prove_write(c, st, REGMAP_CONTROL_ENABLE,
		    pf->count + 1) == -1)
			return (-1);
		pf->wait_ms = PROVE_POLL_MS;
		if (++pf->count < PROVE_FEEDS)
			return (1);
		if (ctl_regmap_prove_status(c, st, 0, v) == -1)
			return (-1);
		if (!(v[0] & REGMAP_STATUS_ACTIVE)) {
			bus_io_unproven(c, "not active when enabled at zero "
			    "setpoints (STATUS 0x%02x%s)", v[0],
			    (v[0] & REGMAP_STATUS_ESTOP) ?
			    ": the e-stop circuit is open" : "");
			return (-1);
		}
		pf->mark_ns = clock_mono_ns();
		bus_io_proved(c, "enabled at zero setpoints, heartbeat fed "
		    "%d times, then stopped", PROVE_FEEDS);
		pf->step = PROVE_WAIT;
		return (1);
	case PROVE_WAIT:
		return (ctl_regmap_prove_wait(c, st, pf));
	default:
		return (ctl_regmap_prove_recover(c, st));
	}
}

/* FC06 CONTROL = 0, always obeyed; only to a controller we own. */
static int
ctl_regmap_vent(struct bus_ctl *c, void *arg)
{
	struct ctl_regmap_state	*st = arg;
	uint16_t		 zero = 0;

	if (!st->owned)
		return (-1);
	if (bus_io_write(c, REGMAP_HR_CONTROL, 1, &zero) != 1) {
		bus_io_fail(c, "vent (CONTROL = 0) failed");
		return (-1);
	}
	st->control = 0;
	return (0);
}

/* FC06 CONTROL = 0 to the RTU broadcast address: every controller obeys,
 * none answers. */
static int
ctl_regmap_vent_broadcast(struct bus_ctl *c)
{
	static const uint8_t bcast[] = { REGMAP_BROADCAST,
	    MODBUS_FC_WRITE_SINGLE_REGISTER, 0, REGMAP_HR_CONTROL, 0, 0 };

	return (bus_io_send_raw(c, bcast, sizeof(bcast)));
}

static const char *
ctl_regmap_fault_name(unsigned code)
{
	return (regmap_fault_name(code));
}

static const char *
ctl_regmap_flag_name(int bit)
{
	return (regmap_status_name(bit));
}

static const struct ctl_desc *
ctl_regmap_describe(void)
{
	static const struct ctl_desc desc = {
		.kind = "regmap",
		.interface = "register map",
		.version = REGMAP_VERSION,
		.nflags = REGMAP_STATUS_NBITS,
		.flag_name = ctl_regmap_flag_name,
		.fault_name = ctl_regmap_fault_name,
	};

	return (&desc);
}

const struct ctl_backend ctl_regmap = {
	.kind = "regmap",
	.create = ctl_regmap_create,
	.destroy = ctl_regmap_destroy,
	.connect = ctl_regmap_connect,
	.verify = ctl_regmap_verify,
	.prove = ctl_regmap_prove,
	.tick_write = ctl_regmap_tick_write,
	.tick_read = ctl_regmap_tick_read,
	.vent = ctl_regmap_vent,
	.vent_broadcast = ctl_regmap_vent_broadcast,
	.fault_reset = NULL,	/* CONTROL's FAULT_RESET bit, in the tick */
	.describe = ctl_regmap_describe,
};
