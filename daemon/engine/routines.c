/*
 * routines.c: loads routine plugins (the SDK is include/massaged/routine.h)
 * and runs instances of them, each in a worker process of its own.
 *
 * Plugin code never runs here: a plugin file is loaded by massaged-worker
 * (worker/), which sends a copy of its descriptor; the set holds that copy,
 * and every instance is a fresh worker that serves create() and destroy()
 * over a socketpair, and step() through a page both map (worker.h: when
 * all goes well, neither side wakes the other). The caller owns time:
 * every wait for a worker has a deadline, and a worker that misses it,
 * dies, or says something it should not is killed (SIGKILL to its process
 * group) and reaped, and the call fails with the cause.
 *
 * Before a worker is started for a file, what can be checked is: the file
 * and its directory must be writable by their owner only, and the owner
 * must be root or the daemon's user. Then the descriptor: ABI version and
 * size before any other field, then names, flags, functions and the
 * parameter table. Each refused file gets one message that names it and
 * is kept in the set's refusals; the others still load.
 *
 * Descriptors that do not come from a worker (built into a test) are
 * called in-process, as before.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "files.h"
#include "routines.h"
#include "strings.h"
#include "table.h"
#include "massaged/worker.h"

#define ROUTINE_NAME_LEN	48	/* as NAME_LEN in table.h */
#define ROUTINE_VERSION_LEN	32
#define ROUTINE_FLAGS_KNOWN	(MASSAGED_ROUTINE_FOCUSED)

/*
 * The ABI v1 descriptor ends with destroy(). A later v1 header may append
 * fields (and says so in size); it never moves or removes one. A descriptor
 * smaller than v1 is broken, one larger than this daemon knows was built
 * against a newer SDK and may rely on what this daemon cannot do.
 */
#define ROUTINE_DESC_V1_SIZE	(offsetof(struct massaged_routine, destroy) + \
				    sizeof(void (*)(void *)))

_Static_assert(WORKER_ZONES_MAX >= TABLE_MAX_ZONES, "worker.h zones");
_Static_assert(WORKER_PARAMS_MAX == ROUTINE_PARAMS_MAX, "worker.h params");

#ifndef WORKERPATH
#define WORKERPATH	"/usr/local/libexec/massaged/massaged-worker"
#endif
#define ROUTINE_LOAD_MS		3000	/* start, load, describe */
#define ROUTINE_CHECK_MS	2000	/* one create() while checking */
#define ROUTINE_CALL_MS		1000	/* any call without a deadline set */
#define ROUTINE_REAP_MS		5	/* for a dying worker's status */
#define ROUTINE_PENDING_MAX	64

#if defined(__SANITIZE_ADDRESS__)
#define ROUTINE_ASAN		1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROUTINE_ASAN		1
#endif
#endif

/* A worker: one process, one socket, one request at a time, and the page
 * step() goes through. */
struct routine_worker {
	pid_t		 pid;
	int		 fd;
	struct wk_shared *sh;
	uint32_t	 seq;
	uint32_t	 logs;		/* a.logs when last taken */
	int		 loaded;	/* its descriptor arrived */
	size_t		 len;		/* of the last message */
	char		 name[WORKER_NAME_LEN];
	union {
		struct wk_hdr		 h;
		struct wk_desc		 desc;
		struct wk_text		 text;
		struct wk_create	 create;
	} buf;
};

/* The daemon's copy of a descriptor a worker sent, and where it came from. */
struct routine_copy {
	struct massaged_routine	 d;	/* first: desc points here */
	char			 path[PATH_MAX];
	struct massaged_param	 params[WORKER_PARAMS_MAX];
	char			 strings[WORKER_STRINGS_LEN];
	struct routine_worker	*checker;	/* for program checks */
};

static void	*routines_remote_create(const struct massaged_routine_args *,
		    char *, size_t);
static int	 routines_remote_step(void *, const struct massaged_step_in *,
		    double *);
static void	 routines_remote_destroy(void *);
static const char *routines_worker_path(void);
static struct routine_worker *routines_spawn(const char *so, char *why,
		    size_t whylen);
static int	 routines_remote_inst(struct routine_inst *,
		    const struct routine_opts *, struct routine_copy *,
		    const double *, const struct massaged_zone *, size_t,
		    double, char *, size_t);
static void	 routines_end(struct routine_worker *w, int killed,
		    char *why, size_t whylen);
static int	 routines_call(struct routine_worker *w, const void *req,
		    size_t reqlen, uint32_t want, uint64_t deadline_ns,
		    char *why, size_t whylen);
static int	 routines_wait(struct routine_worker *w, uint32_t want,
		    uint64_t deadline_ns, char *why, size_t whylen);
static int	 routines_wait_soft(struct routine_worker *w, uint32_t want,
		    uint64_t soft_ns, uint64_t deadline_ns, char *why,
		    size_t whylen);
static int	 routines_send(struct routine_worker *w, const void *req,
		    size_t reqlen, char *why, size_t whylen);
static int	 routines_decode(struct routine_copy *, const struct wk_desc *,
		    size_t, char *why, size_t whylen);
static void	 routines_refuse(struct routine_set *, const char *path,
		    const char *why);
static int	 routines_remote_stepped(struct routine_inst *,
		    const struct massaged_step_in *, double *);
static int	 routines_secure(const char *path, int isdir, char *why,
		    size_t whylen);
static int	 routines_load_one(struct routine_set *, const char *path,
		    int check_dir, struct inifile_errors *);
static const char *routines_safe(const char *s, char *buf, size_t len);
static int	 routine_version_ok(const char *s);
static int	 routine_choices(const char *choices, const char *name,
		    int *index, char *why, size_t whylen);
static int	 routine_param_check(const struct massaged_param *p,
		    char *why, size_t whylen);
static void	 routines_why(char *why, size_t whylen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 routine_host_log(void *ctx, int level, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Program keys that a parameter would hide. */
static const char *const routine_reserved[] = {
	"routine", "duration", "duration_s", "zones", NULL
};

/* snprintf() for reasons that may be cut short on purpose. */
static void
routines_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* A printable copy of a string a plugin gave us, for messages. */
static const char *
routines_safe(const char *s, char *buf, size_t len)
{
	size_t	 i;

	if (s == NULL)
		return ("(null)");
	for (i = 0; i + 1 < len && s[i] != '\0'; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return (buf);
}

/*
 * Refuses a file or directory that someone other than root or the daemon's
 * user could change: owned by another user, or group/world writable. why
 * gets what follows the thing's name: "is writable by others ...".
 */
static int
routines_secure(const char *path, int isdir, char *why, size_t whylen)
{
	return (files_trusted(path, isdir, "replace code the daemon runs", why,
	    whylen));
}

static int
routine_version_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return (0);
	for (n = 0; s[n] != '\0'; n++) {
		if (!isalnum((unsigned char)s[n]) && strchr(".+-", s[n]) == NULL)
			return (0);
	}
	return (n < ROUTINE_VERSION_LEN);
}

/*
 * Walks "a|b|c": checks every choice and returns how many there are, or -1
 * with why. With name, sets *index to its position (-1 if absent).
 */
static int
routine_choices(const char *choices, const char *name, int *index, char *why,
    size_t whylen)
{
	const char	*p, *q, *r;
	char		 one[ROUTINE_NAME_LEN], sb[64], sb2[64];
	size_t		 len;
	int		 n = 0;

	if (index != NULL)
		*index = -1;
	if (choices == NULL || *choices == '\0') {
		snprintf(why, whylen, "CHOICE without choices (expected "
		    "\"a|b|c\")");
		return (-1);
	}
	for (p = choices;; p = q + 1, n++) {
		if ((q = strchr(p, '|')) == NULL)
			q = p + strlen(p);
		len = (size_t)(q - p);
		if (len == 0 || len >= sizeof(one)) {
			snprintf(why, whylen, "choices '%s': choice %d is %s "
			    "(expected names separated by |)",
			    routines_safe(choices, sb, sizeof(sb)), n + 1,
			    len == 0 ? "empty" : "too long");
			return (-1);
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (!inifile_name_ok(one, sizeof(one))) {
			snprintf(why, whylen, "choices '%s': '%s' is not a valid "
			    "choice (expected [a-z0-9_]+)",
			    routines_safe(choices, sb, sizeof(sb)),
			    routines_safe(one, sb2, sizeof(sb2)));
			return (-1);
		}
		/* An earlier identical choice? */
		for (r = choices; r < p;) {
			const char *e = strchr(r, '|');

			if ((size_t)(e - r) == len && strncmp(r, p, len) == 0) {
				snprintf(why, whylen, "choices '%s': '%s' is "
				    "given twice", routines_safe(choices, sb,
				    sizeof(sb)), one);
				return (-1);
			}
			r = e + 1;
		}
		if (name != NULL && index != NULL && strcmp(one, name) == 0)
			*index = n;
		if (*q == '\0')
			break;
	}
	return (n + 1);
}

/* One entry of a parameter table; why gets the first problem. */
static int
routine_param_check(const struct massaged_param *p, char *why, size_t whylen)
{
	char	 sb[64];
	int	 i, n;

	if (p->name == NULL || !inifile_name_ok(p->name, ROUTINE_NAME_LEN)) {
		snprintf(why, whylen, "name '%s' is not valid (expected 1 to "
		    "%d characters of [a-z0-9_])",
		    routines_safe(p->name, sb, sizeof(sb)),
		    ROUTINE_NAME_LEN - 1);
		return (-1);
	}
	for (i = 0; routine_reserved[i] != NULL; i++) {
		if (strcmp(p->name, routine_reserved[i]) == 0) {
			snprintf(why, whylen, "name is reserved by programs "
			    "(routine, duration, duration_s and zones are step "
			    "keys)");
			return (-1);
		}
	}
	if (p->type < MASSAGED_PARAM_REAL || p->type > MASSAGED_PARAM_CHOICE) {
		snprintf(why, whylen, "unknown type %d (expected REAL, INT, "
		    "BOOL or CHOICE)", (int)p->type);
		return (-1);
	}
	if (p->unit == NULL) {
		snprintf(why, whylen, "unit is NULL (expected \"kPa\", \"s\", "
		    "... or \"\" for none)");
		return (-1);
	}
	if (p->help == NULL) {
		snprintf(why, whylen, "help is NULL (expected one sentence for "
		    "people)");
		return (-1);
	}
	if (!isfinite(p->def) || !isfinite(p->min) || !isfinite(p->max)) {
		snprintf(why, whylen, "default, min and max must be finite "
		    "numbers");
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_CHOICE) {
		if ((n = routine_choices(p->choices, NULL, NULL, why,
		    whylen)) == -1)
			return (-1);
		if (p->def != floor(p->def) || p->def < 0 || p->def > n - 1) {
			snprintf(why, whylen, "default %g is not an index of "
			    "the %d choices (expected 0 to %d)", p->def, n,
			    n - 1);
			return (-1);
		}
		if (p->min != 0 || p->max != n - 1) {
			snprintf(why, whylen, "min %g and max %g do not span "
			    "the %d choices (expected min 0 and max %d)",
			    p->min, p->max, n, n - 1);
			return (-1);
		}
		return (0);
	}
	if (p->min > p->max) {
		snprintf(why, whylen, "min %g is above max %g", p->min, p->max);
		return (-1);
	}
	if (p->def < p->min || p->def > p->max) {
		snprintf(why, whylen, "default %g is outside [%g, %g]", p->def,
		    p->min, p->max);
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_INT && (p->def != floor(p->def) ||
	    p->min != floor(p->min) || p->max != floor(p->max))) {
		snprintf(why, whylen, "INT default, min and max must be whole "
		    "numbers");
		return (-1);
	}
	if (p->type == MASSAGED_PARAM_BOOL && (p->min != 0 || p->max != 1 ||
	    (p->def != 0 && p->def != 1))) {
		snprintf(why, whylen, "BOOL needs min 0, max 1 and a default "
		    "of 0 or 1");
		return (-1);
	}
	return (0);
}

int
routine_desc_check(const struct massaged_routine *d, char *why, size_t whylen)
{
	char	 sb[64], pw[256];
	size_t	 i, j;

	if (d->abi_version != MASSAGED_ROUTINE_ABI_VERSION) {
		snprintf(why, whylen, "ABI version %u, expected %d (rebuild it "
		    "against this massaged's routine.h)", d->abi_version,
		    MASSAGED_ROUTINE_ABI_VERSION);
		return (-1);
	}
	if (d->size < ROUTINE_DESC_V1_SIZE) {
		snprintf(why, whylen, "descriptor size %u, expected %zu (set "
		    "size to sizeof(struct massaged_routine))", d->size,
		    sizeof(struct massaged_routine));
		return (-1);
	}
	if (d->size > sizeof(struct massaged_routine)) {
		snprintf(why, whylen, "descriptor size %u, expected %zu (built "
		    "against a newer routine.h than this massaged, and it sets "
		    "fields this massaged does not know)", d->size,
		    sizeof(struct massaged_routine));
		return (-1);
	}
	if (d->name == NULL || !inifile_name_ok(d->name, ROUTINE_NAME_LEN)) {
		snprintf(why, whylen, "routine name '%s' is not valid (expected "
		    "1 to %d characters of [a-z0-9_])",
		    routines_safe(d->name, sb, sizeof(sb)),
		    ROUTINE_NAME_LEN - 1);
		return (-1);
	}
	if (!routine_version_ok(d->version)) {
		snprintf(why, whylen, "routine %s: version '%s' is not valid "
		    "(expected a version such as 1.0.0)", d->name,
		    routines_safe(d->version, sb, sizeof(sb)));
		return (-1);
	}
	if (d->description == NULL) {
		snprintf(why, whylen, "routine %s: description is NULL "
		    "(expected one sentence for people)", d->name);
		return (-1);
	}
	if (d->flags & ~ROUTINE_FLAGS_KNOWN) {
		snprintf(why, whylen, "routine %s: unknown flags 0x%x (this "
		    "massaged knows 0x%x)", d->name,
		    d->flags & ~ROUTINE_FLAGS_KNOWN, ROUTINE_FLAGS_KNOWN);
		return (-1);
	}
	if (d->create == NULL || d->step == NULL || d->destroy == NULL) {
		snprintf(why, whylen, "routine %s: %s() is NULL", d->name,
		    d->create == NULL ? "create" :
		    d->step == NULL ? "step" : "destroy");
		return (-1);
	}
	if (d->n_params > ROUTINE_PARAMS_MAX) {
		snprintf(why, whylen, "routine %s: %zu parameters (at most %d)",
		    d->name, d->n_params, ROUTINE_PARAMS_MAX);
		return (-1);
	}
	if (d->n_params > 0 && d->params == NULL) {
		snprintf(why, whylen, "routine %s: params is NULL but n_params "
		    "is %zu", d->name, d->n_params);
		return (-1);
	}
	for (i = 0; i < d->n_params; i++) {
		if (routine_param_check(&d->params[i], pw, sizeof(pw)) == -1) {
			snprintf(why, whylen, "routine %s: parameter %zu (%s): "
			    "%s", d->name, i, routines_safe(d->params[i].name,
			    sb, sizeof(sb)), pw);
			return (-1);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(d->params[j].name, d->params[i].name) == 0) {
				snprintf(why, whylen, "routine %s: parameter "
				    "%s is given twice (entries %zu and %zu)",
				    d->name, d->params[i].name, j, i);
				return (-1);
			}
		}
	}
	return (0);
}

/* --- workers ------------------------------------------------------------ */

/* Killed workers not reaped yet; any thread may add or reap. */
static pthread_mutex_t	 routines_pending_mtx = PTHREAD_MUTEX_INITIALIZER;
static pid_t		 routines_pending[ROUTINE_PENDING_MAX];
static int		 routines_npending;

void
routines_reap(void)
{
	int	 i, j;

	pthread_mutex_lock(&routines_pending_mtx);
	for (i = 0, j = 0; i < routines_npending; i++) {
		pid_t pid = routines_pending[i];

		if (waitpid(pid, NULL, WNOHANG) == 0)
			routines_pending[j++] = pid;
	}
	routines_npending = j;
	pthread_mutex_unlock(&routines_pending_mtx);
}

/* MASSAGED_WORKER, else next to our own binary (a build tree), else the
 * installed one. */
static const char *
routines_worker_path(void)
{
	static char	 path[PATH_MAX];
	const char	*e;
	char		 self[PATH_MAX], *slash;
	ssize_t		 n;

	if ((e = getenv("MASSAGED_WORKER")) != NULL && *e != '\0')
		return (e);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(path, sizeof(path),
			    "%s/massaged-worker", self) < sizeof(path) &&
			    access(path, X_OK) == 0)
				return (path);
		}
	}
	return (WORKERPATH);
}

/* Starts a worker for one plugin file; it loads it on its own time. */
static struct routine_worker *
routines_spawn(const char *so, char *why, size_t whylen)
{
	static char *const		 env[] = {
#ifdef ROUTINE_ASAN
		/* Leak checks and ASan's reports need system calls the
		 * sandbox refuses; a single allocation is capped instead of
		 * the address space (see worker/sandbox.c). */
		"ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_abort=0:"
		    "handle_sigbus=0:handle_sigfpe=0:allocator_may_return_null=1:"
		    "max_allocation_size_mb=256:detect_odr_violation=0",
		"UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=0",
#endif
		NULL
	};
	struct routine_worker		*w;
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 all, none;
	const char			*bin = routines_worker_path();
	char				*argv[3];
	void				*sh;
	int				 sv[2], rc, mfd;

	routines_reap();
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return (NULL);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		free(w);
		return (NULL);
	}
	/* step()'s page: fresh for each worker, never another's. */
	if ((mfd = memfd_create("massaged-step", MFD_CLOEXEC)) == -1 ||
	    ftruncate(mfd, sizeof(struct wk_shared)) == -1 ||
	    (sh = mmap(NULL, sizeof(struct wk_shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED, mfd, 0)) == MAP_FAILED) {
		snprintf(why, whylen, "shared page: %s", strerror(errno));
		if (mfd != -1)
			close(mfd);
		close(sv[0]);
		close(sv[1]);
		free(w);
		return (NULL);
	}
	w->sh = sh;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD);
	posix_spawn_file_actions_adddup2(&fa, mfd, WORKER_SHM_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_SHM_FD + 1);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	argv[0] = "massaged-worker";
	argv[1] = (char *)(uintptr_t)so;
	argv[2] = NULL;
	rc = posix_spawn(&w->pid, bin, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	close(mfd);
	if (rc != 0) {
		routines_why(why, whylen, "cannot start %s: %s", bin,
		    strerror(rc));
		close(sv[0]);
		munmap(w->sh, sizeof(*w->sh));
		free(w);
		return (NULL);
	}
	w->fd = sv[0];
	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
	return (w);
}

/* How a worker ended, from its wait status. */
static void
routines_status(int st, char *why, size_t whylen)
{
	if (WIFEXITED(st))
		snprintf(why, whylen, "the worker exited with status %d",
		    WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		snprintf(why, whylen, "the worker was killed by the sandbox "
		    "(SIGSYS: a forbidden system call)");
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
		snprintf(why, whylen, "the worker used up its CPU time "
		    "(SIGXCPU)");
	else if (WIFSIGNALED(st))
		snprintf(why, whylen, "the worker died of SIG%s (%s)",
		    sigabbrev_np(WTERMSIG(st)) != NULL ?
		    sigabbrev_np(WTERMSIG(st)) : "?",
		    strsignal(WTERMSIG(st)));
	else
		snprintf(why, whylen, "the worker ended (status 0x%x)", st);
}

/*
 * Ends a worker: SIGKILL to its group, reaped now if it is gone, else
 * later (routines_reap()). Unless killed (the caller knows why), why gets
 * how it died, waiting a few ms at most for its status.
 */
static void
routines_end(struct routine_worker *w, int killed, char *why, size_t whylen)
{
	uint64_t	 until;
	pid_t		 r;
	int		 st = 0;

	if (w == NULL)
		return;
	close(w->fd);
	kill(-w->pid, SIGKILL);
	kill(w->pid, SIGKILL);
	until = clock_mono_ns() + (uint64_t)ROUTINE_REAP_MS * 1000000;
	while ((r = waitpid(w->pid, &st, WNOHANG)) == 0 && !killed &&
	    clock_mono_ns() < until) {
		struct timespec ts = { 0, 100000 };

		nanosleep(&ts, NULL);
	}
	if (r == 0) {
		pthread_mutex_lock(&routines_pending_mtx);
		if (routines_npending < ROUTINE_PENDING_MAX)
			routines_pending[routines_npending++] = w->pid;
		pthread_mutex_unlock(&routines_pending_mtx);
		if (!killed)
			snprintf(why, whylen, "the worker closed its socket");
	} else if (!killed && r == w->pid)
		routines_status(st, why, whylen);
	munmap(w->sh, sizeof(*w->sh));
	free(w);
}

/* One log line a worker passed on for host->log(). */
static void
routines_log(const struct routine_worker *w, const struct wk_text *m,
    size_t len)
{
	char	 buf[WORKER_TEXT_LEN];
	size_t	 i, n = len - offsetof(struct wk_text, text);
	int	 level = m->level;

	for (i = 0; i < n && i + 1 < sizeof(buf) && m->text[i] != '\0'; i++)
		buf[i] = isprint((unsigned char)m->text[i]) ? m->text[i] : '?';
	buf[i] = '\0';
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_emit(level, "routine %s: %s", w->name, buf);
}

/* Past deadline_ns: -1 "timeout" (the worker killed); past soft_ns: 2;
 * else 0, with the time in *now. */
static int
routines_due(struct routine_worker *w, uint64_t soft_ns, uint64_t deadline_ns,
    uint64_t *now, char *why, size_t whylen)
{
	if ((*now = clock_mono_ns()) >= deadline_ns) {
		snprintf(why, whylen, "timeout");
		routines_end(w, 1, NULL, 0);
		return (-1);
	}
	return (*now >= soft_ns ? 2 : 0);
}

/* Waits for the worker's socket until soft_ns or deadline_ns, whichever
 * comes first: 0, or -1 with why if poll failed (the worker ended). */
static int
routines_poll(struct routine_worker *w, uint64_t now, uint64_t soft_ns,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	struct pollfd	 pfd;
	struct timespec	 ts;
	uint64_t	 until = soft_ns < deadline_ns ? soft_ns : deadline_ns;

	pfd.fd = w->fd;
	pfd.events = POLLIN;
	ts.tv_sec = (time_t)((until - now) / 1000000000);
	ts.tv_nsec = (long)((until - now) % 1000000000);
	if (ppoll(&pfd, 1, &ts, NULL) == -1 && errno != EINTR) {
		snprintf(why, whylen, "poll: %s", strerror(errno));
		routines_end(w, 1, why, whylen);
		return (-1);
	}
	return (0);
}

/* Whether the message in w->buf (n bytes) is a text of this type
 * (WK_LOG, WK_ERR); the text is then NUL-terminated. */
static int
routines_is_text(struct routine_worker *w, ssize_t n, uint32_t type)
{
	if (w->buf.h.type != type || (size_t)n <= offsetof(struct wk_text,
	    text))
		return (0);
	w->buf.text.text[sizeof(w->buf.text.text) - 1] = '\0';
	if ((size_t)n < sizeof(w->buf.text))
		((char *)&w->buf)[n] = '\0';
	return (1);
}

/*
 * Waits for the answer of type want to the current request, until
 * deadline_ns (monotonic). Log lines are passed on meanwhile. 0 with the
 * message in w->buf, 1 for WK_ERR (the text in w->buf.text), -1 with why
 * if the worker failed (it is then ended: the caller must drop it).
 */
static int
routines_wait(struct routine_worker *w, uint32_t want, uint64_t deadline_ns,
    char *why, size_t whylen)
{
	return (routines_wait_soft(w, want, deadline_ns, deadline_ns, why,
	    whylen));
}

/* routines_wait(), but 2 (the worker kept, still asked) once soft_ns
 * has passed without an answer. */
static int
routines_wait_soft(struct routine_worker *w, uint32_t want, uint64_t soft_ns,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	uint64_t	 now;
	ssize_t		 n;
	int		 logs = 0, rc;

	for (;;) {
		n = recv(w->fd, &w->buf, sizeof(w->buf), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = routines_due(w, soft_ns, deadline_ns, &now,
			    why, whylen)) != 0 || (rc = routines_poll(w, now,
			    soft_ns, deadline_ns, why, whylen)) != 0)
				return (rc);
			continue;
		}
		if (n <= 0) {
			routines_end(w, 0, why, whylen);
			return (-1);
		}
		if ((size_t)n < sizeof(w->buf.h) || w->buf.h.seq != w->seq)
			break;
		if (routines_is_text(w, n, WK_LOG) &&
		    logs++ < WORKER_LOGS_MAX) {
			routines_log(w, &w->buf.text, (size_t)n);
			continue;
		}
		if (routines_is_text(w, n, WK_ERR))
			return (1);
		if (w->buf.h.type != want)
			break;
		if (want == WK_DESC && (size_t)n < offsetof(struct wk_desc,
		    params))
			break;
		if (want == WK_DESC)
			((char *)&w->buf)[n < (ssize_t)sizeof(w->buf) ? n :
			    (ssize_t)sizeof(w->buf) - 1] = '\0';
		w->len = (size_t)n;
		return (0);
	}
	snprintf(why, whylen, "the worker broke the protocol; killed");
	routines_end(w, 1, why, whylen);
	return (-1);
}

/* Sends one request and waits for its answer: routines_wait()'s results. */
static int
routines_call(struct routine_worker *w, const void *req, size_t reqlen,
    uint32_t want, uint64_t deadline_ns, char *why, size_t whylen)
{
	if (routines_send(w, req, reqlen, why, whylen) == -1)
		return (-1);
	return (routines_wait(w, want, deadline_ns, why, whylen));
}

/* Sends one request without waiting; -1 (the worker ended) if it cannot. */
static int
routines_send(struct routine_worker *w, const void *req, size_t reqlen,
    char *why, size_t whylen)
{
	struct wk_hdr	 h;
	ssize_t		 n;

	memcpy(&h, req, sizeof(h));
	w->seq = h.seq;
	while ((n = send(w->fd, req, reqlen, MSG_DONTWAIT | MSG_NOSIGNAL)) ==
	    -1 && errno == EINTR)
		;
	if (n != (ssize_t)reqlen) {
		/* Gone, or not reading: either way it is done. */
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			snprintf(why, whylen, "the worker does not read its "
			    "requests; killed");
			routines_end(w, 1, why, whylen);
		} else
			routines_end(w, 0, why, whylen);
		return (-1);
	}
	return (0);
}
/* The next string of a descriptor message, or NULL past its end. */
static const char *
routines_str(const char **p, const char *end, int *bad)
{
	const char	*s = *p;
	size_t		 n;

	if (s >= end) {
		*bad = 1;
		return (NULL);
	}
	n = strnlen(s, (size_t)(end - s));
	if (s + n >= end) {
		*bad = 1;
		return (NULL);
	}
	*p = s + n + 1;
	return (strcmp(s, WK_NULL_STR) == 0 ? NULL : s);
}

/* Rebuilds the descriptor a worker sent into c and checks it. */
static int
routines_decode(struct routine_copy *c, const struct wk_desc *m, size_t len,
    char *why, size_t whylen)
{
	struct massaged_routine	*d = &c->d;
	const char		*p, *end;
	size_t			 i;
	int			 bad = 0;

	memset(d, 0, sizeof(*d));
	d->abi_version = m->abi_version;
	d->size = m->size;
	if (m->abi_version != MASSAGED_ROUTINE_ABI_VERSION ||
	    m->size < ROUTINE_DESC_V1_SIZE ||
	    m->size > sizeof(struct massaged_routine))
		return (routine_desc_check(d, why, whylen));
	if (len < offsetof(struct wk_desc, strings) ||
	    len > offsetof(struct wk_desc, strings) + sizeof(c->strings)) {
		snprintf(why, whylen, "the worker sent a broken descriptor");
		return (-1);
	}
	memcpy(c->strings, m->strings, len - offsetof(struct wk_desc,
	    strings));
	p = c->strings;
	end = c->strings + (len - offsetof(struct wk_desc, strings));
	d->flags = m->flags;
	d->n_params = m->n_params;
	d->create = (m->fns & WK_HAS_CREATE) ? routines_remote_create : NULL;
	d->step = (m->fns & WK_HAS_STEP) ? routines_remote_step : NULL;
	d->destroy = (m->fns & WK_HAS_DESTROY) ? routines_remote_destroy :
	    NULL;
	d->name = routines_str(&p, end, &bad);
	if (!m->params_null && m->n_params <= WORKER_PARAMS_MAX) {
		d->version = routines_str(&p, end, &bad);
		d->description = routines_str(&p, end, &bad);
		d->params = c->params;
		for (i = 0; i < m->n_params && !bad; i++) {
			struct massaged_param *q = &c->params[i];

			q->type = (enum massaged_param_type)m->params[i].type;
			q->def = m->params[i].def;
			q->min = m->params[i].min;
			q->max = m->params[i].max;
			q->name = routines_str(&p, end, &bad);
			q->unit = routines_str(&p, end, &bad);
			q->choices = routines_str(&p, end, &bad);
			q->help = routines_str(&p, end, &bad);
		}
	} else {
		/* Only the name came: the check refuses the rest. */
		d->version = "0";
		d->description = "";
	}
	if (bad) {
		snprintf(why, whylen, "the worker sent a broken descriptor");
		return (-1);
	}
	return (routine_desc_check(d, why, whylen));
}

static int
routines_load_one(struct routine_set *set, const char *path, int check_dir,
    struct inifile_errors *errs)
{
	struct routine_copy	*c = NULL;
	struct routine_worker	*w = NULL;
	struct routine_lib	*lib;
	char			 real[PATH_MAX], dir[PATH_MAX];
	char			 why[1024], sec[768];
	const char		*slash;
	size_t			 n;
	int			 rc;

	if (realpath(path, real) == NULL) {
		snprintf(why, sizeof(why), "cannot load routine: %s",
		    strerror(errno));
		goto refuse;
	}
	/* The file, the directory it is in, and the one it is listed in. */
	if (routines_secure(real, 0, sec, sizeof(sec)) == -1) {
		snprintf(why, sizeof(why), "refused: the file %s", sec);
		goto refuse;
	}
	slash = strrchr(real, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash == real ? 1 :
	    (int)(slash - real), real);
	if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
		routines_why(why, sizeof(why), "refused: its directory %s %s",
		    dir, sec);
		goto refuse;
	}
	if (check_dir) {
		if ((slash = strrchr(path, '/')) == NULL)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
			    (int)(slash - path), path);
		if (routines_secure(dir, 1, sec, sizeof(sec)) == -1) {
			routines_why(why, sizeof(why), "refused: its directory "
			    "%s %s", dir, sec);
			goto refuse;
		}
	}

	/* Its code runs in a worker only: constructors included. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	snprintf(c->path, sizeof(c->path), "%s", real);
	if ((w = routines_spawn(real, sec, sizeof(sec))) == NULL) {
		snprintf(why, sizeof(why), "cannot load routine: %s", sec);
		goto refuse;
	}
	snprintf(w->name, sizeof(w->name), "in %s", path);
	rc = routines_wait(w, WK_DESC, clock_mono_ns() +
	    (uint64_t)ROUTINE_LOAD_MS * 1000000, sec, sizeof(sec));
	if (rc == 1) {
		snprintf(why, sizeof(why), "%s", w->buf.text.text);
		goto refuse;
	}
	if (rc == -1) {
		w = NULL;
		if (sec[0] == '\0' || strcmp(sec, "timeout") == 0)
			snprintf(sec, sizeof(sec), "no answer within %d ms",
			    ROUTINE_LOAD_MS);
		routines_why(why, sizeof(why), "cannot load routine: %s while "
		    "loading it (a constructor or the entry point misbehaves)",
		    sec);
		goto refuse;
	}
	if (routines_decode(c, &w->buf.desc, w->len, why, sizeof(why)) == -1)
		goto refuse;
	for (n = 0; n < (size_t)set->n; n++) {
		if (strcmp(set->libs[n].desc->name, c->d.name) == 0) {
			routines_why(why, sizeof(why), "routine %s is already "
			    "loaded from %s", c->d.name, set->libs[n].path);
			goto refuse;
		}
	}
	lib = reallocarray(set->libs, set->n + 1, sizeof(*set->libs));
	if (lib == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	set->libs = lib;
	lib = &set->libs[set->n++];
	memset(lib, 0, sizeof(*lib));
	snprintf(lib->path, sizeof(lib->path), "%s", path);
	snprintf(w->name, sizeof(w->name), "%s", c->d.name);
	c->checker = w;
	lib->desc = &c->d;
	log_info("routine %s %s loaded from %s", c->d.name, c->d.version,
	    path);
	return (0);

refuse:
	if (w != NULL) {
		sec[0] = '\0';
		routines_end(w, 1, sec, sizeof(sec));
	}
	free(c);
	inifile_errors_add(errs, "%s: %s", path, why);
	routines_refuse(set, path, why);
	return (1);
}

/* Keeps a refusal, so programs that need the file can say why. */
static void
routines_refuse(struct routine_set *set, const char *path, const char *why)
{
	struct routine_refusal	*r;

	r = reallocarray(set->refused, set->nrefused + 1, sizeof(*r));
	if (r == NULL)
		return;
	set->refused = r;
	r = &set->refused[set->nrefused++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	snprintf(r->why, sizeof(r->why), "%s", why);
}

const char *
routines_refusal(const struct routine_set *set, const char *name, char *buf,
    size_t len)
{
	struct str_list	 sl;
	const char	*base, *dot;
	int		 i;

	if (set->nrefused == 0)
		return (NULL);
	for (i = 0; i < set->nrefused; i++) {
		base = strrchr(set->refused[i].path, '/');
		base = base != NULL ? base + 1 : set->refused[i].path;
		dot = strrchr(base, '.');
		if (dot != NULL && (size_t)(dot - base) == strlen(name) &&
		    strncmp(base, name, (size_t)(dot - base)) == 0) {
			snprintf(buf, len, "routine %s is not loaded: %s: %s",
			    name, set->refused[i].path, set->refused[i].why);
			return (buf);
		}
	}
	{
		char list[512];

		str_list_init(&sl, list, sizeof(list));
		for (i = 0; i < set->nrefused; i++)
			str_list_add(&sl, i == set->nrefused - 1, "%s",
			    set->refused[i].path);
		snprintf(buf, len, "no routine named '%s' is loaded; refused "
		    "plugin file%s: %s", name, set->nrefused == 1 ? "" : "s",
		    list);
	}
	return (buf);
}

int
routines_load_dir(struct routine_set *set, const char *dir,
    struct inifile_errors *errs)
{
	struct dirent	**names;
	char		  path[PATH_MAX], why[768];
	int		  n, i, nerr = 0;

	/* In name order, so "already loaded from" always names the same. */
	if ((n = inifile_dir_list(dir, ".so", &names)) == -1) {
		inifile_errors_add(errs, "%s: cannot open routine directory: %s",
		    dir, strerror(errno));
		return (1);
	}
	if (routines_secure(dir, 1, why, sizeof(why)) == -1) {
		inifile_errors_add(errs, "%s: refused: the routine directory %s",
		    dir, why);
		inifile_dir_free(names, n);
		return (1);
	}
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) >= (int)sizeof(path)) {
			inifile_errors_add(errs, "%s/%s: path too long", dir,
			    names[i]->d_name);
			nerr++;
		} else
			nerr += routines_load_one(set, path, 0, errs);
	}
	inifile_dir_free(names, n);
	return (nerr);
}

int
routines_load_file(struct routine_set *set, const char *path,
    struct inifile_errors *errs)
{
	return (routines_load_one(set, path, 1, errs));
}

const struct massaged_routine *
routines_find(const struct routine_set *set, const char *name)
{
	int	 i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->libs[i].desc->name, name) == 0)
			return (set->libs[i].desc);
	return (NULL);
}

/* The copy behind a descriptor from a worker, or NULL (in-process). */
static struct routine_copy *
routines_copy(const struct massaged_routine *d)
{
	if (d == NULL || d->create != routines_remote_create)
		return (NULL);
	return ((struct routine_copy *)(uintptr_t)d);
}

void
routines_checked(struct routine_set *set)
{
	struct routine_copy	*c;
	int			 i;

	for (i = 0; i < set->n; i++) {
		if ((c = routines_copy(set->libs[i].desc)) != NULL &&
		    c->checker != NULL) {
			char why[64];

			routines_end(c->checker, 1, why, sizeof(why));
			c->checker = NULL;
		}
	}
	routines_reap();
}

void
routines_free(struct routine_set *set)
{
	int	 i;

	routines_checked(set);
	for (i = 0; i < set->n; i++)
		free(routines_copy(set->libs[i].desc));
	free(set->libs);
	free(set->refused);
	memset(set, 0, sizeof(*set));
}

int
routine_param_find(const struct massaged_routine *desc, const char *name)
{
	size_t	 i;

	for (i = 0; i < desc->n_params; i++)
		if (strcmp(desc->params[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

int
routine_param_parse(const struct massaged_param *p, const char *s,
    double *out, char *why, size_t whylen)
{
	const char	*unit = p->unit != NULL ? p->unit : "";
	const char	*sp = *unit != '\0' ? " " : "";
	char		 list[512];
	struct str_list	 sl;
	const char	*c, *q;
	double		 v;
	long		 l;
	int		 i, n, idx, b;

	switch (p->type) {
	case MASSAGED_PARAM_REAL:
		if (parse_double(s, -HUGE_VAL, HUGE_VAL, &v) == -1) {
			snprintf(why, whylen, "'%s' is not a number (expected "
			    "a number from %g to %g%s%s)", s, p->min, p->max,
			    sp, unit);
			return (-1);
		}
		if (v < p->min || v > p->max) {
			snprintf(why, whylen, "%s is out of range (expected a "
			    "number from %g to %g%s%s)", s, p->min, p->max, sp,
			    unit);
			return (-1);
		}
		*out = v;
		return (0);
	case MASSAGED_PARAM_INT:
		if (parse_int(s, LONG_MIN, LONG_MAX, &l) == -1) {
			snprintf(why, whylen, "'%s' is not a whole number "
			    "(expected %g to %g%s%s)", s, p->min, p->max, sp,
			    unit);
			return (-1);
		}
		if ((double)l < p->min || (double)l > p->max) {
			snprintf(why, whylen, "%s is out of range (expected a "
			    "whole number from %g to %g%s%s)", s, p->min,
			    p->max, sp, unit);
			return (-1);
		}
		*out = (double)l;
		return (0);
	case MASSAGED_PARAM_BOOL:
		if (parse_bool(s, &b) == -1) {
			snprintf(why, whylen, "'%s' is not valid (expected yes "
			    "or no)", s);
			return (-1);
		}
		*out = b;
		return (0);
	case MASSAGED_PARAM_CHOICE:
		if ((n = routine_choices(p->choices, s, &idx, why,
		    whylen)) == -1)
			return (-1);
		if (idx != -1) {
			*out = idx;
			return (0);
		}
		/* "a, b or c" */
		str_list_init(&sl, list, sizeof(list));
		for (c = p->choices, i = 0; i < n; i++, c = q + 1) {
			if ((q = strchr(c, '|')) == NULL)
				q = c + strlen(c);
			str_list_add(&sl, i == n - 1, "%.*s", (int)(q - c), c);
		}
		snprintf(why, whylen, "'%s' is not one of the choices "
		    "(expected %s)", s, list);
		return (-1);
	}
	snprintf(why, whylen, "unknown parameter type %d", (int)p->type);
	return (-1);
}

/* host->log of every instance: into the daemon's log, named. */
static void
routine_host_log(void *ctx, int level, const char *fmt, ...)
{
	const struct massaged_routine	*desc = ctx;
	va_list				 ap;
	char				 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_emit(level, "routine %s: %s", desc->name, buf);
}

/* Never called: a worker runs these (routines_copy() tells them apart). */
static void *
routines_remote_create(const struct massaged_routine_args *a, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "runs in its worker");
	return (NULL);
}

static int
routines_remote_step(void *inst, const struct massaged_step_in *in,
    double *out)
{
	return (MASSAGED_STEP_ERROR);
}

static void
routines_remote_destroy(void *inst)
{
}

/* The create request for a zone list, parameters and a step length. */
static void
routines_create_req(struct wk_create *m, const struct massaged_routine *desc,
    const double *params, const struct massaged_zone *zones, size_t n_zones,
    double duration_s, double ramp_kpa_s, double tick_hz)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	m->h.type = WK_CREATE;
	m->duration_s = duration_s;
	m->ramp_kpa_s = ramp_kpa_s;
	m->tick_hz = tick_hz;
	m->n_params = (uint32_t)desc->n_params;
	if (params != NULL)
		memcpy(m->params, params, desc->n_params * sizeof(double));
	m->n_zones = (uint32_t)n_zones;
	for (i = 0; i < n_zones; i++) {
		if (zones[i].name != NULL)
			snprintf(m->zones[i].name, sizeof(m->zones[i].name),
			    "%s", zones[i].name);
		m->zones[i].along_cm = zones[i].along_cm;
		m->zones[i].across_cm = zones[i].across_cm;
		m->zones[i].limit_kpa = zones[i].limit_kpa;
		m->zones[i].endangerment = zones[i].endangerment;
	}
}

int
routine_inst_prepare(struct routine_inst *ri,
    const struct massaged_routine *desc)
{
	struct routine_copy	*c = routines_copy(desc);
	char			 why[256];

	routine_inst_destroy(ri);
	if (c == NULL)
		return (0);
	if ((ri->w = routines_spawn(c->path, why, sizeof(why))) == NULL) {
		log_warnx("routine %s: %s", desc->name, why);
		return (-1);
	}
	snprintf(ri->w->name, sizeof(ri->w->name), "%s", desc->name);
	ri->prepared = desc;
	return (0);
}

/* create() in a worker: the prepared one, or a new one. */
static int
routines_remote_inst(struct routine_inst *ri, const struct routine_opts *o,
    struct routine_copy *c, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct routine_inst	*pr = o->prepared;
	struct routine_worker	*w = NULL;
	uint64_t		 deadline, load_deadline;
	char			 err[256];
	int			 rc;

	if (pr != NULL && pr->w != NULL && pr->prepared == &c->d) {
		w = pr->w;
		pr->w = NULL;
	}
	if (pr != NULL)
		routine_inst_destroy(pr);
	deadline = clock_mono_ns() + (uint64_t)((o->deadline_ms > 0 ?
	    o->deadline_ms : ROUTINE_CALL_MS) * 1e6);
	load_deadline = o->load_deadline_ns > 0 ? o->load_deadline_ns :
	    deadline;
	if (w == NULL) {
		if ((w = routines_spawn(c->path, err, sizeof(err))) == NULL) {
			snprintf(why, whylen, "%s", err);
			return (-1);
		}
		snprintf(w->name, sizeof(w->name), "%s", c->d.name);
		/* Loading has its own, longer deadline. */
		load_deadline = o->load_deadline_ns > 0 ? o->load_deadline_ns :
		    clock_mono_ns() + (uint64_t)ROUTINE_LOAD_MS * 1000000;
		if (deadline < load_deadline)
			deadline = load_deadline;
	}
	if (!w->loaded) {
		rc = routines_wait(w, WK_DESC, load_deadline, err, sizeof(err));
		if (rc != 0) {
			if (rc == -1 && strcmp(err, "timeout") == 0)
				routines_why(err, sizeof(err), "the worker did "
				    "not load %s in time; killed", c->path);
			snprintf(why, whylen, "%s", rc == 1 ?
			    w->buf.text.text : err);
			if (rc == 1)
				routines_end(w, 1, err, sizeof(err));
			return (-1);
		}
		w->loaded = 1;
	}
	routines_create_req(&w->buf.create, &c->d, params, zones, n_zones,
	    duration_s, o->ramp_kpa_s, o->tick_hz);
	w->buf.create.h.seq = ++w->seq;
	rc = routines_call(w, &w->buf.create, sizeof(w->buf.create), WK_OK,
	    deadline, err, sizeof(err));
	if (rc == 1) {
		snprintf(why, whylen, "%s", w->buf.text.text[0] != '\0' ?
		    w->buf.text.text : "create() failed and gave no reason");
		routines_end(w, 1, err, sizeof(err));
		return (-1);
	}
	if (rc == -1) {
		if (strcmp(err, "timeout") == 0 || err[0] == '\0')
			snprintf(err, sizeof(err), "create() did not answer "
			    "within %.1f ms; the worker was killed",
			    o->deadline_ms > 0 ? o->deadline_ms :
			    (double)ROUTINE_CALL_MS);
		snprintf(why, whylen, "%s", err);
		return (-1);
	}
	ri->w = w;
	return (0);
}

int
routine_inst_check(const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	struct routine_copy	*c = routines_copy(desc);
	struct routine_worker	*w;
	struct wk_hdr		 h;
	char			 err[256];
	int			 rc;

	if (c == NULL) {
		struct routine_inst ri;

		if (routine_inst_create(&ri, desc, params, zones, n_zones,
		    duration_s, why, whylen) == -1)
			return (-1);
		routine_inst_destroy(&ri);
		return (0);
	}
	if (c->checker == NULL) {
		if ((w = routines_spawn(c->path, err, sizeof(err))) == NULL) {
			snprintf(why, whylen, "%s", err);
			return (-2);
		}
		snprintf(w->name, sizeof(w->name), "%s", desc->name);
		rc = routines_wait(w, WK_DESC, clock_mono_ns() +
		    (uint64_t)ROUTINE_LOAD_MS * 1000000, err, sizeof(err));
		if (rc != 0) {
			snprintf(why, whylen, "%s", rc == 1 ?
			    w->buf.text.text : err);
			if (rc == 1)
				routines_end(w, 1, err, sizeof(err));
			return (-2);
		}
		c->checker = w;
	}
	w = c->checker;
	routines_create_req(&w->buf.create, desc, params, zones, n_zones,
	    duration_s, 0, 0);
	w->buf.create.h.seq = ++w->seq;
	rc = routines_call(w, &w->buf.create, sizeof(w->buf.create), WK_OK,
	    clock_mono_ns() + (uint64_t)ROUTINE_CHECK_MS * 1000000, err,
	    sizeof(err));
	if (rc == 1) {
		snprintf(why, whylen, "%s", w->buf.text.text[0] != '\0' ?
		    w->buf.text.text : "create() failed and gave no reason");
		return (-1);
	}
	if (rc == 0) {
		h.type = WK_DESTROY;
		h.seq = ++w->seq;
		rc = routines_call(w, &h, sizeof(h), WK_OK, clock_mono_ns() +
		    (uint64_t)ROUTINE_CHECK_MS * 1000000, err, sizeof(err));
		if (rc == 0)
			return (0);
	}
	c->checker = NULL;
	if (strcmp(err, "timeout") == 0 || err[0] == '\0')
		snprintf(err, sizeof(err), "no answer within %d ms; the worker "
		    "was killed", ROUTINE_CHECK_MS);
	snprintf(why, whylen, "%s while checking these settings", err);
	return (-2);
}

int
routine_inst_create(struct routine_inst *ri,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	return (routine_inst_start(ri, NULL, desc, params, zones, n_zones,
	    duration_s, why, whylen));
}

int
routine_inst_start(struct routine_inst *ri, const struct routine_opts *o,
    const struct massaged_routine *desc, const double *params,
    const struct massaged_zone *zones, size_t n_zones, double duration_s,
    char *why, size_t whylen)
{
	static const struct routine_opts	 defaults;
	struct massaged_routine_args		 args;
	struct routine_copy			*c = routines_copy(desc);
	char					 err[256];

	if (o == NULL)
		o = &defaults;
	if (c != NULL) {
		memset(ri, 0, sizeof(*ri));
		ri->host.size = sizeof(ri->host);
		ri->deadline_ms = o->deadline_ms;
		ri->wait_ms = o->wait_ms;
		ri->cpu_ms = o->cpu_ms;
		ri->tick_ms = o->tick_hz > 0 ? 1000.0 / o->tick_hz : 0;
		if (routines_remote_inst(ri, o, c, params, zones, n_zones,
		    duration_s, why, whylen) == -1)
			return (-1);
		ri->desc = desc;
		ri->inst = ri->w;
		ri->n_zones = n_zones;
		return (0);
	}
	memset(ri, 0, sizeof(*ri));
	ri->host.size = sizeof(ri->host);
	/* The descriptor outlives every instance and names the routine. */
	ri->host.ctx = (void *)(uintptr_t)desc;
	ri->host.log = routine_host_log;

	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.host = &ri->host;
	args.params = params;
	args.n_zones = n_zones;
	args.zones = zones;
	args.duration_s = duration_s;
	args.ramp_kpa_s = o->ramp_kpa_s;
	args.tick_hz = o->tick_hz;
	err[0] = '\0';
	if ((ri->inst = desc->create(&args, err, sizeof(err))) == NULL) {
		err[sizeof(err) - 1] = '\0';
		snprintf(why, whylen, "%s", err[0] != '\0' ? err :
		    "create() failed and gave no reason");
		return (-1);
	}
	ri->desc = desc;
	ri->n_zones = n_zones;
	return (0);
}

int
routine_inst_step(struct routine_inst *ri, const struct massaged_step_in *in,
    double *setpoint_kpa)
{
	int	 rc;

	if (ri->lost)
		return (ROUTINE_STEP_LOST);
	if (ri->desc == NULL || ri->inst == NULL)
		return (MASSAGED_STEP_ERROR);
	if (ri->w != NULL)
		return (routines_remote_stepped(ri, in, setpoint_kpa));
	rc = ri->desc->step(ri->inst, in, setpoint_kpa);
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE)
		return (MASSAGED_STEP_ERROR);
	return (rc);
}

void
routine_inst_destroy(struct routine_inst *ri)
{
	if (ri->w != NULL) {
		/* Its process goes, whatever destroy() would have done. */
		routines_end(ri->w, 1, NULL, 0);
	} else if (ri->desc != NULL && ri->inst != NULL)
		ri->desc->destroy(ri->inst);
	memset(ri, 0, sizeof(*ri));
}

/* CPU time the worker has used (its process clock), -1 if unknown. */
static int64_t
routines_cpu_ns(const struct routine_worker *w)
{
	struct timespec	 ts;
	clockid_t	 clk;

	if (clock_getcpuclockid(w->pid, &clk) != 0 ||
	    clock_gettime(clk, &ts) == -1)
		return (-1);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* The worker's scheduler state ('R', 'S', 'D' ...), 0 if unknown. */
static char
routines_sched_state(const struct routine_worker *w)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)w->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	/* pid (comm) state ...: comm may hold anything, even ")" */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return (0);
	return (p[2]);
}

/*
 * Asks step() through the page: the question is written, its number last.
 * The worker is told by a message only if it waits for one (a.waits).
 * look_ns: when the worker should look for the question after this one
 * (0: at once, then wait for a message); it sleeps until then, and finds
 * a question asked meanwhile then. -1 (the worker ended, ri lost) if it
 * cannot be told.
 */
static int
routines_remote_ask(struct routine_inst *ri, const struct massaged_step_in *in,
    uint64_t look_ns)
{
	struct routine_worker	*w = ri->w;
	struct wk_question	*q = &w->sh->q;
	struct wk_hdr		 h;
	size_t			 n = ri->n_zones;

	q->t_s = in->t_s;
	q->dt_s = in->dt_s;
	q->intensity = in->intensity;
	q->feedback = in->feedback;
	q->n = (uint32_t)n;
	q->look_ns = (int64_t)look_ns;
	q->waits = 0;
	if (in->pressure_kpa != NULL)
		memcpy(q->pressure_kpa, in->pressure_kpa, n * sizeof(double));
	else
		memset(q->pressure_kpa, 0, n * sizeof(double));
	ri->pending = 1;
	ri->sent_ns = clock_mono_ns();
	ri->late_ns = 0;
	/* Written, then the worker's flag read (each a full barrier): a
	 * worker that said it waits after this finds the question itself,
	 * and one that sleeps until the look time the last question gave
	 * finds it then. */
	__atomic_store_n(&q->seq, ++w->seq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sh->a.waits, __ATOMIC_SEQ_CST) == 0)
		return (0);
	h.type = WK_STEP;
	h.seq = w->seq;
	if (routines_send(w, &h, sizeof(h), ri->why, sizeof(ri->why)) == -1) {
		ri->w = NULL;
		ri->inst = NULL;
		ri->lost = 1;
		ri->pending = 0;
		return (-1);
	}
	return (0);
}

void
routine_inst_ask(struct routine_inst *ri, const struct massaged_step_in *in,
    uint64_t look_ns)
{
	if (ri->w != NULL && ri->inst != NULL && !ri->pending)
		(void)routines_remote_ask(ri, in, look_ns);
}

/*
 * The answer to the open question taken in, if it is in the page: 1, no
 * system call. It is copied out before anything looks at it (the worker
 * can write the page at any time); its values are checked by the caller.
 */
static int
routines_answered(struct routine_inst *ri)
{
	struct wk_answer	*a = &ri->w->sh->a;

	if (__atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) != ri->w->seq)
		return (0);
	memcpy(ri->answer_kpa, a->setpoint_kpa, ri->n_zones * sizeof(double));
	ri->answer_rc = a->rc;
	ri->answer_cpu_ns = a->cpu_ns;
	ri->pending = 0;
	ri->late_ns = 0;
	return (1);
}

/*
 * Takes what the worker sent on its socket, without waiting: log lines
 * (passed on) and WK_STEPPED notes. 0; 1 for WK_ERR (the text in
 * w->buf.text); -1 with why if the worker ended (dead, or broke the
 * protocol: then killed). The caller must drop a worker that ended.
 */
static int
routines_drain(struct routine_worker *w, char *why, size_t whylen)
{
	ssize_t	 n;
	int	 msgs = 0;

	w->logs = __atomic_load_n(&w->sh->a.logs, __ATOMIC_ACQUIRE);
	for (;;) {
		n = recv(w->fd, &w->buf, sizeof(w->buf), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (0);
		if (n <= 0) {
			routines_end(w, 0, why, whylen);
			return (-1);
		}
		/* A worker that floods its socket is broken. */
		if ((size_t)n < sizeof(w->buf.h) || w->buf.h.seq > w->seq ||
		    msgs++ >= 4 * WORKER_LOGS_MAX)
			break;
		if (routines_is_text(w, n, WK_LOG)) {
			routines_log(w, &w->buf.text, (size_t)n);
			continue;
		}
		if (w->buf.h.type == WK_STEPPED && (size_t)n ==
		    sizeof(w->buf.h))
			continue;
		if (routines_is_text(w, n, WK_ERR))
			return (1);
		break;
	}
	snprintf(why, whylen, "the worker broke the protocol; killed");
	routines_end(w, 1, why, whylen);
	return (-1);
}

/*
 * Waits for the answer to the open question: 0 once taken in; 2 (the
 * worker kept, still asked) once soft_ns has passed; -1 "timeout" (the
 * worker killed) at deadline_ns. Otherwise as routines_drain(). Every
 * call looks at the socket once at least: a worker that died is found.
 */
static int
routines_wait_step(struct routine_inst *ri, uint64_t soft_ns,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	struct routine_worker	*w = ri->w;
	uint64_t		 now;
	int			 rc;

	for (;;) {
		if (routines_answered(ri))
			return (0);
		if ((rc = routines_drain(w, why, whylen)) != 0)
			return (rc);
		if (routines_answered(ri))
			return (0);
		if ((rc = routines_due(w, soft_ns, deadline_ns, &now, why,
		    whylen)) != 0)
			return (rc);
		/* Say so, then look once more (as the worker does). */
		__atomic_store_n(&w->sh->q.waits, w->seq, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->sh->a.seq, __ATOMIC_SEQ_CST) == w->seq)
			continue;
		if ((rc = routines_poll(w, now, soft_ns, deadline_ns, why,
		    whylen)) != 0)
			return (rc);
	}
}

/* A worker that failed as routines_wait_step() says (rc -1 or 1): lost. */
static void
routines_lose(struct routine_inst *ri, int rc, double deadline_ms)
{
	if (rc == -1 && strcmp(ri->why, "timeout") == 0)
		snprintf(ri->why, sizeof(ri->why), "step() missed its "
		    "deadline of %.1f ms; the worker was killed", deadline_ms);
	else if (rc == 1) {
		routines_why(ri->why, sizeof(ri->why), "the worker failed: %s",
		    ri->w->buf.text.text);
		routines_end(ri->w, 1, NULL, 0);
	}
	ri->w = NULL;
	ri->inst = NULL;
	ri->lost = 1;
	ri->pending = 0;
}

void
routine_inst_collect(struct routine_inst *ri)
{
	int	 rc = 0;

	if (ri->w == NULL || ri->inst == NULL)
		return;
	ri->why[0] = '\0';
	if (ri->pending && !ri->answered && routines_answered(ri))
		ri->answered = 1;
	/* The socket only when the worker says it wrote to it. */
	if (__atomic_load_n(&ri->w->sh->a.logs, __ATOMIC_ACQUIRE) !=
	    ri->w->logs)
		rc = routines_drain(ri->w, ri->why, sizeof(ri->why));
	if (rc != 0)
		routines_lose(ri, rc, ri->deadline_ms);
}

/*
 * The worker of an unanswered step(), judged: stuck if it sleeps in the
 * kernel (a pure computation never waits: it sleeps, or waits for
 * something that will not come), or if, about a tick after the question,
 * it has used ri->cpu_ms of CPU on it (since its last answer, or since it
 * was first found without one); not if a busy machine only keeps it from
 * running. A stuck worker gets one last look (its answer may have come
 * meanwhile): 0 and the answer taken in then; otherwise it is killed, -1
 * with why. 2: not stuck.
 */
static int
routines_judge(struct routine_inst *ri, uint64_t now)
{
	char	 last[sizeof(ri->why)];
	int64_t	 cpu;
	double	 ms;
	int	 rc;

	if (ri->cpu_ms <= 0 || ri->tick_ms <= 0)
		return (2);
	if (routines_sched_state(ri->w) == 'S')
		snprintf(ri->why, sizeof(ri->why), "step() was asleep in the "
		    "kernel %.1f ms after it was asked; the worker was killed",
		    (now - ri->sent_ns) / 1e6);
	else if (ri->answer_cpu_ns > 0 &&
	    now - ri->sent_ns >= (uint64_t)(ri->tick_ms * 0.9e6) &&
	    (cpu = routines_cpu_ns(ri->w)) >= 0 &&
	    (ms = (cpu - ri->answer_cpu_ns) / 1e6) >= ri->cpu_ms)
		/* asked ahead: judged at the next tick, by the CPU it has
		 * used since its last answer */
		snprintf(ri->why, sizeof(ri->why), "step() was still computing "
		    "%.1f ms after it was asked (%.1f ms of CPU on it); the "
		    "worker was killed", (now - ri->sent_ns) / 1e6, ms);
	else if (ri->late_ns != 0 && ri->late_cpu_ns >= 0 &&
	    now - ri->sent_ns >= (uint64_t)(ri->tick_ms * 1e6) &&
	    (cpu = routines_cpu_ns(ri->w)) >= 0 &&
	    (ms = (cpu - ri->late_cpu_ns) / 1e6) >= ri->cpu_ms)
		snprintf(ri->why, sizeof(ri->why), "step() was still computing "
		    "%.1f ms after it was asked (%.1f ms of CPU in the last "
		    "%.1f ms); the worker was killed", (now - ri->sent_ns) /
		    1e6, ms, (now - ri->late_ns) / 1e6);
	else
		return (2);
	rc = routines_wait_step(ri, now, now + 1000000, last, sizeof(last));
	if (rc == 2) {
		routines_end(ri->w, 1, NULL, 0);
		return (-1);
	}
	if (rc == -1)
		snprintf(ri->why, sizeof(ri->why), "%s", last);
	else if (rc == 0)
		ri->why[0] = '\0';
	return (rc);
}

/*
 * step() in the worker. A question asked at an earlier call (ahead, by
 * routine_inst_ask(), or one that was late) is collected; otherwise this
 * call asks. The answer is waited for ri->wait_ms at most (the caller's
 * budget): if it is late, ROUTINE_STEP_LATE, and the next call collects
 * it. A worker found stuck (routines_judge()) is killed and
 * ROUTINE_STEP_LOST; one only kept from running has until
 * ri->deadline_ms after it was asked.
 */
static int
routines_remote_stepped(struct routine_inst *ri,
    const struct massaged_step_in *in, double *setpoint_kpa)
{
	struct routine_worker	*w = ri->w;
	double			 ms = ri->deadline_ms > 0 ? ri->deadline_ms :
				    ROUTINE_CALL_MS;
	uint64_t		 now, soft, hard;
	size_t			 n = ri->n_zones;
	int			 rc, asked = ri->pending;

	ri->why[0] = '\0';
	/* Collected between ticks, or in the page now: no system call. */
	if (ri->answered || (asked && routines_answered(ri))) {
		ri->answered = 0;
		goto take;
	}
	if (!asked && routines_remote_ask(ri, in, 0) == -1)
		return (ROUTINE_STEP_LOST);
	now = clock_mono_ns();
	hard = ri->sent_ns + (uint64_t)(ms * 1e6);
	soft = ri->wait_ms > 0 ? now + (uint64_t)(ri->wait_ms * 1e6) : hard;
	/* Every call gives the worker its wait: if the daemon itself was
	 * held up (a loaded or throttled machine stops both), the worker
	 * may not have run since; the miss is its own only after that. */
	if (ri->wait_ms > 0 && hard < soft)
		hard = soft;
	if (asked) {
		/* Asked a tick ago: dead, stuck, or only late? */
		rc = routines_wait_step(ri, now, hard, ri->why,
		    sizeof(ri->why));
		if (rc == 2 && (rc = routines_judge(ri, now)) == 2 &&
		    ri->late_ns == 0 && ri->cpu_ms > 0) {
			ri->late_ns = now;
			ri->late_cpu_ns = routines_cpu_ns(w);
		}
		if (rc == 2)
			rc = routines_wait_step(ri, soft, hard, ri->why,
			    sizeof(ri->why));
	} else
		rc = routines_wait_step(ri, soft, hard, ri->why,
		    sizeof(ri->why));
	if (rc == 2 && (rc = routines_judge(ri, clock_mono_ns())) == 2) {
		ri->late++;
		if (ri->late_ns == 0) {
			ri->late_ns = clock_mono_ns();
			ri->late_cpu_ns = ri->cpu_ms > 0 ? routines_cpu_ns(w) :
			    -1;
		}
		return (ROUTINE_STEP_LATE);
	}
	if (rc != 0) {
		routines_lose(ri, rc, ms);
		return (ROUTINE_STEP_LOST);
	}
take:
	memcpy(setpoint_kpa, ri->answer_kpa, n * sizeof(double));
	rc = ri->answer_rc;
	if (rc != MASSAGED_STEP_RUNNING && rc != MASSAGED_STEP_DONE)
		return (MASSAGED_STEP_ERROR);
	return (rc);
}
