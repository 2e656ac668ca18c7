/*
 * api-stream.c: the event stream, GET /api/v1/events: a status snapshot
 * ten times a second and every session event at once, as server-sent
 * events over a chunked reply, each as its reader's role may see it
 * (api-view.c). A client that does not keep up is dropped, never waited
 * for. Streams are capped per token and per role, so that viewers cannot
 * starve the operators: an operator's or admin's token without a stream
 * always gets one (api_stream_admit()).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "api-private.h"
#include "tick.h"
#include "record.h"
#include "status.h"

#define API_STREAMS_MAX		64	/* all streams */
#define API_STREAMS_VIEWERS_MAX	32	/* of all viewer tokens together */
#define API_STREAMS_TOKEN_MAX	16	/* of one token */
#define API_STREAM_HZ		10
#define API_STREAM_BUF_MAX	(256 * 1024)
#define API_STREAM_WRITE_S	10
#define API_STREAM_SNDBUF	(64 * 1024)

struct api_stream {
	TAILQ_ENTRY(api_stream)	 entry;
	struct api		*a;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	uint64_t		 sent;
	enum api_role		 role;		/* of its token, when opened */
	char			 actor[SESSION_ACTOR_LEN];	/* its name */
	char			 token[API_TOKEN_MAX + 1];	/* for reloads */
};

static void	api_stream_status(struct api *, struct api_stream *);
static void	api_stream_drop(struct api *, struct api_stream *,
		    const char *);

static void
api_stream_free(struct api *a, struct api_stream *s)
{
	TAILQ_REMOVE(&a->streams, s, entry);
	a->nstreams--;
	if (a->nstreams == 0)
		evtimer_del(a->stream_ev);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
}

/* The client went away (or its connection failed): forget it. */
static void
api_stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_stream	*s = arg;
	struct evhttp_request	*req = s->req;

	log_debug("api: event stream client gone after %llu events",
	    (unsigned long long)s->sent);
	api_stream_free(s->a, s);
	/* A request cut off its connection is ours to free. */
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

/* Drops a client that does not keep up; never waits for it. */
static void
api_stream_drop(struct api *a, struct api_stream *s, const char *why)
{
	struct evhttp_connection	*evcon = s->evcon;

	log_info("api: dropping an event stream client: %s", why);
	api_conn_set_closecb(a, evcon, NULL, NULL);
	api_stream_free(a, s);
	evhttp_connection_free(evcon);
}

/* Sends one event to one client; 0, or -1 when the client was dropped. */
static int
api_stream_send_one(struct api *a, struct api_stream *s, const char *type,
    const char *data)
{
	struct evbuffer		*buf;
	struct bufferevent	*bev;

	bev = evhttp_connection_get_bufferevent(s->evcon);
	if (evbuffer_get_length(bufferevent_get_output(bev)) >
	    API_STREAM_BUF_MAX) {
		api_stream_drop(a, s, "more than 256 KiB unread");
		return (-1);
	}
	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add_printf(buf, "event: %s\ndata: %s\n\n", type, data);
	evhttp_send_reply_chunk(s->req, buf);
	evbuffer_free(buf);
	s->sent++;
	return (0);
}

static void
api_stream_send(struct api *a, const char *type, const char *data)
{
	struct api_stream	*s, *next;

	for (s = TAILQ_FIRST(&a->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		api_stream_send_one(a, s, type, data);
	}
}

/* A status snapshot, to one client (a new one) or to all (one == NULL):
 * dumped once as admins and operators see it, then once as viewers do. */
static void
api_stream_status(struct api *a, struct api_stream *one)
{
	struct api_stream	*s, *next;
	char			*str[2] = { NULL, NULL };
	json_t			*doc;
	int			 need[2] = { 0, 0 };

	if (a->nstreams == 0)
		return;
	TAILQ_FOREACH(s, &a->streams, entry)
		if (one == NULL || s == one)
			need[s->role == API_ROLE_VIEWER] = 1;
	doc = status_json(a->c, record_status_json());
	if (need[0])
		str[0] = json_dumps(doc, STATUS_JSON_FLAGS);
	if (need[1])
		str[1] = json_dumps(api_view_status(doc, API_ROLE_VIEWER),
		    STATUS_JSON_FLAGS);
	json_decref(doc);
	for (s = TAILQ_FIRST(&a->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if ((one == NULL || s == one) &&
		    str[s->role == API_ROLE_VIEWER] != NULL)
			api_stream_send_one(a, s, "status",
			    str[s->role == API_ROLE_VIEWER]);
	}
	free(str[0]);
	free(str[1]);
}

static void
api_stream_timer(evutil_socket_t fd, short what, void *arg)
{
	api_stream_status(arg, NULL);
}

/* A session event: tell every stream client, with the facts of it. */
void
api_stream_event(void *arg, enum session_event ev)
{
	struct api	*a = arg;
	json_t		*doc;
	char		*str;

	if (a->nstreams == 0)
		return;
	doc = status_event_json(a->c, ev);
	str = json_dumps(doc, STATUS_JSON_FLAGS);
	json_decref(doc);
	if (str != NULL)
		api_stream_send(a, session_event_name(ev), str);
	free(str);
}

/* How many streams the token named actor holds, and all viewers. */
static int
api_stream_count(struct api *a, const char *actor, int *viewers)
{
	struct api_stream	*s;
	int			 n = 0;

	*viewers = 0;
	TAILQ_FOREACH(s, &a->streams, entry) {
		n += strcmp(s->actor, actor) == 0;
		*viewers += s->role == API_ROLE_VIEWER;
	}
	return (n);
}

/* The oldest stream of the token that holds the most (a viewer's on a
 * tie), and in *most how many that token holds. */
static struct api_stream *
api_stream_heaviest(struct api *a, int *most)
{
	struct api_stream	*s, *t, *best = NULL;
	int			 n;

	*most = 0;
	TAILQ_FOREACH(s, &a->streams, entry) {
		n = 0;
		TAILQ_FOREACH(t, &a->streams, entry)
			n += strcmp(t->actor, s->actor) == 0;
		if (n > *most || (n == *most && best->role !=
		    API_ROLE_VIEWER && s->role == API_ROLE_VIEWER)) {
			best = s;
			*most = n;
		}
	}
	return (best);
}

/*
 * May the request's token open one more stream? A token holds at most
 * API_STREAMS_TOKEN_MAX, all viewers together API_STREAMS_VIEWERS_MAX,
 * so operators and admins keep the rest. When every place is taken, an
 * operator's or admin's newcomer takes the place of the oldest stream of
 * the token that holds the most, if that one holds two more than its own
 * token: a token without a stream always gets one. 0, or -1 refused (503).
 */
static int
api_stream_admit(struct api *a, struct evhttp_request *req)
{
	struct api_stream	*victim;
	char			 why[160];
	int			 mine, viewers, most;

	mine = api_stream_count(a, a->actor, &viewers);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Retry-After", "5");
	if (mine >= API_STREAMS_TOKEN_MAX) {
		api_error(req, 503, "too_many_streams", "the token %s already "
		    "has %d event streams (at most %d per token)", a->actor,
		    mine, API_STREAMS_TOKEN_MAX);
		return (-1);
	}
	if (a->role == API_ROLE_VIEWER && viewers >= API_STREAMS_VIEWERS_MAX) {
		api_error(req, 503, "too_many_streams", "viewer tokens already "
		    "have %d event streams (at most %d together; the other %d "
		    "are kept for operators and admins)", viewers,
		    API_STREAMS_VIEWERS_MAX, API_STREAMS_MAX -
		    API_STREAMS_VIEWERS_MAX);
		return (-1);
	}
	if (a->nstreams < API_STREAMS_MAX)
		goto admit;
	if (a->role != API_ROLE_VIEWER &&
	    (victim = api_stream_heaviest(a, &most)) != NULL &&
	    most > mine + 1) {
		snprintf(why, sizeof(why), "every place is taken and its "
		    "token %s holds %d streams: %s (%s) gets its place",
		    victim->actor, most, a->actor, api_role_name(a->role));
		api_stream_drop(a, victim, why);
		goto admit;
	}
	api_error(req, 503, "too_many_streams", "already %d event stream "
	    "clients (at most %d)", a->nstreams, API_STREAMS_MAX);
	return (-1);
admit:
	evhttp_remove_header(evhttp_request_get_output_headers(req),
	    "Retry-After");
	return (0);
}

void
api_events(struct api *a, struct evhttp_request *req, json_t *body)
{
	struct api_stream		*s;
	struct evhttp_connection	*evcon;
	struct evbuffer			*buf;
	struct timeval			 wtv = { API_STREAM_WRITE_S, 0 };
	struct timeval			 tv = { 0, 1000000 / API_STREAM_HZ };
	struct bufferevent		*bev;
	evutil_socket_t			 fd;
	int				 i, sndbuf = API_STREAM_SNDBUF;

	if (api_stream_admit(a, req) == -1)
		return;
	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->a = a;
	s->req = req;
	s->evcon = evcon;
	s->role = a->role;
	snprintf(s->actor, sizeof(s->actor), "%s", a->actor);
	for (i = 0; i < a->ntokens; i++)
		if (a->actor == a->token_name[i])
			memcpy(s->token, a->tokens[i], sizeof(s->token));
	TAILQ_INSERT_TAIL(&a->streams, s, entry);
	if (a->nstreams++ == 0)
		evtimer_add(a->stream_ev, &tv);
	api_conn_set_closecb(a, evcon, api_stream_closed, s);

	api_headers(req, "text/event-stream; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, NULL);
	/* No read timeout (the client never speaks again); a client that
	 * stops reading fails on the write timeout or the buffer cap, which
	 * a small kernel send buffer brings near. */
	bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_set_timeouts(bev, NULL, &wtv);
	if ((fd = bufferevent_getfd(bev)) != -1)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add_printf(buf, "retry: 1000\n\n");
	evhttp_send_reply_chunk(req, buf);
	evbuffer_free(buf);
	log_debug("api: event stream client %d", a->nstreams);
	/* The newcomer's first snapshot goes to it alone. */
	api_stream_status(a, s);
}

/*
 * The token file was read again: a stream whose token is gone, or has
 * another name or role now, ends (its reader reconnects with what its
 * token is now), so that no stream outlives what its token may see.
 */
void
api_stream_retoken(struct api *a)
{
	struct api_stream	*s, *next;
	int			 i, keep;

	for (s = TAILQ_FIRST(&a->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		for (i = 0, keep = 0; i < a->ntokens && !keep; i++)
			keep = strcmp(a->tokens[i], s->token) == 0 &&
			    strcmp(a->token_name[i], s->actor) == 0 &&
			    a->token_role[i] == s->role;
		if (!keep)
			api_stream_drop(a, s, "its token was revoked, or "
			    "its name or role changed");
	}
}

int
api_stream_start(struct api *a)
{
	a->stream_ev = event_new(a->base, -1, EV_PERSIST, api_stream_timer, a);
	return (a->stream_ev != NULL ? 0 : -1);
}

/* Forgets every client (their connections go with evhttp_free()). */
void
api_stream_stop(struct api *a)
{
	struct api_stream	*s;

	while ((s = TAILQ_FIRST(&a->streams)) != NULL) {
		api_conn_set_closecb(a, s->evcon, NULL, NULL);
		api_stream_free(a, s);
	}
	if (a->stream_ev != NULL)
		event_free(a->stream_ev);
	a->stream_ev = NULL;
}
