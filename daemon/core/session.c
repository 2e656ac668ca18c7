/*
 * session.c: the session state machine and every stop.
 *
 * Each tick, for a running session: controller facts are checked first
 * (a category 0 stop vents at once), then the clock and the time limit,
 * then the routine of the current step is asked for setpoints, and every
 * one of them goes through safety_apply() (the only path to the wire),
 * then the measured pressures are checked against limits and setpoints.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "session.h"
#include "session-private.h"

#define PAUSE_MAX_S		600.0	/* a pause longer than this ends */
#define STOPPING_MAX_S		60.0	/* a controlled stop never lasts longer */
#define RESET_GRACE_TICKS	10
#define RELOAD_GRACE_S		2.0	/* for pressure to follow a lower limit */

static const char *session_states[] = {
	"idle", "running", "paused", "stopping", "fault"
};

void
session_emit(struct session *s, enum session_event ev)
{
	if (s->hooks.event != NULL)
		s->hooks.event(s->hooks.arg, ev);
}

static int
session_err(char *why, size_t whylen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
session_err(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return (err);
}

/* The actor of the command being carried out; NULL or "" the table. */
static void
session_by(struct session *s, const char *who)
{
	snprintf(s->by, sizeof(s->by), "%s", who != NULL ? who : "");
}

static const char *
session_who(const struct session *s)
{
	return (s->by[0] != '\0' ? s->by : "the table");
}

const char *
session_state_name(enum session_state st)
{
	return (session_states[st]);
}

const char *
session_reason_name(enum stop_reason r)
{
	return (cause_name(r));
}

const char *
session_event_name(enum session_event ev)
{
	static const char *const names[SESSION_NEVENTS] = {
		[SESSION_EV_STARTED] =	"started",
		[SESSION_EV_STEP] =	"step",
		[SESSION_EV_PAUSED] =	"paused",
		[SESSION_EV_RESUMED] =	"resumed",
		[SESSION_EV_STOPPING] =	"stopping",
		[SESSION_EV_STOPPED] =	"stopped",
		[SESSION_EV_FAULT] =	"fault",
		[SESSION_EV_RESET] =	"reset",
		[SESSION_EV_RELOADED] =	"reloaded",
		[SESSION_EV_RESET_REFUSED] = "reset_refused",
	};

	return ((unsigned)ev < SESSION_NEVENTS ? names[ev] : "?");
}

int
session_reason_category(enum stop_reason r)
{
	return (cause_category(r));
}

int
session_active(const struct session *s)
{
	return (s->state == SESSION_RUNNING || s->state == SESSION_PAUSED ||
	    s->state == SESSION_STOPPING);
}

void
session_init(struct session *s, const struct config *cfg,
    const struct session_hooks *hooks, const struct routine_port *routines)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->routines = routines;
	if (hooks != NULL)
		s->hooks = *hooks;
	s->state = SESSION_IDLE;
	session_routine_init(s);
}

void
session_free(struct session *s)
{
	session_drop_inst(s);
	if (s->routines != NULL) {
		s->routines->free(s->ri);
		s->routines->free(s->ri_next);
	}
	s->ri = s->ri_next = NULL;
}

/* Ends the running session (any category) and records why. */
static void
session_end(struct session *s, enum stop_reason r, const char *msg)
{
	int	 cat = cause_category(r);

	s->stop_reason = r;
	s->stop_category = cat;
	if (msg != s->stop_message)
		snprintf(s->stop_message, sizeof(s->stop_message), "%s", msg);
	s->stops[r]++;
	s->ended_wall = clock_real_s();
	session_drop_inst(s);
	memset(s->commanded, 0, sizeof(s->commanded));
	log_info("session %llu stopped (category %d, %s): %s",
	    (unsigned long long)s->id, cat, cause_name(r),
	    s->stop_message);
}

/*
 * Category 0: vent every controller now. Latches a fault unless the stop
 * is the daemon's own shutdown. Safe to call in any state.
 */
void
session_cat0(struct session *s, enum stop_reason r, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[256];
	int	 was_active = session_active(s);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (s->hooks.vent != NULL)
		s->hooks.vent(s->hooks.arg);
	memset(s->commanded, 0, sizeof(s->commanded));
	if (was_active || r != STOP_SHUTDOWN)
		snprintf(s->stopped_by, sizeof(s->stopped_by), "%s", s->by);
	if (was_active)
		session_end(s, r, msg);
	else if (r != STOP_SHUTDOWN) {
		s->stop_reason = r;
		s->stop_category = 0;
		snprintf(s->stop_message, sizeof(s->stop_message), "%s", msg);
		s->stops[r]++;
	}
	if (cause_latches(r)) {
		if (!s->fault_latched)
			log_warnx("fault latched: %s", msg);
		s->fault_latched = 1;
		snprintf(s->fault_message, sizeof(s->fault_message), "%s", msg);
		s->state = SESSION_FAULT;
		s->reset_pulse = 0;
	} else if (s->state != SESSION_FAULT)
		s->state = SESSION_IDLE;
	if (was_active)
		session_emit(s, SESSION_EV_STOPPED);
	if (s->state == SESSION_FAULT)
		session_emit(s, SESSION_EV_FAULT);
}

/* Category 1: ramp down at the ramp limit, then vent. */
static void
session_cat1(struct session *s, enum stop_reason r, const char *msg)
{
	if (s->state != SESSION_RUNNING && s->state != SESSION_PAUSED)
		return;
	s->state = SESSION_STOPPING;
	s->stop_reason = r;
	s->stop_category = 1;
	snprintf(s->stop_message, sizeof(s->stop_message), "%s", msg);
	snprintf(s->stopped_by, sizeof(s->stopped_by), "%s", s->by);
	s->paused_s = 0;
	s->step_start_s = s->active_s;	/* the stop's own clock */
	session_drop_inst(s);
	log_info("session %llu stopping (category 1, %s): %s",
	    (unsigned long long)s->id, cause_name(r), msg);
	session_emit(s, SESSION_EV_STOPPING);
}

void
session_halt(struct session *s, enum stop_reason r, const char *msg)
{
	session_cat0(s, r, "%s", msg);
}

void
session_estop(struct session *s, const char *who)
{
	session_by(s, who);
	session_cat0(s, STOP_ESTOP, "emergency stop by %s", session_who(s));
	session_by(s, NULL);
}

/* Controller facts that stop a session, or latch a fault when idle. */
void
session_observe(struct session *s, const struct session_input *in)
{
	const struct table	*t = s->cfg->table;
	int			 i, active = session_active(s);

	if (s->grace_ticks > 0 && !active)
		return;
	for (i = 0; i < in->nctls; i++) {
		const struct session_ctl_in *c = &in->ctl[i];
		const char *name = t->ctls[i].name;

		if (!c->connected) {
			if (active)
				session_cat0(s, STOP_LINK_LOST,
				    "lost the link to controller %s%s%s", name,
				    c->why[0] ? ": " : "", c->why);
			continue;
		}
		if (c->estop) {
			if (active || !s->fault_latched)
				session_cat0(s, STOP_ESTOP_CIRCUIT,
				    "e-stop circuit open on controller %s",
				    name);
		} else if (c->client_stop) {
			if (active)
				session_cat0(s, STOP_CLIENT_STOP,
				    "client stop switch pressed "
				    "(controller %s)", name);
		} else if (c->fault) {
			if (active || !s->fault_latched)
				session_cat0(s, STOP_CONTROLLER_FAULT,
				    "controller %s reports fault %u (%s)", name,
				    c->fault_code, c->fault_text);
		}
		active = session_active(s);
	}
}

static void
session_ratings(const struct session_input *in, double *rating)
{
	int	 i;

	for (i = 0; i < TABLE_MAX_CONTROLLERS; i++)
		rating[i] = i < in->nctls ? in->ctl[i].rating_kpa : 0;
}

int
session_start(struct session *s, const char *program, const char *profile,
    const struct session_input *in, const char *who, char *why,
    size_t whylen)
{
	const struct program	*prog;
	const struct profile	*prof;
	const struct table	*t = s->cfg->table;
	double			 rating[TABLE_MAX_CONTROLLERS];
	int			 i;

	if (session_active(s))
		return (session_err(why, whylen, SESSION_EBUSY,
		    "a session is %s", session_states[s->state]));
	if (s->state == SESSION_FAULT)
		return (session_err(why, whylen, SESSION_EFAULT,
		    "a fault is latched (%s): reset first", s->fault_message));
	if ((prog = programs_find(&s->cfg->programs, program)) == NULL)
		return (session_err(why, whylen, SESSION_ENOTFOUND,
		    "no program '%s'", program));
	if ((prof = profiles_find(&s->cfg->profiles, profile)) == NULL)
		return (session_err(why, whylen, SESSION_ENOTFOUND,
		    "no profile '%s'", profile));
	if (prog->unavailable[0] != '\0')
		return (session_err(why, whylen, SESSION_EUNAVAIL,
		    "program %s is unavailable: %s", program,
		    prog->unavailable));
	for (i = 0; i < in->nctls; i++) {
		if (!in->ctl[i].connected)
			return (session_err(why, whylen, SESSION_ENOTREADY,
			    "controller %s is not connected",
			    t->ctls[i].name));
		if (in->ctl[i].estop || in->ctl[i].client_stop ||
		    in->ctl[i].fault)
			return (session_err(why, whylen, SESSION_ENOTREADY,
			    "controller %s is stopped (%s)", t->ctls[i].name,
			    in->ctl[i].estop ? "e-stop circuit open" :
			    in->ctl[i].client_stop ?
			    "client stop switch pressed" : "fault"));
	}
	session_ratings(in, rating);
	if (safety_resolve(t, prof, &s->cfg->rules, prog, rating, &s->lim,
	    why, whylen) == -1)
		return (SESSION_ECONTRA);

	s->prog = *prog;
	s->prof = *prof;
	s->id++;
	s->intensity_pct = prof->intensity_pct;
	s->nchanges = 0;
	s->feedback = 0;
	s->overrun_hist = 0;
	s->active_s = 0;
	s->paused_s = 0;
	s->last_s = in->now_s;
	s->started_wall = clock_real_s();
	s->ended_wall = 0;
	s->stop_reason = STOP_NONE;
	s->stop_category = -1;
	s->stop_message[0] = '\0';
	session_by(s, who);
	snprintf(s->started_by, sizeof(s->started_by), "%s", s->by);
	snprintf(s->after_reset_by, sizeof(s->after_reset_by), "%s",
	    s->reset_by);
	s->reset_by[0] = '\0';
	s->stopped_by[0] = '\0';
	memset(s->commanded, 0, sizeof(s->commanded));
	memset(s->peak_kpa, 0, sizeof(s->peak_kpa));
	monitor_reset(&s->mon);
	s->mon_lim = s->lim;
	s->mon_lim_until = 0;
	s->state = SESSION_RUNNING;
	if (session_step_begin(s, 0) == -1) {
		snprintf(why, whylen, "%s", s->stop_message);
		session_by(s, NULL);
		return (SESSION_EROUTINE);
	}
	log_info("session %llu started by %s: program %s, profile %s",
	    (unsigned long long)s->id, session_who(s), prog->id, prof->id);
	session_emit(s, SESSION_EV_STARTED);
	session_by(s, NULL);
	return (SESSION_OK);
}

int
session_pause(struct session *s, const char *who, char *why, size_t whylen)
{
	if (s->state != SESSION_RUNNING)
		return (session_err(why, whylen, SESSION_ESTATE,
		    "nothing to pause: the session is %s",
		    session_states[s->state]));
	s->state = SESSION_PAUSED;
	s->paused_s = 0;
	session_by(s, who);
	log_info("session %llu paused by %s (category 2)",
	    (unsigned long long)s->id, session_who(s));
	session_emit(s, SESSION_EV_PAUSED);
	session_by(s, NULL);
	return (SESSION_OK);
}

int
session_resume(struct session *s, const char *who, char *why, size_t whylen)
{
	if (s->state != SESSION_PAUSED)
		return (session_err(why, whylen, SESSION_ESTATE,
		    "nothing to resume: the session is %s",
		    session_states[s->state]));
	s->state = SESSION_RUNNING;
	session_by(s, who);
	log_info("session %llu resumed by %s", (unsigned long long)s->id,
	    session_who(s));
	session_emit(s, SESSION_EV_RESUMED);
	session_by(s, NULL);
	return (SESSION_OK);
}

int
session_stop(struct session *s, const char *who, char *why, size_t whylen)
{
	if (s->state == SESSION_STOPPING)
		return (SESSION_OK);
	if (s->state != SESSION_RUNNING && s->state != SESSION_PAUSED)
		return (session_err(why, whylen, SESSION_ESTATE,
		    "nothing to stop: the session is %s",
		    session_states[s->state]));
	session_by(s, who);
	session_cat1(s, STOP_OPERATOR, "stopped by the operator");
	session_by(s, NULL);
	return (SESSION_OK);
}

/* The first controller that reports a latched fault, -1 if none. */
static int
session_ctl_faulted(const struct session_input *in)
{
	int	 i;

	for (i = 0; i < in->nctls; i++)
		if (in->ctl[i].connected && in->ctl[i].fault)
			return (i);
	return (-1);
}

static void
session_reset_done(struct session *s)
{
	s->fault_latched = 0;
	s->fault_message[0] = '\0';
	s->state = SESSION_IDLE;
	s->reset_until_s = 0;
	s->grace_ticks = RESET_GRACE_TICKS;
	log_info("fault reset by %s", s->reset_by[0] != '\0' ? s->reset_by :
	    "the table");
	session_emit(s, SESSION_EV_RESET);
}

/* A pending reset: done once no controller reports a fault after the
 * pulse, refused when one still does at the deadline. */
static void
session_reset_check(struct session *s, const struct session_input *in)
{
	const struct table	*t = s->cfg->table;
	int			 i;

	if (s->reset_until_s == 0 || s->state != SESSION_FAULT ||
	    s->reset_pulse > 0)
		return;
	session_by(s, s->reset_by);
	if ((i = session_ctl_faulted(in)) == -1) {
		session_reset_done(s);
		session_by(s, NULL);
		return;
	}
	if (in->now_s < s->reset_until_s) {
		session_by(s, NULL);
		return;
	}
	s->reset_until_s = 0;
	snprintf(s->reset_refusal, sizeof(s->reset_refusal), "cannot reset: "
	    "controller %s still reports fault %u (%s): its cause is still "
	    "there", t->ctls[i].name, in->ctl[i].fault_code,
	    in->ctl[i].fault_text);
	log_warnx("reset by %s refused: %s", s->reset_by[0] != '\0' ?
	    s->reset_by : "the table", s->reset_refusal);
	session_emit(s, SESSION_EV_RESET_REFUSED);
	session_by(s, NULL);
}

int
session_reset(struct session *s, const struct session_input *in,
    const char *who, char *why, size_t whylen)
{
	const struct table	*t = s->cfg->table;
	int			 i;

	if (s->state != SESSION_FAULT)
		return (SESSION_OK);
	if (s->reset_until_s != 0)
		return (session_err(why, whylen, SESSION_EPENDING,
		    "a reset is under way"));
	for (i = 0; i < in->nctls; i++) {
		if (!in->ctl[i].connected)
			return (session_err(why, whylen, SESSION_ENOTREADY,
			    "cannot reset: controller %s is not connected",
			    t->ctls[i].name));
		if (in->ctl[i].estop)
			return (session_err(why, whylen, SESSION_ENOTREADY,
			    "cannot reset: the e-stop circuit is still open "
			    "on controller %s", t->ctls[i].name));
		if (in->ctl[i].client_stop)
			return (session_err(why, whylen, SESSION_ENOTREADY,
			    "cannot reset: the client stop switch is still "
			    "pressed (controller %s)", t->ctls[i].name));
	}
	snprintf(s->reset_by, sizeof(s->reset_by), "%s", who != NULL ? who :
	    "");
	s->reset_refusal[0] = '\0';
	s->reset_pulse = 2;	/* fault_reset for one tick, then not */
	if (session_ctl_faulted(in) != -1) {
		/* The controllers clear their own latch on the pulse, unless
		 * its cause is still there: wait and see. */
		s->reset_until_s = in->now_s + SESSION_RESET_WAIT_S;
		return (session_err(why, whylen, SESSION_EPENDING,
		    "a reset is under way"));
	}
	session_by(s, who);
	session_reset_done(s);
	session_by(s, NULL);
	return (SESSION_OK);
}

int
session_intensity(struct session *s, int pct, const char *who, char *why,
    size_t whylen)
{
	if (pct < 10 || pct > 100)
		return (session_err(why, whylen, SESSION_ESTATE,
		    "intensity %d%% is out of range (10 to 100)", pct));
	if (!session_active(s))
		return (session_err(why, whylen, SESSION_ESTATE,
		    "no session is running"));
	if (pct < s->intensity_pct)
		s->feedback = MASSAGED_FEEDBACK_LESS;
	else if (pct > s->intensity_pct)
		s->feedback = MASSAGED_FEEDBACK_MORE;
	if (pct != s->intensity_pct && s->nchanges++ < SESSION_CHANGES_MAX) {
		s->changes[s->nchanges - 1].wall = clock_real_s();
		s->changes[s->nchanges - 1].pct = pct;
		snprintf(s->changes[s->nchanges - 1].by,
		    sizeof(s->changes[0].by), "%s", who != NULL ? who : "");
	}
	if (pct != s->intensity_pct)
		log_info("session %llu: intensity %d%% by %s",
		    (unsigned long long)s->id, pct, who != NULL && *who != '\0' ?
		    who : "the table");
	s->intensity_pct = pct;
	return (SESSION_OK);
}

/* The setpoints this tick asks for, before the pipeline. */
static void
session_request(struct session *s, const struct session_input *in,
    double dt, double *request)
{
	const struct safety_conf	*sc = &s->cfg->table->safety;
	int				 i, n = s->cfg->table->nzones;

	for (i = 0; i < n; i++)
		request[i] = 0;
	switch (s->state) {
	case SESSION_RUNNING:
		while (session_active(s) && s->state == SESSION_RUNNING) {
			int rc = session_routine(s, in, dt, request);

			if (rc <= 0)
				break;
			if (s->step + 1 >= s->prog.nsteps) {
				session_cat1(s, STOP_PROGRAM_END,
				    "the program has ended");
				break;
			}
			if (session_step_begin(s, s->step + 1) == -1)
				break;
			session_emit(s, SESSION_EV_STEP);
			for (i = 0; i < n; i++)
				request[i] = 0;
		}
		break;
	case SESSION_PAUSED:
		for (i = 0; i < n; i++)
			request[i] = fmin(s->commanded[i], sc->pause_kpa);
		break;
	default:
		break;	/* stopping: everything to 0, at the ramp limit */
	}
}

void
session_tick(struct session *s, const struct session_input *in,
    struct session_output *out)
{
	const struct table		*t = s->cfg->table;
	double				 request[TABLE_MAX_ZONES];
	double				 dt, intensity;
	int				 i, zone, focused, enable, all_zero;
	enum monitor_result		 mr;

	memset(out, 0, sizeof(*out));
	s->ask_due = 0;
	dt = in->now_s - s->last_s;
	if (dt < 0 || dt > 1.0)
		dt = 0;		/* first tick, or the clock jumped */
	s->last_s = in->now_s;
	if (s->grace_ticks > 0)
		s->grace_ticks--;
	session_observe(s, in);

	if (s->state == SESSION_RUNNING || s->state == SESSION_STOPPING)
		s->active_s += dt;
	if (s->state == SESSION_PAUSED && (s->paused_s += dt) > PAUSE_MAX_S)
		session_cat1(s, STOP_PAUSE_TIMEOUT, "paused for too long");
	if (s->state == SESSION_RUNNING && s->active_s >= s->lim.max_session_s)
		session_cat1(s, STOP_TIME_LIMIT, "the profile's session time "
		    "limit was reached");

	if (session_active(s)) {
		session_request(s, in, dt, request);
		focused = s->state == SESSION_RUNNING && s->have_inst &&
		    (s->prog.steps[s->step].routine->flags &
		    MASSAGED_ROUTINE_FOCUSED);
		intensity = s->state == SESSION_RUNNING ?
		    s->intensity_pct / 100.0 : 1.0;
		all_zero = 1;
		for (i = 0; i < t->nzones && session_active(s); i++) {
			s->commanded[i] = safety_apply(&s->lim, i, request[i],
			    intensity, focused, s->commanded[i], dt,
			    t->safety.endangerment_cap_kpa);
			if (s->commanded[i] > 0)
				all_zero = 0;
			if (in->measured_kpa[i] > s->peak_kpa[i])
				s->peak_kpa[i] = in->measured_kpa[i];
		}
		if (s->state == SESSION_STOPPING && (all_zero ||
		    s->active_s - s->step_start_s > STOPPING_MAX_S)) {
			/* Ramped down: vent, the session is over. */
			if (s->hooks.vent != NULL)
				s->hooks.vent(s->hooks.arg);
			session_end(s, s->stop_reason, s->stop_message);
			s->state = SESSION_IDLE;
			session_emit(s, SESSION_EV_STOPPED);
		}
	}
	if (session_active(s)) {
		if (in->now_s >= s->mon_lim_until)
			s->mon_lim = s->lim;
		mr = monitor_check(&s->mon, &t->safety, &s->mon_lim, t->nzones,
		    s->commanded, in->measured_kpa, dt * 1000, &zone);
		if (mr == MONITOR_OVERPRESSURE)
			session_cat0(s, STOP_OVERPRESSURE, "over-pressure on "
			    "zone %s: %.1f kPa measured, limit %.1f kPa",
			    t->zones[zone].name, in->measured_kpa[zone],
			    s->mon_lim.limit_kpa[zone]);
		else if (mr == MONITOR_STUCK)
			session_cat0(s, STOP_STUCK, "zone %s does not follow "
			    "its setpoint (%.1f kPa measured, %.1f kPa set): "
			    "stuck actuator or sensor", t->zones[zone].name,
			    in->measured_kpa[zone], s->commanded[zone]);
	}

	enable = session_active(s);
	for (i = 0; i < t->nctls; i++) {
		out->ctl[i].enable = enable;
		out->ctl[i].fault_reset = s->reset_pulse == 2 && !enable;
	}
	if (s->reset_pulse > 0)
		s->reset_pulse--;
	session_reset_check(s, in);
	for (i = 0; i < t->nzones; i++)
		out->setpoint_kpa[i] = enable ? s->commanded[i] : 0;
}

void
session_reload(struct session *s, const struct config *cfg,
    const struct session_input *in)
{
	const struct profile	*prof;
	struct limits		 fresh;
	double			 rating[TABLE_MAX_CONTROLLERS];
	char			 why[256];

	s->cfg = cfg;
	if (!session_active(s))
		return;
	if ((prof = profiles_find(&cfg->profiles, s->prof.id)) == NULL) {
		log_warnx("reload: profile %s is gone; the running session "
		    "keeps its limits", s->prof.id);
		return;
	}
	session_ratings(in, rating);
	if (safety_resolve(cfg->table, prof, &cfg->rules, &s->prog, rating,
	    &fresh, why, sizeof(why)) == -1) {
		session_cat1(s, STOP_CONTRAINDICATED, why);
		return;
	}
	/* The new limits apply to setpoints at once; the over-pressure
	 * monitor keeps the old ones for a moment, while the actuators
	 * follow the lower setpoints down. */
	s->mon_lim = s->lim;
	s->mon_lim_until = in->now_s + RELOAD_GRACE_S;
	safety_stricter(&s->lim, &fresh, &s->lim);
	s->prof = *prof;
	log_info("reload: session %llu keeps its limits where the new ones "
	    "are looser", (unsigned long long)s->id);
}

double
session_elapsed(const struct session *s)
{
	return (session_active(s) ? s->active_s : 0);
}

double
session_remaining(const struct session *s)
{
	double	 left = 0, lim;
	int	 i;

	if (s->state != SESSION_RUNNING && s->state != SESSION_PAUSED)
		return (0);
	left = s->prog.steps[s->step].duration_s -
	    (s->active_s - s->step_start_s);
	for (i = s->step + 1; i < s->prog.nsteps; i++)
		left += s->prog.steps[i].duration_s;
	lim = s->lim.max_session_s - s->active_s;
	if (lim < left)
		left = lim;
	return (left > 0 ? left : 0);
}
