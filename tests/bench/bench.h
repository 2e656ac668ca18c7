/*
 * bench.h: massaged-bench, the benchmark behind "make bench".
 *
 * bench.c owns the command line and the figures, rig.c the processes it
 * starts (simulator, daemon, socat), their generated configurations and
 * /proc readings, net.c the HTTP client and the /metrics parser, evtail.c
 * the reader of the simulator's event log, bare.c the bare libmodbus loop
 * the daemon is compared with, worker.c the cost of routines in workers,
 * report.c statistics and the report.
 */
#ifndef BENCH_H
#define BENCH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"

#define BENCH_MAXCTL		8
#define BENCH_TOKEN		"bench-token-5f0c2a9e71d84b36"
#define BENCH_PROGRAM		"bench"
#define BENCH_PROFILE		"bench"
#define BENCH_OWNER		4242	/* map v2 owner id, daemon and bare */

#define BENCH_PRINTF(a, b)	__attribute__((format(printf, a, b)))

/* A running massaged-sim. */
struct rig_sim {
	pid_t		 pid;
	int		 nctl;
	int		 channels;
	int		 ports[BENCH_MAXCTL];	/* TCP controllers */
	int		 ctl_port;		/* control socket */
	int		 ctl_fd;		/* our connection to it */
	char		 events[PATH_MAX];	/* event log, "" if none */
	char		 out[PATH_MAX];		/* stdout: the banner */
	char		 err[PATH_MAX];
};

/* A generated table configuration. */
struct rig_conf {
	int		 nctl;
	int		 zones;			/* per controller */
	double		 tick_hz;
	int		 free_run;
	const char	*device;		/* RTU: every controller here,
						 * unit ids 1, 2, ... */
	int		 baud;
	const char	*kind;			/* NULL the register map;
						 * "wago", "rs485": the
						 * example tables' devices */
};

/* A running massaged. */
struct rig_daemon {
	pid_t		 pid;
	int		 api_port;
	double		 ready_ms;		/* fork to READY=1 */
	char		 conf[PATH_MAX];
	char		 err[PATH_MAX];
};

/* One line of the simulator's event log. */
enum ev_kind {
	EV_OTHER,
	EV_FC16,	/* a write of CONTROL, HEARTBEAT, SETPOINTs arrived */
	EV_FC6,		/* a single register write arrived */
	EV_FC4
};

struct ev {
	uint64_t	 ns;
	int		 c;
	enum ev_kind	 kind;
	int		 addr;		/* fc6 */
	int		 value;		/* fc6 */
	int		 control;	/* fc16 */
	int		 heartbeat;	/* fc16 */
};

struct evtail {
	int		 fd;
	int		 ino;		/* inotify, -1 without */
	char		 buf[1 << 16];
	size_t		 len;
};

/* rig.c; rig_sim_start() flags */
#define RIG_EVENTS	1	/* an event log */
#define RIG_FAST	2	/* --fast: no physics, the bare server */
#define RIG_WAGO	4	/* WAGO 750-352 couplers */
#define RIG_RS485	8	/* RS-485 AO, AI and relay modules (RTU) */

void		 sleep_ms(double);
void		 warnx_(const char *, ...) BENCH_PRINTF(1, 2);
int		 rig_init(const char *, int);
void		 rig_cleanup(int);
const char	*rig_tmp(void);
const char	*rig_devices_dir(void);
int		 rig_sim_start(struct rig_sim *, const char *, int, int, int,
		    const char *);
void		 rig_sim_stop(struct rig_sim *);
int		 rig_sim_cmd(struct rig_sim *, const char *, uint64_t *);
int		 rig_daemon_start(struct rig_daemon *, const char *,
		    const struct rig_conf *, const struct rig_sim *);
void		 rig_daemon_stop(struct rig_daemon *);
int		 rig_alive(pid_t);
int		 rig_socat_start(pid_t *, char *, char *, size_t);
void		 rig_socat_stop(pid_t *);
int		 rig_cpu_ticks(pid_t, uint64_t *);
int		 rig_cpu_ticks_tree(pid_t, uint64_t *);
int		 rig_status_kb(pid_t, const char *, long *);
int		 rig_daemon_version(char *, size_t);

/* net.c */
int		 http_req(int, const char *, const char *, const char *,
		    char *, size_t, uint64_t *);
int		 http_state(int, char *, size_t, char *, size_t);
int		 metric_get(const char *, const char *, double *);
int		 metric_hist(const char *, const char *, double *, double *,
		    int);

/* evtail.c */
int		 evtail_open(struct evtail *, const char *);
void		 evtail_close(struct evtail *);
void		 evtail_skip(struct evtail *);
int		 evtail_next(struct evtail *, struct ev *);
void		 evtail_wait(struct evtail *, int);

/* bare.c */
int		 bare_run(const int *, int, int, double, double *);
int		 bare_rtt(int, int, double *);

/* bench.c */
int		 bench_session(int);
void		 session_end(int, char *, size_t);

/* worker.c */
void		 fig_worker(const char *, double, double);

/* devices.c */
void		 fig_devices(double, double);

/* report.c */
double		 pct(double *, int, double);
void		 report_start(void);
void		 report_row(const char *, int, const char *, const char *,
		    const char *, const char *, int);
void		 report_note(const char *, ...) BENCH_PRINTF(1, 2);
int		 report_missing(void);
void		 report_print(FILE *);
int		 report_markdown(const char *, const char *, int, const char *);

#endif
