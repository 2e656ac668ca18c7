/*
 * routine-inst.h: instances of loaded routines, each in a worker process
 * (massaged-worker) of its own; descriptors that do not come from a worker
 * (built into a test) are called in-process. routine_inst_port is the
 * session's view of them (core/routine-port.h).
 */
#ifndef ROUTINE_INST_H
#define ROUTINE_INST_H

#include <stddef.h>
#include <stdint.h>

#include "massaged/routine.h"
#include "massaged/worker.h"
#include "routine-port.h"

struct routine_worker;

/* A running instance: one per program step, in a worker of its own. */
struct routine_inst {
	const struct massaged_routine	*desc;
	void				*inst;
	struct massaged_host		 host;
	size_t				 n_zones;
	double				 deadline_ms;	/* per step() call */
	double				 wait_ms;	/* then LATE */
	int				 pending;	/* a step() asked */
	int				 lost;		/* asking failed */
	int				 answered;	/* collected: */
	int				 answer_rc;
	double				 answer_kpa[WORKER_ZONES_MAX];
	uint64_t			 sent_ns;
	double				 cpu_ms;	/* judged a tick on */
	double				 tick_ms;
	int64_t				 answer_cpu_ns;	/* worker CPU when
							   the last answer
							   was taken (the
							   kernel's), 0 */
	double				 answer_cpu_ms;	/* used on it */
	int64_t				 late_cpu_ns;	/* worker CPU when */
	uint64_t			 late_ns;	/*   last found late */
	struct routine_worker		*w;
	const struct massaged_routine	*prepared; /* w started for it */
	int				 loading;	/* begun, not ready */
	uint64_t			 load_deadline_ns;
	double				 load_ms;	/* its budget */
	struct wk_create		*req;	/* create(), once loaded */
	char				 why[256]; /* of ROUTINE_STEP_LOST */
};

/* The session's port to these functions (session_init()). */
extern const struct routine_port routine_inst_port;

/*
 * Creates an instance; -1 with the routine's reason in why. The routine
 * keeps a pointer to ri->host, and may keep params and zones: ri must not
 * move, and params and zones must stay valid, until routine_inst_destroy().
 * routine_inst_step() returns MASSAGED_STEP_RUNNING, _DONE or _ERROR (also
 * for any other value the routine returns), or ROUTINE_STEP_LOST or _LATE
 * (core/routine-port.h); outputs are not checked here.
 */
int	routine_inst_create(struct routine_inst *ri,
	    const struct massaged_routine *desc, const double *params,
	    const struct massaged_zone *zones, size_t n_zones,
	    double duration_s, char *why, size_t whylen);
int	routine_inst_start(struct routine_inst *ri,
	    const struct routine_opts *o, const struct massaged_routine *desc,
	    const double *params, const struct massaged_zone *zones,
	    size_t n_zones, double duration_s, char *why, size_t whylen);
/*
 * routine_inst_start() in two halves, for a caller that must not wait
 * (the session's tick): begin() starts the worker (or takes the prepared
 * one) and returns; ready() looks, without waiting unless wait is set:
 * 1 the worker has loaded and create() accepted, 0 not yet, -1 refused,
 * failed or past o->load_deadline_ns (the worker killed; ri->why says
 * which, naming the deadline). In-process descriptors are created in
 * begin() and ready at once.
 */
int	routine_inst_begin(struct routine_inst *ri,
	    const struct routine_opts *o, const struct massaged_routine *desc,
	    const double *params, const struct massaged_zone *zones,
	    size_t n_zones, double duration_s, char *why, size_t whylen);
int	routine_inst_ready(struct routine_inst *ri, int wait);
int	routine_inst_step(struct routine_inst *ri,
	    const struct massaged_step_in *in, double *setpoint_kpa);
/*
 * Asks a worker's step() now for the next routine_inst_step(), which
 * then collects that answer (its own in is not sent): the worker computes
 * between ticks, not while the tick waits. look_ns (CLOCK_MONOTONIC) is
 * when the worker should look for the question after this one: when the
 * caller asks next (its next tick), and a quarter tick more. The worker
 * sleeps until then on its own timer, so that asking it needs no system
 * call; 0: it waits to be told. Nothing for an instance in this process,
 * or with a question open. A worker that cannot be asked is lost, which
 * the next routine_inst_step() reports.
 */
void	routine_inst_ask(struct routine_inst *ri,
	    const struct massaged_step_in *in, uint64_t look_ns);
/*
 * Takes in the answer to the open question if it has come, without a
 * system call, for the next routine_inst_step() to use; and the lines the
 * worker logged, if it says there are any. A worker found dead here is
 * lost, which the next routine_inst_step() reports; one that died without
 * a word is found by the next routine_inst_step().
 */
void	routine_inst_collect(struct routine_inst *ri);
void	routine_inst_destroy(struct routine_inst *ri);
/* Starts the worker for a later routine_inst_start() of desc now (ri is
 * then its opts->prepared), so it has loaded by then; -1 if it cannot
 * start (routine_inst_start() tries again). */
int	routine_inst_prepare(struct routine_inst *ri,
	    const struct massaged_routine *desc);
/*
 * create() and destroy() with these settings, as programs are checked, in
 * the set's loading worker: 0 accepted, -1 refused (the routine's reason),
 * -2 the worker failed (crashed, hung: why says so). The loader makes it
 * its sets' check (core/routine-set.h).
 */
int	routine_inst_check(const struct massaged_routine *desc,
	    const double *params, const struct massaged_zone *zones,
	    size_t n_zones, double duration_s, char *why, size_t whylen);

#endif
