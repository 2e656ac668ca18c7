/*
 * runas.h: the user `massaged -n` checks as (runas.c, massaged(8)).
 */
#ifndef RUNAS_H
#define RUNAS_H

#include <stddef.h>

/* The user the units run the daemon as (User=massaged). */
#define RUNAS_SERVICE_USER	"massaged"

/*
 * The user to check path as: asked (-u USER), else, as root on the
 * installed configuration (a file or directory in CONFDIR), the service
 * user when it exists. 1 with name set to switch to, 0 to check as the
 * user this runs as, -1 with err set (no such user, or not root).
 */
int	runas_pick(const char *asked, const char *path, char *name,
	    size_t namelen, char *err, size_t errlen);

/* Becomes name for good: its supplementary groups and dialout, its
 * group, its uid. 0, or -1 with err set. */
int	runas_drop(const char *name, char *err, size_t errlen);

#endif
