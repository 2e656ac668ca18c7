/*
 * sandbox.c: how massaged-worker locks itself down, in two stages.
 *
 * Before the plugin is loaded (its constructors run then): its own process
 * group (the daemon kills the group), SIGKILL when the daemon dies, no new
 * privileges, not dumpable (no core with a client's data, no ptrace by
 * the daemon's user), few descriptors, a CPU time limit and an address
 * space limit; then a seccomp filter that kills the worker
 * on any system call outside a list: the dynamic loader may still open
 * files read-only and map them executable, nothing may start a process or
 * thread, run a program, open a socket, or open a file for writing.
 *
 * Where the kernel has Landlock, the files it may read while loading are
 * only the plugin's directory and the system's libraries (/usr, /lib,
 * /lib64, /etc/ld.so.cache): not the token file, the configuration or the
 * session records, which the daemon's user can read.
 *
 * Once loaded, a second filter leaves pure computation: memory (never
 * executable), the clock, futexes, sleeping, the socket to the daemon
 * (and the page shared with it, mapped before the first filter),
 * writes to stdout and stderr, exit. A filter can only be tightened, so
 * the plugin cannot undo it.
 *
 * Under AddressSanitizer the address space limit is left off: ASan
 * reserves terabytes of shadow memory before main(); the worker's ASan
 * options (routine-worker.c) cap single allocations instead.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/landlock.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"
#include "massaged/worker.h"

#define SANDBOX_CPU_S		3600		/* the longest step, all of it */
#define SANDBOX_AS_BYTES	(512ul << 20)
#define SANDBOX_NOFILE		16

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN		1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN		1
#endif
#endif

static int	 sandbox_limit(int res, rlim_t v);
static void	 sandbox_name(const char *);
static int	 sandbox_rules(scmp_filter_ctx, int);
static int	 sandbox_filter(int loading);
static int	 sandbox_paths(const char *so);

static pid_t	 sandbox_pid;

static int
sandbox_limit(int res, rlim_t v)
{
	struct rlimit	 rl;

	rl.rlim_cur = rl.rlim_max = v;
	return (setrlimit(res, &rl));
}

/* An argument check, every field set (libseccomp's SCMP_A0() leaves one
 * to the compiler). */
#define ARG(n, o, a, b)	((struct scmp_arg_cmp){ .arg = (n), .op = (o), \
			    .datum_a = (scmp_datum_t)(a), \
			    .datum_b = (scmp_datum_t)(b) })

/* Each call by its name, which libseccomp turns into the number of the
 * architecture built for; the names are kept for sandbox_names(). */
#define ALLOW(sc, ...) do {						\
	sandbox_name(#sc);						\
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sc),		\
	    __VA_ARGS__) != 0)						\
		goto fail;						\
} while (0)

/* Calls that exist on some architectures only, and the call that does
 * their work on the others (aarch64 has no open(): the C library calls
 * openat()). */
static const struct {
	const char	*name;
	const char	*instead;
} sandbox_others[] = {
	{ "open",	"openat" },
};

static const char	*sandbox_seen[SANDBOX_NAMES_MAX];
static int		 sandbox_nseen;

static void
sandbox_name(const char *name)
{
	int	 i;

	for (i = 0; i < sandbox_nseen; i++)
		if (strcmp(sandbox_seen[i], name) == 0)
			return;
	if (sandbox_nseen < SANDBOX_NAMES_MAX)
		sandbox_seen[sandbox_nseen++] = name;
}

const char *
sandbox_instead(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(sandbox_others) / sizeof(sandbox_others[0]);
	    i++)
		if (strcmp(sandbox_others[i].name, name) == 0)
			return (sandbox_others[i].instead);
	return (NULL);
}

/* The rules of one stage into ctx: loading 1 before dlopen(), 0 after. */
static int
sandbox_rules(scmp_filter_ctx ctx, int loading)
{
	int	 fd;

	/* The daemon's socket; stdout (/dev/null) and stderr. */
	ALLOW(recvfrom, 1, ARG(0, SCMP_CMP_EQ, WORKER_FD, 0));
	ALLOW(sendto, 1, ARG(0, SCMP_CMP_EQ, WORKER_FD, 0));
	for (fd = 1; fd <= 2; fd++) {
		ALLOW(write, 1, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
		ALLOW(writev, 1, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
		ALLOW(fstat, 1, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
		ALLOW(newfstatat, 1, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
		ALLOW(ioctl, 2, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)fd, 0),
		    ARG(1, SCMP_CMP_EQ, TCGETS, 0));
	}
	ALLOW(write, 1, ARG(0, SCMP_CMP_EQ, WORKER_FD, 0));
	ALLOW(read, 1, ARG(0, SCMP_CMP_EQ, WORKER_FD, 0));
	/* Memory. */
	ALLOW(brk, 0);
	ALLOW(munmap, 0);
	ALLOW(mremap, 0);
	ALLOW(madvise, 0);
	/* Time, waiting, signals to itself (abort()), the end. */
	ALLOW(clock_gettime, 0);
	ALLOW(gettimeofday, 0);
	ALLOW(clock_nanosleep, 0);
	ALLOW(nanosleep, 0);
	ALLOW(sched_yield, 0);
	ALLOW(futex, 0);
	ALLOW(getpid, 0);
	ALLOW(gettid, 0);
	ALLOW(rt_sigreturn, 0);
	ALLOW(rt_sigprocmask, 0);
	ALLOW(tgkill, 1, ARG(0, SCMP_CMP_EQ, (scmp_datum_t)sandbox_pid, 0));
	ALLOW(exit, 0);
	ALLOW(exit_group, 0);
	ALLOW(sigaltstack, 0);	/* the sanitizers, at exit */
	if (loading) {
		/* The dynamic loader: files read-only, code executable. */
		ALLOW(openat, 1, ARG(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT |
		    O_TRUNC | O_APPEND, O_RDONLY));
		ALLOW(open, 1, ARG(1, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT |
		    O_TRUNC | O_APPEND, O_RDONLY));
		ALLOW(read, 0);
		ALLOW(pread64, 0);
		ALLOW(close, 0);
		ALLOW(lseek, 0);
		ALLOW(fstat, 0);
		ALLOW(newfstatat, 0);
		ALLOW(mmap, 0);
		ALLOW(mprotect, 0);
		/* To install the second filter (a filter only tightens). */
		ALLOW(seccomp, 0);
	} else {
		ALLOW(mmap, 1, ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		ALLOW(mprotect, 1, ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	}
	return (0);
fail:
	return (-1);
}

int
sandbox_names(int loading, const char **names, int max)
{
	scmp_filter_ctx	 ctx;
	int		 i, rc;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return (-1);
	sandbox_nseen = 0;
	rc = sandbox_rules(ctx, loading);
	seccomp_release(ctx);
	if (rc == -1)
		return (-1);
	for (i = 0; i < sandbox_nseen && i < max; i++)
		names[i] = sandbox_seen[i];
	return (sandbox_nseen);
}

/* The filter of one stage, loaded: loading 1 before dlopen(), 0 after. */
static int
sandbox_filter(int loading)
{
	scmp_filter_ctx	 ctx;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	/* no_new_privs is set already; the second filter must not need
	 * prctl(). */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0 ||
	    sandbox_rules(ctx, loading) == -1 || seccomp_load(ctx) != 0) {
		seccomp_release(ctx);
		errno = EPERM;
		return (-1);
	}
	seccomp_release(ctx);
	return (0);
}

/* Landlock: read and map only these; 0 also where the kernel has none. */
static int
sandbox_paths(const char *so)
{
	static const char *const sys[] = { "/usr", "/lib", "/lib64",
	    "/etc/ld.so.cache", NULL };
	struct landlock_ruleset_attr	 ra;
	struct landlock_path_beneath_attr pb;
	char				 dir[PATH_MAX], *slash;
	const char			*paths[8];
	uint64_t			 all;
	long				 abi;
	int				 rs, fd, i, n = 0;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return (0);	/* no Landlock: the filters still hold */
	/* Every file system right this kernel knows: then all are denied
	 * but those granted below. */
	all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3)
		all |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = all;
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra),
	    0)) == -1)
		return (-1);
	snprintf(dir, sizeof(dir), "%s", so);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	paths[n++] = dir;
	for (i = 0; sys[i] != NULL; i++)
		paths[n++] = sys[i];
	for (i = 0; i < n; i++) {
		struct stat	 st;

		if ((fd = open(paths[i], O_PATH | O_CLOEXEC)) == -1)
			continue;	/* no /lib64 here */
		memset(&pb, 0, sizeof(pb));
		pb.parent_fd = fd;
		pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE |
		    LANDLOCK_ACCESS_FS_EXECUTE;
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			pb.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
		if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0) == -1) {
			close(fd);
			close(rs);
			return (-1);
		}
		close(fd);
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) == -1) {
		close(rs);
		return (-1);
	}
	close(rs);
	return (0);
}

int
sandbox_begin(const char *so)
{
	sandbox_pid = getpid();
	/* The daemon started us in a group of our own (posix_spawn); die
	 * with it, and if it is already gone, now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		return (-1);
	if (getpgid(0) != sandbox_pid && setpgid(0, 0) == -1)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return (-1);
	/* No RLIMIT_FSIZE: stderr may be a log file; the filter keeps
	 * everything else from being opened for writing. */
	if (sandbox_limit(RLIMIT_CORE, 0) == -1 ||
	    sandbox_limit(RLIMIT_NOFILE, SANDBOX_NOFILE) == -1)
		return (-1);
	{
		struct rlimit rl = { SANDBOX_CPU_S, SANDBOX_CPU_S + 5 };

		if (setrlimit(RLIMIT_CPU, &rl) == -1)
			return (-1);
	}
#ifndef SANDBOX_ASAN
	if (sandbox_limit(RLIMIT_AS, SANDBOX_AS_BYTES) == -1)
		return (-1);
#endif
	if (sandbox_paths(so) == -1)
		return (-1);
	return (sandbox_filter(1));
}

int
sandbox_finish(void)
{
	return (sandbox_filter(0));
}
