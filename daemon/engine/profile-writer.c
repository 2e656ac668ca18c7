/*
 * profile-writer.c: the thread that writes the client profiles saved
 * through the API into the writable profile directory.
 *
 * A save is made so that a crash at any moment leaves the old profile or
 * the new one, never a torn file: the text goes to a temporary file
 * (.ID.ini.tmp, 0600; dot files are never loaded), which is fsync'd,
 * parsed back with profile_load() (a profile that would not load is
 * refused, with the file:line messages a load of ID.ini would give), then
 * renamed over ID.ini, and the directory is fsync'd. Temporary files a
 * crash left behind are removed when the writer opens.
 *
 * The loop thread never waits for the disk or the parser: jobs go to one
 * writer thread through a queue under a mutex and come back through
 * event_active(), like the session records' (record-writer.c). Health
 * data (conditions, notes) is in the files and the jobs, never in a log
 * line: errors name the id.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "profile-writer.h"

#define PROFILE_WRITER_TMP_SUFFIX	".ini.tmp"

TAILQ_HEAD(profile_writer_queue, profile_writer_job);

struct profile_writer {
	char			 dir[PATH_MAX];
	struct event		*done_ev;
	pthread_t		 thread;
	int			 have_thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct profile_writer_queue	 todo;		/* loop -> writer */
	struct profile_writer_queue	 done;		/* writer -> loop */
	int			 quit;
	LIST_HEAD(, profile_writer_job)	 inflight;	/* loop thread only */
};

static void	*profile_writer_thread(void *);
static void	 profile_writer_done(evutil_socket_t, short, void *);

/* --- rendering ---------------------------------------------------------- */

static int
profile_writer_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    LOG_PRINTF(4, 5);

static int
profile_writer_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list	 ap;
	char	*nb;
	int	 n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return (-1);
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return (0);
		}
		if ((nb = realloc(*buf, *cap * 2 + (size_t)n)) == NULL)
			return (-1);
		*buf = nb;
		*cap = *cap * 2 + (size_t)n;
	}
}

char *
profile_writer_render(const struct profile_form *f, const char *id)
{
	size_t	 len = 0, cap = 1024;
	char	*buf;
	int	 i, bad = 0;

	if ((buf = malloc(cap)) == NULL)
		return (NULL);
	buf[0] = '\0';
	bad |= profile_writer_add(&buf, &len, &cap, "; Client profile %s, "
	    "written by massaged from the intake at the table.\n; Change it "
	    "through the panel or the API (PUT /api/v1/profiles/%s).\n\n"
	    "[client]\nname = %s\nconditions = ", id, id, f->name);
	for (i = 0; i < f->nconditions; i++)
		bad |= profile_writer_add(&buf, &len, &cap, "%s%s",
		    i > 0 ? ", " : "", f->conditions[i]);
	bad |= profile_writer_add(&buf, &len, &cap, "%s\nrevision = %d\n",
	    f->nconditions == 0 ? "none" : "", f->revision);
	if (f->pressure[0] != '\0')
		bad |= profile_writer_add(&buf, &len, &cap, "pressure = %s\n",
		    f->pressure);
	if (f->ramp[0] != '\0')
		bad |= profile_writer_add(&buf, &len, &cap, "ramp = %s\n",
		    f->ramp);
	if (f->note[0] != '\0')
		bad |= profile_writer_add(&buf, &len, &cap, "note = %s\n",
		    f->note);
	bad |= profile_writer_add(&buf, &len, &cap, "\n[limits]\ncap_kpa = %g\n"
	    "ramp_kpa_s = %g\nmax_session_min = %g\nintensity = %d\n",
	    f->cap_kpa, f->ramp_kpa_s, f->max_session_min, f->intensity_pct);
	if (f->ncaps > 0)
		bad |= profile_writer_add(&buf, &len, &cap, "\n[zone_caps]\n");
	for (i = 0; i < f->ncaps; i++)
		bad |= profile_writer_add(&buf, &len, &cap, "%s = %g\n",
		    f->caps[i].glob, f->caps[i].cap_kpa);
	if (bad) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* --- a reload's swap ----------------------------------------------------- */

/*
 * A merge of two sets sorted by id: only where they differ is the disk
 * asked (a save or an erasure that finished while the reload read the
 * directory), so a swap costs the loop a walk over pointers, not a system
 * call per profile.
 */
void
profile_writer_carry(struct profile_set *fresh, const struct profile_set *old)
{
	const struct profile	**put = NULL;
	const char		**drop = NULL;	/* ids in fresh */
	const struct profile	*f, *o;
	int			 i = 0, j = 0, nput = 0, ndrop = 0, c;

	if ((fresh->n > 0 && (drop = calloc(fresh->n, sizeof(*drop))) ==
	    NULL) || (old->n > 0 && (put = calloc(old->n, sizeof(*put))) ==
	    NULL)) {
		log_warnx("profiles: out of memory carrying the profiles "
		    "saved during the reload over");
		free(drop);
		return;
	}
	while (i < fresh->n || j < old->n) {
		f = i < fresh->n ? fresh->profiles[i] : NULL;
		o = j < old->n ? old->profiles[j] : NULL;
		c = f == NULL ? 1 : o == NULL ? -1 : strcmp(f->id, o->id);
		if (c < 0) {		/* erased meanwhile, or new on disk */
			if (f->writable && access(f->path, F_OK) == -1)
				drop[ndrop++] = f->id;
			i++;
		} else if (c > 0) {	/* saved meanwhile, or removed */
			if (o->writable && access(o->path, F_OK) == 0)
				put[nput++] = o;
			j++;
		} else {
			if (f->writable && o->writable &&
			    o->revision > f->revision &&
			    access(o->path, F_OK) == 0)
				put[nput++] = o;
			i++;
			j++;
		}
	}
	for (i = 0; i < ndrop; i++)
		profiles_drop(fresh, drop[i]);
	for (i = 0; i < nput; i++)
		if (profiles_put(fresh, put[i]) == NULL)
			log_warnx("profiles: out of memory carrying %s over "
			    "the reload", put[i]->id);
	free(drop);
	free(put);
}

/* --- jobs --------------------------------------------------------------- */

struct profile_writer_job *
profile_writer_job(enum profile_writer_op op, const char *id, const char *text,
    const struct table *t, const struct rules *r)
{
	struct profile_writer_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return (NULL);
	job->op = op;
	snprintf(job->id, sizeof(job->id), "%s", id);
	if (text != NULL) {
		job->len = strlen(text);
		job->text = strdup(text);
	}
	job->table = malloc(sizeof(*job->table));
	job->rules = *r;
	job->rules.rules = r->n > 0 ? calloc(r->n, sizeof(*r->rules)) : NULL;
	if ((text != NULL && job->text == NULL) || job->table == NULL ||
	    (r->n > 0 && job->rules.rules == NULL)) {
		free(job->text);
		free(job->table);
		free(job->rules.rules);
		free(job);
		return (NULL);
	}
	memcpy(job->table, t, sizeof(*t));
	if (r->n > 0)
		memcpy(job->rules.rules, r->rules, r->n * sizeof(*r->rules));
	return (job);
}

static void
profile_writer_job_free(struct profile_writer_job *job)
{
	free(job->text);
	free(job->table);
	free(job->rules.rules);
	free(job->errors);
	explicit_bzero(&job->prof, sizeof(job->prof));
	free(job);
}

void
profile_writer_submit(struct profile_writer *ps, struct profile_writer_job *job,
    profile_writer_done_cb cb, void *arg)
{
	job->cb = cb;
	job->arg = arg;
	LIST_INSERT_HEAD(&ps->inflight, job, inflight);
	pthread_mutex_lock(&ps->mtx);
	TAILQ_INSERT_TAIL(&ps->todo, job, entry);
	pthread_cond_signal(&ps->cond);
	pthread_mutex_unlock(&ps->mtx);
}

int
profile_writer_busy(struct profile_writer *ps, const char *id)
{
	struct profile_writer_job	*job;

	LIST_FOREACH(job, &ps->inflight, inflight)
		if (job->op != PROFILE_WRITER_PREVIEW &&
		    strcmp(job->id, id) == 0)
			return (1);
	return (0);
}

static void
profile_writer_done(evutil_socket_t fd, short what, void *arg)
{
	struct profile_writer	*ps = arg;
	struct profile_writer_queue	 q;
	struct profile_writer_job	*job;

	TAILQ_INIT(&q);
	pthread_mutex_lock(&ps->mtx);
	TAILQ_CONCAT(&q, &ps->done, entry);
	pthread_mutex_unlock(&ps->mtx);
	while ((job = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, job, entry);
		LIST_REMOVE(job, inflight);
		job->cb(job, job->arg);
		profile_writer_job_free(job);
	}
	(void)fd;
	(void)what;
}

/* --- the writer thread -------------------------------------------------- */

static void
profile_writer_fail(struct profile_writer_job *job, const char *what)
{
	job->err = errno;
	snprintf(job->what, sizeof(job->what), "%s", what);
}

static int
profile_writer_fsync_dir(const char *dir)
{
	int	 fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

static int
profile_writer_write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/* The messages of a load of the final file: the temporary name replaced. */
static char *
profile_writer_errors(const char *text, const char *tmp, const char *final)
{
	size_t	 nt = strlen(tmp), nf = strlen(final), n = 0;
	const char *p;
	char	*out, *o;

	for (p = text; (p = strstr(p, tmp)) != NULL; p += nt)
		n++;
	if ((out = malloc(strlen(text) + n * nf + 1)) == NULL)
		return (NULL);
	for (o = out, p = text; *p != '\0';) {
		if (strncmp(p, tmp, nt) == 0) {
			memcpy(o, final, nf);
			o += nf;
			p += nt;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return (out);
}

static void
profile_writer_save(struct profile_writer *ps, struct profile_writer_job *job)
{
	struct inifile_errors	 errs = { 0 };
	char			 tmp[PATH_MAX], final[PATH_MAX];
	int			 fd;

	errs.quiet = 1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s%s", ps->dir, job->id,
	    PROFILE_WRITER_TMP_SUFFIX) >= sizeof(tmp) ||
	    (size_t)snprintf(final, sizeof(final), "%s/%s.ini", ps->dir,
	    job->id) >= sizeof(final)) {
		errno = ENAMETOOLONG;
		profile_writer_fail(job, "path");
		return;
	}
	if (mkdir(ps->dir, 0700) == -1 && errno != EEXIST) {
		profile_writer_fail(job, "mkdir");
		return;
	}
	if (unlink(tmp) == -1 && errno != ENOENT) {
		profile_writer_fail(job, "unlink");
		return;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		profile_writer_fail(job, "create");
		return;
	}
	if (profile_writer_write_all(fd, job->text, job->len) == -1 ||
	    fsync(fd) == -1) {
		profile_writer_fail(job, "write");
		close(fd);
		unlink(tmp);
		return;
	}
	if (close(fd) == -1) {
		profile_writer_fail(job, "write");
		unlink(tmp);
		return;
	}
	if (profile_load(&job->prof, tmp, job->id, job->table, &job->rules,
	    &errs) != 0) {
		job->invalid = 1;
		job->errors = profile_writer_errors(errs.text != NULL ?
		    errs.text : "", tmp, final);
		inifile_errors_free(&errs);
		unlink(tmp);
		return;
	}
	inifile_errors_free(&errs);
	/* The INI layer cuts inline comments: what it would not read back
	 * as given is refused, not saved different. */
	if (strcmp(job->prof.name, job->expect_name) != 0)
		job->mismatch = "name";
	else if (strcmp(job->prof.note, job->expect_note) != 0)
		job->mismatch = "note";
	if (job->mismatch != NULL) {
		unlink(tmp);
		return;
	}
	snprintf(job->prof.path, sizeof(job->prof.path), "%s", final);
	job->prof.writable = 1;
	if (job->op == PROFILE_WRITER_PREVIEW) {
		unlink(tmp);
		job->ok = 1;
		return;
	}
	if (rename(tmp, final) == -1) {
		profile_writer_fail(job, "rename");
		unlink(tmp);
		return;
	}
	if (profile_writer_fsync_dir(ps->dir) == -1) {
		profile_writer_fail(job, "fsync of the directory");
		return;
	}
	job->ok = 1;
}

static void
profile_writer_delete(struct profile_writer *ps, struct profile_writer_job *job)
{
	char	 final[PATH_MAX];

	if ((size_t)snprintf(final, sizeof(final), "%s/%s.ini", ps->dir,
	    job->id) >= sizeof(final)) {
		errno = ENAMETOOLONG;
		profile_writer_fail(job, "path");
		return;
	}
	if (unlink(final) == -1 && errno != ENOENT) {
		profile_writer_fail(job, "unlink");
		return;
	}
	if (profile_writer_fsync_dir(ps->dir) == -1 && errno != ENOENT) {
		profile_writer_fail(job, "fsync of the directory");
		return;
	}
	job->ok = 1;
}

static void *
profile_writer_thread(void *arg)
{
	struct profile_writer	*ps = arg;
	struct profile_writer_job	*job;

	pthread_mutex_lock(&ps->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&ps->todo) && !ps->quit)
			pthread_cond_wait(&ps->cond, &ps->mtx);
		if ((job = TAILQ_FIRST(&ps->todo)) == NULL)
			break;
		TAILQ_REMOVE(&ps->todo, job, entry);
		pthread_mutex_unlock(&ps->mtx);
		if (job->op == PROFILE_WRITER_DELETE)
			profile_writer_delete(ps, job);
		else
			profile_writer_save(ps, job);
		pthread_mutex_lock(&ps->mtx);
		TAILQ_INSERT_TAIL(&ps->done, job, entry);
		pthread_mutex_unlock(&ps->mtx);
		event_active(ps->done_ev, EV_READ, 0);
		pthread_mutex_lock(&ps->mtx);
	}
	pthread_mutex_unlock(&ps->mtx);
	return (NULL);
}

/* --- open and close ----------------------------------------------------- */

/* Temporary files of saves a crash interrupted: never the profile. */
static void
profile_writer_clean(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n, ns = strlen(PROFILE_WRITER_TMP_SUFFIX);
	int		 dfd;

	if ((d = opendir(dir)) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] != '.' || n <= ns ||
		    strcmp(de->d_name + n - ns, PROFILE_WRITER_TMP_SUFFIX) != 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			log_info("profiles: removed %s/%s, left by an "
			    "interrupted save", dir, de->d_name);
	}
	closedir(d);
}

struct profile_writer *
profile_writer_open(struct event_base *base, const char *dir)
{
	struct profile_writer	*ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		fatal("profile_writer_open");
	snprintf(ps->dir, sizeof(ps->dir), "%s", dir);
	TAILQ_INIT(&ps->todo);
	TAILQ_INIT(&ps->done);
	LIST_INIT(&ps->inflight);
	pthread_mutex_init(&ps->mtx, NULL);
	pthread_cond_init(&ps->cond, NULL);
	profile_writer_clean(dir);
	if ((ps->done_ev = event_new(base, -1, 0, profile_writer_done,
	    ps)) == NULL)
		fatalx("profile_writer_open: event_new failed");
	if (pthread_create(&ps->thread, NULL, profile_writer_thread, ps) != 0)
		fatalx("profile_writer_open: cannot start the writer thread");
	ps->have_thread = 1;
	return (ps);
}

/* Finishes the jobs queued (a save in progress completes), then hands
 * them to their callbacks marked cancelled: the loop has stopped, there
 * is no one to reply to. */
void
profile_writer_close(struct profile_writer *ps)
{
	struct profile_writer_job	*job;

	if (ps == NULL)
		return;
	pthread_mutex_lock(&ps->mtx);
	ps->quit = 1;
	pthread_cond_signal(&ps->cond);
	pthread_mutex_unlock(&ps->mtx);
	if (ps->have_thread)
		pthread_join(ps->thread, NULL);
	while ((job = TAILQ_FIRST(&ps->done)) != NULL) {
		TAILQ_REMOVE(&ps->done, job, entry);
		LIST_REMOVE(job, inflight);
		job->cancelled = 1;
		job->cb(job, job->arg);
		profile_writer_job_free(job);
	}
	event_free(ps->done_ev);
	pthread_mutex_destroy(&ps->mtx);
	pthread_cond_destroy(&ps->cond);
	free(ps);
}
