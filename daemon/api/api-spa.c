/*
 * api-spa.c: client profiles shared by the tables of a spa through the
 * store (docs/store.md, "Profiles across tables").
 *
 * Writes go to the store first, then to this table's copy: a save is
 * checked here (the writer's preview: the profile must load), saved in
 * the store as the next revision (a conflict there is the 409 of
 * If-Match, across tables), then written here as without a store. An
 * erasure is done in the store (every revision, every table's shipped
 * records, a tombstone), then here. While the store cannot be reached,
 * writes are refused: no table may change a client another table cannot
 * see, so a new contraindication is never hidden. Sessions run from the
 * copy all along.
 *
 * What other tables changed comes from the link (at every connect for
 * every profile, then when notified): a newer revision is written to the
 * copy and replaces the old in the list; an erasure is applied as a local
 * one (the copy, the list, the records), also when this table was off that
 * day. A session already running keeps the limits it started with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api-private.h"
#include "clock.h"
#include "profile-writer.h"
#include "record.h"
#include "store-link.h"
#include "tick.h"

/* 503 when the table has a store it cannot reach: 1 when refused. */
int
api_spa_offline(struct api *a, struct evhttp_request *req)
{
	struct store_health	 h;
	struct tm		 tm;
	time_t			 t;
	char			 since[32] = "start";

	if (a->store == NULL || store_link_up())
		return (0);
	store_health_get(&h);
	t = (time_t)h.since;
	if (h.since > 0 && localtime_r(&t, &tm) != NULL)
		strftime(since, sizeof(since), "%H:%M", &tm);
	api_error(req, 503, "client_list_offline", "the spa's client list is "
	    "offline since %s (%s): changes to clients are refused until it "
	    "is back, so that no table misses one; sessions run from this "
	    "table's copy", since, h.error[0] != '\0' ? h.error :
	    "not connected");
	return (1);
}

/* The store's answer to a save: then here, or the refusal. */
static void
api_spa_put_done(int rc, const char *err, void *arg)
{
	struct api_preq	*pr = arg;

	if (rc == 1) {
		log_info("profiles: save of %s by %s refused by the spa's "
		    "store: revision %d is taken or the client was erased",
		    pr->id, pr->actor, pr->form.revision);
		api_conflict(pr->req, pr->id, pr->form.revision - 1, "the "
		    "profile was changed or erased at another table since this "
		    "edit started: reload it and apply the changes again");
		free(pr);
		return;
	}
	if (rc == -1) {
		log_warnx("profiles: save of %s by %s: %s", pr->id, pr->actor,
		    err);
		api_error(pr->req, 503, "client_list_offline", "profile %s: "
		    "the spa's client list did not take it (%s); nothing was "
		    "changed", pr->id, err);
		free(pr);
		return;
	}
	pr->spa = 0;
	pr->stored = 1;
	api_store(pr->a, pr, PROFILE_WRITER_SAVE, pr->id);
}

void
api_spa_put(struct api_preq *pr)
{
	if (store_link_put(pr->a->store, &pr->form, pr->id, api_spa_put_done,
	    pr) == 0)
		return;
	if (!api_spa_offline(pr->a, pr->req))
		api_error(pr->req, 503, "client_list_offline", "profile %s: "
		    "the spa's client list is offline", pr->id);
	free(pr);
}

static void
api_spa_erase_done(int rc, const char *err, void *arg)
{
	struct api_preq	*pr = arg;

	if (rc != 0) {
		log_warnx("profiles: erasure of %s by %s: %s", pr->old.id,
		    pr->actor, err);
		api_plist_put(pr->a, &pr->old);
		api_error(pr->req, 503, "client_list_offline", "profile %s: "
		    "the spa's client list did not take the erasure (%s); "
		    "nothing was erased", pr->old.id, err);
		free(pr);
		return;
	}
	api_erase_local(pr);
}

void
api_spa_erase(struct api_preq *pr)
{
	if (store_link_erase(pr->a->store, pr->old.id, api_spa_erase_done,
	    pr) == 0)
		return;
	api_plist_put(pr->a, &pr->old);
	if (!api_spa_offline(pr->a, pr->req))
		api_error(pr->req, 503, "client_list_offline", "profile %s: "
		    "the spa's client list is offline", pr->old.id);
	free(pr);
}

/* --- what other tables changed ------------------------------------------ */

/* A newer revision written to the copy: into the list. */
static void
api_spa_cached(struct profile_writer_job *job, void *arg)
{
	struct api_preq	*pr = arg;

	if (!job->cancelled && job->ok && !job->invalid &&
	    job->mismatch == NULL) {
		api_plist_put(pr->a, &job->prof);
		log_info("profiles: %s revision %d from the spa's store",
		    job->id, job->prof.revision);
	} else if (!job->cancelled)
		log_warnx("profiles: %s revision %d from the spa's store "
		    "not kept: %s", job->id, pr->form.revision, job->invalid ?
		    "it would not load here" : job->mismatch != NULL ?
		    "a field would not read back the same" : job->what);
	explicit_bzero(pr, sizeof(*pr));
	free(pr);
}

static void
api_spa_profile(struct api *a, const struct store_in *in)
{
	const struct profile		*p;
	struct profile_writer_job	*job;
	struct api_preq			*pr;

	p = profiles_find(&a->c->cfg->profiles, in->id);
	if (p != NULL && p->revision >= in->form.revision)
		return;			/* this one, or newer, is here */
	if ((p != NULL && !p->writable) ||
	    profile_writer_busy(a->pwriter, in->id))
		return;		/* a file of /etc's, or a save under way */
	if ((job = api_form_job(a, &in->form, in->id,
	    PROFILE_WRITER_SAVE)) == NULL)
		return;
	pr = api_preq_new(a, NULL, 200);
	pr->form = in->form;
	profile_writer_submit(a->pwriter, job, api_spa_cached, pr);
}

/* An erasure here is done: the store may forget it for this table. */
static void
api_spa_erased(int ok, void *arg)
{
	struct api_preq	*pr = arg;

	if (ok)
		store_link_erased(pr->a->store, pr->seq);
	else
		log_warnx("profiles: %s erased at another table, but its "
		    "session records here could not all be rewritten; tried "
		    "again at the next connect", pr->old.id);
	explicit_bzero(pr, sizeof(*pr));
	free(pr);
}

static void
api_spa_unlinked(struct profile_writer_job *job, void *arg)
{
	struct api_preq	*pr = arg;

	if (job->cancelled) {
		free(pr);
		return;
	}
	if (pr->a->rec == NULL) {
		api_spa_erased(job->ok, pr);
		return;
	}
	record_erase(pr->a->rec, pr->old.id, api_spa_erased, pr);
}

static void
api_spa_erasure(struct api *a, const struct store_in *in)
{
	const struct profile		*p;
	const struct session		*s = &a->c->session;
	struct profile_writer_job	*job;
	struct api_preq			*pr;

	pr = api_preq_new(a, NULL, 200);
	pr->seq = in->seq;
	snprintf(pr->old.id, sizeof(pr->old.id), "%s", in->id);
	if ((p = profiles_find(&a->c->cfg->profiles, in->id)) != NULL &&
	    p->writable)
		api_plist_drop(a, in->id);
	if (s->state != SESSION_IDLE && strcmp(s->prof.id, in->id) == 0)
		snprintf(a->spa_erase_after, sizeof(a->spa_erase_after), "%s",
		    in->id);
	log_info("profiles: %s erased at another table; erasing it here",
	    in->id);
	if ((job = profile_writer_job(PROFILE_WRITER_DELETE, in->id, NULL,
	    a->c->cfg->table, &a->c->cfg->rules)) == NULL) {
		free(pr);
		return;
	}
	profile_writer_submit(a->pwriter, job, api_spa_unlinked, pr);
}

static void
api_spa_in(const struct store_in *in, void *arg)
{
	if (in->kind == STORE_IN_PROFILE)
		api_spa_profile(arg, in);
	else
		api_spa_erasure(arg, in);
}

/* A session of a client erased while it ran has ended: its records
 * (the end line came after the erasure) are erased again. */
static void
api_spa_event(void *arg, enum session_event ev)
{
	struct api	*a = arg;
	struct api_preq	*pr;

	if (a->c->session.state != SESSION_IDLE ||
	    a->spa_erase_after[0] == '\0' || a->rec == NULL)
		return;
	pr = api_preq_new(a, NULL, 200);
	snprintf(pr->old.id, sizeof(pr->old.id), "%s", a->spa_erase_after);
	a->spa_erase_after[0] = '\0';
	record_erase(a->rec, pr->old.id, api_spa_erased, pr);
}

void
api_set_store(struct api *a, struct store_link *l)
{
	struct tick_observer	 o = { .arg = a, .event = api_spa_event };

	a->store = l;
	if (l == NULL)
		return;
	store_link_listen(l, api_spa_in, a);
	tick_observe(a->c, &o);
}
