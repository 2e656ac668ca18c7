/*
 * test_regmap.c: the register map's code form (include/massaged/regmap.h):
 * the kPa encoding and the one table of fault and status-bit names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "massaged/regmap.h"

static void
test_register_encoding(void **state)
{
	/* 0.1 kPa units, rounded down so the wire never exceeds a limit */
	assert_int_equal(regmap_kpa_to_reg(25.0), 250);
	assert_int_equal(regmap_kpa_to_reg(20.06), 200);
	assert_int_equal(regmap_kpa_to_reg(20.09999), 200);
	assert_int_equal(regmap_kpa_to_reg(0.05), 0);
	assert_int_equal(regmap_kpa_to_reg(-3), 0);
	assert_int_equal(regmap_kpa_to_reg(0.0 / 0.0), 0);
	assert_int_equal(regmap_kpa_to_reg(1e9), 65535);
	assert_int_equal(regmap_kpa_to_reg(6553.5), 65535);
	/* 0.3 * 10 = 2.9999... */
	assert_int_equal(regmap_kpa_to_reg(0.3), 3);
	assert_true(regmap_reg_to_kpa(250) == 25.0);
	assert_true(regmap_reg_to_kpa(0) == 0);
	for (int r = 0; r < 65535; r += 7)
		assert_int_equal(regmap_kpa_to_reg(regmap_reg_to_kpa(r)), r);
}

static void
test_fault_names(void **state)
{
	assert_string_equal(regmap_fault_name(REGMAP_FAULT_NONE), "none");
	assert_string_equal(regmap_fault_name(REGMAP_FAULT_WATCHDOG),
	    "watchdog");
	assert_string_equal(regmap_fault_name(REGMAP_FAULT_OVERPRESSURE),
	    "overpressure");
	assert_string_equal(regmap_fault_name(REGMAP_FAULT_ESTOP), "estop");
	assert_string_equal(regmap_fault_name(REGMAP_FAULT_SENSOR), "sensor");
	assert_string_equal(regmap_fault_name(5), "unknown");
	assert_string_equal(regmap_fault_text(REGMAP_FAULT_OVERPRESSURE),
	    "over-pressure");
	assert_string_equal(regmap_fault_text(REGMAP_FAULT_ESTOP),
	    "e-stop circuit");
	assert_string_equal(regmap_fault_text(REGMAP_FAULT_SENSOR),
	    "sensor fault");
	assert_string_equal(regmap_fault_text(65535), "unknown");
}

static void
test_status_names(void **state)
{
	static const struct {
		unsigned	 bit;
		const char	*name;
	} want[] = {
		{ REGMAP_STATUS_READY,		"ready" },
		{ REGMAP_STATUS_ACTIVE,		"active" },
		{ REGMAP_STATUS_FAULT,		"fault" },
		{ REGMAP_STATUS_ESTOP,		"estop" },
		{ REGMAP_STATUS_CLIENT_STOP,	"client_stop" },
		{ REGMAP_STATUS_WATCHDOG,	"watchdog" },
	};
	int	 i;

	assert_int_equal(sizeof(want) / sizeof(want[0]), REGMAP_STATUS_NBITS);
	for (i = 0; i < REGMAP_STATUS_NBITS; i++) {
		assert_int_equal(want[i].bit, 1u << i);
		assert_string_equal(regmap_status_name(i), want[i].name);
	}
	assert_null(regmap_status_name(REGMAP_STATUS_NBITS));
	assert_null(regmap_status_name(-1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_encoding),
		cmocka_unit_test(test_fault_names),
		cmocka_unit_test(test_status_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
