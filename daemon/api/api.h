/*
 * api.h: the control API (HTTP/1.1 + JSON, libevent evhttp, jansson), the
 * event stream and the static control panel. See docs/api.md. Its files
 * share daemon/api/api-private.h.
 */
#ifndef API_H
#define API_H

#include <stddef.h>

struct api;
struct tick;
struct event_base;
struct record;

/*
 * Reads the token file, binds the listen address of the table config and
 * starts serving. NULL with the reason in err (the daemon then refuses to
 * start): token file missing, empty or readable by others; address in use.
 */
struct api	*api_start(struct tick *c, struct event_base *base,
		    struct record *rec, char *err, size_t errlen);
void		 api_free(struct api *a);
/* After a reload: reads the token file again; a broken one is logged and
 * the tokens that work stay. */
void		 api_reload_tokens(struct api *a);
/* Client profiles shared through the spa's store (api-spa.c); NULL for
 * none. */
struct store_link;
void		 api_set_store(struct api *a, struct store_link *l);
/* Checks the token file of the table as api_start() will (for -n and
 * before anything else starts); 0, or -1 with the reason in err. */
struct table;
int		 api_check_tokens(const struct table *t, char *err,
		    size_t errlen);

#endif
