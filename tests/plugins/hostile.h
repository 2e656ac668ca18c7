/*
 * hostile.h: the common part of the hostile routines used by
 * tests/integration/test_containment.py. A hostile_*.c file behaves for
 * normal_s seconds as fault.h does, then misbehaves in its own way
 * (fault_misbehave()); a ctor_*.c file misbehaves in a constructor, while
 * it is loaded. Just before misbehaving each writes one line to stderr:
 *
 *   hostile NAME pid PID misbehaves at NS
 *
 * (NS on CLOCK_MONOTONIC, the clock of the simulator's event log), so the
 * test knows when and in which process it happened. None of this may
 * touch the daemon: it runs in a sandboxed worker.
 */
#define _GNU_SOURCE

#define HOSTILE_NO_EXTRA { "unused", MASSAGED_PARAM_INT, "", 0, 0, 1, NULL, \
			    "Not used." }

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

static void
hostile_mark(const char *name)
{
	struct timespec	 ts;
	char		 buf[128];
	int		 n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(buf, sizeof(buf), "hostile %s pid %ld misbehaves at "
	    "%lld\n", name, (long)getpid(),
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n);
}

/* A ctor_*.c: the routine itself is harmless, its constructor is not. */
#define HOSTILE_CTOR(body)						\
	__attribute__((constructor)) static void			\
	hostile_ctor(void)						\
	{								\
		hostile_mark(FAULT_NAME);				\
		body;							\
	}								\
	static int							\
	fault_misbehave(struct fault *f,				\
	    const struct massaged_step_in *in, double *out)		\
	{								\
		return (MASSAGED_STEP_RUNNING);				\
	}
