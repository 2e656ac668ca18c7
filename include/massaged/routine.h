/*
 * massaged routine plugin SDK, ABI version 1 (minor version 1).
 *
 * A routine is a shared object that exports one symbol,
 * massaged_routine_entry(), returning a const descriptor. The daemon checks
 * the descriptor's ABI version and size before it trusts anything else in
 * it, validates program parameters against the parameter table, then
 * creates one instance per program step and calls step() once per control
 * tick.
 *
 * Which process and thread calls what: the daemon never loads a routine.
 * Every routine instance runs in its own worker process (massaged-worker,
 * installed under libexec), which loads the shared object (its
 * constructors run there), calls massaged_routine_entry() once, then
 * create(), step() and destroy() of one instance, all on its one thread.
 * Checking programs (at start, on reload, and in "massaged -n") uses a
 * worker too: there create() and destroy() may be called several times in
 * one process. massagectl preview runs routines through the same worker.
 * host->log() may be called from create(), step() and destroy() only.
 *
 * Routines are pure computation: no I/O, no threads, no blocking calls, no
 * state shared between instances, and the same outputs for the same inputs.
 * The worker enforces it: once loaded it can no longer open files or
 * sockets, start processes or threads, or run programs (a seccomp filter
 * kills it if it tries), its memory and CPU time are limited, and step()
 * must answer within one control tick: the daemon asks it for the next
 * tick as soon as a tick has its answer (with that tick's readings and
 * the next tick's t_s), step() runs in the worker a quarter tick after
 * that tick, and the next tick takes the answer. A worker that dies,
 * hangs or is killed stops that session at that tick (category 0),
 * naming the routine.
 * Whatever a routine returns passes the daemon's limit pipeline before it
 * reaches a controller: a routine cannot exceed a limit, it can only ask.
 * See docs/writing-routines.md and, for tests, massaged/routine-test.h.
 *
 * Build with: cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags
 * massaged-routine) -o myroutine.so myroutine.c
 */
#ifndef MASSAGED_ROUTINE_H
#define MASSAGED_ROUTINE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MASSAGED_ROUTINE_ABI_VERSION	1
/* Minor versions only append fields to the structs below, each of which
 * carries its size: 1 added massaged_routine_args.ramp_kpa_s and tick_hz.
 * The static inline helpers at the end are compiled into the routine and
 * never cross to the daemon: adding one changes neither version. */
#define MASSAGED_ROUTINE_ABI_MINOR	1
#define MASSAGED_ROUTINE_ENTRY		"massaged_routine_entry"

#if defined(__GNUC__)
#define MASSAGED_EXPORT		__attribute__((visibility("default")))
#define MASSAGED_PRINTF(a, b)	__attribute__((format(printf, a, b)))
#else
#define MASSAGED_EXPORT
#define MASSAGED_PRINTF(a, b)
#endif

/* inline for the helpers below, also where C89 has no such keyword. */
#if defined(__cplusplus) || (defined(__STDC_VERSION__) && \
    __STDC_VERSION__ >= 199901L)
#define MASSAGED_INLINE		inline
#elif defined(__GNUC__)
#define MASSAGED_INLINE		__inline__
#else
#define MASSAGED_INLINE
#endif

/* Parameter types. Every value reaches the routine as a double. */
enum massaged_param_type {
	MASSAGED_PARAM_REAL = 0,	/* any value in [min, max] */
	MASSAGED_PARAM_INT = 1,		/* a whole number in [min, max] */
	MASSAGED_PARAM_BOOL = 2,	/* 0 or 1 ("yes"/"no" in programs) */
	MASSAGED_PARAM_CHOICE = 3	/* index into choices, "a|b|c" */
};

/*
 * One entry of a routine's parameter table. Names are [a-z0-9_]+, unique,
 * and not one of the program keys routine, duration, duration_s, zones.
 * INT: min, max and default are whole numbers. BOOL: min 0, max 1.
 * CHOICE: min 0, max the last index, the default an index. unit and help
 * are never NULL.
 */
struct massaged_param {
	const char		*name;		/* [a-z0-9_]+, unique */
	enum massaged_param_type type;
	const char		*unit;		/* "kPa", "s", "cycles/min", "" */
	double			 def;		/* default, within [min, max] */
	double			 min;
	double			 max;
	const char		*choices;	/* CHOICE only: "effleurage|kneading" */
	const char		*help;		/* one sentence for people */
};

/* Log levels for host->log(). */
#define MASSAGED_LOG_ERR	3
#define MASSAGED_LOG_WARNING	4
#define MASSAGED_LOG_INFO	6
#define MASSAGED_LOG_DEBUG	7

/* Services the host lends a routine instance. Never call them from step()
 * more than occasionally: step() runs inside the control tick. */
struct massaged_host {
	uint32_t	 size;		/* sizeof(struct massaged_host) */
	void		*ctx;		/* pass back as the first argument */
	void		(*log)(void *ctx, int level, const char *fmt, ...)
			    MASSAGED_PRINTF(3, 4);
};

/* A zone the instance may press on, in the order the program lists them. */
struct massaged_zone {
	const char	*name;		/* anatomical name, "piriformis_left" */
	double		 along_cm;	/* from the head end of the table */
	double		 across_cm;	/* from the centre line, left < 0 */
	double		 limit_kpa;	/* effective limit when the step starts */
	int		 endangerment;	/* 1: light broad pressure only */
};

/*
 * What create() is given. Pointers stay valid until destroy(). Fields after
 * duration_s came with a minor version: read one only if
 * MASSAGED_ARGS_HAS(args, field), since an older daemon does not pass it.
 */
struct massaged_routine_args {
	uint32_t			 size;	/* sizeof(*args) */
	const struct massaged_host	*host;
	const double			*params; /* one per descriptor param */
	size_t				 n_zones;
	const struct massaged_zone	*zones;
	double				 duration_s; /* planned step length */
	/* minor 1 */
	double				 ramp_kpa_s; /* the profile's ramp
					   limit: setpoints rise at most this
					   fast, so a pulse shorter than
					   peak / ramp_kpa_s is flattened */
	double				 tick_hz; /* step() calls per second */
};

/* Whether args (from the daemon running us) carries field. */
#define MASSAGED_ARGS_HAS(args, field) \
	((args)->size >= offsetof(struct massaged_routine_args, field) + \
	    sizeof((args)->field))

/* Client feedback, as the operator relays it (intensity down/up). */
#define MASSAGED_FEEDBACK_LESS	(-1)
#define MASSAGED_FEEDBACK_NONE	0
#define MASSAGED_FEEDBACK_MORE	1

/* What step() is given each tick. */
struct massaged_step_in {
	uint32_t	 size;		/* sizeof(*in) */
	double		 t_s;		/* seconds since the step started */
	double		 dt_s;		/* seconds since the previous call */
	const double	*pressure_kpa;	/* measured, one per zone (at
					   the tick before) */
	double		 intensity;	/* 0.10 .. 1.00, applied by the host:
					   never scale the output by it */
	int		 feedback;	/* MASSAGED_FEEDBACK_*, this tick only */
};

/*
 * step() results. DONE: the routine's work is over and the session moves
 * on. The session also ends a step when t_s reaches duration_s, so a
 * routine either fills the step or has a natural end (then it should refuse
 * in create() a duration_s too short for it). Any other value is ERROR,
 * which stops the session at once.
 */
#define MASSAGED_STEP_RUNNING	0
#define MASSAGED_STEP_DONE	1
#define MASSAGED_STEP_ERROR	(-1)

/* Descriptor flags. */
/* Sustained, focused or deep pressure (deep tissue, trigger point work):
 * the host never lets such a routine press on an endangerment site. */
#define MASSAGED_ROUTINE_FOCUSED	0x1u

/*
 * The descriptor. Setpoints written by step() are in kPa at full
 * intensity; the host multiplies by the intensity and then applies every
 * limit. The descriptor must stay valid while the library is loaded.
 *
 * size lets the SDK grow: a daemon accepts a descriptor larger than the
 * one it knows (built against a newer routine.h) as long as every byte it
 * does not know is zero, i.e. the routine uses no field this daemon could
 * not honour; otherwise it refuses the file and says so.
 */
struct massaged_routine {
	uint32_t		 abi_version;	/* MASSAGED_ROUTINE_ABI_VERSION */
	uint32_t		 size;		/* sizeof(struct massaged_routine) */
	const char		*name;		/* [a-z0-9_]+, unique per daemon */
	const char		*version;	/* "1.0.0" */
	const char		*description;
	uint32_t		 flags;		/* MASSAGED_ROUTINE_* */
	const struct massaged_param *params;
	size_t			 n_params;

	/* Returns an instance, or NULL with a reason in err. Also called (and
	 * the instance destroyed) when programs are loaded, to check each
	 * step's settings: keep it cheap and free of side effects. In a
	 * session it runs inside a control tick and must answer within it. */
	void	*(*create)(const struct massaged_routine_args *args,
		    char *err, size_t errlen);
	/* Writes one setpoint per zone into setpoint_kpa (n_zones of them,
	 * not one more: the array ends at a guard page). Must return within
	 * one control tick (1 / tick_hz s); a late answer stops the session. */
	int	 (*step)(void *inst, const struct massaged_step_in *in,
		    double *setpoint_kpa);
	void	 (*destroy)(void *inst);
};

typedef const struct massaged_routine *(*massaged_routine_entry_fn)(void);

/* The one symbol a routine exports. */
MASSAGED_EXPORT const struct massaged_routine *massaged_routine_entry(void);

/*
 * Helpers: header-only, compiled into the routine (link -lm if used).
 *
 * massaged_ease(x): a raised cosine from 0 to 1, for ramps and fades that
 * start and end with zero slope: 0 at x <= 0, 1 at x >= 1, and
 * 0.5 - 0.5 cos(pi x) between. Scale x by the ramp's length:
 * peak * massaged_ease(t_s / ramp_s). (pi is spelled out because M_PI is
 * not ISO C.)
 */
static MASSAGED_INLINE double
massaged_ease(double x)
{
	if (x <= 0)
		return (0);
	if (x >= 1)
		return (1);
	return (0.5 - 0.5 * cos(3.14159265358979323846 * x));
}

#ifdef __cplusplus
}
#endif

#endif /* MASSAGED_ROUTINE_H */
