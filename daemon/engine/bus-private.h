/*
 * bus-private.h: what bus.c (the link threads, the mailboxes), bus-io.c
 * (the services a backend calls, ctl.h) and bus-prove.c (the proof of the
 * safe state after every connect) share. Nothing outside the bus uses it.
 */
#ifndef BUS_PRIVATE_H
#define BUS_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "bus.h"
#include "bus-wire.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define VERIFY_MS	500	/* identity and read-backs, at least */
#define MS		1000000ull

struct bus_link;

/* One controller: its mailbox (under link->mtx) and the thread's state. */
struct bus_ctl {
	struct bus_link		*link;
	int			 idx;
	struct ctl_conf		 conf;
	const struct ctl_backend *be;		/* its kind */
	void			*st;		/* the backend's, thread only */
	struct event		*ev;		/* wakes the loop */

	/* under link->mtx */
	int			 vent;		/* a vent to send */
	int			 have_req;
	struct ctl_intent	 req;
	struct bus_reading	 rd;

	/* thread only */
	struct ctl_reading	 scratch;	/* the backend's, for rd.ctl */
	int			 up;		/* connect checks passed */
	int			 enabled;	/* its last tick enabled */
	int			 stopbits;	/* bus_stopbits() last seen */
	uint64_t		 verify_ns;	/* last verification began */
	int			 verify_step;	/* next step, 0 none due */
	int			 backoff;
	uint64_t		 retry_ns;
	int			 lockfd;	/* endpoint lock, -1 none */
	int			 partfd[CTL_PARTS]; /* kind = device: the locks
						   of its sensors' and its
						   interlock's units */
	char			 unguarded[BUS_ERROR_LEN]; /* why no lock */
	int			 wire_err;	/* connect failed: link broken */
	int			 unit;		/* this turn's unit id */
	int			 xacts;		/* successful transactions of
						   this turn */
	int			 proving;	/* connected, proof running */
	struct ctl_proof	 pf;		/* the backend's proof state */
	uint64_t		 proof_next_ns;	/* its next call */
};

struct bus_link {
	struct bus		*bus;
	int			 idx;
	struct bus_ctl		*ctls[TABLE_MAX_CONTROLLERS];
	int			 n;
	pthread_t		 thread;
	int			 started;
	struct bus_wire		 w;		/* thread only */
	int			 backoff;	/* thread only */
	uint64_t		 retry_ns;	/* thread only */

	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	int			 quit;
};

struct bus {
	struct event_base	*base;
	int			 n;
	struct bus_ctl		*ctls;
	int			 nlinks;
	struct bus_link		*links;
	bus_cb			 cb;
	void			*arg;
	unsigned		 owner;		/* our owner id (map v2) */
	char			 run_dir[PATH_MAX];
};

/* bus-io.c */
void	bus_notify(struct bus_ctl *);
void	bus_set_error(struct bus_ctl *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	bus_vset_error(struct bus_ctl *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	bus_mark_down(struct bus_ctl *);
int	bus_breaks_wire(int);
void	bus_ctl_down(struct bus_ctl *, int backoff);
void	bus_fail(struct bus_ctl *, const char *what);
void	bus_rtt(struct bus_reading *, double s);
void	bus_backoff(int *, uint64_t *);

/* bus.c */
void	bus_link_close(struct bus_link *);

/* bus-prove.c */
void	bus_prove_begin(struct bus_ctl *);
void	bus_prove_turn(struct bus_ctl *);
void	bus_prove_vented(struct bus_ctl *);

#endif
