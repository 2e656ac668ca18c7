/*
 * routine-worker.h: one massaged-worker process (worker/) for one plugin
 * file, and the page its step() goes through: starting it, the framed
 * messages of include/massaged/worker.h on its socket, every wait with a
 * deadline, and its end (killed and reaped). Used by the loader
 * (routine-load.c) and by instances (routine-inst.c).
 */
#ifndef ROUTINE_WORKER_H
#define ROUTINE_WORKER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "massaged/worker.h"

#define ROUTINE_LOAD_MS		3000	/* start, load, describe */

/* A worker: one process, one socket, one request at a time, and the page
 * step() goes through. */
struct routine_worker {
	pid_t		 pid;
	int		 fd;
	struct wk_shared *sh;
	uint32_t	 seq;
	uint32_t	 logs;		/* a.logs when last taken */
	int		 loaded;	/* its descriptor arrived */
	size_t		 len;		/* of the last message */
	char		 name[WORKER_NAME_LEN];
	int		 errfd;		/* its stderr, a pipe */
	size_t		 errlen;
	char		 errbuf[256];	/* a line not ended yet */
	union {
		struct wk_hdr		 h;
		struct wk_desc		 desc;
		struct wk_text		 text;
		struct wk_create	 create;
	} buf;
};

/* snprintf() for reasons that may be cut short on purpose. */
void	routine_worker_why(char *why, size_t whylen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Starts a worker for one plugin file; it loads it on its own time. */
struct routine_worker *routine_worker_spawn(const char *so, char *why,
	    size_t whylen);
/*
 * Ends a worker: SIGKILL to its group, reaped now if it is gone, else
 * later (routine_worker_reap()). Unless killed (the caller knows why), why
 * gets how it died, waiting a few ms at most for its status. w is freed.
 */
void	routine_worker_end(struct routine_worker *w, int killed, char *why,
	    size_t whylen);
/* Reaps workers that were killed but had not exited yet. */
void	routine_worker_reap(void);
/*
 * Waits for the answer of type want to the current request, until
 * deadline_ns (monotonic). Log lines are passed on meanwhile. 0 with the
 * message in w->buf, 1 for WK_ERR (the text in w->buf.text), -1 with why
 * if the worker failed (it is then ended: the caller must drop it).
 */
int	routine_worker_wait(struct routine_worker *w, uint32_t want,
	    uint64_t deadline_ns, char *why, size_t whylen);
/* routine_worker_wait(), but 2 (the worker kept, still asked) once soft_ns
 * has passed without an answer: soft_ns 0 looks without waiting. */
int	routine_worker_wait_soft(struct routine_worker *w, uint32_t want,
	    uint64_t soft_ns, uint64_t deadline_ns, char *why, size_t whylen);
/* Sends one request without waiting; -1 (the worker ended) if it cannot. */
int	routine_worker_send(struct routine_worker *w, const void *req,
	    size_t reqlen, char *why, size_t whylen);
/* Sends one request and waits for its answer: routine_worker_wait()'s
 * results. */
int	routine_worker_call(struct routine_worker *w, const void *req,
	    size_t reqlen, uint32_t want, uint64_t deadline_ns, char *why,
	    size_t whylen);
/*
 * Takes what the worker sent on its socket, without waiting: log lines
 * (passed on) and WK_STEPPED notes. 0; 1 for WK_ERR (the text in
 * w->buf.text); -1 with why if the worker ended (dead, or broke the
 * protocol: then killed). The caller must drop a worker that ended.
 */
int	routine_worker_drain(struct routine_worker *w, char *why,
	    size_t whylen);
/* Past deadline_ns: -1 "timeout" (the worker killed); past soft_ns: 2;
 * else 0, with the time in *now. */
int	routine_worker_due(struct routine_worker *w, uint64_t soft_ns,
	    uint64_t deadline_ns, uint64_t *now, char *why, size_t whylen);
/* Waits for the worker's socket until soft_ns or deadline_ns, whichever
 * comes first: 0, or -1 with why if poll failed (the worker ended). */
int	routine_worker_poll(struct routine_worker *w, uint64_t now,
	    uint64_t soft_ns, uint64_t deadline_ns, char *why, size_t whylen);
/*
 * Passes on what the worker wrote to its stderr, without waiting: each
 * line as a daemon line "routine NAME (stderr): ..." at LOG_INFO, its own
 * "<N>" priority prefix and control characters neutralised.
 */
void	routine_worker_stderr(struct routine_worker *w);
/* CPU time the worker has used (its process clock), -1 if unknown. */
int64_t	routine_worker_cpu_ns(const struct routine_worker *w);
/* The worker's scheduler state ('R', 'S', 'D' ...), 0 if unknown. */
char	routine_worker_sched_state(const struct routine_worker *w);

#endif
