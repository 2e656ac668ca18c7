/*
 * store-link.c: the daemon's link to the spa's shared store, on a thread
 * of its own (docs/store.md, "The daemon's link").
 *
 * The thread connects (libpq, blocking on this thread within the connect
 * timeout), checks the server and the schema as -n does, claims the
 * table's name (massaged.tables: one login per name, so that two tables
 * of one name cannot overwrite each other's records), then ships the
 * outbox every second. Every query after the connect runs in libpq's
 * non-blocking mode with a deadline: a server that stops answering
 * (SIGSTOP, a lost network) costs this thread STORE_QUERY_TIMEOUT_S and a
 * reconnect, never the loop. The loop thread only reads the health below,
 * a copy taken under a lock that no I/O is done under.
 */
#include <sys/queue.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "clock.h"
#include "log.h"
#include "store-link.h"
#include "store-private.h"
#include "table.h"

#define STORE_SLICE_MS		100	/* quit is looked at this often */
#define STORE_PING_S		5	/* an idle link asks this often */

static pthread_mutex_t		 store_health_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct store_health	 store_health;

int
store_link_up(void)
{
	int	 up;

	pthread_mutex_lock(&store_health_mtx);
	up = store_health.up;
	pthread_mutex_unlock(&store_health_mtx);
	return (up);
}

void
store_health_get(struct store_health *h)
{
	pthread_mutex_lock(&store_health_mtx);
	*h = store_health;
	pthread_mutex_unlock(&store_health_mtx);
}

/* Up, or down with why; logged when it changes. */
static void
store_health_set(int up, const char *why)
{
	int	 changed;

	pthread_mutex_lock(&store_health_mtx);
	changed = store_health.up != up || (!up &&
	    strcmp(store_health.error, why) != 0);
	if (store_health.up != up || store_health.since == 0)
		store_health.since = clock_real_s();
	if (store_health.up && !up)
		store_health.failures++;
	store_health.up = up;
	snprintf(store_health.error, sizeof(store_health.error), "%s", why);
	pthread_mutex_unlock(&store_health_mtx);
	if (!changed)
		return;
	if (up)
		log_info("store %s: connected", store_health.url);
	else
		log_warnx("%s", why);
}

void
store_health_outbox(uint64_t backlog, uint64_t shipped_now)
{
	pthread_mutex_lock(&store_health_mtx);
	store_health.backlog = backlog;
	store_health.scanned = 1;
	store_health.shipped += shipped_now;
	if (shipped_now > 0)
		store_health.shipped_at = clock_real_s();
	pthread_mutex_unlock(&store_health_mtx);
}

void
store_health_notified(void)
{
	pthread_mutex_lock(&store_health_mtx);
	store_health.notified_at = clock_real_s();
	pthread_mutex_unlock(&store_health_mtx);
}

json_t *
store_status_json(void)
{
	struct store_health	 h;
	json_t			*o;

	store_health_get(&h);
	if (!h.configured)
		return (json_pack("{s:b}", "configured", 0));
	o = json_pack("{s:b, s:s, s:b, s:f, s:o, s:{s:o, s:I}}",
	    "configured", 1, "url", h.url, "reachable", h.up,
	    "since", h.since, "error", h.up || h.error[0] == '\0' ?
	    json_null() : json_string(h.error), "outbox", "backlog",
	    h.scanned ? json_integer((json_int_t)h.backlog) : json_null(),
	    "shipped", (json_int_t)h.shipped);
	json_object_set_new(json_object_get(o, "outbox"), "shipped_at",
	    h.shipped_at > 0 ? json_real(h.shipped_at) : json_null());
	json_object_set_new(o, "notified_at", h.notified_at > 0 ?
	    json_real(h.notified_at) : json_null());
	return (o);
}

static int
store_quitting(struct store_link *l)
{
	int	 q;

	pthread_mutex_lock(&l->mtx);
	q = l->quit;
	pthread_mutex_unlock(&l->mtx);
	return (q);
}

/* Waits until conn's socket is ready for ev, the deadline or quit. */
static int
store_wait(struct store_link *l, PGconn *conn, short ev, uint64_t deadline,
    char *err, size_t errlen)
{
	struct pollfd	 p = { .fd = PQsocket(conn), .events = ev };
	uint64_t	 now;
	int		 ms;

	for (;;) {
		if (store_quitting(l)) {
			snprintf(err, errlen, "the daemon is stopping");
			return (-1);
		}
		if ((now = clock_mono_ns()) >= deadline) {
			snprintf(err, errlen, "store %s: no answer within %d s",
			    l->who.url, STORE_QUERY_TIMEOUT_S);
			return (-1);
		}
		ms = (int)((deadline - now) / 1000000) + 1;
		if (ms > STORE_SLICE_MS)
			ms = STORE_SLICE_MS;
		if (poll(&p, 1, ms) > 0)
			return (0);
	}
}

PGresult *
store_query(struct store_link *l, PGconn *conn, const char *sql,
    int nparams, const char *const *values, char *err, size_t errlen)
{
	PGresult	*r, *last = NULL;
	uint64_t	 deadline;
	char		 msg[512];
	int		 f;

	deadline = clock_mono_ns() + STORE_QUERY_TIMEOUT_S * 1000000000ULL;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL,
	    0))
		goto conn_err;
	while ((f = PQflush(conn)) == 1)
		if (store_wait(l, conn, POLLOUT | POLLIN, deadline, err,
		    errlen) == -1 || !PQconsumeInput(conn))
			goto fail;
	if (f == -1)
		goto conn_err;
	for (;;) {
		while (PQisBusy(conn)) {
			if (store_wait(l, conn, POLLIN, deadline, err,
			    errlen) == -1)
				goto fail;
			if (!PQconsumeInput(conn))
				goto conn_err;
		}
		if ((r = PQgetResult(conn)) == NULL)
			break;
		PQclear(last);
		last = r;
	}
	if (last != NULL && (PQresultStatus(last) == PGRES_COMMAND_OK ||
	    PQresultStatus(last) == PGRES_TUPLES_OK))
		return (last);
	store_oneline(last != NULL ? PQresultErrorMessage(last) :
	    PQerrorMessage(conn), msg, sizeof(msg));
	snprintf(err, errlen, "store %s: %s", l->who.url, msg);
	PQclear(last);
	return (NULL);
conn_err:
	store_oneline(PQerrorMessage(conn), msg, sizeof(msg));
	snprintf(err, errlen, "store %s: %s", l->who.url, msg);
fail:
	PQclear(last);
	return (NULL);
}

/* The table's name is this login's: claimed now, or claimed before by
 * the same login. 0, or -1 with err. */
static int
store_claim(struct store_link *l, PGconn *conn, char *err, size_t errlen)
{
	const char	*v[1] = { l->table };
	PGresult	*r;
	char		 owner[128];

	if ((r = store_query(l, conn, "INSERT INTO massaged.tables (name) "
	    "VALUES ($1) ON CONFLICT (name) DO NOTHING", 1, v, err,
	    errlen)) == NULL)
		return (-1);
	PQclear(r);
	if ((r = store_query(l, conn, "SELECT login, login = current_user "
	    "FROM massaged.tables WHERE name = $1", 1, v, err,
	    errlen)) == NULL)
		return (-1);
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		PQclear(r);
		return (0);
	}
	snprintf(owner, sizeof(owner), "%s", PQntuples(r) == 1 ?
	    PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	snprintf(err, errlen, "store %s: the table name \"%s\" belongs to "
	    "the login %s: give each table a name of its own ([table] name) "
	    "and a login of its own", l->who.url, l->table, owner);
	return (-1);
}

/*
 * Told of every change from now on, then handed every profile's newest
 * revision and every erasure not yet applied: what changed while this
 * table was away. 0, or -1 with err.
 */
static int
store_link_sync(struct store_link *l, PGconn *conn, char *err, size_t errlen)
{
	PGresult	*r;

	if ((r = store_query(l, conn, "LISTEN massaged_profiles", 0, NULL,
	    err, errlen)) == NULL)
		return (-1);
	PQclear(r);
	if ((r = store_query(l, conn, "LISTEN massaged_erasures", 0, NULL,
	    err, errlen)) == NULL)
		return (-1);
	PQclear(r);
	if (store_profile_erasures(l, conn, l->erased_seen, err,
	    errlen) == -1 || store_profile_fetch(l, conn, "", err,
	    errlen) == -1)
		return (-1);
	return (0);
}

/* Connected, checked and claimed, or NULL with err. */
static PGconn *
store_link_connect(struct store_link *l, char *err, size_t errlen)
{
	PGconn	*conn;

	if ((conn = store_connect(l->url, l->password_file, &l->who, err,
	    errlen)) == NULL)
		return (NULL);
	if (store_verify(conn, &l->who, err, errlen) == -1 ||
	    PQsetnonblocking(conn, 1) == -1 ||
	    store_claim(l, conn, err, errlen) == -1 ||
	    store_link_sync(l, conn, err, errlen) == -1) {
		PQfinish(conn);
		return (NULL);
	}
	return (conn);
}

/* Sleeps ms, or less when the daemon stops. */
static void
store_link_sleep(struct store_link *l, int ms)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mtx);
	while (!l->quit && TAILQ_EMPTY(&l->asks) &&
	    pthread_cond_timedwait(&l->cond, &l->mtx, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&l->mtx);
}

/*
 * Connected and idle: a second of waiting for a notification, a query
 * asked or the end, in slices. 0, or -1 with err (the connection failed).
 */
static int
store_link_idle(struct store_link *l, PGconn *conn, char *err, size_t errlen)
{
	struct pollfd	 p = { .fd = PQsocket(conn), .events = POLLIN };
	int		 i, asked;

	for (i = 0; i < 1000 / STORE_SLICE_MS; i++) {
		pthread_mutex_lock(&l->mtx);
		asked = l->quit || !TAILQ_EMPTY(&l->asks);
		pthread_mutex_unlock(&l->mtx);
		if (asked)
			return (0);
		if (poll(&p, 1, STORE_SLICE_MS) > 0)
			return (store_ask_notified(l, conn, err, errlen));
	}
	return (0);
}

/* Connects once the backoff allows: the connection, or NULL (down). */
static PGconn *
store_link_try(struct store_link *l, uint64_t *next_try, int *backoff)
{
	PGconn		*conn;
	char		 err[1024];
	uint64_t	 now = clock_mono_ns();

	if (now < *next_try)
		return (NULL);
	if ((conn = store_link_connect(l, err, sizeof(err))) == NULL) {
		store_health_set(0, err);
		*next_try = clock_mono_ns() + (uint64_t)*backoff * 1000000000ULL;
		if ((*backoff *= 2) > STORE_RETRY_MAX_S)
			*backoff = STORE_RETRY_MAX_S;
		return (NULL);
	}
	*backoff = 1;
	store_health_set(1, "");
	return (conn);
}

static void *
store_link_thread(void *arg)
{
	struct store_link	*l = arg;
	PGconn			*conn = NULL;
	PGresult		*r;
	uint64_t		 next_try = 0;
	char			 err[1024];
	int			 backoff = 1, idle = 0, rc;

	while (!store_quitting(l)) {
		if (conn == NULL &&
		    (conn = store_link_try(l, &next_try, &backoff)) == NULL) {
			/* Down: the backlog is still counted every second,
			 * and the history is the table's own. */
			rc = 0;
			store_ask_serve(l, NULL, err, sizeof(err), &rc);
			store_outbox_count(l->outbox);
			store_link_sleep(l, 1000);
			continue;
		}
		rc = 0;
		store_ask_serve(l, conn, err, sizeof(err), &rc);
		store_ask_keep_erased(l);
		if (rc != -1)
			rc = store_ask_notified(l, conn, err, sizeof(err));
		if (rc != -1)
			rc = store_outbox_ship(l->outbox, l, conn, err,
			    sizeof(err));
		/* Nothing to ship for a while: is the server still there? */
		if (rc == 0 && ++idle >= STORE_PING_S) {
			idle = 0;
			if ((r = store_query(l, conn, "SELECT 1", 0, NULL, err,
			    sizeof(err))) == NULL)
				rc = -1;
			PQclear(r);
		}
		if (rc == -1) {
			PQfinish(conn);
			conn = NULL;
			if (!store_quitting(l))
				store_health_set(0, err);
			continue;
		}
		if (rc == 0 && store_link_idle(l, conn, err,
		    sizeof(err)) == -1) {
			PQfinish(conn);
			conn = NULL;
			store_health_set(0, err);
		}
	}
	PQfinish(conn);
	pthread_mutex_lock(&l->mtx);
	l->done = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mtx);
	return (NULL);
}

/* The erasures applied before: the place to ask the store from. */
static void
store_link_load_erased(struct store_link *l, const char *dir)
{
	FILE	*f;

	snprintf(l->erasures_path, sizeof(l->erasures_path), "%s/%s", dir,
	    STORE_ERASURES_FILE);
	if ((f = fopen(l->erasures_path, "re")) == NULL)
		return;
	if (fscanf(f, "%lld", &l->erased_kept) != 1 || l->erased_kept < 0)
		l->erased_kept = 0;
	fclose(f);
	l->erased_seen = l->erased_done = l->erased_kept;
}

struct store_link *
store_link_open(struct event_base *base, const struct table *t)
{
	struct store_link	*l;

	pthread_mutex_lock(&store_health_mtx);
	memset(&store_health, 0, sizeof(store_health));
	store_health.configured = t->store[0] != '\0';
	store_url_redact(t->store, store_health.url, sizeof(store_health.url));
	snprintf(store_health.error, sizeof(store_health.error),
	    "not connected yet");
	pthread_mutex_unlock(&store_health_mtx);
	if (t->store[0] == '\0')
		return (NULL);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("store_link_open");
	snprintf(l->url, sizeof(l->url), "%s", t->store);
	snprintf(l->password_file, sizeof(l->password_file), "%s",
	    t->store_password_file);
	snprintf(l->table, sizeof(l->table), "%s", t->name);
	snprintf(l->who.url, sizeof(l->who.url), "%s", store_health.url);
	l->outbox = store_outbox_open(t->state_dir, t->name);
	pthread_mutex_init(&l->mtx, NULL);
	pthread_cond_init(&l->cond, NULL);
	TAILQ_INIT(&l->asks);
	TAILQ_INIT(&l->answers);
	TAILQ_INIT(&l->ins);
	store_link_load_erased(l, t->state_dir);
	if ((l->answer_ev = event_new(base, -1, 0, store_ask_answers,
	    l)) == NULL)
		fatalx("store_link_open: event_new failed");
	if (pthread_create(&l->thread, NULL, store_link_thread, l) != 0)
		fatalx("store_link_open: cannot start the store's thread");
	return (l);
}

void
store_link_close(struct store_link *l)
{
	struct timespec	 ts;
	int		 done;

	if (l == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;		/* a connect in flight: its timeout's share */
	pthread_mutex_lock(&l->mtx);
	l->quit = 1;
	pthread_cond_broadcast(&l->cond);
	while (!l->done && pthread_cond_timedwait(&l->cond, &l->mtx,
	    &ts) != ETIMEDOUT)
		;
	done = l->done;
	pthread_mutex_unlock(&l->mtx);
	if (!done) {
		/* Still connecting: the process's exit ends it. */
		log_warnx("store %s: still connecting at exit", l->who.url);
		pthread_detach(l->thread);
		return;
	}
	pthread_join(l->thread, NULL);
	/* Asked and not answered: the API that asked is gone too. */
	store_ask_free(l);
	event_free(l->answer_ev);
	store_outbox_free(l->outbox);
	pthread_mutex_destroy(&l->mtx);
	pthread_cond_destroy(&l->cond);
	free(l);
}
