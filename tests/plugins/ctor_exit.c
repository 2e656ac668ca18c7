/* ctor_exit.c: a constructor that misbehaves (exit) while the file is loaded. */
#define FAULT_NAME		"ctor_exit"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (exit)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR(exit(0))
