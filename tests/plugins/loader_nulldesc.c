/* loader_nulldesc.c: the entry point returns no descriptor. */
#include <massaged/routine.h>

const struct massaged_routine *
massaged_routine_entry(void)
{
	return (NULL);
}
