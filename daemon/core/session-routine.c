/*
 * session-routine.c: the session's side of its routines: starting each
 * step's instance through the port (core/routine-port.h), asking it ahead
 * of each tick, taking in its answer, and every stop a routine causes.
 *
 * The loop waits for nobody: a step's instance is started with
 * port->begin() and looked at once a tick with port->ready() (its
 * worker's start, the plugin's constructors and create() run on their
 * own time, with their own deadline); until it is ready the last
 * setpoints hold (zero at the session's start), and a stop of any kind
 * vents at once meanwhile.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "session.h"
#include "session-private.h"

#define ROUTINE_OUT_MAX_KPA	1000.0	/* beyond any table: a broken routine */
#define ROUTINE_OVERRUNS_MAX	3	/* slow steps among ... */
#define ROUTINE_OVERRUN_WINDOW	50	/* ... the last this many, stop */
#define ROUTINE_STALL_TICKS	5	/* one step this many ticks long stops */
#define SESSION_LOAD_MS		3000	/* a step's worker, constructors and
					   create(), from the step's start */
#define ROUTINE_DEADLINE_TICKS	5	/* as ROUTINE_STALL_TICKS */
#define ROUTINE_DEADLINE_MIN_MS	250.0	/* a busy machine stalls both sides */

static void	 session_zones(struct session *, const struct program_step *,
		    struct massaged_zone *);
static int	 session_step_ready(struct session *, int);
static int	 session_routine_late(struct session *, int, int, double *);
static int	 session_routine_out(struct session *, double, double *);

void
session_routine_init(struct session *s)
{
	s->routine_budget_ms = 1000.0 / s->cfg->table->tick_hz / 4;
	if (s->routine_budget_ms < 2)
		s->routine_budget_ms = 2;
	/*
	 * A routine in a worker is asked a tick ahead (session_routine());
	 * the tick waits half a tick for a missing answer, never longer; a
	 * late answer holds the last setpoints and is collected by the next
	 * tick. A step() still unanswered about a tick after the question,
	 * with its worker asleep in the kernel or computing (a CPU budget
	 * used on it, as the kernel counts it), stops the session at that
	 * tick. A worker only kept from a CPU by a busy machine has until
	 * ROUTINE_DEADLINE_TICKS (at least ROUTINE_DEADLINE_MIN_MS) after it
	 * was asked.
	 */
	s->routine_wait_ms = 1000.0 / s->cfg->table->tick_hz / 2;
	s->routine_deadline_ms = ROUTINE_DEADLINE_TICKS * 1000.0 /
	    s->cfg->table->tick_hz;
	if (s->routine_deadline_ms < ROUTINE_DEADLINE_MIN_MS)
		s->routine_deadline_ms = ROUTINE_DEADLINE_MIN_MS;
}

/* Ends the step's instance (and its worker). */
void
session_drop_step(struct session *s)
{
	if (s->have_inst) {
		s->routines->destroy(s->ri);
		s->have_inst = 0;
	}
	s->loading = 0;
}

/* Ends the step's instance and the next step's worker. */
void
session_drop_inst(struct session *s)
{
	session_drop_step(s);
	if (s->ri_next != NULL)
		s->routines->destroy(s->ri_next);
}

void
session_ask(struct session *s, uint64_t next_ns)
{
	uint64_t	 look = 0;

	/* The worker looks for the question after this one a quarter tick
	 * after that tick is due: asked then, it need not be woken. */
	if (next_ns > 0)
		look = next_ns + (uint64_t)(250e6 / s->cfg->table->tick_hz);
	if (s->ask_due && s->have_inst && !s->loading &&
	    s->state == SESSION_RUNNING)
		s->routines->ask(s->ri, &s->ask_in, look);
	s->ask_due = 0;
}

void
session_collect(struct session *s)
{
	const struct program_step	*st;

	if (!s->have_inst || s->loading || s->state != SESSION_RUNNING)
		return;
	s->routines->collect(s->ri);
	if (s->routines->lost(s->ri)) {
		/* Dead between ticks: the stop need not wait for one. */
		st = &s->prog.steps[s->step];
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s): %s",
		    st->routine->name, st->name, s->routines->why(s->ri));
	}
}

static void
session_zones(struct session *s, const struct program_step *st,
    struct massaged_zone *zones)
{
	const struct table	*t = s->cfg->table;
	int			 i;

	for (i = 0; i < st->nzones; i++) {
		const struct zone_conf *z = &t->zones[st->zones[i]];

		zones[i].name = z->name;
		zones[i].along_cm = z->along_cm;
		zones[i].across_cm = z->across_cm;
		zones[i].limit_kpa = s->lim.limit_kpa[st->zones[i]];
		zones[i].endangerment = z->endangerment;
	}
}

/*
 * Starts step i: its instance begins loading (port->begin()), and the
 * next step's worker is started so that it has loaded by then. -1 (with
 * a category 0 stop done) if it cannot even begin; a routine that
 * refuses or misses its deadline later stops the session then
 * (session_step_ready()). With routine_wait_ms 0 (the offline preview)
 * the loading is waited for here.
 */
int
session_step_begin(struct session *s, int i)
{
	const struct program_step	*st = &s->prog.steps[i];
	struct massaged_zone		 zones[TABLE_MAX_ZONES];
	struct routine_opts		 o;
	char				 why[256] = "out of memory";

	session_drop_step(s);
	s->step = i;
	s->step_start_s = s->active_s;
	if (i == 0)
		memset(s->hold_kpa, 0, sizeof(s->hold_kpa));
	session_zones(s, st, zones);
	/* The worker started for this step at the previous one, if any. */
	memset(&o, 0, sizeof(o));
	o.deadline_ms = s->routine_deadline_ms;
	o.wait_ms = s->routine_wait_ms;
	o.cpu_ms = s->routine_budget_ms;
	o.load_deadline_ns = clock_mono_ns() +
	    (uint64_t)SESSION_LOAD_MS * 1000000;
	o.ramp_kpa_s = s->prof.ramp_kpa_s;
	o.tick_hz = s->cfg->table->tick_hz;
	if (s->ri == NULL)	/* once: kept until session_free() */
		s->ri = s->routines->alloc();
	if (s->ri_next == NULL)
		s->ri_next = s->routines->alloc();
	o.prepared = s->ri_next;
	if (s->ri == NULL || s->ri_next == NULL || s->routines->begin(s->ri,
	    &o, st->routine, st->params, zones, st->nzones, st->duration_s,
	    why, sizeof(why)) == -1) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) "
		    "refused to start: %s", st->routine->name, st->name, why);
		return (-1);
	}
	s->have_inst = 1;
	s->loading = 1;
	if (i + 1 < s->prog.nsteps)
		s->routines->prepare(s->ri_next,
		    s->prog.steps[i + 1].routine);
	log_info("session %llu: step %d/%d '%s', routine %s, %.0f s",
	    (unsigned long long)s->id, i + 1, s->prog.nsteps, st->name,
	    st->routine->name, st->duration_s);
	/* In-process (a test's) is ready at once; the preview waits. */
	return (session_step_ready(s, s->routine_wait_ms <= 0) == -1 ? -1 : 0);
}

/*
 * Whether the step's instance has loaded: 1 (its time starts now), 0 not
 * yet (wait: until it has or its deadline passed), -1 it refused or
 * missed its deadline: a category 0 stop naming it is done.
 */
static int
session_step_ready(struct session *s, int wait)
{
	const struct program_step	*st = &s->prog.steps[s->step];
	int				 rc;

	if (!s->loading)
		return (1);
	if ((rc = s->routines->ready(s->ri, wait)) == 0)
		return (0);
	if (rc == -1) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) "
		    "refused to start: %s", st->routine->name, st->name,
		    s->routines->why(s->ri));
		return (-1);
	}
	s->loading = 0;
	s->step_start_s = s->active_s;
	return (1);
}

/*
 * No answer yet: the last setpoints stand until it comes or the deadline
 * passes. Missing a tick after the question is slow (once per question),
 * and slow again and again is broken, as in session_routine_out(); not
 * when its worker was only kept from running (held: ROUTINE_STEP_HELD),
 * which the deadline alone bounds.
 */
static int
session_routine_late(struct session *s, int was_pending, int held,
    double *request)
{
	const struct program_step	*st = &s->prog.steps[s->step];
	int				 i, late;

	if (!was_pending)
		s->late_counted = 0;
	late = was_pending && !held && !s->late_counted;
	s->late_ticks[held != 0]++;
	s->late_counted |= late;
	s->overrun_hist = (s->overrun_hist << 1) | (uint64_t)late;
	if (__builtin_popcountll(s->overrun_hist &
	    ((1ull << ROUTINE_OVERRUN_WINDOW) - 1)) >= ROUTINE_OVERRUNS_MAX) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) had "
		    "not answered a tick after it was asked %d times in %d "
		    "steps", st->routine->name, st->name, ROUTINE_OVERRUNS_MAX,
		    ROUTINE_OVERRUN_WINDOW);
		return (-1);
	}
	for (i = 0; i < st->nzones; i++)
		request[st->zones[i]] = s->routine_out[i];
	return (0);
}

/*
 * An answer that took ms: for a routine in this process the time step()
 * took; for one in a worker the CPU time its worker used on the question,
 * as the kernel counts it (port->cpu_ms(): never a figure of the worker's
 * own), since the round trip is the scheduler's. One slow step can be the
 * scheduler's doing; a routine slow again and again is broken, one that
 * stalls the loop for several ticks at once is broken outright.
 */
static int
session_routine_out(struct session *s, double ms, double *request)
{
	const struct program_step	*st = &s->prog.steps[s->step];
	const char			*what = "ms in step";
	int				 i;

	if (s->routines->remote(s->ri)) {
		ms = s->routines->cpu_ms(s->ri);
		what = "ms of CPU in step (counted by the kernel)";
	}
	s->overrun_hist = (s->overrun_hist << 1) | (ms > s->routine_budget_ms);
	if (ms > ROUTINE_STALL_TICKS * 1000.0 / s->cfg->table->tick_hz) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) took "
		    "%.1f %s, more than %d ticks", st->routine->name,
		    st->name, ms, what, ROUTINE_STALL_TICKS);
		return (-1);
	}
	if (__builtin_popcountll(s->overrun_hist &
	    ((1ull << ROUTINE_OVERRUN_WINDOW) - 1)) >= ROUTINE_OVERRUNS_MAX) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) took "
		    "%.1f %s, over its budget of %.1f ms %d times in %d steps",
		    st->routine->name, st->name, ms, what,
		    s->routine_budget_ms, ROUTINE_OVERRUNS_MAX,
		    ROUTINE_OVERRUN_WINDOW);
		return (-1);
	}
	for (i = 0; i < st->nzones; i++) {
		double v = s->routine_out[i];

		/* The pipeline would zero these; a routine that asks for
		 * them is broken and must not go on. */
		if (!isfinite(v) || v < 0 || v > ROUTINE_OUT_MAX_KPA) {
			session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step "
			    "%s) returned %g kPa for zone %s", st->routine->name,
			    st->name, v, s->cfg->table->zones[st->zones[i]].name);
			return (-1);
		}
		request[st->zones[i]] = v;
	}
	s->late_counted = 0;
	return (0);
}

/* The question of this tick, and the next one's if asked ahead. */
static void
session_routine_in(struct session *s, const struct session_input *in,
    double dt, double t_step, struct massaged_step_in *sin)
{
	const struct program_step	*st = &s->prog.steps[s->step];
	const struct routine_port	*rp = s->routines;
	int				 i;

	for (i = 0; i < st->nzones; i++) {
		s->routine_in[i] = in->measured_kpa[st->zones[i]];
		if (!rp->remote(s->ri))
			s->routine_out[i] = 0;
	}
	memset(sin, 0, sizeof(*sin));
	sin->size = sizeof(*sin);
	sin->t_s = t_step;
	sin->dt_s = dt;
	sin->pressure_kpa = s->routine_in;
	sin->intensity = s->intensity_pct / 100.0;
	/* A question asked ahead is collected, not sent: the feedback then
	 * waits for the next question. */
	if (!rp->pending(s->ri)) {
		sin->feedback = s->feedback;
		s->feedback = 0;
	}
}

/*
 * Asks the routine of the current step; 0 running, 1 step over, -1 stop.
 * While the step's instance loads, the setpoints of the last answer hold
 * (zero before the first).
 */
int
session_routine(struct session *s, const struct session_input *in,
    double dt, double *request)
{
	const struct program_step	*st = &s->prog.steps[s->step];
	const struct routine_port	*rp = s->routines;
	struct massaged_step_in		 sin;
	uint64_t			 t0;
	double				 ms, t_step, next;
	int				 rc, was_pending;

	if ((rc = session_step_ready(s, 0)) <= 0) {
		if (rc == 0)
			memcpy(request, s->hold_kpa, s->cfg->table->nzones *
			    sizeof(double));
		return (rc);
	}
	t_step = s->active_s - s->step_start_s;
	if (t_step >= st->duration_s)
		return (1);
	was_pending = rp->pending(s->ri);
	session_routine_in(s, in, dt, t_step, &sin);
	t0 = clock_mono_ns();
	rc = rp->step(s->ri, &sin, s->routine_out);
	ms = (clock_mono_ns() - t0) / 1e6;
	if (rc == ROUTINE_STEP_LATE || rc == ROUTINE_STEP_HELD)
		rc = session_routine_late(s, was_pending,
		    rc == ROUTINE_STEP_HELD, request);
	else if (rc == ROUTINE_STEP_LOST) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s): %s",
		    st->routine->name, st->name, rp->why(s->ri));
		return (-1);
	} else if (rc == MASSAGED_STEP_ERROR) {
		session_cat0(s, STOP_ROUTINE_ERROR, "routine %s (step %s) "
		    "reported an error", st->routine->name, st->name);
		return (-1);
	} else if (session_routine_out(s, ms, request) == -1)
		return (-1);
	else {
		/*
		 * A routine in a worker is asked, at the end of this tick
		 * (session_ask()), for the next tick, with this tick's
		 * readings: it computes while the loop sleeps, and the next
		 * tick only collects the answer.
		 */
		next = 1.0 / s->cfg->table->tick_hz;
		if (rc == MASSAGED_STEP_RUNNING && t_step + next <
		    st->duration_s && rp->remote(s->ri)) {
			s->ask_in = sin;
			s->ask_in.t_s = t_step + next;
			s->ask_in.dt_s = next;
			s->ask_in.feedback = s->feedback;
			s->feedback = 0;
			s->ask_due = 1;
		}
		rc = rc == MASSAGED_STEP_DONE ? 1 : 0;
	}
	if (rc >= 0)
		memcpy(s->hold_kpa, request, s->cfg->table->nzones *
		    sizeof(double));
	return (rc);
}
