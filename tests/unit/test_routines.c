/*
 * test_routines.c: the routine loader (daemon/engine/routine-load.c, the
 * checks of daemon/core/routine-desc.c) and instances
 * (daemon/engine/routine-inst.c, routine-worker.c): every refusal and
 * its message, the permission checks, descriptor and parameter validation,
 * parameter parsing, instances, the host log service, and the SDK example
 * in docs/examples/hello_routine building and loading.
 *
 * Test plugins come from $MASSAGED_BUILD/tests/plugins (default "build");
 * run from the top of the source tree.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "routine-desc.h"
#include "routine-inst.h"
#include "routine-load.h"

static char	 tmpdir[PATH_MAX];

static const char *
build_dir(void)
{
	const char	*b = getenv("MASSAGED_BUILD");

	return (b != NULL && *b != '\0' ? b : "build");
}

static void
test_plugin(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/tests/plugins/%s.so", build_dir(), name);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return (remove(path));
}

static int
setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/massaged-loader-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	/* Compare against what the loader resolves. */
	{
		char	 real[PATH_MAX];

		assert_non_null(realpath(tmpdir, real));
		snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	}
	(void)state;
	return (0);
}

static int
teardown_tmp(void **state)
{
	chmod(tmpdir, 0700);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	(void)state;
	return (0);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char	 buf[65536];
	ssize_t	 n;
	int	 in, out;

	in = open(from, O_RDONLY);
	if (in == -1)
		fail_msg("%s: %s (build the test plugins first)", from,
		    strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out != -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(fchmod(out, mode), 0);
	close(out);
}

/* Loads one file and expects exactly one error: "path: want". */
static void
expect_refused(const char *path, const char *want)
{
	struct routine_set	 set = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 full[2048];

	snprintf(full, sizeof(full), "%s: %s\n", path, want);
	assert_int_equal(routines_load_file(&set, path, &errs), 1);
	assert_int_equal(errs.count, 1);
	assert_non_null(errs.text);
	assert_string_equal(errs.text, full);
	assert_int_equal(set.n, 0);
	routines_free(&set);
	inifile_errors_free(&errs);
}

static void
test_load_good(void **state)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	const struct massaged_routine	*d;
	char				 path[PATH_MAX];

	(void)state;
	test_plugin(path, sizeof(path), "loader_good");
	if (routines_load_file(&set, path, &errs) != 0)
		fail_msg("%s", errs.text);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.libs[0].path, path);
	d = routines_find(&set, "loader_good");
	assert_non_null(d);
	assert_ptr_equal(d, set.libs[0].desc);
	assert_string_equal(d->version, "1.2.3");
	assert_null(routines_find(&set, "swedish"));
	assert_int_equal(routine_param_find(d, "ret"), 1);
	assert_int_equal(routine_param_find(d, "nope"), -1);
	routines_free(&set);
	assert_int_equal(set.n, 0);
	assert_null(set.libs);
	inifile_errors_free(&errs);
}

static void
test_refusals(void **state)
{
	char	 path[PATH_MAX], want[512];

	(void)state;
	test_plugin(path, sizeof(path), "loader_noentry");
	expect_refused(path, "no entry symbol massaged_routine_entry (define "
	    "it with the prototype from massaged/routine.h so it is "
	    "exported)");

	test_plugin(path, sizeof(path), "loader_nulldesc");
	expect_refused(path, "massaged_routine_entry() returned NULL");

	test_plugin(path, sizeof(path), "loader_abi");
	expect_refused(path, "ABI version 2, expected 1 (rebuild it against "
	    "this massaged's routine.h)");

	test_plugin(path, sizeof(path), "loader_size");
	snprintf(want, sizeof(want), "descriptor size %zu, expected %zu (set "
	    "size to sizeof(struct massaged_routine))",
	    sizeof(struct massaged_routine) - sizeof(void *),
	    sizeof(struct massaged_routine));
	expect_refused(path, want);

	test_plugin(path, sizeof(path), "loader_params");
	expect_refused(path, "routine loader_params: parameter 1 "
	    "(pressure_kpa): default 50 is outside [0, 40]");

	/* Built against a newer SDK and setting a field it added. */
	test_plugin(path, sizeof(path), "loader_bigger_used");
	snprintf(want, sizeof(want), "descriptor size %zu, expected %zu (built "
	    "against a newer routine.h than this massaged, and it sets fields "
	    "this massaged does not know)", sizeof(struct massaged_routine) +
	    2 * sizeof(void *), sizeof(struct massaged_routine));
	expect_refused(path, want);
}

/* Built against a newer SDK, using nothing it added: loads. */
static void
test_newer_sdk(void **state)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	struct routine_inst		 ri;
	struct routine_opts		 o;
	struct massaged_zone		 z;
	struct massaged_step_in		 in;
	double				 out[1];
	char				 path[PATH_MAX], why[256];

	(void)state;
	test_plugin(path, sizeof(path), "loader_bigger");
	if (routines_load_file(&set, path, &errs) != 0)
		fail_msg("%s", errs.text);
	assert_non_null(routines_find(&set, "loader_bigger"));
	memset(&z, 0, sizeof(z));
	z.name = "a";
	memset(&o, 0, sizeof(o));
	o.ramp_kpa_s = 6;
	o.tick_hz = 50;
	assert_int_equal(routine_inst_start(&ri, &o, routines_find(&set,
	    "loader_bigger"), NULL, &z, 1, 10, why, sizeof(why)), 0);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	assert_int_equal(routine_inst_step(&ri, &in, out), MASSAGED_STEP_DONE);
	routine_inst_destroy(&ri);
	routines_free(&set);
	inifile_errors_free(&errs);
}

/* loader_good loaded into set, its defaults in p. */
static const struct massaged_routine *
load_good(struct routine_set *set, struct inifile_errors *errs, double *p)
{
	const struct massaged_routine	*d;
	char				 path[PATH_MAX];
	size_t				 i;

	test_plugin(path, sizeof(path), "loader_good");
	if (routines_load_file(set, path, errs) != 0)
		fail_msg("%s", errs->text);
	assert_non_null(d = routines_find(set, "loader_good"));
	for (i = 0; i < d->n_params; i++)
		p[i] = d->params[i].def;
	return (d);
}

/* create() in the worker is told the ramp and the tick rate. */
static void
test_args_minor(void **state)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	struct routine_inst		 ri;
	struct routine_opts		 o;
	struct massaged_zone		 z;
	const struct massaged_routine	*d;
	double				 p[ROUTINE_PARAMS_MAX];
	char				 why[256];

	(void)state;
	d = load_good(&set, &errs, p);
	p[0] = 8;	/* loader_good: refuse, saying what args said */
	memset(&z, 0, sizeof(z));
	z.name = "a";
	memset(&o, 0, sizeof(o));
	o.ramp_kpa_s = 6.5;
	o.tick_hz = 100;
	assert_int_equal(routine_inst_start(&ri, &o, d, p, &z, 1, 10, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "ramp_kpa_s 6.5 tick_hz 100");
	routines_free(&set);
	inifile_errors_free(&errs);
}

/* routine_inst_collect() until the open question is answered, 3 s at
 * most: the time it came (monotonic ns), 0 if it did not. */
static uint64_t
collect_until_answered(struct routine_inst *ri)
{
	uint64_t	 until = clock_mono_ns() + 3000000000ull;

	while (clock_mono_ns() < until) {
		routine_inst_collect(ri);
		if (ri->answered || ri->lost)
			return (ri->answered ? clock_mono_ns() : 0);
		usleep(1000);
	}
	return (0);
}

/*
 * Each routine worker of this process holds its socket (fd 3) and nothing
 * else past stderr, and one step() page, its own. Returns how many
 * workers were looked at.
 */
static int
check_worker_fds(void)
{
	char		 path[64], buf[512], line[512], *p;
	struct dirent	*de, *fe;
	DIR		*proc, *fds;
	FILE		*fp;
	pid_t		 pid;
	int		 n = 0, pages, ppid, fd;

	assert_non_null(proc = opendir("/proc"));
	while ((de = readdir(proc)) != NULL) {
		if ((pid = (pid_t)atoi(de->d_name)) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof(buf), fp);
		fclose(fp);
		if (p == NULL || strstr(buf, "(massaged-worker)") == NULL ||
		    (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid != getpid())
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		assert_non_null(fds = opendir(path));
		while ((fe = readdir(fds)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			fd = atoi(fe->d_name);
			if (fd > 3)
				fail_msg("worker %d holds fd %d", (int)pid, fd);
		}
		closedir(fds);
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
		assert_non_null(fp = fopen(path, "r"));
		pages = 0;
		while (fgets(line, sizeof(line), fp) != NULL)
			pages += strstr(line, "/memfd:massaged-step") != NULL;
		fclose(fp);
		assert_int_equal(pages, 1);
	}
	closedir(proc);
	return (n);
}

/*
 * step() through the shared page: a worker waiting on its socket is told
 * of a question; one asked ahead sleeps until the look time the question
 * gave, and finds the next question then, without being told.
 */
static void
test_ask_ahead(void **state)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	struct routine_inst		 ri;
	struct routine_opts		 o;
	struct massaged_zone		 z[2];
	struct massaged_step_in		 in;
	const struct massaged_routine	*d;
	double				 p[ROUTINE_PARAMS_MAX], out[2];
	double				 meas[2] = { 1, 2 };
	char				 why[256];
	uint64_t			 look, t;

	(void)state;
	d = load_good(&set, &errs, p);
	memset(z, 0, sizeof(z));
	z[0].name = "a";
	z[1].name = "b";
	memset(&o, 0, sizeof(o));
	o.tick_hz = 50;
	o.deadline_ms = 5000;
	assert_int_equal(routine_inst_start(&ri, &o, d, p, z, 2, 10, why,
	    sizeof(why)), 0);
	/* Its page is its own, and the fd it came on is closed (reading
	 * another process's fds needs root: the worker is not dumpable). */
	if (geteuid() == 0)
		assert_true(check_worker_fds() >= 1);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.intensity = 1;
	in.pressure_kpa = meas;
	/* The first step asks and waits. */
	assert_int_equal(routine_inst_step(&ri, &in, out),
	    MASSAGED_STEP_RUNNING);
	assert_true(out[0] == 5 && out[1] == 5);
	/* Then the worker waits on its socket: asked ahead, it is told,
	 * answers, and sleeps until the look time given. */
	look = clock_mono_ns() + 1000000000ull;
	routine_inst_ask(&ri, &in, look);
	assert_true(ri.pending);
	assert_true(collect_until_answered(&ri) != 0);
	out[0] = out[1] = -1;
	assert_int_equal(routine_inst_step(&ri, &in, out),
	    MASSAGED_STEP_RUNNING);
	assert_true(out[0] == 5 && out[1] == 5);
	/* Asked while it sleeps: found at the look time, not before. */
	routine_inst_ask(&ri, &in, 0);
	t = collect_until_answered(&ri);
	assert_true(t != 0);
	assert_true(t >= look);
	assert_int_equal(routine_inst_step(&ri, &in, out),
	    MASSAGED_STEP_RUNNING);
	assert_false(ri.lost);
	routine_inst_destroy(&ri);
	routines_free(&set);
	inifile_errors_free(&errs);
}

static void
test_not_loadable(void **state)
{
	struct routine_set	 set = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 path[PATH_MAX + 32], want[PATH_MAX + 64];
	FILE			*fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.so", tmpdir);
	expect_refused(path, "cannot load routine: No such file or directory");

	/* Not a shared object: dlerror()'s text, without the path twice. */
	snprintf(path, sizeof(path), "%s/junk.so", tmpdir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("this is not an ELF file, but it is long enough to be read as "
	    "one and refused for its header rather than its length\n", fp);
	fclose(fp);
	chmod(path, 0644);
	snprintf(want, sizeof(want), "%s: cannot load routine: ", path);
	assert_int_equal(routines_load_file(&set, path, &errs), 1);
	assert_int_equal(errs.count, 1);
	assert_memory_equal(errs.text, want, strlen(want));
	assert_true(strlen(errs.text) > strlen(want) + 5);
	assert_null(strstr(errs.text + strlen(want), tmpdir));
	assert_int_equal(set.n, 0);
	/* Kept, so programs that need it can say why. */
	assert_int_equal(set.nrefused, 1);
	routines_free(&set);
	inifile_errors_free(&errs);

	/* A directory is not a plugin. */
	snprintf(path, sizeof(path), "%s/dir.so", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	expect_refused(path, "refused: the file is not a regular file");
}

static void
test_duplicate(void **state)
{
	struct routine_set	 set = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 good[PATH_MAX], a[PATH_MAX + 8];
	char			 b[PATH_MAX + 8], want[3 * PATH_MAX];

	(void)state;
	test_plugin(good, sizeof(good), "loader_good");
	snprintf(a, sizeof(a), "%s/a.so", tmpdir);
	snprintf(b, sizeof(b), "%s/b.so", tmpdir);
	copy_file(good, b, 0644);
	copy_file(good, a, 0644);
	/* Not plugins: skipped. */
	copy_file(good, strcat(strcpy(want, tmpdir), "/.hidden.so"), 0644);
	copy_file(good, strcat(strcpy(want, tmpdir), "/notes.txt"), 0644);

	assert_int_equal(routines_load_dir(&set, tmpdir, &errs), 1);
	snprintf(want, sizeof(want), "%s: routine loader_good is already "
	    "loaded from %s\n", b, a);
	assert_string_equal(errs.text, want);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.libs[0].path, a);
	routines_free(&set);
	inifile_errors_free(&errs);

	/* And with load_file, the second one is refused the same way. */
	assert_int_equal(routines_load_file(&set, b, &errs), 0);
	assert_int_equal(routines_load_file(&set, a, &errs), 1);
	snprintf(want, sizeof(want), "%s: routine loader_good is already "
	    "loaded from %s\n", a, b);
	assert_string_equal(errs.text, want);
	routines_free(&set);
	inifile_errors_free(&errs);

	snprintf(a, sizeof(a), "%s/nope", tmpdir);
	assert_int_equal(routines_load_dir(&set, a, &errs), 1);
	snprintf(want, sizeof(want), "%s: cannot open routine directory: No "
	    "such file or directory\n", a);
	assert_string_equal(errs.text, want);
	inifile_errors_free(&errs);
}

static void
test_permissions(void **state)
{
	struct routine_set	 set = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	char			 good[PATH_MAX], dir[PATH_MAX + 8];
	char			 path[PATH_MAX + 16], want[3 * PATH_MAX];
	char			 link[PATH_MAX + 16], safe[PATH_MAX + 8];

	(void)state;
	test_plugin(good, sizeof(good), "loader_good");
	snprintf(dir, sizeof(dir), "%s/plugins", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/x.so", dir);
	copy_file(good, path, 0644);

	assert_int_equal(routines_load_file(&set, path, &errs), 0);
	routines_free(&set);
	assert_int_equal(routines_load_dir(&set, dir, &errs), 0);
	assert_int_equal(set.n, 1);
	routines_free(&set);

	/* The file, writable by others, by its group, by both. */
	assert_int_equal(chmod(path, 0646), 0);
	snprintf(want, sizeof(want), "refused: the file is writable by others "
	    "(mode 0646), who could replace code the daemon runs (chmod go-w "
	    "%s)", path);
	expect_refused(path, want);
	assert_int_equal(chmod(path, 0664), 0);
	snprintf(want, sizeof(want), "refused: the file is writable by its "
	    "group (mode 0664), who could replace code the daemon runs (chmod "
	    "go-w %s)", path);
	expect_refused(path, want);
	assert_int_equal(chmod(path, 0666), 0);
	snprintf(want, sizeof(want), "refused: the file is writable by its "
	    "group and others (mode 0666), who could replace code the daemon "
	    "runs (chmod go-w %s)", path);
	expect_refused(path, want);
	assert_int_equal(chmod(path, 0644), 0);

	/* Its directory. */
	assert_int_equal(chmod(dir, 0757), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by others (mode 0757), who could replace code the daemon runs "
	    "(chmod go-w %s)", dir, dir);
	expect_refused(path, want);
	assert_int_equal(routines_load_dir(&set, dir, &errs), 1);
	snprintf(want, sizeof(want), "%s: refused: the routine directory is "
	    "writable by others (mode 0757), who could replace code the "
	    "daemon runs (chmod go-w %s)\n", dir, dir);
	assert_string_equal(errs.text, want);
	assert_int_equal(set.n, 0);
	inifile_errors_free(&errs);

	/* A link from a safe directory into an unsafe one. */
	snprintf(safe, sizeof(safe), "%s/safe", tmpdir);
	assert_int_equal(mkdir(safe, 0755), 0);
	snprintf(link, sizeof(link), "%s/link.so", safe);
	assert_int_equal(symlink(path, link), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by others (mode 0757), who could replace code the daemon runs "
	    "(chmod go-w %s)", dir, dir);
	expect_refused(link, want);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(routines_load_file(&set, link, &errs), 0);
	routines_free(&set);
	/* ... and one in an unsafe directory to a safe file. */
	assert_int_equal(chmod(safe, 0775), 0);
	snprintf(want, sizeof(want), "refused: its directory %s is writable "
	    "by its group (mode 0775), who could replace code the daemon "
	    "runs (chmod go-w %s)", safe, safe);
	expect_refused(link, want);

	/* Owned by someone else (only root can arrange that). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, (gid_t)-1), 0);
		snprintf(want, sizeof(want), "refused: the file is owned by uid "
		    "4242, not by root or the daemon's user (uid 0), who could "
		    "replace code the daemon runs (chown root %s)", path);
		expect_refused(path, want);
		assert_int_equal(chown(path, 0, (gid_t)-1), 0);
		assert_int_equal(chown(dir, 4242, (gid_t)-1), 0);
		snprintf(want, sizeof(want), "refused: its directory %s is owned "
		    "by uid 4242, not by root or the daemon's user (uid 0), who "
		    "could replace code the daemon runs (chown root %s)", dir,
		    dir);
		expect_refused(path, want);
	}
	inifile_errors_free(&errs);
}

/* --- descriptor checks ----------------------------------------------- */

static void *
t_create(const struct massaged_routine_args *a, char *err, size_t errlen)
{
	(void)a;
	(void)err;
	(void)errlen;
	return (NULL);
}

static int
t_step(void *inst, const struct massaged_step_in *in, double *out)
{
	(void)inst;
	(void)in;
	(void)out;
	return (MASSAGED_STEP_DONE);
}

static void
t_destroy(void *inst)
{
	(void)inst;
}

static struct massaged_param	 t_params[3];
static struct massaged_routine	 t_desc;

static void
t_reset(void)
{
	static const struct massaged_param p[3] = {
		{ "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 10, 2, 40, NULL,
		    "Pressure." },
		{ "rounds", MASSAGED_PARAM_INT, "", 1, 1, 5, NULL, "Rounds." },
		{ "stroke", MASSAGED_PARAM_CHOICE, "", 0, 0, 2,
		    "effleurage|kneading|circular", "Stroke." },
	};

	memcpy(t_params, p, sizeof(p));
	memset(&t_desc, 0, sizeof(t_desc));
	t_desc.abi_version = MASSAGED_ROUTINE_ABI_VERSION;
	t_desc.size = sizeof(t_desc);
	t_desc.name = "t";
	t_desc.version = "1.0.0";
	t_desc.description = "Test.";
	t_desc.flags = MASSAGED_ROUTINE_FOCUSED;
	t_desc.params = t_params;
	t_desc.n_params = 3;
	t_desc.create = t_create;
	t_desc.step = t_step;
	t_desc.destroy = t_destroy;
}

static void
t_expect(int line, const char *want)
{
	char	 why[512];

	why[0] = '\0';
	if (routine_desc_check(&t_desc, why, sizeof(why)) != -1)
		fail_msg("line %d: accepted, expected '%s'", line, want);
	if (strcmp(why, want) != 0)
		fail_msg("line %d:\n got  '%s'\n want '%s'", line, why, want);
	t_reset();
}

#define T_EXPECT(want)	t_expect(__LINE__, (want))

static void
test_desc_check(void **state)
{
	char	 why[512], want[256];

	(void)state;
	t_reset();
	assert_int_equal(routine_desc_check(&t_desc, why, sizeof(why)), 0);
	t_desc.n_params = 0;
	t_desc.params = NULL;
	assert_int_equal(routine_desc_check(&t_desc, why, sizeof(why)), 0);
	t_reset();

	t_desc.abi_version = 0;
	T_EXPECT("ABI version 0, expected 1 (rebuild it against this "
	    "massaged's routine.h)");
	t_desc.size = sizeof(t_desc) + 8;
	snprintf(want, sizeof(want), "descriptor size %zu, expected %zu (built "
	    "against a newer routine.h than this massaged, and it sets "
	    "fields this massaged does not know)", sizeof(t_desc) + 8, sizeof(t_desc));
	T_EXPECT(want);
	t_desc.size = 8;
	snprintf(want, sizeof(want), "descriptor size 8, expected %zu (set size "
	    "to sizeof(struct massaged_routine))", sizeof(t_desc));
	T_EXPECT(want);

	t_desc.name = NULL;
	T_EXPECT("routine name '(null)' is not valid (expected 1 to 47 "
	    "characters of [a-z0-9_])");
	t_desc.name = "Deep Tissue";
	T_EXPECT("routine name 'Deep Tissue' is not valid (expected 1 to 47 "
	    "characters of [a-z0-9_])");
	t_desc.name = "";
	T_EXPECT("routine name '' is not valid (expected 1 to 47 characters of "
	    "[a-z0-9_])");
	t_desc.name = "a_name_that_is_far_too_long_for_a_routine_name_xx";
	T_EXPECT("routine name 'a_name_that_is_far_too_long_for_a_routine_name_"
	    "xx' is not valid (expected 1 to 47 characters of [a-z0-9_])");
	t_desc.name = "bad\nname";
	T_EXPECT("routine name 'bad?name' is not valid (expected 1 to 47 "
	    "characters of [a-z0-9_])");
	t_desc.version = "v1";
	T_EXPECT("routine t: version 'v1' is not valid (expected a version "
	    "such as 1.0.0)");
	t_desc.version = NULL;
	T_EXPECT("routine t: version '(null)' is not valid (expected a version "
	    "such as 1.0.0)");
	t_desc.version = "1.0 beta";
	T_EXPECT("routine t: version '1.0 beta' is not valid (expected a "
	    "version such as 1.0.0)");
	t_desc.version = "2.1.0-rc1+git";
	assert_int_equal(routine_desc_check(&t_desc, why, sizeof(why)), 0);
	t_desc.description = NULL;
	T_EXPECT("routine t: description is NULL (expected one sentence for "
	    "people)");
	t_desc.flags = 0x9;
	T_EXPECT("routine t: unknown flags 0x8 (this massaged knows 0x1)");
	t_desc.create = NULL;
	T_EXPECT("routine t: create() is NULL");
	t_desc.step = NULL;
	T_EXPECT("routine t: step() is NULL");
	t_desc.destroy = NULL;
	T_EXPECT("routine t: destroy() is NULL");
	t_desc.n_params = ROUTINE_PARAMS_MAX + 1;
	T_EXPECT("routine t: 33 parameters (at most 32)");
	t_desc.params = NULL;
	T_EXPECT("routine t: params is NULL but n_params is 3");

	/* The parameter table. */
	t_params[0].name = "Pressure";
	T_EXPECT("routine t: parameter 0 (Pressure): name 'Pressure' is not "
	    "valid (expected 1 to 47 characters of [a-z0-9_])");
	t_params[1].name = NULL;
	T_EXPECT("routine t: parameter 1 ((null)): name '(null)' is not valid "
	    "(expected 1 to 47 characters of [a-z0-9_])");
	t_params[1].name = "zones";
	T_EXPECT("routine t: parameter 1 (zones): name is reserved by programs "
	    "(routine, duration, duration_s and zones are step keys)");
	t_params[2].name = "pressure_kpa";
	T_EXPECT("routine t: parameter pressure_kpa is given twice (entries 0 "
	    "and 2)");
	t_params[0].type = (enum massaged_param_type)7;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): unknown type 7 "
	    "(expected REAL, INT, BOOL or CHOICE)");
	t_params[0].unit = NULL;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): unit is NULL "
	    "(expected \"kPa\", \"s\", ... or \"\" for none)");
	t_params[0].help = NULL;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): help is NULL "
	    "(expected one sentence for people)");
	t_params[0].def = NAN;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): default, min and max "
	    "must be finite numbers");
	t_params[0].max = INFINITY;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): default, min and max "
	    "must be finite numbers");
	t_params[0].def = 50;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): default 50 is outside "
	    "[2, 40]");
	t_params[0].def = 1;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): default 1 is outside "
	    "[2, 40]");
	t_params[0].min = 50;
	T_EXPECT("routine t: parameter 0 (pressure_kpa): min 50 is above max "
	    "40");
	t_params[1].def = 1.5;
	T_EXPECT("routine t: parameter 1 (rounds): INT default, min and max "
	    "must be whole numbers");
	t_params[1].max = 5.5;
	T_EXPECT("routine t: parameter 1 (rounds): INT default, min and max "
	    "must be whole numbers");
	t_params[1].type = MASSAGED_PARAM_BOOL;
	T_EXPECT("routine t: parameter 1 (rounds): BOOL needs min 0, max 1 and "
	    "a default of 0 or 1");
	t_params[1].type = MASSAGED_PARAM_BOOL;
	t_params[1].min = 0;
	t_params[1].max = 1;
	t_params[1].def = 1;
	assert_int_equal(routine_desc_check(&t_desc, why, sizeof(why)), 0);
	t_reset();

	/* CHOICE. */
	t_params[2].choices = NULL;
	T_EXPECT("routine t: parameter 2 (stroke): CHOICE without choices "
	    "(expected \"a|b|c\")");
	t_params[2].choices = "";
	T_EXPECT("routine t: parameter 2 (stroke): CHOICE without choices "
	    "(expected \"a|b|c\")");
	t_params[2].choices = "effleurage||circular";
	T_EXPECT("routine t: parameter 2 (stroke): choices "
	    "'effleurage||circular': choice 2 is empty (expected names "
	    "separated by |)");
	t_params[2].choices = "effleurage|kneading|";
	T_EXPECT("routine t: parameter 2 (stroke): choices "
	    "'effleurage|kneading|': choice 3 is empty (expected names "
	    "separated by |)");
	t_params[2].choices = "effleurage|Kneading|circular";
	T_EXPECT("routine t: parameter 2 (stroke): choices "
	    "'effleurage|Kneading|circular': 'Kneading' is not a valid choice "
	    "(expected [a-z0-9_]+)");
	t_params[2].choices = "effleurage|kneading|effleurage";
	T_EXPECT("routine t: parameter 2 (stroke): choices "
	    "'effleurage|kneading|effleurage': 'effleurage' is given twice");
	t_params[2].def = 3;
	T_EXPECT("routine t: parameter 2 (stroke): default 3 is not an index "
	    "of the 3 choices (expected 0 to 2)");
	t_params[2].def = 0.5;
	T_EXPECT("routine t: parameter 2 (stroke): default 0.5 is not an index "
	    "of the 3 choices (expected 0 to 2)");
	t_params[2].max = 0;
	T_EXPECT("routine t: parameter 2 (stroke): min 0 and max 0 do not span "
	    "the 3 choices (expected min 0 and max 2)");
	t_params[2].choices = "one";
	t_params[2].max = 0;
	assert_int_equal(routine_desc_check(&t_desc, why, sizeof(why)), 0);
}

static void
test_param_parse(void **state)
{
	static const struct massaged_param p[] = {
		{ "pressure_kpa", MASSAGED_PARAM_REAL, "kPa", 10, 2, 40, NULL,
		    "" },
		{ "rounds", MASSAGED_PARAM_INT, "", 1, 1, 5, NULL, "" },
		{ "slow", MASSAGED_PARAM_BOOL, "", 0, 0, 1, NULL, "" },
		{ "stroke", MASSAGED_PARAM_CHOICE, "", 0, 0, 2,
		    "effleurage|kneading|circular", "" },
		{ "hold_s", MASSAGED_PARAM_INT, "s", 60, 30, 90, NULL, "" },
	};
	char	 why[256];
	double	 v;

	(void)state;
#define OK(i, s, want) do {						\
	v = -1;								\
	if (routine_param_parse(&p[i], s, &v, why, sizeof(why)) != 0)	\
		fail_msg("'%s' refused: %s", s, why);			\
	assert_true(v == (want));					\
} while (0)
#define BAD(i, s, want) do {						\
	v = -1;								\
	assert_int_equal(routine_param_parse(&p[i], s, &v, why,	\
	    sizeof(why)), -1);						\
	assert_string_equal(why, want);					\
	assert_true(v == -1);						\
} while (0)
	OK(0, "12.5", 12.5);
	OK(0, "2", 2);
	OK(0, "40", 40);
	OK(0, "4e1", 40);
	BAD(0, "abc", "'abc' is not a number (expected a number from 2 to 40 "
	    "kPa)");
	BAD(0, "12kPa", "'12kPa' is not a number (expected a number from 2 to "
	    "40 kPa)");
	BAD(0, "nan", "'nan' is not a number (expected a number from 2 to 40 "
	    "kPa)");
	BAD(0, "", "'' is not a number (expected a number from 2 to 40 kPa)");
	BAD(0, "45", "45 is out of range (expected a number from 2 to 40 "
	    "kPa)");
	BAD(0, "1.99", "1.99 is out of range (expected a number from 2 to 40 "
	    "kPa)");
	OK(1, "3", 3);
	BAD(1, "2.5", "'2.5' is not a whole number (expected 1 to 5)");
	BAD(1, "6", "6 is out of range (expected a whole number from 1 to 5)");
	BAD(1, "0", "0 is out of range (expected a whole number from 1 to 5)");
	BAD(4, "120", "120 is out of range (expected a whole number from 30 "
	    "to 90 s)");
	OK(2, "yes", 1);
	OK(2, "on", 1);
	OK(2, "no", 0);
	OK(2, "false", 0);
	BAD(2, "maybe", "'maybe' is not valid (expected yes or no)");
	OK(3, "effleurage", 0);
	OK(3, "kneading", 1);
	OK(3, "circular", 2);
	BAD(3, "tapotement", "'tapotement' is not one of the choices (expected "
	    "effleurage, kneading or circular)");
	BAD(3, "knead", "'knead' is not one of the choices (expected "
	    "effleurage, kneading or circular)");
	BAD(3, "1", "'1' is not one of the choices (expected effleurage, "
	    "kneading or circular)");
#undef OK
#undef BAD
}

/* --- instances --------------------------------------------------------- */

/* Runs fn with stderr going to a file; returns what was written. */
static char *
capture_stderr(void (*fn)(void *), void *arg)
{
	char	 path[PATH_MAX + 16], *buf;
	int	 fd, saved;
	long	 n;
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	assert_non_null(fp = fopen(path, "r"));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return (buf);
}

struct inst_call {
	struct routine_inst		 ri;
	const struct massaged_routine	*d;
	double				 params[ROUTINE_PARAMS_MAX];
	struct massaged_zone		 zones[2];
	int				 rc;
	char				 why[256];
};

static void
inst_create(void *arg)
{
	struct inst_call	*c = arg;

	c->rc = routine_inst_create(&c->ri, c->d, c->params, c->zones, 2, 90,
	    c->why, sizeof(c->why));
}

static void
test_instances(void **state)
{
	struct routine_set	 set = { 0 };
	struct inifile_errors	 errs = { .quiet = 1 };
	struct inst_call	 c;
	struct massaged_step_in	 in;
	double			 out[2];
	char			 path[PATH_MAX], *log;
	size_t			 i;

	(void)state;
	memset(&c, 0, sizeof(c));
	test_plugin(path, sizeof(path), "loader_good");
	if (routines_load_file(&set, path, &errs) != 0)
		fail_msg("%s", errs.text);
	c.d = routines_find(&set, "loader_good");
	for (i = 0; i < c.d->n_params; i++)
		c.params[i] = c.d->params[i].def;
	c.zones[0].name = "piriformis_left";
	c.zones[1].name = "piriformis_right";
	c.params[0] = 7;

	/* The host log service: into the log, the routine named. */
	log = capture_stderr(inst_create, &c);
	assert_int_equal(c.rc, 0);
	assert_string_equal(log, "<6>massaged: routine loader_good: created "
	    "with 2 zones for 90 s\n");
	free(log);
	assert_ptr_equal(c.ri.desc, c.d);
	assert_int_equal(c.ri.n_zones, 2);
	assert_int_equal(c.ri.host.size, sizeof(struct massaged_host));

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.intensity = 1;
	assert_int_equal(routine_inst_step(&c.ri, &in, out),
	    MASSAGED_STEP_RUNNING);
	assert_true(out[0] == 7 && out[1] == 7);
	routine_inst_destroy(&c.ri);
	assert_null(c.ri.desc);
	assert_null(c.ri.inst);
	assert_int_equal(routine_inst_step(&c.ri, &in, out),
	    MASSAGED_STEP_ERROR);
	routine_inst_destroy(&c.ri);	/* twice is harmless */

	/* Whatever step() returns that is not RUNNING or DONE is ERROR. */
	{
		static const struct { int ret, want; } r[] = {
			{ 0, MASSAGED_STEP_RUNNING },
			{ 1, MASSAGED_STEP_DONE },
			{ -1, MASSAGED_STEP_ERROR },
			{ 2, MASSAGED_STEP_ERROR },
			{ 7, MASSAGED_STEP_ERROR },
			{ -5, MASSAGED_STEP_ERROR },
		};

		for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
			c.params[1] = r[i].ret;
			assert_int_equal(routine_inst_create(&c.ri, c.d,
			    c.params, c.zones, 2, 90, c.why, sizeof(c.why)), 0);
			assert_int_equal(routine_inst_step(&c.ri, &in, out),
			    r[i].want);
			routine_inst_destroy(&c.ri);
		}
	}

	/* create() refusing, with and without a reason. */
	assert_int_equal(routine_inst_create(&c.ri, c.d, c.params, c.zones, 0,
	    90, c.why, sizeof(c.why)), -1);
	assert_string_equal(c.why, "no zones");
	assert_null(c.ri.inst);
	c.params[0] = 9;
	assert_int_equal(routine_inst_create(&c.ri, c.d, c.params, c.zones, 2,
	    90, c.why, sizeof(c.why)), -1);
	assert_string_equal(c.why, "create() failed and gave no reason");
	assert_int_equal(routine_inst_step(&c.ri, &in, out),
	    MASSAGED_STEP_ERROR);
	routine_inst_destroy(&c.ri);

	routines_free(&set);
	inifile_errors_free(&errs);
}

/* --- the SDK example --------------------------------------------------- */

static int
run(char *const argv[])
{
	pid_t	 pid;
	int	 st;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		/* Not the settings of a make that may be running us. */
		unsetenv("MAKEFLAGS");
		unsetenv("MFLAGS");
		unsetenv("MAKELEVEL");
		unsetenv("CFLAGS");
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) == -1)
		return (-1);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void
test_example(void **state)
{
	struct routine_set		 set = { 0 };
	struct inifile_errors		 errs = { .quiet = 1 };
	const struct massaged_routine	*d;
	struct routine_inst		 ri;
	struct massaged_zone		 z[3];
	struct massaged_step_in		 in;
	double				 params[ROUTINE_PARAMS_MAX], out[3];
	double				 peak = 0;
	char				 so[PATH_MAX + 16], outarg[PATH_MAX + 32];
	char				 why[256];
	size_t				 i;
	int				 rc, k;
	char *const			 argv[] = { "make", "-s", "-C",
	    "docs/examples/hello_routine", "PKG_CONFIG=false", outarg, NULL };

	(void)state;
	/* As an integrator would: with its own Makefile, out of our build. */
	snprintf(so, sizeof(so), "%s/hello.so", tmpdir);
	snprintf(outarg, sizeof(outarg), "OUT=%s", so);
	if (access("docs/examples/hello_routine/Makefile", R_OK) == -1)
		fail_msg("run from the top of the source tree");
	rc = run(argv);
	assert_int_equal(rc, 0);
	chmod(so, 0644);
	if (routines_load_file(&set, so, &errs) != 0)
		fail_msg("%s", errs.text);
	assert_non_null(d = routines_find(&set, "hello"));
	assert_int_equal(d->n_params, 2);
	for (i = 0; i < d->n_params; i++)
		params[i] = d->params[i].def;
	memset(z, 0, sizeof(z));
	z[0].name = "a";
	z[1].name = "b";
	z[2].name = "c";
	assert_int_equal(routine_inst_create(&ri, d, params, z, 3, 20, why,
	    sizeof(why)), 0);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.intensity = 1;
	in.dt_s = 0.1;
	for (k = 0; k < 200; k++) {
		in.t_s = k * 0.1;
		assert_int_equal(routine_inst_step(&ri, &in, out),
		    MASSAGED_STEP_RUNNING);
		assert_true(out[0] >= 0 && out[0] == out[2]);
		if (out[0] > peak)
			peak = out[0];
	}
	assert_true(peak > 5.9 && peak <= 6);
	in.t_s = 20;
	assert_int_equal(routine_inst_step(&ri, &in, out), MASSAGED_STEP_DONE);
	routine_inst_destroy(&ri);
	routines_free(&set);
	inifile_errors_free(&errs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_newer_sdk),
		cmocka_unit_test(test_args_minor),
		cmocka_unit_test(test_ask_ahead),
		cmocka_unit_test_setup_teardown(test_not_loadable, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test_setup_teardown(test_duplicate, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test_setup_teardown(test_permissions, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test(test_desc_check),
		cmocka_unit_test(test_param_parse),
		cmocka_unit_test_setup_teardown(test_instances, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test_setup_teardown(test_example, setup_tmp,
		    teardown_tmp),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
