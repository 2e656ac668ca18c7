/*
 * test_ctl_device.c: the described devices' backend (daemon/engine/
 * ctl-device*.c): values grouped into transactions, what a tick writes
 * and reads for the shipped WAGO coupler and RS-485 modules with their
 * relay, the proof (a watchdog that trips, one that does not, one that is
 * not there; a relay that drops, a welded one, a dead one), the latched
 * faults, the read-backs, the vent and the refusals.
 *
 * The bus's services (ctl.h's bus_io_*) are played by devices in memory,
 * per unit id: unit 1 can be the WAGO coupler's Modbus watchdog (armed by
 * its timeout, fed by writes, exception 04 and outputs off after a trip,
 * cleared by its simple stop), unit 3 the relay of rs485-relay.ini. Time
 * is a fake clock. The simulator's devices are driven end to end by the
 * integration tests.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define clock_mono_ns	fake_clock_ns
#include "../../daemon/engine/ctl-device.c"
#include "../../daemon/engine/ctl-device-tick.c"
#include "../../daemon/engine/ctl-device-prove.c"
#undef clock_mono_ns

#define UNITS		4
#define REGS		0x2100
#define XACT_MAX	64
#define WD		0x1000		/* the WAGO watchdog's registers */

/* One transaction the backend made. */
struct xact {
	int		 fc;
	int		 unit;
	int		 addr;
	int		 n;
	uint16_t	 v[8];
};

/* The devices on the wire, and what the backend told the bus. */
static struct {
	uint64_t	 now;
	int		 unit;
	uint16_t	 hr[UNITS][REGS];
	uint16_t	 ir[UNITS][REGS];
	uint8_t		 co[UNITS][REGS];
	uint8_t		 di[UNITS][REGS];
	int		 wago;		/* unit 1 has the WAGO watchdog */
	int		 wd_broken;	/* it never trips */
	int		 no_wd;		/* its registers are not there */
	int		 quiet;		/* tripped, it answers normally */
	uint64_t	 fed_ns;
	int		 relay;		/* unit 3 is the relay */
	int		 welded, dead;
	uint64_t	 edge_ns;
	int		 fail;		/* next transaction: this errno */
	int		 silent;	/* this unit id answers nobody */
	struct xact	 x[XACT_MAX];
	int		 nx;
	char		 error[256];
	char		 proved[16][CTL_PROOF_LINE_LEN];
	int		 nproved;
	char		 unproven[256];
	int		 lost, fails, verified;
	const char	*unguarded;
} fake;

static struct bus_ctl	*port = (struct bus_ctl *)&fake;

uint64_t
fake_clock_ns(void)
{
	return (fake.now);
}

static void
fake_ms(unsigned ms)
{
	fake.now += (uint64_t)ms * 1000000u;
}

/* The devices at now: the WAGO watchdog, the relay. */
static void
fake_step(void)
{
	uint16_t	*wd = fake.hr[1] + WD;

	if (fake.wago && wd[6] == 1 && wd[0] > 0 && !fake.wd_broken &&
	    fake.now - fake.fed_ns >= wd[0] * 100000000ull) {
		wd[6] = 2;
		memset(fake.hr[1], 0, 8 * sizeof(uint16_t));
		memset(fake.hr[1] + 0x200, 0, 8 * sizeof(uint16_t));
		memset(fake.co[1], 0, 8);
		memset(fake.co[1] + 0x200, 0, 8);
	}
	if (fake.relay)
		fake.di[3][0] = !fake.dead && (fake.welded ||
		    (fake.edge_ns != 0 && fake.now - fake.edge_ns <
		    200000000ull));
}

/* Before each transaction: an injected failure, or a tripped WAGO's
 * exception 04 (its watchdog's registers still answer). */
static int
fake_begin(int fc, int addr, int n, const uint16_t *v)
{
	struct xact	*x = &fake.x[fake.nx++ % XACT_MAX];
	int		 e, exempt;

	x->fc = fc;
	x->unit = fake.unit;
	x->addr = addr;
	x->n = n;
	memset(x->v, 0, sizeof(x->v));
	if (v != NULL)
		memcpy(x->v, v, (n < 8 ? n : 8) * sizeof(*v));
	fake_step();
	if ((e = fake.fail) != 0) {
		fake.fail = 0;
		errno = e;
		return (-1);
	}
	if (fake.silent != 0 && fake.unit == fake.silent) {
		errno = ETIMEDOUT;
		return (-1);
	}
	if (!fake.wago || fake.unit != 1)
		return (0);
	if (fake.no_wd && addr >= WD && addr < WD + 9) {
		errno = MODBUS_ENOBASE + MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
		return (-1);
	}
	exempt = (fc == 3 && addr >= WD && addr + n <= WD + 9) ||
	    (fc == 6 && (addr == WD + 7 || addr == WD + 8));
	if (fake.hr[1][WD + 6] == 2 && !exempt && !fake.quiet) {
		errno = MODBUS_ENOBASE +
		    MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE;
		return (-1);
	}
	return (0);
}

/* A write to the WAGO: its watchdog's registers, and its feeding. */
static void
fake_wago_write(int fc, int addr, uint16_t v)
{
	uint16_t	*wd = fake.hr[1] + WD;

	if (addr >= WD && addr < WD + 9) {
		if (addr == WD && wd[6] == 0) {
			wd[0] = v;
			wd[6] = v > 0;
			fake.fed_ns = fake.now;
		} else if (addr == WD + 1 && wd[6] == 0)
			wd[1] = v;
		else if (addr == WD + 3) {
			if (v != wd[3])
				fake.fed_ns = fake.now;
			wd[3] = v;
		} else if (addr == WD + 8 && v == 0xaa55)
			wd[6] = 0;
		return;
	}
	if (addr < 8) {
		if (fc == 5)
			fake.co[1][0x200 + addr] = (uint8_t)v;
		else
			fake.hr[1][0x200 + addr] = v;
	}
}

int
bus_io_read(struct bus_ctl *c, int input, int addr, int n, uint16_t *v)
{
	if (fake_begin(input ? 4 : 3, addr, n, NULL) == -1)
		return (-1);
	memcpy(v, (input ? fake.ir : fake.hr)[fake.unit] + addr,
	    n * sizeof(*v));
	return (n);
}

int
bus_io_write(struct bus_ctl *c, int addr, int n, const uint16_t *v)
{
	int	 i, fc = n == 1 ? 6 : 16;

	if (fake_begin(fc, addr, n, v) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		if (!(fake.wago && fake.unit == 1 && addr + i >= WD))
			fake.hr[fake.unit][addr + i] = v[i];
		if (fake.wago && fake.unit == 1)
			fake_wago_write(fc, addr + i, v[i]);
	}
	if (fake.wago && fake.unit == 1 && (fake.hr[1][WD + 1] >> (fc - 1)) &
	    1 && fake.hr[1][WD + 6] == 1)
		fake.fed_ns = fake.now;
	return (n);
}

int
bus_io_read_bits(struct bus_ctl *c, int coils, int addr, int n, uint8_t *v)
{
	if (fake_begin(coils ? 1 : 2, addr, n, NULL) == -1)
		return (-1);
	memcpy(v, (coils ? fake.co : fake.di)[fake.unit] + addr, n);
	return (n);
}

int
bus_io_write_bit(struct bus_ctl *c, int addr, int on)
{
	uint16_t	 v = (uint16_t)on;

	if (fake_begin(5, addr, 1, &v) == -1)
		return (-1);
	if (fake.relay && fake.unit == 3 && addr == 0 &&
	    fake.co[3][0] != on)
		fake.edge_ns = fake.now;
	fake.co[fake.unit][addr] = (uint8_t)on;
	if (fake.wago && fake.unit == 1) {
		fake_wago_write(5, addr, v);
		if ((fake.hr[1][WD + 1] >> 4) & 1 && fake.hr[1][WD + 6] == 1)
			fake.fed_ns = fake.now;
	}
	return (1);
}

void
bus_io_unit(struct bus_ctl *c, int unit_id)
{
	assert_true(unit_id >= 1 && unit_id < UNITS);
	fake.unit = unit_id;
}

/* What a bus_io_*() service was told, into buf. */
#define FAKE_SAY(buf) do {						\
	va_list	 ap;							\
									\
	va_start(ap, fmt);						\
	vsnprintf((buf), sizeof(buf), fmt, ap);				\
	va_end(ap);							\
} while (0)

void
bus_io_refuse(struct bus_ctl *c, const char *fmt, ...)
{
	FAKE_SAY(fake.error);
}

void
bus_io_failed(struct bus_ctl *c, const char *fmt, ...)
{
	fake.fails++;
	FAKE_SAY(fake.error);
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
	fake.lost++;
	FAKE_SAY(fake.error);
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
	FAKE_SAY(fake.proved[fake.nproved % 16]);
	fake.nproved++;
}

void
bus_io_unproven(struct bus_ctl *c, const char *fmt, ...)
{
	FAKE_SAY(fake.unproven);
}

/* --- fixtures ------------------------------------------------------- */

static char	 paths[CTL_PARTS][PATH_MAX];

static void
srcpath(char *dst, size_t len, const char *name)
{
	const char	*src = getenv("MASSAGED_SRCDIR");

	if (name[0] == '/')
		snprintf(dst, len, "%s", name);
	else
		snprintf(dst, len, "%s/config/devices/%s.ini",
		    src != NULL ? src : ".", name);
	if (access(dst, R_OK) == -1)
		fail_msg("%s: %s (run from the source tree, or set "
		    "MASSAGED_SRCDIR)", dst, strerror(errno));
}

static void
fx_tmpdir(char *dir, size_t len)
{
	const char	*tmp = getenv("TMPDIR");

	snprintf(dir, len, "%s/test_ctl_device.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

/* A controller of the given parts (NULL: none), its zones using need
 * channels; the devices in memory reset. */
static struct ctl_dev *
fx_create(struct ctl_conf *cc, const char *dev, const char *sensors,
    const char *interlock, int need)
{
	const char		*names[CTL_PARTS] = { dev, sensors, interlock };
	struct ctl_setup	 set;
	int			 r;

	memset(&fake, 0, sizeof(fake));
	fake.now = 1000000000ull;
	memset(cc, 0, sizeof(*cc));
	snprintf(cc->name, sizeof(cc->name), "pelvis");
	cc->kind = CTL_KIND_DEVICE;
	cc->unit_id = 1;
	cc->watchdog_ms = 500;
	for (r = 0; r < CTL_PARTS; r++) {
		if (names[r] == NULL)
			continue;
		srcpath(paths[r], sizeof(paths[r]), names[r]);
		snprintf(cc->parts[r].path, sizeof(cc->parts[r].path), "%s",
		    paths[r]);
		cc->parts[r].unit_id = r + 1;
	}
	memset(&set, 0, sizeof(set));
	set.conf = cc;
	set.need_channels = need;
	set.owner = 1234;
	return (ctl_device.create(&set));
}

/* The WAGO coupler as it is after power-up. */
static struct ctl_dev *
fx_wago(struct ctl_conf *cc)
{
	struct ctl_dev	*st = fx_create(cc, "wago-750-352", NULL, NULL, 8);

	fake.wago = 1;
	fake.hr[1][0x2011] = 750;
	fake.hr[1][0x2012] = 352;
	fake.di[1][0] = 1;		/* the e-stop circuit closed */
	return (st);
}

static struct ctl_dev *
fx_rs485(struct ctl_conf *cc)
{
	struct ctl_dev	*st = fx_create(cc, "rs485-ao8", "rs485-ai8",
	    "rs485-relay", 8);

	fake.relay = 1;
	fake.di[3][1] = 1;		/* the e-stop circuit closed */
	return (st);
}

/* prove() called as bus.c does, the clock moved by each wait. */
static int
fx_prove(struct ctl_dev *st)
{
	struct ctl_proof	 pf;
	int			 rc, calls = 0;

	memset(&pf, 0, sizeof(pf));
	pf.t0_ns = fake.now;
	while ((rc = ctl_device.prove(port, st, &pf)) == 1) {
		fake_ms(pf.wait_ms > 0 ? pf.wait_ms : 1);
		assert_true(++calls < 2000);
	}
	return (rc);
}

static int
fx_seen(const char *text)
{
	int	 i;

	for (i = 0; i < fake.nproved && i < 16; i++)
		if (strstr(fake.proved[i], text) != NULL)
			return (1);
	return (0);
}

static struct xact *
fx_x(int i)
{
	assert_true(i < fake.nx && fake.nx - i <= XACT_MAX);
	return (&fake.x[i % XACT_MAX]);
}

/* --- plans ---------------------------------------------------------- */

static void
test_plan_runs(void **state)
{
	struct ctl_dev_plan	 pl;
	int			 i, a, b, c, d, e;

	/* Writes: contiguous only, never across a gap. */
	memset(&pl, 0, sizeof(pl));
	for (i = 7; i >= 0; i--)
		ctl_dev_plan_add(&pl, 0, DEVICE_HOLDING, i, 1);
	a = ctl_dev_plan_add(&pl, 0, DEVICE_HOLDING, 0x1003, 1);
	b = ctl_dev_plan_add(&pl, 0, DEVICE_HOLDING, 9, 1);
	ctl_dev_plan_make(&pl, 1);
	assert_int_equal(pl.nruns, 3);
	assert_int_equal(pl.runs[0].addr, 0);
	assert_int_equal(pl.runs[0].n, 8);
	assert_int_equal(pl.runs[1].addr, 9);
	assert_int_equal(pl.items[a].run, 2);
	assert_int_equal(pl.items[b].run, 1);
	assert_int_equal(pl.items[0].at, 7);	/* register 7 */
	ctl_dev_plan_free(&pl);

	/* Reads: a gap of 8 registers is read through, 9 is not; other
	 * tables and other parts are other transactions. */
	memset(&pl, 0, sizeof(pl));
	a = ctl_dev_plan_add(&pl, 1, DEVICE_INPUT, 0, 2);
	b = ctl_dev_plan_add(&pl, 1, DEVICE_INPUT, 10, 1);
	c = ctl_dev_plan_add(&pl, 1, DEVICE_INPUT, 20, 1);
	d = ctl_dev_plan_add(&pl, 1, DEVICE_HOLDING, 11, 1);
	e = ctl_dev_plan_add(&pl, 2, DEVICE_INPUT, 11, 1);
	ctl_dev_plan_make(&pl, 0);
	assert_int_equal(pl.nruns, 4);
	assert_int_equal(pl.items[a].run, pl.items[b].run);
	assert_int_not_equal(pl.items[b].run, pl.items[c].run);
	assert_int_equal(pl.runs[pl.items[a].run].n, 11);
	assert_int_equal(pl.items[b].at - pl.items[a].at, 10);
	assert_int_not_equal(pl.items[d].run, pl.items[b].run);
	assert_int_not_equal(pl.items[e].run, pl.items[b].run);
	ctl_dev_plan_free(&pl);

	/* Bits: a gap of 16 is read through, 17 is not. */
	memset(&pl, 0, sizeof(pl));
	a = ctl_dev_plan_add(&pl, 0, DEVICE_DISCRETE, 0, 1);
	b = ctl_dev_plan_add(&pl, 0, DEVICE_DISCRETE, 17, 1);
	c = ctl_dev_plan_add(&pl, 0, DEVICE_DISCRETE, 35, 1);
	ctl_dev_plan_make(&pl, 0);
	assert_int_equal(pl.nruns, 2);
	assert_int_equal(pl.items[a].run, pl.items[b].run);
	assert_int_not_equal(pl.items[b].run, pl.items[c].run);
	ctl_dev_plan_free(&pl);

	/* A run never outgrows one transaction: 125 registers read. */
	memset(&pl, 0, sizeof(pl));
	for (i = 0; i < 64; i++)
		ctl_dev_plan_add(&pl, 0, DEVICE_INPUT, 2 * i, 2);
	ctl_dev_plan_make(&pl, 0);
	assert_int_equal(pl.nruns, 2);
	assert_true(pl.runs[0].n <= CTL_DEV_READ_REGS);
	assert_int_equal(pl.runs[0].n + pl.runs[1].n, 128);
	ctl_dev_plan_free(&pl);
}

/* --- the WAGO coupler ------------------------------------------------ */

static void
test_wago_connect_and_prove(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;

	assert_string_equal(st->error, "");
	assert_int_equal(st->out.nruns, 2);	/* outputs; feed */
	assert_int_equal(st->in.nruns, 2);	/* inputs; digital inputs */
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(rd.channels, 8);
	assert_true(fabs(rd.rating_kpa - 60.0) < 1e-9);
	assert_int_equal(rd.version, 0);
	assert_int_equal(fake.hr[1][WD + 6], 0);	/* nothing armed */
	assert_int_equal(fake.co[1][0], 0);		/* vent valve venting */

	assert_int_equal(fx_prove(st), 0);
	assert_string_equal(fake.unproven, "");
	assert_true(fx_seen("timeout 0x1000 = 5 (500 ms)"));
	assert_true(fx_seen("watchdog tripped 5"));
	assert_true(fx_seen("0x1006 reads 2"));
	assert_true(fx_seen("outputs read back their trip value"));
	assert_true(fx_seen("armed and fed again: proven"));
	assert_int_equal(fake.hr[1][WD + 6], 1);	/* armed */
	assert_int_equal(fake.hr[1][WD + 1], 0xc030);
	assert_int_equal(st->armed, 1);
	ctl_device.destroy(st);
}

static void
test_wago_tick(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;
	struct ctl_intent	 in;
	uint16_t		 raw[2];
	int			 i, n;

	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	memset(&in, 0, sizeof(in));
	in.enable = 1;
	in.nchannels = 8;
	in.tick = 77;
	for (i = 0; i < 8; i++)
		in.kpa[i] = 3.0 * i;
	for (i = 0; i < 8; i++)
		fake.ir[1][i] = (uint16_t)(546 * i);
	fake.di[1][1] = 1;			/* the client's switch */
	n = fake.nx;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	/* Outputs, feed, the vent valve closed (it changed), inputs,
	 * digital inputs: one transaction each. */
	assert_int_equal(fake.nx - n, 5);
	assert_int_equal(fx_x(n)->fc, 16);
	assert_int_equal(fx_x(n)->n, 8);
	for (i = 0; i < 8; i++) {
		device_kpa_to_raw(&st->d[0]->ao[i], 3.0 * i, raw);
		assert_int_equal(fx_x(n)->v[i], raw[0]);
	}
	assert_int_equal(fx_x(n + 1)->fc, 6);
	assert_int_equal(fx_x(n + 1)->addr, 0x1003);
	assert_int_equal(fx_x(n + 1)->v[0], 77);
	assert_int_equal(fx_x(n + 2)->fc, 5);
	assert_int_equal(fake.co[1][0], 1);		/* vent closed */
	assert_int_equal(fx_x(n + 3)->fc, 2);
	assert_int_equal(fx_x(n + 4)->fc, 4);
	assert_true(fabs(rd.pressure_kpa[2] - 2.0) < 0.01);
	assert_int_equal(rd.estop, 0);
	assert_int_equal(rd.client_stop, 1);
	assert_int_equal(rd.fault, 0);
	assert_true(rd.flags & (1u << CTL_DEV_FLAG_ARMED));
	assert_false(rd.flags & (1u << CTL_DEV_FLAG_VENT_OPEN));

	/* The next tick: the vent valve is not written again; the e-stop
	 * circuit opens (wired normally closed). */
	fake.di[1][0] = 0;
	in.tick = 78;
	n = fake.nx;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(fake.nx - n, 4);
	assert_int_equal(rd.estop, 1);

	/* Disabled: safe values, the valve venting before them. */
	in.enable = 0;
	n = fake.nx;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	assert_int_equal(fx_x(n)->fc, 5);
	assert_int_equal(fake.co[1][0], 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(fake.hr[1][i], 0);
	ctl_device.destroy(st);
}

static void
test_wago_trip_loses_it(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;
	struct ctl_intent	 in;

	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	memset(&in, 0, sizeof(in));
	fake_ms(600);			/* the daemon stalled */
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), -1);
	assert_int_equal(fake.lost, 1);
	assert_non_null(strstr(fake.error, "wago-750-352 (unit 1): its "
	    "watchdog has tripped (exception 04)"));
	/* The vent still counts: the trip vented it. */
	assert_int_equal(ctl_device.vent(port, st), 0);
	/* Connected again: the trip is reset first. */
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fake.hr[1][WD + 6], 0);
	assert_int_equal(fx_prove(st), 0);
	ctl_device.destroy(st);
}

static void
test_wago_verify(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;
	int			 step, rc;

	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	/* state, timeout, configure, vent valve, identity */
	assert_int_equal(st->nchecks, 5);
	assert_int_equal(ctl_device.verify(port, st, 0), 0);
	for (step = 1; (rc = ctl_device.verify(port, st, step)) == 1; step++)
		continue;
	assert_int_equal(rc, 0);
	assert_int_equal(step, 5);
	assert_int_equal(fake.verified, 1);
	assert_int_equal(fake.lost, 0);

	/* A power cycle: the watchdog's registers back to 0. */
	memset(fake.hr[1] + WD, 0, 9 * sizeof(uint16_t));
	assert_int_equal(ctl_device.verify(port, st, 1), -1);
	assert_non_null(strstr(fake.error, "its watchdog is off: the device "
	    "was reset or power cycled"));
	assert_int_equal(ctl_device.verify(port, st, 2), -1);
	assert_non_null(strstr(fake.error, "0x1000 reads 0, 5 written"));
	/* Another coupler behind the address. */
	fake.hr[1][0x2012] = 341;
	assert_int_equal(ctl_device.verify(port, st, 5), -1);
	assert_non_null(strstr(fake.error, "controller changed"));
	ctl_device.destroy(st);
}

/* The description's watchdog does not trip: the proof names it. */
static void
test_wago_no_trip(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;

	fake.wd_broken = 1;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), -1);
	assert_string_equal(fake.unproven, "device wago-750-352 (unit 1): "
	    "watchdog did not trip within 600 ms after feeding stopped (state "
	    "1)");
	ctl_device.destroy(st);
}

/* A description that claims a watchdog the device does not have. */
static void
test_wago_lie(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;

	fake.no_wd = 1;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), -1);
	assert_non_null(strstr(fake.unproven, "wago-750-352 (unit 1): "));
	assert_non_null(strstr(fake.unproven, "exception 02"));
	ctl_device.destroy(st);
}

/*
 * A watchdog without a state register that answers normally after its
 * trip: the outputs, moved one count off their trip value before feeding
 * stops, are seen to fall back to it.
 */
static void
test_wago_no_state(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st;
	struct ctl_reading	 rd;
	char			 dir[PATH_MAX - 32];
	char			 src[PATH_MAX], path[PATH_MAX], line[256];
	FILE			*in, *out;

	srcpath(src, sizeof(src), "wago-750-352");
	fx_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/wago-quiet.ini", dir);
	assert_non_null(in = fopen(src, "r"));
	assert_non_null(out = fopen(path, "w"));
	while (fgets(line, sizeof(line), in) != NULL)
		if (strncmp(line, "state", 5) != 0 &&
		    strncmp(line, "tripped_answers", 15) != 0)
			fputs(line, out);
	fclose(in);
	fclose(out);
	st = fx_create(&cc, path, NULL, NULL, 8);
	unlink(path);
	rmdir(dir);
	assert_string_equal(st->error, "");
	assert_int_equal(st->nchecks, 4);	/* no state to verify */
	fake.wago = fake.quiet = 1;
	fake.hr[1][0x2011] = 750;
	fake.hr[1][0x2012] = 352;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	assert_string_equal(fake.unproven, "");
	assert_true(fx_seen("[ao ch0] reads back its trip value"));
	assert_int_equal(fake.hr[1][0], 0);	/* safe again */

	/* The same device whose watchdog never trips. */
	fake.wd_broken = 1;
	assert_int_equal(fx_prove(st), -1);
	assert_non_null(strstr(fake.unproven, "did not trip within 600 ms "
	    "after feeding stopped (outputs as written)"));
	ctl_device.destroy(st);
}

static void
test_wago_refusals(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;

	fake.hr[1][0x2012] = 341;
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "holding register 0x2012 reads "
	    "341"));
	assert_non_null(strstr(fake.error, "wago-750-352.ini expects 352"));
	fake.hr[1][0x2012] = 352;
	fake.unguarded = "/run/massaged/x.lock: Permission denied";
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "endpoint lock"));
	ctl_device.destroy(st);

	/* The zones use more channels than it has. */
	st = fx_create(&cc, "wago-750-352", NULL, NULL, 9);
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "8 analogue outputs"));
	assert_int_equal(ctl_device.prove(port, st, &(struct ctl_proof){ 0 }),
	    -1);
	ctl_device.destroy(st);

	/* A watchdog-less device without its interlock. */
	st = fx_create(&cc, "rs485-ao8", "rs485-ai8", NULL, 8);
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "only behind a relay interlock"));
	ctl_device.destroy(st);
}

/* A description that no longer loads: refused every time, never fatal. */
static void
test_description_gone(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_setup	 set;
	struct ctl_reading	 rd;
	struct ctl_dev		*st;
	char			 dir[PATH_MAX - 32];
	char			 path[PATH_MAX];
	FILE			*fp;

	memset(&fake, 0, sizeof(fake));
	fx_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/broken.ini", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("[device]\nname = broken\n", fp);
	fclose(fp);
	memset(&cc, 0, sizeof(cc));
	snprintf(cc.name, sizeof(cc.name), "pelvis");
	snprintf(cc.parts[0].path, sizeof(cc.parts[0].path), "%s", path);
	cc.unit_id = 1;
	memset(&set, 0, sizeof(set));
	set.conf = &cc;
	st = ctl_device.create(&set);
	unlink(path);
	rmdir(dir);
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "device's description does not "
	    "load"));
	assert_non_null(strstr(fake.error, path));
	assert_non_null(strstr(fake.error, "(and more)"));
	assert_null(strstr(fake.error, "writable"));
	fake.error[0] = '\0';
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_non_null(strstr(fake.error, "does not load"));
	assert_int_equal(ctl_device.vent(port, st), -1);
	ctl_device.destroy(st);
}

/* --- RS-485 modules and their relay ---------------------------------- */

static void
test_rs485_prove_and_tick(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_rs485(&cc);
	struct ctl_reading	 rd;
	struct ctl_intent	 in;
	int			 n, hb;

	assert_string_equal(st->error, "");
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	assert_true(fx_seen("interlock relay (unit 3) in after"));
	assert_true(fx_seen("interlock relay (unit 3) dropped 2"));
	assert_true(fx_seen("in again"));
	assert_int_equal(st->hb_live, 1);

	memset(&in, 0, sizeof(in));
	in.enable = 1;
	in.nchannels = 8;
	in.kpa[0] = 30.0;
	fake.ir[2][0] = 500;
	hb = fake.co[3][0];
	n = fake.nx;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	/* FC16 outputs (unit 1), FC05 heartbeat (unit 3), FC04 sensors
	 * (unit 2), FC02 feedback, e-stop and switch (unit 3). */
	assert_int_equal(fake.nx - n, 4);
	assert_int_equal(fx_x(n)->unit, 1);
	assert_int_equal(fx_x(n)->fc, 16);
	assert_int_equal(fx_x(n)->v[0], 500);
	assert_int_equal(fx_x(n + 1)->unit, 3);
	assert_int_equal(fx_x(n + 1)->fc, 5);
	assert_int_equal(fake.co[3][0], !hb);		/* toggled */
	assert_int_equal(fx_x(n + 2)->unit, 2);
	assert_int_equal(fx_x(n + 2)->fc, 4);
	assert_int_equal(fx_x(n + 3)->unit, 3);
	assert_int_equal(fx_x(n + 3)->fc, 2);
	assert_int_equal(fx_x(n + 3)->n, 3);
	assert_true(fabs(rd.pressure_kpa[0] - 30.0) < 1e-9);
	assert_true(rd.flags & (1u << CTL_DEV_FLAG_RELAY_IN));
	assert_int_equal(rd.fault, 0);

	/* The relay drops while its heartbeat is toggled: latched. */
	fake.dead = 1;
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 1);
	assert_string_equal(ctl_dev_fault_name(rd.fault_code), "relay_out");
	assert_non_null(strstr(rd.fault_text, "interlock relay out"));
	assert_int_equal(ctl_device.fault_reset(port, st), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 1);			/* still out */
	fake.dead = 0;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(ctl_device.fault_reset(port, st), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 0);
	ctl_device.destroy(st);
}

static void
test_rs485_sensor_fault(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_rs485(&cc);
	struct ctl_reading	 rd;

	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	fake.ir[2][3] = 100;
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_true(fabs(rd.pressure_kpa[3] - 6.0) < 1e-9);
	fake.ir[2][3] = 1001;			/* above 0..1000 */
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 1);
	assert_string_equal(ctl_dev_fault_name(rd.fault_code), "sensor_range");
	assert_string_equal(rd.fault_text, "sensor out of range: channel 3 "
	    "(rs485-ai8 [ai ch3], unit 2) reads raw 1001, outside 0..1000");
	assert_true(fabs(rd.pressure_kpa[3] - 6.0) < 1e-9);	/* last good */
	assert_int_equal(ctl_device.fault_reset(port, st), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 1);		/* still out of range */
	fake.ir[2][3] = 0;
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 1);		/* latched */
	assert_int_equal(ctl_device.fault_reset(port, st), 0);
	assert_int_equal(ctl_device.tick_read(port, st, &rd), 0);
	assert_int_equal(rd.fault, 0);
	ctl_device.destroy(st);
}

/* A part set to another unit id than the table's answers nobody: the
 * connect fails naming it (it was proven, shown connected and driven a
 * tick before its first read failed, again and again). */
static void
test_rs485_part_silent(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_rs485(&cc);
	struct ctl_reading	 rd;

	fake.silent = 2;
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_string_equal(fake.error, "device rs485-ai8 (unit 2): cannot "
	    "read its input registers 0x0000..0x0007");
	fake.silent = 3;
	assert_int_equal(ctl_device.connect(port, st, &rd), -1);
	assert_string_equal(fake.error, "device rs485-relay (unit 3): cannot "
	    "read its discrete inputs 0x0000..0x0002");
	fake.silent = 0;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	ctl_device.destroy(st);
}

static void
test_rs485_relay_welded(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_rs485(&cc);
	struct ctl_reading	 rd;

	fake.welded = 1;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), -1);
	assert_non_null(strstr(fake.unproven, "interlock relay (unit 3) still "
	    "in "));
	assert_non_null(strstr(fake.unproven, "welded or wired wrong"));
	ctl_device.destroy(st);
}

static void
test_rs485_relay_never_in(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_rs485(&cc);
	struct ctl_reading	 rd;

	fake.dead = 1;
	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), -1);
	assert_non_null(strstr(fake.unproven, "interlock relay (unit 3) never "
	    "came in"));
	ctl_device.destroy(st);
}

static void
test_vent(void **state)
{
	struct ctl_conf		 cc;
	struct ctl_dev		*st = fx_wago(&cc);
	struct ctl_reading	 rd;
	struct ctl_intent	 in;
	int			 i, n;

	assert_int_equal(ctl_device.connect(port, st, &rd), 0);
	assert_int_equal(fx_prove(st), 0);
	memset(&in, 0, sizeof(in));
	in.enable = 1;
	in.nchannels = 8;
	for (i = 0; i < 8; i++)
		in.kpa[i] = 20;
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	n = fake.nx;
	assert_int_equal(ctl_device.vent(port, st), 0);
	/* The valve, then every output: two transactions. */
	assert_int_equal(fake.nx - n, 2);
	assert_int_equal(fake.co[1][0], 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(fake.hr[1][i], 0);
	/* The valve's write lost: counted, not acknowledged; outputs safe. */
	assert_int_equal(ctl_device.tick_write(port, st, &in, &rd), 0);
	n = fake.fails;
	fake.fail = EPIPE;
	assert_int_equal(ctl_device.vent(port, st), -1);
	assert_int_equal(fake.fails, n + 1);
	assert_non_null(strstr(fake.error, "opening the vent valves failed"));
	for (i = 0; i < 8; i++)
		assert_int_equal(fake.hr[1][i], 0);
	ctl_device.destroy(st);
}

static void
test_describe(void **state)
{
	const struct ctl_desc	*d = ctl_device.describe();

	assert_string_equal(ctl_device.kind, "device");
	assert_string_equal(d->kind, "device");
	assert_string_equal(d->interface, "device description");
	assert_int_equal(d->nflags, 3);
	assert_string_equal(d->flag_name(2), "watchdog_armed");
	assert_string_equal(d->fault_name(0), "none");
	assert_string_equal(d->fault_name(99), "unknown");
	assert_null(ctl_device.vent_broadcast);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_runs),
		cmocka_unit_test(test_wago_connect_and_prove),
		cmocka_unit_test(test_wago_tick),
		cmocka_unit_test(test_wago_trip_loses_it),
		cmocka_unit_test(test_wago_verify),
		cmocka_unit_test(test_wago_no_trip),
		cmocka_unit_test(test_wago_lie),
		cmocka_unit_test(test_wago_no_state),
		cmocka_unit_test(test_wago_refusals),
		cmocka_unit_test(test_description_gone),
		cmocka_unit_test(test_rs485_prove_and_tick),
		cmocka_unit_test(test_rs485_sensor_fault),
		cmocka_unit_test(test_rs485_part_silent),
		cmocka_unit_test(test_rs485_relay_welded),
		cmocka_unit_test(test_rs485_relay_never_in),
		cmocka_unit_test(test_vent),
		cmocka_unit_test(test_describe),
	};

	log_init("test_ctl_device", -1);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
