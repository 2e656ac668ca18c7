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
 *	ctlsock.c	the fault injection socket
 *	ctlcmd.c	its client, massaged-sim --control-cmd
 *	wire.c		the Modbus TCP and RTU transports
 *	pers.c		a controller's personality: which device it is
 *			(regmap, the default, or a described device)
 *	pers-wago.c, pers-rs485.c
 *			the device personalities' registers and behaviour
 *	plant.c		register map v2/v1 (the regmap personality) and the
 *			pneumatic physics every personality drives
 *	pdu.c		Modbus PDU parsing and replies for the devices
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

/* Which device a controller is (--personality; docs/simulator.md). */
enum sim_pers {
	PERS_REGMAP,		/* register map v2/v1: today's controller */
	PERS_WAGO,		/* WAGO 750-352 coupler, 8 AO, 8 AI, 8 DI, 8 DO */
	PERS_AO8,		/* RS-485 8-channel analogue output, no watchdog */
	PERS_AI8,		/* RS-485 8-channel analogue input */
	PERS_RELAY,		/* RS-485 relay module with the safety relay */
	PERS_COUNT
};

#define SIM_DEV_CH		8	/* channels and bits of every device */
#define SIM_DEV_KPA		60.0	/* 0-10 V regulators and sensors */
#define SIM_WD_REGS		9	/* WAGO watchdog: 0x1000..0x1008 */

/* What a control command needs of a personality (pers_can()). */
#define PERS_CAN_INPUTS		0x01	/* estop, client_stop */
#define PERS_CAN_CHANNELS	0x02	/* stick, overpressure */
#define PERS_CAN_SENSORS	0x04	/* freeze */
#define PERS_CAN_RELAY		0x08	/* relay_weld */
#define PERS_CAN_REGMAP		0x10	/* identity, sensor_fault */
#define PERS_CAN_WATCHDOG	0x20	/* watchdog_broken */

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
	int		 pers;		/* enum sim_pers */
	int		 dropout_ms;	/* relay: longest gap between toggles */
	int		 idle_ms;	/* TCP: close an idle client, 0 never */
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
	uint64_t		 last_ns;	/* last bytes received */
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
	int			 frozen[SIM_MAXCHAN];	/* sensor reading held */

	/* device personalities (pers-wago.c, pers-rs485.c) */
	uint16_t		 ao[SIM_DEV_CH];	/* outputs, raw */
	uint16_t		 ai[SIM_DEV_CH];	/* inputs as read, raw */
	uint8_t			 coil[SIM_DEV_CH];
	uint8_t			 di[SIM_DEV_CH];
	uint16_t		 wd[SIM_WD_REGS];	/* WAGO 0x1000.. */
	uint64_t		 wd_fed_ns;
	int			 relay_in;	/* the safety relay is in */
	int			 welded;	/* injected: it never drops */
	int			 wd_broken;	/* injected: its watchdog never
						   trips (a lie) */
	uint64_t		 edge_ns;	/* coil 0 last toggled, 0 never */
	struct sim_ctl		*peer;		/* AI, relay: the AO module */
	struct sim_ctl		*relay;		/* AO: its relay module */
	int			 wrong_unit;	/* injected: answers this id */

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

/* A device request, checked for its form by pdu_parse(). */
struct pdu_req {
	int			 fc;
	int			 addr;
	int			 n;		/* registers or bits */
	int			 write;
	const uint8_t		*data;		/* values (FC5, FC6: 2 bytes) */
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

/* ctlcmd.c */
int		 ctlcmd_run(const char *, int, int, char **);

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

/* pers.c */
int		 pers_find(const char *);
const char	*pers_name(int);
int		 pers_can(const struct sim_ctl *, int);
int		 pers_attach(struct sim *, struct sim_ctl *);
int		 pers_init(struct sim_ctl *, uint64_t);
void		 pers_step(struct sim_ctl *, uint64_t);
int		 pers_serve(struct sim_ctl *, const uint8_t *, int, uint8_t *,
		    int *, uint64_t);
void		 pers_powercycle(struct sim_ctl *, uint64_t);
int		 pers_json(struct sim_ctl *, char *, size_t);

/* pers-wago.c */
void		 wago_init(struct sim_ctl *, uint64_t);
void		 wago_step(struct sim_ctl *, uint64_t);
int		 wago_serve(struct sim_ctl *, const struct pdu_req *,
		    uint8_t *, int *, uint64_t);
void		 wago_powercycle(struct sim_ctl *, uint64_t);

/* pers-rs485.c */
void		 rs485_init(struct sim_ctl *, uint64_t);
void		 rs485_step(struct sim_ctl *, uint64_t);
int		 rs485_serve(struct sim_ctl *, const struct pdu_req *,
		    uint8_t *, int *, uint64_t);
void		 rs485_powercycle(struct sim_ctl *, uint64_t);

/* plant.c */
int		 plant_init(struct sim_ctl *, uint64_t);
void		 plant_free(struct sim_ctl *);
void		 plant_step(struct sim_ctl *, uint64_t);
int		 plant_check(struct sim_ctl *, const uint8_t *, int);
void		 plant_written(struct sim_ctl *, uint16_t, uint16_t, uint64_t);
void		 plant_overpressure(struct sim_ctl *, int);
void		 plant_claimed(struct sim_ctl *, unsigned, uint64_t);
void		 plant_powercycle(struct sim_ctl *, uint64_t);
void		 plant_advance(struct sim_ctl *, uint64_t, const double *, int,
		    const char *);

/* pdu.c */
int		 pdu_parse(const uint8_t *, int, struct pdu_req *);
int		 pdu_regs(uint8_t *, int, const uint16_t *, int);
int		 pdu_bits(uint8_t *, int, const uint8_t *, int);
int		 pdu_echo(uint8_t *, const struct pdu_req *);
uint16_t	 pdu_reg(const struct pdu_req *, int);
int		 pdu_bit(const struct pdu_req *, int);

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
