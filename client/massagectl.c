/*
 * massagectl.c: the command-line client of the control API (docs/api.md):
 * main, its options and the table of commands; the commands are in
 * cmd-*.c, what they share in client.c (see massagectl.h). Readable
 * tables for people, the daemon's own JSON with --json for scripts, and
 * exit codes a script can rely on:
 *   0 ok, 1 refused by the daemon (4xx), 2 usage error, 3 cannot connect
 *   or transport error, 4 authentication failed (401), 5 server error (5xx).
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "parse.h"
#include "preview.h"
#include "massagectl.h"

struct command {
	const char	*name;
	int		 (*fn)(struct client *, int, char **);
	int		 min_args;
	int		 max_args;
	const char	*synopsis;
	const char	*help;
	const char	*brief;		/* what it does, for --help */
};

/* What main needs of the options besides struct client. */
struct command_opts {
	const char	*token_file;
	const char	*tables;
	int		 help;
	int		 have_count;
	int		 all;
	int		 version;
};

static const struct command commands[] = {
	{ "status", cmd_status, 0, 0, "status",
	  "Shows the state, the program and step, times, intensity, every\n"
	  "zone's pressure against its limit and every controller's health.",
	  "show the state, the session, every zone and controller" },
	{ "programs", cmd_programs, 0, 0, "programs",
	  "Lists the programs that can be started, with their steps.",
	  "list the programs that can be started" },
	{ "profiles", cmd_profiles, 0, 1, "profiles [SEARCH]",
	  "Lists the client profiles with their limits, conditions and the\n"
	  "programs their contraindications refuse (and why), page by page;\n"
	  "with SEARCH, only those whose name or id contains it (letters in\n"
	  "any case).",
	  "list the client profiles, their limits and refusals" },
	{ "erase", cmd_erase, 0, 1, "erase PROFILE | erase --all --yes",
	  "Erases a client: the profile, and in every session record of it\n"
	  "the name and everything the client's conditions decided (limits,\n"
	  "excluded zones, pressures, stop messages); dates, programs and how\n"
	  "each ended stay, under the profile's id. With a shared store, on\n"
	  "every table. Refused (exit 1) while a session runs with it.\n"
	  "  --all   every client of the table whose profile the daemon wrote\n"
	  "          (profiles of the configuration directory are read-only:\n"
	  "          named, not erased); needs --yes\n"
	  "  --yes   erase with --all (without it nothing is erased)",
	  "erase a client's profile and health data, or --all of them" },
	{ "routines", cmd_routines, 0, 0, "routines",
	  "Lists the loaded routine plugins and their parameters.",
	  "list the loaded routine plugins and their parameters" },
	{ "sessions", cmd_sessions, 0, 0,
	  "sessions [--since DATE] [--until DATE] [--csv] [--limit N]",
	  "Lists the session records, newest first: every session (its end,\n"
	  "or its start when no end was recorded) and every refused start.\n"
	  "With --since, --until or --csv, every record in the range, page by\n"
	  "page; else the most recent 20.\n"
	  "  --since DATE  from DATE (2024-05-01 or 2024-05-01T12:00:00Z, UTC)\n"
	  "  --until DATE  before DATE; a date alone includes that whole day\n"
	  "  --csv         comma-separated values with a header line, for an\n"
	  "                export (RFC 4180; a cell starting with = + - @,\n"
	  "                a tab or a CR gets a ' before it, never a formula)\n"
	  "  --limit N     at most N records (default 20 without a range)",
	  "list the session records, or export them (--csv)" },
	{ "start", cmd_start, 1, 1, "start PROGRAM --profile PROFILE",
	  "Starts PROGRAM for the client PROFILE. Refused (exit 1) when a\n"
	  "session runs, a fault is latched, a controller is not ready, or the\n"
	  "profile's contraindications refuse the program (the reason is\n"
	  "printed).\n"
	  "  --profile P  the client profile (required)",
	  "start a program for a client's profile" },
	{ "pause", cmd_pause, 0, 0, "pause",
	  "Pauses the session: a controlled hold at low pressure (stop\n"
	  "category 2). resume continues.",
	  "hold the session at low pressure (stop category 2)" },
	{ "resume", cmd_resume, 0, 0, "resume",
	  "Resumes a paused session.",
	  "continue a paused session" },
	{ "stop", cmd_stop, 0, 0, "stop",
	  "Ends the session: a controlled ramp down, then vent (stop\n"
	  "category 1).",
	  "end the session: ramp down, then vent (category 1)" },
	{ "estop", cmd_estop, 0, 0, "estop",
	  "EMERGENCY STOP: vents every controller now (stop category 0) and\n"
	  "latches a fault; reset clears it once its cause is gone.",
	  "EMERGENCY STOP: vent every controller now, latch a fault" },
	{ "reset", cmd_reset, 0, 0, "reset",
	  "Clears a latched fault. Refused (exit 1, with the reason) while its\n"
	  "cause is still there, e.g. the e-stop circuit is open.",
	  "clear a latched fault once its cause is gone" },
	{ "intensity", cmd_intensity, 1, 1, "intensity PERCENT",
	  "Sets the intensity of the running session, 10 to 100 percent. It\n"
	  "scales the routine; every limit still applies.",
	  "set the running session's intensity, 10 to 100 %" },
	{ "watch", cmd_watch, 0, 0, "watch [--count N]",
	  "Shows the live status from the event stream and redraws it; on a\n"
	  "terminal it keeps the last events below the table. Reconnects when\n"
	  "the daemon restarts. Ctrl-C ends it. Off a terminal, one line an\n"
	  "event (the status once). With --json, prints one JSON object a\n"
	  "line: {\"event\": TYPE, \"data\": {...}}.\n"
	  "  --count N   exit 0 after N events of the stream, printed or not\n"
	  "              (default: run until Ctrl-C)",
	  "follow the live status and events until Ctrl-C" },
	{ "preview", NULL, 0, 0, "preview ...",
	  "Previews a program offline, without a daemon: see\n"
	  "massagectl preview --help.",
	  "preview a program offline, without a daemon" },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void
command_usage(FILE *fp)
{
	size_t	 i;

	fprintf(fp,
"usage: massagectl [--url URL] [--token-file FILE] [--cacert FILE] [--json]\n"
"                  COMMAND [ARGS]\n"
"       massagectl --all [--tables FILE] [--cacert FILE] [--json]\n"
"                  status|stop|estop|sessions\n"
"\n"
"Command-line client of massaged, the massage table daemon.\n"
"\n"
"Commands (massagectl help COMMAND for its arguments and options):\n");
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].brief != NULL)
			fprintf(fp, "  %-10s %s\n", commands[i].name,
			    commands[i].brief);
		else
			fprintf(fp, "  %s\n", commands[i].synopsis);
	fprintf(fp,
"  %-10s %s\n"
"\n"
"Options:\n"
"  --url URL          the daemon, http://HOST[:PORT], or https://HOST[:PORT]\n"
"                     for a TLS proxy in front of it (default\n"
"                     $MASSAGED_URL, else %s)\n"
"  --token-file FILE  file with the bearer token (the first token in it);\n"
"                     else $MASSAGED_TOKEN, else the file\n"
"                     $MASSAGED_TOKEN_FILE, else %s/tokens\n"
"  --cacert FILE      https: trust only the CA certificates in FILE (PEM),\n"
"                     not the system's; the host name is checked either way\n"
"  --json             print the daemon's JSON instead of tables\n"
"  --all              every table of the tables file, one line each:\n"
"                     status, stop or estop (sent to all at once), or\n"
"                     sessions (one list, its TABLE column the NAME)\n"
"  --tables FILE      the tables file for --all (default %s/tables):\n"
"                     a line per table, NAME URL [TOKEN_FILE]; a\n"
"                     TOKEN_FILE must be yours and mode 0600\n"
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
	    "help", "how to use one command: help COMMAND",
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
	    "Options for every command: --url URL, --token-file FILE, --cacert "
	    "FILE,\n--json; see massagectl --help, also for the exit codes.\n",
	    c->synopsis, c->help);
}

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
		    strcmp(argv[i], "--cacert") == 0 ||
		    strcmp(argv[i], "--count") == 0) && i + 1 < argc)
			i++;
	}
	return (argc);
}

/* The options into x and o; EXIT_OK, or EXIT_USAGE once said why. */
static int
command_options(int argc, char **argv, struct client *x, struct command_opts *o)
{
	enum { OPT_URL = 256, OPT_TOKEN_FILE, OPT_JSON, OPT_PROFILE,
	    OPT_LIMIT, OPT_COUNT, OPT_SINCE, OPT_UNTIL, OPT_CSV, OPT_ALL,
	    OPT_TABLES, OPT_CACERT, OPT_YES };
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
		{ "cacert",	required_argument,	NULL, OPT_CACERT },
		{ "yes",	no_argument,		NULL, OPT_YES },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	int	 ch;

	opterr = 0;	/* our own one-line messages */
	while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_URL:
			x->url_text = optarg;
			break;
		case OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case OPT_JSON:
			x->json = 1;
			break;
		case OPT_PROFILE:
			x->profile = optarg;
			break;
		case OPT_LIMIT:
			if (parse_int(optarg, 1, 1000, &x->limit) == -1)
				return (client_usage_error("--limit '%s' is "
				    "not valid (expected 1 to 1000)", optarg));
			x->have_limit = 1;
			break;
		case OPT_SINCE:
			x->since = optarg;
			break;
		case OPT_UNTIL:
			x->until = optarg;
			break;
		case OPT_CSV:
			x->csv = 1;
			break;
		case OPT_ALL:
			o->all = 1;
			break;
		case OPT_TABLES:
			o->tables = optarg;
			o->all = 1;
			break;
		case OPT_CACERT:
			x->cacert = optarg;
			break;
		case OPT_YES:
			x->yes = 1;
			break;
		case OPT_COUNT:
			if (parse_int(optarg, 1, 1000000000, &x->count) == -1)
				return (client_usage_error("--count '%s' is "
				    "not valid (expected a positive whole "
				    "number)", optarg));
			o->have_count = 1;
			break;
		case 'h':
			o->help = 1;
			break;
		case 'V':
			o->version = 1;
			break;
		case ':':
			return (client_usage_error("%s needs a value",
			    argv[optind - 1]));
		default:
			if (optopt != 0)
				return (client_usage_error("unknown option -%c",
				    optopt));
			return (client_usage_error("unknown option %s",
			    argv[optind - 1]));
		}
	}
	return (EXIT_OK);
}

/* massagectl help [COMMAND]. */
static int
command_help_word(int argc, char **argv)
{
	const struct command	*cmd;

	if (argc == 1) {
		command_usage(stdout);
		return (EXIT_OK);
	}
	if (argc > 2 || (cmd = command_find(argv[1])) == NULL)
		return (client_usage_error("help: no command '%s'", argv[1]));
	if (cmd->fn == NULL) {
		char *pv[] = { (char *)(uintptr_t)"preview",
		    (char *)(uintptr_t)"--help", NULL };

		fflush(stdout);
		return (preview_main(2, pv));
	}
	command_help(stdout, cmd);
	return (EXIT_OK);
}

/* --all COMMAND: every table of the tables file. */
static int
command_all(struct client *x, const struct command_opts *o, int argc,
    char **argv)
{
	int	 rc;

	if (argc != 1 || x->url_text != NULL)
		return (client_usage_error("--all takes one command (status, "
		    "stop, estop or sessions) and no --url"));
	if (x->profile != NULL || o->have_count ||
	    ((x->have_limit || x->since != NULL || x->until != NULL ||
	    x->csv) && strcmp(argv[0], "sessions") != 0))
		return (client_usage_error("usage: massagectl --all [--tables "
		    "FILE] status|stop|estop|sessions [--since DATE] "
		    "[--until DATE] [--csv] [--limit N]"));
	if (client_token_find(x, o->token_file) == -1)
		return (EXIT_USAGE);
	signal(SIGPIPE, SIG_IGN);
	rc = cmd_fleet(x, o->tables != NULL ? o->tables : CONFDIR "/tables",
	    argv[0]);
	fflush(stdout);
	explicit_bzero(x->token, sizeof(x->token));
	return (rc);
}

int
main(int argc, char *argv[])
{
	const struct command	*cmd;
	struct command_opts	 o;
	struct client		 x;
	const char		*env;
	char			 err[PATH_MAX + 256];
	int			 rc, ci;

	memset(&x, 0, sizeof(x));
	memset(&o, 0, sizeof(o));
	x.limit = 20;

	/* preview takes its own options: hand it everything after it. */
	ci = command_index(argc, argv);
	if (ci < argc && strcmp(argv[ci], "preview") == 0) {
		fflush(stdout);
		return (preview_main(argc - ci, argv + ci));
	}
	if ((rc = command_options(argc, argv, &x, &o)) != EXIT_OK)
		return (rc);
	argc -= optind;
	argv += optind;

	if (o.version) {
		printf("massagectl %s\n", MASSAGED_VERSION);
		return (EXIT_OK);
	}
	if (argc == 0) {
		if (o.help) {
			command_usage(stdout);
			return (EXIT_OK);
		}
		return (client_usage_error("usage: massagectl [options] "
		    "COMMAND [ARGS]: no command"));
	}
	if (strcmp(argv[0], "help") == 0)
		return (command_help_word(argc, argv));
	/* erase --all: every client of this table, not every table. */
	if (strcmp(argv[0], "erase") == 0 && o.tables == NULL) {
		x.every = o.all;
		o.all = 0;
	}
	if (o.all && !o.help)
		return (command_all(&x, &o, argc, argv));
	if ((cmd = command_find(argv[0])) == NULL || cmd->fn == NULL)
		return (client_usage_error("unknown command '%s'", argv[0]));
	if (o.help) {
		command_help(stdout, cmd);
		return (EXIT_OK);
	}
	if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args ||
	    (x.profile != NULL && cmd->fn != cmd_start) ||
	    ((x.have_limit || x.since != NULL || x.until != NULL || x.csv) &&
	    cmd->fn != cmd_sessions) ||
	    (o.have_count && cmd->fn != cmd_watch) ||
	    (x.yes && cmd->fn != cmd_erase))
		return (client_usage_error("usage: massagectl [options] %s",
		    cmd->synopsis));

	if (x.url_text == NULL)
		x.url_text = (env = getenv("MASSAGED_URL")) != NULL &&
		    *env != '\0' ? env : DEFAULT_URL;
	if (http_url_parse(x.url_text, &x.url, err, sizeof(err)) == -1)
		return (client_usage_error("%s", err));
	if ((x.url.tls || x.cacert != NULL) &&
	    http_tls_init(x.cacert, err, sizeof(err)) == -1) {
		fprintf(stderr, "massagectl: %s\n", err);
		return (EXIT_USAGE);
	}
	if (client_token_find(&x, o.token_file) == -1)
		return (EXIT_USAGE);
	signal(SIGPIPE, SIG_IGN);
	rc = cmd->fn(&x, argc - 1, argv + 1);
	fflush(stdout);
	explicit_bzero(x.token, sizeof(x.token));
	return (rc);
}
