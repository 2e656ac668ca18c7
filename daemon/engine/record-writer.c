/*
 * record-writer.c: the writer thread of the session records, which alone
 * touches the record files: it appends each line queued by record.c with
 * a single write(2) and fdatasync(2)s it, rotates the file, writes the
 * reserved session id, and runs queries (record-query.c) and erasures
 * (record-erase.c) in queue order.
 *
 * A line that cannot be written (a full disk, a read-only file, a missing
 * directory) stays in memory, in order, and is retried every second and
 * before every start; the failure is logged once per kind, counted for
 * /metrics and shown in the status (record-status.c), and new sessions are
 * refused until every waiting line is written. Lines are lost only when
 * more than RECORD_QUEUE_MAX wait, or when the daemon stops with lines
 * still waiting; both are logged with their count.
 *
 * A state directory that turns read-only while the files stay open (a
 * remount, a read-only bind mount) is noticed before every start and
 * every RECORD_CHECK_MS while idle, and is a failure like the others.
 *
 * Session ids: before a session starts, its id is written to
 * STATE_DIR/session-id (one fixed-size line rewritten in place, so it
 * needs no new disk space); at start-up the next id is one above the
 * highest of that file and the records, so an id is never used twice.
 *
 * Rotation: above [daemon] records_max_bytes, sessions.jsonl is renamed
 * to sessions.jsonl.1 (.1 to .2, ... up to records_keep files) before the
 * next line; a file renamed from outside (logrotate) is noticed at the next
 * line or on SIGHUP (record_reopen()).
 *
 * A crash can tear the last line; the reader skips it, and the writer
 * starts its next line on a fresh one. A session whose start is the last
 * session line at startup ended with the daemon: an end line with
 * end_reason "unknown" is appended for it.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "record.h"
#include "record-private.h"

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
	    "far)", r->path, (unsigned long long)record_lost());
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
		record_set_pending(r->npending);
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
		record_count_lost(1);
		record_count_error();
		record_free_item(it);
		return;
	}
	TAILQ_INSERT_TAIL(&r->pending, it, entry);
	r->npending++;
	record_set_pending(r->npending);
	if (record_flush(r) == -1)
		record_count_error();	/* not at its first try */
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

/*
 * The state directory as the rest of the system now sees it. Files the
 * writer keeps open go on working when the directory is remounted or
 * bind-mounted read-only, but no new file (a rotation, an erasure, a
 * session-id file, a saved profile) can be made there: that is a failure,
 * reported (status, /metrics) and refusing starts until it is writable.
 */
static int
record_check_dir(struct record *r)
{
	struct statvfs	 sv;

	if (statvfs(r->dir, &sv) == -1 || !(sv.f_flag & ST_RDONLY))
		return (0);	/* a missing one is made at the next line */
	r->blocked = 1;
	record_fail(r, EROFS, "writing to the state directory", r->dir, 0);
	return (-1);
}

/* What a start needs: a writable directory, its id on disk (none yet
 * when the directory failed before any start: the file keeps its id) and
 * room for its lines. Until all three hold again, the failure stays
 * reported even when lines can still be appended. */
static int
record_prepare(struct record *r)
{
	if (record_check_dir(r) == 0 && (r->id_want == 0 ||
	    record_write_id(r, r->id_want) == 0) && record_make_room(r) == 0)
		return (0);
	r->blocked = 1;
	return (-1);
}

/*
 * At startup: note a torn last line, and end a session whose start is the
 * last session line (the daemon stopped without recording its end). That
 * end line waits and is retried like any other.
 */
static void
record_recover(struct record *r)
{
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
	if ((o = record_last_session(r)) == NULL)
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

/* One item of the queue, off the lock; 1 if its owner is to be called
 * back on the loop thread. */
static int
record_do(struct record *r, struct rec_item *it, int quitting)
{
	int	 notify = 0;

	switch (it->type) {
	case REC_LINE:
		record_add(r, it);
		break;
	case REC_BARRIER: {
		uint64_t lost = record_lost();

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
		it->ok = record_flush(r) == 0 && record_prepare(r) == 0;
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
		it->ok = record_erase_dir(r->dir, RECORD_FILE, it->line) == 0;
		notify = 1;
		break;
	case REC_QUERY:
		/* Shutting down: answer, but do not read. */
		if (!quitting)
			it->result = record_read(r, &it->range);
		notify = 1;
		break;
	}
	return (notify);
}

/* The writer: lines, barriers, reservations and queries in order; lines
 * that wait are retried every RECORD_RETRY_MS. */
void *
record_thread(void *arg)
{
	struct record	*r = arg;
	struct rec_item	*it;
	struct timespec	 ts;
	int		 notify, quitting, idle;

	record_recover(r);
	if (TAILQ_EMPTY(&r->pending) && record_open_file(r, 0) == 0)
		log_debug("session records: appending to %s", r->path);
	pthread_mutex_lock(&r->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&r->todo) && !r->quit) {
			idle = TAILQ_EMPTY(&r->pending) && !r->blocked;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (idle ? RECORD_CHECK_MS : RECORD_RETRY_MS) /
			    1000;
			if (pthread_cond_timedwait(&r->cond, &r->mtx, &ts) !=
			    ETIMEDOUT)
				continue;
			pthread_mutex_unlock(&r->mtx);
			if (idle)
				(void)record_check_dir(r);
			else if (record_flush(r) == 0 && r->blocked)
				(void)record_prepare(r);
			pthread_mutex_lock(&r->mtx);
		}
		if ((it = TAILQ_FIRST(&r->todo)) == NULL)
			break;		/* quit, and all is done */
		TAILQ_REMOVE(&r->todo, it, entry);
		quitting = r->quit;
		pthread_mutex_unlock(&r->mtx);

		notify = record_do(r, it, quitting);

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
		record_count_lost((uint64_t)r->npending);
		while ((it = TAILQ_FIRST(&r->pending)) != NULL) {
			TAILQ_REMOVE(&r->pending, it, entry);
			record_free_item(it);
		}
	}
	return (NULL);
}
