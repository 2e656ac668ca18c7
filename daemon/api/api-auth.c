/*
 * api-auth.c: the bearer tokens of the control API: reading the token
 * file (at start, for -n, and again after each reload) and checking a
 * request's token in constant time. A token has a name, the actor the
 * log, the events and the session records name, and a role.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "api-private.h"
#include "config.h"
#include "files.h"
#include "table.h"
#include "log.h"

#define API_TOKEN_MIN		16
#define API_TOKEN_FILE_MAX	(64 * 1024)
#define API_TOKEN_FILE_DEFAULT	CONFDIR "/tokens"

static int	api_tokens_load(struct api *, const char *, char *, size_t);

static const char *const api_roles[] = {
	[API_ROLE_ADMIN] = "admin",
	[API_ROLE_OPERATOR] = "operator",
	[API_ROLE_VIEWER] = "viewer",
};

const char *
api_role_name(enum api_role r)
{
	return (api_roles[r]);
}

/* Splits off the next word of *p (spaces and tabs between words). */
static char *
api_word(char **p)
{
	char	*w = *p, *e;

	if (*w == '\0')
		return (NULL);
	for (e = w; *e != '\0' && *e != ' ' && *e != '\t'; e++)
		;
	if (*e != '\0')
		*e++ = '\0';
	while (*e == ' ' || *e == '\t')
		e++;
	*p = e;
	return (w);
}

/* 1 if name is 1 to 32 of A-Z a-z 0-9 . _ - */
static int
api_name_valid(const char *name)
{
	size_t	 len = strlen(name);

	if (len == 0 || len >= SESSION_ACTOR_LEN)
		return (0);
	return (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
	    "xyz0123456789._-") == len);
}

/* The tokens of a file being read: put in place only once all are valid. */
struct api_token_set {
	int		 ntokens;
	char		 tokens[API_TOKENS_MAX][API_TOKEN_MAX + 1];
	size_t		 token_len[API_TOKENS_MAX];
	char		 names[API_TOKENS_MAX][SESSION_ACTOR_LEN];
	enum api_role	 roles[API_TOKENS_MAX];
};

/* The role a token line states: 0, or -1 when it is not a role. */
static int
api_role_parse(const char *w, enum api_role *r)
{
	int	 i;

	for (i = 0; i < 3; i++)
		if (strcmp(w, api_roles[i]) == 0) {
			*r = (enum api_role)i;
			return (0);
		}
	return (-1);
}

/*
 * One line of the token file, trimmed and not empty: "TOKEN" (the admin)
 * or "NAME TOKEN ROLE", whole. A named line without its role (cut short,
 * or a typo) is refused, never given a role: -1 with why in err.
 */
static int
api_token_line(struct api_token_set *ts, char *p, const char *path,
    int lineno, char *err, size_t errlen)
{
	char	*w[4], *e;
	size_t	 len;
	int	 nw, i, n = ts->ntokens;

	for (nw = 0; nw < 4 && (w[nw] = api_word(&p)) != NULL; nw++)
		;
	if (nw == 2 || nw == 4) {
		snprintf(err, errlen, "%s:%d: expected TOKEN (the admin) or "
		    "NAME TOKEN ROLE (ROLE: admin, operator or viewer)%s",
		    path, lineno, nw == 2 ? "; this line has a name and a "
		    "token but no role, and a token gets no role it does not "
		    "state" : "");
		return (-1);
	}
	if (n == API_TOKENS_MAX) {
		snprintf(err, errlen, "%s:%d: too many tokens (at "
		    "most %d)", path, lineno, API_TOKENS_MAX);
		return (-1);
	}
	ts->roles[n] = API_ROLE_ADMIN;
	snprintf(ts->names[n], sizeof(ts->names[0]), "%s", nw == 1 ?
	    API_ACTOR_ADMIN : w[0]);
	if (nw == 3 && !api_name_valid(w[0])) {
		snprintf(err, errlen, "%s:%d: a name has 1 to %d of "
		    "A-Z a-z 0-9 . _ -", path, lineno,
		    SESSION_ACTOR_LEN - 1);
		return (-1);
	}
	for (i = 0; nw == 3 && i < n; i++)
		if (strcmp(ts->names[i], w[0]) == 0) {
			snprintf(err, errlen, "%s:%d: the name %s is "
			    "already taken", path, lineno, w[0]);
			return (-1);
		}
	if (nw == 3 && api_role_parse(w[2], &ts->roles[n]) == -1) {
		snprintf(err, errlen, "%s:%d: unknown role (expected admin, "
		    "operator or viewer)", path, lineno);
		return (-1);
	}
	p = nw == 1 ? w[0] : w[1];
	len = strlen(p);
	if (len < API_TOKEN_MIN || len > API_TOKEN_MAX) {
		snprintf(err, errlen, "%s:%d: a token must have %d to "
		    "%d characters (this one has %zu)", path, lineno,
		    API_TOKEN_MIN, API_TOKEN_MAX, len);
		return (-1);
	}
	for (e = p; *e != '\0'; e++)
		if (!isgraph((unsigned char)*e)) {
			snprintf(err, errlen, "%s:%d: a token must be "
			    "printable ASCII without spaces", path,
			    lineno);
			return (-1);
		}
	memcpy(ts->tokens[n], p, len + 1);
	ts->token_len[n] = len;
	ts->ntokens++;
	return (0);
}

/*
 * Reads the bearer tokens, one a line: "TOKEN" (the admin, named admin)
 * or "NAME TOKEN ROLE" (admin, operator or viewer); '#' comments, blank
 * lines ignored. The file must be a regular file (not a symbolic link)
 * owned by root or the daemon's user that neither group nor others can
 * read or write, in a directory only they can write (files_read()).
 * Read, checked whole, then swapped in: a file that changed while it was
 * read, a last line without its newline (cut short) or any bad line
 * leaves the tokens as they were. -1 with the reason in err.
 */
static int
api_tokens_load(struct api *a, const char *path, char *err, size_t errlen)
{
	struct api_token_set	*ts;
	char			*buf, *line, *next, *p, *e;
	char			 why[PATH_MAX + 512];
	size_t			 got;
	int			 lineno = 0, rc = -1;

	if (files_read(path, API_TOKEN_FILE_MAX, FILES_NOFOLLOW |
	    FILES_PRIVATE | FILES_STABLE, &buf, &got, why, sizeof(why)) == -1) {
		if (access(path, F_OK) == -1 && errno == ENOENT)
			snprintf(err, errlen, "token file %s: %s (create it "
			    "with one token of at least %d characters a line, "
			    "mode 0600)", path, why, API_TOKEN_MIN);
		else
			snprintf(err, errlen, "token file %s: %s", path, why);
		return (-1);
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		fatal("calloc");
	if ((p = memchr(buf, '\0', got)) != NULL) {
		for (e = buf, lineno = 1; e < p; e++)
			lineno += *e == '\n';
		snprintf(err, errlen, "%s:%d: contains a NUL byte", path,
		    lineno);
		goto out;
	}

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
		if (next == NULL) {
			snprintf(err, errlen, "%s:%d: the last line has no "
			    "newline: cut short while the file was written? "
			    "(end every line with a newline)", path, lineno);
			goto out;
		}
		if (api_token_line(ts, p, path, lineno, err, errlen) == -1)
			goto out;
	}
	if (ts->ntokens == 0) {
		snprintf(err, errlen, "token file %s has no token (one token "
		    "of at least %d characters a line)", path, API_TOKEN_MIN);
		goto out;
	}
	explicit_bzero(a->tokens, sizeof(a->tokens));
	memcpy(a->tokens, ts->tokens, sizeof(a->tokens));
	memcpy(a->token_len, ts->token_len, sizeof(a->token_len));
	memcpy(a->token_name, ts->names, sizeof(a->token_name));
	memcpy(a->token_role, ts->roles, sizeof(a->token_role));
	a->ntokens = ts->ntokens;
	rc = 0;
out:
	explicit_bzero(buf, got);
	explicit_bzero(ts, sizeof(*ts));
	free(buf);
	free(ts);
	return (rc);
}

/*
 * The index of the request's bearer token plus 1, 0 for none. Every token
 * is compared, every byte of each, so the time taken says nothing about
 * how much of a guess was right.
 */
int
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
		/* the first match, without a branch on it */
		ok |= (diff == 0) * (ok == 0) * (t + 1);
	}
	return (ok);
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
	    API_TOKEN_FILE_DEFAULT, err, errlen);
	explicit_bzero(a, sizeof(*a));
	free(a);
	return (rc);
}

/* The token file of the table, read for api_start(). */
int
api_tokens_start(struct api *a, const struct table *t, char *err,
    size_t errlen)
{
	snprintf(a->token_path, sizeof(a->token_path), "%s",
	    t->token_file[0] != '\0' ? t->token_file : API_TOKEN_FILE_DEFAULT);
	return (api_tokens_load(a, a->token_path, err, errlen));
}

void
api_tokens_clear(struct api *a)
{
	explicit_bzero(a->tokens, sizeof(a->tokens));
	a->ntokens = 0;
}

void
api_reload_tokens(struct api *a)
{
	char	 err[512];

	if (a == NULL || a->token_path[0] == '\0')
		return;
	if (api_tokens_load(a, a->token_path, err, sizeof(err)) == -1)
		log_warnx("api: tokens not reloaded, the old ones stay: %s",
		    err);
	else {
		log_info("api: %d token%s loaded", a->ntokens,
		    a->ntokens == 1 ? "" : "s");
		api_stream_retoken(a);
	}
}
