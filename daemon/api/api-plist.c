/*
 * api-plist.c: the client profile list through the API, one page at a
 * time (docs/api.md, "Client profiles"):
 *
 *   GET /api/v1/profiles[?limit=N&cursor=C&q=TEXT]
 *
 * Nothing here walks the profiles on the loop: the reader thread of
 * profile-list.c finds the ids of a page (after the cursor, matching the
 * search) in its own copy of ids and names, and the loop renders those
 * few, API_PLIST_SLICE at a time with a pause between slices, so that a
 * page of profiles with their limits never holds up a tick nor takes the
 * CPU the routine workers need. Every change
 * to the profiles the API makes goes through api_plist_put() and
 * api_plist_drop(), which keep the reader's copy up to date; after a
 * reload the next page sends it a new copy.
 *
 * The cap on writable profiles ([daemon] profiles_max) is checked here,
 * with the creations still being written counted in.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api-private.h"
#include "inifile.h"
#include "profile-list.h"
#include "status.h"
#include "tick.h"

#define API_PLIST_DEFAULT	50	/* profiles in a page */
#define API_PLIST_MAX		100
#define API_PLIST_SLICE		4	/* rendered per loop turn */
#define API_PLIST_GAP_US	2000	/* between slices: the loop's CPU is
					   the worker's and the links' too */

/* A page being rendered. */
struct api_plreq {
	LIST_ENTRY(api_plreq)	 entry;
	struct api		*a;
	struct evhttp_request	*req;
	enum api_role		 role;
	struct event		*ev;
	int			 n, i, nout;
	char			(*ids)[NAME_LEN];
	char			*tail;	/* the page's other fields: {...} */
};

struct api_plist {
	struct profile_list	*pl;
	uint64_t		 synced;	/* reloads + 1 at the last copy */
	int			 creating;	/* creations being written */
	LIST_HEAD(, api_plreq)	 reqs;
};

static void	api_plist_slice(evutil_socket_t, short, void *);

/* --- keeping the copy up to date ---------------------------------------- */

/* After a reload the reader's copy is of the old set: a new one. */
static void
api_plist_sync(struct api *a)
{
	struct api_plist	*pls = a->plist;

	if (pls->synced == a->c->reloads + 1)
		return;
	profile_list_reset(pls->pl, &a->c->cfg->profiles);
	pls->synced = a->c->reloads + 1;
}

const struct profile *
api_plist_put(struct api *a, const struct profile *p)
{
	const struct profile	*q;

	api_plist_sync(a);
	if ((q = profiles_put(&a->c->cfg->profiles, p)) != NULL)
		profile_list_put(a->plist->pl, q->id, q->name);
	return (q);
}

void
api_plist_drop(struct api *a, const char *id)
{
	api_plist_sync(a);
	if (profiles_drop(&a->c->cfg->profiles, id) == 0)
		profile_list_drop(a->plist->pl, id);
}

/* --- the cap ------------------------------------------------------------ */

int
api_plist_full(struct api *a, struct evhttp_request *req)
{
	const struct config	*cfg = a->c->cfg;
	int			 max = cfg->table->profiles_max;

	if (cfg->profiles.nwritable + a->plist->creating < max)
		return (0);
	log_warnx("profiles: creation by %s refused: %d writable profiles, "
	    "the most [daemon] profiles_max of %s allows", a->actor, max,
	    cfg->table->path);
	api_error(req, 507, "profiles_full", "%d client profiles are "
	    "stored, the most this table keeps ([daemon] profiles_max = %d "
	    "in %s): erase clients who no longer come, or raise the cap",
	    cfg->profiles.nwritable, max, cfg->table->path);
	return (1);
}

void
api_plist_creating(struct api *a, int delta)
{
	a->plist->creating += delta;
}

/* --- a page ------------------------------------------------------------- */

static json_t *
api_plist_entry(struct api *a, enum api_role role, const struct profile *p)
{
	json_t	*o;

	if (role == API_ROLE_VIEWER) {
		o = json_object();	/* no name: health data's key */
		json_object_set_new(o, "id", json_string(p->id));
	} else
		o = status_profile_json(a->c, p);
	json_object_set_new(o, "revision", json_integer(p->revision));
	json_object_set_new(o, "writable", json_boolean(p->writable));
	return (o);
}

static void
api_plreq_free(struct api_plreq *r)
{
	LIST_REMOVE(r, entry);
	if (r->ev != NULL)
		event_free(r->ev);
	free(r->tail);
	free(r->ids);
	free(r);
}

/*
 * One slice of the page, rendered and written into the reply at once (a
 * whole page as one document would cost the loop its serialisation in
 * one go); the next slice on the next turn of the loop. A profile erased
 * since the reader found it is left out.
 */
static void
api_plist_slice(evutil_socket_t fd, short what, void *arg)
{
	struct api_plreq	*r = arg;
	struct evbuffer		*out = evhttp_request_get_output_buffer(r->req);
	const struct profile	*p;
	struct timeval		 gap = { 0, API_PLIST_GAP_US };
	json_t			*o;
	char			*js;
	int			 k;

	for (k = 0; r->i < r->n && (k < API_PLIST_SLICE ||
	    r->role == API_ROLE_VIEWER); r->i++, k++) {
		if ((p = profiles_find(&r->a->c->cfg->profiles,
		    r->ids[r->i])) == NULL)
			continue;
		o = api_plist_entry(r->a, r->role, p);
		js = json_dumps(o, STATUS_JSON_FLAGS);
		json_decref(o);
		if (js == NULL)
			continue;
		if (r->nout++ > 0)
			evbuffer_add(out, ",", 1);
		evbuffer_add(out, js, strlen(js));
		free(js);
	}
	if (r->i < r->n) {
		evtimer_add(r->ev, &gap);
		return;
	}
	evbuffer_add_printf(out, "],%s\n", r->tail + 1);
	api_headers(r->req, "application/json");
	log_debug("api: GET %s: 200", evhttp_request_get_uri(r->req));
	evhttp_send_reply(r->req, 200, "OK", NULL);
	api_plreq_free(r);
	(void)fd;
	(void)what;
}

static void
api_plist_found(struct profile_list_query *q, void *arg)
{
	struct api_plreq	*r = arg;
	const struct config	*cfg;
	json_t			*tail;

	if (q->cancelled) {		/* the daemon stops */
		api_plreq_free(r);
		return;
	}
	cfg = r->a->c->cfg;
	r->n = q->n;
	r->ids = q->ids;
	q->ids = NULL;
	tail = json_object();
	json_object_set_new(tail, "next_cursor", q->more && q->n > 0 ?
	    json_string(r->ids[q->n - 1]) : json_null());
	json_object_set_new(tail, "total", json_integer(q->total));
	json_object_set_new(tail, "writable", json_integer(
	    cfg->profiles.nwritable));
	json_object_set_new(tail, "writable_max", json_integer(
	    cfg->table->profiles_max));
	r->tail = json_dumps(tail, STATUS_JSON_FLAGS);
	json_decref(tail);
	if (r->tail == NULL || r->tail[0] != '{' ||
	    (r->ev = evtimer_new(r->a->base, api_plist_slice, r)) == NULL) {
		api_error(r->req, 500, "internal", "out of memory");
		api_plreq_free(r);
		return;
	}
	evbuffer_add_printf(evhttp_request_get_output_buffer(r->req),
	    "{\"profiles\":[");
	api_plist_slice(-1, 0, r);
}

/* One parameter of ?limit=&cursor=&q=; -1 after replying. */
static int
api_plist_param(struct evhttp_request *req, const char *k, const char *v,
    int *limit, const char **cursor, const char **search)
{
	const unsigned char	*s;
	long			 l;

	if (strcmp(k, "limit") == 0) {
		if (parse_int(v, 1, API_PLIST_MAX, &l) == -1) {
			api_error(req, 400, "bad_request", "parameter 'limit': "
			    "expected an integer from 1 to %d", API_PLIST_MAX);
			return (-1);
		}
		*limit = (int)l;
	} else if (strcmp(k, "cursor") == 0) {
		if (!inifile_name_ok(v, NAME_LEN)) {
			api_error(req, 400, "bad_request", "parameter "
			    "'cursor': expected the next_cursor of an earlier "
			    "answer");
			return (-1);
		}
		*cursor = v;
	} else if (strcmp(k, "q") == 0) {
		for (s = (const unsigned char *)v; *s != '\0'; s++)
			if (*s < 0x20 || *s == 0x7f)
				break;
		if (*s != '\0' || strlen(v) >= PROFILE_LIST_QUERY_MAX ||
		    !api_utf8(v)) {
			api_error(req, 400, "bad_request", "parameter 'q': "
			    "expected at most %d bytes of UTF-8 text without "
			    "control characters", PROFILE_LIST_QUERY_MAX - 1);
			return (-1);
		}
		*search = v;
	} else {
		api_error(req, 400, "bad_request", "parameter '%s': unknown "
		    "(expected limit, cursor or q)", k);
		return (-1);
	}
	return (0);
}

/* GET /api/v1/profiles: a viewer sees ids, nothing else (api-view.c), and
 * cannot search the names it does not see. */
void
api_profiles(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*qs = uri != NULL ? evhttp_uri_get_query(uri) :
				    NULL, *cursor = "", *search = "";
	struct evkeyvalq	 params;
	struct evkeyval		*kv;
	struct api_plreq	*r;
	int			 limit = API_PLIST_DEFAULT;

	TAILQ_INIT(&params);
	if (qs != NULL && evhttp_parse_query_str(qs, &params) == -1) {
		api_error(req, 400, "bad_request", "the query string is not "
		    "valid");
		return;
	}
	TAILQ_FOREACH(kv, &params, next)
		if (api_plist_param(req, kv->key, kv->value, &limit, &cursor,
		    &search) == -1) {
			evhttp_clear_headers(&params);
			return;
		}
	if (search[0] != '\0' && a->role == API_ROLE_VIEWER) {
		evhttp_clear_headers(&params);
		log_info("api: %s is a viewer: search of client names refused",
		    a->actor);
		api_error(req, 403, "forbidden", "the token %s is a viewer: it "
		    "cannot search client names (parameter 'q')", a->actor);
		return;
	}
	api_plist_sync(a);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		evhttp_clear_headers(&params);
		api_error(req, 500, "internal", "out of memory");
		return;
	}

	r->a = a;
	r->req = req;
	r->role = a->role;
	LIST_INSERT_HEAD(&a->plist->reqs, r, entry);
	if (profile_list_query(a->plist->pl, search, cursor, limit,
	    api_plist_found, r) == -1) {
		api_error(req, 500, "internal", "out of memory");
		api_plreq_free(r);
	}
	evhttp_clear_headers(&params);
	(void)body;
}

/* --- start and stop ----------------------------------------------------- */

void
api_plist_start(struct api *a)
{
	if ((a->plist = calloc(1, sizeof(*a->plist))) == NULL)
		fatal("api_plist_start");
	LIST_INIT(&a->plist->reqs);
	a->plist->pl = profile_list_open(a->base);
}

/* The reader's queries end cancelled; pages being rendered are dropped
 * (evhttp frees their requests with the connections). */
void
api_plist_stop(struct api *a)
{
	struct api_plreq	*r;

	if (a->plist == NULL)
		return;
	profile_list_close(a->plist->pl);
	while ((r = LIST_FIRST(&a->plist->reqs)) != NULL)
		api_plreq_free(r);
	free(a->plist);
	a->plist = NULL;
}
