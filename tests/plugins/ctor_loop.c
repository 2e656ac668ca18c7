/* ctor_loop.c: a constructor that misbehaves (loop) while the file is loaded. */
#define FAULT_NAME		"ctor_loop"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (loop)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR(for (volatile unsigned i = 0;; i++) continue)
