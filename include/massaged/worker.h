/*
 * worker.h: the messages between the daemon (routines.c) and the routine
 * worker (worker/massaged-worker), one per SOCK_SEQPACKET datagram on the
 * socketpair the daemon hands the worker as fd WORKER_FD, and the shared
 * page step() goes through (struct wk_shared, a memfd handed over as fd
 * WORKER_SHM_FD, mapped by both).
 *
 *   worker -> daemon   WK_DESC once loaded (or WK_ERR and exit)
 *   daemon -> worker   WK_CREATE   -> WK_OK or WK_ERR (the routine's reason)
 *                      WK_DESTROY  -> WK_OK
 *   worker -> daemon   WK_LOG at any time (host->log())
 *
 * step() needs no message when all goes well: the daemon writes the
 * question into the shared page (q.seq last), the worker looks for it at
 * q.look_ns of the question before (a tick ahead: the daemon asks at its
 * next tick, a quarter tick before then) and writes the answer (a.seq
 * last), which the daemon's next tick reads. So neither wakes the other:
 * on a virtual machine waking a process on another CPU costs tens of
 * microseconds, a tick's whole budget for the routine. A side that waits
 * says so in the page, and is woken by a header-only message:
 *
 *   daemon -> worker   WK_STEP     a question is in the page (a.waits was
 *                                  set)
 *   worker -> daemon   WK_STEPPED  the answer is in the page (q.waits
 *                                  named it)
 *
 * Every message carries a sequence number; the daemon checks type, size
 * and number before it believes one, and treats anything else as a
 * broken worker. The page is the worker's to scribble on too: the daemon
 * copies an answer out before it looks at it, every value goes through
 * the limit pipeline, and nothing in it judges the worker (its CPU time
 * and state are the kernel's word, never the page's).
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdint.h>

#define WORKER_FD		3
#define WORKER_SHM_FD		4	/* closed by the worker once mapped */
#define WORKER_EXE_FD		5	/* the daemon's own worker binary, held
					   across an upgrade: closed at once */
#define WORKER_ZONES_MAX	256	/* TABLE_MAX_ZONES */
#define WORKER_PARAMS_MAX	32	/* ROUTINE_PARAMS_MAX */
#define WORKER_NAME_LEN		48
#define WORKER_TEXT_LEN		1024
#define WORKER_STRINGS_LEN	16384
#define WORKER_LOGS_MAX		8	/* host->log() calls per request */

enum worker_msg {
	WK_DESC = 1,
	WK_ERR,
	WK_CREATE,
	WK_OK,
	WK_STEP,
	WK_STEPPED,
	WK_DESTROY,
	WK_LOG
};

struct wk_hdr {
	uint32_t	 type;		/* enum worker_msg */
	uint32_t	 seq;
};

/* The descriptor, copied: numbers here, then the strings in order (name,
 * version, description, then per parameter name, unit, choices, help),
 * each NUL-terminated; a NULL string is sent as WK_NULL_STR. */
#define WK_NULL_STR	"\x01"
#define WK_HAS_CREATE	0x1u
#define WK_HAS_STEP	0x2u
#define WK_HAS_DESTROY	0x4u
struct wk_param {
	int32_t		 type;
	double		 def, min, max;
};
struct wk_desc {
	struct wk_hdr	 h;
	char		 build[WORKER_NAME_LEN];  /* MASSAGED_VERSION */
	uint32_t	 abi_version;
	uint32_t	 size;
	uint32_t	 flags;
	uint32_t	 fns;		/* WK_HAS_* */
	uint32_t	 n_params;	/* as the plugin says */
	uint32_t	 params_null;	/* params is NULL */
	struct wk_param	 params[WORKER_PARAMS_MAX];
	char		 strings[WORKER_STRINGS_LEN];
};

struct wk_text {			/* WK_ERR, WK_LOG */
	struct wk_hdr	 h;
	int32_t		 level;
	char		 text[WORKER_TEXT_LEN];
};

struct wk_zone {
	char		 name[WORKER_NAME_LEN];
	double		 along_cm, across_cm, limit_kpa;
	int32_t		 endangerment;
};
struct wk_create {
	struct wk_hdr	 h;
	double		 duration_s, ramp_kpa_s, tick_hz;
	uint32_t	 n_params, n_zones;
	double		 params[WORKER_PARAMS_MAX];
	struct wk_zone	 zones[WORKER_ZONES_MAX];
};

/* The shared page: each side writes its half only (seq last, with
 * release; the waits flags with sequential consistency, as a futex's). */
struct wk_question {			/* the daemon's */
	uint32_t	 seq;		/* of the question now in it */
	uint32_t	 n;
	double		 t_s, dt_s, intensity;
	int32_t		 feedback;
	uint32_t	 waits;		/* the daemon waits on the socket
					   for this answer: WK_STEPPED */
	int64_t		 look_ns;	/* CLOCK_MONOTONIC: look for the next
					   question then; 0 wait for WK_STEP */
	double		 pressure_kpa[WORKER_ZONES_MAX];
};
struct wk_answer {			/* the worker's */
	uint32_t	 seq;		/* of the question answered */
	int32_t		 rc;
	uint32_t	 waits;		/* the worker waits on the socket
					   for a question: WK_STEP */
	uint32_t	 logs;		/* WK_LOG messages sent so far */
	uint32_t	 took;		/* the question step() is working
					   on: the daemon believes it only
					   to wait longer, never to judge */
	double		 setpoint_kpa[WORKER_ZONES_MAX];
};
struct wk_shared {
	struct wk_question q __attribute__((aligned(64)));
	struct wk_answer   a __attribute__((aligned(64)));
};

/* The largest message either side sends. */
#define WORKER_MSG_MAX	(sizeof(struct wk_create) > sizeof(struct wk_desc) ? \
			    sizeof(struct wk_create) : sizeof(struct wk_desc))

#endif
