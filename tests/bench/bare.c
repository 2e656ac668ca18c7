/*
 * bare.c: the reference the daemon is measured against, a bare libmodbus
 * loop doing a tick's transactions back to back: one thread and one
 * connection per controller, each repeating FC16 (CONTROL, HEARTBEAT, the
 * setpoints) and FC04 (STATUS, FAULT_CODE, the pressures), as fast as the
 * simulator answers. CONTROL stays 0 so no controller is left enabled
 * with a heartbeat that stops (its watchdog would latch a fault). Register
 * map v2 as the daemon speaks it: the controller claimed first (with the
 * daemon's owner id, BENCH_OWNER, so neither refuses the other), OWNER in
 * every write and read.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

#include "bench.h"
#include "massaged/regmap.h"

#define BARE_TIMEOUT_MS		1000

struct bare_thread {
	pthread_t		 thread;
	pthread_barrier_t	*start;
	int			 port;
	int			 channels;
	double			 seconds;
	uint64_t		 ticks;
	double			 elapsed_s;
	int			 failed;
};

static void	*bare_main(void *);
static modbus_t	*bare_connect(int);

static modbus_t *
bare_connect(int port)
{
	modbus_t	*mb;
	char		 serv[16];

	snprintf(serv, sizeof(serv), "%d", port);
	if ((mb = modbus_new_tcp_pi("127.0.0.1", serv)) == NULL)
		return (NULL);
	modbus_set_slave(mb, 1);
	modbus_set_response_timeout(mb, 0, BARE_TIMEOUT_MS * 1000);
	if (modbus_connect(mb) == -1) {
		warnx_("bare loop: connect to port %d: %s", port,
		    modbus_strerror(errno));
		modbus_free(mb);
		return (NULL);
	}
	return (mb);
}

static void *
bare_main(void *arg)
{
	struct bare_thread	*b = arg;
	uint16_t		 regs[3 + 32], in[3 + 32];
	uint64_t		 t0, end, now;
	modbus_t		*mb;
	int			 n = 3 + b->channels, i;

	mb = bare_connect(b->port);
	if (mb != NULL && modbus_write_register(mb,
	    REGMAP_HR_OWNER(b->channels), BENCH_OWNER) != 1) {
		warnx_("bare loop: port %d: claim: %s", b->port,
		    modbus_strerror(errno));
		modbus_close(mb);
		modbus_free(mb);
		mb = NULL;
	}
	pthread_barrier_wait(b->start);
	if (mb == NULL) {
		b->failed = 1;
		return (NULL);
	}
	for (i = 0; i < n; i++)
		regs[i] = 0;
	regs[REGMAP_HR_OWNER(b->channels)] = BENCH_OWNER;
	t0 = clock_mono_ns();
	end = t0 + (uint64_t)(b->seconds * 1e9);
	do {
		regs[REGMAP_HR_HEARTBEAT]++;
		if (modbus_write_registers(mb, REGMAP_HR_CONTROL, n,
		    regs) != n ||
		    modbus_read_input_registers(mb, REGMAP_IR_STATUS, n,
		    in) != n) {
			warnx_("bare loop: port %d: %s", b->port,
			    modbus_strerror(errno));
			b->failed = 1;
			break;
		}
		b->ticks++;
	} while ((now = clock_mono_ns()) < end);
	b->elapsed_s = (clock_mono_ns() - t0) / 1e9;
	modbus_close(mb);
	modbus_free(mb);
	return (NULL);
}

/*
 * Runs the loop on n controllers at once for seconds; rate[i]: ticks per
 * second of controller i. 0, or -1 if any link failed.
 */
int
bare_run(const int *ports, int n, int channels, double seconds,
    double *rate)
{
	struct bare_thread	 b[BENCH_MAXCTL];
	pthread_barrier_t	 start;
	int			 i, rc = 0;

	if (n > BENCH_MAXCTL)
		return (-1);
	pthread_barrier_init(&start, NULL, n + 1);
	memset(b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		b[i].start = &start;
		b[i].port = ports[i];
		b[i].channels = channels;
		b[i].seconds = seconds;
		if (pthread_create(&b[i].thread, NULL, bare_main, &b[i]) != 0) {
			warnx_("pthread_create failed");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	for (i = 0; i < n; i++) {
		pthread_join(b[i].thread, NULL);
		if (b[i].failed || b[i].elapsed_s <= 0)
			rc = -1;
		else
			rate[i] = b[i].ticks / b[i].elapsed_s;
	}
	pthread_barrier_destroy(&start);
	return (rc);
}

/*
 * The round trip of one small transaction (FC04 of MAP_VERSION, read
 * only, so it leaves whatever else uses the controller alone), n times;
 * samples in seconds.
 */
int
bare_rtt(int port, int n, double *samples)
{
	modbus_t	*mb;
	uint16_t	 v;
	uint64_t	 t0;
	int		 i;

	if ((mb = bare_connect(port)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		t0 = clock_mono_ns();
		if (modbus_read_input_registers(mb, REGMAP_IR_MAP_VERSION, 1,
		    &v) != 1) {
			warnx_("round trip: port %d: %s", port,
			    modbus_strerror(errno));
			break;
		}
		samples[i] = (clock_mono_ns() - t0) / 1e9;
	}
	modbus_close(mb);
	modbus_free(mb);
	return (i == n ? 0 : -1);
}
