/*
 * store-private.h: what the store's files share and nothing else
 * includes: store.c (the checks of -n, --migrate and the connection they
 * and the link share), store-link.c (the daemon's link: its thread, its
 * health), store-outbox.c (records from sessions.jsonl to the store).
 */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include <sys/queue.h>

#include <limits.h>
#include <pthread.h>
#include <stddef.h>

#include <libpq-fe.h>

#include <jansson.h>

#include "record.h"
#include "store-conf.h"
#include "store-link.h"
#include "table.h"

/* The URL, its password if any replaced, and where it was given. */
struct store_who {
	char	 url[STORE_URL_MAX];
	char	 at[PATH_MAX + 32];	/* "FILE:LINE: " or "" */
};

void	 store_who(const struct table *t, struct store_who *w);
/* libpq's message on one line: newlines and tabs become "; " and " ". */
void	 store_oneline(const char *msg, char *out, size_t outlen);
/* Connected (blocking, within the connect timeout), or NULL with one line
 * in err. password_file "" for none. */
PGconn	*store_connect(const char *url, const char *password_file,
	    const struct store_who *w, char *err, size_t errlen);
/* The server is new enough and the schema is this build's: 0 with a line
 * saying so in err, or -1 with why. */
int	 store_verify(PGconn *conn, const struct store_who *w, char *err,
	    size_t errlen);


struct event;
struct store_outbox;

/* What the loop asks the link's thread (store-ask.c). */
enum store_ask_kind {
	STORE_ASK_HISTORY,
	STORE_ASK_PUT,
	STORE_ASK_ERASE
};

struct store_ask {
	TAILQ_ENTRY(store_ask)	 entry;
	enum store_ask_kind	 kind;
	struct record_range	 range;		/* HISTORY */
	record_query_cb		 cb;
	json_t			*doc;		/* NULL: not answered */
	struct profile_form	 form;		/* PUT */
	char			 id[NAME_LEN];	/* PUT, ERASE */
	char			 by[NAME_LEN];	/* the table */
	store_done_cb		 done;		/* PUT, ERASE */
	int			 rc;
	char			 err[512];
	void			*arg;
};
TAILQ_HEAD(store_asks, store_ask);
TAILQ_HEAD(store_ins, store_in);

struct store_link {
	char			 url[STORE_URL_MAX];
	char			 password_file[PATH_MAX];
	char			 table[NAME_LEN];
	char			 erasures_path[PATH_MAX + 32];
	struct store_who	 who;
	struct store_outbox	*outbox;

	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	int			 quit;		/* under mtx */
	int			 done;		/* under mtx */
	struct store_asks	 asks;		/* under mtx: loop -> thread */
	struct store_asks	 answers;	/* under mtx: thread -> loop */
	struct store_ins	 ins;		/* under mtx: thread -> loop */
	long long		 erased_done;	/* under mtx: applied by loop */
	struct event		*answer_ev;

	/* the thread's */
	long long		 erased_seen;	/* delivered */
	long long		 erased_kept;	/* in erasures_path */

	/* the loop's */
	store_in_cb		 in_cb;
	void			*in_arg;
};

/*
 * A query on the link's connection with a deadline (STORE_QUERY_TIMEOUT_S)
 * and the link's quit flag watched: the result (the caller clears it), or
 * NULL with err (the connection is then to be given up).
 */
PGresult *store_query(struct store_link *l, PGconn *conn, const char *sql,
	    int nparams, const char *const *values, char *err, size_t errlen);
/* The health's outbox figures, under its lock. */
void	 store_health_outbox(uint64_t backlog, uint64_t shipped_now);

/* store-history.c: the spa's sessions in range (the loop's query) as
 * record_query() answers, or NULL with err. */
json_t	*store_history(struct store_link *l, PGconn *conn,
	    const struct record_range *rg, char *err, size_t errlen);

/* store-ask.c: the thread serves what was asked (a query that failed
 * sets *rc to -1: the connection is to be given up), and hands the loop
 * what the store changed. */
void	 store_ask_serve(struct store_link *l, PGconn *conn, char *err,
	    size_t errlen, int *rc);
void	 store_ask_answers(int fd, short what, void *arg);
void	 store_ask_free(struct store_link *l);
void	 store_link_deliver(struct store_link *l, const struct store_in *in);
/* Thread: notifications waiting on conn, each fetched and delivered;
 * -1 with err when the connection failed. */
int	 store_ask_notified(struct store_link *l, PGconn *conn, char *err,
	    size_t errlen);
/* Thread: the erasures the loop has applied, kept on disk. */
void	 store_ask_keep_erased(struct store_link *l);

/* store-profiles.c: the spa's profiles. put: 0 saved, 1 a conflict (the
 * revision is not the newest's next, or the profile is gone), -1 with
 * err. fetch (id "" for all) and erasures deliver what they read: the
 * number, or -1 with err. */
int	 store_profile_put(struct store_link *l, PGconn *conn,
	    const struct profile_form *f, const char *id, const char *by,
	    char *err, size_t errlen);
int	 store_profile_erase(struct store_link *l, PGconn *conn,
	    const char *id, const char *by, long long *seq, char *err,
	    size_t errlen);
int	 store_profile_fetch(struct store_link *l, PGconn *conn,
	    const char *id, char *err, size_t errlen);
int	 store_profile_erasures(struct store_link *l, PGconn *conn,
	    long long after, char *err, size_t errlen);

/* store-outbox.c: the records not yet shipped. */
struct store_outbox *store_outbox_open(const char *dir, const char *table);
void	 store_outbox_free(struct store_outbox *o);
/* Ships at most STORE_BATCH lines in one transaction: 1 when more wait,
 * 0 when none, -1 with err (the connection is to be given up). */
/* Counts the backlog for the health, shipping nothing (while down). */
void	 store_outbox_count(struct store_outbox *o);
int	 store_outbox_ship(struct store_outbox *o, struct store_link *l,
	    PGconn *conn, char *err, size_t errlen);

#endif
