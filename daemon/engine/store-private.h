/*
 * store-private.h: what the store's files share and nothing else
 * includes: store.c (the checks of -n, --migrate and the connection they
 * and the link share), store-link.c (the daemon's link: its thread, its
 * health), store-outbox.c (records from sessions.jsonl to the store).
 */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include <limits.h>
#include <stddef.h>

#include <libpq-fe.h>

#include <jansson.h>

#include "record.h"
#include "store-conf.h"
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


struct store_link;
struct store_outbox;

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
