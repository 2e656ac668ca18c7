/*
 * test_inifile.c: the INI layer (daemon/core/inifile.c) on files nobody should
 * trust: FIFOs, devices, files others can write or own, files too large,
 * NUL bytes, invalid UTF-8, lines that are not INI; and the decimal-only
 * numbers of common/parse.c that every value goes through.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "files.h"
#include "inifile.h"

#define NOBODY_UID	65534

static char	 dir[256];
static char	 path[512];
static int	 nkv;
static char	 last_value[512];

static int
kv(struct inifile_file *f, const char *section, const char *key,
    const char *value)
{
	nkv++;
	snprintf(last_value, sizeof(last_value), "%s", value);
	(void)f;
	(void)section;
	(void)key;
	return (1);
}

static void
write_bytes(const char *p, const char *text, size_t len, mode_t mode)
{
	int	 fd;

	unlink(p);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(p, mode), 0);
}

/* Parses p; returns the error count, the text in *errs (free it). */
static int
parse(const char *p, struct inifile_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	errs->quiet = 1;
	nkv = 0;
	last_value[0] = '\0';
	return (inifile_parse(p, errs, NULL, kv, NULL));
}

/* The one error of parsing p is "p: what\n". */
static void
expect_one(const char *p, const char *what)
{
	struct inifile_errors	 errs;
	char			 want[2048];

	snprintf(want, sizeof(want), "%s: %s\n", p, what);
	parse(p, &errs);
	assert_int_equal(errs.count, 1);
	assert_non_null(errs.text);
	assert_string_equal(errs.text, want);
	assert_int_equal(nkv, 0);
	inifile_errors_free(&errs);
}

/* Parsing p finds no error and n values. */
static void
expect_ok(const char *p, int n)
{
	struct inifile_errors	 errs;

	assert_int_equal(parse(p, &errs), 0);
	assert_null(errs.text);
	assert_int_equal(nkv, n);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "a read blocked: the test would hang\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(p));
}

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_inifile.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return (-1);
	snprintf(path, sizeof(path), "%s/a.ini", dir);
	(void)state;
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	chmod(dir, 0700);
	return (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS));
}

/* --- what kind of file --------------------------------------------------- */

/* A FIFO nobody writes to, and /dev/zero behind a symlink: refused at once,
 * never read (the alarm turns a hang into a failure). */
static void
test_never_ending(void **state)
{
	char	 link[600];

	signal(SIGALRM, on_alarm);
	alarm(20);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_one(path, "refused: the file is not a regular file (it is a "
	    "FIFO)");
	snprintf(link, sizeof(link), "%s/zero.ini", dir);
	assert_int_equal(symlink("/dev/zero", link), 0);
	expect_one(link, "refused: the file is not a regular file (it is a "
	    "character device)");
	expect_one(dir, "refused: the file is not a regular file");
	alarm(0);
	(void)state;
}

static void
test_too_large(void **state)
{
	char	*big, want[128];
	size_t	 n = INIFILE_SIZE_MAX + 1;

	assert_non_null(big = malloc(n));
	memset(big, '\n', n);
	write_bytes(path, big, n, 0644);
	snprintf(want, sizeof(want), "refused: the file is too large (%zu "
	    "bytes, at most %d)", n, INIFILE_SIZE_MAX);
	expect_one(path, want);
	/* At the bound it is read. */
	write_bytes(path, big, n - 1, 0644);
	expect_ok(path, 0);
	free(big);
	(void)state;
}

/* --- who may write it ---------------------------------------------------- */

static void
test_trust(void **state)
{
	char	 want[1024];

	write_bytes(path, "[a]\nk = v\n", 10, 0666);
	snprintf(want, sizeof(want), "refused: the file is writable by its "
	    "group and others (mode 0666), who could change what the daemon "
	    "does (chmod go-w %s)", path);
	expect_one(path, want);
	assert_int_equal(chmod(path, 0620), 0);
	snprintf(want, sizeof(want), "refused: the file is writable by its "
	    "group (mode 0620), who could change what the daemon does (chmod "
	    "go-w %s)", path);
	expect_one(path, want);

	/* Readable by all is fine: a configuration is not a secret. */
	assert_int_equal(chmod(path, 0644), 0);
	expect_ok(path, 1);

	/* The directory it is in. */
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by its group and others (mode 0777), who could change what the "
	    "daemon does (chmod go-w %s)", dir, dir);
	expect_one(path, want);
	/* Sticky or not: someone else could still create files in it. */
	assert_int_equal(chmod(dir, 01777), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by its group and others (mode 1777), who could change what the "
	    "daemon does (chmod go-w %s)", dir, dir);
	expect_one(path, want);
	assert_int_equal(chmod(dir, 0700), 0);

	/* Another user's file (only root can arrange that). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, NOBODY_UID, (gid_t)-1), 0);
		snprintf(want, sizeof(want), "refused: the file is owned by "
		    "uid %d, not by root or the daemon's user (uid 0), who "
		    "could change what the daemon does (chown root %s)",
		    NOBODY_UID, path);
		expect_one(path, want);
		assert_int_equal(chown(path, 0, (gid_t)-1), 0);
	}
	(void)state;
}

/* A symlink in a safe directory to a file in an unsafe one: the directory
 * the file really is in is checked too. */
static void
test_symlink_out(void **state)
{
	char	 sub[600], real[700], want[2048];

	snprintf(sub, sizeof(sub), "%s/open", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chmod(sub, 0757), 0);
	snprintf(real, sizeof(real), "%s/real.ini", sub);
	write_bytes(real, "[a]\nk = v\n", 10, 0644);
	assert_int_equal(symlink(real, path), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by others (mode 0757), who could change what the daemon does "
	    "(chmod go-w %s)", sub, sub);
	expect_one(path, want);
	(void)state;
}

/* --- what is in it ------------------------------------------------------- */

static void
test_content(void **state)
{
	struct inifile_errors	 errs;
	char			 want[4096];
	static const char	 text[] =
	    "\xef\xbb\xbf[a]\n"				/* 1: BOM is fine */
	    "name = Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x92\x86\n" /* 2: fine */
	    "b = x\0y\n"				/* 3 */
	    "c = \xed\xa0\x80\n"			/* 4: a surrogate */
	    "d = \xf4\x90\x80\x80\n"			/* 5: above U+10FFFF */
	    "e = \xe2\x82\n"				/* 6: cut short */
	    "f = \xe0\x80\xaf\n"			/* 7: overlong */
	    "password: hunter2hunter2\n"		/* 8 */
	    "[b\n"					/* 9 */
	    "g = last\n";				/* 10: fine */

	write_bytes(path, text, sizeof(text) - 1, 0644);
	assert_int_equal(parse(path, &errs), 7);
	snprintf(want, sizeof(want),
	    "%1$s:3: [a] contains a NUL byte (at column 6)\n"
	    "%1$s:4: [a] not valid UTF-8 (at byte 5 of the line)\n"
	    "%1$s:5: [a] not valid UTF-8 (at byte 5 of the line)\n"
	    "%1$s:6: [a] not valid UTF-8 (at byte 5 of the line)\n"
	    "%1$s:7: [a] not valid UTF-8 (at byte 5 of the line)\n"
	    "%1$s:8: [a] syntax error: not a 'key = value' line or a "
	    "'[section]' header\n"
	    "%1$s:9: [a] syntax error: section header without ']'\n", path);
	assert_string_equal(errs.text, want);
	assert_null(strstr(errs.text, "hunter2"));
	/* The good lines were all read: the NUL swallowed nothing. */
	assert_int_equal(nkv, 2);
	assert_string_equal(last_value, "last");
	inifile_errors_free(&errs);

	/* A NUL in the last line, with no newline after it. */
	write_bytes(path, "[a]\nk = v\0", 10, 0644);
	assert_int_equal(parse(path, &errs), 1);
	snprintf(want, sizeof(want), "%s:2: [a] contains a NUL byte (at "
	    "column 6)\n", path);
	assert_string_equal(errs.text, want);
	inifile_errors_free(&errs);
	(void)state;
}

/* --- numbers ------------------------------------------------------------- */

static void
test_decimal_only(void **state)
{
	double	 d;
	long	 l;

	assert_int_equal(parse_double("0x23", 0, 100, &d), -1);
	assert_int_equal(parse_double("0X23", 0, 100, &d), -1);
	assert_int_equal(parse_double("0x1p4", 0, 100, &d), -1);
	assert_int_equal(parse_double("inf", 0, 1e308, &d), -1);
	assert_int_equal(parse_double("-infinity", -1e308, 0, &d), -1);
	assert_int_equal(parse_double("nan", 0, 100, &d), -1);
	assert_int_equal(parse_double("nan(1)", 0, 100, &d), -1);
	assert_int_equal(parse_double(".", 0, 100, &d), -1);
	assert_int_equal(parse_double("-", 0, 100, &d), -1);
	assert_int_equal(parse_double("1e", 0, 100, &d), -1);
	assert_int_equal(parse_double("1.2.3", 0, 100, &d), -1);
	assert_int_equal(parse_double("35", 0, 100, &d), 0);
	assert_true(d == 35);
	assert_int_equal(parse_double("-.5", -1, 1, &d), 0);
	assert_true(d == -0.5);
	assert_int_equal(parse_double("+2.", 0, 100, &d), 0);
	assert_true(d == 2);
	assert_int_equal(parse_double("1e2", 0, 100, &d), 0);
	assert_true(d == 100);
	assert_int_equal(parse_int("0x23", 0, 100, &l), -1);
	assert_int_equal(parse_int("023", 0, 100, &l), 0);
	assert_int_equal(l, 23);		/* decimal, not octal */
	assert_int_equal(parse_duration("0x1p4min", 0, 1e6, &d), -1);
	assert_int_equal(parse_duration("0x10", 0, 1e6, &d), -1);
	assert_int_equal(parse_duration("infmin", 0, 1e308, &d), -1);
	assert_int_equal(parse_duration("1.5 min", 0, 1e6, &d), 0);
	assert_true(d == 90);
	assert_int_equal(parse_duration("1e1s", 0, 1e6, &d), 0);
	assert_true(d == 10);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_never_ending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_out, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test(test_decimal_only),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
