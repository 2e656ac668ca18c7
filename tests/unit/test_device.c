/*
 * test_device.c: device descriptions (daemon/core/device*.c): every
 * shipped description of config/devices loads and says what it is, the
 * kPa <-> raw conversions (points, clamping, rounding, word order, base 1
 * addresses), and every key wrong, missing or out of range gives its
 * file:line message (one table of cases over a good description).
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
#include <unistd.h>

#include <cmocka.h>

#include <massaged/regmap.h>

#include "device.h"

static char	 tmpdir[256];
static char	 path[PATH_MAX + 256];

/* Every section and most keys; line numbers matter to the cases below
 * only through the text they search for. */
static const char *GOOD =
	"; a description with every section\n"
	"[device]\n"
	"name = test-dev\n"
	"vendor = Test\n"
	"model = T1\n"
	"transports = tcp, rtu\n"
	"unit_id = 5\n"
	"unit_ids = 1..100\n"
	"base = 0\n"
	"identity = 0x2011 = 750, input:0x2012 = 352\n"
	"\n"
	"[ao ch0]\n"
	"type = u16\n"
	"register = 0x0000\n"
	"readback = 0x0200\n"
	"map = 0 -> 0, 60 -> 32760\n"
	"raw_range = 0..32760\n"
	"safe = 0\n"
	"\n"
	"[ao wide]\n"
	"type = s32\n"
	"word_order = little\n"
	"register = 0x0010\n"
	"map = 0 -> 0, 100 -> 100000\n"
	"raw_range = -1000..1000000\n"
	"safe = 0\n"
	"\n"
	"[ai p0]\n"
	"type = f32\n"
	"word_order = big\n"
	"register = 0x0000\n"
	"map = 0 -> 0, 10 -> 60\n"
	"raw_range = 0..10\n"
	"\n"
	"[di estop]\n"
	"kind = discrete\n"
	"register = 0\n"
	"role = estop_circuit\n"
	"active = 0\n"
	"\n"
	"[di switch]\n"
	"kind = input-bit\n"
	"register = 7\n"
	"bit = 4\n"
	"role = client_stop\n"
	"active = 1\n"
	"\n"
	"[di relay]\n"
	"kind = discrete\n"
	"register = 1\n"
	"role = relay_feedback\n"
	"active = 1\n"
	"\n"
	"[do vent]\n"
	"kind = coil\n"
	"register = 0\n"
	"readback = 0x0200\n"
	"role = vent_valve\n"
	"active = 0\n"
	"\n"
	"[do beat]\n"
	"kind = coil\n"
	"register = 1\n"
	"role = relay_heartbeat\n"
	"\n"
	"[watchdog]\n"
	"kind = modbus\n"
	"configure = 0x1001 = 0xC030\n"
	"fed_by = writes\n"
	"timeout = 0x1000\n"
	"timeout_unit_ms = 100\n"
	"timeout_range_ms = 100..60000\n"
	"feed = 0x1003\n"
	"state = 0x1006\n"
	"state_off = 0\n"
	"state_armed = 1\n"
	"state_tripped = 2\n"
	"on_trip = zero\n"
	"tripped_answers = 4\n"
	"reset = 0x1008 = 0xAA55\n"
	"\n"
	"[interlock]\n"
	"heartbeat = beat\n"
	"feedback = relay\n"
	"dropout_ms = 200\n";

/* The same device written as a manual with 1-based numbers would. */
static const char *BASE1 =
	"[device]\n"
	"name = one-based\n"
	"vendor = Test\n"
	"model = T2\n"
	"transports = rtu\n"
	"base = 1\n"
	"identity = 30001 = 7\n"
	"\n"
	"[ao a]\n"
	"type = u16\n"
	"register = 40001\n"
	"readback = 40513\n"
	"map = 0 -> 0, 60 -> 1000\n"
	"safe = 0\n"
	"\n"
	"[ao b]\n"
	"type = u16\n"
	"register = holding:2\n"
	"map = 0 -> 0, 60 -> 1000\n"
	"safe = 0\n"
	"\n"
	"[ai a]\n"
	"type = u16\n"
	"register = 30002\n"
	"map = 0 -> 0, 1000 -> 60\n"
	"\n"
	"[ai far]\n"
	"type = u16\n"
	"register = 465536\n"
	"map = 0 -> 0, 1000 -> 60\n"
	"\n"
	"[di estop]\n"
	"kind = discrete\n"
	"register = 10001\n"
	"role = estop_circuit\n"
	"active = 0\n"
	"\n"
	"[do vent]\n"
	"kind = coil\n"
	"register = 00001\n"
	"role = vent_valve\n"
	"active = 0\n"
	"\n"
	"[watchdog]\n"
	"kind = modbus\n"
	"fed_by = writes\n"
	"on_trip = zero\n"
	"timeout = 404097\n"
	"feed = 44100\n";

static void
write_text(const char *text)
{
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/dev.ini", tmpdir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static int
load_text(const char *text, struct device *d, struct inifile_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	errs->quiet = 1;
	write_text(text);
	return (device_load(d, path, errs));
}

static struct device *
load_good(const char *text)
{
	struct device		*d = calloc(1, sizeof(*d));
	struct inifile_errors	 errs;

	assert_non_null(d);
	if (load_text(text, d, &errs) != 0)
		fail_msg("expected no error, got:\n%s", errs.text);
	inifile_errors_free(&errs);
	return (d);
}

/* text with the first occurrence of find replaced; the caller frees. */
static char *
replace(const char *text, const char *find, const char *with)
{
	const char	*at = strstr(text, find);
	char		*out;
	size_t		 n;

	if (at == NULL)
		fail_msg("'%s' is not in the text", find);
	n = strlen(text) - strlen(find) + strlen(with) + 1;
	assert_non_null(out = malloc(n));
	snprintf(out, n, "%.*s%s%s", (int)(at - text), text, with,
	    at + strlen(find));
	return (out);
}

/* The 1-based line of the first occurrence of what in text. */
static int
line_of(const char *text, const char *what)
{
	const char	*at = strstr(text, what), *p;
	int		 line = 1;

	if (at == NULL)
		fail_msg("'%s' is not in the changed text", what);
	for (p = text; p < at; p++)
		line += *p == '\n';
	return (line);
}

/* Loads text, expects "path:LINE: want" among the errors, LINE the line
 * of at (0: line 1). */
static void
expect_in(const char *text, const char *at, const char *want)
{
	struct device		*d = calloc(1, sizeof(*d));
	struct inifile_errors	 errs;
	char			 full[PATH_MAX + 1200];

	assert_non_null(d);
	assert_true(load_text(text, d, &errs) > 0);
	snprintf(full, sizeof(full), "%s:%d: %s", path, at != NULL ?
	    line_of(text, at) : 1, want);
	if (errs.text == NULL || strstr(errs.text, full) == NULL)
		fail_msg("expected '%s' in:\n%s", full, errs.text ? errs.text :
		    "(none)");
	inifile_errors_free(&errs);
	free(d);
}

/* One wrong, missing or out of range key: the GOOD text with find
 * replaced by with; the error is at the line of at. */
struct bad_case {
	const char	*find;
	const char	*with;
	const char	*at;
	const char	*want;
};

static const struct bad_case bad_cases[] = {
	/* [device] */
	{ "name = test-dev", "name = Test Dev", "name =",
	  "[device] name: not valid (expected a name of a-z" },
	{ "name = test-dev\n", "", "[device]",
	  "[device] name: missing (expected a name" },
	{ "vendor = Test\n", "", "[device]", "[device] vendor: missing" },
	{ "model = T1\n", "", "[device]", "[device] model: missing" },
	{ "vendor = Test\n", "vendor = Test\ncolour = red\n", "colour",
	  "[device] colour: unknown key (expected name, vendor, model, "
	  "transports, base, unit_id, unit_ids, unit_id_ignored or identity)" },
	{ "transports = tcp, rtu", "transports = udp", "transports",
	  "[device] transports: not valid (expected tcp or rtu)" },
	{ "transports = tcp, rtu", "transports = tcp, tcp", "transports",
	  "[device] transports: tcp given twice" },
	{ "transports = tcp, rtu\n", "", "[device]",
	  "[device] transports: missing" },
	{ "base = 0\n", "", "[device]",
	  "[device] base: missing (expected 0 for offsets as on the wire, 1 "
	  "for 40001-style numbers" },
	{ "base = 0", "base = 2", "base =",
	  "[device] base: not valid (expected 0 or 1)" },
	{ "unit_id = 5", "unit_id = 0", "unit_id =",
	  "[device] unit_id: 0 is the broadcast address, never a device's own "
	  "(expected 1 to 247)" },
	{ "unit_id = 5", "unit_id = 250", "unit_id =",
	  "[device] unit_id: 250 is reserved by Modbus" },
	{ "unit_id = 5", "unit_id = five", "unit_id =",
	  "[device] unit_id: not valid (expected a whole number from 1 to "
	  "247)" },
	{ "unit_id = 5", "unit_id = 200", "unit_id =",
	  "[device] unit_id: 200 is outside unit_ids 1..100" },
	{ "unit_ids = 1..100", "unit_ids = 0..100", "unit_ids",
	  "[device] unit_ids: 0 is the broadcast address" },
	{ "unit_ids = 1..100", "unit_ids = 10..5", "unit_ids",
	  "[device] unit_ids: 10 is above 5 (expected LOW..HIGH, LOW at most "
	  "HIGH)" },
	{ "unit_ids = 1..100", "unit_ids = 1-100", "unit_ids",
	  "[device] unit_ids: not valid (expected LOW..HIGH, unit ids from 1 "
	  "to 247)" },
	{ "unit_id = 5", "unit_id = 5\nunit_id_ignored = maybe", "unit_id_ig",
	  "[device] unit_id_ignored: not valid (expected yes or no)" },
	{ "identity = 0x2011 = 750,", "identity = 0x2011,", "identity",
	  "[device] identity, item 1: not valid (expected REGISTER = VALUE, "
	  "such as 0x1001 = 0xC030)" },
	{ "identity = 0x2011 = 750,", "identity = coil:1 = 1,", "identity",
	  "[device] identity, item 1: in the coils (expected the input "
	  "registers or holding registers)" },
	{ "input:0x2012 = 352", "input:0x2012 = 0x10000", "identity",
	  "[device] identity, item 2: not valid (expected a whole number" },
	{ "identity = 0x2011 = 750,", "identity = 0x2011 = 70000,", "identity",
	  "[device] identity, item 1: not valid (expected a whole number from "
	  "0 to 65535, or 0x0000 to 0xFFFF)" },
	{ "[device]\n", "[devices]\n", "[devices]",
	  "[devices] unknown section (expected [device], [ao NAME], [ai NAME], "
	  "[di NAME], [do NAME], [watchdog] or [interlock])" },
	{ "[device]\n", "[devices]\n", NULL, "no [device] section" },
	/* [ao] */
	{ "type = u16", "type = u8", "type = u8",
	  "[ao ch0] type: not valid (expected u16, s16, u32, s32 or f32)" },
	{ "type = u16\n", "", "[ao ch0]", "[ao ch0] type: missing" },
	{ "type = u16\n", "type = u16\nword_order = big\n", "word_order",
	  "[ao ch0] word_order: not used with a 16-bit type (type = u16)" },
	{ "word_order = little\n", "", "[ao wide]",
	  "[ao wide] word_order: missing (a 32-bit type needs big or little" },
	{ "word_order = little", "word_order = middle", "word_order",
	  "[ao wide] word_order: not valid (expected big or little)" },
	{ "register = 0x0000\nreadback", "readback", "[ao ch0]",
	  "[ao ch0] register: missing" },
	{ "register = 0x0000\nreadback", "register = input:0\nreadback",
	  "register = input", "[ao ch0] register: in the input registers "
	  "(expected the holding registers)" },
	{ "register = 0x0000\nreadback", "register = 70000\nreadback",
	  "register = 7", "[ao ch0] register: out of range (expected an "
	  "offset from 0 to 65535 with base = 0)" },
	{ "register = 0x0000\nreadback", "register = 40001\nreadback",
	  "register = 4", "[ao ch0] register: 40001 looks like a "
	  "40001-style number, but with base = 0 it is offset 40001 (set "
	  "base = 1, or write 0x9C41 if that offset is meant)" },
	{ "register = 0x0000\nreadback", "register = abc\nreadback",
	  "register = abc", "[ao ch0] register: not an address (expected a whole number" },
	{ "register = 0x0000\nreadback", "register = hold:1\nreadback",
	  "register = hold", "[ao ch0] register: unknown table (expected "
	  "coil, discrete, input or holding before the ':')" },
	{ "readback = 0x0200", "readback = coil:0", "readback = coil",
	  "[ao ch0] readback: in the coils (expected the input registers or "
	  "holding registers)" },
	{ "map = 0 -> 0, 60 -> 32760", "map = 0 -> 0", "map = 0 -> 0\n",
	  "[ao ch0] map: not valid (expected two points 'A -> B, "
	  "C -> D', kPa from 0 to 1000 -> raw from 0 to 65535)" },
	{ "map = 0 -> 0, 60 -> 32760", "map = 5 -> 0, 5 -> 100", "map = 5",
	  "[ao ch0] map: the two points have the same kPa (expected two "
	  "points of a line that rises or falls)" },
	{ "map = 0 -> 0, 60 -> 32760", "map = 0 -> 0, 60 -> 70000", "map = 0",
	  "[ao ch0] map: not valid" },
	{ "map = 0 -> 0, 60 -> 32760", "map = 0 -> 0, 2000 -> 1", "map = 0",
	  "[ao ch0] map: not valid" },
	{ "map = 0 -> 0, 60 -> 32760\n", "", "[ao ch0]",
	  "[ao ch0] map: missing" },
	{ "raw_range = 0..32760", "raw_range = 0..70000", "raw_range",
	  "[ao ch0] raw_range: not valid (expected LOW..HIGH, "
	  "whole numbers from 0 to 65535, LOW at most HIGH)" },
	{ "raw_range = 0..32760", "raw_range = 100..0", "raw_range",
	  "[ao ch0] raw_range: not valid" },
	{ "raw_range = 0..32760", "raw_range = 0.5..100", "raw_range",
	  "[ao ch0] raw_range: not valid" },
	{ "safe = 0\n", "safe = 40000\n", "safe = 4",
	  "[ao ch0] safe: not valid (expected a whole number within "
	  "raw_range, 0 to 32760)" },
	{ "safe = 0\n", "safe = 0.5\n", "safe = 0.5",
	  "[ao ch0] safe: not valid" },
	{ "safe = 0\n", "safe = 100\n", "safe = 1",
	  "[ao ch0] safe: 100 maps to 0.183 kPa (expected a raw value at or "
	  "below 0 kPa on the map: the safe value is what vents)" },
	{ "safe = 0\n", "", "[ao ch0]", "[ao ch0] safe: missing" },
	{ "[ao ch0]", "[ao Ch0]", "[ao Ch0]",
	  "[ao Ch0] ao name 'Ch0' is not valid (expected [a-z0-9_]+" },
	{ "[ao wide]", "[ao ch0]", "[ao ch0]\ntype = s32",
	  "[ao ch0] section given twice (first at line 12)" },
	{ "[ai p0]", "[ao p0]\n[ai p0]", "[ao p0]", "[ao p0] type: missing" },
	/* [ai] */
	{ "register = 0x0000\nmap = 0 -> 0, 10", "register = coil:0\nmap = 0 "
	  "-> 0, 10", "register = coil", "[ai p0] register: in "
	  "the coils (expected the input registers or holding registers)" },
	{ "word_order = big\n", "", "[ai p0]",
	  "[ai p0] word_order: missing" },
	{ "map = 0 -> 0, 10 -> 60", "map = 0 -> 0, 10 -> 2000", "10 -> 2000",
	  "[ai p0] map: not valid (expected two "
	  "points 'A -> B, C -> D', raw from" },
	/* [di] */
	{ "kind = discrete", "kind = relay", "kind = relay",
	  "[di estop] kind: not valid (expected discrete, coil, "
	  "holding-bit or input-bit)" },
	{ "bit = 4\n", "", "[di switch]", "[di switch] bit: missing (kind = "
	  "input-bit reads one bit of a register: expected 0 to 15)" },
	{ "role = estop_circuit", "bit = 2\nrole = estop_circuit", "bit = 2",
	  "[di estop] bit: not used with kind = discrete" },
	{ "bit = 4", "bit = 16", "bit = 16",
	  "[di switch] bit: not valid (expected a whole number from 0 to 15)" },
	{ "active = 0\n", "active = 2\n", "active = 2",
	  "[di estop] active: not valid (expected a whole number from 0 to 1)" },
	{ "role = estop_circuit\nactive = 0\n", "role = estop_circuit\n",
	  "[di estop]", "[di estop] active: missing (expected the level" },
	{ "role = estop_circuit", "role = vent_valve", "role = vent",
	  "[di estop] role: vent_valve is not a role of a [di] (expected "
	  "estop_circuit, client_stop or relay_feedback)" },
	{ "role = client_stop", "role = estop_circuit\n", "role = estop_circuit\n\n",
	  "[di switch] role: estop_circuit is already the role of [di estop] "
	  "(line 35; expected one of each role)" },
	/* [do] */
	{ "kind = coil\nregister = 0", "kind = discrete\nregister = 0",
	  "kind = discrete\nregister = 0\nreadback", "[do vent] kind: "
	  "not valid (expected coil or holding-bit)" },
	{ "role = relay_heartbeat", "role = relay_heartbeat\nactive = 1",
	  "active = 1\n\n[watchdog]", "[do beat] active: not used with role = "
	  "relay_heartbeat (the daemon toggles it every tick)" },
	{ "role = vent_valve\nactive = 0\n", "role = vent_valve\n", "[do vent]",
	  "[do vent] active: missing (expected the level, 0 or 1, at which "
	  "the valve vents)" },
	{ "register = 1\nrole = relay_heartbeat", "register = 0\nrole = "
	  "relay_heartbeat", "register = 0\nrole = relay_h", "[do beat] "
	  "register: coil 0 (0x0000) is also written by [do vent] register "
	  "(line 56)" },
	{ "readback = 0x0200\nrole = vent", "readback = input:0x0200\nrole = "
	  "vent", "readback = input", "[do vent] readback: "
	  "in the input registers (expected the coils or discrete inputs)" },
	{ "[interlock]\nheartbeat = beat\nfeedback = relay\ndropout_ms = 200\n",
	  "", "[do beat]", "[do beat] role: relay_heartbeat, but no "
	  "[interlock] names this output as its heartbeat" },
	{ "[interlock]\nheartbeat = beat\nfeedback = relay\ndropout_ms = 200\n",
	  "", "[di relay]", "[di relay] role: relay_feedback, but no "
	  "[interlock] names this input as its feedback" },
	/* [watchdog] */
	{ "[watchdog]\nkind = modbus\n", "kind = modbus\n", NULL,
	  "no [watchdog] section (expected kind = modbus with its registers, "
	  "or kind = none for a device without a watchdog)" },
	{ "kind = modbus", "kind = maybe", "kind = maybe",
	  "[watchdog] kind: not valid (expected none or modbus)" },
	{ "kind = modbus\n", "", "[watchdog]", "[watchdog] kind: missing" },
	{ "kind = modbus", "kind = none", "configure",
	  "[watchdog] configure: not used with kind = none" },
	{ "feed = 0x1003\n", "", "[watchdog]", "[watchdog] feed: missing "
	  "(kind = modbus needs it: expected the holding register whose "
	  "change feeds it)" },
	{ "fed_by = writes\n", "", "[watchdog]", "[watchdog] fed_by: missing" },
	{ "on_trip = zero\n", "", "[watchdog]", "[watchdog] on_trip: missing" },
	{ "timeout = 0x1000\n", "", "[watchdog]", "[watchdog] timeout: missing" },
	{ "fed_by = writes", "fed_by = reads", "fed_by",
	  "[watchdog] fed_by: not valid (expected writes or any)" },
	{ "on_trip = zero", "on_trip = vent", "on_trip",
	  "[watchdog] on_trip: not valid (expected hold, zero or safe)" },
	{ "timeout = 0x1000", "timeout = coil:0", "timeout = coil",
	  "[watchdog] timeout: in the coils (expected the holding registers)" },
	{ "timeout_unit_ms = 100", "timeout_unit_ms = 0", "timeout_unit",
	  "[watchdog] timeout_unit_ms: not valid (expected a whole number from "
	  "1 to 60000)" },
	{ "timeout_range_ms = 100..60000", "timeout_range_ms = 150..60000",
	  "timeout_range", "[watchdog] timeout_range_ms: not in steps "
	  "of timeout_unit_ms (100 ms)" },
	{ "timeout_range_ms = 100..60000", "timeout_range_ms = 0..60000",
	  "timeout_range", "[watchdog] timeout_range_ms: not "
	  "valid (expected LOW..HIGH, whole numbers from 100 to 6553500 ms" },
	{ "state_armed = 1\n", "", "[watchdog]", "[watchdog] state_armed: "
	  "missing (state is given: expected the armed value" },
	{ "state_tripped = 2\n", "", "[watchdog]", "[watchdog] state_tripped: "
	  "missing" },
	{ "state_tripped = 2", "state_tripped = 1", "state_tripped",
	  "[watchdog] state_tripped: the same as state_armed" },
	{ "state_off = 0", "state_off = 1", "state_off",
	  "[watchdog] state_off: the same as state_armed" },
	{ "state_off = 0", "state_mask = 0x0001\nstate_off = 0", "state_trip",
	  "[watchdog] state_tripped: 0x0002 has bits outside state_mask "
	  "0x0001" },
	{ "state = 0x1006\n", "", "state_off",
	  "[watchdog] state_off: not used without state" },
	{ "state = 0x1006", "state = coil:6", "state = coil",
	  "[watchdog] state: in the coils" },
	{ "tripped_answers = 4", "tripped_answers = 0", "tripped_answers",
	  "[watchdog] tripped_answers: not valid (expected normal, or "
	  "the Modbus exception code" },
	{ "configure = 0x1001 = 0xC030", "configure = 1=1, 2=2, 3=3, 4=4, 5=5, "
	  "6=6, 7=7, 8=8, 9=9", "configure", "[watchdog] configure: too many "
	  "items (at most 8)" },
	{ "configure = 0x1001 = 0xC030", "configure = 0x1001 = 0xC030,",
	  "configure", "[watchdog] configure: an empty item (expected "
	  "REGISTER = VALUE items separated by commas)" },
	{ "reset = 0x1008 = 0xAA55", "reset = input:0x1008 = 1", "reset",
	  "[watchdog] reset, item 1: in the input registers "
	  "(expected the holding registers)" },
	{ "feed = 0x1003", "feed = 0x0011", "feed = ", "[watchdog] feed: holding "
	  "register 17 (0x0011) is also written by [ao wide] register" },
	{ "reset = 0x1008 = 0xAA55", "reset = 0x1008 = 0xAA55\n[watchdog]",
	  "[watchdog]\n\n", "[watchdog] section given twice (first at line " },
	/* [interlock] */
	{ "heartbeat = beat", "heartbeat = vent", "heartbeat =",
	  "[interlock] heartbeat: [do vent] has role vent_valve (expected a "
	  "[do] with role = relay_heartbeat)" },
	{ "heartbeat = beat", "heartbeat = nothing", "heartbeat =",
	  "[interlock] heartbeat: names no [do] section of this file "
	  "(expected the name of a [do] with role = relay_heartbeat)" },
	{ "feedback = relay\n", "", "[interlock]",
	  "[interlock] feedback: missing (expected the name of a [di] with "
	  "role = relay_feedback)" },
	{ "feedback = relay", "feedback = estop", "feedback =",
	  "[interlock] feedback: [di estop] has role estop_circuit" },
	{ "dropout_ms = 200", "dropout_ms = 5", "dropout",
	  "[interlock] dropout_ms: not valid (expected a whole number from 10 "
	  "to 10000)" },
	{ "dropout_ms = 200\n", "", "[interlock]",
	  "[interlock] dropout_ms: missing" },
	/* the INI layer under it */
	{ "model = T1", "model = T1\nmodel = T2", "model = T2",
	  "[device] model: given twice in this section" },
	{ "model = T1", "model", "model\n",
	  "[device] syntax error: not a 'key = value' line" },
};

static void
test_bad_keys(void **state)
{
	size_t	 i;
	char	*text;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		text = replace(GOOD, bad_cases[i].find, bad_cases[i].with);
		expect_in(text, bad_cases[i].at, bad_cases[i].want);
		free(text);
	}
}

/* What base = 1 gets wrong when the manual is misread. */
static const struct bad_case base1_cases[] = {
	{ "register = 40001", "register = 0x10", "register = 0x10",
	  "[ao a] register: not a register number for base = 1 "
	  "(expected 1-9999 coils, 10001-19999 discrete inputs, 30001-39999 "
	  "input registers, 40001-49999 holding registers" },
	{ "register = 40001", "register = 30001", "register = 30001",
	  "[ao a] register: 30001 is in the input registers (expected the "
	  "holding registers)" },
	{ "register = 40001", "register = 20001", "register = 20001",
	  "[ao a] register: not a register number for base = 1" },
	{ "register = 40001", "register = 40000", "register = 40000",
	  "[ao a] register: not a register number for base = 1" },
	{ "register = 40001", "register = 465537", "register = 465537",
	  "[ao a] register: not a register number for base = 1" },
	{ "register = holding:2", "register = holding:0", "register = hold",
	  "[ao b] register: not valid (expected with base = 1 "
	  "a whole number from 1 to 65536, or 0x hex, after the table)" },
	{ "register = 10001", "register = 40001", "register = 40001\nrole",
	  "[di estop] register: 40001 is in the holding registers (expected "
	  "the discrete inputs)" },
	{ "register = 00001", "register = 10001", "register = 10001\nrole = "
	  "vent", "[do vent] register: 10001 is in the discrete inputs "
	  "(expected the coils)" },
};

static void
test_bad_base1(void **state)
{
	size_t	 i;
	char	*text;

	(void)state;
	for (i = 0; i < sizeof(base1_cases) / sizeof(base1_cases[0]); i++) {
		text = replace(BASE1, base1_cases[i].find, base1_cases[i].with);
		expect_in(text, base1_cases[i].at, base1_cases[i].want);
		free(text);
	}
}

/* A refused value is never repeated in an error (docs/security.md,
 * "Files the daemon reads"): every key of every section given it. */
static void
test_refused_values_not_repeated(void **state)
{
	static const char *const sections[] = {
		"[device]\nbase=0\nname vendor model transports unit_id "
		"unit_ids unit_id_ignored identity",
		"[ao a]\ntype word_order register readback map raw_range safe",
		"[ao b]\ntype=u32\nword_order register readback map raw_range "
		"safe",
		"[ai a]\ntype word_order register map raw_range",
		"[di a]\nkind role register bit active",
		"[di b]\nkind=input-bit\nrole register bit active",
		"[do a]\nkind role register bit active readback",
		"[watchdog]\nkind=modbus\nfed_by on_trip timeout timeout_unit_ms "
		"timeout_range_ms feed state state_mask state_off state_armed "
		"state_tripped tripped_answers configure reset",
		"[interlock]\nheartbeat feedback dropout_ms",
	};
	struct device		*d = calloc(1, sizeof(*d));
	struct inifile_errors	 errs;
	char			 text[8192], keys[400], *k, *save;
	size_t			 i, n = 0;

	(void)state;
	assert_non_null(d);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		snprintf(keys, sizeof(keys), "%s", strrchr(sections[i], '\n') +
		    1);
		n += snprintf(text + n, sizeof(text) - n, "%.*s\n",
		    (int)(strrchr(sections[i], '\n') - sections[i]),
		    sections[i]);
		for (k = strtok_r(keys, " ", &save); k != NULL;
		    k = strtok_r(NULL, " ", &save))
			n += snprintf(text + n, sizeof(text) - n,
			    "%s = Secret:Stuff..x -> y, 1 = z\n", k);
	}
	assert_true(n < sizeof(text));
	assert_true(load_text(text, d, &errs) > 30);
	if (strstr(errs.text, "Secret") != NULL || strstr(errs.text, "Stuff")
	    != NULL)
		fail_msg("a refused value repeated:\n%s", errs.text);
	inifile_errors_free(&errs);
	free(d);
}

/* Limits and whole-file errors that need more than one line changed. */
static void
test_bad_files(void **state)
{
	struct device		*d = calloc(1, sizeof(*d));
	struct inifile_errors	 errs;
	char			 text[16384], *p = text;
	int			 i;

	(void)state;
	expect_in("[device]\nname = x\nvendor = v\nmodel = m\ntransports = "
	    "tcp\nbase = 0\n[watchdog]\nkind = none\n", NULL, "no channel "
	    "(expected at least one [ao NAME], [ai NAME], [di NAME] or [do "
	    "NAME] section)");
	p += sprintf(p, "[device]\nname = x\nvendor = v\nmodel = m\n"
	    "transports = tcp\nbase = 0\n[watchdog]\nkind = none\n");
	for (i = 0; i <= DEVICE_MAX_AO; i++)
		p += sprintf(p, "[ao c%d]\ntype = u16\nregister = %d\nmap = 0 -> "
		    "0, 60 -> 1000\nsafe = 0\n", i, i);
	expect_in(text, "[ao c32]", "[ao c32] too many [ao] sections (at most "
	    "32)");
	/* A file that is not there: one error, naming it. */
	memset(&errs, 0, sizeof(errs));
	errs.quiet = 1;
	snprintf(path, sizeof(path), "%s/absent.ini", tmpdir);
	assert_int_equal(device_load(d, path, &errs), 1);
	assert_non_null(strstr(errs.text, path));
	inifile_errors_free(&errs);
	free(d);
}

static void
test_good(void **state)
{
	struct device		*d = load_good(GOOD);
	const struct device_watchdog *w = &d->watchdog;

	(void)state;
	assert_string_equal(d->name, "test-dev");
	assert_int_equal(d->transports, DEVICE_TRANSPORT_TCP |
	    DEVICE_TRANSPORT_RTU);
	assert_int_equal(d->unit_id, 5);
	assert_int_equal(d->unit_id_max, 100);
	assert_int_equal(d->base, 0);
	assert_int_equal(d->nidentity, 2);
	assert_int_equal(d->identity[0].reg.space, DEVICE_HOLDING);
	assert_int_equal(d->identity[0].reg.addr, 0x2011);
	assert_int_equal(d->identity[0].value, 750);
	assert_int_equal(d->identity[1].reg.space, DEVICE_INPUT);
	assert_int_equal(d->nao, 2);
	assert_int_equal(d->ao[0].readback.addr, 0x200);
	assert_int_equal(d->ao[1].words, DEVICE_WORDS_LITTLE);
	assert_int_equal(d->ao[1].reg.addr, 0x10);
	assert_int_equal(d->nai, 1);
	assert_int_equal(d->ai[0].reg.space, DEVICE_INPUT);
	assert_int_equal(d->ndi, 3);
	assert_int_equal(d->di[1].reg.space, DEVICE_INPUT);
	assert_int_equal(d->di[1].bit, 4);
	assert_int_equal(d->di[0].bit, -1);
	assert_int_equal(d->di[0].role, DEVICE_ROLE_ESTOP_CIRCUIT);
	assert_int_equal(d->ndo, 2);
	assert_int_equal(d->dout[0].readback.addr, 0x200);
	assert_int_equal(d->dout[1].readback.addr, 1);	/* its register */
	assert_int_equal(w->kind, DEVICE_WD_MODBUS);
	assert_int_equal(w->nconfigure, 1);
	assert_int_equal(w->configure[0].reg.addr, 0x1001);
	assert_int_equal(w->configure[0].value, 0xc030);
	assert_int_equal(w->timeout_unit_ms, 100);
	assert_int_equal(w->timeout_max_ms, 60000);
	assert_int_equal(w->feed.addr, 0x1003);
	assert_int_equal(w->state_mask, 0xffff);
	assert_int_equal(w->state_tripped, 2);
	assert_int_equal(w->tripped_exception, 4);
	assert_int_equal(w->on_trip, DEVICE_TRIP_ZERO);
	assert_int_equal(w->reset[0].value, 0xaa55);
	assert_int_equal(d->interlock.present, 1);
	assert_int_equal(d->interlock.heartbeat, 1);
	assert_int_equal(d->interlock.feedback, 2);
	assert_int_equal(d->interlock.dropout_ms, 200);
	assert_int_equal(d->watchdog_trusted, 1);
	assert_int_equal(d->needs_interlock, 0);
	free(d);
}

/* 40001 is holding offset 0, 30001 input 0, 10001 discrete 0, 00001 coil
 * 0; six digits past 9999; TABLE:NUMBER counts from 1. */
static void
test_base1(void **state)
{
	struct device	*d = load_good(BASE1);

	(void)state;
	assert_int_equal(d->base, 1);
	assert_int_equal(d->identity[0].reg.space, DEVICE_INPUT);
	assert_int_equal(d->identity[0].reg.addr, 0);
	assert_int_equal(d->ao[0].reg.space, DEVICE_HOLDING);
	assert_int_equal(d->ao[0].reg.addr, 0);
	assert_int_equal(d->ao[0].readback.addr, 512);
	assert_int_equal(d->ao[1].reg.addr, 1);
	assert_int_equal(d->ai[0].reg.space, DEVICE_INPUT);
	assert_int_equal(d->ai[0].reg.addr, 1);
	assert_int_equal(d->ai[1].reg.space, DEVICE_HOLDING);
	assert_int_equal(d->ai[1].reg.addr, 65535);
	assert_int_equal(d->di[0].reg.space, DEVICE_DISCRETE);
	assert_int_equal(d->di[0].reg.addr, 0);
	assert_int_equal(d->dout[0].reg.space, DEVICE_COIL);
	assert_int_equal(d->dout[0].reg.addr, 0);
	assert_int_equal(d->watchdog.timeout.addr, 0x1000);
	assert_int_equal(d->watchdog.feed.addr, 4099);
	free(d);
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

static struct device *
load_shipped(const char *name)
{
	struct device		*d = calloc(1, sizeof(*d));
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 p[128];

	assert_non_null(d);
	snprintf(p, sizeof(p), "config/devices/%s.ini", name);
	srcpath(path, sizeof(path), p);
	if (device_load(d, path, &errs) != 0)
		fail_msg("%s:\n%s", path, errs.text);
	assert_string_equal(d->name, name);
	inifile_errors_free(&errs);
	return (d);
}

static void
test_shipped(void **state)
{
	struct device	*d;
	uint16_t	 regs[2];

	(void)state;
	d = load_shipped("wago-750-352");
	assert_int_equal(d->watchdog_trusted, 1);
	assert_int_equal(d->needs_interlock, 0);
	assert_int_equal(d->unit_id_ignored, 1);
	assert_int_equal(d->transports, DEVICE_TRANSPORT_TCP);
	assert_int_equal(d->nao, 8);
	assert_int_equal(d->nai, 8);
	assert_int_equal(d->ao[7].readback.addr, 0x207);
	assert_int_equal(d->watchdog.configure[0].value, 0x8000 | 0x4000 |
	    0x0020 | 0x0010);
	assert_int_equal(d->watchdog.timeout_unit_ms, 100);
	assert_int_equal(d->watchdog.tripped_exception, 4);
	device_kpa_to_raw(&d->ao[0], 60, regs);
	assert_int_equal(regs[0], 0x7ff8);
	free(d);

	d = load_shipped("rs485-ao8");
	assert_int_equal(d->watchdog.kind, DEVICE_WD_NONE);
	assert_int_equal(d->watchdog_trusted, 0);
	assert_int_equal(d->needs_interlock, 1);
	assert_non_null(strstr(d->why, "no communication watchdog"));
	assert_int_equal(d->transports, DEVICE_TRANSPORT_RTU);
	device_kpa_to_raw(&d->ao[3], 30, regs);
	assert_int_equal(regs[0], 500);
	free(d);

	d = load_shipped("rs485-ai8");
	assert_int_equal(d->needs_interlock, 0);	/* drives nothing */
	assert_int_equal(d->unit_id, 2);
	free(d);

	d = load_shipped("rs485-relay");
	assert_int_equal(d->needs_interlock, 0);
	assert_int_equal(d->unit_id, 3);
	assert_int_equal(d->interlock.present, 1);
	assert_int_equal(d->interlock.dropout_ms, 200);
	assert_int_equal(d->dout[d->interlock.heartbeat].reg.space,
	    DEVICE_COIL);
	assert_int_equal(d->dout[d->interlock.heartbeat].reg.addr, 0);
	assert_int_equal(d->di[d->interlock.feedback].reg.addr, 0);
	free(d);
}

/* config/devices/regmap.ini says what include/massaged/regmap.h says,
 * and converts as the built-in backend does. */
static void
test_shipped_regmap(void **state)
{
	struct device	*d = load_shipped("regmap");
	const struct device_watchdog *w = &d->watchdog;
	uint16_t	 regs[2];
	double		 kpa;
	int		 i;

	(void)state;
	assert_int_equal(d->watchdog_trusted, 1);
	assert_int_equal(d->identity[0].reg.space, DEVICE_INPUT);
	assert_int_equal(d->identity[0].reg.addr, REGMAP_IR_MAP_VERSION);
	assert_int_equal(d->identity[0].value, REGMAP_VERSION);
	for (i = 0; i < d->nao; i++) {
		assert_int_equal(d->ao[i].reg.addr, REGMAP_HR_SETPOINT + i);
		assert_int_equal(d->ai[i].reg.space, DEVICE_INPUT);
		assert_int_equal(d->ai[i].reg.addr, REGMAP_IR_PRESSURE + i);
	}
	for (kpa = -1; kpa < 120; kpa += 0.37) {
		device_kpa_to_raw(&d->ao[0], kpa, regs);
		assert_int_equal(regs[0], regmap_kpa_to_reg(kpa));
		assert_true(fabs(device_raw_to_kpa(&d->ai[0], regs) -
		    regmap_reg_to_kpa(regs[0])) < 1e-9);
	}
	assert_int_equal(d->di[0].reg.addr, REGMAP_IR_STATUS);
	assert_int_equal(1 << d->di[0].bit, REGMAP_STATUS_ESTOP);
	assert_int_equal(1 << d->di[1].bit, REGMAP_STATUS_CLIENT_STOP);
	assert_int_equal(d->dout[0].reg.addr, REGMAP_HR_CONTROL);
	assert_int_equal(1 << d->dout[0].bit, REGMAP_CONTROL_ENABLE);
	assert_int_equal(w->timeout.addr, REGMAP_HR_WATCHDOG_MS);
	assert_int_equal(w->feed.addr, REGMAP_HR_HEARTBEAT);
	assert_int_equal(w->state.addr, REGMAP_IR_STATUS);
	assert_int_equal(w->state_mask, REGMAP_STATUS_ACTIVE |
	    REGMAP_STATUS_FAULT | REGMAP_STATUS_WATCHDOG);
	assert_int_equal(w->state_tripped, REGMAP_STATUS_FAULT |
	    REGMAP_STATUS_WATCHDOG);
	assert_int_equal(w->reset[1].value, REGMAP_CONTROL_FAULT_RESET);
	free(d);
}

static void
test_conversions(void **state)
{
	struct device	*d = load_good(GOOD);
	struct device_ao *ao = &d->ao[0], *wide = &d->ao[1];
	struct device_ai *ai = &d->ai[0];
	uint16_t	 regs[2];

	(void)state;
	/* The map's points, between them (rounded down), clamping. */
	assert_int_equal(device_kpa_to_raw(ao, 0, regs), 1);
	assert_int_equal(regs[0], 0);
	device_kpa_to_raw(ao, 60, regs);
	assert_int_equal(regs[0], 32760);
	device_kpa_to_raw(ao, 30, regs);
	assert_int_equal(regs[0], 16380);
	device_kpa_to_raw(ao, 0.0031, regs);	/* 1.69 counts */
	assert_int_equal(regs[0], 1);
	device_kpa_to_raw(ao, 61, regs);
	assert_int_equal(regs[0], 32760);	/* raw_range, not 33306 */
	device_kpa_to_raw(ao, -5, regs);
	assert_int_equal(regs[0], 0);
	/* Not a number: the safe value. */
	ao->safe = 7;
	device_kpa_to_raw(ao, NAN, regs);
	assert_int_equal(regs[0], 7);
	device_kpa_to_raw(ao, INFINITY, regs);
	assert_int_equal(regs[0], 7);
	/* s32, low word first. */
	assert_int_equal(device_kpa_to_raw(wide, 50, regs), 2);
	assert_int_equal(regs[0], 0xc350);	/* 50000 */
	assert_int_equal(regs[1], 0x0000);
	wide->kpa[0] = 1;			/* 0 kPa is now raw -1000 */
	device_kpa_to_raw(wide, 0, regs);
	assert_int_equal(regs[0], 0xfc18);
	assert_int_equal(regs[1], 0xffff);
	/* Word order both ways, every 32-bit type. */
	device_raw_encode(DEVICE_U32, DEVICE_WORDS_BIG, 0x12345678, regs);
	assert_int_equal(regs[0], 0x1234);
	assert_int_equal(regs[1], 0x5678);
	assert_true(device_raw_decode(DEVICE_U32, DEVICE_WORDS_BIG, regs) ==
	    0x12345678);
	assert_true(device_raw_decode(DEVICE_U32, DEVICE_WORDS_LITTLE, regs) ==
	    0x56781234);
	device_raw_encode(DEVICE_S32, DEVICE_WORDS_LITTLE, -2, regs);
	assert_int_equal(regs[0], 0xfffe);
	assert_int_equal(regs[1], 0xffff);
	assert_true(device_raw_decode(DEVICE_S32, DEVICE_WORDS_LITTLE, regs) ==
	    -2);
	device_raw_encode(DEVICE_S16, DEVICE_WORDS_NONE, -1, regs);
	assert_int_equal(regs[0], 0xffff);
	assert_true(device_raw_decode(DEVICE_S16, DEVICE_WORDS_NONE, regs) ==
	    -1);
	/* f32, high word first: 1.5 is 0x3FC00000; 1.5 V is 9 kPa. */
	regs[0] = 0x3fc0;
	regs[1] = 0x0000;
	assert_true(fabs(device_raw_to_kpa(ai, regs) - 9.0) < 1e-9);
	device_raw_encode(DEVICE_F32, DEVICE_WORDS_LITTLE, 1.5, regs);
	assert_int_equal(regs[0], 0x0000);
	assert_int_equal(regs[1], 0x3fc0);
	/* Outside raw_range or not a number: a sensor fault, NaN. */
	device_raw_encode(DEVICE_F32, DEVICE_WORDS_BIG, 10.5, regs);
	assert_true(isnan(device_raw_to_kpa(ai, regs)));
	regs[0] = 0x7fc0;			/* a quiet NaN */
	regs[1] = 0;
	assert_true(isnan(device_raw_to_kpa(ai, regs)));
	free(d);
}

/* A watchdog counts only when it is fed by writes and its trip vents. */
static void
test_trust(void **state)
{
	static const struct {
		const char	*find, *with, *why;
	} cases[] = {
		{ "fed_by = writes", "fed_by = any", "any request feeds" },
		{ "on_trip = zero", "on_trip = hold", "keep their value" },
		{ "role = vent_valve\nactive = 0", "role = vent_valve\nactive = "
		  "1", "which closes [do vent] (it vents at 1)" },
		{ "map = 0 -> 0, 60 -> 32760\nraw_range = 0..32760\nsafe = 0",
		  "map = 0 -> 32760, 60 -> 0\nraw_range = 0..32760\nsafe = "
		  "32760", "0 on [ao ch0] is 60 kPa" },
	};
	struct device	*d;
	size_t		 i;
	char		*text;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = replace(GOOD, cases[i].find, cases[i].with);
		d = load_good(text);
		assert_int_equal(d->watchdog_trusted, 0);
		assert_int_equal(d->needs_interlock, 1);
		if (strstr(d->why, cases[i].why) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, cases[i].why,
			    d->why);
		free(d);
		free(text);
	}
	/* A device that vents on its own trip is fine with on_trip = safe
	 * whatever raw 0 means. */
	text = replace(GOOD, "on_trip = zero", "on_trip = safe");
	d = load_good(text);
	assert_int_equal(d->watchdog_trusted, 1);
	free(d);
	free(text);
}

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_device.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	return (mkdtemp(tmpdir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	char	 p[600];

	(void)state;
	snprintf(p, sizeof(p), "%s/dev.ini", tmpdir);
	unlink(p);
	return (rmdir(tmpdir));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_base1),
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_shipped_regmap),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_bad_base1),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_refused_values_not_repeated),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
