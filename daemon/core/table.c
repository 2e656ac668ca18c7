/*
 * table.c: parses the table configuration.
 *
 *   [daemon]              tick rate, directories, API listen address
 *   [safety]              monitoring thresholds
 *   [controller NAME]     one actuator controller (tcp or rtu): the
 *                         register map, or described devices (kind =
 *                         device, table-device.c)
 *   [zone NAME]           one body zone on one controller channel
 *
 * `layout = FILE` in [daemon] reads the [safety], [controller NAME] and
 * [zone NAME] sections of a layout file shared by the tables of one model
 * (relative to the table file's directory) before the table file's own; a
 * section of the table file that names a controller or zone of the layout
 * amends it (typically the controller's address), so tables of one model
 * differ only in their [daemon] keys and endpoints.
 *
 * Every error is reported with file:line and parsing goes on, so a person
 * sees all of them at once. Unknown sections and keys are errors.
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-conf.h"
#include "table-private.h"

#define RUN_DIR_DEFAULT	"/run/massaged"

/* systemd's RUNTIME_DIRECTORY (its first entry) or /run/massaged. */
static void
table_run_dir_default(struct table *t)
{
	const char	*rd = getenv("RUNTIME_DIRECTORY");

	if (rd != NULL && rd[0] == '/')
		snprintf(t->run_dir, sizeof(t->run_dir), "%.*s",
		    (int)strcspn(rd, ":"), rd);
	else
		snprintf(t->run_dir, sizeof(t->run_dir), "%s", RUN_DIR_DEFAULT);
}

static void
table_defaults(struct table *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->tick_hz = 50;
	snprintf(t->plugin_dir, sizeof(t->plugin_dir), "%s", PLUGINDIR);
	inifile_path(path, "profiles", t->profile_dir, sizeof(t->profile_dir));
	inifile_path(path, "programs", t->program_dir, sizeof(t->program_dir));
	inifile_path(path, "contraindications.ini", t->rules_path,
	    sizeof(t->rules_path));
	inifile_path(path, "intake.ini", t->intake_path, sizeof(t->intake_path));
	snprintf(t->state_dir, sizeof(t->state_dir), "/var/lib/massaged");
	t->records_max_bytes = 16 * 1024 * 1024;
	t->records_keep = 10;
	t->profiles_max = 20000;
	snprintf(t->name, sizeof(t->name), "massaged");
	table_run_dir_default(t);
	snprintf(t->listen_host, sizeof(t->listen_host), "127.0.0.1");
	t->listen_port = 8080;
	t->safety.overpressure_tolerance_kpa = 2.0;
	t->safety.overpressure_ms = 200;
	t->safety.tracking_error_kpa = 6.0;
	t->safety.tracking_ms = 3000;
	t->safety.endangerment_cap_kpa = 8.0;
	t->safety.stop_ramp_kpa_s = 10.0;
	t->safety.pause_kpa = 2.0;
}

/*
 * A section of the table file naming a controller or zone of the layout
 * amends it; anything else defined twice is an error. Returns 1 when the
 * section is the one at index i, read on.
 */
static int
table_amend(struct inifile_file *f, struct table_parse *p, char *from, int i,
    const char *what, const char *name)
{
	if (from[i] == 1 && !p->in_layout) {
		from[i] = 2;
		p->cur = i;
		return (1);
	}
	inifile_err(f, NULL, "%s '%s' defined twice", what, name);
	return (0);
}

static int
table_section(struct inifile_file *f, const char *section)
{
	struct table_parse	*p = f->user;
	struct table		*t = p->t;
	const char		*name;
	int			 i;

	p->sect = SECT_BAD;
	if (strcmp(section, "daemon") == 0 && p->in_layout)
		inifile_err(f, NULL, "not allowed in a layout file (expected "
		    "[safety], [controller NAME] or [zone NAME])");
	else if (strcmp(section, "daemon") == 0)
		p->sect = SECT_DAEMON;
	else if (strcmp(section, "safety") == 0)
		p->sect = SECT_SAFETY;
	else if (strncmp(section, "controller ", 11) == 0) {
		name = section + 11;
		p->own_parts |= !p->in_layout;
		if (!inifile_name_ok(name, NAME_LEN)) {
			inifile_err(f, NULL, "controller name '%s' is not valid "
			    "(expected [a-z0-9_]+)", name);
			return (1);
		}
		if ((i = table_ctl_find(t, name)) != -1) {
			if (table_amend(f, p, p->ctl_from, i, "controller",
			    name))
				p->sect = SECT_CONTROLLER;
			return (1);
		}
		if (t->nctls == TABLE_MAX_CONTROLLERS) {
			inifile_err(f, NULL, "too many controllers (at most %d)",
			    TABLE_MAX_CONTROLLERS);
			return (1);
		}
		p->cur = t->nctls;
		p->ctl_path[p->cur] = f->path;
		p->ctl_from[p->cur] = p->in_layout;
		struct ctl_conf *c = &t->ctls[t->nctls++];
		snprintf(c->name, sizeof(c->name), "%s", name);
		c->line = f->line;
		c->transport = TRANSPORT_TCP;
		c->port = 502;
		c->baud = 115200;
		c->parity = 'N';
		c->data_bits = 8;
		c->stop_bits = 1;
		c->unit_id = 1;
		c->response_timeout_ms = -1;	/* per transport default */
		c->watchdog_ms = 500;
		c->max_failures = 3;
		c->rts_delay_us = -1;
		p->sect = SECT_CONTROLLER;
	} else if (strncmp(section, "zone ", 5) == 0) {
		name = section + 5;
		p->own_parts |= !p->in_layout;
		if (!inifile_name_ok(name, NAME_LEN)) {
			inifile_err(f, NULL, "zone name '%s' is not valid "
			    "(expected [a-z0-9_]+, such as piriformis_left)",
			    name);
			return (1);
		}
		if ((i = table_zone_find(t, name)) != -1) {
			if (table_amend(f, p, p->zone_from, i, "zone", name))
				p->sect = SECT_ZONE;
			return (1);
		}
		if (t->nzones == TABLE_MAX_ZONES) {
			inifile_err(f, NULL, "too many zones (at most %d)",
			    TABLE_MAX_ZONES);
			return (1);
		}
		p->cur = t->nzones;
		p->zone_path[p->cur] = f->path;
		p->zone_from[p->cur] = p->in_layout;
		struct zone_conf *z = &t->zones[t->nzones++];
		snprintf(z->name, sizeof(z->name), "%s", name);
		z->line = f->line;
		z->ctl = -1;
		z->channel = -1;
		z->width_cm = 12;
		z->length_cm = 12;
		p->sect = SECT_ZONE;
	} else
		inifile_err(f, NULL, "unknown section (expected [daemon], [safety], "
		    "[controller NAME] or [zone NAME])");
	return (1);
}

static void
table_dir(struct inifile_file *f, const char *key, const char *v, char *dst,
    size_t len)
{
	/* Relative paths: to the file, or to the cwd on the command line. */
	if (inifile_path(f->line == 0 ? "" : f->path, v, dst, len) == -1)
		inifile_err(f, key, "path too long");
}

static void
table_listen(struct inifile_file *f, const char *key, const char *v,
    char *host, size_t hostlen, int *port)
{
	const char	*colon = strrchr(v, ':');
	long		 l;

	if (colon == NULL || colon == v || (size_t)(colon - v) >= hostlen ||
	    parse_int(colon + 1, 0, 65535, &l) == -1) {
		inifile_err(f, key, "not valid (expected HOST:PORT, such as "
		    "127.0.0.1:8080)");
		return;
	}
	snprintf(host, hostlen, "%.*s", (int)(colon - v), v);
	*port = (int)l;
}

/* A table name: printable ASCII, no quotes or backslashes (it goes into
 * JSON, metrics labels and log lines as it is). */
static int
table_name_ok(const char *v)
{
	size_t	 n = strlen(v), i;

	if (n == 0 || n >= NAME_LEN)
		return (0);
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == '"' ||
		    v[i] == '\\')
			return (0);
	return (1);
}

static int	table_kv(struct inifile_file *, const char *, const char *,
		    const char *);

/* layout = FILE: the layout's sections, read now, before the table's own. */
static void
table_layout(struct inifile_file *f, struct table_parse *p, const char *v)
{
	struct stat	 st;

	if (f->line == 0) {
		inifile_err(f, "layout", "cannot be given on the command line "
		    "(expected in the table file's [daemon] section)");
		return;
	}
	if (p->layout[0] != '\0') {
		inifile_err(f, "layout", "a table has one layout file");
		return;
	}
	if (p->own_parts) {
		inifile_err(f, "layout", "must come before every [controller] "
		    "and [zone] section (the table file amends the layout's)");
		return;
	}
	if (inifile_path(f->path, v, p->layout, sizeof(p->layout)) == -1) {
		inifile_err(f, "layout", "path too long");
		return;
	}
	if (stat(p->layout, &st) == -1 || access(p->layout, R_OK) == -1) {
		inifile_err(f, "layout", "cannot read %s: %s", p->layout,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		inifile_err(f, "layout", "%s is not a regular file", p->layout);
		return;
	}
	p->in_layout = 1;
	inifile_parse(p->layout, f->errs, table_section, table_kv, p);
	p->in_layout = 0;
	p->sect = SECT_DAEMON;
}

static void
table_kv_daemon(struct inifile_file *f, struct table *t, const char *k,
    const char *v)
{
	if (strcmp(k, "layout") == 0 && f->user != NULL)
		table_layout(f, f->user, v);
	else if (strcmp(k, "layout") == 0)
		inifile_err(f, k, "cannot be given on the command line "
		    "(expected in the table file's [daemon] section)");
	else if (strcmp(k, "tick_hz") == 0)
		inifile_double(f, k, v, 1, 1000, "Hz", &t->tick_hz);
	else if (strcmp(k, "name") == 0) {
		if (!table_name_ok(v))
			inifile_err(f, k, "not valid (expected 1 to %d "
			    "printable characters without quotes or "
			    "backslashes, such as Table 2 (room 4))",
			    NAME_LEN - 1);
		else
			inifile_str(f, k, v, t->name, sizeof(t->name));
	} else if (strcmp(k, "owner_id") == 0)
		inifile_int(f, k, v, 1, 65535, &t->owner_id);
	else if (strcmp(k, "run_dir") == 0)
		table_dir(f, k, v, t->run_dir, sizeof(t->run_dir));
	else if (strcmp(k, "free_run") == 0)
		inifile_bool(f, k, v, &t->free_run);
	else if (strcmp(k, "plugin_dir") == 0)
		table_dir(f, k, v, t->plugin_dir, sizeof(t->plugin_dir));
	else if (strcmp(k, "profile_dir") == 0)
		table_dir(f, k, v, t->profile_dir, sizeof(t->profile_dir));
	else if (strcmp(k, "program_dir") == 0)
		table_dir(f, k, v, t->program_dir, sizeof(t->program_dir));
	else if (strcmp(k, "rules") == 0)
		table_dir(f, k, v, t->rules_path, sizeof(t->rules_path));
	else if (strcmp(k, "intake") == 0)
		table_dir(f, k, v, t->intake_path, sizeof(t->intake_path));
	else if (strcmp(k, "state_dir") == 0)
		table_dir(f, k, v, t->state_dir, sizeof(t->state_dir));
	else if (strcmp(k, "token_file") == 0)
		table_dir(f, k, v, t->token_file, sizeof(t->token_file));
	else if (strcmp(k, "panel_dir") == 0)
		table_dir(f, k, v, t->panel_dir, sizeof(t->panel_dir));
	else if (strcmp(k, "store") == 0 ||
	    strcmp(k, "store_password_file") == 0)
		store_conf_key(f, t, k, v);
	else if (strcmp(k, "records_max_bytes") == 0)
		inifile_int(f, k, v, 0, INT_MAX, &t->records_max_bytes);
	else if (strcmp(k, "records_keep") == 0)
		inifile_int(f, k, v, 1, 1000, &t->records_keep);
	else if (strcmp(k, "profiles_max") == 0)
		inifile_int(f, k, v, 0, 1000000, &t->profiles_max);
	else if (strcmp(k, "listen") == 0)
		table_listen(f, k, v, t->listen_host, sizeof(t->listen_host),
		    &t->listen_port);
	else
		inifile_err(f, k, "unknown key (expected name, layout, "
		    "tick_hz, free_run, plugin_dir, profile_dir, program_dir, "
		    "rules, intake, state_dir, run_dir, token_file, panel_dir, "
		    "records_max_bytes, records_keep, profiles_max, listen, "
		    "store, store_password_file or owner_id)");
}

static void
table_kv_safety(struct inifile_file *f, struct safety_conf *s, const char *k,
    const char *v)
{
	if (strcmp(k, "overpressure_tolerance_kpa") == 0)
		inifile_double(f, k, v, 0, 20, "kPa", &s->overpressure_tolerance_kpa);
	else if (strcmp(k, "overpressure_ms") == 0)
		inifile_int(f, k, v, 0, 2000, &s->overpressure_ms);
	else if (strcmp(k, "tracking_error_kpa") == 0)
		inifile_double(f, k, v, 0.5, 50, "kPa", &s->tracking_error_kpa);
	else if (strcmp(k, "tracking_ms") == 0)
		inifile_int(f, k, v, 100, 60000, &s->tracking_ms);
	else if (strcmp(k, "endangerment_cap_kpa") == 0)
		inifile_double(f, k, v, 0, 20, "kPa", &s->endangerment_cap_kpa);
	else if (strcmp(k, "stop_ramp_kpa_s") == 0)
		inifile_double(f, k, v, 0.5, 200, "kPa/s", &s->stop_ramp_kpa_s);
	else if (strcmp(k, "pause_kpa") == 0)
		inifile_double(f, k, v, 0, 10, "kPa", &s->pause_kpa);
	else
		inifile_err(f, k, "unknown key (expected overpressure_tolerance_kpa, "
		    "overpressure_ms, tracking_error_kpa, tracking_ms, "
		    "endangerment_cap_kpa, stop_ramp_kpa_s or pause_kpa)");
}

static void
table_kv_controller(struct inifile_file *f, struct table_parse *p,
    struct ctl_conf *c, const char *k, const char *v)
{
	int	 i = (int)(c - p->t->ctls);

	if (table_kv_device(f, p, c, k, v))
		return;
	if (strcmp(k, "transport") == 0) {
		p->have_transport[i] = 1;
		if (strcmp(v, "tcp") == 0)
			c->transport = TRANSPORT_TCP;
		else if (strcmp(v, "rtu") == 0)
			c->transport = TRANSPORT_RTU;
		else
			inifile_err(f, k, "not valid (expected tcp or rtu)");
	} else if (strcmp(k, "address") == 0) {
		p->have_addr[i] |= 1;
		table_listen(f, k, v, c->host, sizeof(c->host), &c->port);
		if (c->port == 0)
			inifile_err(f, k, "port 0 is not valid");
	} else if (strcmp(k, "baud") == 0)
		inifile_int(f, k, v, 1200, 4000000, &c->baud);
	else if (strcmp(k, "parity") == 0) {
		if (strcmp(v, "N") == 0 || strcmp(v, "E") == 0 ||
		    strcmp(v, "O") == 0)
			c->parity = v[0];
		else
			inifile_err(f, k, "not valid (expected N, E or O)");
	} else if (strcmp(k, "data_bits") == 0)
		inifile_int(f, k, v, 5, 8, &c->data_bits);
	else if (strcmp(k, "stop_bits") == 0)
		inifile_int(f, k, v, 1, 2, &c->stop_bits);
	else if (strcmp(k, "response_timeout_ms") == 0)
		inifile_int(f, k, v, 5, 5000, &c->response_timeout_ms);
	else if (strcmp(k, "watchdog_ms") == 0)
		inifile_int(f, k, v, 50, 10000, &c->watchdog_ms);
	else if (strcmp(k, "max_failures") == 0)
		inifile_int(f, k, v, 1, 100, &c->max_failures);
	else if (strcmp(k, "serial_mode") == 0) {
		if (strcmp(v, "rs232") == 0 || strcmp(v, "rs485") == 0)
			c->rs485 = v[4] == '8';
		else
			inifile_err(f, k, "not valid (expected rs232 or "
			    "rs485)");
	} else if (strcmp(k, "rts") == 0) {
		if (strcmp(v, "none") == 0)
			c->rts = TABLE_RTS_NONE;
		else if (strcmp(v, "up") == 0)
			c->rts = TABLE_RTS_UP;
		else if (strcmp(v, "down") == 0)
			c->rts = TABLE_RTS_DOWN;
		else
			inifile_err(f, k, "not valid (expected none, up "
			    "or down: the RTS level while sending)");
	} else if (strcmp(k, "rts_delay_us") == 0)
		inifile_int(f, k, v, 0, 100000, &c->rts_delay_us);
	else
		inifile_err(f, k, "unknown key (expected kind, transport, "
		    "address, device, serial, baud, parity, data_bits, "
		    "stop_bits, unit_id, sensors, sensors_unit_id, interlock, "
		    "interlock_unit_id, response_timeout_ms, watchdog_ms, "
		    "max_failures, serial_mode, rts or rts_delay_us)");
}

static void
table_kv_zone(struct inifile_file *f, struct table_parse *p, struct zone_conf *z,
    const char *k, const char *v)
{
	int	 i = (int)(z - p->t->zones);

	if (strcmp(k, "controller") == 0) {
		/* Resolved after parsing: controllers may come later. */
		inifile_str(f, k, v, p->zone_ctl[i], sizeof(p->zone_ctl[i]));
		p->zone_ctl_line[i] = f->line;
		p->zone_ctl_path[i] = f->path;
	} else if (strcmp(k, "channel") == 0) {
		if (inifile_int(f, k, v, 0, CHANNELS_MAX - 1, &z->channel) == 0)
			p->have_channel[i] = 1;
	} else if (strcmp(k, "along_cm") == 0)
		inifile_double(f, k, v, 0, 250, "cm", &z->along_cm);
	else if (strcmp(k, "across_cm") == 0)
		inifile_double(f, k, v, -50, 50, "cm", &z->across_cm);
	else if (strcmp(k, "width_cm") == 0)
		inifile_double(f, k, v, 1, 100, "cm", &z->width_cm);
	else if (strcmp(k, "length_cm") == 0)
		inifile_double(f, k, v, 1, 100, "cm", &z->length_cm);
	else if (strcmp(k, "limit_kpa") == 0) {
		if (inifile_double(f, k, v, 0, 6553.5, "kPa", &z->limit_kpa) == 0)
			p->have_limit[i] = 1;
	} else if (strcmp(k, "endangerment") == 0)
		inifile_bool(f, k, v, &z->endangerment);
	else
		inifile_err(f, k, "unknown key (expected controller, channel, "
		    "along_cm, across_cm, width_cm, length_cm, limit_kpa or "
		    "endangerment)");
}

static int
table_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct table_parse	*p = f->user;
	struct table		*t = p->t;

	switch (p->sect) {
	case SECT_DAEMON:
		table_kv_daemon(f, t, k, v);
		break;
	case SECT_SAFETY:
		table_kv_safety(f, &t->safety, k, v);
		break;
	case SECT_CONTROLLER:
		table_kv_controller(f, p, &t->ctls[p->cur], k, v);
		break;
	case SECT_ZONE:
		table_kv_zone(f, p, &t->zones[p->cur], k, v);
		break;
	default:
		break;	/* the section itself was reported */
	}
	(void)section;
	return (1);
}

/* Whose a unit is: "controller a", "the sensors of controller a". */
static const char *
table_unit_owner(const struct ctl_conf *c, int r, char *buf, size_t len)
{
	static const char *const what[CTL_PARTS] = {
		"the device of ", "the sensors of ", "the interlock of "
	};

	snprintf(buf, len, "%scontroller %s", c->kind == CTL_KIND_DEVICE ?
	    what[r] : "", c->name);
	return (buf);
}

/* Unit ids of controller i that clash with each other or with those of
 * an earlier controller on its wire. */
static void
table_check_units(struct table_parse *p, int i, struct inifile_errors *errs)
{
	const struct ctl_conf	*c = &p->t->ctls[i], *o;
	const char		*file, *key;
	int			 u[CTL_PARTS], r[CTL_PARTS];
	int			 ou[CTL_PARTS], orl[CTL_PARTS];
	int			 a, b, j, n, m, line;
	char			 sect[NAME_LEN + 16], who[NAME_LEN + 40];

	snprintf(sect, sizeof(sect), "controller %s", c->name);
	n = table_ctl_units(c, u, r);
	for (a = 0; a < n; a++) {
		table_unit_where(p, i, r[a], &file, &line, &key);
		for (b = 0; b < a; b++)
			if (u[a] == u[b])
				inifile_err_at(errs, file, line, sect, key,
				    "unit %d on %s is already %s: each part "
				    "needs a unit id of its own", u[a],
				    table_wire_name(c),
				    table_unit_owner(c, r[b], who, sizeof(who)));
		for (j = 0; j < i; j++) {
			o = &p->t->ctls[j];
			if (!table_same_wire(c, o))
				continue;
			m = table_ctl_units(o, ou, orl);
			for (b = 0; b < m; b++)
				if (u[a] == ou[b])
					inifile_err_at(errs, file, line, sect,
					    key, "unit %d on %s is already %s",
					    u[a], table_wire_name(c),
					    table_unit_owner(o, orl[b], who,
					    sizeof(who)));
		}
	}
}

/*
 * Controllers on one wire (one serial device, or one TCP host:port) share
 * a link: their unit ids (every part's, for kind = device) must differ
 * and, on a serial line, the line settings must agree.
 */
static void
table_check_wires(struct table_parse *p, struct inifile_errors *errs)
{
	struct table	*t = p->t;
	int		 i, j;
	char		 sect[NAME_LEN + 16];

	for (i = 0; i < t->nctls; i++) {
		const struct ctl_conf *c = &t->ctls[i], *o;

		table_check_units(p, i, errs);
		snprintf(sect, sizeof(sect), "controller %s", c->name);
		for (j = 0; j < i; j++) {
			o = &t->ctls[j];
			if (!table_same_wire(c, o))
				continue;
			if (c->transport == TRANSPORT_RTU &&
			    (c->baud != o->baud || c->parity != o->parity ||
			    c->data_bits != o->data_bits ||
			    c->stop_bits != o->stop_bits ||
			    c->rs485 != o->rs485 || c->rts != o->rts ||
			    c->rts_delay_us != o->rts_delay_us))
				inifile_err_at(errs, t->path, c->line, sect,
				    c->kind == CTL_KIND_DEVICE ? "serial" :
				    "device", "%s is shared with controller %s "
				    "but the line settings differ (baud, "
				    "parity, data_bits, stop_bits, serial_mode, "
				    "rts, rts_delay_us must agree)", c->device,
				    o->name);
			break;
		}
	}
}

/*
 * The time one tick takes on an RTU line: per controller an FC16 write
 * (9 + 2n bytes, answered in 8) and an FC04 read (8 bytes, answered in
 * 5 + 2n), n = 3 + the channels its zones use (map v2: CONTROL, HEARTBEAT,
 * setpoints, OWNER), each frame followed by the silence that ends it: 3.5
 * characters, or 1.75 ms above 19200 baud (the Modbus serial line
 * specification). A character is a start bit, the data bits, the parity
 * bit and the stop bits. A kind = device controller: table_device_line().
 */
double
table_line_s(const struct table *t, int first)
{
	const struct ctl_conf	*l = &t->ctls[first];
	double			 bits, chars = 0, gap;
	int			 i, n, frames = 0;

	bits = 1 + l->data_bits + (l->parity != 'N') + l->stop_bits;
	gap = l->baud > 19200 ? 0.00175 : 3.5 * bits / l->baud;
	for (i = 0; i < t->nctls; i++) {
		if (!table_same_wire(&t->ctls[i], l))
			continue;
		if (t->ctls[i].kind == CTL_KIND_DEVICE) {
			chars += table_device_line(&t->ctls[i],
			    table_ctl_channels(t, i), &frames);
			continue;
		}
		n = 3 + table_ctl_channels(t, i);
		chars += (9 + 2 * n) + 8 + 8 + (5 + 2 * n);
		frames += 4;
	}
	return (chars * bits / l->baud + frames * gap);
}

/* Each RTU line must carry a tick within the tick's period (free run, a
 * benchmark mode, ticks as fast as the line goes). */
static void
table_check_lines(struct table *t, struct inifile_errors *errs)
{
	const struct ctl_conf	*c;
	double			 s, period = 1 / t->tick_hz;
	int			 i, j, n;
	char			 sect[NAME_LEN + 16];

	for (i = 0; i < t->nctls && !t->free_run; i++) {
		c = &t->ctls[i];
		for (j = 0; j < i; j++)
			if (table_same_wire(&t->ctls[j], c))
				break;
		if (c->transport != TRANSPORT_RTU || j < i)
			continue;	/* one report per line */
		for (n = 0, j = i; j < t->nctls; j++)
			n += table_same_wire(&t->ctls[j], c);
		if ((s = table_line_s(t, i)) <= period)
			continue;
		snprintf(sect, sizeof(sect), "controller %s", c->name);
		inifile_err_at(errs, t->path, c->line, sect, "baud",
		    "%s cannot carry tick_hz = %g: %d controller%s need %.1f ms "
		    "of line time per tick at %d baud, a tick is %.1f ms; "
		    "lower tick_hz to %d or raise the baud rate", c->device,
		    t->tick_hz, n, n == 1 ? "" : "s", s * 1e3, c->baud,
		    period * 1e3, (int)floor(1 / s));
	}
}

void
table_check_vent_time(const struct table *t, const struct ctl_conf *c,
    const char *file, int line, const char *key, int ms, const char *what,
    const char *act, struct inifile_errors *errs)
{
	char	 sect[NAME_LEN + 16];

	snprintf(sect, sizeof(sect), "controller %s", c->name);
	if (ms < 3 * c->response_timeout_ms)
		inifile_err_at(errs, file, line, sect, key, "%s is shorter "
		    "than three response timeouts (%d ms): a slow reply would "
		    "%s", what, 3 * c->response_timeout_ms, act);
	if (ms * t->tick_hz < 2000)
		inifile_err_at(errs, file, line, sect, key, "%s is shorter "
		    "than two ticks at %g Hz", what, t->tick_hz);
}

/* Checks that need the whole file: references, required keys, clashes. */
static void
table_check(struct table_parse *p, struct inifile_errors *errs)
{
	struct table	*t = p->t;
	int		 i, j;
	char		 sect[NAME_LEN + 16], ms[32];

	table_device_resolve(p, errs);
	for (i = 0; i < t->nctls; i++) {
		struct ctl_conf *c = &t->ctls[i];
		const char	*cp = p->ctl_path[i];

		snprintf(sect, sizeof(sect), "controller %s", c->name);
		if (c->transport == TRANSPORT_TCP && !(p->have_addr[i] & 1))
			inifile_err_at(errs, cp, c->line, sect, "address",
			    "missing (expected HOST:PORT for transport tcp)");
		if (c->transport == TRANSPORT_RTU && !(p->have_addr[i] & 2))
			inifile_err_at(errs, cp, c->line, sect,
			    c->kind == CTL_KIND_DEVICE ? "serial" : "device",
			    "missing (expected a serial device for transport "
			    "rtu)");
		if (c->response_timeout_ms == -1)
			c->response_timeout_ms =
			    c->transport == TRANSPORT_TCP ? 50 : 100;
		snprintf(ms, sizeof(ms), "%d ms", c->watchdog_ms);
		table_check_vent_time(t, c, cp, c->line, "watchdog_ms",
		    c->watchdog_ms, ms, "trip the watchdog", errs);
	}
	for (i = 0; i < t->nzones; i++) {
		struct zone_conf *z = &t->zones[i];
		const char	*zp = p->zone_path[i];

		snprintf(sect, sizeof(sect), "zone %s", z->name);
		if (p->zone_ctl[i][0] == '\0')
			inifile_err_at(errs, zp, z->line, sect, "controller",
			    "missing");
		else if ((z->ctl = table_ctl_find(t, p->zone_ctl[i])) == -1)
			inifile_err_at(errs, p->zone_ctl_path[i],
			    p->zone_ctl_line[i], sect, "controller", "no controller named '%s'",
			    p->zone_ctl[i]);
		if (!p->have_channel[i])
			inifile_err_at(errs, zp, z->line, sect, "channel",
			    "missing");
		if (!p->have_limit[i])
			inifile_err_at(errs, zp, z->line, sect, "limit_kpa",
			    "missing (the hardware limit of this zone in kPa)");
		if (z->ctl == -1 || z->channel == -1)
			continue;
		for (j = 0; j < i; j++) {
			if (t->zones[j].ctl == z->ctl &&
			    t->zones[j].channel == z->channel)
				inifile_err_at(errs, zp, z->line, sect,
				    "channel", "channel %d of controller %s is "
				    "already used by zone %s", z->channel,
				    t->ctls[z->ctl].name, t->zones[j].name);
		}
	}
	table_device_check(p, errs);
	table_check_wires(p, errs);
	table_check_lines(t, errs);
	if (t->nctls == 0)
		inifile_err_at(errs, t->path, 1, NULL, NULL,
		    "no [controller NAME] section");
	if (t->nzones == 0)
		inifile_err_at(errs, t->path, 1, NULL, NULL,
		    "no [zone NAME] section");
}

int
table_load(struct table *t, const char *path, struct inifile_errors *errs)
{
	struct table_parse	*p;
	int			 before = errs->count;

	table_defaults(t, path);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", path);
		return (1);
	}
	p->t = t;
	if (inifile_parse(path, errs, table_section, table_kv, p) != -1)
		table_check(p, errs);
	free(p);
	return (errs->count - before);
}

int
table_override(struct table *t, const char *kv, struct inifile_errors *errs)
{
	struct inifile_file	 f;
	char		 key[64];
	const char	*eq = strchr(kv, '=');
	int		 before = errs->count;

	memset(&f, 0, sizeof(f));
	f.path = "command line";
	f.errs = errs;
	snprintf(f.section, sizeof(f.section), "daemon");
	if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		inifile_errors_add(errs, "command line: -o %s: expected KEY=VALUE "
		    "for a [daemon] key", kv);
		return (1);
	}
	snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
	table_kv_daemon(&f, t, key, eq + 1);
	return (errs->count - before);
}

int
table_same_wire(const struct ctl_conf *a, const struct ctl_conf *b)
{
	if (a->transport != b->transport)
		return (0);
	if (a->transport == TRANSPORT_RTU)
		return (strcmp(a->device, b->device) == 0);
	return (strcmp(a->host, b->host) == 0 && a->port == b->port);
}

const char *
table_wire_name(const struct ctl_conf *c)
{
	static __thread char	 buf[PATH_MAX + 16];

	if (c->transport == TRANSPORT_RTU)
		snprintf(buf, sizeof(buf), "%s", c->device);
	else if (strchr(c->host, ':') != NULL)
		snprintf(buf, sizeof(buf), "[%s]:%d", c->host, c->port);
	else
		snprintf(buf, sizeof(buf), "%s:%d", c->host, c->port);
	return (buf);
}

int
table_zone_find(const struct table *t, const char *name)
{
	int	 i;

	for (i = 0; i < t->nzones; i++)
		if (strcmp(t->zones[i].name, name) == 0)
			return (i);
	return (-1);
}

int
table_ctl_find(const struct table *t, const char *name)
{
	int	 i;

	for (i = 0; i < t->nctls; i++)
		if (strcmp(t->ctls[i].name, name) == 0)
			return (i);
	return (-1);
}

int
table_ctl_channels(const struct table *t, int c)
{
	int	 i, n = 0;

	for (i = 0; i < t->nzones; i++)
		if (t->zones[i].ctl == c && t->zones[i].channel + 1 > n)
			n = t->zones[i].channel + 1;
	return (n);
}
