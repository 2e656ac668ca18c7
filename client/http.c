/*
 * http.c: a small blocking HTTP/1.1 client for massagectl (see http.h).
 * One request a connection ("Connection: close"); timeouts on connect and
 * on every read, so a hung daemon never hangs a script.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"

#define HTTP_BUF		16384
#define HTTP_HEADERS_MAX	65536
#define HTTP_BODY_MAX		(64 * 1024 * 1024)

struct http_conn {
	int	 fd;
	int	 timeout_ms;
	int	 chunked;
	long long content_length;	/* -1: until the end */
	long long chunk_left;		/* chunked: bytes left in this chunk */
	int	 done;
	size_t	 off, len;
	char	 buf[HTTP_BUF];
};

int
http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen)
{
	const char	*p, *host, *hend, *port = NULL, *path;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "URL '%s': expected http://HOST[:PORT]",
		    url);
		return (-1);
	}
	p = url + 7;
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
		snprintf(u->port, sizeof(u->port), "80");
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(u->prefix))
		goto bad;
	memcpy(u->prefix, path, n);
	return (0);
bad:
	snprintf(err, errlen, "URL '%s' is not valid (expected "
	    "http://HOST[:PORT], such as http://127.0.0.1:8080)", url);
	return (-1);
}

static int
http_wait(struct http_conn *hc, short ev, char *err, size_t errlen)
{
	struct pollfd	 pfd = { hc->fd, ev, 0 };
	int		 rc;

	do
		rc = poll(&pfd, 1, hc->timeout_ms);
	while (rc == -1 && errno == EINTR);
	if (rc == 0) {
		snprintf(err, errlen, "no answer from the daemon within %d ms",
		    hc->timeout_ms);
		return (-1);
	}
	if (rc == -1) {
		snprintf(err, errlen, "poll: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

static int
http_connect(const struct http_url *u, int timeout_ms, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	struct http_conn tmp;
	socklen_t	 sl;
	int		 fd = -1, rc, soerr, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host,
		    gai_strerror(rc));
		return (-1);
	}
	snprintf(err, errlen, "cannot connect to %s port %s", u->host,
	    u->port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			tmp.fd = fd;
			tmp.timeout_ms = timeout_ms;
			sl = sizeof(soerr);
			if (http_wait(&tmp, POLLOUT, err, errlen) == 0 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == 0 && soerr == 0)
				break;
			if (soerr != 0)
				errno = soerr;
		}
		snprintf(err, errlen, "cannot connect to %s port %s: %s",
		    u->host, u->port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return (fd);
}

static int
http_write_all(struct http_conn *hc, const char *p, size_t n, char *err,
    size_t errlen)
{
	ssize_t	 w;

	while (n > 0) {
		w = send(hc->fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (http_wait(hc, POLLOUT, err, errlen) == -1)
				return (-1);
			continue;
		}
		if (w == -1) {
			snprintf(err, errlen, "send: %s", strerror(errno));
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/* More bytes into the buffer: > 0, 0 at EOF, -1 error. */
static int
http_fill(struct http_conn *hc, char *err, size_t errlen)
{
	ssize_t	 r;

	if (hc->off > 0) {
		memmove(hc->buf, hc->buf + hc->off, hc->len - hc->off);
		hc->len -= hc->off;
		hc->off = 0;
	}
	if (hc->len == sizeof(hc->buf)) {
		snprintf(err, errlen, "reply line too long");
		return (-1);
	}
	for (;;) {
		r = recv(hc->fd, hc->buf + hc->len, sizeof(hc->buf) - hc->len,
		    0);
		if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (http_wait(hc, POLLIN, err, errlen) == -1)
				return (-1);
			continue;
		}
		if (r == -1) {
			snprintf(err, errlen, "recv: %s", strerror(errno));
			return (-1);
		}
		hc->len += (size_t)r;
		return ((int)r);
	}
}

/* One CRLF-terminated line, without the CRLF, into line. */
static int
http_line(struct http_conn *hc, char *line, size_t linelen, char *err,
    size_t errlen)
{
	char	*nl;
	size_t	 n;
	int	 r;

	for (;;) {
		nl = memchr(hc->buf + hc->off, '\n', hc->len - hc->off);
		if (nl != NULL)
			break;
		if ((r = http_fill(hc, err, errlen)) <= 0) {
			if (r == 0)
				snprintf(err, errlen, "the daemon closed the "
				    "connection");
			return (-1);
		}
	}
	n = (size_t)(nl - (hc->buf + hc->off));
	if (n > 0 && nl[-1] == '\r')
		n--;
	if (n >= linelen) {
		snprintf(err, errlen, "reply line too long");
		return (-1);
	}
	memcpy(line, hc->buf + hc->off, n);
	line[n] = '\0';
	hc->off = (size_t)(nl - hc->buf) + 1;
	return (0);
}

static int	http_append(char *, size_t, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

/* Appends to buf at n; -1 once it does not fit (and from then on). */
static int
http_append(char *buf, size_t len, int n, const char *fmt, ...)
{
	va_list	 ap;
	int	 m;

	if (n < 0)
		return (-1);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return (-1);
	return (n + m);
}

static struct http_conn *
http_send(const struct http_url *u, const char *method, const char *path,
    const char *token, const char *body, int timeout_ms, int *status,
    char *err, size_t errlen)
{
	struct http_conn	*hc;
	char			 line[4096], *v;
	char			 req[8192];
	size_t			 total = 0;
	int			 n, br;

	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	hc->timeout_ms = timeout_ms;
	hc->content_length = -1;
	if ((hc->fd = http_connect(u, timeout_ms, err, errlen)) == -1) {
		free(hc);
		return (NULL);
	}
	br = strchr(u->host, ':') != NULL;
	n = http_append(req, sizeof(req), 0, "%s %s%s HTTP/1.1\r\n"
	    "Host: %s%s%s:%s\r\n"
	    "User-Agent: massagectl/" MASSAGED_VERSION "\r\n"
	    "Accept: application/json, text/event-stream\r\n"
	    "Connection: close\r\n", method, u->prefix, path, br ? "[" : "",
	    u->host, br ? "]" : "", u->port);
	if (token != NULL)
		n = http_append(req, sizeof(req), n, "Authorization: Bearer "
		    "%s\r\n", token);
	if (body != NULL)
		n = http_append(req, sizeof(req), n, "Content-Type: "
		    "application/json\r\nContent-Length: %zu\r\n",
		    strlen(body));
	n = http_append(req, sizeof(req), n, "\r\n");
	if (n == -1) {
		snprintf(err, errlen, "request too long");
		goto fail;
	}
	if (http_write_all(hc, req, (size_t)n, err, errlen) == -1 ||
	    (body != NULL && http_write_all(hc, body, strlen(body), err,
	    errlen) == -1))
		goto fail;

	/* Status line, then headers. */
	if (http_line(hc, line, sizeof(line), err, errlen) == -1)
		goto fail;
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12 ||
	    !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) ||
	    !isdigit((unsigned char)line[11])) {
		snprintf(err, errlen, "not an HTTP reply: %.60s", line);
		goto fail;
	}
	*status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
	    (line[11] - '0');
	for (;;) {
		if (http_line(hc, line, sizeof(line), err, errlen) == -1)
			goto fail;
		if (line[0] == '\0')
			break;
		if ((total += strlen(line)) > HTTP_HEADERS_MAX) {
			snprintf(err, errlen, "reply headers too large");
			goto fail;
		}
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "Content-Length") == 0)
			hc->content_length = strtoll(v, NULL, 10);
		else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasestr(v, "chunked") != NULL)
			hc->chunked = 1;
	}
	if (hc->chunked)
		hc->content_length = -1;
	if (hc->content_length == 0 || strcmp(method, "HEAD") == 0 ||
	    *status == 204 || *status == 304)
		hc->done = 1;
	return (hc);
fail:
	http_conn_close(hc);
	return (NULL);
}

struct http_conn *
http_stream_open(const struct http_url *u, const char *path,
    const char *token, int timeout_ms, int *status, char *err, size_t errlen)
{
	return (http_send(u, "GET", path, token, NULL, timeout_ms, status, err,
	    errlen));
}

/* Raw bytes from the buffer or the socket, up to len: > 0, 0 EOF, -1. */
static int
http_raw(struct http_conn *hc, char *buf, size_t len, char *err,
    size_t errlen)
{
	size_t	 n;
	int	 r;

	if (hc->off == hc->len) {
		hc->off = hc->len = 0;
		if ((r = http_fill(hc, err, errlen)) <= 0)
			return (r);
	}
	n = hc->len - hc->off;
	if (n > len)
		n = len;
	memcpy(buf, hc->buf + hc->off, n);
	hc->off += n;
	return ((int)n);
}

int
http_stream_read(struct http_conn *hc, char *buf, size_t len, char *err,
    size_t errlen)
{
	char	 line[128];
	int	 r;

	if (hc->done || len == 0)
		return (0);
	if (hc->chunked) {
		if (hc->chunk_left == 0) {
			if (http_line(hc, line, sizeof(line), err, errlen) ==
			    -1)
				return (-1);
			if (line[0] == '\0' && http_line(hc, line,
			    sizeof(line), err, errlen) == -1)
				return (-1);	/* CRLF after a chunk */
			hc->chunk_left = strtoll(line, NULL, 16);
			if (hc->chunk_left < 0) {
				snprintf(err, errlen, "bad chunk size");
				return (-1);
			}
			if (hc->chunk_left == 0) {
				hc->done = 1;
				return (0);
			}
		}
		if ((long long)len > hc->chunk_left)
			len = (size_t)hc->chunk_left;
		if ((r = http_raw(hc, buf, len, err, errlen)) == 0) {
			snprintf(err, errlen, "the daemon closed the "
			    "connection in the middle of a reply");
			return (-1);
		}
		if (r > 0)
			hc->chunk_left -= r;
		return (r);
	}
	if (hc->content_length >= 0 && (long long)len > hc->content_length)
		len = (size_t)hc->content_length;
	if ((r = http_raw(hc, buf, len, err, errlen)) == 0 &&
	    hc->content_length > 0) {
		snprintf(err, errlen, "the daemon closed the connection in "
		    "the middle of a reply");
		return (-1);
	}
	if (r > 0 && hc->content_length >= 0 &&
	    (hc->content_length -= r) == 0)
		hc->done = 1;
	return (r);
}

int
http_conn_read_all(struct http_conn *hc, struct http_response *res,
    char *err, size_t errlen)
{
	size_t	 cap = 4096;
	char	*nb;
	int	 r;

	res->len = 0;
	if ((res->body = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (;;) {
		if (res->len + 1 == cap) {
			if (cap >= HTTP_BODY_MAX) {
				snprintf(err, errlen, "reply too large");
				return (-1);
			}
			if ((nb = realloc(res->body, cap * 2)) == NULL) {
				snprintf(err, errlen, "out of memory");
				return (-1);
			}
			res->body = nb;
			cap *= 2;
		}
		r = http_stream_read(hc, res->body + res->len,
		    cap - res->len - 1, err, errlen);
		if (r == -1)
			return (-1);
		if (r == 0)
			break;
		res->len += (size_t)r;
	}
	res->body[res->len] = '\0';
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
	if ((hc = http_send(u, method, path, token, body, timeout_ms,
	    &res->status, err, errlen)) == NULL)
		return (-1);
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
	if (hc->fd != -1)
		close(hc->fd);
	free(hc);
}
