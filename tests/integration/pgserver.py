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

    with PgServer(tls=True) as pg:
        pg.url("table1", "spa", host="localhost",
               query="sslmode=verify-full&sslrootcert=" + pg.ca_path)

With tls, Debian's openssl makes a CA of the server's own and a
certificate for localhost and 127.0.0.1 signed by it (its key 0600, the
server's user's, in the server's directory), the server runs with
ssl=on, and pg_hba takes TCP connections only over TLS (hostssl, no host
line). The CA's certificate is ca_path, and other_ca_path that of an
unrelated CA (a server verified with it fails), both readable by anyone
in a directory of their own, removed with the server's.
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
    def __init__(self, bindir=None, start_timeout=60.0, tls=False):
        self.bindir = bindir or pg_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server installed (Debian's "
                               "postgresql package: make deps)")
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.dir = None
        self.tls = tls
        self.ca_dir = self.ca_path = self.other_ca_path = None
        self.cert_path = self.key_path = None
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
        if self.tls:
            self._make_tls()
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
        if self.tls:
            argv += ["-c", "ssl=on",
                     "-c", "ssl_cert_file=" + self.cert_path,
                     "-c", "ssl_key_file=" + self.key_path]
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

    def _openssl(self, *args):
        """Runs Debian's openssl with the config of _make_tls (never the
        system's), checked."""
        env = dict(os.environ, LC_ALL="C",
                   OPENSSL_CONF=os.path.join(self.dir, "openssl.cnf"))
        r = subprocess.run(["openssl"] + list(args), capture_output=True,
                           text=True, timeout=60, cwd=self.dir, env=env)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0],
                                                          r.stderr))

    def _make_ca(self, name, cn):
        """A self-signed CA: its key in the server's directory, its
        certificate (0644) in ca_dir. The certificate's path."""
        pem = os.path.join(self.ca_dir, name + ".pem")
        self._openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      name + ".key", "-out", pem, "-days", "2", "-subj",
                      "/CN=" + cn, "-extensions", "ca")
        os.chmod(pem, 0o644)
        return pem

    def _make_tls(self):
        """The CA, an unrelated one, and the server's certificate for
        localhost and 127.0.0.1 (key 0600, the server's user's); pg_hba
        with TLS for every TCP connection."""
        self.ca_dir = tempfile.mkdtemp(prefix="massaged-pg-ca-")
        os.chmod(self.ca_dir, 0o755)
        with open(os.path.join(self.dir, "openssl.cnf"), "w") as f:
            f.write("[req]\ndistinguished_name = dn\nprompt = no\n"
                    "[dn]\n"
                    "[ca]\nbasicConstraints = critical, CA:true\n"
                    "keyUsage = critical, keyCertSign, cRLSign\n"
                    "subjectKeyIdentifier = hash\n"
                    "[server]\nbasicConstraints = critical, CA:false\n"
                    "keyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                    "authorityKeyIdentifier = keyid\n")
        self.ca_path = self._make_ca("ca", "massaged test CA")
        self.other_ca_path = self._make_ca("other-ca", "massaged other CA")
        self.cert_path = os.path.join(self.dir, "server.crt")
        self.key_path = os.path.join(self.dir, "server.key")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      self.key_path, "-out", "server.csr", "-subj",
                      "/CN=localhost")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA",
                      self.ca_path, "-CAkey", "ca.key", "-set_serial",
                      "1", "-days", "2", "-out", self.cert_path,
                      "-extfile", "openssl.cnf", "-extensions", "server")
        for f in os.listdir(self.dir):
            p = os.path.join(self.dir, f)
            if os.path.isfile(p):
                os.chmod(p, 0o600)
                os.chown(p, self.uid, self.gid)
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "hostssl all all 127.0.0.1/32 scram-sha-256\n")

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

    def url(self, user, db, port=None, host="127.0.0.1", query=None):
        return "postgresql://%s@%s:%d/%s%s" % (
            user, host, port or self.port, db,
            "?" + query if query else "")

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
            for d in (self.dir, self.ca_dir):
                if d is not None:
                    shutil.rmtree(d, ignore_errors=True)
            self.dir = self.ca_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
