/*
 * table-private.h: what table.c (the table file, its layout and the
 * checks of the whole) and table-device.c (the described devices of a
 * kind = device controller) share while a table is read. Not for the rest
 * of the daemon.
 */
#ifndef TABLE_PRIVATE_H
#define TABLE_PRIVATE_H

#include "table.h"

enum table_sect {
	SECT_NONE,
	SECT_DAEMON,
	SECT_SAFETY,
	SECT_CONTROLLER,
	SECT_ZONE,
	SECT_BAD
};

/* Where a key was given: file NULL when it was not. */
struct table_key {
	const char	*file;
	int		 line;
};

/* The keys of one [controller] that table-device.c reads. */
struct table_ctl_keys {
	struct table_key kind;
	struct table_key part[CTL_PARTS];	/* device, sensors, interlock */
	struct table_key unit[CTL_PARTS];	/* unit_id, sensors_unit_id, ... */
	struct table_key serial;
};

struct table_parse {
	struct table	*t;
	enum table_sect	 sect;
	int		 cur;		/* the controller or zone being read */
	int		 in_layout;	/* reading the layout file */
	int		 own_parts;	/* the table file had [controller]/[zone] */
	char		 layout[PATH_MAX];
	/* The file each section (and each zone's controller key) came from,
	 * so that checks after parsing name the right file. */
	const char	*ctl_path[TABLE_MAX_CONTROLLERS];
	const char	*zone_path[TABLE_MAX_ZONES];
	const char	*zone_ctl_path[TABLE_MAX_ZONES];
	char		 ctl_from[TABLE_MAX_CONTROLLERS];	/* 1 layout, 2 amended */
	char		 zone_from[TABLE_MAX_ZONES];
	int		 zone_ctl_line[TABLE_MAX_ZONES];
	char		 zone_ctl[TABLE_MAX_ZONES][NAME_LEN];
	int		 have_channel[TABLE_MAX_ZONES];
	int		 have_limit[TABLE_MAX_ZONES];
	int		 have_transport[TABLE_MAX_CONTROLLERS];
	int		 have_addr[TABLE_MAX_CONTROLLERS];
	struct table_ctl_keys keys[TABLE_MAX_CONTROLLERS];
};

/*
 * table.c: the rules of a time after which controller c vents on its own
 * (its watchdog_ms, a relay's dropout): at least three response timeouts
 * and two ticks. what names the time in the messages ("300 ms"), act
 * what a slow reply would do ("trip the watchdog").
 */
void	table_check_vent_time(const struct table *t, const struct ctl_conf *c,
	    const char *file, int line, const char *key, int ms,
	    const char *what, const char *act, struct inifile_errors *errs);

/* table-device.c */
/* A [controller] key of the devices (kind, device, serial, sensors,
 * interlock, their unit ids): 1 when it was one (handled), else 0. */
int	table_kv_device(struct inifile_file *f, struct table_parse *p,
	    struct ctl_conf *c, const char *k, const char *v);
/* After parsing, before the other checks: what device = means for each
 * controller's kind, the parts' paths, keys given to the wrong kind. */
void	table_device_resolve(struct table_parse *p, struct inifile_errors *errs);
/* Once zones know their controllers: loads each kind = device
 * controller's descriptions and checks the controller against them. */
void	table_device_check(struct table_parse *p, struct inifile_errors *errs);
/* Where the unit id of part r of controller i was given (or came from). */
void	table_unit_where(const struct table_parse *p, int i, int r,
	    const char **file, int *line, const char **key);
/* Characters and frames per tick of a kind = device controller with n
 * channels on an RTU line (the estimate is in table-device.c). */
int	table_device_line(const struct ctl_conf *c, int n, int *frames);

#endif
