/*
 * record.c: session records, one JSON line per session start and end in
 * STATE_DIR/sessions.jsonl.
 *
 * The loop thread builds each line when the session event happens (a
 * snapshot of a few hundred bytes) and queues it; one writer thread
 * appends it with a single write(2) and fdatasync(2)s it. The loop never
 * waits for the disk: a full disk, a read-only file or a missing
 * directory is logged once per kind, counted for /metrics, and the line is
 * lost. Barriers and queries travel through the same queue, so a barrier
 * answers only after every line queued before it, and their callbacks come
 * back to the loop thread through event_active() (libevent is set up with
 * evthread_use_pthreads()).
 *
 * Each line is self-contained:
 *   {"id": 3, "phase": "start"|"end", "profile": "standard",
 *    "profile_revision": 2 (0: a file without one), "client": "Anna",
 *    "program": "piriformis_relief", "start": "2024-05-01T12:00:00.000Z",
 *    "end": ... | null, "end_reason": "operator" | null,
 *    "stop_category": 1 | null, "stop_message": "..." | null,
 *    "active_s": 612.3 | null, "peak_kpa": {"zone": kPa} | null,
 *    "limits": {"zone": kPa}, "excluded": ["zone", ...],
 *    "ramp_kpa_s": 6.0, "max_session_s": 3600.0, "intensity_pct": 75,
 *    "conditions": ["varicose_veins"]}
 *
 * A crash can tear the last line; the reader skips it, and the writer
 * starts its next line on a fresh one. A session whose start is the last
 * line at startup ended with the daemon: an end line with end_reason
 * "unknown" is appended for it.
 *
 * record_query() answers one object per session, newest first: its end
 * line, or its start line when no end was recorded.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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

#include "tick.h"
#include "log.h"
#include "record.h"
#include "status.h"

#define RECORD_FILE		"sessions.jsonl"
#define RECORD_QUEUE_MAX	1024		/* lines waiting for the disk */
#define RECORD_CHUNK		65536
#define RECORD_LINE_MAX		(4 * 1024 * 1024)
#define RECORD_KINDS		8		/* errnos logged per streak */
#define RECORD_JSON_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(10))

/*
 * Read by /metrics (metrics.c). The declaration belongs in record.h; it
 * is here until that header grows it.
 */

enum rec_type {
	REC_LINE,
	REC_BARRIER,
	REC_QUERY,
	REC_ERASE	/* line: the profile id */
};

struct rec_item {
	TAILQ_ENTRY(rec_item)	 entry;
	enum rec_type		 type;
	char			*line;		/* REC_LINE, ends in '\n' */
	size_t			 len;
	uint64_t		 session;	/* for the log */
	record_done_cb		 done_cb;	/* REC_BARRIER */
	record_query_cb		 query_cb;	/* REC_QUERY */
	void			*arg;
	int			 limit;
	int			 ok;
	json_t			*result;
};
TAILQ_HEAD(rec_queue, rec_item);

struct record {
	struct event_base	*base;
	struct tick		*c;
	char			 dir[PATH_MAX];
	char			 path[PATH_MAX];
	struct event		*done_ev;

	pthread_t		 thread;
	int			 have_thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct rec_queue	 todo;		/* loop -> writer */
	struct rec_queue	 done;		/* writer -> loop */
	int			 nlines;	/* REC_LINE in todo */
	int			 quit;
	int			 overflow_logged;	/* loop thread */

	/* writer thread only */
	int			 fd;
	int			 need_nl;	/* the file ends in a torn line */
	uint64_t		 failed;	/* lines lost so far */
	uint64_t		 failed_seen;	/* record_errors at the last
						   barrier */
	int			 nlogged;
	int			 logged[RECORD_KINDS];
};

static _Atomic uint64_t	 record_errors;

static void	*record_thread(void *);
static void	 record_done(evutil_socket_t, short, void *);
static void	 record_event(void *, enum session_event);

uint64_t
record_write_errors(void)
{
	return (atomic_load(&record_errors));
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

/* kPa to 0.1 kPa, the resolution of the wire. */
static json_t *
record_kpa(double kpa)
{
	return (json_real(round(kpa * 10) / 10));
}

/* The line of a session event, built on the loop thread. */
static char *
record_snapshot(struct record *r, int end, size_t *lenp)
{
	const struct session	*s = &r->c->session;
	const struct table	*t = r->c->cfg->table;
	json_t			*o, *lim, *excl, *peak, *cond;
	char			*line, *nl;
	size_t			 len;
	int			 i;

	o = json_object();
	json_object_set_new(o, "id", json_integer((json_int_t)s->id));
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
	json_object_set_new(o, "limits", lim);
	json_object_set_new(o, "excluded", excl);
	json_object_set_new(o, "ramp_kpa_s", json_real(s->lim.ramp_kpa_s));
	json_object_set_new(o, "max_session_s",
	    json_real(s->lim.max_session_s));
	json_object_set_new(o, "intensity_pct",
	    json_integer(s->intensity_pct));
	cond = json_array();
	for (i = 0; i < s->prof.nconditions; i++)
		json_array_append_new(cond, json_string(s->prof.conditions[i]));
	json_object_set_new(o, "conditions", cond);

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

static void
record_event(void *arg, enum session_event ev)
{
	struct record	*r = arg;
	struct rec_item	*it;
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
		atomic_fetch_add(&record_errors, 1);
		return;
	}
	pthread_mutex_lock(&r->mtx);
	if (r->nlines >= RECORD_QUEUE_MAX) {
		pthread_mutex_unlock(&r->mtx);
		if (!r->overflow_logged)
			log_warnx("session records: %d lines wait for %s; the "
			    "disk does not keep up, lines are dropped",
			    RECORD_QUEUE_MAX, r->path);
		r->overflow_logged = 1;
		atomic_fetch_add(&record_errors, 1);
		free(line);
		return;
	}
	r->overflow_logged = 0;
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		pthread_mutex_unlock(&r->mtx);
		free(line);
		atomic_fetch_add(&record_errors, 1);
		return;
	}
	it->type = REC_LINE;
	it->line = line;
	it->len = len;
	it->session = r->c->session.id;
	TAILQ_INSERT_TAIL(&r->todo, it, entry);
	r->nlines++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
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
	TAILQ_INIT(&r->todo);
	TAILQ_INIT(&r->done);
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	if ((size_t)snprintf(r->path, sizeof(r->path), "%s/%s", dir,
	    RECORD_FILE) >= sizeof(r->path))
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
 * Ends the writer after it has written every queued line, then calls the
 * callbacks still pending (here, on the calling thread: the loop is over),
 * so their owners can free what they passed; queries answer empty.
 */
void
record_close(struct record *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mtx);
	r->quit = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
	if (r->have_thread)
		pthread_join(r->thread, NULL);
	record_done(-1, 0, r);
	event_free(r->done_ev);
	if (r->fd != -1)
		close(r->fd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mtx);
	free(r);
}

static void
record_push(struct record *r, struct rec_item *it)
{
	pthread_mutex_lock(&r->mtx);
	TAILQ_INSERT_TAIL(&r->todo, it, entry);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
}

void
record_barrier(struct record *r, record_done_cb cb, void *arg)
{
	struct rec_item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		fatal("record_barrier");
	it->type = REC_BARRIER;
	it->done_cb = cb;
	it->arg = arg;
	record_push(r, it);
}

void
record_query(struct record *r, int limit, record_query_cb cb, void *arg)
{
	struct rec_item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		fatal("record_query");
	it->type = REC_QUERY;
	it->query_cb = cb;
	it->arg = arg;
	it->limit = limit;
	record_push(r, it);
}

void
record_erase(struct record *r, const char *id, record_done_cb cb, void *arg)
{
	struct rec_item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->line = strdup(id)) == NULL)
		fatal("record_erase");
	it->type = REC_ERASE;
	it->done_cb = cb;
	it->arg = arg;
	record_push(r, it);
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
		if (it->type == REC_BARRIER || it->type == REC_ERASE)
			it->done_cb(it->ok, it->arg);
		else if (it->type == REC_QUERY) {
			json_t *res = it->result;

			it->result = NULL;
			it->query_cb(res != NULL ? res : json_array(), it->arg);
		}
		record_free_item(it);
	}
}

/* --- the writer thread ---------------------------------------------------- */

/* Logs a failure once per errno until the next success. */
static void
record_fail(struct record *r, int err, const char *what, uint64_t session)
{
	int	 i;

	for (i = 0; i < r->nlogged; i++)
		if (r->logged[i] == err)
			return;
	if (r->nlogged < RECORD_KINDS)
		r->logged[r->nlogged++] = err;
	errno = err;
	if (session != 0)
		log_warn("session records: %s %s failed, a line of session "
		    "%llu is lost (the control loop is not affected; further "
		    "failures of this kind are only counted)", what, r->path,
		    (unsigned long long)session);
	else
		log_warn("session records: %s %s failed; sessions will not "
		    "be recorded until it works", what, r->path);
}

static void
record_recovered(struct record *r)
{
	if (r->nlogged == 0)
		return;
	log_info("session records: writing %s again (%llu lines lost so "
	    "far)", r->path, (unsigned long long)r->failed);
	r->nlogged = 0;
}

static int
record_open_file(struct record *r, uint64_t session)
{
	if (r->fd != -1)
		return (0);
	if (mkdir(r->dir, 0750) == -1 && errno != EEXIST) {
		record_fail(r, errno, "creating the directory of", session);
		return (-1);
	}
	r->fd = open(r->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (r->fd == -1) {
		record_fail(r, errno, "opening", session);
		return (-1);
	}
	return (0);
}

/* Writes one line with one write(2) and puts it on disk. */
static void
record_write(struct record *r, struct rec_item *it)
{
	char		*buf = it->line;
	size_t		 len = it->len, off = 0;
	ssize_t		 n;
	int		 nl = r->need_nl;

	if (record_open_file(r, it->session) == -1)
		goto fail;
	if (nl) {
		/* The line before was torn: start on a fresh one. */
		if ((buf = malloc(len + 1)) == NULL) {
			record_fail(r, ENOMEM, "writing", it->session);
			goto fail;
		}
		buf[0] = '\n';
		memcpy(buf + 1, it->line, len);
		len++;
	}
	while (off < len) {
		if ((n = write(r->fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			record_fail(r, errno, "writing", it->session);
			if (off > 0)
				r->need_nl = 1;
			goto fail_close;
		}
		off += (size_t)n;
	}
	r->need_nl = 0;
	if (fdatasync(r->fd) == -1) {
		record_fail(r, errno, "flushing", it->session);
		goto fail_close;
	}
	if (nl)
		free(buf);
	record_recovered(r);
	return;

fail_close:
	/* Reopen next time: the file or its filesystem may be fixed. */
	close(r->fd);
	r->fd = -1;
fail:
	if (nl && buf != it->line)
		free(buf);
	r->failed++;
	atomic_fetch_add(&record_errors, 1);
}

/*
 * Calls fn on each complete line of path from the last to the first, until
 * it returns nonzero. A last line without its newline is torn and skipped.
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
	return (0);
}

struct record_q {
	json_t		*out;
	json_t		*seen;		/* "id start" of sessions answered */
	int		 limit;
	const char	*path;
	json_t		*last;		/* record_last_start */
};

/* A parsed line, or NULL (with a debug log) if it is not a record. */
static json_t *
record_parse(const char *line, size_t len, const char *path)
{
	json_error_t	 err;
	json_t		*o;

	if (len == 0)
		return (NULL);		/* the newline after a torn line */
	o = json_loadb(line, len, 0, &err);
	if (o == NULL || !json_is_object(o) ||
	    !json_is_integer(json_object_get(o, "id")) ||
	    !json_is_string(json_object_get(o, "phase"))) {
		log_debug("session records: corrupt line in %s skipped: %.60s",
		    path, line);
		if (o != NULL)
			json_decref(o);
		return (NULL);
	}
	return (o);
}

static int
record_query_line(const char *line, size_t len, void *arg)
{
	struct record_q	*q = arg;
	json_t		*o;
	const char	*phase, *start;
	char		 key[96];

	if ((o = record_parse(line, len, q->path)) == NULL)
		return (0);
	phase = json_string_value(json_object_get(o, "phase"));
	start = json_string_value(json_object_get(o, "start"));
	snprintf(key, sizeof(key), "%lld %s",
	    (long long)json_integer_value(json_object_get(o, "id")),
	    start != NULL ? start : "");
	if (json_object_get(q->seen, key) != NULL ||
	    (strcmp(phase, "end") != 0 && strcmp(phase, "start") != 0)) {
		json_decref(o);
		return (0);
	}
	json_object_set_new(q->seen, key, json_true());
	json_array_append_new(q->out, o);
	return (q->limit > 0 && (int)json_array_size(q->out) >= q->limit);
}

static json_t *
record_read(struct record *r, int limit)
{
	struct record_q	 q = { 0 };

	q.out = json_array();
	q.seen = json_object();
	q.limit = limit;
	q.path = r->path;
	if (record_scan(r->path, record_query_line, &q) == -1 &&
	    errno != ENOENT)
		log_warn("session records: cannot read %s", r->path);
	json_decref(q.seen);
	return (q.out);
}

static int
record_last_line(const char *line, size_t len, void *arg)
{
	struct record_q	*q = arg;

	q->last = record_parse(line, len, q->path);
	return (q->last != NULL);
}

uint64_t
record_last_id(struct record *r)
{
	struct record_q	 q = { 0 };
	uint64_t	 id = 0;

	q.path = r->path;
	if (record_scan(r->path, record_last_line, &q) == 0 && q.last != NULL) {
		id = (uint64_t)json_integer_value(json_object_get(q.last, "id"));
		json_decref(q.last);
	}
	return (id);
}

/*
 * At startup: note a torn last line, and end a session whose start is the
 * last record (the daemon stopped without recording its end).
 */
static void
record_recover(struct record *r)
{
	struct record_q	 q = { 0 };
	struct stat	 st;
	struct rec_item	 it = { 0 };
	char		 c;
	int		 fd;

	if ((fd = open(r->path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && S_ISREG(st.st_mode) &&
	    pread(fd, &c, 1, st.st_size - 1) == 1 && c != '\n') {
		log_warnx("session records: the last line of %s is torn "
		    "(a crash while writing); it is skipped", r->path);
		r->need_nl = 1;
	}
	close(fd);
	q.path = r->path;
	if (record_scan(r->path, record_last_line, &q) == -1 || q.last == NULL)
		return;
	if (strcmp(json_string_value(json_object_get(q.last, "phase")),
	    "start") == 0) {
		json_t	*o = q.last;

		json_object_set_new(o, "phase", json_string("end"));
		json_object_set_new(o, "end_reason", json_string("unknown"));
		json_object_set_new(o, "stop_message", json_string("massaged "
		    "stopped without recording the end of this session (a "
		    "crash or a power loss); the controllers' watchdogs vent "
		    "when the daemon stops"));
		it.session = (uint64_t)json_integer_value(json_object_get(o,
		    "id"));
		log_warnx("session records: session %llu has no end record; "
		    "recording it as ended for an unknown reason",
		    (unsigned long long)it.session);
		if ((it.line = json_dumps(o, RECORD_JSON_FLAGS)) != NULL) {
			size_t	 len = strlen(it.line);
			char	*l = realloc(it.line, len + 2);

			if (l != NULL) {
				l[len] = '\n';
				l[len + 1] = '\0';
				it.line = l;
				it.len = len + 1;
				record_write(r, &it);
			}
			free(it.line);
		}
	}
	json_decref(q.last);
}

static void *
record_thread(void *arg)
{
	struct record	*r = arg;
	struct rec_item	*it;
	int		 notify, quitting;

	record_recover(r);
	if (record_open_file(r, 0) == 0)
		log_debug("session records: appending to %s", r->path);
	pthread_mutex_lock(&r->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&r->todo) && !r->quit)
			pthread_cond_wait(&r->cond, &r->mtx);
		if ((it = TAILQ_FIRST(&r->todo)) == NULL)
			break;		/* quit, and all is written */
		TAILQ_REMOVE(&r->todo, it, entry);
		if (it->type == REC_LINE)
			r->nlines--;
		quitting = r->quit;
		pthread_mutex_unlock(&r->mtx);

		notify = 0;
		switch (it->type) {
		case REC_LINE:
			record_write(r, it);
			record_free_item(it);
			break;
		case REC_BARRIER: {
			uint64_t e = atomic_load(&record_errors);

			/* Lines dropped before the queue count too. */
			it->ok = e == r->failed_seen;
			r->failed_seen = e;
			notify = 1;
			break;
		}
		case REC_ERASE:
			/* The file is rewritten: append to the new one. */
			if (r->fd != -1)
				close(r->fd);
			r->fd = -1;
			it->ok = record_erase_dir(r->dir, RECORD_FILE,
			    it->line) == 0;
			notify = 1;
			break;
		case REC_QUERY:
			/* Shutting down: answer, but do not read. */
			if (!quitting)
				it->result = record_read(r, it->limit);
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
	return (NULL);
}
