/*
 * runas.c: `massaged -n` as root checks the files as the user the daemon
 * runs as (massaged(8)). A file the daemon's own user reads, its token
 * file above all (0600, owned by that user), is refused by a check run as
 * root and would be "fixed" with a chown root that locks the daemon out.
 * So the check drops to that user first: its uid, its group, its
 * supplementary groups and dialout, which the units add
 * (SupplementaryGroups=dialout). For good: -n exits after its checks, so
 * the process does not need to fork to keep root.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runas.h"

/* Supplementary groups of the user, at most. */
#define RUNAS_GROUPS_MAX	256

/* 1 if path is in CONFDIR (or is it): the installed configuration. */
static int
runas_installed(const char *path)
{
	char	 real[PATH_MAX], conf[PATH_MAX];
	size_t	 n;

	if (realpath(path, real) == NULL)
		snprintf(real, sizeof(real), "%s", path);
	if (realpath(CONFDIR, conf) == NULL)
		snprintf(conf, sizeof(conf), "%s", CONFDIR);
	n = strlen(conf);
	return (strncmp(real, conf, n) == 0 &&
	    (real[n] == '/' || real[n] == '\0'));
}

int
runas_pick(const char *asked, const char *path, char *name, size_t namelen,
    char *err, size_t errlen)
{
	struct passwd	*pw;

	name[0] = '\0';
	if (asked == NULL) {
		/* Root on the installed configuration, as the units run. */
		if (geteuid() != 0 || !runas_installed(path) ||
		    getpwnam(RUNAS_SERVICE_USER) == NULL)
			return (0);
		snprintf(name, namelen, "%s", RUNAS_SERVICE_USER);
		return (1);
	}
	if ((pw = getpwnam(asked)) == NULL) {
		snprintf(err, errlen, "-u %s: no such user", asked);
		return (-1);
	}
	if (pw->pw_uid == geteuid())
		return (0);
	if (geteuid() != 0) {
		snprintf(err, errlen, "-u %s: only root can check as another "
		    "user (this runs as uid %lu)", asked,
		    (unsigned long)geteuid());
		return (-1);
	}
	snprintf(name, namelen, "%s", pw->pw_name);
	return (1);
}

int
runas_drop(const char *name, char *err, size_t errlen)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 groups[RUNAS_GROUPS_MAX];
	int		 i, n = RUNAS_GROUPS_MAX;

	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, errlen, "no user %s", name);
		return (-1);
	}
	if (getgrouplist(name, pw->pw_gid, groups, &n) == -1) {
		snprintf(err, errlen, "user %s: more than %d groups", name,
		    RUNAS_GROUPS_MAX);
		return (-1);
	}
	if ((gr = getgrnam("dialout")) != NULL) {
		for (i = 0; i < n && groups[i] != gr->gr_gid; i++)
			;
		if (i == n && n < RUNAS_GROUPS_MAX)
			groups[n++] = gr->gr_gid;
	}
	if (setgroups((size_t)n, groups) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		snprintf(err, errlen, "cannot become user %s: %s", name,
		    strerror(errno));
		return (-1);
	}
	/* For good: no way back to root. */
	if (pw->pw_uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "user %s: root could be regained", name);
		return (-1);
	}
	return (0);
}
