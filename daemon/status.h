/*
 * status.h: the JSON documents of the control API: the live status (also
 * the event stream's snapshot) and the lists of programs, profiles and
 * routines. Built from struct control on the loop thread; the caller owns
 * (and json_decref()s) what it gets.
 */
#ifndef STATUS_H
#define STATUS_H

#include <jansson.h>

struct control;

/* Flags for json_dumps() of every API document: compact, stable order,
 * reals with no more digits than they carry. */
#define STATUS_JSON_FLAGS	(JSON_COMPACT | JSON_PRESERVE_ORDER | \
				    JSON_REAL_PRECISION(10))

json_t	*status_json(struct control *c);
json_t	*status_programs_json(struct control *c);
/* Each profile carries "refusals": {program_id: reason} for the programs
 * its conditions refuse, as session_start() would. */
json_t	*status_profiles_json(struct control *c);
json_t	*status_routines_json(struct control *c);

#endif
