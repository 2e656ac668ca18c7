/* ctor_thread.c: a constructor that starts a thread while the file is
 * loaded. */
#define FAULT_NAME		"ctor_thread"
#define FAULT_DESCRIPTION	"Test routine: its constructor starts a thread."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <pthread.h>

static void *
ctor_run(void *arg)
{
	for (;;)
		pause();
	return (arg);
}

HOSTILE_CTOR(pthread_t t; (void)pthread_create(&t, NULL, ctor_run, NULL))
