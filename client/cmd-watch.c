/*
 * cmd-watch.c: massagectl watch, the live status from the event stream
 * (text/event-stream): redrawn on a terminal with the last events below
 * it, one line an event otherwise, one JSON object a line with --json.
 * Reconnects when the daemon restarts; Ctrl-C ends it, and so does
 * --count N after N events of the stream, printed or not.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "http.h"
#include "massagectl.h"

#define WATCH_REDRAW_MS	200
#define WATCH_EVENTS	6

struct watch {
	struct client	*x;
	int		 tty;
	long		 seen;		/* events of the stream */
	int		 shown;		/* off a terminal: the first status
					   of this connection is printed */
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

static volatile sig_atomic_t	cmd_watch_quit;

static void
cmd_watch_sigint(int sig)
{
	cmd_watch_quit = 1;
}

static void
cmd_watch_note(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cmd_watch_note(struct watch *w, const char *fmt, ...)
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

/*
 * One complete event of the stream. Returns 1 when watch should end: after
 * --count events, whether they were printed (a terminal redraws the status
 * at most every WATCH_REDRAW_MS; elsewhere only the first status of a
 * connection is a line) or not, so a pipe ends as a terminal does.
 */
static int
cmd_watch_event(struct watch *w, const char *type, const char *data)
{
	json_t	*doc;
	int	 i;

	w->seen++;
	if (w->x->json) {
		fprintf(stdout, "{\"event\":\"%s\",\"data\":%s}\n", type, data);
		fflush(stdout);
		return (w->x->count > 0 && w->seen >= w->x->count);
	}
	if ((doc = json_loads(data, 0, NULL)) == NULL)
		return (w->x->count > 0 && w->seen >= w->x->count);
	w->by = json_string_value(json_object_get(doc, "by"));
	if (strcmp(type, "status") == 0 && !w->tty) {
		if (!w->shown)
			cmd_watch_note(w, "status: the session is %s",
			    client_str(doc, "state"));
		w->shown = 1;
	} else if (strcmp(type, "status") == 0) {
		if ((clock_mono_ns() - w->last_draw_ns) / 1e6 >=
		    WATCH_REDRAW_MS) {
			w->last_draw_ns = clock_mono_ns();
			fputs("\033[H\033[J", stdout);
			fprintf(stdout, "massagectl watch %s (Ctrl-C ends)\n\n",
			    w->x->url_text);
			cmd_status_print(doc, stdout);
			if (w->nevents > 0)
				fputs("\nEVENTS\n", stdout);
			for (i = 0; i < w->nevents; i++)
				fprintf(stdout, "%s\n", w->events[i]);
			fflush(stdout);
		}
	} else if (strcmp(type, "stopped") == 0 || strcmp(type, "stopping") ==
	    0)
		cmd_watch_note(w, "%s: %s (category %lld): %s", type,
		    client_str(doc, "reason"), (long long)json_integer_value(
		    json_object_get(doc, "category")),
		    client_str(doc, "message"));
	else if (strcmp(type, "fault") == 0)
		cmd_watch_note(w, "FAULT: %s", client_str(doc, "message"));
	else if (strcmp(type, "reset_refused") == 0)
		cmd_watch_note(w, "reset refused: %s",
		    client_str(doc, "message"));
	else if (strcmp(type, "started") == 0 || strcmp(type, "step") == 0)
		cmd_watch_note(w, "%s: %s for %s, step %lld %s (%s)", type,
		    client_str(doc, "program"), client_str(doc, "profile"),
		    (long long)json_integer_value(json_object_get(doc,
		    "step")) + 1, client_str(doc, "step_name"),
		    client_str(doc, "routine"));
	else
		cmd_watch_note(w, "%s: the session is %s", type,
		    client_str(doc, "state"));
	w->by = NULL;
	json_decref(doc);
	return (w->x->count > 0 && w->seen >= w->x->count);
}

static void
cmd_watch_grow(char **buf, size_t *cap, size_t need)
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
cmd_watch_line(struct watch *w, char *line)
{
	char	*v;
	size_t	 n;
	int	 rc;

	if (line[0] == '\0') {
		rc = 0;
		if (w->datalen > 0) {
			w->data[w->datalen - 1] = '\0';	/* last '\n' */
			rc = cmd_watch_event(w, w->type[0] != '\0' ? w->type :
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
		cmd_watch_grow(&w->data, &w->datacap, w->datalen + n + 2);
		memcpy(w->data + w->datalen, v, n);
		w->datalen += n;
		w->data[w->datalen++] = '\n';
	}
	return (0);
}

/* One connection's worth of stream. Returns an exit code, or -1 to
 * reconnect. */
static int
cmd_watch_stream(struct watch *w)
{
	struct http_conn	*hc;
	struct http_response	 res;
	char			 err[512], buf[8192];
	int			 status, n, i;

	hc = http_stream_open(&w->x->url, "/api/v1/events", w->x->have_token ?
	    w->x->token : NULL, 5000, &status, err, sizeof(err));
	if (hc == NULL) {
		cmd_watch_note(w, "cannot connect: %s; reconnecting", err);
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
		client_report_error(w->x, status, res.body);
		http_response_free(&res);
		http_conn_close(hc);
		if (status == 503)
			return (-1);
		return (client_exit_for_status(status));
	}
	while (!cmd_watch_quit) {
		if ((n = http_stream_read(hc, buf, sizeof(buf), err,
		    sizeof(err))) <= 0) {
			if (http_interrupted(hc)) {
				cmd_watch_quit = 1;
				break;
			}
			if (n == 0)
				snprintf(err, sizeof(err), "the daemon ended "
				    "the stream");
			cmd_watch_note(w, "%s; reconnecting", err);
			break;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] != '\n') {
				cmd_watch_grow(&w->line, &w->linecap,
				    w->linelen + 2);
				w->line[w->linelen++] = buf[i];
				continue;
			}
			cmd_watch_grow(&w->line, &w->linecap, w->linelen + 1);
			w->line[w->linelen] = '\0';
			w->linelen = 0;
			if (cmd_watch_line(w, w->line)) {
				http_conn_close(hc);
				return (EXIT_OK);
			}
		}
	}
	http_conn_close(hc);
	w->linelen = 0;
	w->datalen = 0;
	w->shown = 0;
	return (cmd_watch_quit ? EXIT_OK : -1);
}

int
cmd_watch(struct client *x, int argc, char **argv)
{
	struct watch		 w;
	struct sigaction	 sa;
	int			 rc;

	memset(&w, 0, sizeof(w));
	w.x = x;
	w.tty = isatty(STDOUT_FILENO) && !x->json;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cmd_watch_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while ((rc = cmd_watch_stream(&w)) == -1 && !cmd_watch_quit)
		sleep(1);
	free(w.line);
	free(w.data);
	return (rc == -1 ? EXIT_OK : rc);
}
