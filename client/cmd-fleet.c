/*
 * cmd-fleet.c: massagectl --all, one command (status, stop or estop) on
 * every table of a tables file at once, a thread each, then one line per
 * table.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	int		 rc;
	json_t		*doc;		/* the reply, or NULL */
	char		 err[PATH_MAX + 600];	/* else why not */
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

/* One table, on its own thread: a dead table never delays the others. */
static void *
cmd_fleet_run(void *arg)
{
	struct fleet_table	*t = arg;
	struct http_url		 u;
	struct http_response	 res;
	const char		*method = "POST", *path;
	const char		*token = t->x->have_token ? t->x->token : NULL;
	char			 tok[512];

	if (strcmp(t->cmd, "status") == 0) {
		method = "GET";
		path = "/api/v1/status";
	} else if (strcmp(t->cmd, "stop") == 0)
		path = "/api/v1/session/stop";
	else
		path = "/api/v1/estop";
	if (http_url_parse(t->url, &u, t->err, sizeof(t->err)) == -1) {
		t->rc = EXIT_USAGE;
		return (NULL);
	}
	if (t->token_file[0] != '\0') {
		if (client_token_read(t->token_file, tok, sizeof(tok)) == -1) {
			snprintf(t->err, sizeof(t->err), "token file %s: %s",
			    t->token_file, errno == ENOENT ? "no token in it, "
			    "or missing" : strerror(errno));
			t->rc = EXIT_USAGE;
			return (NULL);
		}
		token = tok;
	}
	if (http_request(&u, method, path, token, NULL, TIMEOUT_MS, &res,
	    t->err, sizeof(t->err)) == -1) {
		t->rc = EXIT_TRANSPORT;
		explicit_bzero(tok, sizeof(tok));
		return (NULL);
	}
	explicit_bzero(tok, sizeof(tok));
	t->rc = client_exit_for_status(res.status);
	t->doc = json_loads(res.body, 0, NULL);
	if (t->rc != EXIT_OK)
		snprintf(t->err, sizeof(t->err), "%s (%d %s): %s",
		    res.status >= 500 ? "server error" : res.status == 401 ?
		    "authentication failed" : "refused", res.status,
		    client_str(t->doc, "error"), client_str(t->doc, "message"));
	else if (t->doc == NULL) {
		snprintf(t->err, sizeof(t->err), "the reply is not JSON");
		t->rc = EXIT_TRANSPORT;
	}
	http_response_free(&res);
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

/*
 * --all: the command on every table of the tables file at once (a thread
 * each, so an e-stop reaches every table without waiting for a dead one),
 * then one line per table in the file's order.
 */
int
cmd_fleet(struct client *x, const char *path, const char *cmd)
{
	struct fleet_table	*t;
	json_t			*o;
	int			 n, i, rc = EXIT_OK, wname = 5;

	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "stop") != 0 &&
	    strcmp(cmd, "estop") != 0) {
		fprintf(stderr, "massagectl: --all works with status, stop "
		    "and estop, not %s\n", cmd);
		return (EXIT_USAGE);
	}
	if ((t = calloc(TABLES_MAX, sizeof(*t))) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		return (EXIT_TRANSPORT);
	}
	if (cmd_fleet_read(path, t, &n) == -1) {
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
	for (i = 0; i < n; i++) {
		if (t[i].lineno < 0)
			pthread_join(t[i].thread, NULL);
		if ((int)strlen(t[i].name) > wname)
			wname = (int)strlen(t[i].name);
	}
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
		json_decref(t[i].doc);
	}
	free(t);
	return (rc);
}
