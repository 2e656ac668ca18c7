/*
 * api-reply.c: replies of the control API (JSON documents, errors as
 * docs/api.md maps them, session refusals) and the checks of request
 * bodies: content type, JSON, unknown fields, ids.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api-private.h"
#include "tick.h"
#include "record.h"
#include "status.h"

#define API_ID_MAX		(NAME_LEN - 1)

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
	case 403:	return ("Forbidden");
	case 404:	return ("Not Found");
	case 405:	return ("Method Not Allowed");
	case 409:	return ("Conflict");
	case 415:	return ("Unsupported Media Type");
	case 422:	return ("Unprocessable Content");
	case 428:	return ("Precondition Required");
	case 500:	return ("Internal Server Error");
	case 503:	return ("Service Unavailable");
	case 507:	return ("Insufficient Storage");
	default:	return (NULL);
	}
}

const char *
api_method_name(int m)
{
	size_t	 i;

	for (i = 0; i < sizeof(api_methods) / sizeof(api_methods[0]); i++)
		if (api_methods[i].method == m)
			return (api_methods[i].name);
	return ("?");
}

void
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

void
api_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

/* Sends doc (stolen) with code. */
void
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
	/* libevent gives the answer to a CONNECT no length (a tunnel would
	 * follow it): its end is said here, so that no client waits for a
	 * close to find it. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT) {
		char	 len[32];

		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(out));
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", len);
	}
	log_debug("api: %s %s: %d", api_method_name(
	    evhttp_request_get_command(req)), evhttp_request_get_uri(req),
	    code);
	evhttp_send_reply(req, code, api_reason(code), NULL);
}

/* 1 if s is valid UTF-8 (no overlongs, no surrogates). */
int
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

void
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

void
api_reply_status(struct api *a, struct evhttp_request *req, int code,
    enum api_role role)
{
	api_reply_json(req, code, api_view_status(status_json(a->c,
	    record_status_json()), role));
}

/* A session_* refusal as the contract maps it; returns its error code. */
const char *
api_session_error(struct evhttp_request *req, int err, const char *why)
{
	switch (err) {
	case SESSION_EBUSY:
		api_error(req, 409, "busy", "%s", why);
		return ("busy");
	case SESSION_EFAULT:
		api_error(req, 409, "fault_latched", "%s", why);
		return ("fault_latched");
	case SESSION_ENOTREADY:
		api_error(req, 409, "not_ready", "%s", why);
		return ("not_ready");
	case SESSION_ESTATE:
		api_error(req, 409, "invalid_state", "%s", why);
		return ("invalid_state");
	case SESSION_ENOTFOUND:
		api_error(req, 404, "not_found", "%s", why);
		return ("not_found");
	case SESSION_ECONTRA:
		api_error(req, 422, "contraindicated", "%s", why);
		return ("contraindicated");
	case SESSION_EUNAVAIL:
		api_error(req, 409, "unavailable", "%s", why);
		return ("unavailable");
	default:
		api_error(req, 500, "routine_error", "%s", why);
		return ("routine_error");
	}
}

void
api_not_found(struct evhttp_request *req)
{
	api_error(req, 404, "not_found", "no such resource: %s",
	    evhttp_request_get_uri(req));
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
int
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
const char *
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

/*
 * An id field (program, profile): [a-z0-9_]+, 1..47 characters, as every
 * id is (docs/api.md). Anything else is refused here, before it can reach
 * a record, a log line or an export (a spreadsheet formula, a newline).
 */
const char *
api_id_field(struct evhttp_request *req, json_t *body, const char *field,
    const char *what)
{
	json_t		*v = json_object_get(body, field);
	const char	*s;
	size_t		 i, len;
	int		 c;

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
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '_'))
			break;
	}
	if (len == 0 || len > API_ID_MAX || i != len) {
		api_error(req, 400, "bad_request", "field '%s': expected the "
		    "id of a %s ([a-z0-9_]+, 1 to %d characters)", field, what,
		    API_ID_MAX);
		return (NULL);
	}
	return (s);
}
