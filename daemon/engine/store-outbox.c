/*
 * store-outbox.c: the session records of this table, shipped from its
 * sessions.jsonl to the store's massaged.records (docs/store.md, "The
 * outbox"). Runs on the link's thread only.
 *
 * Every record line is written to the local file first, as without a
 * store (record-writer.c); the outbox follows the file. Its place is the
 * key of the last line shipped, (session id, phase: start before end),
 * kept in STATE_DIR/store-outbox once the transaction that shipped it has
 * committed; so a restart, a rotation (sessions.jsonl.1, .2, ...) or an
 * erasure that rewrites the file moves nothing: lines whose key is past
 * the place are the backlog, in the order of the files. A line is shipped
 * as an upsert on (table_name, session_id) that never puts a start over an
 * end, so a batch shipped twice (committed, then the place lost) changes
 * nothing. Refused starts (no session id) and torn lines are not shipped.
 * A line of a client the spa has erased (massaged.erasures) is scrubbed
 * as it is shipped, before this table has applied the erasure itself.
 *
 * A hint (the current file's inode and the offset after the last line
 * shipped) spares a rescan of every file each second; it is dropped when
 * the file is rotated or rewritten.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "log.h"
#include "record-private.h"
#include "store-link.h"
#include "store-private.h"
#include "table.h"

struct store_outbox {
	char		 dir[PATH_MAX];
	char		 cursor_path[PATH_MAX + 32];
	char		 table[NAME_LEN];
	long long	 id;		/* shipped up to (id, rank) */
	int		 rank;
	int		 hint;		/* ino and off below hold */
	ino_t		 ino;
	off_t		 off;
};

struct ob_line {
	long long	 id;
	int		 rank;
	char		*profile;	/* NULL when none */
	char		*text;
	int		 current;	/* in sessions.jsonl itself */
	off_t		 end;		/* offset after the line */
};

struct ob_scan {
	struct ob_line	 lines[STORE_BATCH];
	int		 n;
	uint64_t	 backlog;
	off_t		 end;		/* after the current file's last line */
	ino_t		 ino;
};

static void
store_outbox_load(struct store_outbox *o)
{
	FILE	*f;

	if ((f = fopen(o->cursor_path, "re")) == NULL) {
		if (errno != ENOENT)
			log_warn("store outbox: %s", o->cursor_path);
		return;
	}
	if (fscanf(f, "%lld %d", &o->id, &o->rank) != 2 || o->id < 0) {
		log_warnx("store outbox: %s is not \"ID RANK\": shipping "
		    "every record again (the store keeps one of each)",
		    o->cursor_path);
		o->id = 0;
		o->rank = 0;
	}
	fclose(f);
}

struct store_outbox *
store_outbox_open(const char *dir, const char *table)
{
	struct store_outbox	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		fatal("store_outbox_open");
	snprintf(o->dir, sizeof(o->dir), "%s", dir);
	snprintf(o->cursor_path, sizeof(o->cursor_path), "%s/%s", dir,
	    STORE_OUTBOX_FILE);
	snprintf(o->table, sizeof(o->table), "%s", table);
	store_outbox_load(o);
	return (o);
}

static void
store_outbox_clear(struct ob_scan *s)
{
	int	 i;

	for (i = 0; i < s->n; i++) {
		free(s->lines[i].profile);
		free(s->lines[i].text);
	}
	s->n = 0;
}

void
store_outbox_free(struct store_outbox *o)
{
	free(o);
}

/* The place, on disk before it is taken as shipped: 0 or -1. */
static int
store_outbox_save(struct store_outbox *o, long long id, int rank)
{
	char	 tmp[PATH_MAX + 40];
	FILE	*f;
	int	 fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", o->cursor_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		log_warn("store outbox: %s", tmp);
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (fprintf(f, "%lld %d\n", id, rank) < 0 || fflush(f) != 0 ||
	    fdatasync(fd) == -1)
		rc = -1;
	if (fclose(f) != 0 || rc == -1 || rename(tmp, o->cursor_path) == -1) {
		log_warn("store outbox: %s", o->cursor_path);
		unlink(tmp);
		return (-1);
	}
	o->id = id;
	o->rank = rank;
	return (0);
}

/* One line's key: 0, or -1 when it is not a session's start or end. */
static int
store_outbox_key(json_t *j, long long *id, int *rank, const char **profile)
{
	const char	*phase = json_string_value(json_object_get(j, "phase"));
	json_t		*v = json_object_get(j, "id");

	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    phase == NULL)
		return (-1);
	if (strcmp(phase, "start") == 0)
		*rank = 1;
	else if (strcmp(phase, "end") == 0)
		*rank = 2;
	else
		return (-1);
	*id = (long long)json_integer_value(v);
	*profile = json_string_value(json_object_get(j, "profile"));
	return (0);
}

/* Takes one complete line (without its newline) into the scan if it is
 * past the place. */
static void
store_outbox_take(struct store_outbox *o, struct ob_scan *s, char *text,
    size_t len, int current, off_t end)
{
	struct ob_line	*l;
	const char	*profile;
	json_t		*j;
	long long	 id;
	int		 rank;

	if ((j = json_loadb(text, len, 0, NULL)) == NULL)
		return;
	if (store_outbox_key(j, &id, &rank, &profile) == -1 ||
	    id < o->id || (id == o->id && rank <= o->rank)) {
		json_decref(j);
		return;
	}
	s->backlog++;
	if (s->n < STORE_BATCH) {
		l = &s->lines[s->n++];
		l->id = id;
		l->rank = rank;
		l->profile = profile != NULL ? strdup(profile) : NULL;
		if ((l->text = strndup(text, len)) == NULL)
			fatal("store outbox");
		l->current = current;
		l->end = end;
	}
	json_decref(j);
}

/* Reads path from offset from: -1 when it cannot be opened. */
static int
store_outbox_read(struct store_outbox *o, struct ob_scan *s,
    const char *path, off_t from, int current)
{
	struct stat	 st;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	off_t		 at = from;
	FILE		*f;

	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	if (fstat(fileno(f), &st) == -1 || (from > 0 &&
	    (st.st_size < from || fseeko(f, from, SEEK_SET) == -1))) {
		fclose(f);
		return (-1);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;		/* torn, or being written */
		at += n;
		store_outbox_take(o, s, line, (size_t)n - 1, current, at);
	}
	free(line);
	fclose(f);
	if (current) {
		s->ino = st.st_ino;
		s->end = at;
	}
	return (0);
}

/* The lines past the place: from the hint, or every file oldest first. */
static void
store_outbox_scan(struct store_outbox *o, struct ob_scan *s)
{
	char	 path[PATH_MAX + 64], cur[PATH_MAX + 32];
	int	 i, last = 0;

	snprintf(cur, sizeof(cur), "%s/%s", o->dir, RECORD_FILE);
	s->n = 0;
	s->backlog = 0;
	s->end = 0;
	s->ino = 0;
	if (o->hint && store_outbox_read(o, s, cur, o->off, 1) == 0 &&
	    s->ino == o->ino)
		return;
	store_outbox_clear(s);
	s->backlog = 0;
	o->hint = 0;
	for (i = 1; i <= RECORD_FILES_MAX; i++) {
		snprintf(path, sizeof(path), "%s.%d", cur, i);
		if (access(path, F_OK) == -1)
			break;
		last = i;
	}
	for (i = last; i >= 1; i--) {
		snprintf(path, sizeof(path), "%s.%d", cur, i);
		(void)store_outbox_read(o, s, path, 0, 0);
	}
	(void)store_outbox_read(o, s, cur, 0, 1);
}

/* The scan's lines in one transaction: 0, or -1 with err. */
static int
store_outbox_send(struct store_outbox *o, struct store_link *l,
    PGconn *conn, struct ob_scan *s, char *err, size_t errlen)
{
	const char	*v[4];
	char		 id[32];
	PGresult	*r;
	int		 i;

	if ((r = store_query(l, conn, "BEGIN", 0, NULL, err, errlen)) == NULL)
		return (-1);
	PQclear(r);
	for (i = 0; i < s->n; i++) {
		snprintf(id, sizeof(id), "%lld", s->lines[i].id);
		v[0] = o->table;
		v[1] = id;
		v[2] = s->lines[i].profile;
		v[3] = s->lines[i].text;
		if ((r = store_query(l, conn, "INSERT INTO massaged.records "
		    "(table_name, session_id, profile_id, line) VALUES "
		    "($1, $2, $3, CASE WHEN EXISTS (SELECT 1 FROM "
		    "massaged.erasures e WHERE e.profile_id = $3) THEN "
		    "massaged.scrub($4::jsonb, $3) ELSE $4::jsonb END) "
		    "ON CONFLICT (table_name, "
		    "session_id) DO UPDATE SET line = EXCLUDED.line, "
		    "profile_id = EXCLUDED.profile_id, received_at = now() "
		    "WHERE massaged.records.line->>'phase' <> 'end' OR "
		    "EXCLUDED.line->>'phase' = 'end'", 4, v, err,
		    errlen)) == NULL)
			return (-1);
		PQclear(r);
	}
	if ((r = store_query(l, conn, "COMMIT", 0, NULL, err, errlen)) == NULL)
		return (-1);
	PQclear(r);
	return (0);
}

void
store_outbox_count(struct store_outbox *o)
{
	static struct ob_scan	 s;	/* the link's thread only */

	store_outbox_scan(o, &s);
	store_health_outbox(s.backlog, 0);
	store_outbox_clear(&s);
}

int
store_outbox_ship(struct store_outbox *o, struct store_link *l,
    PGconn *conn, char *err, size_t errlen)
{
	static struct ob_scan	 s;	/* the link's thread only */
	struct ob_line		*last;
	int			 rc;

	store_outbox_scan(o, &s);
	if (s.n == 0) {
		/* Everything is shipped: next time, from the file's end. */
		store_health_outbox(0, 0);
		if (s.ino != 0) {
			o->hint = 1;
			o->ino = s.ino;
			o->off = s.end;
		}
		return (0);
	}
	store_health_outbox(s.backlog, 0);
	if (store_outbox_send(o, l, conn, &s, err, errlen) == -1) {
		store_outbox_clear(&s);
		return (-1);
	}
	last = &s.lines[s.n - 1];
	rc = store_outbox_save(o, last->id, last->rank);
	o->hint = rc == 0 && last->current;
	o->ino = s.ino;
	o->off = last->end;
	if (rc == -1) {
		/* Shipped but the place is not kept: the next batch ships
		 * these again, which the store takes as nothing new. */
		o->id = last->id;
		o->rank = last->rank;
	}
	store_health_outbox(s.backlog - (uint64_t)s.n, (uint64_t)s.n);
	rc = s.backlog > (uint64_t)s.n;
	store_outbox_clear(&s);
	return (rc);
}
