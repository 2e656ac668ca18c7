/*
 * store-link.h: the daemon's link to the spa's shared store (docs/store.md).
 * One thread of its own connects with libpq, checks the server and the
 * schema, claims the table's name, and ships the session records from
 * sessions.jsonl (the outbox, store-outbox.c). Nothing it does waits on
 * the loop thread or makes the loop wait: every query has a deadline, and
 * the loop reads only a copy of its health, taken under a lock held for
 * the copy.
 */
#ifndef STORE_LINK_H
#define STORE_LINK_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

#include "profile-writer.h"
#include "record.h"

struct event_base;
struct table;
struct store_link;

/* Seconds a query may take before the link gives the connection up. */
#define STORE_QUERY_TIMEOUT_S	5
/* Seconds between attempts to connect: from 1, doubling, at most this. */
#define STORE_RETRY_MAX_S	30
/* Lines shipped in one transaction. */
#define STORE_BATCH		500
/* The outbox's place in the records (STATE_DIR). */
#define STORE_OUTBOX_FILE	"store-outbox"
/* The last erasure of the spa this table has applied (STATE_DIR). */
#define STORE_ERASURES_FILE	"store-erasures"

/* Starts the link for table t (its store, password file, name and state
 * directory are copied); NULL when t has no store. Answers to queries
 * come back on base's loop thread. */
struct store_link	*store_link_open(struct event_base *base,
			    const struct table *t);
/* Stops the thread; a query in flight is abandoned after at most a
 * second. */
void			 store_link_close(struct store_link *l);

/*
 * The spa's session history (every table's records in the store): the
 * sessions whose start is in range, newest first, as record_query()
 * answers ({"sessions": [...], "next_cursor": ...}), profile "" for any
 * client. -1 at once when the link is not up; else 0, and cb gets the
 * answer on the loop thread, or NULL when the store did not answer.
 */
int	 store_link_query(struct store_link *l, const struct record_range *rg,
	    record_query_cb cb, void *arg);

/*
 * The spa's profiles (docs/store.md, "Profiles across tables"). put saves
 * revision form->revision of profile id (1: a new one); erase erases it
 * everywhere. -1 at once when the link is not up; else 0, and done gets
 * on the loop thread rc 0 (done), 1 (put: a conflict, the revision is not
 * the next or the profile was erased meanwhile) or -1 with why (the store
 * failed: nothing is known to be saved).
 */
typedef void	(*store_done_cb)(int rc, const char *err, void *arg);
int	 store_link_put(struct store_link *l, const struct profile_form *form,
	    const char *id, store_done_cb done, void *arg);
int	 store_link_erase(struct store_link *l, const char *id,
	    store_done_cb done, void *arg);

/* What the store changed, handed to the loop: a profile's newest
 * revision (at every connect for each profile, then when notified) or
 * an erasure (seq: the tombstone's, to be confirmed once applied). */
enum store_in_kind {
	STORE_IN_PROFILE,
	STORE_IN_ERASED
};
struct store_in {
	TAILQ_ENTRY(store_in)	 entry;
	enum store_in_kind	 kind;
	char			 id[48];
	struct profile_form	 form;
	long long		 seq;
};
typedef void	(*store_in_cb)(const struct store_in *in, void *arg);
/* The loop's handler of what the store changed; a few at a time. */
void	 store_link_listen(struct store_link *l, store_in_cb cb, void *arg);
/* The loop has applied the erasures up to seq (kept across restarts). */
void	 store_link_erased(struct store_link *l, long long seq);
/* Up, as the loop sees it (for a refusal's words: since when not). */
int	 store_link_up(void);

/* The link's health, as the status and /metrics read it. */
struct store_health {
	int		 configured;
	int		 up;		/* connected, schema checked */
	double		 since;		/* up or down since (real time) */
	char		 error[512];	/* why down, "" when up */
	char		 url[1024];	/* without a password */
	uint64_t	 backlog;	/* record lines not yet shipped */
	uint64_t	 shipped;	/* lines shipped by this run */
	uint64_t	 failures;	/* connections lost or refused */
	double		 shipped_at;	/* real time of the newest, 0 none */
	double		 notified_at;	/* the newest NOTIFY heard, 0 none */
	int		 scanned;	/* backlog counted at least once */
};
void	 store_health_get(struct store_health *h);
/* A notification heard now. */
void	 store_health_notified(void);
/* The status's "store": {"configured": false} or the health. */
json_t	*store_status_json(void);

#endif
