/* loader_bigger_used.c: loader_bigger.c, setting a field this SDK lacks. */
#define LOADER_BIGGER_NAME	"loader_bigger_used"
#define LOADER_BIGGER_FIELD	"used"
#include "loader_bigger.c"
