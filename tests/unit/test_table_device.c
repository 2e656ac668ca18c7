/*
 * test_table_device.c: kind = device controllers in the table
 * (daemon/core/table-device.c and its hooks in table.c): the keys, their
 * file:line errors, the descriptions loaded and checked against the
 * controller (transports, unit ids and their defaults, outputs and
 * sensors per channel, roles, full scale, the watchdog timeout), the
 * interlock rule, unit id clashes on a wire, relative paths, and the
 * example tables of config/examples.
 *
 * The shipped descriptions are copied into a scratch directory next to
 * a few written here, so that ../devices/NAME.ini works from its
 * tables/ and layouts/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "inifile.h"
#include "table.h"

static char	 tmpdir[256];
static char	 path[PATH_MAX];	/* the table under test */

static const char *const SHIPPED[] = {
	"wago-750-352", "rs485-ao8", "rs485-ai8", "rs485-relay"
};

/* 4 outputs (0-100 kPa on 0-1000), an e-stop input and a vent valve, a
 * trusted watchdog in units of 100 ms, 100 to 1000 ms; unit 5 of 1..10. */
static const char *AO4 =
	"[device]\n"				/* 1 */
	"name = ao4\n"
	"vendor = Test\n"
	"model = AO4\n"
	"transports = rtu\n"			/* 5 */
	"unit_id = 5\n"
	"unit_ids = 1..10\n"
	"base = 0\n"
	"[ao ch0]\n"
	"type = u16\n"				/* 10 */
	"register = 0\n"
	"map = 0 -> 0, 100 -> 1000\n"
	"raw_range = 0..1000\n"
	"safe = 0\n"
	"[ao ch1]\n"				/* 15 */
	"type = u16\n"
	"register = 1\n"
	"map = 0 -> 0, 100 -> 1000\n"
	"raw_range = 0..1000\n"
	"safe = 0\n"				/* 20 */
	"[ao ch2]\n"
	"type = u16\n"
	"register = 2\n"
	"map = 0 -> 0, 100 -> 1000\n"
	"raw_range = 0..1000\n"			/* 25 */
	"safe = 0\n"
	"[ao ch3]\n"
	"type = u16\n"
	"register = 3\n"
	"map = 0 -> 0, 100 -> 1000\n"		/* 30 */
	"raw_range = 0..1000\n"
	"safe = 0\n"
	"[di estop]\n"				/* 33 */
	"kind = discrete\n"
	"register = 0\n"			/* 35 */
	"role = estop_circuit\n"
	"active = 0\n"
	"[do vent]\n"				/* 38 */
	"kind = coil\n"
	"register = 0\n"			/* 40 */
	"role = vent_valve\n"
	"active = 0\n"
	"[watchdog]\n"
	"kind = modbus\n"
	"fed_by = writes\n"			/* 45 */
	"on_trip = zero\n"
	"timeout = 100\n"
	"timeout_unit_ms = 100\n"
	"timeout_range_ms = 100..1000\n"
	"feed = 101\n";				/* 50 */

/* 2 inputs, no watchdog: sensors. */
static const char *AI2 =
	"[device]\n"
	"name = ai2\n"
	"vendor = Test\n"
	"model = AI2\n"
	"transports = rtu\n"			/* 5 */
	"unit_id = 6\n"
	"base = 0\n"
	"[ai p0]\n"
	"type = u16\n"
	"register = 0\n"			/* 10 */
	"map = 0 -> 0, 1000 -> 100\n"
	"[ai p1]\n"
	"type = u16\n"
	"register = 1\n"
	"map = 0 -> 0, 1000 -> 100\n"		/* 15 */
	"[watchdog]\n"				/* 16 */
	"kind = none\n";

/* ai2v.ini: AI2 with a vent valve at line 16, before [watchdog]. */
#define AI2_VENT	"[do vent2]\nkind = coil\nregister = 0\n" \
			"role = vent_valve\nactive = 0\n[watchdog]"

/* Outputs without a watchdog, and a relay interlock of its own. */
static const char *SELF =
	"[device]\n"
	"name = self-relay\n"
	"vendor = Test\n"
	"model = S2\n"
	"transports = rtu\n"
	"unit_id = 7\n"
	"base = 0\n"
	"[ao ch0]\n"
	"type = u16\n"
	"register = 0\n"
	"map = 0 -> 0, 60 -> 1000\n"
	"raw_range = 0..1000\n"
	"safe = 0\n"
	"[do beat]\n"
	"kind = coil\n"
	"register = 0\n"
	"role = relay_heartbeat\n"
	"[di relay]\n"
	"kind = discrete\n"
	"register = 0\n"
	"role = relay_feedback\n"
	"active = 1\n"
	"[watchdog]\n"
	"kind = none\n"
	"[interlock]\n"
	"heartbeat = beat\n"
	"feedback = relay\n"
	"dropout_ms = 500\n";

static const char *BROKEN =
	"[device]\n"
	"name = broken\n"
	"vendor = Test\n"
	"model = B\n"
	"transports = rtu\n"
	"base = 0\n"
	"bogus = 1\n"				/* 7 */
	"[watchdog]\n"
	"kind = none\n";

/* The RS-485 modules on one line: each test changes a line or two. */
static const char *RS485 =
	"[daemon]\n"				/* 1 */
	"tick_hz = 25\n"
	"[controller a]\n"			/* 3 */
	"kind = device\n"
	"transport = rtu\n"			/* 5 */
	"serial = /dev/ttyS0\n"
	"response_timeout_ms = 50\n"
	"device = ../devices/rs485-ao8.ini\n"	/* 8 */
	"sensors = ../devices/rs485-ai8.ini\n"	/* 9 */
	"interlock = ../devices/rs485-relay.ini\n"	/* 10 */
	"[zone z]\n"				/* 11 */
	"controller = a\n"
	"channel = 0\n"
	"limit_kpa = 30\n";

/* The WAGO coupler alone. */
static const char *WAGO =
	"[controller a]\n"			/* 1 */
	"kind = device\n"
	"address = 127.0.0.1:1502\n"
	"device = ../devices/wago-750-352.ini\n"	/* 4 */
	"[zone z]\n"				/* 5 */
	"controller = a\n"
	"channel = 0\n"
	"limit_kpa = 35\n";

/* The AO4 device with its estop, vent and watchdog on the line. */
static const char *AO4T =
	"[controller a]\n"			/* 1 */
	"kind = device\n"
	"transport = rtu\n"
	"serial = /dev/ttyS0\n"
	"response_timeout_ms = 50\n"		/* 5 */
	"device = ../devices/ao4.ini\n"		/* 6 */
	"sensors = ../devices/rs485-ai8.ini\n"	/* 7 */
	"[zone z]\n"				/* 8 */
	"controller = a\n"
	"channel = 0\n"
	"limit_kpa = 30\n";

/* text with the first from replaced by to (malloc'd). */
static char *
replace(const char *text, const char *from, const char *to)
{
	const char	*at = strstr(text, from);
	char		*out;
	size_t		 n;

	if (at == NULL)
		fail_msg("'%s' is not in the text", from);
	n = strlen(text) - strlen(from) + strlen(to) + 1;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from));
	return (out);
}

static void
write_at(const char *rel, const char *text)
{
	char	 p[PATH_MAX];
	FILE	*fp;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
	fp = fopen(p, "w");
	if (fp == NULL)
		fail_msg("%s: %s", p, strerror(errno));
	fputs(text, fp);
	fclose(fp);
}

/* Loads text as tmpdir/tables/table.ini. */
static int
load(const char *text, struct table *t, struct inifile_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	errs->quiet = 1;
	write_at("tables/table.ini", text);
	snprintf(path, sizeof(path), "%s/tables/table.ini", tmpdir);
	return (table_load(t, path, errs));
}

static struct table *
load_ok(const char *text)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;

	assert_non_null(t);
	if (load(text, t, &errs) != 0)
		fail_msg("expected no error, got:\n%s", errs.text);
	inifile_errors_free(&errs);
	return (t);
}

/* Expects each of the (NULL-terminated) texts among the errors; the
 * first is prefixed with the table's path and a colon. */
static void
expect_errors(const char *text, const char *what, ...)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;
	const char		*s;
	char			 want[PATH_MAX + 2048];
	va_list			 ap;

	assert_non_null(t);
	assert_true(load(text, t, &errs) > 0);
	snprintf(want, sizeof(want), "%s:%s", path, what);
	va_start(ap, what);
	for (s = want; s != NULL; s = va_arg(ap, const char *))
		if (errs.text == NULL || strstr(errs.text, s) == NULL) {
			va_end(ap);
			fail_msg("expected error '%s' in:\n%s", s,
			    errs.text ? errs.text : "(none)");
		}
	va_end(ap);
	inifile_errors_free(&errs);
	free(t);
}

#define expect_error(text, what)	expect_errors(text, what, NULL)

/* text with from replaced by to, then expect_error(). */
static void
expect_replaced(const char *text, const char *from, const char *to,
    const char *what)
{
	char	*s = replace(text, from, to);

	expect_error(s, what);
	free(s);
}

/* The path a table key names, resolved as the table does. */
static const char *
dev_path(const char *name)
{
	static char	 p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/tables/../devices/%s.ini", tmpdir, name);
	return (p);
}

static void
test_wago_alone(void **state)
{
	struct table	*t;

	(void)state;
	t = load_ok(WAGO);
	assert_int_equal(t->ctls[0].kind, CTL_KIND_DEVICE);
	assert_string_equal(t->ctls[0].parts[CTL_PART_DEVICE].path,
	    dev_path("wago-750-352"));
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].line, 4);
	assert_string_equal(t->ctls[0].parts[CTL_PART_SENSORS].path, "");
	assert_string_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].path, "");
	/* The description's unit id; 500 ms is 5 of its 100 ms units. */
	assert_int_equal(t->ctls[0].unit_id, 1);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 1);
	assert_int_equal(t->ctls[0].watchdog_ms, 500);
	free(t);
	/* The default is still the register map, parts empty. */
	t = load_ok("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n");
	assert_int_equal(t->ctls[0].kind, CTL_KIND_REGMAP);
	assert_string_equal(t->ctls[0].parts[CTL_PART_DEVICE].path, "");
	free(t);
}

static void
test_rs485(void **state)
{
	struct table	*t;
	int		 u[CTL_PARTS], r[CTL_PARTS];
	char		*s, *after;

	(void)state;
	t = load_ok(RS485);
	/* No unit id in the table: each description's (1, 2, 3). */
	assert_int_equal(t->ctls[0].unit_id, 1);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 1);
	assert_int_equal(t->ctls[0].parts[CTL_PART_SENSORS].unit_id, 2);
	assert_int_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].unit_id, 3);
	assert_int_equal(t->ctls[0].parts[CTL_PART_SENSORS].line, 9);
	assert_int_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].line, 10);
	assert_string_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].path,
	    dev_path("rs485-relay"));
	assert_string_equal(t->ctls[0].device, "/dev/ttyS0");
	assert_int_equal(table_ctl_units(&t->ctls[0], u, r), 3);
	assert_int_equal(u[1], 2);
	assert_int_equal(r[1], CTL_PART_SENSORS);
	assert_int_equal(u[2], 3);
	assert_int_equal(r[2], CTL_PART_INTERLOCK);
	/* One channel, 8N1 at 115200: 11 + 8 + 8 + 7 bytes for the
	 * setpoints and pressures, 30 for the relay; 8 frames. */
	assert_true(fabs(table_line_s(t, 0) - (64 * 10 / 115200.0 +
	    8 * 0.00175)) < 1e-9);
	free(t);
	/* Unit ids given in the table win. */
	s = replace(RS485, "[zone z]\n", "unit_id = 11\nsensors_unit_id = 12\n"
	    "interlock_unit_id = 13\n[zone z]\n");
	t = load_ok(s);
	assert_int_equal(t->ctls[0].unit_id, 11);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 11);
	assert_int_equal(t->ctls[0].parts[CTL_PART_SENSORS].unit_id, 12);
	assert_int_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].unit_id, 13);
	free(t);
	free(s);
	/* kind may come after device =. */
	s = replace(RS485, "kind = device\n", "");
	after = replace(s, "[zone z]", "kind = device\n[zone z]");
	t = load_ok(after);
	assert_int_equal(t->ctls[0].kind, CTL_KIND_DEVICE);
	assert_string_equal(t->ctls[0].parts[CTL_PART_DEVICE].path,
	    dev_path("rs485-ao8"));
	free(t);
	free(after);
	free(s);
}

/* A device without a trusted watchdog needs a relay interlock. */
static void
test_interlock_rule(void **state)
{
	char	*s, *own;

	(void)state;
	/* rs485-ao8 alone: refused at its device = line, with why. */
	expect_replaced(RS485, "interlock = ../devices/rs485-relay.ini\n", "",
	    "8: [controller a] device: the watchdog of rs485-ao8 is not "
	    "trusted: it has no communication watchdog (kind = none); such a "
	    "device is driven only behind a relay interlock: name one with "
	    "interlock = FILE (docs/devices.md)");
	/* With the relay: RS485 loads (test_rs485). A watchdog that any
	 * request feeds is no watchdog: the same, with its reason ... */
	s = replace(AO4T, "ao4.ini", "any4.ini");
	expect_error(s, "6: [controller a] device: the watchdog of ao4 is not "
	    "trusted: any request feeds its watchdog (fed_by = any)");
	free(s);
	/* ... and accepted behind the relay, where watchdog_ms is not used
	 * (5000 is outside its 100..1000 ms). */
	s = replace(RS485, "rs485-ao8.ini", "any4.ini");
	own = replace(s, "[zone z]", "watchdog_ms = 5000\n[zone z]");
	free(load_ok(own));
	free(own);
	free(s);
	/* A device with an [interlock] of its own needs no other. */
	s = replace(RS485, "interlock = ../devices/rs485-relay.ini\n", "");
	own = replace(s, "rs485-ao8.ini", "self.ini");
	free(load_ok(own));
	free(own);
	free(s);
	/* The relay's dropout is what a watchdog's timeout is: three
	 * response timeouts, two ticks. */
	expect_replaced(RS485, "response_timeout_ms = 50",
	    "response_timeout_ms = 100", "10: [controller a] interlock: the "
	    "relay's dropout_ms (200 ms, ");
	s = replace(RS485, "response_timeout_ms = 50",
	    "response_timeout_ms = 100");
	expect_errors(s, "10: [controller a] interlock: ", "rs485-relay.ini:47) "
	    "is shorter than three response timeouts (300 ms): a slow reply "
	    "would drop the relay", NULL);
	free(s);
	expect_replaced(RS485, "tick_hz = 25", "tick_hz = 5",
	    "10: [controller a] interlock: the relay's dropout_ms (200 ms, ");
	s = replace(RS485, "tick_hz = 25", "tick_hz = 5");
	expect_errors(s, "10: [controller a] interlock: ", "rs485-relay.ini:47) "
	    "is shorter than two ticks at 5 Hz", NULL);
	free(s);
}

/* Every new key wrong, missing or out of range: file:line. */
static void
test_keys(void **state)
{
	struct table	*t;

	(void)state;
	expect_replaced(RS485, "kind = device", "kind = described",
	    "4: [controller a] kind: not valid (expected regmap or device)");
	expect_replaced(WAGO, "device = ../devices/wago-750-352.ini\n", "",
	    "1: [controller a] device: missing (expected the description of "
	    "the device that drives the channels");
	expect_replaced(RS485, "serial = /dev/ttyS0\n", "",
	    "3: [controller a] serial: missing (expected a serial device for "
	    "transport rtu)");
	expect_replaced(RS485, "serial = /dev/ttyS0", "serial = ttyS0",
	    "6: [controller a] serial: not valid (expected an absolute path "
	    "such as /dev/ttyUSB0)");
	expect_replaced(RS485, "[zone z]", "sensors_unit_id = 0\n[zone z]",
	    "11: [controller a] sensors_unit_id: not valid (expected a whole "
	    "number from 1 to 247)");
	expect_replaced(RS485, "[zone z]", "interlock_unit_id = 248\n[zone z]",
	    "11: [controller a] interlock_unit_id: not valid (expected a "
	    "whole number from 1 to 247)");
	expect_replaced(RS485, "[zone z]", "unit_id = one\n[zone z]",
	    "11: [controller a] unit_id: not valid (expected a whole number "
	    "from 1 to 247)");
	expect_replaced(RS485, "sensors = ../devices/rs485-ai8.ini",
	    "sensors_unit_id = 4",
	    "9: [controller a] sensors_unit_id: given without sensors = FILE");
	expect_replaced(WAGO, "[zone z]", "interlock_unit_id = 4\n[zone z]",
	    "5: [controller a] interlock_unit_id: given without interlock = "
	    "FILE");
	expect_replaced(RS485, "[zone z]", "colour = red\n[zone z]",
	    "11: [controller a] colour: unknown key (expected kind, transport, "
	    "address, device, serial,");
	/* The register map: device = is its serial line, the parts' keys
	 * are refused. */
	expect_replaced(RS485, "kind = device", "kind = regmap",
	    "8: [controller a] device: given with serial = (both name the "
	    "serial line: give one)");
	expect_replaced(RS485, "kind = device\ntransport = rtu\n"
	    "serial = /dev/ttyS0\n", "transport = rtu\n",
	    "6: [controller a] device: not valid (expected an absolute path "
	    "such as /dev/ttyUSB0); a device description needs kind = device");
	expect_replaced(RS485, "kind = device", "kind = regmap",
	    "9: [controller a] sensors: only with kind = device");
	expect_replaced(RS485, "kind = device", "kind = regmap",
	    "10: [controller a] interlock: only with kind = device");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "sensors_unit_id = 3\ninterlock_unit_id = 4\n",
	    "3: [controller a] sensors_unit_id: only with kind = device");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "sensors_unit_id = 3\ninterlock_unit_id = 4\n",
	    "4: [controller a] interlock_unit_id: only with kind = device");
	/* ... and serial = names it too. */
	t = load_ok("[daemon]\ntick_hz = 25\n[controller a]\ntransport = rtu\n"
	    "serial = /dev/ttyS3\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n");
	assert_int_equal(t->ctls[0].kind, CTL_KIND_REGMAP);
	assert_string_equal(t->ctls[0].device, "/dev/ttyS3");
	free(t);
	t = load_ok("[daemon]\ntick_hz = 25\n[controller a]\nkind = regmap\n"
	    "transport = rtu\ndevice = /dev/ttyS4\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n");
	assert_string_equal(t->ctls[0].device, "/dev/ttyS4");
	free(t);
}

/* Descriptions that do not load, or do not fit the controller. */
static void
test_descriptions(void **state)
{
	char	 want[PATH_MAX + 200];

	(void)state;
	/* Missing: the loader's error, then the table's at the key. */
	snprintf(want, sizeof(want), "%s: cannot open: No such file",
	    dev_path("nope"));
	{
		char *s = replace(RS485, "rs485-ai8.ini", "nope.ini");
		char tbl[PATH_MAX + 200];

		snprintf(tbl, sizeof(tbl), "9: [controller a] sensors: %s does "
		    "not load: 1 error in the description (each with its own "
		    "file:line)", dev_path("nope"));
		expect_errors(s, tbl, want, NULL);
		free(s);
	}
	/* A mistake inside: its own file:line too. */
	{
		char *s = replace(RS485, "rs485-ao8.ini", "broken.ini");
		char tbl[PATH_MAX + 200];

		snprintf(want, sizeof(want), "%s:7: [device] bogus: unknown key",
		    dev_path("broken"));
		snprintf(tbl, sizeof(tbl), "8: [controller a] device: %s does "
		    "not load: ", dev_path("broken"));
		expect_errors(s, tbl, want, NULL);
		free(s);
	}
	/* Transports, and what each part must have. */
	expect_replaced(WAGO, "address = 127.0.0.1:1502",
	    "transport = rtu\nserial = /dev/ttyS0",
	    "5: [controller a] device: wago-750-352 speaks tcp only "
	    "(transports in ");
	{
		char *s = replace(RS485, "transport = rtu\nserial = /dev/ttyS0",
		    "address = 127.0.0.1:1502");

		expect_errors(s, "7: [controller a] device: rs485-ao8 speaks "
		    "rtu only (transports in ", "rs485-ao8.ini), not the "
		    "controller's transport tcp", NULL);
		free(s);
	}
	expect_replaced(RS485, "device = ../devices/rs485-ao8.ini",
	    "device = ../devices/rs485-ai8.ini",
	    "8: [controller a] device: rs485-ai8 has no analogue output "
	    "([ao]) to drive the channels with");
	expect_replaced(RS485, "sensors = ../devices/rs485-ai8.ini",
	    "sensors = ../devices/ao4.ini",
	    "9: [controller a] sensors: ao4 has no analogue input ([ai]) to "
	    "read the pressures from");
	expect_replaced(RS485, "interlock = ../devices/rs485-relay.ini",
	    "interlock = ../devices/rs485-ai8.ini",
	    "10: [controller a] interlock: rs485-ai8 has no [interlock] "
	    "section: it is not a relay interlock");
}

/* Unit ids: the description's by default, in its range, no clashes on
 * the wire (every part's, every controller's). */
static void
test_units(void **state)
{
	struct table	*t;
	char		*s, want[PATH_MAX + 200];

	(void)state;
	/* ao4's default is 5, its range 1..10. */
	t = load_ok(AO4T);
	assert_int_equal(t->ctls[0].unit_id, 5);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 5);
	assert_int_equal(t->ctls[0].parts[CTL_PART_SENSORS].unit_id, 2);
	free(t);
	s = replace(AO4T, "[zone z]", "unit_id = 9\n[zone z]");
	t = load_ok(s);
	assert_int_equal(t->ctls[0].unit_id, 9);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 9);
	free(t);
	free(s);
	snprintf(want, sizeof(want), "8: [controller a] unit_id: unit 20 is "
	    "outside the unit ids ao4 can be set to (1 to 10: unit_ids in %s)",
	    dev_path("ao4"));
	expect_replaced(AO4T, "[zone z]", "unit_id = 20\n[zone z]", want);
	/* Two parts on one unit id: given, or by default. */
	expect_replaced(RS485, "[zone z]", "sensors_unit_id = 1\n[zone z]",
	    "11: [controller a] sensors_unit_id: unit 1 on /dev/ttyS0 is "
	    "already the device of controller a: each part needs a unit id of "
	    "its own");
	expect_replaced(RS485, "[zone z]", "unit_id = 3\n[zone z]",
	    "10: [controller a] interlock: unit 3 on /dev/ttyS0 is already "
	    "the device of controller a: each part needs a unit id of its "
	    "own");
	/* Another controller on the line. */
	s = replace(RS485, "[zone z]", "[controller b]\ntransport = rtu\n"
	    "device = /dev/ttyS0\nunit_id = 2\n[zone z]");
	expect_error(s, "14: [controller b] unit_id: unit 2 on /dev/ttyS0 is "
	    "already the sensors of controller a");
	free(s);
	s = replace(RS485, "[daemon]\n", "[daemon]\n[controller b]\n"
	    "transport = rtu\ndevice = /dev/ttyS0\nunit_id = 3\n");
	expect_error(s, "14: [controller a] interlock: unit 3 on /dev/ttyS0 is "
	    "already controller b");
	free(s);
	/* Each unit against every controller before it on the wire, not
	 * only the first. */
	expect_error("[daemon]\ntick_hz = 10\n"
	    "[controller a]\ntransport = rtu\ndevice = /dev/ttyS1\n"
	    "unit_id = 1\n"
	    "[controller b]\ntransport = rtu\ndevice = /dev/ttyS1\n"
	    "unit_id = 2\n"
	    "[controller c]\ntransport = rtu\ndevice = /dev/ttyS1\n"
	    "unit_id = 2\n",
	    "14: [controller c] unit_id: unit 2 on /dev/ttyS1 is already "
	    "controller b");
	/* On another line the same unit ids are fine. */
	s = replace(RS485, "[zone z]", "[controller b]\ntransport = rtu\n"
	    "device = /dev/ttyS1\nunit_id = 2\n[zone z]");
	free(load_ok(s));
	free(s);
}

/* estop_circuit, client_stop, relay_feedback, vent_valve: one each. */
static void
test_roles(void **state)
{
	char	*s, want[2 * PATH_MAX + 200], other[PATH_MAX];

	(void)state;
	s = replace(AO4T, "[zone z]", "interlock = ../devices/rs485-relay.ini\n"
	    "[zone z]");
	snprintf(want, sizeof(want), "8: [controller a] interlock: role "
	    "estop_circuit of [di estop] (%s:30) is already [di estop] ",
	    dev_path("rs485-relay"));
	expect_error(s, want);
	snprintf(want, sizeof(want), "(%s:33): at most one per controller",
	    dev_path("ao4"));
	expect_errors(s, "8: [controller a] interlock: role estop_circuit",
	    want, NULL);
	free(s);
	s = replace(AO4T, "rs485-ai8.ini", "ai2v.ini");
	snprintf(other, sizeof(other), "%s", dev_path("ao4"));
	snprintf(want, sizeof(want), "7: [controller a] sensors: role "
	    "vent_valve of [do vent2] (%s:16) is already [do vent] (%s:38): "
	    "at most one per controller", dev_path("ai2v"), other);
	expect_error(s, want);
	free(s);
	/* Two interlocks are two relay feedbacks. */
	s = replace(RS485, "rs485-ao8.ini", "self.ini");
	expect_error(s, "10: [controller a] interlock: role relay_feedback of "
	    "[di relay] (");
	free(s);
}

/* An output and a sensor for every zone's channel, a limit within the
 * output's full scale. */
static void
test_channels(void **state)
{
	struct table	*t;
	char		*s;

	(void)state;
	expect_replaced(WAGO, "channel = 0", "channel = 8",
	    "5: [zone z] channel: channel 8 of controller a: wago-750-352 has "
	    "8 analogue outputs ([ao]), channels 0 to 7");
	expect_replaced(AO4T, "channel = 0", "channel = 4",
	    "8: [zone z] channel: channel 4 of controller a: ao4 has 4 "
	    "analogue outputs ([ao]), channels 0 to 3");
	/* The pressures come from the sensors: channel i is their i-th
	 * [ai] ... */
	s = replace(AO4T, "rs485-ai8.ini", "ai2.ini");
	t = load_ok(s);		/* channel 0 */
	free(t);
	expect_replaced(s, "channel = 0", "channel = 2",
	    "8: [zone z] channel: channel 2 of controller a has no sensor: "
	    "ai2 has 2 analogue inputs ([ai])");
	free(s);
	/* ... or from the device without sensors: rs485-ao8 has none, the
	 * WAGO coupler its own. */
	expect_replaced(RS485, "sensors = ../devices/rs485-ai8.ini\n", "",
	    "10: [zone z] channel: channel 0 of controller a has no sensor: "
	    "rs485-ao8 has 0 analogue inputs ([ai])");
	t = load_ok(WAGO);
	free(t);
	/* Full scale: 60 kPa at raw 32760 on the coupler. */
	s = replace(WAGO, "limit_kpa = 35", "limit_kpa = 60");
	free(load_ok(s));
	free(s);
	expect_replaced(WAGO, "limit_kpa = 35", "limit_kpa = 60.5",
	    "5: [zone z] limit_kpa: 60.5 kPa is above the full scale of "
	    "channel 0: [ao ch0] of wago-750-352 reaches 60 kPa at raw 32760 "
	    "(");
	expect_replaced(AO4T, "limit_kpa = 30", "limit_kpa = 101",
	    "8: [zone z] limit_kpa: 101 kPa is above the full scale of "
	    "channel 0: [ao ch0] of ao4 reaches 100 kPa at raw 1000 (");
}

/* watchdog_ms is the device's timeout: whole units, within its range. */
static void
test_watchdog(void **state)
{
	struct table	*t;
	char		*s, want[PATH_MAX + 200];

	(void)state;
	s = replace(AO4T, "[zone z]", "watchdog_ms = 450\n[zone z]");
	t = load_ok(s);
	assert_int_equal(t->ctls[0].watchdog_ms, 400);	/* rounded down */
	free(t);
	free(s);
	s = replace(AO4T, "[zone z]", "watchdog_ms = 1000\n[zone z]");
	t = load_ok(s);
	assert_int_equal(t->ctls[0].watchdog_ms, 1000);
	free(t);
	free(s);
	snprintf(want, sizeof(want), "1: [controller a] watchdog_ms: 2000 ms "
	    "is outside the watchdog timeouts ao4 can be set to (100 to 1000 "
	    "ms: timeout_range_ms in %s)", dev_path("ao4"));
	expect_replaced(AO4T, "[zone z]", "watchdog_ms = 2000\n[zone z]", want);
	expect_replaced(AO4T, "[zone z]", "watchdog_ms = 190\n[zone z]",
	    "1: [controller a] watchdog_ms: 100 ms, rounded down to whole "
	    "100 ms units of ao4's watchdog, is shorter than three response "
	    "timeouts (150 ms): a slow reply would trip the watchdog");
	expect_replaced(AO4T, "[zone z]", "watchdog_ms = 60\n"
	    "response_timeout_ms = 10\n[zone z]",
	    "1: [controller a] watchdog_ms: 60 ms is shorter than one unit of "
	    "the watchdog timeout of ao4 (100 ms)");
	/* The coupler's unit is 100 ms too. */
	s = replace(WAGO, "[zone z]", "watchdog_ms = 790\n[zone z]");
	t = load_ok(s);
	assert_int_equal(t->ctls[0].watchdog_ms, 700);
	free(t);
	free(s);
}

/* Paths relative to the file that names them; absolute ones as they
 * are. */
static void
test_paths(void **state)
{
	struct table		*t;
	struct inifile_errors	 errs;
	char		 text[PATH_MAX + 200], want[PATH_MAX + 200];
	char		*s;

	(void)state;
	/* From a layout in another directory: relative to the layout. */
	write_at("layouts/model.ini", "[controller a]\nkind = device\n"
	    "device = ../devices/wago-750-352.ini\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n");
	t = load_ok("[daemon]\nlayout = ../layouts/model.ini\n"
	    "[controller a]\naddress = 10.0.0.7:502\n");
	snprintf(want, sizeof(want), "%s/tables/../layouts/../devices/"
	    "wago-750-352.ini", tmpdir);
	assert_string_equal(t->ctls[0].parts[CTL_PART_DEVICE].path, want);
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].line, 3);
	free(t);
	/* An error in the layout's key names the layout. */
	write_at("layouts/model.ini", "[controller a]\nkind = device\n"
	    "device = wago-750-352.ini\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n");
	snprintf(want, sizeof(want), "%s/tables/../layouts/model.ini:3: "
	    "[controller a] device: %s/tables/../layouts/wago-750-352.ini does "
	    "not load", tmpdir, tmpdir);
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	assert_int_equal(load("[daemon]\nlayout = ../layouts/model.ini\n"
	    "[controller a]\naddress = 10.0.0.7:502\n", t, &errs), 2);
	if (strstr(errs.text, want) == NULL)
		fail_msg("expected '%s' in:\n%s", want, errs.text);
	inifile_errors_free(&errs);
	free(t);
	/* Absolute. */
	snprintf(text, sizeof(text), "[controller a]\nkind = device\n"
	    "address = 127.0.0.1:1502\ndevice = %s/devices/wago-750-352.ini\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n", tmpdir);
	t = load_ok(text);
	snprintf(want, sizeof(want), "%s/devices/wago-750-352.ini", tmpdir);
	assert_string_equal(t->ctls[0].parts[CTL_PART_DEVICE].path, want);
	free(t);
	/* Relative to the table, not to the working directory. */
	s = replace(WAGO, "../devices/", "");
	snprintf(want, sizeof(want), "4: [controller a] device: "
	    "%s/tables/wago-750-352.ini does not load", tmpdir);
	expect_error(s, want);
	free(s);
}

/* The source tree's path of rel. */
static void
srcpath(char *dst, size_t len, const char *rel)
{
	const char	*src = getenv("MASSAGED_SRCDIR");

	snprintf(dst, len, "%s/%s", src != NULL ? src : ".", rel);
	if (access(dst, R_OK) == -1)
		fail_msg("%s: %s (run from the source tree, or set "
		    "MASSAGED_SRCDIR)", dst, strerror(errno));
}

/* config/examples: the tables the docs and tests use load clean. */
static void
test_examples(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 p[PATH_MAX];
	int			 i;

	(void)state;
	assert_non_null(t);
	srcpath(p, sizeof(p), "config/examples/table-wago.ini");
	if (table_load(t, p, &errs) != 0)
		fail_msg("%s", errs.text);
	assert_int_equal(t->nctls, 1);
	assert_int_equal(t->ctls[0].kind, CTL_KIND_DEVICE);
	assert_non_null(strstr(t->ctls[0].parts[CTL_PART_DEVICE].path,
	    "config/examples/../devices/wago-750-352.ini"));
	assert_string_equal(t->ctls[0].host, "127.0.0.1");
	assert_int_equal(t->ctls[0].port, 1502);
	assert_int_equal(t->nzones, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(t->zones[i].channel, i);
	srcpath(p, sizeof(p), "config/examples/table-rs485.ini");
	if (table_load(t, p, &errs) != 0)
		fail_msg("%s", errs.text);
	assert_int_equal(t->ctls[0].transport, TRANSPORT_RTU);
	assert_string_equal(t->ctls[0].device, "/tmp/massaged-rs485");
	assert_int_equal(t->ctls[0].parts[CTL_PART_DEVICE].unit_id, 1);
	assert_int_equal(t->ctls[0].parts[CTL_PART_SENSORS].unit_id, 2);
	assert_int_equal(t->ctls[0].parts[CTL_PART_INTERLOCK].unit_id, 3);
	assert_non_null(strstr(t->ctls[0].parts[CTL_PART_INTERLOCK].path,
	    "config/examples/../devices/rs485-relay.ini"));
	assert_int_equal(t->nzones, 8);
	/* The line carries its tick (25 Hz: 40 ms). */
	assert_true(table_line_s(t, 0) < 1 / t->tick_hz);
	inifile_errors_free(&errs);
	free(t);
}

/* Copies a shipped description into tmpdir/devices. */
static int
copy_shipped(const char *name)
{
	char	 src[PATH_MAX], dst[PATH_MAX], buf[4096];
	FILE	*in, *out;
	size_t	 n;

	snprintf(src, sizeof(src), "%s/config/devices/%s.ini",
	    getenv("MASSAGED_SRCDIR") != NULL ? getenv("MASSAGED_SRCDIR") : ".",
	    name);
	snprintf(dst, sizeof(dst), "%s/devices/%s.ini", tmpdir, name);
	if ((in = fopen(src, "r")) == NULL) {
		fprintf(stderr, "%s: %s (run from the source tree, or set "
		    "MASSAGED_SRCDIR)\n", src, strerror(errno));
		return (-1);
	}
	if ((out = fopen(dst, "w")) == NULL) {
		fclose(in);
		return (-1);
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	return (fclose(out) == 0 ? 0 : -1);
}

/* replace() without cmocka's assertions, for setup(): NULL if from is
 * not in text. */
static char *
subst(const char *text, const char *from, const char *to)
{
	const char	*at = strstr(text, from);
	char		*out;
	size_t		 n;

	if (at == NULL)
		return (NULL);
	n = strlen(text) - strlen(from) + strlen(to) + 1;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to,
		    at + strlen(from));
	return (out);
}

static const char *const WRITTEN[] = {
	"ao4", "any4", "ai2", "ai2v", "self", "broken"
};

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");
	char		 p[PATH_MAX];
	char		*any4, *ai2v;
	size_t		 i;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_table_device.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return (-1);
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir,
		    i == 0 ? "devices" : i == 1 ? "tables" : "layouts");
		if (mkdir(p, 0700) == -1)
			return (-1);
	}
	for (i = 0; i < sizeof(SHIPPED) / sizeof(SHIPPED[0]); i++)
		if (copy_shipped(SHIPPED[i]) == -1)
			return (-1);
	/* ao4 without its e-stop input (the relay has one) and fed by any
	 * request. */
	ai2v = subst(AO4, "[di estop]\nkind = discrete\nregister = 0\n"
	    "role = estop_circuit\nactive = 0\n", "");
	any4 = ai2v == NULL ? NULL :
	    subst(ai2v, "fed_by = writes", "fed_by = any");
	free(ai2v);
	ai2v = subst(AI2, "[watchdog]", AI2_VENT);
	if (any4 == NULL || ai2v == NULL)
		return (-1);
	write_at("devices/ao4.ini", AO4);
	write_at("devices/any4.ini", any4);
	write_at("devices/ai2.ini", AI2);
	write_at("devices/ai2v.ini", ai2v);
	write_at("devices/self.ini", SELF);
	write_at("devices/broken.ini", BROKEN);
	free(ai2v);
	free(any4);
	return (0);
}

static int
teardown(void **state)
{
	char	 p[PATH_MAX];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(SHIPPED) / sizeof(SHIPPED[0]); i++) {
		snprintf(p, sizeof(p), "%s/devices/%s.ini", tmpdir, SHIPPED[i]);
		unlink(p);
	}
	for (i = 0; i < sizeof(WRITTEN) / sizeof(WRITTEN[0]); i++) {
		snprintf(p, sizeof(p), "%s/devices/%s.ini", tmpdir, WRITTEN[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/tables/table.ini", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/layouts/model.ini", tmpdir);
	unlink(p);
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir,
		    i == 0 ? "devices" : i == 1 ? "tables" : "layouts");
		rmdir(p);
	}
	return (rmdir(tmpdir));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wago_alone),
		cmocka_unit_test(test_rs485),
		cmocka_unit_test(test_interlock_rule),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_descriptions),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_watchdog),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_examples),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
