/*
 * routine-load.h: loading routine plugins into a set (core/routine-set.h),
 * each file in a worker that sends its descriptor: no plugin code runs in
 * the caller.
 */
#ifndef ROUTINE_LOAD_H
#define ROUTINE_LOAD_H

#include <limits.h>

#include "inifile.h"
#include "routine-set.h"
#include "routine-worker.h"

/* The daemon's copy of a descriptor a worker sent, and where it came from. */
struct routine_copy {
	struct massaged_routine	 d;	/* first: desc points here */
	char			 path[PATH_MAX];
	struct massaged_param	 params[WORKER_PARAMS_MAX];
	char			 strings[WORKER_STRINGS_LEN];
	struct routine_worker	*checker;	/* for program checks */
};

/*
 * Loads every *.so in dir, each in a worker that sends its descriptor (no
 * plugin code runs in the caller). Each refused file is reported once
 * through errs with the file name and the reason, and kept in
 * set->refused; the others still load. Returns the number of errors.
 * Each loaded routine keeps its worker for set->check
 * (routine_inst_check()) until routines_checked().
 */
int	routines_load_dir(struct routine_set *set, const char *dir,
	    struct inifile_errors *errs);
/* Loads one file (also used by tests); its directory is checked too. */
int	routines_load_file(struct routine_set *set, const char *path,
	    struct inifile_errors *errs);
/* Programs are checked: ends the loading workers (started again by a
 * later check). */
void	routines_checked(struct routine_set *set);
void	routines_free(struct routine_set *set);
/* The copy behind a descriptor from a worker, or NULL (in-process). */
struct routine_copy *routines_copy(const struct massaged_routine *d);

#endif
