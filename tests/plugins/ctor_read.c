/*
 * ctor_read.c: a constructor that reads a file the daemon's user can read
 * (/tmp/massaged-hostile-secret) and writes what it got to stderr, then a
 * harmless routine. The loader must not let it read the file.
 */
#define FAULT_NAME		"ctor_read"
#define FAULT_DESCRIPTION	"Test routine: its constructor reads a file."
#define FAULT_EXTRA		HOSTILE_NO_EXTRA
#include "hostile.h"

#include <fcntl.h>

static void
ctor_read(void)
{
	char	 buf[128] = "";
	ssize_t	 n;
	int	 fd;

	if ((fd = open("/tmp/massaged-hostile-secret", O_RDONLY)) == -1) {
		n = snprintf(buf, sizeof(buf), "ctor_read: denied: %s\n",
		    strerror(errno));
	} else {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
		n = (ssize_t)strlen(buf);
	}
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n);
}

HOSTILE_CTOR(ctor_read())
