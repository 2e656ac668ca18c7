/*
 * worker.c: massaged-worker, the process a routine plugin runs in.
 *
 *   massaged-worker FILE.so      (the daemon's socket on fd 3, the page
 *                                 step() goes through on fd 4)
 *
 * Started by the daemon (daemon/engine/routine-worker.c) for one plugin
 * file: locks itself down as far as loading allows (sandbox.c: its own
 * process group, killed with its parent, no new privileges, rlimits, a
 * seccomp filter that refuses processes, sockets and writing files), loads
 * the file (its constructors run here, never in the daemon), sends a copy
 * of the descriptor, locks down the rest of the way (no files at all), and
 * then serves create() and destroy() over the socket, and step() through
 * the page it shares with the daemon (include/massaged/worker.h).
 * It never outlives the daemon's end of the socket.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "massaged/routine.h"
#include "massaged/worker.h"
#include "sandbox.h"

#define WORKER_V1_SIZE	(offsetof(struct massaged_routine, destroy) + \
			    sizeof(void (*)(void *)))

static void	 worker_send(const void *msg, size_t len);
static void	 worker_fail(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 worker_desc(const struct massaged_routine *d);
static void	 worker_serve(const struct massaged_routine *d);
static void	 worker_log(void *ctx, int level, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static struct wk_shared	*worker_sh;	/* step()'s page, mapped first */
static uint32_t	 worker_seq;		/* of the request being served */
static int	 worker_logs;		/* host->log() calls in it */

static void
worker_send(const void *msg, size_t len)
{
	ssize_t	 n;

	while ((n = send(WORKER_FD, msg, len, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)len)
		_exit(1);	/* the daemon is gone */
}

/* Tells the daemon why, and ends. */
static void
worker_fail(const char *fmt, ...)
{
	struct wk_text	 m;
	va_list		 ap;

	memset(&m, 0, sizeof(m));
	m.h.type = WK_ERR;
	m.h.seq = worker_seq;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	worker_send(&m, sizeof(m));
	_exit(1);
}

/* Appends s (or WK_NULL_STR) to the strings of m. */
static void
worker_str(struct wk_desc *m, size_t *off, const char *s)
{
	size_t	 n;

	if (s == NULL)
		s = WK_NULL_STR;
	n = strnlen(s, sizeof(m->strings));
	if (*off + n + 1 > sizeof(m->strings))
		worker_fail("the descriptor's strings are longer than %zu bytes",
		    sizeof(m->strings));
	memcpy(m->strings + *off, s, n);
	m->strings[*off + n] = '\0';
	*off += n + 1;
}

/* Sends a copy of the descriptor: the daemon checks it (routine-desc.c). */
static void
worker_desc(const struct massaged_routine *d)
{
	static struct wk_desc	 m;
	const unsigned char	*tail;
	size_t			 off = 0, i;

	memset(&m, 0, sizeof(m));
	m.h.type = WK_DESC;
	snprintf(m.build, sizeof(m.build), "%s", MASSAGED_VERSION);
	m.abi_version = d->abi_version;
	m.size = d->size;
	if (d->abi_version != MASSAGED_ROUTINE_ABI_VERSION ||
	    d->size < WORKER_V1_SIZE) {
		/* Nothing else in it can be trusted: the daemon refuses. */
		worker_send(&m, offsetof(struct wk_desc, params));
		_exit(0);
	}
	if (d->size > sizeof(*d)) {
		/* Built against a newer routine.h: fine if it uses nothing
		 * this worker does not know. */
		tail = (const unsigned char *)d + sizeof(*d);
		for (i = 0; i < d->size - sizeof(*d); i++)
			if (tail[i] != 0)
				break;
		if (i < d->size - sizeof(*d)) {
			worker_send(&m, offsetof(struct wk_desc, params));
			_exit(0);
		}
		m.size = sizeof(*d);
	}
	m.flags = d->flags;
	m.fns = (d->create != NULL ? WK_HAS_CREATE : 0) |
	    (d->step != NULL ? WK_HAS_STEP : 0) |
	    (d->destroy != NULL ? WK_HAS_DESTROY : 0);
	m.n_params = d->n_params > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)d->n_params;
	if (d->n_params > 0 && d->params == NULL)
		m.params_null = 1;
	if (d->n_params > WORKER_PARAMS_MAX || m.params_null) {
		/* The daemon refuses it, naming the routine. */
		worker_str(&m, &off, d->name);
		worker_send(&m, offsetof(struct wk_desc, strings) + off);
		_exit(0);
	}
	worker_str(&m, &off, d->name);
	worker_str(&m, &off, d->version);
	worker_str(&m, &off, d->description);
	for (i = 0; i < d->n_params; i++) {
		const struct massaged_param *p = &d->params[i];

		m.params[i].type = (int32_t)p->type;
		m.params[i].def = p->def;
		m.params[i].min = p->min;
		m.params[i].max = p->max;
		worker_str(&m, &off, p->name);
		worker_str(&m, &off, p->unit);
		worker_str(&m, &off, p->choices);
		worker_str(&m, &off, p->help);
	}
	worker_send(&m, offsetof(struct wk_desc, strings) + off);
}

/* host->log(): to the daemon, which logs it with the routine's name. */
static void
worker_log(void *ctx, int level, const char *fmt, ...)
{
	struct wk_text	 m;
	va_list		 ap;

	if (worker_logs++ >= WORKER_LOGS_MAX)
		return;
	memset(&m, 0, offsetof(struct wk_text, text));
	m.h.type = WK_LOG;
	m.h.seq = worker_seq;
	m.level = level;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	worker_send(&m, offsetof(struct wk_text, text) + strlen(m.text) + 1);
	/* The daemon reads step() answers from the page: this tells it
	 * there is a message to take too. */
	__atomic_fetch_add(&worker_sh->a.logs, 1, __ATOMIC_SEQ_CST);
}

/*
 * An array of n doubles that ends where a page that cannot be touched
 * begins, so a routine that writes past its outputs dies at once instead
 * of corrupting the worker.
 */
static double *
worker_guarded(size_t n)
{
	long		 pg = sysconf(_SC_PAGESIZE);
	size_t		 len, data;
	unsigned char	*p;

	data = (n * sizeof(double) + (size_t)pg - 1) & ~((size_t)pg - 1);
	if (data == 0)
		data = (size_t)pg;
	len = data + (size_t)pg;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		worker_fail("mmap: %s", strerror(errno));
	if (mprotect(p + data, (size_t)pg, PROT_NONE) == -1)
		worker_fail("mprotect: %s", strerror(errno));
	return ((double *)(void *)(p + data - n * sizeof(double)));
}

/* The shared page, mapped from WORKER_SHM_FD before the lockdown. */
static void
worker_map(void)
{
	void	*p;

	p = mmap(NULL, sizeof(*worker_sh), PROT_READ | PROT_WRITE, MAP_SHARED,
	    WORKER_SHM_FD, 0);
	close(WORKER_SHM_FD);
	if (p == MAP_FAILED)
		worker_fail("cannot map the shared page: %s", strerror(errno));
	worker_sh = p;
}

/*
 * Waits for the next request: a question in the shared page (0, its
 * number in *qseq), or a message (1, in req, n bytes). Until *look_ns a
 * question asked ahead comes without a message: the worker sleeps until
 * then on its own timer, without telling the daemon, which then need not
 * wake it. The time is absolute: a sleep cut short by a signal (SIGSTOP
 * and SIGCONT) still ends then, not later. After that the worker says it
 * waits, and the daemon sends WK_STEP with its question.
 */
static int
worker_next(void *req, size_t reqlen, ssize_t *n, uint32_t served,
    int stepping, int64_t *look_ns, uint32_t *qseq)
{
	struct timespec	 ts, now;
	int64_t		 wait;

	for (;;) {
		if (stepping && (*qseq = __atomic_load_n(&worker_sh->q.seq,
		    __ATOMIC_ACQUIRE)) != served)
			return (0);
		if (*look_ns > 0) {
			if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
				worker_fail("clock_gettime: %s",
				    strerror(errno));
			wait = *look_ns - ((int64_t)now.tv_sec * 1000000000 +
			    now.tv_nsec);
			if (wait > 0 && wait <= 1000000000) {
				ts.tv_sec = (time_t)(*look_ns / 1000000000);
				ts.tv_nsec = (long)(*look_ns % 1000000000);
				while (clock_nanosleep(CLOCK_MONOTONIC,
				    TIMER_ABSTIME, &ts, NULL) == EINTR)
					;
			}
			*look_ns = 0;
			continue;	/* to look again */
		}
		/* Say so, then look once more: the daemon writes its
		 * question, then reads this (each a full barrier). */
		__atomic_store_n(&worker_sh->a.waits, 1, __ATOMIC_SEQ_CST);
		if (stepping && (*qseq = __atomic_load_n(&worker_sh->q.seq,
		    __ATOMIC_SEQ_CST)) != served) {
			__atomic_store_n(&worker_sh->a.waits, 0,
			    __ATOMIC_RELAXED);
			return (0);
		}
		*n = recv(WORKER_FD, req, reqlen, 0);
		__atomic_store_n(&worker_sh->a.waits, 0, __ATOMIC_RELAXED);
		if (*n == -1 && errno == EINTR)
			continue;
		if (*n <= 0)
			_exit(0);	/* the daemon closed its end */
		if ((size_t)*n < sizeof(struct wk_hdr))
			worker_fail("short request");
		return (1);
	}
}

/*
 * The one instance this worker serves, and what its create() was given:
 * the routine may keep any of these pointers until destroy().
 */
struct worker_state {
	const struct massaged_routine	*d;
	struct massaged_host		 host;
	struct massaged_routine_args	 args;
	struct massaged_zone		 zones[WORKER_ZONES_MAX];
	double				 params[WORKER_PARAMS_MAX];
	void				*inst;
	double				*out;	/* guarded, WORKER_ZONES_MAX */
	double				*pin;
	size_t				 nz;
	uint32_t			 served;	/* the last question */
	int64_t				 look_ns;
};

/* Answers question qseq in the shared page with one step(). */
static void
worker_step(struct worker_state *ws, uint32_t qseq)
{
	struct wk_question		*q = &worker_sh->q;
	struct wk_answer		*a = &worker_sh->a;
	struct massaged_step_in		 in;
	struct wk_hdr			 ok;
	double				*o = ws->out + WORKER_ZONES_MAX - ws->nz;
	double				*p = ws->pin + WORKER_ZONES_MAX - ws->nz;
	int				 rc;

	/* A question: copied out of the page first. */
	worker_seq = qseq;
	worker_logs = 0;
	if (q->n != ws->nz)
		worker_fail("bad step request");
	/* Right-aligned on the guard page: out[nz] faults. */
	memcpy(p, q->pressure_kpa, ws->nz * sizeof(double));
	memset(o, 0, ws->nz * sizeof(double));
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.t_s = q->t_s;
	in.dt_s = q->dt_s;
	in.pressure_kpa = p;
	in.intensity = q->intensity;
	in.feedback = q->feedback;
	ws->look_ns = q->look_ns;
	__atomic_store_n(&a->took, qseq, __ATOMIC_RELEASE);
	rc = ws->d->step(ws->inst, &in, o);
	memcpy(a->setpoint_kpa, o, ws->nz * sizeof(double));
	a->rc = rc;
	ws->served = qseq;
	__atomic_store_n(&a->seq, qseq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->waits, __ATOMIC_SEQ_CST) == qseq) {
		ok.type = WK_STEPPED;
		ok.seq = qseq;
		worker_send(&ok, sizeof(ok));
	}
}

/* WK_CREATE (n bytes in c, which the zones' names keep pointing into). */
static void
worker_create(struct worker_state *ws, struct wk_create *c, ssize_t n)
{
	struct massaged_routine_args	*args = &ws->args;
	struct wk_text			 err;
	struct wk_hdr			 ok;
	size_t				 i;

	if (ws->inst != NULL)
		worker_fail("create() while an instance lives");
	if ((size_t)n != sizeof(*c) || c->n_params > WORKER_PARAMS_MAX ||
	    c->n_zones > WORKER_ZONES_MAX)
		worker_fail("bad create request");
	ws->nz = c->n_zones;
	for (i = 0; i < ws->nz; i++) {
		struct wk_zone *z = &c->zones[i];

		z->name[sizeof(z->name) - 1] = '\0';
		ws->zones[i].name = z->name;
		ws->zones[i].along_cm = z->along_cm;
		ws->zones[i].across_cm = z->across_cm;
		ws->zones[i].limit_kpa = z->limit_kpa;
		ws->zones[i].endangerment = z->endangerment;
	}
	memcpy(ws->params, c->params, sizeof(ws->params));
	memset(args, 0, sizeof(*args));
	args->size = sizeof(*args);
	args->host = &ws->host;
	args->params = ws->params;
	args->n_zones = ws->nz;
	args->zones = ws->zones;
	args->duration_s = c->duration_s;
	args->ramp_kpa_s = c->ramp_kpa_s;
	args->tick_hz = c->tick_hz;
	memset(&err, 0, sizeof(err));
	if ((ws->inst = ws->d->create(args, err.text,
	    sizeof(err.text))) == NULL) {
		err.h.type = WK_ERR;
		err.h.seq = worker_seq;
		err.text[sizeof(err.text) - 1] = '\0';
		worker_send(&err, offsetof(struct wk_text, text) +
		    strlen(err.text) + 1);
		return;
	}
	if (ws->out == NULL) {
		ws->out = worker_guarded(WORKER_ZONES_MAX);
		ws->pin = worker_guarded(WORKER_ZONES_MAX);
	}
	/* Questions before this one are not this instance's. */
	ws->served = __atomic_load_n(&worker_sh->q.seq, __ATOMIC_ACQUIRE);
	ws->look_ns = 0;
	ok.type = WK_OK;
	ok.seq = worker_seq;
	worker_send(&ok, sizeof(ok));
}

static void
worker_serve(const struct massaged_routine *d)
{
	static union {
		struct wk_hdr		 h;
		struct wk_create	 c;
	} req;
	static struct worker_state	 ws;
	struct wk_hdr			 ok;
	uint32_t			 qseq = 0;
	ssize_t				 n = 0;

	ws.d = d;
	ws.host.size = sizeof(ws.host);
	ws.host.log = worker_log;
	for (;;) {
		if (worker_next(&req, sizeof(req), &n, ws.served,
		    ws.inst != NULL, &ws.look_ns, &qseq) == 0) {
			worker_step(&ws, qseq);
			continue;
		}
		worker_seq = req.h.seq;
		worker_logs = 0;
		switch (req.h.type) {
		case WK_CREATE:
			worker_create(&ws, &req.c, n);
			break;
		case WK_STEP:
			/* The question is in the page: looked for above. */
			if ((size_t)n != sizeof(req.h) || ws.inst == NULL)
				worker_fail("bad step request");
			break;
		case WK_DESTROY:
			if (ws.inst != NULL)
				d->destroy(ws.inst);
			ws.inst = NULL;
			ok.type = WK_OK;
			ok.seq = worker_seq;
			worker_send(&ok, sizeof(ok));
			break;
		default:
			worker_fail("unknown request %u", req.h.type);
		}
	}
}

int
main(int argc, char *argv[])
{
	const struct massaged_routine	*d;
	const struct massaged_routine	*(*entry)(void);
	const char			*e;
	void				*dl, *sym;
	pid_t				 me;

	if (argc != 2) {
		fprintf(stderr, "usage: massaged-worker FILE.so (started by "
		    "massaged, with its socket on fd %d and its step() page "
		    "on fd %d)\n", WORKER_FD, WORKER_SHM_FD);
		return (2);
	}
	/* Started through the daemon's copy of this binary: that one is
	 * not ours to keep, and the name is. */
	(void)close(WORKER_EXE_FD);
	(void)prctl(PR_SET_NAME, "massaged-worker", 0, 0, 0);
	worker_map();
	if (sandbox_begin(argv[1]) == -1)
		worker_fail("cannot lock the worker down: %s", strerror(errno));
	me = getpid();
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		if (getpid() != me)
			_exit(0);
		e = dlerror();
		if (e == NULL)
			e = "dlopen failed";
		/* dlerror() often starts with the path again. */
		if (strncmp(e, argv[1], strlen(argv[1])) == 0 &&
		    strncmp(e + strlen(argv[1]), ": ", 2) == 0)
			e += strlen(argv[1]) + 2;
		worker_fail("cannot load routine: %s", e);
	}
	/* A constructor that forked: its child ends here. */
	if (getpid() != me)
		_exit(0);
	(void)dlerror();
	if ((sym = dlsym(dl, MASSAGED_ROUTINE_ENTRY)) == NULL)
		worker_fail("no entry symbol %s (define it with the prototype "
		    "from massaged/routine.h so it is exported)",
		    MASSAGED_ROUTINE_ENTRY);
	memcpy(&entry, &sym, sizeof(entry));
	if ((d = entry()) == NULL)
		worker_fail("%s() returned NULL", MASSAGED_ROUTINE_ENTRY);
	if (sandbox_finish() == -1)
		worker_fail("cannot lock the worker down: %s", strerror(errno));
	worker_desc(d);
	worker_serve(d);
	return (0);
}
