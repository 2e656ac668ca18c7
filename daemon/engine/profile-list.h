/*
 * profile-list.h: the pages of the client profile list (GET
 * /api/v1/profiles), cut and searched off the loop. One reader thread
 * keeps its own copy of every profile's id and name, brought up to date
 * by the loop (a put, a drop, or a whole new copy after a reload), and
 * answers a query with at most limit ids in id order; the loop renders
 * those few. The loop never walks the profiles for a page or a search.
 */
#ifndef PROFILE_LIST_H
#define PROFILE_LIST_H

#include "profile.h"

#define PROFILE_LIST_QUERY_MAX	96	/* bytes of a search, with its NUL */

struct event_base;
struct profile_list;
struct profile_list_query;

typedef void	(*profile_list_cb)(struct profile_list_query *q, void *arg);

/* A page asked for; the results are read in cb, on the loop thread. */
struct profile_list_query {
	char		  search[PROFILE_LIST_QUERY_MAX];  /* "" for all */
	char		  cursor[NAME_LEN];	/* the last id before, or "" */
	int		  limit;
	/* results */
	int		  cancelled;	/* the daemon stops: no reply */
	int		  n;
	char		(*ids)[NAME_LEN];	/* n of them, id order */
	int		  more;		/* a match follows the last id */
	int		  total;	/* profiles in the copy */
};

struct profile_list	*profile_list_open(struct event_base *base);
/* Answers the queries queued (cancelled), then stops the thread. */
void			 profile_list_close(struct profile_list *pl);

/* The copy: each call queues a change, applied in order before any later
 * query. put and drop cost the loop a copy of one id and name. */
void			 profile_list_put(struct profile_list *pl,
			    const char *id, const char *name);
void			 profile_list_drop(struct profile_list *pl,
			    const char *id);
/* A whole new copy of set (after a reload): one pass over its ids and
 * names on the loop, nothing else. */
void			 profile_list_reset(struct profile_list *pl,
			    const struct profile_set *set);

/*
 * Queues a query: the ids after cursor whose name or id contains search
 * (ASCII letters in any case), at most limit of them. cb runs on the loop
 * thread, then the query is freed. -1 when out of memory (nothing queued).
 */
int			 profile_list_query(struct profile_list *pl,
			    const char *search, const char *cursor, int limit,
			    profile_list_cb cb, void *arg);

/* The search text as queries compare it: ASCII letters lower-cased. */
void			 profile_list_fold(char *dst, const char *src,
			    size_t len);

#endif
