/*
 * intake.c: the clinic's intake file. docs/profiles.md is the reference:
 *
 *   [pressure light]            one section per pressure preference
 *   cap_kpa = 18                the profile's cap of every zone
 *   [ramp gentle]               one section per ramp preference
 *   ramp_kpa_s = 3              the profile's fastest pressure change
 *   [defaults]
 *   sensitive_cap_kpa = 12      a zone picked "cap" on the body map
 *   max_session_min = 60        a new client's longest session
 *   intensity = 70              a new client's default intensity
 *   note_max = 400              bytes of the therapist's note
 *
 * At least one pressure and one ramp section, and every key of
 * [defaults]. Caps are checked against the table like a profile's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "intake.h"

enum intake_sect {
	ISECT_BAD,
	ISECT_PRESSURE,
	ISECT_RAMP,
	ISECT_DEFAULTS
};

struct intake_parse {
	struct intake		*in;
	const struct table	*t;
	enum intake_sect	 sect;
	struct intake_choice	*cur;
	int			 defaults_line;
	int			 have;		/* bit per [defaults] key */
};

static const char *const intake_default_keys[] = {
	"sensitive_cap_kpa", "max_session_min", "intensity", "note_max"
};
#define INTAKE_NDEFAULTS	4

static double
intake_highest_limit(const struct table *t)
{
	double	 hi = 0;
	int	 i;

	for (i = 0; i < t->nzones; i++)
		if (t->zones[i].limit_kpa > hi)
			hi = t->zones[i].limit_kpa;
	return (hi);
}

static struct intake_choice *
intake_choice_add(struct inifile_file *f, struct intake_choice *set, int *n,
    const char *name, const char *what)
{
	int	 i;

	if (!inifile_name_ok(name, NAME_LEN)) {
		inifile_err(f, NULL, "'%s' is not a valid %s name (expected "
		    "[a-z0-9_]+)", name, what);
		return (NULL);
	}
	for (i = 0; i < *n; i++)
		if (strcmp(set[i].name, name) == 0) {
			inifile_err(f, NULL, "%s '%s' given twice (first at "
			    "line %d)", what, name, set[i].line);
			return (NULL);
		}
	if (*n == INTAKE_MAX_CHOICES) {
		inifile_err(f, NULL, "too many %s sections (at most %d)", what,
		    INTAKE_MAX_CHOICES);
		return (NULL);
	}
	memset(&set[*n], 0, sizeof(set[*n]));
	snprintf(set[*n].name, NAME_LEN, "%s", name);
	set[*n].line = f->line;
	set[*n].value = -1;
	return (&set[(*n)++]);
}

static int
intake_section(struct inifile_file *f, const char *section)
{
	struct intake_parse	*ip = f->user;
	struct intake		*in = ip->in;

	ip->sect = ISECT_BAD;
	ip->cur = NULL;
	if (strncmp(section, "pressure ", 9) == 0) {
		if ((ip->cur = intake_choice_add(f, in->pressure,
		    &in->npressure, section + 9, "pressure")) != NULL)
			ip->sect = ISECT_PRESSURE;
	} else if (strncmp(section, "ramp ", 5) == 0) {
		if ((ip->cur = intake_choice_add(f, in->ramp, &in->nramp,
		    section + 5, "ramp")) != NULL)
			ip->sect = ISECT_RAMP;
	} else if (strcmp(section, "defaults") == 0) {
		if (ip->defaults_line != 0)
			inifile_err(f, NULL, "section given twice (first at "
			    "line %d)", ip->defaults_line);
		else {
			ip->defaults_line = f->line;
			ip->sect = ISECT_DEFAULTS;
		}
	} else
		inifile_err(f, NULL, "unknown section (expected [pressure "
		    "NAME], [ramp NAME] or [defaults])");
	return (1);
}

static void
intake_kv_defaults(struct inifile_file *f, struct intake_parse *ip,
    const char *k, const char *v)
{
	struct intake	*in = ip->in;
	double		 hi = intake_highest_limit(ip->t);
	int		 i;

	for (i = 0; i < INTAKE_NDEFAULTS; i++)
		if (strcmp(k, intake_default_keys[i]) == 0)
			ip->have |= 1 << i;
	if (strcmp(k, "sensitive_cap_kpa") == 0)
		inifile_double(f, k, v, 0, hi, "kPa", &in->sensitive_cap_kpa);
	else if (strcmp(k, "max_session_min") == 0)
		inifile_double(f, k, v, 1, 180, "minutes", &in->max_session_min);
	else if (strcmp(k, "intensity") == 0)
		inifile_int(f, k, v, 10, 100, &in->intensity_pct);
	else if (strcmp(k, "note_max") == 0)
		inifile_int(f, k, v, 0, INTAKE_NOTE_MAX, &in->note_max);
	else
		inifile_err(f, k, "unknown key (expected sensitive_cap_kpa, "
		    "max_session_min, intensity or note_max)");
}

static int
intake_kv(struct inifile_file *f, const char *section, const char *k,
    const char *v)
{
	struct intake_parse	*ip = f->user;

	switch (ip->sect) {
	case ISECT_PRESSURE:
		if (strcmp(k, "cap_kpa") != 0)
			inifile_err(f, k, "unknown key (expected cap_kpa)");
		else
			inifile_double(f, k, v, 1, intake_highest_limit(ip->t),
			    "kPa", &ip->cur->value);
		break;
	case ISECT_RAMP:
		if (strcmp(k, "ramp_kpa_s") != 0)
			inifile_err(f, k, "unknown key (expected ramp_kpa_s)");
		else
			inifile_double(f, k, v, 0.5, 50, "kPa/s",
			    &ip->cur->value);
		break;
	case ISECT_DEFAULTS:
		intake_kv_defaults(f, ip, k, v);
		break;
	default:
		break;	/* the section itself was reported */
	}
	(void)section;
	return (1);
}

static void
intake_check(struct intake_parse *ip, struct inifile_errors *errs)
{
	struct intake	*in = ip->in;
	int		 i;

	for (i = 0; i < in->npressure; i++)
		if (in->pressure[i].value < 0)
			inifile_err_at(errs, in->path, in->pressure[i].line,
			    NULL, "cap_kpa", "missing in [pressure %s]",
			    in->pressure[i].name);
	for (i = 0; i < in->nramp; i++)
		if (in->ramp[i].value < 0)
			inifile_err_at(errs, in->path, in->ramp[i].line, NULL,
			    "ramp_kpa_s", "missing in [ramp %s]",
			    in->ramp[i].name);
	if (in->npressure == 0 || in->nramp == 0)
		inifile_err_at(errs, in->path, 1, NULL, NULL, "expected at "
		    "least one [pressure NAME] and one [ramp NAME] section");
	if (ip->defaults_line == 0) {
		inifile_err_at(errs, in->path, 1, NULL, NULL, "no [defaults] "
		    "section");
		return;
	}
	for (i = 0; i < INTAKE_NDEFAULTS; i++)
		if (!(ip->have & (1 << i)))
			inifile_err_at(errs, in->path, ip->defaults_line,
			    "defaults", intake_default_keys[i], "missing");
}

int
intake_load(struct intake *in, const char *path, const struct table *t,
    struct inifile_errors *errs)
{
	struct intake_parse	 ip;
	int			 before = errs->count;

	memset(in, 0, sizeof(*in));
	snprintf(in->path, sizeof(in->path), "%s", path);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return (0);
	memset(&ip, 0, sizeof(ip));
	ip.in = in;
	ip.t = t;
	if (inifile_parse(path, errs, intake_section, intake_kv, &ip) != -1)
		intake_check(&ip, errs);
	in->loaded = errs->count == before;
	return (errs->count - before);
}

static const struct intake_choice *
intake_find(const struct intake_choice *set, int n, const char *name)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i].name, name) == 0)
			return (&set[i]);
	return (NULL);
}

const struct intake_choice *
intake_pressure(const struct intake *in, const char *name)
{
	return (intake_find(in->pressure, in->npressure, name));
}

const struct intake_choice *
intake_ramp(const struct intake *in, const char *name)
{
	return (intake_find(in->ramp, in->nramp, name));
}
