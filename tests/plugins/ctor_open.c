/* ctor_open.c: a constructor that misbehaves (open) while the file is loaded. */
#define FAULT_NAME		"ctor_open"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (open)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR((void)!open("/tmp/massaged-hostile-ctor-open", O_WRONLY | O_CREAT, 0644))
