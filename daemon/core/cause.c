/*
 * cause.c: the table of stop causes, one row per enum stop_reason (see
 * cause.h). The session takes category and latch from it, status, records
 * and metrics the key, and the panel its catalogue keys (GET
 * /api/v1/causes), so a cause is described here and nowhere else.
 */
#include <stddef.h>

#include "cause.h"

/* Catalogue keys: "reason.KEY" names it; category 0 adds "fault.KEY" and
 * "fault.KEY.do" for the fault banner. */
#define CAUSE_CAT0(key, latch) \
	{ key, 0, latch, "reason." key, "fault." key, "fault." key ".do" }
#define CAUSE_CAT1(key) \
	{ key, 1, 0, "reason." key, NULL, NULL }

static const struct cause cause_table[STOP_NREASONS] = {
	[STOP_NONE] =		  { "none", -1, 0, "reason.none", NULL, NULL },
	[STOP_ESTOP] =		  CAUSE_CAT0("estop", 1),
	[STOP_CLIENT_STOP] =	  CAUSE_CAT0("client_stop", 1),
	[STOP_ESTOP_CIRCUIT] =	  CAUSE_CAT0("estop_circuit", 1),
	[STOP_CONTROLLER_FAULT] = CAUSE_CAT0("controller_fault", 1),
	[STOP_LINK_LOST] =	  CAUSE_CAT0("link_lost", 1),
	[STOP_OVERPRESSURE] =	  CAUSE_CAT0("overpressure", 1),
	[STOP_STUCK] =		  CAUSE_CAT0("stuck", 1),
	[STOP_ROUTINE_ERROR] =	  CAUSE_CAT0("routine_error", 1),
	/* The daemon's own end and a start it could not record vent, but
	 * leave nothing to reset. */
	[STOP_SHUTDOWN] =	  CAUSE_CAT0("shutdown", 0),
	[STOP_RECORD_FAILED] =	  CAUSE_CAT0("record_failed", 0),
	[STOP_OPERATOR] =	  CAUSE_CAT1("operator"),
	[STOP_TIME_LIMIT] =	  CAUSE_CAT1("time_limit"),
	[STOP_PROGRAM_END] =	  CAUSE_CAT1("program_end"),
	[STOP_CONTRAINDICATED] =  CAUSE_CAT1("contraindicated"),
	[STOP_PAUSE_TIMEOUT] =	  CAUSE_CAT1("pause_timeout"),
};

const struct cause *
cause_get(enum stop_reason r)
{
	return (&cause_table[(unsigned)r < STOP_NREASONS ? r : STOP_NONE]);
}

const char *
cause_name(enum stop_reason r)
{
	return (cause_get(r)->key);
}

int
cause_category(enum stop_reason r)
{
	return (cause_get(r)->category);
}

int
cause_latches(enum stop_reason r)
{
	return (cause_get(r)->latch);
}
