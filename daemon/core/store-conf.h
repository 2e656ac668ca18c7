/*
 * store-conf.h: the spa's shared store in the table file: `store =
 * postgresql://...` and `store_password_file = FILE` in [daemon]
 * (docs/store.md). Pure: the URL is checked here as text; the engine
 * (store.c) hands it to libpq.
 */
#ifndef STORE_CONF_H
#define STORE_CONF_H

#include <stddef.h>

#include "inifile.h"

#define STORE_URL_MAX	1024

struct table;

/*
 * Whether url is a store URL the daemon takes: postgresql:// or
 * postgres://, printable ASCII without spaces, a port of 1..65535 when
 * given, query parameters as key=value, and no password (it belongs in
 * store_password_file). 0, or -1 with what is wrong in err.
 */
int	store_url_check(const char *url, char *err, size_t errlen);
/* url for people: a password in it, if any, replaced with "***". */
void	store_url_redact(const char *url, char *out, size_t outlen);
/* The [daemon] keys store and store_password_file into t. */
void	store_conf_key(struct inifile_file *f, struct table *t, const char *k,
	    const char *v);

#endif
