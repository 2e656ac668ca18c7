/*
 * test_log.c: common/log.c's writer thread: a stalled reader never blocks
 * a caller, what is dropped is counted and said, the flush is bounded,
 * and a repeated message is rate-limited with a count. stderr is a small
 * pipe the test reads only when it says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static int	 test_log_rd = -1;	/* our end of the daemon's stderr */
static char	 test_log_buf[4 * 1024 * 1024];
static size_t	 test_log_len;

/* Reads what was written until text shows up (or ms pass); 1 if it did. */
static int
test_log_read_until(const char *text, int ms)
{
	struct pollfd	 pfd = { .fd = test_log_rd, .events = POLLIN };
	ssize_t		 n;

	for (; ms > 0; ms -= 10) {
		test_log_buf[test_log_len] = '\0';
		if (strstr(test_log_buf, text) != NULL)
			return (1);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = read(test_log_rd, test_log_buf + test_log_len,
		    sizeof(test_log_buf) - 1 - test_log_len);
		if (n > 0)
			test_log_len += (size_t)n;
	}
	test_log_buf[test_log_len] = '\0';
	return (strstr(test_log_buf, text) != NULL);
}

static int
test_log_count(const char *text)
{
	const char	*p = test_log_buf;
	int		 n = 0;

	while ((p = strstr(p, text)) != NULL) {
		n++;
		p += strlen(text);
	}
	return (n);
}

static int
test_log_setup(void **state)
{
	FILE	*err;
	int	 p[2], saved;

	/* log.c writes to fd 2, the pipe; cmocka's messages go to stderr's
	 * old file, through the FILE stderr */
	if ((saved = dup(STDERR_FILENO)) == -1 ||
	    (err = fdopen(saved, "w")) == NULL)
		return (-1);
	setvbuf(err, NULL, _IONBF, 0);
	stderr = err;
	if (pipe(p) == -1 || fcntl(p[1], F_SETPIPE_SZ, 4096) == -1 ||
	    dup2(p[1], STDERR_FILENO) == -1)
		return (-1);
	close(p[1]);
	test_log_rd = p[0];
	log_init("test", 1);
	return (log_async_start());
}

static void
test_rate_limited(void **state)
{
	int	 i;

	test_log_len = 0;
	for (i = 0; i < 100; i++)
		log_info("the same message, number %d", i);
	log_info("another message");
	/* the flush sums up the windows still open */
	assert_int_equal(log_flush(), 0);
	assert_true(test_log_read_until("similar messages", 2000));
	assert_int_equal(test_log_count("the same message, number"), 10 + 1);
	assert_non_null(strstr(test_log_buf, "<6>test: 90 similar messages "
	    "suppressed in 10 s, the first: the same message, number 10\n"));
	assert_non_null(strstr(test_log_buf, "another message"));
	/* debug lines are asked for: never suppressed */
	test_log_len = 0;
	for (i = 0; i < 30; i++)
		log_debug("debug line %d", i);
	assert_true(test_log_read_until("debug line 29\n", 2000));
}

static void
test_stalled_reader(void **state)
{
	char		 big[1000];
	struct timespec	 t0, t1;
	uint64_t	 dropped;
	char		 want[64];
	int		 i;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* nobody reads: 2 MB of lines into a 4 KiB pipe never blocks (the
	 * alarm ends the test if it does) */
	alarm(20);
	for (i = 0; i < 2000; i++)
		log_debug("%d %s", i, big);
	dropped = log_dropped_total();
	assert_true(dropped > 0);
	assert_true(dropped < 2000);
	/* the flush gives up after its bound */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(log_flush(), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	alarm(0);
	/* the reader is back: the queue comes out, then the count */
	test_log_len = 0;
	snprintf(want, sizeof(want), "<4>test: %llu log lines dropped",
	    (unsigned long long)dropped);
	assert_true(test_log_read_until(want, 10000));
	assert_int_equal(log_flush(), 0);
	assert_true(log_dropped_total() == dropped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_limited),
		cmocka_unit_test(test_stalled_reader),
	};

	return (cmocka_run_group_tests(tests, test_log_setup, NULL));
}
