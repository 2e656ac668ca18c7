/*
 * net.c: a small HTTP/1.1 client over plain sockets, for the daemon's API
 * and /metrics, and a parser for the Prometheus text it returns.
 *
 * The connection is made before the clock is read, so a timestamp taken
 * for a request is the moment its bytes leave: right before write().
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define HTTP_TIMEOUT_MS		3000

/*
 * method path on 127.0.0.1:port with the bench token and an optional JSON
 * body. The response body goes to resp (NUL-terminated, truncated to
 * cap). *t_write_ns, if not NULL: CLOCK_MONOTONIC right before write().
 * Returns the HTTP status, or -1.
 */
int
http_req(int port, const char *method, const char *path, const char *body,
    char *resp, size_t cap, uint64_t *t_write_ns)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	uint64_t		 deadline;
	char			 req[1024], *buf = NULL, *hdr_end, *nb;
	size_t			 len = 0, bcap = 0, off, clen = 0, hl;
	ssize_t			 n;
	int			 fd, one = 1, reqlen, status = -1, have_clen = 0;
	const char		*cl;

	if (resp != NULL && cap > 0)
		resp[0] = '\0';
	reqlen = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
	    "Connection: close\r\n%s"
	    "Content-Length: %zu\r\n\r\n%s", method, path, port, BENCH_TOKEN,
	    body != NULL ? "Content-Type: application/json\r\n" : "",
	    body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	if (reqlen < 0 || (size_t)reqlen >= sizeof(req))
		return (-1);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		warnx_("http %s %s: connect to port %d: %s", method, path,
		    port, strerror(errno));
		close(fd);
		return (-1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (t_write_ns != NULL)
		*t_write_ns = clock_mono_ns();
	for (off = 0; off < (size_t)reqlen; off += n) {
		if ((n = write(fd, req + off, reqlen - off)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			close(fd);
			return (-1);
		}
	}

	deadline = clock_mono_ns() + HTTP_TIMEOUT_MS * 1000000ull;
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (len + 4096 + 1 > bcap) {
			bcap = bcap ? bcap * 2 : 16384;
			if ((nb = realloc(buf, bcap)) == NULL)
				goto done;
			buf = nb;
		}
		if (clock_mono_ns() >= deadline) {
			warnx_("http %s %s: no complete answer in %d ms",
			    method, path, HTTP_TIMEOUT_MS);
			goto done;
		}
		if (poll(&pfd, 1, (int)((deadline - clock_mono_ns()) / 1000000) + 1)
		    <= 0)
			continue;
		n = read(fd, buf + len, bcap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		/* Stop at Content-Length: the connection may linger. */
		if ((hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
			hl = hdr_end + 4 - buf;
			if (!have_clen && ((cl = strcasestr(buf,
			    "\r\nContent-Length:")) != NULL && cl < hdr_end)) {
				clen = strtoul(cl + 17, NULL, 10);
				have_clen = 1;
			}
			if (have_clen && len >= hl + clen)
				break;
		}
	}
	if (buf == NULL || len == 0)
		goto done;
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if ((hdr_end = strstr(buf, "\r\n\r\n")) != NULL && resp != NULL &&
	    cap > 0)
		snprintf(resp, cap, "%s", hdr_end + 4);
done:
	free(buf);
	close(fd);
	return (status);
}

/* Copies the JSON string value after key (a "key":"..." pair) to out. */
static int
http_json_str(const char *body, const char *key, char *out, size_t len)
{
	const char	*p;
	size_t		 n = 0;

	if ((p = strstr(body, key)) == NULL)
		return (-1);
	for (p += strlen(key); *p != '\0' && *p != '"' && n + 1 < len; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		out[n++] = *p;
	}
	out[n] = '\0';
	return (0);
}

/*
 * The session state from GET /api/v1/status ("idle", "running", ...) and,
 * if fault is not NULL, the latched fault's message ("" if none).
 */
int
http_state(int port, char *state, size_t len, char *fault, size_t flen)
{
	static char	 body[65536];

	if (http_req(port, "GET", "/api/v1/status", NULL, body, sizeof(body),
	    NULL) != 200)
		return (-1);
	if (fault != NULL && flen > 0 && http_json_str(body, "\"fault\":\"",
	    fault, flen) == -1)
		fault[0] = '\0';
	return (http_json_str(body, "\"state\":\"", state, len));
}

/* The value of one sample, named exactly as printed, labels included:
 * massaged_ticks_total or massaged_controller_up{controller="c0"}. */
int
metric_get(const char *text, const char *sample, double *v)
{
	size_t		 sl = strlen(sample);
	const char	*p = text;
	char		*end;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, sample, sl) == 0 && p[sl] == ' ') {
			*v = strtod(p + sl + 1, &end);
			return (end == p + sl + 1 ? -1 : 0);
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (-1);
}

/*
 * The buckets of an unlabelled histogram: bounds (le, +Inf as INFINITY
 * through strtod) and cumulative counts, at most max. Returns how many.
 */
int
metric_hist(const char *text, const char *name, double *bounds,
    double *counts, int max)
{
	char		 prefix[128];
	const char	*p = text, *q;
	size_t		 pl;
	int		 n = 0;

	pl = (size_t)snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"",
	    name);
	while (p != NULL && *p != '\0' && n < max) {
		if (strncmp(p, prefix, pl) == 0) {
			q = p + pl;
			if (strncmp(q, "+Inf", 4) == 0)
				bounds[n] = 1e300;
			else
				bounds[n] = strtod(q, NULL);
			if ((q = strstr(q, "} ")) == NULL)
				return (-1);
			counts[n++] = strtod(q + 2, NULL);
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (n);
}
