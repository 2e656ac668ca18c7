/*
 * control.h: the control loop. It owns the configuration, the loaded
 * routines, the bus and the session, ticks at the configured rate and
 * glues them together: bus readings in, session decisions out.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <pthread.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "routines.h"
#include "session.h"

#define LATENESS_BUCKETS	10
#define CONTROL_MAX_OBSERVERS	8

extern const double control_lateness_bounds_s[LATENESS_BUCKETS];

struct control_observer {
	void	*arg;
	void	(*event)(void *arg, enum session_event ev);
	void	(*tick)(void *arg);			/* after each tick */
	void	(*ready)(void *arg);		/* every controller tried */
};

struct control {
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
	uint16_t		 heartbeat;
	uint64_t		 period_ns;
	uint64_t		 next_ns;
	uint64_t		 last_tick_ns;
	uint64_t		 started_ns;
	int			 tried[TABLE_MAX_CONTROLLERS];
	uint64_t		 await[TABLE_MAX_CONTROLLERS];	/* free run */
	int			 ready;
	int			 stopping;
	double			 routine_budget_ms;

	/* statistics for /metrics and the watchdog */
	uint64_t		 ticks;
	uint64_t		 missed_ticks;
	uint64_t		 lateness_bucket[LATENESS_BUCKETS];
	double			 lateness_sum_s;
	uint64_t		 reloads;
	uint64_t		 reload_failures;

	/* a reload in progress: parsed off the loop, swapped on it */
	pthread_t		 reload_thread;
	int			 reloading;	/* the thread runs */
	int			 reload_again;	/* SIGHUP while it ran */
	struct config		*reload_cfg;	/* its result, or NULL */
	struct event		*reload_ev;
	/* after each reload, ok = 1 if the new configuration is in use */
	void			(*reload_done)(struct control *, int ok,
				    void *arg);
	void			*reload_arg;

	int			 nobservers;
	struct control_observer	 observers[CONTROL_MAX_OBSERVERS];
};

/* Loads plugins and configuration; -1 after reporting every error. */
int	control_load(struct control *c, const char *path,
	    char *const *overrides, int noverrides, struct cfg_errors *errs);
/* Starts the bus and the tick on base. */
void	control_start(struct control *c, struct event_base *base);
/* Registers an observer of session events and ticks; unobserve forgets
 * every one whose arg is arg. */
void	control_observe(struct control *c, const struct control_observer *o);
void	control_unobserve(struct control *c, void *arg);
/*
 * SIGHUP: parses a new configuration on a thread of its own (files may be
 * slow to read; the loop must not wait for them), then, on the loop, swaps
 * it in only if it is valid and calls c->reload_done either way. A SIGHUP during a
 * reload starts another one after it.
 */
void	control_reload(struct control *c);
/* SIGTERM: vent every controller, then leave the loop. */
void	control_shutdown(struct control *c);
void	control_free(struct control *c);
/* The facts of this moment, as the session sees them. */
void	control_input(struct control *c, struct session_input *in);

#endif
