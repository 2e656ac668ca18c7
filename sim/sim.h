/*
 * sim.h: the table simulator massaged-sim, a Modbus server that behaves
 * like the actuator controllers of register map v2, or v1 with
 * --map-version 1 (docs/register-map.md; its names and units are in
 * massaged/regmap.h).
 *
 * One process simulates several controllers. The files form layers, each
 * calling only those below it (tests/integration/test_sim_layers.py keeps
 * it so):
 *
 *	main.c		the command line, the startup lines and the poll loop
 *	ctlsock.c	the fault injection socket (and its --control-cmd client)
 *	wire.c		the Modbus TCP and RTU transports
 *	plant.c		the register map and the physics of one controller
 *	evlog.c, net.c, pollset.c
 *			the event log, TCP addresses, the loop's poll set
 *
 * What they share is data, not calls: struct sim (the controllers and the
 * loop's flags) is main.c's, and each controller points back at it.
 */
#ifndef SIM_H
#define SIM_H

#include <sys/queue.h>

#include <poll.h>
#include <stdint.h>

#include <modbus.h>

#include "clock.h"
#include "log.h"
#include "massaged/regmap.h"

#define SIM_MAXCHAN		REGMAP_CHANNELS_MAX
#define SIM_MAXCTL		64
#define SIM_MAXCLIENTS		32	/* TCP connections per controller */
#define SIM_ADU_MAX		260	/* MODBUS_TCP_MAX_ADU_LENGTH */
#define SIM_PENDING_MAX		1024	/* delayed requests per controller */

#define SIM_BAD_UNIT		1	/* replies carry another unit id */
#define SIM_BAD_PROTO		2	/* replies carry protocol id 1 */

#define VENTED_BELOW		5.0	/* 0.5 kPa, in register units */
#define RTU_FRAME_TIMEOUT_NS	100000000ULL	/* partial RTU frame dropped */

enum sim_transport {
	SIM_TCP,
	SIM_RTU
};

/* Per-controller settings; on the command line they apply to the
 * controllers named after them. */
struct sim_params {
	int		 channels;
	double		 max_kpa;
	double		 tau_ms;
	double		 vent_tau_ms;
	int		 unit_id;
	int		 map_version;
	int		 watchdog_ms;
	int		 baud;
	char		 parity;
	int		 data_bits;
	int		 stop_bits;
};

struct sim_ctl;

/* The simulator's shared state, owned by main.c; the subsystems reach it
 * through sim_ctl.sim (or the pointer ctlsock_open() is given). */
struct sim {
	struct sim_ctl		*ctls[SIM_MAXCTL];
	int			 nctls;
	int			 quitting;	/* the loop ends after this turn */
	int			 fast;		/* --fast: no physics */
	long			 tick_ms;	/* longest sleep of the loop */
};

/* One TCP connection to a controller. */
struct sim_client {
	TAILQ_ENTRY(sim_client)	 entry;
	struct sim_ctl		*ctl;
	int			 fd;
	int			 id;
	int			 dead;		/* closed at the end of the loop */
	char			 peer[80];
	uint8_t			 buf[SIM_ADU_MAX];
	size_t			 len;
};

/* A request whose reply is delayed ("delay" injection). */
struct sim_pending {
	TAILQ_ENTRY(sim_pending) entry;
	struct sim_client	*client;	/* NULL on RTU */
	uint64_t		 due_ns;
	int			 len;
	uint8_t			 adu[SIM_ADU_MAX];
};

struct sim_ctl {
	struct sim		*sim;		/* the controllers it is among */
	int			 idx;
	struct sim_ctl		*ep;		/* owner of the endpoint: self,
						 * or the first controller on
						 * the same port or line */
	enum sim_transport	 transport;
	struct sim_params	 p;
	char			 addr[256];	/* host:port or device */
	char			 host[128];
	int			 port;

	/* Modbus */
	modbus_t		*mb;
	modbus_mapping_t	*map;
	int			 listen_fd;
	TAILQ_HEAD(, sim_client) clients;
	int			 nclients;
	int			 next_client_id;
	int			 serial_fd;
	uint8_t			 rx[SIM_ADU_MAX];
	size_t			 rxlen;
	uint64_t		 rx_last_ns;
	uint64_t		 reopen_ns;	/* serial line lost: retry at */
	TAILQ_HEAD(, sim_pending) pending;
	int			 npending;

	/* plant */
	double			 pressure[SIM_MAXCHAN];	/* 0.1 kPa */
	int			 stuck[SIM_MAXCHAN];
	uint16_t		 max_p;			/* 0.1 kPa */
	int			 estop;
	int			 client_stop;
	int			 sensor_fault;
	int			 fault;			/* latched code */
	int			 active;
	uint64_t		 hb_ns;		/* heartbeat last changed */
	uint64_t		 step_ns;	/* physics last advanced */
	int			 vent_pending;
	uint64_t		 vent_ns;
	unsigned		 owner;		/* map v2 claim, 0 none */
	uint64_t		 claim_ns;	/* last write bearing it */

	/* injected faults */
	int			 refuse;
	int			 hang_forever;
	uint64_t		 hang_until_ns;
	int			 delay_ms;
	int			 exc_code;
	int			 bad_reply;	/* TCP: SIM_BAD_UNIT, _PROTO */

	/* counters */
	uint64_t		 requests;
	uint64_t		 writes;
	uint64_t		 exceptions;
};

/* What a poll entry is, so the loop can dispatch it. */
enum pollset_kind {
	POLL_SIGNAL,
	POLL_CONTROL_LISTEN,
	POLL_CONTROL_CLIENT,
	POLL_TCP_LISTEN,
	POLL_TCP_CLIENT,
	POLL_SERIAL
};

struct pollset_ent {
	enum pollset_kind	 kind;
	void			*ptr;
};

struct pollset {
	struct pollfd		*pfd;
	struct pollset_ent	*ent;
	size_t			 n;
	size_t			 cap;
};

/* main.c: main() only; it calls every file below. */

/* ctlsock.c */
int		 ctlsock_open(struct sim *, const char *, int);
void		 ctlsock_close(void);
void		 ctlsock_poll(struct pollset *);
void		 ctlsock_accept(void);
void		 ctlsock_read(void *);
void		 ctlsock_reap(void);
void		 ctlsock_print(void);
int		 ctlsock_command(const char *, int, int, char **);

/* wire.c */
int		 wire_open(struct sim_ctl *);
void		 wire_close(struct sim_ctl *);
void		 wire_poll(struct sim_ctl *, struct pollset *);
void		 wire_accept(struct sim_ctl *);
void		 wire_read(struct sim_client *);
void		 wire_serial(struct sim_ctl *, short);
void		 wire_timers(struct sim_ctl *, uint64_t);
uint64_t	 wire_next_ns(struct sim_ctl *, uint64_t);
int		 wire_drop(struct sim_ctl *, const char *);
void		 wire_flush(struct sim_ctl *);
void		 wire_reap(struct sim_ctl *);

/* plant.c */
int		 plant_init(struct sim_ctl *, uint64_t);
void		 plant_free(struct sim_ctl *);
void		 plant_step(struct sim_ctl *, uint64_t);
int		 plant_check(struct sim_ctl *, const uint8_t *, int);
void		 plant_written(struct sim_ctl *, uint16_t, uint16_t, uint64_t);
void		 plant_overpressure(struct sim_ctl *, int);
void		 plant_claimed(struct sim_ctl *, unsigned, uint64_t);
void		 plant_powercycle(struct sim_ctl *, uint64_t);

/* evlog.c */
int		 evlog_open(const char *);
void		 evlog_close(void);
void		 evlog_emit(const struct sim_ctl *, uint64_t, const char *, ...)
		    LOG_PRINTF(3, 4);

/* net.c */
int		 net_listen(const char *, int, int *);
void		 net_hostport(char *, size_t, const char *, int);
int		 net_split(const char *, char *, size_t, int *);

/* pollset.c */
void		 pollset_add(struct pollset *, int, short, enum pollset_kind,
		    void *);
void		 pollset_free(struct pollset *);

#endif
