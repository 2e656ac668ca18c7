/* hostile_socket.c: step() opens a TCP socket and connects to
 * 127.0.0.1:port. */
#define FAULT_NAME		"hostile_socket"
#define FAULT_DESCRIPTION	"Test routine: opens a socket."
#define FAULT_EXTRA	{ "port", MASSAGED_PARAM_INT, "", 0, 0, 65535, NULL, \
			    "Where to connect on 127.0.0.1." }
#include "hostile.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int
fault_misbehave(struct fault *f, const struct massaged_step_in *in,
    double *out)
{
	struct sockaddr_in	 sin;
	int			 s;

	hostile_mark(FAULT_NAME);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (MASSAGED_STEP_ERROR);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)f->extra[0]);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)!connect(s, (struct sockaddr *)&sin, sizeof(sin));
	close(s);
	return (MASSAGED_STEP_RUNNING);
}
