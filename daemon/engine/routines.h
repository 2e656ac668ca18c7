/*
 * routines.h: the routine plugin loader (daemon side of the SDK in
 * include/massaged/routine.h) and instances of loaded routines, each in a
 * worker process (massaged-worker) of its own.
 */
#ifndef ROUTINES_H
#define ROUTINES_H

#include <stddef.h>
#include <stdint.h>

#include "massaged/routine.h"
#include "inifile.h"
#include "massaged/worker.h"

#define ROUTINE_PARAMS_MAX	32

/* What a program may use: the worker's copy of a descriptor. */
struct routine_lib {
	char				 path[4096];
	const struct massaged_routine	*desc;
};

/* A file that was refused, and why. */
struct routine_refusal {
	char			 path[4096];
	char			 why[1024];
};

struct routine_set {
	int			 n;
	struct routine_lib	*libs;
	int			 nrefused;
	struct routine_refusal	*refused;
};

/*
 * Loads every *.so in dir, each in a worker that sends its descriptor (no
 * plugin code runs in the caller). Each refused file is reported once
 * through errs with the file name and the reason, and kept in
 * set->refused; the others still load. Returns the number of errors.
 * Each loaded routine keeps its worker for routine_inst_check() until
 * routines_checked().
 */
int	routines_load_dir(struct routine_set *set, const char *dir,
	    struct inifile_errors *errs);
/* Loads one file (also used by tests and massagectl preview). */
int	routines_load_file(struct routine_set *set, const char *path,
	    struct inifile_errors *errs);
const struct massaged_routine *routines_find(const struct routine_set *set,
	    const char *name);
/* Why routine name is missing, if a refused file may be the reason:
 * "routine NAME is not loaded: FILE: why"; NULL if nothing was refused. */
const char *routines_refusal(const struct routine_set *set, const char *name,
	    char *buf, size_t len);
/* Programs are checked: ends the loading workers (started again by a
 * later check). */
void	routines_checked(struct routine_set *set);
void	routines_free(struct routine_set *set);
/* Reaps workers that were killed but had not exited yet. */
void	routines_reap(void);

/*
 * Checks a descriptor as the loader does (ABI version and size first, then
 * names, flags, functions and the parameter table); -1 with the first
 * problem in why.
 */
int	routine_desc_check(const struct massaged_routine *desc, char *why,
	    size_t whylen);

/* Index of a parameter in desc->params, or -1. */
int	routine_param_find(const struct massaged_routine *desc,
	    const char *name);
/* Parses a program value for param p ("12.5", "yes", a choice name). */
int	routine_param_parse(const struct massaged_param *p, const char *s,
	    double *out, char *why, size_t whylen);

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
	int64_t				 answer_cpu_ns;	/* worker CPU at the
							   last answer, 0 */
	int64_t				 late_cpu_ns;	/* worker CPU when */
	uint64_t			 late_ns;	/*   last found late */
	unsigned long			 late;		/* LATE answers */
	struct routine_worker		*w;
	const struct massaged_routine	*prepared; /* w started for it */
	char				 why[256]; /* of ROUTINE_STEP_LOST */
};

/* How routine_inst_start() runs an instance (zero: the defaults). */
struct routine_opts {
	double			 deadline_ms;	/* each call; 0: a second */
	double			 wait_ms;	/* step(): 0 the deadline */
	double			 cpu_ms;	/* step(): still late at the
						   next call after using this
						   much CPU, or asleep: lost
						   (0: only the deadline) */
	uint64_t		 load_deadline_ns; /* monotonic; 0: 3 s */
	double			 ramp_kpa_s;	/* told to create() */
	double			 tick_hz;	/* told to create() */
	struct routine_inst	*prepared;	/* its worker, if started
						   for this routine */
};

/* routine_inst_step(): the worker is gone (ri->why says how). */
#define ROUTINE_STEP_LOST	(-2)
/* routine_inst_step(): no answer within wait_ms; the next call collects
 * it, until deadline_ms after it was asked, unless the worker is found
 * stuck then (asleep in the kernel, or computing: cpu_ms of CPU since it
 * was found late). No outputs were written. */
#define ROUTINE_STEP_LATE	(-3)

/*
 * Creates an instance; -1 with the routine's reason in why. The routine
 * keeps a pointer to ri->host, and may keep params and zones: ri must not
 * move, and params and zones must stay valid, until routine_inst_destroy().
 * routine_inst_step() returns MASSAGED_STEP_RUNNING, _DONE or _ERROR (also
 * for any other value the routine returns); outputs are not checked here.
 */
int	routine_inst_create(struct routine_inst *ri,
	    const struct massaged_routine *desc, const double *params,
	    const struct massaged_zone *zones, size_t n_zones,
	    double duration_s, char *why, size_t whylen);
int	routine_inst_start(struct routine_inst *ri,
	    const struct routine_opts *o, const struct massaged_routine *desc,
	    const double *params, const struct massaged_zone *zones,
	    size_t n_zones, double duration_s, char *why, size_t whylen);
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
 * -2 the worker failed (crashed, hung: why says so).
 */
int	routine_inst_check(const struct massaged_routine *desc,
	    const double *params, const struct massaged_zone *zones,
	    size_t n_zones, double duration_s, char *why, size_t whylen);

#endif
