/*
 * fuzz_table.c: libFuzzer target for the table configuration parser
 * (table_load() in daemon/core/table.c over the INI layer of daemon/core/inifile.c).
 *
 * The input is a massaged.ini. Lines starting with ";o " (comments to the
 * INI parser) are also applied as command line overrides ("-o KEY=VALUE",
 * table_override()). A table that loads without an error must hold what
 * the rest of the daemon relies on; that is checked too.
 */
#include "fuzz_common.h"
#include "table.h"

static struct table	*fuzz_table_t;
static char		 fuzz_table_path[PATH_MAX];

static FUZZ_UNUSED void
fuzz_table_init(void)
{
	fuzz_setup();
	if (fuzz_table_t == NULL && (fuzz_table_t = calloc(1,
	    sizeof(*fuzz_table_t))) == NULL)
		abort();
	fuzz_tmp_path(fuzz_table_path, sizeof(fuzz_table_path),
	    "table/massaged.ini");
}

/* kind = device: a device, each part with a unit id of its own; the
 * register map: no parts. */
static void
fuzz_table_parts(const struct ctl_conf *c)
{
	int	 r, q;

	if (c->kind == CTL_KIND_REGMAP) {
		for (r = 0; r < CTL_PARTS; r++)
			FUZZ_CHECK(c->parts[r].path[0] == '\0', "controller %s "
			    "regmap with part %d '%s'", c->name, r,
			    c->parts[r].path);
		return;
	}
	FUZZ_CHECK(c->kind == CTL_KIND_DEVICE, "controller %s kind %d",
	    c->name, (int)c->kind);
	FUZZ_CHECK(c->parts[CTL_PART_DEVICE].path[0] != '\0' &&
	    c->parts[CTL_PART_DEVICE].unit_id == c->unit_id, "controller %s "
	    "device '%s' unit %d", c->name, c->parts[CTL_PART_DEVICE].path,
	    c->parts[CTL_PART_DEVICE].unit_id);
	for (r = 0; r < CTL_PARTS; r++) {
		if (c->parts[r].path[0] == '\0')
			continue;
		FUZZ_CHECK(c->parts[r].unit_id >= 1 &&
		    c->parts[r].unit_id <= 247, "controller %s part %d unit %d",
		    c->name, r, c->parts[r].unit_id);
		for (q = 0; q < r; q++)
			FUZZ_CHECK(c->parts[q].path[0] == '\0' ||
			    c->parts[q].unit_id != c->parts[r].unit_id,
			    "controller %s parts %d and %d on unit %d", c->name,
			    q, r, c->parts[r].unit_id);
	}
}

/*
 * Whether line (len bytes) is an error of a description the table names:
 * it starts with the path of one that "does not load" (the table's own
 * error, which device_load()'s file:line errors come before).
 */
static int
fuzz_table_named(const char *text, const char *line, size_t len)
{
	const char	*q, *s, *bol;
	size_t		 n;

	for (q = strstr(text, " does not load: "); q != NULL;
	    q = strstr(q + 1, " does not load: ")) {
		for (bol = q; bol > text && bol[-1] != '\n'; bol--)
			;
		for (s = bol; s + 1 < q; s++) {
			if (s[0] != ':' || s[1] != ' ')
				continue;
			n = (size_t)(q - (s + 2));
			if (n > 0 && n < len && memcmp(line, s + 2, n) == 0 &&
			    line[n] == ':')
				return (1);
		}
	}
	return (0);
}

/* fuzz_check_errors(), where a line may also be a named description's. */
static void
fuzz_table_check_errors(const struct inifile_errors *errs, const char *prefix)
{
	const char	*line, *nl;
	size_t		 plen = strlen(prefix);
	int		 n = 0;

	if (errs->count == 0 || errs->text == NULL) {
		fuzz_check_errors(errs, prefix);
		return;
	}
	for (line = errs->text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		FUZZ_CHECK(nl != NULL, "unterminated error line '%.200s'",
		    line);
		FUZZ_CHECK((strncmp(line, prefix, plen) == 0 &&
		    (line[plen] == ':' || line[plen] == '/')) ||
		    fuzz_table_named(errs->text, line, (size_t)(nl - line)),
		    "error line of neither %s nor a description it names: "
		    "'%.*s'", prefix, (int)(nl - line), line);
		n++;
	}
	FUZZ_CHECK(n == errs->count, "%d error lines for %d errors", n,
	    errs->count);
}

/* What a table without errors promises bus.c, tick.c and safety.c. */
static void
fuzz_table_invariants(const struct table *t)
{
	int	 i, j;

	FUZZ_CHECK(t->tick_hz >= 1 && t->tick_hz <= 1000, "tick_hz %g",
	    t->tick_hz);
	FUZZ_CHECK(t->nctls >= 1 && t->nctls <= TABLE_MAX_CONTROLLERS,
	    "nctls %d", t->nctls);
	FUZZ_CHECK(t->nzones >= 1 && t->nzones <= TABLE_MAX_ZONES,
	    "nzones %d", t->nzones);
	FUZZ_CHECK(t->listen_port >= 0 && t->listen_port <= 65535,
	    "listen port %d", t->listen_port);
	for (i = 0; i < t->nctls; i++) {
		const struct ctl_conf *c = &t->ctls[i];

		FUZZ_CHECK(inifile_name_ok(c->name, NAME_LEN), "controller name "
		    "'%s'", c->name);
		FUZZ_CHECK(table_ctl_find(t, c->name) == i, "controller %s "
		    "twice", c->name);
		if (c->transport == TRANSPORT_TCP)
			FUZZ_CHECK(c->port >= 1 && c->port <= 65535 &&
			    c->host[0] != '\0', "controller %s address "
			    "'%s:%d'", c->name, c->host, c->port);
		else
			FUZZ_CHECK(c->device[0] == '/', "controller %s device "
			    "'%s'", c->name, c->device);
		FUZZ_CHECK(c->response_timeout_ms >= 5 &&
		    c->response_timeout_ms <= 5000, "controller %s response "
		    "timeout %d", c->name, c->response_timeout_ms);
		FUZZ_CHECK(c->watchdog_ms >= 3 * c->response_timeout_ms &&
		    c->watchdog_ms * t->tick_hz >= 2000, "controller %s "
		    "watchdog %d ms", c->name, c->watchdog_ms);
		FUZZ_CHECK(c->unit_id >= 1 && c->unit_id <= 247, "unit id %d",
		    c->unit_id);
		FUZZ_CHECK(table_ctl_channels(t, i) <= CHANNELS_MAX,
		    "controller %s channels %d", c->name,
		    table_ctl_channels(t, i));
		fuzz_table_parts(c);
	}
	for (i = 0; i < t->nzones; i++) {
		const struct zone_conf *z = &t->zones[i];

		FUZZ_CHECK(inifile_name_ok(z->name, NAME_LEN), "zone name '%s'",
		    z->name);
		FUZZ_CHECK(table_zone_find(t, z->name) == i, "zone %s twice",
		    z->name);
		FUZZ_CHECK(z->ctl >= 0 && z->ctl < t->nctls, "zone %s "
		    "controller %d", z->name, z->ctl);
		FUZZ_CHECK(z->channel >= 0 && z->channel < CHANNELS_MAX,
		    "zone %s channel %d", z->name, z->channel);
		FUZZ_CHECK(z->channel < table_ctl_channels(t, z->ctl),
		    "zone %s channel %d beyond its controller", z->name,
		    z->channel);
		FUZZ_CHECK(z->limit_kpa >= 0 && z->limit_kpa <= 6553.5,
		    "zone %s limit %g", z->name, z->limit_kpa);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(t->zones[j].ctl != z->ctl ||
			    t->zones[j].channel != z->channel, "zones %s and "
			    "%s share a channel", t->zones[j].name, z->name);
	}
}

/* Applies every ";o KEY=VALUE" line of the input as an override. */
static void
fuzz_table_overrides(struct table *t, const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 kv[600];
	size_t			 i = 0, j, n;

	while (i < size) {
		for (j = i; j < size && data[j] != '\n'; j++)
			;
		if (j - i > 3 && memcmp(data + i, ";o ", 3) == 0) {
			n = j - i - 3;
			if (n >= sizeof(kv))
				n = sizeof(kv) - 1;
			memcpy(kv, data + i + 3, n);
			kv[n] = '\0';
			table_override(t, kv, &errs);
		}
		i = j + 1;
	}
	fuzz_check_errors(&errs, "command line");
	inifile_errors_free(&errs);
}

static FUZZ_UNUSED int
fuzz_table_one(const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	int			 n;

	if (fuzz_known_bug(data, size))
		return (0);
	fuzz_write(fuzz_table_path, data, size);
	n = table_load(fuzz_table_t, fuzz_table_path, &errs);
	FUZZ_CHECK(n == errs.count, "table_load returned %d for %d errors",
	    n, errs.count);
	fuzz_table_check_errors(&errs, fuzz_table_path);
	if (n == 0)
		fuzz_table_invariants(fuzz_table_t);
	inifile_errors_free(&errs);
	fuzz_table_overrides(fuzz_table_t, data, size);
	return (0);
}

FUZZ_MAIN(table)
