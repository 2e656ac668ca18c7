/*
 * table.h: the table configuration (massaged.ini): daemon settings, the
 * actuator controllers and the body zones mapped onto their channels.
 */
#ifndef TABLE_H
#define TABLE_H

#include <limits.h>
#include <stdint.h>

#include "inifile.h"

#define NAME_LEN		48
#define TABLE_MAX_CONTROLLERS	16
#define TABLE_MAX_ZONES		256
/* Channels of one controller, of any kind: each backend checks that its
 * own maximum fits (ctl-regmap.c). */
#define CHANNELS_MAX		32

enum transport {
	TRANSPORT_TCP,
	TRANSPORT_RTU
};

/* RTS while sending (rts = none, up, down: libmodbus's order). */
enum table_rts {
	TABLE_RTS_NONE,
	TABLE_RTS_UP,
	TABLE_RTS_DOWN
};

/* What speaks for a controller (docs/devices.md). */
enum ctl_kind {
	CTL_KIND_REGMAP,	/* massaged's register map (the default) */
	CTL_KIND_DEVICE		/* described devices: device = FILE */
};

/*
 * The described devices of a kind = device controller, all on its wire:
 * the one that drives its channels (device = FILE, unit_id), the one its
 * pressures are read from when not that one (sensors =, sensors_unit_id),
 * and the relay interlock (interlock =, interlock_unit_id). Channel i is
 * the device's i-th [ao] and the i-th [ai] of the sensors (or of the
 * device when there are no sensors).
 */
enum ctl_part_role {
	CTL_PART_DEVICE,
	CTL_PART_SENSORS,
	CTL_PART_INTERLOCK,
	CTL_PARTS
};

struct ctl_part {
	char		 path[PATH_MAX];	/* '\0': none */
	int		 unit_id;
	int		 line;			/* of its key in the table */
	uint64_t	 digest;		/* of the description as
						   parsed: a reload that
						   changes it needs a restart */
};

struct ctl_conf {
	char		 name[NAME_LEN];
	int		 line;
	enum ctl_kind	 kind;
	struct ctl_part	 parts[CTL_PARTS];	/* kind = device */
	enum transport	 transport;
	char		 host[256];		/* tcp */
	int		 port;
	char		 device[PATH_MAX];	/* rtu */
	int		 baud;
	char		 parity;		/* 'N', 'E', 'O' */
	int		 data_bits;
	int		 stop_bits;
	int		 unit_id;
	int		 response_timeout_ms;
	int		 watchdog_ms;
	int		 dropout_ms;		/* kind = device: its interlock
						   relay's, 0 none */
	int		 max_failures;		/* consecutive, then down */
	int		 rs485;			/* rtu: serial_mode = rs485 */
	int		 rts;			/* rtu: enum table_rts */
	int		 rts_delay_us;		/* rtu: -1 libmodbus default */
};

struct zone_conf {
	char		 name[NAME_LEN];
	int		 line;
	int		 ctl;			/* index into table.ctls */
	int		 channel;		/* 0-based, SETPOINT[channel] */
	double		 along_cm;		/* from the head end */
	double		 across_cm;		/* from the centre line, left < 0 */
	double		 width_cm;		/* drawing size on the body map */
	double		 length_cm;
	double		 limit_kpa;		/* hardware limit of this zone */
	int		 endangerment;
};

/* Monitoring thresholds (the [safety] section). */
struct safety_conf {
	double		 overpressure_tolerance_kpa;
	int		 overpressure_ms;
	double		 tracking_error_kpa;
	int		 tracking_ms;
	double		 endangerment_cap_kpa;
	double		 stop_ramp_kpa_s;	/* category 1 ramp if none */
	double		 pause_kpa;		/* category 2 hold pressure */
};

struct table {
	char		 path[PATH_MAX];
	char		 name[NAME_LEN];	/* the table's name, for people */
	int		 owner_id;		/* map v2 claim; 0: derived */
	char		 run_dir[PATH_MAX];	/* endpoint locks */
	double		 tick_hz;
	int		 free_run;		/* benchmarks: tick on replies */
	char		 plugin_dir[PATH_MAX];
	char		 profile_dir[PATH_MAX];
	char		 program_dir[PATH_MAX];
	char		 rules_path[PATH_MAX];
	char		 intake_path[PATH_MAX];	/* the clinic's intake.ini */
	char		 state_dir[PATH_MAX];
	char		 token_file[PATH_MAX];
	char		 store[1024];		/* postgresql://..., "" none */
	int		 store_line;		/* of the store key, 0 -o */
	char		 store_password_file[PATH_MAX];
	int		 records_max_bytes;	/* rotate sessions.jsonl above, 0 never */
	int		 records_keep;		/* rotated files kept */
	int		 profiles_max;		/* writable profiles, the API's cap */
	char		 panel_dir[PATH_MAX];
	char		 listen_host[64];
	int		 listen_port;
	struct safety_conf safety;
	int		 nctls;
	struct ctl_conf	 ctls[TABLE_MAX_CONTROLLERS];
	int		 nzones;
	struct zone_conf zones[TABLE_MAX_ZONES];
};

/* Parses path into t (defaults first); returns the number of errors. */
int	table_load(struct table *t, const char *path, struct inifile_errors *errs);
/* Applies "key=value" for a [daemon] key given on the command line. */
int	table_override(struct table *t, const char *kv, struct inifile_errors *errs);
int	table_zone_find(const struct table *t, const char *name);
/* Whether two controllers share a wire (serial device or TCP host:port);
 * the wire as people write it (a static buffer per thread). */
int	table_same_wire(const struct ctl_conf *a, const struct ctl_conf *b);
const char *table_wire_name(const struct ctl_conf *c);
/* Line time of one tick on the RTU line of controller first, in s. */
double	table_line_s(const struct table *t, int first);
int	table_ctl_find(const struct table *t, const char *name);
/* Number of channels controller c must have (highest used + 1). */
int	table_ctl_channels(const struct table *t, int c);
/*
 * The unit ids controller c takes on its wire: its unit_id and, for kind =
 * device, its sensors' and interlock's; their number, each unit id into
 * units and its part (enum ctl_part_role) into roles.
 */
int	table_ctl_units(const struct ctl_conf *c, int units[CTL_PARTS],
	    int roles[CTL_PARTS]);

#endif
