/*
 * device.c: loads a device description. docs/devices.md is the reference:
 *
 *   [device]            name, vendor, model, transports, base, unit ids,
 *                       identity registers to check
 *   [ao NAME]           an analogue output: register, type, map kPa -> raw
 *   [ai NAME]           an analogue input: register, type, map raw -> kPa
 *   [di NAME]           a digital input with its role (e-stop circuit,
 *                       client switch, relay feedback)
 *   [do NAME]           a digital output with its role (vent valve, relay
 *                       heartbeat)
 *   [watchdog]          kind = none, or how to configure, feed and read it
 *   [interlock]         the relay heartbeat output, its feedback, dropout
 *
 * The file is read first and its values after (channels and watchdog in
 * device-chan.c, one value in device-value.c): `base = 1` changes what
 * every address means, wherever the key is in the file.
 * Every error names file:line, section and key; unknown sections and keys
 * are errors; parsing goes on to report all of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device-private.h"
#include "strings.h"

static const struct device_key device_keys_dev[] = {
	{ "name", 1, "a name of a-z, 0-9, '_' and '-', such as wago-750-352" },
	{ "vendor", 1, "the maker's name" },
	{ "model", 1, "the model as its maker writes it" },
	{ "transports", 1, "tcp, rtu, or both: tcp, rtu" },
	{ "base", 1, "0 for offsets as on the wire, 1 for 40001-style "
	    "numbers as many manuals write them" },
	{ "unit_id", 0, NULL },
	{ "unit_ids", 0, NULL },
	{ "unit_id_ignored", 0, NULL },
	{ "identity", 0, NULL },
	{ NULL, 0, NULL }
};
enum { DK_NAME, DK_VENDOR, DK_MODEL, DK_TRANSPORTS, DK_BASE, DK_UNIT_ID,
	DK_UNIT_IDS, DK_UNIT_ID_IGNORED, DK_IDENTITY };

static const struct device_key device_keys_il[] = {
	{ "heartbeat", 1, "the name of a [do] with role = relay_heartbeat" },
	{ "feedback", 1, "the name of a [di] with role = relay_feedback" },
	{ "dropout_ms", 1, "the relay's rated dropout time, 10 to 10000 ms" },
	{ NULL, 0, NULL }
};
enum { IK_HEARTBEAT, IK_FEEDBACK, IK_DROPOUT };

static const char *const device_transport_names[] = { "tcp", "rtu", NULL };

struct inifile_file *
device_at(struct device_parse *p, const struct device_sect *s, int key)
{
	struct inifile_file	*f = &p->at;

	memset(f, 0, sizeof(*f));
	f->path = p->d->path;
	f->errs = p->errs;
	f->line = key >= 0 ? s->kline[key] : s->line;
	snprintf(f->section, sizeof(f->section), "%s", s->title);
	return (f);
}

void
device_missing(struct device_parse *p, const struct device_sect *s,
    const struct device_key *keys)
{
	int	 i;

	for (i = 0; keys[i].name != NULL; i++)
		if (keys[i].required && !(s->have & (1u << i)))
			inifile_err(device_at(p, s, -1), keys[i].name,
			    "missing (expected %s)", keys[i].expect);
}

static void
device_single(struct inifile_file *f, struct device_parse *p,
    struct device_sect *s, const struct device_key *keys)
{
	if (s->line != 0) {
		inifile_err(f, NULL, "section given twice (first at line %d)",
		    s->line);
		return;
	}
	s->line = f->line;
	snprintf(s->title, sizeof(s->title), "%s", f->section);
	p->cur = s;
	p->keys = keys;
}

/* A new [KIND NAME] section, the next of sects; names are unique within
 * a kind ([ao ch0] and [ai ch0] are two channels). */
static void
device_channel(struct inifile_file *f, struct device_parse *p,
    const char *kind, const char *name, struct device_sect *sects, int *n,
    int max, const struct device_key *keys)
{
	struct device_sect	*s;
	int			 i;

	if (!inifile_name_ok(name, DEVICE_NAME_LEN)) {
		inifile_err(f, NULL, "%s name '%s' is not valid (expected "
		    "[a-z0-9_]+, at most %d characters)", kind, name,
		    DEVICE_NAME_LEN - 1);
		return;
	}
	for (i = 0; i < *n; i++)
		if (strcmp(sects[i].title, f->section) == 0) {
			inifile_err(f, NULL, "section given twice (first at "
			    "line %d)", sects[i].line);
			return;
		}
	if (*n == max) {
		inifile_err(f, NULL, "too many [%s] sections (at most %d)", kind,
		    max);
		return;
	}
	s = &sects[(*n)++];
	s->line = f->line;
	snprintf(s->title, sizeof(s->title), "%s %s", kind, name);
	p->cur = s;
	p->keys = keys;
	device_chan_named(p, kind, *n - 1, name, f->line);
}

static int
device_section(struct inifile_file *f, const char *section)
{
	struct device_parse	*p = f->user;
	struct device		*d = p->d;

	p->cur = NULL;
	if (strcmp(section, "device") == 0)
		device_single(f, p, &p->dev, device_keys_dev);
	else if (strcmp(section, "watchdog") == 0)
		device_single(f, p, &p->wd, device_keys_wd);
	else if (strcmp(section, "interlock") == 0)
		device_single(f, p, &p->il, device_keys_il);
	else if (strncmp(section, "ao ", 3) == 0)
		device_channel(f, p, "ao", section + 3, p->ao, &d->nao,
		    DEVICE_MAX_AO, device_keys_ao);
	else if (strncmp(section, "ai ", 3) == 0)
		device_channel(f, p, "ai", section + 3, p->ai, &d->nai,
		    DEVICE_MAX_AI, device_keys_ai);
	else if (strncmp(section, "di ", 3) == 0)
		device_channel(f, p, "di", section + 3, p->di, &d->ndi,
		    DEVICE_MAX_DI, device_keys_di);
	else if (strncmp(section, "do ", 3) == 0)
		device_channel(f, p, "do", section + 3, p->dout, &d->ndo,
		    DEVICE_MAX_DO, device_keys_do);
	else
		inifile_err(f, NULL, "unknown section (expected [device], "
		    "[ao NAME], [ai NAME], [di NAME], [do NAME], [watchdog] "
		    "or [interlock])");
	return (1);
}

static int
device_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct device_parse	*p = f->user;
	struct device_sect	*s = p->cur;
	struct str_list		 l;
	char			 want[400];
	int			 i, n;

	(void)section;
	if (s == NULL)
		return (1);	/* the section was reported */
	for (i = 0; p->keys[i].name != NULL; i++)
		if (strcmp(p->keys[i].name, k) == 0)
			break;
	if (p->keys[i].name == NULL) {
		n = i;
		str_list_init(&l, want, sizeof(want));
		for (i = 0; i < n; i++)
			str_list_add(&l, i == n - 1, "%s", p->keys[i].name);
		inifile_err(f, k, "unknown key (expected %s)", want);
		return (1);
	}
	if ((s->val[i] = strdup(v)) == NULL) {
		inifile_err(f, k, "out of memory");
		return (1);
	}
	s->have |= 1u << i;
	s->kline[i] = f->line;
	return (1);
}

/* name: [a-z0-9_-]+, shorter than DEVICE_NAME_LEN. */
static int
device_name_ok(const char *s)
{
	size_t	 n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return (n > 0 && s[n] == '\0' && n < DEVICE_NAME_LEN);
}

static void
device_text(struct inifile_file *f, const char *k, const char *v, char *dst,
    size_t len)
{
	if (!str_one_line(v))
		inifile_err(f, k, "not one line of plain text (expected no "
		    "control characters)");
	else
		inifile_str(f, k, v, dst, len);
}

static void
device_transports(struct inifile_file *f, const char *k, const char *v,
    int *out)
{
	char	 buf[128], *t, *save = NULL;
	int	 bits = 0, i;

	if (strlen(v) >= sizeof(buf)) {
		inifile_err(f, k, "not valid (expected tcp, rtu, or tcp, rtu)");
		return;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	for (t = strtok_r(buf, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		if (device_v_choice(f, k, t, device_transport_names, &i) == -1)
			return;
		if (bits & (1 << i)) {
			inifile_err(f, k, "%s given twice",
			    device_transport_names[i]);
			return;
		}
		bits |= 1 << i;
	}
	*out = bits;
}

static void
device_unit_ids(struct inifile_file *f, const char *k, const char *v,
    struct device *d)
{
	char		 a[32];
	const char	*dots = strstr(v, "..");
	int		 lo, hi;

	if (dots == NULL || (size_t)(dots - v) >= sizeof(a)) {
		inifile_err(f, k, "not valid (expected LOW..HIGH, unit ids "
		    "from 1 to 247)");
		return;
	}
	snprintf(a, sizeof(a), "%.*s", (int)(dots - v), v);
	if (device_v_unit_id(f, k, str_trim(a), &lo) == -1 ||
	    device_v_unit_id(f, k, dots + 2, &hi) == -1)
		return;
	if (lo > hi) {
		inifile_err(f, k, "%d is above %d (expected LOW..HIGH, LOW at "
		    "most HIGH)", lo, hi);
		return;
	}
	d->unit_id_min = lo;
	d->unit_id_max = hi;
}

static void
device_dev_key(struct device_parse *p, int i)
{
	struct device		*d = p->d;
	struct device_sect	*s = &p->dev;
	struct inifile_file	*f = device_at(p, s, i);
	const char		*k = device_keys_dev[i].name, *v = s->val[i];

	switch (i) {
	case DK_NAME:
		if (!device_name_ok(v))
			inifile_err(f, k, "not valid (expected %s, at most %d "
			    "characters)", device_keys_dev[i].expect,
			    DEVICE_NAME_LEN - 1);
		else
			snprintf(d->name, sizeof(d->name), "%s", v);
		break;
	case DK_VENDOR:
		device_text(f, k, v, d->vendor, sizeof(d->vendor));
		break;
	case DK_MODEL:
		device_text(f, k, v, d->model, sizeof(d->model));
		break;
	case DK_TRANSPORTS:
		device_transports(f, k, v, &d->transports);
		break;
	case DK_UNIT_ID:
		device_v_unit_id(f, k, v, &d->unit_id);
		break;
	case DK_UNIT_IDS:
		device_unit_ids(f, k, v, d);
		break;
	case DK_UNIT_ID_IGNORED:
		inifile_bool(f, k, v, &d->unit_id_ignored);
		break;
	case DK_IDENTITY:
		device_v_writes(d, f, k, v, DEVICE_SPACE(DEVICE_INPUT) |
		    DEVICE_SPACE(DEVICE_HOLDING), DEVICE_HOLDING, d->identity,
		    &d->nidentity);
		break;
	default:
		break;	/* base: read first */
	}
}

/* [device]; base first, since every address depends on it. */
static void
device_dev_resolve(struct device_parse *p)
{
	static const char *const bases[] = { "0", "1", NULL };
	struct device		*d = p->d;
	struct device_sect	*s = &p->dev;
	int			 i, unit_line;

	if (s->line == 0) {
		inifile_err_at(p->errs, d->path, 1, NULL, NULL, "no [device] "
		    "section (expected one with name, vendor, model, "
		    "transports and base)");
		return;
	}
	device_missing(p, s, device_keys_dev);
	if ((s->have & (1u << DK_BASE)) &&
	    device_v_choice(device_at(p, s, DK_BASE), "base", s->val[DK_BASE],
	    bases, &d->base) == -1)
		d->base = -1;
	for (i = 0; device_keys_dev[i].name != NULL; i++)
		if (s->have & (1u << i))
			device_dev_key(p, i);
	if (d->unit_id < d->unit_id_min || d->unit_id > d->unit_id_max) {
		unit_line = s->have & (1u << DK_UNIT_ID) ? DK_UNIT_ID :
		    DK_UNIT_IDS;
		inifile_err(device_at(p, s, unit_line), "unit_id", "%d is "
		    "outside unit_ids %d..%d", d->unit_id, d->unit_id_min,
		    d->unit_id_max);
	}
}

/* The [do] or [di] section named v with role want: its index, or -1. */
static int
device_il_find(struct inifile_file *f, const char *k, const char *v,
    const struct device_dio *set, int n, const char *kind,
    enum device_role want)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i].name, v) == 0)
			break;
	if (i == n) {
		inifile_err(f, k, "names no [%s] section of this file "
		    "(expected %s)", kind, want == DEVICE_ROLE_RELAY_HEARTBEAT ?
		    "the name of a [do] with role = relay_heartbeat" :
		    "the name of a [di] with role = relay_feedback");
		return (-1);
	}
	if (set[i].role != want) {
		inifile_err(f, k, "[%s %s] has role %s (expected a [%s] with "
		    "role = %s)", kind, v, device_role_name(set[i].role), kind,
		    device_role_name(want));
		return (-1);
	}
	return (i);
}

static void
device_il_resolve(struct device_parse *p)
{
	struct device		*d = p->d;
	struct device_interlock	*il = &d->interlock;
	struct device_sect	*s = &p->il;
	int			 i;

	il->heartbeat = il->feedback = -1;
	if (s->line == 0)
		return;
	il->present = 1;
	il->line = s->line;
	device_missing(p, s, device_keys_il);
	if (s->have & (1u << IK_HEARTBEAT))
		il->heartbeat = device_il_find(device_at(p, s, IK_HEARTBEAT),
		    "heartbeat", s->val[IK_HEARTBEAT], d->dout, d->ndo, "do",
		    DEVICE_ROLE_RELAY_HEARTBEAT);
	if (s->have & (1u << IK_FEEDBACK))
		il->feedback = device_il_find(device_at(p, s, IK_FEEDBACK),
		    "feedback", s->val[IK_FEEDBACK], d->di, d->ndi, "di",
		    DEVICE_ROLE_RELAY_FEEDBACK);
	if ((s->have & (1u << IK_DROPOUT)) && inifile_int(device_at(p, s,
	    IK_DROPOUT), "dropout_ms", s->val[IK_DROPOUT], 10, 10000, &i) == 0)
		il->dropout_ms = i;
}

/* A relay role no [interlock] names is wired to nothing. */
static void
device_il_orphans(struct device_parse *p)
{
	struct device	*d = p->d;
	int		 i;

	for (i = 0; i < d->ndo; i++)
		if (d->dout[i].role == DEVICE_ROLE_RELAY_HEARTBEAT &&
		    d->interlock.heartbeat != i)
			inifile_err(device_at(p, &p->dout[i], -1), "role",
			    "relay_heartbeat, but no [interlock] names this "
			    "output as its heartbeat");
	for (i = 0; i < d->ndi; i++)
		if (d->di[i].role == DEVICE_ROLE_RELAY_FEEDBACK &&
		    d->interlock.feedback != i)
			inifile_err(device_at(p, &p->di[i], -1), "role",
			    "relay_feedback, but no [interlock] names this "
			    "input as its feedback");
}

static void
device_defaults(struct device *d, const char *path)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->base = -1;
	d->unit_id = 1;
	d->unit_id_min = 1;
	d->unit_id_max = 247;
	d->interlock.heartbeat = d->interlock.feedback = -1;
}

static void
device_parse_free(struct device_parse *p)
{
	struct device_sect	*all[] = { p->ao, p->ai, p->di, p->dout };
	const int		 n[] = { DEVICE_MAX_AO, DEVICE_MAX_AI,
				    DEVICE_MAX_DI, DEVICE_MAX_DO };
	int			 i, j, k;

	for (k = 0; k < DEVICE_KEYS_MAX; k++) {
		free(p->dev.val[k]);
		free(p->wd.val[k]);
		free(p->il.val[k]);
		for (i = 0; i < 4; i++)
			for (j = 0; j < n[i]; j++)
				free(all[i][j].val[k]);
	}
	free(p);
}

int
device_load(struct device *d, const char *path, struct inifile_errors *errs)
{
	struct device_parse	*p;
	int			 before = errs->count;

	device_defaults(d, path);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		inifile_errors_add(errs, "%s: out of memory", path);
		return (errs->count - before);
	}
	p->d = d;
	p->errs = errs;
	if (inifile_parse(path, errs, device_section, device_kv, p) != -1) {
		device_dev_resolve(p);
		device_chan_resolve(p);
		device_il_resolve(p);
		device_il_orphans(p);
		device_overlaps(p);
	}
	device_parse_free(p);
	if (errs->count == before)
		device_check(d);
	return (errs->count - before);
}
