/*
 * evtail.c: reads the simulator's event log as it grows.
 *
 *	<CLOCK_MONOTONIC ns> c=<controller> <kind> [key=value ...]
 *
 * The simulator writes each line with one write(2) (O_APPEND), so a line
 * read up to its newline is whole. Waiting for more uses inotify, so the
 * bench sleeps instead of spinning on a machine it is measuring.
 */
#include <sys/inotify.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void	evtail_parse(const char *, struct ev *);

int
evtail_open(struct evtail *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->ino = -1;
	if ((t->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		warnx_("%s: %s", path, strerror(errno));
		return (-1);
	}
	if ((t->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) != -1 &&
	    inotify_add_watch(t->ino, path, IN_MODIFY) == -1) {
		close(t->ino);
		t->ino = -1;
	}
	return (0);
}

void
evtail_close(struct evtail *t)
{
	if (t->fd != -1)
		close(t->fd);
	if (t->ino != -1)
		close(t->ino);
	t->fd = t->ino = -1;
}

/* Forgets everything written so far. */
void
evtail_skip(struct evtail *t)
{
	struct ev	 ev;

	while (evtail_next(t, &ev) == 1)
		;
}

static void
evtail_parse(const char *line, struct ev *e)
{
	unsigned long long	 ns;
	const char		*p;
	int			 c, n = 0;

	memset(e, 0, sizeof(*e));
	e->kind = EV_OTHER;
	e->c = -1;
	if (sscanf(line, "%llu c=%d %n", &ns, &c, &n) != 2 || n == 0)
		return;
	e->ns = ns;
	e->c = c;
	p = line + n;
	if (strncmp(p, "fc16 control=", 13) == 0) {
		e->kind = EV_FC16;
		e->heartbeat = -1;
		sscanf(p, "fc16 control=%d heartbeat=%d", &e->control,
		    &e->heartbeat);
	} else if (strncmp(p, "fc6 ", 4) == 0) {
		if (sscanf(p, "fc6 addr=%d value=%d", &e->addr,
		    &e->value) == 2)
			e->kind = EV_FC6;
	} else if (strncmp(p, "fc4 ", 4) == 0)
		e->kind = EV_FC4;
}

/* The next whole line, parsed: 1, or 0 when nothing more is written yet. */
int
evtail_next(struct evtail *t, struct ev *e)
{
	char	*nl;
	size_t	 ll;
	ssize_t	 n;

	for (;;) {
		if ((nl = memchr(t->buf, '\n', t->len)) != NULL) {
			*nl = '\0';
			evtail_parse(t->buf, e);
			ll = nl - t->buf + 1;
			memmove(t->buf, t->buf + ll, t->len - ll);
			t->len -= ll;
			return (1);
		}
		if (t->len == sizeof(t->buf))
			t->len = 0;	/* no line is this long: resync */
		n = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (0);
		t->len += n;
	}
}

/* Sleeps until the log grows or ms pass. */
void
evtail_wait(struct evtail *t, int ms)
{
	struct pollfd	 pfd;
	char		 buf[4096];

	if (ms <= 0)
		return;
	if (t->ino == -1) {
		sleep_ms(ms < 2 ? ms : 2);
		return;
	}
	pfd.fd = t->ino;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) > 0)
		while (read(t->ino, buf, sizeof(buf)) > 0)
			;
}
