/*
 * record.c: session records, one JSON line per session start and end and
 * per refused start in STATE_DIR/sessions.jsonl.
 *
 * The loop thread builds each line when the session event happens (a
 * snapshot of a few hundred bytes) and queues it; one writer thread
 * appends it with a single write(2) and fdatasync(2)s it. The loop never
 * waits for the disk. A line that cannot be written (a full disk, a
 * read-only file, a missing directory) stays in memory, in order, and is
 * retried every second and before every start; the failure is logged once
 * per kind, counted for /metrics and shown in the status, and new sessions
 * are refused until every waiting line is written (api.c asks with
 * record_reserve() before a start and record_barrier() after it). Lines
 * are lost only when more than RECORD_QUEUE_MAX wait, or when the daemon
 * stops with lines still waiting; both are logged with their count.
 * Barriers and queries travel through the same queue, so a barrier
 * answers only after every line queued before it, and their callbacks come
 * back to the loop thread through event_active() (libevent is set up with
 * evthread_use_pthreads()).
 *
 * Session ids: before a session starts, its id is written to
 * STATE_DIR/session-id (one fixed-size line rewritten in place, so it
 * needs no new disk space); at start-up the next id is one above the
 * highest of that file and the records, so an id is never used twice.
 *
 * Rotation: above [daemon] records_max_bytes, sessions.jsonl is renamed
 * to sessions.jsonl.1 (.1 to .2, ... up to records_keep files) before the
 * next line; a file renamed from outside (logrotate) is noticed at the next
 * line or on SIGHUP (record_reopen()). Queries read every rotated file.
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
 *    "profile": "...", "error": "busy", "reason": "a session is running"}
 *
 * A crash can tear the last line; the reader skips it, and the writer
 * starts its next line on a fresh one. A session whose start is the last
 * session line at startup ended with the daemon: an end line with
 * end_reason "unknown" is appended for it.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "status.h"

#define RECORD_FILE		"sessions.jsonl"
#define RECORD_ID_FILE		"session-id"
#define RECORD_QUEUE_MAX	1024		/* lines waiting for the disk */
#define RECORD_FILES_MAX	1000		/* rotated files read */
#define RECORD_RETRY_MS		1000
#define RECORD_ROOM		16384		/* kept free for a session */
#define RECORD_CHUNK		65536
#define RECORD_LINE_MAX		(4 * 1024 * 1024)
#define RECORD_KINDS		8		/* errnos logged per streak */
#define RECORD_JSON_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(10))

enum rec_type {
	REC_LINE,
	REC_BARRIER,
	REC_QUERY,
	REC_RESERVE,
	REC_REOPEN,
	REC_ERASE	/* line: the profile id */
};

struct rec_item {
	TAILQ_ENTRY(rec_item)	 entry;
	enum rec_type		 type;
	char			*line;		/* REC_LINE, ends in '\n' */
	size_t			 len;
	uint64_t		 session;	/* for the log; REC_RESERVE */
	int			 max_bytes;	/* REC_LINE: rotation */
	int			 keep;
	record_done_cb		 done_cb;	/* REC_BARRIER, REC_RESERVE */
	record_query_cb		 query_cb;	/* REC_QUERY */
	void			*arg;
	struct record_range	 range;
	int			 ok;
	json_t			*result;
};
TAILQ_HEAD(rec_queue, rec_item);

struct record {
	struct event_base	*base;
	struct tick		*c;
	char			 dir[PATH_MAX];
	char			 path[PATH_MAX];
	char			 id_path[PATH_MAX];
	struct event		*done_ev;

	pthread_t		 thread;
	int			 have_thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct rec_queue	 todo;		/* loop -> writer */
	struct rec_queue	 done;		/* writer -> loop */
	int			 quit;

	/* writer thread only */
	struct rec_queue	 pending;	/* lines not yet written */
	int			 npending;
	int			 fd;
	int			 id_fd;
	int			 need_nl;	/* the file ends in a torn line */
	int			 blocked;	/* a session could not start */
	uint64_t		 id_want;	/* the id it reserved */
	int			 overflow_logged;
	int			 max_bytes;	/* rotation, as last queued */
	int			 keep;
	uint64_t		 lost_seen;	/* record_nlost at the last
						   barrier */
	int			 nlogged;
	int			 logged[RECORD_KINDS];
};

static _Atomic uint64_t	 record_errors;
static _Atomic uint64_t	 record_nlost;
static _Atomic unsigned	 record_npending;
static pthread_mutex_t	 record_why_mtx = PTHREAD_MUTEX_INITIALIZER;
static char		 record_why[320];	/* "" while records work */

static void	*record_thread(void *);
static void	 record_done(evutil_socket_t, short, void *);
static void	 record_event(void *, enum session_event);

uint64_t
record_write_errors(void)
{
	return (atomic_load(&record_errors));
}

uint64_t
record_lost(void)
{
	return (atomic_load(&record_nlost));
}

int
record_failing(char *why, size_t whylen, unsigned *pending)
{
	int	 failing;

	pthread_mutex_lock(&record_why_mtx);
	failing = record_why[0] != '\0';
	if (why != NULL)
		snprintf(why, whylen, "%s", record_why);
	pthread_mutex_unlock(&record_why_mtx);
	if (pending != NULL)
		*pending = atomic_load(&record_npending);
	return (failing ? -1 : 0);
}

json_t *
record_status_json(void)
{
	json_t		*o = json_object();
	char		 why[320];
	unsigned	 pending;
	int		 failing = record_failing(why, sizeof(why), &pending);

	json_object_set_new(o, "ok", json_boolean(!failing));
	json_object_set_new(o, "error", failing ? json_string(why) :
	    json_null());
	json_object_set_new(o, "pending", json_integer(pending));
	json_object_set_new(o, "lost", json_integer((json_int_t)record_lost()));
	return (o);
}

static void
record_set_why(const char *why)
{
	pthread_mutex_lock(&record_why_mtx);
	snprintf(record_why, sizeof(record_why), "%s", why);
	pthread_mutex_unlock(&record_why_mtx);
}

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

int
record_time_parse(const char *s, int until, char *out)
{
	struct tm	 tm = { 0 }, want;
	const char	*p;
	char		 buf[96];
	time_t		 t;
	int		 ms = 0, date_only = 0, n;

	if ((p = strptime(s, "%Y-%m-%d", &tm)) == NULL || s[0] < '0' ||
	    s[0] > '9' || p - s != 10)
		return (-1);
	if (*p == '\0')
		date_only = 1;
	else if (*p == 'T' || *p == ' ') {
		const char *q = p + 1;

		if ((p = strptime(q, "%H:%M", &tm)) == NULL || p - q != 5)
			return (-1);
		if (*p == ':') {
			q = p + 1;
			if ((p = strptime(q, "%S", &tm)) == NULL || p - q != 2)
				return (-1);
			if (*p == '.') {
				if (sscanf(p + 1, "%3d%n", &ms, &n) != 1 ||
				    n != 3)
					return (-1);
				p += 4;
			}
		}
		if (*p == 'Z')
			p++;
		if (*p != '\0')
			return (-1);
	} else
		return (-1);
	if (tm.tm_sec > 59)
		return (-1);
	tm.tm_isdst = 0;
	want = tm;
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != want.tm_mday ||
	    tm.tm_mon != want.tm_mon)
		return (-1);		/* 2024-02-31 is not a day */
	if (date_only && until)
		t += 86400;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1970)
		return (-1);
	n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
	if (n < 0 || n >= RECORD_TIME_LEN)
		return (-1);
	memcpy(out, buf, (size_t)n + 1);
	return (0);
}

/* A cursor: "KEY,ID,N", the last item of a page and how many items of
 * that key and id it has answered. */
int
record_cursor_parse(const char *s, struct record_range *range)
{
	char		 key[RECORD_TIME_LEN];
	long long	 id;
	int		 n, used;

	if (strlen(s) < 24 || s[24] != ',')
		return (-1);
	memcpy(key, s, 24);
	key[24] = '\0';
	if (record_time_parse(key, 0, range->cursor_key) == -1 ||
	    strcmp(key, range->cursor_key) != 0)
		return (-1);
	if (sscanf(s + 25, "%lld,%d%n", &id, &n, &used) != 2 ||
	    s[25 + used] != '\0' || id < -1 || n < 1)
		return (-1);
	range->cursor_id = id;
	range->cursor_n = n;
	range->has_cursor = 1;
	return (0);
}

/* kPa to 0.1 kPa, the resolution of the wire. */
static json_t *
record_kpa(double kpa)
{
	return (json_real(round(kpa * 10) / 10));
}

/* A JSON object as one line ending in '\n', or NULL. Consumes o. */
static char *
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
		atomic_fetch_add(&record_nlost, 1);
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
		atomic_fetch_add(&record_nlost, 1);
		return;
	}
	record_queue_line(r, line, len, r->c->session.id);
}

void
record_refused(struct record *r, const char *program, const char *profile,
    const char *error, const char *why)
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
	json_object_set_new(o, "error", json_string(error));
	json_object_set_new(o, "reason", json_string(why));
	if ((line = record_line(o, &len)) == NULL) {
		atomic_fetch_add(&record_nlost, 1);
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

static void
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

static struct rec_item *
record_push(struct record *r, enum rec_type type, void *arg)
{
	struct rec_item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		fatal("record_push");
	it->type = type;
	it->arg = arg;
	return (it);
}

static void
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
record_query(struct record *r, const struct record_range *range,
    record_query_cb cb, void *arg)
{
	struct rec_item	*it = record_push(r, REC_QUERY, arg);

	it->query_cb = cb;
	it->range = *range;
	record_send(r, it);
}

void
record_erase(struct record *r, const char *id, record_done_cb cb, void *arg)
{
	struct rec_item	*it = record_push(r, REC_ERASE, arg);

	if ((it->line = strdup(id)) == NULL)
		fatal("record_erase");
	it->done_cb = cb;
	record_send(r, it);
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

/* --- the writer thread ---------------------------------------------------- */

/* Logs a failure once per errno until the next success; the status says
 * why until then. */
static void
record_fail(struct record *r, int err, const char *what, const char *path,
    uint64_t session)
{
	char	 why[320];
	int	 i;

	snprintf(why, sizeof(why), "session records cannot be written: %s "
	    "%s: %s", what, path, strerror(err));
	record_set_why(why);
	for (i = 0; i < r->nlogged; i++)
		if (r->logged[i] == err)
			return;
	if (r->nlogged < RECORD_KINDS)
		r->logged[r->nlogged++] = err;
	errno = err;
	if (session != 0)
		log_warn("session records: %s %s failed, a line of session "
		    "%llu waits and is retried; new sessions are refused "
		    "until it is written (further failures of this kind are "
		    "only counted)", what, path, (unsigned long long)session);
	else
		log_warn("session records: %s %s failed; new sessions are "
		    "refused until it works", what, path);
}

static void
record_recovered(struct record *r)
{
	if (r->blocked)
		return;		/* lines fit, a session would not */
	record_set_why("");
	if (r->nlogged == 0)
		return;
	log_info("session records: writing %s again (%llu lines lost so "
	    "far)", r->path, (unsigned long long)atomic_load(&record_nlost));
	r->nlogged = 0;
}

static void
record_close_file(struct record *r)
{
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
}

/* The directory, so a new file and a rename survive a power loss. */
static void
record_sync_dir(struct record *r)
{
	int	 fd;

	if ((fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Opens path for writing: created 0640 whatever the umask. */
static int
record_create(struct record *r, const char *path, int flags,
    uint64_t session)
{
	struct stat	 st;
	int		 fd, created = 0;

	if (mkdir(r->dir, 0750) == -1 && errno != EEXIST) {
		record_fail(r, errno, "creating the directory of", path,
		    session);
		return (-1);
	}
	if ((fd = open(path, flags | O_CLOEXEC)) == -1 && errno == ENOENT) {
		fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		created = 1;
	}
	if (fd == -1) {
		record_fail(r, errno, "opening", path, session);
		return (-1);
	}
	if (created) {
		if (fstat(fd, &st) == 0 && (st.st_mode & 07777) != 0640)
			(void)fchmod(fd, 0640);
		record_sync_dir(r);
	}
	return (fd);
}

/* The file to append to; reopened if it was renamed or removed. */
static int
record_open_file(struct record *r, uint64_t session)
{
	struct stat	 a, b;

	if (r->fd != -1 && (stat(r->path, &a) == -1 ||
	    fstat(r->fd, &b) == -1 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev))
		record_close_file(r);
	if (r->fd != -1)
		return (0);
	r->fd = record_create(r, r->path, O_WRONLY | O_APPEND, session);
	return (r->fd == -1 ? -1 : 0);
}

/* sessions.jsonl becomes .1, .1 becomes .2, ..., up to .keep. */
static void
record_rotate(struct record *r, int keep)
{
	char	 from[PATH_MAX + 16], to[PATH_MAX + 16];
	int	 i;

	for (i = keep - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", r->path, i);
		snprintf(to, sizeof(to), "%s.%d", r->path, i + 1);
		if (rename(from, to) == -1 && errno != ENOENT)
			log_warn("session records: rotating %s", from);
	}
	snprintf(to, sizeof(to), "%s.1", r->path);
	if (rename(r->path, to) == -1) {
		log_warn("session records: rotating %s", r->path);
		return;
	}
	record_close_file(r);
	record_sync_dir(r);
	log_info("session records: %s rotated to %s", r->path, to);
}

/* Rotates when len more bytes would take the file above max_bytes. */
static int
record_room(struct record *r, uint64_t session, size_t len)
{
	struct stat	 st;

	if (record_open_file(r, session) == -1)
		return (-1);
	if (!r->need_nl && r->max_bytes > 0 && fstat(r->fd, &st) == 0 &&
	    st.st_size > 0 && st.st_size + (off_t)len > r->max_bytes) {
		record_rotate(r, r->keep);
		if (record_open_file(r, session) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Before a session starts: room on the disk for its lines, allocated past
 * the end of the file (FALLOC_FL_KEEP_SIZE), so a disk that filled up since
 * the last line refuses the start instead of losing its record. Where the
 * file system cannot allocate ahead, the start line's own write decides.
 */
static int
record_make_room(struct record *r)
{
	struct stat	 st;

	if (record_room(r, 0, RECORD_ROOM) == -1)
		return (-1);
	if (fstat(r->fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    fallocate(r->fd, FALLOC_FL_KEEP_SIZE, st.st_size,
	    RECORD_ROOM) == 0 || errno == EOPNOTSUPP || errno == ENOSYS) {
		if (r->blocked) {
			r->blocked = 0;
			record_recovered(r);
		}
		return (0);
	}
	r->blocked = 1;
	record_fail(r, errno, "allocating room in", r->path, 0);
	record_close_file(r);
	return (-1);
}

/* Writes one line with one write(2) and puts it on disk; -1 if not. */
static int
record_write(struct record *r, struct rec_item *it)
{
	char		*buf = it->line;
	size_t		 len = it->len, off = 0;
	ssize_t		 n;
	int		 nl = r->need_nl;

	if (record_room(r, it->session, len) == -1)
		return (-1);
	if (nl) {
		/* The line before was torn: start on a fresh one. */
		if ((buf = malloc(len + 1)) == NULL) {
			record_fail(r, ENOMEM, "writing", r->path,
			    it->session);
			return (-1);
		}
		buf[0] = '\n';
		memcpy(buf + 1, it->line, len);
		len++;
	}
	while (off < len) {
		if ((n = write(r->fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			record_fail(r, errno, "writing", r->path,
			    it->session);
			if (off > 0)
				r->need_nl = 1;
			goto fail_close;
		}
		off += (size_t)n;
	}
	r->need_nl = 0;
	if (fdatasync(r->fd) == -1) {
		record_fail(r, errno, "flushing", r->path, it->session);
		goto fail_close;
	}
	if (nl)
		free(buf);
	return (0);

fail_close:
	/* Reopen next time: the file or its filesystem may be fixed. */
	record_close_file(r);
	if (nl)
		free(buf);
	return (-1);
}

/* Writes the lines waiting, in order, up to the first that fails; 0 when
 * none is left. */
static int
record_flush(struct record *r)
{
	struct rec_item	*it;

	while ((it = TAILQ_FIRST(&r->pending)) != NULL) {
		if (record_write(r, it) == -1)
			return (-1);
		TAILQ_REMOVE(&r->pending, it, entry);
		r->npending--;
		atomic_store(&record_npending, (unsigned)r->npending);
		record_free_item(it);
	}
	r->overflow_logged = 0;
	record_recovered(r);
	return (0);
}

/* A new line: after those already waiting. */
static void
record_add(struct record *r, struct rec_item *it)
{
	r->max_bytes = it->max_bytes;
	r->keep = it->keep;
	if (r->npending >= RECORD_QUEUE_MAX) {
		if (!r->overflow_logged)
			log_warnx("session records: %d lines wait for %s; new "
			    "lines are lost until they are written (counted in "
			    "massaged_record_lost_total)", RECORD_QUEUE_MAX,
			    r->path);
		r->overflow_logged = 1;
		atomic_fetch_add(&record_nlost, 1);
		atomic_fetch_add(&record_errors, 1);
		record_free_item(it);
		return;
	}
	TAILQ_INSERT_TAIL(&r->pending, it, entry);
	r->npending++;
	atomic_store(&record_npending, (unsigned)r->npending);
	if (record_flush(r) == -1)
		atomic_fetch_add(&record_errors, 1);	/* not at its first try */
}

/* STATE_DIR/session-id: the last id that may have been used, rewritten in
 * place (a fixed size), so it never needs new space on the disk. */
static int
record_write_id(struct record *r, uint64_t id)
{
	char	 buf[32];
	int	 n;

	if (r->id_fd == -1 &&
	    (r->id_fd = record_create(r, r->id_path, O_RDWR, 0)) == -1)
		return (-1);
	n = snprintf(buf, sizeof(buf), "%020" PRIu64 "\n", id);
	if (pwrite(r->id_fd, buf, (size_t)n, 0) != n) {
		record_fail(r, errno != 0 ? errno : EIO, "writing",
		    r->id_path, 0);
		goto fail;
	}
	if (fdatasync(r->id_fd) == -1) {
		record_fail(r, errno, "flushing", r->id_path, 0);
		goto fail;
	}
	return (0);
fail:
	r->blocked = 1;
	close(r->id_fd);
	r->id_fd = -1;
	return (-1);
}

/* What a start needs: its id on disk and room for its lines. */
static int
record_prepare(struct record *r)
{
	return (record_write_id(r, r->id_want) == 0 &&
	    record_make_room(r) == 0 ? 0 : -1);
}
/*
 * Calls fn on each complete line of path from the last to the first, until
 * it returns nonzero (then 1). A last line without its newline is torn and
 * skipped.
 */
static int
record_scan(const char *path, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	struct stat	 st;
	char		*buf = NULL, *carry = NULL, *p, *end;
	size_t		 ncarry = 0, n;
	off_t		 off;
	ssize_t		 got;
	int		 fd, first = 1, stop = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || (buf = malloc(RECORD_CHUNK)) == NULL) {
		close(fd);
		return (-1);
	}
	off = st.st_size;
	while (off > 0 && !stop) {
		char	*data;
		size_t	 ndata;

		n = off > RECORD_CHUNK ? RECORD_CHUNK : (size_t)off;
		off -= (off_t)n;
		if ((got = pread(fd, buf, n, off)) != (ssize_t)n)
			break;
		if ((data = malloc(n + ncarry + 1)) == NULL)
			break;
		memcpy(data, buf, n);
		if (ncarry > 0)
			memcpy(data + n, carry, ncarry);
		ndata = n + ncarry;
		data[ndata] = '\0';
		free(carry);
		carry = NULL;
		ncarry = 0;

		end = data + ndata;
		if (first) {
			/* What follows the last newline is a torn line. */
			for (p = end; p > data && p[-1] != '\n'; p--)
				;
			if (p > data || off == 0) {
				if (p < end)
					log_debug("session records: %s ends "
					    "in a torn line (%zu bytes), "
					    "skipped", path,
					    (size_t)(end - p));
				end = p;
				first = 0;
			}
		}
		/* Complete lines are those after a newline in this chunk. */
		while (!first && end > data && !stop) {
			char	*q = end - 1;		/* its newline */

			for (p = q; p > data && p[-1] != '\n'; p--)
				;
			if (p == data && off > 0)
				break;			/* may go on before */
			*q = '\0';
			stop = fn(p, (size_t)(q - p), arg);
			end = p;
		}
		if (!stop && end > data) {
			ncarry = (size_t)(end - data);
			if (ncarry > RECORD_LINE_MAX) {
				log_debug("session records: a line of %s is "
				    "longer than %d bytes, skipped", path,
				    RECORD_LINE_MAX);
				ncarry = 0;
			} else if ((carry = malloc(ncarry)) != NULL)
				memcpy(carry, data, ncarry);
			else
				ncarry = 0;
		}
		free(data);
	}
	free(carry);
	free(buf);
	close(fd);
	return (stop);
}

/* record_scan() over sessions.jsonl, then .1, .2, ...: newest first. */
static void
record_scan_all(struct record *r, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	char	 path[PATH_MAX + 16];
	int	 i, rc;

	for (i = 0; i <= RECORD_FILES_MAX; i++) {
		if (i == 0)
			snprintf(path, sizeof(path), "%s", r->path);
		else
			snprintf(path, sizeof(path), "%s.%d", r->path, i);
		if ((rc = record_scan(path, fn, arg)) == 1)
			break;
		if (rc == -1 && errno != ENOENT)
			log_warn("session records: cannot read %s", path);
		if (rc == -1 && errno == ENOENT && i > 0)
			break;
	}
}

/* A parsed line, or NULL (with a debug log) if it is not a record. */
static json_t *
record_parse(const char *line, size_t len, const char *path)
{
	json_error_t	 err;
	json_t		*o, *id;
	const char	*phase;

	if (len == 0)
		return (NULL);		/* the newline after a torn line */
	o = json_loadb(line, len, 0, &err);
	if (o == NULL || !json_is_object(o) ||
	    (phase = json_string_value(json_object_get(o, "phase"))) == NULL ||
	    !json_is_string(json_object_get(o, "start")) ||
	    ((id = json_object_get(o, "id")) == NULL || !(json_is_integer(id) ||
	    (json_is_null(id) && strcmp(phase, "refused") == 0))) ||
	    (strcmp(phase, "start") != 0 && strcmp(phase, "end") != 0 &&
	    strcmp(phase, "refused") != 0)) {
		log_debug("session records: corrupt line in %s skipped: %.60s",
		    path, line);
		if (o != NULL)
			json_decref(o);
		return (NULL);
	}
	return (o);
}

struct record_cand {
	json_t		*o;
	const char	*key;		/* its start, in o */
	long long	 id;		/* -1: a refused start */
	size_t		 order;		/* in the files, newest first */
};

struct record_q {
	const struct record_range *range;
	const char	*path;
	json_t		*seen;		/* "id start" of sessions answered */
	struct record_cand *cand;
	size_t		 ncand, cap;
	size_t		 nscan;
	int		 eq_seen;	/* items equal to the cursor */
	char		 min_key[RECORD_TIME_LEN];
	json_t		*last;		/* record_last_line() */
	int		 sessions_only;
};

static int
record_cand_cmp(const void *a, const void *b)
{
	const struct record_cand	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(y->key, x->key)) != 0)
		return (c);
	if (x->id != y->id)
		return (x->id < y->id ? 1 : -1);
	return (x->order < y->order ? -1 : x->order > y->order);
}

/* After the cursor: older, or equal and not yet answered. */
static int
record_after_cursor(struct record_q *q, const char *key, long long id)
{
	const struct record_range	*rg = q->range;
	int				 c;

	if (!rg->has_cursor)
		return (1);
	if ((c = strcmp(key, rg->cursor_key)) != 0)
		return (c < 0);
	if (id != rg->cursor_id)
		return (id < rg->cursor_id);
	return (++q->eq_seen > rg->cursor_n);
}

static int
record_query_line(const char *line, size_t len, void *arg)
{
	struct record_q			*q = arg;
	const struct record_range	*rg = q->range;
	struct record_cand		*c;
	json_t				*o, *idv;
	const char			*phase, *key, *written;
	char				 skey[96];
	long long			 id;

	if ((o = record_parse(line, len, q->path)) == NULL)
		return (0);
	phase = json_string_value(json_object_get(o, "phase"));
	key = json_string_value(json_object_get(o, "start"));
	written = json_string_value(json_object_get(o, "end"));
	if (written == NULL)
		written = key;
	idv = json_object_get(o, "id");
	id = json_is_integer(idv) ? (long long)json_integer_value(idv) : -1;
	/* Every line before this one was written before it. */
	if ((rg->since[0] != '\0' && strcmp(written, rg->since) < 0) ||
	    (q->ncand > (size_t)rg->limit &&
	    strcmp(written, q->min_key) < 0)) {
		json_decref(o);
		return (1);
	}
	if (strcmp(phase, "refused") != 0) {
		snprintf(skey, sizeof(skey), "%lld %s", id, key);
		if (json_object_get(q->seen, skey) != NULL) {
			json_decref(o);
			return (0);
		}
		json_object_set_new(q->seen, skey, json_true());
	}
	if ((rg->since[0] != '\0' && strcmp(key, rg->since) < 0) ||
	    (rg->until[0] != '\0' && strcmp(key, rg->until) >= 0) ||
	    !record_after_cursor(q, key, id)) {
		json_decref(o);
		return (0);
	}
	if (q->ncand == q->cap) {
		size_t	 ncap = q->cap == 0 ? 64 : q->cap * 2;
		void	*p = reallocarray(q->cand, ncap, sizeof(*q->cand));

		if (p == NULL) {
			json_decref(o);
			return (1);
		}
		q->cand = p;
		q->cap = ncap;
	}
	c = &q->cand[q->ncand++];
	c->o = o;
	c->key = key;
	c->id = id;
	c->order = q->nscan++;
	if (q->ncand == 1 || strcmp(key, q->min_key) < 0)
		snprintf(q->min_key, sizeof(q->min_key), "%s", key);
	return (0);
}

static json_t *
record_read(struct record *r, const struct record_range *rg)
{
	struct record_q	 q = { 0 };
	json_t		*doc, *out, *next = json_null();
	size_t		 i, n;
	int		 same = 0;

	q.range = rg;
	q.path = r->path;
	q.seen = json_object();
	record_scan_all(r, record_query_line, &q);
	json_decref(q.seen);
	if (q.ncand > 0)
		qsort(q.cand, q.ncand, sizeof(*q.cand), record_cand_cmp);
	n = q.ncand < (size_t)rg->limit ? q.ncand : (size_t)rg->limit;
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append(out, q.cand[i].o);
	if (n > 0 && q.ncand > n) {
		const struct record_cand *l = &q.cand[n - 1];
		char	 buf[96];

		for (i = 0; i < n; i++)
			if (strcmp(q.cand[i].key, l->key) == 0 &&
			    q.cand[i].id == l->id)
				same++;
		if (rg->has_cursor && strcmp(rg->cursor_key, l->key) == 0 &&
		    rg->cursor_id == l->id)
			same += rg->cursor_n;
		snprintf(buf, sizeof(buf), "%s,%lld,%d", l->key, l->id, same);
		next = json_string(buf);
	}
	for (i = 0; i < q.ncand; i++)
		json_decref(q.cand[i].o);
	free(q.cand);
	doc = json_object();
	json_object_set_new(doc, "sessions", out);
	json_object_set_new(doc, "next_cursor", next);
	return (doc);
}

/* The last session line (not a refused start). */
static int
record_last_line(const char *line, size_t len, void *arg)
{
	struct record_q	*q = arg;
	json_t		*o;

	if ((o = record_parse(line, len, q->path)) == NULL)
		return (0);
	if (!json_is_integer(json_object_get(o, "id"))) {
		json_decref(o);
		return (0);
	}
	q->last = o;
	return (1);
}

uint64_t
record_last_id(struct record *r)
{
	struct record_q	 q = { 0 };
	uint64_t	 id = 0, reserved = 0;
	char		 buf[64];
	ssize_t		 n;
	int		 fd;

	q.path = r->path;
	record_scan_all(r, record_last_line, &q);
	if (q.last != NULL) {
		id = (uint64_t)json_integer_value(json_object_get(q.last, "id"));
		json_decref(q.last);
	}
	if ((fd = open(r->id_path, O_RDONLY | O_CLOEXEC)) != -1) {
		if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
			buf[n] = '\0';
			reserved = strtoull(buf, NULL, 10);
		}
		close(fd);
	}
	return (reserved > id ? reserved : id);
}

/*
 * At startup: note a torn last line, and end a session whose start is the
 * last session line (the daemon stopped without recording its end). That
 * end line waits and is retried like any other.
 */
static void
record_recover(struct record *r)
{
	struct record_q	 q = { 0 };
	struct stat	 st;
	struct rec_item	*it;
	json_t		*o;
	char		 c;
	int		 fd;

	if ((fd = open(r->path, O_RDONLY | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0 && st.st_size > 0 &&
		    S_ISREG(st.st_mode) &&
		    pread(fd, &c, 1, st.st_size - 1) == 1 && c != '\n') {
			log_warnx("session records: the last line of %s is "
			    "torn (a crash while writing); it is skipped",
			    r->path);
			r->need_nl = 1;
		}
		close(fd);
	}
	q.path = r->path;
	record_scan_all(r, record_last_line, &q);
	if ((o = q.last) == NULL)
		return;
	if (strcmp(json_string_value(json_object_get(o, "phase")),
	    "start") != 0) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "phase", json_string("end"));
	json_object_set_new(o, "end_reason", json_string("unknown"));
	json_object_set_new(o, "stop_message", json_string("massaged "
	    "stopped without recording the end of this session (a crash or a "
	    "power loss); the controllers' watchdogs vent when the daemon "
	    "stops"));
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		json_decref(o);
		return;
	}
	it->type = REC_LINE;
	it->session = (uint64_t)json_integer_value(json_object_get(o, "id"));
	it->max_bytes = r->max_bytes;
	it->keep = r->keep;
	log_warnx("session records: session %llu has no end record; "
	    "recording it as ended for an unknown reason",
	    (unsigned long long)it->session);
	if ((it->line = record_line(o, &it->len)) == NULL) {
		free(it);
		return;
	}
	record_add(r, it);
}

/* The writer: lines, barriers, reservations and queries in order; lines
 * that wait are retried every RECORD_RETRY_MS. */
static void *
record_thread(void *arg)
{
	struct record	*r = arg;
	struct rec_item	*it;
	struct timespec	 ts;
	int		 notify, quitting;

	record_recover(r);
	if (TAILQ_EMPTY(&r->pending) && record_open_file(r, 0) == 0)
		log_debug("session records: appending to %s", r->path);
	pthread_mutex_lock(&r->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&r->todo) && !r->quit) {
			if (TAILQ_EMPTY(&r->pending) && !r->blocked) {
				pthread_cond_wait(&r->cond, &r->mtx);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += RECORD_RETRY_MS / 1000;
			if (pthread_cond_timedwait(&r->cond, &r->mtx, &ts) ==
			    ETIMEDOUT) {
				pthread_mutex_unlock(&r->mtx);
				if (record_flush(r) == 0 && r->blocked)
					(void)record_prepare(r);
				pthread_mutex_lock(&r->mtx);
			}
		}
		if ((it = TAILQ_FIRST(&r->todo)) == NULL)
			break;		/* quit, and all is done */
		TAILQ_REMOVE(&r->todo, it, entry);
		quitting = r->quit;
		pthread_mutex_unlock(&r->mtx);

		notify = 0;
		switch (it->type) {
		case REC_LINE:
			record_add(r, it);
			break;
		case REC_BARRIER: {
			uint64_t lost = atomic_load(&record_nlost);

			/* Lines lost before the queue count too. */
			it->ok = record_flush(r) == 0 && lost == r->lost_seen;
			r->lost_seen = lost;
			notify = 1;
			break;
		}
		case REC_RESERVE:
			r->max_bytes = it->max_bytes;
			r->keep = it->keep;
			r->id_want = it->session;
			it->ok = record_flush(r) == 0 &&
			    record_prepare(r) == 0;
			notify = 1;
			break;
		case REC_REOPEN:
			record_close_file(r);
			if (r->id_fd != -1)
				close(r->id_fd);
			r->id_fd = -1;
			(void)record_flush(r);
			log_info("session records: %s reopened", r->path);
			record_free_item(it);
			break;
		case REC_ERASE:
			/* The file is rewritten: append to the new one. */
			record_close_file(r);
			it->ok = record_erase_dir(r->dir, RECORD_FILE,
			    it->line) == 0;
			notify = 1;
			break;
		case REC_QUERY:
			/* Shutting down: answer, but do not read. */
			if (!quitting)
				it->result = record_read(r, &it->range);
			notify = 1;
			break;
		}

		pthread_mutex_lock(&r->mtx);
		if (notify) {
			TAILQ_INSERT_TAIL(&r->done, it, entry);
			/* Not under our lock: event_active() takes the base's. */
			pthread_mutex_unlock(&r->mtx);
			event_active(r->done_ev, EV_READ, 0);
			pthread_mutex_lock(&r->mtx);
		}
	}
	pthread_mutex_unlock(&r->mtx);
	if (record_flush(r) == -1) {
		log_warnx("session records: %d lines could not be written to "
		    "%s before the daemon stopped and are lost", r->npending,
		    r->path);
		atomic_fetch_add(&record_nlost, (uint64_t)r->npending);
		while ((it = TAILQ_FIRST(&r->pending)) != NULL) {
			TAILQ_REMOVE(&r->pending, it, entry);
			record_free_item(it);
		}
	}
	return (NULL);
}
