/*
 * fuzz_rules.c: libFuzzer target for the contraindication rules parser
 * (rules_load() in daemon/core/profile.c).
 *
 * The input is a contraindications.ini. Rules that load without an error
 * must each be usable (a reason, an effect, valid names and globs, a
 * scale in (0, 1]); then the shipped client profiles (config/profiles) are
 * loaded against them and the demo table, which looks every condition up
 * in the fuzzed rules.
 */
#include <fnmatch.h>

#include "fuzz_common.h"
#include "profile.h"

static struct table	*fuzz_rules_table;
static char		 fuzz_rules_path[PATH_MAX];
static char		 fuzz_rules_profiles[PATH_MAX];

static FUZZ_UNUSED void
fuzz_rules_init(void)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 path[PATH_MAX];

	fuzz_setup();
	if (fuzz_rules_table != NULL)
		return;
	if ((fuzz_rules_table = calloc(1, sizeof(*fuzz_rules_table))) == NULL)
		abort();
	fuzz_src_path(path, sizeof(path), "config/massaged.ini");
	if (table_load(fuzz_rules_table, path, &errs) != 0)
		fuzz_setup_failed(path, &errs);
	fuzz_src_path(fuzz_rules_profiles, sizeof(fuzz_rules_profiles),
	    "config/profiles");
	fuzz_tmp_path(fuzz_rules_path, sizeof(fuzz_rules_path),
	    "rules/contraindications.ini");
}

static void
fuzz_rules_invariants(const struct rules *r)
{
	const struct rule	*ru;
	int			 i, j;

	FUZZ_CHECK(r->n >= 1, "no rules loaded without an error");
	for (i = 0; i < r->n; i++) {
		ru = &r->rules[i];
		FUZZ_CHECK(inifile_name_ok(ru->name, NAME_LEN) &&
		    strcmp(ru->name, "none") != 0, "rule name '%s'", ru->name);
		FUZZ_CHECK(rules_find(r, ru->name) == ru, "rule %s twice",
		    ru->name);
		FUZZ_CHECK(ru->reason[0] != '\0', "rule %s without a reason",
		    ru->name);
		FUZZ_CHECK(ru->scale > 0 && ru->scale <= 1, "rule %s scale %g",
		    ru->name, ru->scale);
		FUZZ_CHECK(ru->refuse || ru->nforbid > 0 || ru->nexclude > 0 ||
		    ru->scale < 1, "rule %s has no effect", ru->name);
		FUZZ_CHECK(ru->nforbid >= 0 && ru->nforbid <= RULE_MAX_ITEMS &&
		    ru->nexclude >= 0 && ru->nexclude <= RULE_MAX_ITEMS,
		    "rule %s: %d forbidden, %d excluded", ru->name,
		    ru->nforbid, ru->nexclude);
		for (j = 0; j < ru->nforbid; j++)
			FUZZ_CHECK(inifile_name_ok(ru->forbid[j], NAME_LEN),
			    "rule %s forbids '%s'", ru->name, ru->forbid[j]);
		for (j = 0; j < ru->nexclude; j++) {
			FUZZ_CHECK(ru->exclude[j][0] != '\0' &&
			    strspn(ru->exclude[j], "abcdefghijklmnopqrstuvwxyz"
			    "0123456789_*?") == strlen(ru->exclude[j]),
			    "rule %s excludes '%s'", ru->name, ru->exclude[j]);
			/* safety.c matches zones with it. */
			(void)fnmatch(ru->exclude[j], "piriformis_left", 0);
		}
	}
}

static FUZZ_UNUSED int
fuzz_rules_one(const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	struct profile_set	 set;
	struct rules		 r;
	int			 n, i, j;

	if (fuzz_known_bug(data, size))
		return (0);
	fuzz_write(fuzz_rules_path, data, size);
	n = rules_load(&r, fuzz_rules_path, &errs);
	FUZZ_CHECK(n == errs.count, "rules_load returned %d for %d errors",
	    n, errs.count);
	fuzz_check_errors(&errs, fuzz_rules_path);
	if (n != 0) {
		FUZZ_CHECK(r.n == 0 && r.rules == NULL, "rules left behind "
		    "after %d errors", n);
		inifile_errors_free(&errs);
		return (0);
	}
	fuzz_rules_invariants(&r);
	inifile_errors_free(&errs);

	/* The shipped profiles against these rules. */
	errs.quiet = 1;
	n = profiles_load(&set, fuzz_rules_profiles, fuzz_rules_table, &r,
	    &errs);
	fuzz_check_errors(&errs, fuzz_rules_profiles);
	if (n == 0)
		for (i = 0; i < set.n; i++)
			for (j = 0; j < set.profiles[i]->nconditions; j++)
				FUZZ_CHECK(rules_find(&r,
				    set.profiles[i]->conditions[j]) != NULL,
				    "profile %s: unknown condition %s loaded",
				    set.profiles[i]->id,
				    set.profiles[i]->conditions[j]);
	else
		FUZZ_CHECK(set.n == 0 && set.profiles == NULL, "profiles left "
		    "behind after %d errors", n);
	profiles_free(&set);
	inifile_errors_free(&errs);
	rules_free(&r);
	return (0);
}

FUZZ_MAIN(rules)
