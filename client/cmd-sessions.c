/*
 * cmd-sessions.c: massagectl sessions, the session records read page by
 * page (next_cursor) and printed as a table, as one JSON document or as
 * CSV for an export (RFC 4180, formulas neutralised). The paging and the
 * printing serve massagectl --all sessions too (cmd-fleet.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "strings.h"
#include "massagectl.h"

#define PAGE_MAX	1000		/* records a page, the API's cap */

/*
 * One cell. A cell a spreadsheet would read as a formula (one starting
 * with =, +, -, @, a tab or a carriage return: a program id, a message, a
 * name someone typed) is neutralised as OWASP recommends: a single quote
 * before it, and the cell quoted.
 */
static void
cmd_csv_field(FILE *fp, const char *v, int last)
{
	int	 formula;

	if (v == NULL)
		v = "";
	formula = v[0] != '\0' && strchr("=+-@\t\r", v[0]) != NULL;
	if (formula || strpbrk(v, ",\"\r\n") != NULL) {
		fputc('"', fp);
		if (formula)
			fputc('\'', fp);
		for (; *v != '\0'; v++) {
			if (*v == '"')
				fputc('"', fp);
			fputc(*v, fp);
		}
		fputc('"', fp);
	} else
		fputs(v, fp);
	fputs(last ? "\r\n" : ",", fp);
}

/* A record's value as CSV text: strings as they are, numbers, "" for null. */
static const char *
cmd_csv_value(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return (json_string_value(v));
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.10g", json_real_value(v));
	else
		return ("");
	return (buf);
}

static const char *const cmd_csv_columns[] = {
	"id", "phase", "table", "start", "end", "program", "profile",
	"started_by", "stopped_by", "end_reason", "stop_category",
	"stop_message", "active_s", "step", "step_count", "step_name",
	"intensity_pct", "intensity_changes", "peak_kpa_max", "conditions",
	"error", "reason", NULL
};

static void
cmd_csv_record(FILE *fp, json_t *s)
{
	json_t		*step = json_object_get(s, "step"), *v;
	const char	*k, *val;
	char		 buf[64], *list = NULL;
	size_t		 i, listlen = 0;
	double		 peak = -1;
	FILE		*mem;
	int		 c;

	for (c = 0; cmd_csv_columns[c] != NULL; c++) {
		k = cmd_csv_columns[c];
		val = NULL;
		mem = NULL;
		if (strcmp(k, "step") == 0 || strcmp(k, "step_count") == 0 ||
		    strcmp(k, "step_name") == 0) {
			v = json_object_get(step, strcmp(k, "step") == 0 ?
			    "index" : strcmp(k, "step_count") == 0 ? "count" :
			    "name");
			if (strcmp(k, "step") == 0 && json_is_integer(v)) {
				/* Steps as people count them, from 1. */
				snprintf(buf, sizeof(buf), "%lld",
				    (long long)json_integer_value(v) + 1);
				val = buf;
			} else
				val = cmd_csv_value(v, buf, sizeof(buf));
		} else if (strcmp(k, "intensity_changes") == 0 ||
		    strcmp(k, "conditions") == 0) {
			/* A list in one field: "TIME=PCT;..." or "a;b". */
			if ((mem = open_memstream(&list, &listlen)) == NULL)
				break;
			json_array_foreach(json_object_get(s, k), i, v) {
				if (i > 0)
					fputc(';', mem);
				if (json_is_object(v))
					fprintf(mem, "%s=%lld",
					    client_str(v, "time"),
					    (long long)json_integer_value(
					    json_object_get(v, "pct")));
				else
					fputs(json_string_value(v) != NULL ?
					    json_string_value(v) : "", mem);
			}
			fclose(mem);
			val = list;
		} else if (strcmp(k, "peak_kpa_max") == 0) {
			json_object_foreach(json_object_get(s, "peak_kpa"), val,
			    v)
				if (json_number_value(v) > peak)
					peak = json_number_value(v);
			val = "";
			if (peak >= 0) {
				snprintf(buf, sizeof(buf), "%.1f", peak);
				val = buf;
			}
		} else
			val = cmd_csv_value(json_object_get(s, k), buf,
			    sizeof(buf));
		cmd_csv_field(fp, val, cmd_csv_columns[c + 1] == NULL);
		free(list);
		list = NULL;
	}
}

static void
cmd_sessions_line(json_t *s, int spa)
{
	char	 a[32];
	int	 ended = strcmp(client_str(s, "phase"), "end") == 0;

	/* The spa's history (from the store): which table ran it. */
	if (spa)
		fprintf(stdout, "%-16s ", client_str(s, "table"));
	if (strcmp(client_str(s, "phase"), "refused") == 0) {
		fprintf(stdout, "%-5s %-24s %-20s %-16s %8s  refused: %s: %s\n",
		    "-", client_str(s, "start"), client_str(s, "program"),
		    client_str(s, "profile"), "-", client_str(s, "error"),
		    client_str(s, "reason"));
		return;
	}
	fprintf(stdout, "%-5lld %-24s %-20s %-16s %8s  %s%s%s\n",
	    (long long)json_integer_value(json_object_get(s, "id")),
	    client_str(s, "start"), client_str(s, "program"),
	    client_str(s, "profile"),
	    ended ? str_duration(client_num(s, "active_s"), a, sizeof(a)) :
	    "-", ended ? client_str(s, "end_reason") : "(no end recorded)",
	    ended ? ": " : "", ended ? client_str(s, "stop_message") : "");
}

/* How many records: the last N, or -1 for every record of the range. */
long
sessions_wanted(const struct client *x)
{
	int	 paged = x->since != NULL || x->until != NULL || x->csv;

	return (x->have_limit || !paged ? x->limit : -1);
}

/*
 * The records page by page (next_cursor) into all until the range, or
 * --limit, is done, each page through get; scope (or NULL) is the API's
 * (table: this table's own records). *spa says the store answered. An
 * exit code.
 */
int
sessions_fetch(const struct client *x, const char *scope, sessions_get_fn get,
    void *arg, json_t *all, int *spa)
{
	json_t		*doc;
	const char	*cursor;
	char		 path[1024], *cur = NULL, *since = NULL, *until = NULL;
	long		 want = sessions_wanted(x), n;
	int		 rc = EXIT_OK;

	if ((x->since != NULL && (since = evhttp_encode_uri(x->since)) ==
	    NULL) || (x->until != NULL && (until = evhttp_encode_uri(x->until))
	    == NULL)) {
		fprintf(stderr, "massagectl: out of memory\n");
		free(since);
		return (EXIT_TRANSPORT);
	}
	for (;;) {
		n = want < 0 || want - (long)json_array_size(all) > PAGE_MAX ?
		    PAGE_MAX : want - (long)json_array_size(all);
		snprintf(path, sizeof(path), "/api/v1/sessions?limit=%ld%s%s"
		    "%s%s%s%s%s%s", n, since != NULL ? "&since=" : "",
		    since != NULL ? since : "", until != NULL ?
		    "&until=" : "", until != NULL ? until : "",
		    cur != NULL ? "&cursor=" : "", cur != NULL ? cur : "",
		    scope != NULL ? "&scope=" : "", scope != NULL ? scope : "");
		if ((rc = get(arg, path, &doc)) != EXIT_OK)
			break;
		json_array_extend(all, json_object_get(doc, "sessions"));
		*spa = strcmp(client_str(doc, "source"), "store") == 0;
		cursor = json_string_value(json_object_get(doc,
		    "next_cursor"));
		free(cur);
		cur = cursor != NULL ? strdup(cursor) : NULL;
		json_decref(doc);
		if (cur == NULL || (want >= 0 &&
		    (long)json_array_size(all) >= want))
			break;
	}
	free(cur);
	free(since);
	free(until);
	return (rc);
}

/* The records as CSV, as one JSON document (--json) or as a table. */
void
sessions_print(const struct client *x, json_t *all, int spa)
{
	json_t	*doc, *s;
	size_t	 i;

	if (x->csv) {
		for (i = 0; cmd_csv_columns[i] != NULL; i++)
			cmd_csv_field(stdout, cmd_csv_columns[i],
			    cmd_csv_columns[i + 1] == NULL);
		json_array_foreach(all, i, s)
			cmd_csv_record(stdout, s);
	} else if (x->json) {
		doc = json_object();
		json_object_set(doc, "sessions", all);
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
	} else if (json_array_size(all) == 0)
		fprintf(stdout, "no sessions recorded\n");
	else {
		if (spa)
			fprintf(stdout, "%-16s ", "TABLE");
		fprintf(stdout, "%-5s %-24s %-20s %-16s %8s  %s\n", "ID",
		    "START", "PROGRAM", "PROFILE", "ACTIVE", "END");
		json_array_foreach(all, i, s)
			cmd_sessions_line(s, spa);
	}
}

/* A page of this table's, through client_call (its errors on stderr). */
static int
cmd_sessions_get(void *arg, const char *path, json_t **doc)
{
	return (client_call(arg, "GET", path, NULL, doc));
}

/*
 * The records, printed as a table, as CSV or (--json) as one document.
 */
int
cmd_sessions(struct client *x, int argc, char **argv)
{
	json_t	*all;
	int	 rc, json = x->json, spa = 0;

	all = json_array();
	x->json = 0;		/* printed once, below */
	rc = sessions_fetch(x, NULL, cmd_sessions_get, x, all, &spa);
	x->json = json;
	if (rc == EXIT_OK)
		sessions_print(x, all, spa);
	json_decref(all);
	return (rc);
}
