/*
 * session-private.h: what session.c (the state machine and its stops) and
 * session-routine.c (the steps' routines) share; nothing else includes it.
 */
#ifndef SESSION_PRIVATE_H
#define SESSION_PRIVATE_H

#include "session.h"

/* session.c */
void	session_emit(struct session *s, enum session_event ev);
/* Category 0: vent every controller now (see session.c). */
void	session_cat0(struct session *s, enum stop_reason r, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));

/* session-routine.c */
/* The routine budgets of a session at cfg's tick rate (session_init()). */
void	session_routine_init(struct session *s);
/* Ends the step's instance (and its worker). */
void	session_drop_step(struct session *s);
/* Ends the step's instance and the next step's worker. */
void	session_drop_inst(struct session *s);
/* Starts step i; -1 (a category 0 stop done) if it cannot begin. */
int	session_step_begin(struct session *s, int i);
/* The current step's setpoints this tick: 0 running, 1 step over, -1
 * stopped. */
int	session_routine(struct session *s, const struct session_input *in,
	    double dt, double *request);

#endif
