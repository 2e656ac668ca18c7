/*
 * routine-port.h: what the session needs of a routine instance, as a port
 * (a const table of functions) the engine implements (routine_inst_port in
 * engine/routine-inst.c: each instance in a worker process of its own) and
 * the session's caller hands to session_init(). The session holds its
 * instances as data it does not look into: core calls no engine code.
 */
#ifndef ROUTINE_PORT_H
#define ROUTINE_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "massaged/routine.h"

struct routine_inst;		/* the engine's (engine/routine-inst.h) */

/* How port->start() runs an instance (zero: the defaults). */
struct routine_opts {
	double			 deadline_ms;	/* each call; 0: a second */
	double			 wait_ms;	/* step(): 0 the deadline */
	double			 cpu_ms;	/* step(): still late at the
						   next call after using this
						   much CPU, or asleep: lost
						   (0: only the deadline) */
	uint64_t		 load_deadline_ns; /* monotonic: the worker
						   loaded and create() done;
						   0: in 3 s */
	double			 ramp_kpa_s;	/* told to create() */
	double			 tick_hz;	/* told to create() */
	struct routine_inst	*prepared;	/* its worker, if started
						   for this routine */
};

/* port->step(): the worker is gone (port->why() says how). */
#define ROUTINE_STEP_LOST	(-2)
/* port->step(): no answer within wait_ms; the next call collects it,
 * until deadline_ms after it was asked, unless the worker is found stuck
 * then (asleep in the kernel, or computing: cpu_ms of CPU since it was
 * found late). No outputs were written. */
#define ROUTINE_STEP_LATE	(-3)
/* port->step(): late as ROUTINE_STEP_LATE, but its worker only kept from
 * running: the kernel has it runnable and it has used less than cpu_ms of
 * CPU since its last answer (a busy machine's delay, not the routine's). */
#define ROUTINE_STEP_HELD	(-4)

/* Each is routine_inst_NAME() in engine/routine-inst.h, which says more. */
struct routine_port {
	/* A zeroed instance, or NULL (out of memory); free() destroys it
	 * first (free(NULL) does nothing). */
	struct routine_inst	*(*alloc)(void);
	void			 (*free)(struct routine_inst *ri);
	/* begin() and ready() in one, waiting (tests, tools) */
	int			 (*start)(struct routine_inst *ri,
				    const struct routine_opts *o,
				    const struct massaged_routine *desc,
				    const double *params,
				    const struct massaged_zone *zones,
				    size_t n_zones, double duration_s,
				    char *why, size_t whylen);
	/* start()'s work without waiting: its worker loads and create()
	 * runs on their own time; ready() then says when it is done. -1 if
	 * it cannot begin (why). */
	int			 (*begin)(struct routine_inst *ri,
				    const struct routine_opts *o,
				    const struct massaged_routine *desc,
				    const double *params,
				    const struct massaged_zone *zones,
				    size_t n_zones, double duration_s,
				    char *why, size_t whylen);
	/* After begin(): 1 ready, 0 still loading (wait: until it is not),
	 * -1 refused or past o->load_deadline_ns (why() says which). */
	int			 (*ready)(struct routine_inst *ri, int wait);
	int			 (*prepare)(struct routine_inst *ri,
				    const struct massaged_routine *desc);
	int			 (*step)(struct routine_inst *ri,
				    const struct massaged_step_in *in,
				    double *setpoint_kpa);
	void			 (*ask)(struct routine_inst *ri,
				    const struct massaged_step_in *in,
				    uint64_t look_ns);
	void			 (*collect)(struct routine_inst *ri);
	void			 (*destroy)(struct routine_inst *ri);
	/* 1 if it runs in a worker (asked ahead, timed by its deadline) */
	int			 (*remote)(const struct routine_inst *ri);
	/* CPU time (ms) its worker used on the last answer taken, as the
	 * kernel counts it; 0 in-process */
	double			 (*cpu_ms)(const struct routine_inst *ri);
	/* 1 while a question asked ahead is open */
	int			 (*pending)(const struct routine_inst *ri);
	/* 1 once its worker is gone; why() then says how */
	int			 (*lost)(const struct routine_inst *ri);
	const char		*(*why)(const struct routine_inst *ri);
};

#endif
