/*
 * cause.h: the causes of a stop, one row each in cause.c: its wire name
 * (status, events, records, metrics), its category, whether it latches a
 * fault, and the panel's catalogue keys for it (GET /api/v1/causes hands
 * the rows to the panel). Adding a cause is adding its STOP_ name here, its
 * row in cause.c, its detection, and its entries in every panel/i18n
 * catalogue (tests/integration/test_causes.py checks them).
 */
#ifndef CAUSE_H
#define CAUSE_H

enum stop_reason {
	STOP_NONE,
	STOP_ESTOP,		/* operator e-stop (API)		0 */
	STOP_CLIENT_STOP,	/* the client's hand-held switch	0 */
	STOP_ESTOP_CIRCUIT,	/* the table's hard-wired circuit	0 */
	STOP_CONTROLLER_FAULT,	/* a controller latched a fault		0 */
	STOP_LINK_LOST,		/* a controller stopped answering	0 */
	STOP_OVERPRESSURE,	/* measured above the limit		0 */
	STOP_STUCK,		/* measured not following setpoint	0 */
	STOP_ROUTINE_ERROR,	/* a routine failed or misbehaved	0 */
	STOP_SHUTDOWN,		/* the daemon is stopping		0 */
	STOP_RECORD_FAILED,	/* its start could not be recorded	0 */
	STOP_OPERATOR,		/* operator stop			1 */
	STOP_TIME_LIMIT,	/* the profile's session length		1 */
	STOP_PROGRAM_END,	/* the program finished			1 */
	STOP_CONTRAINDICATED,	/* a condition now refuses it		1 */
	STOP_PAUSE_TIMEOUT,	/* paused for too long			1 */
	STOP_NREASONS
};

struct cause {
	const char	*key;		/* wire name: "estop", "link_lost" */
	int		 category;	/* 0 vent now, 1 ramp down (session.h);
					   -1 for STOP_NONE */
	int		 latch;		/* latches a fault until a reset */
	/* Keys into the panel's catalogues (panel/i18n/LANG.json). text and
	 * advice are for the fault banner, so category 0 only: a category 1
	 * stop is a normal end, shown by its label alone. */
	const char	*label;		/* a short name: event list, history */
	const char	*text;		/* what happened, or NULL */
	const char	*advice;	/* what to do about it, or NULL */
};

/* The row of r; STOP_NONE's for a value out of range. */
const struct cause	*cause_get(enum stop_reason r);
const char		*cause_name(enum stop_reason r);
int			 cause_category(enum stop_reason r);
int			 cause_latches(enum stop_reason r);

#endif
