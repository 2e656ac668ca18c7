/*
 * worker.h: the messages between the daemon (routines.c) and the routine
 * worker (worker/massaged-worker), one per SOCK_SEQPACKET datagram on the
 * socketpair the daemon hands the worker as fd WORKER_FD.
 *
 *   worker -> daemon   WK_DESC once loaded (or WK_ERR and exit)
 *   daemon -> worker   WK_CREATE   -> WK_OK or WK_ERR (the routine's reason)
 *                      WK_STEP     -> WK_STEPPED
 *                      WK_DESTROY  -> WK_OK
 *   worker -> daemon   WK_LOG at any time before a reply (host->log())
 *
 * Every reply carries the sequence number of its request; the daemon
 * checks type, size and number before it believes a reply, and treats
 * anything else as a broken worker.
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdint.h>

#define WORKER_FD		3
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

struct wk_step {
	struct wk_hdr	 h;
	double		 t_s, dt_s, intensity;
	int32_t		 feedback;
	uint32_t	 n;
	double		 pressure_kpa[WORKER_ZONES_MAX];
};

struct wk_stepped {
	struct wk_hdr	 h;
	int32_t		 rc;
	uint32_t	 n;
	int64_t		 cpu_ns;	/* the worker's CPU time, sent */
	double		 setpoint_kpa[WORKER_ZONES_MAX];
};

/* The largest message either side sends. */
#define WORKER_MSG_MAX	(sizeof(struct wk_create) > sizeof(struct wk_desc) ? \
			    sizeof(struct wk_create) : sizeof(struct wk_desc))

#endif
