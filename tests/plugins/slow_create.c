/* slow_create.c: create() sleeps create_ms before it answers (slow.h). */
#define SLOW_NAME	"slow_create"
#define SLOW_CREATE	1
#include "slow.h"
