/*
 * store.c: the spa's shared PostgreSQL store, through libpq: the checks
 * of `massaged -n` and `massaged --migrate` (docs/store.md). Both run
 * before the daemon's loop exists and block (within the connect
 * timeout); the running daemon does not use the store yet.
 *
 * The schema lives in the schema massaged; its version is the highest
 * row of massaged.schema_version (0 when there is none). Migrations are
 * compiled in (store-sql.c): a build knows exactly one schema version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "files.h"
#include "store-conf.h"
#include "store.h"
#include "store-private.h"

/* The advisory lock --migrate holds in each transaction ("mass"). */
#define STORE_LOCK_KEY		"1835102067"
#define STORE_PASSWORD_MAX	1024

void
store_who(const struct table *t, struct store_who *w)
{
	store_url_redact(t->store, w->url, sizeof(w->url));
	if (t->store_line > 0)
		snprintf(w->at, sizeof(w->at), "%s:%d: ", t->path,
		    t->store_line);
	else
		w->at[0] = '\0';
}

void
store_oneline(const char *msg, char *out, size_t outlen)
{
	size_t	 o = 0;
	int	 nl = 0;

	for (; *msg != '\0' && o + 3 < outlen; msg++) {
		if (*msg == '\n' || *msg == '\r') {
			nl = 1;
			continue;
		}
		if (nl && o > 0) {
			out[o++] = ';';
			out[o++] = ' ';
		}
		nl = 0;
		if (*msg == '\t')
			continue;
		out[o++] = *msg;
	}
	out[o] = '\0';
}

/*
 * The password: the first line of the file, which must be private and
 * trusted like the token file (mode 0600, owned by root or the daemon's
 * user, not a symbolic link). NULL with the reason in err.
 */
static char *
store_password(const char *path, char *err, size_t errlen)
{
	char	*buf, why[PATH_MAX + 256];
	size_t	 len;

	if (files_read(path, STORE_PASSWORD_MAX, FILES_NOFOLLOW |
	    FILES_PRIVATE | FILES_STABLE, &buf, &len, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "store_password_file %s: %s", path, why);
		return (NULL);
	}
	if (memchr(buf, '\0', len) != NULL)
		snprintf(err, errlen, "store_password_file %s: contains a NUL "
		    "byte", path);
	else {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] != '\0')
			return (buf);
		snprintf(err, errlen, "store_password_file %s: the first "
		    "line is empty (expected the password)", path);
	}
	explicit_bzero(buf, len);
	free(buf);
	return (NULL);
}

PGconn *
store_connect(const char *url, const char *password_file,
    const struct store_who *w, char *err, size_t errlen)
{
	const char		*kw[5], *val[5];
	char			 timeout[16], msg[2 * PATH_MAX + 1024];
	char			*perr = NULL, *pw = NULL;
	PQconninfoOption	*opts;
	PGconn			*conn;
	int			 n = 0;

	if ((opts = PQconninfoParse(url, &perr)) == NULL) {
		store_oneline(perr != NULL ? perr : "out of memory", msg,
		    sizeof(msg));
		snprintf(err, errlen, "%sstore %s: %s", w->at, w->url, msg);
		PQfreemem(perr);
		return (NULL);
	}
	PQconninfoFree(opts);
	if (password_file[0] != '\0' &&
	    (pw = store_password(password_file, msg,
	    sizeof(msg))) == NULL) {
		snprintf(err, errlen, "store %s: %s", w->url, msg);
		return (NULL);
	}
	/* Keywords before dbname are overridden by the URL's own. */
	snprintf(timeout, sizeof(timeout), "%d", STORE_CONNECT_TIMEOUT_S);
	kw[n] = "connect_timeout";	val[n++] = timeout;
	kw[n] = "application_name";	val[n++] = "massaged";
	kw[n] = "dbname";		val[n++] = url;
	if (pw != NULL) {
		kw[n] = "password";	val[n++] = pw;
	}
	kw[n] = NULL;			val[n] = NULL;
	conn = PQconnectdbParams(kw, val, 1);
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		store_oneline(conn != NULL ? PQerrorMessage(conn) :
		    "out of memory", msg, sizeof(msg));
		snprintf(err, errlen, "store %s: cannot connect: %s", w->url,
		    msg);
		PQfinish(conn);
		return (NULL);
	}
	return (conn);
}

/* Runs sql: 0, or -1 with the server's error on one line in err. */
static int
store_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult	*r;
	int		 rc = 0;

	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		store_oneline(r != NULL ? PQresultErrorMessage(r) :
		    PQerrorMessage(conn), err, errlen);
		rc = -1;
	}
	PQclear(r);
	return (rc);
}

/* A one-value query's value as a number: 0, or -1 with err. */
static int
store_value(PGconn *conn, const char *sql, long *out, char *err,
    size_t errlen)
{
	PGresult	*r;
	int		 rc = -1;

	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		store_oneline(r != NULL ? PQresultErrorMessage(r) :
		    PQerrorMessage(conn), err, errlen);
	else if (PQntuples(r) != 1 || PQnfields(r) != 1)
		snprintf(err, errlen, "%s: not one value", sql);
	else {
		*out = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		rc = 0;
	}
	PQclear(r);
	return (rc);
}

/* The schema's version, 0 when there is no massaged.schema_version. */
static int
store_version(PGconn *conn, long *v, char *err, size_t errlen)
{
	long	 have;

	if (store_value(conn, "SELECT (to_regclass('massaged.schema_version')"
	    " IS NOT NULL)::int", &have, err, errlen) == -1)
		return (-1);
	if (!have) {
		*v = 0;
		return (0);
	}
	return (store_value(conn, "SELECT coalesce(max(version), 0) FROM "
	    "massaged.schema_version", v, err, errlen));
}

/* The server is new enough: 0, or -1 with err. */
static int
store_server(PGconn *conn, const struct store_who *w, char *err,
    size_t errlen)
{
	int	 v = PQserverVersion(conn);

	if (v >= STORE_SERVER_MIN)
		return (0);
	snprintf(err, errlen, "store %s: the server is PostgreSQL %d.%d, "
	    "at least %d is needed", w->url, v / 10000, v % 10000,
	    STORE_SERVER_MIN / 10000);
	return (-1);
}

int
store_verify(PGconn *conn, const struct store_who *w, char *err,
    size_t errlen)
{
	char	 msg[512];
	long	 v;
	int	 known = store_nmigrations;

	if (store_server(conn, w, err, errlen) == -1)
		return (-1);
	if (store_version(conn, &v, msg, sizeof(msg)) == -1)
		snprintf(err, errlen, "store %s: cannot read the schema "
		    "version: %s", w->url, msg);
	else if (v == 0)
		snprintf(err, errlen, "store %s: no schema (version 0, this "
		    "build needs %d): run massaged --migrate", w->url, known);
	else if (v < known)
		snprintf(err, errlen, "store %s: schema version %ld is older "
		    "than this build's (%d): run massaged --migrate", w->url,
		    v, known);
	else if (v > known)
		snprintf(err, errlen, "store %s: schema version %ld is newer "
		    "than this build knows (%d): upgrade massaged", w->url, v,
		    known);
	else {
		snprintf(err, errlen, "store %s: PostgreSQL %d, schema "
		    "version %ld", w->url, PQserverVersion(conn) / 10000, v);
		return (0);
	}
	return (-1);
}

int
store_check(const struct table *t, char *err, size_t errlen)
{
	struct store_who	 w;
	PGconn			*conn;
	int			 rc;

	store_who(t, &w);
	if ((conn = store_connect(t->store, t->store_password_file, &w, err,
	    errlen)) == NULL)
		return (-1);
	rc = store_verify(conn, &w, err, errlen);
	PQfinish(conn);
	return (rc);
}

/*
 * Migration i (version i + 1) in a transaction of its own, under the
 * advisory lock so that two --migrate never apply one twice: 1 applied,
 * 0 already there, -1 with err.
 */
static int
store_migrate_one(PGconn *conn, int i, const struct store_who *w, char *err,
    size_t errlen)
{
	const char	*name = store_migrations[i].name;
	char		 msg[512], sql[128];
	long		 v;

	if (store_exec(conn, "BEGIN", msg, sizeof(msg)) == -1 ||
	    store_exec(conn, "SELECT pg_advisory_xact_lock(" STORE_LOCK_KEY
	    ")", msg, sizeof(msg)) == -1 ||
	    store_version(conn, &v, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "store %s: %s", w->url, msg);
		goto fail;
	}
	if (v > store_nmigrations) {
		snprintf(err, errlen, "store %s: schema version %ld is newer "
		    "than this build knows (%d): upgrade massaged; nothing "
		    "applied", w->url, v, store_nmigrations);
		goto fail;
	}
	if (v > i) {
		(void)store_exec(conn, "ROLLBACK", msg, sizeof(msg));
		return (0);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO massaged.schema_version "
	    "(version) VALUES (%d)", i + 1);
	if (store_exec(conn, store_migrations[i].sql, msg, sizeof(msg)) == -1 ||
	    store_exec(conn, sql, msg, sizeof(msg)) == -1 ||
	    store_exec(conn, "COMMIT", msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "store %s: migration %s failed, nothing "
		    "of it applied: %s", w->url, name, msg);
		goto fail;
	}
	return (1);
fail:
	(void)store_exec(conn, "ROLLBACK", msg, sizeof(msg));
	return (-1);
}

int
store_migrate(const struct table *t, FILE *out, char *err, size_t errlen)
{
	struct store_who	 w;
	PGconn			*conn;
	int			 i, r, applied = 0, rc = -1;

	store_who(t, &w);
	if ((conn = store_connect(t->store, t->store_password_file, &w, err, errlen)) == NULL)
		return (-1);
	if (store_server(conn, &w, err, errlen) == -1)
		goto out;
	for (i = 0; i < store_nmigrations; i++) {
		if ((r = store_migrate_one(conn, i, &w, err, errlen)) == -1)
			goto out;
		if (r == 1) {
			fprintf(out, "store %s: applied %s (schema version "
			    "%d)\n", w.url, store_migrations[i].name, i + 1);
			fflush(out);
			applied++;
		}
	}
	if (applied == 0)
		fprintf(out, "store %s: schema up to date (version %d)\n",
		    w.url, store_nmigrations);
	rc = 0;
out:
	PQfinish(conn);
	return (rc);
}
