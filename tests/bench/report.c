/*
 * report.c: percentiles, the results table on stdout and the Markdown
 * report (docs/benchmarks.md): the table, the machine it ran on, and what
 * each figure means and how it is measured.
 */
#include <sys/utsname.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#include "bench.h"

#define REPORT_MAXROWS		48
#define REPORT_MAXNOTES		48

struct report_row {
	char	 figure[96];
	int	 measured;
	char	 value[48];
	char	 ref[64];
	char	 ratio[24];
	char	 goal[48];
	int	 met;		/* 1 yes, 0 no, -1 no goal or not measured */
};

static int	 report_cmp(const void *, const void *);
static void	 report_loadavg(char *, size_t);
static void	 report_cpu(char *, size_t);
static const char *report_met(const struct report_row *);

static char			 report_load0[64] = "unknown";
static struct report_row	 report_rows[REPORT_MAXROWS];
static int			 report_nrows;
static char			 report_notes[REPORT_MAXNOTES][640];
static int			 report_nnotes;

static const char report_method[] =
"## What each figure is and how it is measured\n"
"\n"
"Every figure is measured in the same run as its reference, against the\n"
"same simulator process, so a ratio holds on a noisy machine even when the\n"
"absolute numbers move. Wire-side times come from the simulator's event\n"
"log: one line per frame, stamped with CLOCK_MONOTONIC when the frame was\n"
"read, the clock the bench and the daemon read too. The bench starts every\n"
"process itself, in its own temporary directory, on ports picked by the\n"
"kernel, and stops each by its PID. Tables are generated: N controllers\n"
"(`c0`, `c1`, ...) of 8 zones each (channels 0 to 7, 30 kPa), a program of\n"
"one hour-long `swedish` step on every zone and a profile without\n"
"conditions. Where a figure says a session runs, it is started through the\n"
"API and its state is checked at the end of the window; a session that\n"
"ended early is reported in the notes with the daemon's reason.\n"
"\n"
"1. **Free-run ticks per second.** The daemon with `free_run = yes`\n"
"   ticks as soon as every controller answered the previous tick, so its\n"
"   rate is what the wire allows through the whole daemon path: tick,\n"
"   session and limits on the loop thread, hand-off to the link threads,\n"
"   libmodbus, and back through the event loop. A session runs. Rate:\n"
"   `massaged_ticks_total` from /metrics over the window. Reference: a bare\n"
"   libmodbus loop in the bench, one thread and connection per controller,\n"
"   each doing the same FC16 (CONTROL, HEARTBEAT, 8 setpoints) and FC04\n"
"   (STATUS, FAULT_CODE, 8 pressures) back to back for the same time\n"
"   against the same simulator, half of it just before the daemon is\n"
"   started on it and half just after it stopped (the mean of the two).\n"
"   With several controllers the reference is the mean rate of the bare\n"
"   threads, which run unsynchronised, while a daemon tick waits for its\n"
"   slowest controller; the simulator is one single-threaded process\n"
"   serving every controller, which bounds the scaling of both. The notes\n"
"   split the daemon's tick with its own round-trip histogram\n"
"   (`massaged_modbus_roundtrip_seconds`): time inside libmodbus, and the\n"
"   rest. Goal: at least 0.90 of the bare loop with one controller.\n"
"2. **Tick timing** at `tick_hz = 100` with 4 controllers x 8 zones and a\n"
"   session, for 30 s. Lateness is taken on the wire: the arrival time of\n"
"   every FC16 at the simulator, on the ideal 10 ms grid numbered by the\n"
"   HEARTBEAT the daemon changes once a tick, anchored per controller so\n"
"   its earliest arrival is 0 late (the constant cost of the hand-off and\n"
"   the loopback drops out, the jitter stays in); all controllers pooled.\n"
"   A missed tick is a gap of more than 1.5 periods between two FC16 of one\n"
"   controller (the worst controller is reported); the grid is anchored\n"
"   again after one. Because the earliest arrival is the anchor, a tick\n"
"   that fires early moves every lateness figure up by as much; the bench\n"
"   counts arrivals more than 0.5 ms before their controller's median\n"
"   grid position and gives the spread around the median in the notes.\n"
"   Cross-check: the daemon's own `massaged_tick_lateness_seconds`\n"
"   histogram and `massaged_missed_ticks_total` over the same window (a\n"
"   histogram gives a bucket bound, not a value; the daemon counts a tick\n"
"   that runs early as 0 late). Goals: p99 under 1 ms, no missed tick.\n"
"3. **Stop latency.** Same table and rate. An e-stop trial: reset (POST\n"
"   /api/v1/reset, then wait until the state is idle), start a session,\n"
"   wait until every controller received CONTROL = 1, wait a random 0 to\n"
"   10 ms so the stop falls anywhere in the tick, connect, read the clock\n"
"   right before write() of `POST /api/v1/estop`, then find `fc6 addr=0\n"
"   value=0` of every controller in the event log; the latency is the last\n"
"   of them. With one controller hung (`hang 3 -1` on the simulator's\n"
"   control socket: it reads requests and never answers), the latency is\n"
"   to the last healthy controller; no session can start with a controller\n"
"   down (and a reset is refused), so those trials e-stop the idle,\n"
"   latched table, which vents all the same. Reference: the round trip of\n"
"   one small Modbus transaction (FC04 of one register) from a bare\n"
"   libmodbus client to the same simulator in the same run. Client stop:\n"
"   `client_stop C on` on the control socket with C taken in turn, the\n"
"   clock read right before the command is written, latency to CONTROL = 0\n"
"   at every controller, then the switch released and the table reset; the\n"
"   daemon sees the switch in STATUS at its next FC04, so its goal is one\n"
"   tick plus one round trip (the reference). 200 trials each. Goals:\n"
"   e-stop p99 under 1 ms, with and without a hung controller.\n"
"4. **Cost.** CPU is the daemon's utime + stime (every thread) from\n"
"   /proc/PID/stat over a 10 s window divided by the window's wall time:\n"
"   percent of one core. Taken in the middle of the tick timing run (100\n"
"   Hz, 32 zones, session running) and, before it, with no session (the\n"
"   loop still polls every controller at 100 Hz: heartbeat, STATUS, the\n"
"   stop switch). The busy figure's reference is the simulator's own CPU\n"
"   over the same window, serving the same frames. RSS is VmRSS of\n"
"   /proc/PID/status at the end of that run. READY is the time from fork()\n"
"   to READY=1 arriving on a NOTIFY_SOCKET the bench binds and reads for\n"
"   the whole run (the daemon sends it once every controller was tried:\n"
"   proven, or found unreachable or unproven,\n"
"   and the API listens); the median of 5 starts. Goals: under 5 % CPU,\n"
"   near zero idle (taken as under 1 % of a core: no busy polling), under\n"
"   12 MB RSS (libpq and its libraries take about 2.5 MB), under 100 ms\n"
"   to READY besides the proof of every controller's safe state (its\n"
"   watchdog period and margin, about 600 ms here).\n"
"5. **RTU** over a socat pty pair (`pty,raw,echo=0`), the simulator on one\n"
"   end with `--baud 115200`, the daemon free-running on the other with\n"
"   `baud = 115200`, one controller of 8 and of 16 channels, a session\n"
"   running; rate from `massaged_ticks_total`. The wire limit is computed\n"
"   for 115200 baud at 11 bits a character (start, 8 data, parity or a\n"
"   second stop bit, stop), with N+2 registers a transaction: FC16 request\n"
"   9+2(N+2) bytes, its response 8; FC04 request 8, its response\n"
"   5+2(N+2). Silences counted: one of 1.75 ms after each of these four\n"
"   frames (the t3.5 end-of-frame gap Modbus RTU fixes above 19200 baud,\n"
"   which a receiver waits for before acting on a frame), so two a\n"
"   transaction and four a tick; no turnaround or processing time. A pty\n"
"   does not pace bytes: it moves a frame at memory speed whatever baud\n"
"   rate is set, and neither side waits for the silences, so the measured\n"
"   rate is that of the software path and far exceeds the wire limit; on\n"
"   a real line the limit applies.\n"
"7. **Described devices** (`kind = device`, docs/devices.md) beside the\n"
"   register map: one controller of 8 zones each, the WAGO 750-352\n"
"   example table (`config/examples/table-wago.ini`: the simulator's\n"
"   `wago-750-352` on TCP) against the register map on TCP, and the\n"
"   RS-485 example table (`table-rs485.ini`: `rs485-ao8` unit 1,\n"
"   `rs485-ai8` unit 2, `rs485-relay` unit 3 on one socat pty pair at\n"
"   115200 baud) against the register map on the same kind of line; a\n"
"   session runs in each. Free run: as figure 1 (`free_run = yes`, the\n"
"   simulator without an event log; a run whose session ended early is\n"
"   run again, once, since the loop then ticks faster without it). Then\n"
"   paced, at `tick_hz = 100` on TCP and 40 Hz on RTU (the most\n"
"   `massaged -n` lets both tables have at 115200 baud: the RS-485 table\n"
"   needs 22 ms of line time a tick, the register map 14 ms), over the\n"
"   CPU window: transactions a tick are the requests in the simulator's\n"
"   event log (the verification's read-backs included) over the ticks of\n"
"   `massaged_ticks_total`; CPU a tick is the time on a CPU of every\n"
"   thread of the daemon and of its routine workers\n"
"   (`/proc/PID/task/*/schedstat`, in ns: the 10 ms clock ticks of\n"
"   figure 4 are too coarse here) over those ticks, and the percent of\n"
"   one core over the window. The reference of each device figure is the\n"
"   register map on the same transport, measured in the same run. No\n"
"   goal: a report.\n"
"\n"
"The daemon's threads run under the default scheduling policy, as does\n"
"everything else here. On a machine with more runnable threads than CPUs\n"
"(the load average above; the simulator, the bench and the daemon's loop\n"
"and link threads share them) a thread can wait a scheduler slice, some\n"
"milliseconds, for a CPU: that shows in the p99 and max of figures 2 and\n"
"3, and the event log (kept with `-k`, with every trial's start in\n"
"`trials-*.txt`) tells it apart from the daemon waiting on purpose.\n"
"\n"
"The bench exits non-zero only when a figure could not be measured, never\n"
"because a goal was missed. `massaged-bench -q` runs shorter windows and\n"
"fewer trials, to try it; `-F free,table,rtu,worker,devices` picks\n"
"parts; `-k` keeps the temporary directory with every configuration, log\n"
"and event log.\n";

static int
report_cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* Nearest-rank percentile, q in [0, 1]; sorts v. */
double
pct(double *v, int n, double q)
{
	int	 k;

	if (n <= 0)
		return (0);
	qsort(v, n, sizeof(*v), report_cmp);
	k = (int)(q * n + 0.999999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return (v[k]);
}

static void
report_loadavg(char *buf, size_t len)
{
	float	 l1, l5, l15;
	FILE	*f;

	snprintf(buf, len, "unknown");
	if ((f = fopen("/proc/loadavg", "re")) == NULL)
		return;
	if (fscanf(f, "%f %f %f", &l1, &l5, &l15) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", l1, l5, l15);
	fclose(f);
}

/* Notes the machine's load before anything starts. */
void
report_start(void)
{
	report_loadavg(report_load0, sizeof(report_load0));
}

void
report_row(const char *figure, int measured, const char *value,
    const char *ref, const char *ratio, const char *goal, int met)
{
	struct report_row	*r;

	if (report_nrows == REPORT_MAXROWS)
		return;
	r = &report_rows[report_nrows++];
	snprintf(r->figure, sizeof(r->figure), "%s", figure);
	r->measured = measured;
	snprintf(r->value, sizeof(r->value), "%s", measured ? value : "n/a");
	snprintf(r->ref, sizeof(r->ref), "%s", ref != NULL ? ref : "");
	snprintf(r->ratio, sizeof(r->ratio), "%s", ratio != NULL &&
	    measured ? ratio : "");
	snprintf(r->goal, sizeof(r->goal), "%s", goal != NULL ? goal : "");
	r->met = measured ? met : -1;
	if (measured)
		printf("  %-44s %s\n", figure, value);
	else
		printf("  %-44s NOT MEASURED\n", figure);
	fflush(stdout);
}

void
report_note(const char *fmt, ...)
{
	va_list	 ap;

	if (report_nnotes == REPORT_MAXNOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(report_notes[report_nnotes], sizeof(report_notes[0]), fmt,
	    ap);
	va_end(ap);
	printf("    note: %s\n", report_notes[report_nnotes]);
	report_nnotes++;
}

int
report_missing(void)
{
	int	 i, n = 0;

	for (i = 0; i < report_nrows; i++)
		if (!report_rows[i].measured)
			n++;
	return (n);
}

static const char *
report_met(const struct report_row *r)
{
	if (!r->measured)
		return ("not measured");
	return (r->met == 1 ? "yes" : r->met == 0 ? "NO" : "-");
}

void
report_print(FILE *f)
{
	int	 w[6] = { 6, 5, 9, 5, 4, 4 }, i, l;

	for (i = 0; i < report_nrows; i++) {
		const struct report_row *r = &report_rows[i];

		if ((l = (int)strlen(r->figure)) > w[0])
			w[0] = l;
		if ((l = (int)strlen(r->value)) > w[1])
			w[1] = l;
		if ((l = (int)strlen(r->ref)) > w[2])
			w[2] = l;
		if ((l = (int)strlen(r->ratio)) > w[3])
			w[3] = l;
		if ((l = (int)strlen(r->goal)) > w[4])
			w[4] = l;
	}
	fprintf(f, "\n%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], "figure",
	    w[1], "value", w[2], "reference", w[3], "ratio", w[4], "goal",
	    "met?");
	for (i = 0; i < report_nrows; i++) {
		const struct report_row *r = &report_rows[i];

		fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0],
		    r->figure, w[1], r->value, w[2], r->ref, w[3], r->ratio,
		    w[4], r->goal, report_met(r));
	}
	fprintf(f, "\n");
}

static void
report_cpu(char *buf, size_t len)
{
	char	 line[512], *p;
	FILE	*f;

	snprintf(buf, len, "unknown");
	if ((f = fopen("/proc/cpuinfo", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "model name", 10) == 0 &&
		    (p = strchr(line, ':')) != NULL) {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, len, "%s", p);
			break;
		}
	fclose(f);
}

/* The Markdown report; flags: the build's compiler flags. */
int
report_markdown(const char *path, const char *flags, int quick,
    const char *version)
{
	struct utsname	 u;
	char		 cpu[256], date[64], tmp[PATH_MAX + 8], load1[64];
	time_t		 now = time(NULL);
	FILE		*f;
	int		 i;

	report_cpu(cpu, sizeof(cpu));
	report_loadavg(load1, sizeof(load1));
	if (uname(&u) == -1)
		memset(&u, 0, sizeof(u));
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "we")) == NULL) {
		warnx_("%s: %s", tmp, strerror(errno));
		return (-1);
	}
	fprintf(f, "# Benchmarks\n\n"
	    "The latest `make bench` run: written by `tests/bench/` "
	    "(massaged-bench), not by hand; run `make bench` to refresh it. "
	    "`make bench` builds with `OPT=-O2` into `build/bench`, starts the "
	    "simulator and the daemon itself and is never part of `make "
	    "check`.%s\n\n", quick ? " **This was a quick run (-q): shorter "
	    "windows and fewer trials, not for the record.**" : "");
	fprintf(f, "## Machine\n\n"
	    "| | |\n|---|---|\n"
	    "| CPU | %s |\n| cores | %ld online |\n| kernel | %s %s %s |\n"
	    "| date | %s |\n| load average (1, 5, 15 min) | before: %s; "
	    "after: %s |\n| daemon | %s |\n| build flags | `%s` |\n"
	    "| compiler | %s |\n| libmodbus | %s |\n\n", cpu,
	    sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine,
	    date, report_load0, load1, version, flags,
#ifdef __VERSION__
	    "cc " __VERSION__,
#else
	    "unknown",
#endif
	    LIBMODBUS_VERSION_STRING);
	fprintf(f, "## Results\n\n"
	    "| Figure | Value | Reference | Ratio | Goal | Met? |\n"
	    "|---|---|---|---|---|---|\n");
	for (i = 0; i < report_nrows; i++) {
		const struct report_row *r = &report_rows[i];

		fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", r->figure,
		    r->value, r->ref, r->ratio, r->goal, report_met(r));
	}
	if (report_nnotes > 0) {
		fprintf(f, "\nNotes from this run:\n\n");
		for (i = 0; i < report_nnotes; i++)
			fprintf(f, "- %s\n", report_notes[i]);
	}
	fprintf(f, "\n%s", report_method);
	if (fclose(f) != 0 || rename(tmp, path) == -1) {
		warnx_("%s: %s", path, strerror(errno));
		unlink(tmp);
		return (-1);
	}
	return (0);
}
