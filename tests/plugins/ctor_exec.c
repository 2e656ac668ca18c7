/* ctor_exec.c: a constructor that misbehaves (exec) while the file is loaded. */
#define FAULT_NAME		"ctor_exec"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (exec)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR(execl("/bin/sh", "sh", "-c", "touch /tmp/massaged-hostile-ctor-exec", (char *)NULL))
