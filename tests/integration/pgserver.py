"""pgserver: a throwaway PostgreSQL server for the store tests.

Standard library only. Debian's postgresql package (make deps installs
it) gives initdb and postgres under /usr/lib/postgresql/VERSION/bin; the
newest one there is used.

    from pgserver import PgServer

    with PgServer() as pg:
        pg.psql("CREATE DATABASE spa")              # as the superuser
        pg.url("table1", "spa")  # postgresql://table1@127.0.0.1:PORT/spa

The cluster is made by initdb in a temporary directory of its own (not
the test's tmp_path: the server's user must be able to reach it), owned
by the user the server runs as: the caller when it is not root, else
nobody (PostgreSQL refuses to run as root). It listens on 127.0.0.1 only,
on a port that was free, and on a unix socket in its directory; local
connections (the superuser, postgres, for the setup) are trusted, TCP
ones need a password (scram-sha-256). The server is started as postgres
itself, so it is stopped by its PID (SIGTERM: a smart shutdown, then
SIGKILL), and the directory is removed.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["PgServer", "pg_bindir"]

NOBODY = 65534


def pg_bindir():
    """The newest /usr/lib/postgresql/*/bin with initdb, or None."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        v = os.path.basename(os.path.dirname(d))
        if v.isdigit() and os.access(os.path.join(d, "initdb"), os.X_OK):
            found.append((int(v), d))
    return max(found)[1] if found else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, bindir=None, start_timeout=60.0):
        self.bindir = bindir or pg_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server installed (Debian's "
                               "postgresql package: make deps)")
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.dir = None
        # PostgreSQL never runs as root: as root, the server is nobody's.
        self.uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        self.gid = NOBODY if os.geteuid() == 0 else os.getegid()

    def _as_server(self, argv, **kw):
        """Runs argv as the server's user, checked."""
        if os.geteuid() == 0:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        return subprocess.run(argv, capture_output=True, text=True,
                              check=True, timeout=120, cwd=self.dir,
                              env=dict(os.environ, LC_ALL="C"), **kw)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="massaged-pg-")
        os.chmod(self.dir, 0o700)
        os.chown(self.dir, self.uid, self.gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self._as_server([os.path.join(self.bindir, "initdb"), "-D",
                         self.data, "-U", "postgres", "-E", "UTF8",
                         "--no-locale", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "--no-sync"])
        for _ in range(3):
            self.port = _free_port()
            if self._start_once():
                return self
        raise RuntimeError("postgres did not start:\n" + self.logs())

    def _start_once(self):
        argv = [os.path.join(self.bindir, "postgres"), "-D", self.data,
                "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_directories=" + self.dir,
                "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "synchronous_commit=off", "-c", "max_connections=40",
                "-c", "shared_buffers=16MB"]
        kw = {}
        if os.geteuid() == 0:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=self.dir,
                                     env=dict(os.environ, LC_ALL="C"), **kw)
        logf.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            r = subprocess.run([os.path.join(self.bindir, "pg_isready"),
                                "-q", "-h", "127.0.0.1", "-p",
                                str(self.port)], timeout=10)
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        self.stop_server()
        raise RuntimeError("postgres not ready in %.0f s:\n%s" % (
            self.start_timeout, self.logs()))

    def logs(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def psql(self, sql, db="postgres", user="postgres", password=None,
             check=True):
        """Runs sql (a string, or a list: a transaction each) with psql:
        as the superuser over the unix socket, or as user with password
        over TCP. The CompletedProcess; with check, fails unless it
        succeeded."""
        env = dict(os.environ, LC_ALL="C", PGCONNECT_TIMEOUT="5")
        env.pop("PGPASSWORD", None)
        host = self.dir
        if password is not None:
            env["PGPASSWORD"] = password
            host = "127.0.0.1"
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q",
                            "-At", "-v", "ON_ERROR_STOP=1", "-h", host,
                            "-p", str(self.port), "-U", user, "-d", db] +
                           [a for q in ([sql] if isinstance(sql, str)
                                        else sql) for a in ("-c", q)],
                           capture_output=True, text=True,
                           timeout=60, env=env)
        if check and r.returncode != 0:
            raise AssertionError("psql %r as %s failed: %s" % (
                sql, user, r.stderr))
        return r

    def url(self, user, db, port=None):
        return "postgresql://%s@127.0.0.1:%d/%s" % (
            user, port or self.port, db)

    def pids(self):
        """The postmaster and every process it started (the backends)."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid:
                out.append(int(d))
        return out

    def pause(self):
        """SIGSTOP to the server and its backends: connections stay open
        and nothing answers."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    def kill(self):
        """SIGKILL to the server and its backends: a crash."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                os.path.exists("/proc/%d" % p) for p in pids[1:]):
            time.sleep(0.05)

    def restart(self):
        """Starts the server again on its port, with its data (after
        kill(): crash recovery)."""
        if not self._start_once():
            raise RuntimeError("postgres did not start again:\n" +
                               self.logs())

    def stop_server(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        self.proc = p
        try:
            self.resume()       # a paused server cannot stop
        except OSError:
            pass
        self.proc = None
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)

    def stop(self):
        try:
            self.stop_server()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
