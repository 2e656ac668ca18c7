/*
 * routine-set.h: the routines a configuration may use, as the engine's
 * loader (engine/routine-load.c) left them: the descriptors it accepted,
 * the files it refused and why, and how to try a program step's settings.
 * Pure look-ups for config.c and program.c.
 */
#ifndef ROUTINE_SET_H
#define ROUTINE_SET_H

#include <stddef.h>

#include "massaged/routine.h"

/* What a program may use: the worker's copy of a descriptor. */
struct routine_lib {
	char				 path[4096];
	const struct massaged_routine	*desc;
};

/* A file that was refused, and why. */
struct routine_refusal {
	char			 path[4096];
	char			 why[1024];
};

struct routine_set {
	int			 n;
	struct routine_lib	*libs;
	int			 nrefused;
	struct routine_refusal	*refused;
	/*
	 * The loader's: create() and destroy() with these settings, as
	 * programs are checked: 0 accepted, -1 refused (the routine's
	 * reason), -2 the routine could not be tried (its worker crashed,
	 * hung: why says so). NULL: nothing to try.
	 */
	int			(*check)(const struct massaged_routine *desc,
				    const double *params,
				    const struct massaged_zone *zones,
				    size_t n_zones, double duration_s,
				    char *why, size_t whylen);
};

const struct massaged_routine *routines_find(const struct routine_set *set,
	    const char *name);
/* Why routine name is missing, if a refused file may be the reason:
 * "routine NAME is not loaded: FILE: why"; NULL if nothing was refused. */
const char *routines_refusal(const struct routine_set *set, const char *name,
	    char *buf, size_t len);
/* Keeps a refusal, so programs that need the file can say why. */
void	routines_refuse(struct routine_set *set, const char *path,
	    const char *why);
/* Tries settings through set->check; 0 if there is none. */
int	routines_check(const struct routine_set *set,
	    const struct massaged_routine *desc, const double *params,
	    const struct massaged_zone *zones, size_t n_zones,
	    double duration_s, char *why, size_t whylen);

#endif
