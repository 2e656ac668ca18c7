/*
 * cmd-fleet.c: massagectl --all, one command (status, stop or estop) on
 * every table of a tables file at once, a thread each, then one line per
 * table; or sessions: every table's own records, merged newest first,
 * with the table's name of the tables file in their table column.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http.h"
#include "strings.h"
#include "massagectl.h"

#define TABLES_MAX	256		/* in a tables file */

struct fleet_table {
	char		 name[64];
	char		 url[512];
	char		 token_file[PATH_MAX];
	int		 lineno;
	const struct client *x;		/* the options */
	const char	*cmd;
	pthread_t	 thread;
	struct http_url	 u;
	const char	*token;		/* its own, x's, or NULL */
	char		 own_token[512];
	int		 rc;
	json_t		*doc;		/* the reply, sessions: the records */
	int		 spa;		/* sessions: the store answered */
	char		 err[PATH_MAX + 600];	/* else why not */
};

/* A record of --all sessions, for the merge: newest start first. */
struct fleet_rec {
	json_t		*s;
	const char	*start;
	int		 table;		/* its line in the tables file */
	size_t		 pos;		/* in that table's list */
};

/* The tables file: "NAME URL [TOKEN_FILE]" a line, # comments. */
static int
cmd_fleet_read(const char *path, struct fleet_table *t, int *nt)
{
	FILE	*fp;
	char	 line[2048], *w[4], *p, *save;
	int	 n = 0, lineno = 0, nw;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "massagectl: tables file %s: %s\n", path,
		    strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		nw = 0;
		for (p = strtok_r(line, " \t", &save); p != NULL && nw < 4;
		    p = strtok_r(NULL, " \t", &save))
			w[nw++] = p;
		if (nw == 0)
			continue;
		if (nw < 2 || nw > 3 || n == TABLES_MAX ||
		    strlen(w[0]) >= sizeof(t[n].name) ||
		    strlen(w[1]) >= sizeof(t[n].url) ||
		    (nw == 3 && strlen(w[2]) >= sizeof(t[n].token_file))) {
			fprintf(stderr, "massagectl: %s:%d: %s\n", path, lineno,
			    n == TABLES_MAX ? "too many tables" : "expected "
			    "NAME URL [TOKEN_FILE]");
			fclose(fp);
			return (-1);
		}
		memset(&t[n], 0, sizeof(t[n]));
		snprintf(t[n].name, sizeof(t[n].name), "%s", w[0]);
		snprintf(t[n].url, sizeof(t[n].url), "%s", w[1]);
		if (nw == 3)
			snprintf(t[n].token_file, sizeof(t[n].token_file),
			    "%s", w[2]);
		t[n].lineno = lineno;
		n++;
	}
	fclose(fp);
	if (n == 0) {
		fprintf(stderr, "massagectl: tables file %s names no table\n",
		    path);
		return (-1);
	}
	*nt = n;
	return (0);
}

/*
 * One request to a table: an exit code, *doc the reply's JSON (also of
 * an error, for --json), t->err why not.
 */
static int
cmd_fleet_call(struct fleet_table *t, const char *method, const char *path,
    json_t **doc)
{
	struct http_response	 res;
	int			 rc;

	*doc = NULL;
	if (http_request(&t->u, method, path, t->token, NULL, TIMEOUT_MS, &res,
	    t->err, sizeof(t->err)) == -1)
		return (EXIT_TRANSPORT);
	rc = client_exit_for_status(res.status);
	*doc = json_loads(res.body, 0, NULL);
	if (rc != EXIT_OK)
		snprintf(t->err, sizeof(t->err), "%s (%d %s): %s",
		    res.status >= 500 ? "server error" : res.status == 401 ?
		    "authentication failed" : "refused", res.status,
		    client_str(*doc, "error"), client_str(*doc, "message"));
	else if (*doc == NULL) {
		snprintf(t->err, sizeof(t->err), "the reply is not JSON");
		rc = EXIT_TRANSPORT;
	}
	http_response_free(&res);
	return (rc);
}

/* A page of a table's records (sessions_fetch()). */
static int
cmd_fleet_get(void *arg, const char *path, json_t **doc)
{
	int	 rc;

	if ((rc = cmd_fleet_call(arg, "GET", path, doc)) != EXIT_OK) {
		json_decref(*doc);
		*doc = NULL;
	}
	return (rc);
}

/*
 * A table's own records (scope=table: tables sharing a store are not
 * listed twice, refused starts are there, and a store that is down
 * changes nothing), each named as in the tables file.
 */
static void
cmd_fleet_sessions(struct fleet_table *t)
{
	json_t	*s;
	size_t	 i;

	t->doc = json_array();
	t->rc = sessions_fetch(t->x, "table", cmd_fleet_get, t, t->doc,
	    &t->spa);
	json_array_foreach(t->doc, i, s)
		if (json_is_object(s))
			json_object_set_new(s, "table", json_string(t->name));
}

/* One table, on its own thread: a dead table never delays the others. */
static void *
cmd_fleet_run(void *arg)
{
	struct fleet_table	*t = arg;
	const char		*method = "POST", *path;

	if (http_url_parse(t->url, &t->u, t->err, sizeof(t->err)) == -1) {
		t->rc = EXIT_USAGE;
		return (NULL);
	}
	t->token = t->x->have_token ? t->x->token : NULL;
	if (t->token_file[0] != '\0') {
		if (client_token_private(t->token_file, t->own_token,
		    sizeof(t->own_token), t->err, sizeof(t->err)) == -1) {
			t->rc = EXIT_USAGE;
			return (NULL);
		}
		t->token = t->own_token;
	}
	if (strcmp(t->cmd, "sessions") == 0)
		cmd_fleet_sessions(t);
	else {
		if (strcmp(t->cmd, "status") == 0) {
			method = "GET";
			path = "/api/v1/status";
		} else if (strcmp(t->cmd, "stop") == 0)
			path = "/api/v1/session/stop";
		else
			path = "/api/v1/estop";
		t->rc = cmd_fleet_call(t, method, path, &t->doc);
	}
	explicit_bzero(t->own_token, sizeof(t->own_token));
	return (NULL);
}

/* One line of a table's status. */
static void
cmd_fleet_line(const struct fleet_table *t, int wname)
{
	json_t		*st = t->doc, *step, *records;
	char		 a[32], b[32];
	const char	*note;

	if (t->rc != EXIT_OK) {
		fprintf(stdout, "%-*s  %-8s  %s\n", wname, t->name, "ERROR",
		    t->err);
		return;
	}
	if (strcmp(t->cmd, "estop") == 0 || strcmp(t->cmd, "stop") == 0) {
		fprintf(stdout, "%-*s  %-8s  %s\n", wname, t->name,
		    client_str(st, "state"), strcmp(t->cmd, "estop") == 0 ?
		    "EMERGENCY STOP: every controller vented" :
		    "stopping: ramping down, then vent");
		return;
	}
	step = json_object_get(st, "step");
	snprintf(a, sizeof(a), "-");
	if (json_is_object(step))
		snprintf(a, sizeof(a), "%lld/%lld",
		    (long long)json_integer_value(json_object_get(step,
		    "index")) + 1, (long long)json_integer_value(
		    json_object_get(step, "count")));
	records = json_object_get(st, "records");
	if (json_is_string(json_object_get(st, "fault")))
		note = client_str(st, "fault");
	else if (json_is_object(records) &&
	    !json_is_true(json_object_get(records, "ok")))
		note = client_str(records, "error");
	else
		note = json_is_true(json_object_get(st, "ready")) ? "ready" :
		    "not ready";
	fprintf(stdout, "%-*s  %-8s  %-20s  %-5s  %8s  %s\n", wname, t->name,
	    client_str(st, "state"), client_str(st, "program"), a,
	    json_is_string(json_object_get(st, "program")) ?
	    str_duration(client_num(st, "remaining_s"), b, sizeof(b)) : "-",
	    note);
}

static int
cmd_fleet_rec_cmp(const void *a, const void *b)
{
	const struct fleet_rec	*ra = a, *rb = b;
	int			 c;

	if ((c = strcmp(rb->start, ra->start)) != 0)
		return (c);
	if (ra->table != rb->table)
		return (ra->table < rb->table ? -1 : 1);
	return (ra->pos < rb->pos ? -1 : ra->pos > rb->pos);
}

/*
 * --all sessions: every table's records in one list, newest start first
 * (then in the tables file's order), the last N of them without a range;
 * a table that failed says why on stderr and the others are printed.
 */
static int
cmd_fleet_sessions_print(const struct client *x, struct fleet_table *t,
    int n)
{
	struct fleet_rec	*r;
	json_t			*all, *s, *doc, *tabs, *o;
	size_t			 nr = 0, i, k = 0;
	long			 want = sessions_wanted(x);
	int			 j, rc = EXIT_OK;

	for (j = 0; j < n; j++) {
		if (t[j].rc != EXIT_OK)
			fprintf(stderr, "massagectl: %s: %s\n", t[j].name,
			    t[j].err);
		else
			nr += json_array_size(t[j].doc);
		if (t[j].rc > rc)
			rc = t[j].rc;
	}
	if ((r = calloc(nr + 1, sizeof(*r))) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		return (EXIT_TRANSPORT);
	}
	for (j = 0; j < n; j++)
		if (t[j].rc == EXIT_OK)
			json_array_foreach(t[j].doc, i, s) {
				r[k].s = s;
				r[k].start = client_str(s, "start");
				r[k].table = j;
				r[k++].pos = i;
			}
	qsort(r, nr, sizeof(*r), cmd_fleet_rec_cmp);
	all = json_array();
	for (i = 0; i < nr && (want < 0 || (long)i < want); i++)
		json_array_append(all, r[i].s);
	free(r);
	if (!x->json)
		sessions_print(x, all, 1);
	else {
		tabs = json_array();
		for (j = 0; j < n; j++) {
			o = json_object();
			json_object_set_new(o, "table", json_string(t[j].name));
			json_object_set_new(o, "url", json_string(t[j].url));
			json_object_set_new(o, "exit", json_integer(t[j].rc));
			json_object_set_new(o, "error", t[j].rc != EXIT_OK ?
			    json_string(t[j].err) : json_null());
			json_array_append_new(tabs, o);
		}
		doc = json_object();
		json_object_set(doc, "sessions", all);
		json_object_set_new(doc, "tables", tabs);
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
	}
	json_decref(all);
	return (rc);
}

/* status, stop, estop: a line (or a JSON object) per table. */
static int
cmd_fleet_lines(const struct client *x, struct fleet_table *t, int n,
    const char *cmd)
{
	json_t	*o;
	int	 i, rc = EXIT_OK, wname = 5;

	for (i = 0; i < n; i++)
		if ((int)strlen(t[i].name) > wname)
			wname = (int)strlen(t[i].name);
	if (!x->json && strcmp(cmd, "status") == 0)
		fprintf(stdout, "%-*s  %-8s  %-20s  %-5s  %8s  %s\n", wname,
		    "TABLE", "STATE", "PROGRAM", "STEP", "LEFT", "NOTE");
	for (i = 0; i < n; i++) {
		if (x->json) {
			o = json_object();
			json_object_set_new(o, "table", json_string(t[i].name));
			json_object_set_new(o, "url", json_string(t[i].url));
			json_object_set_new(o, "exit", json_integer(t[i].rc));
			json_object_set_new(o, "reply", t[i].doc != NULL ?
			    json_incref(t[i].doc) : json_null());
			json_object_set_new(o, "error", t[i].rc != EXIT_OK ?
			    json_string(t[i].err) : json_null());
			json_dumpf(o, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(o);
		} else
			cmd_fleet_line(&t[i], wname);
		if (t[i].rc > rc)
			rc = t[i].rc;
	}
	return (rc);
}

/*
 * TLS for the tables of https:// URLs, set up once before the threads:
 * the system's CAs, or --cacert's.
 */
static int
cmd_fleet_tls(const struct client *x, const struct fleet_table *t, int n)
{
	char	 err[PATH_MAX + 256];
	int	 i;

	for (i = 0; i < n && x->cacert == NULL; i++)
		if (strncasecmp(t[i].url, "https://", 8) == 0)
			break;
	if (i == n)
		return (0);
	if (http_tls_init(x->cacert, err, sizeof(err)) == -1) {
		fprintf(stderr, "massagectl: %s\n", err);
		return (-1);
	}
	return (0);
}

/*
 * --all: the command on every table of the tables file at once (a thread
 * each, so an e-stop reaches every table without waiting for a dead one),
 * then one line per table in the file's order, or (sessions) one list.
 */
int
cmd_fleet(struct client *x, const char *path, const char *cmd)
{
	struct fleet_table	*t;
	int			 n, i, rc;

	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "stop") != 0 &&
	    strcmp(cmd, "estop") != 0 && strcmp(cmd, "sessions") != 0) {
		fprintf(stderr, "massagectl: --all works with status, stop, "
		    "estop and sessions, not %s\n", cmd);
		return (EXIT_USAGE);
	}
	if ((t = calloc(TABLES_MAX, sizeof(*t))) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		return (EXIT_TRANSPORT);
	}
	if (cmd_fleet_read(path, t, &n) == -1 || cmd_fleet_tls(x, t, n) == -1) {
		free(t);
		return (EXIT_USAGE);
	}
	for (i = 0; i < n; i++) {
		t[i].x = x;
		t[i].cmd = cmd;
		if (pthread_create(&t[i].thread, NULL, cmd_fleet_run, &t[i]) !=
		    0)
			cmd_fleet_run(&t[i]);	/* no thread: do it here */
		else
			t[i].lineno = -t[i].lineno;	/* to join */
	}
	for (i = 0; i < n; i++)
		if (t[i].lineno < 0)
			pthread_join(t[i].thread, NULL);
	if (strcmp(cmd, "sessions") == 0)
		rc = cmd_fleet_sessions_print(x, t, n);
	else
		rc = cmd_fleet_lines(x, t, n, cmd);
	for (i = 0; i < n; i++)
		json_decref(t[i].doc);
	free(t);
	return (rc);
}
