/* loader_noentry.c: exports a misspelt entry point, not the real one. */
#include <massaged/routine.h>

MASSAGED_EXPORT int	massaged_routine_entri(void);

int
massaged_routine_entri(void)
{
	return (1);
}
