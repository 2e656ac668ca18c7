/*
 * rig.c: the processes the bench starts and the files they need.
 *
 * Everything lives in one temporary directory: generated table
 * configurations, a program, a profile, a rule, a 0600 token file, the
 * state directories, each process's stdout and stderr, the simulator's
 * event logs, and the datagram socket the daemon sends READY=1 to. Ports
 * are picked by the kernel and read back from the simulator's banner and
 * the daemon's log. Every process is remembered by its PID and stopped by
 * it (SIGTERM, then SIGKILL), on success, on failure and on a signal.
 *
 * The notify socket is read by a thread for as long as the bench runs:
 * sd_notify() blocks once the receiver's queue is full, and a daemon
 * blocked there stops ticking.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RIG_MAXPROCS		16
#define RIG_START_MS		5000	/* banner, log line, READY=1 */
#define RIG_STOP_MS		3000	/* SIGTERM to SIGKILL */

static void	rig_signal(int);
static int	rig_write(const char *, mode_t, const char *, ...)
		    BENCH_PRINTF(3, 4);
static pid_t	rig_spawn(char *const [], const char *, const char *, int);
static void	rig_device_ctl(FILE *, int, const struct rig_conf *,
		    const struct rig_sim *);
static int	rig_reap(pid_t, int);
static void	rig_forget(pid_t);
static int	rig_file_wait(const char *, const char *, pid_t, char *,
		    size_t);
static int	rig_notify_wait(pid_t, uint64_t, uint64_t *);
static void	*rig_notify_main(void *);
static int	rig_rm(const char *, const struct stat *, int, struct FTW *);

/* Short enough that every path built from them fits PATH_MAX. */
static char		 rig_dir[1024];
static char		 rig_build[1024];
static char		 rig_devices[PATH_MAX];	/* config/devices, or "" */
static char		 rig_notify_path[PATH_MAX];
static int		 rig_notify_fd = -1;
static pthread_t	 rig_notify_thread;
static int		 rig_notify_started;
static pthread_mutex_t	 rig_notify_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		 rig_notify_quit;
static uint64_t		 rig_ready_seq;		/* READY=1 datagrams seen */
static uint64_t		 rig_ready_ns;		/* when the last one came */
static volatile pid_t	 rig_pids[RIG_MAXPROCS];
static int		 rig_seq;
static int		 rig_keep;

void
sleep_ms(double ms)
{
	struct timespec	 ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void
warnx_(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "massaged-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* config/devices of the tree, or NULL when it was not found. */
const char *
rig_devices_dir(void)
{
	return (rig_devices[0] != '\0' ? rig_devices : NULL);
}

const char *
rig_tmp(void)
{
	return (rig_dir);
}

/* On SIGINT/SIGTERM: stop every child by PID, then leave. Only
 * async-signal-safe calls here. */
static void
rig_signal(int sig)
{
	struct timespec	 ts = { 0, 10000000 };
	char		*rm[] = { "/bin/rm", "-rf", NULL, NULL };
	char		*envp[] = { NULL };
	pid_t		 pid = -1;
	int		 i, n, left;

	for (i = 0; i < RIG_MAXPROCS; i++)
		if (rig_pids[i] > 0)
			kill(rig_pids[i], SIGTERM);
	for (n = 0; n < RIG_STOP_MS / 10; n++) {
		left = 0;
		for (i = 0; i < RIG_MAXPROCS; i++) {
			if (rig_pids[i] <= 0)
				continue;
			if (waitpid(rig_pids[i], NULL, WNOHANG) == rig_pids[i])
				rig_pids[i] = 0;
			else
				left++;
		}
		if (left == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < RIG_MAXPROCS; i++)
		if (rig_pids[i] > 0) {
			kill(rig_pids[i], SIGKILL);
			waitpid(rig_pids[i], NULL, 0);
		}
	/* nftw() is not async-signal-safe; fork and exec are. */
	if (!rig_keep && rig_dir[0] != '\0' && (pid = fork()) == 0) {
		rm[2] = rig_dir;
		execve(rm[0], rm, envp);
		_exit(127);
	} else if (pid > 0)
		waitpid(pid, NULL, 0);
	_exit(128 + sig);
}

static int
rig_write(const char *path, mode_t mode, const char *fmt, ...)
{
	va_list	 ap;
	FILE	*f;
	int	 fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1) {
		warnx_("%s: %s", path, strerror(errno));
		return (-1);
	}
	(void)fchmod(fd, mode);
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return (-1);
	}
	va_start(ap, fmt);
	rc = vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0 || rc < 0) {
		warnx_("%s: write failed", path);
		return (-1);
	}
	return (0);
}

/* Temp dir with a program, a profile, a rule, a token and the notify
 * socket. build is where massaged, massaged-sim and plugins/ are; keep:
 * leave the directory behind, even on a signal. */
int
rig_init(const char *build, int keep)
{
	struct sigaction	 sa;
	struct sockaddr_un	 sun;
	char			 p[PATH_MAX + 32], real[PATH_MAX];
	const char		*tmp;

	rig_keep = keep;
	if (realpath(build, real) == NULL) {
		warnx_("build directory %s: %s", build, strerror(errno));
		return (-1);
	}
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (strlen(real) >= sizeof(rig_build) - 64 ||
	    strlen(tmp) >= sizeof(rig_dir) - 64) {
		warnx_("%s or %s: path too long", real, tmp);
		return (-1);
	}
	memcpy(rig_build, real, strlen(real) + 1);
	/* The shipped descriptions: from the top of the tree (as make runs
	 * the bench), or two levels above the build directory. */
	snprintf(p, sizeof(p), "%s/../../config/devices", real);
	if (realpath("config/devices", rig_devices) == NULL &&
	    realpath(p, rig_devices) == NULL)
		rig_devices[0] = '\0';
	snprintf(rig_dir, sizeof(rig_dir), "%s/massaged-bench.XXXXXX", tmp);
	if (mkdtemp(rig_dir) == NULL) {
		warnx_("mkdtemp %s: %s", rig_dir, strerror(errno));
		rig_dir[0] = '\0';
		return (-1);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rig_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(p, sizeof(p), "%s/programs", rig_dir);
	if (mkdir(p, 0700) == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/profiles", rig_dir);
	if (mkdir(p, 0700) == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/panel", rig_dir);
	if (mkdir(p, 0700) == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/programs/%s.ini", rig_dir, BENCH_PROGRAM);
	if (rig_write(p, 0644,
	    "; generated by massaged-bench: one long step on every zone\n"
	    "[program]\n"
	    "name = Benchmark load\n"
	    "description = Swedish effleurage on every zone for an hour.\n"
	    "\n"
	    "[step main]\n"
	    "routine = swedish\n"
	    "zones = *\n"
	    "duration_s = 3600\n") == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/profiles/%s.ini", rig_dir, BENCH_PROFILE);
	if (rig_write(p, 0644,
	    "; generated by massaged-bench\n"
	    "[client]\n"
	    "name = Benchmark client\n"
	    "conditions = none\n"
	    "\n"
	    "[limits]\n"
	    "cap_kpa = 30\n"
	    "ramp_kpa_s = 6\n"
	    "max_session_min = 60\n"
	    "intensity = 75\n") == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/rules.ini", rig_dir);
	if (rig_write(p, 0644,
	    "; generated by massaged-bench; no profile uses it\n"
	    "[bench_refused]\n"
	    "reason = Never used: the benchmark profile has no condition.\n"
	    "refuse = yes\n") == -1)
		return (-1);
	snprintf(p, sizeof(p), "%s/tokens", rig_dir);
	if (rig_write(p, 0600, "%s\n", BENCH_TOKEN) == -1)
		return (-1);

	snprintf(rig_notify_path, sizeof(rig_notify_path), "%s/notify.sock",
	    rig_dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(rig_notify_path) >= sizeof(sun.sun_path)) {
		warnx_("%s: path too long for a socket", rig_notify_path);
		return (-1);
	}
	memcpy(sun.sun_path, rig_notify_path, strlen(rig_notify_path) + 1);
	rig_notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (rig_notify_fd == -1 || bind(rig_notify_fd,
	    (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		warnx_("notify socket %s: %s", rig_notify_path,
		    strerror(errno));
		return (-1);
	}
	if (pthread_create(&rig_notify_thread, NULL, rig_notify_main,
	    NULL) != 0) {
		warnx_("pthread_create failed");
		return (-1);
	}
	rig_notify_started = 1;
	return (0);
}

/* Reads every datagram sent to the notify socket; counts READY=1. */
static void *
rig_notify_main(void *arg)
{
	struct pollfd	 pfd;
	char		 buf[4096], *p;
	ssize_t		 n;
	uint64_t	 now;
	int		 quit = 0;

	pfd.fd = rig_notify_fd;
	pfd.events = POLLIN;
	while (!quit) {
		pfd.revents = 0;
		(void)poll(&pfd, 1, 100);
		while ((n = recv(rig_notify_fd, buf, sizeof(buf) - 1, 0)) > 0) {
			now = clock_mono_ns();
			buf[n] = '\0';
			for (p = buf; p != NULL; p = strchr(p, '\n')) {
				if (*p == '\n')
					p++;
				if (strncmp(p, "READY=1", 7) == 0) {
					pthread_mutex_lock(&rig_notify_mtx);
					rig_ready_seq++;
					rig_ready_ns = now;
					pthread_mutex_unlock(&rig_notify_mtx);
					break;
				}
			}
		}
		pthread_mutex_lock(&rig_notify_mtx);
		quit = rig_notify_quit;
		pthread_mutex_unlock(&rig_notify_mtx);
	}
	return (NULL);
}

static int
rig_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) == -1)
		warnx_("remove %s: %s", path, strerror(errno));
	return (0);
}

void
rig_cleanup(int keep)
{
	int	 i;

	for (i = 0; i < RIG_MAXPROCS; i++)
		if (rig_pids[i] > 0)
			rig_reap(rig_pids[i], 1);
	if (rig_notify_started) {
		pthread_mutex_lock(&rig_notify_mtx);
		rig_notify_quit = 1;
		pthread_mutex_unlock(&rig_notify_mtx);
		pthread_join(rig_notify_thread, NULL);
		rig_notify_started = 0;
	}
	if (rig_notify_fd != -1)
		close(rig_notify_fd);
	rig_notify_fd = -1;
	if (rig_dir[0] == '\0')
		return;
	if (keep)
		fprintf(stderr, "massaged-bench: kept %s\n", rig_dir);
	else
		nftw(rig_dir, rig_rm, 16, FTW_DEPTH | FTW_PHYS);
	rig_dir[0] = '\0';
}

static void
rig_forget(pid_t pid)
{
	int	 i;

	for (i = 0; i < RIG_MAXPROCS; i++)
		if (rig_pids[i] == pid)
			rig_pids[i] = 0;
}

/*
 * fork + exec with stdout and stderr to files; NOTIFY_SOCKET if asked.
 * The bench has threads: the child only makes async-signal-safe calls,
 * so its environment is built before fork().
 */
static pid_t
rig_spawn(char *const argv[], const char *out, const char *err, int notify)
{
	static const char	 nomsg[] = "massaged-bench: exec failed\n";
	extern char		**environ;
	char			**envp, nenv[PATH_MAX + 16];
	struct sigaction	 sa;
	pid_t			 pid;
	int			 i, n, slot = -1, fd;

	for (i = 0; i < RIG_MAXPROCS; i++)
		if (rig_pids[i] == 0) {
			slot = i;
			break;
		}
	if (slot == -1) {
		warnx_("too many processes");
		return (-1);
	}
	for (n = 0; environ[n] != NULL; n++)
		;
	if ((envp = calloc(n + 2, sizeof(*envp))) == NULL)
		return (-1);
	for (i = n = 0; environ[i] != NULL; i++)
		if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0)
			envp[n++] = environ[i];
	snprintf(nenv, sizeof(nenv), "NOTIFY_SOCKET=%s", rig_notify_path);
	if (notify)
		envp[n++] = nenv;
	envp[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		warnx_("fork: %s", strerror(errno));
		free(envp);
		return (-1);
	}
	if (pid == 0) {
		/* Caught signals are reset by execve(), ignored ones not. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		if ((fd = open("/dev/null", O_RDONLY)) != -1) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execve(argv[0], argv, envp);
		(void)!write(STDERR_FILENO, nomsg, sizeof(nomsg) - 1);
		_exit(127);
	}
	free(envp);
	rig_pids[slot] = pid;
	return (pid);
}

/* Stops pid: SIGTERM (if term), wait, SIGKILL. 0 if it exited 0. */
static int
rig_reap(pid_t pid, int term)
{
	uint64_t	 deadline = clock_mono_ns() + RIG_STOP_MS * 1000000ull;
	int		 status = 0;
	pid_t		 r;

	if (pid <= 0)
		return (-1);
	if (term)
		kill(pid, SIGTERM);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r == -1 && errno != EINTR))
			break;
		if (clock_mono_ns() >= deadline) {
			warnx_("pid %d did not exit %d ms after SIGTERM: "
			    "SIGKILL", (int)pid, RIG_STOP_MS);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(5);
	}
	rig_forget(pid);
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

int
rig_alive(pid_t pid)
{
	int	 status;

	if (pid <= 0)
		return (0);
	if (waitpid(pid, &status, WNOHANG) == pid) {
		rig_forget(pid);
		return (0);
	}
	return (1);
}

/*
 * Waits until the file contains a line holding needle; copies that line.
 * -1 on timeout or if pid (when > 0) dies first.
 */
static int
rig_file_wait(const char *path, const char *needle, pid_t pid, char *line,
    size_t linelen)
{
	uint64_t	 deadline = clock_mono_ns() + RIG_START_MS * 1000000ull;
	char		 buf[1024];
	size_t		 n;
	FILE		*f;

	for (;;) {
		if ((f = fopen(path, "re")) != NULL) {
			while (fgets(buf, sizeof(buf), f) != NULL) {
				if (strstr(buf, needle) != NULL) {
					fclose(f);
					buf[strcspn(buf, "\n")] = '\0';
					if (line != NULL && linelen > 0) {
						n = strnlen(buf, linelen - 1);
						memcpy(line, buf, n);
						line[n] = '\0';
					}
					return (0);
				}
			}
			fclose(f);
		}
		if (pid > 0 && !rig_alive(pid)) {
			warnx_("%s: the process exited before writing '%s'",
			    path, needle);
			return (-1);
		}
		if (clock_mono_ns() >= deadline) {
			warnx_("%s: no '%s' after %d ms", path, needle,
			    RIG_START_MS);
			return (-1);
		}
		sleep_ms(2);
	}
}

/* The RS-485 example table's modules, unit ids 1, 2, 3. */
static char rig_rs485[3][16] = {
	"rs485-ao8", "rs485-ai8", "rs485-relay"
};

/* Starts the simulator: nctl controllers of channels each, on TCP port 0
 * or on one RTU device (flags: RIG_EVENTS an event log, RIG_FAST the bare
 * server, RIG_WAGO WAGO couplers, RIG_RS485 with rtu: the RS-485 example
 * table's three modules). */
int
rig_sim_start(struct rig_sim *s, const char *tag, int nctl, int channels,
    int flags, const char *rtu)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 3, 0 };
	char			*argv[80], chs[16], line[256];
	char			 units[BENCH_MAXCTL][16];
	int			 events = flags & RIG_EVENTS;
	char			 ctl[PATH_MAX], dev[PATH_MAX];
	FILE			*f;
	int			 argc = 0, i, idx, port, one = 1;

	memset(s, 0, sizeof(*s));
	s->ctl_fd = -1;
	s->nctl = nctl;
	s->channels = channels;
	snprintf(s->out, sizeof(s->out), "%s/sim-%s-%d.out", rig_dir, tag,
	    rig_seq);
	snprintf(s->err, sizeof(s->err), "%s/sim-%s-%d.err", rig_dir, tag,
	    rig_seq);
	if (events)
		snprintf(s->events, sizeof(s->events), "%s/sim-%s-%d.events",
		    rig_dir, tag, rig_seq);
	rig_seq++;
	snprintf(ctl, sizeof(ctl), "%s/massaged-sim", rig_build);
	snprintf(chs, sizeof(chs), "%d", channels);
	argv[argc++] = ctl;
	if (events) {
		argv[argc++] = "-e";
		argv[argc++] = s->events;
	}
	argv[argc++] = "--control";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "-c";
	argv[argc++] = chs;
	if (flags & RIG_FAST)
		argv[argc++] = "--fast";
	if (rtu != NULL && (flags & RIG_RS485)) {
		/* The RS-485 example table's three modules on one line. */
		argv[argc++] = "--baud";
		argv[argc++] = "115200";
		snprintf(dev, sizeof(dev), "%s", rtu);
		for (i = 0; i < 3; i++) {
			argv[argc++] = "--personality";
			argv[argc++] = rig_rs485[i];
			snprintf(units[i], sizeof(units[i]), "%d", i + 1);
			argv[argc++] = "--unit-id";
			argv[argc++] = units[i];
			argv[argc++] = "--rtu";
			argv[argc++] = dev;
		}
	} else if (rtu != NULL) {
		/* nctl units on one line, unit ids 1, 2, ... */
		argv[argc++] = "--baud";
		argv[argc++] = "115200";
		snprintf(dev, sizeof(dev), "%s", rtu);
		for (i = 0; i < nctl && i < BENCH_MAXCTL; i++) {
			snprintf(units[i], sizeof(units[i]), "%d", i + 1);
			argv[argc++] = "--unit-id";
			argv[argc++] = units[i];
			argv[argc++] = "--rtu";
			argv[argc++] = dev;
		}
	} else {
		if (flags & RIG_WAGO) {
			argv[argc++] = "--personality";
			argv[argc++] = "wago-750-352";
		}
		for (i = 0; i < nctl && argc < 60; i++) {
			argv[argc++] = "--tcp";
			argv[argc++] = "127.0.0.1:0";
		}
	}
	argv[argc] = NULL;
	if ((s->pid = rig_spawn(argv, s->out, s->err, 0)) == -1)
		return (-1);
	if (rig_file_wait(s->out, "ready", s->pid, NULL, 0) == -1) {
		rig_sim_stop(s);
		return (-1);
	}
	if ((f = fopen(s->out, "re")) == NULL) {
		rig_sim_stop(s);
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "controller %d tcp 127.0.0.1:%d", &idx,
		    &port) == 2 && idx >= 0 && idx < BENCH_MAXCTL)
			s->ports[idx] = port;
		else if (sscanf(line, "control 127.0.0.1:%d", &port) == 1)
			s->ctl_port = port;
	}
	fclose(f);
	for (i = 0; rtu == NULL && i < nctl; i++)
		if (s->ports[i] == 0) {
			warnx_("%s: no port for controller %d", s->out, i);
			rig_sim_stop(s);
			return (-1);
		}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(s->ctl_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->ctl_port == 0 || (s->ctl_fd = socket(AF_INET, SOCK_STREAM |
	    SOCK_CLOEXEC, 0)) == -1 || connect(s->ctl_fd,
	    (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		warnx_("simulator control socket (port %d): %s", s->ctl_port,
		    strerror(errno));
		rig_sim_stop(s);
		return (-1);
	}
	setsockopt(s->ctl_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s->ctl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return (0);
}

void
rig_sim_stop(struct rig_sim *s)
{
	if (s->ctl_fd != -1)
		close(s->ctl_fd);
	s->ctl_fd = -1;
	if (s->pid > 0)
		rig_reap(s->pid, 1);
	s->pid = 0;
}

/* One control socket command; *t_ns is taken right before write(). 0 if
 * the answer is "ok...". */
int
rig_sim_cmd(struct rig_sim *s, const char *cmd, uint64_t *t_ns)
{
	char	 line[512], c;
	size_t	 n = 0;
	ssize_t	 r;
	int	 len;

	len = snprintf(line, sizeof(line), "%s\n", cmd);
	if (t_ns != NULL)
		*t_ns = clock_mono_ns();
	if (write(s->ctl_fd, line, len) != len) {
		warnx_("control socket: write: %s", strerror(errno));
		return (-1);
	}
	for (;;) {
		r = read(s->ctl_fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 1) {
			warnx_("control socket: no answer to '%s'", cmd);
			return (-1);
		}
		if (c == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = c;
	}
	line[n] = '\0';
	if (strncmp(line, "ok", 2) != 0) {
		warnx_("control socket: '%s': %s", cmd, line);
		return (-1);
	}
	return (0);
}

/* Waits for a READY=1 after the seq-th; *t_ns: when it was read. */
static int
rig_notify_wait(pid_t pid, uint64_t seq, uint64_t *t_ns)
{
	uint64_t	 deadline = clock_mono_ns() + RIG_START_MS * 1000000ull;
	int		 got;

	for (;;) {
		pthread_mutex_lock(&rig_notify_mtx);
		got = rig_ready_seq > seq;
		*t_ns = rig_ready_ns;
		pthread_mutex_unlock(&rig_notify_mtx);
		if (got)
			return (0);
		if (clock_mono_ns() >= deadline || !rig_alive(pid))
			return (-1);
		sleep_ms(0.2);
	}
}

/* A kind = device controller: the example tables' (config/examples). */
static void
rig_device_ctl(FILE *f, int c, const struct rig_conf *rc,
    const struct rig_sim *s)
{
	const char	*dd = rig_devices;

	fprintf(f, "[controller c%d]\nkind = device\n", c);
	if (strcmp(rc->kind, "wago") == 0)
		fprintf(f, "device = %s/wago-750-352.ini\ntransport = tcp\n"
		    "address = 127.0.0.1:%d\nwatchdog_ms = 500\n", dd,
		    s->ports[c]);
	else
		fprintf(f, "transport = rtu\nserial = %s\nbaud = %d\n"
		    "device = %s/rs485-ao8.ini\nunit_id = 1\n"
		    "sensors = %s/rs485-ai8.ini\nsensors_unit_id = 2\n"
		    "interlock = %s/rs485-relay.ini\ninterlock_unit_id = 3\n",
		    rc->device, rc->baud, dd, dd, dd);
	fprintf(f, "response_timeout_ms = 50\n\n");
}

/* Writes the table configuration and starts the daemon on it; measures
 * fork to READY=1. */
int
rig_daemon_start(struct rig_daemon *d, const char *tag,
    const struct rig_conf *rc, const struct rig_sim *s)
{
	char	 prog[PATH_MAX], o_plug[PATH_MAX + 16], o_state[PATH_MAX + 16];
	char	 o_panel[PATH_MAX + 16], out[PATH_MAX], state[PATH_MAX];
	char	 line[512], *argv[16], buf[256];
	FILE	*f;
	uint64_t t0, t1, seq;
	int	 c, z, argc = 0;

	memset(d, 0, sizeof(*d));
	snprintf(d->conf, sizeof(d->conf), "%s/table-%s-%d.ini", rig_dir, tag,
	    rig_seq);
	snprintf(d->err, sizeof(d->err), "%s/massaged-%s-%d.err", rig_dir,
	    tag, rig_seq);
	snprintf(out, sizeof(out), "%s/massaged-%s-%d.out", rig_dir, tag,
	    rig_seq);
	snprintf(state, sizeof(state), "%s/state-%s-%d", rig_dir, tag,
	    rig_seq);
	rig_seq++;
	if (mkdir(state, 0700) == -1) {
		warnx_("mkdir %s: %s", state, strerror(errno));
		return (-1);
	}
	if ((f = fopen(d->conf, "we")) == NULL) {
		warnx_("%s: %s", d->conf, strerror(errno));
		return (-1);
	}
	fprintf(f, "; generated by massaged-bench: %d controller%s x %d "
	    "zones\n[daemon]\ntick_hz = %g\nfree_run = %s\n"
	    "listen = 127.0.0.1:0\ntoken_file = %s/tokens\n"
	    "profile_dir = %s/profiles\nprogram_dir = %s/programs\n"
	    "rules = %s/rules.ini\nrun_dir = %s\nowner_id = %d\n\n", rc->nctl,
	    rc->nctl == 1 ? "" : "s", rc->zones, rc->tick_hz,
	    rc->free_run ? "yes" : "no", rig_dir, rig_dir, rig_dir, rig_dir,
	    rig_dir, BENCH_OWNER);
	for (c = 0; c < rc->nctl; c++) {
		if (rc->kind != NULL)
			rig_device_ctl(f, c, rc, s);
		else if (rc->device != NULL)
			fprintf(f, "[controller c%d]\ntransport = rtu\n"
			    "device = %s\nbaud = %d\nunit_id = %d\n"
			    "watchdog_ms = 500\n\n", c, rc->device, rc->baud,
			    c + 1);
		else
			fprintf(f, "[controller c%d]\ntransport = tcp\n"
			    "address = 127.0.0.1:%d\nunit_id = 1\n"
			    "response_timeout_ms = 50\nwatchdog_ms = 500\n\n",
			    c, s->ports[c]);
	}
	for (c = 0; c < rc->nctl; c++)
		for (z = 0; z < rc->zones; z++)
			fprintf(f, "[zone c%d_z%d]\ncontroller = c%d\n"
			    "channel = %d\nalong_cm = %d\nacross_cm = %d\n"
			    "limit_kpa = 30\n\n", c, z, c, z,
			    40 + 20 * c + 2 * z, z % 2 ? 8 : -8);
	if (fclose(f) != 0) {
		warnx_("%s: write failed", d->conf);
		return (-1);
	}

	snprintf(prog, sizeof(prog), "%s/massaged", rig_build);
	snprintf(o_plug, sizeof(o_plug), "plugin_dir=%s/plugins", rig_build);
	snprintf(o_state, sizeof(o_state), "state_dir=%s", state);
	snprintf(o_panel, sizeof(o_panel), "panel_dir=%s/panel", rig_dir);
	argv[argc++] = prog;
	argv[argc++] = "-f";
	argv[argc++] = d->conf;
	argv[argc++] = "-o";
	argv[argc++] = o_plug;
	argv[argc++] = "-o";
	argv[argc++] = o_state;
	argv[argc++] = "-o";
	argv[argc++] = o_panel;
	argv[argc] = NULL;

	pthread_mutex_lock(&rig_notify_mtx);
	seq = rig_ready_seq;
	pthread_mutex_unlock(&rig_notify_mtx);
	t0 = clock_mono_ns();
	if ((d->pid = rig_spawn(argv, out, d->err, 1)) == -1)
		return (-1);
	if (rig_notify_wait(d->pid, seq, &t1) == -1) {
		warnx_("massaged (%s) sent no READY=1 within %d ms; its log: "
		    "%s", d->conf, RIG_START_MS, d->err);
		d->ready_ms = -1;
	} else
		d->ready_ms = (t1 - t0) / 1e6;
	if (rig_file_wait(d->err, "api: listening on http://127.0.0.1:",
	    d->pid, line, sizeof(line)) == -1 ||
	    sscanf(strstr(line, "http://127.0.0.1:"), "http://127.0.0.1:%d",
	    &d->api_port) != 1) {
		if ((f = fopen(d->err, "re")) != NULL) {
			while (fgets(buf, sizeof(buf), f) != NULL)
				fprintf(stderr, "  massaged: %s", buf);
			fclose(f);
		}
		rig_daemon_stop(d);
		return (-1);
	}
	return (0);
}

void
rig_daemon_stop(struct rig_daemon *d)
{
	if (d->pid > 0 && rig_reap(d->pid, 1) == -1)
		warnx_("massaged (pid %d) did not exit cleanly; its log: %s",
		    (int)d->pid, d->err);
	d->pid = 0;
}

/* A pty pair from socat; the two device paths are copied to a and b. */
int
rig_socat_start(pid_t *pid, char *a, char *b, size_t len)
{
	char		 out[PATH_MAX], err[PATH_MAX], line[512], *p;
	char		*argv[] = { "/usr/bin/socat", "-d", "-d",
			    "pty,raw,echo=0", "pty,raw,echo=0", NULL };
	char		 path[2][PATH_MAX];
	FILE		*f;
	int		 n = 0;

	if (access(argv[0], X_OK) == -1 &&
	    access(argv[0] = "/bin/socat", X_OK) == -1) {
		warnx_("socat not found (apt-get install socat)");
		return (-1);
	}
	snprintf(out, sizeof(out), "%s/socat-%d.out", rig_dir, rig_seq);
	snprintf(err, sizeof(err), "%s/socat-%d.err", rig_dir, rig_seq);
	rig_seq++;
	if ((*pid = rig_spawn(argv, out, err, 0)) == -1)
		return (-1);
	if (rig_file_wait(err, "starting data transfer loop", *pid, NULL,
	    0) == -1) {
		rig_socat_stop(pid);
		return (-1);
	}
	if ((f = fopen(err, "re")) == NULL) {
		rig_socat_stop(pid);
		return (-1);
	}
	while (n < 2 && fgets(line, sizeof(line), f) != NULL) {
		if ((p = strstr(line, "PTY is ")) == NULL)
			continue;
		p += 7;
		p[strcspn(p, " \n")] = '\0';
		snprintf(path[n++], PATH_MAX, "%s", p);
	}
	fclose(f);
	if (n != 2) {
		warnx_("%s: socat did not name two ptys", err);
		rig_socat_stop(pid);
		return (-1);
	}
	snprintf(a, len, "%s", path[0]);
	snprintf(b, len, "%s", path[1]);
	return (0);
}

void
rig_socat_stop(pid_t *pid)
{
	if (*pid > 0)
		rig_reap(*pid, 1);
	*pid = 0;
}

/* Fields 14 on of /proc/PID/stat (utime first), -1 if gone. */
static int
rig_stat_times(pid_t pid, unsigned long long *f, int n, pid_t *ppid)
{
	char			 path[64], buf[2048], *p;
	ssize_t			 got;
	int			 fd, i, pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return (-1);
	buf[got] = '\0';
	/* The command may hold spaces and parentheses: fields start after
	 * the last ')'. Field 3 is the state, 4 the parent; utime is 14,
	 * stime 15, cutime 16, cstime 17 (reaped children). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d", &pp) != 1)
		return (-1);
	if (ppid != NULL)
		*ppid = pp;
	p++;
	for (i = 3; i < 14; i++) {
		if ((p = strchr(p + 1, ' ')) == NULL)
			return (-1);
	}
	for (i = 0; i < n; i++) {
		if (sscanf(p, " %llu", &f[i]) != 1)
			return (-1);
		if ((p = strchr(p + 1, ' ')) == NULL && i + 1 < n)
			return (-1);
	}
	return (0);
}

/* utime + stime of every thread of pid, in clock ticks. */
int
rig_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	unsigned long long	 f[2];

	if (rig_stat_times(pid, f, 2, NULL) == -1)
		return (-1);
	*ticks = f[0] + f[1];
	return (0);
}

/*
 * rig_cpu_ticks() of pid and of its children (its routine workers): the
 * live ones, and those it has reaped.
 */
int
rig_cpu_ticks_tree(pid_t pid, uint64_t *ticks)
{
	unsigned long long	 f[4];
	struct dirent		*de;
	DIR			*dir;
	pid_t			 child, pp;

	if (rig_stat_times(pid, f, 4, NULL) == -1)
		return (-1);
	*ticks = f[0] + f[1] + f[2] + f[3];
	if ((dir = opendir("/proc")) == NULL)
		return (-1);
	while ((de = readdir(dir)) != NULL) {
		if ((child = (pid_t)atoi(de->d_name)) <= 0 || child == pid)
			continue;
		if (rig_stat_times(child, f, 2, &pp) == 0 && pp == pid)
			*ticks += f[0] + f[1];
	}
	closedir(dir);
	return (0);
}

/* A "Key:   N kB" line of /proc/PID/status. */
int
rig_status_kb(pid_t pid, const char *key, long *kb)
{
	char	 path[64], line[256];
	size_t	 kl = strlen(key);
	FILE	*f;
	int	 rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':' &&
		    sscanf(line + kl + 1, "%ld", kb) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return (rc);
}

/* "massaged 0.1.0 (...)" from massaged -V. */
int
rig_daemon_version(char *buf, size_t len)
{
	char	 cmd[PATH_MAX + 16];
	FILE	*p;

	snprintf(cmd, sizeof(cmd), "'%s/massaged' -V", rig_build);
	if ((p = popen(cmd, "re")) == NULL)
		return (-1);
	if (fgets(buf, (int)len, p) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pclose(p);
	return (buf[0] != '\0' ? 0 : -1);
}
