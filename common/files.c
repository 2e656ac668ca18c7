/*
 * files.c: the trust rule for the files the daemon reads (see files.h) and
 * the bounded, non-blocking read of a whole file under that rule.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"

static int	files_check(const struct stat *, const char *, int, int,
		    const char *, char *, size_t);
static int	files_dir(const char *, char *, size_t);
static int	files_changed(int, const struct stat *, size_t);
static void	files_user(uid_t, gid_t, int, char *, size_t);
static void	files_owner_fix(const struct stat *, const char *, int, char *,
		    size_t);
static void	files_denied(const struct stat *, const char *, char *,
		    size_t);

/* The service user of the units (User=massaged), for suggestions. */
#define FILES_SERVICE_USER	"massaged"

/* "NAME" of uid, with withgroup "NAME:GROUP" of uid and gid; numbers for
 * what has no name. */
static void
files_user(uid_t uid, gid_t gid, int withgroup, char *buf, size_t len)
{
	struct passwd	 pw, *pwp = NULL;
	struct group	 gr, *grp = NULL;
	char		 pwbuf[1024], grbuf[4096], u[64], g[64];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 &&
	    pwp != NULL)
		snprintf(u, sizeof(u), "%s", pw.pw_name);
	else
		snprintf(u, sizeof(u), "%lu", (unsigned long)uid);
	if (!withgroup) {
		snprintf(buf, len, "%s", u);
		return;
	}
	if (getgrgid_r(gid, &gr, grbuf, sizeof(grbuf), &grp) == 0 &&
	    grp != NULL)
		snprintf(g, sizeof(g), "%s", gr.gr_name);
	else
		snprintf(g, sizeof(g), "%lu", (unsigned long)gid);
	snprintf(buf, len, "%s:%s", u, g);
}

/*
 * What to run for a file owned by another user. A secret (a token file)
 * given to root locks out a daemon that runs as its own user: it goes to
 * the user this process runs as, or, as root, to the user the daemon
 * really runs as, never to root.
 */
static void
files_owner_fix(const struct stat *st, const char *path, int flags,
    char *fix, size_t fixlen)
{
	char	 me[160], owner[64];

	if (!(flags & FILES_PRIVATE)) {
		snprintf(fix, fixlen, "chown root %s", path);
		return;
	}
	if (geteuid() != 0) {
		files_user(geteuid(), getegid(), 1, me, sizeof(me));
		snprintf(fix, fixlen, "chown %s %s", me, path);
		return;
	}
	files_user(st->st_uid, 0, 0, owner, sizeof(owner));
	if (strcmp(owner, FILES_SERVICE_USER) == 0)
		snprintf(fix, fixlen, "%s is the daemon's user: check as it, "
		    "massaged -n -u %s", owner, owner);
	else
		snprintf(fix, fixlen, "if the daemon runs as %s, check as "
		    "that user: massaged -n -u %s; else give it to the "
		    "daemon's user: chown %s:%s %s", owner, owner,
		    FILES_SERVICE_USER, FILES_SERVICE_USER, path);
}

/*
 * A secret this user may not read (the open failed with EACCES, st its
 * stat): the daemon's user's is checked as that user; another's (root's
 * say) must be given to the user the daemon runs as, never to root.
 */
static void
files_denied(const struct stat *st, const char *path, char *why,
    size_t whylen)
{
	char	 owner[64], name[64], me[160];

	files_user(st->st_uid, 0, 0, owner, sizeof(owner));
	files_user(geteuid(), getegid(), 0, name, sizeof(name));
	files_user(geteuid(), getegid(), 1, me, sizeof(me));
	if (strcmp(owner, FILES_SERVICE_USER) == 0)
		snprintf(why, whylen, "cannot open: %s (it is the daemon's "
		    "user's, %s: check as that user, sudo massaged -n -u %s)",
		    strerror(EACCES), owner, owner);
	else
		snprintf(why, whylen, "cannot open: %s (read here as user "
		    "%s: a daemon that runs as %s must own it: chown %s %s; "
		    "chmod 600 %s)", strerror(EACCES), name, name, me, path,
		    path);
}

/* Says what kind of file st is, for "is a FIFO, not a regular file". */
static const char *
files_kind(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return ("a directory");
	if (S_ISFIFO(st->st_mode))
		return ("a FIFO");
	if (S_ISCHR(st->st_mode))
		return ("a character device");
	if (S_ISBLK(st->st_mode))
		return ("a block device");
	if (S_ISSOCK(st->st_mode))
		return ("a socket");
	if (S_ISLNK(st->st_mode))
		return ("a symbolic link");
	return ("a regular file");
}

/*
 * The rule itself, on a stat result: why gets the predicate, "is writable
 * by others (mode 0666), who could RISK (chmod go-w PATH)".
 */
static int
files_check(const struct stat *st, const char *path, int isdir, int flags,
    const char *risk, char *why, size_t whylen)
{
	mode_t		 w;
	const char	*by;
	char		 fix[PATH_MAX + 256];

	if (isdir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		if (isdir)
			snprintf(why, whylen, "is not a directory");
		else if (S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode) ||
		    S_ISREG(st->st_mode))
			snprintf(why, whylen, "is not a regular file");
		else
			snprintf(why, whylen, "is not a regular file (it is "
			    "%s)", files_kind(st));
		return (-1);
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		files_owner_fix(st, path, flags, fix, sizeof(fix));
		snprintf(why, whylen, "is owned by uid %lu, not by root or the "
		    "daemon's user (uid %lu), who could %s (%s)",
		    (unsigned long)st->st_uid, (unsigned long)geteuid(), risk,
		    fix);
		return (-1);
	}
	if ((flags & FILES_PRIVATE) && (st->st_mode & 077) != 0) {
		snprintf(why, whylen, "is readable or writable by group or "
		    "others (mode %04o), who could read or change it (chmod "
		    "600 %s)", (unsigned int)(st->st_mode & 07777), path);
		return (-1);
	}
	if ((w = st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		if (w == (S_IWGRP | S_IWOTH))
			by = "its group and others";
		else if (w == S_IWGRP)
			by = "its group";
		else
			by = "others";
		snprintf(why, whylen, "is writable by %s (mode %04o), who "
		    "could %s (chmod go-w %s)", by,
		    (unsigned int)(st->st_mode & 07777), risk, path);
		return (-1);
	}
	return (0);
}

int
files_trusted(const char *path, int isdir, const char *risk, char *why,
    size_t whylen)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		snprintf(why, whylen, "cannot be checked: %s", strerror(errno));
		return (-1);
	}
	return (files_check(&st, path, isdir, 0, risk, why, whylen));
}

/* The directory path is named in, then the one it really is in. */
static int
files_dir(const char *path, char *why, size_t whylen)
{
	char		 dir[PATH_MAX], real[PATH_MAX], sec[PATH_MAX + 256];
	const char	*slash;
	int		 pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			snprintf(real, sizeof(real), "%s", path);
		else if (realpath(path, real) == NULL) {
			snprintf(why, whylen, "cannot be resolved: %s",
			    strerror(errno));
			return (-1);
		}
		if ((slash = strrchr(real, '/')) == NULL)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", slash == real ? 1 :
			    (int)(slash - real), real);
		if (files_trusted(dir, 1, FILES_RISK, sec, sizeof(sec)) == -1) {
			snprintf(why, whylen, "refused: its directory %s %s",
			    dir, sec);
			return (-1);
		}
	}
	return (0);
}

/* 1 if the open file is no longer what st said when it was opened. */
static int
files_changed(int fd, const struct stat *st, size_t got)
{
	struct stat	 now;

	if (fstat(fd, &now) == -1)
		return (1);
	return (now.st_ino != st->st_ino || now.st_dev != st->st_dev ||
	    now.st_size != st->st_size || (off_t)got != st->st_size ||
	    now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != st->st_mtim.tv_nsec ||
	    now.st_ctim.tv_sec != st->st_ctim.tv_sec ||
	    now.st_ctim.tv_nsec != st->st_ctim.tv_nsec);
}

int
files_read(const char *path, size_t max, int flags, char **buf, size_t *len,
    char *why, size_t whylen)
{
	struct stat	 st;
	char		*b, sec[PATH_MAX + 256];
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;
	int		 oflags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

	*buf = NULL;
	*len = 0;
	if (flags & FILES_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	if ((fd = open(path, oflags)) == -1) {
		if (errno == ELOOP && (flags & FILES_NOFOLLOW))
			snprintf(why, whylen, "refused: the file is a symbolic "
			    "link (expected the file itself)");
		else if (errno == EACCES && (flags & FILES_PRIVATE) &&
		    geteuid() != 0 && stat(path, &st) == 0)
			files_denied(&st, path, why, whylen);
		else
			snprintf(why, whylen, "cannot open: %s",
			    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, whylen, "cannot be checked: %s", strerror(errno));
		goto fail;
	}
	if (files_check(&st, path, 0, flags, FILES_RISK, sec,
	    sizeof(sec)) == -1) {
		snprintf(why, whylen, "refused: the file %s", sec);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(why, whylen, "refused: the file is too large (%lld "
		    "bytes, at most %zu)",
		    (long long)st.st_size, max);
		goto fail;
	}
	if (files_dir(path, why, whylen) == -1)
		goto fail;
	if ((b = malloc(max + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	/* One byte more than allowed tells a file that grew meanwhile. */
	while (got <= max && (n = read(fd, b + got, max + 1 - got)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "read error: %s",
			    strerror(errno));
			free(b);
			goto fail;
		}
		got += (size_t)n;
	}
	if ((flags & FILES_STABLE) && files_changed(fd, &st, got)) {
		snprintf(why, whylen, "refused: the file changed while it was "
		    "read (being rewritten? write it beside and rename it "
		    "over)");
		free(b);
		goto fail;
	}
	close(fd);
	if (got > max) {
		snprintf(why, whylen, "refused: the file is too large (at "
		    "most %zu bytes)", max);
		free(b);
		return (-1);
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return (0);
fail:
	close(fd);
	return (-1);
}
