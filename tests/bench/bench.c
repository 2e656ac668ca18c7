/*
 * bench.c: massaged-bench, the figures behind "make bench".
 *
 *	massaged-bench [-hkq] [-b builddir] [-F parts] [-o report.md]
 *
 * Starts the table simulator and the daemon (both from builddir), measures
 * control loop overhead against a bare libmodbus loop, tick timing, stop
 * latency, cost and RTU throughput, prints a table and writes the Markdown
 * report. Each figure is measured in the same run as its reference. Exits
 * 1 only if a figure could not be measured, never because a goal was
 * missed; 2 on a usage error.
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAIN_NCTL		4
#define MAIN_ZONES		8
#define MAIN_HZ			100.0
#define RTT_SAMPLES		500
#define WAIT_MS			2000	/* a vent, a session on the wire */
#define VENT_POLL_MS		2
#define HUNG_CTL		(MAIN_NCTL - 1)
#define SESSION_BODY		"{\"program\":\"" BENCH_PROGRAM \
				"\",\"profile\":\"" BENCH_PROFILE "\"}"

/* Durations and counts; -q divides them. */
struct plan {
	double		 free_s;	/* each free-run window */
	double		 timing_s;	/* the 100 Hz timing run */
	double		 cpu_s;		/* CPU windows */
	int		 trials;	/* per stop latency figure */
	int		 starts;	/* daemon starts for READY */
	double		 rtu_s;
};

/* A /metrics reading and when it was taken. */
struct snap {
	uint64_t	 ns;
	double		 ticks;
	double		 missed;
	double		 tx[BENCH_MAXCTL];
	double		 rtt_sum[BENCH_MAXCTL];
	double		 rtt_n[BENCH_MAXCTL];
	int		 nb;
	double		 le[16];
	double		 bucket[16];
};

static void	usage(FILE *);
static int	snap_take(int, int, struct snap *);
static double	frand(void);
static char	*fmt_s(char *, size_t, double);
static int	bench_reset(int);
static int	wait_control(struct evtail *, int);
static int	wait_vent(struct evtail *, int, int, uint64_t, uint64_t *);
static int	wait_down(int, int);
static double	rate_mean(const double *, int, double *, double *);
static void	fig_free_run(const struct plan *);
static void	fig_main(const struct plan *);
static void	fig_ready(struct rig_daemon *, const struct rig_conf *,
		    struct rig_sim *, const struct plan *);
static void	fig_cpu_idle(struct rig_daemon *, const struct plan *,
		    double *);
static void	fig_timing(struct rig_daemon *, struct rig_sim *,
		    const struct plan *, double);
static void	fig_lateness(struct evtail *, int, uint64_t, uint64_t,
		    const struct snap *, const struct snap *);
static void	fig_estop(struct rig_daemon *, struct rig_sim *,
		    struct evtail *, const struct plan *, int, double);
static void	fig_client_stop(struct rig_daemon *, struct rig_sim *,
		    struct evtail *, const struct plan *, double);
static void	fig_rtu(const struct plan *);
static void	row_latency(const char *, double *, int, double, const char *,
		    double, int);
static void	build_flags(const char *, char *, size_t);
static FILE	*trials_open(const char *);
static int	part(const char *, const char *);

static uint64_t	 rng_state;
static double	 free_tps_4;	/* figure 1, 4 controllers, for figure 6 */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: massaged-bench [-hkq] [-b builddir] [-F parts] [-o report.md]\n"
"\n"
"Benchmarks massaged against the table simulator: free-run ticks per second\n"
"against a bare libmodbus loop, tick timing at 100 Hz, stop latency, CPU,\n"
"RSS and time to READY, RTU ticks per second over a pty pair, and the\n"
"per-tick cost of described devices. Prints a table; exits 1 only if a\n"
"figure could not be measured.\n"
"\n"
"  -b DIR   build holding massaged, massaged-sim and plugins/ (default: the\n"
"           directory of this program)\n"
"  -F LIST  run only these parts, comma-separated: free (figure 1), table\n"
"           (figures 2, 3, 4), rtu (figure 5), worker (figure 6: routines\n"
"           in workers, per tick; with free, also the free-run rate\n"
"           without them), devices (figure 7: the WAGO and RS-485\n"
"           example tables beside the register map); default all\n"
"  -o FILE  also write the report in Markdown (docs/benchmarks.md)\n"
"  -k       keep the temporary directory (configs, logs, event logs)\n"
"  -q       quick: short windows, few trials; to try the bench, not to\n"
"           record it\n"
"  -h       this text\n");
}

static double
frand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((rng_state >> 11) / 9007199254740992.0);
}

/* "123 us" or "1.23 ms" or "1.23 s". */
static char *
fmt_s(char *buf, size_t len, double s)
{
	if (s < 0.001)
		snprintf(buf, len, "%.0f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, len, "%.2f ms", s * 1e3);
	else
		snprintf(buf, len, "%.2f s", s);
	return (buf);
}

static int
snap_take(int port, int nctl, struct snap *s)
{
	static char	 text[1 << 18];
	char		 name[96];
	int		 i;

	memset(s, 0, sizeof(*s));
	if (http_req(port, "GET", "/metrics", NULL, text, sizeof(text),
	    NULL) != 200)
		return (-1);
	s->ns = clock_mono_ns();
	if (metric_get(text, "massaged_ticks_total", &s->ticks) == -1) {
		warnx_("/metrics has no massaged_ticks_total");
		return (-1);
	}
	(void)metric_get(text, "massaged_missed_ticks_total", &s->missed);
	for (i = 0; i < nctl && i < BENCH_MAXCTL; i++) {
		snprintf(name, sizeof(name), "massaged_modbus_transactions_total"
		    "{controller=\"c%d\"}", i);
		(void)metric_get(text, name, &s->tx[i]);
		snprintf(name, sizeof(name), "massaged_modbus_roundtrip_seconds"
		    "_sum{controller=\"c%d\"}", i);
		(void)metric_get(text, name, &s->rtt_sum[i]);
		snprintf(name, sizeof(name), "massaged_modbus_roundtrip_seconds"
		    "_count{controller=\"c%d\"}", i);
		(void)metric_get(text, name, &s->rtt_n[i]);
	}
	s->nb = metric_hist(text, "massaged_tick_lateness_seconds", s->le,
	    s->bucket, 16);
	return (0);
}

/* POST /api/v1/session until 201 (the links may still be coming up). */
int
bench_session(int port)
{
	uint64_t	 deadline = clock_mono_ns() + WAIT_MS * 1000000ull;
	char		 body[4096];
	int		 rc;

	for (;;) {
		rc = http_req(port, "POST", "/api/v1/session", SESSION_BODY,
		    body, sizeof(body), NULL);
		if (rc == 201)
			return (0);
		if (clock_mono_ns() >= deadline || rc == 404 || rc == 422 ||
		    rc == -1) {
			warnx_("cannot start a session: HTTP %d %s", rc, body);
			return (-1);
		}
		sleep_ms(5);
	}
}

/* "running", or the state and why the session ended, for a note. */
void
session_end(int port, char *out, size_t len)
{
	char	 state[32], fault[256];

	if (http_state(port, state, sizeof(state), fault, sizeof(fault)) == -1)
		snprintf(out, len, "unknown");
	else if (fault[0] != '\0')
		snprintf(out, len, "%s (%s)", state, fault);
	else
		snprintf(out, len, "%s", state);
}

/* POST /api/v1/reset until the table is idle. */
static int
bench_reset(int port)
{
	uint64_t	 deadline = clock_mono_ns() + WAIT_MS * 1000000ull;
	char		 body[4096], state[32];
	int		 rc;

	for (;;) {
		rc = http_req(port, "POST", "/api/v1/reset", NULL, body,
		    sizeof(body), NULL);
		if (rc == 200 && http_state(port, state, sizeof(state), NULL,
		    0) == 0 &&
		    strcmp(state, "idle") == 0)
			return (0);
		if (clock_mono_ns() >= deadline) {
			warnx_("the table is not idle after a reset: HTTP %d "
			    "%s", rc, body);
			return (-1);
		}
		sleep_ms(5);
	}
}

/* Waits until every controller received an FC16 with CONTROL = 1. */
static int
wait_control(struct evtail *t, int nctl)
{
	uint64_t	 deadline = clock_mono_ns() + WAIT_MS * 1000000ull, now;
	struct ev	 ev;
	int		 seen[BENCH_MAXCTL] = { 0 }, n = 0;

	for (;;) {
		while (evtail_next(t, &ev) == 1)
			if (ev.kind == EV_FC16 && ev.control == 1 &&
			    ev.c >= 0 && ev.c < nctl && !seen[ev.c]) {
				seen[ev.c] = 1;
				n++;
			}
		if (n == nctl)
			return (0);
		if ((now = clock_mono_ns()) >= deadline) {
			warnx_("the session did not reach every controller "
			    "within %d ms", WAIT_MS);
			return (-1);
		}
		evtail_wait(t, (int)((deadline - now) / 1000000) + 1);
	}
}

/*
 * Waits for CONTROL = 0 (fc6 addr=0 value=0) arriving at or after t0 at
 * every controller but skip; *last: the arrival of the last one. The
 * simulator stamps the arrivals, so the bench need not see them at once:
 * it looks every VENT_POLL_MS instead of waking on every line, and stays
 * off the CPUs while the daemon is being timed.
 */
static int
wait_vent(struct evtail *t, int nctl, int skip, uint64_t t0, uint64_t *last)
{
	uint64_t	 deadline = clock_mono_ns() + WAIT_MS * 1000000ull, now;
	struct ev	 ev;
	int		 seen[BENCH_MAXCTL] = { 0 }, n = 0, want;

	want = skip >= 0 ? nctl - 1 : nctl;
	*last = 0;
	for (;;) {
		while (evtail_next(t, &ev) == 1)
			if (ev.kind == EV_FC6 && ev.addr == 0 &&
			    ev.value == 0 && ev.ns >= t0 && ev.c >= 0 &&
			    ev.c < nctl && ev.c != skip && !seen[ev.c]) {
				seen[ev.c] = 1;
				n++;
				if (ev.ns > *last)
					*last = ev.ns;
			}
		if (n == want)
			return (0);
		if ((now = clock_mono_ns()) >= deadline) {
			warnx_("CONTROL = 0 reached %d of %d controllers within "
			    "%d ms", n, want, WAIT_MS);
			return (-1);
		}
		sleep_ms(VENT_POLL_MS);
	}
}

/* Waits until /metrics says controller c is down. */
static int
wait_down(int port, int c)
{
	static char	 text[1 << 18];
	uint64_t	 deadline = clock_mono_ns() + 3000 * 1000000ull;
	char		 name[96];
	double		 up = 1;

	snprintf(name, sizeof(name), "massaged_controller_up{controller="
	    "\"c%d\"}", c);
	while (clock_mono_ns() < deadline) {
		if (http_req(port, "GET", "/metrics", NULL, text, sizeof(text),
		    NULL) == 200 && metric_get(text, name, &up) == 0 &&
		    up == 0)
			return (0);
		sleep_ms(20);
	}
	warnx_("controller c%d is still up 3 s after it hung", c);
	return (-1);
}

/* TMP/trials-NAME.txt: one "t0_ns latency_ns" line a trial, for -k. */
static FILE *
trials_open(const char *name)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/trials-%s.txt", rig_tmp(), name);
	if ((f = fopen(path, "we")) == NULL)
		warnx_("%s: %s", path, strerror(errno));
	return (f);
}

/* One row per percentile of a latency sample set, against ref. */
static void
row_latency(const char *what, double *v, int n, double ref,
    const char *refname, double goal_s, int goal_on_p99)
{
	char	 fig[96], val[32], rs[64], r[24], g[48], b[32];
	double	 p50, p99, max;
	int	 measured = n > 0;

	p50 = pct(v, n, 0.50);
	p99 = pct(v, n, 0.99);
	max = n > 0 ? v[n - 1] : 0;
	snprintf(rs, sizeof(rs), "%s %s", fmt_s(b, sizeof(b), ref), refname);

	snprintf(fig, sizeof(fig), "%s p50 (%d trials)", what, n);
	snprintf(r, sizeof(r), "%.1f", ref > 0 ? p50 / ref : 0);
	report_row(fig, measured, fmt_s(val, sizeof(val), p50), rs, r, "",
	    -1);
	snprintf(fig, sizeof(fig), "%s p99", what);
	snprintf(r, sizeof(r), "%.1f", ref > 0 ? p99 / ref : 0);
	if (goal_on_p99)
		snprintf(g, sizeof(g), "< %s", fmt_s(b, sizeof(b), goal_s));
	else
		g[0] = '\0';
	report_row(fig, measured, fmt_s(val, sizeof(val), p99), rs, r, g,
	    goal_on_p99 ? p99 < goal_s : -1);
	snprintf(fig, sizeof(fig), "%s max", what);
	snprintf(r, sizeof(r), "%.1f", ref > 0 ? max / ref : 0);
	report_row(fig, measured, fmt_s(val, sizeof(val), max), rs, r, "",
	    -1);
}

/* Mean of n rates; their spread in *lo, *hi. */
static double
rate_mean(const double *r, int n, double *lo, double *hi)
{
	double	 m = 0;
	int	 i;

	for (i = 0; i < n; i++) {
		m += r[i] / n;
		*lo = fmin(*lo, r[i]);
		*hi = fmax(*hi, r[i]);
	}
	return (m);
}

/*
 * 1. Free run against the bare loop, 1, 2 and 4 controllers. The bare
 * loop runs half its time before the daemon and half after, on the same
 * simulator, so drift in the machine's load hits both sides alike.
 */
static void
fig_free_run(const struct plan *pl)
{
	/* Against the simulator, then against the bare server (--fast, no
	 * physics), which does not hide the daemon's own cost. */
	static const struct {
		int	 n;
		int	 fast;
	} runs[] = { { 1, 0 }, { 2, 0 }, { 4, 0 }, { 1, 1 }, { 4, 1 } };
	struct rig_conf		 rc;
	struct rig_sim		 s;
	struct rig_daemon	 d;
	struct snap		 a, b;
	double			 r0[BENCH_MAXCTL], r1[BENCH_MAXCTL];
	double			 bare, b0, b1, lo, hi, dt, tps, tx, rtt;
	char			 fig[96], val[32], ref[64], ratio[24], st[320];
	size_t			 k;
	int			 n, i, ok, fast;

	printf("1. free run against a bare libmodbus loop\n");
	for (k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		n = runs[k].n;
		fast = runs[k].fast;
		snprintf(fig, sizeof(fig), "Free-run ticks/s, %d controller%s "
		    "x 8 ch%s", n, n == 1 ? "" : "s", fast ? ", bare server" :
		    "");
		ok = 0;
		bare = tps = tx = rtt = 0;
		lo = INFINITY;
		hi = 0;
		snprintf(st, sizeof(st), "unknown");
		memset(&d, 0, sizeof(d));
		if (rig_sim_start(&s, "free", n, MAIN_ZONES, fast ? RIG_FAST : 0,
		    NULL) == -1)
			goto row;
		if (bare_run(s.ports, n, MAIN_ZONES, pl->free_s / 2,
		    r0) == -1) {
			rig_sim_stop(&s);
			goto row;
		}
		rc = (struct rig_conf){ n, MAIN_ZONES, 1000, 1, NULL, 0, NULL };
		if (rig_daemon_start(&d, "free", &rc, &s) == -1 ||
		    bench_session(d.api_port) == -1) {
			rig_daemon_stop(&d);
			rig_sim_stop(&s);
			goto row;
		}
		sleep_ms(1000);
		if (snap_take(d.api_port, n, &a) == 0) {
			sleep_ms(pl->free_s * 1000);
			if (snap_take(d.api_port, n, &b) == 0 &&
			    (dt = (b.ns - a.ns) / 1e9) > 0) {
				tps = (b.ticks - a.ticks) / dt;
				ok = tps > 0;
				for (i = 0; i < n; i++) {
					tx += (b.tx[i] - a.tx[i]) / 2 / dt;
					if (b.rtt_n[i] > a.rtt_n[i])
						rtt += (b.rtt_sum[i] -
						    a.rtt_sum[i]) / (b.rtt_n[i] -
						    a.rtt_n[i]) / n;
				}
				session_end(d.api_port, st, sizeof(st));
			}
		}
		rig_daemon_stop(&d);
		if (ok && bare_run(s.ports, n, MAIN_ZONES, pl->free_s / 2,
		    r1) == -1)
			ok = 0;
		rig_sim_stop(&s);
		if (!ok)
			goto row;
		b0 = rate_mean(r0, n, &lo, &hi);
		b1 = rate_mean(r1, n, &lo, &hi);
		bare = (b0 + b1) / 2;
		if (n == 4 && !fast)
			free_tps_4 = tps;
		report_note("free run, %d controller%s%s: bare loop %.0f ticks/s "
		    "before the daemon, %.0f after (%.0f..%.0f per controller), "
		    "%.1f us a tick; daemon %.1f us a tick, of which its link "
		    "threads measured %.1f us in libmodbus (2 x %.1f us mean "
		    "round trip) and %.1f us went elsewhere; %.0f transaction "
		    "pairs/s in all; session %s at the end", n,
		    n == 1 ? "" : "s", fast ? " (bare server)" : "", b0, b1, lo, hi, 1e6 / bare, 1e6 / tps,
		    2e6 * rtt, 1e6 * rtt, 1e6 / tps - 2e6 * rtt, tx, st);
row:
		snprintf(val, sizeof(val), "%.0f", tps);
		snprintf(ref, sizeof(ref), "%.0f (bare loop)", bare);
		snprintf(ratio, sizeof(ratio), "%.2f", bare > 0 ? tps / bare :
		    0);
		if (n == 1 && fast)
			report_row(fig, ok, val, ref, ratio, ">= 0.85 x bare",
			    bare > 0 && tps / bare >= 0.85);
		else if (n == 1)
			report_row(fig, ok, val, ref, ratio, ">= 0.90 x bare",
			    bare > 0 && tps / bare >= 0.90);
		else
			report_row(fig, ok, val, ref, ratio, "scales (report)",
			    -1);
	}
}

/* 4. Start to READY=1: several starts, the last daemon keeps running. */
static void
fig_ready(struct rig_daemon *d, const struct rig_conf *rc, struct rig_sim *s,
    const struct plan *pl)
{
	double	 ms[16], max = 0;
	char	 val[32];
	int	 i, n = 0;

	for (i = 0; i < pl->starts && i < 16; i++) {
		if (i > 0)
			rig_daemon_stop(d);
		if (rig_daemon_start(d, "main", rc, s) == -1)
			break;
		if (d->ready_ms >= 0) {
			ms[n++] = d->ready_ms;
			max = fmax(max, d->ready_ms);
		}
	}
	/* READY=1 waits for every controller's proof of its safe state:
	 * a watchdog period (500 ms here) and its margin (a tenth and 50
	 * ms) are the proof's, by design; the goal is for the rest. */
	snprintf(val, sizeof(val), "%.1f ms", pct(ms, n, 0.5));
	report_row("Start to READY=1 (median)", n > 0, val, "", "",
	    "< 100 ms + 600 ms proof", n > 0 && pct(ms, n, 0.5) < 700);
	if (n > 0)
		report_note("start to READY=1: median of %d starts, %.1f to "
		    "%.1f ms (4 controllers x 8 zones), of which the proof of "
		    "each controller's watchdog (watchdog_ms 500) takes up to "
		    "600 ms", n, ms[0], max);
}

/* 4. Idle CPU: no session, the loop polls at 100 Hz. */
static void
fig_cpu_idle(struct rig_daemon *d, const struct plan *pl, double *idle)
{
	uint64_t	 c0, c1, t0, t1;
	char		 val[32];
	int		 ok = 0;

	*idle = -1;
	sleep_ms(500);
	if (rig_cpu_ticks(d->pid, &c0) == 0) {
		t0 = clock_mono_ns();
		sleep_ms(pl->cpu_s * 1000);
		t1 = clock_mono_ns();
		if (rig_cpu_ticks(d->pid, &c1) == 0 && rig_alive(d->pid)) {
			*idle = 100.0 * (c1 - c0) / sysconf(_SC_CLK_TCK) /
			    ((t1 - t0) / 1e9);
			ok = 1;
		}
	}
	snprintf(val, sizeof(val), "%.2f %%", *idle);
	report_row("CPU idle, no session (100 Hz, 4 x 8)", ok, val, "", "",
	    "near 0 (< 1 %)", ok && *idle < 1.0);
}

/*
 * Lateness of the FC16 arrivals between t0 and t1 on the 10 ms grid
 * numbered by HEARTBEAT, anchored per controller (and again after a
 * missed tick) so the earliest is 0.
 */
static void
fig_lateness(struct evtail *t, int nctl, uint64_t t0, uint64_t t1,
    const struct snap *a, const struct snap *b)
{
	const double	 period = 1e9 / MAIN_HZ;
	struct ev	 ev;
	double		*arr[BENCH_MAXCTL], *late, off, minoff, hm50, hm99;
	double		*rel, *med, medoff;
	long		*hb[BENCH_MAXCTL];
	int		 cnt[BENCH_MAXCTL] = { 0 }, cap = 0, nl = 0, c, i, j;
	int		 seg, missed[BENCH_MAXCTL] = { 0 }, wmissed = 0, tot = 0;
	int		 early = 0;
	double		 gap, total, q, exp_ticks;
	char		 val[32], ref[48], ratio[24], b1[32], g[48];
	int		 ok;

	cap = (int)((t1 - t0) / period) * 2 + 64;
	for (c = 0; c < nctl; c++) {
		arr[c] = calloc(cap, sizeof(double));
		hb[c] = calloc(cap, sizeof(long));
		if (arr[c] == NULL || hb[c] == NULL) {
			warnx_("out of memory");
			exit(1);
		}
	}
	while (evtail_next(t, &ev) == 1) {
		if (ev.kind != EV_FC16 || ev.ns < t0 || ev.ns > t1 ||
		    ev.c < 0 || ev.c >= nctl || cnt[ev.c] >= cap ||
		    ev.heartbeat < 0)
			continue;
		arr[ev.c][cnt[ev.c]] = (double)ev.ns;
		hb[ev.c][cnt[ev.c]++] = ev.heartbeat;
	}
	late = calloc(nctl * cap, sizeof(double));
	rel = calloc(nctl * cap, sizeof(double));
	med = calloc(cap, sizeof(double));
	if (late == NULL || rel == NULL || med == NULL) {
		warnx_("out of memory");
		exit(1);
	}
	for (c = 0; c < nctl; c++) {
		/* Unwrap the 16-bit heartbeat into a tick number. */
		for (i = 1; i < cnt[c]; i++) {
			long d = (hb[c][i] - hb[c][i - 1]) & 0xffff;

			hb[c][i] = hb[c][i - 1] + d;
		}
		for (seg = 0; seg < cnt[c]; seg = j) {
			/* A segment ends at a gap over 1.5 periods. */
			for (j = seg + 1; j < cnt[c]; j++) {
				gap = arr[c][j] - arr[c][j - 1];
				if (gap > 1.5 * period) {
					missed[c] += (int)lround(gap / period)
					    - 1;
					break;
				}
			}
			minoff = INFINITY;
			for (i = seg; i < j; i++) {
				off = arr[c][i] - (hb[c][i] - hb[c][seg]) *
				    period;
				minoff = fmin(minoff, off);
				med[i - seg] = off;
			}
			medoff = pct(med, j - seg, 0.5);
			for (i = seg; i < j; i++) {
				off = arr[c][i] - (hb[c][i] - hb[c][seg]) *
				    period;
				late[nl] = (off - minoff) / 1e9;
				rel[nl++] = (off - medoff) / 1e9;
				if (off < medoff - 500000)
					early++;
			}
		}
		if (missed[c] > wmissed)
			wmissed = missed[c];
		tot += missed[c];
	}
	exp_ticks = (t1 - t0) / period;
	ok = nl > 0;
	for (c = 0; c < nctl; c++)
		if (cnt[c] < exp_ticks / 2)
			ok = 0;	/* the session or a link stopped */

	snprintf(ref, sizeof(ref), "10 ms period");
	snprintf(val, sizeof(val), "%s", fmt_s(b1, sizeof(b1),
	    pct(late, nl, 0.5)));
	snprintf(ratio, sizeof(ratio), "%.3f", pct(late, nl, 0.5) * MAIN_HZ);
	report_row("Tick lateness p50 (wire, 100 Hz, 4 x 8)", ok, val, ref,
	    ratio, "", -1);
	snprintf(val, sizeof(val), "%s", fmt_s(b1, sizeof(b1),
	    pct(late, nl, 0.99)));
	snprintf(ratio, sizeof(ratio), "%.3f", pct(late, nl, 0.99) * MAIN_HZ);
	report_row("Tick lateness p99 (wire)", ok, val, ref, ratio, "< 1 ms",
	    pct(late, nl, 0.99) < 0.001);
	snprintf(val, sizeof(val), "%s", fmt_s(b1, sizeof(b1),
	    nl > 0 ? late[nl - 1] : 0));
	snprintf(ratio, sizeof(ratio), "%.3f", nl > 0 ? late[nl - 1] *
	    MAIN_HZ : 0);
	report_row("Tick lateness max (wire)", ok, val, ref, ratio, "", -1);
	snprintf(val, sizeof(val), "%d", wmissed);
	snprintf(ref, sizeof(ref), "%.0f ticks", exp_ticks);
	snprintf(ratio, sizeof(ratio), "%.4f", wmissed / exp_ticks);
	report_row("Missed ticks (wire gaps > 1.5 periods)", ok, val, ref,
	    ratio, "0", wmissed == 0);
	report_note("tick timing: %d FC16 arrivals over %.0f s on %d "
	    "controllers; missed ticks per controller: %d, %d, %d, %d (sum %d)",
	    nl, (t1 - t0) / 1e9, nctl, missed[0], nctl > 1 ? missed[1] : 0,
	    nctl > 2 ? missed[2] : 0, nctl > 3 ? missed[3] : 0, tot);
	snprintf(val, sizeof(val), "%d", early);
	snprintf(ref, sizeof(ref), "%d arrivals", nl);
	snprintf(ratio, sizeof(ratio), "%.4f", nl > 0 ? (double)early / nl :
	    0);
	report_row("FC16 > 0.5 ms early on the grid (wire)", ok, val, ref,
	    ratio, "", -1);
	if (nl > 0) {
		q = pct(rel, nl, 0.01);		/* sorts rel */
		report_note("tick timing around each controller's median "
		    "arrival instead of its earliest: earliest %+.0f us, p1 "
		    "%+.0f us, p99 %+.0f us, latest %+.0f us; the earliest "
		    "arrival anchors the lateness above, so one early tick "
		    "shifts every figure by its earliness", rel[0] * 1e6,
		    q * 1e6, pct(rel, nl, 0.99) * 1e6, rel[nl - 1] * 1e6);
	}

	/* The daemon's own histogram over the same window. */
	ok = a->nb > 0 && a->nb == b->nb && b->ticks > a->ticks;
	hm50 = hm99 = INFINITY;
	if (ok) {
		total = b->ticks - a->ticks;
		for (i = 0; i < b->nb; i++) {
			q = (b->bucket[i] - a->bucket[i]) / total;
			if (q >= 0.5 && !isfinite(hm50))
				hm50 = b->le[i];
			if (q >= 0.99 && !isfinite(hm99))
				hm99 = b->le[i];
		}
		ok = isfinite(hm99) && hm99 < 1e299;
	}
	snprintf(val, sizeof(val), "<= %s", fmt_s(b1, sizeof(b1), hm99));
	snprintf(g, sizeof(g), "< 1 ms");
	report_row("Tick lateness p99 (daemon's histogram)", ok, val,
	    "bucket bound", "", g, ok && hm99 < 0.001);
	snprintf(val, sizeof(val), "%.0f", b->missed - a->missed);
	snprintf(ref, sizeof(ref), "%.0f ticks", b->ticks - a->ticks);
	report_row("Missed ticks (daemon's counter)", b->ticks > a->ticks, val,
	    ref, "", "0", b->missed == a->missed);
	if (isfinite(hm50))
		report_note("daemon's lateness histogram over the window: p50 "
		    "<= %s, p99 <= %s (bucket bounds)", fmt_s(b1, sizeof(b1),
		    hm50), fmt_s(ref, sizeof(ref), hm99));

	for (c = 0; c < nctl; c++) {
		free(arr[c]);
		free(hb[c]);
	}
	free(late);
	free(rel);
	free(med);
}

/* 2 and 4. The 100 Hz run with a session: timing, CPU, RSS. */
static void
fig_timing(struct rig_daemon *d, struct rig_sim *s, const struct plan *pl,
    double idle)
{
	struct evtail	 t;
	struct snap	 a, b;
	uint64_t	 t0 = 0, t1 = 0, c0, c1, s0, s1, w0, w1, k0, k1;
	double		 cpu = -1, dcpu = -1, scpu = -1, rest;
	long		 rss = -1, hwm = -1;
	char		 val[32], ref[48], ratio[24], st[320];
	int		 ok;

	printf("2. tick timing at 100 Hz, 4 controllers x 8 zones, %.0f s; "
	    "4. CPU and RSS\n", pl->timing_s);
	t.fd = t.ino = -1;
	ok = d->pid > 0 && evtail_open(&t, s->events) == 0;
	if (ok && (bench_session(d->api_port) == -1 ||
	    wait_control(&t, s->nctl) == -1))
		ok = 0;
	if (ok)
		sleep_ms(1000);
	if (ok && snap_take(d->api_port, s->nctl, &a) == -1)
		ok = 0;
	if (ok) {
		evtail_skip(&t);
		t0 = clock_mono_ns();
		rest = pl->timing_s - pl->cpu_s;
		sleep_ms(rest / 2 * 1000);
		if (rig_cpu_ticks(d->pid, &c0) == 0 &&
		    rig_cpu_ticks_tree(d->pid, &k0) == 0 &&
		    rig_cpu_ticks(s->pid, &s0) == 0) {
			w0 = clock_mono_ns();
			sleep_ms(pl->cpu_s * 1000);
			w1 = clock_mono_ns();
			if (rig_cpu_ticks(d->pid, &c1) == 0 &&
			    rig_cpu_ticks_tree(d->pid, &k1) == 0 &&
			    rig_cpu_ticks(s->pid, &s1) == 0) {
				dcpu = 100.0 * (c1 - c0) /
				    sysconf(_SC_CLK_TCK) / ((w1 - w0) / 1e9);
				/* the figure: the daemon and its workers */
				cpu = 100.0 * (k1 - k0) /
				    sysconf(_SC_CLK_TCK) / ((w1 - w0) / 1e9);
				scpu = 100.0 * (s1 - s0) /
				    sysconf(_SC_CLK_TCK) / ((w1 - w0) / 1e9);
			}
		}
		sleep_ms(rest / 2 * 1000);
		t1 = clock_mono_ns();
		session_end(d->api_port, st, sizeof(st));
		if (strcmp(st, "running") != 0) {
			report_note("100 Hz run: the session was not running "
			    "at the end of the window: %s", st);
			cpu = -1;	/* not the figure asked for */
		}
		(void)rig_status_kb(d->pid, "VmRSS", &rss);
		(void)rig_status_kb(d->pid, "VmHWM", &hwm);
		if (snap_take(d->api_port, s->nctl, &b) == -1)
			ok = 0;
	}
	/* The stop trials start from a latched fault: they reset first. */
	if (d->pid > 0)
		(void)http_req(d->api_port, "POST", "/api/v1/estop", NULL, NULL,
		    0, NULL);
	if (ok && rig_alive(d->pid))
		fig_lateness(&t, s->nctl, t0, t1, &a, &b);
	else {
		report_row("Tick lateness p50 (wire, 100 Hz, 4 x 8)", 0, "", "",
		    "", "", -1);
		report_row("Tick lateness p99 (wire)", 0, "", "", "", "< 1 ms",
		    -1);
		report_row("Tick lateness max (wire)", 0, "", "", "", "", -1);
		report_row("Missed ticks (wire gaps > 1.5 periods)", 0, "", "",
		    "", "0", -1);
		report_row("FC16 > 0.5 ms early on the grid (wire)", 0, "", "",
		    "", "", -1);
		report_row("Tick lateness p99 (daemon's histogram)", 0, "", "",
		    "", "< 1 ms", -1);
		report_row("Missed ticks (daemon's counter)", 0, "", "", "",
		    "0", -1);
	}
	if (t.fd != -1)
		evtail_close(&t);

	snprintf(val, sizeof(val), "%.2f %%", cpu);
	snprintf(ref, sizeof(ref), "%.2f %% (simulator)", scpu);
	snprintf(ratio, sizeof(ratio), "%.2f", scpu > 0 ? cpu / scpu : 0);
	report_row("CPU, session at 100 Hz, 32 zones (daemon and workers)",
	    cpu >= 0, val, ref, ratio, "< 5 %", cpu >= 0 && cpu < 5.0);
	if (cpu >= 0 && dcpu >= 0)
		report_note("CPU at 100 Hz: %.2f %% the daemon, %.2f %% its "
		    "routine workers", dcpu, cpu - dcpu);
	snprintf(val, sizeof(val), "%.1f MB", rss / 1024.0);
	/* libpq (the store, docs/store.md) and its TLS and GSSAPI
	 * libraries: about 2.5 MB of it. */
	report_row("RSS (VmRSS), same run", rss > 0, val, "", "", "< 12 MB",
	    rss > 0 && rss < 12 * 1024);
	if (hwm > 0)
		report_note("RSS: VmRSS %ld kB, VmHWM (peak) %ld kB at the end "
		    "of the 100 Hz run", rss, hwm);
	if (idle >= 0 && cpu > 0)
		report_note("CPU: idle (no session) %.2f %% against %.2f %% "
		    "with a session, both at 100 Hz with 4 controllers",
		    idle, cpu);
}

/* 3. E-stop trials; hung: controller HUNG_CTL never answers. */
static void
fig_estop(struct rig_daemon *d, struct rig_sim *s, struct evtail *t,
    const struct plan *pl, int hung, double rtt)
{
	double		*lat;
	uint64_t	 t0, last;
	char		 body[4096], cmd[32];
	FILE		*tf;
	int		 i, n = 0, rc;

	printf("3. e-stop latency%s, %d trials\n", hung ?
	    " with one controller hung" : "", pl->trials);
	if ((lat = calloc(pl->trials, sizeof(double))) == NULL)
		exit(1);
	tf = trials_open(hung ? "estop-hung" : "estop");
	snprintf(cmd, sizeof(cmd), "hang %d -1", HUNG_CTL);
	if (hung && (rig_sim_cmd(s, cmd, NULL) == -1 ||
	    wait_down(d->api_port, HUNG_CTL) == -1))
		goto out;
	for (i = 0; i < pl->trials; i++) {
		if (!rig_alive(d->pid))
			break;
		if (!hung) {
			if (bench_reset(d->api_port) == -1)
				break;
			evtail_skip(t);
			if (bench_session(d->api_port) == -1 ||
			    wait_control(t, s->nctl) == -1)
				break;
		} else	/* refused while a controller is down; tried anyway */
			(void)http_req(d->api_port, "POST", "/api/v1/reset",
			    NULL, body, sizeof(body), NULL);
		sleep_ms(frand() * 1000 / MAIN_HZ);
		evtail_skip(t);
		rc = http_req(d->api_port, "POST", "/api/v1/estop", NULL, body,
		    sizeof(body), &t0);
		if (rc != 200) {
			warnx_("POST /api/v1/estop: HTTP %d %s", rc, body);
			break;
		}
		if (wait_vent(t, s->nctl, hung ? HUNG_CTL : -1, t0,
		    &last) == -1)
			break;
		lat[n++] = (last - t0) / 1e9;
		if (tf != NULL)
			fprintf(tf, "%llu %llu\n", (unsigned long long)t0,
			    (unsigned long long)(last - t0));
	}
	if (n < pl->trials)
		warnx_("e-stop%s: %d of %d trials", hung ? " (hung)" : "", n,
		    pl->trials);
out:
	row_latency(hung ? "E-stop, 1 of 4 hung, to last healthy" :
	    "E-stop API to CONTROL=0 at all 4", lat, n == pl->trials ? n : 0,
	    rtt, "(Modbus round trip)", 0.001, 1);
	if (tf != NULL)
		fclose(tf);
	free(lat);
}

/* 3. The client's stop switch, pressed on each controller in turn. */
static void
fig_client_stop(struct rig_daemon *d, struct rig_sim *s, struct evtail *t,
    const struct plan *pl, double rtt)
{
	double		*lat, goal = 1.0 / MAIN_HZ + rtt;
	uint64_t	 t0, last;
	char		 cmd[64], b[32];
	FILE		*tf;
	int		 i, n = 0, c;

	printf("3. client stop latency, %d trials\n", pl->trials);
	if ((lat = calloc(pl->trials, sizeof(double))) == NULL)
		exit(1);
	tf = trials_open("client-stop");
	for (i = 0; i < pl->trials; i++) {
		c = i % s->nctl;
		if (!rig_alive(d->pid) || bench_reset(d->api_port) == -1)
			break;
		evtail_skip(t);
		if (bench_session(d->api_port) == -1 ||
		    wait_control(t, s->nctl) == -1)
			break;
		sleep_ms(frand() * 1000 / MAIN_HZ);
		evtail_skip(t);
		snprintf(cmd, sizeof(cmd), "client_stop %d on", c);
		if (rig_sim_cmd(s, cmd, &t0) == -1)
			break;
		if (wait_vent(t, s->nctl, -1, t0, &last) == -1)
			break;
		lat[n++] = (last - t0) / 1e9;
		if (tf != NULL)
			fprintf(tf, "%llu %llu\n", (unsigned long long)t0,
			    (unsigned long long)(last - t0));
		snprintf(cmd, sizeof(cmd), "client_stop %d off", c);
		if (rig_sim_cmd(s, cmd, NULL) == -1)
			break;
	}
	if (n < pl->trials)
		warnx_("client stop: %d of %d trials", n, pl->trials);
	if (tf != NULL)
		fclose(tf);
	n = n == pl->trials ? n : 0;
	row_latency("Client stop to CONTROL=0 at all 4", lat, n, goal,
	    "(1 tick + 1 round trip)", goal, 1);
	if (n > 0)
		report_note("client stop goal: one 10 ms tick plus one Modbus "
		    "round trip (%s, measured) = %s; p99 is compared with it",
		    fmt_s(cmd, sizeof(cmd), rtt), fmt_s(b, sizeof(b), goal));
	free(lat);
}

/* 2, 3, 4 on one table: 4 controllers x 8 zones at 100 Hz. */
static void
fig_main(const struct plan *pl)
{
	struct rig_conf		 rc = { MAIN_NCTL, MAIN_ZONES, MAIN_HZ, 0,
				    NULL, 0, NULL };
	struct rig_sim		 s;
	struct rig_daemon	 d;
	struct evtail		 t;
	double			 rtt[RTT_SAMPLES], ref = 0, idle;
	char			 b1[32], b2[32];
	int			 ok;

	printf("4. start to READY, idle CPU\n");
	memset(&d, 0, sizeof(d));
	ok = rig_sim_start(&s, "main", MAIN_NCTL, MAIN_ZONES, 1, NULL) == 0;
	if (ok) {
		fig_ready(&d, &rc, &s, pl);
		ok = d.pid > 0;
	} else
		report_row("Start to READY=1 (median)", 0, "", "", "",
		    "< 100 ms", -1);
	if (ok)
		fig_cpu_idle(&d, pl, &idle);
	else
		report_row("CPU idle, no session (100 Hz, 4 x 8)", 0, "", "",
		    "", "near 0 (< 1 %)", -1);
	if (ok && bare_rtt(s.ports[0], RTT_SAMPLES, rtt) == 0) {
		ref = pct(rtt, RTT_SAMPLES, 0.5);
		report_note("reference Modbus round trip (FC04, 1 register, "
		    "bare libmodbus to the same simulator, the daemon idle at "
		    "100 Hz): p50 %s, p99 %s", fmt_s(b1, sizeof(b1), ref),
		    fmt_s(b2, sizeof(b2), pct(rtt, RTT_SAMPLES, 0.99)));
	}
	if (ok)
		fig_timing(&d, &s, pl, idle);
	else
		fig_timing(&d, &s, pl, -1);	/* reports n/a */
	if (ok && evtail_open(&t, s.events) == 0) {
		fig_estop(&d, &s, &t, pl, 0, ref);
		fig_client_stop(&d, &s, &t, pl, ref);
		/* Last: the hung controller does not come back. */
		fig_estop(&d, &s, &t, pl, 1, ref);
		evtail_close(&t);
	} else {
		row_latency("E-stop API to CONTROL=0 at all 4", NULL, 0, 0, "",
		    0.001, 1);
		row_latency("Client stop to CONTROL=0 at all 4", NULL, 0, 0,
		    "", 0.01, 1);
		row_latency("E-stop, 1 of 4 hung, to last healthy", NULL, 0, 0,
		    "", 0.001, 1);
	}
	rig_daemon_stop(&d);
	rig_sim_stop(&s);
}

/* 5. RTU over a pty pair against the computed wire limit. */
static void
fig_rtu(const struct plan *pl)
{
	/* Controllers x channels on one line. */
	static const struct {
		int	 n;
		int	 ch;
	} runs[] = { { 1, 8 }, { 1, 16 }, { 4, 8 } };
	struct rig_conf		 rc;
	struct rig_sim		 s;
	struct rig_daemon	 d;
	struct snap		 a, b;
	pid_t			 socat = 0;
	char			 pa[PATH_MAX], pb[PATH_MAX], fig[96], val[32];
	char			 ref[64], ratio[24], st[320];
	double			 limit, bytes, tps, dt, tx;
	size_t			 k;
	int			 n, ch, regs, ok, session, i;

	printf("5. RTU over a pty pair at 115200 baud\n");
	for (k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		n = runs[k].n;
		ch = runs[k].ch;
		regs = ch + 3;		/* map v2: with OWNER */
		/* Per controller: FC16 req 9+2r, resp 8; FC04 req 8, resp
		 * 5+2r; 11 bits a character, 1.75 ms after each frame. */
		bytes = (9 + 2 * regs) + 8 + 8 + (5 + 2 * regs);
		limit = 1.0 / (n * (bytes * 11 / 115200.0 + 4 * 0.00175));
		snprintf(fig, sizeof(fig), "RTU ticks/s, %d controller%s x %d "
		    "ch, one pty", n, n == 1 ? "" : "s", ch);
		ok = 0;
		tps = tx = 0;
		memset(&d, 0, sizeof(d));
		if (rig_socat_start(&socat, pa, pb, sizeof(pa)) == -1)
			goto row;
		if (rig_sim_start(&s, "rtu", n, ch, 0, pa) == -1) {
			rig_socat_stop(&socat);
			goto row;
		}
		rc = (struct rig_conf){ n, ch, 1000, 1, pb, 115200, NULL };
		if (rig_daemon_start(&d, "rtu", &rc, &s) == -1) {
			rig_sim_stop(&s);
			rig_socat_stop(&socat);
			goto row;
		}
		session = bench_session(d.api_port) == 0;
		sleep_ms(1000);
		if (snap_take(d.api_port, n, &a) == 0) {
			sleep_ms(pl->rtu_s * 1000);
			if (snap_take(d.api_port, n, &b) == 0 &&
			    (dt = (b.ns - a.ns) / 1e9) > 0) {
				tps = (b.ticks - a.ticks) / dt;
				ok = tps > 0;
				for (i = 0; i < n; i++) {
					ok &= b.tx[i] > a.tx[i];
					tx += (b.tx[i] - a.tx[i]) / 2 / dt;
				}
				session_end(d.api_port, st, sizeof(st));
				report_note("RTU %d x %d ch: %.0f bytes a tick, "
				    "wire limit %.1f ticks/s; %.0f transaction "
				    "pairs/s; session %s (%s at the end)", n, ch,
				    n * bytes, limit, tx,
				    session ? "started" : "NOT started", st);
			}
		}
		rig_daemon_stop(&d);
		rig_sim_stop(&s);
		rig_socat_stop(&socat);
row:
		snprintf(val, sizeof(val), "%.0f", tps);
		snprintf(ref, sizeof(ref), "%.1f (wire limit)", limit);
		snprintf(ratio, sizeof(ratio), "%.1f", tps / limit);
		report_row(fig, ok, val, ref, ratio, "report (pty: no pacing)",
		    -1);
	}
}

/* 1 if name is in the comma-separated list. */
static int
part(const char *list, const char *name)
{
	size_t	 n = strlen(name);
	const char *p;

	for (p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' ||
		    p[n] == '\0'))
			return (1);
	return (0);
}

/* The code generation flags the build used, from BUILD/.flags. */
static void
build_flags(const char *build, char *out, size_t len)
{
	char	 path[PATH_MAX], buf[4096], *tok, *save;
	size_t	 o = 0;
	FILE	*f;

	snprintf(out, len, "unknown");
	snprintf(path, sizeof(path), "%s/.flags", build);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	out[0] = '\0';
	for (tok = strtok_r(buf, " \t\n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "-O", 2) != 0 && strncmp(tok, "-g", 2) != 0 &&
		    strncmp(tok, "-f", 2) != 0 && strncmp(tok, "-m", 2) != 0 &&
		    strncmp(tok, "-std", 4) != 0 &&
		    strcmp(tok, "-pthread") != 0)
			continue;
		if (strstr(out, tok) != NULL && strcmp(tok, "-pthread") == 0)
			continue;
		o += snprintf(out + o, len > o ? len - o : 0, "%s%s",
		    o ? " " : "", tok);
	}
	if (out[0] == '\0')
		snprintf(out, len, "unknown");
}

int
main(int argc, char *argv[])
{
	struct plan	 pl = { 5, 30, 10, 200, 5, 5 };
	const char	*build = NULL, *md = NULL;
	const char	*parts = "free,table,rtu,worker,devices";
	char		 self[PATH_MAX], flags[512], version[256];
	uint64_t	 t0 = clock_mono_ns();
	int		 ch, keep = 0, quick = 0, missing;

	while ((ch = getopt(argc, argv, "b:F:hko:q")) != -1) {
		switch (ch) {
		case 'b':
			build = optarg;
			break;
		case 'F':
			parts = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'o':
			md = optarg;
			break;
		case 'q':
			quick = 1;
			break;
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
	if (build == NULL) {
		snprintf(self, sizeof(self), "%s", argv[0]);
		build = dirname(self);
	}
	if (quick)
		pl = (struct plan){ 2, 8, 3, 30, 3, 2 };
	rng_state = clock_mono_ns() | 1;
	report_start();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (rig_init(build, keep) == -1) {
		rig_cleanup(keep);
		return (1);
	}
	if (rig_daemon_version(version, sizeof(version)) == -1)
		snprintf(version, sizeof(version), "unknown");
	build_flags(build, flags, sizeof(flags));
	printf("massaged-bench: %s, build %s, temp %s\n", version, build,
	    rig_tmp());

	if (part(parts, "free"))
		fig_free_run(&pl);
	if (part(parts, "table"))
		fig_main(&pl);
	if (part(parts, "rtu"))
		fig_rtu(&pl);
	if (part(parts, "worker"))
		fig_worker(build, pl.free_s, free_tps_4);
	if (part(parts, "devices"))
		fig_devices(pl.free_s, pl.cpu_s);

	rig_cleanup(keep);
	report_print(stdout);
	missing = report_missing();
	if (md != NULL && report_markdown(md, flags, quick, version) == 0)
		printf("wrote %s\n", md);
	printf("massaged-bench: %.0f s%s\n", (clock_mono_ns() - t0) / 1e9,
	    missing ? "" : ", every figure measured");
	if (missing) {
		warnx_("%d figure%s could not be measured", missing,
		    missing == 1 ? "" : "s");
		return (1);
	}
	return (0);
}
