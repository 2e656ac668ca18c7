/*
 * massagectl.h: what massagectl's files share: the options of a run
 * (struct client), the exit codes, the helpers of client.c (the token,
 * calling the daemon, reading its JSON) and the commands, one file per
 * kind: cmd-session.c the status and driving a session, cmd-lists.c
 * programs, profiles and routines, cmd-sessions.c the records and their
 * CSV export, cmd-watch.c the live stream, cmd-fleet.c --all, cmd-erase.c
 * the erasure of clients.
 * massagectl.c has main, the options and the table of commands.
 */
#ifndef MASSAGECTL_H
#define MASSAGECTL_H

#include <stdio.h>

#include <jansson.h>

#include "http.h"

/* Exit codes a script can rely on (massagectl --help lists them). */
#define EXIT_OK		0
#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define EXIT_TRANSPORT	3
#define EXIT_AUTH	4
#define EXIT_SERVER	5

#define DEFAULT_URL	"http://127.0.0.1:8080"
#define TIMEOUT_MS	10000

struct client {
	struct http_url	 url;
	const char	*url_text;
	char		 token[512];
	int		 have_token;
	const char	*token_from;
	int		 json;
	const char	*profile;
	long		 limit;
	int		 have_limit;
	long		 count;
	int		 color;
	const char	*since;
	const char	*until;
	int		 csv;
	const char	*cacert;	/* --cacert: https with this CA only */
	int		 every;		/* erase --all: every client */
	int		 yes;		/* --yes */
};

/* client.c */
int		 client_usage_error(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
int		 client_token_read(const char *path, char *out, size_t outlen);
int		 client_token_find(struct client *x, const char *opt_file);
int		 client_token_private(const char *path, char *out,
		    size_t outlen, char *why, size_t whylen);
int		 client_exit_for_status(int status);
void		 client_report_error(struct client *x, int status,
		    const char *body);
int		 client_call(struct client *x, const char *method,
		    const char *path, const char *body, json_t **out);
int		 client_pages(struct client *x, const char *base,
		    const char *key, void (*each)(json_t *, void *),
		    void *arg);
const char	*client_str(json_t *o, const char *key);
double		 client_num(json_t *o, const char *key);

/* cmd-session.c */
void		 cmd_status_print(json_t *st, FILE *fp);
int		 cmd_status(struct client *, int, char **);
int		 cmd_start(struct client *, int, char **);
int		 cmd_pause(struct client *, int, char **);
int		 cmd_resume(struct client *, int, char **);
int		 cmd_stop(struct client *, int, char **);
int		 cmd_estop(struct client *, int, char **);
int		 cmd_reset(struct client *, int, char **);
int		 cmd_intensity(struct client *, int, char **);

/* cmd-erase.c */
int		 cmd_erase(struct client *, int, char **);

/* cmd-lists.c */
int		 cmd_programs(struct client *, int, char **);
int		 cmd_profiles(struct client *, int, char **);
int		 cmd_routines(struct client *, int, char **);

/* cmd-sessions.c: the command, and for --all the paging (each page
 * through get, which returns an exit code) and the printing. */
typedef int	 (*sessions_get_fn)(void *arg, const char *path,
		    json_t **doc);
int		 cmd_sessions(struct client *, int, char **);
int		 sessions_fetch(const struct client *x, const char *scope,
		    sessions_get_fn get, void *arg, json_t *all, int *spa);
long		 sessions_wanted(const struct client *x);
void		 sessions_print(const struct client *x, json_t *all, int spa);

/* cmd-watch.c */
int		 cmd_watch(struct client *, int, char **);

/* cmd-fleet.c: the command (status, stop, estop or sessions) on every
 * table of the tables file at path. */
int		 cmd_fleet(struct client *x, const char *path, const char *cmd);

#endif
