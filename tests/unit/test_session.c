/*
 * test_session.c: the session state machine (daemon/core/session.c) with the
 * real limit pipeline: every transition and every stop reason.
 *
 * Routines here are in-process descriptors, so each test decides exactly
 * what the routine asks for; the table is parsed from a real INI file.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "routine-inst.h"
#include "session.h"

/* --- test routines --------------------------------------------------- */

enum mode { FLAT, NAN_OUT, ERROR_OUT, DONE_AFTER_1S, HUGE_OUT, NEG_OUT,
    SLOW_ONCE, SLOW_ALWAYS, SLOW_ALTERNATE, STALL, SLOW_EVERY_24,
    SLOW_EVERY_25 };

struct tinst {
	double	 kpa;
	int	 mode;
	size_t	 n;
	int	 feedback_seen;
};

static int last_feedback;
static double last_ramp_kpa_s, last_tick_hz;	/* what create() was told */

static const struct massaged_param tparams[] = {
	{ "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 10, 0, 100, NULL, "p" },
	{ "mode", MASSAGED_PARAM_INT, "", 0, 0, 11, NULL, "m" },
};

static void *
t_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct tinst	*t = calloc(1, sizeof(*t));

	t->kpa = a->params[0];
	t->mode = (int)a->params[1];
	t->n = a->n_zones;
	if (MASSAGED_ARGS_HAS(a, tick_hz)) {
		last_ramp_kpa_s = a->ramp_kpa_s;
		last_tick_hz = a->tick_hz;
	}
	return (t);
}

static int
t_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct tinst	*t = inst;
	size_t		 i;

	if (in->feedback != 0)
		last_feedback = in->feedback;
	for (i = 0; i < t->n; i++) {
		switch (t->mode) {
		case NAN_OUT:	out[i] = in->t_s > 0.5 ? NAN : t->kpa; break;
		case HUGE_OUT:	out[i] = in->t_s > 0.5 ? 1e12 : t->kpa; break;
		case NEG_OUT:	out[i] = in->t_s > 0.5 ? -5 : t->kpa; break;
		default:	out[i] = t->kpa; break;
		}
	}
	if ((t->mode == SLOW_ALWAYS && in->t_s > 0.5) ||
	    (t->mode == SLOW_ALTERNATE && in->t_s > 0.5 &&
	    ((int)lround(in->t_s * 50)) % 2 == 0) ||
	    (t->mode == SLOW_ONCE && in->t_s > 0.5 && in->t_s < 0.52) ||
	    (t->mode == SLOW_EVERY_24 && in->t_s > 0.5 &&
	    ((int)lround(in->t_s * 50)) % 24 == 0) ||
	    (t->mode == SLOW_EVERY_25 && in->t_s > 0.5 &&
	    ((int)lround(in->t_s * 50)) % 25 == 0)) {
		struct timespec ts = { 0, 8 * 1000000L };	/* budget: 5 ms */

		nanosleep(&ts, NULL);
	}
	if (t->mode == STALL && in->t_s > 0.5 && in->t_s < 0.52) {
		struct timespec ts = { 0, 120 * 1000000L };	/* 6 ticks */

		nanosleep(&ts, NULL);
	}
	if (t->mode == ERROR_OUT && in->t_s > 0.5)
		return (MASSAGED_STEP_ERROR);
	if (t->mode == DONE_AFTER_1S && in->t_s >= 1.0)
		return (MASSAGED_STEP_DONE);
	return (MASSAGED_STEP_RUNNING);
}

static void
t_destroy(void *inst)
{
	free(inst);
}

static const struct massaged_routine gentle = {
	MASSAGED_ROUTINE_ABI_VERSION, sizeof(struct massaged_routine),
	"gentle", "1.0", "test", 0, tparams, 2, t_create, t_step, t_destroy
};
static const struct massaged_routine focused = {
	MASSAGED_ROUTINE_ABI_VERSION, sizeof(struct massaged_routine),
	"focused", "1.0", "test", MASSAGED_ROUTINE_FOCUSED, tparams, 2,
	t_create, t_step, t_destroy
};

/* --- fixture --------------------------------------------------------- */

static const char *TABLE =
	"[daemon]\ntick_hz = 50\n"
	"[safety]\noverpressure_tolerance_kpa = 2\noverpressure_ms = 200\n"
	"tracking_error_kpa = 6\ntracking_ms = 1000\n"
	"endangerment_cap_kpa = 8\npause_kpa = 2\n"
	"[controller a]\naddress = 127.0.0.1:1502\n"
	"[controller b]\naddress = 127.0.0.1:1503\n"
	"[zone a0]\ncontroller = a\nchannel = 0\nlimit_kpa = 35\n"
	"[zone a1]\ncontroller = a\nchannel = 1\nlimit_kpa = 35\n"
	"[zone b0]\ncontroller = b\nchannel = 0\nlimit_kpa = 35\n"
	"[zone notch]\ncontroller = b\nchannel = 1\nlimit_kpa = 15\n"
	"endangerment = yes\n";

struct fx {
	char			 dir[64];
	struct table		 table;
	struct rule		 rules[2];
	struct profile		 profiles[3];
	struct profile		*byid[3];	/* the set: sorted by id */
	struct program		 programs[3];
	struct config		 cfg;
	struct session		 s;
	struct session_input	 in;
	struct session_output	 out;
	int			 vents;
	char			 events[64][16];
	int			 nevents;
};

static void
fx_vent(void *arg)
{
	((struct fx *)arg)->vents++;
}

static void
fx_event(void *arg, enum session_event ev)
{
	struct fx	*f = arg;

	if (f->nevents < 64)
		snprintf(f->events[f->nevents++], 16, "%s",
		    session_event_name(ev));
}

static int
fx_has_event(struct fx *f, const char *type)
{
	int	 i;

	for (i = 0; i < f->nevents; i++)
		if (strcmp(f->events[i], type) == 0)
			return (1);
	return (0);
}

static void
fx_step(struct program *p, int i, const struct massaged_routine *r,
    double dur, double kpa, int mode, int nz, const int *zones)
{
	struct program_step	*st = &p->steps[i];

	snprintf(st->name, sizeof(st->name), "step%d", i + 1);
	st->routine = r;
	st->duration_s = dur;
	st->nzones = nz;
	memcpy(st->zones, zones, nz * sizeof(int));
	st->params[0] = kpa;
	st->params[1] = mode;
	p->nsteps = i + 1;
	p->total_s += dur;
}

static int
fx_setup(void **state)
{
	struct fx		*f = calloc(1, sizeof(*f));
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 path[128];
	FILE			*fp;
	static const int	 all[] = { 0, 1, 2, 3 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/massaged-test-session.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/table.ini", f->dir);
	fp = fopen(path, "w");
	fputs(TABLE, fp);
	fclose(fp);
	assert_int_equal(table_load(&f->table, path, &errs), 0);
	unlink(path);
	rmdir(f->dir);

	/* rules: one that refuses, one that scales */
	snprintf(f->rules[0].name, NAME_LEN, "dvt");
	snprintf(f->rules[0].reason, 256, "deep vein thrombosis: a clot may "
	    "travel");
	f->rules[0].refuse = 1;
	f->rules[0].scale = 1;
	snprintf(f->rules[1].name, NAME_LEN, "osteoporosis");
	snprintf(f->rules[1].reason, 256, "fragile bones");
	f->rules[1].scale = 0.5;
	f->cfg.rules.n = 2;
	f->cfg.rules.rules = f->rules;

	/* profiles: standard (30 kPa, 10 kPa/s, 1 min), dvt, stricter */
	for (int i = 0; i < 3; i++) {
		struct profile *p = &f->profiles[i];

		p->cap_kpa = 30;
		p->ramp_kpa_s = 10;
		p->max_session_min = 1;
		p->intensity_pct = 100;
	}
	snprintf(f->profiles[0].id, NAME_LEN, "standard");
	snprintf(f->profiles[1].id, NAME_LEN, "clot");
	f->profiles[1].nconditions = 1;
	snprintf(f->profiles[1].conditions[0], NAME_LEN, "dvt");
	snprintf(f->profiles[2].id, NAME_LEN, "zfragile");
	f->profiles[2].nconditions = 1;
	snprintf(f->profiles[2].conditions[0], NAME_LEN, "osteoporosis");
	f->byid[0] = &f->profiles[1];		/* clot */
	f->byid[1] = &f->profiles[0];		/* standard */
	f->byid[2] = &f->profiles[2];		/* zfragile */
	f->cfg.profiles.n = 3;
	f->cfg.profiles.profiles = f->byid;

	/* programs: "flat" one long step at 20 kPa; "two" two short steps;
	 * "deep" a focused routine over every zone including the notch */
	snprintf(f->programs[0].id, NAME_LEN, "deep");
	fx_step(&f->programs[0], 0, &focused, 600, 40, FLAT, 4, all);
	snprintf(f->programs[1].id, NAME_LEN, "flat");
	fx_step(&f->programs[1], 0, &gentle, 600, 20, FLAT, 3, all);
	snprintf(f->programs[2].id, NAME_LEN, "two");
	fx_step(&f->programs[2], 0, &gentle, 2, 10, FLAT, 3, all);
	fx_step(&f->programs[2], 1, &gentle, 30, 10, DONE_AFTER_1S, 3, all);
	f->cfg.programs.n = 3;
	f->cfg.programs.programs = f->programs;
	f->cfg.table = &f->table;

	struct session_hooks hooks = { f, fx_vent, fx_event };
	session_init(&f->s, &f->cfg, &hooks, &routine_inst_port);
	f->in.nctls = 2;
	for (int i = 0; i < 2; i++) {
		f->in.ctl[i].connected = 1;
		f->in.ctl[i].rating_kpa = 40;
	}
	f->in.now_s = 1000;
	last_feedback = 0;
	*state = f;
	return (0);
}

static int
fx_teardown(void **state)
{
	struct fx	*f = *state;

	session_free(&f->s);
	free(f);
	return (0);
}

/* One tick of 20 ms; the plant follows the setpoints exactly. */
static void
tick(struct fx *f)
{
	int	 i;

	f->in.now_s += 0.02;
	session_tick(&f->s, &f->in, &f->out);
	for (i = 0; i < f->table.nzones; i++)
		f->in.measured_kpa[i] = f->out.setpoint_kpa[i];
}

static void
ticks(struct fx *f, int n)
{
	while (n-- > 0)
		tick(f);
}

static void
start_ok(struct fx *f, const char *prog, const char *prof)
{
	char	 why[256] = "";
	int	 rc;

	rc = session_start(&f->s, prog, prof, &f->in, "op", why, sizeof(why));
	if (rc != SESSION_OK)
		fail_msg("start %s/%s: %d %s", prog, prof, rc, why);
	assert_int_equal(f->s.state, SESSION_RUNNING);
}

/* What the session asks of controller i this tick. */
static void
assert_ctl(struct fx *f, int i, int enable, int fault_reset)
{
	assert_int_equal(f->out.ctl[i].enable, enable);
	assert_int_equal(f->out.ctl[i].fault_reset, fault_reset);
}

/* A fault as a backend decodes it: its code and its text. */
static void
fx_fault(struct session_ctl_in *c, unsigned code, const char *text)
{
	c->fault_code = code;
	snprintf(c->fault_text, sizeof(c->fault_text), "%s", text);
}

/* --- tests ----------------------------------------------------------- */

static void
test_idle_sends_nothing(void **state)
{
	struct fx	*f = *state;

	ticks(f, 5);
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_ctl(f, 0, 0, 0);
	assert_ctl(f, 1, 0, 0);
	for (int i = 0; i < f->table.nzones; i++)
		assert_true(f->out.setpoint_kpa[i] == 0);
}

static void
test_start_ramps_and_caps(void **state)
{
	struct fx	*f = *state;
	double		 prev = 0;

	last_ramp_kpa_s = last_tick_hz = -1;
	start_ok(f, "flat", "standard");
	assert_true(fx_has_event(f, "started"));
	/* create() was told the profile's ramp and the tick rate */
	assert_true(last_ramp_kpa_s == 10);
	assert_true(last_tick_hz == 50);
	for (int i = 0; i < 200; i++) {
		tick(f);
		assert_ctl(f, 0, 1, 0);
		/* 10 kPa/s at 50 Hz: at most 0.2 kPa a tick */
		assert_true(f->out.setpoint_kpa[0] - prev <= 0.2 + 1e-9);
		prev = f->out.setpoint_kpa[0];
	}
	/* routine asks 20, profile allows 30: 20 after the ramp */
	assert_true(fabs(f->out.setpoint_kpa[0] - 20) < 1e-9);
	/* the notch is not in the program's zones */
	assert_true(f->out.setpoint_kpa[3] == 0);
	assert_true(session_elapsed(&f->s) > 3.9);
	assert_true(session_remaining(&f->s) < 60 && session_remaining(&f->s) > 55);
}

static void
test_focused_never_on_endangerment(void **state)
{
	struct fx	*f = *state;

	start_ok(f, "deep", "standard");
	for (int i = 0; i < 500; i++) {
		tick(f);
		assert_true(f->out.setpoint_kpa[3] == 0);
		assert_true(f->out.setpoint_kpa[0] <= 30);
	}
	assert_true(fabs(f->out.setpoint_kpa[0] - 30) < 1e-9);
}

static void
test_pause_resume(void **state)
{
	struct fx	*f = *state;
	char		 why[256];
	double		 t;

	start_ok(f, "flat", "standard");
	ticks(f, 150);
	assert_int_equal(session_pause(&f->s,
	    "op", why, sizeof(why)), SESSION_OK);
	assert_int_equal(f->s.state, SESSION_PAUSED);
	t = session_elapsed(&f->s);
	ticks(f, 200);
	/* holds low pressure, still enabled, the clock stands */
	assert_true(fabs(f->out.setpoint_kpa[0] - 2) < 1e-9);
	assert_ctl(f, 0, 1, 0);
	assert_true(session_elapsed(&f->s) == t);
	assert_int_equal(session_pause(&f->s, "op", why, sizeof(why)),
	    SESSION_ESTATE);
	assert_int_equal(session_resume(&f->s,
	    "op", why, sizeof(why)), SESSION_OK);
	ticks(f, 200);
	assert_true(fabs(f->out.setpoint_kpa[0] - 20) < 1e-9);
	assert_int_equal(session_resume(&f->s, "op", why, sizeof(why)),
	    SESSION_ESTATE);
}

static void
test_operator_stop_ramps_then_vents(void **state)
{
	struct fx	*f = *state;
	char		 why[256];
	double		 prev;
	int		 n = 0;

	start_ok(f, "flat", "standard");
	ticks(f, 200);
	prev = f->out.setpoint_kpa[0];
	assert_int_equal(session_stop(&f->s,
	    "op", why, sizeof(why)), SESSION_OK);
	assert_int_equal(f->s.state, SESSION_STOPPING);
	assert_int_equal(f->vents, 0);
	while (f->s.state == SESSION_STOPPING && n++ < 1000) {
		tick(f);
		/* category 1: down at the ramp limit, not at once */
		assert_true(prev - f->out.setpoint_kpa[0] <= 0.2 + 1e-9);
		prev = f->out.setpoint_kpa[0];
	}
	assert_true(n >= 99);	/* 20 kPa at 10 kPa/s: about 2 s */
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_int_equal(f->vents, 1);
	assert_int_equal(f->s.stop_reason, STOP_OPERATOR);
	assert_int_equal(f->s.stop_category, 1);
	assert_string_equal(f->s.stop_message, "stopped by the operator");
	assert_ctl(f, 0, 0, 0);
	assert_true(fx_has_event(f, "stopped"));
	assert_int_equal(session_stop(&f->s,
	    "op", why, sizeof(why)), SESSION_ESTATE);
}

static void
test_estop_latches_until_reset(void **state)
{
	struct fx	*f = *state;
	char		 why[256];

	start_ok(f, "flat", "standard");
	ticks(f, 100);
	session_estop(&f->s, "operator");
	/* vented at once, in the call, not at the next tick */
	assert_int_equal(f->vents, 1);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_ESTOP);
	assert_int_equal(f->s.stop_category, 0);
	tick(f);
	assert_ctl(f, 0, 0, 0);
	assert_true(f->out.setpoint_kpa[0] == 0);
	assert_int_equal(session_start(&f->s, "flat", "standard", &f->in,
	    "op", why,
	    sizeof(why)), SESSION_EFAULT);
	assert_non_null(strstr(why, "reset first"));
	assert_int_equal(session_reset(&f->s, &f->in, "op", why, sizeof(why)),
	    SESSION_OK);
	assert_int_equal(f->s.state, SESSION_IDLE);
	/* FAULT_RESET edge on the next tick, then 0 */
	tick(f);
	assert_ctl(f, 0, 0, 1);
	assert_ctl(f, 1, 0, 1);
	tick(f);
	assert_ctl(f, 0, 0, 0);
	start_ok(f, "flat", "standard");
}

/* A controller's stop fact stops the session (category 0) and latches;
 * want names the fact: the e-stop circuit, the client stop, a fault. */
static void
status_stop(struct fx *f, enum stop_reason want, int clearable)
{
	struct session_ctl_in	*c = &f->in.ctl[1];
	int			*flag;
	char			 why[256];

	flag = want == STOP_ESTOP_CIRCUIT ? &c->estop :
	    want == STOP_CLIENT_STOP ? &c->client_stop : &c->fault;
	start_ok(f, "flat", "standard");
	ticks(f, 50);
	*flag = 1;
	if (flag == &c->fault)
		fx_fault(c, 2, "over-pressure");
	session_observe(&f->s, &f->in);
	assert_int_equal(f->vents, 1);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, want);
	assert_int_equal(f->s.stop_category, 0);
	assert_true(fx_has_event(f, "fault"));
	if (clearable) {
		assert_int_equal(session_reset(&f->s, &f->in,
		    "op", why, sizeof(why)),
		    SESSION_ENOTREADY);
		assert_non_null(strstr(why, "controller b"));
	}
	*flag = 0;
	assert_int_equal(session_reset(&f->s, &f->in, "op", why, sizeof(why)),
	    SESSION_OK);
	assert_int_equal(f->s.state, SESSION_IDLE);
}

/* A controller that keeps its latched fault after the reset pulse (its
 * cause is still there): the reset waits, then is refused with why; one
 * that clears it: the reset completes. Commands name their actor. */
static void
test_reset_waits_for_controllers(void **state)
{
	struct fx	*f = *state;
	char		 why[256];
	int		 i, pulsed = 0;

	start_ok(f, "flat", "standard");
	assert_string_equal(f->s.started_by, "op");
	ticks(f, 20);
	f->in.ctl[1].fault = 1;
	fx_fault(&f->in.ctl[1], 4, "sensor fault");
	session_observe(&f->s, &f->in);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_string_equal(f->s.stopped_by, "");	/* the table itself */
	assert_int_equal(session_reset(&f->s, &f->in, "tablet-2", why,
	    sizeof(why)), SESSION_EPENDING);
	assert_int_equal(f->s.state, SESSION_FAULT);
	/* the pulse goes out; the fault stays for a whole second */
	for (i = 0; i < 60; i++) {
		tick(f);
		if (f->out.ctl[1].fault_reset && !f->out.ctl[1].enable)
			pulsed++;
	}
	assert_int_equal(pulsed, 1);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_true(fx_has_event(f, "reset_refused"));
	assert_false(fx_has_event(f, "reset"));
	assert_non_null(strstr(f->s.reset_refusal, "controller b still "
	    "reports fault 4 (sensor fault)"));
	assert_int_equal(session_start(&f->s, "flat", "standard", &f->in,
	    "op", why, sizeof(why)), SESSION_EFAULT);

	/* Once the controller clears on the pulse, the reset completes. */
	assert_int_equal(session_reset(&f->s, &f->in, "tablet-2", why,
	    sizeof(why)), SESSION_EPENDING);
	ticks(f, 2);
	f->in.ctl[1].fault = 0;
	fx_fault(&f->in.ctl[1], 0, "none");
	tick(f);
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_true(fx_has_event(f, "reset"));
	assert_string_equal(f->s.reset_by, "tablet-2");
	start_ok(f, "flat", "standard");
	assert_string_equal(f->s.after_reset_by, "tablet-2");
	assert_int_equal(session_stop(&f->s, "tablet-3", why, sizeof(why)),
	    SESSION_OK);
	assert_string_equal(f->s.stopped_by, "tablet-3");
	session_estop(&f->s, "viewer-1");
	assert_string_equal(f->s.stopped_by, "viewer-1");
	assert_non_null(strstr(f->s.stop_message, "by viewer-1"));
}

static void
test_client_stop(void **state)
{
	struct fx	*f = *state;

	status_stop(f, STOP_CLIENT_STOP, 1);
	assert_non_null(strstr(f->s.stop_message, "client stop switch"));
}

static void
test_estop_circuit(void **state)
{
	struct fx	*f = *state;

	status_stop(f, STOP_ESTOP_CIRCUIT, 1);
	assert_non_null(strstr(f->s.stop_message, "e-stop circuit open on "
	    "controller b"));
}

static void
test_controller_fault(void **state)
{
	struct fx	*f = *state;

	status_stop(f, STOP_CONTROLLER_FAULT, 0);
	assert_non_null(strstr(f->s.stop_message, "over-pressure"));
}

static void
test_link_lost(void **state)
{
	struct fx	*f = *state;
	char		 why[256];

	start_ok(f, "flat", "standard");
	ticks(f, 20);
	f->in.ctl[0].connected = 0;
	tick(f);
	assert_int_equal(f->vents, 1);
	assert_int_equal(f->s.stop_reason, STOP_LINK_LOST);
	assert_non_null(strstr(f->s.stop_message, "controller a"));
	assert_int_equal(session_reset(&f->s, &f->in, "op", why, sizeof(why)),
	    SESSION_ENOTREADY);
	/* idle with a link down is no new fault, but nothing starts */
	f->in.ctl[0].connected = 1;
	assert_int_equal(session_reset(&f->s, &f->in, "op", why, sizeof(why)),
	    SESSION_OK);
	f->in.ctl[0].connected = 0;
	ticks(f, 20);
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_int_equal(session_start(&f->s, "flat", "standard", &f->in,
	    "op", why,
	    sizeof(why)), SESSION_ENOTREADY);
	assert_string_equal(why, "controller a is not connected");
}

static void
test_idle_controller_fault_latches(void **state)
{
	struct fx	*f = *state;

	/* A watchdog fault left by a daemon that died: seen on start-up,
	 * the daemon comes up in fault and never resumes on its own. */
	f->in.ctl[0].fault = 1;
	fx_fault(&f->in.ctl[0], 1, "watchdog");
	tick(f);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_non_null(strstr(f->s.fault_message, "watchdog"));
	assert_ctl(f, 0, 0, 0);
}

static void
test_overpressure(void **state)
{
	struct fx	*f = *state;
	int		 i;

	start_ok(f, "flat", "standard");
	ticks(f, 200);
	/* measured 33 > 30 + 2 tolerance: stop after 200 ms, not before */
	for (i = 0; i < 9; i++) {
		f->in.now_s += 0.02;
		f->in.measured_kpa[2] = 33;
		session_tick(&f->s, &f->in, &f->out);
	}
	assert_int_equal(f->s.state, SESSION_RUNNING);
	for (i = 0; i < 3; i++) {
		f->in.now_s += 0.02;
		f->in.measured_kpa[2] = 33;
		session_tick(&f->s, &f->in, &f->out);
	}
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_OVERPRESSURE);
	assert_non_null(strstr(f->s.stop_message, "zone b0"));
}

static void
test_stuck(void **state)
{
	struct fx	*f = *state;
	int		 i;

	start_ok(f, "flat", "standard");
	/* zone a1 never rises: more than 6 kPa behind for over 1 s */
	for (i = 0; i < 200 && f->s.state == SESSION_RUNNING; i++) {
		f->in.now_s += 0.02;
		session_tick(&f->s, &f->in, &f->out);
		for (int z = 0; z < f->table.nzones; z++)
			f->in.measured_kpa[z] = f->out.setpoint_kpa[z];
		f->in.measured_kpa[1] = 0;
	}
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_STUCK);
	assert_non_null(strstr(f->s.stop_message, "zone a1"));
	/* 6 kPa is reached after 0.6 s of ramp, then 1 s more */
	assert_true(i >= 75);
}

static void
routine_stop(struct fx *f, int mode, const char *want)
{
	f->programs[1].steps[0].params[1] = mode;
	start_ok(f, "flat", "standard");
	ticks(f, 50);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_ROUTINE_ERROR);
	assert_int_equal(f->vents, 1);
	assert_non_null(strstr(f->s.stop_message, "routine gentle"));
	assert_non_null(strstr(f->s.stop_message, want));
	for (int z = 0; z < f->table.nzones; z++)
		assert_true(f->out.setpoint_kpa[z] == 0);
}

static void
test_routine_nan(void **state)
{
	routine_stop(*state, NAN_OUT, "returned nan kPa");
}

static void
test_routine_huge(void **state)
{
	routine_stop(*state, HUGE_OUT, "returned 1e+12 kPa");
}

static void
test_routine_negative(void **state)
{
	routine_stop(*state, NEG_OUT, "returned -5 kPa");
}

static void
test_routine_error(void **state)
{
	routine_stop(*state, ERROR_OUT, "reported an error");
}

static void
test_routine_slow(void **state)
{
	routine_stop(*state, SLOW_ALWAYS, "over its budget of 5.0 ms 3 times "
	    "in 50 steps");
}

/* Slow every other step: never three in a row, still broken. */
static void
test_routine_slow_alternate(void **state)
{
	routine_stop(*state, SLOW_ALTERNATE, "3 times in 50 steps");
}

/* One step that stalls the loop for several ticks stops at once. */
static void
test_routine_stall(void **state)
{
	routine_stop(*state, STALL, "more than 5 ticks");
}

/* One slow step may be the scheduler's doing, not the routine's. */
static void
test_routine_slow_once_tolerated(void **state)
{
	struct fx	*f = *state;

	f->programs[1].steps[0].params[1] = SLOW_ONCE;
	start_ok(f, "flat", "standard");
	ticks(f, 100);
	assert_int_equal(f->s.state, SESSION_RUNNING);
}

/*
 * A port whose worker answers late at every 10th step: LATE (the routine
 * slow) or HELD (its worker only kept from running, a busy machine). Every
 * question counts as asked ahead; the other steps are the real port's.
 */
static struct routine_port	 late_port;
static int			 late_code, late_calls;

static int
late_step(struct routine_inst *ri, const struct massaged_step_in *in,
    double *setpoint_kpa)
{
	if (++late_calls % 10 == 0)
		return (late_code);
	return (routine_inst_port.step(ri, in, setpoint_kpa));
}

static int
late_pending(const struct routine_inst *ri)
{
	(void)ri;
	return (1);
}

static void
late_run(struct fx *f, int code)
{
	late_port = routine_inst_port;
	late_port.step = late_step;
	late_port.pending = late_pending;
	late_code = code;
	late_calls = 0;
	f->s.routines = &late_port;
	start_ok(f, "flat", "standard");
}

/* Late 3 times in 50 steps stops the session, naming the rule... */
static void
test_routine_late_3_of_50_stops(void **state)
{
	struct fx	*f = *state;

	late_run(f, ROUTINE_STEP_LATE);
	ticks(f, 60);
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_ROUTINE_ERROR);
	assert_non_null(strstr(f->s.stop_message,
	    "had not answered a tick after it was asked 3 times in 50 steps"));
	assert_int_equal(f->s.late_ticks[0], 3);
	assert_int_equal(f->s.late_ticks[1], 0);
}

/* ... but not when its worker was only kept from running: the last
 * setpoints hold and the session goes on (its deadline bounds it). */
static void
test_routine_held_not_counted(void **state)
{
	struct fx	*f = *state;

	late_run(f, ROUTINE_STEP_HELD);
	ticks(f, 300);
	assert_int_equal(f->s.state, SESSION_RUNNING);
	assert_true(late_calls >= 290);
	assert_true(f->s.late_ticks[1] >= 29);
	assert_int_equal(f->s.late_ticks[0], 0);
}

/*
 * The rule docs/writing-routines.md states: a step over budget in 3 of the
 * last 50 steps stops the session. A slow step every 25th never puts 3 in
 * any 50 (the 3rd comes 50 steps after the 1st); every 24th does, at the
 * 3rd slow step.
 */
static void
test_routine_budget_2_of_50_tolerated(void **state)
{
	struct fx	*f = *state;

	f->programs[1].steps[0].params[1] = SLOW_EVERY_25;
	start_ok(f, "flat", "standard");
	ticks(f, 140);		/* slow steps 50, 75, 100, 125 */
	assert_int_equal(f->s.state, SESSION_RUNNING);
}

static void
test_routine_budget_3_of_50_stops(void **state)
{
	struct fx	*f = *state;

	f->programs[1].steps[0].params[1] = SLOW_EVERY_24;
	start_ok(f, "flat", "standard");
	ticks(f, 90);		/* slow steps 48 and 72 */
	assert_int_equal(f->s.state, SESSION_RUNNING);
	ticks(f, 10);		/* the 3rd, step 96 */
	assert_int_equal(f->s.state, SESSION_FAULT);
	assert_int_equal(f->s.stop_reason, STOP_ROUTINE_ERROR);
	assert_non_null(strstr(f->s.stop_message,
	    "over its budget of 5.0 ms 3 times in 50 steps"));
}

static void
test_time_limit(void **state)
{
	struct fx	*f = *state;

	start_ok(f, "flat", "standard");
	ticks(f, 50 * 59);
	assert_int_equal(f->s.state, SESSION_RUNNING);
	ticks(f, 60);
	assert_int_equal(f->s.state, SESSION_STOPPING);
	assert_int_equal(f->s.stop_reason, STOP_TIME_LIMIT);
	ticks(f, 300);
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_int_equal(f->s.stop_category, 1);
}

static void
test_program_steps_and_end(void **state)
{
	struct fx	*f = *state;

	start_ok(f, "two", "standard");
	assert_int_equal(f->s.step, 0);
	ticks(f, 101);		/* 2 s: the first step's duration */
	assert_int_equal(f->s.step, 1);
	assert_true(fx_has_event(f, "step"));
	ticks(f, 55);		/* the second routine says done after 1 s */
	assert_int_equal(f->s.state, SESSION_STOPPING);
	assert_int_equal(f->s.stop_reason, STOP_PROGRAM_END);
	ticks(f, 200);
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_int_equal(f->vents, 1);
}

static void
test_refusals(void **state)
{
	struct fx	*f = *state;
	char		 why[256];

	assert_int_equal(session_start(&f->s, "flat", "clot", &f->in, "op", why,
	    sizeof(why)), SESSION_ECONTRA);
	assert_non_null(strstr(why, "contraindicated: dvt"));
	assert_non_null(strstr(why, "a clot may travel"));
	assert_int_equal(f->s.state, SESSION_IDLE);
	assert_int_equal(session_start(&f->s, "nope", "standard", &f->in,
	    "op", why,
	    sizeof(why)), SESSION_ENOTFOUND);
	assert_string_equal(why, "no program 'nope'");
	assert_int_equal(session_start(&f->s, "flat", "nope", &f->in, "op", why,
	    sizeof(why)), SESSION_ENOTFOUND);
	f->in.ctl[1].client_stop = 1;
	assert_int_equal(session_start(&f->s, "flat", "standard", &f->in,
	    "op", why,
	    sizeof(why)), SESSION_ENOTREADY);
	f->in.ctl[1].client_stop = 0;
	start_ok(f, "flat", "standard");
	assert_int_equal(session_start(&f->s, "flat", "standard", &f->in,
	    "op", why,
	    sizeof(why)), SESSION_EBUSY);
}

static void
test_intensity_and_feedback(void **state)
{
	struct fx	*f = *state;
	char		 why[256];

	assert_int_equal(session_intensity(&f->s, 50, "op", why, sizeof(why)),
	    SESSION_ESTATE);
	start_ok(f, "flat", "standard");
	ticks(f, 200);
	assert_int_equal(session_intensity(&f->s, 5, "op", why, sizeof(why)),
	    SESSION_ESTATE);
	assert_int_equal(session_intensity(&f->s, 101, "op", why, sizeof(why)),
	    SESSION_ESTATE);
	assert_int_equal(session_intensity(&f->s, 50, "op", why, sizeof(why)),
	    SESSION_OK);
	tick(f);
	assert_int_equal(last_feedback, MASSAGED_FEEDBACK_LESS);
	ticks(f, 100);
	assert_true(fabs(f->out.setpoint_kpa[0] - 10) < 1e-9);
	assert_int_equal(session_intensity(&f->s, 100, "op", why, sizeof(why)),
	    SESSION_OK);
	tick(f);
	assert_int_equal(last_feedback, MASSAGED_FEEDBACK_MORE);
	/* every change kept for the record, in order; no change, no entry */
	assert_int_equal(session_intensity(&f->s, 100, "op", why,
	    sizeof(why)), SESSION_OK);
	assert_int_equal(f->s.nchanges, 2);
	assert_string_equal(f->s.changes[1].by, "op");
	assert_int_equal(f->s.changes[0].pct, 50);
	assert_int_equal(f->s.changes[1].pct, 100);
	assert_true(f->s.changes[0].wall > 0 &&
	    f->s.changes[0].wall <= f->s.changes[1].wall);
	/* beyond the array: counted, the first ones kept */
	for (int i = 0; i < SESSION_CHANGES_MAX; i++)
		assert_int_equal(session_intensity(&f->s, i % 2 ? 60 : 70,
		    "op", why, sizeof(why)), SESSION_OK);
	assert_int_equal(f->s.nchanges, SESSION_CHANGES_MAX + 2);
	assert_int_equal(f->s.changes[0].pct, 50);
	assert_int_equal(f->s.changes[SESSION_CHANGES_MAX - 1].pct, 60);
	/* a new session starts with none */
	session_estop(&f->s, "test");
	f->in.ctl[0].estop = f->in.ctl[0].client_stop = f->in.ctl[0].fault = 0;
	assert_int_equal(session_reset(&f->s, &f->in, "op", why,
	    sizeof(why)), SESSION_OK);
	start_ok(f, "flat", "standard");
	assert_int_equal(f->s.nchanges, 0);
}

static void
test_reload_stricter_applies_at_once(void **state)
{
	struct fx	*f = *state;
	struct config	 cfg2 = f->cfg;
	struct profile	 p2[3];
	struct profile	*byid2[3] = { &p2[1], &p2[0], &p2[2] };

	start_ok(f, "flat", "standard");
	ticks(f, 200);
	assert_true(fabs(f->out.setpoint_kpa[0] - 20) < 1e-9);
	/* the profile gains osteoporosis (scale 0.5): 15 kPa at once */
	memcpy(p2, f->profiles, sizeof(p2));
	p2[0].nconditions = 1;
	snprintf(p2[0].conditions[0], NAME_LEN, "osteoporosis");
	cfg2.profiles.profiles = byid2;
	session_reload(&f->s, &cfg2, &f->in);
	assert_int_equal(f->s.state, SESSION_RUNNING);
	tick(f);
	assert_true(f->out.setpoint_kpa[0] <= 15 + 1e-9);
	/* a looser profile does not raise the running session's limits */
	p2[0].nconditions = 0;
	p2[0].cap_kpa = 35;
	session_reload(&f->s, &cfg2, &f->in);
	ticks(f, 100);
	assert_true(f->out.setpoint_kpa[0] <= 15 + 1e-9);
	/* gaining a refusing condition ends it: category 1, the reason */
	p2[0].nconditions = 1;
	snprintf(p2[0].conditions[0], NAME_LEN, "dvt");
	session_reload(&f->s, &cfg2, &f->in);
	assert_int_equal(f->s.state, SESSION_STOPPING);
	assert_int_equal(f->s.stop_reason, STOP_CONTRAINDICATED);
	assert_non_null(strstr(f->s.stop_message, "a clot may travel"));
	ticks(f, 200);
	assert_int_equal(f->s.state, SESSION_IDLE);
	f->s.cfg = &f->cfg;
}

/* After a stricter reload the setpoint drops at once, but the actuators
 * take time to follow: the monitor must not call that over-pressure. */
static void
test_reload_no_false_overpressure(void **state)
{
	struct fx	*f = *state;
	struct config	 cfg2 = f->cfg;
	struct profile	 p2[3];
	struct profile	*byid2[3] = { &p2[1], &p2[0], &p2[2] };
	int		 i, z;

	f->programs[1].steps[0].params[0] = 30;
	start_ok(f, "flat", "standard");
	ticks(f, 200);
	assert_true(fabs(f->out.setpoint_kpa[0] - 30) < 1e-9);
	memcpy(p2, f->profiles, sizeof(p2));
	p2[0].cap_kpa = 8;
	cfg2.profiles.profiles = byid2;
	session_reload(&f->s, &cfg2, &f->in);
	/* a slow table: 400 ms time constant down from 30 kPa */
	for (i = 0; i < 150; i++) {
		f->in.now_s += 0.02;
		session_tick(&f->s, &f->in, &f->out);
		for (z = 0; z < f->table.nzones; z++)
			f->in.measured_kpa[z] += (f->out.setpoint_kpa[z] -
			    f->in.measured_kpa[z]) * (1 - exp(-0.02 / 0.4));
		assert_true(f->out.setpoint_kpa[0] <= 8 + 1e-9);
	}
	assert_int_equal(f->s.state, SESSION_RUNNING);
	/* after the grace, a real excess still stops the session */
	for (i = 0; i < 20; i++) {
		f->in.now_s += 0.02;
		f->in.measured_kpa[0] = 12;
		session_tick(&f->s, &f->in, &f->out);
	}
	assert_int_equal(f->s.stop_reason, STOP_OVERPRESSURE);
	f->s.cfg = &f->cfg;
}

static void
test_names(void **state)
{
	assert_string_equal(session_state_name(SESSION_STOPPING), "stopping");
	for (int r = STOP_ESTOP; r < STOP_NREASONS; r++) {
		assert_true(session_reason_category(r) == 0 ||
		    session_reason_category(r) == 1);
		assert_true(strlen(session_reason_name(r)) > 3);
	}
	assert_int_equal(session_reason_category(STOP_CLIENT_STOP), 0);
	assert_int_equal(session_reason_category(STOP_TIME_LIMIT), 1);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_idle_sends_nothing),
		T(test_start_ramps_and_caps),
		T(test_focused_never_on_endangerment),
		T(test_pause_resume),
		T(test_operator_stop_ramps_then_vents),
		T(test_estop_latches_until_reset),
		T(test_client_stop),
		T(test_estop_circuit),
		T(test_controller_fault),
		T(test_reset_waits_for_controllers),
		T(test_link_lost),
		T(test_idle_controller_fault_latches),
		T(test_overpressure),
		T(test_stuck),
		T(test_routine_nan),
		T(test_routine_huge),
		T(test_routine_negative),
		T(test_routine_error),
		T(test_routine_slow),
		T(test_routine_slow_once_tolerated),
		T(test_routine_slow_alternate),
		T(test_routine_stall),
		T(test_routine_late_3_of_50_stops),
		T(test_routine_held_not_counted),
		T(test_routine_budget_2_of_50_tolerated),
		T(test_routine_budget_3_of_50_stops),
		T(test_time_limit),
		T(test_program_steps_and_end),
		T(test_refusals),
		T(test_intensity_and_feedback),
		T(test_reload_stricter_applies_at_once),
		T(test_reload_no_false_overpressure),
		T(test_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
