/*
 * test_fuzz_regressions.c: replays every input of the fuzz corpora
 * (tests/fuzz/corpus/TARGET, the seeds) and of the crash regressions
 * (tests/fuzz/regressions/TARGET, inputs that once crashed or broke a
 * check) through the same entry points as the libFuzzer targets in
 * tests/fuzz, with their checks, under this build's sanitizers.
 *
 * The targets' sources are compiled in here with FUZZ_NO_MAIN, so what
 * runs is exactly what the fuzzers run: the table, rules, profile,
 * program and device description parsers on files, and the API served
 * in-process on loopback.
 * Run from the top of the source tree (or set MASSAGED_SRCDIR); the
 * plugins come from $MASSAGED_BUILD/plugins (default "build").
 *
 * A regression named "open-*" reproduces a daemon bug that is reported but
 * not fixed yet (the fuzzers skip such inputs: fuzz_known_bug()). It is
 * replayed in a child process and does not fail the test; the output says
 * whether it still goes wrong. Once the bug is fixed, drop the "open-"
 * from its name and it becomes an ordinary regression.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FUZZ_NO_MAIN	1
#include "../fuzz/fuzz_table.c"
#include "../fuzz/fuzz_rules.c"
#include "../fuzz/fuzz_profile.c"
#include "../fuzz/fuzz_program.c"
#include "../fuzz/fuzz_api.c"
#include "../fuzz/fuzz_device.c"

typedef int	(*replay_fn)(const uint8_t *, size_t);

static int	replay_can_fork = 1;	/* no threads yet */

/* Present in sanitizer builds only: names the input in a report. */
extern void	__sanitizer_set_death_callback(void (*)(void))
		    __attribute__((weak));

static void
say_input(void)
{
	if (fuzz_current != NULL)
		fprintf(stderr, "test_fuzz_regressions: the input was %s\n",
		    fuzz_current);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * Fills the stack below this frame with newlines, so that a read of
 * uninitialised stack memory (such as the open inifile.c bug) shows the same
 * way every time instead of depending on what was there before.
 */
static __attribute__((noinline)) void
paint_stack(void)
{
	volatile char	 area[256 * 1024];
	size_t		 i;

	for (i = 0; i < sizeof(area); i++)
		area[i] = '\n';
}

/*
 * A known open bug: replayed in a child, with the stack painted first and
 * its stderr kept aside; one line says whether it still goes wrong (with
 * the sanitizer's or the check's summary), and it is never a failure.
 */
static void
replay_open(const char *path, replay_fn fn, const uint8_t *buf, size_t len)
{
	char	 line[1024], what[1024] = "";
	FILE	*err;
	pid_t	 pid;
	int	 st;

	if (!replay_can_fork) {
		printf("%s: open bug, not replayed here\n", path);
		return;
	}
	assert_non_null(err = tmpfile());
	fflush(NULL);
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fileno(err), STDERR_FILENO);
		paint_stack();
		fn(buf, len);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	rewind(err);
	while (fgets(line, sizeof(line), err) != NULL)
		if (strncmp(line, "SUMMARY:", 8) == 0 ||
		    strncmp(line, "fuzz check failed", 17) == 0)
			snprintf(what, sizeof(what), "%s", line);
	fclose(err);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		printf("%s: open bug did not show (fixed? then drop the "
		    "\"open-\" from its name)\n", path);
	else
		printf("%s: open bug still reproduces: %s", path,
		    what[0] != '\0' ? what : "(no summary)\n");
}

/* Replays every regular file of dir (sorted); the number replayed. */
static int
replay_dir(const char *dir, replay_fn fn)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dp;
	char		**names = NULL, path[PATH_MAX + 300];
	uint8_t		*buf;
	size_t		 n = 0, i, len;
	FILE		*fp;

	if ((dp = opendir(dir)) == NULL)
		return (0);
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		assert_non_null(names);
		names[n] = strdup(de->d_name);
		assert_non_null(names[n]);
		n++;
	}
	closedir(dp);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			free(names[i]);
			continue;
		}
		assert_non_null(fp = fopen(path, "rb"));
		/* One byte more than the file, so an empty one is no NULL. */
		assert_non_null(buf = malloc((size_t)st.st_size + 1));
		len = fread(buf, 1, (size_t)st.st_size, fp);
		fclose(fp);
		assert_int_equal(len, (size_t)st.st_size);
		fuzz_current = path;
		if (strncmp(names[i], "open-", 5) == 0)
			replay_open(path, fn, buf, len);
		else
			fn(buf, len);
		fuzz_current = NULL;
		free(buf);
		free(names[i]);
	}
	free(names);
	return ((int)n);
}

/* The seeds must exist (so this is never an empty test); the
 * regressions may not, yet. */
static void
replay(const char *target, replay_fn fn)
{
	char	 dir[PATH_MAX + 64];
	int	 seeds;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", fuzz_srcdir,
	    target);
	seeds = replay_dir(dir, fn);
	if (seeds == 0)
		fail_msg("%s: no seed inputs", dir);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s",
	    fuzz_srcdir, target);
	replay_dir(dir, fn);
}

static void
test_table(void **state)
{
	(void)state;
	fuzz_table_init();
	replay("table", fuzz_table_one);
}

static void
test_rules(void **state)
{
	(void)state;
	fuzz_rules_init();
	replay("rules", fuzz_rules_one);
}

static void
test_profile(void **state)
{
	(void)state;
	fuzz_profile_init();
	replay("profile", fuzz_profile_one);
}

static void
test_program(void **state)
{
	(void)state;
	fuzz_program_init();
	replay("program", fuzz_program_one);
}

static void
test_device(void **state)
{
	(void)state;
	fuzz_device_init();
	replay("device", fuzz_device_one);
}

static void
test_api(void **state)
{
	(void)state;
	replay_can_fork = 0;	/* the control loop's threads from here */
	fuzz_api_init();
	replay("api", fuzz_api_one);
	fuzz_api_teardown();
}

static int
teardown(void **state)
{
	(void)state;
	free(fuzz_table_t);
	fuzz_table_t = NULL;
	free(fuzz_rules_table);
	fuzz_rules_table = NULL;
	free(fuzz_profile_table);
	fuzz_profile_table = NULL;
	rules_free(&fuzz_profile_rules);
	free(fuzz_program_table);
	fuzz_program_table = NULL;
	routines_free(&fuzz_program_routines);
	free(fuzz_device_d);
	fuzz_device_d = NULL;
	fuzz_cleanup();
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_program),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_api),
	};

	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(say_input);
	return (cmocka_run_group_tests(tests, NULL, teardown));
}
