/*
 * record.h: session records. Every session's start and end is one JSON
 * line appended to STATE_DIR/sessions.jsonl and flushed to disk by a
 * writer thread, so a slow or full disk never delays the control loop.
 */
#ifndef RECORD_H
#define RECORD_H

#include <stdint.h>

#include <jansson.h>

struct tick;
struct event_base;
struct record;

/* Opens the record file (creating the directory if it can) and registers
 * as an observer of the control loop's session events. Never fails: an
 * unwritable state directory is logged and records are then lost, loudly. */
struct record	*record_open(struct event_base *base, struct tick *c);
void		 record_close(struct record *r);

/* Calls cb on the loop thread once every line queued so far is on disk
 * (ok = 1) or has failed (ok = 0). */
typedef void	(*record_done_cb)(int ok, void *arg);
void		 record_barrier(struct record *r, record_done_cb cb, void *arg);

/* Reads the newest limit records (newest first) off the loop thread and
 * calls cb on the loop thread with a JSON array it then owns. Torn or
 * corrupt lines are skipped. */
typedef void	(*record_query_cb)(json_t *sessions, void *arg);
void		 record_query(struct record *r, int limit, record_query_cb cb,
		    void *arg);

/* Erases the client of profile id from every record (record-erase.c):
 * its name becomes the id, its conditions go. cb gets ok = 1 when done. */
void		 record_erase(struct record *r, const char *id,
		    record_done_cb cb, void *arg);
int		 record_erase_dir(const char *dir, const char *base,
		    const char *id);

/* The id of the last session recorded, 0 if none: read once at start-up
 * (before the loop runs) so that session ids go on across restarts. */
uint64_t	 record_last_id(struct record *r);

/* Lines that could not be written (full disk, read-only file, ...). */
uint64_t	 record_write_errors(void);

#endif
