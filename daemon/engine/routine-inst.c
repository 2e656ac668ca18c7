/*
 * routine-inst.c: instances of loaded routines, each in a worker process
 * of its own (routine-worker.c), and routine_inst_port, the session's view
 * of them.
 *
 * Every instance is a fresh worker (or the one routine_inst_prepare()
 * started for it) that serves create() and destroy() over its socket, and
 * step() through the page both map: asked ahead between ticks, collected
 * by the next. A worker that misses its deadline, dies, or is found stuck
 * is killed; the instance is then lost, and says why. The session starts
 * an instance in two halves (routine_inst_begin(), then
 * routine_inst_ready() once a tick) so that its loop never waits for a
 * worker's start, a plugin's constructors or create(); a worker is
 * judged by its CPU time and state as the kernel counts them, never by
 * what it writes in the page.
 *
 * Descriptors that do not come from a worker (built into a test) are
 * called in-process, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "routine-desc.h"
#include "routine-inst.h"
#include "routine-load.h"
#include "table.h"

#define ROUTINE_CHECK_MS	2000	/* one create() while checking */
#define ROUTINE_CALL_MS		1000	/* any call without a deadline set */

_Static_assert(WORKER_ZONES_MAX >= TABLE_MAX_ZONES, "worker.h zones");
_Static_assert(WORKER_PARAMS_MAX == ROUTINE_PARAMS_MAX, "worker.h params");

static void	 routine_inst_host_log(void *ctx, int level, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
static void	 routine_inst_create_req(struct wk_create *,
		    const struct massaged_routine *, const double *,
		    const struct massaged_zone *, size_t, double, double,
		    double);
static int	 routine_inst_load(struct routine_inst *,
		    const struct routine_opts *, struct routine_copy *,
		    const double *, const struct massaged_zone *, size_t,
		    double, char *, size_t);
static int	 routine_inst_local(struct routine_inst *,
		    const struct routine_opts *,
		    const struct massaged_routine *, const double *,
		    const struct massaged_zone *, size_t, double, char *,
		    size_t);
static int	 routine_inst_load_failed(struct routine_inst *, int,
		    const char *, const char *);
static double	 routine_inst_cpu_ms(const struct routine_inst *);
static int	 routine_inst_remote_ask(struct routine_inst *,
		    const struct massaged_step_in *, uint64_t);
static int	 routine_inst_answered(struct routine_inst *);
static int	 routine_inst_wait_step(struct routine_inst *, uint64_t,
		    uint64_t, char *, size_t);
static void	 routine_inst_lose(struct routine_inst *, int, double);
static int	 routine_inst_judge(struct routine_inst *, uint64_t);
static int	 routine_inst_held(const struct routine_inst *);
static int	 routine_inst_remote_step(struct routine_inst *,
		    const struct massaged_step_in *, double *);
static struct routine_inst *routine_inst_alloc(void);
static void	 routine_inst_free(struct routine_inst *);
static int	 routine_inst_remote_now(const struct routine_inst *);
static int	 routine_inst_pending(const struct routine_inst *);
static int	 routine_inst_lost(const struct routine_inst *);
static const char *routine_inst_why(const struct routine_inst *);

const struct routine_port routine_inst_port = {
	.alloc =	routine_inst_alloc,
	.free =		routine_inst_free,
	.start =	routine_inst_start,
	.begin =	routine_inst_begin,
	.ready =	routine_inst_ready,
	.prepare =	routine_inst_prepare,
	.step =		routine_inst_step,
	.ask =		routine_inst_ask,
	.collect =	routine_inst_collect,
	.destroy =	routine_inst_destroy,
	.remote =	routine_inst_remote_now,
	.cpu_ms =	routine_inst_cpu_ms,
	.pending =	routine_inst_pending,
	.lost =		routine_inst_lost,
	.why =		routine_inst_why,
};

/* host->log of every instance: into the daemon's log, named. */
static void
routine_inst_host_log(void *ctx, int level, const char *fmt, ...)
{
	const struct massaged_routine	*desc = ctx;
	va_list				 ap;
	char				 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_emit(level, "routine %s: %s", desc->name, buf);
}

/* The create request for a zone list, parameters and a step length. */
static void
routine_inst_create_req(struct wk_create *m,
    const struct massaged_routine *desc, const double *params, const struct massaged_zone *zones, size_t n_zones,
    double duration_s, double ramp_kpa_s, double tick_hz)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	m->h.type = WK_CREATE;
	m->duration_s = duration_s;
	m->ramp_kpa_s = ramp_kpa_s;
	m->tick_hz = tick_hz;
	m->n_params = (uint32_t)desc->n_params;
	if (params != NULL)
		memcpy(m->params, params, desc->n_params * sizeof(double));
	m->n_zones = (uint32_t)n_zones;
	for (i = 0; i < n_zones; i++) {
		if (zones[i].name != NULL)
			snprintf(m->zones[i].name, sizeof(m->zones[i].name),
			    "%s", zones[i].name);
		m->zones[i].along_cm = zones[i].along_cm;
		m->zones[i].across_cm = zones[i].across_cm;
		m->zones[i].limit_kpa = zones[i].limit_kpa;
		m->zones[i].endangerment = zones[i].endangerment;
	}
}

int
routine_inst_prepare(struct routine_inst *ri,
    const struct massaged_routine *desc)
{
	struct routine_copy	*c = routines_copy(desc);
	char			 why[256];

	routine_inst_destroy(ri);
	if (c == NULL)
		return (0);
	if ((ri->w = routine_worker_spawn(c->path, why, sizeof(why))) == NULL) {
		log_warnx("routine %s: %s", desc->name, why);
		return (-1);
	}
	snprintf(ri->w->name, sizeof(ri->w->name), "%s", desc->name);
	ri->prepared = desc;
	return (0);
}

/*
 * Starts loading an instance in a worker (the prepared one, or a new
 * one): its create() request is sent once the worker has loaded
 * (routine_inst_ready()). Nothing here waits for the worker.
 */
static int
routine_inst_load(struct routine_inst *ri, const struct routine_opts *o,
    struct routine_copy *c, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct routine_inst	*pr = o->prepared;
	struct routine_worker	*w = NULL;
	uint64_t		 now = clock_mono_ns();

	if (pr != NULL && pr->w != NULL && pr->prepared == &c->d) {
		w = pr->w;
		pr->w = NULL;
	}
	if (pr != NULL)
		routine_inst_destroy(pr);
	ri->load_deadline_ns = o->load_deadline_ns > 0 ? o->load_deadline_ns :
	    now + (uint64_t)ROUTINE_LOAD_MS * 1000000;
	ri->load_ms = ri->load_deadline_ns > now ?
	    (ri->load_deadline_ns - now) / 1e6 : 0;
	if (w == NULL) {
		if ((w = routine_worker_spawn(c->path, why, whylen)) == NULL)
			return (-1);
		snprintf(w->name, sizeof(w->name), "%s", c->d.name);
	}
	if ((ri->req = malloc(sizeof(*ri->req))) == NULL) {
		snprintf(why, whylen, "out of memory");
		routine_worker_end(w, 1, NULL, 0);
		return (-1);
	}
	routine_inst_create_req(ri->req, &c->d, params, zones, n_zones,
	    duration_s, o->ramp_kpa_s, o->tick_hz);
	ri->w = w;
	ri->loading = 1;
	return (0);
}

/* Loading failed as routine_worker_wait() says (rc -1 or 1): ri lost, -1. */
static int
routine_inst_load_failed(struct routine_inst *ri, int rc, const char *err,
    const char *late)
{
	if (rc == 1) {
		routine_worker_why(ri->why, sizeof(ri->why), "%s",
		    ri->w->buf.text.text[0] != '\0' ? ri->w->buf.text.text :
		    "create() failed and gave no reason");
		routine_worker_end(ri->w, 1, NULL, 0);
	} else if (strcmp(err, "timeout") == 0 || err[0] == '\0')
		routine_worker_why(ri->why, sizeof(ri->why), "%s within %.1f s; "
		    "the worker was killed", late, ri->load_ms / 1000);
	else
		snprintf(ri->why, sizeof(ri->why), "%s", err);
	free(ri->req);
	ri->req = NULL;
	ri->w = NULL;
	ri->inst = NULL;
	ri->loading = 0;
	ri->lost = 1;
	return (-1);
}

int
routine_inst_ready(struct routine_inst *ri, int wait)
{
	struct routine_worker	*w = ri->w;
	uint64_t		 soft = wait ? ri->load_deadline_ns : 0;
	char			 err[256] = "";
	int			 rc;

	if (!ri->loading)
		return (ri->lost ? -1 : 1);
	if (!w->loaded) {
		rc = routine_worker_wait_soft(w, WK_DESC, soft,
		    ri->load_deadline_ns, err, sizeof(err));
		if (rc == 2)
			return (0);
		if (rc != 0)
			return (routine_inst_load_failed(ri, rc, err,
			    "the worker did not load the plugin"));
		w->loaded = 1;
	}
	if (ri->req != NULL) {
		ri->req->h.seq = ++w->seq;
		rc = routine_worker_send(w, ri->req, sizeof(*ri->req), err,
		    sizeof(err));
		free(ri->req);
		ri->req = NULL;
		if (rc == -1) {
			ri->w = NULL;
			return (routine_inst_load_failed(ri, -1, err, ""));
		}
	}
	rc = routine_worker_wait_soft(w, WK_OK, soft, ri->load_deadline_ns,
	    err, sizeof(err));
	if (rc == 2)
		return (0);
	if (rc != 0) {
		if (rc == -1)
			ri->w = NULL;	/* ended already */
		return (routine_inst_load_failed(ri, rc, err,
		    "create() did not answer"));
	}
	ri->loading = 0;
	ri->inst = w;
	/* The kernel's count, never the worker's: the CPU its answers use. */
	ri->answer_cpu_ns = routine_worker_cpu_ns(w);
	return (1);
}

int
routine_inst_check(const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct routine_copy	*c = routines_copy(desc);
	struct routine_worker	*w;
	struct wk_hdr		 h;
	char			 err[256];
	int			 rc;

	if (c == NULL) {
		struct routine_inst ri;

		if (routine_inst_create(&ri, desc, params, zones, n_zones,
		    duration_s, why, whylen) == -1)
			return (-1);
		routine_inst_destroy(&ri);
		return (0);
	}
	if (c->checker == NULL) {
		if ((w = routine_worker_spawn(c->path, err,
		    sizeof(err))) == NULL) {
			snprintf(why, whylen, "%s", err);
			return (-2);
		}
		snprintf(w->name, sizeof(w->name), "%s", desc->name);
		rc = routine_worker_wait(w, WK_DESC, clock_mono_ns() +
		    (uint64_t)ROUTINE_LOAD_MS * 1000000, err, sizeof(err));
		if (rc != 0) {
			snprintf(why, whylen, "%s", rc == 1 ?
			    w->buf.text.text : err);
			if (rc == 1)
				routine_worker_end(w, 1, err, sizeof(err));
			return (-2);
		}
		c->checker = w;
	}
	w = c->checker;
	routine_inst_create_req(&w->buf.create, desc, params, zones, n_zones,
	    duration_s, 0, 0);
	w->buf.create.h.seq = ++w->seq;
	rc = routine_worker_call(w, &w->buf.create, sizeof(w->buf.create),
	    WK_OK, 	    clock_mono_ns() + (uint64_t)ROUTINE_CHECK_MS * 1000000, err,
	    sizeof(err));
	if (rc == 1) {
		snprintf(why, whylen, "%s", w->buf.text.text[0] != '\0' ?
		    w->buf.text.text : "create() failed and gave no reason");
		return (-1);
	}
	if (rc == 0) {
		h.type = WK_DESTROY;
		h.seq = ++w->seq;
		rc = routine_worker_call(w, &h, sizeof(h), WK_OK,
		    clock_mono_ns() + (uint64_t)ROUTINE_CHECK_MS * 1000000, err,
		    sizeof(err));
		if (rc == 0)
			return (0);
	}
	c->checker = NULL;
	if (strcmp(err, "timeout") == 0 || err[0] == '\0')
		snprintf(err, sizeof(err), "no answer within %d ms; the worker "
		    "was killed", ROUTINE_CHECK_MS);
	snprintf(why, whylen, "%s while checking these settings", err);
	return (-2);
}

int
routine_inst_create(struct routine_inst *ri,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	return (routine_inst_start(ri, NULL, desc, params, zones, n_zones,
	    duration_s, why, whylen));
}

int
routine_inst_start(struct routine_inst *ri, const struct routine_opts *o,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	if (routine_inst_begin(ri, o, desc, params, zones, n_zones,
	    duration_s, why, whylen) == -1)
		return (-1);
	if (routine_inst_ready(ri, 1) == 1)
		return (0);
	snprintf(why, whylen, "%s", ri->why);
	routine_inst_destroy(ri);
	return (-1);
}

int
routine_inst_begin(struct routine_inst *ri, const struct routine_opts *o,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	static const struct routine_opts	 defaults;
	struct routine_copy			*c = routines_copy(desc);

	if (o == NULL)
		o = &defaults;
	if (c == NULL)
		return (routine_inst_local(ri, o, desc, params, zones, n_zones,
		    duration_s, why, whylen));
	memset(ri, 0, sizeof(*ri));
	ri->host.size = sizeof(ri->host);
	ri->deadline_ms = o->deadline_ms;
	ri->wait_ms = o->wait_ms;
	ri->cpu_ms = o->cpu_ms;
	ri->tick_ms = o->tick_hz > 0 ? 1000.0 / o->tick_hz : 0;
	ri->desc = desc;
	ri->n_zones = n_zones;
	if (routine_inst_load(ri, o, c, params, zones, n_zones, duration_s,
	    why, whylen) == -1) {
		memset(ri, 0, sizeof(*ri));
		return (-1);
	}
	return (0);
}

/* create() of a descriptor built into this process (a test's). */
static int
routine_inst_local(struct routine_inst *ri, const struct routine_opts *o,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct massaged_routine_args		 args;
	char					 err[256];

	memset(ri, 0, sizeof(*ri));
	ri->host.size = sizeof(ri->host);
	/* The descriptor outlives every instance and names the routine. */
	ri->host.ctx = (void *)(uintptr_t)desc;
	ri->host.log = routine_inst_host_log;

	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.host = &ri->host;
	args.params = params;
	args.n_zones = n_zones;
	args.zones = zones;
	args.duration_s = duration_s;
	args.ramp_kpa_s = o->ramp_kpa_s;
	args.tick_hz = o->tick_hz;
	err[0] = '\0';
	if ((ri->inst = desc->create(&args, err, sizeof(err))) == NULL) {
		err[sizeof(err) - 1] = '\0';
		snprintf(why, whylen, "%s", err[0] != '\0' ? err :
		    "create() failed and gave no reason");
		return (-1);
	}
	ri->desc = desc;
	ri->n_zones = n_zones;
	return (0);
}

int
routine_inst_step(struct routine_inst *ri, const struct massaged_step_in *in,
    double *setpoint_kpa)
{
	int	 rc;

	if (ri->lost)
		return (ROUTINE_STEP_LOST);
	if (ri->desc == NULL || ri->inst == NULL)
		return (MASSAGED_STEP_ERROR);
	if (ri->w != NULL)
		return (routine_inst_remote_step(ri, in, setpoint_kpa));
	rc = ri->desc->step(ri->inst, in, setpoint_kpa);
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE)
		return (MASSAGED_STEP_ERROR);
	return (rc);
}

void
routine_inst_destroy(struct routine_inst *ri)
{
	free(ri->req);
	if (ri->w != NULL) {
		/* Its process goes, whatever destroy() would have done. */
		routine_worker_end(ri->w, 1, NULL, 0);
	} else if (ri->desc != NULL && ri->inst != NULL)
		ri->desc->destroy(ri->inst);
	memset(ri, 0, sizeof(*ri));
}

/*
 * Asks step() through the page: the question is written, its number last.
 * The worker is told by a message only if it waits for one (a.waits).
 * look_ns: when the worker should look for the question after this one
 * (0: at once, then wait for a message); it sleeps until then, and finds
 * a question asked meanwhile then. -1 (the worker ended, ri lost) if it
 * cannot be told.
 */
static int
routine_inst_remote_ask(struct routine_inst *ri,
    const struct massaged_step_in *in, uint64_t look_ns)
{
	struct routine_worker	*w = ri->w;
	struct wk_question	*q = &w->sh->q;
	struct wk_hdr		 h;
	size_t			 n = ri->n_zones;

	q->t_s = in->t_s;
	q->dt_s = in->dt_s;
	q->intensity = in->intensity;
	q->feedback = in->feedback;
	q->n = (uint32_t)n;
	q->look_ns = (int64_t)look_ns;
	q->waits = 0;
	if (in->pressure_kpa != NULL)
		memcpy(q->pressure_kpa, in->pressure_kpa, n * sizeof(double));
	else
		memset(q->pressure_kpa, 0, n * sizeof(double));
	ri->pending = 1;
	ri->sent_ns = clock_mono_ns();
	ri->late_ns = 0;
	/* Written, then the worker's flag read (each a full barrier): a
	 * worker that said it waits after this finds the question itself,
	 * and one that sleeps until the look time the last question gave
	 * finds it then. */
	__atomic_store_n(&q->seq, ++w->seq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sh->a.waits, __ATOMIC_SEQ_CST) == 0)
		return (0);
	h.type = WK_STEP;
	h.seq = w->seq;
	if (routine_worker_send(w, &h, sizeof(h), ri->why,
	    sizeof(ri->why)) == -1) {
		ri->w = NULL;
		ri->inst = NULL;
		ri->lost = 1;
		ri->pending = 0;
		return (-1);
	}
	return (0);
}

void
routine_inst_ask(struct routine_inst *ri, const struct massaged_step_in *in,
    uint64_t look_ns)
{
	if (ri->w != NULL && ri->inst != NULL && !ri->pending)
		(void)routine_inst_remote_ask(ri, in, look_ns);
	/* Once a tick, while it computes: what it wrote to stderr. */
	if (ri->w != NULL)
		routine_worker_stderr(ri->w);
}

/*
 * The answer to the open question taken in, if it is in the page: 1, no
 * system call. It is copied out before anything looks at it (the worker
 * can write the page at any time); its values are checked by the caller.
 */
static int
routine_inst_answered(struct routine_inst *ri)
{
	struct wk_answer	*a = &ri->w->sh->a;
	int64_t			 cpu;

	if (__atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) != ri->w->seq)
		return (0);
	memcpy(ri->answer_kpa, a->setpoint_kpa, ri->n_zones * sizeof(double));
	ri->answer_rc = a->rc;
	/*
	 * What it cost, as the kernel counts it (the page is the worker's
	 * to forge): the worker slept from its last answer until it looked
	 * for this question, so its CPU time since that answer was taken is
	 * what this one used. One system call per question, which wakes
	 * nobody.
	 */
	if ((cpu = routine_worker_cpu_ns(ri->w)) >= 0) {
		ri->answer_cpu_ms = ri->answer_cpu_ns > 0 ?
		    (cpu - ri->answer_cpu_ns) / 1e6 : 0;
		ri->answer_cpu_ns = cpu;
	}
	ri->pending = 0;
	ri->late_ns = 0;
	return (1);
}

/*
 * Waits for the answer to the open question: 0 once taken in; 2 (the
 * worker kept, still asked) once soft_ns has passed; -1 "timeout" (the
 * worker killed) at deadline_ns. Otherwise as routine_worker_drain(). Every
 * call looks at the socket once at least: a worker that died is found.
 */
static int
routine_inst_wait_step(struct routine_inst *ri, uint64_t soft_ns,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	struct routine_worker	*w = ri->w;
	uint64_t		 now;
	int			 rc;

	for (;;) {
		if (routine_inst_answered(ri))
			return (0);
		if ((rc = routine_worker_drain(w, why, whylen)) != 0)
			return (rc);
		if (routine_inst_answered(ri))
			return (0);
		if ((rc = routine_worker_due(w, soft_ns, deadline_ns, &now, why,
		    whylen)) != 0)
			return (rc);
		/* Say so, then look once more (as the worker does). */
		__atomic_store_n(&w->sh->q.waits, w->seq, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->sh->a.seq, __ATOMIC_SEQ_CST) == w->seq)
			continue;
		if ((rc = routine_worker_poll(w, now, soft_ns, deadline_ns, why,
		    whylen)) != 0)
			return (rc);
	}
}

/* A worker that failed as routine_inst_wait_step() says (rc -1 or 1): lost. */
static void
routine_inst_lose(struct routine_inst *ri, int rc, double deadline_ms)
{
	if (rc == -1 && strcmp(ri->why, "timeout") == 0)
		snprintf(ri->why, sizeof(ri->why), "step() missed its "
		    "deadline of %.1f ms; the worker was killed", deadline_ms);
	else if (rc == 1) {
		routine_worker_why(ri->why, sizeof(ri->why), "the worker "
		    "failed: %s", ri->w->buf.text.text);
		routine_worker_end(ri->w, 1, NULL, 0);
	}
	ri->w = NULL;
	ri->inst = NULL;
	ri->lost = 1;
	ri->pending = 0;
}

void
routine_inst_collect(struct routine_inst *ri)
{
	int	 rc = 0;

	if (ri->w == NULL || ri->inst == NULL)
		return;
	ri->why[0] = '\0';
	if (ri->pending && !ri->answered && routine_inst_answered(ri))
		ri->answered = 1;
	/* The socket only when the worker says it wrote to it. */
	if (__atomic_load_n(&ri->w->sh->a.logs, __ATOMIC_ACQUIRE) !=
	    ri->w->logs)
		rc = routine_worker_drain(ri->w, ri->why, sizeof(ri->why));
	if (rc != 0)
		routine_inst_lose(ri, rc, ri->deadline_ms);
}

/*
 * The worker of an unanswered step(), judged: stuck if it sleeps in the
 * kernel in step() (a pure computation never waits: it sleeps, or waits
 * for something that will not come), or if, about a tick after the question,
 * it has used ri->cpu_ms of CPU on it (since its last answer, or since it
 * was first found without one); not if a busy machine only keeps it from
 * running. A stuck worker gets one last look (its answer may have come
 * meanwhile): 0 and the answer taken in then; otherwise it is killed, -1
 * with why. 2: not stuck.
 */
static int
routine_inst_judge(struct routine_inst *ri, uint64_t now)
{
	char	 last[sizeof(ri->why)];
	int64_t	 cpu;
	double	 ms;
	int	 rc;

	if (ri->cpu_ms <= 0 || ri->tick_ms <= 0)
		return (2);
	/* Asleep about a tick after the question, in step(): once it has
	 * taken the question. Before, it sleeps until the look time the
	 * question before gave, or for the wake-up message, and a busy
	 * host may deliver its timer late. What the worker says it took
	 * only spares it this verdict: its deadline stands. */
	if (now - ri->sent_ns >= (uint64_t)(ri->tick_ms * 0.9e6) &&
	    __atomic_load_n(&ri->w->sh->a.took, __ATOMIC_ACQUIRE) ==
	    ri->w->seq && routine_worker_sched_state(ri->w) == 'S')
		snprintf(ri->why, sizeof(ri->why), "step() was asleep in the "
		    "kernel %.1f ms after it was asked; the worker was killed",
		    (now - ri->sent_ns) / 1e6);
	else if (ri->answer_cpu_ns > 0 &&
	    now - ri->sent_ns >= (uint64_t)(ri->tick_ms * 0.9e6) &&
	    (cpu = routine_worker_cpu_ns(ri->w)) >= 0 &&
	    (ms = (cpu - ri->answer_cpu_ns) / 1e6) >= ri->cpu_ms)
		/* asked ahead: judged at the next tick, by the CPU it has
		 * used since its last answer */
		snprintf(ri->why, sizeof(ri->why), "step() was still computing "
		    "%.1f ms after it was asked (%.1f ms of CPU on it); the "
		    "worker was killed", (now - ri->sent_ns) / 1e6, ms);
	else if (ri->late_ns != 0 && ri->late_cpu_ns >= 0 &&
	    now - ri->sent_ns >= (uint64_t)(ri->tick_ms * 1e6) &&
	    (cpu = routine_worker_cpu_ns(ri->w)) >= 0 &&
	    (ms = (cpu - ri->late_cpu_ns) / 1e6) >= ri->cpu_ms)
		snprintf(ri->why, sizeof(ri->why), "step() was still computing "
		    "%.1f ms after it was asked (%.1f ms of CPU in the last "
		    "%.1f ms); the worker was killed", (now - ri->sent_ns) /
		    1e6, ms, (now - ri->late_ns) / 1e6);
	else
		return (2);
	rc = routine_inst_wait_step(ri, now, now + 1000000, last, sizeof(last));
	if (rc == 2) {
		routine_worker_end(ri->w, 1, NULL, 0);
		return (-1);
	}
	if (rc == -1)
		snprintf(ri->why, sizeof(ri->why), "%s", last);
	else if (rc == 0)
		ri->why[0] = '\0';
	return (rc);
}

/*
 * Whether a late worker is only kept from running (a busy machine): the
 * kernel has it runnable ('R') and it has used less than ri->cpu_ms of
 * CPU since its last answer was taken, so it is waiting for a CPU, not
 * computing. A worker stopped ('T') or asleep is not.
 */
static int
routine_inst_held(const struct routine_inst *ri)
{
	int64_t	 cpu;

	if (ri->cpu_ms <= 0 || ri->answer_cpu_ns <= 0 ||
	    routine_worker_sched_state(ri->w) != 'R' ||
	    (cpu = routine_worker_cpu_ns(ri->w)) < 0)
		return (0);
	return ((cpu - ri->answer_cpu_ns) / 1e6 < ri->cpu_ms);
}

/*
 * step() in the worker. A question asked at an earlier call (ahead, by
 * routine_inst_ask(), or one that was late) is collected; otherwise this
 * call asks. The answer is waited for ri->wait_ms at most (the caller's
 * budget): if it is late, ROUTINE_STEP_LATE (_HELD if only kept from
 * running: routine_inst_held()), and the next call collects it. A worker
 * found stuck (routine_inst_judge()) is killed and
 * ROUTINE_STEP_LOST; one only kept from running has until
 * ri->deadline_ms after it was asked.
 */
static int
routine_inst_remote_step(struct routine_inst *ri,
    const struct massaged_step_in *in, double *setpoint_kpa)
{
	struct routine_worker	*w = ri->w;
	double			 ms = ri->deadline_ms > 0 ? ri->deadline_ms :
				    ROUTINE_CALL_MS;
	uint64_t		 now, soft, hard;
	size_t			 n = ri->n_zones;
	int			 rc, asked = ri->pending;

	ri->why[0] = '\0';
	/* Collected between ticks, or in the page now: no system call. */
	if (ri->answered || (asked && routine_inst_answered(ri))) {
		ri->answered = 0;
		goto take;
	}
	if (!asked && routine_inst_remote_ask(ri, in, 0) == -1)
		return (ROUTINE_STEP_LOST);
	now = clock_mono_ns();
	hard = ri->sent_ns + (uint64_t)(ms * 1e6);
	soft = ri->wait_ms > 0 ? now + (uint64_t)(ri->wait_ms * 1e6) : hard;
	/* Every call gives the worker its wait: if the daemon itself was
	 * held up (a loaded or throttled machine stops both), the worker
	 * may not have run since; the miss is its own only after that. */
	if (ri->wait_ms > 0 && hard < soft)
		hard = soft;
	if (asked) {
		/* Asked a tick ago: dead, stuck, or only late? */
		rc = routine_inst_wait_step(ri, now, hard, ri->why,
		    sizeof(ri->why));
		if (rc == 2 && (rc = routine_inst_judge(ri, now)) == 2 &&
		    ri->late_ns == 0 && ri->cpu_ms > 0) {
			ri->late_ns = now;
			ri->late_cpu_ns = routine_worker_cpu_ns(w);
		}
		if (rc == 2)
			rc = routine_inst_wait_step(ri, soft, hard, ri->why,
			    sizeof(ri->why));
	} else
		rc = routine_inst_wait_step(ri, soft, hard, ri->why,
		    sizeof(ri->why));
	if (rc == 2 && (rc = routine_inst_judge(ri, clock_mono_ns())) == 2) {
		if (ri->late_ns == 0) {
			ri->late_ns = clock_mono_ns();
			ri->late_cpu_ns = ri->cpu_ms > 0 ?
			    routine_worker_cpu_ns(w) : -1;
		}
		return (routine_inst_held(ri) ? ROUTINE_STEP_HELD :
		    ROUTINE_STEP_LATE);
	}
	if (rc != 0) {
		routine_inst_lose(ri, rc, ms);
		return (ROUTINE_STEP_LOST);
	}
take:
	memcpy(setpoint_kpa, ri->answer_kpa, n * sizeof(double));
	rc = ri->answer_rc;
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE)
		return (MASSAGED_STEP_ERROR);
	return (rc);
}

static struct routine_inst *
routine_inst_alloc(void)
{
	return (calloc(1, sizeof(struct routine_inst)));
}

static void
routine_inst_free(struct routine_inst *ri)
{
	if (ri == NULL)
		return;
	routine_inst_destroy(ri);
	free(ri);
}

static int
routine_inst_remote_now(const struct routine_inst *ri)
{
	return (ri->w != NULL);
}

static double
routine_inst_cpu_ms(const struct routine_inst *ri)
{
	return (ri->w != NULL ? ri->answer_cpu_ms : 0);
}

static int
routine_inst_pending(const struct routine_inst *ri)
{
	return (ri->pending);
}

static int
routine_inst_lost(const struct routine_inst *ri)
{
	return (ri->lost);
}

static const char *
routine_inst_why(const struct routine_inst *ri)
{
	return (ri->why);
}
