/*
 * api-conn.c: the API's connections: how many, from whom, for how long.
 *
 * evhttp accepts and parses; this file watches every connection it makes
 * (through evhttp's bufferevent hook) so that nothing a client does can
 * take the descriptors the daemon needs for its Modbus links, its records
 * and the next e-stop request:
 *  - at most conns_max connections in all and conns_peer_max from one
 *    address, both well under RLIMIT_NOFILE minus API_FD_RESERVE;
 *  - a connection must bring a complete request (headers and body) within
 *    API_REQUEST_S of connecting or of its previous reply, whatever it
 *    trickles (libevent 2.1's own timeout is an idle one, restarted by
 *    every byte);
 *  - when a new connection goes over a cap, the oldest connection that is
 *    still waiting for its request (of that address, or of any) is closed
 *    to make room; a connection being served (a reply under way, an event
 *    stream) is never closed for a newcomer; only when every connection
 *    is being served is the newcomer refused and accepting paused until
 *    one ends;
 *  - an accept error (out of descriptors) pauses accepting for
 *    API_ACCEPT_PAUSE_MS instead of spinning, frees a waiting connection,
 *    and is logged at most once a second.
 *
 * libevent 2.1 tells nobody of a new connection (evhttp_set_newreqcb()
 * came in 2.2), so the bufferevent hook makes each one's bufferevent and
 * api_conn_attach(), on the same loop turn, finds the connection as the
 * argument evhttp gave that bufferevent's callbacks (bufferevent_getcb()),
 * and watches it through its close callback.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "api-private.h"
#include "clock.h"

#define API_REQUEST_S		5	/* connect to complete request */
#define API_CONNS_MAX		1024
#define API_FD_RESERVE		128	/* links, records, files, journal */
#define API_CONNS_BURST		64	/* accepted before the caps act */
#define API_ACCEPT_BATCH	32	/* per loop turn: the tick comes first */
#define API_ACCEPT_PAUSE_MS	100

struct api_conn {
	TAILQ_ENTRY(api_conn)	 entry;	/* oldest first */
	struct api		*a;
	struct bufferevent	*bev;
	struct evhttp_connection *evcon;	/* NULL until attached */
	struct sockaddr_storage	 peer;
	int			 busy;	/* a request is being served */
	int64_t			 since_ms;	/* waiting for a request since */
	struct event		*deadline;
	void			(*closecb)(struct evhttp_connection *, void *);
	void			*closearg;
};

static void	api_conn_resume_maybe(struct api *);

/* The listener's error callback gets evhttp's argument, not ours. */
static struct api	*api_conn_owner;

static int64_t
api_conn_now_ms(void)
{
	return ((int64_t)(clock_mono_ns() / 1000000));
}

static void
api_conn_accepting(struct api *a, int on)
{
	if (a->listener == NULL || a->accepting == on)
		return;
	if (on)
		evconnlistener_enable(a->listener);
	else
		evconnlistener_disable(a->listener);
	a->accepting = on;
}

static void
api_conn_peer_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    ss)->sin_addr, host, sizeof(host));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)ss)->sin6_addr, host, sizeof(host));
	snprintf(buf, len, "%s", host);
}

static int
api_conn_same_peer(const struct sockaddr_storage *x,
    const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return (0);
	if (x->ss_family == AF_INET)
		return (((const struct sockaddr_in *)(const void *)x)->
		    sin_addr.s_addr == ((const struct sockaddr_in *)
		    (const void *)y)->sin_addr.s_addr);
	if (x->ss_family == AF_INET6)
		return (memcmp(&((const struct sockaddr_in6 *)(const void *)x)->
		    sin6_addr, &((const struct sockaddr_in6 *)(const void *)y)->
		    sin6_addr, sizeof(struct in6_addr)) == 0);
	return (0);
}

/* evhttp closed the connection (or we did): forget it. */
static void
api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_conn	*k = arg;
	struct api	*a = k->a;

	if (k->closecb != NULL)
		k->closecb(evcon, k->closearg);
	TAILQ_REMOVE(&a->conns, k, entry);
	a->nconns--;
	event_free(k->deadline);
	free(k);
	api_conn_resume_maybe(a);
}

/* Closes a connection now; its closed callback forgets it. */
static void
api_conn_close(struct api_conn *k)
{
	evhttp_connection_free(k->evcon);
}

static void
api_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn	*k = arg;
	char		 peer[INET6_ADDRSTRLEN];

	if (k->busy)
		return;
	k->a->conns_timed_out++;
	api_conn_peer_str(&k->peer, peer, sizeof(peer));
	/* debug: browsers leave idle connections all the time */
	log_debug("api: closing a connection from %s: no complete request "
	    "within %d s", peer, API_REQUEST_S);
	api_conn_close(k);
}

static void
api_conn_wait(struct api_conn *k)
{
	struct timeval	 tv = { API_REQUEST_S, 0 };

	k->busy = 0;
	k->since_ms = api_conn_now_ms();
	evtimer_add(k->deadline, &tv);
}

/*
 * The oldest connection still waiting for its request, from peer (or from
 * anyone when peer is NULL), other than but; NULL if none.
 */
static struct api_conn *
api_conn_idlest(struct api *a, const struct sockaddr_storage *peer,
    const struct api_conn *but)
{
	struct api_conn	*k, *best = NULL;

	TAILQ_FOREACH(k, &a->conns, entry) {
		if (k == but || k->busy || k->evcon == NULL)
			continue;
		if (peer != NULL && !api_conn_same_peer(&k->peer, peer))
			continue;
		if (best == NULL || k->since_ms < best->since_ms)
			best = k;
	}
	return (best);
}

/*
 * Accepting again, unless paused after an error: below the cap, or with a
 * waiting connection that can make room for the next one.
 */
static void
api_conn_resume_maybe(struct api *a)
{
	if (a->accepting || a->accept_paused)
		return;
	if (a->nconns < a->conns_max || (a->nconns < a->conns_max +
	    API_CONNS_BURST && api_conn_idlest(a, NULL, NULL) != NULL))
		api_conn_accepting(a, 1);
}

/*
 * k is over a cap: close the oldest waiting connection to make room, or
 * k itself (and pause accepting) when every other one is being served.
 * 0 if k stays.
 */
static int
api_conn_make_room(struct api *a, struct api_conn *k,
    const struct sockaddr_storage *peer)
{
	struct api_conn	*old;
	char		 who[INET6_ADDRSTRLEN], cap[96];

	api_conn_peer_str(&k->peer, who, sizeof(who));
	if (peer != NULL)
		snprintf(cap, sizeof(cap), "%d connections from %s",
		    a->conns_peer_max, who);
	else
		snprintf(cap, sizeof(cap), "%d connections", a->conns_max);
	if ((old = api_conn_idlest(a, peer, k)) != NULL) {
		log_warnx("api: %s: closing the oldest one still waiting for "
		    "its request", cap);
		a->conns_evicted++;
		api_conn_close(old);
		return (0);
	}
	log_warnx("api: %s, all being served: refusing a new one from %s",
	    cap, who);
	a->conns_refused++;
	if (peer == NULL)
		api_conn_accepting(a, 0);	/* until one ends */
	api_conn_close(k);
	return (-1);
}

static int
api_conn_count_peer(struct api *a, const struct sockaddr_storage *peer)
{
	struct api_conn	*k;
	int		 n = 0;

	TAILQ_FOREACH(k, &a->conns, entry)
		if (k->evcon != NULL && api_conn_same_peer(&k->peer, peer))
			n++;
	return (n);
}

/* New connections: find their evhttp connection, then apply the caps. */
static void
api_conn_attach(evutil_socket_t fd, short what, void *arg)
{
	struct api		*a = arg;
	struct api_conn		*k, *next;
	struct sockaddr_storage	 peer;
	socklen_t		 len;
	bufferevent_data_cb	 rd;
	void			*cbarg;

	for (k = TAILQ_FIRST(&a->conns); k != NULL; k = next) {
		next = TAILQ_NEXT(k, entry);
		if (k->evcon != NULL)
			continue;
		rd = NULL;
		cbarg = NULL;
		bufferevent_getcb(k->bev, &rd, NULL, NULL, &cbarg);
		if (rd == NULL || cbarg == NULL) {
			/* evhttp did not take it (out of memory) */
			bufferevent_free(k->bev);
			TAILQ_REMOVE(&a->conns, k, entry);
			a->nconns--;
			event_free(k->deadline);
			free(k);
			continue;
		}
		k->evcon = cbarg;
		evhttp_connection_set_closecb(k->evcon, api_conn_closed, k);
		len = sizeof(k->peer);
		if (getpeername(bufferevent_getfd(k->bev),
		    (struct sockaddr *)&k->peer, &len) == -1)
			memset(&k->peer, 0, sizeof(k->peer));
		api_conn_wait(k);
		peer = k->peer;
		if (api_conn_count_peer(a, &peer) > a->conns_peer_max &&
		    api_conn_make_room(a, k, &peer) == -1)
			continue;
		if (a->nconns > a->conns_max)
			(void)api_conn_make_room(a, k, NULL);
	}
	a->accept_batch = 0;
	api_conn_resume_maybe(a);
}

/* evhttp's hook for a new connection's bufferevent: we make it, and note
 * it; api_conn_attach() runs once the accepting is done. */
static struct bufferevent *
api_conn_bev(struct event_base *base, void *arg)
{
	struct api	*a = arg;
	struct api_conn	*k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return (NULL);
	/* As evhttp makes its own: evhttp closes the socket itself. */
	if ((k->bev = bufferevent_socket_new(base, -1, 0)) == NULL ||
	    (k->deadline = evtimer_new(base, api_conn_timeout, k)) == NULL) {
		if (k->bev != NULL)
			bufferevent_free(k->bev);
		free(k);
		return (NULL);
	}
	k->a = a;
	k->since_ms = api_conn_now_ms();
	TAILQ_INSERT_TAIL(&a->conns, k, entry);
	a->nconns++;
	event_active(a->conn_ev, EV_TIMEOUT, 0);
	/* A burst waits in the kernel's queue: the loop takes a batch per
	 * turn (its timers, the tick, run between), and nothing past the
	 * cap until the caps have made room. */
	if (++a->accept_batch >= API_ACCEPT_BATCH ||
	    a->nconns >= a->conns_max + API_CONNS_BURST)
		api_conn_accepting(a, 0);
	return (k->bev);
}

static void
api_conn_resume(evutil_socket_t fd, short what, void *arg)
{
	struct api	*a = arg;

	a->accept_paused = 0;
	api_conn_resume_maybe(a);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): pause, never spin. */
static void
api_conn_accept_error(struct evconnlistener *lev, void *arg)
{
	struct api	*a = api_conn_owner;
	struct api_conn	*old;
	struct timeval	 tv = { 0, API_ACCEPT_PAUSE_MS * 1000 };
	int		 err = errno;
	int64_t		 now = api_conn_now_ms();

	if (a == NULL || a->listener != lev)
		return;
	a->accept_errors++;
	a->accept_errors_unlogged++;
	if (now - a->accept_error_ms >= 1000) {
		log_warnx("api: accept: %s (%llu time%s since the last such "
		    "message); pausing %d ms", strerror(err),
		    (unsigned long long)a->accept_errors_unlogged,
		    a->accept_errors_unlogged == 1 ? "" : "s",
		    API_ACCEPT_PAUSE_MS);
		a->accept_error_ms = now;
		a->accept_errors_unlogged = 0;
	}
	api_conn_accepting(a, 0);
	a->accept_paused = 1;
	evtimer_add(a->resume_ev, &tv);
	/* Out of descriptors: one waiting connection gives one back. */
	if ((err == EMFILE || err == ENFILE) &&
	    (old = api_conn_idlest(a, NULL, NULL)) != NULL) {
		a->conns_evicted++;
		api_conn_close(old);
	}
}

static struct api_conn *
api_conn_find(struct api *a, struct evhttp_connection *evcon)
{
	struct api_conn	*k;

	if (evcon == NULL)
		return (NULL);
	TAILQ_FOREACH_REVERSE(k, &a->conns, api_conns, entry)
		if (k->evcon == evcon)
			return (k);
	return (NULL);
}

static void
api_conn_done(struct evhttp_request *req, void *arg)
{
	api_conn_wait(arg);
}

void
api_conn_request(struct api *a, struct evhttp_request *req)
{
	struct api_conn	*k;

	if ((k = api_conn_find(a, evhttp_request_get_connection(req))) == NULL)
		return;
	k->busy = 1;
	evtimer_del(k->deadline);
	evhttp_request_set_on_complete_cb(req, api_conn_done, k);
}

void
api_conn_set_closecb(struct api *a, struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct api_conn	*k;

	if ((k = api_conn_find(a, evcon)) == NULL) {
		evhttp_connection_set_closecb(evcon, cb, arg);
		return;
	}
	k->closecb = cb;
	k->closearg = arg;
}

int
api_conn_start(struct api *a)
{
	struct rlimit	 rl;
	long		 n;

	TAILQ_INIT(&a->conns);
	n = API_CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur < 2 * API_CONNS_MAX + API_FD_RESERVE)
		n = ((long)rl.rlim_cur - API_FD_RESERVE) / 2;
	a->conns_max = n < 8 ? 8 : (int)n;
	a->conns_peer_max = a->conns_max / 2 < 4 ? 4 : a->conns_max / 2;
	a->conn_ev = event_new(a->base, -1, 0, api_conn_attach, a);
	a->resume_ev = evtimer_new(a->base, api_conn_resume, a);
	if (a->conn_ev == NULL || a->resume_ev == NULL)
		return (-1);
	evhttp_set_bevcb(a->http, api_conn_bev, a);
	return (0);
}

void
api_conn_listening(struct api *a, struct evhttp_bound_socket *bound)
{
	a->listener = evhttp_bound_socket_get_listener(bound);
	a->accepting = 1;
	api_conn_owner = a;
	evconnlistener_set_error_cb(a->listener, api_conn_accept_error);
	log_info("api: at most %d connections, %d from one address; a "
	    "request within %d s of connecting", a->conns_max,
	    a->conns_peer_max, API_REQUEST_S);
}

/* Before evhttp_free(): it closes the connections, which forget
 * themselves through api_conn_closed(). */
void
api_conn_stop(struct api *a)
{
	if (api_conn_owner == a)
		api_conn_owner = NULL;
	a->listener = NULL;	/* evhttp_free() frees it first */
	a->accepting = 1;	/* and nothing is to resume it */
	if (a->conn_ev != NULL)
		event_free(a->conn_ev);
	if (a->resume_ev != NULL)
		event_free(a->resume_ev);
	a->conn_ev = a->resume_ev = NULL;
}

void
api_conn_metrics(struct api *a, struct evbuffer *out)
{
	evbuffer_add_printf(out,
	    "# HELP massaged_api_connections Open API connections.\n"
	    "# TYPE massaged_api_connections gauge\n"
	    "massaged_api_connections %d\n"
	    "# HELP massaged_api_connections_max The cap on API connections "
	    "(from the descriptor limit).\n"
	    "# TYPE massaged_api_connections_max gauge\n"
	    "massaged_api_connections_max %d\n"
	    "# HELP massaged_api_connections_closed_total API connections "
	    "closed by the daemon, by reason.\n"
	    "# TYPE massaged_api_connections_closed_total counter\n"
	    "massaged_api_connections_closed_total{reason=\"timeout\"} %llu\n"
	    "massaged_api_connections_closed_total{reason=\"evicted\"} %llu\n"
	    "massaged_api_connections_closed_total{reason=\"refused\"} %llu\n"
	    "# HELP massaged_api_accept_errors_total Failed accept() calls "
	    "(out of descriptors).\n"
	    "# TYPE massaged_api_accept_errors_total counter\n"
	    "massaged_api_accept_errors_total %llu\n",
	    a->nconns, a->conns_max,
	    (unsigned long long)a->conns_timed_out,
	    (unsigned long long)a->conns_evicted,
	    (unsigned long long)a->conns_refused,
	    (unsigned long long)a->accept_errors);
}
