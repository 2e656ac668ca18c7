/*
 * safety.c: the limit pipeline and stop monitoring. Every setpoint the
 * daemon sends passes safety_apply(); nothing else writes setpoints.
 *
 * Resolving (at session start and on reload), per zone, the effective
 * limit is the lowest of:
 *   - the controller's rated maximum pressure, when known;
 *   - the zone's hardware limit (limit_kpa in the table);
 *   - the profile's cap for every zone (cap_kpa);
 *   - every profile zone_caps glob that matches the zone (the lowest wins);
 *   - that lowest value times the scale of each client condition that has
 *     one (two conditions of 0.6 and 0.5 give 0.3);
 *   - the endangerment cap, on an endangerment site.
 * A zone excluded by any client condition has limit 0. A condition that
 * refuses, or that forbids a routine one of the program's steps uses,
 * refuses the whole session.
 *
 * Applying (every tick, every zone), in this order and nowhere else:
 *   1. routine output: NaN, infinite or negative becomes 0;
 *   2. exclusion: an excluded zone, or an endangerment site under a focused
 *      (deep or sustained) routine, gets 0 at once;
 *   3. intensity: times the intensity, clamped to [0, 1] (NaN counts as 0);
 *   4. the zone's effective limit, and the endangerment cap once more;
 *   5. ramp: at most ramp_kpa_s * dt_s away from the last commanded value.
 *
 * Choices a reviewer should know:
 *   - The ramp limit is symmetric. A routine that asks for a sudden drop
 *     gets a ramp down at the same rate, as in a category 1 stop. Venting at
 *     once is a category 0 stop, which does not pass through here.
 *   - Limits win over the ramp: when the limit is below the last value (a
 *     stricter reload, an exclusion, a focused routine arriving on an
 *     endangerment site), the output drops to the limit at once.
 *   - A rejected routine output becomes 0 and still ramps: a glitching
 *     routine gives a gentle decline, not a jolt.
 *   - Doubtful inputs from the caller are read in the safe direction. A last
 *     value that is not a finite number >= 0 counts as 0, so any rise starts
 *     from nothing. A dt_s that is negative or NaN counts as 0 (no change);
 *     a dt_s above SAFETY_DT_MAX_S counts as SAFETY_DT_MAX_S, so a stalled
 *     loop cannot turn into a pressure step. A limit that is not a number
 *     counts as 0.
 *   - Every comparison is written so that NaN takes the safe branch:
 *     "!(x >= 0)" is true for NaN, "x < 0" is not.
 */
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "safety.h"
#include "strings.h"

static void	safety_say(char *, size_t, const char *, ...) LOG_PRINTF(3, 4);
static void	safety_lower(struct limits *, int, double, const char *, ...)
		    LOG_PRINTF(4, 5);

/* A pressure or rate that is not a number >= 0 is read as 0. */
static double
safety_kpa(double v)
{
	return (v >= 0 ? v : 0);
}

static double
safety_kpa_min(double a, double b)
{
	a = safety_kpa(a);
	b = safety_kpa(b);
	return (a < b ? a : b);
}

static void
safety_say(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Lowers zone z's limit to v if v is lower, and records why. */
static void
safety_lower(struct limits *l, int z, double v, const char *fmt, ...)
{
	va_list	 ap;

	v = safety_kpa(v);
	if (v >= l->limit_kpa[z])
		return;
	l->limit_kpa[z] = v;
	va_start(ap, fmt);
	vsnprintf(l->why[z], sizeof(l->why[z]), fmt, ap);
	va_end(ap);
}

/* Finds the rule of each of the client's conditions. */
static int
safety_resolve_conditions(const struct profile *p, const struct rules *r,
    const struct rule **conds, char *why, size_t whylen)
{
	int	 i;

	for (i = 0; i < p->nconditions; i++) {
		conds[i] = rules_find(r, p->conditions[i]);
		if (conds[i] == NULL) {
			safety_say(why, whylen, "profile %s: unknown condition '%s' "
			    "(not in %s)", p->id, p->conditions[i], r->path);
			return (-1);
		}
	}
	return (0);
}

static int
safety_resolve_refuse(int ncond, const struct rule *const *conds, char *why,
    size_t whylen)
{
	int	 i;

	for (i = 0; i < ncond; i++) {
		if (conds[i]->refuse) {
			safety_say(why, whylen, "contraindicated: %s: %s",
			    conds[i]->name, conds[i]->reason);
			return (-1);
		}
	}
	return (0);
}

static int
safety_resolve_forbidden(int ncond, const struct rule *const *conds,
    const struct program *prog, char *why, size_t whylen)
{
	const struct program_step	*st;
	int				 s, i, j;

	for (s = 0; s < prog->nsteps; s++) {
		st = &prog->steps[s];
		if (st->routine == NULL || st->routine->name == NULL) {
			safety_say(why, whylen, "program %s: step %s has no routine",
			    prog->id, st->name);
			return (-1);
		}
		for (i = 0; i < ncond; i++) {
			for (j = 0; j < conds[i]->nforbid; j++) {
				if (strcmp(st->routine->name,
				    conds[i]->forbid[j]) != 0)
					continue;
				safety_say(why, whylen, "contraindicated: %s: %s "
				    "(routine %s in step %s)", conds[i]->name,
				    conds[i]->reason, st->routine->name,
				    st->name);
				return (-1);
			}
		}
	}
	return (0);
}

/* The effective limit of zone z: the lowest of every source, then the
 * exclusions. */
static void
safety_resolve_zone(const struct table *t, const struct profile *p, int ncond,
    const struct rule *const *conds, const double *rating, struct limits *l,
    int z)
{
	const struct zone_conf	*zc = &t->zones[z];
	double			 scale = 1.0;
	char			 scaled[sizeof(l->why[0])];
	struct str_list		 sl;
	int			 i, j;

	l->limit_kpa[z] = safety_kpa(zc->limit_kpa);
	snprintf(l->why[z], sizeof(l->why[z]), "zone hardware limit");
	if (rating != NULL && zc->ctl >= 0 && zc->ctl < t->nctls &&
	    rating[zc->ctl] > 0)
		safety_lower(l, z, rating[zc->ctl], "controller rating");
	safety_lower(l, z, p->cap_kpa, "profile cap");
	for (i = 0; i < p->ncaps; i++)
		if (fnmatch(p->caps[i].glob, zc->name, 0) == 0)
			safety_lower(l, z, p->caps[i].cap_kpa, "zone_caps %s",
			    p->caps[i].glob);

	/* Condition scales multiply the lowest cap so far. */
	str_list_init(&sl, scaled, sizeof(scaled));
	for (i = 0; i < ncond; i++) {
		if (conds[i]->scale >= 1.0)	/* a NaN scale goes on: 0 */
			continue;
		scale *= conds[i]->scale;
		str_list_add(&sl, 0, "%s scale %g", conds[i]->name,
		    conds[i]->scale);
	}
	if (!(scale >= 1.0))
		safety_lower(l, z, l->limit_kpa[z] * scale, "%s", scaled);

	if (zc->endangerment) {
		l->endangerment[z] = 1;
		safety_lower(l, z, t->safety.endangerment_cap_kpa,
		    "endangerment site");
	}

	for (i = 0; i < ncond; i++) {
		for (j = 0; j < conds[i]->nexclude; j++) {
			if (fnmatch(conds[i]->exclude[j], zc->name, 0) != 0)
				continue;
			l->excluded[z] = 1;
			l->limit_kpa[z] = 0;
			snprintf(l->why[z], sizeof(l->why[z]), "excluded by %s",
			    conds[i]->name);
			return;
		}
	}
}

/* A session whose conditions exclude every zone could press nothing at all:
 * refused, with why. */
static int
safety_resolve_open(const struct table *t, const struct profile *p,
    struct limits *l, char *why, size_t whylen)
{
	int	 z;

	for (z = 0; z < t->nzones; z++)
		if (!l->excluded[z])
			return (0);
	if (t->nzones == 0)
		return (0);
	safety_say(why, whylen, "profile %s leaves no zone to press: the "
	    "client's conditions exclude every zone of the table", p->id);
	memset(l, 0, sizeof(*l));
	return (-1);
}

int
safety_resolve(const struct table *t, const struct profile *p,
    const struct rules *r, const struct program *prog,
    const double *ctl_rating_kpa, struct limits *out,
    char *why, size_t whylen)
{
	const struct rule	*conds[PROFILE_MAX_CONDITIONS];
	int			 ncond = p->nconditions, z;

	/* Zeroed first: on refusal every zone of out has limit 0. */
	memset(out, 0, sizeof(*out));
	safety_say(why, whylen, "%s", "");
	if (ncond < 0 || ncond > PROFILE_MAX_CONDITIONS) {
		safety_say(why, whylen, "profile %s: bad condition count", p->id);
		return (-1);
	}
	if (safety_resolve_conditions(p, r, conds, why, whylen) == -1 ||
	    safety_resolve_refuse(ncond, conds, why, whylen) == -1 ||
	    (prog != NULL &&
	    safety_resolve_forbidden(ncond, conds, prog, why, whylen) == -1))
		return (-1);

	out->nzones = t->nzones;
	out->ramp_kpa_s = safety_kpa(p->ramp_kpa_s);
	out->max_session_s = safety_kpa(p->max_session_min) * 60.0;
	for (z = 0; z < t->nzones; z++)
		safety_resolve_zone(t, p, ncond, conds, ctl_rating_kpa, out, z);
	return (safety_resolve_open(t, p, out, why, whylen));
}

void
safety_stricter(const struct limits *a, const struct limits *b,
    struct limits *out)
{
	struct limits		 s;
	const struct limits	*lo;
	int			 z;

	memset(&s, 0, sizeof(s));
	s.nzones = a->nzones > b->nzones ? a->nzones : b->nzones;
	s.ramp_kpa_s = safety_kpa_min(a->ramp_kpa_s, b->ramp_kpa_s);
	s.max_session_s = safety_kpa_min(a->max_session_s, b->max_session_s);
	for (z = 0; z < s.nzones; z++) {
		/* A zone only one side knows is not known well enough. */
		if (z >= a->nzones || z >= b->nzones) {
			s.excluded[z] = 1;
			s.endangerment[z] = 1;
			snprintf(s.why[z], sizeof(s.why[z]),
			    "zone not in both limit sets");
			continue;
		}
		s.excluded[z] = a->excluded[z] || b->excluded[z];
		s.endangerment[z] = a->endangerment[z] || b->endangerment[z];
		s.limit_kpa[z] = s.excluded[z] ? 0 :
		    safety_kpa_min(a->limit_kpa[z], b->limit_kpa[z]);
		if (a->excluded[z])
			lo = a;
		else if (b->excluded[z])
			lo = b;
		else if (safety_kpa(b->limit_kpa[z]) < safety_kpa(a->limit_kpa[z]))
			lo = b;
		else
			lo = a;
		memcpy(s.why[z], lo->why[z], sizeof(s.why[z]));
		s.why[z][sizeof(s.why[z]) - 1] = '\0';
	}
	*out = s;
}

double
safety_apply(const struct limits *l, int zone, double requested,
    double intensity, int focused, double last, double dt_s,
    double endangerment_cap_kpa)
{
	double	 v, cap, step;

	if (zone < 0 || zone >= l->nzones || zone >= TABLE_MAX_ZONES)
		return (0);

	/* 1. Routine output. */
	v = isfinite(requested) && requested >= 0 ? requested : 0;

	/* 2. Exclusion: the limit is 0, and limits win over the ramp. */
	if (l->excluded[zone])
		return (0);
	if (l->endangerment[zone] && focused)
		return (0);

	/* 3. Intensity. */
	if (!(intensity >= 0))
		intensity = 0;
	if (intensity > 1)
		intensity = 1;
	v *= intensity;

	/* 4. The effective limit. */
	cap = safety_kpa(l->limit_kpa[zone]);
	if (l->endangerment[zone])
		cap = safety_kpa_min(cap, endangerment_cap_kpa);
	if (v > cap)
		v = cap;

	/* 5. Ramp from the last commanded value, then the limit again. */
	if (!(isfinite(last) && last >= 0))
		last = 0;
	if (!(dt_s >= 0))
		dt_s = 0;
	if (dt_s > SAFETY_DT_MAX_S)
		dt_s = SAFETY_DT_MAX_S;
	step = l->ramp_kpa_s * dt_s;
	if (!(isfinite(step) && step >= 0))
		step = 0;
	if (v > last + step)
		v = last + step;
	if (v < last - step)
		v = last - step;
	if (v > cap)
		v = cap;
	return (v);
}

enum monitor_result
monitor_check(struct monitor *m, const struct safety_conf *sc,
    const struct limits *l, int nzones, const double *commanded,
    const double *measured, double dt_ms, int *zone)
{
	double	 lim;
	int	 z, over = -1, stuck = -1;

	if (!(dt_ms >= 0))
		dt_ms = 0;
	if (nzones > TABLE_MAX_ZONES)
		nzones = TABLE_MAX_ZONES;
	for (z = 0; z < nzones; z++) {
		lim = z < l->nzones ? safety_kpa(l->limit_kpa[z]) : 0;
		/* A reading that is not a number counts as the worst one. */
		if (!(measured[z] <= lim + sc->overpressure_tolerance_kpa))
			m->over_ms[z] += dt_ms;
		else
			m->over_ms[z] = 0;
		if (!(fabs(measured[z] - commanded[z]) <=
		    sc->tracking_error_kpa))
			m->track_ms[z] += dt_ms;
		else
			m->track_ms[z] = 0;
		if (over == -1 && m->over_ms[z] > sc->overpressure_ms)
			over = z;
		if (stuck == -1 && m->track_ms[z] > sc->tracking_ms)
			stuck = z;
	}
	if (zone != NULL)
		*zone = over != -1 ? over : stuck;
	if (over != -1)
		return (MONITOR_OVERPRESSURE);
	if (stuck != -1)
		return (MONITOR_STUCK);
	return (MONITOR_OK);
}

void
monitor_reset(struct monitor *m)
{
	memset(m, 0, sizeof(*m));
}
