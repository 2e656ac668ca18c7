/*
 * ctlsock.c: the simulator's control socket, through which tests and
 * demos open the e-stop circuit, press the client's stop switch, inject
 * link, sensor, regulator and relay faults and read a controller's whole
 * state.
 *
 * A TCP line protocol: one command per line, one answer line per command,
 * starting "ok" or "err <reason>". Several clients may be connected.
 * Commands act through wire.c, pers.c and plant.c on the controllers of
 * the struct sim given to ctlsock_open(); a command a controller's
 * personality has nothing for is refused for it (skipped for "all").
 * "quit" only sets its flag, which the loop in main.c reads. The client,
 * --control-cmd, is ctlcmd.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "parse.h"

#define CONTROL_LINE_MAX	512
#define CONTROL_ARGS_MAX	8
#define CONTROL_DEV_JSON_MAX	4096	/* a device's "get" */

struct ctlsock_client {
	TAILQ_ENTRY(ctlsock_client) entry;
	int			 fd;
	int			 dead;
	char			 buf[CONTROL_LINE_MAX];
	size_t			 len;
};

struct ctlsock_buf {
	char			*s;
	size_t			 len;
	size_t			 cap;
	int			 failed;
};

struct ctlsock_cmd {
	const char		*name;
	int			 argc;		/* arguments after the name */
	const char		*usage;
	int			(*fn)(struct ctlsock_client *, int, char **);
};

static void	ctlsock_kill(struct ctlsock_client *);
static void	ctlsock_exec(struct ctlsock_client *, char *);
static void	ctlsock_reply(struct ctlsock_client *, const char *, ...)
		    LOG_PRINTF(2, 3);
static void	ctlsock_bprintf(struct ctlsock_buf *, const char *, ...)
		    LOG_PRINTF(2, 3);
static void	ctlsock_vbprintf(struct ctlsock_buf *, const char *, va_list)
		    LOG_PRINTF(2, 0);
static void	ctlsock_json(struct ctlsock_buf *, struct sim_ctl *);
static void	ctlsock_json_str(struct ctlsock_buf *, const char *);
static int	ctlsock_which(struct ctlsock_client *, const char *, int *,
		    int *);
static int	ctlsock_onoff(struct ctlsock_client *, const char *, int *);
static int	ctlsock_can(struct ctlsock_client *, const char *, int, int,
		    int);
static int	ctlsock_name_is(const char *, const char *);
static void	ctlsock_event(struct sim_ctl *, int, char **);
static int	ctlsock_cmd_estop(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_client_stop(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_drop(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_refuse(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_powercycle(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_hang(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_delay(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_exception(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_badreply(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_identity(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_stick(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_overpressure(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_sensor_fault(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_freeze(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_relay_weld(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_watchdog_broken(struct ctlsock_client *, int,
		    char **);
static int	ctlsock_cmd_unit(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_get(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_quit(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_ping(struct ctlsock_client *, int, char **);
static int	ctlsock_cmd_help(struct ctlsock_client *, int, char **);

static const struct ctlsock_cmd ctlsock_cmds[] = {
	{ "estop", 2, "estop C on|off", ctlsock_cmd_estop },
	{ "client_stop", 2, "client_stop C on|off", ctlsock_cmd_client_stop },
	{ "drop", 1, "drop C", ctlsock_cmd_drop },
	{ "refuse", 2, "refuse C on|off", ctlsock_cmd_refuse },
	{ "hang", 2, "hang C MS", ctlsock_cmd_hang },
	{ "delay", 2, "delay C MS", ctlsock_cmd_delay },
	{ "exception", 2, "exception C CODE|off", ctlsock_cmd_exception },
	{ "stick", 3, "stick C CH|all on|off", ctlsock_cmd_stick },
	{ "overpressure", 2, "overpressure C CH|all",
	    ctlsock_cmd_overpressure },
	{ "sensor_fault", 2, "sensor_fault C on|off",
	    ctlsock_cmd_sensor_fault },
	{ "freeze", 3, "freeze C CH|all on|off", ctlsock_cmd_freeze },
	{ "relay_weld", 2, "relay_weld C on|off", ctlsock_cmd_relay_weld },
	{ "watchdog_broken", 2, "watchdog_broken C on|off",
	    ctlsock_cmd_watchdog_broken },
	{ "unit", 2, "unit C ID|off", ctlsock_cmd_unit },
	{ "powercycle", 1, "powercycle C", ctlsock_cmd_powercycle },
	{ "badreply", 2, "badreply C unit|proto|off", ctlsock_cmd_badreply },
	{ "identity", 3, "identity C VERSION MAX_KPA", ctlsock_cmd_identity },
	{ "get", 1, "get C", ctlsock_cmd_get },
	{ "quit", 0, "quit", ctlsock_cmd_quit },
	{ "ping", 0, "ping", ctlsock_cmd_ping },
	{ "help", 0, "help", ctlsock_cmd_help },
};
#define CONTROL_NCMDS	(sizeof(ctlsock_cmds) / sizeof(ctlsock_cmds[0]))

static struct sim *ctlsock_sim;	/* the controllers commands act on */
static int	ctlsock_fd = -1;
static char	ctlsock_addr[160];
static TAILQ_HEAD(, ctlsock_client) ctlsock_clients =
    TAILQ_HEAD_INITIALIZER(ctlsock_clients);

int
ctlsock_open(struct sim *sim, const char *host, int port)
{
	ctlsock_sim = sim;
	if ((ctlsock_fd = net_listen(host, port, &port)) == -1)
		return (-1);
	net_hostport(ctlsock_addr, sizeof(ctlsock_addr), host, port);
	return (0);
}

void
ctlsock_print(void)
{
	printf("control %s\n", ctlsock_addr);
}

void
ctlsock_close(void)
{
	struct ctlsock_client	*cl;

	TAILQ_FOREACH(cl, &ctlsock_clients, entry)
		ctlsock_kill(cl);
	ctlsock_reap();
	if (ctlsock_fd != -1)
		close(ctlsock_fd);
	ctlsock_fd = -1;
}

void
ctlsock_poll(struct pollset *ps)
{
	struct ctlsock_client	*cl;

	if (ctlsock_fd != -1)
		pollset_add(ps, ctlsock_fd, POLLIN, POLL_CONTROL_LISTEN, NULL);
	TAILQ_FOREACH(cl, &ctlsock_clients, entry) {
		if (!cl->dead)
			pollset_add(ps, cl->fd, POLLIN, POLL_CONTROL_CLIENT,
			    cl);
	}
}

void
ctlsock_accept(void)
{
	struct ctlsock_client	*cl;
	struct timeval		 tv = { 1, 0 };
	int			 fd;

	fd = accept4(ctlsock_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	/* Answers are written blocking, but never for more than 1 s. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		log_warn("control: calloc");
		close(fd);
		return;
	}
	cl->fd = fd;
	TAILQ_INSERT_TAIL(&ctlsock_clients, cl, entry);
	log_debug("control: client connected");
}

static void
ctlsock_kill(struct ctlsock_client *cl)
{
	cl->dead = 1;
}

void
ctlsock_reap(void)
{
	struct ctlsock_client	*cl, *next;

	for (cl = TAILQ_FIRST(&ctlsock_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (!cl->dead)
			continue;
		TAILQ_REMOVE(&ctlsock_clients, cl, entry);
		close(cl->fd);
		free(cl);
	}
}

void
ctlsock_read(void *arg)
{
	struct ctlsock_client	*cl = arg;
	ssize_t			 n;
	char			*nl, line[CONTROL_LINE_MAX];
	size_t			 ll;

	n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len,
	    MSG_DONTWAIT);
	if (n == -1) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			ctlsock_kill(cl);
		return;
	}
	if (n == 0) {
		ctlsock_kill(cl);
		return;
	}
	cl->len += n;
	while (!cl->dead && (nl = memchr(cl->buf, '\n', cl->len)) != NULL) {
		ll = nl - cl->buf;
		memcpy(line, cl->buf, ll);
		line[ll] = '\0';
		if (ll > 0 && line[ll - 1] == '\r')
			line[ll - 1] = '\0';
		memmove(cl->buf, nl + 1, cl->len - ll - 1);
		cl->len -= ll + 1;
		ctlsock_exec(cl, line);
	}
	if (!cl->dead && cl->len == sizeof(cl->buf)) {
		ctlsock_reply(cl, "err line too long");
		ctlsock_kill(cl);
	}
}

static void
ctlsock_reply(struct ctlsock_client *cl, const char *fmt, ...)
{
	struct ctlsock_buf	 b = { NULL, 0, 0, 0 };
	va_list			 ap;
	ssize_t			 n;
	size_t			 off = 0;

	va_start(ap, fmt);
	ctlsock_vbprintf(&b, fmt, ap);
	va_end(ap);
	ctlsock_bprintf(&b, "\n");
	if (b.failed) {
		free(b.s);
		ctlsock_kill(cl);
		return;
	}
	while (off < b.len) {
		n = send(cl->fd, b.s + off, b.len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			ctlsock_kill(cl);
			break;
		}
		off += n;
	}
	free(b.s);
}

/* Appends to a growing buffer; on failure marks it failed. */
static void
ctlsock_vbprintf(struct ctlsock_buf *b, const char *fmt, va_list ap)
{
	va_list	 aq;
	char	*s;
	size_t	 cap;
	int	 n;

	if (b->failed)
		return;
	va_copy(aq, ap);
	n = vsnprintf(b->s != NULL ? b->s + b->len : NULL,
	    b->s != NULL ? b->cap - b->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if (cap < 256)
			cap = 256;
		if ((s = realloc(b->s, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += n;
}

static void
ctlsock_bprintf(struct ctlsock_buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	ctlsock_vbprintf(b, fmt, ap);
	va_end(ap);
}

static void
ctlsock_exec(struct ctlsock_client *cl, char *line)
{
	const struct ctlsock_cmd	*cmd = NULL;
	char				*argv[CONTROL_ARGS_MAX], *tok, *save;
	size_t				 i;
	int				 argc = 0;

	for (tok = strtok_r(line, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (argc == CONTROL_ARGS_MAX) {
			ctlsock_reply(cl, "err too many arguments");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		ctlsock_reply(cl, "err empty command");
		return;
	}
	for (i = 0; i < CONTROL_NCMDS; i++) {
		if (ctlsock_name_is(argv[0], ctlsock_cmds[i].name)) {
			cmd = &ctlsock_cmds[i];
			break;
		}
	}
	if (cmd == NULL) {
		ctlsock_reply(cl, "err unknown command '%s' (try help)",
		    argv[0]);
		return;
	}
	if (argc - 1 != cmd->argc) {
		ctlsock_reply(cl, "err usage: %s", cmd->usage);
		return;
	}
	log_debug("control: %s", cmd->name);
	cmd->fn(cl, argc, argv);
}

/* Whether word names the command name ('-' for '_' is taken too:
 * "relay-weld" is "relay_weld"). */
static int
ctlsock_name_is(const char *word, const char *name)
{
	for (; *word != '\0' && *name != '\0'; word++, name++) {
		if (*word != *name && !(*word == '-' && *name == '_'))
			return (0);
	}
	return (*word == *name);
}

/*
 * Whether the controllers [from, to) have what a command needs (what,
 * PERS_CAN_*): a single controller whose personality has not is an error
 * (answered here), as is "all" when none has; "all" skips those that have
 * not (each command's loop asks pers_can()).
 */
static int
ctlsock_can(struct ctlsock_client *cl, const char *cmd, int from, int to,
    int what)
{
	const char	*need;
	int		 i, n = 0;

	for (i = from; i < to; i++)
		n += pers_can(ctlsock_sim->ctls[i], what);
	if (n > 0)
		return (0);
	need = what == PERS_CAN_INPUTS ? "e-stop circuit and stop switch" :
	    what == PERS_CAN_CHANNELS ? "regulated channels" :
	    what == PERS_CAN_SENSORS ? "pressure sensors" :
	    what == PERS_CAN_RELAY ? "safety relay" :
	    "register map (the regmap personality's)";
	if (to - from == 1)
		ctlsock_reply(cl, "err %s: controller %d (%s) has no %s", cmd,
		    from, pers_name(ctlsock_sim->ctls[from]->p.pers), need);
	else
		ctlsock_reply(cl, "err %s: no controller has a %s", cmd, need);
	return (-1);
}

/* Controller argument: an index or "all"; sets [*from, *to). */
static int
ctlsock_which(struct ctlsock_client *cl, const char *s, int *from, int *to)
{
	long	 v;

	if (strcmp(s, "all") == 0) {
		*from = 0;
		*to = ctlsock_sim->nctls;
		return (0);
	}
	if (parse_int(s, 0, ctlsock_sim->nctls - 1, &v) == -1) {
		ctlsock_reply(cl, "err bad controller '%s' (expected 0 to %d "
		    "or all)", s, ctlsock_sim->nctls - 1);
		return (-1);
	}
	*from = (int)v;
	*to = (int)v + 1;
	return (0);
}

static int
ctlsock_onoff(struct ctlsock_client *cl, const char *s, int *out)
{
	if (parse_bool(s, out) == -1) {
		ctlsock_reply(cl, "err bad value '%s' (expected on or off)", s);
		return (-1);
	}
	return (0);
}

/* Logs an injected fault: "ctl <command> <arguments after C>". */
static void
ctlsock_event(struct sim_ctl *c, int argc, char **argv)
{
	char	 buf[256];
	size_t	 o;
	int	 i;

	o = snprintf(buf, sizeof(buf), "%s", argv[0]);
	for (i = 2; i < argc && o < sizeof(buf); i++)
		o += snprintf(buf + o, sizeof(buf) - o, " %s", argv[i]);
	evlog_emit(c, clock_mono_ns(), "ctl %s", buf);
}

/*
 * "CMD C on|off": sets one input of the plant (the e-stop circuit, the
 * client's switch, a sensor fault), with the physics brought up to date
 * first so the change takes effect at this moment.
 */
static int
ctlsock_set_input(struct ctlsock_client *cl, int argc, char **argv,
    size_t field, int what)
{
	struct sim_ctl	*c;
	int		 from, to, on, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1 ||
	    ctlsock_onoff(cl, argv[2], &on) == -1 ||
	    ctlsock_can(cl, argv[0], from, to, what) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		if (!pers_can(c, what))
			continue;
		ctlsock_event(c, argc, argv);
		pers_step(c, clock_mono_ns());
		*(int *)(void *)((char *)c + field) = on;
		pers_step(c, clock_mono_ns());
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_estop(struct ctlsock_client *cl, int argc, char **argv)
{
	return (ctlsock_set_input(cl, argc, argv,
	    offsetof(struct sim_ctl, estop), PERS_CAN_INPUTS));
}

static int
ctlsock_cmd_client_stop(struct ctlsock_client *cl, int argc, char **argv)
{
	return (ctlsock_set_input(cl, argc, argv,
	    offsetof(struct sim_ctl, client_stop), PERS_CAN_INPUTS));
}

static int
ctlsock_cmd_drop(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl	*c;
	int		 from, to, i, n = 0;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		ctlsock_event(c, argc, argv);
		n += wire_drop(c, "drop");
	}
	ctlsock_reply(cl, "ok dropped=%d", n);
	return (0);
}

/* Power lost and back at once, behind a live link: the connections stay
 * (as behind a gateway), the registers are at their power-up values (a
 * WAGO coupler's watchdog off). */
static int
ctlsock_cmd_powercycle(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl		*c;
	int			 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		ctlsock_event(c, argc, argv);
		wire_flush(c);
		pers_powercycle(c, clock_mono_ns());
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_refuse(struct ctlsock_client *cl, int argc, char **argv)
{
	int	 from, to, on, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1 ||
	    ctlsock_onoff(cl, argv[2], &on) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		ctlsock_sim->ctls[i]->refuse = on;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_hang(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl	*c;
	long		 ms;
	int		 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (parse_int(argv[2], -1, 86400000, &ms) == -1) {
		ctlsock_reply(cl, "err bad time '%s' (expected -1 for ever, "
		    "0 to resume, or milliseconds)", argv[2]);
		return (-1);
	}
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		ctlsock_event(c, argc, argv);
		c->hang_forever = ms == -1;
		c->hang_until_ns = ms > 0 ?
		    clock_mono_ns() + (uint64_t)ms * 1000000ULL : 0;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_delay(struct ctlsock_client *cl, int argc, char **argv)
{
	long	 ms;
	int	 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (parse_int(argv[2], 0, 600000, &ms) == -1) {
		ctlsock_reply(cl, "err bad time '%s' (expected 0 to 600000 "
		    "ms)", argv[2]);
		return (-1);
	}
	for (i = from; i < to; i++) {
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		ctlsock_sim->ctls[i]->delay_ms = (int)ms;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_exception(struct ctlsock_client *cl, int argc, char **argv)
{
	long	 code = 0;
	int	 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (strcmp(argv[2], "off") != 0 &&
	    parse_int(argv[2], 0, MODBUS_EXCEPTION_MAX - 1, &code) == -1) {
		ctlsock_reply(cl, "err bad exception '%s' (expected 1 to %d "
		    "or off)", argv[2], MODBUS_EXCEPTION_MAX - 1);
		return (-1);
	}
	for (i = from; i < to; i++) {
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		ctlsock_sim->ctls[i]->exc_code = (int)code;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

/* MAP_VERSION and MAX_PRESSURE as a swapped board would report them (the
 * behaviour stays that of the original). */
static int
ctlsock_cmd_identity(struct ctlsock_client *cl, int argc, char **argv)
{
	double	 kpa;
	long	 v;
	int	 from, to, i;
	uint16_t *in;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (parse_int(argv[2], 0, 65535, &v) == -1 ||
	    parse_double(argv[3], 0.1, 5000.0, &kpa) == -1) {
		ctlsock_reply(cl, "err expected VERSION 0..65535 and MAX_KPA "
		    "0.1..5000");
		return (-1);
	}
	if (ctlsock_can(cl, argv[0], from, to, PERS_CAN_REGMAP) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		if (!pers_can(ctlsock_sim->ctls[i], PERS_CAN_REGMAP))
			continue;
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		in = ctlsock_sim->ctls[i]->map->tab_input_registers;
		in[REGMAP_IR_MAP_VERSION] = (uint16_t)v;
		in[REGMAP_IR_MAX_PRESSURE] = regmap_kpa_to_reg(kpa);
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

/* TCP replies with another unit id or protocol id than the request's. */
static int
ctlsock_cmd_badreply(struct ctlsock_client *cl, int argc, char **argv)
{
	int	 from, to, i, mode;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (strcmp(argv[2], "unit") == 0)
		mode = SIM_BAD_UNIT;
	else if (strcmp(argv[2], "proto") == 0)
		mode = SIM_BAD_PROTO;
	else if (strcmp(argv[2], "off") == 0)
		mode = 0;
	else {
		ctlsock_reply(cl, "err bad mode '%s' (expected unit, proto or "
		    "off)", argv[2]);
		return (-1);
	}
	for (i = from; i < to; i++) {
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		ctlsock_sim->ctls[i]->bad_reply = mode;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

/* A channel argument ("all" is -1), valid on controllers from..to-1. */
static int
ctlsock_channel(struct ctlsock_client *cl, const char *arg, int from, int to,
    long *ch)
{
	struct sim_ctl	*c;
	int		 i;

	*ch = -1;
	if (strcmp(arg, "all") == 0)
		return (0);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		if (parse_int(arg, 0, c->p.channels - 1, ch) == -1) {
			ctlsock_reply(cl, "err bad channel '%s' (controller "
			    "%d: expected 0 to %d or all)", arg, i,
			    c->p.channels - 1);
			return (-1);
		}
	}
	return (0);
}

static int
ctlsock_cmd_stick(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl	*c;
	long		 ch = -1;
	int		 from, to, on, i, j;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1 ||
	    ctlsock_onoff(cl, argv[3], &on) == -1)
		return (-1);
	if (ctlsock_channel(cl, argv[2], from, to, &ch) == -1 ||
	    ctlsock_can(cl, argv[0], from, to, PERS_CAN_CHANNELS) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		if (!pers_can(c, PERS_CAN_CHANNELS))
			continue;
		ctlsock_event(c, argc, argv);
		pers_step(c, clock_mono_ns());
		for (j = 0; j < c->p.channels; j++) {
			if (ch == -1 || ch == j)
				c->stuck[j] = on;
		}
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_overpressure(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl	*c;
	long		 ch = -1;
	int		 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (ctlsock_channel(cl, argv[2], from, to, &ch) == -1 ||
	    ctlsock_can(cl, argv[0], from, to, PERS_CAN_CHANNELS) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		if (!pers_can(c, PERS_CAN_CHANNELS))
			continue;
		ctlsock_event(c, argc, argv);
		pers_step(c, clock_mono_ns());
		plant_overpressure(c, (int)ch);
		pers_step(c, clock_mono_ns());
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static int
ctlsock_cmd_sensor_fault(struct ctlsock_client *cl, int argc, char **argv)
{
	return (ctlsock_set_input(cl, argc, argv,
	    offsetof(struct sim_ctl, sensor_fault), PERS_CAN_REGMAP));
}

/* The sensor reading of a channel (regmap: its PRESSURE register; WAGO,
 * AI module: its input register) stays where it is; the pressure goes on. */
static int
ctlsock_cmd_freeze(struct ctlsock_client *cl, int argc, char **argv)
{
	struct sim_ctl	*c;
	long		 ch = -1;
	int		 from, to, on, i, j;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1 ||
	    ctlsock_onoff(cl, argv[3], &on) == -1 ||
	    ctlsock_channel(cl, argv[2], from, to, &ch) == -1 ||
	    ctlsock_can(cl, argv[0], from, to, PERS_CAN_SENSORS) == -1)
		return (-1);
	for (i = from; i < to; i++) {
		c = ctlsock_sim->ctls[i];
		if (!pers_can(c, PERS_CAN_SENSORS))
			continue;
		ctlsock_event(c, argc, argv);
		pers_step(c, clock_mono_ns());
		for (j = 0; j < c->p.channels; j++) {
			if (ch == -1 || ch == j)
				c->frozen[j] = on;
		}
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

/* The safety relay's contacts weld closed: it stays in (or comes in) and
 * its feedback contact never drops, whatever coil 0 does. */
static int
ctlsock_cmd_relay_weld(struct ctlsock_client *cl, int argc, char **argv)
{
	return (ctlsock_set_input(cl, argc, argv,
	    offsetof(struct sim_ctl, welded), PERS_CAN_RELAY));
}

/* The watchdog says it runs and never trips: a device that lies. */
static int
ctlsock_cmd_watchdog_broken(struct ctlsock_client *cl, int argc, char **argv)
{
	return (ctlsock_set_input(cl, argc, argv,
	    offsetof(struct sim_ctl, wd_broken), PERS_CAN_WATCHDOG));
}

/* The controller answers on unit id ID only, also on a TCP port of its
 * own (which otherwise answers any); "off" goes back to --unit-id. */
static int
ctlsock_cmd_unit(struct ctlsock_client *cl, int argc, char **argv)
{
	long	 id = 0;
	int	 from, to, i;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	if (strcmp(argv[2], "off") != 0 && parse_int(argv[2], 1, 247, &id) ==
	    -1) {
		ctlsock_reply(cl, "err bad unit id '%s' (expected 1 to 247 or "
		    "off)", argv[2]);
		return (-1);
	}
	for (i = from; i < to; i++) {
		ctlsock_event(ctlsock_sim->ctls[i], argc, argv);
		ctlsock_sim->ctls[i]->wrong_unit = (int)id;
	}
	ctlsock_reply(cl, "ok");
	return (0);
}

static void
ctlsock_json_str(struct ctlsock_buf *b, const char *s)
{
	ctlsock_bprintf(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			ctlsock_bprintf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			ctlsock_bprintf(b, "\\u%04x", (unsigned char)*s);
		else
			ctlsock_bprintf(b, "%c", *s);
	}
	ctlsock_bprintf(b, "\"");
}

/* A controller's whole state as one line of JSON. */
static void
ctlsock_json(struct ctlsock_buf *b, struct sim_ctl *c)
{
	const uint16_t	*hr, *in;
	char		 dev[CONTROL_DEV_JSON_MAX];
	int		 i;

	if (c->p.pers != PERS_REGMAP) {
		if (pers_json(c, dev, sizeof(dev)) >= (int)sizeof(dev)) {
			b->failed = 1;
			return;
		}
		ctlsock_bprintf(b, "%s,\"clients\":%d,\"requests\":%llu,"
		    "\"writes\":%llu,\"exceptions\":%llu,\"refuse\":%s,"
		    "\"hang\":%s,\"delay_ms\":%d,\"exception\":%d}", dev,
		    c->nclients, (unsigned long long)c->requests,
		    (unsigned long long)c->writes,
		    (unsigned long long)c->exceptions,
		    c->refuse ? "true" : "false",
		    c->hang_forever || c->hang_until_ns > clock_mono_ns() ?
		    "true" : "false", c->delay_ms, c->exc_code);
		return;
	}
	hr = c->map->tab_registers;
	in = c->map->tab_input_registers;
	plant_step(c, clock_mono_ns());
	ctlsock_bprintf(b, "{\"controller\":%d,\"transport\":\"%s\","
	    "\"address\":", c->idx, c->transport == SIM_TCP ? "tcp" : "rtu");
	ctlsock_json_str(b, c->addr);
	ctlsock_bprintf(b, ",\"unit_id\":%d,\"channels\":%d,\"max_kpa\":%.1f,"
	    "\"map_version\":%d,\"control\":%u,\"heartbeat\":%u,"
	    "\"watchdog_ms\":%u,\"status\":%u,\"fault_code\":%u,"
	    "\"active\":%s,\"estop\":%s,\"client_stop\":%s,"
	    "\"sensor_fault\":%s,\"setpoints\":[",
	    c->p.unit_id, c->p.channels, regmap_reg_to_kpa(c->max_p),
	    (unsigned)in[REGMAP_IR_MAP_VERSION],
	    (unsigned)hr[REGMAP_HR_CONTROL],
	    (unsigned)hr[REGMAP_HR_HEARTBEAT],
	    (unsigned)hr[REGMAP_HR_WATCHDOG_MS],
	    (unsigned)in[REGMAP_IR_STATUS],
	    (unsigned)in[REGMAP_IR_FAULT_CODE],
	    c->active ? "true" : "false", c->estop ? "true" : "false",
	    c->client_stop ? "true" : "false",
	    c->sensor_fault ? "true" : "false");
	for (i = 0; i < c->p.channels; i++)
		ctlsock_bprintf(b, "%s%.1f", i ? "," : "",
		    regmap_reg_to_kpa(hr[REGMAP_HR_SETPOINT + i]));
	ctlsock_bprintf(b, "],\"pressures\":[");
	for (i = 0; i < c->p.channels; i++)
		ctlsock_bprintf(b, "%s%.1f", i ? "," : "",
		    regmap_reg_to_kpa(in[REGMAP_IR_PRESSURE + i]));
	ctlsock_bprintf(b, "],\"stuck\":[");
	for (i = 0; i < c->p.channels; i++)
		ctlsock_bprintf(b, "%s%s", i ? "," : "",
		    c->stuck[i] ? "true" : "false");
	ctlsock_bprintf(b, "],\"clients\":%d,\"requests\":%llu,"
	    "\"writes\":%llu,\"exceptions\":%llu,\"refuse\":%s,"
	    "\"hang\":%s,\"delay_ms\":%d,\"exception\":%d,\"owner\":%u}",
	    c->nclients, (unsigned long long)c->requests,
	    (unsigned long long)c->writes,
	    (unsigned long long)c->exceptions, c->refuse ? "true" : "false",
	    c->hang_forever || c->hang_until_ns > clock_mono_ns() ?
	    "true" : "false", c->delay_ms, c->exc_code, c->owner);
}

static int
ctlsock_cmd_get(struct ctlsock_client *cl, int argc, char **argv)
{
	struct ctlsock_buf	 b = { NULL, 0, 0, 0 };
	int			 from, to, i, all;

	if (ctlsock_which(cl, argv[1], &from, &to) == -1)
		return (-1);
	all = strcmp(argv[1], "all") == 0;
	if (all)
		ctlsock_bprintf(&b, "[");
	for (i = from; i < to; i++) {
		if (i > from)
			ctlsock_bprintf(&b, ",");
		ctlsock_json(&b, ctlsock_sim->ctls[i]);
	}
	if (all)
		ctlsock_bprintf(&b, "]");
	if (b.failed)
		ctlsock_reply(cl, "err out of memory");
	else
		ctlsock_reply(cl, "ok %s", b.s);
	free(b.s);
	return (0);
}

static int
ctlsock_cmd_quit(struct ctlsock_client *cl, int argc, char **argv)
{
	ctlsock_reply(cl, "ok bye");
	ctlsock_sim->quitting = 1;
	return (0);
}

static int
ctlsock_cmd_ping(struct ctlsock_client *cl, int argc, char **argv)
{
	ctlsock_reply(cl, "ok pong");
	return (0);
}

static int
ctlsock_cmd_help(struct ctlsock_client *cl, int argc, char **argv)
{
	struct ctlsock_buf	 b = { NULL, 0, 0, 0 };
	size_t			 i;

	for (i = 0; i < CONTROL_NCMDS; i++)
		ctlsock_bprintf(&b, "%s%s", i ? "; " : "", ctlsock_cmds[i].usage);
	ctlsock_reply(cl, "ok %s", b.failed ? "" : b.s);
	free(b.s);
	return (0);
}
