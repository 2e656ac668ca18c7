/*
 * profile-writer.h: client profiles written through the API, into the
 * writable profile directory (STATE_DIR/profiles). One writer thread
 * renders nothing and decides nothing: it writes the INI text the loop
 * rendered, parses it back with the parser every profile goes through, and
 * renames it into place; the loop swaps the parsed profile in.
 */
#ifndef PROFILE_WRITER_H
#define PROFILE_WRITER_H

#include <sys/queue.h>

#include <limits.h>
#include <stddef.h>

#include "profile.h"

struct event_base;
struct profile_writer;

/* The answers of an intake, checked by the API, rendered into INI text. */
struct profile_form {
	char		 name[96];
	int		 nconditions;
	char		 conditions[PROFILE_MAX_CONDITIONS][NAME_LEN];
	char		 pressure[NAME_LEN];
	char		 ramp[NAME_LEN];
	double		 cap_kpa;
	double		 ramp_kpa_s;
	double		 max_session_min;
	int		 intensity_pct;
	int		 ncaps;
	struct profile_cap caps[PROFILE_MAX_CAPS];	/* glob = kPa */
	char		 note[PROFILE_NOTE_MAX + 1];
	int		 revision;
};

enum profile_writer_op {
	PROFILE_WRITER_SAVE,	/* write, parse, rename into place */
	PROFILE_WRITER_PREVIEW,	/* write, parse, remove: nothing kept */
	PROFILE_WRITER_DELETE	/* remove the file */
};

struct profile_writer_job;
typedef void	(*profile_writer_done_cb)(struct profile_writer_job *job,
		    void *arg);

struct profile_writer_job {
	TAILQ_ENTRY(profile_writer_job)	 entry;
	LIST_ENTRY(profile_writer_job)	 inflight;	/* loop thread only */
	enum profile_writer_op		 op;
	char			 id[NAME_LEN];
	char			*text;		/* the INI text, owned */
	size_t			 len;
	struct table		*table;		/* copies: the loop may */
	struct rules		 rules;		/* reload meanwhile */
	/* what must read back from the file as it was given */
	char			 expect_name[96];
	char			 expect_note[PROFILE_NOTE_MAX + 1];
	profile_writer_done_cb		 cb;
	void			*arg;
	/* results, read on the loop in cb */
	int			 cancelled;	/* the daemon stops: no reply */
	int			 ok;
	int			 invalid;	/* errors: the profile is bad */
	const char		*mismatch;	/* a field that read back
						   differently, or NULL */
	int			 err;		/* errno of a failed write */
	char			 what[64];	/* the step that failed */
	char			*errors;	/* file:line messages, owned */
	struct profile		 prof;		/* parsed, when ok */
};

/* Opens the store on dir (created 0700 when first written) and removes
 * temporary files a crash left behind. */
struct profile_writer	*profile_writer_open(struct event_base *base,
			    const char *dir);
void			 profile_writer_close(struct profile_writer *ps);

/* A new job for id (text may be NULL for a delete), with copies of the
 * table and rules to parse against. NULL when out of memory. */
struct profile_writer_job *profile_writer_job(enum profile_writer_op op,
			    const char *id, const char *text,
			    const struct table *t, const struct rules *r);
/* Queues job; cb runs on the loop thread when it is done, then the job is
 * freed. */
void			 profile_writer_submit(struct profile_writer *ps,
			    struct profile_writer_job *job,
			    profile_writer_done_cb cb, void *arg);
/* 1 if a save or delete of id is queued or running. */
int			 profile_writer_busy(struct profile_writer *ps,
			    const char *id);

/*
 * On a reload's swap: the profile directory was read on the reload thread,
 * and a save or an erasure may have finished since. A writable profile of
 * old that fresh lacks or holds at a lower revision is carried over if its
 * file is there; one of fresh whose file is gone is dropped.
 */
void			 profile_writer_carry(struct profile_set *fresh,
			    const struct profile_set *old);

/* The INI text of a form, malloc'd, or NULL. */
char			*profile_writer_render(const struct profile_form *f,
			    const char *id);

#endif
