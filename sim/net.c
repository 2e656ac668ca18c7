/*
 * net.c: the simulator's TCP addresses: parsing "host:port" from the
 * command line, printing it back, and opening a listening socket. Used by
 * the Modbus TCP side (wire.c) and the control socket (ctlsock.c) alike,
 * so neither has to reach back into main.c for it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "parse.h"

/* "host:port" for printing, with brackets around an IPv6 address. */
void
net_hostport(char *dst, size_t len, const char *host, int port)
{
	if (strchr(host, ':') != NULL)
		snprintf(dst, len, "[%s]:%d", host, port);
	else
		snprintf(dst, len, "%s:%d", host, port);
}

/* Listens on host:port (port 0: any); returns the fd, sets the port. */
int
net_listen(const char *host, int port, int *bound)
{
	struct addrinfo		 hints, *res;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 serv[16];
	int			 fd, one = 1, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	error = getaddrinfo(*host != '\0' ? host : NULL, serv, &hints, &res);
	if (error != 0) {
		log_warnx("%s: %s", host, gai_strerror(error));
		return (-1);
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd == -1) {
		log_warn("socket");
		freeaddrinfo(res);
		return (-1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 16) == -1) {
		log_warn("%s port %d", host, port);
		freeaddrinfo(res);
		close(fd);
		return (-1);
	}
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_warn("getsockname");
		close(fd);
		return (-1);
	}
	if (ss.ss_family == AF_INET6)
		*bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		*bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return (fd);
}

/* Splits "host:port", "[v6]:port", ":port" or "port" (127.0.0.1). */
int
net_split(const char *s, char *host, size_t hostlen, int *port)
{
	const char	*colon, *ps;
	long		 v;
	size_t		 hl;

	if (*s == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			return (-1);
		hl = colon - s - 1;
		ps = colon + 2;
		s++;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		hl = colon - s;
		ps = colon + 1;
	} else {
		hl = 0;
		ps = s;
	}
	if (hl == 0) {		/* ":port" */
		s = "127.0.0.1";
		hl = strlen(s);
	}
	if (hl >= hostlen || parse_int(ps, 0, 65535, &v) == -1)
		return (-1);
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (int)v;
	return (0);
}
