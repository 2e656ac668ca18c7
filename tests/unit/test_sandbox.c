/*
 * test_sandbox.c: the worker's seccomp filters (worker/sandbox.c) name
 * every system call, and each name is a system call on both architectures
 * the packages are built for (x86_64 and aarch64), or one that exists on
 * one of them only comes with the call that does its work on the other
 * (sandbox_instead()). A call the worker needs on one architecture that
 * the other lacks, without a stand-in in the list, fails here, before a
 * board kills its workers with SIGSYS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <seccomp.h>

#include "sandbox.h"

static const struct {
	uint32_t	 arch;
	const char	*name;
} arches[] = {
	{ SCMP_ARCH_X86_64,	"x86_64" },
	{ SCMP_ARCH_AARCH64,	"aarch64" },
};
#define NARCHES	(sizeof(arches) / sizeof(arches[0]))

static int
listed(const char **names, int n, const char *name)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (1);
	return (0);
}

/* Every name of one stage's filter, on every architecture. */
static void
check_stage(int loading)
{
	const char	*names[SANDBOX_NAMES_MAX], *instead;
	size_t		 a;
	int		 i, n, nr, missing = 0;

	n = sandbox_names(loading, names, SANDBOX_NAMES_MAX);
	assert_true(n > 10 && n < SANDBOX_NAMES_MAX);
	for (i = 0; i < n; i++)
		for (a = 0; a < NARCHES; a++) {
			nr = seccomp_syscall_resolve_name_arch(arches[a].arch,
			    names[i]);
			if (nr >= 0)
				continue;
			instead = sandbox_instead(names[i]);
			if (instead != NULL && listed(names, n, instead) &&
			    seccomp_syscall_resolve_name_arch(arches[a].arch,
			    instead) >= 0)
				continue;
			fprintf(stderr, "%s filter: %s is no system call on "
			    "%s, and nothing in the list does its work there\n",
			    loading ? "loading" : "running", names[i],
			    arches[a].name);
			missing++;
		}
	assert_int_equal(missing, 0);
}

static void
test_loading_filter_on_both_architectures(void **state)
{
	(void)state;
	check_stage(1);
}

static void
test_running_filter_on_both_architectures(void **state)
{
	const char	*names[SANDBOX_NAMES_MAX];
	int		 n;

	(void)state;
	check_stage(0);
	/* The running stage loads nothing: no file is opened there. */
	n = sandbox_names(0, names, SANDBOX_NAMES_MAX);
	assert_false(listed(names, n, "openat"));
	assert_false(listed(names, n, "open"));
}

/* The check itself: a call aarch64 lacks is found, unless its stand-in
 * is listed. */
static void
test_a_call_missing_on_aarch64_is_found(void **state)
{
	const char	*with[] = { "read", "open", "openat" };
	const char	*without[] = { "read", "open" };

	(void)state;
	assert_true(seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64,
	    "open") < 0);
	assert_true(seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64,
	    "open") >= 0);
	assert_string_equal(sandbox_instead("open"), "openat");
	assert_true(listed(with, 3, sandbox_instead("open")));
	assert_false(listed(without, 2, sandbox_instead("open")));
	assert_null(sandbox_instead("read"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loading_filter_on_both_architectures),
		cmocka_unit_test(test_running_filter_on_both_architectures),
		cmocka_unit_test(test_a_call_missing_on_aarch64_is_found),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
