/*
 * api-auth.c: the bearer tokens of the control API: reading the token
 * file (at start, for -n, and again after each reload) and checking a
 * request's token in constant time.
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

/*
 * Reads the bearer tokens: one a line, '#' comments, blank lines ignored.
 * The file must be a regular file (not a symbolic link) owned by root or
 * the daemon's user that neither group nor others can read or write, in a
 * directory only they can write (files_read()). -1 with the reason in err.
 */
static int
api_tokens_load(struct api *a, const char *path, char *err, size_t errlen)
{
	char		*buf, *line, *next, *p, *e, why[PATH_MAX + 512];
	size_t		 got, len;
	int		 lineno = 0, ntokens = 0;
	char		 (*tokens)[API_TOKEN_MAX + 1];
	size_t		 token_len[API_TOKENS_MAX];

	if (files_read(path, API_TOKEN_FILE_MAX, FILES_NOFOLLOW |
	    FILES_PRIVATE, &buf, &got, why, sizeof(why)) == -1) {
		if (access(path, F_OK) == -1 && errno == ENOENT)
			snprintf(err, errlen, "token file %s: %s (create it "
			    "with one token of at least %d characters a line, "
			    "mode 0600)", path, why, API_TOKEN_MIN);
		else
			snprintf(err, errlen, "token file %s: %s", path, why);
		return (-1);
	}
	if ((tokens = calloc(API_TOKENS_MAX, sizeof(*tokens))) == NULL)
		fatal("calloc");
	if ((p = memchr(buf, '\0', got)) != NULL) {
		for (e = buf, lineno = 1; e < p; e++)
			lineno += *e == '\n';
		snprintf(err, errlen, "%s:%d: contains a NUL byte", path,
		    lineno);
		goto fail;
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
	explicit_bzero(buf, got);
	explicit_bzero(tokens, sizeof(*tokens) * API_TOKENS_MAX);
	free(buf);
	free(tokens);
	return (0);
fail:
	explicit_bzero(buf, got);
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
		ok |= diff == 0;
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
	else
		log_info("api: %d token%s loaded", a->ntokens,
		    a->ntokens == 1 ? "" : "s");
}
