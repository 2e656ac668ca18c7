/*
 * fuzz_common.h: what the libFuzzer targets in tests/fuzz share: finding
 * the source tree and the plugins, a private temporary directory, writing
 * an input to a file (the parsers read files), and the checks made on the
 * error text of every load.
 *
 * The targets are also compiled into tests/unit/test_fuzz_regressions.c,
 * which defines FUZZ_NO_MAIN and replays the corpora and the regression
 * inputs through the same *_one() functions under the unit test build. So
 * everything here is static, and unused pieces must not warn.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inifile.h"

#define FUZZ_UNUSED	__attribute__((unused))

/* The input being replayed by the unit test, for its messages. */
static FUZZ_UNUSED const char *fuzz_current;

/* Stops the run: libFuzzer saves the input, the unit test fails. */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz check failed%s%s: %s: ",		\
		    fuzz_current != NULL ? " on " : "",			\
		    fuzz_current != NULL ? fuzz_current : "", #cond);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

static char	fuzz_srcdir[PATH_MAX];		/* top of the source tree */
static char	fuzz_plugindir[PATH_MAX];	/* the routine plugins */
static char	fuzz_tmp[512];			/* ours, removed at exit */

static int
fuzz_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
fuzz_cleanup(void)
{
	if (fuzz_tmp[0] != '\0')
		nftw(fuzz_tmp, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fuzz_tmp[0] = '\0';
}

/* Directory of this executable, or "." */
static void
fuzz_exe_dir(char *dst, size_t len)
{
	char	 exe[1024], *slash;
	ssize_t	 n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(dst, len, ".");
		return;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(dst, len, "%s", exe);
}

/*
 * Finds the source tree ($MASSAGED_SRCDIR, the cwd, or two levels above
 * build/fuzz/), the plugins ($FUZZ_PLUGIN_DIR, else
 * $MASSAGED_BUILD/plugins in the unit test and the plugins next to the
 * fuzzer binary otherwise) and makes the temporary directory. Exits on
 * failure: nothing can be fuzzed without them.
 */
static FUZZ_UNUSED void
fuzz_setup(void)
{
	const char	*s, *tmp;
	char		 exe[1024], cand[1100], probe[PATH_MAX + 32];

	if (fuzz_tmp[0] != '\0')
		return;
	fuzz_exe_dir(exe, sizeof(exe));
	if ((s = getenv("MASSAGED_SRCDIR")) != NULL && *s != '\0')
		snprintf(cand, sizeof(cand), "%s", s);
	else if (access("config/massaged.ini", R_OK) == 0)
		snprintf(cand, sizeof(cand), ".");
	else
		snprintf(cand, sizeof(cand), "%s/../..", exe);
	if (realpath(cand, fuzz_srcdir) == NULL)
		snprintf(fuzz_srcdir, sizeof(fuzz_srcdir), "%s", cand);
	snprintf(probe, sizeof(probe), "%s/config/massaged.ini", fuzz_srcdir);
	if (access(probe, R_OK) == -1) {
		fprintf(stderr, "fuzz: no source tree at %s (set "
		    "MASSAGED_SRCDIR)\n", fuzz_srcdir);
		exit(2);
	}

	if ((s = getenv("FUZZ_PLUGIN_DIR")) != NULL && *s != '\0')
		snprintf(cand, sizeof(cand), "%s", s);
	else {
#ifdef FUZZ_NO_MAIN
		if ((s = getenv("MASSAGED_BUILD")) == NULL || *s == '\0')
			s = "build";
		snprintf(cand, sizeof(cand), "%s/plugins", s);
#else
		snprintf(cand, sizeof(cand), "%s/plugins", exe);
#endif
	}
	if (realpath(cand, fuzz_plugindir) == NULL)
		snprintf(fuzz_plugindir, sizeof(fuzz_plugindir), "%s", cand);

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/massaged-fuzz-XXXXXX", tmp);
	if (mkdtemp(fuzz_tmp) == NULL) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", fuzz_tmp,
		    strerror(errno));
		exit(2);
	}
	atexit(fuzz_cleanup);
}

/* dst = fuzz_tmp/rel, with rel's directories made. */
static FUZZ_UNUSED void
fuzz_tmp_path(char *dst, size_t len, const char *rel)
{
	char	*slash;

	snprintf(dst, len, "%s/%s", fuzz_tmp, rel);
	for (slash = strchr(dst + strlen(fuzz_tmp) + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		(void)mkdir(dst, 0700);
		*slash = '/';
	}
}

/* Writes the whole input to path (truncating it). */
static FUZZ_UNUSED void
fuzz_write(const char *path, const void *data, size_t size)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
		abort();
	}
	while (size > 0) {
		if ((n = write(fd, p, size)) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fuzz: write %s: %s\n", path,
			    strerror(errno));
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

/*
 * 1 for an input that hits a known, reported and still open daemon bug.
 * The fuzzers skip these, so that they go on finding other things; each
 * has a reproducer in tests/fuzz/regressions/TARGET/open-*, which the unit
 * test replays apart (see test_fuzz_regressions.c). Delete the case here
 * once the bug is fixed, and drop the "open-" from the reproducer.
 */
static FUZZ_UNUSED int
fuzz_known_bug(const uint8_t *data, size_t size)
{
	/* No known bug is open: every input is fuzzed. */
	(void)data;
	(void)size;
	return (0);
}

/* dst = fuzz_srcdir/rel. */
static FUZZ_UNUSED void
fuzz_src_path(char *dst, size_t len, const char *rel)
{
	int	 n = snprintf(dst, len, "%s/%s", fuzz_srcdir, rel);

	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "fuzz: path too long: %s/%s\n", fuzz_srcdir,
		    rel);
		abort();
	}
}

/* Reports a setup error (not a finding) and exits. */
static FUZZ_UNUSED void
fuzz_setup_failed(const char *what, const struct inifile_errors *errs)
{
	fprintf(stderr, "fuzz: cannot load %s:\n%s", what,
	    errs->text != NULL ? errs->text : "");
	exit(2);
}

/*
 * The error text of a load: one line per error, as many lines as errors
 * counted, and every line says where, starting with "prefix" (the file's
 * path, or its directory for the per-directory loaders), as the house
 * style promises ("path:line: [section] key: what").
 */
static FUZZ_UNUSED void
fuzz_check_errors(const struct inifile_errors *errs, const char *prefix)
{
	const char	*line, *nl;
	size_t		 plen = strlen(prefix);
	int		 n = 0;

	if (errs->count == 0) {
		FUZZ_CHECK(errs->text == NULL || errs->text[0] == '\0',
		    "no error counted but text '%.200s'", errs->text);
		return;
	}
	FUZZ_CHECK(errs->text != NULL, "%d errors without text", errs->count);
	for (line = errs->text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		FUZZ_CHECK(nl != NULL, "unterminated error line '%.200s'",
		    line);
		FUZZ_CHECK(strncmp(line, prefix, plen) == 0 &&
		    (line[plen] == ':' || line[plen] == '/'),
		    "error line does not start with %s: '%.*s'", prefix,
		    (int)(nl - line), line);
		n++;
	}
	FUZZ_CHECK(n == errs->count, "%d error lines for %d errors", n,
	    errs->count);
}

/*
 * The libFuzzer entry points of a target whose init and one-input
 * functions are fuzz_NAME_init() and fuzz_NAME_one(). Left out when the
 * unit test compiles the targets in (FUZZ_NO_MAIN).
 */
#ifndef FUZZ_NO_MAIN
#define FUZZ_MAIN(name)							\
int	LLVMFuzzerInitialize(int *, char ***);				\
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);		\
									\
int									\
LLVMFuzzerInitialize(int *argc, char ***argv)				\
{									\
	(void)argc;							\
	(void)argv;							\
	fuzz_##name##_init();						\
	return (0);							\
}									\
									\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)		\
{									\
	return (fuzz_##name##_one(data, size));				\
}
#else
#define FUZZ_MAIN(name)
#endif

#endif
