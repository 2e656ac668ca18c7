/*
 * prove.c: `massaged -n --prove`. The bus is started as the daemon starts
 * it, on an event base of its own, and runs until every controller has
 * been proven or has failed its proof (or the time is up); nothing is
 * driven, and the bus is stopped with every controller at its safe state.
 * The endpoint locks keep this from touching controllers a running daemon
 * on this machine drives: they are refused, and say so.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "prove.h"

#define PROVE_POLL_MS	20
#define PROVE_CONNECT_S	5	/* to connect (back-off included) */

struct prove {
	struct bus		*bus;
	struct event_base	*base;
	const struct table	*t;
	uint64_t		 deadline_ns;
	uint64_t		 unreachable_ns; /* no connect by then: done */
};

static void
prove_bus_cb(struct bus *b, int ctl, void *arg)
{
}

/* Whether every controller has a result: proven once, or failed once. */
static int
prove_done(struct prove *p)
{
	struct bus_reading	*rd;
	int			 i, done = 1;

	if ((rd = malloc(sizeof(*rd))) == NULL)
		fatal("malloc");
	for (i = 0; i < p->t->nctls && done; i++) {
		bus_get(p->bus, i, rd);
		/* One that cannot even be connected has its answer too. */
		done = rd->proof.passed > 0 || rd->proof.failed > 0 ||
		    (rd->proof.state == CTL_PROOF_NONE &&
		    clock_mono_ns() >= p->unreachable_ns);
	}
	free(rd);
	return (done);
}

static void
prove_poll(evutil_socket_t fd, short what, void *arg)
{
	struct prove	*p = arg;

	if (prove_done(p) || clock_mono_ns() >= p->deadline_ns)
		event_base_loopbreak(p->base);
}

/* One controller's proof, step by step; 1 when proven. */
static int
prove_print(FILE *out, const struct ctl_conf *cc, const char *kind,
    const struct bus_reading *rd)
{
	const struct ctl_proof_log	*pl = &rd->proof;
	int				 i;

	fprintf(out, "controller %s (%s, %s, unit %d):\n", cc->name, kind,
	    table_wire_name(cc), cc->unit_id);
	for (i = 0; i < pl->n; i++)
		fprintf(out, "  +%5u ms  %s\n", pl->lines[i].ms,
		    pl->lines[i].text);
	if (pl->passed > 0) {
		fprintf(out, "  proven in %u ms\n", pl->ms);
		return (1);
	}
	if (pl->failed > 0)
		fprintf(out, "  NOT PROVEN: %s\n", pl->why);
	else
		fprintf(out, "  NOT PROVEN: %s\n", rd->error[0] != '\0' ?
		    rd->error : "no result in time");
	return (0);
}

int
prove_run(const struct table *t, FILE *out, int timeout_s)
{
	struct prove		 p;
	struct event		*ev;
	struct timeval		 tv = { 0, PROVE_POLL_MS * 1000 };
	struct bus_reading	*rd;
	int			 i, proven = 0;

	if (evthread_use_pthreads() == -1)
		fatalx("libevent: no pthreads support");
	if ((p.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	p.t = t;
	p.deadline_ns = clock_mono_ns() + (uint64_t)timeout_s * 1000000000ull;
	p.unreachable_ns = clock_mono_ns() + PROVE_CONNECT_S * 1000000000ull;
	p.bus = bus_start(p.base, t, prove_bus_cb, &p);
	if ((ev = event_new(p.base, -1, EV_PERSIST, prove_poll, &p)) == NULL)
		fatalx("event_new failed");
	event_add(ev, &tv);
	event_base_dispatch(p.base);
	event_free(ev);
	if ((rd = malloc(sizeof(*rd))) == NULL)
		fatal("malloc");
	for (i = 0; i < t->nctls; i++) {
		bus_get(p.bus, i, rd);
		proven += prove_print(out, &t->ctls[i],
		    bus_backend(p.bus, i)->kind, rd);
	}
	free(rd);
	bus_stop(p.bus);
	event_base_free(p.base);
	fprintf(out, "%d of %d controllers proven\n", proven, t->nctls);
	return (proven == t->nctls ? 0 : 1);
}
