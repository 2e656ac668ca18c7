/*
 * table.c: parses the table configuration.
 *
 *   [daemon]              tick rate, directories, API listen address
 *   [safety]              monitoring thresholds
 *   [controller NAME]     one actuator controller (tcp or rtu)
 *   [zone NAME]           one body zone on one controller channel
 *
 * Every error is reported with file:line and parsing goes on, so a person
 * sees all of them at once. Unknown sections and keys are errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

enum table_sect {
	SECT_NONE,
	SECT_DAEMON,
	SECT_SAFETY,
	SECT_CONTROLLER,
	SECT_ZONE,
	SECT_BAD
};

struct table_parse {
	struct table	*t;
	enum table_sect	 sect;
	int		 zone_ctl_line[TABLE_MAX_ZONES];
	char		 zone_ctl[TABLE_MAX_ZONES][NAME_LEN];
	int		 have_channel[TABLE_MAX_ZONES];
	int		 have_limit[TABLE_MAX_ZONES];
	int		 have_transport[TABLE_MAX_CONTROLLERS];
	int		 have_addr[TABLE_MAX_CONTROLLERS];
};

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

static int
table_section(struct inifile_file *f, const char *section)
{
	struct table_parse	*p = f->user;
	struct table		*t = p->t;
	const char		*name;

	p->sect = SECT_BAD;
	if (strcmp(section, "daemon") == 0)
		p->sect = SECT_DAEMON;
	else if (strcmp(section, "safety") == 0)
		p->sect = SECT_SAFETY;
	else if (strncmp(section, "controller ", 11) == 0) {
		name = section + 11;
		if (!inifile_name_ok(name, NAME_LEN)) {
			inifile_err(f, NULL, "controller name '%s' is not valid "
			    "(expected [a-z0-9_]+)", name);
			return (1);
		}
		if (table_ctl_find(t, name) != -1) {
			inifile_err(f, NULL, "controller '%s' defined twice", name);
			return (1);
		}
		if (t->nctls == TABLE_MAX_CONTROLLERS) {
			inifile_err(f, NULL, "too many controllers (at most %d)",
			    TABLE_MAX_CONTROLLERS);
			return (1);
		}
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
		p->sect = SECT_CONTROLLER;
	} else if (strncmp(section, "zone ", 5) == 0) {
		name = section + 5;
		if (!inifile_name_ok(name, NAME_LEN)) {
			inifile_err(f, NULL, "zone name '%s' is not valid "
			    "(expected [a-z0-9_]+, such as piriformis_left)",
			    name);
			return (1);
		}
		if (table_zone_find(t, name) != -1) {
			inifile_err(f, NULL, "zone '%s' defined twice", name);
			return (1);
		}
		if (t->nzones == TABLE_MAX_ZONES) {
			inifile_err(f, NULL, "too many zones (at most %d)",
			    TABLE_MAX_ZONES);
			return (1);
		}
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
		inifile_err(f, key, "'%s' is not valid (expected HOST:PORT, such "
		    "as 127.0.0.1:8080)", v);
		return;
	}
	snprintf(host, hostlen, "%.*s", (int)(colon - v), v);
	*port = (int)l;
}

static void
table_kv_daemon(struct inifile_file *f, struct table *t, const char *k,
    const char *v)
{
	if (strcmp(k, "tick_hz") == 0)
		inifile_double(f, k, v, 1, 1000, "Hz", &t->tick_hz);
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
	else if (strcmp(k, "listen") == 0)
		table_listen(f, k, v, t->listen_host, sizeof(t->listen_host),
		    &t->listen_port);
	else
		inifile_err(f, k, "unknown key (expected tick_hz, free_run, plugin_dir, "
		    "profile_dir, program_dir, rules, intake, state_dir, token_file, "
		    "panel_dir or listen)");
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

	if (strcmp(k, "transport") == 0) {
		p->have_transport[i] = 1;
		if (strcmp(v, "tcp") == 0)
			c->transport = TRANSPORT_TCP;
		else if (strcmp(v, "rtu") == 0)
			c->transport = TRANSPORT_RTU;
		else
			inifile_err(f, k, "'%s' is not valid (expected tcp or rtu)",
			    v);
	} else if (strcmp(k, "address") == 0) {
		p->have_addr[i] |= 1;
		table_listen(f, k, v, c->host, sizeof(c->host), &c->port);
		if (c->port == 0)
			inifile_err(f, k, "port 0 is not valid");
	} else if (strcmp(k, "device") == 0) {
		p->have_addr[i] |= 2;
		if (v[0] != '/')
			inifile_err(f, k, "'%s' is not valid (expected an absolute "
			    "path such as /dev/ttyUSB0)", v);
		else
			inifile_str(f, k, v, c->device, sizeof(c->device));
	} else if (strcmp(k, "baud") == 0)
		inifile_int(f, k, v, 1200, 4000000, &c->baud);
	else if (strcmp(k, "parity") == 0) {
		if (strcmp(v, "N") == 0 || strcmp(v, "E") == 0 ||
		    strcmp(v, "O") == 0)
			c->parity = v[0];
		else
			inifile_err(f, k, "'%s' is not valid (expected N, E or O)",
			    v);
	} else if (strcmp(k, "data_bits") == 0)
		inifile_int(f, k, v, 5, 8, &c->data_bits);
	else if (strcmp(k, "stop_bits") == 0)
		inifile_int(f, k, v, 1, 2, &c->stop_bits);
	else if (strcmp(k, "unit_id") == 0)
		inifile_int(f, k, v, 1, 247, &c->unit_id);
	else if (strcmp(k, "response_timeout_ms") == 0)
		inifile_int(f, k, v, 5, 5000, &c->response_timeout_ms);
	else if (strcmp(k, "watchdog_ms") == 0)
		inifile_int(f, k, v, 50, 10000, &c->watchdog_ms);
	else if (strcmp(k, "max_failures") == 0)
		inifile_int(f, k, v, 1, 100, &c->max_failures);
	else
		inifile_err(f, k, "unknown key (expected transport, address, device, "
		    "baud, parity, data_bits, stop_bits, unit_id, "
		    "response_timeout_ms, watchdog_ms or max_failures)");
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
		table_kv_controller(f, p, &t->ctls[t->nctls - 1], k, v);
		break;
	case SECT_ZONE:
		table_kv_zone(f, p, &t->zones[t->nzones - 1], k, v);
		break;
	default:
		break;	/* the section itself was reported */
	}
	(void)section;
	return (1);
}

/* Checks that need the whole file: references, required keys, clashes. */
static void
table_check(struct table_parse *p, struct inifile_errors *errs)
{
	struct table	*t = p->t;
	int		 i, j;
	char		 sect[NAME_LEN + 16];

	for (i = 0; i < t->nctls; i++) {
		struct ctl_conf *c = &t->ctls[i];

		snprintf(sect, sizeof(sect), "controller %s", c->name);
		if (c->transport == TRANSPORT_TCP && !(p->have_addr[i] & 1))
			inifile_err_at(errs, t->path, c->line, sect, "address",
			    "missing (expected HOST:PORT for transport tcp)");
		if (c->transport == TRANSPORT_RTU && !(p->have_addr[i] & 2))
			inifile_err_at(errs, t->path, c->line, sect, "device",
			    "missing (expected a serial device for transport "
			    "rtu)");
		if (c->response_timeout_ms == -1)
			c->response_timeout_ms =
			    c->transport == TRANSPORT_TCP ? 50 : 100;
		if ((c->watchdog_ms < 3 * c->response_timeout_ms))
			inifile_err_at(errs, t->path, c->line, sect, "watchdog_ms",
			    "%d ms is shorter than three response timeouts "
			    "(%d ms): a slow reply would trip the watchdog",
			    c->watchdog_ms, 3 * c->response_timeout_ms);
		if (c->watchdog_ms * t->tick_hz < 2000)
			inifile_err_at(errs, t->path, c->line, sect, "watchdog_ms",
			    "%d ms is shorter than two ticks at %g Hz",
			    c->watchdog_ms, t->tick_hz);
	}
	for (i = 0; i < t->nzones; i++) {
		struct zone_conf *z = &t->zones[i];

		snprintf(sect, sizeof(sect), "zone %s", z->name);
		if (p->zone_ctl[i][0] == '\0')
			inifile_err_at(errs, t->path, z->line, sect, "controller",
			    "missing");
		else if ((z->ctl = table_ctl_find(t, p->zone_ctl[i])) == -1)
			inifile_err_at(errs, t->path, p->zone_ctl_line[i], sect,
			    "controller", "no controller named '%s'",
			    p->zone_ctl[i]);
		if (!p->have_channel[i])
			inifile_err_at(errs, t->path, z->line, sect, "channel",
			    "missing");
		if (!p->have_limit[i])
			inifile_err_at(errs, t->path, z->line, sect, "limit_kpa",
			    "missing (the hardware limit of this zone in kPa)");
		if (z->ctl == -1 || z->channel == -1)
			continue;
		for (j = 0; j < i; j++) {
			if (t->zones[j].ctl == z->ctl &&
			    t->zones[j].channel == z->channel)
				inifile_err_at(errs, t->path, z->line, sect,
				    "channel", "channel %d of controller %s is "
				    "already used by zone %s", z->channel,
				    t->ctls[z->ctl].name, t->zones[j].name);
		}
	}
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
