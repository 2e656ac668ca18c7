/*
 * tick.c: the control tick and the glue between bus and session.
 *
 * Ticks are scheduled on an absolute monotonic timeline (next += period),
 * so lateness does not accumulate; a tick more than one period late counts
 * as missed and the timeline is re-anchored. Each tick hands every
 * controller the session's intent and the tick's number, which its
 * backend writes as its heartbeat: if the loop stalls, the heartbeat stops
 * and the controllers' watchdogs vent. A controller whose request was
 * replaced before it was sent sees the number skip, as the ticks did.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "profile-writer.h"
#include "routine-inst.h"
#include "tick.h"
#include "log.h"

#define SHUTDOWN_EXTRA_MS	200
#define TICK_SHUTDOWN_RELOAD_S	1	/* wait for a reload at exit */
#define IDLE_HZ			10	/* poll rate with no session */

const double tick_lateness_bounds_s[LATENESS_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	INFINITY
};

static void	tick_fire(evutil_socket_t, short, void *);
static void	tick_schedule(struct tick *);

static void
tick_emit(void *arg, enum session_event ev)
{
	struct tick	*c = arg;
	int		 i;

	/* A session started: tick at full rate from now, not from the next
	 * idle tick. */
	if (ev == SESSION_EV_STARTED && c->tick_ev != NULL &&
	    c->next_ns > clock_mono_ns() + c->period_ns) {
		c->next_ns = clock_mono_ns();
		tick_schedule(c);
	}

	for (i = 0; i < c->nobservers; i++)
		if (c->observers[i].event != NULL)
			c->observers[i].event(c->observers[i].arg, ev);
}

static void
tick_vent(void *arg)
{
	struct tick	*c = arg;

	bus_vent_all(c->bus);
}

void
tick_observe(struct tick *c, const struct tick_observer *o)
{
	if (c->nobservers < TICK_MAX_OBSERVERS)
		c->observers[c->nobservers++] = *o;
}

void
tick_unobserve(struct tick *c, void *arg)
{
	int	 i, j = 0;

	for (i = 0; i < c->nobservers; i++)
		if (c->observers[i].arg != arg)
			c->observers[j++] = c->observers[i];
	c->nobservers = j;
}

int
tick_load(struct tick *c, const char *path, char *const *overrides,
    int noverrides, struct inifile_errors *errs)
{
	struct inifile_errors	 refused = { .quiet = 1 };
	struct table		*t;
	const char		*line, *nl;
	int			 before = errs->count, i;

	memset(c, 0, sizeof(*c));
	c->config_path = path;
	c->overrides = overrides;
	c->noverrides = noverrides;
	/* Everything is checked even when the table has errors. */
	if ((t = config_load_table_any(path, overrides, noverrides,
	    errs)) == NULL)
		return (-1);
	/* A refused plugin file disables the programs that need it, not
	 * the daemon. */
	routines_load_dir(&c->routines, t->plugin_dir, &refused);
	for (line = refused.text; line != NULL && *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		/* The directory itself (not a file in it) is an error. */
		if (refused.count > c->routines.nrefused)
			inifile_errors_add(errs, "%.*s", (int)(nl - line), line);
		else
			log_warnx("%.*s", (int)(nl - line), line);
	}
	inifile_errors_free(&refused);
	c->cfg = config_load_rest(t, &c->routines, errs, before);
	routines_checked(&c->routines);
	for (i = 0; c->cfg != NULL && i < c->cfg->programs.n; i++)
		if (c->cfg->programs.programs[i].unavailable[0] != '\0')
			log_warnx("program %s is unavailable: %s",
			    c->cfg->programs.programs[i].id,
			    c->cfg->programs.programs[i].unavailable);
	return (errs->count == 0 && c->cfg != NULL ? 0 : -1);
}

void
tick_input(struct tick *c, struct session_input *in)
{
	const struct table	*t = c->cfg->table;
	struct bus_reading	 rd;
	int			 i, z;

	memset(in, 0, sizeof(*in));
	in->now_s = clock_mono_ns() / 1e9;
	in->nctls = t->nctls;
	for (i = 0; i < t->nctls; i++) {
		bus_get(c->bus, i, &rd);
		in->ctl[i].connected = rd.connected;
		if (!rd.connected)
			snprintf(in->ctl[i].why, sizeof(in->ctl[i].why), "%.*s",
			    (int)sizeof(in->ctl[i].why) - 1, rd.error);
		in->ctl[i].estop = rd.ctl.estop;
		in->ctl[i].client_stop = rd.ctl.client_stop;
		in->ctl[i].fault = rd.ctl.fault;
		in->ctl[i].fault_code = rd.ctl.fault_code;
		snprintf(in->ctl[i].fault_text, sizeof(in->ctl[i].fault_text),
		    "%s", rd.ctl.fault_text != NULL ? rd.ctl.fault_text : "");
		in->ctl[i].rating_kpa = rd.ctl.rating_kpa;
		for (z = 0; z < t->nzones; z++)
			if (t->zones[z].ctl == i && rd.connected)
				in->measured_kpa[z] =
				    rd.ctl.pressure_kpa[t->zones[z].channel];
	}
}

/*
 * A controller that went down since the session last looked is down for
 * this look, even if it is back already (a reset controller reconnects
 * quickly): every loss is a stop, with its reason.
 */
static void
tick_downs(struct tick *c, struct session_input *in)
{
	struct bus_reading	 rd;
	int			 i;

	for (i = 0; i < in->nctls; i++) {
		if (bus_downs(c->bus, i) == c->downs_seen[i])
			continue;
		bus_get(c->bus, i, &rd);
		c->downs_seen[i] = rd.downs;
		in->ctl[i].connected = 0;
		snprintf(in->ctl[i].why, sizeof(in->ctl[i].why), "%.*s",
		    (int)sizeof(in->ctl[i].why) - 1, rd.down_why);
	}
}

/* Free run: 1 once every link answered (or failed) since the last tick. */
static int
tick_replied(struct tick *c)
{
	struct bus_reading	 rd;
	int			 i;

	for (i = 0; i < c->cfg->table->nctls; i++) {
		bus_get(c->bus, i, &rd);
		if (rd.connected && rd.seq + rd.errors < c->await[i])
			return (0);
	}
	return (1);
}

/*
 * A controller's rating (MAX_PRESSURE) is known once it is connected: a
 * zone limit above it is a number in the file the hardware cannot do.
 * The rating applies (safety.c); this says so, once per rating seen.
 */
static void
tick_check_rating(struct tick *c, int ctl)
{
	const struct table	*t = c->cfg->table;
	struct bus_reading	 rd;
	int			 z;

	bus_get(c->bus, ctl, &rd);
	if (!rd.connected || !(rd.ctl.rating_kpa > 0) ||
	    rd.ctl.rating_kpa == c->rating_seen[ctl])
		return;
	c->rating_seen[ctl] = rd.ctl.rating_kpa;
	for (z = 0; z < t->nzones; z++)
		if (t->zones[z].ctl == ctl &&
		    t->zones[z].limit_kpa > rd.ctl.rating_kpa)
			log_warnx("%s:%d: [zone %s] limit_kpa: %g kPa is above "
			    "the rating of controller %s (%g kPa, read from "
			    "it); the rating applies (expected at most %g)",
			    t->path, t->zones[z].line, t->zones[z].name,
			    t->zones[z].limit_kpa, t->ctls[ctl].name,
			    rd.ctl.rating_kpa, rd.ctl.rating_kpa);
}

/* A link has news: check it at once, a stop must not wait for a tick. */
static void
tick_bus_cb(struct bus *b, int ctl, void *arg)
{
	struct tick		*c = arg;
	struct session_input	 in;
	int			 i;

	if (c->stopping) {
		if (!bus_venting(c->bus))
			event_base_loopexit(c->base, NULL);
		return;
	}
	/* Awake anyway: the routine's answer, if in, and its log lines. */
	session_collect(&c->session);
	tick_check_rating(c, ctl);
	tick_input(c, &in);
	tick_downs(c, &in);
	session_observe(&c->session, &in);
	if (c->cfg->table->free_run && tick_replied(c))
		event_active(c->tick_ev, EV_TIMEOUT, 0);
	/* Tried: connected and proven, or failed; not while its proof of
	 * the safe state runs. */
	if (!c->ready && !bus_proving(c->bus, ctl)) {
		c->tried[ctl] = 1;
		for (i = 0; i < c->cfg->table->nctls; i++)
			if (!c->tried[i])
				return;
		c->ready = 1;
		for (i = 0; i < c->nobservers; i++)
			if (c->observers[i].ready != NULL)
				c->observers[i].ready(c->observers[i].arg);
	}
}

static void
tick_schedule(struct tick *c)
{
	struct timeval	 tv;
	uint64_t	 now = clock_mono_ns(), wait;

	wait = c->next_ns > now ? c->next_ns - now : 0;
	tv.tv_sec = (long)(wait / 1000000000ull);
	tv.tv_usec = (long)((wait % 1000000000ull) / 1000);
	/* evtimer_add() counts from the loop's cached time, taken when the
	 * loop woke: refresh it, or the tick fires early by our run time. */
	event_base_update_cache_time(c->base);
	evtimer_add(c->tick_ev, &tv);
}

/*
 * The idle period: IDLE_HZ, but at least three writes per shortest
 * watchdog, which is also how long a map v2 owner claim lives without
 * one.
 */
static uint64_t
tick_idle_ns(const struct table *t)
{
	uint64_t	 ns = (uint64_t)(1e9 / IDLE_HZ), w;
	int		 i;

	/* Idle, each controller is still fed three times within its
	 * watchdog's timeout and its interlock relay's dropout. */
	for (i = 0; i < t->nctls; i++) {
		w = (uint64_t)t->ctls[i].watchdog_ms * 1000000ull / 3;
		if (w < ns)
			ns = w;
		w = (uint64_t)t->ctls[i].dropout_ms * 1000000ull / 3;
		if (w > 0 && w < ns)
			ns = w;
	}
	return (ns);
}

/* The session's output as each controller's intent: its zones' kPa on
 * their channels, every channel its zones use. */
static void
tick_intents(const struct table *t, const struct session_output *out,
    uint16_t tick_no, struct ctl_intent *want)
{
	int	 i;

	memset(want, 0, t->nctls * sizeof(*want));
	for (i = 0; i < t->nctls; i++) {
		want[i].enable = out->ctl[i].enable;
		want[i].fault_reset = out->ctl[i].fault_reset;
		want[i].nchannels = table_ctl_channels(t, i);
		want[i].tick = tick_no;
	}
	for (i = 0; i < t->nzones; i++)
		want[t->zones[i].ctl].kpa[t->zones[i].channel] =
		    out->setpoint_kpa[i];
}

static void
tick_fire(evutil_socket_t fd, short what, void *arg)
{
	struct tick		*c = arg;
	const struct table	*t = c->cfg->table;
	struct session_input	 in;
	struct session_output	 out;
	struct ctl_intent	 want[TABLE_MAX_CONTROLLERS];
	uint64_t		 now = clock_mono_ns();
	double			 late;
	int			 i;

	late = now > c->next_ns ? (now - c->next_ns) / 1e9 : 0;
	for (i = 0; i < LATENESS_BUCKETS; i++)
		if (late <= tick_lateness_bounds_s[i])
			c->lateness_bucket[i]++;
	c->lateness_sum_s += late;
	c->ticks++;
	c->last_tick_ns = now;
	c->next_ns += c->period_ns;
	if (t->free_run)
		c->next_ns = now + c->period_ns;
	else if (c->next_ns + c->period_ns < now) {
		/* More than a period behind: count and re-anchor. */
		c->missed_ticks += (now - c->next_ns) / c->period_ns;
		c->next_ns = now + c->period_ns;
	}

	tick_input(c, &in);
	tick_downs(c, &in);
	session_tick(&c->session, &in, &out);
	routine_worker_reap();	/* killed workers that had not exited yet */
	/* With no session the controllers are disabled (their watchdogs are
	 * off) and nothing needs the full rate: poll slowly, no busy polling. */
	if (!session_active(&c->session) && c->session.reset_pulse == 0 &&
	    !t->free_run && tick_idle_ns(t) > c->period_ns)
		c->next_ns += tick_idle_ns(t) - c->period_ns;
	tick_intents(t, &out, (uint16_t)c->ticks, want);
	for (i = 0; i < t->nctls; i++) {
		struct bus_reading rd;

		bus_get(c->bus, i, &rd);
		c->await[i] = rd.seq + rd.errors + 1;
		bus_submit(c->bus, i, &want[i]);
	}
	/* The links are on their way: now the routine's next question. */
	session_ask(&c->session, t->free_run ? 0 : c->next_ns);
	for (i = 0; i < c->nobservers; i++)
		if (c->observers[i].tick != NULL)
			c->observers[i].tick(c->observers[i].arg);
	/* Free run still ticks at tick_hz at least, should replies stop. */
	tick_schedule(c);
}

void
tick_start(struct tick *c, struct event_base *base)
{
	struct session_hooks	 hooks = { c, tick_vent, tick_emit };

	c->base = base;
	c->started_ns = clock_mono_ns();
	session_init(&c->session, c->cfg, &hooks, &routine_inst_port);
	c->bus = bus_start(base, c->cfg->table, tick_bus_cb, c);
	c->period_ns = (uint64_t)(1e9 / c->cfg->table->tick_hz);
	c->next_ns = clock_mono_ns() + c->period_ns;
	if ((c->tick_ev = evtimer_new(base, tick_fire, c)) == NULL)
		fatalx("evtimer_new failed");
	tick_schedule(c);
	log_info("control loop at %g Hz, %d controllers, %d zones, "
	    "%d routines, %d profiles, %d programs", c->cfg->table->tick_hz,
	    c->cfg->table->nctls, c->cfg->table->nzones, c->routines.n,
	    c->cfg->profiles.n, c->cfg->programs.n);
}

/* The wiring (controllers and zone channels) cannot change under a
 * running bus. Returns 0 when only limits, positions and names of things
 * other than wiring differ. */
/* The described devices of two controllers: the same files and units. */
static int
tick_same_parts(const struct ctl_conf *x, const struct ctl_conf *y)
{
	int	 r;

	for (r = 0; r < CTL_PARTS; r++)
		if (strcmp(x->parts[r].path, y->parts[r].path) != 0 ||
		    x->parts[r].unit_id != y->parts[r].unit_id ||
		    x->parts[r].digest != y->parts[r].digest)
			return (-1);
	return (0);
}

static int
tick_same_wiring(const struct table *a, const struct table *b,
    char *why, size_t whylen)
{
	int	 i;

	if (a->nctls != b->nctls || a->nzones != b->nzones) {
		snprintf(why, whylen, "the number of controllers or zones "
		    "changed");
		return (-1);
	}
	for (i = 0; i < a->nctls; i++) {
		const struct ctl_conf *x = &a->ctls[i], *y = &b->ctls[i];

		if (strcmp(x->name, y->name) || x->transport != y->transport ||
		    strcmp(x->host, y->host) || x->port != y->port ||
		    strcmp(x->device, y->device) || x->baud != y->baud ||
		    x->parity != y->parity || x->data_bits != y->data_bits ||
		    x->stop_bits != y->stop_bits || x->unit_id != y->unit_id ||
		    x->response_timeout_ms != y->response_timeout_ms ||
		    x->watchdog_ms != y->watchdog_ms ||
		    x->dropout_ms != y->dropout_ms || x->kind != y->kind ||
		    tick_same_parts(x, y) == -1 ||
		    x->max_failures != y->max_failures ||
		    x->rs485 != y->rs485 || x->rts != y->rts ||
		    x->rts_delay_us != y->rts_delay_us) {
			snprintf(why, whylen, "controller %s changed", x->name);
			return (-1);
		}
	}
	for (i = 0; i < a->nzones; i++) {
		const struct zone_conf *x = &a->zones[i], *y = &b->zones[i];

		if (strcmp(x->name, y->name) || x->ctl != y->ctl ||
		    x->channel != y->channel) {
			snprintf(why, whylen, "zone %s changed its controller "
			    "or channel", x->name);
			return (-1);
		}
	}
	if (a->tick_hz != b->tick_hz || strcmp(a->listen_host, b->listen_host) ||
	    a->listen_port != b->listen_port) {
		snprintf(why, whylen, "tick_hz or listen changed");
		return (-1);
	}
	if (a->owner_id != b->owner_id || strcmp(a->run_dir, b->run_dir)) {
		snprintf(why, whylen, "owner_id or run_dir changed");
		return (-1);
	}
	/* The store's link took its copy at start (store-link.c). */
	if (strcmp(a->store, b->store) || strcmp(a->store_password_file,
	    b->store_password_file) || (a->store[0] != '\0' &&
	    (strcmp(a->name, b->name) || strcmp(a->state_dir,
	    b->state_dir)))) {
		snprintf(why, whylen, "store, store_password_file, or the "
		    "name or state_dir of a table with a store changed");
		return (-1);
	}
	return (0);
}

/*
 * One reload: the thread's own, so that the loop can walk away from it. The
 * thread reads only the job, the paths and the routines (loaded once, freed
 * only at exit, and not at all while a thread may still read them).
 */
struct tick_reload_job {
	pthread_mutex_t		 mtx;
	pthread_t		 thread;
	struct tick		*c;		/* NULL once abandoned */
	int			 done;		/* the thread has finished */
	struct config		*cfg;		/* its result, or NULL */
	const char		*path;
	char *const		*overrides;
	int			 noverrides;
	struct routine_set	*routines;
};

/* Reload threads abandoned and still running: the routines must stay. */
static int		tick_reload_orphans;
static pthread_mutex_t	tick_reload_orphans_mtx = PTHREAD_MUTEX_INITIALIZER;

static void
tick_reload_job_free(struct tick_reload_job *j)
{
	config_free(j->cfg);
	pthread_mutex_destroy(&j->mtx);
	free(j);
}

/* The reload thread: reads and checks every file, touches nothing shared
 * (the routines are read-only once loaded). */
static void *
tick_reload_thread(void *arg)
{
	struct tick_reload_job	*j = arg;
	struct inifile_errors	 errs = { 0 };
	struct config		*cfg;
	int			 orphan;

	cfg = config_load(j->path, j->overrides, j->noverrides, j->routines,
	    &errs);
	/* The parameter checks' workers end here, not on the loop. */
	routines_checked(j->routines);
	pthread_mutex_lock(&j->mtx);
	orphan = j->c == NULL;
	j->cfg = cfg;
	j->done = 1;
	if (!orphan) {
		if (cfg == NULL)
			log_warnx("reload refused: %d error%s above; the "
			    "running configuration stays", errs.count,
			    errs.count == 1 ? "" : "s");
		event_active(j->c->reload_ev, EV_TIMEOUT, 0);
	}
	pthread_mutex_unlock(&j->mtx);
	inifile_errors_free(&errs);
	if (orphan) {
		log_warnx("an abandoned reload has finished; its result is "
		    "dropped");
		tick_reload_job_free(j);
		pthread_mutex_lock(&tick_reload_orphans_mtx);
		tick_reload_orphans--;
		pthread_mutex_unlock(&tick_reload_orphans_mtx);
	}
	return (NULL);
}

/*
 * Gives up on the running reload: the thread finishes on its own, frees
 * its job and drops its result. 1 if it was abandoned, 0 if it had
 * finished after all (then the caller joins it).
 */
static int
tick_reload_abandon(struct tick *c)
{
	struct tick_reload_job	*j = c->reload_job;
	int			 done;

	pthread_mutex_lock(&j->mtx);
	if (!(done = j->done)) {
		j->c = NULL;
		pthread_mutex_lock(&tick_reload_orphans_mtx);
		tick_reload_orphans++;
		pthread_mutex_unlock(&tick_reload_orphans_mtx);
	}
	pthread_mutex_unlock(&j->mtx);
	if (done)
		return (0);
	pthread_detach(j->thread);
	c->reload_job = NULL;
	c->reloading = 0;
	return (1);
}

/* On the loop: the reload takes too long (a file that never ends on a
 * file system that ignores O_NONBLOCK, a hung network mount...). */
static void
tick_reload_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tick	*c = arg;

	if (!c->reloading || !tick_reload_abandon(c))
		return;		/* done meanwhile: reload_ev is pending */
	log_warnx("reload abandoned: the files were not read within %d s; "
	    "the running configuration stays", TICK_RELOAD_TIMEOUT_S);
	c->reload_failures++;
	if (c->reload_done != NULL)
		c->reload_done(c, 0, c->reload_arg);
	if (c->reload_again && !c->stopping) {
		c->reload_again = 0;
		tick_reload(c);
	}
}

/* On the loop: the thread is done; swap if the result is valid. */
static void
tick_reload_finish(evutil_socket_t fd, short what, void *arg)
{
	struct tick		*c = arg;
	struct tick_reload_job	*j = c->reload_job;
	struct config		*fresh;
	struct session_input	 in;
	char			 why[256];
	int			 ok = 0, i;

	if (j == NULL)
		return;		/* abandoned in the meantime */
	evtimer_del(c->reload_watchdog);
	pthread_join(j->thread, NULL);
	c->reload_job = NULL;
	c->reloading = 0;
	fresh = j->cfg;
	j->cfg = NULL;
	tick_reload_job_free(j);
	if (fresh == NULL)
		c->reload_failures++;
	else if (tick_same_wiring(c->cfg->table, fresh->table, why,
	    sizeof(why)) == -1) {
		log_warnx("reload refused: %s; restart massaged to apply "
		    "wiring changes; the running configuration stays", why);
		config_free(fresh);
		c->reload_failures++;
	} else {
		profile_writer_carry(&fresh->profiles, &c->cfg->profiles);
		tick_input(c, &in);
		session_reload(&c->session, fresh, &in);
		config_free(c->cfg);
		c->cfg = fresh;
		c->reloads++;
		memset(c->rating_seen, 0, sizeof(c->rating_seen));
		for (i = 0; i < fresh->table->nctls; i++)
			tick_check_rating(c, i);
		log_info("reloaded: %d profiles, %d programs",
		    fresh->profiles.n, fresh->programs.n);
		tick_emit(c, SESSION_EV_RELOADED);
		ok = 1;
	}
	if (c->reload_done != NULL)
		c->reload_done(c, ok, c->reload_arg);
	if (c->reload_again && !c->stopping) {
		c->reload_again = 0;
		tick_reload(c);
	}
}

void
tick_reload(struct tick *c)
{
	struct tick_reload_job	*j;
	struct timeval		 tv = { TICK_RELOAD_TIMEOUT_S, 0 };

	if (c->reloading) {
		if (!c->reload_again)
			log_info("reload already running; will reload again "
			    "after it");
		c->reload_again = 1;
		return;
	}
	if (c->reload_ev == NULL &&
	    ((c->reload_ev = event_new(c->base, -1, 0, tick_reload_finish,
	    c)) == NULL || (c->reload_watchdog = evtimer_new(c->base,
	    tick_reload_timeout, c)) == NULL))
		fatalx("event_new failed");
	log_info("reloading %s", c->config_path);
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("reload: calloc");
		goto fail;
	}
	pthread_mutex_init(&j->mtx, NULL);
	j->c = c;
	j->path = c->config_path;
	j->overrides = c->overrides;
	j->noverrides = c->noverrides;
	j->routines = &c->routines;
	if (pthread_create(&j->thread, NULL, tick_reload_thread, j) != 0) {
		log_warn("reload: cannot start a thread");
		tick_reload_job_free(j);
		goto fail;
	}
	c->reload_job = j;
	c->reloading = 1;
	evtimer_add(c->reload_watchdog, &tv);
	return;
fail:
	c->reload_failures++;
	if (c->reload_done != NULL)
		c->reload_done(c, 0, c->reload_arg);
}

static void
tick_exit_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tick	*c = arg;

	log_warnx("shutdown: not every vent was acknowledged in time");
	event_base_loopexit(c->base, NULL);
}

void
tick_shutdown(struct tick *c)
{
	struct timeval	 tv;
	int		 i, ms = 0;

	if (c->stopping)
		return;
	c->stopping = 1;
	evtimer_del(c->tick_ev);
	if (session_active(&c->session))
		session_halt(&c->session, STOP_SHUTDOWN, "the daemon is "
		    "shutting down");
	bus_vent_all(c->bus);
	for (i = 0; i < c->cfg->table->nctls; i++)
		if (c->cfg->table->ctls[i].response_timeout_ms > ms)
			ms = c->cfg->table->ctls[i].response_timeout_ms;
	ms = 2 * ms + SHUTDOWN_EXTRA_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	c->exit_ev = evtimer_new(c->base, tick_exit_timeout, c);
	evtimer_add(c->exit_ev, &tv);
	log_info("shutting down: venting every controller");
}

/* At exit: a reload still running gets a moment, then is left behind. */
static void
tick_reload_drop(struct tick *c)
{
	struct tick_reload_job	*j = c->reload_job;
	struct timespec		 until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TICK_SHUTDOWN_RELOAD_S;
	if (pthread_timedjoin_np(j->thread, NULL, &until) == 0) {
		c->reload_job = NULL;
		c->reloading = 0;
		tick_reload_job_free(j);
	} else if (tick_reload_abandon(c))
		log_warnx("shutdown: a reload still runs after %d s; not "
		    "waiting for it", TICK_SHUTDOWN_RELOAD_S);
	else {
		pthread_join(j->thread, NULL);
		c->reload_job = NULL;
		tick_reload_job_free(j);
	}
}

void
tick_free(struct tick *c)
{
	int	 orphans;

	if (c->reloading)
		tick_reload_drop(c);
	if (c->reload_ev != NULL)
		event_free(c->reload_ev);
	if (c->reload_watchdog != NULL)
		event_free(c->reload_watchdog);
	bus_stop(c->bus);
	c->bus = NULL;
	session_free(&c->session);
	if (c->tick_ev != NULL)
		event_free(c->tick_ev);
	if (c->exit_ev != NULL)
		event_free(c->exit_ev);
	config_free(c->cfg);
	pthread_mutex_lock(&tick_reload_orphans_mtx);
	orphans = tick_reload_orphans;
	pthread_mutex_unlock(&tick_reload_orphans_mtx);
	if (orphans == 0)	/* else a thread may still read them */
		routines_free(&c->routines);
}
