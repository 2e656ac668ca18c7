/*
 * ctl.h: the seam between the bus and one kind of actuator controller, as
 * libmodbus has a backend per transport. bus.c owns the wire (links,
 * threads, mailboxes, reconnects, counters); a backend owns what the
 * controller's registers mean: its identity checks, how this tick's intent
 * (enable, fault reset, kPa per channel) is written, how its reading is
 * decoded into the neutral struct ctl_reading, how it is vented, and the
 * names status and metrics print. One file per kind (ctl-regmap.c: the
 * register map v1/v2), one row per kind in ctl.c; bus_start() picks a
 * backend per controller.
 *
 * Every backend operation runs on the controller's link thread, between
 * the transactions of the other controllers on that wire, and talks to the
 * controller only through the bus_io_*() services below (bus.c).
 */
#ifndef CTL_H
#define CTL_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"

/* This tick's intent for one controller, from the session. */
struct ctl_intent {
	int		 enable;	/* pressure allowed */
	int		 fault_reset;	/* clear a latched fault */
	int		 nchannels;	/* kpa[0 .. nchannels - 1] */
	double		 kpa[CHANNELS_MAX];
	uint16_t	 tick;		/* the control tick's number (it
					   wraps): a backend's heartbeat */
};

/* What a controller says of itself, in no controller's terms. */
struct ctl_reading {
	int		 estop;		/* the e-stop circuit is open */
	int		 client_stop;	/* the client's stop switch pressed */
	int		 fault;		/* a fault is latched */
	unsigned	 fault_code;	/* the backend's code, 0 none */
	const char	*fault_text;	/* for people, static */
	uint32_t	 flags;		/* bit i is ctl_desc.flag_name(i) */
	int		 channels;	/* the channels it has */
	double		 rating_kpa;	/* the most it may be asked for */
	double		 pressure_kpa[CHANNELS_MAX];
	int		 version;	/* its interface's version, 0 unknown */
	int		 claimed;	/* it has an owner claim, */
	unsigned	 owner;		/* and this owner id holds it */
};

/* What status and metrics need to know of a kind. */
struct ctl_desc {
	const char		*kind;		/* the backend's name */
	const char		*interface;	/* "register map" */
	int			 version;	/* the newest it speaks */
	int			 nflags;
	/* The names of ctl_reading.flags' bits (status's keys) and of a
	 * fault code (status's fault_name). */
	const char		*(*flag_name)(int bit);
	const char		*(*fault_name)(unsigned code);
};

/* What a backend is told of its controller when the bus starts. */
struct ctl_setup {
	const struct ctl_conf	*conf;
	int			 need_channels;	/* the zones use as many */
	unsigned		 owner;		/* our owner id, 1..65535 */
};

/* One controller as bus.c knows it: opaque to a backend. */
struct bus_ctl;

/*
 * A proof of the safe state in progress (prove() below). bus.c starts it
 * zeroed after every connect; the backend keeps its own state in step,
 * mark_ns and count, and sets wait_ms.
 */
struct ctl_proof {
	int		 step;		/* the backend's; 0 at the first call */
	int		 count;		/* the backend's */
	uint64_t	 mark_ns;	/* the backend's: e.g. feeding stopped */
	uint64_t	 t0_ns;		/* CLOCK_MONOTONIC: the proof began */
	int		 wait_ms;	/* call again after (0: next turn) */
};

/* The proof as the loop sees it (struct bus_reading). */
enum ctl_proof_state {
	CTL_PROOF_NONE,		/* not connected */
	CTL_PROOF_RUNNING,
	CTL_PROOF_PASSED,
	CTL_PROOF_FAILED
};

#define CTL_PROOF_LINES		14
#define CTL_PROOF_LINE_LEN	112

struct ctl_proof_log {
	enum ctl_proof_state	 state;
	int			 n;		/* lines[], the last kept */
	struct {
		uint32_t	 ms;		/* since the proof began */
		char		 text[CTL_PROOF_LINE_LEN];
	}			 lines[CTL_PROOF_LINES];
	uint32_t		 ms;		/* how long the last one took */
	uint64_t		 passed;	/* counts */
	uint64_t		 failed;
	char			 why[CTL_PROOF_LINE_LEN]; /* not seen */
};

/*
 * The operations of one kind. Each returns 0, or -1 after saying why
 * through bus_io_refuse(), bus_io_failed(), bus_io_fail() or bus_io_lost().
 */
struct ctl_backend {
	const char	*kind;
	void		*(*create)(const struct ctl_setup *);
	void		 (*destroy)(void *st);
	/* After the transport connects: identity checks, claims, settings
	 * written and read back; fills rd's identity. */
	int		 (*connect)(struct bus_ctl *, void *st,
			    struct ctl_reading *rd);
	/* Step 0: checks of the last tick read that need no transaction.
	 * Steps 1 and up: one read-back each. 1 when another step follows,
	 * 0 when this was the last, -1 when the controller is lost. */
	int		 (*verify)(struct bus_ctl *, void *st, int step);
	/*
	 * The proof of the safe state on the device itself, after every
	 * connect and before anything is driven (docs/devices.md): at zero
	 * pressure, arm the watchdog (or the interlock), stop feeding it,
	 * see it trip within its timeout plus a margin, reset and re-arm.
	 * Called on the link thread, again and again, one or a few
	 * transactions a call, so vents and the other controllers of the
	 * wire never wait for it: 1 when it goes on (after pf->wait_ms),
	 * 0 proven, -1 failed after bus_io_unproven() (or lost after
	 * bus_io_fail()/bus_io_lost()). Each step seen is told with
	 * bus_io_proved(). A vent in between starts it again.
	 */
	int		 (*prove)(struct bus_ctl *, void *st,
			    struct ctl_proof *pf);
	/* This tick's intent; the backend adds its heartbeat and scaling.
	 * rd: what it learns when the write is refused (its owner). */
	int		 (*tick_write)(struct bus_ctl *, void *st,
			    const struct ctl_intent *, struct ctl_reading *rd);
	/* This tick's reading into rd (rd's identity is the connect's). */
	int		 (*tick_read)(struct bus_ctl *, void *st,
			    struct ctl_reading *rd);
	/* Pressure off now, outside the tick; -1 also when the controller
	 * is not ours to vent. */
	int		 (*vent)(struct bus_ctl *, void *st);
	/* One frame that vents every controller on a shared serial line,
	 * answered by none; NULL when the kind has none. */
	int		 (*vent_broadcast)(struct bus_ctl *);
	/* A fault reset that needs a transaction of its own, before the
	 * tick write; NULL when the tick write carries it (regmap). */
	int		 (*fault_reset)(struct bus_ctl *, void *st);
	const struct ctl_desc *(*describe)(void);
};

/* The backend of a kind; NULL names the default kind. NULL if unknown. */
const struct ctl_backend	*ctl_backend_find(const char *kind);

/*
 * bus.c's services to a backend, on the link thread. Reads and writes are
 * one Modbus transaction each (FC03/FC04; FC06 for one register, FC16 for
 * more) and return n or -1 with errno (EMBXSBUSY and the like for an
 * exception).
 */
int	bus_io_read(struct bus_ctl *, int input, int addr, int n,
	    uint16_t *v);
int	bus_io_write(struct bus_ctl *, int addr, int n, const uint16_t *v);
/* FC01 (coils 1) or FC02 (coils 0: discrete inputs) of n bits at addr
 * into v, one byte (0 or 1) a bit; n or -1 with errno. */
int	bus_io_read_bits(struct bus_ctl *, int coils, int addr, int n,
	    uint8_t *v);
/* FC05 of one coil; 1 or -1 with errno. */
int	bus_io_write_bit(struct bus_ctl *, int addr, int on);
/* The unit id the next transactions of this turn address (a controller
 * made of several devices on one wire); each turn starts at the
 * controller's unit_id. */
void	bus_io_unit(struct bus_ctl *, int unit_id);
/* The proof: a step seen (logged with its time), or what was not. */
void	bus_io_proved(struct bus_ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	bus_io_unproven(struct bus_ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A raw request with no reply (a broadcast); 1 sent, 0 not. */
int	bus_io_send_raw(struct bus_ctl *, const uint8_t *adu, int len);
/* After a failed claim: what came late is not the next reply. */
void	bus_io_flush(struct bus_ctl *);
/* Connect: a refusal (the controller is not what we need). */
void	bus_io_refuse(struct bus_ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Connect: a transaction failed; the error of errno is appended. */
void	bus_io_failed(struct bus_ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The tick or a read-back: a transaction failed (counted; enough of them,
 * the controller is down). */
void	bus_io_fail(struct bus_ctl *, const char *what);
/* It changed behind the link, or is not ours: lost, connect again. */
void	bus_io_lost(struct bus_ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A read-back cycle was done (counted for /metrics). */
void	bus_io_verified(struct bus_ctl *);
/* Connect: NULL when this machine's endpoint lock is held (no other
 * daemon here drives the controller), else why it could not be taken
 * (the lock file and the error). */
const char *bus_io_unguarded(struct bus_ctl *);

#endif
