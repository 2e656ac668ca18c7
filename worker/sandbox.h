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

#endif
