/*
 * slow.h: the common part of the slow-loading routines used by
 * tests/integration/test_loop_waits.py. The routine asks for level_kpa on
 * every zone; slow_create.c's create() sleeps create_ms first, and
 * slow_ctor.c's constructor sleeps SLOW_CTOR_MS while the file is loaded.
 * Before it sleeps each writes one line to stderr:
 *
 *   slow NAME pid PID sleeps at NS
 *
 * (NS on CLOCK_MONOTONIC, the clock of the simulator's event log), so the
 * test knows when the sleep began. None of this may hold up the daemon's
 * loop: loading a routine is awaited asynchronously.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <massaged/routine.h>

struct slow {
	double		 level_kpa;
	size_t		 n;
};

static void
slow_sleep(const char *what, double ms)
{
	struct timespec	 ts;
	char		 buf[128];
	int		 n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(buf, sizeof(buf), "slow %s pid %ld sleeps at %lld\n",
	    what, (long)getpid(),
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

#ifdef SLOW_CTOR_MS
__attribute__((constructor)) static void
slow_ctor(void)
{
	slow_sleep(SLOW_NAME, SLOW_CTOR_MS);
}
#endif

static const struct massaged_param slow_params[] = {
	{ "level_kpa", MASSAGED_PARAM_REAL, "kPa", 12, 0, 30, NULL,
	    "Pressure asked for on every zone." },
	{ "create_ms", MASSAGED_PARAM_REAL, "ms", 0, 0, 10000, NULL,
	    "How long create() sleeps first (slow_create only)." },
};

static void *
slow_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	struct slow	*s;

	if (a->n_zones == 0) {
		snprintf(err, errlen, "no zones");
		return (NULL);
	}
#ifdef SLOW_CREATE
	if (a->params[1] > 0)
		slow_sleep(SLOW_NAME, a->params[1]);
#endif
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	s->level_kpa = a->params[0];
	s->n = a->n_zones;
	return (s);
}

static int
slow_step(void *inst, const struct massaged_step_in *in, double *out)
{
	struct slow	*s = inst;
	size_t		 i;

	for (i = 0; i < s->n; i++)
		out[i] = s->level_kpa;
	return (MASSAGED_STEP_RUNNING);
}

static void
slow_destroy(void *inst)
{
	free(inst);
}

static const struct massaged_routine slow_routine = {
	.abi_version = MASSAGED_ROUTINE_ABI_VERSION,
	.size = sizeof(struct massaged_routine),
	.name = SLOW_NAME,
	.version = "1.0.0",
	.description = "Test routine: slow to load.",
	.params = slow_params,
	.n_params = sizeof(slow_params) / sizeof(slow_params[0]),
	.create = slow_create,
	.step = slow_step,
	.destroy = slow_destroy,
};

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (&slow_routine);
}
