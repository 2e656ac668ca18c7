/* ctor_segv.c: a constructor that misbehaves (segv) while the file is loaded. */
#define FAULT_NAME		"ctor_segv"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (segv)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR(volatile uintptr_t a = 16; *(volatile int *)a = 1)
