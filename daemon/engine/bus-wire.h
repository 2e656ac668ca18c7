/*
 * bus-wire.h: one Modbus wire (bus-wire.c), for bus.c: its transactions,
 * its opening and its endpoint lock.
 */
#ifndef BUS_WIRE_H
#define BUS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "table.h"

struct bus_wire {
	modbus_t	*mb;		/* NULL while closed */
	int		 rtu;		/* else TCP */
	uint16_t	 tid;		/* TCP: the last transaction id */
};

/* The response timeout of c, and half of it between bytes. */
int		 bus_wire_timeouts(modbus_t *mb, const struct ctl_conf *c);
modbus_t	*bus_wire_open(const struct ctl_conf *c, char *why, size_t len);
/* The lock of unit on cc's wire in run_dir: 0 taken, 1 none can be made
 * (why), -1 another daemon holds it (why). */
int		 bus_wire_lock(const struct ctl_conf *cc, int unit,
		    const char *run_dir, int *fd, char *why, size_t len);
/* FC03 (input 0) or FC04 (input 1) of n registers at addr into v; n, or
 * -1 with errno. */
int		 bus_wire_read(struct bus_wire *w, int unit, int input,
		    int addr, int n, uint16_t *v);
/* FC06 for one register, FC16 for more; n, or -1 with errno. */
int		 bus_wire_write(struct bus_wire *w, int unit, int addr, int n,
		    const uint16_t *v);

/* FC01 (coils 1) or FC02 (discrete inputs) of n bits into v, a byte a
 * bit; n, or -1 with errno. */
int		 bus_wire_read_bits(struct bus_wire *w, int unit, int coils,
		    int addr, int n, uint8_t *v);
/* FC05 of one coil; 1, or -1 with errno. */
int		 bus_wire_write_bit(struct bus_wire *w, int unit, int addr,
		    int on);

#endif
