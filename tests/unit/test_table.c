/*
 * test_table.c: the INI layer (daemon/core/inifile.c) and the table configuration
 * (daemon/core/table.c): good files, every error message, strict numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inifile.h"
#include "table.h"

static char	 tmpdir[256];
static char	 path[512];

static const char *GOOD =
	"[daemon]\n"
	"name = Table 2 (room 4)\n"
	"tick_hz = 25\n"
	"listen = 127.0.0.1:9000\n"
	"profile_dir = p\n"
	"\n"
	"[controller pelvis]\n"
	"transport = tcp\n"
	"address = 127.0.0.1:1502\n"
	"watchdog_ms = 300\n"
	"\n"
	"[controller legs]\n"
	"transport = rtu\n"
	"device = /dev/ttyUSB0\n"
	"baud = 19200\n"
	"parity = E\n"
	"\n"
	"[zone piriformis_left]\n"
	"controller = pelvis\n"
	"channel = 3\n"
	"along_cm = 95\n"
	"across_cm = -9\n"
	"limit_kpa = 35\n"
	"\n"
	"[zone sciatic_notch_left]  ; inline comment\n"
	"controller = legs\n"
	"channel = 0\n"
	"limit_kpa = 15\n"
	"endangerment = yes\n";

/* Writes text to tmpdir/name; its path into dst. */
static void
write_named(char *dst, size_t len, const char *name, const char *text)
{
	FILE	*fp;

	snprintf(dst, len, "%s/%s", tmpdir, name);
	fp = fopen(dst, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
write_file(const char *text)
{
	write_named(path, sizeof(path), "table.ini", text);
}

/* Loads text; returns the error text (owned by errs). */
static int
load(const char *text, struct table *t, struct inifile_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	errs->quiet = 1;
	write_file(text);
	return (table_load(t, path, errs));
}

/* Loads text, expects the error "file:what" among those reported. */
static void
expect_error_in(const char *text, const char *file, const char *what)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;
	char			 want[1024];

	assert_non_null(t);
	assert_true(load(text, t, &errs) > 0);
	snprintf(want, sizeof(want), "%s:%s", file, what);
	if (errs.text == NULL || strstr(errs.text, want) == NULL)
		fail_msg("expected error '%s' in:\n%s", want,
		    errs.text ? errs.text : "(none)");
	inifile_errors_free(&errs);
	free(t);
}

static void
expect_error(const char *text, const char *what)
{
	expect_error_in(text, path, what);
}

static void
test_good(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;
	char			 want[600];

	assert_int_equal(load(GOOD, t, &errs), 0);
	assert_null(errs.text);
	assert_true(t->tick_hz == 25);
	assert_string_equal(t->name, "Table 2 (room 4)");
	assert_int_equal(t->records_max_bytes, 16 * 1024 * 1024);
	assert_int_equal(t->records_keep, 10);
	assert_string_equal(t->listen_host, "127.0.0.1");
	assert_int_equal(t->listen_port, 9000);
	snprintf(want, sizeof(want), "%s/p", tmpdir);
	assert_string_equal(t->profile_dir, want);
	assert_int_equal(t->nctls, 2);
	assert_string_equal(t->ctls[0].name, "pelvis");
	assert_int_equal(t->ctls[0].transport, TRANSPORT_TCP);
	assert_int_equal(t->ctls[0].port, 1502);
	assert_int_equal(t->ctls[0].response_timeout_ms, 50);
	assert_int_equal(t->ctls[0].watchdog_ms, 300);
	assert_int_equal(t->ctls[1].transport, TRANSPORT_RTU);
	assert_string_equal(t->ctls[1].device, "/dev/ttyUSB0");
	assert_int_equal(t->ctls[1].baud, 19200);
	assert_int_equal(t->ctls[1].parity, 'E');
	assert_int_equal(t->ctls[1].response_timeout_ms, 100);
	/* 8E1 at 19200: (17 + 8 + 8 + 13 bytes + 4 x 3.5 silences) x 11
	 * bits, channel 0 and OWNER: 34.4 ms a tick (tick_hz 25: 40 ms). */
	assert_true(fabs(table_line_s(t, 1) - 60 * 11 / 19200.0) < 1e-9);
	assert_int_equal(t->nzones, 2);
	assert_int_equal(t->zones[0].ctl, 0);
	assert_int_equal(t->zones[0].channel, 3);
	assert_true(t->zones[0].across_cm == -9);
	assert_int_equal(t->zones[1].ctl, 1);
	assert_int_equal(t->zones[1].endangerment, 1);
	assert_int_equal(table_zone_find(t, "sciatic_notch_left"), 1);
	assert_int_equal(table_zone_find(t, "nope"), -1);
	assert_int_equal(table_ctl_channels(t, 0), 4);
	assert_int_equal(table_ctl_channels(t, 1), 1);
	free(t);
}

static const char *MIN_CTL =
	"[controller a]\naddress = 127.0.0.1:1502\n"
	"[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n";

static void
test_errors(void **state)
{
	char	 buf[2048];

	/* line numbers, sections and keys, every kind of mistake */
	snprintf(buf, sizeof(buf), "[daemon]\ntick_hz = 0\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] tick_hz: not valid (expected a "
	    "decimal number from 1 to 1000 Hz)");
	snprintf(buf, sizeof(buf), "[daemon]\ntick_hz = 50Hz\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] tick_hz: not valid");
	snprintf(buf, sizeof(buf), "[daemon]\nrecords_max_bytes = -1\n%s",
	    MIN_CTL);
	expect_error(buf, "2: [daemon] records_max_bytes: not valid");
	snprintf(buf, sizeof(buf), "[daemon]\nrecords_keep = 0\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] records_keep: not valid "
	    "(expected a whole number from 1 to 1000)");
	snprintf(buf, sizeof(buf), "[daemon]\ncolour = red\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] colour: unknown key (expected name, "
	    "layout, tick_hz");
	snprintf(buf, sizeof(buf), "[daemon]\nname = a\"b\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] name: not valid");
	snprintf(buf, sizeof(buf), "[daemon]\ntick_hz = 50\n"
	    "[controller a]\ntransport = rtu\ndevice = /dev/ttyS0\n"
	    "baud = 9600\n[controller b]\ntransport = rtu\n"
	    "device = /dev/ttyS0\nbaud = 9600\nunit_id = 2\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n");
	expect_error(buf, "3: [controller a] baud: /dev/ttyS0 cannot carry "
	    "tick_hz = 50: 2 controllers need");
	snprintf(buf, sizeof(buf), "[deamon]\n%s", MIN_CTL);
	expect_error(buf, "1: [deamon] unknown section (expected [daemon], "
	    "[safety], [controller NAME] or [zone NAME])");
	snprintf(buf, sizeof(buf), "%sthis is not ini\n", MIN_CTL);
	expect_error(buf, "7: [zone z] syntax error: not a 'key = value' "
	    "line or a '[section]' header\n");
	snprintf(buf, sizeof(buf), "tick_hz = 50\n%s", MIN_CTL);
	expect_error(buf, "1: key outside of any section");
	snprintf(buf, sizeof(buf), "[daemon\n%s", MIN_CTL);
	expect_error(buf, "1: syntax error: section header without ']'");
	snprintf(buf, sizeof(buf), "%schannel = 1\n", MIN_CTL);
	expect_error(buf, "7: [zone z] channel: given twice in this section");
	snprintf(buf, sizeof(buf), "[daemon]\nlisten = 8080\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] listen: not valid (expected "
	    "HOST:PORT, such as 127.0.0.1:8080)");
	snprintf(buf, sizeof(buf), "[daemon]\nlisten =\n%s", MIN_CTL);
	expect_error(buf, "2: [daemon] listen: empty value");
	expect_error("[controller a]\ntransport = udp\naddress = 1.2.3.4:5\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "2: [controller a] transport: not valid (expected tcp "
	    "or rtu)");
	expect_error("[controller a]\ntransport = tcp\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "1: [controller a] address: missing (expected HOST:PORT for "
	    "transport tcp)");
	expect_error("[controller a]\ntransport = rtu\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "1: [controller a] device: missing (expected a serial device for "
	    "transport rtu)");
	expect_error("[controller a]\ntransport = rtu\ndevice = ttyUSB0\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "3: [controller a] device: not valid (expected an "
	    "absolute path such as /dev/ttyUSB0)");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\nparity = X\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "3: [controller a] parity: not valid (expected N, E or O)");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "watchdog_ms = 20\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "3: [controller a] watchdog_ms: not valid (expected a "
	    "whole number from 50 to 10000)");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "watchdog_ms = 100\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    "1: [controller a] watchdog_ms: 100 ms is shorter than three "
	    "response timeouts (150 ms)");
	expect_error("[controller A]\naddress = 127.0.0.1:1502\n",
	    "1: [controller A] controller name 'A' is not valid");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[controller a]\naddress = 127.0.0.1:1503\n",
	    "3: [controller a] controller 'a' defined twice");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = b\nchannel = 0\nlimit_kpa = 10\n",
	    "4: [zone z] controller: no controller named 'b'");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\nchannel = 0\nlimit_kpa = 10\n",
	    "3: [zone z] controller: missing");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nlimit_kpa = 10\n",
	    "3: [zone z] channel: missing");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 0\n",
	    "3: [zone z] limit_kpa: missing (the hardware limit of this zone "
	    "in kPa)");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 32\nlimit_kpa = 1\n",
	    "5: [zone z] channel: not valid (expected a whole number "
	    "from 0 to 31)");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone y]\ncontroller = a\nchannel = 0\nlimit_kpa = 1\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 1\n",
	    "7: [zone z] channel: channel 0 of controller a is already used "
	    "by zone y");
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 1\n"
	    "endangerment = maybe\n",
	    "7: [zone z] endangerment: not valid (expected yes or "
	    "no)");
	expect_error("[zone Bad-Name]\n", "1: [zone Bad-Name] zone name "
	    "'Bad-Name' is not valid");
	expect_error("[daemon]\n", "1: no [controller NAME] section");
	expect_error("[daemon]\n", "1: no [zone NAME] section");
	expect_error("[safety]\noverpressure_ms = -1\n", "2: [safety] "
	    "overpressure_ms: not valid");
	/* Decimal only: strtod() alone reads 0x23 as 35. */
	expect_error("[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 0x23\n",
	    "6: [zone z] limit_kpa: not valid (expected a decimal number "
	    "from 0 to 6553.5 kPa)");
	expect_error("[daemon]\ntick_hz = 0x1p4\n", "2: [daemon] tick_hz: "
	    "not valid");
	expect_error("[daemon]\ntick_hz = inf\n", "2: [daemon] tick_hz: "
	    "not valid");
}

static void
test_every_error_reported(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;

	/* Three mistakes on three lines: all three are reported. */
	assert_int_equal(load("[daemon]\ntick_hz = x\nlisten = y\nfoo = 1\n"
	    "[controller a]\naddress = 127.0.0.1:1502\n"
	    "[zone z]\ncontroller = a\nchannel = 0\nlimit_kpa = 10\n",
	    t, &errs), 3);
	assert_non_null(strstr(errs.text, ":2: [daemon] tick_hz"));
	assert_non_null(strstr(errs.text, ":3: [daemon] listen"));
	assert_non_null(strstr(errs.text, ":4: [daemon] foo"));
	inifile_errors_free(&errs);
	free(t);
}

static void
test_long_line(void **state)
{
	char	 buf[2048];

	memset(buf, 0, sizeof(buf));
	strcpy(buf, "[daemon]\nplugin_dir = ");
	memset(buf + strlen(buf), 'x', 700);
	strcat(buf, "\ntick_hz = oops\n");
	/* the long line is reported, and counting lines goes on right */
	expect_error(buf, "2: [daemon] line too long");
	expect_error(buf, "3: [daemon] tick_hz: not valid");
}

static void
test_missing_file(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs = { .quiet = 1 };

	assert_int_equal(table_load(t, "/nonexistent/massaged.ini", &errs), 1);
	assert_string_equal(errs.text, "/nonexistent/massaged.ini: cannot "
	    "open: No such file or directory\n");
	inifile_errors_free(&errs);
	free(t);
}

static void
test_override(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;

	assert_int_equal(load(GOOD, t, &errs), 0);
	assert_int_equal(table_override(t, "listen=127.0.0.1:0", &errs), 0);
	assert_int_equal(t->listen_port, 0);
	assert_int_equal(table_override(t, "state_dir=rel/dir", &errs), 0);
	assert_string_equal(t->state_dir, "rel/dir");
	assert_int_equal(table_override(t, "tick_hz=5000", &errs), 1);
	assert_non_null(strstr(errs.text, "command line:0: [daemon] tick_hz: "
	    "not valid"));
	assert_int_equal(table_override(t, "nokey", &errs), 1);
	assert_non_null(strstr(errs.text, "-o nokey: expected KEY=VALUE"));
	inifile_errors_free(&errs);
	free(t);
}

static void
test_numbers(void **state)
{
	double	 d;
	long	 l;
	int	 b;

	assert_int_equal(parse_double("12.5", 0, 100, &d), 0);
	assert_true(d == 12.5);
	assert_int_equal(parse_double("-0.5", -1, 1, &d), 0);
	assert_int_equal(parse_double("1e2", 0, 100, &d), 0);
	assert_int_equal(parse_double("", 0, 100, &d), -1);
	assert_int_equal(parse_double(" 1", 0, 100, &d), -1);
	assert_int_equal(parse_double("1 ", 0, 100, &d), -1);
	assert_int_equal(parse_double("1x", 0, 100, &d), -1);
	assert_int_equal(parse_double("nan", 0, 100, &d), -1);
	assert_int_equal(parse_double("inf", 0, 1e308, &d), -1);
	assert_int_equal(parse_double("100.01", 0, 100, &d), -1);
	assert_int_equal(parse_double("1e999", 0, 1e308, &d), -1);
	assert_int_equal(parse_int("42", 0, 100, &l), 0);
	assert_int_equal(l, 42);
	assert_int_equal(parse_int("4.2", 0, 100, &l), -1);
	assert_int_equal(parse_int("0x10", 0, 100, &l), -1);
	assert_int_equal(parse_int("101", 0, 100, &l), -1);
	assert_int_equal(parse_int("-1", 0, 100, &l), -1);
	assert_int_equal(parse_int("99999999999999999999", 0, 100, &l), -1);
	assert_int_equal(parse_bool("yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(parse_bool("off", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(parse_bool("Yes", &b), -1);
	assert_true(inifile_name_ok("piriformis_left", NAME_LEN));
	assert_false(inifile_name_ok("Piriformis", NAME_LEN));
	assert_false(inifile_name_ok("", NAME_LEN));
	assert_false(inifile_name_ok("a-b", NAME_LEN));
}

/* The shared part of a table model: safety, controllers, zones. */
static const char *LAYOUT =
	"; a model's layout\n"
	"[safety]\n"
	"pause_kpa = 3\n"
	"\n"
	"[controller pelvis]\n"
	"transport = tcp\n"
	"watchdog_ms = 300\n"
	"\n"
	"[controller legs]\n"
	"transport = rtu\n"
	"baud = 19200\n"
	"\n"
	"[zone piriformis_left]\n"
	"controller = pelvis\n"
	"channel = 3\n"
	"limit_kpa = 35\n"
	"\n"
	"[zone calf_left]\n"
	"controller = legs\n"
	"channel = 0\n"
	"limit_kpa = 25\n";

static char	 layout_path[600];

static void
write_layout(const char *text)
{
	write_named(layout_path, sizeof(layout_path), "model.ini", text);
}

/* The table file takes the layout and amends the endpoints. */
static void
test_layout(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs;

	assert_non_null(t);
	write_layout(LAYOUT);
	assert_int_equal(load(
	    "[daemon]\n"
	    "layout = model.ini\n"
	    "listen = 127.0.0.1:9001\n"
	    "tick_hz = 20\n"	/* what the 19200 baud line can carry */
	    "\n"
	    "[controller pelvis]\n"
	    "address = 10.0.0.7:502\n"
	    "\n"
	    "[controller legs]\n"
	    "device = /dev/ttyUSB3\n"
	    "\n"
	    "[zone calf_left]\n"
	    "limit_kpa = 20\n", t, &errs), 0);
	assert_null(errs.text);
	assert_int_equal(t->listen_port, 9001);
	assert_true(t->safety.pause_kpa == 3);
	assert_int_equal(t->nctls, 2);
	assert_string_equal(t->ctls[0].host, "10.0.0.7");
	assert_int_equal(t->ctls[0].watchdog_ms, 300);
	assert_int_equal(t->ctls[1].transport, TRANSPORT_RTU);
	assert_string_equal(t->ctls[1].device, "/dev/ttyUSB3");
	assert_int_equal(t->ctls[1].baud, 19200);
	assert_int_equal(t->nzones, 2);
	assert_int_equal(t->zones[0].ctl, 0);
	assert_int_equal(t->zones[0].channel, 3);
	assert_int_equal(t->zones[1].ctl, 1);
	assert_true(t->zones[1].limit_kpa == 20);
	free(t);
	unlink(layout_path);
}

static void
test_layout_errors(void **state)
{
	static const char *uses =
	    "[daemon]\nlayout = model.ini\n"
	    "[controller pelvis]\naddress = 10.0.0.7:502\n"
	    "[controller legs]\ndevice = /dev/ttyUSB3\n";
	char	 buf[2048];

	/* A layout error: the layout's file and line. */
	write_layout("[controller pelvis]\nwatchdog_ms = soon\n"
	    "[controller legs]\ntransport = rtu\n"
	    "[zone calf_left]\ncontroller = legs\nchannel = 0\n"
	    "limit_kpa = 25\n");
	expect_error_in(uses, layout_path, "2: [controller pelvis] "
	    "watchdog_ms: not valid (expected a whole number");
	/* A check after parsing: the file of the section. */
	write_layout("[controller pelvis]\n"
	    "[controller legs]\ntransport = rtu\n"
	    "[zone calf_left]\ncontroller = nobody\nchannel = 0\n"
	    "limit_kpa = 25\n");
	expect_error_in(uses, layout_path, "5: [zone calf_left] "
	    "controller: no controller named 'nobody'");
	expect_error_in("[daemon]\nlayout = model.ini\n"
	    "[controller legs]\ndevice = /dev/ttyUSB3\n", layout_path,
	    "1: [controller pelvis] address: missing");
	/* Table file errors stay the table file's. */
	write_layout(LAYOUT);
	snprintf(buf, sizeof(buf), "%s[zone calf_left]\nchannel = 99\n",
	    uses);
	expect_error_in(buf, path, "8: [zone calf_left] channel: not valid");
	snprintf(buf, sizeof(buf), "%s[controller legs]\nbaud = 9600\n",
	    uses);
	expect_error_in(buf, path, "7: [controller legs] controller 'legs' "
	    "defined twice");
	expect_error_in("[daemon]\nlayout = none.ini\n", path,
	    "2: [daemon] layout: cannot read ");
	expect_error_in("[daemon]\nlayout = /dev/zero\n", path,
	    "2: [daemon] layout: /dev/zero is not a regular file");
	expect_error_in("[controller a]\naddress = 1.2.3.4:5\n"
	    "[daemon]\nlayout = model.ini\n", path,
	    "4: [daemon] layout: must come before every [controller]");
	expect_error_in("[daemon]\nlayout = model.ini\n"
	    "[daemon]\nlayout = model.ini\n", path,
	    "4: [daemon] layout: a table has one layout file");
	write_layout("[daemon]\ntick_hz = 10\n");
	expect_error_in("[daemon]\nlayout = model.ini\n", layout_path,
	    "1: [daemon] not allowed in a layout file");
	unlink(layout_path);
}

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/massaged-test-table.XXXXXX");
	return (mkdtemp(tmpdir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	unlink(path);
	rmdir(tmpdir);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_layout_errors),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
