/*
 * routine-set.c: look-ups on the routines a configuration may use (the
 * set engine/routine-load.c fills): a routine by name, why one is
 * missing, and trying a program step's settings through the loader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routine-set.h"
#include "strings.h"

/* Keeps a refusal, so programs that need the file can say why. */
void
routines_refuse(struct routine_set *set, const char *path, const char *why)
{
	struct routine_refusal	*r;

	r = reallocarray(set->refused, set->nrefused + 1, sizeof(*r));
	if (r == NULL)
		return;
	set->refused = r;
	r = &set->refused[set->nrefused++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	snprintf(r->why, sizeof(r->why), "%s", why);
}

const char *
routines_refusal(const struct routine_set *set, const char *name, char *buf,
    size_t len)
{
	struct str_list	 sl;
	const char	*base, *dot;
	int		 i;

	if (set->nrefused == 0)
		return (NULL);
	for (i = 0; i < set->nrefused; i++) {
		base = strrchr(set->refused[i].path, '/');
		base = base != NULL ? base + 1 : set->refused[i].path;
		dot = strrchr(base, '.');
		if (dot != NULL && (size_t)(dot - base) == strlen(name) &&
		    strncmp(base, name, (size_t)(dot - base)) == 0) {
			snprintf(buf, len, "routine %s is not loaded: %s: %s",
			    name, set->refused[i].path, set->refused[i].why);
			return (buf);
		}
	}
	{
		char list[512];

		str_list_init(&sl, list, sizeof(list));
		for (i = 0; i < set->nrefused; i++)
			str_list_add(&sl, i == set->nrefused - 1, "%s",
			    set->refused[i].path);
		snprintf(buf, len, "no routine named '%s' is loaded; refused "
		    "plugin file%s: %s", name, set->nrefused == 1 ? "" : "s",
		    list);
	}
	return (buf);
}

const struct massaged_routine *
routines_find(const struct routine_set *set, const char *name)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->libs[i].desc->name, name) == 0)
			return (set->libs[i].desc);
	return (NULL);
}

int
routines_check(const struct routine_set *set,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	if (set->check == NULL)
		return (0);
	return (set->check(desc, params, zones, n_zones, duration_s, why,
	    whylen));
}
