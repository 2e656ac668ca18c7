/*
 * api-view.c: what each role sees. Admins and operators see every field;
 * a viewer watches the table and presses STOP, and sees no client's name,
 * condition or note. Every reply and stream snapshot that could carry one
 * passes through here on its way out: the status (replies and the event
 * stream) and the session records. The table of every route and field by
 * role is in docs/api.md ("Roles"); tests/integration/test_roles.py walks
 * it.
 */
#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "api-private.h"

/*
 * The fields of a session record a viewer gets. Anything else stays with
 * admins and operators: the client's name, the conditions, the limits,
 * exclusions, ramp and session length the profile gave, and any field a
 * later version adds.
 */
static const char *const api_view_record_keep[] = {
	"id", "phase", "table", "profile", "profile_revision", "program",
	"start", "end", "end_reason", "stop_category", "stop_message",
	"started_by", "stopped_by", "reset_by", "by", "active_s", "peak_kpa",
	"step", "intensity_pct",
	"intensity_changes", "intensity_changes_dropped", "erased", "error",
	"reason", NULL
};

/* The fields of the status a viewer gets as null: the client's name. */
static const char *const api_view_status_null[] = {
	"profile_name", NULL
};

static int
api_view_kept(const char *key, const char *const *keep)
{
	for (; *keep != NULL; keep++)
		if (strcmp(key, *keep) == 0)
			return (1);
	return (0);
}

/* The status (GET /api/v1/status, command replies, stream snapshots). */
json_t *
api_view_status(json_t *doc, enum api_role role)
{
	const char *const	*k;

	if (role != API_ROLE_VIEWER || !json_is_object(doc))
		return (doc);
	for (k = api_view_status_null; *k != NULL; k++)
		if (json_object_get(doc, *k) != NULL)
			json_object_set_new(doc, *k, json_null());
	return (doc);
}

/* One session record, as GET /api/v1/sessions answers it. */
static void
api_view_record(json_t *rec)
{
	const char	*key;
	json_t		*v;
	void		*tmp;

	json_object_foreach_safe(rec, tmp, key, v) {
		if (!api_view_kept(key, api_view_record_keep))
			json_object_del(rec, key);
	}
}

/* A page of session records ({"sessions": [...], "next_cursor": ...}). */
json_t *
api_view_sessions(json_t *doc, enum api_role role)
{
	json_t	*rec;
	size_t	 i;

	if (role != API_ROLE_VIEWER)
		return (doc);
	json_array_foreach(json_object_get(doc, "sessions"), i, rec)
		if (json_is_object(rec))
			api_view_record(rec);
	return (doc);
}
