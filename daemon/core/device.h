/*
 * device.h: device descriptions (config/devices/, docs/devices.md): what
 * a family of Modbus devices is on the wire, read from an INI file
 * through inifile.c. Its analogue outputs and inputs with their scaling,
 * its digital inputs and outputs with the role each plays (e-stop circuit,
 * client switch, vent valve, relay interlock), its communication watchdog
 * (how to configure, feed and read it, what a tripped device does) and the
 * interlock it offers.
 *
 * Pure: parsing, the facts derived from a description (device_check())
 * and the kPa <-> raw register conversions. Driving a device is the
 * engine's business (a later controller backend).
 */
#ifndef DEVICE_H
#define DEVICE_H

#include <limits.h>
#include <stdint.h>

#include "inifile.h"

#define DEVICE_NAME_LEN		48
#define DEVICE_TEXT_LEN		80
#define DEVICE_MAX_AO		32
#define DEVICE_MAX_AI		32
#define DEVICE_MAX_DI		16
#define DEVICE_MAX_DO		16
#define DEVICE_MAX_WRITES	8	/* identity, configure, reset lists */

/* The four Modbus tables. */
enum device_space {
	DEVICE_COIL,		/* FC1 read, FC5/FC15 write */
	DEVICE_DISCRETE,	/* FC2 */
	DEVICE_INPUT,		/* FC4 */
	DEVICE_HOLDING		/* FC3 read, FC6/FC16 write */
};

/* One address on the wire: a table and a 0-based offset (-1: none). */
struct device_reg {
	enum device_space	 space;
	int			 addr;
};

/* One "register = value" of a list (identity checks, configure, reset). */
struct device_write {
	struct device_reg	 reg;
	uint16_t		 value;
};

enum device_type {
	DEVICE_U16,
	DEVICE_S16,
	DEVICE_U32,
	DEVICE_S32,
	DEVICE_F32
};

/* Which 16-bit word of a 32-bit value comes first on the wire. */
enum device_words {
	DEVICE_WORDS_NONE,	/* a 16-bit type */
	DEVICE_WORDS_BIG,	/* high word first (at the lower address) */
	DEVICE_WORDS_LITTLE	/* low word first */
};

enum device_role {
	DEVICE_ROLE_NONE,
	DEVICE_ROLE_ESTOP_CIRCUIT,	/* di: active = the circuit is open */
	DEVICE_ROLE_CLIENT_STOP,	/* di: active = pressed */
	DEVICE_ROLE_RELAY_FEEDBACK,	/* di: active = the relay is in */
	DEVICE_ROLE_VENT_VALVE,		/* do: active = venting */
	DEVICE_ROLE_RELAY_HEARTBEAT	/* do: toggled every tick */
};

/* An analogue output: kPa -> raw counts, written to a holding register. */
struct device_ao {
	char			 name[DEVICE_NAME_LEN];
	int			 line;
	struct device_reg	 reg;
	struct device_reg	 readback;	/* where it reads back (reg) */
	enum device_type	 type;
	enum device_words	 words;
	double			 kpa[2];	/* the map's two points */
	double			 raw[2];
	double			 raw_min;	/* every value written is in */
	double			 raw_max;
	double			 safe;		/* raw: what vents */
};

/* An analogue input: raw counts -> kPa. */
struct device_ai {
	char			 name[DEVICE_NAME_LEN];
	int			 line;
	struct device_reg	 reg;
	enum device_type	 type;
	enum device_words	 words;
	double			 raw[2];
	double			 kpa[2];
	double			 raw_min;	/* outside: a sensor fault */
	double			 raw_max;
};

/* A digital input or output: a coil or discrete input, or one bit of a
 * register (bit >= 0). */
struct device_dio {
	char			 name[DEVICE_NAME_LEN];
	int			 line;
	struct device_reg	 reg;
	int			 bit;		/* -1: the whole coil/input */
	struct device_reg	 readback;	/* do only */
	int			 active;	/* level of the role: 0 or 1 */
	enum device_role	 role;
};

enum device_wd_kind {
	DEVICE_WD_NONE,
	DEVICE_WD_MODBUS
};

/* What the outputs do when the watchdog trips. */
enum device_on_trip {
	DEVICE_TRIP_HOLD,	/* keep their value: no safe state */
	DEVICE_TRIP_ZERO,	/* go to raw 0 */
	DEVICE_TRIP_SAFE	/* go to the device's own safe state */
};

struct device_watchdog {
	enum device_wd_kind	 kind;
	int			 line;
	int			 nconfigure;	/* written in order, read back */
	struct device_write	 configure[DEVICE_MAX_WRITES];
	int			 nreset;	/* clears a trip, in order */
	struct device_write	 reset[DEVICE_MAX_WRITES];
	struct device_reg	 timeout;	/* holding: the timeout */
	int			 timeout_unit_ms;
	int			 timeout_min_ms;
	int			 timeout_max_ms;
	struct device_reg	 feed;		/* holding: must change */
	int			 fed_by_writes;	/* 0: any request feeds it */
	struct device_reg	 state;		/* addr -1: none */
	uint16_t		 state_mask;
	int			 state_off;	/* -1: not given */
	int			 state_armed;
	int			 state_tripped;
	int			 tripped_exception; /* 0: answers normally */
	enum device_on_trip	 on_trip;
};

struct device_interlock {
	int			 present;
	int			 line;
	int			 heartbeat;	/* index into dout */
	int			 feedback;	/* index into di */
	int			 dropout_ms;
};

#define DEVICE_TRANSPORT_TCP	0x1
#define DEVICE_TRANSPORT_RTU	0x2

struct device {
	char			 path[PATH_MAX];
	char			 name[DEVICE_NAME_LEN];
	char			 vendor[DEVICE_TEXT_LEN];
	char			 model[DEVICE_TEXT_LEN];
	int			 transports;	/* DEVICE_TRANSPORT_* */
	int			 base;		/* 0 or 1 */
	int			 unit_id;	/* the default */
	int			 unit_id_min;
	int			 unit_id_max;
	int			 unit_id_ignored; /* answers any unit id */
	int			 nidentity;
	struct device_write	 identity[DEVICE_MAX_WRITES];
	int			 nao;
	struct device_ao	 ao[DEVICE_MAX_AO];
	int			 nai;
	struct device_ai	 ai[DEVICE_MAX_AI];
	int			 ndi;
	struct device_dio	 di[DEVICE_MAX_DI];
	int			 ndo;
	struct device_dio	 dout[DEVICE_MAX_DO];
	struct device_watchdog	 watchdog;
	struct device_interlock	 interlock;

	/* Derived by device_check(). */
	int			 watchdog_trusted;
	int			 needs_interlock;
	char			 why[200];	/* why the watchdog is not trusted */
};

/*
 * Loads the description at path; every error, with file:line, is added
 * to errs. Returns their number (0: d is complete and device_check() has
 * filled its derived facts).
 */
int	device_load(struct device *d, const char *path,
	    struct inifile_errors *errs);

/*
 * The derived facts of a loaded description: watchdog_trusted (a watchdog
 * the daemon configures over Modbus, fed by writes only, whose trip brings
 * the outputs to a state that vents), needs_interlock (it has analogue
 * outputs and no trusted watchdog) and why.
 */
void	device_check(struct device *d);

/* Registers a value of type t takes: 1 or 2. */
int	device_type_regs(enum device_type t);
/* Raw value <-> registers (2 for a 32-bit type, in word order w). The
 * encoder takes a raw value within the type's range. */
void	device_raw_encode(enum device_type t, enum device_words w, double raw,
	    uint16_t regs[2]);
double	device_raw_decode(enum device_type t, enum device_words w,
	    const uint16_t regs[2]);

/*
 * kPa -> the raw value to write, on the channel's map, rounded for an
 * integer type towards less pressure and clamped to its raw range; a NaN
 * or infinite kPa gives the safe value. Fills regs; returns the number of registers.
 */
int	device_kpa_to_raw(const struct device_ao *ao, double kpa,
	    uint16_t regs[2]);
/* The raw value device_kpa_to_raw() would encode. */
double	device_ao_raw(const struct device_ao *ao, double kpa);
/*
 * Registers read -> kPa on the channel's map; NaN (a sensor fault) for a
 * raw value outside the channel's raw range or not a number.
 */
double	device_raw_to_kpa(const struct device_ai *ai, const uint16_t regs[2]);

/* Names, for messages. */
const char *device_space_name(enum device_space s);
const char *device_role_name(enum device_role r);

#endif
