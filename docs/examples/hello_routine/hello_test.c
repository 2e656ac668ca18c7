/*
 * hello_test.c: unit-tests hello.so with the SDK's test harness
 * (massaged/routine-test.h), in this process: one zone, 6 kPa asked, the
 * peak must come close to 6 kPa and never exceed it.
 *
 *   make test            (or: ./hello_test path/to/hello.so)
 */
#include <err.h>
#include <stdio.h>

#include <massaged/routine-test.h>

int
main(int argc, char *argv[])
{
	struct massaged_test	 t;
	double			 peak = 0;

	if (massaged_test_open(&t, argc > 1 ? argv[1] : "./hello.so") == -1)
		errx(1, "%s", t.err);
	if (massaged_test_param(&t, "pressure_kpa", 6) == -1)
		errx(1, "pressure_kpa: %s", t.err);
	massaged_test_zone(&t, "gluteus_maximus_left", 20);
	if (massaged_test_create(&t, 20) == -1)
		errx(1, "create: %s", t.err);
	while (massaged_test_step(&t) == MASSAGED_STEP_RUNNING)
		if (t.out[0] > peak)
			peak = t.out[0];
	if (t.err[0] != '\0')
		errx(1, "step: %s", t.err);
	printf("hello: peak %.2f kPa after %lu ticks\n", peak, t.steps);
	massaged_test_close(&t);
	return (peak > 5.9 && peak <= 6 ? 0 : 1);
}
