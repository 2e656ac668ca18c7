/*
 * store-ask.c: what passes between the loop and the store's thread.
 *
 * The loop asks (a page of the history, a profile to save, a client to
 * erase) by queueing under the link's lock and signalling; the thread
 * answers through the answers queue and event_active(). What the store
 * changed (a profile saved or erased at another table) comes to the loop
 * through the ins queue, a few at a time (STORE_IN_BATCH), so that a first
 * connect that hands over every profile of the spa never holds the loop
 * for more than a few lookups.
 */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "log.h"
#include "store-link.h"
#include "store-private.h"

#define STORE_IN_BATCH		16	/* changes applied per loop turn */
#define STORE_NOTIFY_MAX	64	/* notifications taken at once */

static struct store_ask *
store_ask_new(enum store_ask_kind kind, void *arg)
{
	struct store_ask	*q;

	if (!store_link_up())
		return (NULL);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("store_ask_new");
	q->kind = kind;
	q->arg = arg;
	return (q);
}

static void
store_ask_push(struct store_link *l, struct store_ask *q)
{
	snprintf(q->by, sizeof(q->by), "%s", l->table);
	pthread_mutex_lock(&l->mtx);
	TAILQ_INSERT_TAIL(&l->asks, q, entry);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}

int
store_link_query(struct store_link *l, const struct record_range *rg,
    record_query_cb cb, void *arg)
{
	struct store_ask	*q;

	if (l == NULL || (q = store_ask_new(STORE_ASK_HISTORY, arg)) == NULL)
		return (-1);
	q->range = *rg;
	q->cb = cb;
	store_ask_push(l, q);
	return (0);
}

int
store_link_put(struct store_link *l, const struct profile_form *form,
    const char *id, store_done_cb done, void *arg)
{
	struct store_ask	*q;

	if (l == NULL || (q = store_ask_new(STORE_ASK_PUT, arg)) == NULL)
		return (-1);
	q->form = *form;
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->done = done;
	store_ask_push(l, q);
	return (0);
}

int
store_link_erase(struct store_link *l, const char *id, store_done_cb done,
    void *arg)
{
	struct store_ask	*q;

	if (l == NULL || (q = store_ask_new(STORE_ASK_ERASE, arg)) == NULL)
		return (-1);
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->done = done;
	store_ask_push(l, q);
	return (0);
}

/* Thread: one ask, answered on conn (NULL: the store is down). */
static void
store_ask_one(struct store_link *l, PGconn *conn, struct store_ask *q,
    char *err, size_t errlen, int *rc)
{
	long long	 seq;

	q->rc = -1;
	if (conn == NULL || *rc == -1) {
		snprintf(q->err, sizeof(q->err), "the spa's store is not "
		    "connected");
		return;
	}
	switch (q->kind) {
	case STORE_ASK_HISTORY:
		q->doc = store_history(l, conn, &q->range, err, errlen);
		q->rc = q->doc != NULL ? 0 : -1;
		break;
	case STORE_ASK_PUT:
		q->rc = store_profile_put(l, conn, &q->form, q->id, q->by, err,
		    errlen);
		break;
	case STORE_ASK_ERASE:
		q->rc = store_profile_erase(l, conn, q->id, q->by, &seq, err,
		    errlen);
		break;
	}
	if (q->rc == -1) {
		snprintf(q->err, sizeof(q->err), "%s", err);
		*rc = -1;
	}
}

void
store_ask_serve(struct store_link *l, PGconn *conn, char *err,
    size_t errlen, int *rc)
{
	struct store_ask	*q;

	for (;;) {
		pthread_mutex_lock(&l->mtx);
		if ((q = TAILQ_FIRST(&l->asks)) != NULL)
			TAILQ_REMOVE(&l->asks, q, entry);
		pthread_mutex_unlock(&l->mtx);
		if (q == NULL)
			return;
		store_ask_one(l, conn, q, err, errlen, rc);
		explicit_bzero(&q->form, sizeof(q->form));
		pthread_mutex_lock(&l->mtx);
		TAILQ_INSERT_TAIL(&l->answers, q, entry);
		pthread_mutex_unlock(&l->mtx);
		/* Not under our lock: event_active() takes the base's. */
		event_active(l->answer_ev, EV_READ, 0);
	}
}

void
store_link_deliver(struct store_link *l, const struct store_in *in)
{
	struct store_in	*c;

	if ((c = malloc(sizeof(*c))) == NULL)
		fatal("store_link_deliver");
	*c = *in;
	if (in->kind == STORE_IN_ERASED && in->seq > l->erased_seen)
		l->erased_seen = in->seq;
	pthread_mutex_lock(&l->mtx);
	TAILQ_INSERT_TAIL(&l->ins, c, entry);
	pthread_mutex_unlock(&l->mtx);
	event_active(l->answer_ev, EV_READ, 0);
}

void
store_link_listen(struct store_link *l, store_in_cb cb, void *arg)
{
	if (l == NULL)
		return;
	l->in_cb = cb;
	l->in_arg = arg;
}

void
store_link_erased(struct store_link *l, long long seq)
{
	pthread_mutex_lock(&l->mtx);
	if (seq > l->erased_done)
		l->erased_done = seq;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}

/* Loop thread: the answers to their askers, then a few changes. */
void
store_ask_answers(int fd, short what, void *arg)
{
	struct store_link	*l = arg;
	struct store_asks	 done;
	struct store_ask	*q;
	struct store_in		*in;
	int			 n, more;

	TAILQ_INIT(&done);
	pthread_mutex_lock(&l->mtx);
	TAILQ_CONCAT(&done, &l->answers, entry);
	pthread_mutex_unlock(&l->mtx);
	while ((q = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, q, entry);
		if (q->kind == STORE_ASK_HISTORY)
			q->cb(q->rc == 0 ? q->doc : NULL, q->arg);
		else
			q->done(q->rc, q->err, q->arg);
		free(q);
	}
	for (n = 0, more = 0; l->in_cb != NULL; n++) {
		pthread_mutex_lock(&l->mtx);
		if ((in = TAILQ_FIRST(&l->ins)) != NULL && n < STORE_IN_BATCH)
			TAILQ_REMOVE(&l->ins, in, entry);
		else
			in = NULL;
		more = !TAILQ_EMPTY(&l->ins);
		pthread_mutex_unlock(&l->mtx);
		if (in == NULL)
			break;
		l->in_cb(in, l->in_arg);
		explicit_bzero(in, sizeof(*in));
		free(in);
	}
	if (more)
		event_active(l->answer_ev, EV_READ, 0);	/* next turn */
}

void
store_ask_free(struct store_link *l)
{
	struct store_ask	*q;
	struct store_in		*in;

	while ((q = TAILQ_FIRST(&l->asks)) != NULL) {
		TAILQ_REMOVE(&l->asks, q, entry);
		free(q);
	}
	while ((q = TAILQ_FIRST(&l->answers)) != NULL) {
		TAILQ_REMOVE(&l->answers, q, entry);
		json_decref(q->doc);
		free(q);
	}
	while ((in = TAILQ_FIRST(&l->ins)) != NULL) {
		TAILQ_REMOVE(&l->ins, in, entry);
		explicit_bzero(in, sizeof(*in));
		free(in);
	}
}

int
store_ask_notified(struct store_link *l, PGconn *conn, char *err,
    size_t errlen)
{
	char		 ids[STORE_NOTIFY_MAX][NAME_LEN];
	PGnotify	*n;
	int		 i, nids = 0, erased = 0;

	if (!PQconsumeInput(conn)) {
		store_oneline(PQerrorMessage(conn), err, errlen);
		return (-1);
	}
	while ((n = PQnotifies(conn)) != NULL) {
		store_health_notified();
		if (strcmp(n->relname, "massaged_erasures") == 0)
			erased = 1;
		else if (nids < STORE_NOTIFY_MAX)
			snprintf(ids[nids++], NAME_LEN, "%s", n->extra);
		else
			ids[0][0] = '\0';	/* too many: fetch them all */
		PQfreemem(n);
	}
	if (erased && store_profile_erasures(l, conn, l->erased_seen, err,
	    errlen) == -1)
		return (-1);
	for (i = 0; i < nids; i++)
		if (store_profile_fetch(l, conn, ids[i], err, errlen) == -1)
			return (-1);
	return (0);
}

void
store_ask_keep_erased(struct store_link *l)
{
	char		 tmp[PATH_MAX + 40];
	long long	 done;
	FILE		*f;
	int		 fd, rc;

	pthread_mutex_lock(&l->mtx);
	done = l->erased_done;
	pthread_mutex_unlock(&l->mtx);
	if (done <= l->erased_kept)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", l->erasures_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		log_warn("store: %s", tmp);
		if (fd != -1)
			close(fd);
		return;
	}
	rc = fprintf(f, "%lld\n", done) < 0 || fflush(f) != 0 ||
	    fdatasync(fd) == -1;
	if (fclose(f) != 0 || rc || rename(tmp, l->erasures_path) == -1) {
		log_warn("store: %s", l->erasures_path);
		unlink(tmp);
		return;
	}
	l->erased_kept = done;
}
