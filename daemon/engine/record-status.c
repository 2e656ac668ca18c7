/*
 * record-status.c: the health of the session records, which the writer
 * thread and the loop thread report to and the status, /metrics and the
 * refusal of a start read: lines that failed at their first write, lines
 * lost for good, lines waiting, and why records cannot be written.
 * Atomics and one small lock, so no reader waits on the disk.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "record.h"
#include "record-private.h"

static _Atomic uint64_t	 record_errors;
static _Atomic uint64_t	 record_nlost;
static _Atomic unsigned	 record_npending;
static pthread_mutex_t	 record_why_mtx = PTHREAD_MUTEX_INITIALIZER;
static char		 record_why[320];	/* "" while records work */

uint64_t
record_write_errors(void)
{
	return (atomic_load(&record_errors));
}

uint64_t
record_lost(void)
{
	return (atomic_load(&record_nlost));
}

int
record_failing(char *why, size_t whylen, unsigned *pending)
{
	int	 failing;

	pthread_mutex_lock(&record_why_mtx);
	failing = record_why[0] != '\0';
	if (why != NULL)
		snprintf(why, whylen, "%s", record_why);
	pthread_mutex_unlock(&record_why_mtx);
	if (pending != NULL)
		*pending = atomic_load(&record_npending);
	return (failing ? -1 : 0);
}

json_t *
record_status_json(void)
{
	json_t		*o = json_object();
	char		 why[320];
	unsigned	 pending;
	int		 failing = record_failing(why, sizeof(why), &pending);

	json_object_set_new(o, "ok", json_boolean(!failing));
	json_object_set_new(o, "error", failing ? json_string(why) :
	    json_null());
	json_object_set_new(o, "pending", json_integer(pending));
	json_object_set_new(o, "lost", json_integer((json_int_t)record_lost()));
	return (o);
}

/* "" when records are written again. */
void
record_set_why(const char *why)
{
	pthread_mutex_lock(&record_why_mtx);
	snprintf(record_why, sizeof(record_why), "%s", why);
	pthread_mutex_unlock(&record_why_mtx);
}

void
record_count_lost(uint64_t n)
{
	atomic_fetch_add(&record_nlost, n);
}

/* A line not written at its first attempt. */
void
record_count_error(void)
{
	atomic_fetch_add(&record_errors, 1);
}

void
record_set_pending(int n)
{
	atomic_store(&record_npending, (unsigned)n);
}
