/*
 * table-device.c: the described devices of a kind = device controller
 * (docs/devices.md, "Naming devices in the table"):
 *
 *   kind = device
 *   device = FILE          the description of what drives the channels
 *   sensors = FILE         where the pressures are read, if not there
 *   interlock = FILE       the relay interlock
 *   unit_id, sensors_unit_id, interlock_unit_id
 *                          each part's unit id (default: its description's)
 *   serial = /dev/ttyUSB0  the serial line (rtu): with kind = device,
 *                          device = names the description
 *
 * A relative path is relative to the file that names it. Once the table
 * is read, each description is loaded (its own mistakes are reported
 * with its own file:line) and the controller is checked against them:
 * transports, unit ids, outputs and sensors for every zone's channel,
 * roles, full scale, the watchdog timeout, and the interlock rule: a
 * device without a trusted watchdog is driven only behind a relay.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "table-private.h"

static const char *const table_part_key[CTL_PARTS] = {
	"device", "sensors", "interlock"
};
static const char *const table_unit_key[CTL_PARTS] = {
	"unit_id", "sensors_unit_id", "interlock_unit_id"
};

static void
table_key_seen(struct table_key *k, const struct inifile_file *f)
{
	k->file = f->path;
	k->line = f->line;
}

int
table_kv_device(struct inifile_file *f, struct table_parse *p,
    struct ctl_conf *c, const char *k, const char *v)
{
	struct table_ctl_keys	*ks = &p->keys[c - p->t->ctls];
	int			*u;
	int			 r;

	if (strcmp(k, "kind") == 0) {
		table_key_seen(&ks->kind, f);
		if (strcmp(v, "regmap") == 0)
			c->kind = CTL_KIND_REGMAP;
		else if (strcmp(v, "device") == 0)
			c->kind = CTL_KIND_DEVICE;
		else
			inifile_err(f, k, "not valid (expected regmap or "
			    "device)");
		return (1);
	}
	if (strcmp(k, "serial") == 0) {
		if (v[0] != '/')
			inifile_err(f, k, "not valid (expected an absolute "
			    "path such as /dev/ttyUSB0)");
		else if (inifile_str(f, k, v, c->device, sizeof(c->device)) == 0)
			table_key_seen(&ks->serial, f);
		return (1);
	}
	for (r = 0; r < CTL_PARTS; r++) {
		/* As written: what device = means depends on kind, which
		 * may come later (table_device_resolve()). */
		if (strcmp(k, table_part_key[r]) == 0) {
			if (inifile_str(f, k, v, c->parts[r].path,
			    sizeof(c->parts[r].path)) == 0)
				table_key_seen(&ks->part[r], f);
			return (1);
		}
		if (strcmp(k, table_unit_key[r]) == 0) {
			u = r == CTL_PART_DEVICE ? &c->unit_id :
			    &c->parts[r].unit_id;
			if (inifile_int(f, k, v, 1, 247, u) == 0)
				table_key_seen(&ks->unit[r], f);
			return (1);
		}
	}
	return (0);
}

static void
table_key_err(const struct table_key *k, const struct ctl_conf *c,
    const char *key, struct inifile_errors *errs, const char *fmt, ...)
    LOG_PRINTF(5, 6);

static void
table_key_err(const struct table_key *k, const struct ctl_conf *c,
    const char *key, struct inifile_errors *errs, const char *fmt, ...)
{
	va_list	 ap;
	char	 sect[NAME_LEN + 16], what[768];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(sect, sizeof(sect), "controller %s", c->name);
	inifile_err_at(errs, k->file, k->line, sect, key, "%s", what);
}

/* kind = regmap: device = is the serial line, as it always was. */
static void
table_resolve_regmap(struct table_parse *p, int i, struct inifile_errors *errs)
{
	struct ctl_conf		*c = &p->t->ctls[i];
	struct table_ctl_keys	*ks = &p->keys[i];
	const struct table_key	*dk = &ks->part[CTL_PART_DEVICE];
	int			 r;

	if (dk->file != NULL && ks->serial.file != NULL)
		table_key_err(dk, c, "device", errs, "given with serial = "
		    "(both name the serial line: give one)");
	else if (dk->file != NULL && c->parts[CTL_PART_DEVICE].path[0] != '/')
		table_key_err(dk, c, "device", errs, "not valid (expected an "
		    "absolute path such as /dev/ttyUSB0); a device "
		    "description needs kind = device");
	else if (dk->file != NULL) {
		memcpy(c->device, c->parts[CTL_PART_DEVICE].path,
		    sizeof(c->device));
		p->have_addr[i] |= 2;
	}
	for (r = CTL_PART_SENSORS; r < CTL_PARTS; r++) {
		if (ks->part[r].file != NULL)
			table_key_err(&ks->part[r], c, table_part_key[r], errs,
			    "only with kind = device");
		if (ks->unit[r].file != NULL)
			table_key_err(&ks->unit[r], c, table_unit_key[r], errs,
			    "only with kind = device");
	}
	memset(c->parts, 0, sizeof(c->parts));
}

/* kind = device: the parts' paths, relative to the file naming them. */
static void
table_resolve_device(struct table_parse *p, int i, struct inifile_errors *errs)
{
	struct ctl_conf		*c = &p->t->ctls[i];
	struct table_ctl_keys	*ks = &p->keys[i];
	struct table_key	 at = { p->ctl_path[i], c->line };
	char			 raw[PATH_MAX];
	int			 r;

	if (ks->part[CTL_PART_DEVICE].file == NULL)
		table_key_err(&at, c, "device", errs, "missing (expected the "
		    "description of the device that drives the channels, "
		    "such as device = /etc/massaged/devices/wago-750-352.ini)");
	for (r = 0; r < CTL_PARTS; r++) {
		if (ks->part[r].file == NULL) {
			if (ks->unit[r].file != NULL)
				table_key_err(&ks->unit[r], c,
				    table_unit_key[r], errs, "given without "
				    "%s = FILE (expected with the device it "
				    "is the unit id of)", table_part_key[r]);
			continue;
		}
		memcpy(raw, c->parts[r].path, sizeof(raw));
		c->parts[r].line = ks->part[r].line;
		if (inifile_path(ks->part[r].file, raw, c->parts[r].path,
		    sizeof(c->parts[r].path)) == -1) {
			table_key_err(&ks->part[r], c, table_part_key[r], errs,
			    "path too long");
			c->parts[r].path[0] = '\0';
		}
	}
	c->parts[CTL_PART_DEVICE].unit_id = c->unit_id;
}

void
table_device_resolve(struct table_parse *p, struct inifile_errors *errs)
{
	int	 i;

	for (i = 0; i < p->t->nctls; i++) {
		if (p->keys[i].serial.file != NULL)
			p->have_addr[i] |= 2;
		if (p->t->ctls[i].kind == CTL_KIND_DEVICE)
			table_resolve_device(p, i, errs);
		else
			table_resolve_regmap(p, i, errs);
	}
}

void
table_unit_where(const struct table_parse *p, int i, int r,
    const char **file, int *line, const char **key)
{
	const struct table_ctl_keys	*ks = &p->keys[i];
	const struct table_key		*k;

	if (ks->unit[r].file != NULL) {
		k = &ks->unit[r];
		*key = table_unit_key[r];
	} else if (ks->part[r].file != NULL &&
	    p->t->ctls[i].kind == CTL_KIND_DEVICE) {
		k = &ks->part[r];	/* the description's unit id */
		*key = table_part_key[r];
	} else {
		*file = p->ctl_path[i];
		*line = p->t->ctls[i].line;
		*key = table_unit_key[r];
		return;
	}
	*file = k->file;
	*line = k->line;
}

int
table_ctl_units(const struct ctl_conf *c, int units[CTL_PARTS],
    int roles[CTL_PARTS])
{
	int	 r, n = 1;

	units[0] = c->unit_id;
	roles[0] = CTL_PART_DEVICE;
	if (c->kind != CTL_KIND_DEVICE)
		return (1);
	for (r = CTL_PART_SENSORS; r < CTL_PARTS; r++)
		if (c->parts[r].path[0] != '\0' && c->parts[r].unit_id > 0) {
			units[n] = c->parts[r].unit_id;
			roles[n++] = r;
		}
	return (n);
}

/*
 * An estimate until the descriptions are driven: per tick, the setpoints
 * of the n channels are written (FC16: 9 + 2n bytes, answered in 8) and
 * the pressures read (FC04: 8 bytes, answered in 5 + 2n), from the
 * sensors or the device, as a regmap controller does without its
 * CONTROL, HEARTBEAT and OWNER; an interlock adds its heartbeat coil
 * (FC05: 8 bytes, answered in 8) and a read of its inputs (FC02: 8,
 * answered in 6). One 16-bit register a channel, as in the shipped
 * descriptions: 32-bit channels, a device's own digital inputs and a
 * watchdog fed by a register of its own take more.
 */
int
table_device_line(const struct ctl_conf *c, int n, int *frames)
{
	int	 chars = (9 + 2 * n) + 8 + 8 + (5 + 2 * n);

	*frames += 4;
	if (c->parts[CTL_PART_INTERLOCK].path[0] != '\0') {
		chars += 8 + 8 + 8 + 6;
		*frames += 4;
	}
	return (chars);
}

/* Per controller: its descriptions (NULL: none, or it did not load). */
struct table_devs {
	struct table_parse	*p;
	int			 i;
	struct ctl_conf		*c;
	struct device		*d[CTL_PARTS];
	struct inifile_errors	*errs;
};

static void
table_part_err(const struct table_devs *v, int r, const char *fmt, ...)
    LOG_PRINTF(3, 4);

/* An error at the key that names part r. */
static void
table_part_err(const struct table_devs *v, int r, const char *fmt, ...)
{
	va_list	 ap;
	char	 what[768];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	table_key_err(&v->p->keys[v->i].part[r], v->c, table_part_key[r],
	    v->errs, "%s", what);
}

/* FNV-1a of a parsed description (device_load() zeroes it first). */
static uint64_t
table_device_digest(const struct device *d)
{
	const unsigned char	*p = (const unsigned char *)d;
	uint64_t		 h = 14695981039346656037ull;
	size_t			 i;

	for (i = 0; i < sizeof(*d); i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return (h);
}

static void
table_devs_load(struct table_devs *v, struct device *buf)
{
	struct ctl_part	*pt;
	int		 r, n;

	for (r = 0; r < CTL_PARTS; r++) {
		pt = &v->c->parts[r];
		v->d[r] = NULL;
		if (pt->path[0] == '\0')
			continue;
		if ((n = device_load(&buf[r], pt->path, v->errs)) == 0) {
			v->d[r] = &buf[r];
			pt->digest = table_device_digest(&buf[r]);
		} else
			table_part_err(v, r, "%s does not load: %d error%s in "
			    "the description (each with its own file:line)",
			    pt->path, n, n == 1 ? "" : "s");
	}
}

/* Unit ids: the description's unless the table gives one, in its range. */
static void
table_devs_units(struct table_devs *v)
{
	const struct table_key	*k;
	const struct device	*d;
	int			*u, r;

	for (r = 0; r < CTL_PARTS; r++) {
		if ((d = v->d[r]) == NULL)
			continue;
		u = r == CTL_PART_DEVICE ? &v->c->unit_id :
		    &v->c->parts[r].unit_id;
		k = &v->p->keys[v->i].unit[r];
		if (k->file == NULL)
			*u = d->unit_id;
		else if (*u < d->unit_id_min || *u > d->unit_id_max)
			table_key_err(k, v->c, table_unit_key[r], v->errs,
			    "unit %d is outside the unit ids %s can be set to "
			    "(%d to %d: unit_ids in %s)", *u, d->name,
			    d->unit_id_min, d->unit_id_max, d->path);
	}
	v->c->parts[CTL_PART_DEVICE].unit_id = v->c->unit_id;
}

static const char *
table_transports(int t)
{
	if (t == (DEVICE_TRANSPORT_TCP | DEVICE_TRANSPORT_RTU))
		return ("tcp and rtu");
	return (t == DEVICE_TRANSPORT_TCP ? "tcp only" : "rtu only");
}

/* Each part can do its job on the controller's transport. */
static void
table_devs_fit(struct table_devs *v)
{
	const struct device	*d;
	int			 r, want;

	want = v->c->transport == TRANSPORT_TCP ? DEVICE_TRANSPORT_TCP :
	    DEVICE_TRANSPORT_RTU;
	for (r = 0; r < CTL_PARTS; r++)
		if ((d = v->d[r]) != NULL && !(d->transports & want))
			table_part_err(v, r, "%s speaks %s (transports in %s), "
			    "not the controller's transport %s", d->name,
			    table_transports(d->transports), d->path,
			    v->c->transport == TRANSPORT_TCP ? "tcp" : "rtu");
	if ((d = v->d[CTL_PART_DEVICE]) != NULL && d->nao == 0)
		table_part_err(v, CTL_PART_DEVICE, "%s has no analogue output "
		    "([ao]) to drive the channels with", d->name);
	if ((d = v->d[CTL_PART_SENSORS]) != NULL && d->nai == 0)
		table_part_err(v, CTL_PART_SENSORS, "%s has no analogue input "
		    "([ai]) to read the pressures from", d->name);
	if ((d = v->d[CTL_PART_INTERLOCK]) != NULL && !d->interlock.present)
		table_part_err(v, CTL_PART_INTERLOCK, "%s has no [interlock] "
		    "section: it is not a relay interlock", d->name);
}

/* The input or output of a role, and the part it belongs to. */
struct table_role {
	const struct device_dio	*io;
	const char		*sect;		/* "di", "do" */
	int			 part;
};

static void
table_role_one(struct table_devs *v, struct table_role *seen, int r,
    const struct device_dio *io, const char *sect)
{
	const struct table_role	*o;

	if (io->role != DEVICE_ROLE_ESTOP_CIRCUIT &&
	    io->role != DEVICE_ROLE_CLIENT_STOP &&
	    io->role != DEVICE_ROLE_RELAY_FEEDBACK &&
	    io->role != DEVICE_ROLE_VENT_VALVE)
		return;
	o = &seen[io->role];
	if (o->io == NULL) {
		seen[io->role] = (struct table_role){ io, sect, r };
		return;
	}
	if (o->part == r)
		return;		/* the description's own business */
	table_part_err(v, r, "role %s of [%s %s] (%s:%d) is already [%s %s] "
	    "(%s:%d): at most one per controller", device_role_name(io->role),
	    sect, io->name, v->d[r]->path, io->line, o->sect, o->io->name,
	    v->d[o->part]->path, o->io->line);
}

/* estop_circuit, client_stop, relay_feedback and vent_valve: at most one
 * each across the controller's parts. */
static void
table_devs_roles(struct table_devs *v)
{
	struct table_role	 seen[DEVICE_ROLE_RELAY_HEARTBEAT + 1];
	const struct device	*d;
	int			 r, j;

	memset(seen, 0, sizeof(seen));
	for (r = 0; r < CTL_PARTS; r++) {
		if ((d = v->d[r]) == NULL)
			continue;
		for (j = 0; j < d->ndi; j++)
			table_role_one(v, seen, r, &d->di[j], "di");
		for (j = 0; j < d->ndo; j++)
			table_role_one(v, seen, r, &d->dout[j], "do");
	}
}

/* A relay's dropout: what the watchdog's timeout is to a device. */
static void
table_dropout(struct table_devs *v, int r)
{
	const struct device	*d = v->d[r];
	const struct table_key	*k = &v->p->keys[v->i].part[r];
	char			 what[PATH_MAX + 80];

	snprintf(what, sizeof(what), "the relay's dropout_ms (%d ms, %s:%d)",
	    d->interlock.dropout_ms, d->path, d->interlock.line);
	v->c->dropout_ms = d->interlock.dropout_ms;
	table_check_vent_time(v->p->t, v->c, k->file, k->line,
	    table_part_key[r], d->interlock.dropout_ms, what, "drop the relay",
	    v->errs);
}

/*
 * The interlock rule: a device without a trusted watchdog is driven only
 * behind a relay interlock, its own [interlock] or interlock = FILE.
 */
static void
table_devs_interlock(struct table_devs *v)
{
	const struct device	*d = v->d[CTL_PART_DEVICE];
	int			 r;

	if (d != NULL && d->needs_interlock && !d->interlock.present &&
	    v->c->parts[CTL_PART_INTERLOCK].path[0] == '\0')
		table_part_err(v, CTL_PART_DEVICE, "the watchdog of %s is not "
		    "trusted: %s; such a device is driven only behind a relay "
		    "interlock: name one with interlock = FILE "
		    "(docs/devices.md)", d->name, d->why);
	for (r = 0; r < CTL_PARTS; r++)
		if (v->d[r] != NULL && v->d[r]->interlock.present &&
		    r != CTL_PART_SENSORS)
			table_dropout(v, r);
}

/*
 * watchdog_ms is the timeout written to the device: whole units of its
 * timeout register (rounded down: never longer than asked), within its
 * range. A device that needs an interlock does not use it.
 */
static void
table_devs_watchdog(struct table_devs *v)
{
	const struct device	*d = v->d[CTL_PART_DEVICE];
	const struct device_watchdog *w;
	struct table_key	 at = { v->p->ctl_path[v->i], v->c->line };
	char			 what[160];
	int			 ms, unit;

	if (d == NULL || !d->watchdog_trusted)
		return;
	w = &d->watchdog;
	unit = w->timeout_unit_ms > 0 ? w->timeout_unit_ms : 1;
	ms = v->c->watchdog_ms / unit * unit;
	if (ms == 0) {
		table_key_err(&at, v->c, "watchdog_ms", v->errs, "%d ms is "
		    "shorter than one unit of the watchdog timeout of %s "
		    "(%d ms)", v->c->watchdog_ms, d->name, unit);
		return;
	}
	if (ms != v->c->watchdog_ms) {
		snprintf(what, sizeof(what), "%d ms, rounded down to whole "
		    "%d ms units of %s's watchdog,", ms, unit, d->name);
		table_check_vent_time(v->p->t, v->c, at.file, at.line,
		    "watchdog_ms", ms, what, "trip the watchdog", v->errs);
		v->c->watchdog_ms = ms;
	}
	if (ms < w->timeout_min_ms || ms > w->timeout_max_ms)
		table_key_err(&at, v->c, "watchdog_ms", v->errs, "%d ms is "
		    "outside the watchdog timeouts %s can be set to (%d to "
		    "%d ms: timeout_range_ms in %s)", ms, d->name,
		    w->timeout_min_ms, w->timeout_max_ms, d->path);
}

/* The highest pressure an output's raw range reaches on its map. */
static double
table_ao_full(const struct device_ao *ao, double *raw)
{
	double	 slope, lo, hi;

	slope = (ao->kpa[1] - ao->kpa[0]) / (ao->raw[1] - ao->raw[0]);
	lo = ao->kpa[0] + (ao->raw_min - ao->raw[0]) * slope;
	hi = ao->kpa[0] + (ao->raw_max - ao->raw[0]) * slope;
	*raw = hi >= lo ? ao->raw_max : ao->raw_min;
	return (hi >= lo ? hi : lo);
}

/* Every zone of the controller: an output for its channel, a limit within
 * its full scale, a sensor. */
static void
table_devs_zone(struct table_devs *v, int zi, const struct device *src)
{
	const struct device	*d = v->d[CTL_PART_DEVICE];
	const struct zone_conf	*z = &v->p->t->zones[zi];
	const char		*zp = v->p->zone_path[zi];
	double			 full, raw;
	char			 sect[NAME_LEN + 16];

	snprintf(sect, sizeof(sect), "zone %s", z->name);
	if (d != NULL && d->nao > 0 && z->channel >= d->nao)
		inifile_err_at(v->errs, zp, z->line, sect, "channel", "channel "
		    "%d of controller %s: %s has %d analogue outputs ([ao]), "
		    "channels 0 to %d", z->channel, v->c->name, d->name,
		    d->nao, d->nao - 1);
	else if (d != NULL && d->nao > 0 &&
	    z->limit_kpa > (full = table_ao_full(&d->ao[z->channel], &raw)) +
	    1e-9)
		inifile_err_at(v->errs, zp, z->line, sect, "limit_kpa", "%g kPa "
		    "is above the full scale of channel %d: [ao %s] of %s "
		    "reaches %g kPa at raw %g (%s:%d)", z->limit_kpa,
		    z->channel, d->ao[z->channel].name, d->name, full, raw,
		    d->path, d->ao[z->channel].line);
	if (src != NULL && z->channel >= src->nai &&
	    (src->nai > 0 || src == d))
		inifile_err_at(v->errs, zp, z->line, sect, "channel", "channel "
		    "%d of controller %s has no sensor: %s has %d analogue "
		    "inputs ([ai]); the pressures are read from the i-th [ai] "
		    "of sensors = FILE, or of the device without it",
		    z->channel, v->c->name, src->name, src->nai);
}

static void
table_devs_zones(struct table_devs *v)
{
	const struct device	*src;
	int			 zi;

	if (v->c->parts[CTL_PART_SENSORS].path[0] != '\0')
		src = v->d[CTL_PART_SENSORS];
	else
		src = v->d[CTL_PART_DEVICE];
	for (zi = 0; zi < v->p->t->nzones; zi++)
		if (v->p->t->zones[zi].ctl == v->i &&
		    v->p->t->zones[zi].channel >= 0)
			table_devs_zone(v, zi, src);
}

void
table_device_check(struct table_parse *p, struct inifile_errors *errs)
{
	struct table_devs	 v;
	struct device		*buf = NULL;
	int			 i;

	for (i = 0; i < p->t->nctls; i++) {
		if (p->t->ctls[i].kind != CTL_KIND_DEVICE)
			continue;
		/* About 15 KB each: never on the stack. */
		if (buf == NULL &&
		    (buf = calloc(CTL_PARTS, sizeof(*buf))) == NULL) {
			inifile_errors_add(errs, "%s: out of memory",
			    p->t->path);
			return;
		}
		memset(&v, 0, sizeof(v));
		v.p = p;
		v.i = i;
		v.c = &p->t->ctls[i];
		v.errs = errs;
		table_devs_load(&v, buf);
		table_devs_units(&v);
		table_devs_fit(&v);
		table_devs_roles(&v);
		table_devs_interlock(&v);
		table_devs_watchdog(&v);
		table_devs_zones(&v);
	}
	free(buf);
}
