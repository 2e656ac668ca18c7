/*
 * device-chan.c: the values of a description's channels ([ao], [ai],
 * [di], [do]) and of its [watchdog], read once the whole file is (so the
 * base is known), and the checks across keys: a 32-bit type needs its
 * word order, a safe value must vent, one role per device, nothing
 * written twice at one address. Keys are read in the order of their
 * table, which puts what others depend on (type, kind, role) first.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device-private.h"

#define HOLDING_ONLY	DEVICE_SPACE(DEVICE_HOLDING)
#define INPUT_HOLDING	(DEVICE_SPACE(DEVICE_INPUT) | DEVICE_SPACE(DEVICE_HOLDING))
#define KPA_MAX		1000.0

const struct device_key device_keys_ao[] = {
	{ "type", 1, "u16, s16, u32, s32 or f32" },
	{ "word_order", 0, NULL },
	{ "register", 1, "the holding register the output is written to" },
	{ "readback", 0, NULL },
	{ "map", 1, "two points 'KPA -> RAW, KPA -> RAW'" },
	{ "raw_range", 0, NULL },
	{ "safe", 1, "the raw value that vents, such as 0" },
	{ NULL, 0, NULL }
};
enum { AK_TYPE, AK_WORDS, AK_REG, AK_READBACK, AK_MAP, AK_RANGE, AK_SAFE };

const struct device_key device_keys_ai[] = {
	{ "type", 1, "u16, s16, u32, s32 or f32" },
	{ "word_order", 0, NULL },
	{ "register", 1, "the input (or holding) register read" },
	{ "map", 1, "two points 'RAW -> KPA, RAW -> KPA'" },
	{ "raw_range", 0, NULL },
	{ NULL, 0, NULL }
};
enum { IK_TYPE, IK_WORDS, IK_REG, IK_MAP, IK_RANGE };

const struct device_key device_keys_di[] = {
	{ "kind", 1, "discrete, coil, holding-bit or input-bit" },
	{ "role", 1, "estop_circuit, client_stop or relay_feedback" },
	{ "register", 1, "the address of the input" },
	{ "bit", 0, NULL },
	{ "active", 1, "the level (0 or 1) at which the role holds" },
	{ NULL, 0, NULL }
};
const struct device_key device_keys_do[] = {
	{ "kind", 1, "coil or holding-bit" },
	{ "role", 1, "vent_valve or relay_heartbeat" },
	{ "register", 1, "the address of the output" },
	{ "bit", 0, NULL },
	{ "active", 0, NULL },
	{ "readback", 0, NULL },
	{ NULL, 0, NULL }
};
enum { XK_KIND, XK_ROLE, XK_REG, XK_BIT, XK_ACTIVE, XK_READBACK };

const struct device_key device_keys_wd[] = {
	{ "kind", 1, "none, or modbus for a watchdog set up over Modbus" },
	{ "fed_by", 0, "writes or any" },
	{ "on_trip", 0, "zero, safe or hold" },
	{ "timeout", 0, "the holding register of the timeout" },
	{ "timeout_unit_ms", 0, NULL },
	{ "timeout_range_ms", 0, NULL },
	{ "feed", 0, "the holding register whose change feeds it" },
	{ "state", 0, NULL },
	{ "state_mask", 0, NULL },
	{ "state_off", 0, NULL },
	{ "state_armed", 0, "the armed value of the state register" },
	{ "state_tripped", 0, "the tripped value of the state register" },
	{ "tripped_answers", 0, NULL },
	{ "configure", 0, NULL },
	{ "reset", 0, NULL },
	{ NULL, 0, NULL }
};
enum { WK_KIND, WK_FED_BY, WK_ON_TRIP, WK_TIMEOUT, WK_UNIT, WK_RANGE, WK_FEED,
	WK_STATE, WK_MASK, WK_OFF, WK_ARMED, WK_TRIPPED, WK_ANSWERS,
	WK_CONFIGURE, WK_RESET };

static const char *const device_type_names[] = { "u16", "s16", "u32", "s32",
	"f32", NULL };
static const char *const device_word_names[] = { "big", "little", NULL };
static const char *const device_role_names[] = { "none", "estop_circuit",
	"client_stop", "relay_feedback", "vent_valve", "relay_heartbeat",
	NULL };
static const char *const device_di_kinds[] = { "discrete", "coil",
	"holding-bit", "input-bit", NULL };
static const enum device_space device_di_spaces[] = { DEVICE_DISCRETE,
	DEVICE_COIL, DEVICE_HOLDING, DEVICE_INPUT };
static const char *const device_do_kinds[] = { "coil", "holding-bit", NULL };
static const enum device_space device_do_spaces[] = { DEVICE_COIL,
	DEVICE_HOLDING };

#define HAVE(s, k)	(((s)->have & (1u << (k))) != 0)

const char *
device_role_name(enum device_role r)
{
	return ((unsigned)r <= DEVICE_ROLE_RELAY_HEARTBEAT ?
	    device_role_names[r] : "?");
}

void
device_chan_named(struct device_parse *p, const char *kind, int i,
    const char *name, int line)
{
	struct device	*d = p->d;
	char		*dst;

	if (strcmp(kind, "ao") == 0) {
		dst = d->ao[i].name;
		d->ao[i].line = line;
	} else if (strcmp(kind, "ai") == 0) {
		dst = d->ai[i].name;
		d->ai[i].line = line;
	} else if (strcmp(kind, "di") == 0) {
		dst = d->di[i].name;
		d->di[i].line = line;
	} else {
		dst = d->dout[i].name;
		d->dout[i].line = line;
	}
	snprintf(dst, DEVICE_NAME_LEN, "%s", name);
}

/* type and word_order of an [ao] or [ai]: 0, or -1 if the type is unknown. */
static int
device_type_words(struct device_parse *p, struct device_sect *s, int ktype,
    int kwords, enum device_type *type, enum device_words *words)
{
	int	 v;

	if (!HAVE(s, ktype) || device_v_choice(device_at(p, s, ktype), "type",
	    s->val[ktype], device_type_names, &v) == -1)
		return (-1);
	*type = (enum device_type)v;
	if (device_type_regs(*type) == 1) {
		if (HAVE(s, kwords))
			inifile_err(device_at(p, s, kwords), "word_order", "not "
			    "used with a 16-bit type (type = %s)",
			    device_type_names[v]);
		return (0);
	}
	if (!HAVE(s, kwords))
		inifile_err(device_at(p, s, -1), "word_order", "missing (a "
		    "32-bit type needs big or little: which word the manual "
		    "puts first)");
	else if (device_v_choice(device_at(p, s, kwords), "word_order",
	    s->val[kwords], device_word_names, &v) == 0)
		*words = v == 0 ? DEVICE_WORDS_BIG : DEVICE_WORDS_LITTLE;
	return (0);
}

static int
device_raw_range(struct device_parse *p, struct device_sect *s, int k,
    enum device_type t, double *lo, double *hi)
{
	*lo = device_type_min(t);
	*hi = device_type_max(t);
	if (!HAVE(s, k))
		return (0);
	return (device_v_range(device_at(p, s, k), "raw_range", s->val[k], *lo,
	    *hi, device_type_whole(t), "", lo, hi));
}

/* The kPa an [ao]'s raw value stands for, on its map. */
static double
device_ao_kpa(const struct device_ao *ao, double raw)
{
	return (ao->kpa[0] + (raw - ao->raw[0]) * (ao->kpa[1] - ao->kpa[0]) /
	    (ao->raw[1] - ao->raw[0]));
}

static void
device_ao_safe(struct device_parse *p, struct device_sect *s,
    struct device_ao *ao, int map_ok)
{
	struct inifile_file	*f = device_at(p, s, AK_SAFE);
	const char		*v = s->val[AK_SAFE];

	if (parse_double(v, ao->raw_min, ao->raw_max, &ao->safe) == -1 ||
	    (device_type_whole(ao->type) && ao->safe != floor(ao->safe))) {
		inifile_err(f, "safe", "not valid (expected a %s within "
		    "raw_range, %.10g to %.10g)", device_type_whole(ao->type) ?
		    "whole number" : "number", ao->raw_min, ao->raw_max);
		return;
	}
	if (map_ok && device_ao_kpa(ao, ao->safe) > 1e-9)
		inifile_err(f, "safe", "%.10g maps to %.3g kPa (expected a raw "
		    "value at or below 0 kPa on the map: the safe value is "
		    "what vents)", ao->safe, device_ao_kpa(ao, ao->safe));
}

static void
device_ao_resolve(struct device_parse *p, int i)
{
	struct device		*d = p->d;
	struct device_ao	*ao = &d->ao[i];
	struct device_sect	*s = &p->ao[i];
	double			 kpa[2] = { 0, KPA_MAX }, raw[2];
	int			 typed, map_ok = 0, range_ok;

	ao->reg.space = ao->readback.space = DEVICE_HOLDING;
	ao->reg.addr = ao->readback.addr = -1;
	ao->safe = NAN;
	device_missing(p, s, device_keys_ao);
	typed = device_type_words(p, s, AK_TYPE, AK_WORDS, &ao->type,
	    &ao->words) == 0;
	if (HAVE(s, AK_REG))
		device_v_addr(d, device_at(p, s, AK_REG), "register",
		    s->val[AK_REG], HOLDING_ONLY, DEVICE_HOLDING, &ao->reg);
	if (HAVE(s, AK_READBACK))
		device_v_addr(d, device_at(p, s, AK_READBACK), "readback",
		    s->val[AK_READBACK], INPUT_HOLDING, DEVICE_HOLDING,
		    &ao->readback);
	else
		ao->readback = ao->reg;
	if (!typed)
		return;		/* no range to check raw values against */
	raw[0] = device_type_min(ao->type);
	raw[1] = device_type_max(ao->type);
	if (HAVE(s, AK_MAP))
		map_ok = device_v_map(device_at(p, s, AK_MAP), "map",
		    s->val[AK_MAP], kpa, raw, "kPa", "raw", ao->kpa,
		    ao->raw) == 0;
	range_ok = device_raw_range(p, s, AK_RANGE, ao->type, &ao->raw_min,
	    &ao->raw_max) == 0;
	if (HAVE(s, AK_SAFE) && range_ok)
		device_ao_safe(p, s, ao, map_ok);
}

static void
device_ai_resolve(struct device_parse *p, int i)
{
	struct device		*d = p->d;
	struct device_ai	*ai = &d->ai[i];
	struct device_sect	*s = &p->ai[i];
	double			 kpa[2] = { 0, KPA_MAX }, raw[2];

	ai->reg.space = DEVICE_INPUT;
	ai->reg.addr = -1;
	device_missing(p, s, device_keys_ai);
	if (HAVE(s, IK_REG))
		device_v_addr(d, device_at(p, s, IK_REG), "register",
		    s->val[IK_REG], INPUT_HOLDING, DEVICE_INPUT, &ai->reg);
	if (device_type_words(p, s, IK_TYPE, IK_WORDS, &ai->type,
	    &ai->words) == -1)
		return;
	raw[0] = device_type_min(ai->type);
	raw[1] = device_type_max(ai->type);
	if (HAVE(s, IK_MAP))
		device_v_map(device_at(p, s, IK_MAP), "map", s->val[IK_MAP], raw,
		    kpa, "raw", "kPa", ai->raw, ai->kpa);
	device_raw_range(p, s, IK_RANGE, ai->type, &ai->raw_min,
	    &ai->raw_max);
}

/* bit: required for a register's bit, refused for a coil or input. */
static void
device_dio_bit(struct device_parse *p, struct device_sect *s,
    struct device_dio *x, int of_register, const char *kind)
{
	if (!of_register) {
		if (HAVE(s, XK_BIT))
			inifile_err(device_at(p, s, XK_BIT), "bit", "not used "
			    "with kind = %s (only holding-bit and input-bit "
			    "read one bit of a register)", kind);
		return;
	}
	if (!HAVE(s, XK_BIT))
		inifile_err(device_at(p, s, -1), "bit", "missing (kind = %s "
		    "reads one bit of a register: expected 0 to 15)", kind);
	else
		inifile_int(device_at(p, s, XK_BIT), "bit", s->val[XK_BIT], 0,
		    15, &x->bit);
}

/* [di] (is_do 0) or [do] (is_do 1). */
static void
device_dio_resolve(struct device_parse *p, struct device_sect *s,
    struct device_dio *x, int is_do)
{
	const char *const	*kinds = is_do ? device_do_kinds :
				    device_di_kinds;
	const enum device_space	*spaces = is_do ? device_do_spaces :
				    device_di_spaces;
	enum device_space	 sp;
	unsigned		 rb;
	int			 kind, role, lo = is_do ? 4 : 1;

	x->bit = -1;
	x->reg.addr = x->readback.addr = -1;
	device_missing(p, s, is_do ? device_keys_do : device_keys_di);
	if (HAVE(s, XK_ROLE) && device_v_choice(device_at(p, s, XK_ROLE),
	    "role", s->val[XK_ROLE], device_role_names, &role) == 0) {
		if (role < lo || role > lo + 2 - is_do)
			inifile_err(device_at(p, s, XK_ROLE), "role", "%s is "
			    "not a role of a [%s] (expected %s)",
			    device_role_names[role], is_do ? "do" : "di", (is_do ? device_keys_do :
			    device_keys_di)[XK_ROLE].expect);
		else
			x->role = (enum device_role)role;
	}
	if (!HAVE(s, XK_KIND) || device_v_choice(device_at(p, s, XK_KIND),
	    "kind", s->val[XK_KIND], kinds, &kind) == -1)
		return;		/* no table to read the register in */
	sp = spaces[kind];
	x->reg.space = x->readback.space = sp;
	if (HAVE(s, XK_REG))
		device_v_addr(p->d, device_at(p, s, XK_REG), "register",
		    s->val[XK_REG], DEVICE_SPACE(sp), sp, &x->reg);
	device_dio_bit(p, s, x, strchr(kinds[kind], '-') != NULL, kinds[kind]);
	if (is_do && HAVE(s, XK_READBACK)) {
		rb = sp == DEVICE_COIL ? DEVICE_SPACE(DEVICE_COIL) |
		    DEVICE_SPACE(DEVICE_DISCRETE) : INPUT_HOLDING;
		device_v_addr(p->d, device_at(p, s, XK_READBACK), "readback",
		    s->val[XK_READBACK], rb, sp, &x->readback);
	} else if (is_do)
		x->readback = x->reg;
	if (is_do && x->role == DEVICE_ROLE_RELAY_HEARTBEAT) {
		if (HAVE(s, XK_ACTIVE))
			inifile_err(device_at(p, s, XK_ACTIVE), "active", "not "
			    "used with role = relay_heartbeat (the daemon "
			    "toggles it every tick)");
		return;
	}
	if (is_do && !HAVE(s, XK_ACTIVE) && x->role != DEVICE_ROLE_NONE)
		inifile_err(device_at(p, s, -1), "active", "missing (expected "
		    "the level, 0 or 1, at which the valve vents)");
	else if (HAVE(s, XK_ACTIVE))
		inifile_int(device_at(p, s, XK_ACTIVE), "active",
		    s->val[XK_ACTIVE], 0, 1, &x->active);
}

/* One [di] or [do] per role: two e-stop inputs would need a rule. */
static void
device_roles_once(struct device_parse *p)
{
	struct device		*d = p->d;
	struct device_dio	*all[DEVICE_MAX_DI + DEVICE_MAX_DO];
	struct device_sect	*sect[DEVICE_MAX_DI + DEVICE_MAX_DO];
	int			 n = 0, i, j;

	for (i = 0; i < d->ndi; i++) {
		all[n] = &d->di[i];
		sect[n++] = &p->di[i];
	}
	for (i = 0; i < d->ndo; i++) {
		all[n] = &d->dout[i];
		sect[n++] = &p->dout[i];
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (all[i]->role != DEVICE_ROLE_NONE &&
			    all[i]->role == all[j]->role) {
				inifile_err(device_at(p, sect[i], XK_ROLE),
				    "role", "%s is already the role of [%s] "
				    "(line %d; expected one of each role)",
				    device_role_name(all[i]->role),
				    sect[j]->title, sect[j]->line);
				break;
			}
}

void
device_chan_resolve(struct device_parse *p)
{
	struct device	*d = p->d;
	int		 i;

	for (i = 0; i < d->nao; i++)
		device_ao_resolve(p, i);
	for (i = 0; i < d->nai; i++)
		device_ai_resolve(p, i);
	for (i = 0; i < d->ndi; i++)
		device_dio_resolve(p, &p->di[i], &d->di[i], 0);
	for (i = 0; i < d->ndo; i++)
		device_dio_resolve(p, &p->dout[i], &d->dout[i], 1);
	device_roles_once(p);
	if (d->nao + d->nai + d->ndi + d->ndo == 0)
		inifile_err_at(p->errs, d->path, 1, NULL, NULL, "no channel "
		    "(expected at least one [ao NAME], [ai NAME], [di NAME] or "
		    "[do NAME] section)");
	device_wd_resolve(p);
}

/* state, state_mask and the values of off, armed and tripped. */
static void
device_wd_state(struct device_parse *p, struct device_sect *s)
{
	static const char *const names[] = { "state_off", "state_armed",
	    "state_tripped" };
	struct device_watchdog	*w = &p->d->watchdog;
	int			*dst[] = { &w->state_off, &w->state_armed,
				    &w->state_tripped };
	uint16_t		 v;
	int			 k;

	if (!HAVE(s, WK_STATE)) {
		for (k = WK_MASK; k <= WK_TRIPPED; k++)
			if (HAVE(s, k))
				inifile_err(device_at(p, s, k),
				    device_keys_wd[k].name, "not used without "
				    "state (the register that says off, armed "
				    "or tripped)");
		return;
	}
	device_v_addr(p->d, device_at(p, s, WK_STATE), "state",
	    s->val[WK_STATE], INPUT_HOLDING, DEVICE_HOLDING, &w->state);
	if (HAVE(s, WK_MASK))
		device_v_u16(device_at(p, s, WK_MASK), "state_mask",
		    s->val[WK_MASK], &w->state_mask);
	for (k = 0; k < 3; k++) {
		if (!HAVE(s, WK_OFF + k)) {
			if (k > 0)
				inifile_err(device_at(p, s, -1), names[k],
				    "missing (state is given: expected %s)",
				    device_keys_wd[WK_OFF + k].expect);
			continue;
		}
		if (device_v_u16(device_at(p, s, WK_OFF + k), names[k],
		    s->val[WK_OFF + k], &v) == -1)
			continue;
		if (v & ~w->state_mask)
			inifile_err(device_at(p, s, WK_OFF + k), names[k],
			    "0x%04X has bits outside state_mask 0x%04X", v,
			    w->state_mask);
		else
			*dst[k] = v;
	}
	if (w->state_tripped >= 0 && (w->state_tripped == w->state_armed ||
	    w->state_tripped == w->state_off))
		inifile_err(device_at(p, s, WK_TRIPPED), "state_tripped", "the "
		    "same as state_%s (expected a value of its own)",
		    w->state_tripped == w->state_armed ? "armed" : "off");
	else if (w->state_off >= 0 && w->state_off == w->state_armed)
		inifile_err(device_at(p, s, WK_OFF), "state_off", "the same as "
		    "state_armed (expected a value of its own)");
}

static void
device_wd_timeout(struct device_parse *p, struct device_sect *s)
{
	struct device_watchdog	*w = &p->d->watchdog;
	double			 lo, hi;

	if (HAVE(s, WK_TIMEOUT))
		device_v_addr(p->d, device_at(p, s, WK_TIMEOUT), "timeout",
		    s->val[WK_TIMEOUT], HOLDING_ONLY, DEVICE_HOLDING,
		    &w->timeout);
	if (HAVE(s, WK_UNIT))
		inifile_int(device_at(p, s, WK_UNIT), "timeout_unit_ms",
		    s->val[WK_UNIT], 1, 60000, &w->timeout_unit_ms);
	w->timeout_min_ms = w->timeout_unit_ms;
	w->timeout_max_ms = 65535 * w->timeout_unit_ms;
	if (!HAVE(s, WK_RANGE) || device_v_range(device_at(p, s, WK_RANGE),
	    "timeout_range_ms", s->val[WK_RANGE], w->timeout_min_ms,
	    w->timeout_max_ms, 1, "ms", &lo, &hi) == -1)
		return;
	if (fmod(lo, w->timeout_unit_ms) != 0 || fmod(hi,
	    w->timeout_unit_ms) != 0)
		inifile_err(device_at(p, s, WK_RANGE), "timeout_range_ms", "not "
		    "in steps of timeout_unit_ms (%d ms)", w->timeout_unit_ms);
	else {
		w->timeout_min_ms = (int)lo;
		w->timeout_max_ms = (int)hi;
	}
}

/* tripped_answers = normal, or the exception code of a tripped device. */
static void
device_wd_answers(struct device_parse *p, struct device_sect *s)
{
	const char	*v = s->val[WK_ANSWERS];
	long		 n;

	if (strcmp(v, "normal") == 0)
		p->d->watchdog.tripped_exception = 0;
	else if (parse_int(v, 1, 255, &n) == 0)
		p->d->watchdog.tripped_exception = (int)n;
	else
		inifile_err(device_at(p, s, WK_ANSWERS), "tripped_answers", "not "
		    "valid (expected normal, or the Modbus exception code a "
		    "tripped device answers every request with, 1 to 255, such "
		    "as 4)");
}

static void
device_wd_modbus(struct device_parse *p, struct device_sect *s)
{
	static const char *const fed[] = { "writes", "any", NULL };
	static const char *const trip[] = { "hold", "zero", "safe", NULL };
	static const int	 need[] = { WK_FED_BY, WK_ON_TRIP, WK_TIMEOUT,
				    WK_FEED };
	struct device		*d = p->d;
	struct device_watchdog	*w = &d->watchdog;
	size_t			 i;
	int			 v;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!HAVE(s, need[i]))
			inifile_err(device_at(p, s, -1),
			    device_keys_wd[need[i]].name, "missing (kind = "
			    "modbus needs it: expected %s)",
			    device_keys_wd[need[i]].expect);
	if (HAVE(s, WK_FED_BY) && device_v_choice(device_at(p, s, WK_FED_BY),
	    "fed_by", s->val[WK_FED_BY], fed, &v) == 0)
		w->fed_by_writes = v == 0;
	if (HAVE(s, WK_ON_TRIP) && device_v_choice(device_at(p, s,
	    WK_ON_TRIP), "on_trip", s->val[WK_ON_TRIP], trip, &v) == 0)
		w->on_trip = (enum device_on_trip)v;
	device_wd_timeout(p, s);
	if (HAVE(s, WK_FEED))
		device_v_addr(d, device_at(p, s, WK_FEED), "feed",
		    s->val[WK_FEED], HOLDING_ONLY, DEVICE_HOLDING, &w->feed);
	device_wd_state(p, s);
	if (HAVE(s, WK_ANSWERS))
		device_wd_answers(p, s);
	if (HAVE(s, WK_CONFIGURE))
		device_v_writes(d, device_at(p, s, WK_CONFIGURE), "configure",
		    s->val[WK_CONFIGURE], HOLDING_ONLY, DEVICE_HOLDING,
		    w->configure, &w->nconfigure);
	if (HAVE(s, WK_RESET))
		device_v_writes(d, device_at(p, s, WK_RESET), "reset",
		    s->val[WK_RESET], HOLDING_ONLY, DEVICE_HOLDING, w->reset,
		    &w->nreset);
}

void
device_wd_resolve(struct device_parse *p)
{
	static const char *const kinds[] = { "none", "modbus", NULL };
	struct device		*d = p->d;
	struct device_watchdog	*w = &d->watchdog;
	struct device_sect	*s = &p->wd;
	int			 k, v;

	w->timeout.addr = w->feed.addr = w->state.addr = -1;
	w->timeout.space = w->feed.space = w->state.space = DEVICE_HOLDING;
	w->timeout_unit_ms = 1;
	w->state_mask = 0xffff;
	w->state_off = w->state_armed = w->state_tripped = -1;
	if (s->line == 0) {
		inifile_err_at(p->errs, d->path, 1, NULL, NULL, "no [watchdog] "
		    "section (expected kind = modbus with its registers, or "
		    "kind = none for a device without a watchdog)");
		return;
	}
	w->line = s->line;
	device_missing(p, s, device_keys_wd);
	if (!HAVE(s, WK_KIND) || device_v_choice(device_at(p, s, WK_KIND),
	    "kind", s->val[WK_KIND], kinds, &v) == -1)
		return;
	w->kind = (enum device_wd_kind)v;
	if (w->kind == DEVICE_WD_MODBUS) {
		device_wd_modbus(p, s);
		return;
	}
	for (k = WK_KIND + 1; device_keys_wd[k].name != NULL; k++)
		if (HAVE(s, k))
			inifile_err(device_at(p, s, k), device_keys_wd[k].name,
			    "not used with kind = none");
}

/* What one key makes the daemon write: addresses addr..addr+n-1 of a
 * table, or one bit of them. */
struct device_span {
	struct device_reg	 reg;
	int			 n;
	int			 bit;
	const struct device_sect *s;
	int			 key;
	const char		*keyname;
};

static void
device_span_add(struct device_span *set, int *n, struct device_reg reg,
    int regs, int bit, const struct device_sect *s, int key,
    const char *keyname)
{
	if (reg.addr < 0)
		return;
	set[*n].reg = reg;
	set[*n].n = regs;
	set[*n].bit = bit;
	set[*n].s = s;
	set[*n].key = key;
	set[*n].keyname = keyname;
	(*n)++;
}

/* Two keys that write one address (or one bit) fight over it. */
void
device_overlaps(struct device_parse *p)
{
	struct device		*d = p->d;
	struct device_span	 set[DEVICE_MAX_AO + DEVICE_MAX_DO + 2], *a, *b;
	int			 n = 0, i, j;

	for (i = 0; i < d->nao; i++)
		device_span_add(set, &n, d->ao[i].reg,
		    device_type_regs(d->ao[i].type), -1, &p->ao[i], AK_REG,
		    "register");
	for (i = 0; i < d->ndo; i++)
		device_span_add(set, &n, d->dout[i].reg, 1, d->dout[i].bit,
		    &p->dout[i], XK_REG, "register");
	device_span_add(set, &n, d->watchdog.timeout, 1, -1, &p->wd,
	    WK_TIMEOUT, "timeout");
	device_span_add(set, &n, d->watchdog.feed, 1, -1, &p->wd, WK_FEED,
	    "feed");
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++) {
			a = &set[i];
			b = &set[j];
			if (a->reg.space != b->reg.space ||
			    a->reg.addr >= b->reg.addr + b->n ||
			    b->reg.addr >= a->reg.addr + a->n ||
			    (a->bit >= 0 && b->bit >= 0 && a->bit != b->bit))
				continue;
			inifile_err(device_at(p, a->s, a->key), a->keyname, "%s "
			    "%d (0x%04X) is also written by [%s] %s (line %d)",
			    device_space_name(a->reg.space), a->reg.addr,
			    (unsigned)a->reg.addr, b->s->title, b->keyname,
			    b->s->kline[b->key]);
			break;
		}
}
