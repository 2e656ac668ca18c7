/*
 * store-history.c: the spa's session history, read from the store's
 * massaged.records on the link's thread (docs/store.md, "History across
 * tables"). The answer has the form of record_query()'s: the sessions
 * whose start is in [since, until), newest first, at most limit, and a
 * next_cursor "KEY,ID,N" of the same meaning: after the N answered
 * sessions that started at KEY with id ID (sessions of two tables may
 * share both), the next page starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "record.h"
#include "store-link.h"
#include "store-private.h"

/* The ORDER is the files' (start, then id, newest first), then the
 * table's name so that the pages of two tables' ties are stable. */
#define STORE_HISTORY_SQL						\
	"SELECT line::text, line->>'start', session_id "		\
	"FROM massaged.records "					\
	"WHERE ($1 = '' OR line->>'start' >= $1) "			\
	"AND ($2 = '' OR line->>'start' < $2) "				\
	"AND ($3 = '' OR (line->>'start', session_id) <= "		\
	"($3, $4::bigint)) "						\
	"AND ($5 = '' OR profile_id = $5) "				\
	"ORDER BY line->>'start' DESC, session_id DESC, table_name DESC " \
	"LIMIT $6"

/* The rows in a page, the cursor's skipped ties first. */
static json_t *
store_history_page(PGresult *r, const struct record_range *rg)
{
	json_t		*out = json_array(), *doc, *o;
	const char	*key = NULL;
	long long	 id = 0;
	int		 i, n = PQntuples(r), skip = 0, taken = 0, same = 0;
	char		 next[96];

	if (rg->has_cursor)
		skip = rg->cursor_n;
	for (i = 0; i < n && taken < rg->limit; i++) {
		if (skip > 0 && strcmp(PQgetvalue(r, i, 1),
		    rg->cursor_key) == 0 && strtoll(PQgetvalue(r, i, 2),
		    NULL, 10) == rg->cursor_id) {
			skip--;
			continue;
		}
		if ((o = json_loads(PQgetvalue(r, i, 0), 0, NULL)) == NULL)
			continue;
		json_array_append_new(out, o);
		taken++;
		if (key == NULL || strcmp(key, PQgetvalue(r, i, 1)) != 0 ||
		    id != strtoll(PQgetvalue(r, i, 2), NULL, 10)) {
			key = PQgetvalue(r, i, 1);
			id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
			same = 0;
		}
		same++;
	}
	doc = json_object();
	json_object_set_new(doc, "sessions", out);
	if (taken > 0 && i < n) {
		if (rg->has_cursor && strcmp(key, rg->cursor_key) == 0 &&
		    id == rg->cursor_id)
			same += rg->cursor_n;
		snprintf(next, sizeof(next), "%s,%lld,%d", key, id, same);
		json_object_set_new(doc, "next_cursor", json_string(next));
	} else
		json_object_set_new(doc, "next_cursor", json_null());
	return (doc);
}

json_t *
store_history(struct store_link *l, PGconn *conn,
    const struct record_range *rg, char *err, size_t errlen)
{
	const char	*v[6];
	char		 id[32], limit[32];
	PGresult	*r;
	json_t		*doc;

	snprintf(id, sizeof(id), "%lld", rg->has_cursor ? rg->cursor_id : 0);
	/* One more than the page, and the cursor's ties it skips. */
	snprintf(limit, sizeof(limit), "%d", rg->limit + 1 +
	    (rg->has_cursor ? rg->cursor_n : 0));
	v[0] = rg->since;
	v[1] = rg->until;
	v[2] = rg->has_cursor ? rg->cursor_key : "";
	v[3] = id;
	v[4] = rg->profile;
	v[5] = limit;
	if ((r = store_query(l, conn, STORE_HISTORY_SQL, 6, v, err,
	    errlen)) == NULL)
		return (NULL);
	doc = store_history_page(r, rg);
	PQclear(r);
	return (doc);
}
