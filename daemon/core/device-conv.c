/*
 * device-conv.c: what a loaded description means. The kPa <-> raw
 * conversions of its channels (a line through the map's two points,
 * clamped to the raw range, 32-bit values in the description's word
 * order) and the derived facts: whether its watchdog can be trusted to
 * vent, and whether it may be driven only behind a relay interlock.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device.h"

int
device_type_regs(enum device_type t)
{
	return (t == DEVICE_U16 || t == DEVICE_S16 ? 1 : 2);
}

void
device_raw_encode(enum device_type t, enum device_words w, double raw,
    uint16_t regs[2])
{
	uint32_t	 u;
	float		 fl;

	switch (t) {
	case DEVICE_U16:
		regs[0] = (uint16_t)llround(raw);
		return;
	case DEVICE_S16:
		regs[0] = (uint16_t)(int16_t)llround(raw);
		return;
	case DEVICE_U32:
		u = (uint32_t)llround(raw);
		break;
	case DEVICE_S32:
		u = (uint32_t)(int32_t)llround(raw);
		break;
	default:
		fl = (float)raw;
		memcpy(&u, &fl, sizeof(u));
		break;
	}
	regs[w == DEVICE_WORDS_LITTLE ? 1 : 0] = (uint16_t)(u >> 16);
	regs[w == DEVICE_WORDS_LITTLE ? 0 : 1] = (uint16_t)(u & 0xffff);
}

double
device_raw_decode(enum device_type t, enum device_words w,
    const uint16_t regs[2])
{
	uint32_t	 u;
	float		 fl;

	if (t == DEVICE_U16)
		return (regs[0]);
	if (t == DEVICE_S16)
		return ((int16_t)regs[0]);
	if (w == DEVICE_WORDS_LITTLE)
		u = (uint32_t)regs[1] << 16 | regs[0];
	else
		u = (uint32_t)regs[0] << 16 | regs[1];
	if (t == DEVICE_U32)
		return (u);
	if (t == DEVICE_S32)
		return ((int32_t)u);
	memcpy(&fl, &u, sizeof(fl));
	return (fl);
}

double
device_ao_raw(const struct device_ao *ao, double kpa)
{
	double	 raw;

	if (!isfinite(kpa))
		return (ao->safe);
	raw = ao->raw[0] + (kpa - ao->kpa[0]) * ((ao->raw[1] - ao->raw[0]) /
	    (ao->kpa[1] - ao->kpa[0]));
	/* Rounded towards less pressure: the wire never carries more than
	 * was asked. */
	if (ao->type != DEVICE_F32)
		raw = (ao->raw[1] > ao->raw[0]) == (ao->kpa[1] > ao->kpa[0]) ?
		    floor(raw + 1e-9) : ceil(raw - 1e-9);
	if (!(raw >= ao->raw_min))	/* NaN too */
		raw = ao->raw_min;
	if (raw > ao->raw_max)
		raw = ao->raw_max;
	return (raw);
}

int
device_kpa_to_raw(const struct device_ao *ao, double kpa, uint16_t regs[2])
{
	device_raw_encode(ao->type, ao->words, device_ao_raw(ao, kpa), regs);
	return (device_type_regs(ao->type));
}

double
device_raw_to_kpa(const struct device_ai *ai, const uint16_t regs[2])
{
	double	 raw = device_raw_decode(ai->type, ai->words, regs);

	if (!isfinite(raw) || raw < ai->raw_min || raw > ai->raw_max)
		return (NAN);
	return (ai->kpa[0] + (raw - ai->raw[0]) * (ai->kpa[1] - ai->kpa[0]) /
	    (ai->raw[1] - ai->raw[0]));
}

/*
 * A trip that sets every output to raw 0 vents only if raw 0 is at most
 * 0 kPa on every analogue output and 0 is the venting level of every vent
 * valve output. 0, or -1 with why.
 */
static int
device_zero_vents(const struct device *d, char *why, size_t len)
{
	const struct device_ao	*ao;
	double			 kpa;
	int			 i;

	for (i = 0; i < d->nao; i++) {
		ao = &d->ao[i];
		kpa = ao->kpa[0] + (0 - ao->raw[0]) * (ao->kpa[1] -
		    ao->kpa[0]) / (ao->raw[1] - ao->raw[0]);
		if (kpa > 1e-9) {
			snprintf(why, len, "a trip sets the outputs to 0, and "
			    "0 on [ao %s] is %.3g kPa", ao->name, kpa);
			return (-1);
		}
	}
	for (i = 0; i < d->ndo; i++)
		if (d->dout[i].role == DEVICE_ROLE_VENT_VALVE &&
		    d->dout[i].active != 0) {
			snprintf(why, len, "a trip sets the outputs to 0, "
			    "which closes [do %s] (it vents at 1)",
			    d->dout[i].name);
			return (-1);
		}
	return (0);
}

void
device_check(struct device *d)
{
	const struct device_watchdog *w = &d->watchdog;

	d->why[0] = '\0';
	d->watchdog_trusted = 0;
	if (w->kind == DEVICE_WD_NONE)
		snprintf(d->why, sizeof(d->why), "it has no communication "
		    "watchdog (kind = none)");
	else if (!w->fed_by_writes)
		snprintf(d->why, sizeof(d->why), "any request feeds its "
		    "watchdog (fed_by = any): a read, or a browser on its web "
		    "page, keeps it from tripping");
	else if (w->on_trip == DEVICE_TRIP_HOLD)
		snprintf(d->why, sizeof(d->why), "its outputs keep their value "
		    "when the watchdog trips (on_trip = hold)");
	else if (w->on_trip == DEVICE_TRIP_ZERO &&
	    device_zero_vents(d, d->why, sizeof(d->why)) == -1)
		;	/* why is set */
	else
		d->watchdog_trusted = 1;
	d->needs_interlock = d->nao > 0 && !d->watchdog_trusted;
}
