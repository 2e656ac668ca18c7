/*
 * test_ctl_regmap.c: the register map's controller backend
 * (daemon/engine/ctl-regmap.c): this tick's intent (enable, fault reset,
 * kPa per channel) into the register words it writes, with the heartbeat,
 * the v2 OWNER, clamping and rounding; STATUS and FAULT_CODE into the
 * neutral reading; the connect checks, the read-backs and the vent.
 *
 * The backend is compiled into this test with the bus's services
 * (ctl.h's bus_io_*) played by a register bank in memory that records
 * every transaction: the wire is bus.c's and is tested over loopback
 * (tests/integration/test_bus.py).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../daemon/engine/ctl-regmap.c"

#define OWNER		1234
#define XACT_MAX	32

/* One transaction the backend made. */
struct xact {
	int		 write;
	int		 input;		/* reads: FC04, else FC03 */
	int		 addr;
	int		 n;
	uint16_t	 v[3 + REGMAP_CHANNELS_MAX];
};

/* The controller: its registers, what it refuses, what it saw. */
static struct {
	uint16_t	 hr[REGMAP_HR_COUNT + REGMAP_CHANNELS_MAX];
	uint16_t	 ir[REGMAP_IR_COUNT + REGMAP_CHANNELS_MAX];
	int		 busy;		/* writes refused: EMBXSBUSY */
	struct xact	 x[XACT_MAX];
	int		 nx;
	uint8_t		 raw[16];
	int		 nraw;
	char		 error[256];
	int		 lost;
	int		 fails;
	int		 verified;
	const char	*unguarded;	/* the endpoint lock: NULL held */
	char		 proved[256];	/* the proof's last step seen */
	char		 unproven[256];	/* what it did not see */
} fake;

static struct bus_ctl	*port = (struct bus_ctl *)&fake;

static struct xact *
fake_record(int write, int input, int addr, int n, const uint16_t *v)
{
	struct xact	*x = &fake.x[fake.nx++];

	assert_true(fake.nx <= XACT_MAX);
	assert_true(n >= 1 && n <= 3 + REGMAP_CHANNELS_MAX);
	x->write = write;
	x->input = input;
	x->addr = addr;
	x->n = n;
	if (v != NULL)
		memcpy(x->v, v, n * sizeof(*v));
	return (x);
}

int
bus_io_read(struct bus_ctl *c, int input, int addr, int n, uint16_t *v)
{
	fake_record(0, input, addr, n, NULL);
	memcpy(v, (input ? fake.ir : fake.hr) + addr, n * sizeof(*v));
	return (n);
}

int
bus_io_write(struct bus_ctl *c, int addr, int n, const uint16_t *v)
{
	fake_record(1, 0, addr, n, v);
	if (fake.busy) {
		errno = EMBXSBUSY;
		return (-1);
	}
	memcpy(fake.hr + addr, v, n * sizeof(*v));
	return (n);
}

int
bus_io_send_raw(struct bus_ctl *c, const uint8_t *adu, int len)
{
	memcpy(fake.raw, adu, len);
	fake.nraw = len;
	return (1);
}

void
bus_io_flush(struct bus_ctl *c)
{
}

void
bus_io_refuse(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fake.error, sizeof(fake.error), fmt, ap);
	va_end(ap);
}

void
bus_io_failed(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fake.error, sizeof(fake.error), fmt, ap);
	va_end(ap);
}

void
bus_io_fail(struct bus_ctl *c, const char *what)
{
	fake.fails++;
	snprintf(fake.error, sizeof(fake.error), "%s", what);
}

void
bus_io_lost(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	fake.lost++;
	va_start(ap, fmt);
	vsnprintf(fake.error, sizeof(fake.error), fmt, ap);
	va_end(ap);
}

void
bus_io_verified(struct bus_ctl *c)
{
	fake.verified++;
}

const char *
bus_io_unguarded(struct bus_ctl *c)
{
	return (fake.unguarded);
}

void
bus_io_proved(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fake.proved, sizeof(fake.proved), fmt, ap);
	va_end(ap);
}

void
bus_io_unproven(struct bus_ctl *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fake.unproven, sizeof(fake.unproven), fmt, ap);
	va_end(ap);
}

/* --- fixture ---------------------------------------------------------- */

struct fx {
	struct ctl_conf		 conf;
	void			*st;
	struct ctl_reading	 rd;
	uint16_t		 tick;		/* the last tick number given */
};

/* A controller of map version v with nch channels rated 40 kPa; a table
 * whose zones use 3 of them. */
static void
fx_controller(int v, int nch)
{
	memset(&fake, 0, sizeof(fake));
	fake.ir[REGMAP_IR_MAP_VERSION] = v;
	fake.ir[REGMAP_IR_CHANNELS] = nch;
	fake.ir[REGMAP_IR_MAX_PRESSURE] = 400;
}

static int
fx_setup(void **state)
{
	static struct fx	 f;
	struct ctl_setup	 set;

	memset(&f, 0, sizeof(f));
	snprintf(f.conf.name, sizeof(f.conf.name), "pelvis");
	f.conf.watchdog_ms = 300;
	set.conf = &f.conf;
	set.need_channels = 3;
	set.owner = OWNER;
	f.st = ctl_regmap.create(&set);
	fx_controller(2, 4);
	*state = &f;
	return (0);
}

static int
fx_teardown(void **state)
{
	struct fx	*f = *state;

	ctl_regmap.destroy(f->st);
	return (0);
}

static void
fx_connect(struct fx *f)
{
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), 0);
	fake.nx = 0;
}

/* The intent of one tick: enable, reset and three channels' kPa. */
static const struct xact *
fx_tick(struct fx *f, int enable, int reset, double a, double b, double c)
{
	struct ctl_intent	 in;

	memset(&in, 0, sizeof(in));
	in.enable = enable;
	in.fault_reset = reset;
	in.nchannels = 3;
	in.kpa[0] = a;
	in.kpa[1] = b;
	in.kpa[2] = c;
	in.tick = ++f->tick;	/* the tick's number, as tick.c gives it */
	fake.nx = 0;
	assert_int_equal(ctl_regmap.tick_write(port, f->st, &in, &f->rd), 0);
	assert_int_equal(fake.nx, 1);
	return (&fake.x[0]);
}

/* --- tests ------------------------------------------------------------ */

/* v2: identity read, OWNER claimed, WATCHDOG_MS written and read back. */
static void
test_connect_v2(void **state)
{
	struct fx	*f = *state;

	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), 0);
	assert_int_equal(fake.nx, 4);
	assert_false(fake.x[0].write);
	assert_true(fake.x[0].input);
	assert_int_equal(fake.x[0].addr, REGMAP_IR_MAP_VERSION);
	assert_int_equal(fake.x[0].n, 3);
	assert_true(fake.x[1].write);
	assert_int_equal(fake.x[1].addr, REGMAP_HR_OWNER(4));
	assert_int_equal(fake.x[1].v[0], OWNER);
	assert_int_equal(fake.x[2].addr, REGMAP_HR_WATCHDOG_MS);
	assert_int_equal(fake.x[2].v[0], 300);
	assert_false(fake.x[3].write);
	assert_false(fake.x[3].input);
	assert_int_equal(fake.x[3].addr, REGMAP_HR_WATCHDOG_MS);
	assert_int_equal(f->rd.channels, 4);
	assert_true(f->rd.rating_kpa == 40.0);
	assert_int_equal(f->rd.version, 2);
	assert_true(f->rd.claimed);
	assert_int_equal(f->rd.owner, OWNER);
}

static void
test_connect_refusals(void **state)
{
	struct fx	*f = *state;

	fx_controller(3, 4);
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), -1);
	assert_string_equal(fake.error, "refused: register map version 3, "
	    "expected 1 or 2");
	fx_controller(2, 2);
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), -1);
	assert_string_equal(fake.error, "refused: it has 2 channels, the "
	    "configured zones use 3");
	/* claimed by another master: refused, and not ours to vent */
	fx_controller(2, 4);
	fake.busy = 1;
	fake.ir[REGMAP_IR_OWNER(4)] = 77;
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), -1);
	assert_string_equal(fake.error, "refused: controller claimed by "
	    "another master: owner 77 (ours 1234)");
	fake.nx = 0;
	assert_int_equal(ctl_regmap.vent(port, f->st), -1);
	assert_int_equal(fake.nx, 0);
	assert_int_equal(f->rd.version, 0);	/* nothing learnt */
}

/* Intent to words: CONTROL, HEARTBEAT, the setpoints in tenths of a kPa
 * rounded down and clamped, every channel of the controller, OWNER. */
static void
test_tick_write_v2(void **state)
{
	struct fx		*f = *state;
	const struct xact	*x;

	fx_connect(f);
	x = fx_tick(f, 1, 0, 25.0, 20.06, 0.05);
	assert_true(x->write);
	assert_int_equal(x->addr, REGMAP_HR_CONTROL);
	assert_int_equal(x->n, 3 + 4);
	assert_int_equal(x->v[0], REGMAP_CONTROL_ENABLE);
	assert_int_equal(x->v[1], 1);		/* the tick's number */
	assert_int_equal(x->v[2], 250);
	assert_int_equal(x->v[3], 200);
	assert_int_equal(x->v[4], 0);
	assert_int_equal(x->v[5], 0);		/* a channel no zone uses */
	assert_int_equal(x->v[6], OWNER);

	x = fx_tick(f, 1, 0, 1e9, -3, NAN);
	assert_int_equal(x->v[1], 2);		/* the next tick's */
	assert_int_equal(x->v[2], 65535);
	assert_int_equal(x->v[3], 0);
	assert_int_equal(x->v[4], 0);

	/* disabled, and the fault reset pulse */
	x = fx_tick(f, 0, 0, 0.3, 20.09999, 6553.5);
	assert_int_equal(x->v[0], 0);
	assert_int_equal(x->v[2], 3);
	assert_int_equal(x->v[3], 200);
	assert_int_equal(x->v[4], 65535);
	x = fx_tick(f, 0, 1, 0, 0, 0);
	assert_int_equal(x->v[0], REGMAP_CONTROL_FAULT_RESET);
	assert_int_equal(x->v[1], 4);
}

/* v1: CONTROL, HEARTBEAT and the zones' channels only; no claim. */
static void
test_tick_write_v1(void **state)
{
	struct fx		*f = *state;
	const struct xact	*x;

	fx_controller(1, 8);
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), 0);
	assert_int_equal(fake.nx, 3);		/* no OWNER written */
	assert_false(f->rd.claimed);
	x = fx_tick(f, 1, 0, 12.34, 0, 0);
	assert_int_equal(x->n, 2 + 3);
	assert_int_equal(x->v[2], 123);
}

/* Without this machine's endpoint lock a v1 controller (no claim) is
 * refused after its identity, nothing written; a v2 one still connects. */
static void
test_connect_unguarded(void **state)
{
	struct fx	*f = *state;

	fx_controller(1, 4);
	fake.unguarded = "cannot create the endpoint lock /x/run/a.lock: "
	    "Not a directory";
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), -1);
	assert_string_equal(fake.error, "refused: register map version 1 "
	    "has no owner claim and the endpoint lock cannot be taken: "
	    "cannot create the endpoint lock /x/run/a.lock: Not a directory");
	assert_int_equal(fake.nx, 1);		/* the identity read only */
	assert_false(fake.x[0].write);
	fake.nx = 0;
	assert_int_equal(ctl_regmap.vent(port, f->st), -1);	/* not ours */
	assert_int_equal(fake.nx, 0);

	fx_controller(2, 4);
	fake.unguarded = "cannot create the run directory /x/run: No such "
	    "file or directory";
	assert_int_equal(ctl_regmap.connect(port, f->st, &f->rd), 0);
	assert_true(f->rd.claimed);
}

/* STATUS and FAULT_CODE into the neutral reading; OWNER checked. */
static void
test_tick_read(void **state)
{
	struct fx	*f = *state;

	fx_connect(f);
	(void)fx_tick(f, 1, 0, 10, 10, 10);
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY |
	    REGMAP_STATUS_ESTOP | REGMAP_STATUS_FAULT;
	fake.ir[REGMAP_IR_FAULT_CODE] = REGMAP_FAULT_SENSOR;
	fake.ir[REGMAP_IR_PRESSURE] = 253;
	fake.ir[REGMAP_IR_PRESSURE + 2] = 7;
	fake.ir[REGMAP_IR_OWNER(4)] = OWNER;
	fake.nx = 0;
	assert_int_equal(ctl_regmap.tick_read(port, f->st, &f->rd), 0);
	assert_int_equal(fake.nx, 1);
	assert_true(fake.x[0].input);
	assert_int_equal(fake.x[0].addr, REGMAP_IR_STATUS);
	assert_int_equal(fake.x[0].n, 3 + 4);
	assert_true(f->rd.estop);
	assert_false(f->rd.client_stop);
	assert_true(f->rd.fault);
	assert_int_equal(f->rd.fault_code, 4);
	assert_string_equal(f->rd.fault_text, "sensor fault");
	assert_int_equal(f->rd.flags, 0x0d);
	assert_true(fabs(f->rd.pressure_kpa[0] - 25.3) < 1e-9);
	assert_true(f->rd.pressure_kpa[2] == 0.7);
	assert_int_equal(ctl_regmap.verify(port, f->st, 0), 0);

	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_CLIENT_STOP;
	fake.ir[REGMAP_IR_FAULT_CODE] = 0;
	fake.ir[REGMAP_IR_OWNER(4)] = 77;
	assert_int_equal(ctl_regmap.tick_read(port, f->st, &f->rd), 0);
	assert_false(f->rd.estop);
	assert_true(f->rd.client_stop);
	assert_false(f->rd.fault);
	assert_string_equal(f->rd.fault_text, "none");
	/* another master took it: lost, with whose it is */
	assert_int_equal(ctl_regmap.verify(port, f->st, 0), -1);
	assert_int_equal(fake.lost, 1);
	assert_string_equal(fake.error, "controller claimed by another "
	    "master: owner 77 (ours 1234)");
}

/* The read-backs: identity, WATCHDOG_MS, CONTROL; a changed one is lost. */
static void
test_verify(void **state)
{
	struct fx	*f = *state;

	fx_connect(f);
	(void)fx_tick(f, 1, 0, 10, 10, 10);
	assert_int_equal(ctl_regmap.verify(port, f->st, 1), 1);
	assert_int_equal(ctl_regmap.verify(port, f->st, 2), 1);
	assert_int_equal(ctl_regmap.verify(port, f->st, 3), 0);
	assert_int_equal(fake.verified, 1);
	assert_int_equal(fake.lost, 0);
	fake.hr[REGMAP_HR_CONTROL] = 0;		/* a reset controller */
	assert_int_equal(ctl_regmap.verify(port, f->st, 3), -1);
	assert_string_equal(fake.error, "controller lost its configuration: "
	    "CONTROL reads 0, 1 written (reset or power cycle?)");
	fake.ir[REGMAP_IR_MAX_PRESSURE] = 500;
	assert_int_equal(ctl_regmap.verify(port, f->st, 1), -1);
	assert_string_equal(fake.error, "controller changed: map version 2, "
	    "4 channels, rated 50.0 kPa (at connect 2, 4, 40.0 kPa)");
}

/* The vent: FC06 CONTROL = 0; the broadcast of it to unit 0. */
static void
test_vent(void **state)
{
	struct fx	*f = *state;
	const uint8_t	 bcast[] = { 0, 6, 0, 0, 0, 0 };

	fx_connect(f);
	assert_int_equal(ctl_regmap.vent(port, f->st), 0);
	assert_int_equal(fake.nx, 1);
	assert_true(fake.x[0].write);
	assert_int_equal(fake.x[0].addr, REGMAP_HR_CONTROL);
	assert_int_equal(fake.x[0].n, 1);
	assert_int_equal(fake.x[0].v[0], 0);
	assert_int_equal(ctl_regmap.vent_broadcast(port), 1);
	assert_int_equal(fake.nraw, sizeof(bcast));
	assert_memory_equal(fake.raw, bcast, sizeof(bcast));
	assert_null(ctl_regmap.fault_reset);	/* the tick carries it */
}

static void
test_describe(void **state)
{
	const struct ctl_desc	*d = ctl_regmap.describe();
	int			 i;

	assert_string_equal(d->kind, "regmap");
	assert_string_equal(d->interface, "register map");
	assert_int_equal(d->version, REGMAP_VERSION);
	assert_int_equal(d->nflags, REGMAP_STATUS_NBITS);
	for (i = 0; i < d->nflags; i++)
		assert_string_equal(d->flag_name(i), regmap_status_name(i));
	assert_string_equal(d->fault_name(REGMAP_FAULT_OVERPRESSURE),
	    "overpressure");
	assert_string_equal(d->fault_name(9), "unknown");
}

/* One call of the proof, its transactions alone in fake.x. */
static int
fx_prove(struct fx *f, struct ctl_proof *pf)
{
	fake.nx = 0;
	return (ctl_regmap.prove(port, f->st, pf));
}

/* Enabled at zero setpoints, fed, then the heartbeat stops: the proof
 * waits for the WATCHDOG fault, then resets it and claims again. */
static void
test_prove_sees_trip(void **state)
{
	struct fx		*f = *state;
	struct ctl_proof	 pf;
	int			 i;

	fx_connect(f);
	memset(&pf, 0, sizeof(pf));
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_ACTIVE;
	assert_int_equal(fx_prove(f, &pf), 1);		/* CONTROL 0 */
	assert_int_equal(fake.x[0].write, 1);
	assert_int_equal(fake.x[0].v[0], 0);
	for (i = 0; i < PROVE_FEEDS; i++) {
		assert_int_equal(fx_prove(f, &pf), 1);
		assert_int_equal(fake.x[0].v[0], REGMAP_CONTROL_ENABLE);
		assert_int_equal(fake.x[0].v[1], i + 1);	/* fed */
		assert_int_equal(fake.x[0].v[2] + fake.x[0].v[3] +
		    fake.x[0].v[4], 0);				/* zero kPa */
		assert_int_equal(fake.x[0].v[6], OWNER);
	}
	assert_int_equal(pf.step, PROVE_WAIT);
	/* No trip yet: it polls, and writes nothing (no heartbeat). */
	assert_int_equal(fx_prove(f, &pf), 1);
	assert_int_equal(fake.nx, 1);
	assert_int_equal(fake.x[0].write, 0);
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_FAULT |
	    REGMAP_STATUS_WATCHDOG;
	fake.ir[REGMAP_IR_FAULT_CODE] = REGMAP_FAULT_WATCHDOG;
	assert_int_equal(fx_prove(f, &pf), 1);
	assert_non_null(strstr(fake.proved, "watchdog tripped"));
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY;
	fake.ir[REGMAP_IR_FAULT_CODE] = 0;
	assert_int_equal(fx_prove(f, &pf), 0);
	assert_non_null(strstr(fake.proved, "proven"));
	assert_int_equal(fake.hr[REGMAP_HR_CONTROL], 0);
	assert_int_equal(fake.hr[REGMAP_HR_OWNER(4)], OWNER);
	assert_string_equal(fake.unproven, "");
}

/* A fault a crashed daemon left latched: the proof resets it on the
 * controller to show the watchdog, and the reading keeps it for the
 * operator until a fault reset. */
static void
test_prove_keeps_a_found_fault(void **state)
{
	struct fx		*f = *state;
	struct ctl_proof	 pf;
	int			 rc;

	fx_connect(f);
	memset(&pf, 0, sizeof(pf));
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_FAULT |
	    REGMAP_STATUS_WATCHDOG;
	fake.ir[REGMAP_IR_FAULT_CODE] = REGMAP_FAULT_WATCHDOG;
	assert_int_equal(fx_prove(f, &pf), 1);
	assert_int_equal(pf.step, PROVE_RESET);
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_ACTIVE;
	fake.ir[REGMAP_IR_FAULT_CODE] = 0;
	while (pf.step != PROVE_WAIT)
		assert_int_equal(fx_prove(f, &pf), 1);
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_FAULT |
	    REGMAP_STATUS_WATCHDOG;
	fake.ir[REGMAP_IR_FAULT_CODE] = REGMAP_FAULT_WATCHDOG;
	assert_int_equal(fx_prove(f, &pf), 1);
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY;
	fake.ir[REGMAP_IR_FAULT_CODE] = 0;
	while ((rc = fx_prove(f, &pf)) == 1)
		continue;
	assert_int_equal(rc, 0);
	fx_tick(f, 0, 0, 0, 0, 0);
	assert_int_equal(ctl_regmap.tick_read(port, f->st, &f->rd), 0);
	assert_true(f->rd.fault);
	assert_int_equal(f->rd.fault_code, REGMAP_FAULT_WATCHDOG);
	fx_tick(f, 0, 1, 0, 0, 0);		/* the operator's reset */
	assert_int_equal(ctl_regmap.tick_read(port, f->st, &f->rd), 0);
	assert_false(f->rd.fault);
}

/* No trip within WATCHDOG_MS and the margin: not proven, and why. */
static void
test_prove_no_trip(void **state)
{
	struct fx		*f = *state;
	struct ctl_proof	 pf;

	fx_connect(f);
	memset(&pf, 0, sizeof(pf));
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_ACTIVE;
	while (pf.step != PROVE_WAIT)
		assert_int_equal(fx_prove(f, &pf), 1);
	pf.mark_ns = clock_mono_ns() - 10000000000ull;	/* 10 s ago */
	assert_int_equal(fx_prove(f, &pf), -1);
	assert_non_null(strstr(fake.unproven, "no watchdog trip within 380 ms"));
}

/* A controller that does not go active (its e-stop circuit open) cannot
 * show its watchdog: not proven, with the reason. */
static void
test_prove_not_active(void **state)
{
	struct fx		*f = *state;
	struct ctl_proof	 pf;
	int			 rc;

	fx_connect(f);
	memset(&pf, 0, sizeof(pf));
	fake.ir[REGMAP_IR_STATUS] = REGMAP_STATUS_READY | REGMAP_STATUS_ESTOP;
	while ((rc = fx_prove(f, &pf)) == 1)
		continue;
	assert_int_equal(rc, -1);
	assert_non_null(strstr(fake.unproven, "e-stop circuit is open"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_v2, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect_refusals,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_write_v2, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_write_v1, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect_unguarded,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_read, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_vent, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_prove_sees_trip, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_prove_keeps_a_found_fault,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prove_no_trip, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_prove_not_active, fx_setup,
		    fx_teardown),
		cmocka_unit_test(test_describe),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
