/*
 * massaged routine test harness: unit-test a routine in your own process.
 *
 * Header-only; include it in one test program (not in the routine) and
 * link with -ldl (-lm if the routine needs it). It runs a routine the way
 * the daemon's worker does: the descriptor checked for ABI version and
 * size, parameters from their defaults or set by name as a program would,
 * one instance, step() once per tick with the clock advancing at tick_hz,
 * outputs written to a fresh array of exactly n_zones. It does not sandbox
 * anything and does not apply the daemon's limit pipeline: it is for
 * checking a routine's shape, not its safety.
 *
 *   struct massaged_test t;
 *
 *   if (massaged_test_open(&t, "./myroutine.so") == -1)   // or _use()
 *           errx(1, "%s", t.err);
 *   massaged_test_param(&t, "pressure_kpa", 12);
 *   massaged_test_zone(&t, "piriformis_left", 25);        // limit_kpa
 *   if (massaged_test_create(&t, 60) == -1)               // duration_s
 *           errx(1, "create: %s", t.err);
 *   while (massaged_test_step(&t) == MASSAGED_STEP_RUNNING)
 *           printf("%.2f %.2f\n", t.t_s, t.out[0]);
 *   massaged_test_close(&t);
 *
 * A step() that returns anything but RUNNING or DONE, or writes an output
 * that is not finite or is negative, makes massaged_test_step() return
 * MASSAGED_STEP_ERROR with the reason in t.err, as the daemon would stop
 * the session.
 */
#ifndef MASSAGED_ROUTINE_TEST_H
#define MASSAGED_ROUTINE_TEST_H

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <massaged/routine.h>

#define MASSAGED_TEST_ZONES	64
#define MASSAGED_TEST_PARAMS	32

struct massaged_test {
	const struct massaged_routine	*desc;
	void				*dl;
	void				*inst;
	struct massaged_host		 host;
	double				 params[MASSAGED_TEST_PARAMS];
	struct massaged_zone		 zones[MASSAGED_TEST_ZONES];
	size_t				 n_zones;
	double				 tick_hz;	/* default 50 */
	double				 ramp_kpa_s;	/* default 6 */
	double				 t_s;		/* of the last step() */
	double				 pressure_kpa[MASSAGED_TEST_ZONES];
	double				 out[MASSAGED_TEST_ZONES];
	int				 feedback;	/* next step() only */
	double				 intensity;	/* default 1 */
	unsigned long			 steps;
	int				 log_lines;	/* host->log() calls */
	char				 err[256];
};

static inline void
massaged_test_log(void *ctx, int level, const char *fmt, ...)
    MASSAGED_PRINTF(3, 4);

/* host->log(): to stderr, counted. */
static inline void
massaged_test_log(void *ctx, int level, const char *fmt, ...)
{
	struct massaged_test	*t = (struct massaged_test *)ctx;
	va_list			 ap;

	t->log_lines++;
	fprintf(stderr, "<%d>routine %s: ", level, t->desc->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static inline int
massaged_test_fail(struct massaged_test *t, const char *what)
{
	snprintf(t->err, sizeof(t->err), "%s", what);
	return (-1);
}

/* Uses a descriptor linked into the test (massaged_routine_entry()). */
static inline int
massaged_test_use(struct massaged_test *t, const struct massaged_routine *d)
{
	size_t	 i;

	memset(t, 0, sizeof(*t));
	t->tick_hz = 50;
	t->ramp_kpa_s = 6;
	t->intensity = 1;
	if (d == NULL)
		return (massaged_test_fail(t, "no descriptor"));
	if (d->abi_version != MASSAGED_ROUTINE_ABI_VERSION)
		return (massaged_test_fail(t, "wrong ABI version"));
	if (d->size < offsetof(struct massaged_routine, destroy) +
	    sizeof(d->destroy))
		return (massaged_test_fail(t, "descriptor size too small"));
	if (d->create == NULL || d->step == NULL || d->destroy == NULL)
		return (massaged_test_fail(t, "create, step or destroy is NULL"));
	if (d->n_params > MASSAGED_TEST_PARAMS)
		return (massaged_test_fail(t, "too many parameters"));
	t->desc = d;
	for (i = 0; i < d->n_params; i++)
		t->params[i] = d->params[i].def;
	t->host.size = sizeof(t->host);
	t->host.ctx = t;
	t->host.log = massaged_test_log;
	return (0);
}

/* Loads a built routine, as the worker does (RTLD_NOW | RTLD_LOCAL). */
static inline int
massaged_test_open(struct massaged_test *t, const char *path)
{
	const struct massaged_routine	*(*entry)(void);
	void				*dl, *sym;
	const char			*e;

	memset(t, 0, sizeof(*t));
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		return (massaged_test_fail(t, e != NULL ? e : "dlopen failed"));
	}
	if ((sym = dlsym(dl, MASSAGED_ROUTINE_ENTRY)) == NULL) {
		dlclose(dl);
		return (massaged_test_fail(t, "no " MASSAGED_ROUTINE_ENTRY
		    " exported"));
	}
	memcpy(&entry, &sym, sizeof(entry));
	if (massaged_test_use(t, entry()) == -1) {
		dlclose(dl);
		return (-1);
	}
	t->dl = dl;
	return (0);
}

/* Sets a parameter by name, as a program's "name = value" would (a
 * CHOICE takes its index). */
static inline int
massaged_test_param(struct massaged_test *t, const char *name, double v)
{
	size_t	 i;

	for (i = 0; i < t->desc->n_params; i++) {
		if (strcmp(t->desc->params[i].name, name) != 0)
			continue;
		if (v < t->desc->params[i].min || v > t->desc->params[i].max)
			return (massaged_test_fail(t, "value out of range"));
		t->params[i] = v;
		return (0);
	}
	return (massaged_test_fail(t, "no such parameter"));
}

/* Adds a zone (in program order) with its limit; position 0 cm. */
static inline int
massaged_test_zone(struct massaged_test *t, const char *name,
    double limit_kpa)
{
	if (t->n_zones >= MASSAGED_TEST_ZONES)
		return (massaged_test_fail(t, "too many zones"));
	memset(&t->zones[t->n_zones], 0, sizeof(t->zones[0]));
	t->zones[t->n_zones].name = name;
	t->zones[t->n_zones].limit_kpa = limit_kpa;
	t->n_zones++;
	return (0);
}

/* create(); -1 with the routine's reason in t->err. */
static inline int
massaged_test_create(struct massaged_test *t, double duration_s)
{
	struct massaged_routine_args	 a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.host = &t->host;
	a.params = t->params;
	a.n_zones = t->n_zones;
	a.zones = t->zones;
	a.duration_s = duration_s;
	a.ramp_kpa_s = t->ramp_kpa_s;
	a.tick_hz = t->tick_hz;
	t->err[0] = '\0';
	t->t_s = 0;
	t->steps = 0;
	if ((t->inst = t->desc->create(&a, t->err, sizeof(t->err))) == NULL) {
		if (t->err[0] == '\0')
			massaged_test_fail(t, "create() failed and gave no "
			    "reason");
		return (-1);
	}
	return (0);
}

/* One tick: step() at t_s (0, then 1 / tick_hz later each call). */
static inline int
massaged_test_step(struct massaged_test *t)
{
	struct massaged_step_in	 in;
	size_t			 i;
	int			 rc;

	if (t->inst == NULL)
		return (massaged_test_fail(t, "no instance"), MASSAGED_STEP_ERROR);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.t_s = t->steps == 0 ? 0 : t->t_s + 1.0 / t->tick_hz;
	in.dt_s = t->steps == 0 ? 0 : 1.0 / t->tick_hz;
	in.pressure_kpa = t->pressure_kpa;
	in.intensity = t->intensity;
	in.feedback = t->feedback;
	t->feedback = MASSAGED_FEEDBACK_NONE;
	for (i = 0; i < t->n_zones; i++)
		t->out[i] = 0;
	rc = t->desc->step(t->inst, &in, t->out);
	t->t_s = in.t_s;
	t->steps++;
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE) {
		snprintf(t->err, sizeof(t->err), "step() returned %d", rc);
		return (MASSAGED_STEP_ERROR);
	}
	for (i = 0; i < t->n_zones; i++) {
		if (!isfinite(t->out[i]) || t->out[i] < 0) {
			snprintf(t->err, sizeof(t->err), "step() wrote %g for "
			    "zone %zu", t->out[i], i);
			return (MASSAGED_STEP_ERROR);
		}
	}
	return (rc);
}

/* destroy() and unload; t may be opened again. */
static inline void
massaged_test_close(struct massaged_test *t)
{
	if (t->inst != NULL)
		t->desc->destroy(t->inst);
	t->inst = NULL;
	if (t->dl != NULL)
		dlclose(t->dl);
	t->dl = NULL;
}

#endif /* MASSAGED_ROUTINE_TEST_H */
