/* slow_ctor.c: a constructor that sleeps 1 s whenever the file is loaded
 * (slow.h). */
#define SLOW_NAME	"slow_ctor"
#define SLOW_CTOR_MS	1000
#include "slow.h"
