/*
 * pdu.c: the Modbus PDUs of the simulated devices (pers-wago.c,
 * pers-rs485.c): a request checked for its form in the order the Modbus
 * specification gives (function, then quantity and length; the address
 * and the value are the device's to check), and the normal replies. The
 * regmap personality leaves this to libmodbus (plant.c).
 */
#include <stdint.h>
#include <string.h>

#include "sim.h"

#define PDU_MAX_READ_BITS	2000
#define PDU_MAX_WRITE_BITS	1968

/*
 * Reads the request PDU (function code first, len bytes) into r. Returns
 * 0, or the exception to answer: 01 for a function the devices do not
 * have, 03 for a wrong quantity, byte count or length.
 */
int
pdu_parse(const uint8_t *pdu, int len, struct pdu_req *r)
{
	memset(r, 0, sizeof(*r));
	r->fc = pdu[0];
	switch (r->fc) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_READ_DISCRETE_INPUTS:
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
	case MODBUS_FC_WRITE_SINGLE_COIL:
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		break;
	default:
		return (MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
	}
	if (len < 5)
		return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
	r->addr = (pdu[1] << 8) | pdu[2];
	r->n = (pdu[3] << 8) | pdu[4];
	r->data = pdu + 3;
	switch (r->fc) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_READ_DISCRETE_INPUTS:
		return (len != 5 || r->n < 1 || r->n > PDU_MAX_READ_BITS ?
		    MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE : 0);
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
		return (len != 5 || r->n < 1 || r->n > MODBUS_MAX_READ_REGISTERS ?
		    MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE : 0);
	case MODBUS_FC_WRITE_SINGLE_COIL:
		r->write = 1;
		if (len != 5 || (r->n != 0xff00 && r->n != 0))
			return (MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
		r->n = 1;
		return (0);
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		r->write = 1;
		r->n = 1;
		return (len != 5 ? MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE : 0);
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
		r->write = 1;
		r->data = pdu + 6;
		return (len < 6 || r->n < 1 || r->n > PDU_MAX_WRITE_BITS ||
		    pdu[5] != (r->n + 7) / 8 || len != 6 + pdu[5] ?
		    MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE : 0);
	default:	/* MODBUS_FC_WRITE_MULTIPLE_REGISTERS */
		r->write = 1;
		r->data = pdu + 6;
		return (len < 6 || r->n < 1 || r->n > MODBUS_MAX_WRITE_REGISTERS ||
		    pdu[5] != 2 * r->n || len != 6 + 2 * r->n ?
		    MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE : 0);
	}
}

/* The i-th register value a write carries (FC6: its only one). */
uint16_t
pdu_reg(const struct pdu_req *r, int i)
{
	return ((uint16_t)((r->data[2 * i] << 8) | r->data[2 * i + 1]));
}

/* The i-th bit a coil write carries (FC5: 0xFF00 is 1). */
int
pdu_bit(const struct pdu_req *r, int i)
{
	if (r->fc == MODBUS_FC_WRITE_SINGLE_COIL)
		return (r->data[0] == 0xff);
	return ((r->data[i / 8] >> (i % 8)) & 1);
}

/* A read reply: function, byte count, n registers. Returns its length. */
int
pdu_regs(uint8_t *rsp, int fc, const uint16_t *v, int n)
{
	int	 i;

	rsp[0] = (uint8_t)fc;
	rsp[1] = (uint8_t)(2 * n);
	for (i = 0; i < n; i++) {
		rsp[2 + 2 * i] = v[i] >> 8;
		rsp[3 + 2 * i] = v[i] & 0xff;
	}
	return (2 + 2 * n);
}

/* A read reply of n bits (0 or 1 each), packed low bit first. */
int
pdu_bits(uint8_t *rsp, int fc, const uint8_t *bits, int n)
{
	int	 i, bytes = (n + 7) / 8;

	rsp[0] = (uint8_t)fc;
	rsp[1] = (uint8_t)bytes;
	memset(rsp + 2, 0, bytes);
	for (i = 0; i < n; i++) {
		if (bits[i])
			rsp[2 + i / 8] |= 1 << (i % 8);
	}
	return (2 + bytes);
}

/* A write reply: the request's first five bytes (function, address,
 * value or quantity). */
int
pdu_echo(uint8_t *rsp, const struct pdu_req *r)
{
	rsp[0] = (uint8_t)r->fc;
	rsp[1] = r->addr >> 8;
	rsp[2] = r->addr & 0xff;
	if (r->fc == MODBUS_FC_WRITE_SINGLE_COIL ||
	    r->fc == MODBUS_FC_WRITE_SINGLE_REGISTER) {
		rsp[3] = r->data[0];
		rsp[4] = r->data[1];
	} else {
		rsp[3] = r->n >> 8;
		rsp[4] = r->n & 0xff;
	}
	return (5);
}
