/*
 * fuzz_device.c: libFuzzer target for the device description parser
 * (device_load() in daemon/core/device*.c over the INI layer of
 * daemon/core/inifile.c).
 *
 * The input is one description (the files of config/devices are the
 * seeds). A description that loads without an error must hold what a
 * controller backend will rely on, and its conversions must keep every
 * raw value in its range; that is checked too.
 */
#include <math.h>

#include "fuzz_common.h"
#include "device.h"

static struct device	*fuzz_device_d;
static char		 fuzz_device_path[PATH_MAX];

static FUZZ_UNUSED void
fuzz_device_init(void)
{
	fuzz_setup();
	if (fuzz_device_d == NULL && (fuzz_device_d = calloc(1,
	    sizeof(*fuzz_device_d))) == NULL)
		abort();
	fuzz_tmp_path(fuzz_device_path, sizeof(fuzz_device_path),
	    "device/device.ini");
}

static void
fuzz_device_reg(const struct device_reg *r, const char *what)
{
	FUZZ_CHECK(r->addr >= 0 && r->addr <= 65535, "%s address %d", what,
	    r->addr);
	FUZZ_CHECK(r->space >= DEVICE_COIL && r->space <= DEVICE_HOLDING,
	    "%s table %d", what, (int)r->space);
}

/* Every kPa gives a raw value in range, NaN the safe one, and the value
 * survives its registers. */
static void
fuzz_device_ao(const struct device_ao *ao)
{
	static const double	 kpa[] = { -1e9, -1, 0, 0.05, 1, 10, 33.3, 60,
	    100, 999, 1e9, INFINITY };
	uint16_t		 regs[2];
	double			 raw, back;
	size_t			 i;

	fuzz_device_reg(&ao->reg, ao->name);
	FUZZ_CHECK(ao->reg.space == DEVICE_HOLDING, "ao %s not holding",
	    ao->name);
	fuzz_device_reg(&ao->readback, ao->name);
	FUZZ_CHECK(ao->kpa[0] != ao->kpa[1] && ao->raw[0] != ao->raw[1],
	    "ao %s map without a slope", ao->name);
	FUZZ_CHECK(ao->raw_min <= ao->raw_max && ao->safe >= ao->raw_min &&
	    ao->safe <= ao->raw_max, "ao %s safe %g outside %g..%g", ao->name,
	    ao->safe, ao->raw_min, ao->raw_max);
	FUZZ_CHECK((ao->type == DEVICE_U16 || ao->type == DEVICE_S16) ==
	    (ao->words == DEVICE_WORDS_NONE), "ao %s word order %d for type %d",
	    ao->name, (int)ao->words, (int)ao->type);
	FUZZ_CHECK(device_ao_raw(ao, NAN) == ao->safe, "ao %s NaN is not safe",
	    ao->name);
	for (i = 0; i < sizeof(kpa) / sizeof(kpa[0]); i++) {
		raw = device_ao_raw(ao, kpa[i]);
		FUZZ_CHECK(raw >= ao->raw_min && raw <= ao->raw_max, "ao %s "
		    "%g kPa gives raw %g outside %g..%g", ao->name, kpa[i], raw,
		    ao->raw_min, ao->raw_max);
		FUZZ_CHECK(device_kpa_to_raw(ao, kpa[i], regs) ==
		    device_type_regs(ao->type), "ao %s register count",
		    ao->name);
		back = device_raw_decode(ao->type, ao->words, regs);
		FUZZ_CHECK(ao->type == DEVICE_F32 ? (float)raw == (float)back :
		    raw == back, "ao %s raw %g comes back as %g", ao->name, raw,
		    back);
	}
}

static void
fuzz_device_dio(const struct device_dio *x, int is_do)
{
	fuzz_device_reg(&x->reg, x->name);
	FUZZ_CHECK(x->bit >= -1 && x->bit <= 15, "%s bit %d", x->name, x->bit);
	FUZZ_CHECK((x->bit >= 0) == (x->reg.space == DEVICE_HOLDING ||
	    x->reg.space == DEVICE_INPUT), "%s bit %d in table %d", x->name,
	    x->bit, (int)x->reg.space);
	FUZZ_CHECK(x->active == 0 || x->active == 1, "%s active %d", x->name,
	    x->active);
	FUZZ_CHECK(is_do ? x->role >= DEVICE_ROLE_VENT_VALVE :
	    (x->role >= DEVICE_ROLE_ESTOP_CIRCUIT &&
	    x->role <= DEVICE_ROLE_RELAY_FEEDBACK), "%s role %d", x->name,
	    (int)x->role);
}

/* What a description without errors promises a backend. */
static void
fuzz_device_invariants(const struct device *d)
{
	const struct device_watchdog *w = &d->watchdog;
	int	 i;

	FUZZ_CHECK(d->name[0] != '\0' && d->transports != 0 &&
	    (d->base == 0 || d->base == 1), "device %s transports %d base %d",
	    d->name, d->transports, d->base);
	FUZZ_CHECK(d->unit_id >= d->unit_id_min && d->unit_id <= d->unit_id_max &&
	    d->unit_id_min >= 1 && d->unit_id_max <= 247, "unit id %d in "
	    "%d..%d", d->unit_id, d->unit_id_min, d->unit_id_max);
	FUZZ_CHECK(d->nao + d->nai + d->ndi + d->ndo > 0, "no channel");
	for (i = 0; i < d->nao; i++)
		fuzz_device_ao(&d->ao[i]);
	for (i = 0; i < d->nai; i++) {
		fuzz_device_reg(&d->ai[i].reg, d->ai[i].name);
		FUZZ_CHECK(d->ai[i].raw[0] != d->ai[i].raw[1], "ai %s map",
		    d->ai[i].name);
	}
	for (i = 0; i < d->ndi; i++)
		fuzz_device_dio(&d->di[i], 0);
	for (i = 0; i < d->ndo; i++)
		fuzz_device_dio(&d->dout[i], 1);
	if (w->kind == DEVICE_WD_MODBUS) {
		fuzz_device_reg(&w->timeout, "watchdog timeout");
		fuzz_device_reg(&w->feed, "watchdog feed");
		FUZZ_CHECK(w->timeout_min_ms >= w->timeout_unit_ms &&
		    w->timeout_min_ms <= w->timeout_max_ms, "timeout %d..%d",
		    w->timeout_min_ms, w->timeout_max_ms);
	}
	FUZZ_CHECK(!d->watchdog_trusted || (w->kind == DEVICE_WD_MODBUS &&
	    w->fed_by_writes && w->on_trip != DEVICE_TRIP_HOLD),
	    "a watchdog trusted that cannot be");
	FUZZ_CHECK(d->needs_interlock == (d->nao > 0 && !d->watchdog_trusted),
	    "needs_interlock %d", d->needs_interlock);
	FUZZ_CHECK(d->watchdog_trusted || d->why[0] != '\0', "untrusted "
	    "without a reason");
	if (d->interlock.present) {
		FUZZ_CHECK(d->interlock.heartbeat >= 0 &&
		    d->interlock.heartbeat < d->ndo &&
		    d->dout[d->interlock.heartbeat].role ==
		    DEVICE_ROLE_RELAY_HEARTBEAT, "interlock heartbeat %d",
		    d->interlock.heartbeat);
		FUZZ_CHECK(d->interlock.feedback >= 0 &&
		    d->interlock.feedback < d->ndi &&
		    d->di[d->interlock.feedback].role ==
		    DEVICE_ROLE_RELAY_FEEDBACK, "interlock feedback %d",
		    d->interlock.feedback);
	}
}

static FUZZ_UNUSED int
fuzz_device_one(const uint8_t *data, size_t size)
{
	struct inifile_errors	 errs = { .quiet = 1 };
	int			 n;

	if (fuzz_known_bug(data, size))
		return (0);
	fuzz_write(fuzz_device_path, data, size);
	n = device_load(fuzz_device_d, fuzz_device_path, &errs);
	FUZZ_CHECK(n == errs.count, "device_load returned %d for %d errors",
	    n, errs.count);
	fuzz_check_errors(&errs, fuzz_device_path);
	if (n == 0)
		fuzz_device_invariants(fuzz_device_d);
	inifile_errors_free(&errs);
	return (0);
}

FUZZ_MAIN(device)
