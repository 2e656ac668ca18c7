/*
 * program.h: programs (config/programs/NAME.ini) chain routine steps.
 *
 *   [program]
 *   name = Piriformis syndrome relief
 *   description = ...
 *
 *   [step warmup]              steps run in file order
 *   routine = swedish
 *   duration_s = 180
 *   zones = gluteus_*, piriformis_*      names or globs, in this order
 *   stroke = effleurage                  routine parameters
 *   pressure_kpa = 10
 */
#ifndef PROGRAM_H
#define PROGRAM_H

#include <limits.h>

#include "routine-desc.h"
#include "routine-set.h"
#include "table.h"

#define PROGRAM_MAX_STEPS	32

struct program_step {
	char				 name[NAME_LEN];
	int				 line;
	const struct massaged_routine	*routine; /* NULL if unavailable */
	char				 routine_name[NAME_LEN];
	double				 duration_s;
	char				 zones_spec[512];
	int				 nzones;
	int				 zones[TABLE_MAX_ZONES]; /* table indexes */
	double				 params[ROUTINE_PARAMS_MAX];
};

struct program {
	char			 id[NAME_LEN];		/* file name without .ini */
	char			 path[PATH_MAX];
	char			 name[96];
	char			 description[512];
	int			 nsteps;
	struct program_step	 steps[PROGRAM_MAX_STEPS];
	double			 total_s;
	/* Why it cannot run, if a routine it needs was refused or failed
	 * while its settings were checked; "" when available. */
	char			 unavailable[512];
};

struct program_set {
	int		 n;
	struct program	*programs;	/* sorted by id */
};

/* Loads every *.ini in dir; returns the number of errors. */
int	programs_load(struct program_set *set, const char *dir,
	    const struct routine_set *routines, const struct table *t,
	    struct inifile_errors *errs);
const struct program *programs_find(const struct program_set *set,
	    const char *id);
void	programs_free(struct program_set *set);

#endif
