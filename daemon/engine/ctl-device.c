/*
 * ctl-device.c: the controller backend of described devices (kind =
 * device; docs/devices.md): a controller made of up to three parts on
 * one wire, each a device description (daemon/core/device.h) at its own
 * unit id: the device that drives the channels (its [ao]), the sensors
 * its pressures are read from (their [ai]; the device's own when the
 * table names none) and the relay interlock (its [interlock]). The
 * e-stop circuit and the client's switch are the [di] of that role in
 * any part (either of two such inputs stops); the vent valves the [do]
 * of that role in any part.
 *
 * Transactions are planned once, at create(): the registers of one part
 * and one Modbus table are grouped into runs, one transaction each (an
 * FC16 write of a run of holding registers, with no gap; an FC03/FC04
 * read of registers, or an FC01/FC02 read of bits, with gaps of at most
 * CTL_DEV_GAP_REGS registers or CTL_DEV_GAP_BITS bits). A tick is then:
 *
 *	WAGO 750-352	FC16 of the 8 outputs, FC06 of the watchdog's feed,
 *			FC02 of the 2 digital inputs, FC04 of the 8 inputs
 *	RS-485		FC16 of the 8 outputs (unit 1), FC05 of the relay's
 *			heartbeat coil (unit 3), FC04 of the 8 sensors
 *			(unit 2), FC02 of feedback, e-stop and client
 *			switch (unit 3)
 *
 * plus an FC05 of the vent valve when it changes (closed while enabled,
 * venting otherwise). The watchdog's feed is the tick's number (it
 * changes every tick); the heartbeat coil is toggled at every tick's
 * write. A request answered with the exception of a tripped watchdog
 * loses the controller, which connects and proves again.
 *
 * connect() checks each part's identity, stops a watchdog left running
 * or tripped (its reset list), writes every output its safe value and
 * every vent valve venting and reads them back, and makes the tick's
 * reads once (every part answers at its unit id); it arms nothing: the
 * proof does (ctl-device-prove.c). verify() (ctl-device-tick.c) reads
 * back, one transaction a step: the watchdog's state, its timeout, its
 * configure list, the vent valves, the identities.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

#include "clock.h"
#include "ctl-device-private.h"
#include "log.h"

_Static_assert(DEVICE_MAX_AO <= CHANNELS_MAX,
    "CHANNELS_MAX (table.h) below a description's [ao] maximum");

static const char *const ctl_dev_part_names[CTL_PARTS] = {
	"device", "sensors", "interlock"
};

static int	ctl_dev_err(struct ctl_dev *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Why the controller cannot be driven: connect() refuses with it. */
static int
ctl_dev_err(struct ctl_dev *st, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(st->error, sizeof(st->error), fmt, ap);
	va_end(ap);
	return (-1);
}

int
ctl_dev_exception(int err)
{
	return (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE +
	    MODBUS_EXCEPTION_MAX ? err - MODBUS_ENOBASE : 0);
}

int
ctl_dev_is_tripped(const struct ctl_dev *st, int part, int err)
{
	const struct device_watchdog	*w;

	if (part < 0 || st->d[part] == NULL)
		return (0);
	w = &st->d[part]->watchdog;
	return (w->kind == DEVICE_WD_MODBUS && w->tripped_exception > 0 &&
	    err == MODBUS_ENOBASE + w->tripped_exception);
}

const char *
ctl_dev_reg_name(const struct device_reg *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s 0x%04x", device_space_name(r->space), r->addr);
	return (buf);
}

void
ctl_dev_trip_regs(const struct ctl_dev *st, int i, uint16_t regs[2])
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const struct device_ao	*ao = &d->ao[i];

	regs[1] = 0;
	device_raw_encode(ao->type, ao->words,
	    d->watchdog.on_trip == DEVICE_TRIP_ZERO ? 0 : ao->safe, regs);
}

/*
 * Plans: values are added, then grouped into runs by part, table and
 * address. Reads may span a small gap; writes never do (they would write
 * what no key names).
 */
int
ctl_dev_plan_add(struct ctl_dev_plan *pl, int part, enum device_space sp,
    int addr, int n)
{
	struct ctl_dev_item	*it;

	if (pl->nitems >= CTL_DEV_ITEMS)
		fatalx("%s: too many values in a plan", __func__);
	it = &pl->items[pl->nitems];
	it->part = part;
	it->space = sp;
	it->addr = addr;
	it->n = n;
	it->run = it->at = -1;
	return (pl->nitems++);
}

static int
ctl_dev_item_before(const struct ctl_dev_item *a, const struct ctl_dev_item *b)
{
	if (a->part != b->part)
		return (a->part < b->part);
	if (a->space != b->space)
		return (a->space < b->space);
	return (a->addr < b->addr);
}

/* Whether item it goes into run r: same part and table, close enough,
 * and the run stays within a transaction's size. */
static int
ctl_dev_item_fits(const struct ctl_dev_run *r, const struct ctl_dev_item *it,
    int write)
{
	int	 bits, gap, max, end;

	bits = it->space == DEVICE_COIL || it->space == DEVICE_DISCRETE;
	gap = write ? 0 : bits ? CTL_DEV_GAP_BITS : CTL_DEV_GAP_REGS;
	max = write ? CTL_DEV_WRITE_REGS : bits ? CTL_DEV_READ_BITS :
	    CTL_DEV_READ_REGS;
	end = r->addr + r->n;
	if (it->addr + it->n > end)
		end = it->addr + it->n;
	return (r->part == it->part && r->space == it->space &&
	    it->addr <= r->addr + r->n + gap && end - r->addr <= max);
}

void
ctl_dev_plan_make(struct ctl_dev_plan *pl, int write)
{
	struct ctl_dev_item	*it;
	struct ctl_dev_run	*r = NULL;
	int			 order[CTL_DEV_ITEMS], i, j;

	for (i = 0; i < pl->nitems; i++) {
		for (j = i; j > 0 && ctl_dev_item_before(&pl->items[i],
		    &pl->items[order[j - 1]]); j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	pl->nruns = pl->nbuf = 0;
	for (i = 0; i < pl->nitems; i++) {
		it = &pl->items[order[i]];
		if (r == NULL || !ctl_dev_item_fits(r, it, write)) {
			r = &pl->runs[pl->nruns++];
			r->part = it->part;
			r->space = it->space;
			r->addr = it->addr;
			r->n = 0;
		}
		if (it->addr + it->n > r->addr + r->n)
			r->n = it->addr + it->n - r->addr;
		it->run = pl->nruns - 1;
	}
	for (i = 0; i < pl->nruns; i++) {
		pl->runs[i].at = pl->nbuf;
		pl->nbuf += pl->runs[i].n;
	}
	for (i = 0; i < pl->nitems; i++) {
		it = &pl->items[i];
		it->at = pl->runs[it->run].at + it->addr -
		    pl->runs[it->run].addr;
	}
	free(pl->buf);
	if ((pl->buf = calloc(pl->nbuf > 0 ? pl->nbuf : 1,
	    sizeof(*pl->buf))) == NULL)
		fatal("calloc");
}

void
ctl_dev_plan_free(struct ctl_dev_plan *pl)
{
	free(pl->buf);
	pl->buf = NULL;
}

void
ctl_dev_unit(struct bus_ctl *c, struct ctl_dev *st, int part)
{
	st->xpart = part;
	bus_io_unit(c, st->unit[part]);
}

/* One run of a plan read into its buf; 0, or -1 with errno. */
int
ctl_dev_plan_read(struct bus_ctl *c, struct ctl_dev *st,
    struct ctl_dev_plan *pl, int run)
{
	const struct ctl_dev_run	*r = &pl->runs[run];
	uint8_t				 bits[CTL_DEV_READ_BITS];
	int				 i;

	ctl_dev_unit(c, st, r->part);
	if (r->space == DEVICE_COIL || r->space == DEVICE_DISCRETE) {
		if (bus_io_read_bits(c, r->space == DEVICE_COIL, r->addr, r->n,
		    bits) != r->n)
			return (-1);
		for (i = 0; i < r->n; i++)
			pl->buf[r->at + i] = bits[i] != 0;
		return (0);
	}
	return (bus_io_read(c, r->space == DEVICE_INPUT, r->addr, r->n,
	    pl->buf + r->at) == r->n ? 0 : -1);
}

/* One run of holding registers written from buf; 0, or -1 with errno. */
int
ctl_dev_plan_write(struct bus_ctl *c, struct ctl_dev *st,
    struct ctl_dev_plan *pl, int run)
{
	const struct ctl_dev_run	*r = &pl->runs[run];

	ctl_dev_unit(c, st, r->part);
	return (bus_io_write(c, r->addr, r->n, pl->buf + r->at) == r->n ?
	    0 : -1);
}

/*
 * Transactions the tick, the vent, connect and the proof share. Each
 * returns 0, or -1 with errno.
 */
int
ctl_dev_reg_read(struct bus_ctl *c, struct ctl_dev *st, int part,
    const struct device_reg *r, uint16_t *v)
{
	ctl_dev_unit(c, st, part);
	return (bus_io_read(c, r->space == DEVICE_INPUT, r->addr, 1, v) == 1 ?
	    0 : -1);
}

int
ctl_dev_reg_write(struct bus_ctl *c, struct ctl_dev *st, int part,
    const struct device_reg *r, uint16_t v)
{
	ctl_dev_unit(c, st, part);
	return (bus_io_write(c, r->addr, 1, &v) == 1 ? 0 : -1);
}

/* The level of a digital input (r: its register) or of an output (r: its
 * read-back). */
int
ctl_dev_dio_read(struct bus_ctl *c, struct ctl_dev *st,
    const struct ctl_dev_io *io, const struct device_reg *r, int *level)
{
	uint8_t		 b;
	uint16_t	 v;

	ctl_dev_unit(c, st, io->part);
	if (r->space == DEVICE_COIL || r->space == DEVICE_DISCRETE) {
		if (bus_io_read_bits(c, r->space == DEVICE_COIL, r->addr, 1,
		    &b) != 1)
			return (-1);
		*level = b != 0;
		return (0);
	}
	if (bus_io_read(c, r->space == DEVICE_INPUT, r->addr, 1, &v) != 1)
		return (-1);
	*level = (v >> (io->x->bit >= 0 ? io->x->bit : 0)) & 1;
	return (0);
}

/* A digital output to level: FC05 of a coil, or FC06 of its register
 * with its bit changed (the rest as read at connect). */
static int
ctl_dev_do_write(struct bus_ctl *c, struct ctl_dev *st, struct ctl_dev_io *io,
    int level)
{
	const struct device_dio	*x = io->x;
	uint16_t		 v;

	ctl_dev_unit(c, st, io->part);
	if (x->bit < 0)
		return (bus_io_write_bit(c, x->reg.addr, level) == 1 ? 0 : -1);
	v = level ? io->shadow | (uint16_t)(1u << x->bit) :
	    io->shadow & (uint16_t)~(1u << x->bit);
	if (bus_io_write(c, x->reg.addr, 1, &v) != 1)
		return (-1);
	io->shadow = v;
	return (0);
}

int
ctl_dev_vents(struct bus_ctl *c, struct ctl_dev *st, int venting)
{
	struct ctl_dev_io	*io;
	int			 i;

	for (i = 0; i < st->nio; i++) {
		io = &st->io[i];
		if (io->role != DEVICE_ROLE_VENT_VALVE)
			continue;
		if (ctl_dev_do_write(c, st, io, venting ? io->x->active :
		    !io->x->active) == -1) {
			st->vent = -1;
			return (-1);
		}
	}
	st->vent = venting;
	return (0);
}

int
ctl_dev_heartbeat(struct bus_ctl *c, struct ctl_dev *st)
{
	if (ctl_dev_do_write(c, st, &st->io[st->hb_io], !st->hb) == -1)
		return (-1);
	st->hb = !st->hb;
	st->hb_ns = clock_mono_ns();
	return (0);
}

int
ctl_dev_feed(struct bus_ctl *c, struct ctl_dev *st)
{
	uint16_t	 v = st->feed + 1;

	if (ctl_dev_reg_write(c, st, CTL_PART_DEVICE,
	    &st->d[CTL_PART_DEVICE]->watchdog.feed, v) == -1)
		return (-1);
	st->feed = v;
	return (0);
}

/*
 * The device part's outputs: this tick's intent (in: the kPa of each
 * channel when enabled, else safe; the feed changed), or the safe values
 * (in NULL; the proof's probe values while st->probed). A run that holds
 * only the feed is written only with an intent.
 */
int
ctl_dev_outputs(struct bus_ctl *c, struct ctl_dev *st,
    const struct ctl_intent *in)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const struct device_ao	*ao;
	struct ctl_dev_plan	*pl = &st->out;
	uint16_t		 regs[2], *p;
	int			 i, r, feed_run = -1, has_ao;

	for (i = 0; i < st->nch; i++) {
		ao = &d->ao[i];
		p = pl->buf + pl->items[st->ao_item[i]].at;
		if (in != NULL && in->enable && i < in->nchannels)
			device_kpa_to_raw(ao, in->kpa[i], regs);
		else if (in == NULL && st->probed)
			memcpy(regs, st->probe[i], sizeof(regs));
		else
			device_raw_encode(ao->type, ao->words, ao->safe, regs);
		memcpy(p, regs, device_type_regs(ao->type) * sizeof(*p));
	}
	if (st->feed_item >= 0) {
		if (in != NULL)
			st->feed = in->tick != st->feed ? in->tick :
			    (uint16_t)(in->tick + 1);
		pl->buf[pl->items[st->feed_item].at] = st->feed;
		feed_run = pl->items[st->feed_item].run;
	}
	for (r = 0; r < pl->nruns; r++) {
		has_ao = 0;
		for (i = 0; i < st->nch && !has_ao; i++)
			has_ao = pl->items[st->ao_item[i]].run == r;
		if (r == feed_run && !has_ao && in == NULL)
			continue;
		if (ctl_dev_plan_write(c, st, pl, r) == -1)
			return (-1);
	}
	return (0);
}

/*
 * A list of holding writes in order (configure, reset), each read back
 * when readback. 0, or -1 with why (errno: the transaction's error, 0
 * for a read-back that differs).
 */
int
ctl_dev_writes(struct bus_ctl *c, struct ctl_dev *st, int part,
    const struct device_write *w, int n, int readback, char *why, size_t len)
{
	char		 name[48];
	uint16_t	 v;
	int		 i, e;

	for (i = 0; i < n; i++) {
		ctl_dev_reg_name(&w[i].reg, name, sizeof(name));
		if (ctl_dev_reg_write(c, st, part, &w[i].reg, w[i].value) ==
		    -1) {
			e = errno;
			snprintf(why, len, "writing %s = 0x%04x", name,
			    w[i].value);
			errno = e;
			return (-1);
		}
		if (!readback)
			continue;
		if (ctl_dev_reg_read(c, st, part, &w[i].reg, &v) == -1) {
			e = errno;
			snprintf(why, len, "reading back %s", name);
			errno = e;
			return (-1);
		}
		if (v != w[i].value) {
			snprintf(why, len, "%s reads 0x%04x after writing "
			    "0x%04x", name, v, w[i].value);
			errno = 0;
			return (-1);
		}
	}
	return (0);
}

/*
 * create(): the descriptions, loaded again (a file that changed since the
 * table was checked and no longer loads is the controller's refusal,
 * never fatal), the roles and the plans.
 */
static int
ctl_dev_load(struct ctl_dev *st)
{
	const struct ctl_conf	*cc = st->set.conf;
	struct inifile_errors	 errs;
	const char		*t;
	int			 p, n, len;

	for (p = 0; p < CTL_PARTS; p++) {
		if (cc->parts[p].path[0] == '\0')
			continue;
		if ((st->d[p] = calloc(1, sizeof(*st->d[p]))) == NULL)
			fatal("calloc");
		memset(&errs, 0, sizeof(errs));
		errs.quiet = 1;
		n = device_load(st->d[p], cc->parts[p].path, &errs);
		if (n > 0) {
			t = errs.text != NULL ? errs.text : "?";
			len = (int)strcspn(t, "\n");
			ctl_dev_err(st, "refused: the %s's description "
			    "does not load (changed since the table was "
			    "checked?): %.*s%s", ctl_dev_part_names[p], len,
			    t, n > 1 ? " (and more)" : "");
		}
		inifile_errors_free(&errs);
		if (n > 0)
			return (-1);
		st->unit[p] = cc->parts[p].unit_id > 0 ? cc->parts[p].unit_id :
		    p == CTL_PART_DEVICE && cc->unit_id > 0 ? cc->unit_id :
		    st->d[p]->unit_id;
	}
	return (0);
}

/* The device part's watchdog: trusted, and its timeout in its unit. */
static int
ctl_dev_wd_setup(struct ctl_dev *st)
{
	const struct device		*d = st->d[CTL_PART_DEVICE];
	const struct device_watchdog	*w = &d->watchdog;
	int				 ms = st->set.conf->watchdog_ms;

	st->wd = w->kind == DEVICE_WD_MODBUS && d->watchdog_trusted;
	if (!st->wd)
		return (0);
	if (ms <= 0 || ms % w->timeout_unit_ms != 0)
		return (ctl_dev_err(st, "refused: watchdog_ms %d is not a "
		    "whole number of device %s's timeout unit (%d ms)", ms,
		    d->name, w->timeout_unit_ms));
	if (ms < w->timeout_min_ms || ms > w->timeout_max_ms)
		return (ctl_dev_err(st, "refused: watchdog_ms %d is outside "
		    "device %s's timeout range %d..%d ms", ms, d->name,
		    w->timeout_min_ms, w->timeout_max_ms));
	st->wd_units = ms / w->timeout_unit_ms;
	st->wd_ms = ms;
	return (0);
}

/* What the table asks of its parts: channels, pressures, an interlock. */
static int
ctl_dev_setup(struct ctl_dev *st)
{
	const struct device	*d = st->d[CTL_PART_DEVICE], *src;
	int			 need = st->set.need_channels;

	if (d == NULL)
		return (ctl_dev_err(st, "refused: no device = in the table"));
	st->nch = d->nao;
	st->ai_part = st->d[CTL_PART_SENSORS] != NULL ? CTL_PART_SENSORS :
	    CTL_PART_DEVICE;
	src = st->d[st->ai_part];
	if (need > st->nch)
		return (ctl_dev_err(st, "refused: device %s has %d analogue "
		    "outputs, the configured zones use %d channels", d->name,
		    st->nch, need));
	st->nsense = need > 0 ? need : st->nch < src->nai ? st->nch :
	    src->nai;
	if (src->nai < st->nsense)
		return (ctl_dev_err(st, "refused: %s %s has %d analogue inputs "
		    "for the pressures, the configured zones use %d channels",
		    ctl_dev_part_names[st->ai_part], src->name, src->nai,
		    st->nsense));
	if (st->d[CTL_PART_INTERLOCK] != NULL) {
		if (!st->d[CTL_PART_INTERLOCK]->interlock.present)
			return (ctl_dev_err(st, "refused: interlock %s has no "
			    "[interlock]", st->d[CTL_PART_INTERLOCK]->name));
		st->il_part = CTL_PART_INTERLOCK;
	} else if (d->interlock.present)
		st->il_part = CTL_PART_DEVICE;
	if (d->needs_interlock && st->il_part < 0)
		return (ctl_dev_err(st, "refused: device %s may be driven only "
		    "behind a relay interlock (interlock = in the table): %s",
		    d->name, d->why));
	return (ctl_dev_wd_setup(st));
}

static void
ctl_dev_role_add(struct ctl_dev *st, int part, const struct device_dio *x)
{
	struct ctl_dev_io	*io = &st->io[st->nio++];

	io->role = x->role;
	io->part = part;
	io->x = x;
	io->item = -1;
	io->shadow = 0;
	if (x->role == DEVICE_ROLE_VENT_VALVE)
		st->nvent++;
}

/* The inputs and outputs with a role; of the relay's, only the interlock
 * part's (its [interlock] names them). */
static void
ctl_dev_roles(struct ctl_dev *st)
{
	const struct device	*d;
	int			 p, i, il;

	for (p = 0; p < CTL_PARTS; p++) {
		if ((d = st->d[p]) == NULL)
			continue;
		il = p == st->il_part;
		for (i = 0; i < d->ndi; i++) {
			if (d->di[i].role == DEVICE_ROLE_RELAY_FEEDBACK) {
				if (!il || i != d->interlock.feedback)
					continue;
				st->fb_io = st->nio;
			}
			ctl_dev_role_add(st, p, &d->di[i]);
		}
		for (i = 0; i < d->ndo; i++) {
			if (d->dout[i].role == DEVICE_ROLE_RELAY_HEARTBEAT) {
				if (!il || i != d->interlock.heartbeat)
					continue;
				st->hb_io = st->nio;
			}
			ctl_dev_role_add(st, p, &d->dout[i]);
		}
	}
}

/* The tick's writes and reads, the read-backs and the identity checks. */
static void
ctl_dev_plans(struct ctl_dev *st)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const struct device	*s = st->d[st->ai_part];
	struct ctl_dev_io	*io;
	int			 i, p, n, k;

	for (i = 0; i < st->nch; i++) {
		n = device_type_regs(d->ao[i].type);
		st->ao_item[i] = ctl_dev_plan_add(&st->out, CTL_PART_DEVICE,
		    DEVICE_HOLDING, d->ao[i].reg.addr, n);
		st->ao_back[i] = ctl_dev_plan_add(&st->back, CTL_PART_DEVICE,
		    d->ao[i].readback.space, d->ao[i].readback.addr, n);
	}
	if (st->wd)
		st->feed_item = ctl_dev_plan_add(&st->out, CTL_PART_DEVICE,
		    DEVICE_HOLDING, d->watchdog.feed.addr, 1);
	for (i = 0; i < st->nsense; i++)
		st->ai_item[i] = ctl_dev_plan_add(&st->in, st->ai_part,
		    s->ai[i].reg.space, s->ai[i].reg.addr,
		    device_type_regs(s->ai[i].type));
	for (i = 0; i < st->nio; i++) {
		io = &st->io[i];
		if (io->role == DEVICE_ROLE_VENT_VALVE)
			io->item = ctl_dev_plan_add(&st->back, io->part,
			    io->x->readback.space, io->x->readback.addr, 1);
		else if (io->role != DEVICE_ROLE_RELAY_HEARTBEAT)
			io->item = ctl_dev_plan_add(&st->in, io->part,
			    io->x->reg.space, io->x->reg.addr, 1);
	}
	for (p = 0; p < CTL_PARTS; p++)
		for (i = 0; st->d[p] != NULL && i < st->d[p]->nidentity; i++) {
			k = ctl_dev_plan_add(&st->ident, p,
			    st->d[p]->identity[i].reg.space,
			    st->d[p]->identity[i].reg.addr, 1);
			st->ident_want[k] = st->d[p]->identity[i].value;
		}
	ctl_dev_plan_make(&st->out, 1);
	ctl_dev_plan_make(&st->in, 0);
	ctl_dev_plan_make(&st->back, 0);
	ctl_dev_plan_make(&st->ident, 0);
}

static void
ctl_dev_check_add(struct ctl_dev *st, enum ctl_dev_check_kind kind, int arg)
{
	st->checks[st->nchecks].kind = kind;
	st->checks[st->nchecks].arg = arg;
	st->nchecks++;
}

/* verify()'s steps, one transaction each. */
static void
ctl_dev_checks(struct ctl_dev *st)
{
	const struct device_watchdog	*w;
	int				 i;

	w = &st->d[CTL_PART_DEVICE]->watchdog;
	if (st->wd) {
		if (w->state.addr >= 0)
			ctl_dev_check_add(st, CTL_DEV_CHECK_STATE, 0);
		ctl_dev_check_add(st, CTL_DEV_CHECK_TIMEOUT, 0);
		for (i = 0; i < w->nconfigure; i++)
			ctl_dev_check_add(st, CTL_DEV_CHECK_CONFIGURE, i);
	}
	for (i = 0; i < st->nio; i++)
		if (st->io[i].role == DEVICE_ROLE_VENT_VALVE)
			ctl_dev_check_add(st, CTL_DEV_CHECK_VENT, i);
	for (i = 0; i < st->ident.nruns; i++)
		ctl_dev_check_add(st, CTL_DEV_CHECK_IDENTITY, i);
}

static void *
ctl_dev_create(const struct ctl_setup *set)
{
	struct ctl_dev	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("calloc");
	st->set = *set;
	st->il_part = st->feed_item = st->hb_io = st->fb_io = -1;
	st->vent = -1;
	if (ctl_dev_load(st) == 0 && ctl_dev_setup(st) == 0) {
		ctl_dev_roles(st);
		ctl_dev_plans(st);
		ctl_dev_checks(st);
	}
	if (st->error[0] != '\0')
		log_warnx("controller %s: %s", set->conf->name, st->error);
	return (st);
}

static void
ctl_dev_destroy(void *arg)
{
	struct ctl_dev	*st = arg;
	int		 p;

	if (st == NULL)
		return;
	for (p = 0; p < CTL_PARTS; p++)
		free(st->d[p]);
	ctl_dev_plan_free(&st->out);
	ctl_dev_plan_free(&st->in);
	ctl_dev_plan_free(&st->back);
	ctl_dev_plan_free(&st->ident);
	free(st);
}

int
ctl_dev_ident_cmp(const struct ctl_dev *st, int run, char *why, size_t len)
{
	const struct ctl_dev_item	*it;
	const struct device		*d;
	struct device_reg		 reg;
	char				 name[48];
	uint16_t			 v;
	int				 i;

	for (i = 0; i < st->ident.nitems; i++) {
		it = &st->ident.items[i];
		if (it->run != run ||
		    (v = st->ident.buf[it->at]) == st->ident_want[i])
			continue;
		d = st->d[it->part];
		reg.space = it->space;
		reg.addr = it->addr;
		snprintf(why, len, "device %s (unit %d): %s reads %u, %s "
		    "expects %u", d->name, st->unit[it->part],
		    ctl_dev_reg_name(&reg, name, sizeof(name)), v, d->path,
		    st->ident_want[i]);
		return (-1);
	}
	return (0);
}

/*
 * Each part in turn: a watchdog left running or tripped reset (an
 * exception is left for the proof to name), the identity checks, the
 * registers whose bits are outputs read.
 */
static int
ctl_dev_connect_parts(struct bus_ctl *c, struct ctl_dev *st)
{
	struct ctl_dev_io	*io;
	char			 why[200];
	int			 p, i;

	for (p = 0; p < CTL_PARTS; p++) {
		if (st->d[p] == NULL ||
		    ctl_dev_untrip(c, st, p, why, sizeof(why)) == 0)
			continue;
		if (ctl_dev_exception(errno) == 0) {
			bus_io_failed(c, "device %s (unit %d): %s",
			    st->d[p]->name, st->unit[p], why);
			return (-1);
		}
		log_debug("controller %s: device %s (unit %d): %s: %s",
		    st->set.conf->name, st->d[p]->name, st->unit[p], why,
		    modbus_strerror(errno));
	}
	for (i = 0; i < st->ident.nruns; i++) {
		p = st->ident.runs[i].part;
		if (ctl_dev_plan_read(c, st, &st->ident, i) == -1) {
			bus_io_failed(c, "device %s (unit %d): cannot read its "
			    "identity", st->d[p]->name, st->unit[p]);
			return (-1);
		}
		if (ctl_dev_ident_cmp(st, i, why, sizeof(why)) == -1) {
			bus_io_refuse(c, "refused: %s", why);
			return (-1);
		}
	}
	for (i = 0; i < st->nio; i++) {
		io = &st->io[i];
		if (io->x->bit < 0 || (io->role != DEVICE_ROLE_VENT_VALVE &&
		    io->role != DEVICE_ROLE_RELAY_HEARTBEAT))
			continue;
		if (ctl_dev_reg_read(c, st, io->part, &io->x->reg,
		    &io->shadow) == -1) {
			bus_io_failed(c, "device %s (unit %d): cannot read the "
			    "register of [do %s]", st->d[io->part]->name,
			    st->unit[io->part], io->x->name);
			return (-1);
		}
	}
	return (0);
}

/*
 * The tick's reads, once: every part they address answers now. Without
 * it a part that talks to nobody else at connect (a sensors module on
 * another unit id) let the controller be proven, shown connected and
 * driven for a tick before its first read failed, again and again.
 */
static int
ctl_dev_connect_reads(struct bus_ctl *c, struct ctl_dev *st)
{
	const struct ctl_dev_run	*r;
	int				 i;

	for (i = 0; i < st->in.nruns; i++) {
		if (ctl_dev_plan_read(c, st, &st->in, i) == 0)
			continue;
		r = &st->in.runs[i];
		bus_io_failed(c, "device %s (unit %d): cannot read its %ss "
		    "0x%04x..0x%04x", st->d[r->part]->name,
		    st->unit[r->part], device_space_name(r->space), r->addr,
		    r->addr + r->n - 1);
		return (-1);
	}
	return (0);
}

/* The most an output can ask for: the higher end of its map's range. */
static double
ctl_dev_full_scale(const struct device_ao *ao)
{
	double	 slope = (ao->kpa[1] - ao->kpa[0]) / (ao->raw[1] - ao->raw[0]);
	double	 lo = ao->kpa[0] + (ao->raw_min - ao->raw[0]) * slope;
	double	 hi = ao->kpa[0] + (ao->raw_max - ao->raw[0]) * slope;

	return (hi > lo ? hi : lo);
}

/* rd's identity: the channels and the lowest full scale of those used. */
static void
ctl_dev_identify(struct ctl_dev *st, struct ctl_reading *rd)
{
	const struct device	*d = st->d[CTL_PART_DEVICE];
	int			 i, n = st->set.need_channels;
	double			 kpa;

	memset(rd, 0, sizeof(*rd));
	rd->channels = st->nch;
	if (n <= 0)
		n = st->nch;
	rd->rating_kpa = n > 0 ? INFINITY : 0;
	for (i = 0; i < n; i++)
		if ((kpa = ctl_dev_full_scale(&d->ao[i])) < rd->rating_kpa)
			rd->rating_kpa = kpa;
	rd->version = 0;
	rd->claimed = 0;
	rd->owner = 0;
}

/*
 * The connect sequence: every part what its description says, its
 * outputs safe and its vent valves venting, read back. Nothing is armed
 * here: the proof does.
 */
static int
ctl_dev_connect(struct bus_ctl *c, void *arg, struct ctl_reading *rd)
{
	struct ctl_dev		*st = arg;
	const struct device	*d = st->d[CTL_PART_DEVICE];
	const char		*miss;
	char			 why[256];

	if (st->error[0] != '\0') {
		bus_io_refuse(c, "%s", st->error);
		return (-1);
	}
	if ((miss = bus_io_unguarded(c)) != NULL) {
		bus_io_refuse(c, "refused: described devices have no owner "
		    "claim and the endpoint lock cannot be taken: %s", miss);
		return (-1);
	}
	st->hb_live = st->armed = st->tripped = st->probed = 0;
	if (ctl_dev_connect_parts(c, st) == -1)
		return (-1);
	if (ctl_dev_safe(c, st, why, sizeof(why)) == -1) {
		if (errno == 0)
			bus_io_refuse(c, "refused: %s", why);
		else
			bus_io_failed(c, "%s", why);
		return (-1);
	}
	if (ctl_dev_connect_reads(c, st) == -1)
		return (-1);
	ctl_dev_identify(st, rd);
	log_info("controller %s: connected: device %s (unit %d)%s%s%s%s, %d "
	    "channels, rated %.1f kPa, %s", st->set.conf->name, d->name,
	    st->unit[CTL_PART_DEVICE],
	    st->d[CTL_PART_SENSORS] != NULL ? ", sensors " : "",
	    st->d[CTL_PART_SENSORS] != NULL ?
	    st->d[CTL_PART_SENSORS]->name : "",
	    st->il_part >= 0 ? ", interlock " : "",
	    st->il_part >= 0 ? st->d[st->il_part]->name : "", st->nch,
	    rd->rating_kpa, st->wd ? "its watchdog to be proven" :
	    "its interlock to be proven");
	return (0);
}

const struct ctl_backend ctl_device = {
	.kind = "device",
	.create = ctl_dev_create,
	.destroy = ctl_dev_destroy,
	.connect = ctl_dev_connect,
	.verify = ctl_dev_verify,
	.prove = ctl_dev_prove,
	.tick_write = ctl_dev_tick_write,
	.tick_read = ctl_dev_tick_read,
	.vent = ctl_dev_vent,
	.vent_broadcast = NULL,	/* devices have no common vent frame */
	.fault_reset = ctl_dev_fault_reset,
	.describe = ctl_dev_describe,
};
