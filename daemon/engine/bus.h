/*
 * bus.h: Modbus I/O to the actuator controllers (register map v2 and v1,
 * whose names and units are in massaged/regmap.h).
 *
 * One I/O thread and one modbus_t per wire: the controllers that share a
 * serial device, or a TCP host:port (a gateway, different unit ids), share
 * one link and take their turns on it. libmodbus contexts are not
 * thread-safe and its calls block, so the event loop never calls libmodbus.
 * The loop hands each controller a request (CONTROL, HEARTBEAT and all
 * setpoints) per tick; the thread performs one FC16 write and one FC04
 * read per controller and hands the reading back through an event. A vent
 * (CONTROL = 0) jumps the queue on every link at once; on a shared RS-485
 * line it goes out first as one broadcast.
 */
#ifndef BUS_H
#define BUS_H

#include <stdint.h>

#include "massaged/regmap.h"
#include "table.h"

#define RTT_BUCKETS		12

/* What the loop knows of one controller. */
struct bus_reading {
	int		 connected;	/* link up, connect checks passed */
	uint64_t	 seq;		/* successful tick transactions */
	uint64_t	 t_ns;		/* CLOCK_MONOTONIC of the last reading */
	uint16_t	 status;
	uint16_t	 fault_code;
	int		 channels;	/* CHANNELS reported by the controller */
	double		 rating_kpa;	/* MAX_PRESSURE */
	double		 pressure_kpa[CHANNELS_MAX];
	int		 map_version;	/* MAP_VERSION at connect */
	unsigned	 owner;		/* v2: OWNER last read */
	int		 failures;	/* consecutive */
	uint64_t	 downs;		/* times it went down (never missed) */
	char		 down_why[192];	/* the error when it last went down */
	int		 vent_pending;
	uint64_t	 vents_acked;	/* CONTROL = 0 writes acknowledged */
	uint64_t	 vents_failed;
	char		 error[192];	/* last error, for people */
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
/* Queues this tick's request for ctl, replacing one not yet sent. */
void		 bus_submit(struct bus *b, int ctl, uint16_t control,
		    uint16_t heartbeat, const uint16_t *setpoints, int n);
/* CONTROL = 0 on every link, before anything else queued; drops queued
 * requests. Returns at once. */
void		 bus_vent_all(struct bus *b);
/* 1 while any link still has a vent to send or to see acknowledged. */
int		 bus_venting(struct bus *b);
void		 bus_get(struct bus *b, int ctl, struct bus_reading *out);
/* rd.downs alone, cheaply: the loop checks it on every reading. */
uint64_t	 bus_downs(struct bus *b, int ctl);
int		 bus_count(struct bus *b);
void		 bus_stop(struct bus *b);	/* ends and joins the threads */

#endif
