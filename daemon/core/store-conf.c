/*
 * store-conf.c: the store keys of the table file, checked as text (the
 * core links no database library: the engine's store.c hands the URL to
 * libpq). A URL is postgresql://[user@][host][:port][/dbname][?k=v&...]:
 * what libpq takes, less a password, which goes in store_password_file
 * (a file of mode 0600, like the token file) so that the table file can
 * stay readable.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "store-conf.h"
#include "table.h"

static const char *const store_schemes[] = { "postgresql://",
    "postgres://", NULL };

/* The length of the scheme url starts with, 0 for none. */
static size_t
store_url_scheme(const char *url)
{
	int	 i;

	for (i = 0; store_schemes[i] != NULL; i++)
		if (strncmp(url, store_schemes[i],
		    strlen(store_schemes[i])) == 0)
			return (strlen(store_schemes[i]));
	return (0);
}

/* The value of a hexadecimal digit, -1 for none. */
static int
store_url_hex(char c)
{
	static const char	 digits[] = "0123456789abcdef";
	const char		*d;

	if (c == '\0' || (d = strchr(digits,
	    tolower((unsigned char)c))) == NULL)
		return (-1);
	return (d - digits);
}

/*
 * The key of a query parameter as libpq reads it (percent-decoded) into
 * out; a key too long for out is left empty (it is none of ours).
 */
static void
store_url_key(const char *p, size_t len, char *out, size_t outlen)
{
	size_t	 i, n = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (n + 1 >= outlen) {
			out[0] = '\0';
			return;
		}
		if (p[i] == '%' && i + 2 < len &&
		    (hi = store_url_hex(p[i + 1])) != -1 &&
		    (lo = store_url_hex(p[i + 2])) != -1) {
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[n++] = p[i];
	}
	out[n] = '\0';
}

/*
 * The query of a URL: key=value pairs joined by '&', no password, no
 * client key's passphrase (sslpassword).
 */
static int
store_url_query(const char *q, char *err, size_t errlen)
{
	const char	*p, *eq, *amp;
	char		 key[32];

	for (p = q; *p != '\0'; p = amp + 1) {
		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', amp - p);
		if (eq == NULL || eq == p) {
			snprintf(err, errlen, "a query parameter is not "
			    "key=value (\"%.*s\")", (int)(amp - p), p);
			return (-1);
		}
		store_url_key(p, eq - p, key, sizeof(key));
		if (strcmp(key, "password") == 0) {
			snprintf(err, errlen, "has a password: put it in "
			    "store_password_file (mode 0600), not in the URL");
			return (-1);
		}
		if (strcmp(key, "sslpassword") == 0) {
			snprintf(err, errlen, "has the client key's "
			    "passphrase (sslpassword): give sslkey a key "
			    "without one, mode 0600, not in the URL");
			return (-1);
		}
		if (*amp == '\0')
			break;
	}
	return (0);
}

/* [user@]host[:port], host possibly [v6]: the port, if any, in range. */
static int
store_url_authority(const char *a, size_t len, char *err, size_t errlen)
{
	char		 buf[STORE_URL_MAX];
	const char	*at, *host, *colon, *close;
	long		 port;

	snprintf(buf, sizeof(buf), "%.*s", (int)len, a);
	if ((at = strrchr(buf, '@')) != NULL && memchr(buf, ':',
	    at - buf) != NULL) {
		snprintf(err, errlen, "has a password: put it in "
		    "store_password_file (mode 0600), not in the URL");
		return (-1);
	}
	host = at != NULL ? at + 1 : buf;
	if (*host == '[' && (close = strchr(host, ']')) != NULL)
		host = close + 1;
	if ((colon = strchr(host, ':')) == NULL)
		return (0);
	if (strchr(colon + 1, ',') != NULL)
		return (0);	/* several hosts: libpq checks their ports */
	if (parse_int(colon + 1, 1, 65535, &port) == -1) {
		snprintf(err, errlen, "the port \"%s\" is not a number from "
		    "1 to 65535", colon + 1);
		return (-1);
	}
	return (0);
}

int
store_url_check(const char *url, char *err, size_t errlen)
{
	const char	*p, *rest, *q;
	size_t		 n;

	if ((n = store_url_scheme(url)) == 0) {
		snprintf(err, errlen, "not a PostgreSQL URL (expected "
		    "postgresql://USER@HOST:PORT/DATABASE)");
		return (-1);
	}
	if (strlen(url) >= STORE_URL_MAX) {
		snprintf(err, errlen, "longer than %d characters",
		    STORE_URL_MAX - 1);
		return (-1);
	}
	for (p = url; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f) {
			snprintf(err, errlen, "has a space or a character "
			    "that is not printable ASCII (percent-encode it)");
			return (-1);
		}
	rest = url + n;
	q = strchr(rest, '?');
	if (store_url_authority(rest, strcspn(rest, "/?"), err,
	    errlen) == -1)
		return (-1);
	if (q != NULL && store_url_query(q + 1, err, errlen) == -1)
		return (-1);
	return (0);
}

void
store_url_redact(const char *url, char *out, size_t outlen)
{
	const char	*rest, *at, *colon;
	size_t		 n, auth;

	n = store_url_scheme(url);
	rest = url + n;
	auth = strcspn(rest, "/?");
	at = memchr(rest, '@', auth);
	colon = at != NULL ? memchr(rest, ':', at - rest) : NULL;
	if (colon == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	/* Only the user's password: a password= parameter is refused. */
	snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

void
store_conf_key(struct inifile_file *f, struct table *t, const char *k,
    const char *v)
{
	char	 why[256];

	if (strcmp(k, "store") == 0) {
		if (store_url_check(v, why, sizeof(why)) == -1) {
			inifile_err(f, k, "%s", why);
			return;
		}
		if (inifile_str(f, k, v, t->store, sizeof(t->store)) == 0)
			t->store_line = f->line;
		return;
	}
	/* store_password_file: relative to the file, or the cwd on the
	 * command line */
	if (inifile_path(f->line == 0 ? "" : f->path, v,
	    t->store_password_file, sizeof(t->store_password_file)) == -1)
		inifile_err(f, k, "path too long");
}
