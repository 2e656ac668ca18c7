/*
 * test_record.c: the parts of daemon/engine/record-query.c an export
 * depends on that need no disk: the dates a query takes and the cursors it
 * hands out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"

static void
test_time_parse(void **state)
{
	char	 out[RECORD_TIME_LEN];

	assert_int_equal(record_time_parse("2024-05-01", 0, out), 0);
	assert_string_equal(out, "2024-05-01T00:00:00.000Z");
	/* until a date: the whole of that day */
	assert_int_equal(record_time_parse("2024-05-01", 1, out), 0);
	assert_string_equal(out, "2024-05-02T00:00:00.000Z");
	assert_int_equal(record_time_parse("2024-12-31", 1, out), 0);
	assert_string_equal(out, "2025-01-01T00:00:00.000Z");
	assert_int_equal(record_time_parse("2024-05-01T12:34", 1, out), 0);
	assert_string_equal(out, "2024-05-01T12:34:00.000Z");
	assert_int_equal(record_time_parse("2024-05-01T12:34:56Z", 0, out), 0);
	assert_string_equal(out, "2024-05-01T12:34:56.000Z");
	assert_int_equal(record_time_parse("2024-05-01 12:34:56.789", 0, out),
	    0);
	assert_string_equal(out, "2024-05-01T12:34:56.789Z");
	assert_int_equal(record_time_parse("2024-02-29", 0, out), 0);

	assert_int_equal(record_time_parse("", 0, out), -1);
	assert_int_equal(record_time_parse("yesterday", 0, out), -1);
	assert_int_equal(record_time_parse("2023-02-29", 0, out), -1);
	assert_int_equal(record_time_parse("2024-04-31", 0, out), -1);
	assert_int_equal(record_time_parse("2024-13-01", 0, out), -1);
	assert_int_equal(record_time_parse("2024-5-1", 0, out), -1);
	assert_int_equal(record_time_parse(" 2024-05-01", 0, out), -1);
	assert_int_equal(record_time_parse("2024-05-01T25:00", 0, out), -1);
	assert_int_equal(record_time_parse("2024-05-01T12:00:60Z", 0, out),
	    -1);
	assert_int_equal(record_time_parse("2024-05-01T12:00:00.5Z", 0, out),
	    -1);
	assert_int_equal(record_time_parse("2024-05-01T12:00:00+02:00", 0,
	    out), -1);
	assert_int_equal(record_time_parse("2024-05-01x", 0, out), -1);
	assert_int_equal(record_time_parse("1969-12-31", 0, out), -1);
}

static void
test_cursor_parse(void **state)
{
	struct record_range	 rg;

	memset(&rg, 0, sizeof(rg));
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z,7,1",
	    &rg), 0);
	assert_true(rg.has_cursor);
	assert_string_equal(rg.cursor_key, "2024-05-01T12:00:00.000Z");
	assert_int_equal(rg.cursor_id, 7);
	assert_int_equal(rg.cursor_n, 1);
	/* a refused start has no id */
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z,-1,3",
	    &rg), 0);
	assert_int_equal(rg.cursor_id, -1);
	assert_int_equal(rg.cursor_n, 3);

	assert_int_equal(record_cursor_parse("", &rg), -1);
	assert_int_equal(record_cursor_parse("x", &rg), -1);
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z", &rg),
	    -1);
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00Z,7,1", &rg),
	    -1);
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z,7,0",
	    &rg), -1);
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z,-2,1",
	    &rg), -1);
	assert_int_equal(record_cursor_parse("2024-05-01T12:00:00.000Z,7,1x",
	    &rg), -1);
	assert_int_equal(record_cursor_parse("2024-05-31T12:00:00.000Z,a,1",
	    &rg), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_cursor_parse),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
