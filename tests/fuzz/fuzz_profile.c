/*
 * fuzz_profile.c: libFuzzer target for the client profile parser
 * (profiles_load() in daemon/core/profile.c).
 *
 * The input is one profile, profiles/client.ini, loaded against the demo
 * table (config/massaged.ini) and the shipped rules
 * (config/contraindications.ini). A profile that loads without an error
 * must never allow more than the table's hardware limits, and only name
 * conditions the rules know: that is checked too.
 */
#include <fnmatch.h>

#include "fuzz_common.h"
#include "profile.h"

static struct table	*fuzz_profile_table;
static struct rules	 fuzz_profile_rules;
static char		 fuzz_profile_dir[PATH_MAX];
static char		 fuzz_profile_path[PATH_MAX];

static FUZZ_UNUSED void
fuzz_profile_init(void)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 path[PATH_MAX];

	fuzz_setup();
	if (fuzz_profile_table != NULL)
		return;
	if ((fuzz_profile_table = calloc(1, sizeof(*fuzz_profile_table))) ==
	    NULL)
		abort();
	fuzz_src_path(path, sizeof(path), "config/massaged.ini");
	if (table_load(fuzz_profile_table, path, &errs) != 0)
		fuzz_setup_failed(path, &errs);
	fuzz_src_path(path, sizeof(path), "config/contraindications.ini");
	if (rules_load(&fuzz_profile_rules, path, &errs) != 0)
		fuzz_setup_failed(path, &errs);
	fuzz_tmp_path(fuzz_profile_path, sizeof(fuzz_profile_path),
	    "profiles/client.ini");
	snprintf(fuzz_profile_dir, sizeof(fuzz_profile_dir), "%s/profiles",
	    fuzz_tmp);
}

static void
fuzz_profile_invariants(const struct profile *p, const struct table *t,
    const struct rules *r)
{
	double	 hi = 0;
	int	 i, z, matched;

	for (z = 0; z < t->nzones; z++)
		if (t->zones[z].limit_kpa > hi)
			hi = t->zones[z].limit_kpa;
	FUZZ_CHECK(strcmp(p->id, "client") == 0, "id '%s'", p->id);
	FUZZ_CHECK(p->name[0] != '\0', "no name");
	FUZZ_CHECK(p->cap_kpa >= 1 && p->cap_kpa <= hi, "cap %g kPa (highest "
	    "zone limit %g)", p->cap_kpa, hi);
	FUZZ_CHECK(p->ramp_kpa_s >= 0.5 && p->ramp_kpa_s <= 50, "ramp %g",
	    p->ramp_kpa_s);
	FUZZ_CHECK(p->max_session_min >= 1 && p->max_session_min <= 180,
	    "max session %g", p->max_session_min);
	FUZZ_CHECK(p->intensity_pct >= 10 && p->intensity_pct <= 100,
	    "intensity %d", p->intensity_pct);
	FUZZ_CHECK(p->nconditions >= 0 &&
	    p->nconditions <= PROFILE_MAX_CONDITIONS, "%d conditions",
	    p->nconditions);
	for (i = 0; i < p->nconditions; i++)
		FUZZ_CHECK(rules_find(r, p->conditions[i]) != NULL,
		    "unknown condition '%s'", p->conditions[i]);
	FUZZ_CHECK(p->ncaps >= 0 && p->ncaps <= PROFILE_MAX_CAPS, "%d caps",
	    p->ncaps);
	for (i = 0; i < p->ncaps; i++) {
		matched = 0;
		for (z = 0; z < t->nzones; z++) {
			if (fnmatch(p->caps[i].glob, t->zones[z].name, 0) != 0)
				continue;
			matched++;
			FUZZ_CHECK(p->caps[i].cap_kpa <= t->zones[z].limit_kpa,
			    "cap %s = %g above zone %s limit %g",
			    p->caps[i].glob, p->caps[i].cap_kpa,
			    t->zones[z].name, t->zones[z].limit_kpa);
		}
		FUZZ_CHECK(matched > 0, "cap glob '%s' matches no zone",
		    p->caps[i].glob);
		FUZZ_CHECK(p->caps[i].cap_kpa >= 0, "cap %s = %g",
		    p->caps[i].glob, p->caps[i].cap_kpa);
	}
}

static FUZZ_UNUSED int
fuzz_profile_one(const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	struct profile_set	 set;
	int			 n;

	if (fuzz_known_bug(data, size))
		return (0);
	fuzz_write(fuzz_profile_path, data, size);
	n = profiles_load(&set, fuzz_profile_dir, fuzz_profile_table,
	    &fuzz_profile_rules, &errs);
	FUZZ_CHECK(n == errs.count, "profiles_load returned %d for %d errors",
	    n, errs.count);
	fuzz_check_errors(&errs, fuzz_profile_dir);
	if (n == 0) {
		FUZZ_CHECK(set.n == 1, "%d profiles from one file", set.n);
		FUZZ_CHECK(profiles_find(&set, "client") == set.profiles[0],
		    "profiles_find");
		fuzz_profile_invariants(set.profiles[0], fuzz_profile_table,
		    &fuzz_profile_rules);
	} else
		FUZZ_CHECK(set.n == 0 && set.profiles == NULL, "profiles left "
		    "behind after %d errors", n);
	profiles_free(&set);
	inifile_errors_free(&errs);
	return (0);
}

FUZZ_MAIN(profile)
