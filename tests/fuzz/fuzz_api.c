/*
 * fuzz_api.c: libFuzzer target for the control API's request handling
 * (daemon/api/api.c on libevent's evhttp): routing, methods, the bearer token,
 * content types, JSON bodies and their fields, the sessions query, the
 * event stream and the static panel.
 *
 * The input is the raw bytes a client sends on one connection (one or more
 * pipelined HTTP requests). api.c keeps its request checks in static
 * functions behind evhttp, so the target runs the real thing in-process:
 * the demo configuration with the real plugins (tick_load), the control
 * loop (tick_start) with its controllers pointed at a closed local port
 * (they never connect, so no session can start and nothing else is
 * disturbed), and api_start() listening on 127.0.0.1 on a port the kernel
 * picks. Each input is written to a fresh loopback connection, the write
 * side is shut, and the event loop runs until the daemon closes or goes
 * quiet; the connection is then reset (no TIME_WAIT), and the session is
 * put back to idle should the input have e-stopped it.
 *
 * What is checked besides the sanitizers:
 * - no reply ever carries the content of a file outside the panel
 *   directory (a symlink in the panel points at one);
 * - an input that does not carry the token never gets a 2xx JSON reply or
 *   an event stream for its first request;
 * - a reply, when there is one, is an HTTP status line.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "fuzz_common.h"
#include "api.h"
#include "routine-inst.h"
#include "tick.h"
#include "log.h"

#define FUZZ_API_TOKEN		"fuzz-token-0123456789abcdef"
#define FUZZ_API_SECRET		"FUZZ-OUTSIDE-PANEL-7f3a9c"
#define FUZZ_API_RESP_MAX	(4 * 1024 * 1024)
#define FUZZ_API_WAIT_MS	2000	/* per input, at most */
#define FUZZ_API_QUIET_ROUNDS	40	/* idle loop rounds = done */

static struct tick		 fuzz_api_ctl;
static struct event_base	*fuzz_api_base;
static struct api		*fuzz_api;
static struct sockaddr_in	 fuzz_api_addr;
static int			 fuzz_api_dead = -1;	/* the "controllers" */
static char			*fuzz_api_overrides[CONFIG_MAX_OVERRIDES];
static int			 fuzz_api_noverrides;
static char			*fuzz_api_resp;

static void
fuzz_api_file(const char *rel, const char *text, mode_t mode)
{
	char	 path[PATH_MAX];

	fuzz_tmp_path(path, sizeof(path), rel);
	fuzz_write(path, text, strlen(text));
	if (chmod(path, mode) == -1)
		abort();
}

static void
fuzz_api_override(const char *key, const char *v)
{
	char	*s;

	if (asprintf(&s, "%s=%s", key, v) == -1)
		abort();
	fuzz_api_overrides[fuzz_api_noverrides++] = s;
}

/* A local TCP port bound but not listening: connects are refused. */
static int
fuzz_api_dead_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if ((fuzz_api_dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fuzz_api_dead, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fuzz_api_dead, (struct sockaddr *)&sin, &len) == -1)
		abort();
	return (ntohs(sin.sin_port));
}

/* The demo table with every controller address on the dead port, as
 * units 1, 2, ... of one gateway. */
static void
fuzz_api_table(const char *dst, int port)
{
	char	 src[PATH_MAX], line[1024];
	FILE	*in, *out;
	size_t	 n;
	int	 unit = 0;

	fuzz_src_path(src, sizeof(src), "config/massaged.ini");
	if ((in = fopen(src, "r")) == NULL || (out = fopen(dst, "w")) == NULL)
		abort();
	while (fgets(line, sizeof(line), in) != NULL) {
		n = strspn(line, " \t");
		if (strncmp(line + n, "address", 7) == 0 &&
		    strchr(line, '=') != NULL)
			fprintf(out, "address = 127.0.0.1:%d\n", port);
		else if (strncmp(line + n, "unit_id", 7) == 0 &&
		    strchr(line, '=') != NULL)
			fprintf(out, "unit_id = %d\n", ++unit);
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
}

/* The API's listening socket: the one listening socket we have. */
static void
fuzz_api_find_listener(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len;
	struct dirent		*de;
	DIR			*dp;
	int			 fd, on, found = 0;
	socklen_t		 olen;

	if ((dp = opendir("/proc/self/fd")) == NULL)
		abort();
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		on = 0;
		olen = sizeof(on);
		len = sizeof(sin);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) ==
		    -1 || !on)
			continue;
		if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
		    sin.sin_family != AF_INET)
			continue;
		fuzz_api_addr = sin;
		found++;
	}
	closedir(dp);
	if (found != 1) {
		fprintf(stderr, "fuzz_api: %d listening sockets, expected "
		    "1\n", found);
		exit(2);
	}
}

static FUZZ_UNUSED void
fuzz_api_init(void)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 table[PATH_MAX], path[PATH_MAX];
	char			 err[512];

	fuzz_setup();
	if (fuzz_api != NULL)
		return;
	log_init("fuzz_api", -1);
	if (evthread_use_pthreads() == -1)
		abort();

	/* The panel: two files, a subdirectory, and a way out. */
	fuzz_api_file("api/panel/index.html", "<!doctype html><title>p"
	    "</title>\n", 0644);
	fuzz_api_file("api/panel/panel.js", "\"use strict\";\n", 0644);
	fuzz_api_file("api/panel/img/logo.svg", "<svg/>\n", 0644);
	fuzz_api_file("api/secret.txt", FUZZ_API_SECRET "\n", 0644);
	fuzz_tmp_path(path, sizeof(path), "api/panel/out.txt");
	if (symlink("../secret.txt", path) == -1)
		abort();
	fuzz_tmp_path(path, sizeof(path), "api/panel/up");
	if (symlink("..", path) == -1)
		abort();
	fuzz_api_file("api/tokens", "# fuzz_api\n" FUZZ_API_TOKEN "\n", 0600);
	fuzz_tmp_path(path, sizeof(path), "api/state/x");

	fuzz_tmp_path(table, sizeof(table), "api/massaged.ini");
	fuzz_api_table(table, fuzz_api_dead_port());
	fuzz_api_override("listen", "127.0.0.1:0");
	fuzz_tmp_path(path, sizeof(path), "api/tokens");
	fuzz_api_override("token_file", path);
	fuzz_tmp_path(path, sizeof(path), "api/panel");
	fuzz_api_override("panel_dir", path);
	fuzz_tmp_path(path, sizeof(path), "api/state");
	fuzz_api_override("state_dir", path);
	fuzz_api_override("plugin_dir", fuzz_plugindir);
	fuzz_src_path(path, sizeof(path), "config/profiles");
	fuzz_api_override("profile_dir", path);
	fuzz_src_path(path, sizeof(path), "config/programs");
	fuzz_api_override("program_dir", path);
	fuzz_src_path(path, sizeof(path), "config/contraindications.ini");
	fuzz_api_override("rules", path);

	if (tick_load(&fuzz_api_ctl, strdup(table), fuzz_api_overrides,
	    fuzz_api_noverrides, &errs) == -1)
		fuzz_setup_failed(table, &errs);
	inifile_errors_free(&errs);
	if ((fuzz_api_base = event_base_new()) == NULL)
		abort();
	tick_start(&fuzz_api_ctl, fuzz_api_base);
	if ((fuzz_api = api_start(&fuzz_api_ctl, fuzz_api_base, NULL, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_api: api_start: %s\n", err);
		exit(2);
	}
	fuzz_api_find_listener();
	if ((fuzz_api_resp = malloc(FUZZ_API_RESP_MAX)) == NULL)
		abort();
}

/* Stops everything fuzz_api_init() started (for the unit test). */
static FUZZ_UNUSED void
fuzz_api_teardown(void)
{
	int	 i;

	if (fuzz_api == NULL)
		return;
	api_free(fuzz_api);
	fuzz_api = NULL;
	tick_free(&fuzz_api_ctl);
	free((void *)(uintptr_t)fuzz_api_ctl.config_path);
	event_base_free(fuzz_api_base);
	fuzz_api_base = NULL;
	for (i = 0; i < fuzz_api_noverrides; i++)
		free(fuzz_api_overrides[i]);
	fuzz_api_noverrides = 0;
	close(fuzz_api_dead);
	fuzz_api_dead = -1;
	free(fuzz_api_resp);
	fuzz_api_resp = NULL;
}

static uint64_t
fuzz_api_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The checks on what the daemon sent back. */
static void
fuzz_api_check_reply(const uint8_t *data, size_t size, const char *r,
    size_t rlen)
{
	const char	*hdr_end, *ct;
	size_t		 hlen;
	int		 code;

	/* (Error messages echo the path: an input may name the secret.) */
	if (memmem(data, size, FUZZ_API_SECRET, strlen(FUZZ_API_SECRET)) ==
	    NULL)
		FUZZ_CHECK(memmem(r, rlen, FUZZ_API_SECRET,
		    strlen(FUZZ_API_SECRET)) == NULL, "a file outside the "
		    "panel directory was served");
	if (rlen == 0)
		return;
	/* evhttp answers in the request's version, even "HTTP/0.1". */
	FUZZ_CHECK(rlen >= 12 && memcmp(r, "HTTP/", 5) == 0, "reply is not "
	    "HTTP: '%.40s'", r);
	if (memmem(data, size, FUZZ_API_TOKEN, strlen(FUZZ_API_TOKEN)) !=
	    NULL)
		return;
	/* No token: the first reply is no JSON success and no stream. */
	code = atoi(r + 9);
	if ((hdr_end = memmem(r, rlen, "\r\n\r\n", 4)) == NULL)
		return;
	hlen = (size_t)(hdr_end - r);
	ct = memmem(r, hlen, "Content-Type: ", 14);
	FUZZ_CHECK(!(code >= 200 && code < 300 && ct != NULL &&
	    (strncmp(ct + 14, "application/json", 16) == 0 ||
	    strncmp(ct + 14, "text/event-stream", 17) == 0)),
	    "%d %.40s without the token", code, ct + 14);
}

/* An e-stop latches a fault: start every input from an idle session. */
static void
fuzz_api_reset_session(void)
{
	struct session_hooks	 hooks;

	if (fuzz_api_ctl.session.state == SESSION_IDLE &&
	    !fuzz_api_ctl.session.fault_latched)
		return;
	hooks = fuzz_api_ctl.session.hooks;
	session_free(&fuzz_api_ctl.session);
	session_init(&fuzz_api_ctl.session, fuzz_api_ctl.cfg, &hooks,
	    &routine_inst_port);
}

static FUZZ_UNUSED int
fuzz_api_one(const uint8_t *data, size_t size)
{
	struct linger	 lg = { 1, 0 };
	struct pollfd	 pfd;
	size_t		 off = 0, rlen = 0;
	ssize_t		 n;
	uint64_t	 deadline;
	int		 fd, shut = 0, eof = 0, quiet = 0, progress, i;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		abort();
	if (connect(fd, (struct sockaddr *)&fuzz_api_addr,
	    sizeof(fuzz_api_addr)) == -1 && errno != EINPROGRESS)
		abort();
	deadline = fuzz_api_ms() + FUZZ_API_WAIT_MS;
	while (!eof && quiet < FUZZ_API_QUIET_ROUNDS &&
	    fuzz_api_ms() < deadline) {
		progress = 0;
		if (!shut && off < size) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0) {
				off += (size_t)n;
				progress = 1;
			} else if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != ENOTCONN &&
			    errno != EINTR)
				shut = 1;	/* the daemon closed: fine */
		}
		if (!shut && off == size) {
			shutdown(fd, SHUT_WR);
			shut = 1;
			progress = 1;
		}
		event_base_loop(fuzz_api_base, EVLOOP_NONBLOCK);
		for (;;) {
			if (rlen == FUZZ_API_RESP_MAX)
				rlen = 0;	/* the checks see the tail */
			n = recv(fd, fuzz_api_resp + rlen,
			    FUZZ_API_RESP_MAX - rlen, 0);
			if (n > 0) {
				rlen += (size_t)n;
				progress = 1;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR))
				eof = 1;
			break;
		}
		if (progress) {
			quiet = 0;
			continue;
		}
		quiet++;
		pfd.fd = fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 0);
		if (quiet > FUZZ_API_QUIET_ROUNDS / 2) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	}
	if (getenv("FUZZ_API_DEBUG") != NULL)
		fprintf(stderr, "fuzz_api: %zu bytes in, %zu out, eof %d, quiet %d, "
		    "%llu ms left\n", size, rlen, eof, quiet,
		    (unsigned long long)(deadline - fuzz_api_ms()));
	fuzz_api_check_reply(data, size, fuzz_api_resp, rlen);
	/* Reset, not close: no TIME_WAIT, and the daemon sees it at once. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	for (i = 0; i < 4; i++)
		event_base_loop(fuzz_api_base, EVLOOP_NONBLOCK);
	fuzz_api_reset_session();
	return (0);
}

FUZZ_MAIN(api)
