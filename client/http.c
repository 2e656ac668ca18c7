/*
 * http.c: massagectl's HTTP client (see http.h), on libevent's evhttp.
 *
 * Each request gets its own event base and connection ("Connection:
 * close"), and the calls block by running that base until the reply, or
 * the next bytes of a stream, are there. Timeouts cover the connect and
 * every read, so a hung daemon never hangs a script. SIGINT and SIGTERM
 * end a stream read (http_interrupted()). An https:// URL gets an OpenSSL
 * bufferevent under evhttp (http-tls.c).
 */
#include <sys/time.h>

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "http.h"
#include "parse.h"

#define HTTP_HEADERS_MAX	65536
#define HTTP_BODY_MAX		(64 * 1024 * 1024)

struct http_conn {
	struct event_base		*base;
	struct evhttp_connection	*evcon;
	struct bufferevent		*bev;		/* https: its TLS */
	long				 verify_err;	/* https: why refused */
	struct event			*sigint, *sigterm;
	struct evbuffer			*in;		/* body bytes not read yet */
	const struct http_url		*url;
	int				 timeout_ms;
	uint64_t			 start_ns;
	int				 status;	/* 0 until the headers */
	int				 done;		/* the reply is complete */
	int				 failed;
	int				 interrupted;
	char				 err[512];
};

int
http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen)
{
	const char	*p, *host, *hend, *port = NULL, *path;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0)
		u->tls = 1;
	else if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "URL '%s': expected http://HOST[:PORT] "
		    "or https://HOST[:PORT]", url);
		return (-1);
	}
	p = url + (u->tls ? 8 : 7);
	if (*p == '[') {
		host = p + 1;
		if ((hend = strchr(host, ']')) == NULL)
			goto bad;
		p = hend + 1;
	} else {
		host = p;
		for (hend = p; *hend != '\0' && *hend != ':' && *hend != '/';
		    hend++)
			;
		p = hend;
	}
	if (*p == ':') {
		port = ++p;
		while (isdigit((unsigned char)*p))
			p++;
		if (p == port || p - port > 5)
			goto bad;
	}
	if (*p != '\0' && *p != '/')
		goto bad;
	path = p;
	n = (size_t)(hend - host);
	if (n == 0 || n >= sizeof(u->host))
		goto bad;
	memcpy(u->host, host, n);
	if (port != NULL)
		snprintf(u->port, sizeof(u->port), "%.*s", (int)(path - port),
		    port);
	else
		snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(u->prefix))
		goto bad;
	memcpy(u->prefix, path, n);
	return (0);
bad:
	snprintf(err, errlen, "URL '%s' is not valid (expected "
	    "http[s]://HOST[:PORT], such as http://127.0.0.1:8080)", url);
	return (-1);
}


static void
http_fail(struct http_conn *hc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
http_fail(struct http_conn *hc, const char *fmt, ...)
{
	va_list	 ap;

	if (hc->failed)
		return;		/* the first reason is the one that counts */
	hc->failed = 1;
	va_start(ap, fmt);
	vsnprintf(hc->err, sizeof(hc->err), fmt, ap);
	va_end(ap);
}

/* A TLS connection that failed for TLS's sake says so first. */
static void
http_tls_fail(struct http_conn *hc)
{
	char	 why[sizeof(hc->err)];

	if (hc->url->tls && !hc->failed && http_tls_error(hc->bev,
	    hc->verify_err, hc->url, why, sizeof(why)))
		http_fail(hc, "%s", why);
}

static int
http_header_cb(struct evhttp_request *req, void *arg)
{
	struct http_conn	*hc = arg;

	hc->status = evhttp_request_get_response_code(req);
	if (hc->status < 100 || hc->status > 999) {
		http_fail(hc, "not an HTTP reply (status %d)", hc->status);
		return (-1);
	}
	return (0);
}

/* Body bytes as they come (evhttp has removed any chunked encoding). */
static void
http_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct http_conn	*hc = arg;

	evbuffer_add_buffer(hc->in, evhttp_request_get_input_buffer(req));
}

static void
http_error_cb(enum evhttp_request_error e, void *arg)
{
	struct http_conn	*hc = arg;

	http_tls_fail(hc);
	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		http_fail(hc, "no answer from the daemon within %d ms",
		    hc->timeout_ms);
		break;
	case EVREQ_HTTP_EOF:
		http_fail(hc, hc->status == 0 ? "the daemon closed the "
		    "connection without a reply" : "the daemon closed the "
		    "connection in the middle of a reply");
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		http_fail(hc, "not an HTTP reply, or malformed headers");
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		http_fail(hc, "reply too large");
		break;
	case EVREQ_HTTP_REQUEST_CANCEL:
		http_fail(hc, "request cancelled");
		break;
	default:
		http_fail(hc, "transport error");
		break;
	}
}

/* The request is over: complete, or failed (then req may be NULL). */
static void
http_done_cb(struct evhttp_request *req, void *arg)
{
	struct http_conn	*hc = arg;

	hc->done = 1;
	if (req != NULL && evhttp_request_get_response_code(req) != 0) {
		evbuffer_add_buffer(hc->in,
		    evhttp_request_get_input_buffer(req));
		return;
	}
	/*
	 * No reply at all: the connection failed. evhttp calls no error
	 * callback then and keeps no errno, so only a timeout is told apart
	 * (and TLS's own reasons).
	 */
	http_tls_fail(hc);
	if ((clock_mono_ns() - hc->start_ns) / 1000000 >=
	    (uint64_t)hc->timeout_ms)
		http_fail(hc, "cannot connect to %s port %s: no answer within "
		    "%d ms", hc->url->host, hc->url->port, hc->timeout_ms);
	else
		http_fail(hc, "cannot connect to %s port %s (refused, or no "
		    "route)", hc->url->host, hc->url->port);
}

static void
http_signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct http_conn	*hc = arg;

	hc->interrupted = 1;
	event_base_loopbreak(hc->base);
}

static enum evhttp_cmd_type
http_method(const char *m)
{
	if (strcmp(m, "POST") == 0)
		return (EVHTTP_REQ_POST);
	if (strcmp(m, "PUT") == 0)
		return (EVHTTP_REQ_PUT);
	if (strcmp(m, "DELETE") == 0)
		return (EVHTTP_REQ_DELETE);
	if (strcmp(m, "HEAD") == 0)
		return (EVHTTP_REQ_HEAD);
	if (strcmp(m, "PATCH") == 0)
		return (EVHTTP_REQ_PATCH);
	return (EVHTTP_REQ_GET);
}

/* Runs the base once, until something happened. */
static void
http_run(struct http_conn *hc)
{
	if (event_base_loop(hc->base, EVLOOP_ONCE) == -1)
		http_fail(hc, "event loop failed");
}

/* The request's headers and its body (JSON, or NULL). */
static void
http_headers(struct evhttp_request *req, const struct http_url *u,
    const char *token, const char *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 host[300], auth[600], len[32];
	int			 br = strchr(u->host, ':') != NULL;

	snprintf(host, sizeof(host), "%s%s%s:%s", br ? "[" : "", u->host,
	    br ? "]" : "", u->port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "User-Agent", "massagectl/" MASSAGED_VERSION);
	evhttp_add_header(h, "Accept", "application/json, text/event-stream");
	evhttp_add_header(h, "Connection", "close");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		evhttp_add_header(h, "Authorization", auth);
	}
	if (body != NULL) {
		evhttp_add_header(h, "Content-Type", "application/json");
		snprintf(len, sizeof(len), "%zu", strlen(body));
		evhttp_add_header(h, "Content-Length", len);
		evbuffer_add(evhttp_request_get_output_buffer(req), body,
		    strlen(body));
	}
}

/* The connection: plain TCP, or TLS on an OpenSSL bufferevent. */
static int
http_connect(struct http_conn *hc, const struct http_url *u,
    unsigned short port, char *err, size_t errlen)
{
	if (u->tls && (hc->bev = http_tls_bev(hc->base, u->host,
	    &hc->verify_err, err, errlen)) == NULL)
		return (-1);
	/* evhttp owns the bufferevent from here on, and frees it. */
	if ((hc->evcon = evhttp_connection_base_bufferevent_new(hc->base, NULL,
	    hc->bev, u->host, port)) == NULL) {
		if (hc->bev != NULL)
			bufferevent_free(hc->bev);
		hc->bev = NULL;
		snprintf(err, errlen, "cannot set up a connection to %s port "
		    "%s", u->host, u->port);
		return (-1);
	}
	return (0);
}

static struct http_conn *
http_send(const struct http_url *u, const char *method, const char *path,
    const char *token, const char *body, int timeout_ms, int stream,
    char *err, size_t errlen)
{
	struct http_conn	*hc;
	struct evhttp_request	*req;
	struct timeval		 tv;
	char			 uri[1024];
	long			 port;

	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	hc->url = u;
	hc->timeout_ms = timeout_ms;
	hc->start_ns = clock_mono_ns();
	if (parse_int(u->port, 0, 65535, &port) == -1) {
		snprintf(err, errlen, "port '%s' is not valid", u->port);
		free(hc);
		return (NULL);
	}
	if ((hc->base = event_base_new()) == NULL ||
	    (hc->in = evbuffer_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		http_conn_close(hc);
		return (NULL);
	}
	if (http_connect(hc, u, (unsigned short)port, err, errlen) == -1) {
		http_conn_close(hc);
		return (NULL);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(hc->evcon, &tv);
	evhttp_connection_set_retries(hc->evcon, 0);
	evhttp_connection_set_max_headers_size(hc->evcon, HTTP_HEADERS_MAX);
	if (!stream)
		evhttp_connection_set_max_body_size(hc->evcon, HTTP_BODY_MAX);
	if (stream) {
		hc->sigint = evsignal_new(hc->base, SIGINT, http_signal_cb, hc);
		hc->sigterm = evsignal_new(hc->base, SIGTERM, http_signal_cb,
		    hc);
		if (hc->sigint != NULL)
			evsignal_add(hc->sigint, NULL);
		if (hc->sigterm != NULL)
			evsignal_add(hc->sigterm, NULL);
	}

	if ((req = evhttp_request_new(http_done_cb, hc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		http_conn_close(hc);
		return (NULL);
	}
	evhttp_request_set_header_cb(req, http_header_cb);
	evhttp_request_set_chunked_cb(req, http_chunk_cb);
	evhttp_request_set_error_cb(req, http_error_cb);
	http_headers(req, u, token, body);
	if ((size_t)snprintf(uri, sizeof(uri), "%s%s", u->prefix, path) >=
	    sizeof(uri)) {
		snprintf(err, errlen, "request too long");
		evhttp_request_free(req);
		http_conn_close(hc);
		return (NULL);
	}
	if (evhttp_make_request(hc->evcon, req, http_method(method), uri) ==
	    -1) {
		/* evhttp has freed the request */
		snprintf(err, errlen, "cannot connect to %s port %s", u->host,
		    u->port);
		http_conn_close(hc);
		return (NULL);
	}

	/* Until the reply's headers, or its failure. */
	while (hc->status == 0 && !hc->done && !hc->failed &&
	    !hc->interrupted)
		http_run(hc);
	if (hc->failed || hc->interrupted || hc->status == 0) {
		snprintf(err, errlen, "%s", hc->interrupted ? "interrupted" :
		    hc->err[0] != '\0' ? hc->err : "no reply");
		http_conn_close(hc);
		return (NULL);
	}
	return (hc);
}

struct http_conn *
http_stream_open(const struct http_url *u, const char *path,
    const char *token, int timeout_ms, int *status, char *err, size_t errlen)
{
	struct http_conn	*hc;

	if ((hc = http_send(u, "GET", path, token, NULL, timeout_ms, 1, err,
	    errlen)) != NULL)
		*status = hc->status;
	return (hc);
}

int
http_stream_read(struct http_conn *hc, char *buf, size_t len, char *err,
    size_t errlen)
{
	while (evbuffer_get_length(hc->in) == 0 && !hc->done &&
	    !hc->failed && !hc->interrupted)
		http_run(hc);
	if (evbuffer_get_length(hc->in) > 0 && !hc->interrupted)
		return (evbuffer_remove(hc->in, buf, len));
	if (hc->interrupted) {
		snprintf(err, errlen, "interrupted");
		return (-1);
	}
	if (hc->failed) {
		snprintf(err, errlen, "%s", hc->err);
		return (-1);
	}
	return (0);
}

int
http_interrupted(const struct http_conn *hc)
{
	return (hc->interrupted);
}

int
http_conn_read_all(struct http_conn *hc, struct http_response *res,
    char *err, size_t errlen)
{
	size_t	 n;

	res->len = 0;
	res->body = NULL;
	while (!hc->done && !hc->failed && !hc->interrupted)
		http_run(hc);
	if (hc->failed || hc->interrupted) {
		snprintf(err, errlen, "%s", hc->interrupted ? "interrupted" :
		    hc->err);
		return (-1);
	}
	n = evbuffer_get_length(hc->in);
	if ((res->body = malloc(n + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	evbuffer_remove(hc->in, res->body, n);
	res->body[n] = '\0';
	res->len = n;
	return (0);
}

int
http_request(const struct http_url *u, const char *method, const char *path,
    const char *token, const char *body, int timeout_ms,
    struct http_response *res, char *err, size_t errlen)
{
	struct http_conn	*hc;
	int			 rc;

	memset(res, 0, sizeof(*res));
	if ((hc = http_send(u, method, path, token, body, timeout_ms, 0, err,
	    errlen)) == NULL)
		return (-1);
	res->status = hc->status;
	rc = http_conn_read_all(hc, res, err, errlen);
	http_conn_close(hc);
	if (rc == -1) {
		http_response_free(res);
		return (-1);
	}
	return (0);
}

void
http_response_free(struct http_response *res)
{
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

void
http_conn_close(struct http_conn *hc)
{
	if (hc == NULL)
		return;
	if (hc->sigint != NULL)
		event_free(hc->sigint);
	if (hc->sigterm != NULL)
		event_free(hc->sigterm);
	/* Frees a request still under way, without its callbacks. */
	if (hc->evcon != NULL)
		evhttp_connection_free(hc->evcon);
	if (hc->in != NULL)
		evbuffer_free(hc->in);
	if (hc->base != NULL)
		event_base_free(hc->base);
	free(hc);
}
