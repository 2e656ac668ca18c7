/*
 * bus-prove.c: the proof of the safe state (ctl.h, prove()). After every
 * connect, and so after every reconnect and every power cycle the
 * verification detects, a controller is not driven until its backend has
 * shown, on the device itself and at zero pressure, that it vents when the
 * daemon stops talking to it: its watchdog armed, then tripped when no
 * longer fed, then reset and armed again (or its interlock relay dropped
 * and came back in). A proof runs in the controller's turns on its link
 * thread, a call at a time, so vents and the other controllers of the
 * wire never wait for it. A failed proof leaves the controller undriven,
 * its reason in the status, and is tried again after the longest
 * back-off.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-private.h"
#include "clock.h"
#include "log.h"

/* Appends one line to the proof's log, the oldest lines kept. */
static void
bus_prove_line(struct bus_ctl *c, const char *prefix, const char *fmt,
    va_list ap)
{
	struct ctl_proof_log	*pl = &c->rd.proof;
	char			 buf[CTL_PROOF_LINE_LEN];
	uint32_t		 ms;
	int			 n;

	n = snprintf(buf, sizeof(buf), "%s", prefix);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	ms = (uint32_t)((clock_mono_ns() - c->pf.t0_ns) / MS);
	pthread_mutex_lock(&c->link->mtx);
	if (pl->n < CTL_PROOF_LINES) {
		pl->lines[pl->n].ms = ms;
		memcpy(pl->lines[pl->n].text, buf, sizeof(buf));
		pl->n++;
	} else {
		pl->lines[CTL_PROOF_LINES - 1].ms = ms;
		memcpy(pl->lines[CTL_PROOF_LINES - 1].text, buf, sizeof(buf));
	}
	pthread_mutex_unlock(&c->link->mtx);
	log_debug("controller %s: proof +%u ms: %s", c->conf.name, ms, buf);
}

void
bus_io_proved(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	bus_prove_line(c, "", fmt, ap);
	va_end(ap);
}

void
bus_io_unproven(struct bus_ctl *c, const char *fmt, ...)
{
	struct ctl_proof_log	*pl = &c->rd.proof;
	char			 why[CTL_PROOF_LINE_LEN];
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	bus_io_proved(c, "NOT SEEN: %s", why);
	pthread_mutex_lock(&c->link->mtx);
	memcpy(pl->why, why, sizeof(why));
	pl->state = CTL_PROOF_FAILED;
	pl->ms = (uint32_t)((clock_mono_ns() - c->pf.t0_ns) / MS);
	pl->failed++;
	pthread_mutex_unlock(&c->link->mtx);
	bus_set_error(c, "not driven: the proof of its safe state failed: %s",
	    why);
}

/* A proof from its first step: after a connect, or after a vent. */
void
bus_prove_begin(struct bus_ctl *c)
{
	memset(&c->pf, 0, sizeof(c->pf));
	c->pf.t0_ns = clock_mono_ns();
	c->proving = 1;
	c->proof_next_ns = 0;
	pthread_mutex_lock(&c->link->mtx);
	c->rd.proof.state = CTL_PROOF_RUNNING;
	c->rd.proof.n = 0;
	c->rd.proof.why[0] = '\0';
	pthread_mutex_unlock(&c->link->mtx);
}

/* Proven: the controller may be driven. */
static void
bus_prove_pass(struct bus_ctl *c)
{
	uint32_t	 ms = (uint32_t)((clock_mono_ns() - c->pf.t0_ns) / MS);

	c->proving = 0;
	c->up = 1;
	c->enabled = 0;
	c->stopbits = 0;
	c->verify_ns = clock_mono_ns();
	c->verify_step = 0;
	pthread_mutex_lock(&c->link->mtx);
	c->have_req = 0;		/* nothing asked before counts */
	c->rd.connected = 1;
	c->rd.failures = 0;
	c->rd.error[0] = '\0';
	c->rd.proof.state = CTL_PROOF_PASSED;
	c->rd.proof.ms = ms;
	c->rd.proof.passed++;
	pthread_mutex_unlock(&c->link->mtx);
	log_info("controller %s: safe state proven in %u ms", c->conf.name, ms);
}

/*
 * One call of the backend's proof, when due. A backend that has none is
 * never driven.
 */
void
bus_prove_turn(struct bus_ctl *c)
{
	int	 rc;

	if (clock_mono_ns() < c->proof_next_ns)
		return;
	if (c->be->prove == NULL) {
		bus_io_unproven(c, "the %s kind has no proof", c->be->kind);
		rc = -1;
	} else
		rc = c->be->prove(c, c->st, &c->pf);
	if (!c->proving)
		return;		/* lost on the way (bus_io_lost, bus_fail) */
	if (rc == 1) {
		c->proof_next_ns = clock_mono_ns() +
		    (uint64_t)(c->pf.wait_ms > 0 ? c->pf.wait_ms : 0) * MS;
		return;
	}
	if (rc == 0) {
		bus_prove_pass(c);
		return;
	}
	if (c->rd.proof.state != CTL_PROOF_FAILED)
		bus_io_unproven(c, "%s", c->rd.error);
	/* Left as safe as it can be made (a proof may have stopped half
	 * way, enabled at zero), not driven; connected, checked and proven
	 * again later. */
	if (c->link->w.mb != NULL && c->be->vent(c, c->st) == -1)
		log_warnx("controller %s: the vent after its failed proof "
		    "failed", c->conf.name);
	bus_ctl_down(c, BACKOFF_MAX_MS);
}

/* A vent went out to c: a proof under way starts again. */
void
bus_prove_vented(struct bus_ctl *c)
{
	if (!c->proving)
		return;
	bus_io_proved(c, "a vent came: the proof starts again");
	memset(&c->pf, 0, sizeof(c->pf));
	c->pf.t0_ns = clock_mono_ns();
	c->proof_next_ns = 0;
}
