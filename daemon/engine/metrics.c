/*
 * metrics.c: /metrics in the Prometheus text exposition format 0.0.4.
 *
 * Base units (seconds, pascals), counters end in _total, every family has
 * its HELP and TYPE and all its samples together. Everything is read on the
 * loop thread from the control hub; bus counters come from bus_get() (a
 * copy under the link's lock). A controller that is down has no pressure
 * samples: an unknown pressure is absent, not 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "clock.h"
#include "log.h"
#include "tick.h"
#include "metrics.h"
#include "record.h"
#include "store-link.h"

#define KPA_TO_PA(k)	((k) * 1000.0)

static void
metrics_head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A label value, escaped as the format wants (\\, \", \n). */
static void
metrics_escape(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
metrics_value(struct evbuffer *out, double v)
{
	if (isinf(v))
		evbuffer_add_printf(out, " %s\n", v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		evbuffer_add_printf(out, " NaN\n");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		evbuffer_add_printf(out, " %.0f\n", v);	/* exact */
	else
		evbuffer_add_printf(out, " %.10g\n", v);
}

/* name{label="value"} v, with zero, one or two labels. */
static void
metrics_sample(struct evbuffer *out, const char *name, const char *l1,
    const char *v1, const char *l2, const char *v2, double v)
{
	evbuffer_add_printf(out, "%s", name);
	if (l1 != NULL) {
		evbuffer_add_printf(out, "{%s=\"", l1);
		metrics_escape(out, v1);
		if (l2 != NULL) {
			evbuffer_add_printf(out, "\",%s=\"", l2);
			metrics_escape(out, v2);
		}
		evbuffer_add(out, "\"}", 2);
	}
	metrics_value(out, v);
}

static void
metrics_counter(struct evbuffer *out, const char *name, const char *help,
    uint64_t v)
{
	metrics_head(out, name, "counter", help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void
metrics_gauge(struct evbuffer *out, const char *name, const char *help,
    double v)
{
	metrics_head(out, name, "gauge", help);
	metrics_sample(out, name, NULL, NULL, NULL, NULL, v);
}

/* Session records (record-status.c): lost, waiting, failing. */
static void
metrics_records(struct evbuffer *out)
{
	unsigned	 pending;
	int		 failing = record_failing(NULL, 0, &pending);

	metrics_counter(out, "massaged_record_lost_total", "Session record "
	    "lines lost for good (too many waiting, or waiting when the "
	    "daemon stopped).", record_lost());
	metrics_gauge(out, "massaged_record_pending_lines", "Session record "
	    "lines waiting to be written (retried every second).", pending);
	metrics_gauge(out, "massaged_records_failing", "1 while session "
	    "records cannot be written and new sessions are refused.",
	    failing ? 1 : 0);
}

/* The spa's store (store-link.c), when the table has one. */
static void
metrics_store(struct evbuffer *out)
{
	struct store_health	 h;

	store_health_get(&h);
	if (!h.configured)
		return;
	metrics_gauge(out, "massaged_store_up", "1 while the daemon is "
	    "connected to the spa's store and its schema is this build's.",
	    h.up ? 1 : 0);
	metrics_counter(out, "massaged_store_failures_total", "Connections "
	    "to the store lost since the daemon started.", (double)h.failures);
	if (h.scanned)
		metrics_gauge(out, "massaged_store_outbox_backlog_lines",
		    "Session record lines written locally and not yet in "
		    "the store.", (double)h.backlog);
	metrics_counter(out, "massaged_store_outbox_shipped_total",
	    "Session record lines shipped to the store since the daemon "
	    "started.", (double)h.shipped);
	if (h.shipped_at > 0)
		metrics_gauge(out, "massaged_store_outbox_shipped_timestamp_"
		    "seconds", "When the outbox last shipped a line (Unix "
		    "time).", h.shipped_at);
	if (h.notified_at > 0)
		metrics_gauge(out, "massaged_store_notify_timestamp_seconds",
		    "When the store last told this table of a change made at "
		    "another (Unix time).", h.notified_at);
}

/* One histogram series; buckets are cumulative already, the last +Inf. */
static void
metrics_histogram(struct evbuffer *out, const char *name, const char *label,
    const char *lvalue, const double *bounds, const uint64_t *bucket, int n,
    double sum, uint64_t count)
{
	int	 i;

	for (i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s_bucket{", name);
		if (label != NULL) {
			evbuffer_add_printf(out, "%s=\"", label);
			metrics_escape(out, lvalue);
			evbuffer_add(out, "\",", 2);
		}
		if (isinf(bounds[i]))
			evbuffer_add_printf(out, "le=\"+Inf\"} %llu\n",
			    (unsigned long long)bucket[i]);
		else
			evbuffer_add_printf(out, "le=\"%g\"} %llu\n", bounds[i],
			    (unsigned long long)bucket[i]);
	}
	if (!isinf(bounds[n - 1])) {
		evbuffer_add_printf(out, "%s_bucket{", name);
		if (label != NULL) {
			evbuffer_add_printf(out, "%s=\"", label);
			metrics_escape(out, lvalue);
			evbuffer_add(out, "\",", 2);
		}
		evbuffer_add_printf(out, "le=\"+Inf\"} %llu\n",
		    (unsigned long long)count);
	}
	evbuffer_add_printf(out, "%s_sum", name);
	if (label != NULL) {
		evbuffer_add_printf(out, "{%s=\"", label);
		metrics_escape(out, lvalue);
		evbuffer_add(out, "\"}", 2);
	}
	metrics_value(out, sum);
	evbuffer_add_printf(out, "%s_count", name);
	if (label != NULL) {
		evbuffer_add_printf(out, "{%s=\"", label);
		metrics_escape(out, lvalue);
		evbuffer_add(out, "\"}", 2);
	}
	evbuffer_add_printf(out, " %llu\n", (unsigned long long)count);
}

static void
metrics_loop(struct tick *c, struct evbuffer *out)
{
	const struct ctl_desc	*d = ctl_backend_find(NULL)->describe();
	double			 started;

	/* The start in wall time: now minus the monotonic time since. */
	started = clock_real_s() - (clock_mono_ns() - c->started_ns) / 1e9;

	metrics_head(out, "massaged_build_info", "gauge", "Version of "
	    "massaged, register map and routine ABI; always 1.");
	evbuffer_add_printf(out, "massaged_build_info{version=\"%s\","
	    "register_map=\"%d\",routine_abi=\"%d\"} 1\n", MASSAGED_VERSION,
	    d->version, MASSAGED_ROUTINE_ABI_VERSION);
	/*
	 * massaged_table, not table: the scrape configuration gives every
	 * target a table label of its own (docs/deploy.md), which would
	 * rename this one exported_table.
	 */
	metrics_head(out, "massaged_table_info", "gauge", "The table this "
	    "daemon drives ([daemon] name); always 1.");
	evbuffer_add_printf(out, "massaged_table_info{massaged_table=\"");
	metrics_escape(out, c->cfg->table->name);
	evbuffer_add_printf(out, "\"} 1\n");
	metrics_gauge(out, "process_start_time_seconds", "Start time of the "
	    "process since the Unix epoch in seconds.", floor(started));
	metrics_gauge(out, "massaged_tick_period_seconds", "Period of the "
	    "control loop (1 / tick_hz).", c->period_ns / 1e9);
	metrics_counter(out, "massaged_ticks_total", "Control loop ticks.",
	    c->ticks);
	metrics_counter(out, "massaged_missed_ticks_total", "Control loop "
	    "ticks missed because the loop was more than a period late.",
	    c->missed_ticks);
	metrics_head(out, "massaged_tick_lateness_seconds", "histogram",
	    "How late each control tick ran after its scheduled time.");
	metrics_histogram(out, "massaged_tick_lateness_seconds", NULL, NULL,
	    tick_lateness_bounds_s, c->lateness_bucket, LATENESS_BUCKETS,
	    c->lateness_sum_s, c->ticks);
	metrics_counter(out, "massaged_reloads_total", "Configuration "
	    "reloads applied.", c->reloads);
	metrics_counter(out, "massaged_reload_failures_total",
	    "Configuration reloads refused (the running configuration "
	    "stayed).", c->reload_failures);
	metrics_counter(out, "massaged_log_lines_dropped_total", "Log lines "
	    "dropped because the log reader did not keep up.",
	    log_dropped_total());
	metrics_counter(out, "massaged_record_write_errors_total", "Session "
	    "record lines that could not be written to the state directory.",
	    record_write_errors());
	metrics_records(out);
}

static void
metrics_bus(struct tick *c, struct evbuffer *out,
    const struct bus_reading *rd)
{
	const struct table	*t = c->cfg->table;
	int			 i;

	metrics_head(out, "massaged_controller_up", "gauge", "1 while the "
	    "controller's link is up and its connect checks passed.");
	for (i = 0; i < t->nctls; i++)
		metrics_sample(out, "massaged_controller_up", "controller",
		    t->ctls[i].name, NULL, NULL, rd[i].connected);
	metrics_head(out, "massaged_controller_fault_code", "gauge",
	    "FAULT_CODE input register of the controller (0: none, 1: "
	    "watchdog, 2: over-pressure, 3: e-stop, 4: sensor).");
	for (i = 0; i < t->nctls; i++)
		if (rd[i].connected)
			metrics_sample(out, "massaged_controller_fault_code",
			    "controller", t->ctls[i].name, NULL, NULL,
			    rd[i].ctl.fault_code);
	metrics_head(out, "massaged_modbus_transactions_total", "counter",
	    "Successful Modbus transactions with the controller in its ticks "
	    "(a write and a read for the register map; a described device "
	    "as its plan needs).");
	for (i = 0; i < t->nctls; i++)
		metrics_sample(out, "massaged_modbus_transactions_total",
		    "controller", t->ctls[i].name, NULL, NULL,
		    (double)rd[i].transactions);
	metrics_head(out, "massaged_modbus_errors_total", "counter",
	    "Failed Modbus transactions with the controller (timeouts, "
	    "exceptions, broken links).");
	for (i = 0; i < t->nctls; i++)
		metrics_sample(out, "massaged_modbus_errors_total",
		    "controller", t->ctls[i].name, NULL, NULL,
		    (double)rd[i].errors);
	metrics_head(out, "massaged_modbus_connects_total", "counter",
	    "Successful connects to the controller.");
	for (i = 0; i < t->nctls; i++)
		metrics_sample(out, "massaged_modbus_connects_total",
		    "controller", t->ctls[i].name, NULL, NULL,
		    (double)rd[i].connects);
	metrics_head(out, "massaged_controller_verify_failures_total",
	    "counter", "Controllers found changed behind a live link (identity, "
	    "WATCHDOG_MS or CONTROL read back, or the owner claim lost).");
	for (i = 0; i < t->nctls; i++)
		metrics_sample(out, "massaged_controller_verify_failures_total",
		    "controller", t->ctls[i].name, NULL, NULL,
		    (double)rd[i].verify_failures);
	metrics_head(out, "massaged_controller_proofs_total", "counter",
	    "Proofs of the controller's safe state (its watchdog or "
	    "interlock seen to vent) after a connect, by result.");
	for (i = 0; i < t->nctls; i++) {
		metrics_sample(out, "massaged_controller_proofs_total",
		    "controller", t->ctls[i].name, "result", "passed",
		    (double)rd[i].proof.passed);
		metrics_sample(out, "massaged_controller_proofs_total",
		    "controller", t->ctls[i].name, "result", "failed",
		    (double)rd[i].proof.failed);
	}
	metrics_head(out, "massaged_modbus_roundtrip_seconds", "histogram",
	    "Round-trip time of successful Modbus transactions.");
	for (i = 0; i < t->nctls; i++)
		metrics_histogram(out, "massaged_modbus_roundtrip_seconds",
		    "controller", t->ctls[i].name, bus_rtt_bounds_s,
		    rd[i].rtt_bucket, RTT_BUCKETS, rd[i].rtt_sum_s,
		    rd[i].rtt_count);
}

static void
metrics_zones(struct tick *c, struct evbuffer *out,
    const struct bus_reading *rd)
{
	const struct table	*t = c->cfg->table;
	const struct session	*s = &c->session;
	struct session_input	 in;
	int			 i, active = session_active(s);
	double			 lim;

	tick_input(c, &in);
	metrics_head(out, "massaged_zone_pressure_pascals", "gauge",
	    "Measured pressure of the zone (absent while its controller is "
	    "down).");
	for (i = 0; i < t->nzones; i++)
		if (rd[t->zones[i].ctl].connected)
			metrics_sample(out, "massaged_zone_pressure_pascals",
			    "zone", t->zones[i].name, "controller",
			    t->ctls[t->zones[i].ctl].name,
			    KPA_TO_PA(in.measured_kpa[i]));
	metrics_head(out, "massaged_zone_setpoint_pascals", "gauge",
	    "Pressure setpoint sent to the zone after every limit.");
	for (i = 0; i < t->nzones; i++)
		metrics_sample(out, "massaged_zone_setpoint_pascals", "zone",
		    t->zones[i].name, "controller",
		    t->ctls[t->zones[i].ctl].name,
		    KPA_TO_PA(active ? s->commanded[i] : 0));
	metrics_head(out, "massaged_zone_limit_pascals", "gauge",
	    "Pressure limit of the zone: the running session's resolved "
	    "limit (0 if excluded), else the zone's hardware limit.");
	for (i = 0; i < t->nzones; i++) {
		if (active && i < s->lim.nzones)
			lim = s->lim.excluded[i] ? 0 : s->lim.limit_kpa[i];
		else
			lim = t->zones[i].limit_kpa;
		metrics_sample(out, "massaged_zone_limit_pascals", "zone",
		    t->zones[i].name, "controller",
		    t->ctls[t->zones[i].ctl].name, KPA_TO_PA(lim));
	}
}

static void
metrics_session(struct tick *c, struct evbuffer *out)
{
	const struct session	*s = &c->session;
	char			 cat[8];
	int			 st, r;

	metrics_head(out, "massaged_session_state", "gauge", "1 for the "
	    "current session state, 0 for the others.");
	for (st = SESSION_IDLE; st <= SESSION_FAULT; st++)
		metrics_sample(out, "massaged_session_state", "state",
		    session_state_name(st), NULL, NULL, (int)s->state == st);
	metrics_gauge(out, "massaged_fault_latched", "1 while a fault is "
	    "latched and new sessions are refused until a reset.",
	    s->fault_latched);
	metrics_gauge(out, "massaged_session_remaining_seconds", "Time left "
	    "in the running session (0 when none runs).",
	    session_remaining(s));
	metrics_head(out, "massaged_stops_total", "counter", "Session stops "
	    "and idle faults by reason and stop category (IEC 60204-1: 0 "
	    "vent now, 1 controlled ramp down).");
	for (r = STOP_NONE + 1; r < STOP_NREASONS; r++) {
		snprintf(cat, sizeof(cat), "%d", session_reason_category(r));
		metrics_sample(out, "massaged_stops_total", "reason",
		    session_reason_name(r), "category", cat,
		    (double)s->stops[r]);
	}
	metrics_head(out, "massaged_routine_late_ticks_total", "counter",
	    "Ticks without the routine's answer: the routine's own lateness "
	    "(3 questions in 50 steps stop its session), or its worker only "
	    "kept from running by a busy machine (waited for up to the "
	    "deadline).");
	metrics_sample(out, "massaged_routine_late_ticks_total", "cause",
	    "routine", NULL, NULL, (double)s->late_ticks[0]);
	metrics_sample(out, "massaged_routine_late_ticks_total", "cause",
	    "machine", NULL, NULL, (double)s->late_ticks[1]);
}

void
metrics_render(struct tick *c, struct evbuffer *out)
{
	struct bus_reading	 rd[TABLE_MAX_CONTROLLERS];
	int			 i;

	memset(rd, 0, sizeof(rd));
	for (i = 0; i < c->cfg->table->nctls; i++)
		bus_get(c->bus, i, &rd[i]);
	metrics_loop(c, out);
	metrics_bus(c, out, rd);
	metrics_zones(c, out, rd);
	metrics_session(c, out);
	metrics_store(out);
}
