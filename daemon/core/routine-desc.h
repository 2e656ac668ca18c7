/*
 * routine-desc.h: what a routine descriptor (include/massaged/routine.h)
 * must be before the daemon trusts it, and its parameters: the table's
 * checks, and a program's values parsed against it. Pure: no plugin code
 * runs here (the engine's loader gets the descriptor from a worker).
 */
#ifndef ROUTINE_DESC_H
#define ROUTINE_DESC_H

#include <stddef.h>

#include "massaged/routine.h"

#define ROUTINE_PARAMS_MAX	32

/*
 * The ABI v1 descriptor ends with destroy(). A later v1 header may append
 * fields (and says so in size); it never moves or removes one. A descriptor
 * smaller than v1 is broken, one larger than this daemon knows was built
 * against a newer SDK and may rely on what this daemon cannot do.
 */
#define ROUTINE_DESC_V1_SIZE	(offsetof(struct massaged_routine, destroy) + \
				    sizeof(void (*)(void *)))

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

#endif
