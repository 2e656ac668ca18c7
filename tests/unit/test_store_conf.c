/*
 * test_store_conf.c: the store keys of the table file
 * (daemon/core/store-conf.c): URLs taken and refused with their reason,
 * a password never shown, the keys through the table's parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inifile.h"
#include "store-conf.h"
#include "table.h"

static void
test_urls_taken(void **state)
{
	static const char *const good[] = {
		"postgresql://massaged@db.spa.example:5432/spa",
		"postgres://db/spa",
		"postgresql://",
		"postgresql:///spa?host=/run/postgresql",
		"postgresql://t1@[::1]:5432/spa?sslmode=verify-full&"
		    "sslrootcert=/etc/massaged/ca.pem",
		"postgresql://t1@h1:5432,h2:5433/spa",
		"postgresql://t1@%2Frun%2Fpostgresql/spa",
		/* docs/store.md, "TLS": a CA, a client certificate */
		"postgresql://table1@db.spa.example/spa?sslmode=verify-full&"
		    "sslrootcert=/etc/massaged/store-ca.pem",
		"postgresql://table1@db.spa.example/spa?sslmode=verify-full&"
		    "sslrootcert=/etc/massaged/store-ca.pem&"
		    "sslcert=/etc/massaged/table1.crt&"
		    "sslkey=/etc/massaged/table1.key",
		"postgresql://t1@db/spa?passwords=x&ssl%2=y&%70%61ss=z",
		"postgresql://t1@db/spa?a_key_that_is_longer_than_32_bytes"
		    "_password=x",
		NULL
	};
	char	 err[256];
	int	 i;

	for (i = 0; good[i] != NULL; i++) {
		err[0] = '\0';
		if (store_url_check(good[i], err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", good[i], err);
	}
}

static void
test_urls_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "mysql://t1@db/spa", "not a PostgreSQL URL" },
		{ "db.spa.example", "not a PostgreSQL URL" },
		{ "", "not a PostgreSQL URL" },
		{ "postgresql://t1@db:0/spa", "the port \"0\"" },
		{ "postgresql://t1@db:65536/spa", "the port \"65536\"" },
		{ "postgresql://t1@db:54x/spa", "the port \"54x\"" },
		{ "postgresql://t1@[::1]:99999/spa", "the port \"99999\"" },
		{ "postgresql://t1:secret@db/spa", "has a password" },
		{ "postgresql://t1:@db/spa", "has a password" },
		{ "postgresql://t1@db/spa?password=secret", "has a password" },
		{ "postgresql://t1@db/spa?sslmode=require&password=x",
		    "has a password" },
		{ "postgresql://t1@db/spa?pass%77ord=secret",
		    "has a password" },
		{ "postgresql://t1@db/spa?%70%61%73%73%77%6F%72%64=secret",
		    "has a password" },
		{ "postgresql://t1@db/spa?sslmode=verify-full&"
		    "sslpassword=secret", "passphrase (sslpassword)" },
		{ "postgresql://t1@db/spa?ssl%70assword=secret",
		    "passphrase (sslpassword)" },
		{ "postgresql://t1@db/spa?sslmode", "not key=value" },
		{ "postgresql://t1@db/spa?=x", "not key=value" },
		{ "postgresql://t1@db/spa?a=1&&b=2", "not key=value" },
		{ "postgresql://t1 @db/spa", "has a space" },
		{ "postgresql://t1@db/sp\x7f", "printable ASCII" },
		{ "postgresql://t1@db/sp\xc3\xa4", "printable ASCII" },
		{ NULL, NULL }
	};
	char	 err[256];
	int	 i;

	for (i = 0; bad[i][0] != NULL; i++) {
		err[0] = '\0';
		if (store_url_check(bad[i][0], err, sizeof(err)) != -1)
			fail_msg("%s taken", bad[i][0]);
		if (strstr(err, bad[i][1]) == NULL)
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i][0],
			    err, bad[i][1]);
		/* the reason never repeats a password */
		assert_null(strstr(err, "secret"));
	}
}

static void
test_url_too_long(void **state)
{
	char	 url[STORE_URL_MAX + 16], err[256];

	memset(url, 'a', sizeof(url));
	memcpy(url, "postgresql://", 13);
	url[sizeof(url) - 1] = '\0';
	assert_int_equal(store_url_check(url, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
}

static void
test_redact(void **state)
{
	char	 out[256];

	store_url_redact("postgresql://t1:secret@db:5432/spa?x=1", out,
	    sizeof(out));
	assert_string_equal(out, "postgresql://t1:***@db:5432/spa?x=1");
	store_url_redact("postgresql://t1@db/spa", out, sizeof(out));
	assert_string_equal(out, "postgresql://t1@db/spa");
	store_url_redact("postgres://db/spa?host=a:b@c", out, sizeof(out));
	assert_string_equal(out, "postgres://db/spa?host=a:b@c");
	store_url_redact("postgresql://t1:@db", out, sizeof(out));
	assert_string_equal(out, "postgresql://t1:***@db");
}

static void
test_table_keys(void **state)
{
	struct table		*t = calloc(1, sizeof(*t));
	struct inifile_errors	 errs = { .quiet = 1 };

	assert_non_null(t);
	assert_int_equal(table_override(t, "store=postgresql://t1@db/spa",
	    &errs), 0);
	assert_string_equal(t->store, "postgresql://t1@db/spa");
	assert_int_equal(t->store_line, 0);
	assert_int_equal(table_override(t, "store_password_file=/etc/m/pw",
	    &errs), 0);
	assert_string_equal(t->store_password_file, "/etc/m/pw");
	assert_int_equal(table_override(t, "store=postgresql://t1:pw@db/spa",
	    &errs), 1);
	assert_non_null(strstr(errs.text, "command line:0: [daemon] store: "
	    "has a password"));
	/* a refused URL leaves the one before */
	assert_string_equal(t->store, "postgresql://t1@db/spa");
	inifile_errors_free(&errs);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls_taken),
		cmocka_unit_test(test_urls_refused),
		cmocka_unit_test(test_url_too_long),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_table_keys),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
