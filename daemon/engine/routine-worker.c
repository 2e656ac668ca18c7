/*
 * routine-worker.c: the worker processes routines run in (worker/,
 * massaged-worker), one per plugin file, and the page step() goes through.
 *
 * A worker is started with posix_spawn() in a process group of its own,
 * its socketpair on WORKER_FD and a fresh memfd page on WORKER_SHM_FD
 * (include/massaged/worker.h: when all goes well, neither side wakes the
 * other). The caller owns time: every wait for a worker has a deadline,
 * and a worker that misses it, dies, or says something it should not is
 * killed (SIGKILL to its process group) and reaped, and the call fails
 * with the cause.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "log.h"
#include "routine-worker.h"

#ifndef WORKERPATH
#define WORKERPATH	"/usr/local/libexec/massaged/massaged-worker"
#endif
#define ROUTINE_REAP_MS		5	/* for a dying worker's status */
#define ROUTINE_PENDING_MAX	64
#define ROUTINE_STDERR_READ	4096	/* bytes of stderr taken per look */

#if defined(__SANITIZE_ADDRESS__)
#define ROUTINE_ASAN		1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROUTINE_ASAN		1
#endif
#endif

static const char *routine_worker_path(void);
static void	 routine_worker_status(int st, char *why, size_t whylen);
static void	 routine_worker_log(const struct routine_worker *w,
		    const struct wk_text *m, size_t len);
static void	 routine_worker_errline(struct routine_worker *w);
static int	 routine_worker_is_text(struct routine_worker *w, ssize_t n,
		    uint32_t type);

/* snprintf() for reasons that may be cut short on purpose. */
void
routine_worker_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}
/* --- workers ------------------------------------------------------------ */

/* Killed workers not reaped yet; any thread may add or reap. */
static pthread_mutex_t	 routine_worker_pending_mtx =
			    PTHREAD_MUTEX_INITIALIZER;
static pid_t		 routine_worker_pending[ROUTINE_PENDING_MAX];
static int		 routine_worker_npending;

void
routine_worker_reap(void)
{
	int	 i, j;

	pthread_mutex_lock(&routine_worker_pending_mtx);
	for (i = 0, j = 0; i < routine_worker_npending; i++) {
		pid_t pid = routine_worker_pending[i];

		if (waitpid(pid, NULL, WNOHANG) == 0)
			routine_worker_pending[j++] = pid;
	}
	routine_worker_npending = j;
	pthread_mutex_unlock(&routine_worker_pending_mtx);
}

/* MASSAGED_WORKER, else next to our own binary (a build tree), else the
 * installed one. */
static const char *
routine_worker_path(void)
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

/* The worker binary held open, above the descriptors a spawn sets. */
static int
routine_worker_hold(const char *bin)
{
	int	 fd, high;

	if ((fd = open(bin, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	high = fcntl(fd, F_DUPFD_CLOEXEC, WORKER_EXE_FD + 1);
	close(fd);
	return (high);
}

/* posix_spawn() of the held worker binary with the worker's descriptors:
 * posix_spawn()'s result. */
static int
routine_worker_launch(struct routine_worker *w, const char *so, int exe,
    int sock, int mfd, int err)
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
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 all, none;
	char				*argv[3], self[32];
	int				 rc;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", WORKER_EXE_FD);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	posix_spawn_file_actions_adddup2(&fa, sock, WORKER_FD);
	posix_spawn_file_actions_adddup2(&fa, mfd, WORKER_SHM_FD);
	posix_spawn_file_actions_adddup2(&fa, exe, WORKER_EXE_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_EXE_FD + 1);
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
	rc = posix_spawn(&w->pid, self, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return (rc);
}

/* Starts a worker for one plugin file; it loads it on its own time. */
struct routine_worker *
routine_worker_spawn(const char *so, char *why, size_t whylen)
{
	struct routine_worker		*w;
	static int			 exe = -1;
	const char			*bin = routine_worker_path();
	void				*sh;
	const char			*base;
	int				 sv[2], ep[2], rc, mfd;

	routine_worker_reap();
	/* The worker of this daemon's version, held from the first start:
	 * an upgrade that replaces the file on disk does not change what
	 * the rest of this daemon's life runs (it restarts when idle). */
	if (exe == -1 && (exe = routine_worker_hold(bin)) == -1) {
		routine_worker_why(why, whylen, "cannot start %s: %s", bin,
		    strerror(errno));
		return (NULL);
	}
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
		goto fail;
	}
	w->sh = sh;
	/* Its stderr: a pipe we read, so that each line is named and none
	 * gets a priority of its own in the journal; non-blocking on both
	 * ends, so that a worker writing more than we take loses lines,
	 * never waits. */
	if (pipe2(ep, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		munmap(w->sh, sizeof(*w->sh));
		goto fail;
	}
	/* Named by its file until its caller names it. */
	base = strrchr(so, '/') != NULL ? strrchr(so, '/') + 1 : so;
	snprintf(w->name, sizeof(w->name), "%s", base);
	rc = routine_worker_launch(w, so, exe, sv[1], mfd, ep[1]);
	close(sv[1]);
	close(mfd);
	close(ep[1]);
	w->errfd = ep[0];
	if (rc != 0) {
		routine_worker_why(why, whylen, "cannot start %s: %s", bin,
		    strerror(rc));
		close(sv[0]);
		close(w->errfd);
		munmap(w->sh, sizeof(*w->sh));
		free(w);
		return (NULL);
	}
	w->fd = sv[0];
	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
	return (w);
fail:
	if (mfd != -1)
		close(mfd);
	close(sv[0]);
	close(sv[1]);
	free(w);
	return (NULL);
}

/* How a worker ended, from its wait status. */
static void
routine_worker_status(int st, char *why, size_t whylen)
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
 * later (routine_worker_reap()). Unless killed (the caller knows why), why gets
 * how it died, waiting a few ms at most for its status.
 */
void
routine_worker_end(struct routine_worker *w, int killed, char *why,
    size_t whylen)
{
	uint64_t	 until;
	pid_t		 r;
	int		 st = 0;

	if (w == NULL)
		return;
	close(w->fd);
	/* What it said before it went (a sanitizer's report, a mark). */
	routine_worker_stderr(w);
	if (w->errlen > 0)
		routine_worker_errline(w);
	if (w->errfd != -1)
		close(w->errfd);
	kill(-w->pid, SIGKILL);
	kill(w->pid, SIGKILL);
	until = clock_mono_ns() + (uint64_t)ROUTINE_REAP_MS * 1000000;
	while ((r = waitpid(w->pid, &st, WNOHANG)) == 0 && !killed &&
	    clock_mono_ns() < until) {
		struct timespec ts = { 0, 100000 };

		nanosleep(&ts, NULL);
	}
	if (r == 0) {
		pthread_mutex_lock(&routine_worker_pending_mtx);
		if (routine_worker_npending < ROUTINE_PENDING_MAX)
			routine_worker_pending[routine_worker_npending++] =
			    w->pid;
		pthread_mutex_unlock(&routine_worker_pending_mtx);
		if (!killed)
			snprintf(why, whylen, "the worker closed its socket");
	} else if (!killed && r == w->pid)
		routine_worker_status(st, why, whylen);
	munmap(w->sh, sizeof(*w->sh));
	free(w);
}

/* One log line a worker passed on for host->log(). */
static void
routine_worker_log(const struct routine_worker *w, const struct wk_text *m,
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

/* The line in w->errbuf as a daemon line of our priority, then gone. */
static void
routine_worker_errline(struct routine_worker *w)
{
	char	 line[sizeof(w->errbuf) + 1];
	size_t	 i = 0, j, n = w->errlen;

	/* Its own "<N>" would be a priority to journald: not ours to set. */
	while (i < n && w->errbuf[i] == '<') {
		for (j = i + 1; j < n && j - i <= 4 && isdigit((unsigned char)
		    w->errbuf[j]); j++)
			;
		if (j == i + 1 || j >= n || w->errbuf[j] != '>')
			break;
		i = j + 1;
	}
	for (j = 0; i < n; i++)
		line[j++] = isprint((unsigned char)w->errbuf[i]) ?
		    w->errbuf[i] : '?';
	line[j] = '\0';
	w->errlen = 0;
	if (j > 0)
		log_emit(LOG_INFO, "routine %s (stderr): %s", w->name, line);
}

/*
 * Passes on what the worker wrote to its stderr, without waiting: each
 * line as a daemon line "routine NAME (stderr): ..." at LOG_INFO, its own
 * "<N>" priority prefix and control characters neutralised. A line
 * longer than the buffer is passed on in parts.
 */
void
routine_worker_stderr(struct routine_worker *w)
{
	char	 buf[ROUTINE_STDERR_READ];
	ssize_t	 n, i;

	if (w->errfd == -1)
		return;
	if ((n = read(w->errfd, buf, sizeof(buf))) == 0) {
		close(w->errfd);	/* closed: poll() must not see it */
		w->errfd = -1;
	}
	if (n <= 0)
		return;
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			routine_worker_errline(w);
			continue;
		}
		w->errbuf[w->errlen++] = buf[i];
		if (w->errlen == sizeof(w->errbuf))
			routine_worker_errline(w);
	}
}

/* Past deadline_ns: -1 "timeout" (the worker killed); past soft_ns: 2;
 * else 0, with the time in *now. */
int
routine_worker_due(struct routine_worker *w, uint64_t soft_ns,
    uint64_t deadline_ns, uint64_t *now, char *why, size_t whylen)
{
	if ((*now = clock_mono_ns()) >= deadline_ns) {
		snprintf(why, whylen, "timeout");
		routine_worker_end(w, 1, NULL, 0);
		return (-1);
	}
	return (*now >= soft_ns ? 2 : 0);
}

/* Waits for the worker's socket until soft_ns or deadline_ns, whichever
 * comes first: 0, or -1 with why if poll failed (the worker ended). */
int
routine_worker_poll(struct routine_worker *w, uint64_t now, uint64_t soft_ns,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	struct pollfd	 pfd[2];
	struct timespec	 ts;
	uint64_t	 until = soft_ns < deadline_ns ? soft_ns : deadline_ns;

	pfd[0].fd = w->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = w->errfd;
	pfd[1].events = POLLIN;
	ts.tv_sec = (time_t)((until - now) / 1000000000);
	ts.tv_nsec = (long)((until - now) % 1000000000);
	if (ppoll(pfd, 2, &ts, NULL) == -1 && errno != EINTR) {
		snprintf(why, whylen, "poll: %s", strerror(errno));
		routine_worker_end(w, 1, why, whylen);
		return (-1);
	}
	return (0);
}

/* Whether the message in w->buf (n bytes) is a text of this type
 * (WK_LOG, WK_ERR); the text is then NUL-terminated. */
static int
routine_worker_is_text(struct routine_worker *w, ssize_t n, uint32_t type)
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
int
routine_worker_wait(struct routine_worker *w, uint32_t want,
    uint64_t deadline_ns, char *why, size_t whylen)
{
	return (routine_worker_wait_soft(w, want, deadline_ns, deadline_ns, why,
	    whylen));
}

/* routine_worker_wait(), but 2 (the worker kept, still asked) once soft_ns
 * has passed without an answer: soft_ns 0 looks without waiting. */
int
routine_worker_wait_soft(struct routine_worker *w, uint32_t want,
    uint64_t soft_ns, uint64_t deadline_ns, char *why, size_t whylen)
{
	uint64_t	 now;
	ssize_t		 n;
	int		 logs = 0, rc;

	for (;;) {
		routine_worker_stderr(w);
		n = recv(w->fd, &w->buf, sizeof(w->buf), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = routine_worker_due(w, soft_ns, deadline_ns,
			    &now, why, whylen)) != 0 ||
			    (rc = routine_worker_poll(w, now, soft_ns,
			    deadline_ns, why, whylen)) != 0)
				return (rc);
			continue;
		}
		if (n <= 0) {
			routine_worker_end(w, 0, why, whylen);
			return (-1);
		}
		if ((size_t)n < sizeof(w->buf.h) || w->buf.h.seq != w->seq)
			break;
		if (routine_worker_is_text(w, n, WK_LOG) &&
		    logs++ < WORKER_LOGS_MAX) {
			routine_worker_log(w, &w->buf.text, (size_t)n);
			continue;
		}
		if (routine_worker_is_text(w, n, WK_ERR))
			return (1);
		if (w->buf.h.type != want)
			break;
		if (want == WK_DESC && (size_t)n < offsetof(struct wk_desc,
		    params))
			break;
		if (want == WK_DESC) {
			((char *)&w->buf)[n < (ssize_t)sizeof(w->buf) ? n :
			    (ssize_t)sizeof(w->buf) - 1] = '\0';
			w->buf.desc.build[sizeof(w->buf.desc.build) - 1] = '\0';
			if (strcmp(w->buf.desc.build, MASSAGED_VERSION) != 0) {
				snprintf(why, whylen, "the worker is of "
				    "massaged %s, this daemon of %s: restart "
				    "the daemon after an upgrade; killed",
				    w->buf.desc.build, MASSAGED_VERSION);
				routine_worker_end(w, 1, why, whylen);
				return (-1);
			}
		}
		w->len = (size_t)n;
		return (0);
	}
	snprintf(why, whylen, "the worker broke the protocol; killed");
	routine_worker_end(w, 1, why, whylen);
	return (-1);
}

/* Sends one request and waits for its answer: routine_worker_wait()'s
 * results. */
int
routine_worker_call(struct routine_worker *w, const void *req, size_t reqlen,
    uint32_t want, uint64_t deadline_ns, char *why, size_t whylen)
{
	if (routine_worker_send(w, req, reqlen, why, whylen) == -1)
		return (-1);
	return (routine_worker_wait(w, want, deadline_ns, why, whylen));
}

/* Sends one request without waiting; -1 (the worker ended) if it cannot. */
int
routine_worker_send(struct routine_worker *w, const void *req, size_t reqlen,
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
			routine_worker_end(w, 1, why, whylen);
		} else
			routine_worker_end(w, 0, why, whylen);
		return (-1);
	}
	return (0);
}
/*
 * Takes what the worker sent on its socket, without waiting: log lines
 * (passed on) and WK_STEPPED notes. 0; 1 for WK_ERR (the text in
 * w->buf.text); -1 with why if the worker ended (dead, or broke the
 * protocol: then killed). The caller must drop a worker that ended.
 */
int
routine_worker_drain(struct routine_worker *w, char *why, size_t whylen)
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
			routine_worker_end(w, 0, why, whylen);
			return (-1);
		}
		/* A worker that floods its socket is broken. */
		if ((size_t)n < sizeof(w->buf.h) || w->buf.h.seq > w->seq ||
		    msgs++ >= 4 * WORKER_LOGS_MAX)
			break;
		if (routine_worker_is_text(w, n, WK_LOG)) {
			routine_worker_log(w, &w->buf.text, (size_t)n);
			continue;
		}
		if (w->buf.h.type == WK_STEPPED && (size_t)n ==
		    sizeof(w->buf.h))
			continue;
		if (routine_worker_is_text(w, n, WK_ERR))
			return (1);
		break;
	}
	snprintf(why, whylen, "the worker broke the protocol; killed");
	routine_worker_end(w, 1, why, whylen);
	return (-1);
}

/* CPU time the worker has used (its process clock), -1 if unknown. */
int64_t
routine_worker_cpu_ns(const struct routine_worker *w)
{
	struct timespec	 ts;
	clockid_t	 clk;

	if (clock_getcpuclockid(w->pid, &clk) != 0 ||
	    clock_gettime(clk, &ts) == -1)
		return (-1);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* The worker's scheduler state ('R', 'S', 'D' ...), 0 if unknown. */
char
routine_worker_sched_state(const struct routine_worker *w)
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

