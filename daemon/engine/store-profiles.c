/*
 * store-profiles.c: the spa's client profiles in the store, on the link's
 * thread (docs/store.md, "Profiles across tables").
 *
 * A profile is stored as the answers of its intake (struct profile_form),
 * one row per revision; each table renders and checks its own copy with
 * the parser every profile goes through (profile-writer.c). A save is one
 * statement that inserts revision N only where N - 1 is the newest (or N
 * is 1 and the id is new), so two tables saving the same revision get one
 * row and one conflict, and a profile erased meanwhile is not brought
 * back; it notifies massaged_profiles with the id on commit. An erasure is
 * one statement too: every revision deleted, a tombstone without personal
 * data added, every table's shipped records scrubbed (massaged.scrub()),
 * massaged_erasures notified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "log.h"
#include "store-link.h"
#include "store-private.h"

#define STORE_PROFILE_COLS						\
	"id, revision, name, cap_kpa, caps::text, ramp_kpa_s, "		\
	"max_session_min, intensity_pct, array_to_json(conditions)::text, " \
	"pressure, ramp, note"

/* The form's conditions and caps as the JSON the statement takes. */
static void
store_profile_json(const struct profile_form *f, char **conds, char **caps)
{
	json_t	*c = json_array(), *z = json_array();
	int	 i;

	for (i = 0; i < f->nconditions; i++)
		json_array_append_new(c, json_string(f->conditions[i]));
	for (i = 0; i < f->ncaps; i++)
		json_array_append_new(z, json_pack("{s:s, s:f}", "glob",
		    f->caps[i].glob, "cap_kpa", f->caps[i].cap_kpa));
	*conds = json_dumps(c, JSON_COMPACT);
	*caps = json_dumps(z, JSON_COMPACT);
	json_decref(c);
	json_decref(z);
	if (*conds == NULL || *caps == NULL)
		fatal("store_profile_json");
}

int
store_profile_put(struct store_link *l, PGconn *conn,
    const struct profile_form *f, const char *id, const char *by,
    char *err, size_t errlen)
{
	const char	*v[13];
	char		 rev[16], cap[32], ramp[32], max[32], pct[16];
	char		*conds, *caps;
	PGresult	*r;
	int		 rc;

	store_profile_json(f, &conds, &caps);
	snprintf(rev, sizeof(rev), "%d", f->revision);
	snprintf(cap, sizeof(cap), "%.17g", f->cap_kpa);
	snprintf(ramp, sizeof(ramp), "%.17g", f->ramp_kpa_s);
	snprintf(max, sizeof(max), "%.17g", f->max_session_min);
	snprintf(pct, sizeof(pct), "%d", f->intensity_pct);
	v[0] = id;	v[1] = rev;	v[2] = f->name;	v[3] = cap;
	v[4] = caps;	v[5] = ramp;	v[6] = max;	v[7] = pct;
	v[8] = conds;	v[9] = f->pressure;	v[10] = f->ramp;
	v[11] = f->note;	v[12] = by;
	r = store_query(l, conn, "WITH ins AS (INSERT INTO massaged.profiles "
	    "(id, revision, name, cap_kpa, caps, ramp_kpa_s, max_session_min, "
	    "intensity_pct, conditions, pressure, ramp, note, written_by) "
	    "SELECT $1, $2::int, $3, $4::float8, $5::jsonb, $6::float8, "
	    "$7::float8, $8::int, ARRAY(SELECT jsonb_array_elements_text("
	    "$9::jsonb)), $10, $11, $12, $13 WHERE CASE WHEN $2::int = 1 "
	    "THEN NOT EXISTS (SELECT 1 FROM massaged.profiles WHERE id = $1) "
	    "ELSE (SELECT max(revision) FROM massaged.profiles WHERE id = $1) "
	    "= $2::int - 1 END ON CONFLICT DO NOTHING RETURNING id) "
	    "SELECT pg_notify('massaged_profiles', id) FROM ins", 13, v, err,
	    errlen);
	free(conds);
	free(caps);
	if (r == NULL)
		return (-1);
	rc = PQntuples(r) == 1 ? 0 : 1;
	PQclear(r);
	return (rc);
}

int
store_profile_erase(struct store_link *l, PGconn *conn, const char *id,
    const char *by, long long *seq, char *err, size_t errlen)
{
	const char	*v[2] = { id, by };
	PGresult	*r;

	if ((r = store_query(l, conn, "WITH d AS (DELETE FROM "
	    "massaged.profiles WHERE id = $1), e AS (INSERT INTO "
	    "massaged.erasures (profile_id, erased_by) VALUES ($1, $2) "
	    "RETURNING seq), s AS (UPDATE massaged.records SET line = "
	    "massaged.scrub(line, $1) WHERE profile_id = $1) "
	    "SELECT (SELECT seq FROM e), pg_notify('massaged_erasures', $1)",
	    2, v, err, errlen)) == NULL)
		return (-1);
	*seq = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	return (0);
}

/* Row i of a result of STORE_PROFILE_COLS into a form; -1 if bad. */
static int
store_profile_row(PGresult *r, int i, struct store_in *in)
{
	struct profile_form	*f = &in->form;
	json_t			*c, *z, *x;
	size_t			 k;

	memset(f, 0, sizeof(*f));
	snprintf(in->id, sizeof(in->id), "%s", PQgetvalue(r, i, 0));
	f->revision = atoi(PQgetvalue(r, i, 1));
	snprintf(f->name, sizeof(f->name), "%s", PQgetvalue(r, i, 2));
	f->cap_kpa = strtod(PQgetvalue(r, i, 3), NULL);
	f->ramp_kpa_s = strtod(PQgetvalue(r, i, 5), NULL);
	f->max_session_min = strtod(PQgetvalue(r, i, 6), NULL);
	f->intensity_pct = atoi(PQgetvalue(r, i, 7));
	snprintf(f->pressure, sizeof(f->pressure), "%s", PQgetvalue(r, i, 9));
	snprintf(f->ramp, sizeof(f->ramp), "%s", PQgetvalue(r, i, 10));
	snprintf(f->note, sizeof(f->note), "%s", PQgetvalue(r, i, 11));
	z = json_loads(PQgetvalue(r, i, 4), 0, NULL);
	c = json_loads(PQgetvalue(r, i, 8), 0, NULL);
	if (!json_is_array(z) || !json_is_array(c) ||
	    json_array_size(z) > PROFILE_MAX_CAPS ||
	    json_array_size(c) > PROFILE_MAX_CONDITIONS) {
		json_decref(z);
		json_decref(c);
		return (-1);
	}
	json_array_foreach(c, k, x)
		snprintf(f->conditions[f->nconditions++], NAME_LEN, "%s",
		    json_string_value(x) != NULL ? json_string_value(x) : "");
	json_array_foreach(z, k, x) {
		snprintf(f->caps[f->ncaps].glob, NAME_LEN, "%s",
		    json_string_value(json_object_get(x, "glob")) != NULL ?
		    json_string_value(json_object_get(x, "glob")) : "");
		f->caps[f->ncaps++].cap_kpa = json_number_value(
		    json_object_get(x, "cap_kpa"));
	}
	json_decref(z);
	json_decref(c);
	return (0);
}

int
store_profile_fetch(struct store_link *l, PGconn *conn, const char *id,
    char *err, size_t errlen)
{
	const char	*v[1] = { id };
	struct store_in	 in;
	PGresult	*r;
	int		 i, n;

	if ((r = store_query(l, conn, "SELECT " STORE_PROFILE_COLS " FROM "
	    "massaged.profiles_current WHERE $1 = '' OR id = $1", 1, v, err,
	    errlen)) == NULL)
		return (-1);
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		in.kind = STORE_IN_PROFILE;
		if (store_profile_row(r, i, &in) == -1) {
			log_warnx("store: profile %s: not a profile this "
			    "build can read; skipped", PQgetvalue(r, i, 0));
			continue;
		}
		store_link_deliver(l, &in);
	}
	PQclear(r);
	explicit_bzero(&in, sizeof(in));
	return (n);
}

int
store_profile_erasures(struct store_link *l, PGconn *conn, long long after,
    char *err, size_t errlen)
{
	const char	*v[1];
	char		 seq[32];
	struct store_in	 in;
	PGresult	*r;
	int		 i, n;

	snprintf(seq, sizeof(seq), "%lld", after);
	v[0] = seq;
	if ((r = store_query(l, conn, "SELECT seq, profile_id FROM "
	    "massaged.erasures WHERE seq > $1::bigint ORDER BY seq", 1, v, err,
	    errlen)) == NULL)
		return (-1);
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		in.kind = STORE_IN_ERASED;
		in.seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		snprintf(in.id, sizeof(in.id), "%s", PQgetvalue(r, i, 1));
		store_link_deliver(l, &in);
	}
	PQclear(r);
	return (n);
}
