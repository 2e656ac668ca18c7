/*
 * record.c: session records, one JSON line per session start and end and
 * per refused start in STATE_DIR/sessions.jsonl; this file is the loop
 * thread's side of them.
 *
 * The loop thread builds each line when the session event happens (a
 * snapshot of a few hundred bytes) and queues it; one writer thread
 * (record-writer.c) appends it with a single write(2) and fdatasync(2)s
 * it. The loop never waits for the disk. A line that cannot be written
 * waits in memory and is retried, and new sessions are refused until every
 * waiting line is written (api.c asks with record_reserve() before a start
 * and record_barrier() after it). Barriers, queries (record-query.c) and
 * erasures (record-erase.c) travel through the same queue, so a barrier
 * answers only after every line queued before it, and their callbacks come
 * back to the loop thread through event_active() (libevent is set up with
 * evthread_use_pthreads()). record-status.c keeps what the status and
 * /metrics say about them.
 *
 * Each line is self-contained:
 *   {"id": 3, "phase": "start"|"end", "profile": "standard",
 *    "profile_revision": 2 (0: a file without one), "client": "Anna",
 *    "program": "piriformis_relief", "start": "2024-05-01T12:00:00.000Z",
 *    "end": ... | null, "end_reason": "operator" | null,
 *    "stop_category": 1 | null, "stop_message": "..." | null,
 *    "active_s": 612.3 | null, "peak_kpa": {"zone": kPa} | null,
 *    "step": {"index": 2, "count": 5, "name": "..."} | null,
 *    "limits": {"zone": kPa}, "excluded": ["zone", ...],
 *    "ramp_kpa_s": 6.0, "max_session_s": 3600.0, "intensity_pct": 75,
 *    "intensity_changes": [{"time": "...", "pct": 60, "by": "tablet-2"}],
 *    "conditions": ["varicose_veins"]}
 * and a refused start:
 *   {"id": null, "phase": "refused", "start": "...", "program": "...",
 *    "profile": "...", "started_by": "tablet-2" (who tried), "error":
 *    "busy", "reason": "a session is running"}
 */
#include <sys/queue.h>

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "clock.h"
#include "log.h"
#include "tick.h"
#include "record.h"
#include "record-private.h"
#include "status.h"
#include "store-link.h"

static void	 record_done(evutil_socket_t, short, void *);
static void	 record_event(void *, enum session_event);

/* ISO 8601 UTC with milliseconds, or JSON null for 0. */
static json_t *
record_time(double wall)
{
	struct tm	 tm;
	time_t		 t;
	char		 buf[96];
	long		 ms;

	if (wall <= 0)
		return (json_null());
	t = (time_t)floor(wall);
	ms = lround((wall - (double)t) * 1000);
	if (ms > 999)
		ms = 999;
	if (gmtime_r(&t, &tm) == NULL)
		return (json_null());
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
	return (json_string(buf));
}

/* kPa to 0.1 kPa, the resolution of the wire. */
static json_t *
record_kpa(double kpa)
{
	return (json_real(round(kpa * 10) / 10));
}

/* A JSON object as one line ending in '\n', or NULL. Consumes o. */
char *
record_line(json_t *o, size_t *lenp)
{
	char	*line, *nl;
	size_t	 len;

	line = json_dumps(o, RECORD_JSON_FLAGS);
	json_decref(o);
	if (line == NULL)
		return (NULL);
	len = strlen(line);
	if ((nl = realloc(line, len + 2)) == NULL) {
		free(line);
		return (NULL);
	}
	nl[len++] = '\n';
	nl[len] = '\0';
	*lenp = len;
	return (nl);
}

/* The step reached: the one running when the session ended. */
static json_t *
record_step(const struct session *s)
{
	json_t	*o;
	int	 i = s->step;

	if (s->prog.nsteps <= 0)
		return (json_null());
	if (i >= s->prog.nsteps)
		i = s->prog.nsteps - 1;
	o = json_object();
	json_object_set_new(o, "index", json_integer(i));
	json_object_set_new(o, "count", json_integer(s->prog.nsteps));
	json_object_set_new(o, "name", json_string(s->prog.steps[i].name));
	return (o);
}

/* The line of a session event, built on the loop thread. */
static char *
record_snapshot(struct record *r, int end, size_t *lenp)
{
	const struct session	*s = &r->c->session;
	const struct table	*t = r->c->cfg->table;
	json_t			*o, *lim, *excl, *peak, *cond, *chg, *x;
	int			 i;

	o = json_object();
	json_object_set_new(o, "id", json_integer((json_int_t)s->id));
	json_object_set_new(o, "table", json_string(t->name));
	json_object_set_new(o, "phase", json_string(end ? "end" : "start"));
	json_object_set_new(o, "profile", json_string(s->prof.id));
	json_object_set_new(o, "profile_revision",
	    json_integer(s->prof.revision));
	json_object_set_new(o, "client", json_string(s->prof.name));
	json_object_set_new(o, "program", json_string(s->prog.id));
	json_object_set_new(o, "start", record_time(s->started_wall));
	json_object_set_new(o, "started_by", status_actor(s->started_by));
	json_object_set_new(o, "stopped_by", end ? status_actor(s->stopped_by) :
	    json_null());
	json_object_set_new(o, "reset_by",
	    status_actor(s->after_reset_by));
	json_object_set_new(o, "end", end ? record_time(s->ended_wall) :
	    json_null());
	if (end)
		status_stop_set(o, s, "end_reason", "stop_category",
		    "stop_message");
	else {
		json_object_set_new(o, "end_reason", json_null());
		json_object_set_new(o, "stop_category", json_null());
		json_object_set_new(o, "stop_message", json_null());
	}
	json_object_set_new(o, "active_s", end ?
	    json_real(round(s->active_s * 10) / 10) : json_null());

	lim = json_object();
	excl = json_array();
	peak = end ? json_object() : json_null();
	for (i = 0; i < t->nzones && i < s->lim.nzones; i++) {
		json_object_set_new(lim, t->zones[i].name,
		    record_kpa(s->lim.excluded[i] ? 0 : s->lim.limit_kpa[i]));
		if (s->lim.excluded[i])
			json_array_append_new(excl,
			    json_string(t->zones[i].name));
	}
	for (i = 0; end && i < t->nzones; i++)
		json_object_set_new(peak, t->zones[i].name,
		    record_kpa(s->peak_kpa[i]));
	json_object_set_new(o, "peak_kpa", peak);
	json_object_set_new(o, "step", end ? record_step(s) : json_null());
	json_object_set_new(o, "limits", lim);
	json_object_set_new(o, "excluded", excl);
	json_object_set_new(o, "ramp_kpa_s", json_real(s->lim.ramp_kpa_s));
	json_object_set_new(o, "max_session_s",
	    json_real(s->lim.max_session_s));
	json_object_set_new(o, "intensity_pct",
	    json_integer(s->intensity_pct));
	chg = json_array();
	for (i = 0; i < s->nchanges && i < SESSION_CHANGES_MAX; i++) {
		x = json_object();
		json_object_set_new(x, "time", record_time(s->changes[i].wall));
		json_object_set_new(x, "pct", json_integer(s->changes[i].pct));
		if (s->changes[i].by[0] != '\0')
			json_object_set_new(x, "by",
			    json_string(s->changes[i].by));
		json_array_append_new(chg, x);
	}
	json_object_set_new(o, "intensity_changes", chg);
	if (s->nchanges > SESSION_CHANGES_MAX)
		json_object_set_new(o, "intensity_changes_dropped",
		    json_integer(s->nchanges - SESSION_CHANGES_MAX));
	cond = json_array();
	for (i = 0; i < s->prof.nconditions; i++)
		json_array_append_new(cond, json_string(s->prof.conditions[i]));
	json_object_set_new(o, "conditions", cond);
	return (record_line(o, lenp));
}

/* Queues a line for the writer (loop thread); frees it if it cannot. */
static void
record_queue_line(struct record *r, char *line, size_t len, uint64_t session)
{
	const struct table	*t = r->c->cfg->table;
	struct rec_item		*it;

	if ((it = calloc(1, sizeof(*it))) == NULL) {
		log_warnx("session records: out of memory, a line of session "
		    "%llu is lost", (unsigned long long)session);
		record_count_lost(1);
		free(line);
		return;
	}
	it->type = REC_LINE;
	it->line = line;
	it->len = len;
	it->session = session;
	it->max_bytes = t->records_max_bytes;
	it->keep = t->records_keep;
	pthread_mutex_lock(&r->mtx);
	TAILQ_INSERT_TAIL(&r->todo, it, entry);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
}

static void
record_event(void *arg, enum session_event ev)
{
	struct record	*r = arg;
	char		*line;
	size_t		 len;
	int		 end;

	if (ev == SESSION_EV_STARTED)
		end = 0;
	else if (ev == SESSION_EV_STOPPED)
		end = 1;
	else
		return;
	if ((line = record_snapshot(r, end, &len)) == NULL) {
		log_warnx("session records: out of memory, session %llu %s "
		    "not recorded", (unsigned long long)r->c->session.id,
		    end ? "end" : "start");
		record_count_lost(1);
		return;
	}
	record_queue_line(r, line, len, r->c->session.id);
}

void
record_refused(struct record *r, const char *program, const char *profile,
    const char *actor, const char *error, const char *why)
{
	json_t	*o;
	char	*line;
	size_t	 len;

	if (r == NULL)
		return;
	o = json_object();
	json_object_set_new(o, "id", json_null());
	json_object_set_new(o, "phase", json_string("refused"));
	json_object_set_new(o, "start", record_time(clock_real_s()));
	json_object_set_new(o, "program", program != NULL ?
	    json_string(program) : json_null());
	json_object_set_new(o, "profile", profile != NULL ?
	    json_string(profile) : json_null());
	json_object_set_new(o, "started_by", status_actor(actor != NULL ?
	    actor : ""));
	json_object_set_new(o, "error", json_string(error));
	json_object_set_new(o, "reason", json_string(why));
	if ((line = record_line(o, &len)) == NULL) {
		record_count_lost(1);
		return;
	}
	record_queue_line(r, line, len, 0);
}

struct record *
record_open(struct event_base *base, struct tick *c)
{
	struct tick_observer	 o = { 0 };
	struct record		*r;
	const char		*dir = c->cfg->table->state_dir;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("record_open");
	r->base = base;
	r->c = c;
	r->fd = -1;
	r->id_fd = -1;
	r->max_bytes = c->cfg->table->records_max_bytes;
	r->keep = c->cfg->table->records_keep;
	TAILQ_INIT(&r->todo);
	TAILQ_INIT(&r->done);
	TAILQ_INIT(&r->pending);
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	if ((size_t)snprintf(r->path, sizeof(r->path), "%s/%s", dir,
	    RECORD_FILE) >= sizeof(r->path) - 8 ||
	    (size_t)snprintf(r->id_path, sizeof(r->id_path), "%s/%s", dir,
	    RECORD_ID_FILE) >= sizeof(r->id_path))
		log_warnx("session records: state_dir %s is too long", dir);
	pthread_mutex_init(&r->mtx, NULL);
	pthread_cond_init(&r->cond, NULL);
	if ((r->done_ev = event_new(base, -1, 0, record_done, r)) == NULL)
		fatalx("record_open: event_new failed");
	if (pthread_create(&r->thread, NULL, record_thread, r) != 0)
		fatalx("record_open: cannot start the writer thread");
	r->have_thread = 1;

	o.arg = r;
	o.event = record_event;
	tick_observe(c, &o);
	return (r);
}

void
record_free_item(struct rec_item *it)
{
	free(it->line);
	if (it->result != NULL)
		json_decref(it->result);
	free(it);
}

/*
 * Ends the writer after it has written every queued line (or tried to).
 * Callbacks still pending are dropped, not called: the loop is over and
 * their owners (api.c) have freed what they passed.
 */
void
record_close(struct record *r)
{
	struct rec_item	*it;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mtx);
	r->quit = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
	if (r->have_thread)
		pthread_join(r->thread, NULL);
	while ((it = TAILQ_FIRST(&r->done)) != NULL) {
		TAILQ_REMOVE(&r->done, it, entry);
		record_free_item(it);
	}
	event_free(r->done_ev);
	if (r->fd != -1)
		close(r->fd);
	if (r->id_fd != -1)
		close(r->id_fd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mtx);
	free(r);
}

struct rec_item *
record_push(struct record *r, enum rec_type type, void *arg)
{
	struct rec_item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		fatal("record_push");
	it->type = type;
	it->arg = arg;
	return (it);
}

void
record_send(struct record *r, struct rec_item *it)
{
	pthread_mutex_lock(&r->mtx);
	TAILQ_INSERT_TAIL(&r->todo, it, entry);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
}

void
record_barrier(struct record *r, record_done_cb cb, void *arg)
{
	struct rec_item	*it = record_push(r, REC_BARRIER, arg);

	it->done_cb = cb;
	record_send(r, it);
}

void
record_reserve(struct record *r, uint64_t id, record_done_cb cb, void *arg)
{
	struct rec_item	*it = record_push(r, REC_RESERVE, arg);

	it->done_cb = cb;
	it->session = id;
	it->max_bytes = r->c->cfg->table->records_max_bytes;
	it->keep = r->c->cfg->table->records_keep;
	record_send(r, it);
}

void
record_reopen(struct record *r)
{
	if (r != NULL)
		record_send(r, record_push(r, REC_REOPEN, NULL));
}

void
record_set_store(struct record *r, struct store_link *l)
{
	r->store = l;
}

/* A query the store is asked first: what to ask the files instead. */
struct record_ask {
	struct record		*r;
	struct record_range	 range;
	record_query_cb		 cb;
	void			*arg;
};

/* The answer of this table's files: says so. */
static void
record_local_answer(json_t *doc, void *arg)
{
	struct record_ask	*q = arg;

	json_object_set_new(doc, "source", json_string("table"));
	q->cb(doc, q->arg);
	free(q);
}

static void
record_local(struct record *r, struct record_ask *q)
{
	struct rec_item	*it = record_push(r, REC_QUERY, q);

	it->query_cb = record_local_answer;
	it->range = q->range;
	it->range.local = 1;
	record_send(r, it);
}

/* The store's answer, or NULL: then the table's own files answer. */
static void
record_store_answer(json_t *doc, void *arg)
{
	struct record_ask	*q = arg;

	if (doc == NULL) {
		record_local(q->r, q);
		return;
	}
	json_object_set_new(doc, "source", json_string("store"));
	q->cb(doc, q->arg);
	free(q);
}

void
record_query(struct record *r, const struct record_range *range,
    record_query_cb cb, void *arg)
{
	struct record_ask	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("record_query");
	q->r = r;
	q->range = *range;
	q->cb = cb;
	q->arg = arg;
	if (r->store != NULL && !range->local &&
	    store_link_query(r->store, range, record_store_answer, q) == 0)
		return;
	record_local(r, q);
}

/* Loop thread: hands barrier and query results to their owners. */
static void
record_done(evutil_socket_t fd, short what, void *arg)
{
	struct record		*r = arg;
	struct rec_queue	 q;
	struct rec_item		*it;

	TAILQ_INIT(&q);
	pthread_mutex_lock(&r->mtx);
	TAILQ_CONCAT(&q, &r->done, entry);
	pthread_mutex_unlock(&r->mtx);
	while ((it = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, it, entry);
		if (it->type == REC_BARRIER || it->type == REC_RESERVE ||
		    it->type == REC_ERASE)
			it->done_cb(it->ok, it->arg);
		else if (it->type == REC_QUERY) {
			json_t *res = it->result;

			if (res == NULL) {
				res = json_object();
				json_object_set_new(res, "sessions",
				    json_array());
				json_object_set_new(res, "next_cursor",
				    json_null());
			}
			it->result = NULL;
			it->query_cb(res, it->arg);
		}
		record_free_item(it);
	}
}
