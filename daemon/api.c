/*
 * api.c: the control API (HTTP/1.1 + JSON over libevent's evhttp), the
 * event stream and the static control panel. The routes, their bodies and
 * their errors are in docs/api.md (the control API contract, version 1).
 *
 * Everything runs on the loop thread and never blocks it: bodies are small
 * and bounded, session records are flushed and read by record.c's thread
 * (the reply waits in a callback), panel files go out with
 * evbuffer_add_file(), and a slow event-stream client is dropped rather
 * than waited for. Requests are checked completely (route, method, token,
 * content type, JSON, every field) before anything reaches the session.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api.h"
#include "cfg.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "status.h"

#ifndef PANELDIR
#define PANELDIR		"/usr/local/share/massaged/panel"
#endif

#define API_MAX_BODY		(16 * 1024)
#define API_MAX_HEADERS		(8 * 1024)
#define API_TIMEOUT_S		30
#define API_TOKENS_MAX		64
#define API_TOKEN_MIN		16
#define API_TOKEN_MAX		256	/* bytes compared, whatever the length */
#define API_TOKEN_FILE_MAX	(64 * 1024)
#define API_STREAMS_MAX		64
#define API_STREAM_HZ		10
#define API_STREAM_BUF_MAX	(256 * 1024)
#define API_STREAM_WRITE_S	10
#define API_STREAM_SNDBUF	(64 * 1024)
#define API_SESSIONS_DEFAULT	20
#define API_SESSIONS_MAX	1000
#define API_ID_MAX		(NAME_LEN - 1)

struct api;

typedef void	(*api_handler)(struct api *, struct evhttp_request *,
		    json_t *body);

/* A request waiting for record.c (a barrier or a query). */
struct api_pending {
	LIST_ENTRY(api_pending)	 entry;
	struct api		*a;
	struct evhttp_request	*req;
	int			 code;
};

struct api_stream {
	TAILQ_ENTRY(api_stream)	 entry;
	struct api		*a;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	uint64_t		 sent;
};

struct api {
	struct control		*c;
	struct event_base	*base;
	struct record		*rec;
	struct evhttp		*http;
	char			 url[128];
	char			 token_path[PATH_MAX];
	int			 ntokens;
	char			 tokens[API_TOKENS_MAX][API_TOKEN_MAX + 1];
	size_t			 token_len[API_TOKENS_MAX];
	char			 panel_dir[PATH_MAX];	/* realpath, or "" */
	struct event		*stream_ev;
	int			 nstreams;
	TAILQ_HEAD(, api_stream) streams;
	LIST_HEAD(, api_pending) pending;
};

/* Body expectations of a route. */
enum api_body {
	BODY_NONE,		/* empty, or {} */
	BODY_JSON,		/* a JSON object, checked by the handler */
	BODY_IGNORED		/* anything: the e-stop never refuses */
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
static void	api_profiles(struct api *, struct evhttp_request *, json_t *);
static void	api_routines(struct api *, struct evhttp_request *, json_t *);
static void	api_sessions(struct api *, struct evhttp_request *, json_t *);
static void	api_start_session(struct api *, struct evhttp_request *,
		    json_t *);
static void	api_pause(struct api *, struct evhttp_request *, json_t *);
static void	api_resume(struct api *, struct evhttp_request *, json_t *);
static void	api_stop(struct api *, struct evhttp_request *, json_t *);
static void	api_intensity(struct api *, struct evhttp_request *, json_t *);
static void	api_estop(struct api *, struct evhttp_request *, json_t *);
static void	api_reset(struct api *, struct evhttp_request *, json_t *);
static void	api_events(struct api *, struct evhttp_request *, json_t *);
static void	api_metrics(struct api *, struct evhttp_request *, json_t *);
static void	api_error(struct evhttp_request *, int, const char *,
		    const char *, ...) LOG_PRINTF(4, 5);

static const struct api_route api_routes[] = {
	{ "/api/v1/status",		EVHTTP_REQ_GET,	 api_status,	1, BODY_NONE },
	{ "/api/v1/programs",		EVHTTP_REQ_GET,	 api_programs,	1, BODY_NONE },
	{ "/api/v1/profiles",		EVHTTP_REQ_GET,	 api_profiles,	1, BODY_NONE },
	{ "/api/v1/routines",		EVHTTP_REQ_GET,	 api_routines,	1, BODY_NONE },
	{ "/api/v1/sessions",		EVHTTP_REQ_GET,	 api_sessions,	1, BODY_NONE },
	{ "/api/v1/session",		EVHTTP_REQ_POST, api_start_session, 1, BODY_JSON },
	{ "/api/v1/session/pause",	EVHTTP_REQ_POST, api_pause,	1, BODY_NONE },
	{ "/api/v1/session/resume",	EVHTTP_REQ_POST, api_resume,	1, BODY_NONE },
	{ "/api/v1/session/stop",	EVHTTP_REQ_POST, api_stop,	1, BODY_NONE },
	{ "/api/v1/session/intensity",	EVHTTP_REQ_PUT,	 api_intensity,	1, BODY_JSON },
	{ "/api/v1/estop",		EVHTTP_REQ_POST, api_estop,	1, BODY_IGNORED },
	{ "/api/v1/reset",		EVHTTP_REQ_POST, api_reset,	1, BODY_NONE },
	{ "/api/v1/events",		EVHTTP_REQ_GET,	 api_events,	1, BODY_NONE },
	{ "/metrics",			EVHTTP_REQ_GET,	 api_metrics,	0, BODY_NONE },
};
#define API_NROUTES	(sizeof(api_routes) / sizeof(api_routes[0]))

static const struct {
	int		 method;
	const char	*name;
} api_methods[] = {
	{ EVHTTP_REQ_GET,	"GET" },
	{ EVHTTP_REQ_HEAD,	"HEAD" },
	{ EVHTTP_REQ_POST,	"POST" },
	{ EVHTTP_REQ_PUT,	"PUT" },
	{ EVHTTP_REQ_DELETE,	"DELETE" },
	{ EVHTTP_REQ_OPTIONS,	"OPTIONS" },
	{ EVHTTP_REQ_TRACE,	"TRACE" },
	{ EVHTTP_REQ_CONNECT,	"CONNECT" },
	{ EVHTTP_REQ_PATCH,	"PATCH" },
};

static const struct {
	const char	*ext;
	const char	*type;
} api_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".mjs",	"text/javascript; charset=utf-8" },
	{ ".json",	"application/json" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
	{ ".jpg",	"image/jpeg" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
	{ ".webmanifest", "application/manifest+json" },
};

/* --- replies ------------------------------------------------------------ */

/* libevent's own phrases lack some (422 would be "Client Error"). */
static const char *
api_reason(int code)
{
	switch (code) {
	case 200:	return ("OK");
	case 201:	return ("Created");
	case 400:	return ("Bad Request");
	case 401:	return ("Unauthorized");
	case 404:	return ("Not Found");
	case 405:	return ("Method Not Allowed");
	case 409:	return ("Conflict");
	case 415:	return ("Unsupported Media Type");
	case 422:	return ("Unprocessable Content");
	case 500:	return ("Internal Server Error");
	case 503:	return ("Service Unavailable");
	default:	return (NULL);
	}
}

static const char *
api_method_name(int m)
{
	size_t	 i;

	for (i = 0; i < sizeof(api_methods) / sizeof(api_methods[0]); i++)
		if (api_methods[i].method == m)
			return (api_methods[i].name);
	return ("?");
}

static void
api_peer(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection	*evcon;
	char				*host = NULL;
	ev_uint16_t			 port = 0;

	evcon = evhttp_request_get_connection(req);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(buf, len, "%s:%u", host != NULL ? host : "?", port);
}

static void
api_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

/* Sends doc (stolen) with code. */
static void
api_reply_json(struct evhttp_request *req, int code, json_t *doc)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);
	char		*s;

	s = json_dumps(doc, STATUS_JSON_FLAGS);
	json_decref(doc);
	if (s == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	api_headers(req, "application/json");
	evbuffer_add(out, s, strlen(s));
	evbuffer_add(out, "\n", 1);
	free(s);
	log_debug("api: %s %s: %d", api_method_name(
	    evhttp_request_get_command(req)), evhttp_request_get_uri(req),
	    code);
	evhttp_send_reply(req, code, api_reason(code), NULL);
}

/* 1 if s is valid UTF-8 (no overlongs, no surrogates). */
static int
api_utf8(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	unsigned int		 cp;
	int			 n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else
			return (0);
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		s += n + 1;
	}
	return (1);
}

/* Makes a message safe to quote: bytes of invalid UTF-8 become '?'. */
static void
api_ascii(char *msg)
{
	char	*p;

	if (api_utf8(msg))
		return;
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
}

static void
api_error(struct evhttp_request *req, int code, const char *err,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];
	json_t	*doc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_ascii(msg);
	doc = json_object();
	json_object_set_new(doc, "error", json_string(err));
	json_object_set_new(doc, "message", json_string(msg));
	api_reply_json(req, code, doc);
}

static void
api_reply_status(struct api *a, struct evhttp_request *req, int code)
{
	api_reply_json(req, code, status_json(a->c));
}

/* A session_* refusal as the contract maps it. */
static void
api_session_error(struct evhttp_request *req, int err, const char *why)
{
	switch (err) {
	case SESSION_EBUSY:
		api_error(req, 409, "busy", "%s", why);
		break;
	case SESSION_EFAULT:
		api_error(req, 409, "fault_latched", "%s", why);
		break;
	case SESSION_ENOTREADY:
		api_error(req, 409, "not_ready", "%s", why);
		break;
	case SESSION_ESTATE:
		api_error(req, 409, "invalid_state", "%s", why);
		break;
	case SESSION_ENOTFOUND:
		api_error(req, 404, "not_found", "%s", why);
		break;
	case SESSION_ECONTRA:
		api_error(req, 422, "contraindicated", "%s", why);
		break;
	default:
		api_error(req, 500, "routine_error", "%s", why);
		break;
	}
}

/* --- tokens ------------------------------------------------------------- */

/*
 * Reads the bearer tokens: one a line, '#' comments, blank lines ignored.
 * The file must be a regular file that neither group nor others can read
 * or write. -1 with the reason in err.
 */
static int
api_tokens_load(struct api *a, const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf, *line, *next, *p, *e;
	ssize_t		 n;
	size_t		 got = 0, len;
	int		 fd, lineno = 0, ntokens = 0;
	char		 (*tokens)[API_TOKEN_MAX + 1];
	size_t		 token_len[API_TOKENS_MAX];

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "token file %s: %s (create it with one "
		    "token of at least %d characters a line, mode 0600)",
		    path, strerror(errno), API_TOKEN_MIN);
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "token file %s is not a regular file",
		    path);
		close(fd);
		return (-1);
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "token file %s is readable or writable "
		    "by group or others (mode %04o): run chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return (-1);
	}
	if (st.st_size > API_TOKEN_FILE_MAX) {
		snprintf(err, errlen, "token file %s is too large (at most "
		    "%d bytes)", path, API_TOKEN_FILE_MAX);
		close(fd);
		return (-1);
	}
	buf = calloc(1, API_TOKEN_FILE_MAX + 1);
	tokens = calloc(API_TOKENS_MAX, sizeof(*tokens));
	if (buf == NULL || tokens == NULL)
		fatal("calloc");
	while (got < API_TOKEN_FILE_MAX &&
	    (n = read(fd, buf + got, API_TOKEN_FILE_MAX - got)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "token file %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	fd = -1;

	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (p = line; *p == ' ' || *p == '\t' || *p == '\r'; p++)
			;
		e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' ||
		    e[-1] == '\r'))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		len = strlen(p);
		if (len < API_TOKEN_MIN || len > API_TOKEN_MAX) {
			snprintf(err, errlen, "%s:%d: a token must have %d to "
			    "%d characters (this one has %zu)", path, lineno,
			    API_TOKEN_MIN, API_TOKEN_MAX, len);
			goto fail;
		}
		for (e = p; *e != '\0'; e++)
			if (!isgraph((unsigned char)*e)) {
				snprintf(err, errlen, "%s:%d: a token must be "
				    "printable ASCII without spaces", path,
				    lineno);
				goto fail;
			}
		if (ntokens == API_TOKENS_MAX) {
			snprintf(err, errlen, "%s:%d: too many tokens (at "
			    "most %d)", path, lineno, API_TOKENS_MAX);
			goto fail;
		}
		memcpy(tokens[ntokens], p, len + 1);
		token_len[ntokens++] = len;
	}
	if (ntokens == 0) {
		snprintf(err, errlen, "token file %s has no token (one token "
		    "of at least %d characters a line)", path, API_TOKEN_MIN);
		goto fail;
	}
	explicit_bzero(a->tokens, sizeof(a->tokens));
	memcpy(a->tokens, tokens, sizeof(a->tokens));
	memcpy(a->token_len, token_len, sizeof(a->token_len));
	a->ntokens = ntokens;
	explicit_bzero(buf, API_TOKEN_FILE_MAX + 1);
	explicit_bzero(tokens, sizeof(*tokens) * API_TOKENS_MAX);
	free(buf);
	free(tokens);
	return (0);
fail:
	if (fd != -1)
		close(fd);
	explicit_bzero(buf, API_TOKEN_FILE_MAX + 1);
	explicit_bzero(tokens, sizeof(*tokens) * API_TOKENS_MAX);
	free(buf);
	free(tokens);
	return (-1);
}

/*
 * 1 if the request carries a known bearer token. Every token is compared,
 * every byte of each, so the time taken says nothing about how much of a
 * guess was right.
 */
static int
api_authorized(struct api *a, struct evhttp_request *req)
{
	const char	*h, *tok;
	size_t		 len, i;
	int		 t, ok = 0;
	unsigned char	 diff, x, y;

	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return (0);
	for (tok = h + 7; *tok == ' '; tok++)
		;
	len = strlen(tok);
	while (len > 0 && tok[len - 1] == ' ')
		len--;
	if (len == 0 || len > API_TOKEN_MAX)
		return (0);
	for (t = 0; t < a->ntokens; t++) {
		diff = len != a->token_len[t];
		for (i = 0; i < API_TOKEN_MAX; i++) {
			x = i < len ? (unsigned char)tok[i] : 0;
			y = (unsigned char)a->tokens[t][i];
			diff |= x ^ y;
		}
		ok |= diff == 0;
	}
	return (ok);
}

/* --- request bodies ----------------------------------------------------- */

/* 1 if the request's Content-Type is application/json (any parameters). */
static int
api_is_json(struct evhttp_request *req)
{
	const char	*ct;
	size_t		 n;

	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	if (ct == NULL)
		return (0);
	while (*ct == ' ')
		ct++;
	n = strlen("application/json");
	if (strncasecmp(ct, "application/json", n) != 0)
		return (0);
	ct += n;
	while (*ct == ' ')
		ct++;
	return (*ct == '\0' || *ct == ';');
}

/*
 * Parses and checks the body as the route wants it. Returns 0 with *out a
 * JSON object (BODY_JSON) or NULL, or -1 after replying 400 or 415.
 */
static int
api_body(struct evhttp_request *req, enum api_body kind, json_t **out)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	size_t		 len = evbuffer_get_length(in);
	const char	*data;
	json_error_t	 jerr;
	json_t		*doc;

	*out = NULL;
	if (kind == BODY_IGNORED)
		return (0);
	if (len == 0) {
		if (kind == BODY_NONE)
			return (0);
		api_error(req, 400, "bad_request", "a JSON object is required "
		    "as the body (Content-Type: application/json)");
		return (-1);
	}
	if (!api_is_json(req)) {
		api_error(req, 415, "unsupported_media_type", "the body must "
		    "be JSON, sent with Content-Type: application/json");
		return (-1);
	}
	data = (const char *)evbuffer_pullup(in, -1);
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		api_error(req, 400, "bad_request", "malformed JSON at line %d, "
		    "column %d: %s", jerr.line, jerr.column, jerr.text);
		return (-1);
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		api_error(req, 400, "bad_request", "the body must be a JSON "
		    "object");
		return (-1);
	}
	if (kind == BODY_NONE && json_object_size(doc) > 0) {
		api_error(req, 400, "bad_request", "field '%s': unknown field "
		    "(this request takes no fields)",
		    json_object_iter_key(json_object_iter(doc)));
		json_decref(doc);
		return (-1);
	}
	if (kind == BODY_NONE) {
		json_decref(doc);
		return (0);
	}
	*out = doc;
	return (0);
}

/* The first key of obj that is not in the NULL-terminated known[]. */
static const char *
api_unknown_field(json_t *obj, const char *const *known)
{
	const char	*key;
	json_t		*v;
	int		 i;

	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return (key);
	}
	return (NULL);
}

/* An id field (program, profile): a string of 1..47 printable characters. */
static const char *
api_id_field(struct evhttp_request *req, json_t *body, const char *field,
    const char *what)
{
	json_t		*v = json_object_get(body, field);
	const char	*s;
	size_t		 i, len;

	if (v == NULL) {
		api_error(req, 400, "bad_request", "field '%s': missing "
		    "(expected the id of a %s, see GET /api/v1/%ss)", field,
		    what, what);
		return (NULL);
	}
	if (!json_is_string(v)) {
		api_error(req, 400, "bad_request", "field '%s': expected a "
		    "string (the id of a %s)", field, what);
		return (NULL);
	}
	s = json_string_value(v);
	len = json_string_length(v);
	for (i = 0; i < len; i++)
		if (!isgraph((unsigned char)s[i]))
			break;
	if (len == 0 || len > API_ID_MAX || i != len) {
		api_error(req, 400, "bad_request", "field '%s': expected the "
		    "id of a %s (1 to %d printable characters, no spaces)",
		    field, what, API_ID_MAX);
		return (NULL);
	}
	return (s);
}

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
	api_reply_status(a, p->req, p->code);
	free(p);
}

/* Replies with the status once every session record so far is on disk. */
static void
api_reply_after_record(struct api *a, struct evhttp_request *req, int code)
{
	if (a->rec == NULL) {
		api_reply_status(a, req, code);
		return;
	}
	record_barrier(a->rec, api_barrier_cb, api_pending_new(a, req, code));
}

static void
api_sessions_cb(json_t *sessions, void *arg)
{
	struct api_pending	*p = arg;
	json_t			*doc;

	api_pending_done(p);
	doc = json_object();
	json_object_set_new(doc, "sessions", sessions != NULL ? sessions :
	    json_array());
	api_reply_json(p->req, 200, doc);
	free(p);
}

/* --- routes ------------------------------------------------------------- */

static void
api_status(struct api *a, struct evhttp_request *req, json_t *body)
{
	api_reply_status(a, req, 200);
}

static void
api_programs(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "programs", status_programs_json(a->c));
	api_reply_json(req, 200, doc);
}

static void
api_profiles(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "profiles", status_profiles_json(a->c));
	api_reply_json(req, 200, doc);
}

static void
api_routines(struct api *a, struct evhttp_request *req, json_t *body)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "routines", status_routines_json(a->c));
	api_reply_json(req, 200, doc);
}

static void
api_sessions(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*q = uri != NULL ? evhttp_uri_get_query(uri) :
				    NULL;
	struct evkeyvalq	 params;
	struct evkeyval		*kv;
	long			 limit = API_SESSIONS_DEFAULT;

	TAILQ_INIT(&params);
	if (q != NULL && evhttp_parse_query_str(q, &params) == -1) {
		api_error(req, 400, "bad_request", "the query string is not "
		    "valid");
		return;
	}
	TAILQ_FOREACH(kv, &params, next) {
		if (strcmp(kv->key, "limit") != 0) {
			api_error(req, 400, "bad_request", "parameter '%s': "
			    "unknown (expected limit)", kv->key);
			evhttp_clear_headers(&params);
			return;
		}
		if (parse_int(kv->value, 1, API_SESSIONS_MAX, &limit) == -1) {
			api_error(req, 400, "bad_request", "parameter 'limit': "
			    "expected an integer from 1 to %d",
			    API_SESSIONS_MAX);
			evhttp_clear_headers(&params);
			return;
		}
	}
	evhttp_clear_headers(&params);
	if (a->rec == NULL) {
		api_sessions_cb(json_array(), api_pending_new(a, req, 200));
		return;
	}
	record_query(a->rec, (int)limit, api_sessions_cb,
	    api_pending_new(a, req, 200));
}

static void
api_start_session(struct api *a, struct evhttp_request *req, json_t *body)
{
	static const char *const known[] = { "program", "profile", NULL };
	struct session_input	 in;
	const char		*prog, *prof, *k;
	char			 why[512], peer[80];
	int			 rc;

	if ((k = api_unknown_field(body, known)) != NULL) {
		api_error(req, 400, "bad_request", "field '%s': unknown field "
		    "(expected program and profile)", k);
		return;
	}
	if ((prog = api_id_field(req, body, "program", "program")) == NULL ||
	    (prof = api_id_field(req, body, "profile", "profile")) == NULL)
		return;
	control_input(a->c, &in);
	rc = session_start(&a->c->session, prog, prof, &in, why, sizeof(why));
	api_peer(req, peer, sizeof(peer));
	if (rc != SESSION_OK) {
		log_info("api: start of %s for %s refused (from %s): %s", prog,
		    prof, peer, why);
		api_session_error(req, rc, why);
		return;
	}
	log_info("api: session started from %s", peer);
	api_reply_after_record(a, req, 201);
}

static void
api_pause(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_pause(&a->c->session, why, sizeof(why))) !=
	    SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200);
}

static void
api_resume(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_resume(&a->c->session, why, sizeof(why))) !=
	    SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200);
}

static void
api_stop(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 why[256];
	int	 rc;

	if ((rc = session_stop(&a->c->session, why, sizeof(why))) !=
	    SESSION_OK)
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
	    (int)json_integer_value(v), why, sizeof(why))) != SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200);
}

static void
api_estop(struct api *a, struct evhttp_request *req, json_t *body)
{
	char	 peer[80];

	/* The vent first; everything else can wait. */
	session_estop(&a->c->session, "the operator (API)");
	api_peer(req, peer, sizeof(peer));
	log_warnx("api: emergency stop from %s", peer);
	api_reply_after_record(a, req, 200);
}

static void
api_reset(struct api *a, struct evhttp_request *req, json_t *body)
{
	struct session_input	 in;
	char			 why[256];
	int			 rc;

	control_input(a->c, &in);
	if ((rc = session_reset(&a->c->session, &in, why, sizeof(why))) !=
	    SESSION_OK)
		api_session_error(req, rc, why);
	else
		api_reply_status(a, req, 200);
}

static void
api_metrics(struct api *a, struct evhttp_request *req, json_t *body)
{
	metrics_render(a->c, evhttp_request_get_output_buffer(req));
	api_headers(req, "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* --- the event stream --------------------------------------------------- */

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
	evhttp_connection_set_closecb(evcon, NULL, NULL);
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
	doc = status_json(a->c);
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
static void
api_observe_event(void *arg, const char *type)
{
	struct api		*a = arg;
	const struct session	*s = &a->c->session;
	json_t			*doc;
	char			*str, err[512];

	if (strcmp(type, "reloaded") == 0 && a->token_path[0] != '\0') {
		if (api_tokens_load(a, a->token_path, err, sizeof(err)) == -1)
			log_warnx("api: tokens not reloaded, the old ones "
			    "stay: %s", err);
		else
			log_info("api: %d token%s loaded", a->ntokens,
			    a->ntokens == 1 ? "" : "s");
	}
	if (a->nstreams == 0)
		return;
	doc = json_object();
	json_object_set_new(doc, "type", json_string(type));
	json_object_set_new(doc, "state",
	    json_string(session_state_name(s->state)));
	json_object_set_new(doc, "session_id", s->id > 0 ?
	    json_integer((json_int_t)s->id) : json_null());
	if (session_active(s)) {
		json_object_set_new(doc, "program", json_string(s->prog.id));
		json_object_set_new(doc, "profile", json_string(s->prof.id));
	}
	if ((strcmp(type, "started") == 0 || strcmp(type, "step") == 0) &&
	    session_active(s) && s->step < s->prog.nsteps) {
		json_object_set_new(doc, "step", json_integer(s->step));
		json_object_set_new(doc, "step_name",
		    json_string(s->prog.steps[s->step].name));
		json_object_set_new(doc, "routine",
		    json_string(s->prog.steps[s->step].routine->name));
	}
	if ((strcmp(type, "stopped") == 0 || strcmp(type, "stopping") == 0) &&
	    s->stop_reason != STOP_NONE) {
		json_object_set_new(doc, "reason",
		    json_string(session_reason_name(s->stop_reason)));
		json_object_set_new(doc, "category",
		    json_integer(s->stop_category));
		json_object_set_new(doc, "message",
		    json_string(s->stop_message));
	}
	if (strcmp(type, "fault") == 0)
		json_object_set_new(doc, "message",
		    json_string(s->fault_message));
	str = json_dumps(doc, STATUS_JSON_FLAGS);
	json_decref(doc);
	if (str != NULL)
		api_stream_send(a, type, str);
	free(str);
}

static void
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
	evhttp_connection_set_closecb(evcon, api_stream_closed, s);

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

/* --- the panel ---------------------------------------------------------- */

static const char *
api_content_type(const char *path)
{
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	if (dot != NULL)
		for (i = 0; i < sizeof(api_types) / sizeof(api_types[0]); i++)
			if (strcasecmp(dot, api_types[i].ext) == 0)
				return (api_types[i].type);
	return ("application/octet-stream");
}

static void
api_not_found(struct evhttp_request *req)
{
	api_error(req, 404, "not_found", "no such resource: %s",
	    evhttp_request_get_uri(req));
}

/*
 * Serves a file of the panel directory: only a regular file that really
 * is inside it (after every symlink), never a "..", an encoded one or a
 * NUL. Small files only: reading them is the only file I/O on the loop.
 */
static void
api_panel(struct api *a, struct evhttp_request *req)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	const char		*raw, *p;
	char			*dec = NULL, full[PATH_MAX], real[PATH_MAX];
	char			 len[32];
	size_t			 n, dlen;
	struct stat		 st;
	int			 fd, cmd = evhttp_request_get_command(req);

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		api_error(req, 405, "method_not_allowed", "%s is not allowed "
		    "here (allowed: GET, HEAD)", api_method_name(cmd));
		return;
	}
	if (a->panel_dir[0] == '\0' || uri == NULL ||
	    (raw = evhttp_uri_get_path(uri)) == NULL || raw[0] != '/')
		goto notfound;
	if ((dec = evhttp_uridecode(raw, 0, &dlen)) == NULL)
		goto notfound;
	if (strlen(dec) != dlen)
		goto notfound;		/* an encoded NUL */
	p = dec + 1;
	if (*p == '\0')
		p = "index.html";
	for (n = 0; p[n] != '\0'; n++)
		if (!isalnum((unsigned char)p[n]) && p[n] != '.' &&
		    p[n] != '_' && p[n] != '-' && p[n] != '/')
			goto notfound;
	/* No "..", no "." segments, no hidden files, no empty segments. */
	if (p[0] == '.' || strstr(p, "/.") != NULL || strstr(p, "//") != NULL ||
	    p[n - 1] == '/')
		goto notfound;
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", a->panel_dir, p) >=
	    sizeof(full))
		goto notfound;
	if (realpath(full, real) == NULL)
		goto notfound;
	n = strlen(a->panel_dir);
	if (strncmp(real, a->panel_dir, n) != 0 || real[n] != '/')
		goto notfound;
	/* O_NONBLOCK: opening a FIFO put there must not block the loop. */
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		goto notfound;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		goto notfound;
	}
	free(dec);
	evhttp_add_header(h, "Content-Type", api_content_type(real));
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'self'; "
	    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
	    "base-uri 'none'; form-action 'self'");
	if (cmd == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%lld", (long long)st.st_size);
		evhttp_add_header(h, "Content-Length", len);
		close(fd);
	} else if (st.st_size > 0)
		evbuffer_add_file(evhttp_request_get_output_buffer(req), fd, 0,
		    st.st_size);
	else
		close(fd);
	evhttp_send_reply(req, 200, NULL, NULL);
	return;
notfound:
	free(dec);
	api_not_found(req);
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

static void
api_dispatch(struct evhttp_request *req, void *arg)
{
	struct api		*a = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const struct api_route	*r = NULL;
	const char		*path;
	char			 allow[128] = "", peer[80];
	int			 cmd = evhttp_request_get_command(req);
	size_t			 i;
	json_t			*body;

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
		if (strcmp(api_routes[i].path, path) != 0)
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
	if (r->auth && !api_authorized(a, req)) {
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
	if (api_body(req, r->body, &body) == -1)
		return;
	r->fn(a, req, body);
	json_decref(body);
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
	return (0);
}

int
api_check_tokens(const struct table *t, char *err, size_t errlen)
{
	struct api	*a;
	int		 rc;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rc = api_tokens_load(a, t->token_file[0] != '\0' ? t->token_file :
	    CONFDIR "/tokens", err, errlen);
	explicit_bzero(a, sizeof(*a));
	free(a);
	return (rc);
}

struct api *
api_start(struct control *c, struct event_base *base, struct record *rec,
    char *err, size_t errlen)
{
	const struct table		*t = c->cfg->table;
	struct control_observer		 obs;
	struct api			*a;
	const char			*panel;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	a->c = c;
	a->base = base;
	a->rec = rec;
	TAILQ_INIT(&a->streams);
	LIST_INIT(&a->pending);
	snprintf(a->token_path, sizeof(a->token_path), "%s",
	    t->token_file[0] != '\0' ? t->token_file : CONFDIR "/tokens");
	if (api_tokens_load(a, a->token_path, err, errlen) == -1)
		goto fail;

	panel = t->panel_dir[0] != '\0' ? t->panel_dir : PANELDIR;
	if (realpath(panel, a->panel_dir) == NULL) {
		log_warn("api: panel directory %s; the panel is not served",
		    panel);
		a->panel_dir[0] = '\0';
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
	if ((a->stream_ev = event_new(base, -1, EV_PERSIST, api_stream_timer,
	    a)) == NULL) {
		snprintf(err, errlen, "event_new failed");
		goto fail;
	}
	if (api_listen(a, err, errlen) == -1)
		goto fail;

	memset(&obs, 0, sizeof(obs));
	obs.arg = a;
	obs.event = api_observe_event;
	control_observe(c, &obs);
	log_info("api: %d token%s from %s; panel %s", a->ntokens,
	    a->ntokens == 1 ? "" : "s", a->token_path, a->panel_dir[0] != '\0' ?
	    a->panel_dir : "not served");
	return (a);
fail:
	if (a->stream_ev != NULL)
		event_free(a->stream_ev);
	if (a->http != NULL)
		evhttp_free(a->http);
	explicit_bzero(a->tokens, sizeof(a->tokens));
	free(a);
	return (NULL);
}

void
api_free(struct api *a)
{
	struct api_stream	*s;
	struct api_pending	*p;
	int			 i;

	if (a == NULL)
		return;
	/* Stop observing: the control loop outlives the API. */
	for (i = 0; i < a->c->nobservers; i++)
		if (a->c->observers[i].arg == a)
			a->c->observers[i].event = NULL;
	while ((s = TAILQ_FIRST(&a->streams)) != NULL) {
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		api_stream_free(a, s);
	}
	/*
	 * Requests still waiting for record.c: the loop has stopped, so their
	 * callbacks can no longer run (record_close() drops them), and evhttp
	 * frees the requests with their connections below.
	 */
	while ((p = LIST_FIRST(&a->pending)) != NULL) {
		LIST_REMOVE(p, entry);
		free(p);
	}
	event_free(a->stream_ev);
	evhttp_free(a->http);
	explicit_bzero(a->tokens, sizeof(a->tokens));
	free(a);
}
