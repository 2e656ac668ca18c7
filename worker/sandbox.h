/* sandbox.h: how massaged-worker locks itself down (sandbox.c). */
#ifndef SANDBOX_H
#define SANDBOX_H

/* Before the plugin (the file so) is loaded: process group, parent death,
 * no new privileges, no core dumps, rlimits, what it may read (Landlock),
 * and a seccomp filter that still lets the dynamic loader read files. -1
 * with errno. */
int	sandbox_begin(const char *so);
/* Once loaded: a second filter that leaves only pure computation and the
 * socket to the daemon. -1 with errno. */
int	sandbox_finish(void);

#define SANDBOX_NAMES_MAX	64
/* The names of the system calls a stage's filter allows (loading 1: the
 * first, 0: the second), as the filter is built on this machine, into
 * names (max); their number, -1 on failure. The filters name each call,
 * never its number: libseccomp gives the number of the architecture built
 * for (tests/unit/test_sandbox.c checks every name on x86_64 and
 * aarch64). */
int	sandbox_names(int loading, const char **names, int max);
/* For a call that exists on some architectures only, the one that does its
 * work where it does not (open: openat); NULL for the others. */
const char *sandbox_instead(const char *name);

#endif
