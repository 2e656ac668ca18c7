/*
 * massagectl.c: the command-line client of the control API (docs/api.md).
 * Readable tables for people, the daemon's own JSON with --json for
 * scripts, and exit codes a script can rely on:
 *   0 ok, 1 refused by the daemon (4xx), 2 usage error, 3 cannot connect
 *   or transport error, 4 authentication failed (401), 5 server error (5xx).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>

#include "clock.h"
#include "http.h"
#include "parse.h"
#include "preview.h"
#include "strings.h"

#define EXIT_OK		0
#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define EXIT_TRANSPORT	3
#define EXIT_AUTH	4
#define EXIT_SERVER	5

#define DEFAULT_URL	"http://127.0.0.1:8080"
#define TIMEOUT_MS	10000
#define WATCH_REDRAW_MS	200
#define WATCH_EVENTS	6
#define PAGE_MAX	1000		/* records a page, the API's cap */
#define TABLES_MAX	256		/* in a tables file */

struct ctl {
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
};

struct command {
	const char	*name;
	int		 (*fn)(struct ctl *, int, char **);
	int		 min_args;
	int		 max_args;
	const char	*synopsis;
	const char	*help;
};

static int	cmd_status(struct ctl *, int, char **);
static int	cmd_programs(struct ctl *, int, char **);
static int	cmd_profiles(struct ctl *, int, char **);
static int	cmd_routines(struct ctl *, int, char **);
static int	cmd_sessions(struct ctl *, int, char **);
static int	cmd_start(struct ctl *, int, char **);
static int	cmd_pause(struct ctl *, int, char **);
static int	cmd_resume(struct ctl *, int, char **);
static int	cmd_stop(struct ctl *, int, char **);
static int	cmd_estop(struct ctl *, int, char **);
static int	cmd_reset(struct ctl *, int, char **);
static int	cmd_intensity(struct ctl *, int, char **);
static int	cmd_watch(struct ctl *, int, char **);

static const struct command commands[] = {
	{ "status", cmd_status, 0, 0, "status",
	  "Shows the state, the program and step, times, intensity, every\n"
	  "zone's pressure against its limit and every controller's health." },
	{ "programs", cmd_programs, 0, 0, "programs",
	  "Lists the programs that can be started, with their steps." },
	{ "profiles", cmd_profiles, 0, 0, "profiles",
	  "Lists the client profiles with their limits, conditions and the\n"
	  "programs their contraindications refuse (and why)." },
	{ "routines", cmd_routines, 0, 0, "routines",
	  "Lists the loaded routine plugins and their parameters." },
	{ "sessions", cmd_sessions, 0, 0,
	  "sessions [--since DATE] [--until DATE] [--csv] [--limit N]",
	  "Lists the session records, newest first: every session (its end,\n"
	  "or its start when no end was recorded) and every refused start.\n"
	  "With --since, --until or --csv, every record in the range, page by\n"
	  "page; else the most recent 20.\n"
	  "  --since DATE  from DATE (2024-05-01 or 2024-05-01T12:00:00Z, UTC)\n"
	  "  --until DATE  before DATE; a date alone includes that whole day\n"
	  "  --csv         comma-separated values with a header line, for an\n"
	  "                export (RFC 4180)\n"
	  "  --limit N     at most N records (default 20 without a range)" },
	{ "start", cmd_start, 1, 1, "start PROGRAM --profile PROFILE",
	  "Starts PROGRAM for the client PROFILE. Refused (exit 1) when a\n"
	  "session runs, a fault is latched, a controller is not ready, or the\n"
	  "profile's contraindications refuse the program (the reason is\n"
	  "printed).\n"
	  "  --profile P  the client profile (required)" },
	{ "pause", cmd_pause, 0, 0, "pause",
	  "Pauses the session: a controlled hold at low pressure (stop\n"
	  "category 2). resume continues." },
	{ "resume", cmd_resume, 0, 0, "resume",
	  "Resumes a paused session." },
	{ "stop", cmd_stop, 0, 0, "stop",
	  "Ends the session: a controlled ramp down, then vent (stop\n"
	  "category 1)." },
	{ "estop", cmd_estop, 0, 0, "estop",
	  "EMERGENCY STOP: vents every controller now (stop category 0) and\n"
	  "latches a fault; reset clears it once its cause is gone." },
	{ "reset", cmd_reset, 0, 0, "reset",
	  "Clears a latched fault. Refused (exit 1, with the reason) while its\n"
	  "cause is still there, e.g. the e-stop circuit is open." },
	{ "intensity", cmd_intensity, 1, 1, "intensity PERCENT",
	  "Sets the intensity of the running session, 10 to 100 percent. It\n"
	  "scales the routine; every limit still applies." },
	{ "watch", cmd_watch, 0, 0, "watch [--count N]",
	  "Shows the live status from the event stream and redraws it; on a\n"
	  "terminal it keeps the last events below the table. Reconnects when\n"
	  "the daemon restarts. Ctrl-C ends it. With --json, prints one JSON\n"
	  "object a line: {\"event\": TYPE, \"data\": {...}}.\n"
	  "  --count N   exit 0 after N events (default: run until Ctrl-C)" },
	{ "preview", NULL, 0, 0, "preview ...",
	  "Previews a program offline, without a daemon: see\n"
	  "massagectl preview --help." },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* A usage error: one line saying what is wrong, and where help is. */
static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fputs("massagectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (massagectl --help for usage)\n", stderr);
	return (EXIT_USAGE);
}

static void
usage(FILE *fp)
{
	size_t	 i;

	fprintf(fp,
"usage: massagectl [--url URL] [--token-file FILE] [--json] COMMAND [ARGS]\n"
"       massagectl --all [--tables FILE] status|stop|estop\n"
"\n"
"Command-line client of massaged, the massage table daemon.\n"
"\n"
"Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %s\n", commands[i].synopsis);
	fprintf(fp,
"  help [COMMAND]\n"
"\n"
"Options:\n"
"  --url URL          the daemon (default $MASSAGED_URL, else %s)\n"
"  --token-file FILE  file with the bearer token (the first token in it);\n"
"                     else $MASSAGED_TOKEN, else the file\n"
"                     $MASSAGED_TOKEN_FILE, else %s/tokens\n"
"  --json             print the daemon's JSON instead of tables\n"
"  --all              every table of the tables file, one line each:\n"
"                     status, stop or estop (sent to all at once)\n"
"  --tables FILE      the tables file for --all (default %s/tables):\n"
"                     a line per table, NAME URL [TOKEN_FILE]\n"
"  -h, --help         this text; COMMAND --help for one command\n"
"  -V, --version      print the version and exit\n"
"\n"
"Exit codes:\n"
"  0  ok\n"
"  1  refused by the daemon (409 busy, fault latched or not ready; 404\n"
"     unknown program or profile; 422 contraindicated; other 4xx)\n"
"  2  usage error\n"
"  3  cannot connect to the daemon, or a transport error\n"
"  4  authentication failed (401: no or wrong token)\n"
"  5  server error (5xx)\n"
"With --all, the highest exit code of any table.\n",
	    DEFAULT_URL, CONFDIR, CONFDIR);
}

static const struct command *
command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return (&commands[i]);
	return (NULL);
}

static void
command_help(FILE *fp, const struct command *c)
{
	fprintf(fp, "usage: massagectl [options] %s\n\n%s\n\n"
	    "Options for every command: --url URL, --token-file FILE, --json; "
	    "see\nmassagectl --help, also for the exit codes.\n", c->synopsis,
	    c->help);
}

/* --- the token ---------------------------------------------------------- */

/*
 * The first token of a token file, in the daemon's own format: a line is
 * TOKEN, NAME TOKEN or NAME TOKEN ROLE.
 */
static int
token_read(const char *path, char *out, size_t outlen)
{
	FILE	*fp;
	char	 line[1024], *p, *e, *w;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), fp) != NULL) {
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		e = p + strcspn(p, "\r\n");
		*e = '\0';
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		fclose(fp);
		if (p[strcspn(p, " \t")] != '\0') {	/* NAME TOKEN [ROLE] */
			for (w = p + strcspn(p, " \t"); *w == ' ' ||
			    *w == '\t'; w++)
				;
			p = w;
			p[strcspn(p, " \t")] = '\0';
		}
		if (strlen(p) >= outlen) {
			errno = ENAMETOOLONG;
			return (-1);
		}
		snprintf(out, outlen, "%s", p);
		return (0);
	}
	fclose(fp);
	errno = ENOENT;
	return (-1);
}

/* --token-file, MASSAGED_TOKEN, MASSAGED_TOKEN_FILE, CONFDIR/tokens. */
static int
token_find(struct ctl *x, const char *opt_file)
{
	const char	*env;

	if (opt_file != NULL) {
		if (token_read(opt_file, x->token, sizeof(x->token)) == -1) {
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
		if (token_read(env, x->token, sizeof(x->token)) == -1) {
			fprintf(stderr, "massagectl: MASSAGED_TOKEN_FILE %s: "
			    "%s\n", env, errno == ENOENT ? "no token in it, or "
			    "missing" : strerror(errno));
			return (-1);
		}
		x->have_token = 1;
		x->token_from = env;
		return (0);
	}
	if (token_read(CONFDIR "/tokens", x->token, sizeof(x->token)) == 0) {
		x->have_token = 1;
		x->token_from = CONFDIR "/tokens";
	}
	return (0);
}

/* --- calling the daemon ------------------------------------------------- */

static int
exit_for_status(int status)
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
static void
report_error(struct ctl *x, int status, const char *body)
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
static int
call(struct ctl *x, const char *method, const char *path, const char *body,
    json_t **out)
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
	rc = exit_for_status(res.status);
	if (x->json)
		fputs(res.body, stdout);
	if (rc != EXIT_OK) {
		report_error(x, res.status, res.body);
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

/* --- formatting --------------------------------------------------------- */

static const char *
str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "-");
}

static double
num(json_t *o, const char *key)
{
	return (json_number_value(json_object_get(o, key)));
}

static void
print_status(json_t *st, FILE *fp)
{
	json_t		*step, *last, *z, *c, *cs;
	const char	*state = str(st, "state"), *key;
	char		 a[32], b[32], flags[128];
	size_t		 i;
	json_t		*v;

	fprintf(fp, "State       %s", state);
	if (json_is_integer(json_object_get(st, "session_id")))
		fprintf(fp, " (session %lld)", (long long)json_integer_value(
		    json_object_get(st, "session_id")));
	fputc('\n', fp);
	if (json_is_string(json_object_get(st, "program"))) {
		fprintf(fp, "Program     %s (%s)\n", str(st, "program"),
		    str(st, "program_name"));
		fprintf(fp, "Profile     %s (%s)\n", str(st, "profile"),
		    str(st, "profile_name"));
	}
	step = json_object_get(st, "step");
	if (json_is_object(step))
		fprintf(fp, "Step        %lld of %lld: %s, routine %s (%s of "
		    "%s)\n", (long long)json_integer_value(json_object_get(step,
		    "index")) + 1, (long long)json_integer_value(
		    json_object_get(step, "count")), str(step, "name"),
		    str(step, "routine"), str_duration(num(step, "elapsed_s"),
		    a, sizeof(a)), str_duration(num(step, "duration_s"), b,
		    sizeof(b)));
	if (strcmp(state, "idle") != 0 && strcmp(state, "fault") != 0)
		fprintf(fp, "Time        %s elapsed, %s remaining\n",
		    str_duration(num(st, "elapsed_s"), a, sizeof(a)),
		    str_duration(num(st, "remaining_s"), b, sizeof(b)));
	if (json_is_integer(json_object_get(st, "intensity")))
		fprintf(fp, "Intensity   %lld%%\n", (long long)
		    json_integer_value(json_object_get(st, "intensity")));
	if (json_is_string(json_object_get(st, "fault")))
		fprintf(fp, "FAULT       %s\n            Check the client, "
		    "release the e-stop, then: massagectl reset\n",
		    str(st, "fault"));
	last = json_object_get(st, "last_stop");
	if (json_is_object(last))
		fprintf(fp, "Last stop   %s (category %lld): %s\n",
		    str(last, "reason"), (long long)json_integer_value(
		    json_object_get(last, "category")), str(last, "message"));

	fprintf(fp, "\n%-28s %8s %8s %8s  %s\n", "ZONE", "kPa", "SET",
	    "LIMIT", "");
	json_array_foreach(json_object_get(st, "zones"), i, z) {
		double p = num(z, "pressure_kpa"), l = num(z, "limit_kpa");
		int excl = json_is_true(json_object_get(z, "excluded"));

		fprintf(fp, "%-28s %8.1f %8.1f %8.1f  %s%s\n", str(z, "name"),
		    p, num(z, "setpoint_kpa"), l, excl ? "excluded" : "",
		    !excl && l > 0 && p > l ? "OVER LIMIT" : "");
	}
	fprintf(fp, "\n%-16s %-5s %-28s %s\n", "CONTROLLER", "LINK", "STATUS",
	    "ERROR");
	json_array_foreach(json_object_get(st, "controllers"), i, c) {
		flags[0] = '\0';
		cs = json_object_get(c, "status");
		json_object_foreach(cs, key, v) {
			if (!json_is_true(v))
				continue;
			if (strlen(flags) + strlen(key) + 2 < sizeof(flags))
				snprintf(flags + strlen(flags), sizeof(flags) -
				    strlen(flags), "%s%s", flags[0] != '\0' ?
				    " " : "", key);
		}
		if (json_integer_value(json_object_get(c, "fault_code")) != 0)
			snprintf(flags + strlen(flags), sizeof(flags) -
			    strlen(flags), " (fault %s)", str(c, "fault_name"));
		fprintf(fp, "%-16s %-5s %-28s %s\n", str(c, "name"),
		    json_is_true(json_object_get(c, "connected")) ? "up" :
		    "DOWN", flags[0] != '\0' ? flags : "-", str(c, "error"));
	}
}

/* --- commands ----------------------------------------------------------- */

static int
cmd_status(struct ctl *x, int argc, char **argv)
{
	json_t	*st;
	int	 rc;

	if ((rc = call(x, "GET", "/api/v1/status", NULL, &st)) != EXIT_OK)
		return (rc);
	if (!x->json)
		print_status(st, stdout);
	json_decref(st);
	return (EXIT_OK);
}

static int
cmd_programs(struct ctl *x, int argc, char **argv)
{
	json_t		*doc, *p, *s, *z;
	size_t		 i, j, k;
	char		 a[32], zones[512];
	struct str_list	 zl;
	int		 rc;

	if ((rc = call(x, "GET", "/api/v1/programs", NULL, &doc)) != EXIT_OK)
		return (rc);
	if (x->json)
		goto out;
	json_array_foreach(json_object_get(doc, "programs"), i, p) {
		fprintf(stdout, "%s%s  %s (%s)\n", i > 0 ? "\n" : "",
		    str(p, "id"), str(p, "name"), str_duration(num(p,
		    "duration_s"), a, sizeof(a)));
		json_array_foreach(json_object_get(p, "steps"), j, s) {
			str_list_init(&zl, zones, sizeof(zones));
			json_array_foreach(json_object_get(s, "zones"), k, z)
				str_list_add(&zl, 0, "%s",
				    json_string_value(z));
			fprintf(stdout, "  %2zu. %-16s %-14s %7s  %s\n", j + 1,
			    str(s, "name"), str(s, "routine"),
			    str_duration(num(s, "duration_s"), a, sizeof(a)),
			    zones);
		}
	}
out:
	json_decref(doc);
	return (EXIT_OK);
}

static int
cmd_profiles(struct ctl *x, int argc, char **argv)
{
	json_t		*doc, *p, *c, *refusals, *v;
	const char	*key;
	size_t		 i, j;
	int		 rc;

	if ((rc = call(x, "GET", "/api/v1/profiles", NULL, &doc)) != EXIT_OK)
		return (rc);
	if (x->json)
		goto out;
	json_array_foreach(json_object_get(doc, "profiles"), i, p) {
		fprintf(stdout, "%s%s  %s\n", i > 0 ? "\n" : "", str(p, "id"),
		    str(p, "name"));
		fprintf(stdout, "  limits: %.1f kPa, ramp %.1f kPa/s, up to "
		    "%.0f min, intensity %lld%%\n", num(p, "cap_kpa"),
		    num(p, "ramp_kpa_s"), num(p, "max_session_min"),
		    (long long)json_integer_value(json_object_get(p,
		    "intensity")));
		if (json_array_size(json_object_get(p, "conditions")) == 0)
			fprintf(stdout, "  conditions: none\n");
		json_array_foreach(json_object_get(p, "conditions"), j, c)
			fprintf(stdout, "  condition %s: %s\n", str(c, "name"),
			    str(c, "reason"));
		refusals = json_object_get(p, "refusals");
		json_object_foreach(refusals, key, v)
			fprintf(stdout, "  REFUSES %s: %s\n", key,
			    json_string_value(v));
	}
out:
	json_decref(doc);
	return (EXIT_OK);
}

static int
cmd_routines(struct ctl *x, int argc, char **argv)
{
	json_t	*doc, *r, *p, *f;
	size_t	 i, j;
	char	 range[64], def[64];
	int	 rc;

	if ((rc = call(x, "GET", "/api/v1/routines", NULL, &doc)) != EXIT_OK)
		return (rc);
	if (x->json)
		goto out;
	json_array_foreach(json_object_get(doc, "routines"), i, r) {
		fprintf(stdout, "%s%s %s%s\n  %s\n", i > 0 ? "\n" : "",
		    str(r, "name"), str(r, "version"),
		    json_array_size(json_object_get(r, "flags")) > 0 ?
		    " (focused: never on endangerment sites)" : "",
		    str(r, "description"));
		json_array_foreach(json_object_get(r, "params"), j, p) {
			f = json_object_get(p, "default");
			if (json_is_string(f))
				snprintf(def, sizeof(def), "%s",
				    json_string_value(f));
			else if (json_is_boolean(f))
				snprintf(def, sizeof(def), "%s",
				    json_is_true(f) ? "yes" : "no");
			else
				snprintf(def, sizeof(def), "%g",
				    json_number_value(f));
			if (json_is_array(json_object_get(p, "choices")))
				snprintf(range, sizeof(range), "choice");
			else if (strcmp(str(p, "type"), "bool") == 0)
				snprintf(range, sizeof(range), "yes/no");
			else
				snprintf(range, sizeof(range), "%g..%g %s",
				    num(p, "min"), num(p, "max"),
				    str(p, "unit"));
			fprintf(stdout, "  %-18s %-10s %-22s %s\n",
			    str(p, "name"), def, range, str(p, "help"));
		}
	}
out:
	json_decref(doc);
	return (EXIT_OK);
}

/* One CSV field (RFC 4180): quoted when it holds , " or a line break. */
static void
csv_field(FILE *fp, const char *v, int last)
{
	if (v == NULL)
		v = "";
	if (strpbrk(v, ",\"\r\n") != NULL) {
		fputc('"', fp);
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
csv_value(json_t *v, char *buf, size_t len)
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

static const char *const csv_columns[] = {
	"id", "phase", "table", "start", "end", "program", "profile",
	"started_by", "stopped_by", "end_reason", "stop_category",
	"stop_message", "active_s", "step", "step_count", "step_name",
	"intensity_pct", "intensity_changes", "peak_kpa_max", "conditions",
	"error", "reason", NULL
};

static void
csv_record(FILE *fp, json_t *s)
{
	json_t		*step = json_object_get(s, "step"), *v;
	const char	*k, *val;
	char		 buf[64], *list = NULL;
	size_t		 i, listlen = 0;
	double		 peak = -1;
	FILE		*mem;
	int		 c;

	for (c = 0; csv_columns[c] != NULL; c++) {
		k = csv_columns[c];
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
				val = csv_value(v, buf, sizeof(buf));
		} else if (strcmp(k, "intensity_changes") == 0 ||
		    strcmp(k, "conditions") == 0) {
			/* A list in one field: "TIME=PCT;..." or "a;b". */
			if ((mem = open_memstream(&list, &listlen)) == NULL)
				break;
			json_array_foreach(json_object_get(s, k), i, v) {
				if (i > 0)
					fputc(';', mem);
				if (json_is_object(v))
					fprintf(mem, "%s=%lld", str(v, "time"),
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
			val = csv_value(json_object_get(s, k), buf,
			    sizeof(buf));
		csv_field(fp, val, csv_columns[c + 1] == NULL);
		free(list);
		list = NULL;
	}
}

static void
print_session(json_t *s)
{
	char	 a[32];
	int	 ended = strcmp(str(s, "phase"), "end") == 0;

	if (strcmp(str(s, "phase"), "refused") == 0) {
		fprintf(stdout, "%-5s %-24s %-20s %-16s %8s  refused: %s: %s\n",
		    "-", str(s, "start"), str(s, "program"), str(s, "profile"),
		    "-", str(s, "error"), str(s, "reason"));
		return;
	}
	fprintf(stdout, "%-5lld %-24s %-20s %-16s %8s  %s%s%s\n",
	    (long long)json_integer_value(json_object_get(s, "id")),
	    str(s, "start"), str(s, "program"), str(s, "profile"),
	    ended ? str_duration(num(s, "active_s"), a, sizeof(a)) :
	    "-", ended ? str(s, "end_reason") : "(no end recorded)",
	    ended ? ": " : "", ended ? str(s, "stop_message") : "");
}

/*
 * The records page by page (next_cursor) until the range, or --limit, is
 * done; printed as a table, as CSV or (--json) as one document.
 */
static int
cmd_sessions(struct ctl *x, int argc, char **argv)
{
	json_t		*doc, *all, *s;
	const char	*cursor;
	char		 path[512], *cur = NULL, *since = NULL, *until = NULL;
	size_t		 i;
	long		 want, n;
	int		 rc = EXIT_OK, json = x->json, paged;

	paged = x->since != NULL || x->until != NULL || x->csv;
	if ((x->since != NULL && (since = evhttp_encode_uri(x->since)) ==
	    NULL) || (x->until != NULL && (until = evhttp_encode_uri(x->until))
	    == NULL)) {
		fprintf(stderr, "massagectl: out of memory\n");
		free(since);
		return (EXIT_TRANSPORT);
	}
	want = x->have_limit || !paged ? x->limit : -1;
	all = json_array();
	x->json = 0;		/* printed once, below */
	for (;;) {
		n = want < 0 || want - (long)json_array_size(all) > PAGE_MAX ?
		    PAGE_MAX : want - (long)json_array_size(all);
		snprintf(path, sizeof(path), "/api/v1/sessions?limit=%ld%s%s"
		    "%s%s%s%s", n, since != NULL ? "&since=" : "",
		    since != NULL ? since : "", until != NULL ?
		    "&until=" : "", until != NULL ? until : "",
		    cur != NULL ? "&cursor=" : "", cur != NULL ? cur : "");
		if ((rc = call(x, "GET", path, NULL, &doc)) != EXIT_OK)
			break;
		json_array_extend(all, json_object_get(doc, "sessions"));
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
	x->json = json;
	if (rc != EXIT_OK) {
		json_decref(all);
		return (rc);
	}
	if (x->csv) {
		for (i = 0; csv_columns[i] != NULL; i++)
			csv_field(stdout, csv_columns[i],
			    csv_columns[i + 1] == NULL);
		json_array_foreach(all, i, s)
			csv_record(stdout, s);
	} else if (x->json) {
		doc = json_object();
		json_object_set_new(doc, "sessions", all);
		json_dumpf(doc, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(doc);
		return (EXIT_OK);
	} else if (json_array_size(all) == 0)
		fprintf(stdout, "no sessions recorded\n");
	else {
		fprintf(stdout, "%-5s %-24s %-20s %-16s %8s  %s\n", "ID",
		    "START", "PROGRAM", "PROFILE", "ACTIVE", "END");
		json_array_foreach(all, i, s)
			print_session(s);
	}
	json_decref(all);
	return (EXIT_OK);
}

/* A command that answers with the status: print a one-line summary. */
static int
cmd_simple(struct ctl *x, const char *method, const char *path,
    const char *body, const char *done)
{
	json_t	*st;
	int	 rc;

	if ((rc = call(x, method, path, body, &st)) != EXIT_OK)
		return (rc);
	if (!x->json) {
		fprintf(stdout, "%s; the session is now %s", done,
		    str(st, "state"));
		if (json_is_string(json_object_get(st, "fault")))
			fprintf(stdout, "\nFAULT: %s\nCheck the client, release "
			    "the e-stop, then: massagectl reset",
			    str(st, "fault"));
		fputc('\n', stdout);
	}
	json_decref(st);
	return (EXIT_OK);
}

static int
cmd_start(struct ctl *x, int argc, char **argv)
{
	json_t	*body, *st;
	char	*s;
	int	 rc;

	if (x->profile == NULL)
		return (usage_error("start needs --profile PROFILE"));
	body = json_object();
	json_object_set_new(body, "program", json_string(argv[0]));
	json_object_set_new(body, "profile", json_string(x->profile));
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	rc = call(x, "POST", "/api/v1/session", s, &st);
	free(s);
	if (rc != EXIT_OK)
		return (rc);
	if (!x->json)
		fprintf(stdout, "session %lld started: program %s for profile "
		    "%s\n", (long long)json_integer_value(json_object_get(st,
		    "session_id")), argv[0], x->profile);
	json_decref(st);
	return (EXIT_OK);
}

static int
cmd_pause(struct ctl *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/pause", NULL,
	    "paused"));
}

static int
cmd_resume(struct ctl *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/resume", NULL,
	    "resumed"));
}

static int
cmd_stop(struct ctl *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/stop", NULL,
	    "stopping: ramping down, then vent"));
}

static int
cmd_estop(struct ctl *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/estop", NULL,
	    "EMERGENCY STOP: every controller vented"));
}

static int
cmd_reset(struct ctl *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/reset", NULL, "reset"));
}

static int
cmd_intensity(struct ctl *x, int argc, char **argv)
{
	char	 body[64], done[64];
	long	 pct;

	if (parse_int(argv[0], 10, 100, &pct) == -1) {
		fprintf(stderr, "massagectl: intensity: '%s' is not valid "
		    "(expected a whole number from 10 to 100)\n", argv[0]);
		return (EXIT_USAGE);
	}
	snprintf(body, sizeof(body), "{\"percent\":%ld}", pct);
	snprintf(done, sizeof(done), "intensity %ld%%", pct);
	return (cmd_simple(x, "PUT", "/api/v1/session/intensity", body, done));
}

/* --- a fleet of tables (--all) ----------------------------------------- */

struct fleet_table {
	char		 name[64];
	char		 url[512];
	char		 token_file[PATH_MAX];
	int		 lineno;
	const struct ctl *x;		/* the options */
	const char	*cmd;
	pthread_t	 thread;
	int		 rc;
	json_t		*doc;		/* the reply, or NULL */
	char		 err[PATH_MAX + 600];	/* else why not */
};

/* The tables file: "NAME URL [TOKEN_FILE]" a line, # comments. */
static int
fleet_read(const char *path, struct fleet_table *t, int *nt)
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
fleet_run(void *arg)
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
		if (token_read(t->token_file, tok, sizeof(tok)) == -1) {
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
	t->rc = exit_for_status(res.status);
	t->doc = json_loads(res.body, 0, NULL);
	if (t->rc != EXIT_OK)
		snprintf(t->err, sizeof(t->err), "%s (%d %s): %s",
		    res.status >= 500 ? "server error" : res.status == 401 ?
		    "authentication failed" : "refused", res.status,
		    str(t->doc, "error"), str(t->doc, "message"));
	else if (t->doc == NULL) {
		snprintf(t->err, sizeof(t->err), "the reply is not JSON");
		t->rc = EXIT_TRANSPORT;
	}
	http_response_free(&res);
	return (NULL);
}

/* One line of a table's status. */
static void
fleet_line(const struct fleet_table *t, int wname)
{
	json_t		*st = t->doc, *step;
	char		 a[32], b[32];
	const char	*note;

	if (t->rc != EXIT_OK) {
		fprintf(stdout, "%-*s  %-8s  %s\n", wname, t->name, "ERROR",
		    t->err);
		return;
	}
	if (strcmp(t->cmd, "estop") == 0 || strcmp(t->cmd, "stop") == 0) {
		fprintf(stdout, "%-*s  %-8s  %s\n", wname, t->name,
		    str(st, "state"), strcmp(t->cmd, "estop") == 0 ?
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
	note = json_is_string(json_object_get(st, "fault")) ?
	    str(st, "fault") : !json_is_true(json_object_get(json_object_get(st,
	    "records"), "ok")) && json_is_object(json_object_get(st,
	    "records")) ? str(json_object_get(st, "records"), "error") :
	    json_is_true(json_object_get(st, "ready")) ? "ready" : "not ready";
	fprintf(stdout, "%-*s  %-8s  %-20s  %-5s  %8s  %s\n", wname, t->name,
	    str(st, "state"), str(st, "program"), a,
	    json_is_string(json_object_get(st, "program")) ?
	    str_duration(num(st, "remaining_s"), b, sizeof(b)) : "-", note);
}

/*
 * --all: the command on every table of the tables file at once (a thread
 * each, so an e-stop reaches every table without waiting for a dead one),
 * then one line per table in the file's order.
 */
static int
fleet_main(struct ctl *x, const char *path, const char *cmd)
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
	if (fleet_read(path, t, &n) == -1) {
		free(t);
		return (EXIT_USAGE);
	}
	for (i = 0; i < n; i++) {
		t[i].x = x;
		t[i].cmd = cmd;
		if (pthread_create(&t[i].thread, NULL, fleet_run, &t[i]) != 0)
			fleet_run(&t[i]);	/* no thread: do it here */
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
			fleet_line(&t[i], wname);
		if (t[i].rc > rc)
			rc = t[i].rc;
		json_decref(t[i].doc);
	}
	free(t);
	return (rc);
}

/* --- watch -------------------------------------------------------------- */

struct watch {
	struct ctl	*x;
	int		 tty;
	long		 seen;
	char		 events[WATCH_EVENTS][320];
	int		 nevents;
	uint64_t	 last_draw_ns;
	char		*line;		/* the SSE line being read */
	size_t		 linelen, linecap;
	char		 type[64];
	const char	*by;		/* who caused the event being noted */
	char		*data;
	size_t		 datalen, datacap;
};

static volatile sig_atomic_t	watch_quit;

static void
watch_sigint(int sig)
{
	watch_quit = 1;
}

static void
watch_note(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
watch_note(struct watch *w, const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[256], when[16];
	time_t		 now = time(NULL);
	struct tm	 tm;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->by != NULL)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
		    " (by %s)", w->by);
	w->seen++;		/* a line printed, now or at the next redraw */
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (!w->tty) {
		fprintf(stdout, "%s %s\n", when, msg);
		fflush(stdout);
		return;
	}
	if (w->nevents == WATCH_EVENTS) {
		memmove(w->events[0], w->events[1],
		    sizeof(w->events[0]) * (WATCH_EVENTS - 1));
		w->nevents--;
	}
	snprintf(w->events[w->nevents++], sizeof(w->events[0]), "%s %s", when,
	    msg);
}

/* One complete event of the stream. Returns 1 when watch should end. */
static int
watch_event(struct watch *w, const char *type, const char *data)
{
	json_t	*doc;
	int	 i;

	if (w->x->json) {
		fprintf(stdout, "{\"event\":\"%s\",\"data\":%s}\n", type, data);
		fflush(stdout);
		w->seen++;
		return (w->x->count > 0 && w->seen >= w->x->count);
	}
	if ((doc = json_loads(data, 0, NULL)) == NULL)
		return (0);
	w->by = json_string_value(json_object_get(doc, "by"));
	if (strcmp(type, "status") == 0) {
		/* Off a terminal a status is not printed, so not counted. */
		if (w->tty && (clock_mono_ns() - w->last_draw_ns) / 1e6 >=
		    WATCH_REDRAW_MS) {
			w->seen++;
			w->last_draw_ns = clock_mono_ns();
			fputs("\033[H\033[J", stdout);
			fprintf(stdout, "massagectl watch %s (Ctrl-C ends)\n\n",
			    w->x->url_text);
			print_status(doc, stdout);
			if (w->nevents > 0)
				fputs("\nEVENTS\n", stdout);
			for (i = 0; i < w->nevents; i++)
				fprintf(stdout, "%s\n", w->events[i]);
			fflush(stdout);
		}
	} else if (strcmp(type, "stopped") == 0 || strcmp(type, "stopping") ==
	    0)
		watch_note(w, "%s: %s (category %lld): %s", type,
		    str(doc, "reason"), (long long)json_integer_value(
		    json_object_get(doc, "category")), str(doc, "message"));
	else if (strcmp(type, "fault") == 0)
		watch_note(w, "FAULT: %s", str(doc, "message"));
	else if (strcmp(type, "reset_refused") == 0)
		watch_note(w, "reset refused: %s", str(doc, "message"));
	else if (strcmp(type, "started") == 0 || strcmp(type, "step") == 0)
		watch_note(w, "%s: %s for %s, step %lld %s (%s)", type,
		    str(doc, "program"), str(doc, "profile"),
		    (long long)json_integer_value(json_object_get(doc,
		    "step")) + 1, str(doc, "step_name"), str(doc, "routine"));
	else
		watch_note(w, "%s: the session is %s", type, str(doc, "state"));
	w->by = NULL;
	json_decref(doc);
	return (w->x->count > 0 && w->seen >= w->x->count);
}

static void
watch_grow(char **buf, size_t *cap, size_t need)
{
	char	*nb;

	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap != 0 ? *cap * 2 : 4096;
	if ((nb = realloc(*buf, *cap)) == NULL) {
		fprintf(stderr, "massagectl: out of memory\n");
		exit(EXIT_TRANSPORT);
	}
	*buf = nb;
}

/* One line of text/event-stream. Returns 1 when watch should end. */
static int
watch_line(struct watch *w, char *line)
{
	char	*v;
	size_t	 n;
	int	 rc;

	if (line[0] == '\0') {
		rc = 0;
		if (w->datalen > 0) {
			w->data[w->datalen - 1] = '\0';	/* last '\n' */
			rc = watch_event(w, w->type[0] != '\0' ? w->type :
			    "message", w->data);
		}
		w->type[0] = '\0';
		w->datalen = 0;
		return (rc);
	}
	if (line[0] == ':')
		return (0);
	if ((v = strchr(line, ':')) != NULL) {
		*v++ = '\0';
		if (*v == ' ')
			v++;
	} else
		v = line + strlen(line);
	if (strcmp(line, "event") == 0)
		snprintf(w->type, sizeof(w->type), "%s", v);
	else if (strcmp(line, "data") == 0) {
		n = strlen(v);
		watch_grow(&w->data, &w->datacap, w->datalen + n + 2);
		memcpy(w->data + w->datalen, v, n);
		w->datalen += n;
		w->data[w->datalen++] = '\n';
	}
	return (0);
}

/* One connection's worth of stream. Returns an exit code, or -1 to
 * reconnect. */
static int
watch_stream(struct watch *w)
{
	struct http_conn	*hc;
	struct http_response	 res;
	char			 err[512], buf[8192];
	int			 status, n, i;

	hc = http_stream_open(&w->x->url, "/api/v1/events", w->x->have_token ?
	    w->x->token : NULL, 5000, &status, err, sizeof(err));
	if (hc == NULL) {
		watch_note(w, "cannot connect: %s; reconnecting", err);
		if (w->tty) {
			fputs("\033[H\033[J", stdout);
			fprintf(stdout, "massagectl watch %s: reconnecting "
			    "(%s)\n", w->x->url_text, err);
			fflush(stdout);
		}
		return (-1);
	}
	if (status != 200) {
		memset(&res, 0, sizeof(res));
		if (http_conn_read_all(hc, &res, err, sizeof(err)) == -1)
			res.body = NULL;
		if (w->x->json && res.body != NULL)
			fputs(res.body, stdout);
		report_error(w->x, status, res.body);
		http_response_free(&res);
		http_conn_close(hc);
		if (status == 503)
			return (-1);
		return (exit_for_status(status));
	}
	while (!watch_quit) {
		if ((n = http_stream_read(hc, buf, sizeof(buf), err,
		    sizeof(err))) <= 0) {
			if (http_interrupted(hc)) {
				watch_quit = 1;
				break;
			}
			if (n == 0)
				snprintf(err, sizeof(err), "the daemon ended "
				    "the stream");
			watch_note(w, "%s; reconnecting", err);
			break;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] != '\n') {
				watch_grow(&w->line, &w->linecap,
				    w->linelen + 2);
				w->line[w->linelen++] = buf[i];
				continue;
			}
			watch_grow(&w->line, &w->linecap, w->linelen + 1);
			w->line[w->linelen] = '\0';
			w->linelen = 0;
			if (watch_line(w, w->line)) {
				http_conn_close(hc);
				return (EXIT_OK);
			}
		}
	}
	http_conn_close(hc);
	w->linelen = 0;
	w->datalen = 0;
	return (watch_quit ? EXIT_OK : -1);
}

static int
cmd_watch(struct ctl *x, int argc, char **argv)
{
	struct watch		 w;
	struct sigaction	 sa;
	int			 rc;

	memset(&w, 0, sizeof(w));
	w.x = x;
	w.tty = isatty(STDOUT_FILENO) && !x->json;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watch_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while ((rc = watch_stream(&w)) == -1 && !watch_quit)
		sleep(1);
	free(w.line);
	free(w.data);
	return (rc == -1 ? EXIT_OK : rc);
}

/* --- main --------------------------------------------------------------- */

/* Index of the command word in argv (skipping global options), or argc. */
static int
command_index(int argc, char **argv)
{
	int	 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return (i + 1);
		if (argv[i][0] != '-')
			return (i);
		if ((strcmp(argv[i], "--url") == 0 ||
		    strcmp(argv[i], "--token-file") == 0 ||
		    strcmp(argv[i], "--profile") == 0 ||
		    strcmp(argv[i], "--limit") == 0 ||
		    strcmp(argv[i], "--since") == 0 ||
		    strcmp(argv[i], "--until") == 0 ||
		    strcmp(argv[i], "--tables") == 0 ||
		    strcmp(argv[i], "--count") == 0) && i + 1 < argc)
			i++;
	}
	return (argc);
}

int
main(int argc, char *argv[])
{
	enum { OPT_URL = 256, OPT_TOKEN_FILE, OPT_JSON, OPT_PROFILE,
	    OPT_LIMIT, OPT_COUNT, OPT_SINCE, OPT_UNTIL, OPT_CSV, OPT_ALL,
	    OPT_TABLES };
	static const struct option longopts[] = {
		{ "url",	required_argument,	NULL, OPT_URL },
		{ "token-file",	required_argument,	NULL, OPT_TOKEN_FILE },
		{ "json",	no_argument,		NULL, OPT_JSON },
		{ "profile",	required_argument,	NULL, OPT_PROFILE },
		{ "limit",	required_argument,	NULL, OPT_LIMIT },
		{ "count",	required_argument,	NULL, OPT_COUNT },
		{ "since",	required_argument,	NULL, OPT_SINCE },
		{ "until",	required_argument,	NULL, OPT_UNTIL },
		{ "csv",	no_argument,		NULL, OPT_CSV },
		{ "all",	no_argument,		NULL, OPT_ALL },
		{ "tables",	required_argument,	NULL, OPT_TABLES },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	const struct command	*cmd;
	struct ctl		 x;
	const char		*token_file = NULL, *env;
	const char		*tables = NULL;
	char			 err[512];
	int			 ch, ci, help = 0, have_count = 0, all = 0;
	int			 version = 0;

	memset(&x, 0, sizeof(x));
	x.limit = 20;

	/* preview takes its own options: hand it everything after it. */
	ci = command_index(argc, argv);
	if (ci < argc && strcmp(argv[ci], "preview") == 0) {
		fflush(stdout);
		return (preview_main(argc - ci, argv + ci));
	}

	opterr = 0;	/* our own one-line messages */
	while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_URL:
			x.url_text = optarg;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_JSON:
			x.json = 1;
			break;
		case OPT_PROFILE:
			x.profile = optarg;
			break;
		case OPT_LIMIT:
			if (parse_int(optarg, 1, 1000, &x.limit) == -1)
				return (usage_error("--limit '%s' is not valid "
				    "(expected 1 to 1000)", optarg));
			x.have_limit = 1;
			break;
		case OPT_SINCE:
			x.since = optarg;
			break;
		case OPT_UNTIL:
			x.until = optarg;
			break;
		case OPT_CSV:
			x.csv = 1;
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_TABLES:
			tables = optarg;
			all = 1;
			break;
		case OPT_COUNT:
			if (parse_int(optarg, 1, 1000000000, &x.count) == -1)
				return (usage_error("--count '%s' is not valid "
				    "(expected a positive whole number)",
				    optarg));
			have_count = 1;
			break;
		case 'h':
			help = 1;
			break;
		case 'V':
			version = 1;
			break;
		case ':':
			return (usage_error("%s needs a value",
			    argv[optind - 1]));
		default:
			if (optopt != 0)
				return (usage_error("unknown option -%c",
				    optopt));
			return (usage_error("unknown option %s",
			    argv[optind - 1]));
		}
	}
	argc -= optind;
	argv += optind;

	if (version) {
		printf("massagectl %s\n", MASSAGED_VERSION);
		return (EXIT_OK);
	}
	if (argc == 0) {
		if (help) {
			usage(stdout);
			return (EXIT_OK);
		}
		return (usage_error("usage: massagectl [options] COMMAND "
		    "[ARGS]: no command"));
	}
	if (strcmp(argv[0], "help") == 0) {
		if (argc == 1) {
			usage(stdout);
			return (EXIT_OK);
		}
		if (argc > 2 || (cmd = command_find(argv[1])) == NULL)
			return (usage_error("help: no command '%s'",
			    argv[1]));
		if (cmd->fn == NULL) {
			char *pv[] = { (char *)(uintptr_t)"preview",
			    (char *)(uintptr_t)"--help", NULL };

			fflush(stdout);
			return (preview_main(2, pv));
		}
		command_help(stdout, cmd);
		return (EXIT_OK);
	}
	if (all && !help) {
		if (argc != 1 || x.url_text != NULL)
			return (usage_error("--all takes one command (status, "
			    "stop or estop) and no --url"));
		if (token_find(&x, token_file) == -1)
			return (EXIT_USAGE);
		signal(SIGPIPE, SIG_IGN);
		ch = fleet_main(&x, tables != NULL ? tables : CONFDIR "/tables",
		    argv[0]);
		fflush(stdout);
		explicit_bzero(x.token, sizeof(x.token));
		return (ch);
	}
	if ((cmd = command_find(argv[0])) == NULL || cmd->fn == NULL)
		return (usage_error("unknown command '%s'", argv[0]));
	if (help) {
		command_help(stdout, cmd);
		return (EXIT_OK);
	}
	if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args ||
	    (x.profile != NULL && cmd->fn != cmd_start) ||
	    ((x.have_limit || x.since != NULL || x.until != NULL || x.csv) &&
	    cmd->fn != cmd_sessions) ||
	    (have_count && cmd->fn != cmd_watch))
		return (usage_error("usage: massagectl [options] %s",
		    cmd->synopsis));

	if (x.url_text == NULL)
		x.url_text = (env = getenv("MASSAGED_URL")) != NULL &&
		    *env != '\0' ? env : DEFAULT_URL;
	if (http_url_parse(x.url_text, &x.url, err, sizeof(err)) == -1)
		return (usage_error("%s", err));
	if (token_find(&x, token_file) == -1)
		return (EXIT_USAGE);
	signal(SIGPIPE, SIG_IGN);
	ch = cmd->fn(&x, argc - 1, argv + 1);
	fflush(stdout);
	explicit_bzero(x.token, sizeof(x.token));
	return (ch);
}
