/*
 * record-private.h: what the session record files share and nothing else
 * includes. record.c is the loop thread's side (building lines, queueing
 * them, handing answers back), record-writer.c the writer thread (append,
 * fdatasync, rotation, the retry of a full disk), record-query.c reading
 * the files back (queries, the last id), record-status.c the health every
 * thread reports to and the status reads, record-erase.c the erasure of a
 * client.
 */
#ifndef RECORD_PRIVATE_H
#define RECORD_PRIVATE_H

#include <sys/queue.h>

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "record.h"

#define RECORD_FILE		"sessions.jsonl"
#define RECORD_ID_FILE		"session-id"
#define RECORD_QUEUE_MAX	1024		/* lines waiting for the disk */
#define RECORD_FILES_MAX	1000		/* rotated files read */
#define RECORD_RETRY_MS		1000
#define RECORD_CHECK_MS		5000		/* idle: is the directory
						   still writable? */
#define RECORD_ROOM		16384		/* kept free for a session */
#define RECORD_CHUNK		65536
#define RECORD_LINE_MAX		(4 * 1024 * 1024)
#define RECORD_KINDS		8		/* errnos logged per streak */
#define RECORD_JSON_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(10))

enum rec_type {
	REC_LINE,
	REC_BARRIER,
	REC_QUERY,
	REC_RESERVE,
	REC_REOPEN,
	REC_ERASE	/* line: the profile id */
};

struct rec_item {
	TAILQ_ENTRY(rec_item)	 entry;
	enum rec_type		 type;
	char			*line;		/* REC_LINE, ends in '\n' */
	size_t			 len;
	uint64_t		 session;	/* for the log; REC_RESERVE */
	int			 max_bytes;	/* REC_LINE: rotation */
	int			 keep;
	record_done_cb		 done_cb;	/* REC_BARRIER, REC_RESERVE */
	record_query_cb		 query_cb;	/* REC_QUERY */
	void			*arg;
	struct record_range	 range;
	int			 ok;
	json_t			*result;
};
TAILQ_HEAD(rec_queue, rec_item);

struct record {
	struct event_base	*base;
	struct tick		*c;
	struct store_link	*store;		/* NULL: none */
	char			 dir[PATH_MAX];
	char			 path[PATH_MAX];
	char			 id_path[PATH_MAX];
	struct event		*done_ev;

	pthread_t		 thread;
	int			 have_thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct rec_queue	 todo;		/* loop -> writer */
	struct rec_queue	 done;		/* writer -> loop */
	int			 quit;

	/* writer thread only */
	struct rec_queue	 pending;	/* lines not yet written */
	int			 npending;
	int			 fd;
	int			 id_fd;
	int			 need_nl;	/* the file ends in a torn line */
	int			 blocked;	/* a session could not start */
	uint64_t		 id_want;	/* the id it reserved */
	int			 overflow_logged;
	int			 max_bytes;	/* rotation, as last queued */
	int			 keep;
	uint64_t		 lost_seen;	/* record_lost() at the last
						   barrier */
	int			 nlogged;
	int			 logged[RECORD_KINDS];
};

/* record.c */
char		*record_line(json_t *o, size_t *lenp);
struct rec_item	*record_push(struct record *r, enum rec_type type, void *arg);
void		 record_send(struct record *r, struct rec_item *it);
void		 record_free_item(struct rec_item *it);

/* record-writer.c */
void		*record_thread(void *arg);

/* record-query.c */
json_t		*record_read(struct record *r, const struct record_range *rg);
json_t		*record_last_session(struct record *r);

/* record-status.c */
void		 record_set_why(const char *why);
void		 record_count_lost(uint64_t n);
void		 record_count_error(void);
void		 record_set_pending(int n);

#endif
