/*
 * test_cause.c: the table of stop causes (daemon/core/cause.c): a row per
 * enum value, unique wire names, a category and catalogue keys that fit it.
 * That the catalogues hold the keys is tests/integration/test_causes.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cause.h"

static void
test_every_row(void **state)
{
	const struct cause	*c, *d;
	char			 want[64];
	int			 r, q;

	for (r = STOP_NONE + 1; r < STOP_NREASONS; r++) {
		c = cause_get(r);
		assert_non_null(c->key);
		assert_true(strlen(c->key) > 3);
		assert_true(c->category == 0 || c->category == 1);
		snprintf(want, sizeof(want), "reason.%s", c->key);
		assert_string_equal(c->label, want);
		/* The fault banner explains every category 0 stop. */
		if (c->category == 0) {
			snprintf(want, sizeof(want), "fault.%s", c->key);
			assert_string_equal(c->text, want);
			snprintf(want, sizeof(want), "fault.%s.do", c->key);
			assert_string_equal(c->advice, want);
		} else {
			assert_null(c->text);
			assert_null(c->advice);
			assert_false(c->latch);
		}
		for (q = STOP_NONE; q < r; q++) {
			d = cause_get(q);
			assert_string_not_equal(c->key, d->key);
		}
	}
}

static void
test_lookups(void **state)
{
	assert_string_equal(cause_name(STOP_NONE), "none");
	assert_int_equal(cause_category(STOP_NONE), -1);
	assert_string_equal(cause_name(STOP_ESTOP_CIRCUIT), "estop_circuit");
	assert_int_equal(cause_category(STOP_CLIENT_STOP), 0);
	assert_int_equal(cause_category(STOP_TIME_LIMIT), 1);
	assert_true(cause_latches(STOP_LINK_LOST));
	assert_false(cause_latches(STOP_SHUTDOWN));
	assert_false(cause_latches(STOP_RECORD_FAILED));
	/* Out of range reads STOP_NONE's row, not past the table. */
	assert_string_equal(cause_name(STOP_NREASONS), "none");
	assert_string_equal(cause_name((enum stop_reason)-1), "none");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row),
		cmocka_unit_test(test_lookups),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
