/*
 * profile.c: the clinic's contraindication rules and the client profiles.
 * docs/profiles.md is the reference for people; in short:
 *
 * contraindications.ini, one section per condition:
 *
 *   [anticoagulants]
 *   reason = Blood thinners: ...            required, read to the client
 *   refuse = no                             yes: no session at all
 *   forbid_routines = deep_tissue, trigger_point   routine names
 *   exclude_zones = hamstring_*, calf_*     zone globs, never pressed
 *   scale = 0.6                             0 < scale <= 1, times the cap
 *
 * A rule needs a reason and must do something: refuse, forbid, exclude or
 * scale below 1. The name "none" is reserved (profiles use it to say the
 * client has no conditions).
 *
 * profiles/ID.ini, one file per client (ID is the file name):
 *
 *   [client]
 *   name = Anna, anticoagulated             required
 *   conditions = anticoagulants             required: rule names, or none
 *   revision = 3                            optional: the API counts saves
 *   pressure = medium                       optional: intake preferences,
 *   ramp = gentle                           names from intake.ini
 *   note = ...                              optional: for the therapist
 *   [limits]                                all four required
 *   cap_kpa = 25                            every zone
 *   ramp_kpa_s = 5                          fastest pressure change
 *   max_session_min = 45
 *   intensity = 60                          default, percent 10..100
 *   [zone_caps]                             optional
 *   piriformis_* = 20                       glob = kPa
 *
 * Profiles are checked against the table and the rules: an unknown
 * condition, a glob that matches no zone, a cap above a zone's hardware
 * limit (limit_kpa), a zone cap above cap_kpa, or conditions and caps that
 * leave no zone to press are errors, never a silent clamp. Globs use fnmatch(3)
 * with only a-z, 0-9, _, * and ?.
 *
 * As everywhere, every error is reported with file:line and parsing goes
 * on; a load with any error leaves nothing behind for the caller to use.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "strings.h"

#define LIST_BUF	512

enum item_kind {
	ITEM_NAME,	/* a rule or routine name: [a-z0-9_]+ */
	ITEM_GLOB	/* a zone name or glob: [a-z0-9_*?]+ */
};

struct rules_parse {
	struct rules	*r;
	int		 cur;	/* rule being read, -1 in a bad section */
};

enum prof_sect {
	PSECT_CLIENT,
	PSECT_LIMITS,
	PSECT_ZONE_CAPS,
	PSECT_COUNT,
	PSECT_BAD = PSECT_COUNT
};

static const char *const prof_sect_names[PSECT_COUNT] = {
	"client", "limits", "zone_caps"
};

struct profile_parse {
	struct profile		*p;
	const struct table	*t;
	const struct rules	*r;
	enum prof_sect		 sect;
	int			 sect_line[PSECT_COUNT]; /* 0: not seen */
	int			 have_name;
	int			 have_conditions;
	int			 have_cap;
	int			 have_ramp;
	int			 have_session;
	int			 have_intensity;
	int			 conditions_line;
};

static int
profile_glob_ok(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_' || *s == '*' || *s == '?'))
			return (0);
	}
	return (n > 0 && n < NAME_LEN);
}

/*
 * Splits "a, b, c" into items, reporting every bad, repeated or surplus
 * item. Returns the number of items, or -1 after an error.
 */
static int
profile_list_parse(struct inifile_file *f, const char *key, const char *v,
    char items[][NAME_LEN], int max, enum item_kind kind)
{
	char	 buf[LIST_BUF], *s, *next, *item;
	int	 n = 0, bad = 0, i, dup, pos = 0;

	if (inifile_str(f, key, v, buf, sizeof(buf)) == -1)
		return (-1);
	for (s = buf; s != NULL; s = next) {
		if ((next = strchr(s, ',')) != NULL)
			*next++ = '\0';
		item = str_trim(s);
		pos++;
		if (*item == '\0') {
			inifile_err(f, key, "empty item in the list (expected "
			    "items separated by commas)");
			bad = 1;
			continue;
		}
		if (kind == ITEM_NAME && !inifile_name_ok(item, NAME_LEN)) {
			inifile_err(f, key, "item %d is not a valid name "
			    "(expected [a-z0-9_]+, at most %d characters)", pos,
			    NAME_LEN - 1);
			bad = 1;
			continue;
		}
		if (kind == ITEM_GLOB && !profile_glob_ok(item)) {
			inifile_err(f, key, "item %d is not a valid zone glob "
			    "(expected a-z, 0-9, _ and the wildcards * and ?, "
			    "such as hamstring_*)", pos);
			bad = 1;
			continue;
		}
		for (dup = 0, i = 0; i < n; i++)
			if (strcmp(items[i], item) == 0)
				dup = 1;
		if (dup) {
			inifile_err(f, key, "'%s' is listed twice", item);
			bad = 1;
			continue;
		}
		if (n == max) {
			inifile_err(f, key, "too many items (at most %d)", max);
			return (-1);
		}
		memcpy(items[n++], item, strlen(item) + 1);	/* < NAME_LEN */
	}
	return (bad ? -1 : n);
}

/* --- contraindication rules --------------------------------------------- */

static int
rules_section(struct inifile_file *f, const char *section)
{
	struct rules_parse	*rp = f->user;
	struct rules		*r = rp->r;
	const struct rule	*old;
	struct rule		*nr;

	rp->cur = -1;
	if (!inifile_name_ok(section, NAME_LEN)) {
		inifile_err(f, NULL, "'%s' is not a valid condition name (expected "
		    "[a-z0-9_]+, such as varicose_veins)", section);
		return (1);
	}
	if (strcmp(section, "none") == 0) {
		inifile_err(f, NULL, "'none' is reserved (profiles use it to say "
		    "the client has no conditions)");
		return (1);
	}
	if ((old = rules_find(r, section)) != NULL) {
		inifile_err(f, NULL, "condition defined twice (first at line %d)",
		    old->line);
		return (1);
	}
	nr = reallocarray(r->rules, r->n + 1, sizeof(*r->rules));
	if (nr == NULL) {
		inifile_err(f, NULL, "out of memory");
		return (1);
	}
	r->rules = nr;
	memset(&r->rules[r->n], 0, sizeof(r->rules[r->n]));
	snprintf(r->rules[r->n].name, NAME_LEN, "%s", section);
	r->rules[r->n].line = f->line;
	r->rules[r->n].scale = 1.0;
	rp->cur = r->n++;
	return (1);
}

static int
rules_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct rules_parse	*rp = f->user;
	struct rule		*ru;
	int			 n;

	if (rp->cur == -1)
		return (1);	/* the section itself was reported */
	ru = &rp->r->rules[rp->cur];
	if (strcmp(k, "reason") == 0)
		inifile_str(f, k, v, ru->reason, sizeof(ru->reason));
	else if (strcmp(k, "refuse") == 0)
		inifile_bool(f, k, v, &ru->refuse);
	else if (strcmp(k, "forbid_routines") == 0) {
		if ((n = profile_list_parse(f, k, v, ru->forbid, RULE_MAX_ITEMS,
		    ITEM_NAME)) != -1)
			ru->nforbid = n;
	} else if (strcmp(k, "exclude_zones") == 0) {
		if ((n = profile_list_parse(f, k, v, ru->exclude, RULE_MAX_ITEMS,
		    ITEM_GLOB)) != -1)
			ru->nexclude = n;
	} else if (strcmp(k, "scale") == 0) {
		if (parse_double(v, 0, 1, &ru->scale) == -1 ||
		    ru->scale <= 0) {
			inifile_err(f, k, "not valid (expected a decimal "
			    "number above 0 and at most 1)");
			ru->scale = 1.0;
		}
	} else
		inifile_err(f, k, "unknown key (expected reason, refuse, "
		    "forbid_routines, exclude_zones or scale)");
	(void)section;
	return (1);
}

int
rules_load(struct rules *r, const char *path, struct inifile_errors *errs)
{
	struct rules_parse	 rp;
	const struct rule	*ru;
	int			 before = errs->count, i;

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", path);
	rp.r = r;
	rp.cur = -1;
	if (inifile_parse(path, errs, rules_section, rules_kv, &rp) != -1) {
		for (i = 0; i < r->n; i++) {
			ru = &r->rules[i];
			if (ru->reason[0] == '\0')
				inifile_err_at(errs, path, ru->line, ru->name,
				    "reason", "missing (expected a sentence a "
				    "person can read saying why)");
			if (!ru->refuse && ru->nforbid == 0 &&
			    ru->nexclude == 0 && ru->scale >= 1.0)
				inifile_err_at(errs, path, ru->line, ru->name, NULL,
				    "rule has no effect (expected refuse = "
				    "yes, forbid_routines, exclude_zones or a "
				    "scale below 1)");
		}
		if (r->n == 0)
			inifile_err_at(errs, path, 1, NULL, NULL, "no rules "
			    "(expected one [CONDITION] section per "
			    "condition)");
	}
	if (errs->count > before)
		rules_free(r);
	return (errs->count - before);
}

const struct rule *
rules_find(const struct rules *r, const char *name)
{
	int	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->rules[i].name, name) == 0)
			return (&r->rules[i]);
	return (NULL);
}

void
rules_free(struct rules *r)
{
	free(r->rules);
	r->rules = NULL;
	r->n = 0;
}

/* --- client profiles ---------------------------------------------------- */

static int
profile_section(struct inifile_file *f, const char *section)
{
	struct profile_parse	*pp = f->user;
	int			 i;

	pp->sect = PSECT_BAD;
	for (i = 0; i < PSECT_COUNT; i++) {
		if (strcmp(section, prof_sect_names[i]) != 0)
			continue;
		if (pp->sect_line[i] != 0) {
			inifile_err(f, NULL, "section given twice (first at line "
			    "%d)", pp->sect_line[i]);
			return (1);
		}
		pp->sect_line[i] = f->line;
		pp->sect = (enum prof_sect)i;
		return (1);
	}
	inifile_err(f, NULL, "unknown section (expected [client], [limits] or "
	    "[zone_caps])");
	return (1);
}

/* Lists the rule names into buf, for "unknown condition" errors. */
static void
rules_names(const struct rules *r, char *buf, size_t len)
{
	struct str_list	 l;
	int		 i;

	str_list_init(&l, buf, len);
	for (i = 0; i < r->n; i++)
		str_list_add(&l, 0, "%s", r->rules[i].name);
}

static void
profile_conditions(struct inifile_file *f, struct profile_parse *pp,
    const char *k, const char *v)
{
	struct profile	*p = pp->p;
	char		 known[LIST_BUF];
	int		 i, n, bad = 0;

	pp->have_conditions = 1;
	pp->conditions_line = f->line;
	if (strcmp(v, "none") == 0) {
		p->nconditions = 0;
		return;
	}
	n = profile_list_parse(f, k, v, p->conditions, PROFILE_MAX_CONDITIONS,
	    ITEM_NAME);
	if (n == -1)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(p->conditions[i], "none") == 0) {
			inifile_err(f, k, "'none' cannot be listed with other "
			    "conditions");
			bad = 1;
		} else if (rules_find(pp->r, p->conditions[i]) == NULL) {
			rules_names(pp->r, known, sizeof(known));
			inifile_err(f, k, "unknown condition '%s' (known in %s: "
			    "%s)", p->conditions[i], pp->r->path, known);
			bad = 1;
		}
	}
	if (!bad)
		p->nconditions = n;
}

/* A name or a note: one line as every screen shows it. */
static void
profile_text(struct inifile_file *f, const char *k, const char *v, char *dst,
    size_t len)
{
	if (!str_one_line(v))
		inifile_err(f, k, "expected one line of text without control "
		    "characters, line or paragraph separators or "
		    "bidirectional controls");
	else
		inifile_str(f, k, v, dst, len);
}

static void
profile_kv_client(struct inifile_file *f, struct profile_parse *pp,
    const char *k, const char *v)
{
	if (strcmp(k, "name") == 0) {
		pp->have_name = 1;
		profile_text(f, k, v, pp->p->name, sizeof(pp->p->name));
	} else if (strcmp(k, "conditions") == 0)
		profile_conditions(f, pp, k, v);
	else if (strcmp(k, "revision") == 0)
		inifile_int(f, k, v, 1, 1000000000, &pp->p->revision);
	else if (strcmp(k, "pressure") == 0 || strcmp(k, "ramp") == 0) {
		if (!inifile_name_ok(v, NAME_LEN))
			inifile_err(f, k, "'%s' is not a valid name (expected "
			    "[a-z0-9_]+)", v);
		else
			snprintf(k[0] == 'p' ? pp->p->pressure : pp->p->ramp,
			    NAME_LEN, "%s", v);
	} else if (strcmp(k, "note") == 0)
		profile_text(f, k, v, pp->p->note, sizeof(pp->p->note));
	else
		inifile_err(f, k, "unknown key (expected name, conditions, "
		    "revision, pressure, ramp or note)");
}

/* cap_kpa applies to every zone: above the highest limit_kpa it is wrong. */
static void
profile_cap(struct inifile_file *f, struct profile_parse *pp, const char *k,
    const char *v)
{
	const struct table	*t = pp->t;
	int			 i, hi = -1;

	pp->have_cap = 1;
	if (inifile_double(f, k, v, 1, 6553.5, "kPa", &pp->p->cap_kpa) == -1)
		return;
	for (i = 0; i < t->nzones; i++)
		if (hi == -1 || t->zones[i].limit_kpa > t->zones[hi].limit_kpa)
			hi = i;
	if (hi != -1 && pp->p->cap_kpa > t->zones[hi].limit_kpa)
		inifile_err(f, k, "%g kPa is above the hardware limit of every "
		    "zone (the highest is %g kPa, zone %s in %s)",
		    pp->p->cap_kpa, t->zones[hi].limit_kpa, t->zones[hi].name,
		    t->path);
}

static void
profile_kv_limits(struct inifile_file *f, struct profile_parse *pp,
    const char *k, const char *v)
{
	struct profile	*p = pp->p;

	if (strcmp(k, "cap_kpa") == 0)
		profile_cap(f, pp, k, v);
	else if (strcmp(k, "ramp_kpa_s") == 0) {
		pp->have_ramp = 1;
		inifile_double(f, k, v, 0.5, 50, "kPa/s", &p->ramp_kpa_s);
	} else if (strcmp(k, "max_session_min") == 0) {
		pp->have_session = 1;
		inifile_double(f, k, v, 1, 180, "minutes", &p->max_session_min);
	} else if (strcmp(k, "intensity") == 0) {
		pp->have_intensity = 1;
		inifile_int(f, k, v, 10, 100, &p->intensity_pct);
	} else
		inifile_err(f, k, "unknown key (expected cap_kpa, ramp_kpa_s, "
		    "max_session_min or intensity)");
}

/* GLOB = kPa: must match a zone, and stay within each one's limit_kpa. */
static void
profile_kv_zone_cap(struct inifile_file *f, struct profile_parse *pp,
    const char *k, const char *v)
{
	const struct table	*t = pp->t;
	struct profile		*p = pp->p;
	double			 cap;
	int			 i, lo = -1;

	if (!profile_glob_ok(k)) {
		inifile_err(f, k, "not a valid zone name or glob (expected a-z, "
		    "0-9, _ and the wildcards * and ?, such as piriformis_*)");
		return;
	}
	if (inifile_double(f, k, v, 0, 6553.5, "kPa", &cap) == -1)
		return;
	for (i = 0; i < t->nzones; i++) {
		if (fnmatch(k, t->zones[i].name, 0) != 0)
			continue;
		if (lo == -1 || t->zones[i].limit_kpa < t->zones[lo].limit_kpa)
			lo = i;
	}
	if (lo == -1) {
		inifile_err(f, k, "matches no zone of the table (%s)", t->path);
		return;
	}
	if (cap > t->zones[lo].limit_kpa) {
		inifile_err(f, k, "%g kPa is above the hardware limit of zone %s "
		    "(%g kPa)", cap, t->zones[lo].name, t->zones[lo].limit_kpa);
		return;
	}
	if (p->ncaps == PROFILE_MAX_CAPS) {
		inifile_err(f, k, "too many zone caps (at most %d)",
		    PROFILE_MAX_CAPS);
		return;
	}
	snprintf(p->caps[p->ncaps].glob, NAME_LEN, "%s", k);
	p->caps[p->ncaps].cap_kpa = cap;
	p->caps[p->ncaps].line = f->line;
	p->ncaps++;
}

static int
profile_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct profile_parse	*pp = f->user;

	switch (pp->sect) {
	case PSECT_CLIENT:
		profile_kv_client(f, pp, k, v);
		break;
	case PSECT_LIMITS:
		profile_kv_limits(f, pp, k, v);
		break;
	case PSECT_ZONE_CAPS:
		profile_kv_zone_cap(f, pp, k, v);
		break;
	default:
		break;	/* the section itself was reported */
	}
	(void)section;
	return (1);
}

static void
profile_require(struct profile_parse *pp, struct inifile_errors *errs,
    enum prof_sect s, int have, const char *key, const char *what)
{
	if (pp->sect_line[s] != 0 && !have)
		inifile_err_at(errs, pp->p->path, pp->sect_line[s],
		    prof_sect_names[s], key, "missing (expected %s)", what);
}

/* A zone cap above cap_kpa could never apply: cap_kpa is every zone's. */
static void
profile_check_caps(struct profile_parse *pp, struct inifile_errors *errs)
{
	const struct profile	*p = pp->p;
	int			 i;

	if (!pp->have_cap || p->cap_kpa <= 0)
		return;
	for (i = 0; i < p->ncaps; i++)
		if (p->caps[i].cap_kpa > p->cap_kpa)
			inifile_err_at(errs, p->path, p->caps[i].line,
			    prof_sect_names[PSECT_ZONE_CAPS], p->caps[i].glob,
			    "%g kPa is above the profile's cap_kpa (%g kPa), "
			    "which applies to every zone (expected at most %g)",
			    p->caps[i].cap_kpa, p->cap_kpa, p->cap_kpa);
}

/* 1 if zone z is excluded by one of the profile's conditions or capped at
 * 0 kPa by its zone caps. */
static int
profile_zone_closed(const struct profile *p, const struct rules *r,
    const char *zone)
{
	const struct rule	*ru;
	int			 i, j;

	for (i = 0; i < p->ncaps; i++)
		if (p->caps[i].cap_kpa <= 0 &&
		    fnmatch(p->caps[i].glob, zone, 0) == 0)
			return (1);
	for (i = 0; i < p->nconditions; i++) {
		if ((ru = rules_find(r, p->conditions[i])) == NULL)
			continue;
		for (j = 0; j < ru->nexclude; j++)
			if (fnmatch(ru->exclude[j], zone, 0) == 0)
				return (1);
	}
	return (0);
}

/* A profile that leaves no zone to press could never start a session. */
static void
profile_check_zones(struct profile_parse *pp, struct inifile_errors *errs)
{
	const struct profile	*p = pp->p;
	const struct table	*t = pp->t;
	int			 z;

	if (t->nzones == 0 || !pp->have_conditions)
		return;
	for (z = 0; z < t->nzones; z++)
		if (!profile_zone_closed(p, pp->r, t->zones[z].name))
			return;
	inifile_err_at(errs, p->path, pp->conditions_line != 0 ?
	    pp->conditions_line : pp->sect_line[PSECT_CLIENT],
	    prof_sect_names[PSECT_CLIENT], "conditions", "with these "
	    "conditions and zone caps no zone of %s is left to press (every "
	    "one is excluded or capped at 0 kPa): no session could start",
	    t->path);
}

/* Required sections and keys: nothing about a client is assumed. */
static void
profile_check(struct profile_parse *pp, struct inifile_errors *errs)
{
	const char	*path = pp->p->path;

	if (pp->sect_line[PSECT_CLIENT] == 0)
		inifile_err_at(errs, path, 1, NULL, NULL, "no [client] section "
		    "(expected name and conditions)");
	if (pp->sect_line[PSECT_LIMITS] == 0)
		inifile_err_at(errs, path, 1, NULL, NULL, "no [limits] section "
		    "(expected cap_kpa, ramp_kpa_s, max_session_min and "
		    "intensity)");
	profile_require(pp, errs, PSECT_CLIENT, pp->have_name, "name",
	    "the client's name");
	profile_require(pp, errs, PSECT_CLIENT, pp->have_conditions,
	    "conditions", "the client's conditions, or none");
	profile_require(pp, errs, PSECT_LIMITS, pp->have_cap, "cap_kpa",
	    "the pressure cap of every zone in kPa");
	profile_require(pp, errs, PSECT_LIMITS, pp->have_ramp, "ramp_kpa_s",
	    "the fastest pressure change in kPa/s");
	profile_require(pp, errs, PSECT_LIMITS, pp->have_session,
	    "max_session_min", "the longest session in minutes");
	profile_require(pp, errs, PSECT_LIMITS, pp->have_intensity,
	    "intensity", "the default intensity, percent 10..100");
}

int
profile_load(struct profile *p, const char *path, const char *id,
    const struct table *t, const struct rules *r, struct inifile_errors *errs)
{
	struct profile_parse	 pp;
	int			 before = errs->count;

	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->path, sizeof(p->path), "%s", path);
	memset(&pp, 0, sizeof(pp));
	pp.p = p;
	pp.t = t;
	pp.r = r;
	pp.sect = PSECT_BAD;
	if (inifile_parse(path, errs, profile_section, profile_kv, &pp) != -1) {
		profile_check(&pp, errs);
		profile_check_caps(&pp, errs);
		profile_check_zones(&pp, errs);
	}
	return (errs->count - before);
}

/* The profile id is the file name without ".ini". */
static int
profile_id(const char *fname, char *id, size_t idlen)
{
	size_t	 n = strlen(fname) - 4;

	if (n >= idlen)
		return (-1);
	memcpy(id, fname, n);
	id[n] = '\0';
	return (inifile_name_ok(id, idlen) ? 0 : -1);
}

/* File name order is id order: ".ini" sorts before any id character.
 * strcmp, not alphasort's strcoll: the same order in every locale. */
/* A typo in an exclusion glob would exclude nothing: say so. */
static void
rules_warn_unmatched(const struct rules *r, const struct table *t)
{
	const struct rule	*ru;
	int			 i, j, z;

	for (i = 0; i < r->n; i++) {
		ru = &r->rules[i];
		for (j = 0; j < ru->nexclude; j++) {
			for (z = 0; z < t->nzones; z++)
				if (fnmatch(ru->exclude[j], t->zones[z].name,
				    0) == 0)
					break;
			if (z == t->nzones)
				log_warnx("%s:%d: [%s] exclude_zones: '%s' "
				    "matches no zone of %s", r->path, ru->line,
				    ru->name, ru->exclude[j], t->path);
		}
	}
}

int
profiles_load(struct profile_set *set, const char *dir,
    const struct table *t, const struct rules *r, struct inifile_errors *errs)
{
	struct dirent	**names;
	char		  path[PATH_MAX], id[NAME_LEN];
	int		  before = errs->count, n, i;

	memset(set, 0, sizeof(*set));
	if ((n = inifile_dir_list(dir, ".ini", &names)) == -1) {
		inifile_errors_add(errs, "%s: cannot read profiles: %s", dir,
		    strerror(errno));
		return (errs->count - before);
	}
	if (n > 0 && (set->profiles = calloc(n, sizeof(*set->profiles))) ==
	    NULL)
		inifile_errors_add(errs, "%s: out of memory", dir);
	for (i = 0; i < n && set->profiles != NULL; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) >= (int)sizeof(path))
			inifile_errors_add(errs, "%s/%s: path too long", dir,
			    names[i]->d_name);
		else if (profile_id(names[i]->d_name, id, sizeof(id)) == -1)
			inifile_errors_add(errs, "%s: file name is not a valid "
			    "profile id (expected [a-z0-9_]+.ini, at most %d "
			    "characters before .ini)", path, NAME_LEN - 1);
		else if ((set->profiles[set->n] = malloc(
		    sizeof(**set->profiles))) == NULL) {
			inifile_errors_add(errs, "%s: out of memory", dir);
			break;
		} else
			profile_load(set->profiles[set->n++], path, id, t, r,
			    errs);
	}
	inifile_dir_free(names, n);
	if (errs->count == before && set->n == 0)
		inifile_errors_add(errs, "%s: no profiles (expected one ID.ini "
		    "file per client)", dir);
	if (errs->count > before) {
		profiles_free(set);
		return (errs->count - before);
	}
	profiles_sort(set);
	if (!errs->quiet)
		rules_warn_unmatched(r, t);
	return (0);
}

static int
profile_cmp(const void *a, const void *b)
{
	return (strcmp((*(struct profile *const *)a)->id,
	    (*(struct profile *const *)b)->id));
}

void
profiles_sort(struct profile_set *set)
{
	int	 i;

	if (set->n > 1)
		qsort(set->profiles, set->n, sizeof(*set->profiles),
		    profile_cmp);
	for (set->nwritable = 0, i = 0; i < set->n; i++)
		set->nwritable += set->profiles[i]->writable != 0;
}

int
profiles_add_dir(struct profile_set *set, const char *dir,
    const struct table *t, const struct rules *r, struct inifile_errors *errs)
{
	struct profile_set	 more;
	struct dirent		**names;
	struct profile		**all;
	const struct profile	*dup;
	int			  before = errs->count, n, i;

	if ((n = inifile_dir_list(dir, ".ini", &names)) == -1) {
		if (errno != ENOENT)
			inifile_errors_add(errs, "%s: cannot read profiles: %s",
			    dir, strerror(errno));
		return (errs->count - before);
	}
	inifile_dir_free(names, n);
	if (n == 0 || profiles_load(&more, dir, t, r, errs) != 0)
		return (errs->count - before);
	for (i = 0; i < more.n; i++) {
		more.profiles[i]->writable = 1;
		if ((dup = profiles_find(set, more.profiles[i]->id)) != NULL)
			inifile_errors_add(errs, "%s: profile id %s is also "
			    "%s (expected each id once)",
			    more.profiles[i]->path, more.profiles[i]->id,
			    dup->path);
	}
	all = errs->count > before ? NULL : reallocarray(set->profiles,
	    set->n + more.n, sizeof(*all));
	if (all != NULL) {
		/* The profiles move to set: more keeps none. */
		memcpy(all + set->n, more.profiles, more.n * sizeof(*all));
		set->profiles = all;
		set->n += more.n;
		more.n = 0;
		profiles_sort(set);
	} else if (errs->count == before)
		inifile_errors_add(errs, "%s: out of memory", dir);
	profiles_free(&more);
	return (errs->count - before);
}

/* The index of id in set, or -(the index it would go to) - 1. */
static int
profiles_index(const struct profile_set *set, const char *id)
{
	int	 lo = 0, hi = set->n - 1, mid, c;

	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(set->profiles[mid]->id, id)) == 0)
			return (mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return (-lo - 1);
}

const struct profile *
profiles_find(const struct profile_set *set, const char *id)
{
	int	 i = profiles_index(set, id);

	return (i >= 0 ? set->profiles[i] : NULL);
}

int
profiles_after(const struct profile_set *set, const char *id)
{
	int	 i = profiles_index(set, id);

	return (i >= 0 ? i + 1 : -i - 1);
}

const struct profile *
profiles_put(struct profile_set *set, const struct profile *p)
{
	struct profile	**np, *q;
	int		  i = profiles_index(set, p->id);

	if (i >= 0) {
		q = set->profiles[i];
		set->nwritable += (p->writable != 0) - (q->writable != 0);
		*q = *p;
		return (q);
	}
	i = -i - 1;
	if ((q = malloc(sizeof(*q))) == NULL)
		return (NULL);
	if ((np = reallocarray(set->profiles, set->n + 1, sizeof(*np))) ==
	    NULL) {
		free(q);
		return (NULL);
	}
	*q = *p;
	set->profiles = np;
	memmove(&np[i + 1], &np[i], (size_t)(set->n - i) * sizeof(*np));
	np[i] = q;
	set->n++;
	set->nwritable += p->writable != 0;
	return (q);
}

int
profiles_drop(struct profile_set *set, const char *id)
{
	struct profile	*q;
	int		 i = profiles_index(set, id);

	if (i < 0)
		return (-1);
	q = set->profiles[i];
	set->nwritable -= q->writable != 0;
	memmove(&set->profiles[i], &set->profiles[i + 1],
	    (size_t)(set->n - i - 1) * sizeof(*set->profiles));
	set->n--;
	explicit_bzero(q, sizeof(*q));
	free(q);
	return (0);
}

void
profiles_free(struct profile_set *set)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		free(set->profiles[i]);
	free(set->profiles);
	set->profiles = NULL;
	set->n = 0;
	set->nwritable = 0;
}
