/*
 * ctlcmd.c: the control socket's client, `massaged-sim --control-cmd
 * HOST:PORT [CMD...]`: it starts no simulator, sends commands to a
 * running one's control socket (ctlsock.c) and prints each answer line,
 * so that demos and guides need no nc.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

#define CONTROL_ANSWER_MAX	(256 * 1024)	/* "get all" of every controller */
#define CONTROL_CLIENT_TIMEOUT_S 5

static int	ctlcmd_connect(const char *, int);
static int	ctlcmd_send1(int, const char *, char *, size_t *);


static int
ctlcmd_connect(const char *host, int port)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv = { CONTROL_CLIENT_TIMEOUT_S, 0 };
	char		 serv[16];
	int		 fd = -1, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((error = getaddrinfo(host, serv, &hints, &res)) != 0) {
		log_warnx("control %s: %s", host, gai_strerror(error));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		error = errno;
		close(fd);
		fd = -1;
		errno = error;
	}
	freeaddrinfo(res);
	if (fd == -1)
		log_warn("control %s port %d", host, port);
	return (fd);
}

/* One command out, one answer line back (buf keeps what came after it). */
static int
ctlcmd_send1(int fd, const char *cmd, char *buf, size_t *len)
{
	char	*nl;
	ssize_t	 n;

	if (dprintf(fd, "%s\n", cmd) < 0) {
		log_warn("control: send");
		return (-1);
	}
	while ((nl = memchr(buf, '\n', *len)) == NULL) {
		if (*len == CONTROL_ANSWER_MAX) {
			log_warnx("control: answer too long");
			return (-1);
		}
		n = recv(fd, buf + *len, CONTROL_ANSWER_MAX - *len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				log_warnx("control: closed by the simulator");
			else
				log_warn("control: receive");
			return (-1);
		}
		*len += n;
	}
	fwrite(buf, 1, nl - buf + 1, stdout);
	fflush(stdout);
	n = strncmp(buf, "ok", 2) == 0 && (nl == buf + 2 || buf[2] == ' ');
	*len -= nl - buf + 1;
	memmove(buf, nl + 1, *len);
	return (n ? 0 : 1);
}

/*
 * Sends each command (or, with none, each line of standard input) to the
 * control socket at host:port and prints each answer. Returns the exit
 * status: 0 when every answer was "ok", 1 when one was not, 2 when the
 * socket could not be reached or closed early.
 */
int
ctlcmd_run(const char *host, int port, int argc, char **argv)
{
	static char	 buf[CONTROL_ANSWER_MAX];
	char		*line = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 ll;
	int		 fd, i, rc, status = 0;

	if ((fd = ctlcmd_connect(host, port)) == -1)
		return (2);
	for (i = 0; i < argc && status != 2; i++) {
		if ((rc = ctlcmd_send1(fd, argv[i], buf, &len)) != 0)
			status = rc == -1 ? 2 : 1;
	}
	while (argc == 0 && status != 2 &&
	    (ll = getline(&line, &cap, stdin)) != -1) {
		if (ll > 0 && line[ll - 1] == '\n')
			line[--ll] = '\0';
		if (ll == 0)
			continue;
		if ((rc = ctlcmd_send1(fd, line, buf, &len)) != 0)
			status = rc == -1 ? 2 : 1;
	}
	free(line);
	close(fd);
	return (status);
}
