/*
 * api.c: the control API (HTTP/1.1 + JSON over libevent's evhttp): its
 * routes, the dispatcher that checks every request, listening, start and
 * stop. Replies and body checks are in api-reply.c, tokens in api-auth.c,
 * the event stream in api-stream.c, the panel in api-panel.c, connection
 * caps and request deadlines in api-conn.c, client intake and profiles in
 * api-profiles.c. The routes, their bodies and their errors are in
 * docs/api.md (the control API contract, version 1).
 *
 * Everything runs on the loop thread and never blocks it: bodies are small
 * and bounded, session records are flushed and read by their writer
 * thread (record-writer.c; the reply waits in a callback), panel files go
 * out with evbuffer_add_file(), and a slow event-stream client is dropped
 * rather than waited for. Requests are checked completely (route, method,
 * token, content type, JSON, every field) before anything reaches the
 * session.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api.h"
#include "api-private.h"
#include "cause.h"
#include "inifile.h"
#include "tick.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "status.h"

#define API_MAX_BODY		(16 * 1024)
#define API_MAX_HEADERS		(8 * 1024)
#define API_TIMEOUT_S		30
#define API_SESSIONS_DEFAULT	20
#define API_SESSIONS_MAX	1000
#define API_PROFILE_ROUTE	"/api/v1/profiles/*"	/* ID, ID/sessions */

typedef void	(*api_handler)(struct api *, struct evhttp_request *,
		    json_t *body);

/* A request waiting for record.c (a barrier or a query). */
struct api_pending {
	LIST_ENTRY(api_pending)	 entry;
	struct api		*a;
	struct evhttp_request	*req;
	int			 code;
	enum api_role		 role;		/* of the request: what it sees */
	uint64_t		 id;		/* a start: its session id */
	char			 program[NAME_LEN];
	char			 profile[NAME_LEN];
	char			 actor[SESSION_ACTOR_LEN];	/* who started it */
};

struct api_route {
	const char	*path;
	int		 method;
	api_handler	 fn;
	int		 auth;
	enum api_body	 body;
};

static void	api_status(struct api *, struct evhttp_request *, json_t *);
static void	api_programs(struct api *, struct evhttp_request *, json_t *);
static void	api_routines(struct api *, struct evhttp_request *, json_t *);
static void	api_causes(struct api *, struct evhttp_request *, json_t *);
static void	api_sessions(struct api *, struct evhttp_request *, json_t *);
static void	api_start_session(struct api *, struct evhttp_request *,
		    json_t *);
static void	api_pause(struct api *, struct evhttp_request *, json_t *);
static void	api_resume(struct api *, struct evhttp_request *, json_t *);
static void	api_stop(struct api *, struct evhttp_request *, json_t *);
static void	api_intensity(struct api *, struct evhttp_request *, json_t *);
static void	api_estop(struct api *, struct evhttp_request *, json_t *);
static void	api_whoami(struct api *, struct evhttp_request *, json_t *);
static void	api_reset(struct api *, struct evhttp_request *, json_t *);
static void	api_metrics(struct api *, struct evhttp_request *, json_t *);

static const struct api_route api_routes[] = {
	{ "/api/v1/status",		EVHTTP_REQ_GET,	 api_status,	1, BODY_NONE },
	{ "/api/v1/programs",		EVHTTP_REQ_GET,	 api_programs,	1, BODY_NONE },
	{ "/api/v1/profiles",		EVHTTP_REQ_GET,	 api_profiles,	1, BODY_NONE },
	{ "/api/v1/profiles",		EVHTTP_REQ_POST, api_profile_create, 1, BODY_JSON },
	{ API_PROFILE_ROUTE,		EVHTTP_REQ_GET,	 api_profile_get, 1, BODY_NONE },
	{ API_PROFILE_ROUTE,		EVHTTP_REQ_PUT,	 api_profile_update, 1, BODY_JSON },
	{ API_PROFILE_ROUTE,		EVHTTP_REQ_DELETE, api_profile_delete, 1, BODY_NONE },
	{ "/api/v1/intake",		EVHTTP_REQ_GET,	 api_intake,	1, BODY_NONE },
	{ "/api/v1/intake/preview",	EVHTTP_REQ_POST, api_intake_preview, 1, BODY_JSON },
	{ "/api/v1/routines",		EVHTTP_REQ_GET,	 api_routines,	1, BODY_NONE },
	{ "/api/v1/causes",		EVHTTP_REQ_GET,	 api_causes,	1, BODY_NONE },
	{ "/api/v1/sessions",		EVHTTP_REQ_GET,	 api_sessions,	1, BODY_NONE },
	{ "/api/v1/session",		EVHTTP_REQ_POST, api_start_session, 1, BODY_JSON },
	{ "/api/v1/session/pause",	EVHTTP_REQ_POST, api_pause,	1, BODY_NONE },
	{ "/api/v1/session/resume",	EVHTTP_REQ_POST, api_resume,	1, BODY_NONE },
	{ "/api/v1/session/stop",	EVHTTP_REQ_POST, api_stop,	1, BODY_NONE },
	{ "/api/v1/session/intensity",	EVHTTP_REQ_PUT,	 api_intensity,	1, BODY_JSON },
	{ "/api/v1/whoami",		EVHTTP_REQ_GET,	 api_whoami,	1, BODY_NONE },
	{ "/api/v1/estop",		EVHTTP_REQ_POST, api_estop,	1, BODY_IGNORED },
	{ "/api/v1/reset",		EVHTTP_REQ_POST, api_reset,	1, BODY_NONE },
	{ "/api/v1/events",		EVHTTP_REQ_GET,	 api_events,	1, BODY_NONE },
	{ "/metrics",			EVHTTP_REQ_GET,	 api_metrics,	0, BODY_NONE },
};
#define API_NROUTES	(sizeof(api_routes) / sizeof(api_routes[0]))

/* --- waiting for record.c ----------------------------------------------- */

static struct api_pending *
api_pending_new(struct api *a, struct evhttp_request *req, int code)
{
	struct api_pending	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("calloc");
	p->a = a;
	p->req = req;
	p->code = code;
	p->role = a->role;
	LIST_INSERT_HEAD(&a->pending, p, entry);
	return (p);
}

/* Takes p off the list of waiting requests. */
static struct api *
api_pending_done(struct api_pending *p)
{
	LIST_REMOVE(p, entry);
	return (p->a);
}

/* The session record is on disk (or failed loudly): now reply. */
static void
api_barrier_cb(int ok, void *arg)
{
	struct api_pending	*p = arg;
	struct api		*a = api_pending_done(p);

	if (!ok)
		log_warnx("api: the session record could not be written; "
		    "replying anyway");
	api_reply_status(a, p->req, p->code, p->role);
	free(p);
}

/* Replies with the status once every session record so far is on disk. */
static void
api_reply_after_record(struct api *a, struct evhttp_request *req, int code)
{
	if (a->rec == NULL) {
		api_reply_status(a, req, code, a->role);
		return;
	}
	record_barrier(a->rec, api_barrier_cb, api_pending_new(a, req, code));
}

static void
api_sessions_cb(json_t *doc, void *arg)
{
	struct api_pending	*p = arg;

	api_pending_done(p);
	api_reply_json(p->req, 200, api_view_sessions(doc, p->role));
	free(p);
}

/* A refused start: answered, logged and recorded. */
static void
api_start_refused(struct api *a, struct evhttp_request *req,
    const char *prog, const char *prof, const char *actor, int rc,
    const char *why)
{
	char		 peer[80], msg[512];
	const char	*code;

	api_peer(req, peer, sizeof(peer));
	/* A contraindication names the client's condition: health data goes
	 * to the caller, never to the log or the records. */
	log_info("api: start of %s for %s by %s refused (from %s): %s", prog,
	    prof, actor, peer, rc == SESSION_ECONTRA ?
	    "contraindicated (the reason is in the reply)" : why);
	if (rc == -1) {
		snprintf(msg, sizeof(msg), "%s", why[0] != '\0' ? why :
		    "session records cannot be written");
		api_error(req, 503, "records_failing", "%s", msg);
		code = "records_failing";
		why = msg;
	} else
		code = api_session_error(req, rc, why);
	record_refused(a->rec, prog, prof, actor, code, rc == SESSION_ECONTRA ?
	    "contraindicated for a condition of the client" : why);
}

/* The start line is on disk, or the session must not go on. */
static void
api_start_recorded(int ok, void *arg)
{
	struct api_pending	*p = arg;
	struct api		*a = api_pending_done(p);
	struct session		*s = &a->c->session;
	char			 why[320], msg[400];

	if (ok) {
		api_reply_status(a, p->req, 201, p->role);
		free(p);
		return;
	}
	if (record_failing(why, sizeof(why), NULL) == 0)
		snprintf(why, sizeof(why), "session records cannot be "
		    "written");
	snprintf(msg, sizeof(msg), "%s; session %llu was stopped at once",
	    why, (unsigned long long)p->id);
	if (session_active(s) && s->id == p->id)
		session_halt(s, STOP_RECORD_FAILED, msg);
	log_warnx("api: %s", msg);
	api_error(p->req, 503, "records_failing", "%s", msg);
	free(p);
}

/* Its id is on disk: start the session, then wait for its start line. */
static void
api_start_reserved(int ok, void *arg)
{
	struct api_pending	*p = arg;
	struct api		*a = api_pending_done(p);
	struct session_input	 in;
	char			 why[512], peer[80];
	int			 rc;

	why[0] = '\0';
	if (!ok) {
		(void)record_failing(why, sizeof(why), NULL);
		api_start_refused(a, p->req, p->program, p->profile, p->actor, -1,
		    why);
		free(p);
		return;
	}
	tick_input(a->c, &in);
	if (a->c->session.id >= p->id) {
		/* Another start took this id while we waited. */
		rc = session_active(&a->c->session) ? SESSION_EBUSY :
		    SESSION_ESTATE;
		snprintf(why, sizeof(why), "another session started first; "
		    "try again");
	} else
		rc = session_start(&a->c->session, p->program, p->profile,
		    &in, p->actor, why, sizeof(why));
	if (rc != SESSION_OK) {
		api_start_refused(a, p->req, p->program, p->profile, p->actor, rc,
		    why);
		free(p);
		return;
	}
	api_peer(p->req, peer, sizeof(peer));
	log_info("api: session started by %s from %s", p->actor, peer);
	LIST_INSERT_HEAD(&a->pending, p, entry);
	p->id = a->c->session.id;
	record_barrier(a->rec, api_start_recorded, p);
}

/* --- routes ------------------------------------------------------------- */

static void
api_status(struct api *a, struct evhttp_request *req, json_t *body)
{
	api_reply_status(a, req, 200, a->role);
}

static void
api_programs(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "programs", status_programs_json(a->c));
	api_reply_json(req, 200, doc);
}

static void
api_routines(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "routines", status_routines_json(a->c));
	api_reply_json(req, 200, doc);
}

/* Every stop cause, from cause.c's table: the panel names and explains
 * stops with it instead of keeping a list of its own. */
static void
api_causes(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct cause	*c;
	json_t			*doc = json_object(), *list = json_array(), *o;
	int			 r;

	for (r = STOP_NONE + 1; r < STOP_NREASONS; r++) {
		c = cause_get(r);
		o = json_object();
		json_object_set_new(o, "key", json_string(c->key));
		json_object_set_new(o, "category", json_integer(c->category));
		json_object_set_new(o, "latches", json_boolean(c->latch));
		json_object_set_new(o, "label", json_string(c->label));
		json_object_set_new(o, "text", c->text != NULL ?
		    json_string(c->text) : json_null());
		json_object_set_new(o, "advice", c->advice != NULL ?
		    json_string(c->advice) : json_null());
		json_array_append_new(list, o);
	}
	json_object_set_new(doc, "causes", list);
	api_reply_json(req, 200, doc);
}

/* ?since=&until=&limit=&cursor=&scope= (docs/api.md). */
static int
api_sessions_param(struct evhttp_request *req, const char *k, const char *v,
    struct record_range *rg)
{
	long	 limit;

	if (strcmp(k, "limit") == 0) {
		if (parse_int(v, 1, API_SESSIONS_MAX, &limit) == -1) {
			api_error(req, 400, "bad_request", "parameter 'limit': "
			    "expected an integer from 1 to %d",
			    API_SESSIONS_MAX);
			return (-1);
		}
		rg->limit = (int)limit;
	} else if (strcmp(k, "since") == 0 || strcmp(k, "until") == 0) {
		if (record_time_parse(v, k[0] == 'u', k[0] == 'u' ? rg->until :
		    rg->since) == -1) {
			api_error(req, 400, "bad_request", "parameter '%s': "
			    "expected a date (2024-05-01) or a time in UTC "
			    "(2024-05-01T12:00:00Z)", k);
			return (-1);
		}
	} else if (strcmp(k, "scope") == 0) {
		if (strcmp(v, "table") != 0 && strcmp(v, "spa") != 0) {
			api_error(req, 400, "bad_request", "parameter "
			    "'scope': expected spa (every table's, from the "
			    "store; the default) or table (this table's own)");
			return (-1);
		}
		rg->local = v[0] == 't';
	} else if (strcmp(k, "cursor") == 0) {
		if (record_cursor_parse(v, rg) == -1) {
			api_error(req, 400, "bad_request", "parameter "
			    "'cursor': expected the next_cursor of an earlier "
			    "answer");
			return (-1);
		}
	} else {
		api_error(req, 400, "bad_request", "parameter '%s': unknown "
		    "(expected since, until, limit, cursor or scope)", k);
		return (-1);
	}
	return (0);
}

static void
api_sessions(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*q = uri != NULL ? evhttp_uri_get_query(uri) :
				    NULL;
	struct evkeyvalq	 params;
	struct evkeyval		*kv;
	struct record_range	 rg;
	json_t			*doc;

	memset(&rg, 0, sizeof(rg));
	rg.limit = API_SESSIONS_DEFAULT;
	TAILQ_INIT(&params);
	if (q != NULL && evhttp_parse_query_str(q, &params) == -1) {
		api_error(req, 400, "bad_request", "the query string is not "
		    "valid");
		return;
	}
	TAILQ_FOREACH(kv, &params, next) {
		if (api_sessions_param(req, kv->key, kv->value, &rg) == -1) {
			evhttp_clear_headers(&params);
			return;
		}
	}
	evhttp_clear_headers(&params);
	if (a->rec == NULL) {
		doc = json_object();
		json_object_set_new(doc, "sessions", json_array());
		json_object_set_new(doc, "next_cursor", json_null());
		api_sessions_cb(doc, api_pending_new(a, req, 200));
		return;
	}
	record_query(a->rec, &rg, api_sessions_cb,
	    api_pending_new(a, req, 200));
}

static void
api_start_session(struct api *a, struct evhttp_request *req, json_t *body)
{
	static const char *const known[] = { "program", "profile", NULL };
	struct session_input	 in;
	struct api_pending	*p;
	const char		*prog, *prof, *k;
	char			 why[512];
	int			 rc;

	if ((k = api_unknown_field(body, known)) != NULL) {
		api_error(req, 400, "bad_request", "field '%s': unknown field "
		    "(expected program and profile)", k);
		return;
	}
	if ((prog = api_id_field(req, body, "program", "program")) == NULL ||
	    (prof = api_id_field(req, body, "profile", "profile")) == NULL)
		return;
	/* An upgrade waits for this session's end (SIGUSR2). */
	if (a->c->restart_when_idle) {
		api_error(req, 503, "restarting", "the table restarts for an "
		    "upgrade as soon as it is idle; start the session again in "
		    "a minute");
		if (a->rec != NULL)
			record_refused(a->rec, prog, prof, a->actor,
			    "restarting", "the table restarts for an upgrade");
		return;
	}
	if (a->rec == NULL) {
		tick_input(a->c, &in);
		rc = session_start(&a->c->session, prog, prof, &in, a->actor,
		    why, sizeof(why));
		if (rc != SESSION_OK)
			api_session_error(req, rc, why);
		else
			api_reply_status(a, req, 201, a->role);
		return;
	}
	/* Records that cannot be written refuse a start at once. */
	if (record_failing(why, sizeof(why), NULL) == -1) {
		api_start_refused(a, req, prog, prof, a->actor, -1, why);
		return;
	}
	p = api_pending_new(a, req, 201);
	snprintf(p->program, sizeof(p->program), "%s", prog);
	snprintf(p->profile, sizeof(p->profile), "%s", prof);
	snprintf(p->actor, sizeof(p->actor), "%s", a->actor);
	p->id = a->c->session.id + 1;
	record_reserve(a->rec, p->id, api_start_reserved, p);
}

static void
api_pause(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_pause(&a->c->session, a->actor, why,
	    sizeof(why))) != SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200, a->role);
}

static void
api_resume(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_resume(&a->c->session, a->actor, why,
	    sizeof(why))) != SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200, a->role);
}

static void
api_stop(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_stop(&a->c->session, a->actor, why,
	    sizeof(why))) != SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_after_record(a, req, 200);
}

static void
api_intensity(struct api *a, struct evhttp_request *req, json_t *body)
{
	static const char *const known[] = { "percent", NULL };
	json_t		*v;
	const char	*k;
	char		 why[256];
	int		 rc;

	if ((k = api_unknown_field(body, known)) != NULL) {
		api_error(req, 400, "bad_request", "field '%s': unknown field "
		    "(expected percent)", k);
		return;
	}
	v = json_object_get(body, "percent");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 10 ||
	    json_integer_value(v) > 100) {
		api_error(req, 400, "bad_request", "field 'percent': %s",
		    v == NULL ? "missing (expected an integer from 10 to 100)" :
		    "expected an integer from 10 to 100");
		return;
	}
	if ((rc = session_intensity(&a->c->session,
	    (int)json_integer_value(v), a->actor, why, sizeof(why))) !=
	    SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200, a->role);
}

/* The name and role of the request's token, for the panel. */
static void
api_whoami(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();
	int	 i;

	for (i = 0; i < a->ntokens; i++)
		if (a->actor == a->token_name[i])
			break;
	json_object_set_new(doc, "name", json_string(a->actor));
	json_object_set_new(doc, "role", json_string(i < a->ntokens ?
	    api_role_name(a->token_role[i]) : "viewer"));
	api_reply_json(req, 200, doc);
}

static void
api_estop(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 peer[80];

	/* The vent first; everything else can wait. */
	session_estop(&a->c->session, a->actor);
	api_peer(req, peer, sizeof(peer));
	log_warnx("api: emergency stop by %s from %s", a->actor, peer);
	api_reply_after_record(a, req, 200);
}

static void
api_reset(struct api *a, struct evhttp_request *req, json_t *body)
{
	struct api_pending	*p;
	struct session_input	 in;
	char			 why[256];
	int			 rc;

	tick_input(a->c, &in);
	rc = session_reset(&a->c->session, &in, a->actor, why, sizeof(why));
	if (rc == SESSION_EPENDING) {
		/* Answered when the controllers have cleared their faults,
		 * or refused the reset (api_reset_done()). */
		p = api_pending_new(a, req, 200);
		LIST_REMOVE(p, entry);
		LIST_INSERT_HEAD(&a->resets, p, entry);
	} else if (rc != SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200, a->role);
}

/* A session event: answers the resets waiting for the controllers. */
static void
api_reset_done(void *arg, enum session_event ev)
{
	struct api		*a = arg;
	struct api_pending	*p;

	if (ev != SESSION_EV_RESET && ev != SESSION_EV_RESET_REFUSED)
		return;
	while ((p = LIST_FIRST(&a->resets)) != NULL) {
		LIST_REMOVE(p, entry);
		if (ev == SESSION_EV_RESET)
			api_reply_status(a, p->req, 200, p->role);
		else
			api_error(p->req, 409, "fault_persists", "%s",
			    a->c->session.reset_refusal);
		free(p);
	}
}

/* Every observer of the API: the event stream, then pending resets. */
static void
api_observe(void *arg, enum session_event ev)
{
	api_stream_event(arg, ev);
	api_reset_done(arg, ev);
}

static void
api_metrics(struct api *a, struct evhttp_request *req, json_t *body)
{
	metrics_render(a->c, evhttp_request_get_output_buffer(req));
	api_conn_metrics(a, evhttp_request_get_output_buffer(req));
	api_headers(req, METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* --- dispatch ----------------------------------------------------------- */

static int
api_framing_ambiguous(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evkeyval		*kv;
	int			 cl = 0, te = 0;

	TAILQ_FOREACH(kv, h, next) {
		if (strcasecmp(kv->key, "Content-Length") == 0)
			cl++;
		else if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
			te++;
	}
	return (cl > 1 || (cl > 0 && te > 0) || te > 1);
}

/* The route a path takes: /api/v1/profiles/ID... takes one with a star. */
static const char *
api_route_of(const char *path)
{
	size_t	 n = strlen(API_PROFILE_ROUTE) - 1;

	if (strncmp(path, API_PROFILE_ROUTE, n) == 0 && path[n] != '\0')
		return (API_PROFILE_ROUTE);
	return (path);
}

static void
api_dispatch(struct evhttp_request *req, void *arg)
{
	struct api		*a = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const struct api_route	*r = NULL;
	const char		*path;
	char			 allow[128] = "", peer[80];
	int			 cmd = evhttp_request_get_command(req);
	int			 tok = 0;
	size_t			 i;
	json_t			*body;

	api_conn_request(a, req);
	/* Two Content-Lengths, or one with chunked encoding: the body's end
	 * is ambiguous, and a second request could hide in it. */
	if (api_framing_ambiguous(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		api_error(req, 400, "bad_request", "ambiguous message length "
		    "(several Content-Length headers, or Content-Length with "
		    "Transfer-Encoding)");
		return;
	}
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (!api_utf8(path) || !api_utf8(evhttp_request_get_uri(req))) {
		api_error(req, 400, "bad_request", "the request path is not "
		    "valid UTF-8");
		return;
	}
	for (i = 0; i < API_NROUTES; i++) {
		if (strcmp(api_routes[i].path, api_route_of(path)) != 0)
			continue;
		if (api_routes[i].method == cmd)
			r = &api_routes[i];
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow),
		    "%s%s", allow[0] != '\0' ? ", " : "",
		    api_method_name(api_routes[i].method));
	}
	if (r == NULL && allow[0] != '\0') {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", allow);
		api_error(req, 405, "method_not_allowed", "%s is not allowed "
		    "on %s (allowed: %s)", api_method_name(cmd), path, allow);
		return;
	}
	if (r == NULL) {
		if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0)
			api_not_found(req);
		else
			api_panel(a, req);
		return;
	}
	if (r->auth && (tok = api_authorized(a, req)) == 0) {
		api_peer(req, peer, sizeof(peer));
		log_info("api: %s %s from %s: no valid bearer token",
		    api_method_name(cmd), path, peer);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Authorization") ==
		    NULL ? "Bearer realm=\"massaged\"" :
		    "Bearer realm=\"massaged\", error=\"invalid_token\"");
		api_error(req, 401, "unauthorized", "a valid bearer token is "
		    "required (Authorization: Bearer TOKEN, from the token "
		    "file)");
		return;
	}
	a->actor = r->auth ? a->token_name[tok - 1] : NULL;
	a->role = r->auth ? a->token_role[tok - 1] : API_ROLE_VIEWER;
	if (r->auth && a->token_role[tok - 1] == API_ROLE_VIEWER &&
	    r->method != EVHTTP_REQ_GET && r->fn != api_estop) {
		log_info("api: %s %s by %s refused: a viewer may watch and "
		    "press STOP only", api_method_name(cmd), path, a->actor);
		api_error(req, 403, "forbidden", "the token %s is a viewer: "
		    "it may watch and press STOP only", a->actor);
		return;
	}
	if (api_body(req, r->body, &body) == -1)
		return;
	r->fn(a, req, body);
	json_decref(body);
	a->actor = NULL;
}

/* --- start and stop ----------------------------------------------------- */

static int
api_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((ntohl(((const struct sockaddr_in *)(const void *)ss)->
		    sin_addr.s_addr) >> 24) == 127);
	if (ss->ss_family == AF_INET6)
		return (IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)
		    (const void *)ss)->sin6_addr));
	return (0);
}

static int
api_listen(struct api *a, char *err, size_t errlen)
{
	const struct table		*t = a->c->cfg->table;
	struct evhttp_bound_socket	*bound;
	struct sockaddr_storage		 ss;
	socklen_t			 sslen = sizeof(ss);
	char				 host[INET6_ADDRSTRLEN];
	int				 port;

	errno = 0;
	bound = evhttp_bind_socket_with_handle(a->http, t->listen_host,
	    (ev_uint16_t)t->listen_port);
	if (bound == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s",
		    t->listen_host, t->listen_port, errno != 0 ?
		    strerror(errno) : "address not usable");
		return (-1);
	}
	/* evhttp listens with a backlog of 128: a burst of connections
	 * (an attack the caps in api-conn.c deal with) must not fill the
	 * kernel's queue so that an e-stop's connection is dropped. */
	if (listen(evhttp_bound_socket_get_fd(bound), SOMAXCONN) == -1)
		log_warn("api: listen");
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return (-1);
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(a->url, sizeof(a->url), "http://[%s]:%d/", host, port);
	} else {
		const struct sockaddr_in *s4 = (const void *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(a->url, sizeof(a->url), "http://%s:%d/", host, port);
	}
	if (!api_loopback(&ss))
		log_warnx("api: listening on %s, which is not a loopback "
		    "address: anyone on that network with a token controls "
		    "the table; keep the token file secret and the network "
		    "closed", a->url);
	log_info("api: listening on %s", a->url);
	api_conn_listening(a, bound);
	return (0);
}

struct api *
api_start(struct tick *c, struct event_base *base, struct record *rec,
    char *err, size_t errlen)
{
	const struct table		*t = c->cfg->table;
	struct tick_observer		 obs;
	struct api			*a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	a->c = c;
	a->base = base;
	a->rec = rec;
	TAILQ_INIT(&a->streams);
	LIST_INIT(&a->pending);
	LIST_INIT(&a->resets);
	if (api_tokens_start(a, t, err, errlen) == -1)
		goto fail;
	api_panel_start(a, t);
	if (api_profiles_start(a) == -1) {
		snprintf(err, errlen, "state_dir %s is too long", t->state_dir);
		goto fail;
	}

	if ((a->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "evhttp_new failed");
		goto fail;
	}
	evhttp_set_max_body_size(a->http, API_MAX_BODY);
	evhttp_set_max_headers_size(a->http, API_MAX_HEADERS);
	evhttp_set_timeout(a->http, API_TIMEOUT_S);
	evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* Every method reaches the dispatcher, which answers 405 itself. */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(a->http, api_dispatch, a);
	if (api_conn_start(a) == -1 || api_stream_start(a) == -1) {
		snprintf(err, errlen, "event_new failed");
		goto fail;
	}
	if (api_listen(a, err, errlen) == -1)
		goto fail;

	memset(&obs, 0, sizeof(obs));
	obs.arg = a;
	obs.event = api_observe;
	tick_observe(c, &obs);
	log_info("api: %d token%s from %s; panel %s", a->ntokens,
	    a->ntokens == 1 ? "" : "s", a->token_path, a->panel_dir[0] != '\0' ?
	    a->panel_dir : "not served");
	return (a);
fail:
	api_profiles_stop(a);
	api_stream_stop(a);
	api_conn_stop(a);
	if (a->http != NULL)
		evhttp_free(a->http);
	api_tokens_clear(a);
	free(a);
	return (NULL);
}

void
api_free(struct api *a)
{
	struct api_pending	*p;

	if (a == NULL)
		return;
	/* Stop observing: the control loop outlives the API. */
	tick_unobserve(a->c, a);
	api_stream_stop(a);
	api_profiles_stop(a);
	/*
	 * Requests still waiting for record.c: the loop has stopped, so their
	 * callbacks can no longer run (record_close() drops them), and evhttp
	 * frees the requests with their connections below.
	 */
	while ((p = LIST_FIRST(&a->pending)) != NULL) {
		LIST_REMOVE(p, entry);
		free(p);
	}
	while ((p = LIST_FIRST(&a->resets)) != NULL) {
		LIST_REMOVE(p, entry);
		free(p);
	}
	api_conn_stop(a);
	evhttp_free(a->http);
	api_tokens_clear(a);
	free(a);
}
