/*
 * status.c: the session and the table as every reader sees them. The JSON
 * documents of the control API (see docs/api.md): the live status, which
 * is also the event stream's snapshot, the event stream's events, and the
 * lists of programs, profiles (with the refusals of each program, resolved
 * as session_start() would) and routines; the stop fields of session
 * records; the line of `systemctl status` that notify.c sends.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "clock.h"
#include "tick.h"
#include "safety.h"
#include "status.h"
#include "store-link.h"
#include "strings.h"

static json_t	*status_kpa(double);
static json_t	*status_str_or_null(const char *);
static const char *status_limit_reason(const struct session *, int);

/* Pressures and times to a hundredth: what a person or a test can use. */
static json_t *
status_kpa(double v)
{
	if (!isfinite(v))
		v = 0;
	return (json_real(round(v * 100) / 100));
}

/* An actor's name, null for the table itself. */
json_t *
status_actor(const char *who)
{
	return (who[0] != '\0' ? json_string(who) : json_null());
}

static json_t *
status_str_or_null(const char *s)
{
	return (s != NULL && *s != '\0' ? json_string(s) : json_null());
}

static const char *const status_proof_states[] = {
	"none", "running", "passed", "failed"
};

/* The last proof of a controller's safe state, step by step. */
static json_t *
status_proof(const struct ctl_proof_log *pl)
{
	json_t	*o = json_object(), *steps = json_array(), *step;
	int	 i;

	for (i = 0; i < pl->n; i++) {
		step = json_object();
		json_object_set_new(step, "ms", json_integer(pl->lines[i].ms));
		json_object_set_new(step, "text",
		    json_string(pl->lines[i].text));
		json_array_append_new(steps, step);
	}
	json_object_set_new(o, "state",
	    json_string(status_proof_states[pl->state]));
	json_object_set_new(o, "ms", pl->state == CTL_PROOF_PASSED ||
	    pl->state == CTL_PROOF_FAILED ? json_integer(pl->ms) :
	    json_null());
	json_object_set_new(o, "why", status_str_or_null(pl->why));
	json_object_set_new(o, "passed", json_integer(pl->passed));
	json_object_set_new(o, "failed", json_integer(pl->failed));
	json_object_set_new(o, "steps", steps);
	return (o);
}

/* One controller: its status flags and fault named by its backend. */
static json_t *
status_controller(const struct ctl_conf *cc, const struct ctl_desc *d,
    const struct bus_reading *rd)
{
	const struct ctl_reading	*r = &rd->ctl;
	json_t				*o = json_object(), *st = json_object();
	int				 i;

	for (i = 0; i < d->nflags; i++)
		json_object_set_new(st, d->flag_name(i),
		    json_boolean(r->flags & (1u << i)));

	json_object_set_new(o, "name", json_string(cc->name));
	json_object_set_new(o, "kind", json_string(d->kind));
	json_object_set_new(o, "connected", json_boolean(rd->connected));
	json_object_set_new(o, "proof", status_proof(&rd->proof));
	json_object_set_new(o, "status", st);
	json_object_set_new(o, "status_raw", json_integer(r->flags));
	json_object_set_new(o, "fault_code", json_integer(r->fault_code));
	json_object_set_new(o, "fault_name",
	    json_string(d->fault_name(r->fault_code)));
	json_object_set_new(o, "rating_kpa", r->rating_kpa > 0 ?
	    status_kpa(r->rating_kpa) : json_null());
	json_object_set_new(o, "channels", json_integer(r->channels));
	json_object_set_new(o, "map_version", r->version > 0 ?
	    json_integer(r->version) : json_null());
	json_object_set_new(o, "owner", r->claimed ?
	    json_integer(r->owner) : json_null());
	json_object_set_new(o, "error", status_str_or_null(rd->error));
	return (o);
}

/* The step of a running or paused session, null otherwise. */
static json_t *
status_step(const struct session *s)
{
	const struct program_step	*st;
	json_t				*step;

	if ((s->state != SESSION_RUNNING && s->state != SESSION_PAUSED) ||
	    s->step >= s->prog.nsteps)
		return (json_null());
	st = &s->prog.steps[s->step];
	step = json_object();
	json_object_set_new(step, "index", json_integer(s->step));
	json_object_set_new(step, "count", json_integer(s->prog.nsteps));
	json_object_set_new(step, "name", json_string(st->name));
	json_object_set_new(step, "routine", json_string(st->routine->name));
	json_object_set_new(step, "elapsed_s",
	    status_kpa(s->active_s - s->step_start_s));
	json_object_set_new(step, "duration_s", status_kpa(st->duration_s));
	return (step);
}

/* Zone i: what it is set to, measures and may get, and where it is. */
static json_t *
status_zone(const struct session *s, const struct table *t, int i,
    const struct bus_reading *r)
{
	const struct zone_conf	*zc = &t->zones[i];
	json_t			*z = json_object();
	int			 active = session_active(s);

	json_object_set_new(z, "name", json_string(zc->name));
	json_object_set_new(z, "setpoint_kpa",
	    status_kpa(active ? s->commanded[i] : 0));
	json_object_set_new(z, "pressure_kpa", status_kpa(r->connected ?
	    r->ctl.pressure_kpa[zc->channel] : 0));
	if (active) {
		json_object_set_new(z, "limit_kpa",
		    status_kpa(s->lim.limit_kpa[i]));
		json_object_set_new(z, "limit_reason",
		    json_string(status_limit_reason(s, i)));
		json_object_set_new(z, "excluded",
		    json_boolean(s->lim.excluded[i]));
	} else {
		json_object_set_new(z, "limit_kpa", status_kpa(zc->limit_kpa));
		json_object_set_new(z, "limit_reason",
		    json_string("zone limit of the table"));
		json_object_set_new(z, "excluded", json_false());
	}
	json_object_set_new(z, "endangerment", json_boolean(zc->endangerment));
	json_object_set_new(z, "along_cm", status_kpa(zc->along_cm));
	json_object_set_new(z, "across_cm", status_kpa(zc->across_cm));
	json_object_set_new(z, "width_cm", status_kpa(zc->width_cm));
	json_object_set_new(z, "length_cm", status_kpa(zc->length_cm));
	json_object_set_new(z, "controller",
	    json_string(t->ctls[zc->ctl].name));
	json_object_set_new(z, "channel", json_integer(zc->channel));
	return (z);
}

json_t *
status_json(struct tick *c, json_t *records)
{
	const struct session	*s = &c->session;
	const struct table	*t = c->cfg->table;
	const struct profile	*newer;
	struct bus_reading	 rd[TABLE_MAX_CONTROLLERS];
	json_t			*o, *zones, *ctls, *step, *last;
	int			 i, active = session_active(s);

	for (i = 0; i < t->nctls; i++)
		bus_get(c->bus, i, &rd[i]);

	o = json_object();
	json_object_set_new(o, "table", json_string(t->name));
	/* The one version: debian/changelog's (massaged -V, /metrics). */
	json_object_set_new(o, "version", json_string(MASSAGED_VERSION));
	json_object_set_new(o, "state",
	    json_string(session_state_name(s->state)));
	json_object_set_new(o, "session_id", s->id > 0 ?
	    json_integer((json_int_t)s->id) : json_null());
	json_object_set_new(o, "program", active ?
	    json_string(s->prog.id) : json_null());
	json_object_set_new(o, "program_name", active ?
	    json_string(s->prog.name) : json_null());
	json_object_set_new(o, "profile", active ?
	    json_string(s->prof.id) : json_null());
	json_object_set_new(o, "profile_name", active ?
	    json_string(s->prof.name) : json_null());
	json_object_set_new(o, "profile_revision", active ?
	    json_integer(s->prof.revision) : json_null());
	/* Changed since the session started (at this table or another of
	 * the spa): the session keeps the limits it started with. */
	newer = active ? profiles_find(&c->cfg->profiles, s->prof.id) : NULL;
	json_object_set_new(o, "profile_newer_revision", newer != NULL &&
	    newer->revision > s->prof.revision ?
	    json_integer(newer->revision) : json_null());

	step = status_step(s);
	json_object_set_new(o, "routine", json_is_object(step) ?
	    json_incref(json_object_get(step, "routine")) : json_null());
	json_object_set_new(o, "step", step);
	json_object_set_new(o, "elapsed_s", status_kpa(session_elapsed(s)));
	json_object_set_new(o, "remaining_s",
	    status_kpa(session_remaining(s)));
	json_object_set_new(o, "intensity", active ?
	    json_integer(s->intensity_pct) : json_null());

	zones = json_array();
	for (i = 0; i < t->nzones; i++)
		json_array_append_new(zones, status_zone(s, t, i,
		    &rd[t->zones[i].ctl]));
	json_object_set_new(o, "zones", zones);

	ctls = json_array();
	for (i = 0; i < t->nctls; i++)
		json_array_append_new(ctls, status_controller(&t->ctls[i],
		    bus_backend(c->bus, i)->describe(), &rd[i]));
	json_object_set_new(o, "controllers", ctls);
	json_object_set_new(o, "ready", json_boolean(c->ready));
	json_object_set_new(o, "restart_pending",
	    json_boolean(c->restart_when_idle));
	json_object_set_new(o, "fault", s->fault_latched ?
	    json_string(s->fault_message) : json_null());
	json_object_set_new(o, "fault_reason", s->fault_latched &&
	    s->stop_reason != STOP_NONE ?
	    json_string(session_reason_name(s->stop_reason)) : json_null());
	/* Which run of the daemon: a panel that reconnects sees a restart. */
	json_object_set_new(o, "daemon_run", json_integer((json_int_t)
	    c->started_ns));
	json_object_set_new(o, "daemon_started", json_integer((json_int_t)
	    (clock_real_s() - (clock_mono_ns() - c->started_ns) / 1e9)));
	json_object_set_new(o, "started_by", s->id > 0 ?
	    status_actor(s->started_by) : json_null());
	json_object_set_new(o, "reset_by", status_actor(s->reset_by));
	last = json_null();
	if (s->stop_reason != STOP_NONE) {
		last = json_object();
		status_stop_set(last, s, "reason", "category", "message");
		json_object_set_new(last, "by", status_actor(s->stopped_by));
	}
	json_object_set_new(o, "last_stop", last);
	json_object_set_new(o, "records", records != NULL ? records :
	    json_null());
	json_object_set_new(o, "store", store_status_json());
	return (o);
}

/* A step parameter as the program file says it: number, bool or name. */
static json_t *
status_param(const struct massaged_param *p, double v)
{
	const char	*s, *e;
	int		 i, want;

	switch (p->type) {
	case MASSAGED_PARAM_INT:
		return (json_integer((json_int_t)llround(v)));
	case MASSAGED_PARAM_BOOL:
		return (json_boolean(v != 0));
	case MASSAGED_PARAM_CHOICE:
		want = (int)lround(v);
		for (i = 0, s = p->choices; s != NULL; i++, s = e + 1) {
			e = strchr(s, '|');
			if (i == want)
				return (e == NULL ? json_string(s) :
				    json_stringn(s, (size_t)(e - s)));
			if (e == NULL)
				break;
		}
		return (json_integer(want));
	default:
		return (json_real(v));
	}
}

json_t *
status_programs_json(struct tick *c)
{
	const struct table	*t = c->cfg->table;
	json_t			*arr = json_array(), *o, *steps, *st, *zs, *ps;
	int			 i, j, k;

	for (i = 0; i < c->cfg->programs.n; i++) {
		const struct program *p = &c->cfg->programs.programs[i];

		o = json_object();
		json_object_set_new(o, "id", json_string(p->id));
		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "description",
		    json_string(p->description));
		json_object_set_new(o, "duration_s", status_kpa(p->total_s));
		json_object_set_new(o, "available",
		    json_boolean(p->unavailable[0] == '\0'));
		json_object_set_new(o, "unavailable", p->unavailable[0] != '\0' ?
		    json_string(p->unavailable) : json_null());
		steps = json_array();
		for (j = 0; j < p->nsteps; j++) {
			const struct program_step *ps_ = &p->steps[j];
			const struct massaged_routine *r = ps_->routine;

			st = json_object();
			json_object_set_new(st, "name", json_string(ps_->name));
			json_object_set_new(st, "routine",
			    json_string(ps_->routine_name));
			json_object_set_new(st, "duration_s",
			    status_kpa(ps_->duration_s));
			zs = json_array();
			for (k = 0; k < ps_->nzones; k++)
				json_array_append_new(zs, json_string(
				    t->zones[ps_->zones[k]].name));
			json_object_set_new(st, "zones", zs);
			ps = json_object();
			for (k = 0; r != NULL && k < (int)r->n_params &&
			    k < ROUTINE_PARAMS_MAX; k++)
				json_object_set_new(ps, r->params[k].name,
				    status_param(&r->params[k],
				    ps_->params[k]));
			json_object_set_new(st, "params", ps);
			json_array_append_new(steps, st);
		}
		json_object_set_new(o, "steps", steps);
		json_array_append_new(arr, o);
	}
	return (arr);
}

static json_t *
status_names(const char (*names)[NAME_LEN], int n)
{
	json_t	*a = json_array();
	int	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return (a);
}

/*
 * Why zone z has its limit, for every reader of the status and the event
 * stream: a reason that names one of the client's conditions is health
 * data, and says only that a condition set it (the profile tells who may
 * know which).
 */
static const char *
status_limit_reason(const struct session *s, int z)
{
	int	 i;

	for (i = 0; i < s->prof.nconditions; i++)
		if (strstr(s->lim.why[z], s->prof.conditions[i]) != NULL)
			return (s->lim.excluded[z] ? "excluded for a condition "
			    "of the client" : "lowered for a condition of the "
			    "client");
	return (s->lim.why[z]);
}

json_t *
status_condition(const struct rules *rules, const char *name)
{
	const struct rule	*r = rules_find(rules, name);
	json_t			*o = json_object();

	json_object_set_new(o, "name", json_string(name));
	if (r == NULL) {
		json_object_set_new(o, "reason", json_null());
		return (o);
	}
	json_object_set_new(o, "reason", json_string(r->reason));
	json_object_set_new(o, "refuse", json_boolean(r->refuse));
	json_object_set_new(o, "forbid_routines",
	    status_names(r->forbid, r->nforbid));
	json_object_set_new(o, "exclude_zones",
	    status_names(r->exclude, r->nexclude));
	json_object_set_new(o, "scale", json_real(r->scale));
	return (o);
}

/* One profile: its limits, what every zone would get and why, and the
 * programs its conditions refuse (the pipeline of a session start). */
json_t *
status_profile_json(struct tick *c, const struct profile *p)
{
	const struct config	*cfg = c->cfg;
	const struct table	*t = cfg->table;
	struct session_input	 in;
	struct limits		*lim;
	double			 rating[TABLE_MAX_CONTROLLERS];
	char			 why[512];
	json_t			*o, *a, *z, *ref;
	int			 i, j;

	o = json_object();
	json_object_set_new(o, "id", json_string(p->id));
	json_object_set_new(o, "name", json_string(p->name));
	/* struct limits is large: one on the heap, not on the loop's stack. */
	if ((lim = calloc(1, sizeof(*lim))) == NULL)
		return (o);
	tick_input(c, &in);
	for (i = 0; i < TABLE_MAX_CONTROLLERS; i++)
		rating[i] = i < in.nctls ? in.ctl[i].rating_kpa : 0;

	json_object_set_new(o, "cap_kpa", status_kpa(p->cap_kpa));
	json_object_set_new(o, "ramp_kpa_s", status_kpa(p->ramp_kpa_s));
	json_object_set_new(o, "max_session_min",
	    status_kpa(p->max_session_min));
	json_object_set_new(o, "intensity", json_integer(p->intensity_pct));
	a = json_array();
	for (j = 0; j < p->ncaps; j++) {
		z = json_object();
		json_object_set_new(z, "zones", json_string(p->caps[j].glob));
		json_object_set_new(z, "cap_kpa",
		    status_kpa(p->caps[j].cap_kpa));
		json_array_append_new(a, z);
	}
	json_object_set_new(o, "zone_caps", a);
	a = json_array();
	for (j = 0; j < p->nconditions; j++)
		json_array_append_new(a, status_condition(&cfg->rules,
		    p->conditions[j]));
	json_object_set_new(o, "conditions", a);

	/* The limits every zone would get, and why. */
	a = json_array();
	if (safety_resolve(t, p, &cfg->rules, NULL, rating, lim, why,
	    sizeof(why)) == 0) {
		for (j = 0; j < t->nzones; j++) {
			z = json_object();
			json_object_set_new(z, "zone",
			    json_string(t->zones[j].name));
			json_object_set_new(z, "limit_kpa",
			    status_kpa(lim->limit_kpa[j]));
			json_object_set_new(z, "reason",
			    json_string(lim->why[j]));
			json_object_set_new(z, "excluded",
			    json_boolean(lim->excluded[j]));
			json_array_append_new(a, z);
		}
		json_object_set_new(o, "refused", json_null());
	} else
		json_object_set_new(o, "refused", json_string(why));
	json_object_set_new(o, "limits", a);

	ref = json_object();
	for (j = 0; j < cfg->programs.n; j++) {
		const struct program *pr = &cfg->programs.programs[j];

		if (safety_resolve(t, p, &cfg->rules, pr, rating, lim, why,
		    sizeof(why)) == -1)
			json_object_set_new(ref, pr->id, json_string(why));
	}
	json_object_set_new(o, "refusals", ref);
	free(lim);
	return (o);
}

json_t *
status_routines_json(struct tick *c)
{
	json_t	*arr = json_array(), *o, *ps, *p, *ch, *flags;
	int	 i;
	size_t	 k;

	for (i = 0; i < c->routines.n; i++) {
		const struct massaged_routine *r = c->routines.libs[i].desc;

		o = json_object();
		json_object_set_new(o, "name", json_string(r->name));
		json_object_set_new(o, "version", json_string(r->version));
		json_object_set_new(o, "description",
		    status_str_or_null(r->description));
		flags = json_array();
		if (r->flags & MASSAGED_ROUTINE_FOCUSED)
			json_array_append_new(flags, json_string("focused"));
		json_object_set_new(o, "flags", flags);
		ps = json_array();
		for (k = 0; k < r->n_params; k++) {
			const struct massaged_param *mp = &r->params[k];
			static const char *types[] = {
				"real", "int", "bool", "choice"
			};
			const char *s, *e;

			p = json_object();
			json_object_set_new(p, "name", json_string(mp->name));
			json_object_set_new(p, "type", json_string(
			    types[mp->type]));
			json_object_set_new(p, "unit",
			    json_string(mp->unit != NULL ? mp->unit : ""));
			json_object_set_new(p, "default",
			    status_param(mp, mp->def));
			json_object_set_new(p, "min", mp->type ==
			    MASSAGED_PARAM_INT ? json_integer((json_int_t)
			    mp->min) : json_real(mp->min));
			json_object_set_new(p, "max", mp->type ==
			    MASSAGED_PARAM_INT ? json_integer((json_int_t)
			    mp->max) : json_real(mp->max));
			ch = json_null();
			if (mp->type == MASSAGED_PARAM_CHOICE &&
			    mp->choices != NULL) {
				ch = json_array();
				for (s = mp->choices;; s = e + 1) {
					if ((e = strchr(s, '|')) == NULL) {
						json_array_append_new(ch,
						    json_string(s));
						break;
					}
					json_array_append_new(ch,
					    json_stringn(s, (size_t)(e - s)));
				}
			}
			json_object_set_new(p, "choices", ch);
			json_object_set_new(p, "help",
			    status_str_or_null(mp->help));
			json_array_append_new(ps, p);
		}
		json_object_set_new(o, "params", ps);
		json_array_append_new(arr, o);
	}
	return (arr);
}

/* The last stop of s as three fields of o, named as the reader wants. */
void
status_stop_set(json_t *o, const struct session *s, const char *reason,
    const char *category, const char *message)
{
	json_object_set_new(o, reason,
	    json_string(session_reason_name(s->stop_reason)));
	json_object_set_new(o, category, json_integer(s->stop_category));
	json_object_set_new(o, message, json_string(s->stop_message));
}

json_t *
status_event_json(struct tick *c, enum session_event ev)
{
	const struct session	*s = &c->session;
	json_t			*doc;

	doc = json_object();
	json_object_set_new(doc, "type", json_string(session_event_name(ev)));
	json_object_set_new(doc, "state",
	    json_string(session_state_name(s->state)));
	json_object_set_new(doc, "session_id", s->id > 0 ?
	    json_integer((json_int_t)s->id) : json_null());
	json_object_set_new(doc, "by", status_actor(s->by));
	if (session_active(s)) {
		json_object_set_new(doc, "program", json_string(s->prog.id));
		json_object_set_new(doc, "profile", json_string(s->prof.id));
	}
	if ((ev == SESSION_EV_STARTED || ev == SESSION_EV_STEP) &&
	    session_active(s) && s->step < s->prog.nsteps) {
		json_object_set_new(doc, "step", json_integer(s->step));
		json_object_set_new(doc, "step_name",
		    json_string(s->prog.steps[s->step].name));
		json_object_set_new(doc, "routine",
		    json_string(s->prog.steps[s->step].routine->name));
	}
	if ((ev == SESSION_EV_STOPPED || ev == SESSION_EV_STOPPING) &&
	    s->stop_reason != STOP_NONE)
		status_stop_set(doc, s, "reason", "category", "message");
	if (ev == SESSION_EV_FAULT) {
		json_object_set_new(doc, "message",
		    json_string(s->fault_message));
		json_object_set_new(doc, "reason",
		    json_string(session_reason_name(s->stop_reason)));
	}
	if (ev == SESSION_EV_RESET_REFUSED)
		json_object_set_new(doc, "message",
		    json_string(s->reset_refusal));
	return (doc);
}

void
status_text(struct tick *c, const char *suffix, char *buf, size_t len)
{
	const struct session	*s = &c->session;
	const struct table	*t = c->cfg->table;
	struct bus_reading	 rd;
	char			 left[32], down[128];
	int			 i, up = 0;
	struct str_list		 dl;

	str_list_init(&dl, down, sizeof(down));
	for (i = 0; i < t->nctls; i++) {
		bus_get(c->bus, i, &rd);
		if (rd.connected)
			up++;
		else
			str_list_add(&dl, 0, "%s", t->ctls[i].name);
	}
	if (c->stopping) {
		snprintf(buf, len, "stopping: venting every controller");
		return;
	}
	if (!c->ready) {
		snprintf(buf, len, "starting: connecting to %d controller%s%s",
		    t->nctls, t->nctls == 1 ? "" : "s", suffix);
		return;
	}
	switch (s->state) {
	case SESSION_FAULT:
		snprintf(buf, len, "FAULT: %.160s%s", s->fault_message, suffix);
		break;
	case SESSION_RUNNING:
	case SESSION_PAUSED:
		str_duration(session_remaining(s), left, sizeof(left));
		snprintf(buf, len, "%s %s for %s, step %d/%d, %s left, "
		    "%d/%d controllers connected%s",
		    session_state_name(s->state), s->prog.id, s->prof.id,
		    s->step + 1, s->prog.nsteps, left, up, t->nctls, suffix);
		break;
	case SESSION_STOPPING:
		snprintf(buf, len, "stopping %s for %s (category %d, %s): "
		    "ramping down%s", s->prog.id, s->prof.id,
		    s->stop_category, session_reason_name(s->stop_reason),
		    suffix);
		break;
	case SESSION_IDLE:
	default:
		if (up < t->nctls)
			snprintf(buf, len, "idle, %d/%d controllers connected "
			    "(down: %s)%s", up, t->nctls, down, suffix);
		else
			snprintf(buf, len, "idle, %d/%d controllers connected%s",
			    up, t->nctls, suffix);
		break;
	}
}
