/*
 * test_profile.c: contraindication rules and client profiles
 * (daemon/core/profile.c): good files, every error with its exact message, and
 * the shipped config/ files.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "profile.h"

static char	 dir[256];		/* this test's temp dir */
static char	 pdir[512];		/* dir/profiles */
static char	 rpath[512];		/* dir/rules.ini */

#define RULES_OK							\
	"[anticoagulants]\n"						\
	"reason = Blood thinners.\n"					\
	"forbid_routines = deep_tissue, trigger_point\n"		\
	"scale = 0.6\n"							\
	"\n"								\
	"[varicose_veins]\n"						\
	"reason = Varicose veins.\n"					\
	"exclude_zones = hamstring_*, calf_*\n"				\
	"\n"								\
	"[dvt]\n"							\
	"reason = Clot.\n"						\
	"refuse = yes\n"

#define PROFILE_OK							\
	"[client]\n"							\
	"name = Anna\n"							\
	"conditions = anticoagulants, varicose_veins\n"			\
	"[limits]\n"							\
	"cap_kpa = 25\n"						\
	"ramp_kpa_s = 5\n"						\
	"max_session_min = 45\n"					\
	"intensity = 60\n"						\
	"[zone_caps]\n"							\
	"piriformis_* = 20\n"						\
	"calf_left = 12.5\n"

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;

	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void
write_profile(const char *id, const char *text)
{
	char	 path[1024];

	snprintf(path, sizeof(path), "%s/%s", pdir, id);
	write_file(path, text);
}

/* Asserts the whole error text, one "...\n" per error, with formatting. */
static void assert_errs(const struct inifile_errors *, const char *, ...)
    LOG_PRINTF(2, 3);
static void
assert_errs(const struct inifile_errors *e, const char *fmt, ...)
{
	char	 want[8192];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	assert_string_equal(e->text != NULL ? e->text : "", want);
}

/* A small table: limits 30 and 35, an endangerment site at 15. */
static void
small_table(struct table *t)
{
	static const struct {
		const char	*name;
		double		 limit;
		int		 endangerment;
	} z[] = {
		{ "lumbar_left", 30, 0 },
		{ "piriformis_left", 35, 0 },
		{ "piriformis_right", 30, 0 },
		{ "sciatic_notch_left", 15, 1 },
		{ "hamstring_upper_left", 35, 0 },
		{ "calf_left", 35, 0 },
	};
	size_t	 i;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "table.ini");
	t->nctls = 1;
	snprintf(t->ctls[0].name, NAME_LEN, "pelvis");
	for (i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		snprintf(t->zones[i].name, NAME_LEN, "%s", z[i].name);
		t->zones[i].limit_kpa = z[i].limit;
		t->zones[i].endangerment = z[i].endangerment;
		t->zones[i].channel = (int)i;
	}
	t->nzones = (int)i;
	t->safety.endangerment_cap_kpa = 8;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_profile.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return (-1);
	snprintf(pdir, sizeof(pdir), "%s/profiles", dir);
	snprintf(rpath, sizeof(rpath), "%s/rules.ini", dir);
	if (mkdir(pdir, 0700) == -1)
		return (-1);
	(void)state;
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	return (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS));
}

/* Loads rules text; returns the error count. */
static int
load_rules(const char *text, struct rules *r, struct inifile_errors *e)
{
	memset(e, 0, sizeof(*e));
	e->quiet = 1;
	write_file(rpath, text);
	return (rules_load(r, rpath, e));
}

/* Loads the good rules, then the profiles in pdir. */
static int
load_profiles(struct profile_set *set, struct rules *r, struct table *t,
    struct inifile_errors *e)
{
	small_table(t);
	assert_int_equal(load_rules(RULES_OK, r, e), 0);
	return (profiles_load(set, pdir, t, r, e));
}

/* --- rules --------------------------------------------------------------- */

static void
test_rules_good(void **state)
{
	struct rules		 r;
	struct inifile_errors	 e;
	const struct rule	*ru;

	assert_int_equal(load_rules(RULES_OK, &r, &e), 0);
	assert_null(e.text);
	assert_int_equal(r.n, 3);

	ru = rules_find(&r, "anticoagulants");
	assert_non_null(ru);
	assert_string_equal(ru->reason, "Blood thinners.");
	assert_int_equal(ru->line, 1);
	assert_int_equal(ru->refuse, 0);
	assert_int_equal(ru->nforbid, 2);
	assert_string_equal(ru->forbid[0], "deep_tissue");
	assert_string_equal(ru->forbid[1], "trigger_point");
	assert_int_equal(ru->nexclude, 0);
	assert_true(ru->scale == 0.6);

	ru = rules_find(&r, "varicose_veins");
	assert_non_null(ru);
	assert_int_equal(ru->line, 6);
	assert_int_equal(ru->nexclude, 2);
	assert_string_equal(ru->exclude[0], "hamstring_*");
	assert_string_equal(ru->exclude[1], "calf_*");
	assert_true(ru->scale == 1.0);	/* default: no scaling */

	ru = rules_find(&r, "dvt");
	assert_non_null(ru);
	assert_int_equal(ru->refuse, 1);

	assert_null(rules_find(&r, "pregnancy"));
	assert_null(rules_find(&r, "none"));
	rules_free(&r);
	assert_null(r.rules);
	assert_int_equal(r.n, 0);
	rules_free(&r);		/* twice is harmless */
	(void)state;
}

static void
test_rules_errors(void **state)
{
	struct rules		 r;
	struct inifile_errors	 e;
	int			 n;

	n = load_rules(
	    "[no_reason]\n"					/* 1 */
	    "scale = 0.5\n"
	    "[no_effect]\n"					/* 3 */
	    "reason = Does nothing.\n"
	    "refuse = no\n"
	    "scale = 1\n"
	    "[bad_values]\n"					/* 7 */
	    "reason = Bad values.\n"
	    "refuse = maybe\n"
	    "scale = 0\n"
	    "scale2 = 0.5\n"
	    "forbid_routines = deep_tissue, Deep-Tissue, , deep_tissue\n"
	    "exclude_zones = calf_[lr]\n"
	    "[Bad Name]\n"					/* 14 */
	    "reason = x\n"
	    "[none]\n"						/* 16 */
	    "reason = x\n"
	    "[no_reason]\n"					/* 18 */
	    "reason = again\n"
	    "[too_big]\n"					/* 20 */
	    "reason = x\n"
	    "scale = 1.5\n"
	    "[nan]\n"						/* 23 */
	    "reason = x\n"
	    "scale = nan\n",
	    &r, &e);
	assert_errs(&e,
	    "%1$s:9: [bad_values] refuse: not valid (expected yes "
	    "or no)\n"
	    "%1$s:10: [bad_values] scale: not valid (expected a decimal number "
	    "above 0 and at most 1)\n"
	    "%1$s:11: [bad_values] scale2: unknown key (expected reason, "
	    "refuse, forbid_routines, exclude_zones or scale)\n"
	    "%1$s:12: [bad_values] forbid_routines: item 2 is not a "
	    "valid name (expected [a-z0-9_]+, at most 47 characters)\n"
	    "%1$s:12: [bad_values] forbid_routines: empty item in the list "
	    "(expected items separated by commas)\n"
	    "%1$s:12: [bad_values] forbid_routines: 'deep_tissue' is listed "
	    "twice\n"
	    "%1$s:13: [bad_values] exclude_zones: item 1 is not a valid "
	    "zone glob (expected a-z, 0-9, _ and the wildcards * and ?, such "
	    "as hamstring_*)\n"
	    "%1$s:14: [Bad Name] 'Bad Name' is not a valid condition name "
	    "(expected [a-z0-9_]+, such as varicose_veins)\n"
	    "%1$s:16: [none] 'none' is reserved (profiles use it to say the "
	    "client has no conditions)\n"
	    "%1$s:18: [no_reason] condition defined twice (first at line 1)\n"
	    "%1$s:22: [too_big] scale: not valid (expected a decimal number "
	    "above 0 and at most 1)\n"
	    "%1$s:25: [nan] scale: not valid (expected a decimal number "
	    "above 0 and at most 1)\n"
	    "%1$s:1: [no_reason] reason: missing (expected a sentence a person "
	    "can read saying why)\n"
	    "%1$s:3: [no_effect] rule has no effect (expected refuse = yes, "
	    "forbid_routines, exclude_zones or a scale below 1)\n"
	    "%1$s:7: [bad_values] rule has no effect (expected refuse = yes, "
	    "forbid_routines, exclude_zones or a scale below 1)\n"
	    "%1$s:20: [too_big] rule has no effect (expected refuse = yes, "
	    "forbid_routines, exclude_zones or a scale below 1)\n"
	    "%1$s:23: [nan] rule has no effect (expected refuse = yes, "
	    "forbid_routines, exclude_zones or a scale below 1)\n", rpath);
	assert_int_equal(n, 17);
	assert_int_equal(e.count, 17);
	/* A load with errors leaves nothing to use. */
	assert_int_equal(r.n, 0);
	assert_null(r.rules);
	inifile_errors_free(&e);
	(void)state;
}

static void
test_rules_lists(void **state)
{
	struct rules		 r;
	struct inifile_errors	 e;
	char			 text[1024];

	/* RULE_MAX_ITEMS items are fine, one more is not. */
	snprintf(text, sizeof(text), "[many]\nreason = x\nexclude_zones = "
	    "a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, "
	    "a16\n");
	assert_int_equal(load_rules(text, &r, &e), 0);
	assert_int_equal(r.rules[0].nexclude, RULE_MAX_ITEMS);
	assert_string_equal(r.rules[0].exclude[15], "a16");
	rules_free(&r);

	snprintf(text, sizeof(text), "[many]\nreason = x\nexclude_zones = "
	    "a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, "
	    "a16, a17\n");
	assert_int_equal(load_rules(text, &r, &e), 2);
	assert_errs(&e,
	    "%1$s:3: [many] exclude_zones: too many items (at most 16)\n"
	    "%1$s:1: [many] rule has no effect (expected refuse = yes, "
	    "forbid_routines, exclude_zones or a scale below 1)\n", rpath);
	inifile_errors_free(&e);

	/* Spaces around items do not matter; globs keep their wildcards. */
	assert_int_equal(load_rules("[w]\nreason = x\nexclude_zones = "
	    "  calf_? ,*_left\n", &r, &e), 0);
	assert_string_equal(r.rules[0].exclude[0], "calf_?");
	assert_string_equal(r.rules[0].exclude[1], "*_left");
	rules_free(&r);
	(void)state;
}

static void
test_rules_empty_and_missing(void **state)
{
	struct rules		 r;
	struct inifile_errors	 e;

	assert_int_equal(load_rules("; nothing\n", &r, &e), 1);
	assert_errs(&e, "%s:1: no rules (expected one [CONDITION] section per "
	    "condition)\n", rpath);
	inifile_errors_free(&e);

	memset(&e, 0, sizeof(e));
	e.quiet = 1;
	assert_int_equal(rules_load(&r, "/nonexistent/rules.ini", &e), 1);
	assert_errs(&e, "/nonexistent/rules.ini: cannot open: No such file or "
	    "directory\n");
	assert_int_equal(r.n, 0);
	inifile_errors_free(&e);
	(void)state;
}

/* --- profiles ------------------------------------------------------------ */

static void
test_profiles_good(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;
	const struct profile	*p;

	write_profile("zed.ini", PROFILE_OK);
	write_profile("healthy.ini", "[client]\nname = Bo\nconditions = none\n"
	    "[limits]\ncap_kpa = 35\nramp_kpa_s = 8\nmax_session_min = 60\n"
	    "intensity = 100\n");
	write_profile("notes.txt", "not a profile\n");
	write_profile(".hidden.ini", "[junk\n");
	assert_int_equal(load_profiles(&set, &r, &t, &e), 0);
	assert_null(e.text);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.profiles[0]->id, "healthy");	/* sorted */
	assert_string_equal(set.profiles[1]->id, "zed");

	p = profiles_find(&set, "zed");
	assert_non_null(p);
	assert_string_equal(p->name, "Anna");
	assert_true(p->cap_kpa == 25);
	assert_true(p->ramp_kpa_s == 5);
	assert_true(p->max_session_min == 45);
	assert_int_equal(p->intensity_pct, 60);
	assert_int_equal(p->nconditions, 2);
	assert_string_equal(p->conditions[0], "anticoagulants");
	assert_string_equal(p->conditions[1], "varicose_veins");
	assert_int_equal(p->ncaps, 2);
	assert_string_equal(p->caps[0].glob, "piriformis_*");
	assert_true(p->caps[0].cap_kpa == 20);
	assert_int_equal(p->caps[0].line, 10);
	assert_string_equal(p->caps[1].glob, "calf_left");
	assert_true(p->caps[1].cap_kpa == 12.5);
	assert_non_null(strstr(p->path, "/profiles/zed.ini"));

	p = profiles_find(&set, "healthy");
	assert_non_null(p);
	assert_int_equal(p->nconditions, 0);
	assert_int_equal(p->ncaps, 0);
	/* cap_kpa may reach the highest zone limit (35), and a zone cap may
	 * reach its zone's limit. */
	assert_true(p->cap_kpa == 35);

	assert_null(profiles_find(&set, "nobody"));
	assert_null(profiles_find(&set, "zed.ini"));
	profiles_free(&set);
	assert_int_equal(set.n, 0);
	rules_free(&r);
	(void)state;
}

static void
test_profile_unknown_condition(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini", "[client]\nname = A\n"
	    "conditions = anticoagulants, diabetes, none\n"
	    "[limits]\ncap_kpa = 25\nramp_kpa_s = 5\nmax_session_min = 45\n"
	    "intensity = 60\n");
	assert_int_equal(load_profiles(&set, &r, &t, &e), 2);
	assert_errs(&e,
	    "%1$s/a.ini:3: [client] conditions: unknown condition 'diabetes' "
	    "(known in %2$s: anticoagulants, varicose_veins, dvt)\n"
	    "%1$s/a.ini:3: [client] conditions: 'none' cannot be listed with "
	    "other conditions\n", pdir, rpath);
	assert_int_equal(set.n, 0);
	assert_null(set.profiles);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

static void
test_profile_caps_vs_hardware(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini", "[client]\nname = A\nconditions = none\n"
	    "[limits]\n"
	    "cap_kpa = 35.5\n"				/* 5 */
	    "ramp_kpa_s = 5\nmax_session_min = 45\nintensity = 60\n"
	    "[zone_caps]\n"
	    "piriformis_* = 31\n"			/* 10: right is 30 */
	    "piriformis_left = 35\n"			/* 11: fine */
	    "*notch* = 15.5\n"			/* 12: the notch is 15 */
	    "gluteus_* = 10\n"				/* 13 */
	    "Piriformis = 10\n"				/* 14 */
	    "calf_left = 40000\n"			/* 15 */
	    "lumbar_left = -1\n");			/* 16 */
	assert_int_equal(load_profiles(&set, &r, &t, &e), 7);
	assert_errs(&e,
	    "%1$s/a.ini:5: [limits] cap_kpa: 35.5 kPa is above the hardware "
	    "limit of every zone (the highest is 35 kPa, zone piriformis_left "
	    "in table.ini)\n"
	    "%1$s/a.ini:10: [zone_caps] piriformis_*: 31 kPa is above the "
	    "hardware limit of zone piriformis_right (30 kPa)\n"
	    "%1$s/a.ini:12: [zone_caps] *notch*: 15.5 kPa is above the "
	    "hardware limit of zone sciatic_notch_left (15 kPa)\n"
	    "%1$s/a.ini:13: [zone_caps] gluteus_*: matches no zone of the "
	    "table (table.ini)\n"
	    "%1$s/a.ini:14: [zone_caps] Piriformis: not a valid zone name or "
	    "glob (expected a-z, 0-9, _ and the wildcards * and ?, such as "
	    "piriformis_*)\n"
	    "%1$s/a.ini:15: [zone_caps] calf_left: not valid "
	    "(expected a decimal number from 0 to 6553.5 kPa)\n"
	    "%1$s/a.ini:16: [zone_caps] lumbar_left: not valid "
	    "(expected a decimal number from 0 to 6553.5 kPa)\n", pdir);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

/* A zone cap above cap_kpa could never apply: an error at its line. */
static void
test_profile_zone_cap_above_cap(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini", "[client]\nname = A\nconditions = none\n"
	    "[zone_caps]\n"
	    "piriformis_* = 22\n"			/* 5 */
	    "lumbar_left = 20\n"			/* 6: equal is fine */
	    "[limits]\n"
	    "cap_kpa = 20\n"
	    "ramp_kpa_s = 5\nmax_session_min = 45\nintensity = 60\n");
	assert_int_equal(load_profiles(&set, &r, &t, &e), 1);
	assert_errs(&e,
	    "%1$s/a.ini:5: [zone_caps] piriformis_*: 22 kPa is above the "
	    "profile's cap_kpa (20 kPa), which applies to every zone "
	    "(expected at most 20)\n", pdir);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

/* Conditions and zone caps that leave no zone to press: no session could
 * ever start, so the profile is an error, not a surprise at the table. */
static void
test_profile_no_zone_left(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;
	static const char	*limits = "[limits]\ncap_kpa = 20\n"
	    "ramp_kpa_s = 5\nmax_session_min = 45\nintensity = 60\n";
	char			 text[1024];

	/* varicose_veins excludes hamstring_* and calf_*; the caps close
	 * the rest. */
	snprintf(text, sizeof(text), "[client]\nname = A\n"
	    "conditions = varicose_veins\n%s[zone_caps]\n"
	    "lumbar_left = 0\npiriformis_* = 0\nsciatic_notch_left = 0\n",
	    limits);
	write_profile("a.ini", text);
	assert_int_equal(load_profiles(&set, &r, &t, &e), 1);
	assert_errs(&e,
	    "%1$s/a.ini:3: [client] conditions: with these conditions and "
	    "zone caps no zone of table.ini is left to press (every one is "
	    "excluded or capped at 0 kPa): no session could start\n", pdir);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&e);
	rules_free(&r);

	/* One zone left open is enough. */
	snprintf(text, sizeof(text), "[client]\nname = A\n"
	    "conditions = varicose_veins\n%s[zone_caps]\n"
	    "lumbar_left = 0\npiriformis_* = 0\n", limits);
	write_profile("a.ini", text);
	assert_int_equal(load_profiles(&set, &r, &t, &e), 0);
	assert_int_equal(set.n, 1);
	profiles_free(&set);
	rules_free(&r);
	(void)state;
}

/*
 * What the parsers used to let through: hex numbers and hex floats, inf
 * and nan, a NUL byte, invalid UTF-8 in a name; and a line that is not
 * INI is reported by number, never echoed (it may be a secret).
 */
static void
test_profile_hostile_input(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;
	static const char	 text[] =
	    "[client]\n"
	    "name = An\xffna\n"			/* 2 */
	    "conditions = none\n"
	    "[limits]\n"
	    "cap_kpa = 0x19\n"				/* 5 */
	    "ramp_kpa_s = 0x1p2\n"			/* 6 */
	    "max_session_min = inf\n"			/* 7 */
	    "intensity = 6\0\n"			/* 8 */
	    "root:$6$saltsalt$secrethash:19000:0:99999:7:::\n" /* 9 */
	    "[zone_caps]\n"
	    "calf_left = \xc0\xaf\n"			/* 11: overlong '/' */
	    "lumbar_left = 1e1\n";			/* 12: fine */

	{
		char	 path[1024];
		FILE	*fp;

		snprintf(path, sizeof(path), "%s/a.ini", pdir);
		assert_non_null(fp = fopen(path, "w"));
		assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp),
		    sizeof(text) - 1);
		assert_int_equal(fclose(fp), 0);
	}
	assert_int_equal(load_profiles(&set, &r, &t, &e), 9);
	assert_errs(&e,
	    "%1$s/a.ini:2: [client] not valid UTF-8 (at byte 10 of the line)\n"
	    "%1$s/a.ini:5: [limits] cap_kpa: not valid (expected a "
	    "decimal number from 1 to 6553.5 kPa)\n"
	    "%1$s/a.ini:6: [limits] ramp_kpa_s: not valid (expected "
	    "a decimal number from 0.5 to 50 kPa/s)\n"
	    "%1$s/a.ini:7: [limits] max_session_min: not valid "
	    "(expected a decimal number from 1 to 180 minutes)\n"
	    "%1$s/a.ini:8: [limits] contains a NUL byte (at column 14)\n"
	    "%1$s/a.ini:9: [limits] syntax error: not a 'key = value' line or "
	    "a '[section]' header\n"
	    "%1$s/a.ini:11: [zone_caps] not valid UTF-8 (at byte 13 of the "
	    "line)\n"
	    "%1$s/a.ini:1: [client] name: missing (expected the client's "
	    "name)\n"
	    "%1$s/a.ini:4: [limits] intensity: missing (expected the default "
	    "intensity, percent 10..100)\n", pdir);
	assert_null(strstr(e.text, "secret"));
	assert_null(strstr(e.text, "root"));
	assert_int_equal(set.n, 0);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

/* Issue 24, case 9: a name or note that ends or reorders a line on a
 * screen (U+2028, U+0085, U+202E) is refused, with file:line. */
static void
test_profile_one_line(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini",
	    "[client]\n"
	    "name = Anna\xe2\x80\xa8" "Berg\n"		/* 2: U+2028 */
	    "conditions = none\n"
	    "note = next\xc2\x85line\n"			/* 4: U+0085 */
	    "[limits]\n"
	    "cap_kpa = 20\nramp_kpa_s = 5\nmax_session_min = 45\n"
	    "intensity = 60\n");
	write_profile("b.ini",
	    "[client]\n"
	    "name = Anna \xe2\x80\xae" "greB\n"		/* 2: U+202E */
	    "conditions = none\n"
	    "note = Zo\xc3\xab is fine\n"
	    "[limits]\n"
	    "cap_kpa = 20\nramp_kpa_s = 5\nmax_session_min = 45\n"
	    "intensity = 60\n");
	assert_int_equal(load_profiles(&set, &r, &t, &e), 3);
	assert_errs(&e,
	    "%1$s/a.ini:2: [client] name: expected one line of text without "
	    "control characters, line or paragraph separators or "
	    "bidirectional controls\n"
	    "%1$s/a.ini:4: [client] note: expected one line of text without "
	    "control characters, line or paragraph separators or "
	    "bidirectional controls\n"
	    "%1$s/b.ini:2: [client] name: expected one line of text without "
	    "control characters, line or paragraph separators or "
	    "bidirectional controls\n", pdir);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

static void
test_profile_missing(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini", "[client]\n; nothing\n[limits]\n");
	write_profile("b.ini", "; no sections at all\n");
	write_profile("c.ini", "[limits]\ncap_kpa = 20\n"
	    "[client]\nname = C\nconditions = none\n");
	assert_int_equal(load_profiles(&set, &r, &t, &e), 11);
	assert_errs(&e,
	    "%1$s/a.ini:1: [client] name: missing (expected the client's "
	    "name)\n"
	    "%1$s/a.ini:1: [client] conditions: missing (expected the "
	    "client's conditions, or none)\n"
	    "%1$s/a.ini:3: [limits] cap_kpa: missing (expected the pressure "
	    "cap of every zone in kPa)\n"
	    "%1$s/a.ini:3: [limits] ramp_kpa_s: missing (expected the fastest "
	    "pressure change in kPa/s)\n"
	    "%1$s/a.ini:3: [limits] max_session_min: missing (expected the "
	    "longest session in minutes)\n"
	    "%1$s/a.ini:3: [limits] intensity: missing (expected the default "
	    "intensity, percent 10..100)\n"
	    "%1$s/b.ini:1: no [client] section (expected name and "
	    "conditions)\n"
	    "%1$s/b.ini:1: no [limits] section (expected cap_kpa, ramp_kpa_s, "
	    "max_session_min and intensity)\n"
	    "%1$s/c.ini:1: [limits] ramp_kpa_s: missing (expected the fastest "
	    "pressure change in kPa/s)\n"
	    "%1$s/c.ini:1: [limits] max_session_min: missing (expected the "
	    "longest session in minutes)\n"
	    "%1$s/c.ini:1: [limits] intensity: missing (expected the default "
	    "intensity, percent 10..100)\n", pdir);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

static void
test_profile_bad_values(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;

	write_profile("a.ini",
	    "[client]\n"
	    "name = A\n"
	    "age = 40\n"				/* 3 */
	    "conditions = none\n"
	    "[limits]\n"
	    "cap_kpa = 0.5\n"				/* 6 */
	    "ramp_kpa_s = 0\n"				/* 7 */
	    "max_session_min = 181\n"			/* 8 */
	    "intensity = 9\n"				/* 9 */
	    "intensity = 50\n"				/* 10 */
	    "speed = 3\n"				/* 11 */
	    "[limits]\n"				/* 12 */
	    "cap_kpa = 20\n"
	    "[extras]\n"				/* 14 */
	    "x = 1\n"
	    "[zone_caps]\n"
	    "calf_left = 10 kPa\n"			/* 17 */
	    "calf_left = 10\n"				/* 18 */
	    "cap_kpa 20\n");				/* 19 */
	assert_int_equal(load_profiles(&set, &r, &t, &e), 12);
	assert_errs(&e,
	    "%1$s/a.ini:3: [client] age: unknown key (expected name, "
	    "conditions, revision, pressure, ramp or note)\n"
	    "%1$s/a.ini:6: [limits] cap_kpa: not valid (expected a "
	    "decimal number from 1 to 6553.5 kPa)\n"
	    "%1$s/a.ini:7: [limits] ramp_kpa_s: not valid (expected a "
	    "decimal number from 0.5 to 50 kPa/s)\n"
	    "%1$s/a.ini:8: [limits] max_session_min: not valid "
	    "(expected a decimal number from 1 to 180 minutes)\n"
	    "%1$s/a.ini:9: [limits] intensity: not valid (expected a "
	    "whole number from 10 to 100)\n"
	    "%1$s/a.ini:10: [limits] intensity: given twice in this section\n"
	    "%1$s/a.ini:11: [limits] speed: unknown key (expected cap_kpa, "
	    "ramp_kpa_s, max_session_min or intensity)\n"
	    "%1$s/a.ini:12: [limits] section given twice (first at line 5)\n"
	    "%1$s/a.ini:14: [extras] unknown section (expected [client], "
	    "[limits] or [zone_caps])\n"
	    "%1$s/a.ini:17: [zone_caps] calf_left: not valid "
	    "(expected a decimal number from 0 to 6553.5 kPa)\n"
	    "%1$s/a.ini:18: [zone_caps] calf_left: given twice in this "
	    "section\n"
	    "%1$s/a.ini:19: [zone_caps] syntax error: not a 'key = value' "
	    "line or a '[section]' header\n", pdir);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

static void
test_profiles_dir(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;
	char			 missing[512];

	/* An empty directory: a daemon with no profile cannot start one. */
	assert_int_equal(load_profiles(&set, &r, &t, &e), 1);
	assert_errs(&e, "%s: no profiles (expected one ID.ini file per "
	    "client)\n", pdir);
	inifile_errors_free(&e);
	rules_free(&r);

	/* A file name that is not a valid id; a good file is still read. */
	write_profile("Bad-Name.ini", PROFILE_OK);
	write_profile("good.ini", PROFILE_OK);
	assert_int_equal(load_profiles(&set, &r, &t, &e), 1);
	assert_errs(&e, "%s/Bad-Name.ini: file name is not a valid profile id "
	    "(expected [a-z0-9_]+.ini, at most 47 characters before .ini)\n",
	    pdir);
	assert_int_equal(set.n, 0);	/* one bad file fails the load */
	inifile_errors_free(&e);
	rules_free(&r);

	snprintf(missing, sizeof(missing), "%s/nope", dir);
	small_table(&t);
	assert_int_equal(load_rules(RULES_OK, &r, &e), 0);
	assert_int_equal(profiles_load(&set, missing, &t, &r, &e), 1);
	assert_errs(&e, "%s: cannot read profiles: No such file or "
	    "directory\n", missing);
	inifile_errors_free(&e);
	rules_free(&r);
	(void)state;
}

/* --- the shipped files --------------------------------------------------- */

/* The keys the intake writes, and a second, writable directory. */
static void
test_profiles_add_dir(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		 t;
	struct inifile_errors	 e;
	const struct profile	*p;
	char			 wdir[600], path[700], missing[600];

	write_profile("standard.ini", PROFILE_OK);
	assert_int_equal(load_profiles(&set, &r, &t, &e), 0);
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_int_equal(profiles_add_dir(&set, missing, &t, &r, &e), 0);
	assert_int_equal(set.n, 1);

	snprintf(wdir, sizeof(wdir), "%s/state", dir);
	assert_int_equal(mkdir(wdir, 0700), 0);
	assert_int_equal(profiles_add_dir(&set, wdir, &t, &r, &e), 0);
	assert_int_equal(set.n, 1);	/* empty: nothing, no error */
	snprintf(path, sizeof(path), "%s/client_0a.ini", wdir);
	write_file(path, "[client]\nname = Bea\nconditions = none\n"
	    "revision = 3\npressure = light\nramp = gentle\n"
	    "note = left side first # a hash is text\n"
	    "[limits]\ncap_kpa = 18\nramp_kpa_s = 3\n"
	    "max_session_min = 60\nintensity = 70\n");
	assert_int_equal(profiles_add_dir(&set, wdir, &t, &r, &e), 0);
	assert_null(e.text);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.profiles[0]->id, "client_0a");	/* sorted */
	p = profiles_find(&set, "client_0a");
	assert_int_equal(p->writable, 1);
	assert_int_equal(p->revision, 3);
	assert_string_equal(p->pressure, "light");
	assert_string_equal(p->ramp, "gentle");
	assert_string_equal(p->note, "left side first # a hash is text");
	assert_int_equal(profiles_find(&set, "standard")->writable, 0);
	assert_int_equal(profiles_find(&set, "standard")->revision, 0);

	/* The same id in both directories is an error. */
	snprintf(path, sizeof(path), "%s/standard.ini", wdir);
	write_file(path, PROFILE_OK);
	profiles_free(&set);
	assert_int_equal(profiles_load(&set, pdir, &t, &r, &e), 0);
	assert_int_equal(profiles_add_dir(&set, wdir, &t, &r, &e), 1);
	assert_errs(&e, "%s: profile id standard is also %s/standard.ini "
	    "(expected each id once)\n", path, pdir);
	inifile_errors_free(&e);
	assert_int_equal(set.n, 1);	/* nothing added */
	assert_int_equal(unlink(path), 0);

	/* Bad intake keys, each with its line. */
	snprintf(path, sizeof(path), "%s/client_0a.ini", wdir);
	write_file(path, "[client]\nname = Bea\nconditions = none\n"
	    "revision = 0\npressure = Light\nmood = calm\n"
	    "[limits]\ncap_kpa = 18\nramp_kpa_s = 3\n"
	    "max_session_min = 60\nintensity = 70\n");
	profiles_free(&set);
	memset(&set, 0, sizeof(set));
	assert_int_equal(profiles_add_dir(&set, wdir, &t, &r, &e), 3);
	assert_errs(&e, "%s:4: [client] revision: not valid (expected a "
	    "whole number from 1 to 1000000000)\n"
	    "%s:5: [client] pressure: 'Light' is not a valid name (expected "
	    "[a-z0-9_]+)\n"
	    "%s:6: [client] mood: unknown key (expected name, conditions, "
	    "revision, pressure, ramp or note)\n", path, path, path);
	inifile_errors_free(&e);
	profiles_free(&set);
	rules_free(&r);
	(void)state;
}

/* Put, drop and the page start: binary search over pointers, the
 * writable ones counted. */
static void
test_profiles_put_drop(void **state)
{
	struct profile_set	 set = { 0 };
	struct profile		 p;
	const struct profile	*q;
	char			 id[NAME_LEN];
	int			 i;

	memset(&p, 0, sizeof(p));
	for (i = 9; i >= 0; i--) {	/* out of order: put sorts */
		snprintf(p.id, sizeof(p.id), "c%02d", i * 2);
		snprintf(p.name, sizeof(p.name), "Client %d", i);
		p.writable = i % 2;
		assert_non_null(profiles_put(&set, &p));
	}
	assert_int_equal(set.n, 10);
	assert_int_equal(set.nwritable, 5);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "c%02d", i * 2);
		assert_string_equal(set.profiles[i]->id, id);
		assert_ptr_equal(profiles_find(&set, id), set.profiles[i]);
	}
	assert_null(profiles_find(&set, "c01"));
	assert_null(profiles_find(&set, ""));
	assert_int_equal(profiles_after(&set, ""), 0);
	assert_int_equal(profiles_after(&set, "c00"), 1);
	assert_int_equal(profiles_after(&set, "c01"), 1);	/* gone */
	assert_int_equal(profiles_after(&set, "c18"), 10);
	assert_int_equal(profiles_after(&set, "zz"), 10);

	/* A put of an id there replaces it in place. */
	q = profiles_find(&set, "c04");
	snprintf(p.id, sizeof(p.id), "c04");
	snprintf(p.name, sizeof(p.name), "Renamed");
	p.writable = 1;			/* was 0 */
	assert_ptr_equal(profiles_put(&set, &p), q);
	assert_string_equal(q->name, "Renamed");
	assert_int_equal(set.n, 10);
	assert_int_equal(set.nwritable, 6);

	assert_int_equal(profiles_drop(&set, "c04"), 0);
	assert_int_equal(profiles_drop(&set, "c04"), -1);
	assert_int_equal(set.n, 9);
	assert_int_equal(set.nwritable, 5);
	assert_null(profiles_find(&set, "c04"));
	assert_string_equal(set.profiles[2]->id, "c06");
	profiles_free(&set);
	assert_int_equal(set.n, 0);
	assert_null(set.profiles);
	(void)state;
}

static void
srcpath(char *dst, size_t len, const char *rel)
{
	const char	*src = getenv("MASSAGED_SRCDIR");

	snprintf(dst, len, "%s/%s", src != NULL ? src : ".", rel);
}

static void
test_shipped(void **state)
{
	struct profile_set	 set;
	struct rules		 r;
	struct table		*t;
	struct inifile_errors	 e;
	char			 path[PATH_MAX];
	const struct profile	*p;
	const struct rule	*ru;
	static const char *const must[] = {
		"dvt", "fever", "acute_infection", "cancer_without_clearance",
		"anticoagulants", "varicose_veins", "pregnancy",
		"osteoporosis", "neuropathy", "pain_medication",
		"recent_surgery", "skin_lesions", "hip_replacement"
	};
	size_t			 i;

	memset(&e, 0, sizeof(e));
	e.quiet = 1;
	srcpath(path, sizeof(path), "config/contraindications.ini");
	if (access(path, R_OK) == -1)
		fail_msg("%s: %s (run from the source tree, or set "
		    "MASSAGED_SRCDIR)", path, strerror(errno));
	assert_int_equal(rules_load(&r, path, &e), 0);
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		ru = rules_find(&r, must[i]);
		if (ru == NULL)
			fail_msg("no rule for %s", must[i]);
		assert_true(strlen(ru->reason) > 40);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(rules_find(&r, must[i])->refuse, 1);
	ru = rules_find(&r, "anticoagulants");
	assert_true(ru->scale == 0.6);
	assert_int_equal(ru->nforbid, 2);

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	srcpath(path, sizeof(path), "config/massaged.ini");
	assert_int_equal(table_load(t, path, &e), 0);
	assert_int_equal(profiles_load(&set, t->profile_dir, t, &r, &e), 0);
	assert_null(e.text);
	assert_true(set.n >= 6);
	for (i = 0; i < (size_t)set.n; i++) {
		p = set.profiles[i];
		assert_true(p->cap_kpa <= 30);
		assert_true(p->ramp_kpa_s >= 5 && p->ramp_kpa_s <= 8);
	}
	assert_non_null(profiles_find(&set, "standard"));
	assert_non_null(profiles_find(&set, "refused_dvt"));
	profiles_free(&set);
	rules_free(&r);
	free(t);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rules_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rules_lists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rules_empty_and_missing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profiles_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_profile_unknown_condition,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_caps_vs_hardware,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_one_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_profile_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_profile_zone_cap_above_cap,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_no_zone_left,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_hostile_input,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_bad_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_profiles_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_profiles_add_dir, setup,
		    teardown),
		cmocka_unit_test(test_profiles_put_drop),
		cmocka_unit_test(test_shipped),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
