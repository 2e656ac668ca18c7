/*
 * safety.h: the limit pipeline and stop monitoring. Every setpoint the
 * daemon sends passes safety_apply(); nothing else writes setpoints.
 *
 *   routine output -> reject NaN/inf/negative -> zone exclusion ->
 *   intensity -> lowest of (controller rating, zone hardware limit, profile
 *   cap, contraindication scale, endangerment cap) -> ramp-rate limit from
 *   the last commanded value -> the wire
 */
#ifndef SAFETY_H
#define SAFETY_H

#include "profile.h"
#include "program.h"
#include "table.h"

/* The limits of one session: resolved once at start and on reload. */
struct limits {
	int	 nzones;
	double	 limit_kpa[TABLE_MAX_ZONES];	/* effective cap of each zone */
	int	 excluded[TABLE_MAX_ZONES];	/* never pressed: always 0 */
	int	 endangerment[TABLE_MAX_ZONES];	/* light broad pressure only */
	double	 ramp_kpa_s;
	double	 max_session_s;
	char	 why[TABLE_MAX_ZONES][96];	/* which limit is the lowest */
};

/*
 * Resolves profile + rules + table (+ controller ratings, kPa, one per
 * controller; 0 = not known yet) into limits. Returns 0, or -1 when a rule
 * refuses the session, with "contraindicated: NAME: reason" in why.
 * program may be NULL (limits only, no forbidden-routine check).
 */
int	safety_resolve(const struct table *t, const struct profile *p,
	    const struct rules *r, const struct program *prog,
	    const double *ctl_rating_kpa, struct limits *out,
	    char *why, size_t whylen);

/* Keeps the stricter of a and b in each field, into out (for reload). */
void	safety_stricter(const struct limits *a, const struct limits *b,
	    struct limits *out);

/* Longest dt_s the ramp limit counts: a stalled loop is not a licence to
 * jump (tick_hz is at least 1). */
#define SAFETY_DT_MAX_S		1.0

/*
 * The pipeline for one zone and one tick. requested: routine output (any
 * double); focused: the step's routine has MASSAGED_ROUTINE_FOCUSED;
 * last: the last commanded value of this zone; dt_s: time since it.
 * Returns the value to send, kPa, always in [0, limit_kpa].
 */
double	safety_apply(const struct limits *l, int zone, double requested,
	    double intensity, int focused, double last, double dt_s,
	    double endangerment_cap_kpa);

/* Per-zone monitoring state for over-pressure and stuck actuators. */
struct monitor {
	double	 over_ms[TABLE_MAX_ZONES];
	double	 track_ms[TABLE_MAX_ZONES];
};

enum monitor_result {
	MONITOR_OK,
	MONITOR_OVERPRESSURE,
	MONITOR_STUCK
};

/*
 * One tick of monitoring: measured vs limit (+tolerance, for longer than
 * overpressure_ms) and measured vs commanded (error above tracking_error_kpa
 * for longer than tracking_ms). Sets *zone to the offending zone.
 */
enum monitor_result monitor_check(struct monitor *m, const struct safety_conf *sc,
	    const struct limits *l, int nzones, const double *commanded,
	    const double *measured, double dt_ms, int *zone);
void	monitor_reset(struct monitor *m);

#endif
