/*
 * status.h: the session and the table as every reader sees them: the JSON
 * documents of the control API (the live status, also the event stream's
 * snapshot; the event stream's events; the lists of programs, profiles and
 * routines), the stop fields of session records and the line of
 * `systemctl status`. Built from struct tick on the loop thread; the
 * caller owns (and json_decref()s) what it gets.
 */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>

#include <jansson.h>

#include "session.h"

struct tick;

/* Flags for json_dumps() of every API document: compact, stable order,
 * reals with no more digits than they carry. */
#define STATUS_JSON_FLAGS	(JSON_COMPACT | JSON_PRESERVE_ORDER | \
				    JSON_REAL_PRECISION(10))

/* The status document; records (record_status_json(), taken) is its
 * "records" member. */
json_t	*status_json(struct tick *c, json_t *records);
json_t	*status_programs_json(struct tick *c);
/* Each profile carries "refusals": {program_id: reason} for the programs
 * its conditions refuse, as session_start() would. */
json_t	*status_profile_json(struct tick *c, const struct profile *p);
/* A contraindication rule, as the API shows it (reason null if unknown). */
json_t	*status_condition(const struct rules *rules, const char *name);
json_t	*status_routines_json(struct tick *c);
/* The data of an event of the event stream (see docs/api.md). */
json_t	*status_event_json(struct tick *c, enum session_event ev);
/* An actor's name (session.h), JSON null for the table itself. */
json_t	*status_actor(const char *who);
/* Sets the last stop's reason name, category and message as o's fields
 * with these names. */
void	 status_stop_set(json_t *o, const struct session *s,
	    const char *reason, const char *category, const char *message);
/* One line for a person (systemd's STATUS=): the state, the session and
 * its time left, the controllers; suffix ends it unless stopping. */
void	 status_text(struct tick *c, const char *suffix, char *buf,
	    size_t len);

#endif
