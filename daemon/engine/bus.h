/*
 * bus.h: Modbus I/O to the actuator controllers, each through the backend
 * of its kind (ctl.h; the register map v2 and v1: ctl-regmap.c).
 *
 * One I/O thread and one modbus_t per wire: the controllers that share a
 * serial device, or a TCP host:port (a gateway, different unit ids), share
 * one link and take their turns on it. libmodbus contexts are not
 * thread-safe and its calls block, so the event loop never calls libmodbus.
 * The loop hands each controller this tick's intent (enable, fault reset,
 * kPa per channel); the thread has the backend write it and read the
 * controller (one transaction each) and hands the reading back through an
 * event. A vent jumps the queue on every link at once; on a shared RS-485
 * line it goes out first as one broadcast.
 */
#ifndef BUS_H
#define BUS_H

#include <stdint.h>

#include "ctl.h"
#include "table.h"

#define RTT_BUCKETS		12
#define BUS_ERROR_LEN		320	/* an error for people, with a path */

/* What the loop knows of one controller. */
struct bus_reading {
	int		 connected;	/* link up, connect checks and the
					   proof of the safe state passed */
	struct ctl_proof_log proof;	/* the last proof, step by step */
	uint64_t	 seq;		/* successful tick transactions */
	uint64_t	 t_ns;		/* CLOCK_MONOTONIC of the last reading */
	struct ctl_reading ctl;		/* the backend's, of the last tick */
	int		 failures;	/* consecutive */
	uint64_t	 downs;		/* times it went down (never missed) */
	char		 down_why[BUS_ERROR_LEN]; /* the error when last down */
	int		 vent_pending;
	uint64_t	 vents_acked;	/* vents acknowledged */
	uint64_t	 vents_failed;
	char		 error[BUS_ERROR_LEN]; /* last error, for people */
	/* counters for /metrics */
	uint64_t	 transactions;
	uint64_t	 errors;
	uint64_t	 connects;
	uint64_t	 verifications;	/* identity and read-backs checked */
	uint64_t	 verify_failures;
	uint64_t	 rtt_count;
	double		 rtt_sum_s;
	uint64_t	 rtt_bucket[RTT_BUCKETS];
};

extern const double bus_rtt_bounds_s[RTT_BUCKETS];

struct bus;
struct event_base;

/* Called on the loop thread whenever a link has news (reading, link up or
 * down, vent done). */
typedef void	(*bus_cb)(struct bus *, int ctl, void *arg);

struct bus	*bus_start(struct event_base *base, const struct table *t,
		    bus_cb cb, void *arg);
/* Queues this tick's intent for ctl, replacing one not yet sent. */
void		 bus_submit(struct bus *b, int ctl,
		    const struct ctl_intent *in);
/* Vents every controller on every link, before anything else queued;
 * drops queued intents. Returns at once. */
void		 bus_vent_all(struct bus *b);
/* 1 while any link still has a vent to send or to see acknowledged. */
int		 bus_venting(struct bus *b);
void		 bus_get(struct bus *b, int ctl, struct bus_reading *out);
/* 1 while ctl's proof of its safe state runs (bus-prove.c). */
int		 bus_proving(struct bus *b, int ctl);
/* rd.downs alone, cheaply: the loop checks it on every reading. */
uint64_t	 bus_downs(struct bus *b, int ctl);
/* The backend of ctl's kind (its describe() names what status shows). */
const struct ctl_backend *bus_backend(struct bus *b, int ctl);
void		 bus_stop(struct bus *b);	/* ends and joins the threads */

#endif
