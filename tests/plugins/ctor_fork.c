/* ctor_fork.c: a constructor that misbehaves (fork) while the file is loaded. */
#define FAULT_NAME		"ctor_fork"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (fork)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR(if (fork() == 0) return)
