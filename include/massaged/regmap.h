/*
 * regmap.h: register map v2 (and v1), the wire contract between massaged and the
 * actuator controllers, in code.
 *
 * docs/register-map.md is the reference; this header is its code form and
 * the only place the addresses, bits, codes and units are spelled out.
 * The daemon's register map backend (daemon/engine/ctl-regmap.c, its only
 * file that includes it) and the simulator (sim/) both include it, so the
 * two sides cannot drift apart. It is an internal
 * header: it is not installed with the plugin SDK.
 *
 * Addresses are 0-based PDU addresses. Pressures travel as unsigned 16-bit
 * values in tenths of a kilopascal (250 means 25.0 kPa).
 */
#ifndef MASSAGED_REGMAP_H
#define MASSAGED_REGMAP_H

#include <math.h>
#include <stdint.h>

#define REGMAP_VERSION			2	/* MAP_VERSION */
#define REGMAP_VERSION_MIN		1	/* still driven, with a warning */

/* Holding registers: what the daemon writes. */
#define REGMAP_HR_CONTROL		0
#define REGMAP_HR_HEARTBEAT		1
#define REGMAP_HR_SETPOINT		2	/* SETPOINT[i] at 2 + i */
#define REGMAP_HR_WATCHDOG_MS		100
#define REGMAP_HR_COUNT			101	/* holding block */

/* Input registers: what the daemon reads. */
#define REGMAP_IR_STATUS		0
#define REGMAP_IR_FAULT_CODE		1
#define REGMAP_IR_PRESSURE		2	/* PRESSURE[i] at 2 + i */
#define REGMAP_IR_MAP_VERSION		100
#define REGMAP_IR_CHANNELS		101
#define REGMAP_IR_MAX_PRESSURE		102
#define REGMAP_IR_COUNT			103	/* input block */

#define REGMAP_CHANNELS_MAX		32

/*
 * Version 2: the owner claim. OWNER follows the last SETPOINT (holding) and
 * the last PRESSURE (input), so the tick's write and read carry it. A
 * master claims a controller by writing its owner id (1..65535) to the
 * holding OWNER; while claimed, writes of CONTROL, HEARTBEAT or SETPOINTs
 * are served only in a frame that also writes the owner's id to OWNER,
 * else refused with REGMAP_EXC_CLAIMED. FC06 CONTROL = 0 (a vent, also as
 * a broadcast) is always obeyed. The claim lapses when the watchdog trips
 * and at power-up; the input OWNER reports the current owner, 0 if none.
 */
#define REGMAP_HR_OWNER(channels)	(REGMAP_HR_SETPOINT + (channels))
#define REGMAP_IR_OWNER(channels)	(REGMAP_IR_PRESSURE + (channels))
#define REGMAP_EXC_CLAIMED		6	/* SERVER DEVICE BUSY */
#define REGMAP_BROADCAST		0	/* RTU unit id of a broadcast */

/* CONTROL bits. */
#define REGMAP_CONTROL_ENABLE		0x0001
#define REGMAP_CONTROL_FAULT_RESET	0x0002

/* STATUS bits: FAULT a fault is latched, ESTOP the e-stop circuit is open,
 * CLIENT_STOP the client's switch is pressed, WATCHDOG the latched fault is
 * a watchdog trip. */
#define REGMAP_STATUS_READY		0x0001
#define REGMAP_STATUS_ACTIVE		0x0002
#define REGMAP_STATUS_FAULT		0x0004
#define REGMAP_STATUS_ESTOP		0x0008
#define REGMAP_STATUS_CLIENT_STOP	0x0010
#define REGMAP_STATUS_WATCHDOG		0x0020
#define REGMAP_STATUS_NBITS		6

/* FAULT_CODE values. */
#define REGMAP_FAULT_NONE		0
#define REGMAP_FAULT_WATCHDOG		1
#define REGMAP_FAULT_OVERPRESSURE	2
#define REGMAP_FAULT_ESTOP		3
#define REGMAP_FAULT_SENSOR		4

/* kPa to register units, rounded down (the wire never carries more than was
 * allowed) and clamped to [0, 6553.5] kPa; NaN gives 0. */
static inline uint16_t
regmap_kpa_to_reg(double kpa)
{
	if (!(kpa > 0))
		return (0);
	if (kpa >= 6553.5)
		return (65535);
	return ((uint16_t)floor(kpa * 10.0 + 1e-9));
}

static inline double
regmap_reg_to_kpa(uint16_t reg)
{
	return (reg / 10.0);
}

/*
 * The one table of fault codes: a short name for machines (the status
 * document's fault_name, the simulator's event log) and a text for people
 * (stop messages).
 */
static inline const char *
regmap_fault_name(unsigned code)
{
	switch (code) {
	case REGMAP_FAULT_NONE:		return ("none");
	case REGMAP_FAULT_WATCHDOG:	return ("watchdog");
	case REGMAP_FAULT_OVERPRESSURE:	return ("overpressure");
	case REGMAP_FAULT_ESTOP:	return ("estop");
	case REGMAP_FAULT_SENSOR:	return ("sensor");
	default:			return ("unknown");
	}
}

static inline const char *
regmap_fault_text(unsigned code)
{
	switch (code) {
	case REGMAP_FAULT_NONE:		return ("none");
	case REGMAP_FAULT_WATCHDOG:	return ("watchdog");
	case REGMAP_FAULT_OVERPRESSURE:	return ("over-pressure");
	case REGMAP_FAULT_ESTOP:	return ("e-stop circuit");
	case REGMAP_FAULT_SENSOR:	return ("sensor fault");
	default:			return ("unknown");
	}
}

/* The name of STATUS bit number i (0 to REGMAP_STATUS_NBITS - 1), NULL past
 * the last: the keys of the status document's controller status. */
static inline const char *
regmap_status_name(int bit)
{
	switch (bit) {
	case 0:		return ("ready");
	case 1:		return ("active");
	case 2:		return ("fault");
	case 3:		return ("estop");
	case 4:		return ("client_stop");
	case 5:		return ("watchdog");
	default:	return (NULL);
	}
}

#endif
