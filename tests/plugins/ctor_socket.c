/* ctor_socket.c: a constructor that misbehaves (socket) while the file is loaded. */
#define FAULT_NAME		"ctor_socket"
#define FAULT_DESCRIPTION	"Test routine: its constructor misbehaves (socket)."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>
#include <sys/socket.h>

HOSTILE_CTOR((void)!socket(AF_INET, SOCK_STREAM, 0))
