/*
 * client.c: what every massagectl command shares: the usage error, the
 * token (the daemon's own token file format), one request to the daemon
 * with its exit code and error report, and reading values of its JSON.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "files.h"
#include "http.h"
#include "massagectl.h"

#define TOKEN_FILE_MAX	(64 * 1024)	/* as the daemon's */

/* A usage error: one line saying what is wrong, and where help is. */
int
client_usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fputs("massagectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (massagectl --help for usage)\n", stderr);
	return (EXIT_USAGE);
}
/* --- the token ---------------------------------------------------------- */

/*
 * The first token of a token file, in the daemon's own format: a line is
 * TOKEN or NAME TOKEN ROLE (NAME TOKEN is read too: roles are the
 * daemon's to judge, and it refuses a line without one).
 */
static int
client_token_line(char *line, char *out, size_t outlen)
{
	char	*p, *e, *w;

	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	e = p + strcspn(p, "\r\n");
	*e = '\0';
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (*p == '\0' || *p == '#')
		return (0);
	if (p[strcspn(p, " \t")] != '\0') {	/* NAME TOKEN [ROLE] */
		for (w = p + strcspn(p, " \t"); *w == ' ' || *w == '\t'; w++)
			;
		p = w;
		p[strcspn(p, " \t")] = '\0';
	}
	if (strlen(p) >= outlen) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	snprintf(out, outlen, "%s", p);
	return (1);
}

int
client_token_read(const char *path, char *out, size_t outlen)
{
	FILE	*fp;
	char	 line[1024];
	int	 rc;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((rc = client_token_line(line, out, outlen)) == 0)
			continue;
		explicit_bzero(line, sizeof(line));
		fclose(fp);
		return (rc == 1 ? 0 : -1);
	}
	fclose(fp);
	errno = ENOENT;
	return (-1);
}

/*
 * A table's own token file, from the tables file of --all: a secret of
 * the user who runs massagectl, as the daemon's token file is the
 * daemon's. A regular file, not a symbolic link, owned by this user, that
 * neither group nor others may read or write, in a directory only its
 * owner or root can write (common/files.c, the daemon's own rule). -1
 * with why set to what is wrong and what to run.
 */
int
client_token_private(const char *path, char *out, size_t outlen, char *why,
    size_t whylen)
{
	struct stat	 st;
	char		*buf, *line, *next, sec[PATH_MAX + 512];
	size_t		 len;
	int		 rc = 0;

	if (lstat(path, &st) == -1) {
		snprintf(why, whylen, "token file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (S_ISREG(st.st_mode) && st.st_uid != geteuid()) {
		snprintf(why, whylen, "token file %s is owned by uid %lu, not "
		    "by this user (uid %lu): copy it to a file of your own, "
		    "mode 0600", path, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		return (-1);
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
		snprintf(why, whylen, "token file %s is readable or writable "
		    "by group or others (mode %04o): chmod 600 %s", path,
		    (unsigned int)(st.st_mode & 07777), path);
		return (-1);
	}
	if (files_read(path, TOKEN_FILE_MAX, FILES_NOFOLLOW | FILES_PRIVATE |
	    FILES_STABLE, &buf, &len, sec, sizeof(sec)) == -1) {
		snprintf(why, whylen, "token file %s: %s", path, sec);
		return (-1);
	}
	for (line = buf; line != NULL && rc == 0; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		rc = client_token_line(line, out, outlen);
	}
	explicit_bzero(buf, len);
	free(buf);
	if (rc != 1)
		snprintf(why, whylen, "token file %s: %s", path, rc == 0 ?
		    "no token in it" : "the token is too long");
	return (rc == 1 ? 0 : -1);
}

/* --token-file, MASSAGED_TOKEN, MASSAGED_TOKEN_FILE, CONFDIR/tokens. */
int
client_token_find(struct client *x, const char *opt_file)
{
	const char	*env;

	if (opt_file != NULL) {
		if (client_token_read(opt_file, x->token, sizeof(x->token)) ==
		    -1) {
			fprintf(stderr, "massagectl: token file %s: %s\n",
			    opt_file, errno == ENOENT ? "no token in it, or "
			    "missing" : strerror(errno));
			return (-1);
		}
		x->have_token = 1;
		x->token_from = opt_file;
		return (0);
	}
	if ((env = getenv("MASSAGED_TOKEN")) != NULL && *env != '\0') {
		if (strlen(env) >= sizeof(x->token)) {
			fprintf(stderr, "massagectl: MASSAGED_TOKEN is too "
			    "long\n");
			return (-1);
		}
		snprintf(x->token, sizeof(x->token), "%s", env);
		x->have_token = 1;
		x->token_from = "MASSAGED_TOKEN";
		return (0);
	}
	if ((env = getenv("MASSAGED_TOKEN_FILE")) != NULL && *env != '\0') {
		if (client_token_read(env, x->token, sizeof(x->token)) == -1) {
			fprintf(stderr, "massagectl: MASSAGED_TOKEN_FILE %s: "
			    "%s\n", env, errno == ENOENT ? "no token in it, or "
			    "missing" : strerror(errno));
			return (-1);
		}
		x->have_token = 1;
		x->token_from = env;
		return (0);
	}
	if (client_token_read(CONFDIR "/tokens", x->token, sizeof(x->token)) ==
	    0) {
		x->have_token = 1;
		x->token_from = CONFDIR "/tokens";
	}
	return (0);
}
/* --- calling the daemon ------------------------------------------------- */

int
client_exit_for_status(int status)
{
	if (status >= 200 && status < 300)
		return (EXIT_OK);
	if (status == 401)
		return (EXIT_AUTH);
	if (status >= 400 && status < 500)
		return (EXIT_REFUSED);
	return (EXIT_SERVER);
}

/* Says why a reply is not a success, on stderr. */
void
client_report_error(struct client *x, int status, const char *body)
{
	json_t		*doc;
	const char	*err = NULL, *msg = NULL;

	doc = json_loads(body != NULL ? body : "", 0, NULL);
	if (json_is_object(doc)) {
		err = json_string_value(json_object_get(doc, "error"));
		msg = json_string_value(json_object_get(doc, "message"));
	}
	if (status == 401) {
		fprintf(stderr, "massagectl: authentication failed (401): %s\n",
		    msg != NULL ? msg : "no valid token");
		if (x->have_token)
			fprintf(stderr, "massagectl: the token from %s was not "
			    "accepted\n", x->token_from);
		else
			fprintf(stderr, "massagectl: no token given: use "
			    "--token-file FILE, MASSAGED_TOKEN or "
			    "MASSAGED_TOKEN_FILE\n");
	} else
		fprintf(stderr, "massagectl: %s (%d%s%s): %s\n", status >= 500 ?
		    "server error" : "refused", status, err != NULL ? " " : "",
		    err != NULL ? err : "", msg != NULL ? msg : "no message");
	json_decref(doc);
}

/*
 * One request. Returns an exit code; on success *out is the reply's JSON
 * (NULL if out is NULL) and, with --json, the reply is printed as it came.
 */
int
client_call(struct client *x, const char *method, const char *path,
    const char *body, json_t **out)
{
	struct http_response	 res;
	json_error_t		 jerr;
	char			 err[512];
	int			 rc;

	if (out != NULL)
		*out = NULL;
	if (http_request(&x->url, method, path, x->have_token ? x->token :
	    NULL, body, TIMEOUT_MS, &res, err, sizeof(err)) == -1) {
		fprintf(stderr, "massagectl: %s: %s\n", x->url_text, err);
		return (EXIT_TRANSPORT);
	}
	rc = client_exit_for_status(res.status);
	if (x->json)
		fputs(res.body, stdout);
	if (rc != EXIT_OK) {
		client_report_error(x, res.status, res.body);
		http_response_free(&res);
		return (rc);
	}
	if (out != NULL && (*out = json_loads(res.body, 0, &jerr)) == NULL) {
		fprintf(stderr, "massagectl: the daemon's reply is not JSON "
		    "(line %d: %s)\n", jerr.line, jerr.text);
		http_response_free(&res);
		return (EXIT_TRANSPORT);
	}
	http_response_free(&res);
	return (EXIT_OK);
}
/*
 * Every page of a list (base: its path and query, without the cursor):
 * each element of the reply's array key to each(), in order, following
 * next_cursor to the end. An exit code.
 */
int
client_pages(struct client *x, const char *base, const char *key,
    void (*each)(json_t *, void *), void *arg)
{
	json_t		*doc, *p;
	const char	*cursor;
	char		 path[1024], *cur = NULL;
	size_t		 i;
	int		 rc;

	for (;;) {
		snprintf(path, sizeof(path), "%s%s%s", base, cur != NULL ?
		    "&cursor=" : "", cur != NULL ? cur : "");
		if ((rc = client_call(x, "GET", path, NULL, &doc)) != EXIT_OK)
			break;
		json_array_foreach(json_object_get(doc, key), i, p)
			each(p, arg);
		cursor = json_string_value(json_object_get(doc,
		    "next_cursor"));
		free(cur);
		cur = cursor != NULL ? strdup(cursor) : NULL;
		json_decref(doc);
		if (cur == NULL)
			break;
	}
	free(cur);
	return (rc);
}

/* --- formatting --------------------------------------------------------- */

const char *
client_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "-");
}

double
client_num(json_t *o, const char *key)
{
	return (json_number_value(json_object_get(o, key)));
}
