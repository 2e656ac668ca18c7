/*
 * profile-list.c: the reader thread of the client profile list.
 *
 * With tens of thousands of profiles a list of them all, or a search
 * through their names, takes long enough to stop the control loop (issue
 * 24: 0.88 s for 2,509 profiles). So the loop never does either: this
 * thread keeps its own copy of each profile's id and folded name, sorted
 * by id, and answers a query with the ids of one page. Changes come from
 * the loop through the same queue as the queries, so a query sees every
 * change queued before it; answers go back through event_active(), like
 * the profile writer's (profile-writer.c). The copy holds names, never
 * conditions or notes.
 */
#include <sys/queue.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "profile-list.h"

#define PROFILE_LIST_NAME	96	/* struct profile's name */

enum profile_list_op {
	PROFILE_LIST_PUT,
	PROFILE_LIST_DROP,
	PROFILE_LIST_RESET,
	PROFILE_LIST_QUERY
};

struct profile_list_entry {
	char	 id[NAME_LEN];
	char	 name[PROFILE_LIST_NAME];	/* folded by the thread */
};

struct profile_list_job {
	TAILQ_ENTRY(profile_list_job)	 entry;
	enum profile_list_op		 op;
	struct profile_list_entry	 one;		/* put, drop */
	struct profile_list_entry	*all;		/* reset, owned */
	int				 nall;
	struct profile_list_query	 q;
	profile_list_cb			 cb;
	void				*arg;
};

TAILQ_HEAD(profile_list_queue, profile_list_job);

struct profile_list {
	struct event		*done_ev;
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct profile_list_queue todo;		/* loop -> thread */
	struct profile_list_queue done;		/* thread -> loop */
	int			 quit;
	/* the copy: the thread's alone */
	struct profile_list_entry *e;
	int			 n, cap;
};

static void	*profile_list_thread(void *);
static void	 profile_list_done(evutil_socket_t, short, void *);

void
profile_list_fold(char *dst, const char *src, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' :
		    src[i];
	if (len > 0)
		dst[i] = '\0';
}

/* --- the loop's side ---------------------------------------------------- */

static void
profile_list_job_free(struct profile_list_job *job)
{
	free(job->all);
	free(job->q.ids);
	free(job);
}

static void
profile_list_submit(struct profile_list *pl, struct profile_list_job *job)
{
	pthread_mutex_lock(&pl->mtx);
	TAILQ_INSERT_TAIL(&pl->todo, job, entry);
	pthread_cond_signal(&pl->cond);
	pthread_mutex_unlock(&pl->mtx);
}

static struct profile_list_job *
profile_list_job(enum profile_list_op op, const char *id, const char *name)
{
	struct profile_list_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		log_warnx("profile list: out of memory; the list may miss a "
		    "change until the next reload");
		return (NULL);
	}
	job->op = op;
	snprintf(job->one.id, sizeof(job->one.id), "%s", id);
	snprintf(job->one.name, sizeof(job->one.name), "%s", name);
	return (job);
}

void
profile_list_put(struct profile_list *pl, const char *id, const char *name)
{
	struct profile_list_job	*job;

	if ((job = profile_list_job(PROFILE_LIST_PUT, id, name)) != NULL)
		profile_list_submit(pl, job);
}

void
profile_list_drop(struct profile_list *pl, const char *id)
{
	struct profile_list_job	*job;

	if ((job = profile_list_job(PROFILE_LIST_DROP, id, "")) != NULL)
		profile_list_submit(pl, job);
}

void
profile_list_reset(struct profile_list *pl, const struct profile_set *set)
{
	struct profile_list_job	*job;
	int			 i;

	if ((job = profile_list_job(PROFILE_LIST_RESET, "", "")) == NULL)
		return;
	if (set->n > 0 && (job->all = calloc(set->n, sizeof(*job->all))) ==
	    NULL) {
		log_warnx("profile list: out of memory copying %d profiles",
		    set->n);
		free(job);
		return;
	}
	for (i = 0; i < set->n; i++) {
		memcpy(job->all[i].id, set->profiles[i]->id, NAME_LEN);
		memcpy(job->all[i].name, set->profiles[i]->name,
		    PROFILE_LIST_NAME);
	}
	job->nall = set->n;
	profile_list_submit(pl, job);
}

int
profile_list_query(struct profile_list *pl, const char *search,
    const char *cursor, int limit, profile_list_cb cb, void *arg)
{
	struct profile_list_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->q.ids = calloc(limit > 0 ? limit : 1,
	    sizeof(*job->q.ids))) == NULL) {
		free(job);
		return (-1);
	}
	job->op = PROFILE_LIST_QUERY;
	profile_list_fold(job->q.search, search, sizeof(job->q.search));
	snprintf(job->q.cursor, sizeof(job->q.cursor), "%s", cursor);
	job->q.limit = limit;
	job->cb = cb;
	job->arg = arg;
	profile_list_submit(pl, job);
	return (0);
}

static void
profile_list_done(evutil_socket_t fd, short what, void *arg)
{
	struct profile_list		*pl = arg;
	struct profile_list_queue	 q;
	struct profile_list_job		*job;

	TAILQ_INIT(&q);
	pthread_mutex_lock(&pl->mtx);
	TAILQ_CONCAT(&q, &pl->done, entry);
	pthread_mutex_unlock(&pl->mtx);
	while ((job = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, job, entry);
		job->cb(&job->q, job->arg);
		profile_list_job_free(job);
	}
	(void)fd;
	(void)what;
}

/* --- the thread --------------------------------------------------------- */

/* The index of id in the copy, or -(the index it would go to) - 1. */
static int
profile_list_index(const struct profile_list *pl, const char *id)
{
	int	 lo = 0, hi = pl->n - 1, mid, c;

	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(pl->e[mid].id, id)) == 0)
			return (mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return (-lo - 1);
}

static void
profile_list_apply_put(struct profile_list *pl, struct profile_list_entry *one)
{
	struct profile_list_entry	*ne;
	int				 i, cap;

	profile_list_fold(one->name, one->name, sizeof(one->name));
	if ((i = profile_list_index(pl, one->id)) >= 0) {
		pl->e[i] = *one;
		return;
	}
	i = -i - 1;
	if (pl->n == pl->cap) {
		cap = pl->cap > 0 ? pl->cap * 2 : 256;
		if ((ne = reallocarray(pl->e, cap, sizeof(*ne))) == NULL) {
			log_warnx("profile list: out of memory adding %s",
			    one->id);
			return;
		}
		pl->e = ne;
		pl->cap = cap;
	}
	memmove(&pl->e[i + 1], &pl->e[i], (size_t)(pl->n - i) *
	    sizeof(*pl->e));
	pl->e[i] = *one;
	pl->n++;
}

static void
profile_list_apply_drop(struct profile_list *pl, const char *id)
{
	int	 i;

	if ((i = profile_list_index(pl, id)) < 0)
		return;
	memmove(&pl->e[i], &pl->e[i + 1], (size_t)(pl->n - i - 1) *
	    sizeof(*pl->e));
	pl->n--;
}

static void
profile_list_apply_reset(struct profile_list *pl, struct profile_list_job *job)
{
	int	 i;

	free(pl->e);
	pl->e = job->all;
	pl->n = pl->cap = job->nall;
	job->all = NULL;
	for (i = 0; i < pl->n; i++)
		profile_list_fold(pl->e[i].name, pl->e[i].name,
		    sizeof(pl->e[i].name));
}

static void
profile_list_answer(struct profile_list *pl, struct profile_list_query *q)
{
	const struct profile_list_entry	*e;
	int				 i;

	if (q->cursor[0] == '\0')
		i = 0;
	else if ((i = profile_list_index(pl, q->cursor)) >= 0)
		i++;			/* the page starts after it */
	else
		i = -i - 1;		/* gone meanwhile: where it was */
	q->total = pl->n;
	for (; i < pl->n; i++) {
		e = &pl->e[i];
		if (q->search[0] != '\0' && strstr(e->name, q->search) ==
		    NULL && strstr(e->id, q->search) == NULL)
			continue;
		if (q->n == q->limit) {
			q->more = 1;
			break;
		}
		memcpy(q->ids[q->n++], e->id, NAME_LEN);
	}
}

static void *
profile_list_thread(void *arg)
{
	struct profile_list	*pl = arg;
	struct profile_list_job	*job;

	pthread_mutex_lock(&pl->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&pl->todo) && !pl->quit)
			pthread_cond_wait(&pl->cond, &pl->mtx);
		if ((job = TAILQ_FIRST(&pl->todo)) == NULL)
			break;
		TAILQ_REMOVE(&pl->todo, job, entry);
		pthread_mutex_unlock(&pl->mtx);
		switch (job->op) {
		case PROFILE_LIST_PUT:
			profile_list_apply_put(pl, &job->one);
			break;
		case PROFILE_LIST_DROP:
			profile_list_apply_drop(pl, job->one.id);
			break;
		case PROFILE_LIST_RESET:
			profile_list_apply_reset(pl, job);
			break;
		case PROFILE_LIST_QUERY:
			profile_list_answer(pl, &job->q);
			break;
		}
		pthread_mutex_lock(&pl->mtx);
		if (job->op != PROFILE_LIST_QUERY) {
			profile_list_job_free(job);
			continue;
		}
		TAILQ_INSERT_TAIL(&pl->done, job, entry);
		pthread_mutex_unlock(&pl->mtx);
		event_active(pl->done_ev, EV_READ, 0);
		pthread_mutex_lock(&pl->mtx);
	}
	pthread_mutex_unlock(&pl->mtx);
	return (NULL);
}

/* --- open and close ----------------------------------------------------- */

struct profile_list *
profile_list_open(struct event_base *base)
{
	struct profile_list	*pl;

	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		fatal("profile_list_open");
	TAILQ_INIT(&pl->todo);
	TAILQ_INIT(&pl->done);
	pthread_mutex_init(&pl->mtx, NULL);
	pthread_cond_init(&pl->cond, NULL);
	if ((pl->done_ev = event_new(base, -1, 0, profile_list_done, pl)) ==
	    NULL)
		fatalx("profile_list_open: event_new failed");
	if (pthread_create(&pl->thread, NULL, profile_list_thread, pl) != 0)
		fatalx("profile_list_open: cannot start the reader thread");
	return (pl);
}

void
profile_list_close(struct profile_list *pl)
{
	struct profile_list_job	*job;

	if (pl == NULL)
		return;
	pthread_mutex_lock(&pl->mtx);
	pl->quit = 1;
	pthread_cond_signal(&pl->cond);
	pthread_mutex_unlock(&pl->mtx);
	pthread_join(pl->thread, NULL);
	while ((job = TAILQ_FIRST(&pl->done)) != NULL) {
		TAILQ_REMOVE(&pl->done, job, entry);
		job->q.cancelled = 1;
		job->cb(&job->q, job->arg);
		profile_list_job_free(job);
	}
	event_free(pl->done_ev);
	pthread_mutex_destroy(&pl->mtx);
	pthread_cond_destroy(&pl->cond);
	free(pl->e);
	free(pl);
}
