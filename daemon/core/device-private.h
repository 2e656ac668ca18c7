/*
 * device-private.h: what device.c (the sections of a description, [device]
 * and [interlock]), device-chan.c (the channels and the watchdog) and
 * device-value.c (reading one value: addresses with their base, lists,
 * ranges, maps) share. Not for the rest of the daemon.
 */
#ifndef DEVICE_PRIVATE_H
#define DEVICE_PRIVATE_H

#include "device.h"

#define DEVICE_KEYS_MAX		16
#define DEVICE_SPACE(s)		(1u << (s))

/*
 * One section as read: its header line, and each key's line and text.
 * Values are read once the whole file is (base = 1 changes what every
 * address means, wherever it is written).
 */
struct device_sect {
	int		 line;			/* 0: absent */
	char		 title[128];		/* "ao pump_1", as inifile */
	unsigned	 have;			/* bit per key index */
	int		 kline[DEVICE_KEYS_MAX];
	char		*val[DEVICE_KEYS_MAX];
};

struct device_parse {
	struct device		*d;
	struct inifile_errors	*errs;
	struct inifile_file	 at;		/* a place for the messages */
	struct device_sect	*cur;		/* NULL: keys are ignored */
	const struct device_key	*keys;		/* of cur */
	struct device_sect	 dev, wd, il;
	struct device_sect	 ao[DEVICE_MAX_AO], ai[DEVICE_MAX_AI];
	struct device_sect	 di[DEVICE_MAX_DI], dout[DEVICE_MAX_DO];
};

/* One key of a section: its name, whether it must be given, and what is
 * expected (for "missing" and "unknown key" messages). */
struct device_key {
	const char	*name;
	int		 required;
	const char	*expect;
};

/* device.c */
struct inifile_file *device_at(struct device_parse *,
	    const struct device_sect *, int key);
void	device_missing(struct device_parse *, const struct device_sect *,
	    const struct device_key *);

/* device-chan.c: the keys of [ao], [ai], [di], [do], [watchdog]; their
 * values read once the file is; what two of them write at one address. */
extern const struct device_key device_keys_ao[], device_keys_ai[],
	    device_keys_di[], device_keys_do[], device_keys_wd[];
void	device_chan_named(struct device_parse *, const char *kind, int i,
	    const char *name, int line);
void	device_chan_resolve(struct device_parse *);
void	device_wd_resolve(struct device_parse *);
void	device_overlaps(struct device_parse *);

/* device-value.c */
int	device_v_addr(const struct device *, struct inifile_file *,
	    const char *key, const char *v, unsigned spaces,
	    enum device_space dflt, struct device_reg *out);
int	device_v_writes(const struct device *, struct inifile_file *,
	    const char *key, const char *v, unsigned spaces,
	    enum device_space dflt, struct device_write *list, int *n);
int	device_v_u16(struct inifile_file *, const char *key, const char *v,
	    uint16_t *out);
int	device_v_choice(struct inifile_file *, const char *key, const char *v,
	    const char *const *names, int *out);
int	device_v_range(struct inifile_file *, const char *key, const char *v,
	    double min, double max, int whole, const char *unit, double *lo,
	    double *hi);
int	device_v_map(struct inifile_file *, const char *key, const char *v,
	    const double from[2], const double to[2], const char *from_unit,
	    const char *to_unit, double a[2], double b[2]);
int	device_v_unit_id(struct inifile_file *, const char *key,
	    const char *v, int *out);
double	device_type_min(enum device_type);
double	device_type_max(enum device_type);
int	device_type_whole(enum device_type);

#endif
