/*
 * files.h: the one rule for files the daemon trusts (configuration,
 * profiles, rules, programs, tokens, routine plugins) and the one way to
 * read them: never blocking, never unbounded.
 *
 * Trusted: a regular file (a directory, for the directory checks), owned
 * by root or by the daemon's own user (its effective uid), not writable by
 * its group or by others. Whoever else could write it, or the directory it
 * sits in, could change what the daemon does.
 */
#ifndef FILES_H
#define FILES_H

#include <stddef.h>

/* Open the file itself, never a symbolic link in its place. */
#define FILES_NOFOLLOW	0x1
/* A secret: neither group nor others may read it either (mode 0600). */
#define FILES_PRIVATE	0x2
/* Refused when the file changed while it was read (a rewrite in place). */
#define FILES_STABLE	0x4
/* What an untrusted writer of a configuration file could do. */
#define FILES_RISK	"change what the daemon does"

/*
 * Checks path (a file, or a directory with isdir) by stat(2): 0, or -1
 * with why set to what is wrong and what to run, as "is writable by others
 * (mode 0666), who could RISK (chmod go-w PATH)".
 */
int	files_trusted(const char *path, int isdir, const char *risk,
	    char *why, size_t whylen);

/*
 * Reads a trusted file whole: opened with O_NONBLOCK (a FIFO or a device
 * is refused at once, never waited on), checked on the open descriptor,
 * then the directory it is named in and the one it really is in. At most
 * max bytes; *buf is NUL-terminated (free it), *len its length. 0, or -1
 * with why set to "cannot open: ..." or "refused: the file is ..." /
 * "refused: its directory DIR is ...", to print after "PATH: ". With
 * FILES_STABLE, a file whose size, times or inode changed between the
 * open and the end of the read is refused ("refused: the file changed
 * while it was read ...").
 */
int	files_read(const char *path, size_t max, int flags, char **buf,
	    size_t *len, char *why, size_t whylen);

#endif
