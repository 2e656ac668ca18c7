/*
 * api-private.h: what the files of the control API share (api.c the
 * routes, api-reply.c replies and request bodies, api-auth.c the bearer
 * tokens, api-stream.c the event stream, api-panel.c the panel files,
 * api-conn.c the connections: caps and deadlines, api-profiles.c client
 * intake and profiles, api-view.c what each role sees). Nothing outside
 * daemon/api/ includes it.
 */
#ifndef API_PRIVATE_H
#define API_PRIVATE_H

#include <sys/queue.h>

#include <limits.h>
#include <stdint.h>
#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#include "log.h"
#include "profile-writer.h"
#include "session.h"

#define API_TOKENS_MAX		64
#define API_TOKEN_MAX		256	/* bytes compared, whatever the length */
#define API_ACTOR_ADMIN		"admin"	/* the name of a bare token line */

/* What a token may do: a viewer watches and presses STOP, nothing else. */
enum api_role {
	API_ROLE_ADMIN,
	API_ROLE_OPERATOR,
	API_ROLE_VIEWER
};

struct api_conn;
struct api_pending;
struct api_stream;
struct evbuffer;
struct evconnlistener;
struct tick;
struct event;
struct event_base;
struct record;
struct profile_writer;
struct api_plist;
struct profile;
struct table;

struct store_link;

struct api {
	struct tick		*c;
	struct event_base	*base;
	struct record		*rec;
	struct evhttp		*http;
	char			 url[128];
	char			 token_path[PATH_MAX];
	int			 ntokens;
	char			 tokens[API_TOKENS_MAX][API_TOKEN_MAX + 1];
	size_t			 token_len[API_TOKENS_MAX];
	char			 token_name[API_TOKENS_MAX][SESSION_ACTOR_LEN];
	enum api_role		 token_role[API_TOKENS_MAX];
	const char		*actor;	/* of the request being handled */
	enum api_role		 role;	/* of the request being handled */
	struct profile_writer	*pwriter;	/* api-profiles.c */
	struct store_link	*store;		/* api-spa.c; NULL: none */
	char			 spa_erase_after[NAME_LEN];	/* in use */
	struct api_plist	*plist;		/* api-plist.c */
	char			 panel_dir[PATH_MAX];	/* realpath, or "" */
	struct event		*stream_ev;
	int			 nstreams;
	TAILQ_HEAD(, api_stream) streams;
	LIST_HEAD(, api_pending) pending;
	LIST_HEAD(, api_pending) resets;	/* waiting for the controllers */
	/* api-conn.c */
	TAILQ_HEAD(api_conns, api_conn) conns;
	int			 nconns;
	int			 conns_max, conns_peer_max;
	struct event		*conn_ev, *resume_ev;
	struct evconnlistener	*listener;
	int			 accepting, accept_paused, accept_batch;
	int64_t			 accept_error_ms;
	uint64_t		 accept_errors, accept_errors_unlogged;
	uint64_t		 conns_timed_out, conns_evicted, conns_refused;
};

/* Body expectations of a route. */
enum api_body {
	BODY_NONE,		/* empty, or {} */
	BODY_JSON,		/* a JSON object, checked by the handler */
	BODY_IGNORED		/* anything: the e-stop never refuses */
};

/* api-reply.c */
const char	*api_method_name(int);
void		 api_peer(struct evhttp_request *, char *, size_t);
void		 api_headers(struct evhttp_request *, const char *);
void		 api_reply_json(struct evhttp_request *, int, json_t *);
void		 api_reply_status(struct api *, struct evhttp_request *, int,
		    enum api_role);
int		 api_utf8(const char *);
void		 api_error(struct evhttp_request *, int, const char *,
		    const char *, ...) LOG_PRINTF(4, 5);
void		 api_not_found(struct evhttp_request *);
const char	*api_session_error(struct evhttp_request *, int,
		    const char *);
int		 api_body(struct evhttp_request *, enum api_body, json_t **);
const char	*api_unknown_field(json_t *, const char *const *);
const char	*api_id_field(struct evhttp_request *, json_t *,
		    const char *, const char *);

/* api-auth.c */
int		 api_tokens_start(struct api *, const struct table *, char *,
		    size_t);
void		 api_tokens_clear(struct api *);
int		 api_authorized(struct api *, struct evhttp_request *);
const char	*api_role_name(enum api_role);

/* api-view.c: what a role sees (a viewer: no client name, condition or
 * note); each takes the document and gives it back, changed in place. */
json_t		*api_view_status(json_t *, enum api_role);
json_t		*api_view_sessions(json_t *, enum api_role);

/* api-conn.c */
int		 api_conn_start(struct api *);
void		 api_conn_listening(struct api *, struct evhttp_bound_socket *);
void		 api_conn_stop(struct api *);
void		 api_conn_request(struct api *, struct evhttp_request *);
void		 api_conn_set_closecb(struct api *, struct evhttp_connection *,
		    void (*)(struct evhttp_connection *, void *), void *);
void		 api_conn_metrics(struct api *, struct evbuffer *);

/* api-stream.c */
int		 api_stream_start(struct api *);
void		 api_stream_stop(struct api *);
void		 api_stream_event(void *, enum session_event);
void		 api_stream_retoken(struct api *);
void		 api_events(struct api *, struct evhttp_request *, json_t *);

/* api-profiles.c */
int		 api_profiles_start(struct api *);
void		 api_profiles_stop(struct api *);
void		 api_profiles(struct api *, struct evhttp_request *, json_t *);
void		 api_profile_create(struct api *, struct evhttp_request *,
		    json_t *);
void		 api_profile_get(struct api *, struct evhttp_request *,
		    json_t *);
void		 api_profile_update(struct api *, struct evhttp_request *,
		    json_t *);
void		 api_profile_delete(struct api *, struct evhttp_request *,
		    json_t *);
void		 api_intake(struct api *, struct evhttp_request *, json_t *);
void		 api_intake_preview(struct api *, struct evhttp_request *,
		    json_t *);

/* api-plist.c: the profile list, its reader thread and the cap */
/* A profile request on its way through the writer (and the store). */
struct api_preq {
	struct api		*a;
	struct evhttp_request	*req;	/* NULL: from the spa's store */
	int			 code;		/* 201 or 200 */
	struct profile_form	 form;
	struct profile		 old;		/* a delete's, to restore */
	char			 actor[SESSION_ACTOR_LEN];
	char			 id[NAME_LEN];
	int			 spa;		/* checked, for the store next */
	int			 stored;	/* in the store: save here */
	long long		 seq;		/* an erasure of the spa's */
};

/* api-profiles.c */
struct api_preq	*api_preq_new(struct api *, struct evhttp_request *, int);
struct profile_writer_job *api_form_job(struct api *,
		    const struct profile_form *, const char *,
		    enum profile_writer_op);
void		 api_store(struct api *, struct api_preq *,
		    enum profile_writer_op, const char *);
void		 api_saved(struct profile_writer_job *, void *);
void		 api_deleted(struct profile_writer_job *, void *);
void		 api_erase_local(struct api_preq *);
void		 api_conflict(struct evhttp_request *, const char *, int,
		    const char *);

/* api-spa.c: the spa's store, for profiles */
int		 api_spa_offline(struct api *, struct evhttp_request *);
void		 api_spa_put(struct api_preq *);
void		 api_spa_erase(struct api_preq *);

void		 api_plist_start(struct api *);
void		 api_plist_stop(struct api *);
const struct profile *api_plist_put(struct api *, const struct profile *);
void		 api_plist_drop(struct api *, const char *);
int		 api_plist_full(struct api *, struct evhttp_request *);
void		 api_plist_creating(struct api *, int);

/* api-panel.c */
void		 api_panel_start(struct api *, const struct table *);
void		 api_panel(struct api *, struct evhttp_request *);

#endif
