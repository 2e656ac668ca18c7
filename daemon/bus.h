/*
 * bus.h: Modbus I/O to the actuator controllers (register map v1).
 *
 * One I/O thread and one modbus_t per controller link: libmodbus contexts
 * are not thread-safe and its calls block, so the event loop never calls
 * libmodbus. The loop hands each link a request (CONTROL, HEARTBEAT and
 * all setpoints) per tick; the thread performs one FC16 write and one FC04
 * read and hands the reading back through an event. A vent (CONTROL = 0)
 * jumps the queue on every link at once.
 */
#ifndef BUS_H
#define BUS_H

#include <stdint.h>

#include "table.h"

/* Register map v1. */
#define MAP_VERSION		1
#define REG_CONTROL		0
#define REG_HEARTBEAT		1
#define REG_SETPOINT		2
#define REG_WATCHDOG_MS		100
#define IREG_STATUS		0
#define IREG_FAULT_CODE		1
#define IREG_PRESSURE		2
#define IREG_MAP_VERSION	100
#define IREG_CHANNELS		101
#define IREG_MAX_PRESSURE	102

#define CONTROL_ENABLE		0x0001
#define CONTROL_FAULT_RESET	0x0002

#define STATUS_READY		0x0001
#define STATUS_ACTIVE		0x0002
#define STATUS_FAULT		0x0004
#define STATUS_ESTOP		0x0008
#define STATUS_CLIENT_STOP	0x0010
#define STATUS_WATCHDOG		0x0020

#define FAULT_NONE		0
#define FAULT_WATCHDOG		1
#define FAULT_OVERPRESSURE	2
#define FAULT_ESTOP		3
#define FAULT_SENSOR		4

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
	int		 failures;	/* consecutive */
	int		 vent_pending;
	uint64_t	 vents_acked;	/* CONTROL = 0 writes acknowledged */
	uint64_t	 vents_failed;
	char		 error[192];	/* last error, for people */
	/* counters for /metrics */
	uint64_t	 transactions;
	uint64_t	 errors;
	uint64_t	 connects;
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
int		 bus_count(struct bus *b);
void		 bus_stop(struct bus *b);	/* ends and joins the threads */

/* Register encoding: kPa <-> 0.1 kPa units, clamped to [0, 6553.5]. */
uint16_t	 bus_kpa_to_reg(double kpa);
double		 bus_reg_to_kpa(uint16_t reg);

#endif
