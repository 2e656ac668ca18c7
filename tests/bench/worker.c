/*
 * worker.c: the cost of running routines in workers (figure 6).
 *
 * The daemon's tick asks the routine of the step for setpoints once per
 * tick; since routines run in massaged-worker, that is a round trip over
 * a socketpair instead of a function call. The session asks the worker
 * for the next tick as soon as a tick has its answer, so a tick only
 * collects an answer computed while the loop slept, and asks again.
 * Measured here on the daemon's own code (libmassaged-core:
 * routines_load_file(), routine_inst_step(), routine_inst_ask())
 * with the shipped swedish routine on 4 x 8 zones: the call through the
 * worker and the same routine called in this process (through the SDK's
 * test harness), paced at 100 Hz and back to back (free run). The
 * free-run rate of the daemon without workers is derived from the
 * daemon's measured free-run rate (figure 1, 4 controllers) and the
 * difference between the two calls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "massaged/routine-test.h"
#include "routine-desc.h"
#include "routine-inst.h"
#include "routine-load.h"

#define WORKER_ZONES	32		/* 4 controllers x 8 zones */
#define WORKER_HZ	100.0

/* n calls, paced at hz (0: back to back); the time of each in s[]. */
static int
worker_calls(struct routine_inst *ri, struct massaged_test *t, int n,
    double hz, double *s)
{
	struct massaged_step_in	 in;
	double			 meas[WORKER_ZONES] = { 0 }, out[WORKER_ZONES];
	uint64_t		 t0, next = clock_mono_ns();
	int			 k, rc;

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.intensity = 1;
	in.pressure_kpa = meas;
	in.dt_s = 1 / WORKER_HZ;
	for (k = 0; k < n; k++) {
		if (hz > 0) {
			next += (uint64_t)(1e9 / hz);
			while (clock_mono_ns() < next)
				sleep_ms((next - clock_mono_ns()) / 1e6);
		}
		in.t_s = k / WORKER_HZ;
		t0 = clock_mono_ns();
		if (ri != NULL) {
			/* as the session does: collect, then ask ahead */
			rc = routine_inst_step(ri, &in, out);
			in.t_s = (k + 1) / WORKER_HZ;
			if (rc >= 0)
				routine_inst_ask(ri, &in, 0);
		} else
			rc = massaged_test_step(t);
		s[k] = (clock_mono_ns() - t0) / 1e9;
		if (rc < 0) {
			warnx_("step %d failed: %s", k, ri != NULL ? ri->why :
			    t->err);
			return (-1);
		}
	}
	return (0);
}

/* A stand-in for a link thread, woken each tick as bus_submit() wakes
 * the daemon's. */
struct worker_link {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	int		 posted, quit;
};

static void *
worker_link_thread(void *arg)
{
	struct worker_link	*l = arg;

	pthread_mutex_lock(&l->mtx);
	while (!l->quit) {
		while (!l->posted && !l->quit)
			pthread_cond_wait(&l->cond, &l->mtx);
		l->posted = 0;
	}
	pthread_mutex_unlock(&l->mtx);
	return (NULL);
}

static void
worker_link_post(struct worker_link *l, int quit)
{
	pthread_mutex_lock(&l->mtx);
	l->posted = 1;
	l->quit |= quit;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}

/*
 * n ticks at hz, in the daemon's order: the tick takes the routine's
 * answer (collected between ticks, as the loop does when the links
 * answer), wakes the link thread, then asks the routine for the next
 * tick. Each tick also calls the same routine in this process; the two
 * take turns going first after the sleep, so the machine's wake-up noise
 * falls on both alike. The worker's time is the take, the ask and the
 * collect.
 */
static int
worker_paced(struct routine_inst *ri, struct massaged_test *t, int n,
    double hz, double *sw, double *si)
{
	struct massaged_step_in	 in;
	struct worker_link	 l = { PTHREAD_MUTEX_INITIALIZER,
				    PTHREAD_COND_INITIALIZER, 0, 0 };
	pthread_t		 th;
	double			 meas[WORKER_ZONES] = { 0 }, out[WORKER_ZONES];
	double			 take = 0;
	uint64_t		 t0, next;
	int			 k, j, rc = 0;

	if (pthread_create(&th, NULL, worker_link_thread, &l) != 0)
		return (-1);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.intensity = 1;
	in.pressure_kpa = meas;
	in.dt_s = 1 / hz;
	next = clock_mono_ns();
	for (k = 0; k < n && rc >= 0; k++) {
		next += (uint64_t)(1e9 / hz);
		while (clock_mono_ns() < next)
			sleep_ms((next - clock_mono_ns()) / 1e6);
		for (j = 0; j < 2 && rc >= 0; j++) {
			t0 = clock_mono_ns();
			if ((j + k) % 2 == 0) {
				in.t_s = k / hz;
				rc = routine_inst_step(ri, &in, out);
				take = (clock_mono_ns() - t0) / 1e9;
			} else {
				rc = massaged_test_step(t);
				si[k] = (clock_mono_ns() - t0) / 1e9;
			}
		}
		worker_link_post(&l, 0);
		t0 = clock_mono_ns();
		in.t_s = (k + 1) / hz;
		/* as session_ask(): look a quarter tick after the next tick */
		if (rc >= 0)
			routine_inst_ask(ri, &in, next + (uint64_t)(1.25e9 /
			    hz));
		sw[k] = take + (clock_mono_ns() - t0) / 1e9;
		/* The links answer a little later: the loop collects. */
		sleep_ms(1);
		t0 = clock_mono_ns();
		routine_inst_collect(ri);
		sw[k] += (clock_mono_ns() - t0) / 1e9;
	}
	worker_link_post(&l, 1);
	pthread_join(th, NULL);
	if (rc < 0)
		warnx_("step %d failed: %s", k, ri->why[0] != '\0' ? ri->why :
		    t->err);
	return (rc < 0 ? -1 : 0);
}

void
fig_worker(const char *build, double seconds, double free_tps)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	struct routine_inst		 ri;
	struct routine_opts		 o;
	struct massaged_test		 t;
	struct massaged_zone		 z[WORKER_ZONES];
	const struct massaged_routine	*d;
	double				 p[ROUTINE_PARAMS_MAX], *s = NULL;
	double				 w50, w99, f50, f99, fmean, imean;
	double				 i50, i99, f99i;
	double				 without, w[4];
	char				 so[PATH_MAX], why[256], v[64], r[64];
	int				 n, k, ok = 0, i;

	printf("6. routines in workers: the cost per tick\n");
	memset(w, 0, sizeof(w));
	w50 = w99 = f50 = f99 = fmean = imean = without = 0;
	i50 = i99 = f99i = 0;
	snprintf(so, sizeof(so), "%s/plugins/swedish.so", build);
	/* p99 of a few hundred ticks is the machine's noise: 20 s at least */
	n = (int)(seconds * WORKER_HZ);
	if (n < 2000)
		n = 2000;
	memset(z, 0, sizeof(z));
	for (i = 0; i < WORKER_ZONES; i++) {
		z[i].name = "bench";
		z[i].along_cm = 60 + i * 4;
		z[i].limit_kpa = 20;
	}
	if ((s = calloc((size_t)n * 5, sizeof(*s))) == NULL ||
	    routines_load_file(&set, so, &errs) != 0 ||
	    (d = routines_find(&set, "swedish")) == NULL) {
		warnx_("cannot load %s: %s", so, errs.text != NULL ?
		    errs.text : "out of memory");
		goto row;
	}
	for (i = 0; i < (int)d->n_params; i++)
		p[i] = d->params[i].def;
	memset(&o, 0, sizeof(o));
	o.deadline_ms = 1000;
	if (routine_inst_start(&ri, &o, d, p, z, WORKER_ZONES, 3600, why,
	    sizeof(why)) == -1) {
		warnx_("swedish in a worker: %s", why);
		goto row;
	}
	/* The same routine in this process. */
	if (massaged_test_open(&t, so) == -1) {
		warnx_("%s: %s", so, t.err);
		routine_inst_destroy(&ri);
		goto row;
	}
	for (i = 0; i < WORKER_ZONES; i++)
		massaged_test_zone(&t, "bench", 20);
	t.tick_hz = WORKER_HZ;
	ok = massaged_test_create(&t, 3600) == 0 &&
	    worker_paced(&ri, &t, n, WORKER_HZ, s, s + 4 * n) == 0;
	if (ok) {
		w50 = pct(s, n, 0.5);
		w99 = pct(s, n, 0.99);
		i50 = pct(s + 4 * n, n, 0.5);
		i99 = pct(s + 4 * n, n, 0.99);
		ok = worker_calls(&ri, NULL, n * 4, 0, s) == 0;
	}
	routine_inst_destroy(&ri);
	if (ok) {
		for (k = 0; k < n * 4; k++)
			fmean += s[k] / (n * 4);
		f50 = pct(s, n * 4, 0.5);
		f99 = pct(s, n * 4, 0.99);
		ok = worker_calls(NULL, &t, n * 4, 0, s) == 0;
	}
	if (ok) {
		for (k = 0; k < n * 4; k++)
			imean += s[k] / (n * 4);
		f99i = pct(s, n * 4, 0.99);
	}
	massaged_test_close(&t);
	if (ok && free_tps > 0 && 1 / free_tps > fmean - imean)
		without = 1 / (1 / free_tps - (fmean - imean));
	report_note("routines in workers: swedish on %d zones, %d ticks at "
	    "100 Hz (the worker's answer taken and the next asked, as the "
	    "daemon's tick does, and the routine in this process, in turn "
	    "first after the sleep) and %d calls back to back; in this process %.1f us a call, through the worker %.1f "
	    "us (mean, back to back)", WORKER_ZONES, n, n * 4, imean * 1e6,
	    fmean * 1e6);
row:
	snprintf(v, sizeof(v), "%.1f / %.1f us", w50 * 1e6, w99 * 1e6);
	snprintf(r, sizeof(r), "%.1f / %.1f us (in this process)", i50 * 1e6,
	    i99 * 1e6);
	report_row("Worker round trip per tick, 100 Hz 4 x 8 (p50 / p99)",
	    ok, v, r, "", "< 20 us p99 added", ok ? w99 - i99 < 20e-6 : -1);
	snprintf(v, sizeof(v), "%.1f / %.1f us", f50 * 1e6, f99 * 1e6);
	snprintf(r, sizeof(r), "%.1f us p99 (in this process)", f99i * 1e6);
	report_row("Worker round trip per tick, free run (p50 / p99)", ok, v,
	    r, "", "< 20 us p99 added", ok ? f99 - f99i < 20e-6 : -1);
	if (free_tps > 0) {	/* figure 1 ran */
		snprintf(v, sizeof(v), "%.0f", free_tps);
		snprintf(r, sizeof(r), "%.0f (without workers, derived)",
		    without);
		report_row("Free-run ticks/s, 4 x 8, with workers",
		    ok && without > 0, v, r, "", "report", -1);
	}
	free(s);
	routines_free(&set);
	inifile_errors_free(&errs);
}
