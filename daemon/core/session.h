/*
 * session.h: one program for one client profile, its state machine and
 * its stops. Pure logic: the control loop feeds it controller readings and
 * the clock each tick and sends what it returns; nothing here does I/O.
 *
 * States: idle, running, paused, stopping, fault. Stop categories as in
 * IEC 60204-1:
 *   0  vent now (e-stop, client stop switch, controller fault or e-stop
 *      circuit, lost link, over-pressure, stuck actuator, routine error);
 *      latches a fault that refuses new sessions until a reset whose
 *      cause is gone
 *   1  ramp down at the ramp limit, then vent (operator stop, session time
 *      limit, program end, a condition that now refuses the session)
 *   2  pause: hold low pressure; resume continues
 * Each cause's category and latch are its row in cause.c.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdint.h>

#include "cause.h"
#include "config.h"
#include "routine-port.h"
#include "safety.h"

enum session_state {
	SESSION_IDLE,
	SESSION_RUNNING,
	SESSION_PAUSED,
	SESSION_STOPPING,
	SESSION_FAULT
};

/* What observers of a session hear, at once. Their wire names (the event
 * stream's event types) are session_event_name()'s. */
enum session_event {
	SESSION_EV_STARTED,
	SESSION_EV_STEP,	/* the next step of the program */
	SESSION_EV_PAUSED,
	SESSION_EV_RESUMED,
	SESSION_EV_STOPPING,	/* a category 1 stop ramps down */
	SESSION_EV_STOPPED,
	SESSION_EV_FAULT,	/* a fault latched */
	SESSION_EV_RESET,
	SESSION_EV_RELOADED,	/* the configuration was reloaded */
	SESSION_EV_RESET_REFUSED, /* a controller kept its fault after a reset */
	SESSION_NEVENTS
};

/* Why session_start() or a command was refused. */
enum session_err {
	SESSION_OK = 0,
	SESSION_EBUSY,		/* a session runs (409) */
	SESSION_EFAULT,		/* a fault is latched (409) */
	SESSION_ENOTFOUND,	/* unknown program or profile (404) */
	SESSION_ECONTRA,	/* contraindicated (422) */
	SESSION_ENOTREADY,	/* a controller is down or stopped (409) */
	SESSION_ESTATE,		/* not possible in this state (409) */
	SESSION_EROUTINE,	/* the routine refused to start (500) */
	SESSION_EPENDING,	/* a reset waits for the controllers */
	SESSION_EUNAVAIL	/* the program's routine is unavailable (409) */
};

/* Who sent a command: a token's name (api-auth.c), "" for the table
 * itself (a fault, the program's end). */
#define SESSION_ACTOR_LEN	33
#define SESSION_RESET_WAIT_S	1.0

/* Per-controller facts of one tick, in no controller's terms: its
 * backend (engine/ctl-*.c) decodes them from its wire. */
struct session_ctl_in {
	int		 connected;
	char		 why[192];	/* when not connected: the link's reason */
	int		 estop;		/* the e-stop circuit is open */
	int		 client_stop;	/* the client's stop switch is pressed */
	int		 fault;		/* a fault is latched */
	unsigned	 fault_code;	/* the controller's number for it */
	char		 fault_text[48]; /* and its text, for messages */
	double		 rating_kpa;
};

struct session_input {
	double			 now_s;		/* monotonic */
	int			 nctls;
	struct session_ctl_in	 ctl[TABLE_MAX_CONTROLLERS];
	double			 measured_kpa[TABLE_MAX_ZONES];
};

/* What the session wants of one controller this tick: the backend turns
 * it into its own words (regmap: the CONTROL bits). */
struct session_ctl_out {
	int		 enable;	/* pressure allowed */
	int		 fault_reset;	/* clear a latched fault (one tick) */
};

struct session_output {
	struct session_ctl_out	 ctl[TABLE_MAX_CONTROLLERS];
	double			 setpoint_kpa[TABLE_MAX_ZONES];
};

struct session_hooks {
	void	*arg;
	void	(*vent)(void *arg);		/* vent every controller now */
	void	(*event)(void *arg, enum session_event ev);
};

/* Intensity changes of one session, for its record. */
#define SESSION_CHANGES_MAX	64

struct session_change {
	double		 wall;		/* unix time */
	int		 pct;
	char		 by[SESSION_ACTOR_LEN];	/* who changed it */
};

struct session {
	enum session_state	 state;
	const struct config	*cfg;
	struct session_hooks	 hooks;
	const struct routine_port *routines;	/* the engine's instances */
	double			 routine_budget_ms;
	double			 routine_wait_ms;	/* per tick, worker; 0:
						   wait for every answer and
						   load (the preview) */
	double			 routine_deadline_ms;	/* per call, worker */
	uint64_t		 overrun_hist;	/* bit i: step i ago was slow */
	int			 late_counted;	/* this question was slow */
	uint64_t		 late_ticks[2];	/* ticks without the routine's
						   answer: [0] its own, [1]
						   its worker kept from
						   running (a busy machine) */

	/* the running session */
	uint64_t		 id;
	struct program		 prog;
	struct profile		 prof;
	struct limits		 lim;
	int			 intensity_pct;
	struct session_change	 changes[SESSION_CHANGES_MAX];
	int			 nchanges;	/* may exceed the array */
	int			 feedback;
	int			 step;
	struct routine_inst	*ri;		/* the step's; only routines */
	struct routine_inst	*ri_next;	/*   looks into these: the next
						   step's worker, loading */
	int			 have_inst;
	int			 loading;	/* ri is loading (port->ready()) */
	double			 hold_kpa[TABLE_MAX_ZONES]; /* meanwhile */
	double			 step_start_s;	/* in active seconds */
	double			 active_s;	/* running time, not paused */
	double			 paused_s;
	double			 last_s;
	double			 started_wall;	/* unix time */
	double			 ended_wall;
	double			 commanded[TABLE_MAX_ZONES];
	double			 peak_kpa[TABLE_MAX_ZONES];
	struct monitor		 mon;
	struct limits		 mon_lim;	/* what the monitor checks */
	double			 mon_lim_until;	/* looser until (now_s) */
	double			 routine_out[TABLE_MAX_ZONES];
	double			 routine_in[TABLE_MAX_ZONES];
	struct massaged_step_in	 ask_in;	/* session_ask() sends it */
	int			 ask_due;

	/* the last stop and the latched fault */
	enum stop_reason	 stop_reason;
	int			 stop_category;
	char			 stop_message[256];
	int			 fault_latched;
	char			 fault_message[256];
	int			 reset_pulse;	/* ticks of FAULT_RESET left */
	double			 reset_until_s;	/* a pending reset's deadline */
	char			 reset_refusal[256];

	/* who: of the command being carried out (events name it), of the
	 * session's start and stop, of the last fault reset */
	char			 by[SESSION_ACTOR_LEN];
	char			 started_by[SESSION_ACTOR_LEN];
	char			 stopped_by[SESSION_ACTOR_LEN];
	char			 reset_by[SESSION_ACTOR_LEN];
	char			 after_reset_by[SESSION_ACTOR_LEN]; /* this
				    session followed a reset by */
	int			 grace_ticks;	/* ignore controller faults */
	uint64_t		 stops[STOP_NREASONS];
};

/* routines runs the steps' routines (routine_inst_port in the engine). */
void	session_init(struct session *s, const struct config *cfg,
	    const struct session_hooks *hooks,
	    const struct routine_port *routines);
void	session_free(struct session *s);

/* Commands: who is the actor's name (SESSION_ACTOR_LEN), logged and
 * named in the events they cause. */
int	session_start(struct session *s, const char *program,
	    const char *profile, const struct session_input *in,
	    const char *who, char *why, size_t whylen);
int	session_pause(struct session *s, const char *who, char *why,
	    size_t whylen);
int	session_resume(struct session *s, const char *who, char *why,
	    size_t whylen);
int	session_stop(struct session *s, const char *who, char *why,
	    size_t whylen);
void	session_estop(struct session *s, const char *who);
/* SESSION_EPENDING while a controller still reports a latched fault: the
 * FAULT_RESET pulse goes out and, within SESSION_RESET_WAIT_S, either
 * SESSION_EV_RESET or SESSION_EV_RESET_REFUSED (why: reset_refusal). */
int	session_reset(struct session *s, const struct session_input *in,
	    const char *who, char *why, size_t whylen);
int	session_intensity(struct session *s, int pct, const char *who,
	    char *why, size_t whylen);

/* Checks controller facts at once (called on every reading, not only per
 * tick, so a stop never waits for the next tick). */
void	session_observe(struct session *s, const struct session_input *in);
/* After session_tick() and the tick's own writes: asks the routine in its
 * worker for the next tick, due at next_ns (CLOCK_MONOTONIC; 0 in free
 * run: then as soon as the links answer). See routines->ask(). */
void	session_ask(struct session *s, uint64_t next_ns);
/* Between ticks: takes in the routine's answer if it has come (see
 * routines->collect()). */
void	session_collect(struct session *s);
/* One control tick: decides what to send. */
void	session_tick(struct session *s, const struct session_input *in,
	    struct session_output *out);
/* A category 0 stop from outside (shutdown, a stalled loop). */
void	session_halt(struct session *s, enum stop_reason r, const char *msg);
/* The config was reloaded: stricter limits apply at once. */
void	session_reload(struct session *s, const struct config *cfg,
	    const struct session_input *in);

const char	*session_state_name(enum session_state st);
const char	*session_event_name(enum session_event ev);
/* The same as cause_name() and cause_category(), for the callers that
 * knew them by these names. */
const char	*session_reason_name(enum stop_reason r);
int		 session_reason_category(enum stop_reason r);
/* Seconds elapsed and remaining of the running session. */
double		 session_elapsed(const struct session *s);
double		 session_remaining(const struct session *s);
/* 1 while controllers are enabled (running, paused, stopping). */
int		 session_active(const struct session *s);

#endif
