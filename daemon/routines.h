/*
 * routines.h: the routine plugin loader (daemon side of the SDK in
 * include/massaged/routine.h) and instances of loaded routines.
 */
#ifndef ROUTINES_H
#define ROUTINES_H

#include <stddef.h>

#include "massaged/routine.h"
#include "inifile.h"

#define ROUTINE_PARAMS_MAX	32

struct routine_lib {
	char				 path[4096];
	void				*dl;
	const struct massaged_routine	*desc;
};

struct routine_set {
	int			 n;
	struct routine_lib	*libs;
};

/*
 * Loads every *.so in dir. Each refused file is reported once through errs
 * with the file name and the reason; the others still load. Returns the
 * number of errors.
 */
int	routines_load_dir(struct routine_set *set, const char *dir,
	    struct inifile_errors *errs);
/* Loads one file (also used by tests and massagectl preview). */
int	routines_load_file(struct routine_set *set, const char *path,
	    struct inifile_errors *errs);
const struct massaged_routine *routines_find(const struct routine_set *set,
	    const char *name);
void	routines_free(struct routine_set *set);

/*
 * Checks a descriptor as the loader does (ABI version and size first, then
 * names, flags, functions and the parameter table); -1 with the first
 * problem in why.
 */
int	routine_desc_check(const struct massaged_routine *desc, char *why,
	    size_t whylen);

/* Index of a parameter in desc->params, or -1. */
int	routine_param_find(const struct massaged_routine *desc,
	    const char *name);
/* Parses a program value for param p ("12.5", "yes", a choice name). */
int	routine_param_parse(const struct massaged_param *p, const char *s,
	    double *out, char *why, size_t whylen);

/* A running instance: one per program step. */
struct routine_inst {
	const struct massaged_routine	*desc;
	void				*inst;
	struct massaged_host		 host;
	size_t				 n_zones;
};

/*
 * Creates an instance; -1 with the routine's reason in why. The routine
 * keeps a pointer to ri->host, and may keep params and zones: ri must not
 * move, and params and zones must stay valid, until routine_inst_destroy().
 * routine_inst_step() returns MASSAGED_STEP_RUNNING, _DONE or _ERROR (also
 * for any other value the routine returns); outputs are not checked here.
 */
int	routine_inst_create(struct routine_inst *ri,
	    const struct massaged_routine *desc, const double *params,
	    const struct massaged_zone *zones, size_t n_zones,
	    double duration_s, char *why, size_t whylen);
int	routine_inst_step(struct routine_inst *ri,
	    const struct massaged_step_in *in, double *setpoint_kpa);
void	routine_inst_destroy(struct routine_inst *ri);

#endif
