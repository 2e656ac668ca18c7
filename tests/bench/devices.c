/*
 * devices.c: the per-tick cost of described devices (kind = device,
 * docs/devices.md) beside the register map (figure 7).
 *
 * Four tables of one controller and 8 zones: the register map on TCP and
 * the WAGO 750-352 example table (TCP), the register map on RTU and the
 * RS-485 example table (an AO, an AI and a relay module on one RTU line),
 * both over a socat pty pair at 115200 baud. For each:
 *
 *  - free run: free_run = yes, a session running, ticks per second from
 *    massaged_ticks_total over the window (the simulator without an event
 *    log, as figure 1);
 *  - paced: tick_hz 100 on TCP; on RTU the highest rate `massaged -n`
 *    lets both tables have at 115200 baud (40 Hz: the RS-485 table needs
 *    22 ms of line time a tick, the register map 14 ms), a session
 *    running, over the CPU window: transactions a tick (the requests in
 *    the simulator's event log, read-backs and all, over the ticks of
 *    massaged_ticks_total) and CPU a tick (the time on a CPU of the
 *    daemon's threads and its workers', from schedstat, over the ticks).
 *
 * Each device figure's reference is the register map on the same
 * transport, measured in the same run.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define DEV_NZONES	8
#define DEV_TCP_HZ	100.0
#define DEV_RTU_HZ	40.0

struct dev_run {
	const char	*name;		/* in the figures */
	const char	*kind;		/* rig_conf.kind, NULL the map */
	int		 rtu;
	int		 simflag;	/* rig_sim_start(): the personality */
	double		 hz;		/* the paced run */
};

static const struct dev_run dev_runs[] = {
	{ "register map, TCP", NULL, 0, 0, DEV_TCP_HZ },
	{ "WAGO 750-352, TCP", "wago", 0, RIG_WAGO, DEV_TCP_HZ },
	{ "register map, RTU", NULL, 1, 0, DEV_RTU_HZ },
	{ "RS-485 AO + AI + relay, RTU", "rs485", 1, RIG_RS485, DEV_RTU_HZ },
};
#define DEV_NRUNS	(sizeof(dev_runs) / sizeof(dev_runs[0]))

/* What one table measured; < 0: not measured. */
struct dev_fig {
	double		 tps;		/* free run */
	double		 tx;		/* transactions a tick, paced */
	double		 cpu_us;	/* CPU a tick, paced */
	double		 cpu_pct;	/* of a core, paced */
};

/* massaged_ticks_total now. */
static int
dev_ticks(int port, double *ticks)
{
	static char	 text[1 << 18];

	if (http_req(port, "GET", "/metrics", NULL, text, sizeof(text),
	    NULL) != 200)
		return (-1);
	return (metric_get(text, "massaged_ticks_total", ticks));
}

/* The size of the event log now. */
static off_t
dev_size(const char *path)
{
	struct stat	 sb;

	return (stat(path, &sb) == -1 ? -1 : sb.st_size);
}

/* Requests (fcN lines) in the event log between two sizes. */
static long
dev_requests(const char *path, off_t from, off_t to)
{
	char	*buf, *p, *e;
	long	 n = 0;
	int	 fd;

	if (to <= from || (buf = malloc(to - from + 1)) == NULL)
		return (-1);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    pread(fd, buf, to - from, from) != to - from) {
		if (fd != -1)
			close(fd);
		free(buf);
		return (-1);
	}
	close(fd);
	buf[to - from] = '\0';
	for (p = buf; p != NULL && *p != '\0'; p = e) {
		if ((e = strchr(p, '\n')) != NULL)
			*e++ = '\0';
		/* "<ns> c=<idx> <kind> ..." */
		if ((p = strchr(p, ' ')) != NULL &&
		    (p = strchr(p + 1, ' ')) != NULL &&
		    strncmp(p + 1, "fc", 2) == 0)
			n++;
	}
	free(buf);
	return (n);
}

/* The time on a CPU of every thread of pid, in ns (schedstat). */
static uint64_t
dev_task_ns(pid_t pid)
{
	char			 path[64], buf[128];
	struct dirent		*de;
	unsigned long long	 v;
	uint64_t		 ns = 0;
	ssize_t			 got;
	DIR			*dir;
	int			 fd;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return (0);
	while ((de = readdir(dir)) != NULL) {
		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat",
		    (int)pid, atoi(de->d_name));
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got > 0) {
			buf[got] = '\0';
			if (sscanf(buf, "%llu", &v) == 1)
				ns += v;
		}
	}
	closedir(dir);
	return (ns);
}

/* The parent of pid, or -1. */
static pid_t
dev_parent(pid_t pid)
{
	char	 path[64], buf[1024], *p;
	ssize_t	 got;
	int	 fd, pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return (-1);
	buf[got] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %d",
	    &pp) != 1)
		return (-1);
	return (pp);
}

/*
 * CPU time of the daemon and of its live routine workers, in ns, from
 * schedstat (clock ticks of /proc/PID/stat are 10 ms: too coarse for a
 * few per cent of a core over seconds). 0 when pid is gone.
 */
static uint64_t
dev_cpu_ns(pid_t pid)
{
	struct dirent	*de;
	uint64_t	 ns;
	pid_t		 child;
	DIR		*dir;

	if ((ns = dev_task_ns(pid)) == 0 || (dir = opendir("/proc")) == NULL)
		return (ns);
	while ((de = readdir(dir)) != NULL)
		if ((child = (pid_t)atoi(de->d_name)) > 0 && child != pid &&
		    dev_parent(child) == pid)
			ns += dev_task_ns(child);
	closedir(dir);
	return (ns);
}

/* The simulator (and its pty pair), then the daemon with a session. */
static int
dev_start(const struct dev_run *r, int paced, struct rig_sim *s,
    struct rig_daemon *d, pid_t *socat)
{
	char		 pa[PATH_MAX], pb[PATH_MAX];
	struct rig_conf	 rc = { 1, DEV_NZONES, paced ? r->hz : 1000,
			    !paced, NULL, 0, r->kind };

	memset(d, 0, sizeof(*d));
	*socat = 0;
	if (r->rtu && rig_socat_start(socat, pa, pb, sizeof(pa)) == -1)
		return (-1);
	if (rig_sim_start(s, paced ? "devpaced" : "devfree", 1, DEV_NZONES,
	    r->simflag | (paced ? RIG_EVENTS : 0), r->rtu ? pa : NULL) == -1) {
		rig_socat_stop(socat);
		return (-1);
	}
	if (r->rtu) {
		rc.device = pb;
		rc.baud = 115200;
	}
	if (rig_daemon_start(d, paced ? "devpaced" : "devfree", &rc, s) == -1 ||
	    bench_session(d->api_port) == -1) {
		rig_daemon_stop(d);
		rig_sim_stop(s);
		rig_socat_stop(socat);
		return (-1);
	}
	return (0);
}

static void
dev_stop(struct rig_sim *s, struct rig_daemon *d, pid_t *socat)
{
	rig_daemon_stop(d);
	rig_sim_stop(s);
	rig_socat_stop(socat);
}

/* Free run: ticks per second with a session running; 1 if it ran to
 * the end of the window. */
static int
dev_free_once(const struct dev_run *r, double secs, struct dev_fig *f,
    int try)
{
	struct rig_sim		 s;
	struct rig_daemon	 d;
	pid_t			 socat;
	uint64_t		 t0, t1;
	double			 a, b;
	char			 st[320];

	f->tps = -1;
	if (dev_start(r, 0, &s, &d, &socat) == -1)
		return (0);
	sleep_ms(1000);
	t0 = clock_mono_ns();
	if (dev_ticks(d.api_port, &a) == 0) {
		sleep_ms(secs * 1000);
		t1 = clock_mono_ns();
		if (dev_ticks(d.api_port, &b) == 0 && b > a)
			f->tps = (b - a) / ((t1 - t0) / 1e9);
	}
	session_end(d.api_port, st, sizeof(st));
	report_note("devices, free run, %s%s: %.0f ticks/s; session %s at the "
	    "end", r->name, try > 0 ? " (again)" : "", f->tps, st);
	dev_stop(&s, &d, &socat);
	return (strcmp(st, "running") == 0);
}

/*
 * A session that ended early (a routine worker starved on a loaded
 * machine) leaves the loop ticking without it, faster: run it again,
 * once.
 */
static void
dev_free(const struct dev_run *r, double secs, struct dev_fig *f)
{
	if (dev_free_once(r, secs, f, 0) == 0)
		(void)dev_free_once(r, secs, f, 1);
}

/* Paced: transactions and CPU a tick. */
static void
dev_paced(const struct dev_run *r, double secs, struct dev_fig *f)
{
	struct rig_sim		 s;
	struct rig_daemon	 d;
	pid_t			 socat;
	uint64_t		 c0, c1, t0, t1;
	double			 a, b, wall;
	off_t			 e0, e1;
	long			 req;
	char			 st[320];

	f->tx = f->cpu_us = f->cpu_pct = -1;
	if (dev_start(r, 1, &s, &d, &socat) == -1)
		return;
	sleep_ms(1000);
	t0 = clock_mono_ns();
	e0 = dev_size(s.events);
	if (dev_ticks(d.api_port, &a) == 0 &&
	    (c0 = dev_cpu_ns(d.pid)) > 0) {
		sleep_ms(secs * 1000);
		t1 = clock_mono_ns();
		e1 = dev_size(s.events);
		c1 = dev_cpu_ns(d.pid);
		if (dev_ticks(d.api_port, &b) == 0 && b > a && c1 >= c0 &&
		    e0 >= 0 && (req = dev_requests(s.events, e0, e1)) > 0) {
			wall = (t1 - t0) / 1e9;
			f->tx = req / (b - a);
			f->cpu_pct = 100.0 * (c1 - c0) / 1e9 / wall;
			f->cpu_us = (c1 - c0) / 1e3 / (b - a);
			report_note("devices, %.0f Hz, %s: %.0f ticks and %ld "
			    "requests in %.1f s; CPU %.2f %% of a core "
			    "(daemon and workers)", r->hz, r->name, b - a,
			    req, wall, f->cpu_pct);
		}
	}
	session_end(d.api_port, st, sizeof(st));
	if (strcmp(st, "running") != 0)
		report_note("devices, %.0f Hz, %s: session %s at the end",
		    r->hz, r->name, st);
	dev_stop(&s, &d, &socat);
}

/* One row: a device's value against the map's on its transport. */
static void
dev_row(const char *fig, int ok, const char *val, int dev, double v,
    double map, const char *refval)
{
	char	 ref[64] = "", ratio[24] = "";

	if (dev) {
		snprintf(ref, sizeof(ref), "%s (register map)", refval);
		if (map > 0)
			snprintf(ratio, sizeof(ratio), "%.2f", v / map);
	}
	report_row(fig, ok, val, ref, ratio, "report", -1);
}

/* The three rows of one table. */
static void
dev_rows(const struct dev_run *r, const struct dev_fig *f,
    const struct dev_fig *map)
{
	char	 fig[128], val[48], ref[48];
	int	 dev = r->kind != NULL;

	snprintf(fig, sizeof(fig), "Transactions a tick, %s (%.0f Hz)",
	    r->name, r->hz);
	snprintf(val, sizeof(val), "%.2f", f->tx);
	snprintf(ref, sizeof(ref), "%.2f", map->tx);
	dev_row(fig, f->tx > 0, val, dev, f->tx, map->tx, ref);

	snprintf(fig, sizeof(fig), "Free-run ticks/s, %s", r->name);
	snprintf(val, sizeof(val), "%.0f", f->tps);
	snprintf(ref, sizeof(ref), "%.0f", map->tps);
	dev_row(fig, f->tps > 0, val, dev, f->tps, map->tps, ref);

	snprintf(fig, sizeof(fig), "CPU a tick at %.0f Hz, %s (daemon and "
	    "workers)", r->hz, r->name);
	snprintf(val, sizeof(val), "%.1f us (%.2f %%)", f->cpu_us,
	    f->cpu_pct);
	snprintf(ref, sizeof(ref), "%.1f us", map->cpu_us);
	dev_row(fig, f->cpu_us >= 0, val, dev, f->cpu_us, map->cpu_us, ref);
}

/* 7. Described devices beside the register map. */
void
fig_devices(double free_s, double cpu_s)
{
	struct dev_fig	 figs[DEV_NRUNS];
	size_t		 i;

	printf("7. described devices beside the register map\n");
	if (rig_devices_dir() == NULL)
		warnx_("config/devices not found (run the bench from the top "
		    "of the tree): the device figures are not measured");
	for (i = 0; i < DEV_NRUNS; i++) {
		figs[i].tps = figs[i].tx = figs[i].cpu_us = -1;
		figs[i].cpu_pct = -1;
		if (dev_runs[i].kind != NULL && rig_devices_dir() == NULL)
			continue;
		dev_free(&dev_runs[i], free_s, &figs[i]);
		dev_paced(&dev_runs[i], cpu_s, &figs[i]);
	}
	/* Each device after the map on its transport, the one before it. */
	for (i = 0; i < DEV_NRUNS; i++)
		dev_rows(&dev_runs[i], &figs[i], &figs[i & ~(size_t)1]);
}
