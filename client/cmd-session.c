/*
 * cmd-session.c: massagectl's commands on the session: status (its table,
 * which watch redraws too), start, pause, resume, stop, estop, reset and
 * intensity. A command that changes the session prints a one-line summary
 * of the status the daemon answers with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "parse.h"
#include "strings.h"
#include "massagectl.h"


void
cmd_status_print(json_t *st, FILE *fp)
{
	json_t		*step, *last, *z, *c, *cs;
	const char	*state = client_str(st, "state"), *key;
	char		 a[32], b[32], flags[128];
	size_t		 i;
	json_t		*v;

	fprintf(fp, "State       %s", state);
	if (json_is_integer(json_object_get(st, "session_id")))
		fprintf(fp, " (session %lld)", (long long)json_integer_value(
		    json_object_get(st, "session_id")));
	fputc('\n', fp);
	if (json_is_string(json_object_get(st, "program"))) {
		fprintf(fp, "Program     %s (%s)\n", client_str(st, "program"),
		    client_str(st, "program_name"));
		fprintf(fp, "Profile     %s (%s)\n", client_str(st, "profile"),
		    client_str(st, "profile_name"));
	}
	step = json_object_get(st, "step");
	if (json_is_object(step))
		fprintf(fp, "Step        %lld of %lld: %s, routine %s (%s of "
		    "%s)\n", (long long)json_integer_value(json_object_get(step,
		    "index")) + 1, (long long)json_integer_value(
		    json_object_get(step, "count")), client_str(step, "name"),
		    client_str(step, "routine"), str_duration(client_num(step,
		    "elapsed_s"), a, sizeof(a)), str_duration(client_num(step,
		    "duration_s"), b, sizeof(b)));
	if (strcmp(state, "idle") != 0 && strcmp(state, "fault") != 0)
		fprintf(fp, "Time        %s elapsed, %s remaining\n",
		    str_duration(client_num(st, "elapsed_s"), a, sizeof(a)),
		    str_duration(client_num(st, "remaining_s"), b, sizeof(b)));
	if (json_is_integer(json_object_get(st, "intensity")))
		fprintf(fp, "Intensity   %lld%%\n", (long long)
		    json_integer_value(json_object_get(st, "intensity")));
	if (json_is_string(json_object_get(st, "fault")))
		fprintf(fp, "FAULT       %s\n            Check the client, "
		    "release the e-stop, then: massagectl reset\n",
		    client_str(st, "fault"));
	last = json_object_get(st, "last_stop");
	if (json_is_object(last))
		fprintf(fp, "Last stop   %s (category %lld): %s\n",
		    client_str(last, "reason"), (long long)json_integer_value(
		    json_object_get(last, "category")),
		    client_str(last, "message"));

	fprintf(fp, "\n%-28s %8s %8s %8s  %s\n", "ZONE", "kPa", "SET",
	    "LIMIT", "");
	json_array_foreach(json_object_get(st, "zones"), i, z) {
		double p = client_num(z, "pressure_kpa");
		double l = client_num(z, "limit_kpa");
		int excl = json_is_true(json_object_get(z, "excluded"));

		fprintf(fp, "%-28s %8.1f %8.1f %8.1f  %s%s\n",
		    client_str(z, "name"), p, client_num(z, "setpoint_kpa"), l,
		    excl ? "excluded" : "",
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
			    strlen(flags), " (fault %s)",
			    client_str(c, "fault_name"));
		fprintf(fp, "%-16s %-5s %-28s %s\n", client_str(c, "name"),
		    json_is_true(json_object_get(c, "connected")) ? "up" :
		    "DOWN", flags[0] != '\0' ? flags : "-",
		    client_str(c, "error"));
	}
}

int
cmd_status(struct client *x, int argc, char **argv)
{
	json_t	*st;
	int	 rc;

	if ((rc = client_call(x, "GET", "/api/v1/status", NULL, &st)) !=
	    EXIT_OK)
		return (rc);
	if (!x->json)
		cmd_status_print(st, stdout);
	json_decref(st);
	return (EXIT_OK);
}

static int
cmd_simple(struct client *x, const char *method, const char *path,
    const char *body, const char *done)
{
	json_t	*st;
	int	 rc;

	if ((rc = client_call(x, method, path, body, &st)) != EXIT_OK)
		return (rc);
	if (!x->json) {
		fprintf(stdout, "%s; the session is now %s", done,
		    client_str(st, "state"));
		if (json_is_string(json_object_get(st, "fault")))
			fprintf(stdout, "\nFAULT: %s\nCheck the client, release "
			    "the e-stop, then: massagectl reset",
			    client_str(st, "fault"));
		fputc('\n', stdout);
	}
	json_decref(st);
	return (EXIT_OK);
}

int
cmd_start(struct client *x, int argc, char **argv)
{
	json_t	*body, *st;
	char	*s;
	int	 rc;

	if (x->profile == NULL)
		return (client_usage_error("start needs --profile PROFILE"));
	body = json_object();
	json_object_set_new(body, "program", json_string(argv[0]));
	json_object_set_new(body, "profile", json_string(x->profile));
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	rc = client_call(x, "POST", "/api/v1/session", s, &st);
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

int
cmd_pause(struct client *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/pause", NULL,
	    "paused"));
}

int
cmd_resume(struct client *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/resume", NULL,
	    "resumed"));
}

int
cmd_stop(struct client *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/session/stop", NULL,
	    "stopping: ramping down, then vent"));
}

int
cmd_estop(struct client *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/estop", NULL,
	    "EMERGENCY STOP: every controller vented"));
}

int
cmd_reset(struct client *x, int argc, char **argv)
{
	return (cmd_simple(x, "POST", "/api/v1/reset", NULL, "reset"));
}

int
cmd_intensity(struct client *x, int argc, char **argv)
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
