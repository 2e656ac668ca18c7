/*
 * store.h: the spa's shared PostgreSQL store (docs/store.md). In this
 * slice: `massaged --migrate` and the checks of `massaged -n`; the
 * running daemon does not use the store yet.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdio.h>

#include "table.h"

/* Seconds libpq waits for a connection unless the URL says otherwise. */
#define STORE_CONNECT_TIMEOUT_S	3
/* The oldest server the schema is written for. */
#define STORE_SERVER_MIN	130000

struct store_migration {
	const char	*name;		/* "0001_init.sql" */
	const char	*sql;
};

/* The migrations compiled in (store-sql.c), version i + 1 at index i. */
extern const struct store_migration store_migrations[];
extern const int store_nmigrations;

/*
 * -n with a store: connects (within the timeout), checks the password,
 * the server's version and that the schema is the one this build knows.
 * 0, or -1 with one line in err that names the URL without a password.
 */
int	store_check(const struct table *t, char *err, size_t errlen);
/*
 * --migrate: applies each missing migration in a transaction of its own,
 * printing a line for each to out; refuses a schema newer than this
 * build's. 0, or -1 with one line in err.
 */
int	store_migrate(const struct table *t, FILE *out, char *err,
	    size_t errlen);

#endif
