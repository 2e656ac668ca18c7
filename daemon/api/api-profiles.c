/*
 * api-profiles.c: client profiles through the API, for the intake at the
 * table (docs/api.md, "Client profiles"):
 *
 *   GET    /api/v1/intake                 the clinic's questions and choices
 *   POST   /api/v1/intake/preview         what answers would do, nothing kept
 *   POST   /api/v1/profiles               a new client from the answers
 *   GET    /api/v1/profiles/ID            one profile, with its INI text
 *   GET    /api/v1/profiles/ID/sessions   the client's past sessions
 *   PUT    /api/v1/profiles/ID            new answers (If-Match: revision)
 *   DELETE /api/v1/profiles/ID            erasure of the client
 *
 * The answers are checked here (each bad value names its field), rendered
 * into INI text, and handed to profile-writer.c, which writes and parses
 * them off the loop; the parsed profile is swapped into the configuration
 * here, on the loop, through api-plist.c (which also serves the list,
 * GET /api/v1/profiles, and caps the writable profiles). A running session keeps the limits it started with
 * (it holds its own copy of the profile). Health data (conditions, notes)
 * goes only into the replies to admin and operator tokens: log lines name
 * the profile id and the actor.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api-private.h"
#include "profile-writer.h"
#include "record.h"
#include "status.h"
#include "strings.h"
#include "tick.h"

#define API_PROFILES_PREFIX	"/api/v1/profiles/"
#define API_PROFILE_FILE_MAX	(64 * 1024)
#define API_HISTORY_SCAN	1000	/* newest records searched */

/* A request waiting for the profile store or the records. */
/* --- answers ------------------------------------------------------------ */

static int
api_zone_index(const struct table *t, const char *name)
{
	int	 i;

	for (i = 0; i < t->nzones; i++)
		if (strcmp(t->zones[i].name, name) == 0)
			return (i);
	return (-1);
}

/* A string field of at most max bytes, one line, trimmed. */
static int
api_form_text(struct evhttp_request *req, json_t *body, const char *field,
    int required, char *dst, size_t max)
{
	json_t		*v = json_object_get(body, field);
	const char	*s, *e;
	size_t		 n;

	dst[0] = '\0';
	if (v == NULL && !required)
		return (0);
	if (v == NULL || !json_is_string(v)) {
		api_error(req, 400, "bad_request", "field '%s': %s", field,
		    v == NULL ? "missing (expected a string)" :
		    "expected a string");
		return (-1);
	}
	s = json_string_value(v);
	while (*s == ' ')
		s++;
	for (n = strlen(s), e = s + n; e > s && e[-1] == ' '; e--)
		n--;
	if (n > max) {
		api_error(req, 400, "bad_request", "field '%s': %zu bytes, at "
		    "most %zu", field, n, max);
		return (-1);
	}
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    !str_one_line(s)) {
		api_error(req, 400, "bad_request", "field '%s': expected one "
		    "line of text without control characters, line or "
		    "paragraph separators or bidirectional controls", field);
		return (-1);
	}
	if (required && n == 0) {
		api_error(req, 400, "bad_request", "field '%s': empty", field);
		return (-1);
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return (0);
}

static int
api_form_choice(struct evhttp_request *req, json_t *body, const char *field,
    const struct intake_choice *set, int n, const char *path, char *dst,
    double *value)
{
	json_t		*v = json_object_get(body, field);
	char		 known[256] = "";
	int		 i;

	for (i = 0; i < n; i++)
		snprintf(known + strlen(known), sizeof(known) - strlen(known),
		    "%s%s", i > 0 ? ", " : "", set[i].name);
	if (v != NULL && json_is_string(v))
		for (i = 0; i < n; i++)
			if (strcmp(set[i].name, json_string_value(v)) == 0) {
				snprintf(dst, NAME_LEN, "%s", set[i].name);
				*value = set[i].value;
				return (0);
			}
	api_error(req, 400, "bad_request", "field '%s': %s (expected one of "
	    "%s, from %s)", field, v == NULL ? "missing" : "not a choice of "
	    "the clinic", known, path);
	return (-1);
}

static int
api_form_conditions(struct evhttp_request *req, json_t *body,
    const struct rules *r, struct profile_form *f)
{
	json_t		*v = json_object_get(body, "conditions"), *c;
	const char	*name;
	size_t		 i;
	int		 j;

	if (v == NULL || !json_is_array(v)) {
		api_error(req, 400, "bad_request", "field 'conditions': %s",
		    v == NULL ? "missing (expected a list of condition names, "
		    "[] for none)" : "expected a list of condition names");
		return (-1);
	}
	if (json_array_size(v) > PROFILE_MAX_CONDITIONS) {
		api_error(req, 400, "bad_request", "field 'conditions': at "
		    "most %d", PROFILE_MAX_CONDITIONS);
		return (-1);
	}
	json_array_foreach(v, i, c) {
		name = json_is_string(c) ? json_string_value(c) : NULL;
		if (name == NULL || rules_find(r, name) == NULL) {
			api_error(req, 400, "bad_request", "field 'conditions': "
			    "item %zu is not a condition of the clinic's rules "
			    "(%s; see GET /api/v1/intake)", i, r->path);
			return (-1);
		}
		for (j = 0; j < f->nconditions; j++)
			if (strcmp(f->conditions[j], name) == 0)
				break;
		if (j == f->nconditions)
			snprintf(f->conditions[f->nconditions++], NAME_LEN,
			    "%s", name);
	}
	return (0);
}

/* "zones": {"cap": [zone, ...], "avoid": [zone, ...]}, from the body map. */
static int
api_form_zones(struct evhttp_request *req, json_t *body,
    const struct table *t, const struct intake *in, struct profile_form *f)
{
	static const char *const known[] = { "cap", "avoid", NULL };
	json_t		*z = json_object_get(body, "zones"), *list, *v;
	const char	*k, *name;
	double		 cap;
	size_t		 i;
	int		 pass, zi, j;

	if (z == NULL)
		return (0);
	if (!json_is_object(z) || (k = api_unknown_field(z, known)) != NULL) {
		api_error(req, 400, "bad_request", "field 'zones': expected "
		    "{\"cap\": [zone, ...], \"avoid\": [zone, ...]}");
		return (-1);
	}
	/* avoid first: a zone in both lists is avoided. */
	for (pass = 0; pass < 2; pass++) {
		list = json_object_get(z, known[1 - pass]);
		if (list == NULL)
			continue;
		if (!json_is_array(list)) {
			api_error(req, 400, "bad_request", "field 'zones.%s': "
			    "expected a list of zone names", known[1 - pass]);
			return (-1);
		}
		json_array_foreach(list, i, v) {
			name = json_is_string(v) ? json_string_value(v) : "";
			if ((zi = api_zone_index(t, name)) == -1) {
				api_error(req, 400, "bad_request", "field "
				    "'zones.%s': item %zu is not a zone of the "
				    "table (see GET /api/v1/status)",
				    known[1 - pass], i);
				return (-1);
			}
			for (j = 0; j < f->ncaps; j++)
				if (strcmp(f->caps[j].glob, name) == 0)
					break;
			if (j < f->ncaps)
				continue;
			if (f->ncaps == PROFILE_MAX_CAPS) {
				api_error(req, 400, "bad_request", "field "
				    "'zones': at most %d zones",
				    PROFILE_MAX_CAPS);
				return (-1);
			}
			cap = pass == 0 ? 0 : in->sensitive_cap_kpa;
			if (cap > t->zones[zi].limit_kpa)
				cap = t->zones[zi].limit_kpa;
			snprintf(f->caps[f->ncaps].glob, NAME_LEN, "%s", name);
			f->caps[f->ncaps++].cap_kpa = cap;
		}
	}
	return (0);
}

/* The body of a POST or PUT (or a preview) into f; -1 after replying. */
static int
api_form(struct api *a, struct evhttp_request *req, json_t *body,
    struct profile_form *f)
{
	static const char *const known[] = { "name", "conditions",
	    "pressure", "ramp", "zones", "note", "intensity",
	    "max_session_min", NULL };
	const struct config	*cfg = a->c->cfg;
	const struct intake	*in = &cfg->intake;
	json_t			*v;
	const char		*k;

	memset(f, 0, sizeof(*f));
	if (!in->loaded) {
		api_error(req, 503, "intake_not_configured", "no intake file "
		    "(%s): the clinic's pressure and ramp choices are needed",
		    in->path);
		return (-1);
	}
	if ((k = api_unknown_field(body, known)) != NULL) {
		api_error(req, 400, "bad_request", "field '%s': unknown field "
		    "(expected name, conditions, pressure, ramp, zones, note, "
		    "intensity or max_session_min)", k);
		return (-1);
	}
	if (api_form_text(req, body, "name", 1, f->name,
	    sizeof(f->name) - 1) == -1 ||
	    api_form_conditions(req, body, &cfg->rules, f) == -1 ||
	    api_form_choice(req, body, "pressure", in->pressure, in->npressure,
	    in->path, f->pressure, &f->cap_kpa) == -1 ||
	    api_form_choice(req, body, "ramp", in->ramp, in->nramp, in->path,
	    f->ramp, &f->ramp_kpa_s) == -1 ||
	    api_form_zones(req, body, cfg->table, in, f) == -1 ||
	    api_form_text(req, body, "note", 0, f->note,
	    (size_t)in->note_max) == -1)
		return (-1);
	f->intensity_pct = in->intensity_pct;
	f->max_session_min = in->max_session_min;
	if ((v = json_object_get(body, "intensity")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 10 ||
		    json_integer_value(v) > 100) {
			api_error(req, 400, "bad_request", "field 'intensity': "
			    "expected an integer from 10 to 100");
			return (-1);
		}
		f->intensity_pct = (int)json_integer_value(v);
	}
	if ((v = json_object_get(body, "max_session_min")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) < 1 ||
		    json_number_value(v) > 180) {
			api_error(req, 400, "bad_request", "field "
			    "'max_session_min': expected a number from 1 to "
			    "180");
			return (-1);
		}
		f->max_session_min = json_number_value(v);
	}
	return (0);
}

/* --- replies ------------------------------------------------------------ */

/* The INI text of a profile file, or JSON null if it cannot be read. */
static json_t *
api_profile_ini(const char *path)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	json_t		*s;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return (json_null());
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > API_PROFILE_FILE_MAX ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return (json_null());
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(buf);
		return (json_null());
	}
	s = json_stringn_nocheck(buf, (size_t)n);
	free(buf);
	return (s != NULL ? s : json_null());
}

/* Everything about one profile, for a token allowed to see health data. */
static json_t *
api_profile_doc(struct api *a, const struct profile *p, const char *ini)
{
	json_t	*o = status_profile_json(a->c, p);

	json_object_set_new(o, "revision", json_integer(p->revision));
	json_object_set_new(o, "writable", json_boolean(p->writable));
	json_object_set_new(o, "pressure", p->pressure[0] != '\0' ?
	    json_string(p->pressure) : json_null());
	json_object_set_new(o, "ramp", p->ramp[0] != '\0' ?
	    json_string(p->ramp) : json_null());
	json_object_set_new(o, "note", json_string(p->note));
	json_object_set_new(o, "ini", ini != NULL ? json_string(ini) :
	    api_profile_ini(p->path));
	return (o);
}

static void
api_etag(struct evhttp_request *req, int revision)
{
	char	 tag[32];

	snprintf(tag, sizeof(tag), "\"%d\"", revision);
	evhttp_add_header(evhttp_request_get_output_headers(req), "ETag", tag);
}

/* 409 with the current revision, for the panel to reload and retry. */
void
api_conflict(struct evhttp_request *req, const char *id, int revision,
    const char *why)
{
	json_t	*doc = json_object();

	json_object_set_new(doc, "error", json_string("conflict"));
	json_object_set_new(doc, "message", json_string(why));
	json_object_set_new(doc, "id", json_string(id));
	json_object_set_new(doc, "revision", json_integer(revision));
	api_etag(req, revision);
	api_reply_json(req, 409, doc);
}

/* A failed write, as the client sees it: the disk, not the answers. */
static void
api_store_error(struct api_preq *pr, const struct profile_writer_job *job)
{
	log_warnx("profiles: %s of %s by %s failed: %s: %s", job->op ==
	    PROFILE_WRITER_DELETE ? "erasure" : "save", job->id, pr->actor,
	    job->what, strerror(job->err));
	api_error(pr->req, job->err == ENOSPC || job->err == EDQUOT ? 507 :
	    500, "storage_error", "profile %s: %s: %s; nothing was changed",
	    job->id, job->what, strerror(job->err));
}

/* --- saving ------------------------------------------------------------- */

void
api_saved(struct profile_writer_job *job, void *arg)
{
	struct api_preq		*pr = arg;
	struct api		*a = pr->a;
	const struct profile	*p;
	json_t			*doc;

	if (pr->code == 201)
		api_plist_creating(a, -1);
	if (job->cancelled) {
		free(pr);
		return;
	}
	if (job->invalid) {
		api_error(pr->req, 422, "invalid_profile", "%s",
		    job->errors != NULL ? job->errors : "the profile would "
		    "not load");
	} else if (job->mismatch != NULL)
		api_error(pr->req, 400, "bad_request", "field '%s': would not "
		    "read back the same from the profile file (' ;' starts a "
		    "comment there)", job->mismatch);
	else if (!job->ok)
		api_store_error(pr, job);
	else if (job->op == PROFILE_WRITER_PREVIEW && pr->spa) {
		api_spa_put(pr);	/* checked: now the store */
		return;
	} else if (job->op == PROFILE_WRITER_PREVIEW) {
		doc = api_profile_doc(a, &job->prof, job->text);
		json_object_set_new(doc, "id", json_null());
		api_reply_json(pr->req, 200, doc);
	} else if ((p = api_plist_put(a, &job->prof)) == NULL)
		api_error(pr->req, 500, "internal", "out of memory");
	else {
		log_info("profiles: %s %s (revision %d) by %s", p->id,
		    pr->code == 201 ? "created" : "saved", p->revision,
		    pr->actor);
		api_etag(pr->req, p->revision);
		api_reply_json(pr->req, pr->code, api_profile_doc(a, p,
		    job->text));
	}
	free(pr);
}

struct api_preq *
api_preq_new(struct api *a, struct evhttp_request *req, int code)
{
	struct api_preq	*pr;

	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		fatal("api_preq_new");
	pr->a = a;
	pr->req = req;
	pr->code = code;
	snprintf(pr->actor, sizeof(pr->actor), "%s", a->actor);
	return (pr);
}

/* A job of the writer for form as profile id: rendered, with what must
 * read back as it was given; NULL when out of memory. */
struct profile_writer_job *
api_form_job(struct api *a, const struct profile_form *form, const char *id,
    enum profile_writer_op op)
{
	const struct config		*cfg = a->c->cfg;
	struct profile_writer_job	*job;
	char				*text;

	if ((text = profile_writer_render(form, id)) == NULL ||
	    (job = profile_writer_job(op, id, text, cfg->table,
	    &cfg->rules)) == NULL) {
		free(text);
		return (NULL);
	}
	explicit_bzero(text, strlen(text));
	free(text);
	snprintf(job->expect_name, sizeof(job->expect_name), "%s", form->name);
	snprintf(job->expect_note, sizeof(job->expect_note), "%s", form->note);
	return (job);
}

/* Renders pr->form for id and queues it; replies itself on failure.
 * With the spa's store, a save is checked first (a preview), then saved
 * in the store (api-spa.c), then here. */
void
api_store(struct api *a, struct api_preq *pr, enum profile_writer_op op,
    const char *id)
{
	struct profile_writer_job	*job;

	if (id != pr->id)
		snprintf(pr->id, sizeof(pr->id), "%s", id);
	if (op == PROFILE_WRITER_SAVE && a->store != NULL && !pr->stored) {
		if (api_spa_offline(a, pr->req)) {
			free(pr);
			return;
		}
		op = PROFILE_WRITER_PREVIEW;
		pr->spa = 1;
	}
	if ((job = api_form_job(a, &pr->form, id, op)) == NULL) {
		api_error(pr->req, 500, "internal", "out of memory");
		free(pr);
		return;
	}
	if (pr->code == 201)
		api_plist_creating(a, 1);	/* counted against the cap */
	profile_writer_submit(a->pwriter, job, api_saved, pr);
}

/* client_ and 8 hex digits: an id that says nothing about the client. */
static int
api_new_id(struct api *a, char *id, size_t len)
{
	unsigned char	 b[4];
	int		 tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
			return (-1);
		snprintf(id, len, "client_%02x%02x%02x%02x", b[0], b[1], b[2],
		    b[3]);
		if (profiles_find(&a->c->cfg->profiles, id) == NULL &&
		    !profile_writer_busy(a->pwriter, id))
			return (0);
	}
	return (-1);
}

void
api_profile_create(struct api *a, struct evhttp_request *req, json_t *body)
{
	struct api_preq	*pr;
	char		 id[NAME_LEN];

	if (api_plist_full(a, req))
		return;
	pr = api_preq_new(a, req, 201);
	if (api_form(a, req, body, &pr->form) == -1) {
		free(pr);
		return;
	}
	if (api_new_id(a, id, sizeof(id)) == -1) {
		free(pr);
		api_error(req, 500, "internal", "no free profile id");
		return;
	}
	pr->form.revision = 1;
	api_store(a, pr, PROFILE_WRITER_SAVE, id);
}

void
api_intake_preview(struct api *a, struct evhttp_request *req, json_t *body)
{
	struct api_preq	*pr = api_preq_new(a, req, 200);

	if (api_form(a, req, body, &pr->form) == -1) {
		free(pr);
		return;
	}
	pr->form.revision = 1;
	api_store(a, pr, PROFILE_WRITER_PREVIEW, "preview");
}

/* --- one profile -------------------------------------------------------- */

/*
 * The profile a /api/v1/profiles/ID[/sessions] path names, or NULL after
 * replying. *sub is set to the part after the id ("" or "/sessions").
 */
static const struct profile *
api_profile_of(struct api *a, struct evhttp_request *req, const char **sub,
    char *id, size_t idlen)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = evhttp_uri_get_path(uri), *rest, *sl;
	const struct profile	*p;
	size_t			 n;

	rest = path + strlen(API_PROFILES_PREFIX);
	sl = strchr(rest, '/');
	n = sl != NULL ? (size_t)(sl - rest) : strlen(rest);
	*sub = sl != NULL ? sl : "";
	if (n == 0 || n >= idlen) {
		api_error(req, 400, "bad_request", "profile id: expected "
		    "[a-z0-9_]+, at most %d characters", NAME_LEN - 1);
		return (NULL);
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!inifile_name_ok(id, idlen)) {
		api_error(req, 400, "bad_request", "profile id: expected "
		    "[a-z0-9_]+, at most %d characters", NAME_LEN - 1);
		return (NULL);
	}
	if (**sub != '\0' && strcmp(*sub, "/sessions") != 0) {
		api_not_found(req);
		return (NULL);
	}
	if ((p = profiles_find(&a->c->cfg->profiles, id)) == NULL) {
		api_error(req, 404, "not_found", "no profile %s", id);
		return (NULL);
	}
	return (p);
}

static int
api_may_see_health(struct api *a, struct evhttp_request *req)
{
	if (a->role != API_ROLE_VIEWER)
		return (1);
	log_info("api: %s is a viewer: profile details refused", a->actor);
	api_error(req, 403, "forbidden", "the token %s is a viewer: it sees "
	    "no client's name, condition or note", a->actor);
	return (0);
}

/* A session of the client, for planning the next visit. */
static json_t *
api_history_entry(json_t *rec)
{
	static const char *const keep[] = { "id", "start", "end", "program",
	    "end_reason", "stop_message", "active_s", "intensity_pct",
	    "intensity_changes", "profile_revision", "started_by",
	    "stopped_by", NULL };
	json_t		*o = json_object(), *zones = json_array(), *z, *v;
	json_t		*lim = json_object_get(rec, "limits");
	json_t		*peak = json_object_get(rec, "peak_kpa");
	const char	*zone;
	int		 i;

	for (i = 0; keep[i] != NULL; i++)
		if ((v = json_object_get(rec, keep[i])) != NULL)
			json_object_set(o, keep[i], v);
	json_object_foreach(lim, zone, v) {
		z = json_object();
		json_object_set_new(z, "zone", json_string(zone));
		json_object_set(z, "limit_kpa", v);
		json_object_set(z, "peak_kpa", json_is_object(peak) &&
		    json_object_get(peak, zone) != NULL ?
		    json_object_get(peak, zone) : json_null());
		json_array_append_new(zones, z);
	}
	json_object_set_new(o, "zones", zones);
	return (o);
}

static void
api_history_cb(json_t *query, void *arg)
{
	struct api_preq	*pr = arg;
	json_t		*out = json_array(), *rec, *doc;
	const char	*prof, *phase;
	size_t		 i;

	json_array_foreach(json_object_get(query, "sessions"), i, rec) {
		prof = json_string_value(json_object_get(rec, "profile"));
		phase = json_string_value(json_object_get(rec, "phase"));
		/* Sessions only: a refused start pressed nobody. */
		if (prof != NULL && strcmp(prof, pr->id) == 0 &&
		    (phase == NULL || strcmp(phase, "refused") != 0))
			json_array_append_new(out, api_history_entry(rec));
	}
	json_decref(query);
	doc = json_object();
	json_object_set_new(doc, "id", json_string(pr->id));
	json_object_set_new(doc, "sessions", out);
	api_reply_json(pr->req, 200, doc);
	free(pr);
}

void
api_profile_get(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct profile	*p;
	struct api_preq		*pr;
	struct record_range	 rg;
	const char		*sub;
	char			 id[NAME_LEN];

	if ((p = api_profile_of(a, req, &sub, id, sizeof(id))) == NULL ||
	    !api_may_see_health(a, req))
		return;
	if (*sub == '\0') {
		api_etag(req, p->revision);
		api_reply_json(req, 200, api_profile_doc(a, p, NULL));
		return;
	}
	if (a->rec == NULL) {
		api_error(req, 503, "no_records", "session records are off");
		return;
	}
	pr = api_preq_new(a, req, 200);
	snprintf(pr->id, sizeof(pr->id), "%s", id);
	memset(&rg, 0, sizeof(rg));
	rg.limit = API_HISTORY_SCAN;
	snprintf(rg.profile, sizeof(rg.profile), "%s", id);
	record_query(a->rec, &rg, api_history_cb, pr);
}

/* If-Match: "N" or N, the revision the editor started from. */
static int
api_if_match(struct evhttp_request *req, int *rev)
{
	const char	*h = evhttp_find_header(
			    evhttp_request_get_input_headers(req), "If-Match");
	char		 buf[32];
	size_t		 n;
	long		 l;

	if (h == NULL)
		return (-1);
	n = strlen(h);
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"' && n - 2 < sizeof(buf)) {
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
	} else
		snprintf(buf, sizeof(buf), "%s", h);
	if (parse_int(buf, 0, 1000000000, &l) == -1)
		return (-1);
	*rev = (int)l;
	return (0);
}

/* The profile a PUT or DELETE names, if the API may write it. */
static const struct profile *
api_writable(struct api *a, struct evhttp_request *req, char *id,
    size_t idlen)
{
	const struct profile	*p;
	const char		*sub;

	if ((p = api_profile_of(a, req, &sub, id, idlen)) == NULL)
		return (NULL);
	if (*sub != '\0') {
		api_not_found(req);
		return (NULL);
	}
	if (p->writable)
		return (p);
	api_error(req, 403, "read_only", "profile %s is %s: read-only to the "
	    "API (edit the file and reload)", p->id, p->path);
	return (NULL);
}

void
api_profile_update(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct profile	*p;
	struct api_preq		*pr;
	char			 id[NAME_LEN];
	int			 rev;

	if ((p = api_writable(a, req, id, sizeof(id))) == NULL)
		return;
	if (api_if_match(req, &rev) == -1) {
		api_error(req, 428, "precondition_required", "If-Match: "
		    "missing or not a revision (expected the revision the "
		    "edit started from, the ETag of GET %s%s)",
		    API_PROFILES_PREFIX, id);
		return;
	}
	if (rev != p->revision || profile_writer_busy(a->pwriter, id)) {
		log_info("profiles: save of %s by %s refused: revision %d is "
		    "not the current %d", id, a->actor, rev, p->revision);
		api_conflict(req, id, p->revision, "the profile was changed "
		    "since this edit started: reload it and apply the changes "
		    "again");
		return;
	}
	pr = api_preq_new(a, req, 200);
	if (api_form(a, req, body, &pr->form) == -1) {
		free(pr);
		return;
	}
	pr->form.revision = p->revision + 1;
	api_store(a, pr, PROFILE_WRITER_SAVE, id);
}

/* --- erasure ------------------------------------------------------------ */

static void
api_erased_records(int ok, void *arg)
{
	struct api_preq	*pr = arg;
	json_t		*doc;

	if (!ok) {
		log_warnx("profiles: %s erased, but its session records could "
		    "not all be rewritten", pr->old.id);
		api_error(pr->req, 500, "storage_error", "profile %s: the file "
		    "is removed, but the session records could not all be "
		    "rewritten; try again", pr->old.id);
	} else {
		doc = json_object();
		json_object_set_new(doc, "id", json_string(pr->old.id));
		json_object_set_new(doc, "erased", json_true());
		api_reply_json(pr->req, 200, doc);
	}
	explicit_bzero(pr, sizeof(*pr));
	free(pr);
}

void
api_deleted(struct profile_writer_job *job, void *arg)
{
	struct api_preq	*pr = arg;

	if (job->cancelled) {
		free(pr);
		return;
	}
	if (!job->ok) {
		/* Nothing removed: the client is still there. */
		api_plist_put(pr->a, &pr->old);
		api_store_error(pr, job);
		free(pr);
		return;
	}
	/* Again: a reload may have read the file before it went. */
	api_plist_drop(pr->a, pr->old.id);
	log_info("profiles: %s erased by %s", pr->old.id, pr->actor);
	if (pr->a->rec == NULL) {
		api_erased_records(1, pr);
		return;
	}
	record_erase(pr->a->rec, pr->old.id, api_erased_records, pr);
}

/* The table's part of an erasure: the file, then the records. */
void
api_erase_local(struct api_preq *pr)
{
	struct api			*a = pr->a;
	struct profile_writer_job	*job;

	if ((job = profile_writer_job(PROFILE_WRITER_DELETE, pr->old.id, NULL,
	    a->c->cfg->table, &a->c->cfg->rules)) == NULL) {
		api_plist_put(a, &pr->old);
		api_error(pr->req, 500, "internal", "out of memory");
		free(pr);
		return;
	}
	profile_writer_submit(a->pwriter, job, api_deleted, pr);
}

void
api_profile_delete(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct session	*s = &a->c->session;
	const struct profile	*p;
	struct api_preq		*pr;
	char			 id[NAME_LEN];

	if ((p = api_writable(a, req, id, sizeof(id))) == NULL)
		return;
	if (s->state != SESSION_IDLE && strcmp(s->prof.id, id) == 0) {
		api_error(req, 409, "in_use", "profile %s: a session runs with "
		    "it; erase the client after the session", id);
		return;
	}
	if (profile_writer_busy(a->pwriter, id)) {
		api_conflict(req, id, p->revision, "a save of this profile is "
		    "in progress");
		return;
	}
	if (api_spa_offline(a, req))
		return;
	pr = api_preq_new(a, req, 200);
	pr->old = *p;
	/* No new session for a client being erased. */
	api_plist_drop(a, id);
	if (a->store != NULL)
		api_spa_erase(pr);	/* the spa's first, then here */
	else
		api_erase_local(pr);
}

/* --- the intake form ---------------------------------------------------- */

static json_t *
api_choices(const struct intake_choice *set, int n, const char *unit)
{
	json_t	*arr = json_array(), *o;
	int	 i;

	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "name", json_string(set[i].name));
		json_object_set_new(o, unit, json_real(set[i].value));
		json_array_append_new(arr, o);
	}
	return (arr);
}

void
api_intake(struct api *a, struct evhttp_request *req, json_t *body)
{
	const struct config	*cfg = a->c->cfg;
	const struct intake	*in = &cfg->intake;
	json_t			*doc, *conds;
	int			 i;

	if (!in->loaded) {
		api_error(req, 503, "intake_not_configured", "no intake file "
		    "(%s)", in->path);
		return;
	}
	doc = json_object();
	conds = json_array();
	for (i = 0; i < cfg->rules.n; i++)
		json_array_append_new(conds, status_condition(&cfg->rules,
		    cfg->rules.rules[i].name));
	json_object_set_new(doc, "conditions", conds);
	json_object_set_new(doc, "pressure", api_choices(in->pressure,
	    in->npressure, "cap_kpa"));
	json_object_set_new(doc, "ramp", api_choices(in->ramp, in->nramp,
	    "ramp_kpa_s"));
	json_object_set_new(doc, "sensitive_cap_kpa",
	    json_real(in->sensitive_cap_kpa));
	json_object_set_new(doc, "max_session_min",
	    json_real(in->max_session_min));
	json_object_set_new(doc, "intensity", json_integer(in->intensity_pct));
	json_object_set_new(doc, "note_max", json_integer(in->note_max));
	api_reply_json(req, 200, doc);
}

/* --- start and stop ----------------------------------------------------- */

int
api_profiles_start(struct api *a)
{
	char	 dir[PATH_MAX];

	if (config_profile_store_dir(a->c->cfg->table, dir, sizeof(dir)) ==
	    -1)
		return (-1);
	a->pwriter = profile_writer_open(a->base, dir);
	api_plist_start(a);
	return (0);
}

void
api_profiles_stop(struct api *a)
{
	profile_writer_close(a->pwriter);
	a->pwriter = NULL;
	api_plist_stop(a);
}
