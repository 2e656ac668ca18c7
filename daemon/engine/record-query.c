/*
 * record-query.c: reading the session records back, on the writer thread
 * (record-writer.c), which owns the files: the pages of GET
 * /api/v1/sessions (record_query()), the last session at start-up.
 *
 * Files are read from their end, in chunks, so the newest records cost
 * the least: sessions.jsonl, then the rotated sessions.jsonl.1, .2, ...
 * One object per session (its end line, or its start line when no end was
 * recorded) and one per refused start, newest first; a page ends with a
 * cursor "KEY,ID,N" (record_cursor_parse()). A last line without its
 * newline is torn (a crash while writing) and skipped, as is a corrupt
 * line.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "record.h"
#include "record-private.h"

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

json_t *
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

/* The last session line (not a refused start) of the records, or NULL. */
json_t *
record_last_session(struct record *r)
{
	struct record_q	 q = { 0 };

	q.path = r->path;
	record_scan_all(r, record_last_line, &q);
	return (q.last);
}

uint64_t
record_last_id(struct record *r)
{
	json_t		*last;
	uint64_t	 id = 0, reserved = 0;
	char		 buf[64];
	ssize_t		 n;
	int		 fd;

	if ((last = record_last_session(r)) != NULL) {
		id = (uint64_t)json_integer_value(json_object_get(last, "id"));
		json_decref(last);
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
