/*
 * intake.h: the clinic's intake file (config/intake.ini): what the
 * answers of a health intake at the table turn into. The pressure
 * preferences and ramp preferences a therapist can pick, the cap of a
 * sensitive zone, and the defaults of a new client's profile: numbers the
 * clinic sets in a file, never in code.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <limits.h>

#include "inifile.h"
#include "table.h"

#define INTAKE_MAX_CHOICES	8
#define INTAKE_NOTE_MAX		400	/* bytes: one INI line with its key */

struct intake_choice {
	char	 name[NAME_LEN];	/* "light", "gentle" */
	double	 value;			/* cap_kpa or ramp_kpa_s */
	int	 line;
};

struct intake {
	char			 path[PATH_MAX];
	int			 loaded;	/* 0: no intake file */
	int			 npressure;
	struct intake_choice	 pressure[INTAKE_MAX_CHOICES];
	int			 nramp;
	struct intake_choice	 ramp[INTAKE_MAX_CHOICES];
	double			 sensitive_cap_kpa;
	double			 max_session_min;
	int			 intensity_pct;
	int			 note_max;	/* bytes, <= INTAKE_NOTE_MAX */
};

/*
 * Loads path, checked against the table (caps within the hardware limits).
 * A missing file is no error: in->loaded stays 0 and the API says intake
 * is not set up. Returns the number of errors added to errs.
 */
int	intake_load(struct intake *in, const char *path, const struct table *t,
	    struct inifile_errors *errs);
const struct intake_choice *intake_pressure(const struct intake *in,
	    const char *name);
const struct intake_choice *intake_ramp(const struct intake *in,
	    const char *name);

#endif
