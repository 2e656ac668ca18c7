/*
 * pollset.c: the set of descriptors one turn of the loop waits on. Each
 * subsystem adds its own (wire_poll(), ctlsock_poll()) with what it is, so
 * main.c can hand each ready one back to its owner without the owners
 * calling into the loop.
 */
#include <stdlib.h>

#include "sim.h"

void
pollset_add(struct pollset *ps, int fd, short events,
    enum pollset_kind kind, void *ptr)
{
	struct pollfd		*pfd;
	struct pollset_ent	*ent;
	size_t			 cap;

	if (ps->n == ps->cap) {
		cap = ps->cap ? ps->cap * 2 : 64;
		if ((pfd = reallocarray(ps->pfd, cap, sizeof(*pfd))) == NULL)
			fatal("reallocarray");
		ps->pfd = pfd;
		if ((ent = reallocarray(ps->ent, cap, sizeof(*ent))) == NULL)
			fatal("reallocarray");
		ps->ent = ent;
		ps->cap = cap;
	}
	ps->pfd[ps->n].fd = fd;
	ps->pfd[ps->n].events = events;
	ps->pfd[ps->n].revents = 0;
	ps->ent[ps->n].kind = kind;
	ps->ent[ps->n].ptr = ptr;
	ps->n++;
}

void
pollset_free(struct pollset *ps)
{
	free(ps->pfd);
	free(ps->ent);
	ps->pfd = NULL;
	ps->ent = NULL;
	ps->n = ps->cap = 0;
}
