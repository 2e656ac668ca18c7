/*
 * record.h: session records. Every session's start and end, and every
 * refused start, is one JSON line appended to STATE_DIR/sessions.jsonl and
 * flushed to disk by a writer thread, so a slow or full disk never delays
 * the control loop. A line that cannot be written waits in memory and is
 * retried; until it is written, new sessions are refused.
 */
#ifndef RECORD_H
#define RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct tick;
struct event_base;
struct record;

#define RECORD_TIME_LEN	32		/* "2024-05-01T12:00:00.000Z" + NUL */

/* Opens the record file (creating the directory if it can) and registers
 * as an observer of the control loop's session events. Never fails: an
 * unwritable state directory is logged, and sessions are refused until it
 * can be written. */
struct record	*record_open(struct event_base *base, struct tick *c);
void		 record_close(struct record *r);

/* Calls cb on the loop thread once every line queued so far is on disk
 * (ok = 1) or is still waiting to be written or was lost (ok = 0). */
typedef void	(*record_done_cb)(int ok, void *arg);
void		 record_barrier(struct record *r, record_done_cb cb, void *arg);

/* Before a session starts: persists id as the last session id that may be
 * used (STATE_DIR/session-id), so an id is never used twice, even when
 * the records of a session were lost. cb gets ok = 0 if that or any line
 * still waiting could not be written. */
void		 record_reserve(struct record *r, uint64_t id, record_done_cb cb,
		    void *arg);

/* Records a refused start: the program and profile asked for, who asked
 * (the token's name, as started_by), the API's error code and the
 * reason. */
void		 record_refused(struct record *r, const char *program,
		    const char *profile, const char *actor, const char *error,
		    const char *why);

/* Closes and reopens the record file (SIGHUP, after an outside rotation). */
void		 record_reopen(struct record *r);

/* A query of the records: start times in [since, until), newest first,
 * at most limit, after the cursor of the page before. */
struct record_range {
	int		 local;		/* this table's own files, even with a
					   store */
	char		 profile[48];	/* one client's, "" any (store only) */
	char		 since[RECORD_TIME_LEN];	/* "" for no bound */
	char		 until[RECORD_TIME_LEN];
	int		 limit;
	int		 has_cursor;
	char		 cursor_key[RECORD_TIME_LEN];
	long long	 cursor_id;			/* -1: a refused start */
	int		 cursor_n;
};

/* "2024-05-01" or "2024-05-01T12:00[:00[.000]][Z]" (UTC) to the records'
 * own form; a date alone as until means the end of that day. -1 if bad. */
int		 record_time_parse(const char *s, int until, char *out);
/* A next_cursor of an earlier answer into range; -1 if it is not one. */
int		 record_cursor_parse(const char *s, struct record_range *range);

/* With a store: queries go to the spa's history (store_link_query())
 * while it answers, and to this table's files when it does not. */
struct store_link;
void		 record_set_store(struct record *r, struct store_link *l);

/* Reads the records off the loop thread and calls cb on the loop thread
 * with {"sessions": [...], "next_cursor": "..." | null}, which it then
 * owns. One object per session (its end line, or its start line when no
 * end was recorded) and one per refused start. Torn or corrupt lines are
 * skipped; rotated files (sessions.jsonl.1, .2, ...) are read too. */
typedef void	(*record_query_cb)(json_t *doc, void *arg);
void		 record_query(struct record *r, const struct record_range *range,
		    record_query_cb cb, void *arg);

/* Erases the client of profile id from every record (record-erase.c):
 * its name becomes the id, its conditions go. cb gets ok = 1 when done. */
void		 record_erase(struct record *r, const char *id,
		    record_done_cb cb, void *arg);
int		 record_erase_dir(const char *dir, const char *base,
		    const char *id);

/* The id of the last session recorded or reserved, 0 if none: read once
 * at start-up (before the loop runs) so that session ids go on across
 * restarts. */
uint64_t	 record_last_id(struct record *r);

/* Lines that could not be written at the first attempt (full disk,
 * read-only file, ...), and lines lost for good. */
uint64_t	 record_write_errors(void);
uint64_t	 record_lost(void);
/* 0 if records are written; else -1 with why (for the status and the
 * refusal of a start) and the number of lines waiting. */
int		 record_failing(char *why, size_t whylen, unsigned *pending);
/* The same for the status document: {ok, error, pending, lost}. */
json_t		*record_status_json(void);

#endif
