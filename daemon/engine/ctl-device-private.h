/*
 * ctl-device-private.h: what the described devices' backend shares
 * between its files: ctl-device.c (the descriptions, the plans, the
 * transactions, connect), ctl-device-tick.c (the tick, the read-backs,
 * the vent, the names) and ctl-device-prove.c (the safe state and its
 * proof).
 */
#ifndef CTL_DEVICE_PRIVATE_H
#define CTL_DEVICE_PRIVATE_H

#include <stdint.h>

#include "ctl.h"
#include "device.h"

/*
 * The proof's margin over a rated time (a watchdog's timeout, a relay's
 * dropout): a tenth of it plus 50 ms (docs/devices.md).
 */
#define CTL_DEV_MARGIN_MS(ms)	((ms) / 10 + 50)
#define CTL_DEV_POLL_MS		10	/* the proof's calls, apart */
#define CTL_DEV_FEEDS		3	/* feeds seen before feeding stops */
/* A relay that never comes in: its dropout three times, plus this. */
#define CTL_DEV_RELAY_IN_MS(ms)	((ms) * 3 + 500)
/* The proof moves outputs this close to their trip value, at most. */
#define CTL_DEV_PROBE_KPA	0.5

/* Runs: the largest gap inside a read run, and the largest runs. */
#define CTL_DEV_GAP_REGS	8
#define CTL_DEV_GAP_BITS	16
#define CTL_DEV_READ_REGS	125	/* FC03, FC04 */
#define CTL_DEV_WRITE_REGS	123	/* FC16 */
#define CTL_DEV_READ_BITS	2000	/* FC01, FC02 */

#define CTL_DEV_ITEMS		(DEVICE_MAX_AO + DEVICE_MAX_AI + \
				    CTL_PARTS * (DEVICE_MAX_DI + \
				    DEVICE_MAX_WRITES) + 1)
#define CTL_DEV_IOS		(CTL_PARTS * (DEVICE_MAX_DI + DEVICE_MAX_DO))
#define CTL_DEV_CHECKS		(2 + DEVICE_MAX_WRITES + DEVICE_MAX_DO + \
				    CTL_DEV_ITEMS)

/* Fault codes (fault_name()). */
enum {
	CTL_DEV_FAULT_NONE,
	CTL_DEV_FAULT_SENSOR,		/* a reading outside its raw range */
	CTL_DEV_FAULT_RELAY,		/* the interlock relay dropped out */
	CTL_DEV_FAULTS
};

/* Flag bits (flag_name()). */
enum {
	CTL_DEV_FLAG_RELAY_IN,
	CTL_DEV_FLAG_VENT_OPEN,
	CTL_DEV_FLAG_ARMED,
	CTL_DEV_FLAGS
};

/* One value a plan reads or writes: registers or bits of one part. */
struct ctl_dev_item {
	int			 part;		/* enum ctl_part_role */
	enum device_space	 space;
	int			 addr;
	int			 n;		/* registers, or bits */
	int			 run;		/* planned: its transaction */
	int			 at;		/* and its first value in buf */
};

/* One transaction: a contiguous run of one part's table. */
struct ctl_dev_run {
	int			 part;
	enum device_space	 space;
	int			 addr;
	int			 n;
	int			 at;		/* its first value in buf */
};

/* Values grouped into as few transactions as the rules allow. */
struct ctl_dev_plan {
	int			 nitems;
	struct ctl_dev_item	 items[CTL_DEV_ITEMS];
	int			 nruns;
	struct ctl_dev_run	 runs[CTL_DEV_ITEMS];
	int			 nbuf;
	uint16_t		*buf;		/* every run's values, a bit a
						   value for the bit tables */
};

/* A digital input or output that plays a role. */
struct ctl_dev_io {
	enum device_role	 role;
	int			 part;
	const struct device_dio	*x;
	int			 item;		/* inputs: in the tick's reads;
						   vent valves: in back */
	uint16_t		 shadow;	/* a bit: its register */
};

/* A read-back of verify(), one transaction. */
enum ctl_dev_check_kind {
	CTL_DEV_CHECK_STATE,		/* the watchdog reads armed */
	CTL_DEV_CHECK_TIMEOUT,		/* its timeout as written */
	CTL_DEV_CHECK_CONFIGURE,	/* arg: the configure write */
	CTL_DEV_CHECK_VENT,		/* arg: the vent valve's io */
	CTL_DEV_CHECK_IDENTITY		/* arg: a run of ident */
};

struct ctl_dev_check {
	enum ctl_dev_check_kind	 kind;
	int			 arg;
};

/* One controller, on its link thread only. */
struct ctl_dev {
	struct ctl_setup	 set;
	char			 error[300];	/* set up failed: refused */
	struct device		*d[CTL_PARTS];	/* NULL: no such part */
	int			 unit[CTL_PARTS];
	int			 nch;		/* the device part's [ao] */
	int			 nsense;	/* channels with a pressure */
	int			 ai_part;	/* where pressures are read */
	int			 il_part;	/* whose [interlock], -1 none */
	int			 wd;		/* the device part's watchdog:
						   trusted, set up, proven */
	int			 wd_units;	/* its timeout, in its unit */
	int			 wd_ms;		/* and in ms */

	struct ctl_dev_plan	 out;		/* the tick's writes */
	struct ctl_dev_plan	 in;		/* the tick's reads */
	struct ctl_dev_plan	 back;		/* [ao] and valves read back */
	struct ctl_dev_plan	 ident;		/* identity checks */
	int			 ao_item[DEVICE_MAX_AO];	/* in out */
	int			 ao_back[DEVICE_MAX_AO];	/* in back */
	int			 ai_item[DEVICE_MAX_AI];	/* in in */
	int			 feed_item;	/* in out, -1 none */
	uint16_t		 ident_want[CTL_DEV_ITEMS];
	int			 nio;
	struct ctl_dev_io	 io[CTL_DEV_IOS];
	int			 nvent;		/* vent valves */
	int			 hb_io;		/* the relay's heartbeat, -1 */
	int			 fb_io;		/* its feedback, -1 */
	int			 nchecks;
	struct ctl_dev_check	 checks[CTL_DEV_CHECKS];

	/* What the device was last told and last said. */
	int			 vent;		/* valves venting: 1, closed 0,
						   -1 unknown */
	int			 hb;		/* the heartbeat's level */
	int			 hb_live;	/* toggled: the relay is in */
	uint64_t		 hb_ns;		/* its last toggle */
	uint16_t		 feed;		/* the last value fed */
	int			 armed;		/* the watchdog proven, fed */
	int			 tripped;	/* it answered tripped */
	int			 relay_in;	/* at the last read */
	double			 kpa[DEVICE_MAX_AI];	/* last good */
	uint32_t		 bad;		/* sensors out of range */
	unsigned		 faults;	/* latched: bit code - 1 */
	/* Each fault's text for people, in two buffers used in turn and
	 * written only when it latches: the loop copies the last one
	 * (tick.c) while this thread may write the next. */
	int			 text_i[CTL_DEV_FAULTS];
	char			 text[CTL_DEV_FAULTS][2][128];
	int			 xpart;		/* the part last addressed */
	uint16_t		 probe[DEVICE_MAX_AO][2]; /* proof: written */
	int			 probed;	/* proof: outputs at probe */
};

/* The operations of ctl_device (ctl-device-tick.c). */
int	ctl_dev_tick_write(struct bus_ctl *, void *st,
	    const struct ctl_intent *, struct ctl_reading *);
int	ctl_dev_tick_read(struct bus_ctl *, void *st, struct ctl_reading *);
int	ctl_dev_verify(struct bus_ctl *, void *st, int step);
int	ctl_dev_vent(struct bus_ctl *, void *st);
int	ctl_dev_fault_reset(struct bus_ctl *, void *st);
const struct ctl_desc *ctl_dev_describe(void);
/* A transaction of the tick, the vent or a read-back failed (errno): a
 * tripped watchdog loses the controller, anything else is counted. */
void	ctl_dev_fail(struct bus_ctl *, struct ctl_dev *, int part,
	    const char *what);

/* Plans (ctl-device.c). */
int	ctl_dev_plan_add(struct ctl_dev_plan *, int part, enum device_space,
	    int addr, int n);
void	ctl_dev_plan_make(struct ctl_dev_plan *, int write);
void	ctl_dev_plan_free(struct ctl_dev_plan *);
int	ctl_dev_plan_read(struct bus_ctl *, struct ctl_dev *,
	    struct ctl_dev_plan *, int run);
int	ctl_dev_plan_write(struct bus_ctl *, struct ctl_dev *,
	    struct ctl_dev_plan *, int run);

/* The unit id of part for the next transactions. */
void	ctl_dev_unit(struct bus_ctl *, struct ctl_dev *, int part);
/* The identity run of ident as read: 0, or -1 with why. */
int	ctl_dev_ident_cmp(const struct ctl_dev *, int run, char *why,
	    size_t len);
/* Transactions of the backend (ctl-device.c): -1 with errno. */
int	ctl_dev_outputs(struct bus_ctl *, struct ctl_dev *,
	    const struct ctl_intent *);
int	ctl_dev_vents(struct bus_ctl *, struct ctl_dev *, int venting);
int	ctl_dev_heartbeat(struct bus_ctl *, struct ctl_dev *);
int	ctl_dev_feed(struct bus_ctl *, struct ctl_dev *);
int	ctl_dev_dio_read(struct bus_ctl *, struct ctl_dev *,
	    const struct ctl_dev_io *, const struct device_reg *, int *level);
int	ctl_dev_reg_read(struct bus_ctl *, struct ctl_dev *, int part,
	    const struct device_reg *, uint16_t *v);
int	ctl_dev_reg_write(struct bus_ctl *, struct ctl_dev *, int part,
	    const struct device_reg *, uint16_t v);
int	ctl_dev_writes(struct bus_ctl *, struct ctl_dev *, int part,
	    const struct device_write *, int n, int readback, char *why,
	    size_t len);
/* The safe state (ctl-device-prove.c). A watchdog left running or
 * tripped: reset (unless its state reads off); 0, or -1 with why and
 * errno. */
int	ctl_dev_untrip(struct bus_ctl *, struct ctl_dev *, int part, char *why,
	    size_t len);
/* At connect and in the proof: outputs safe, valves venting, both read
 * back; 0, or -1 with why (errno 0: not as written). */
int	ctl_dev_safe(struct bus_ctl *, struct ctl_dev *, char *why, size_t len);

/* errno of a failed transaction: the Modbus exception code, 0 none. */
int	ctl_dev_exception(int err);
/* Whether errno is the exception a tripped watchdog of part answers. */
int	ctl_dev_is_tripped(const struct ctl_dev *, int part, int err);
/* "holding register 0x1006". */
const char *ctl_dev_reg_name(const struct device_reg *, char *buf,
	    size_t len);
/* The raw value an output reads back after a trip, encoded. */
void	ctl_dev_trip_regs(const struct ctl_dev *, int ao, uint16_t regs[2]);

/* The proof (ctl-device-prove.c). */
int	ctl_dev_prove(struct bus_ctl *, void *st, struct ctl_proof *);

#endif
