/*
 * tick.h: the control loop. It owns the configuration, the loaded
 * routines, the bus and the session, ticks at the configured rate and
 * glues them together: bus readings in, session decisions out.
 */
#ifndef TICK_H
#define TICK_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "routine-load.h"
#include "session.h"

#define LATENESS_BUCKETS	10
#define TICK_MAX_OBSERVERS	8

extern const double tick_lateness_bounds_s[LATENESS_BUCKETS];

struct tick_observer {
	void	*arg;
	void	(*event)(void *arg, enum session_event ev);
	void	(*tick)(void *arg);			/* after each tick */
	void	(*ready)(void *arg);		/* every controller tried */
};

struct tick {
	struct event_base	*base;
	const char		*config_path;
	char *const		*overrides;
	int			 noverrides;
	struct config		*cfg;
	struct routine_set	 routines;
	struct bus		*bus;
	struct session		 session;
	struct event		*tick_ev;
	struct event		*exit_ev;
	uint64_t		 period_ns;
	uint64_t		 next_ns;
	uint64_t		 last_tick_ns;
	uint64_t		 started_ns;
	int			 tried[TABLE_MAX_CONTROLLERS];
	double			 rating_seen[TABLE_MAX_CONTROLLERS]; /* kPa */
	uint64_t		 await[TABLE_MAX_CONTROLLERS];	/* free run */
	uint64_t		 downs_seen[TABLE_MAX_CONTROLLERS];
	int			 ready;
	int			 stopping;
	int			 restart_when_idle;	/* SIGUSR2: an upgrade */
	double			 routine_budget_ms;

	/* statistics for /metrics and the watchdog */
	uint64_t		 ticks;
	uint64_t		 missed_ticks;
	uint64_t		 lateness_bucket[LATENESS_BUCKETS];
	double			 lateness_sum_s;
	uint64_t		 reloads;
	uint64_t		 reload_failures;

	/* a reload in progress: parsed off the loop, swapped on it */
	struct tick_reload_job	*reload_job;	/* the thread's, tick.c */
	int			 reloading;	/* the thread runs */
	int			 reload_again;	/* SIGHUP while it ran */
	struct event		*reload_ev;	/* the thread is done */
	struct event		*reload_watchdog; /* or too slow */
	/* after each reload, ok = 1 if the new configuration is in use */
	void			(*reload_done)(struct tick *, int ok,
				    void *arg);
	void			*reload_arg;

	int			 nobservers;
	struct tick_observer	 observers[TICK_MAX_OBSERVERS];
};

/* Loads plugins and configuration; -1 after reporting every error. */
int	tick_load(struct tick *c, const char *path,
	    char *const *overrides, int noverrides, struct inifile_errors *errs);
/* Starts the bus and the tick on base. */
void	tick_start(struct tick *c, struct event_base *base);
/* Registers an observer of session events and ticks; unobserve forgets
 * every one whose arg is arg. */
void	tick_observe(struct tick *c, const struct tick_observer *o);
void	tick_unobserve(struct tick *c, void *arg);
/*
 * SIGHUP: parses a new configuration on a thread of its own (files may be
 * slow to read; the loop must not wait for them), then, on the loop, swaps
 * it in only if it is valid and calls c->reload_done either way. A SIGHUP
 * during a reload is logged and starts another one after it. A reload not
 * done within TICK_RELOAD_TIMEOUT_S is abandoned (the thread is left to
 * finish on its own and its result dropped), the running configuration
 * stays, and the next SIGHUP starts afresh.
 */
#define TICK_RELOAD_TIMEOUT_S	10
void	tick_reload(struct tick *c);
/* SIGTERM: vent every controller, then leave the loop. */
void	tick_shutdown(struct tick *c);
void	tick_free(struct tick *c);
/* The facts of this moment, as the session sees them. */
void	tick_input(struct tick *c, struct session_input *in);

#endif
