/*
 * api-stream.c: the event stream, GET /api/v1/events: a status snapshot
 * ten times a second and every session event at once, as server-sent
 * events over a chunked reply. A client that does not keep up is dropped,
 * never waited for.
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

#define API_STREAMS_MAX		64
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
};

static void	api_stream_status(struct api *, struct api_stream *);

static void
api_stream_free(struct api *a, struct api_stream *s)
{
	TAILQ_REMOVE(&a->streams, s, entry);
	a->nstreams--;
	if (a->nstreams == 0)
		evtimer_del(a->stream_ev);
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

/* A status snapshot, to one client (a new one) or to all (s == NULL). */
static void
api_stream_status(struct api *a, struct api_stream *one)
{
	char	*s;
	json_t	*doc;

	if (a->nstreams == 0)
		return;
	doc = status_json(a->c, record_status_json());
	s = json_dumps(doc, STATUS_JSON_FLAGS);
	json_decref(doc);
	if (s != NULL && one != NULL)
		api_stream_send_one(a, one, "status", s);
	else if (s != NULL)
		api_stream_send(a, "status", s);
	free(s);
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
	int				 sndbuf = API_STREAM_SNDBUF;

	if (a->nstreams >= API_STREAMS_MAX) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "5");
		api_error(req, 503, "too_many_streams", "already %d event "
		    "stream clients (at most %d)", a->nstreams,
		    API_STREAMS_MAX);
		return;
	}
	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->a = a;
	s->req = req;
	s->evcon = evcon;
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
