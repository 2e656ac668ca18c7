/*
 * main.c: massaged-sim, a table of simulated actuator controllers.
 *
 * The top of the simulator's layers (sim.h draws them): owns the command
 * line, the startup lines on stdout that tests read, and the
 * single-threaded ppoll() loop over listening sockets, Modbus clients,
 * serial devices, the control socket and a signalfd. Physics advances on
 * every turn of the loop by the monotonic time elapsed, and the loop never
 * sleeps longer than one tick, so watchdogs and vents are seen on time.
 * The state the other files share, struct sim, lives in main()'s frame;
 * they reach it through their controllers and never call back in here.
 */
#include <sys/types.h>
#include <sys/signalfd.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "parse.h"

#ifndef MASSAGED_VERSION
#define MASSAGED_VERSION	"unknown"
#endif

#define SIM_DEFAULT_TCP		"127.0.0.1:1502"
#define SIM_DEFAULT_CONTROL	"127.0.0.1:0"

enum {
	OPT_TCP = 256,
	OPT_RTU,
	OPT_MAX_KPA,
	OPT_TAU_MS,
	OPT_VENT_TAU_MS,
	OPT_UNIT_ID,
	OPT_MAP_VERSION,
	OPT_WATCHDOG_MS,
	OPT_BAUD,
	OPT_PARITY,
	OPT_DATA_BITS,
	OPT_STOP_BITS,
	OPT_CONTROL,
	OPT_TICK_MS,
	OPT_CONTROL_CMD,
	OPT_FAST,
	OPT_PERSONALITY,
	OPT_DROPOUT_MS,
	OPT_IDLE_MS
};

static const struct option sim_longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "channels",		required_argument,	NULL, 'c' },
	{ "events",		required_argument,	NULL, 'e' },
	{ "tcp",		required_argument,	NULL, OPT_TCP },
	{ "rtu",		required_argument,	NULL, OPT_RTU },
	{ "max-kpa",		required_argument,	NULL, OPT_MAX_KPA },
	{ "tau-ms",		required_argument,	NULL, OPT_TAU_MS },
	{ "vent-tau-ms",	required_argument,	NULL, OPT_VENT_TAU_MS },
	{ "unit-id",		required_argument,	NULL, OPT_UNIT_ID },
	{ "map-version",	required_argument,	NULL, OPT_MAP_VERSION },
	{ "watchdog-ms",	required_argument,	NULL, OPT_WATCHDOG_MS },
	{ "baud",		required_argument,	NULL, OPT_BAUD },
	{ "parity",		required_argument,	NULL, OPT_PARITY },
	{ "data-bits",		required_argument,	NULL, OPT_DATA_BITS },
	{ "stop-bits",		required_argument,	NULL, OPT_STOP_BITS },
	{ "control",		required_argument,	NULL, OPT_CONTROL },
	{ "tick-ms",		required_argument,	NULL, OPT_TICK_MS },
	{ "control-cmd",	required_argument,	NULL, OPT_CONTROL_CMD },
	{ "fast",		no_argument,		NULL, OPT_FAST },
	{ "personality",	required_argument,	NULL, OPT_PERSONALITY },
	{ "dropout-ms",		required_argument,	NULL, OPT_DROPOUT_MS },
	{ "idle-ms",		required_argument,	NULL, OPT_IDLE_MS },
	{ NULL,			0,			NULL, 0 }
};

/* What the command line asks for besides the controllers. */
struct sim_opts {
	struct sim_params	 cur;		/* for the next --tcp/--rtu */
	const char		*events;	/* -e */
	const char		*cmd_addr;	/* --control-cmd */
	char			 chost[128];	/* --control, --control-cmd */
	int			 cport;
	int			 verbose;
};

static void		 sim_usage(FILE *);
static void		 sim_badarg(const char *, const char *, const char *)
			    __attribute__((noreturn));
static int		 sim_param(struct sim_params *, int, const char *,
			    const char *);
static void		 sim_option(struct sim *, struct sim_opts *, int,
			    const char *, const char *);
static void		 sim_parse(struct sim *, struct sim_opts *, int,
			    char **);
static void		 sim_add(struct sim *, enum sim_transport,
			    const char *, const struct sim_params *);
static int		 sim_signalfd(void);
static int		 sim_start(struct sim *, const struct sim_opts *);
static void		 sim_loop(struct sim *, int);
static void		 sim_dispatch(struct sim *, struct pollset *, int);
static void		 sim_stop(struct sim *, int);

static void
sim_usage(FILE *f)
{
	fprintf(f,
"usage: massaged-sim [-hVv] [-e file] [--control host:port] [--tick-ms ms]\n"
"                    [controller options] --tcp host:port | --rtu device ...\n"
"       massaged-sim --control-cmd host:port [command ...]\n"
"\n"
"Simulates the actuator controllers of a massage table: a Modbus TCP or RTU\n"
"server per controller implementing register map v2 (or v1), with pressure\n"
"physics, watchdog, owner claim, latched faults and a control socket for\n"
"fault injection; or, by --personality, a described device (a WAGO coupler,\n"
"RS-485 analogue and relay modules) driving the same pneumatics.\n"
"\n"
"Controllers (repeatable, mixable; numbered from 0 in command line order):\n"
"  --tcp HOST:PORT      a controller on Modbus TCP (PORT 0: any free port)\n"
"  --rtu DEVICE         a controller on Modbus RTU on a serial device\n"
"  The same device or fixed port again, or =N (controller N's port or\n"
"  line), puts another unit on it (a shared RS-485 line, a TCP gateway):\n"
"  give each its own --unit-id.\n"
"  With neither, one TCP controller on %s.\n"
"\n"
"Controller options apply to every --tcp/--rtu that follows them:\n"
"  --personality P      the device: regmap (register map v2/v1), wago-750-352\n"
"                       (TCP coupler, its Modbus watchdog), rs485-ao8 (no\n"
"                       watchdog), rs485-ai8, rs485-relay (safety relay);\n"
"                       an AI or relay module is wired to the rs485-ao8\n"
"                       before it (regmap)\n"
"  -c, --channels N     channels per controller, 1..32 (8; devices: 8)\n"
"  --max-kpa KPA        MAX_PRESSURE in kPa, 0.1..5000 (40.0)\n"
"  --tau-ms MS          time constant following a setpoint (150)\n"
"  --vent-tau-ms MS     time constant venting (40)\n"
"  --unit-id ID         Modbus unit id; RTU answers only this one (1)\n"
"  --map-version V      MAP_VERSION: 2, 1 (no owner claim), or another\n"
"                       value to test refusal (2)\n"
"  --watchdog-ms MS     WATCHDOG_MS at power-up, 50..10000 (1000)\n"
"  --baud N             RTU: baud rate (19200)\n"
"  --parity N|E|O       RTU: parity (N)\n"
"  --data-bits N        RTU: data bits, 5..8 (8)\n"
"  --stop-bits N        RTU: stop bits, 1..2 (1)\n"
"  --dropout-ms MS      rs485-relay: longest gap between toggles of coil 0\n"
"                       before the safety relay drops, 10..10000 (200)\n"
"  --idle-ms MS         TCP: close a client idle this long, outputs left as\n"
"                       they are, 0 never (0)\n"
"\n"
"Other options:\n"
"  --control HOST:PORT  control socket (%s)\n"
"  -e, --events FILE    event log, one line per frame and state change\n"
"                       (CLOCK_MONOTONIC ns first; - for stdout)\n"
"  --tick-ms MS         longest sleep of the loop, 1..100 (5)\n"
"  --fast               no physics (a pressure is its setpoint at once, no\n"
"                       time steps): the bare server of benchmarks\n"
"  -v, --verbose        log every event to stderr as well\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n"
"\n"
"On start, prints one line per controller (\"controller N tcp HOST:PORT\" or\n"
"\"controller N rtu DEVICE\"), then \"control HOST:PORT\", then \"ready\".\n"
"Control commands (one per line, answered \"ok ...\" or \"err reason\"):\n"
"  estop C on|off, client_stop C on|off, drop C, refuse C on|off,\n"
"  hang C MS, delay C MS, exception C CODE|off, stick C CH|all on|off,\n"
"  overpressure C CH|all, sensor_fault C on|off, powercycle C,\n"
"  identity C VERSION MAX_KPA, badreply C unit|proto|off,\n"
"  freeze C CH|all on|off, relay_weld C on|off, watchdog_broken C on|off,\n"
"  unit C ID|off, get C,\n"
"  ping, help, quit\n"
"  (C: controller index or all). See docs/simulator.md.\n"
"\n"
"--control-cmd HOST:PORT sends each command given (or, with none, each line\n"
"of standard input) to a running simulator's control socket and prints each\n"
"answer; it exits 0 if every answer was \"ok\", 1 if one was not, 2 if the\n"
"socket could not be reached. For example:\n"
"  massaged-sim --control-cmd 127.0.0.1:1600 'client_stop 0 on'\n",
	    SIM_DEFAULT_TCP, SIM_DEFAULT_CONTROL);
}

static void
sim_badarg(const char *opt, const char *arg, const char *expected)
{
	fatalx("--%s: '%s' is not valid (expected %s)", opt, arg, expected);
}

/*
 * A controller option (it applies to the --tcp/--rtu after it): sets it
 * in p, or exits on a bad value. Returns -1 if ch is not one.
 */
static int
sim_param(struct sim_params *p, int ch, const char *name, const char *arg)
{
	double	 d;
	long	 l;

	switch (ch) {
	case 'c':
		if (parse_int(arg, 1, SIM_MAXCHAN, &l) == -1)
			sim_badarg(name, arg, "1 to 32");
		p->channels = (int)l;
		break;
	case OPT_MAX_KPA:
		if (parse_double(arg, 0.1, 5000.0, &d) == -1)
			sim_badarg(name, arg, "0.1 to 5000 kPa");
		p->max_kpa = d;
		break;
	case OPT_TAU_MS:
		if (parse_double(arg, 1.0, 600000.0, &d) == -1)
			sim_badarg(name, arg, "1 to 600000 ms");
		p->tau_ms = d;
		break;
	case OPT_VENT_TAU_MS:
		if (parse_double(arg, 1.0, 600000.0, &d) == -1)
			sim_badarg(name, arg, "1 to 600000 ms");
		p->vent_tau_ms = d;
		break;
	case OPT_UNIT_ID:
		if (parse_int(arg, 1, 247, &l) == -1)
			sim_badarg(name, arg, "1 to 247");
		p->unit_id = (int)l;
		break;
	case OPT_MAP_VERSION:
		if (parse_int(arg, 0, 65535, &l) == -1)
			sim_badarg(name, arg, "0 to 65535");
		p->map_version = (int)l;
		break;
	case OPT_WATCHDOG_MS:
		if (parse_int(arg, 50, 10000, &l) == -1)
			sim_badarg(name, arg, "50 to 10000 ms");
		p->watchdog_ms = (int)l;
		break;
	case OPT_BAUD:
		if (parse_int(arg, 50, 4000000, &l) == -1)
			sim_badarg(name, arg, "50 to 4000000");
		p->baud = (int)l;
		break;
	case OPT_PARITY:
		if (strlen(arg) != 1 || strchr("NEO", arg[0]) == NULL)
			sim_badarg(name, arg, "N, E or O");
		p->parity = arg[0];
		break;
	case OPT_DATA_BITS:
		if (parse_int(arg, 5, 8, &l) == -1)
			sim_badarg(name, arg, "5 to 8");
		p->data_bits = (int)l;
		break;
	case OPT_STOP_BITS:
		if (parse_int(arg, 1, 2, &l) == -1)
			sim_badarg(name, arg, "1 or 2");
		p->stop_bits = (int)l;
		break;
	case OPT_PERSONALITY:
		if ((p->pers = pers_find(arg)) == -1)
			sim_badarg(name, arg, "regmap, wago-750-352, rs485-ao8, "
			    "rs485-ai8 or rs485-relay");
		break;
	case OPT_DROPOUT_MS:
		if (parse_int(arg, 10, 10000, &l) == -1)
			sim_badarg(name, arg, "10 to 10000 ms");
		p->dropout_ms = (int)l;
		break;
	case OPT_IDLE_MS:
		if (parse_int(arg, 0, 86400000, &l) == -1)
			sim_badarg(name, arg, "0 (never) to 86400000 ms");
		p->idle_ms = (int)l;
		break;
	default:
		return (-1);
	}
	return (0);
}

/* Any other option: a controller, the control socket, the loop. */
static void
sim_option(struct sim *sim, struct sim_opts *o, int ch, const char *name,
    const char *arg)
{
	long	 l;

	switch (ch) {
	case 'h':
		sim_usage(stdout);
		exit(0);
	case 'V':
		printf("massaged-sim %s (register map v%d)\n",
		    MASSAGED_VERSION, REGMAP_VERSION);
		exit(0);
	case 'v':
		log_setverbose(++o->verbose);
		break;
	case 'e':
		o->events = arg;
		break;
	case OPT_TCP:
		sim_add(sim, SIM_TCP, arg, &o->cur);
		break;
	case OPT_RTU:
		sim_add(sim, SIM_RTU, arg, &o->cur);
		break;
	case OPT_CONTROL:
		if (net_split(arg, o->chost, sizeof(o->chost), &o->cport) == -1)
			sim_badarg(name, arg, "HOST:PORT");
		break;
	case OPT_FAST:
		sim->fast = 1;
		break;
	case OPT_TICK_MS:
		if (parse_int(arg, 1, 100, &l) == -1)
			sim_badarg(name, arg, "1 to 100 ms");
		sim->tick_ms = l;
		break;
	case OPT_CONTROL_CMD:
		if (net_split(arg, o->chost, sizeof(o->chost), &o->cport) ==
		    -1 || o->cport == 0)
			sim_badarg(name, arg, "HOST:PORT");
		o->cmd_addr = arg;
		break;
	default:
		sim_usage(stderr);
		exit(1);
	}
}

static void
sim_parse(struct sim *sim, struct sim_opts *o, int argc, char *argv[])
{
	const char	*name;
	int		 ch, i;

	/* "+": options are taken in order; each --tcp/--rtu takes cur. */
	while ((ch = getopt_long(argc, argv, "+hVvc:e:", sim_longopts,
	    NULL)) != -1) {
		name = NULL;
		for (i = 0; sim_longopts[i].name != NULL; i++) {
			if (sim_longopts[i].val == ch)
				name = sim_longopts[i].name;
		}
		if (sim_param(&o->cur, ch, name, optarg) == -1)
			sim_option(sim, o, ch, name, optarg);
	}
}

/*
 * Adds a controller. One on the same line (the same device) or the same
 * TCP port (a fixed one, or "=N": controller N's) as an earlier one is
 * another unit on that endpoint, told apart by its unit id.
 */
static void
sim_add(struct sim *sim, enum sim_transport t, const char *addr,
    const struct sim_params *p)
{
	struct sim_ctl	*c, *o;
	long		 n;
	int		 i;

	if (sim->nctls == SIM_MAXCTL)
		fatalx("too many controllers (at most %d)", SIM_MAXCTL);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("calloc");
	c->sim = sim;
	c->idx = sim->nctls;
	c->transport = t;
	c->p = *p;
	c->ep = c;
	if (addr[0] == '=') {
		if (parse_int(addr + 1, 0, sim->nctls - 1, &n) == -1 ||
		    sim->ctls[n]->transport != t)
			sim_badarg(t == SIM_TCP ? "tcp" : "rtu", addr,
			    "=N, N an earlier controller of this transport");
		c->ep = sim->ctls[n]->ep;
		snprintf(c->host, sizeof(c->host), "%s", c->ep->host);
		snprintf(c->addr, sizeof(c->addr), "%s", c->ep->addr);
	} else if (t == SIM_TCP) {
		if (net_split(addr, c->host, sizeof(c->host), &c->port) == -1)
			sim_badarg("tcp", addr, "HOST:PORT, port 0..65535");
	} else {
		if (*addr == '\0' || strlen(addr) >= sizeof(c->addr))
			sim_badarg("rtu", addr, "a serial device path");
		snprintf(c->addr, sizeof(c->addr), "%s", addr);
	}
	for (i = 0; i < sim->nctls && c->ep == c; i++) {
		o = sim->ctls[i];
		if (o->ep == o && o->transport == t && (t == SIM_RTU ?
		    strcmp(o->addr, c->addr) == 0 : (c->port != 0 &&
		    o->port == c->port && strcmp(o->host, c->host) == 0)))
			c->ep = o;
	}
	for (i = 0; i < sim->nctls; i++) {
		o = sim->ctls[i];
		if (o->ep == c->ep && o->p.unit_id == c->p.unit_id &&
		    c->ep != c)
			fatalx("controller %d: unit id %d is already "
			    "controller %d on %s", c->idx, c->p.unit_id, i,
			    c->addr);
	}
	if (c->ep != c && t == SIM_RTU && (c->p.baud != c->ep->p.baud ||
	    c->p.parity != c->ep->p.parity ||
	    c->p.data_bits != c->ep->p.data_bits ||
	    c->p.stop_bits != c->ep->p.stop_bits))
		fatalx("controller %d: %s is shared with controller %d but "
		    "the line settings differ", c->idx, c->addr, c->ep->idx);
	if (pers_attach(sim, c) == -1)
		exit(1);
	sim->ctls[sim->nctls++] = c;
}

static int
sim_signalfd(void)
{
	sigset_t	 set;
	int		 fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return (fd);
}

/*
 * Opens every controller and the control socket, then prints the lines
 * tests wait for: one per controller, "control HOST:PORT", "ready".
 * Returns the signalfd.
 */
static int
sim_start(struct sim *sim, const struct sim_opts *o)
{
	struct sim_ctl	*c;
	int		 sigfd, i;

	sigfd = sim_signalfd();
	if (o->events != NULL && evlog_open(o->events) == -1)
		exit(1);
	for (i = 0; i < sim->nctls; i++) {
		if (wire_open(sim->ctls[i]) == -1)
			fatalx("controller %d (%s): cannot start", i,
			    sim->ctls[i]->transport == SIM_TCP ? "tcp" : "rtu");
	}
	if (ctlsock_open(sim, o->chost, o->cport) == -1)
		fatalx("control socket: cannot start");

	for (i = 0; i < sim->nctls; i++) {
		c = sim->ctls[i];
		printf("controller %d %s %s\n", i,
		    c->transport == SIM_TCP ? "tcp" : "rtu", c->addr);
		if (c->p.pers != PERS_REGMAP)
			log_info("controller %d: %s %s, %s, unit %d", i,
			    c->transport == SIM_TCP ? "tcp" : "rtu", c->addr,
			    pers_name(c->p.pers), c->p.unit_id);
		else
			log_info("controller %d: %s %s, %d channels, max %.1f "
			    "kPa, unit %d, map version %d", i,
			    c->transport == SIM_TCP ? "tcp" : "rtu", c->addr,
			    c->p.channels, c->p.max_kpa, c->p.unit_id,
			    c->p.map_version);
	}
	ctlsock_print();
	printf("ready\n");
	fflush(stdout);
	return (sigfd);
}

static void
sim_dispatch(struct sim *sim, struct pollset *ps, int sigfd)
{
	struct signalfd_siginfo	 si;
	struct sim_client	*cl;
	size_t			 i;
	short			 re;

	for (i = 0; i < ps->n; i++) {
		if ((re = ps->pfd[i].revents) == 0)
			continue;
		switch (ps->ent[i].kind) {
		case POLL_SIGNAL:
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("exiting on signal %u", si.ssi_signo);
				sim->quitting = 1;
			}
			break;
		case POLL_CONTROL_LISTEN:
			ctlsock_accept();
			break;
		case POLL_CONTROL_CLIENT:
			ctlsock_read(ps->ent[i].ptr);
			break;
		case POLL_TCP_LISTEN:
			wire_accept(ps->ent[i].ptr);
			break;
		case POLL_TCP_CLIENT:
			cl = ps->ent[i].ptr;
			if (!cl->dead)
				wire_read(cl);
			break;
		case POLL_SERIAL:
			wire_serial(ps->ent[i].ptr, re);
			break;
		}
	}
}

static void
sim_loop(struct sim *sim, int sigfd)
{
	struct pollset	 ps = { NULL, NULL, 0, 0 };
	struct timespec	 ts;
	uint64_t	 now, next, t;
	int		 i;

	while (!sim->quitting) {
		ps.n = 0;
		pollset_add(&ps, sigfd, POLLIN, POLL_SIGNAL, NULL);
		ctlsock_poll(&ps);
		for (i = 0; i < sim->nctls; i++)
			wire_poll(sim->ctls[i], &ps);

		now = clock_mono_ns();
		next = now + (uint64_t)sim->tick_ms * 1000000ULL;
		for (i = 0; i < sim->nctls; i++) {
			if ((t = wire_next_ns(sim->ctls[i], now)) < next)
				next = t;
		}
		ts.tv_sec = (next - now) / 1000000000ULL;
		ts.tv_nsec = (next - now) % 1000000000ULL;
		if (ppoll(ps.pfd, ps.n, &ts, NULL) == -1) {
			if (errno == EINTR)
				continue;
			fatal("ppoll");
		}

		now = clock_mono_ns();
		for (i = 0; i < sim->nctls && !sim->fast; i++)
			pers_step(sim->ctls[i], now);
		sim_dispatch(sim, &ps, sigfd);
		now = clock_mono_ns();
		for (i = 0; i < sim->nctls; i++)
			wire_timers(sim->ctls[i], now);
		for (i = 0; i < sim->nctls; i++)
			wire_reap(sim->ctls[i]);
		ctlsock_reap();
	}
	pollset_free(&ps);
}

static void
sim_stop(struct sim *sim, int sigfd)
{
	int	 i;

	ctlsock_close();
	for (i = 0; i < sim->nctls; i++) {
		wire_close(sim->ctls[i]);
		free(sim->ctls[i]);
	}
	evlog_close();
	close(sigfd);
	log_info("exited");
}

int
main(int argc, char *argv[])
{
	struct sim	 sim = { .tick_ms = 5 };
	struct sim_opts	 o = { .cur = {
		.channels = 8, .max_kpa = 40.0, .tau_ms = 150.0,
		.vent_tau_ms = 40.0, .unit_id = 1,
		.map_version = REGMAP_VERSION,
		.watchdog_ms = 1000, .baud = 19200, .parity = 'N',
		.data_bits = 8, .stop_bits = 1, .pers = PERS_REGMAP,
		.dropout_ms = 200, .idle_ms = 0
	} };
	int		 sigfd;

	log_init("massaged-sim", 0);
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		fatal("setvbuf");
	if (net_split(SIM_DEFAULT_CONTROL, o.chost, sizeof(o.chost),
	    &o.cport) == -1)
		fatalx("bad default control address");
	sim_parse(&sim, &o, argc, argv);
	if (o.cmd_addr != NULL) {
		if (sim.nctls > 0 || o.events != NULL)
			fatalx("--control-cmd takes commands, not controllers");
		return (ctlcmd_run(o.chost, o.cport, argc - optind,
		    argv + optind));
	}
	if (optind != argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		sim_usage(stderr);
		exit(1);
	}
	if (sim.nctls == 0)
		sim_add(&sim, SIM_TCP, SIM_DEFAULT_TCP, &o.cur);

	sigfd = sim_start(&sim, &o);
	sim_loop(&sim, sigfd);
	sim_stop(&sim, sigfd);
	return (0);
}
