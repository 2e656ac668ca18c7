/*
 * http.h: the blocking HTTP/1.1 client of massagectl, on libevent's evhttp:
 * one request a connection, bodies with Content-Length or chunked, and a
 * streaming read for the event stream. http:// to a daemon on loopback
 * (or a closed LAN), https:// to a reverse proxy in front of one
 * (http-tls.c: the certificate and the host name always verified).
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

struct http_url {
	char	 host[256];
	char	 port[8];
	char	 prefix[512];	/* path before /api/v1, without a final / */
	int	 tls;		/* https:// */
};

struct http_response {
	int	 status;
	char	*body;		/* NUL-terminated */
	size_t	 len;
};

struct http_conn;

/* "http[s]://host[:port][/prefix]"; -1 with the reason in err. */
int	http_url_parse(const char *url, struct http_url *u, char *err,
	    size_t errlen);

/*
 * Sends method path (body: JSON or NULL) with the bearer token (or NULL)
 * and reads the whole reply. -1 on a transport error (cannot connect,
 * timeout, malformed reply) with the reason in err.
 */
int	http_request(const struct http_url *u, const char *method,
	    const char *path, const char *token, const char *body,
	    int timeout_ms, struct http_response *res, char *err,
	    size_t errlen);
void	http_response_free(struct http_response *res);

/*
 * Opens a streaming GET: returns the connection after the reply headers,
 * with the status in *status (read the body of an error reply with
 * http_conn_read_all()). NULL on a transport error.
 */
struct http_conn *http_stream_open(const struct http_url *u, const char *path,
	    const char *token, int timeout_ms, int *status, char *err,
	    size_t errlen);
/*
 * Body bytes (chunked encoding removed): > 0, 0 at the end, -1 error.
 * SIGINT or SIGTERM while it waits end it with -1 and http_interrupted().
 */
int	http_stream_read(struct http_conn *hc, char *buf, size_t len,
	    char *err, size_t errlen);
int	http_interrupted(const struct http_conn *hc);
int	http_conn_read_all(struct http_conn *hc, struct http_response *res,
	    char *err, size_t errlen);
void	http_conn_close(struct http_conn *hc);

/*
 * http-tls.c. http_tls_init() once, before any https:// request (and
 * before threads): the CAs of the file cacert only, or with NULL the
 * system's; -1 with the reason in err. http_tls_bev() a connection's
 * bufferevent for host, verified; *verr keeps why the peer was refused.
 * http_tls_error() says why a TLS connection failed, 1, or 0 when TLS is
 * not the reason.
 */
struct bufferevent;
struct event_base;
int	http_tls_init(const char *cacert, char *err, size_t errlen);
struct bufferevent *http_tls_bev(struct event_base *base, const char *host,
	    long *verr, char *err, size_t errlen);
int	http_tls_error(struct bufferevent *bev, long verr,
	    const struct http_url *u, char *buf, size_t len);

#endif
