/*
 * massaged.c: the daemon's entry point: options, configuration, signals,
 * and the event loop. The work happens in tick.c (the tick), bus.c
 * (Modbus I/O threads), session.c (states and stops) and api.c (HTTP).
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "api.h"
#include "tick.h"
#include "log.h"
#include "notify.h"
#include "record.h"
#include "prove.h"
#include "runas.h"
#include "store.h"
#include "store-link.h"
#include "table-dir.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: massaged [-nvV] [--prove] [--migrate] [-f file] [-u user]\n"
"                [-o key=value ...]\n"
"\n"
"Controller daemon for motorised and pneumatic massage tables. Talks Modbus\n"
"TCP/RTU (register map v2 or v1) to the actuator controllers, runs programs of\n"
"routine plugins for client profiles through one limit pipeline, and serves\n"
"the control API and panel.\n"
"\n"
"  -f, --config FILE   table configuration (default %s/massaged.ini)\n"
"  -n, --check         check the configuration, profiles, programs, rules and\n"
"                      plugins, print \"configuration OK\" or every error, exit;\n"
"                      with -f DIR, every table file in DIR, and that no two\n"
"                      name one controller or one listen address; with a\n"
"                      store =, connect to it and check its password, server\n"
"                      version and schema version. As root, a file in\n"
"                      %s is checked as the user massaged (when it\n"
"                      exists), as the units run the daemon\n"
"  -u, --user USER     with -n as root: check as USER, its groups and dialout,\n"
"                      as the daemon would run (-u root: as root)\n"
"      --prove         with -n: then connect to every controller and prove its\n"
"                      safe state (arm its watchdog or interlock, stop feeding\n"
"                      it, see it vent, reset), printing each step with its\n"
"                      time; exit 1 unless every controller was proven\n"
"      --migrate       apply the missing migrations to the store = database,\n"
"                      each in a transaction, print each, exit (docs/store.md)\n"
"  -o KEY=VALUE        override a [daemon] key, e.g. -o listen=127.0.0.1:9000\n"
"                      (repeatable; relative paths are relative to the cwd)\n"
"  -v, --verbose       log debug messages\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          this text\n"
"\n"
"Signals: SIGTERM/SIGINT vent every controller and exit 0; SIGHUP reloads\n"
"the configuration (kept only if valid) and reopens the session records;\n"
"SIGUSR2 (an upgrade) refuses new sessions and exits 0 once the table is\n"
"idle, for systemd to start the new version.\n"
"See massaged(8), massaged.ini(5).\n",
	    CONFDIR, CONFDIR);
}

/* How long -n --prove waits for every controller's result. */
#define PROVE_TIMEOUT_S	30

static struct record	*massaged_rec;
/*
 * Raises the descriptor limit to the hard limit (the units set both with
 * LimitNOFILE=): the API sizes its connection caps from it.
 */
static void
massaged_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)rl.rlim_max);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	log_info("%llu file descriptors (LimitNOFILE)",
	    (unsigned long long)rl.rlim_cur);
}

/* The upgrade's restart, once nothing runs: the loop's next turn. */
static void
massaged_restart_now(evutil_socket_t fd, short what, void *arg)
{
	struct tick	*c = arg;

	if (c->stopping || c->session.state != SESSION_IDLE)
		return;
	log_info("restarting for an upgrade: the table is idle");
	notify_stopping();
	tick_shutdown(c);
}

/* After SIGUSR2, every session event: idle (not a fault waiting for its
 * reset, not a session) is the time. */
static void
massaged_restart_if_idle(void *arg, enum session_event ev)
{
	struct tick		*c = arg;
	const struct timeval	 now = { 0, 0 };

	if (!c->restart_when_idle || c->stopping ||
	    c->session.state != SESSION_IDLE)
		return;
	event_base_once(c->base, -1, EV_TIMEOUT, massaged_restart_now, c,
	    &now);
}

static void
massaged_signal(evutil_socket_t sig, short what, void *arg)
{
	struct tick	*c = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		notify_stopping();
		tick_shutdown(c);
		break;
	case SIGUSR2:
		if (!c->restart_when_idle)
			log_info("received SIGUSR2: restarting for an upgrade "
			    "as soon as the table is idle (new sessions are "
			    "refused meanwhile)");
		c->restart_when_idle = 1;
		massaged_restart_if_idle(c, SESSION_EV_STOPPED);
		break;
	case SIGHUP:
		record_reopen(massaged_rec);	/* after an outside rotation */
		if (!c->reloading)
			notify_reloading();
		tick_reload(c);	/* notify_reloaded() when done */
		break;
	}
}

/* Reload done: the token file is read again with the configuration. */
static void
massaged_reloaded(struct tick *c, int ok, void *arg)
{
	if (ok)
		api_reload_tokens(arg);
	notify_reloaded(c);
}

/*
 * The token file of the configuration: -1 with the reason in err when the
 * API would refuse it, missing included. A configuration with errors may
 * have no table: its token file comes from the table file alone then.
 */
static int
massaged_check_tokens(struct tick *c, const char *path,
    char *const *overrides, int noverrides, char *err, size_t errlen)
{
	struct inifile_errors	 quiet = { .quiet = 1 };
	struct table		*t;
	int			 rc;

	if (c->cfg != NULL)
		return (api_check_tokens(c->cfg->table, err, errlen));
	if ((t = config_load_table_any(path, overrides, noverrides,
	    &quiet)) == NULL) {
		inifile_errors_free(&quiet);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rc = api_check_tokens(t, err, errlen);
	inifile_errors_free(&quiet);
	free(t);
	return (rc);
}

/* What the command line asks for. */
struct massaged_opts {
	const char	*path;
	const char	*user;		/* -n -u USER */
	char		*overrides[CONFIG_MAX_OVERRIDES];
	int		 noverrides;
	int		 check;
	int		 prove;		/* -n --prove */
	int		 migrate;	/* --migrate */
	int		 verbose;
};

/* Parses the command line: -1 to go on, else the exit status. */
static int
massaged_options(int argc, char *argv[], struct massaged_opts *o)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'f' },
		{ "check",	no_argument,		NULL, 'n' },
		{ "prove",	no_argument,		NULL, 'P' },
		{ "migrate",	no_argument,		NULL, 'M' },
		{ "user",	required_argument,	NULL, 'u' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	int	 ch;

	while ((ch = getopt_long(argc, argv, "f:hno:u:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->path = optarg;
			break;
		case 'n':
			o->check = 1;
			break;
		case 'P':
			o->prove = 1;
			break;
		case 'M':
			o->migrate = 1;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'o':
			if (o->noverrides == CONFIG_MAX_OVERRIDES) {
				fprintf(stderr, "massaged: too many -o\n");
				return (2);
			}
			o->overrides[o->noverrides++] = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			printf("massaged %s (%s v%d, routine ABI v%d)\n",
			    MASSAGED_VERSION,
			    ctl_backend_find(NULL)->describe()->interface,
			    ctl_backend_find(NULL)->describe()->version,
			    MASSAGED_ROUTINE_ABI_VERSION);
			return (0);
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (2);
	}
	if (o->prove && !o->check) {
		fprintf(stderr, "massaged: --prove goes with -n\n");
		return (2);
	}
	if (o->user != NULL && !o->check) {
		fprintf(stderr, "massaged: -u goes with -n\n");
		return (2);
	}
	if (o->migrate && o->check) {
		fprintf(stderr, "massaged: --migrate goes without -n\n");
		return (2);
	}
	return (-1);
}

/*
 * -n with a store: connects and checks it (store.c), the line it says
 * printed. 0, or -1 with the error logged.
 */
static int
massaged_check_store(const struct table *t)
{
	char	 msg[2048];

	if (t->store[0] == '\0')
		return (0);
	if (store_check(t, msg, sizeof(msg)) == -1) {
		log_emit(LOG_ERR, "%s", msg);
		return (-1);
	}
	printf("%s\n", msg);
	return (0);
}

/*
 * -n as root checks as the user the daemon runs as (runas.c), saying so:
 * -1 to go on, else the exit status.
 */
static int
massaged_check_as(const struct massaged_opts *o)
{
	char	 name[64], err[512];
	int	 rc;

	rc = runas_pick(o->user, o->path, name, sizeof(name), err,
	    sizeof(err));
	if (rc == 0)
		return (-1);
	if (rc == 1 && runas_drop(name, err, sizeof(err)) == 0) {
		printf("checking as user %s, %s\n", name, o->user != NULL ?
		    "as -u says" : "as the service runs");
		fflush(stdout);
		return (-1);
	}
	log_emit(LOG_ERR, "%s", err);
	return (rc == -1 ? 2 : 1);
}

/*
 * --migrate: the table file alone (with -o), then the store's missing
 * migrations. Returns the exit status.
 */
static int
massaged_migrate(const struct massaged_opts *o)
{
	struct inifile_errors	 errs = { 0 };
	struct table		*t;
	char			 err[2048];
	int			 rc = 1;

	t = config_load_table(o->path, o->overrides, o->noverrides, &errs);
	if (t == NULL)
		log_emit(LOG_ERR, "%s: %d error%s: nothing migrated", o->path,
		    errs.count, errs.count == 1 ? "" : "s");
	else if (t->store[0] == '\0')
		log_emit(LOG_ERR, "%s: no store (set store = "
		    "postgresql://USER@HOST/DATABASE in [daemon])", o->path);
	else if (store_migrate(t, stdout, err, sizeof(err)) == -1)
		log_emit(LOG_ERR, "%s", err);
	else
		rc = 0;
	inifile_errors_free(&errs);
	free(t);
	return (rc);
}

/*
 * Loads the configuration into ctl and checks the token file; with -n
 * reports and ends there. Returns -1 to go on, else the exit status.
 */
static int
massaged_load(struct tick *ctl, const struct massaged_opts *o)
{
	struct inifile_errors	 errs = { 0 };
	char			 err[512];
	int			 rc;

	/* Every error is logged as it is found, with its priority: under
	 * ExecStartPre= the journal files the reason a start failed as an
	 * error, not as info. */
	rc = tick_load(ctl, o->path, o->overrides, o->noverrides, &errs);
	/* The token file, before anything else starts: a daemon that is
	 * going to refuse must not touch the controllers first. A check
	 * looks at it too, whatever else failed, and fails without it:
	 * the daemon would. */
	if (ctl->cfg != NULL || o->check) {
		if (massaged_check_tokens(ctl, o->path, o->overrides,
		    o->noverrides, err, sizeof(err)) == -1) {
			log_emit(LOG_ERR, "%s%s", o->check ? "" :
			    "cannot start the API: ", err);
			errs.count++;
			rc = -1;
		}
	}
	/* The store: with -n only; the daemon does not use it yet. */
	if (o->check && rc != -1 && ctl->cfg != NULL &&
	    massaged_check_store(ctl->cfg->table) == -1) {
		errs.count++;
		rc = -1;
	}
	if (rc == -1) {
		log_emit(LOG_ERR, "%s: %d error%s%s", o->path, errs.count,
		    errs.count == 1 ? "" : "s", o->check ? "" :
		    ": not started");
		inifile_errors_free(&errs);
		tick_free(ctl);
		return (1);
	}
	inifile_errors_free(&errs);
	if (o->check) {
		table_dir_print_lines(ctl->cfg->table);
		printf("configuration OK\n");
		fflush(stdout);
		rc = o->prove ? prove_run(ctl->cfg->table, stdout,
		    PROVE_TIMEOUT_S) : 0;
		tick_free(ctl);
		return (rc);
	}
	return (-1);
}

/* The process set up to serve: privileges, logging, descriptors, and the
 * event base. */
static struct event_base *
massaged_base(void)
{
	struct event_config	*ecfg;
	struct event_base	*base;

	/* Whoever started us, no child of ours gains privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_NO_NEW_PRIVS)");
	if (geteuid() == 0)
		log_warnx("running as root: the systemd unit runs massaged as "
		    "its own user with no capabilities; do the same");

	/* From here on the loop never writes a log line itself. */
	if (log_async_start() == -1)
		log_warnx("no log writer thread: logging writes directly");
	massaged_nofile();
	if (evthread_use_pthreads() == -1)
		fatalx("libevent: no pthreads support");
	log_libevent();
	if ((ecfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if ((base = event_base_new_with_config(ecfg)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(ecfg);
	return (base);
}

/* Starts the tick, the records, the API and the signals, runs the loop
 * until a stop, and tears down. Returns the exit status. */
static int
massaged_run(struct tick *ctl, struct event_base *base, const char *path)
{
	struct event		*sigs[5];
	struct tick_observer	 obs = { 0 };
	struct api		*api;
	struct record		*rec;
	struct store_link	*store;
	char			 err[512];
	int			 i;

	tick_start(ctl, base);
	rec = record_open(base, ctl);
	ctl->session.id = record_last_id(rec);
	store = store_link_open(base, ctl->cfg->table);
	record_set_store(rec, store);
	massaged_rec = rec;
	if ((api = api_start(ctl, base, rec, err, sizeof(err))) == NULL) {
		log_emit(LOG_ERR, "cannot start the API: %s", err);
		tick_shutdown(ctl);
		event_base_dispatch(base);
		store_link_close(store);
		record_close(rec);
		tick_free(ctl);
		event_base_free(base);
		log_async_stop();
		return (1);
	}
	api_set_store(api, store);
	notify_start(ctl, base);
	ctl->reload_done = massaged_reloaded;
	ctl->reload_arg = api;

	sigs[0] = evsignal_new(base, SIGTERM, massaged_signal, ctl);
	sigs[1] = evsignal_new(base, SIGINT, massaged_signal, ctl);
	sigs[2] = evsignal_new(base, SIGHUP, massaged_signal, ctl);
	sigs[3] = evsignal_new(base, SIGUSR2, massaged_signal, ctl);
	sigs[4] = NULL;
	obs.arg = ctl;
	obs.event = massaged_restart_if_idle;
	tick_observe(ctl, &obs);
	for (i = 0; sigs[i] != NULL; i++)
		evsignal_add(sigs[i], NULL);

	log_info("massaged %s started with %s", MASSAGED_VERSION, path);
	event_base_dispatch(base);

	for (i = 0; sigs[i] != NULL; i++)
		event_free(sigs[i]);
	api_free(api);
	store_link_close(store);
	record_close(rec);
	tick_free(ctl);
	event_base_free(base);
	log_info("stopped");
	log_async_stop();
	return (0);
}

int
main(int argc, char *argv[])
{
	static struct tick	 ctl;
	struct massaged_opts	 o = { .path = CONFDIR "/massaged.ini" };
	int			 rc;

	if ((rc = massaged_options(argc, argv, &o)) != -1)
		return (rc);
	log_init("massaged", o.verbose);
	signal(SIGPIPE, SIG_IGN);

	if (o.prove && table_dir_is_dir(o.path)) {
		fprintf(stderr, "massaged: --prove takes one table file, not a "
		    "directory\n");
		return (2);
	}
	if (o.migrate)
		return (massaged_migrate(&o));
	if (o.check && (rc = massaged_check_as(&o)) != -1)
		return (rc);
	if (o.check && table_dir_is_dir(o.path))
		return (table_dir_check(o.path, o.overrides, o.noverrides));
	if ((rc = massaged_load(&ctl, &o)) != -1)
		return (rc);
	return (massaged_run(&ctl, massaged_base(), o.path));
}
