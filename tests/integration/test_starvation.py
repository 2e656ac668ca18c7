"""Starvation: nothing from outside may take the descriptors or the loop
that STOP needs.

- Descriptor exhaustion: the daemon under `prlimit --nofile=1024`, with
  a session running, against 1100 connections from 127.0.0.1 that trickle
  a header byte a second (and reconnect when closed): the caps and the
  request deadline hold, status answers, an e-stop reaches both
  controllers in under 50 ms, a dropped Modbus link reconnects, and the
  tick never misses.
- Out of descriptors for real (a limit below what the daemon needs):
  accept errors pause the listener instead of spinning, and are logged at
  most once a second.
- A stalled log reader (the daemon's stderr a pipe nobody reads) and a
  flood of bad-token requests: the heartbeat goes on, an e-stop works,
  the lines dropped are counted in /metrics and said once the reader is
  back; repeated messages are rate-limited with a count.

Everything is on 127.0.0.1, bounded in connections and time; processes are
stopped by PID. docs/security.md points here.
"""

import contextlib
import fcntl
import os
import re
import resource
import signal
import subprocess
import time

import pytest

from daemon import WRAPPER, Daemon, free_port, sim_controllers
from simctl import Sim, monotonic_ns
from test_abuse import (TICK_HZ, WATCHDOG_MS, assert_healthy, assert_ticking,
                        connect, fds, heartbeats, reset_close,
                        start_session)
from test_security import UNITS, unit_settings

NOFILE = 1024
ATTACK = 1100             # connections held at once
ATTACK_OPENS = 8000       # at most this many opened in all
ATTACK_SECONDS = 8
API_FD_RESERVE = 128      # in daemon/api/api-conn.c
ESTOP_MS = 50

timing = pytest.mark.skipif(bool(WRAPPER), reason="about timing: "
                            "meaningless under $MASSAGED_WRAPPER")


class Limited(Daemon):
    """A daemon started under prlimit(1) with the given RLIMIT_NOFILE
    ("soft:hard" or one figure for both)."""

    def __init__(self, *args, nofile=str(NOFILE), **kw):
        self.nofile = nofile
        super().__init__(*args, **kw)

    def argv(self):
        return ["prlimit", "--nofile=%s" % self.nofile, "--"] + \
            super().argv()


def raise_own_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < n:
        pytest.skip("the test itself needs %d descriptors" % n)


def metric(d, name):
    r = d.request("GET", "/metrics", token=None)
    assert r.status == 200, r
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    assert m, "%s not in /metrics" % name
    return float(m.group(1))


def vent_ms(sim, t0):
    """Milliseconds from t0 until both controllers were told CONTROL = 0."""
    ms = []
    for c in (0, 1):
        e = sim.wait_event("fc6", c=c, after_ns=t0, timeout=5,
                           where=lambda e: e["value"] == "0")
        ms.append((e.ns - t0) / 1e6)
    return max(ms)


class Attack:
    """Connections that send half a request, then a header byte a second;
    one the daemon closes is opened again (up to ATTACK_OPENS in all)."""

    HEAD = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def __init__(self, d):
        self.d = d
        self.socks = []
        self.opened = 0
        self.closed = 0
        self.failed = 0

    def open_one(self):
        if self.opened >= ATTACK_OPENS:
            return
        self.opened += 1
        try:
            s = connect(self.d, timeout=1)
            s.sendall(self.HEAD)
            s.setblocking(False)
            self.socks.append(s)
        except OSError:
            self.failed += 1

    def fill(self):
        while len(self.socks) < ATTACK and self.opened < ATTACK_OPENS:
            self.open_one()

    def trickle(self):
        """A byte to each; closed ones are counted and replaced."""
        alive = []
        for s in self.socks:
            try:
                s.send(b"a")
                if s.recv(4096) == b"":
                    raise ConnectionResetError
                alive.append(s)         # an answer: unexpected, keep it
            except BlockingIOError:
                alive.append(s)
            except OSError:
                self.closed += 1
                s.close()
        self.socks = alive
        self.fill()

    def close(self):
        for s in self.socks:
            reset_close(s)
        self.socks = []


@timing
def test_descriptor_exhaustion_keeps_estop(tmp_path):
    raise_own_nofile(ATTACK + 256)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Limited(tmp_path, sim, tick_hz=TICK_HZ,
                    watchdog_ms=WATCHDOG_MS, args=()) as d:
        d.wait_ready()
        cap = (NOFILE - API_FD_RESERVE) // 2
        fd0 = fds(d.pid)
        start_session(d)
        connects0 = sim_connects(d)
        attack = Attack(d)
        t0 = monotonic_ns()
        start = time.monotonic()
        latency, failed, estop = [], [], None
        dropped, td = False, None
        try:
            attack.fill()
            while time.monotonic() - start < ATTACK_SECONDS:
                t = time.monotonic()
                attack.trickle()
                # status answers all along
                try:
                    r = d.request("GET", "/api/v1/status", timeout=5)
                    latency.append(time.monotonic() - t)
                    if r.status != 200:
                        failed.append(repr(r))
                except OSError as e:
                    failed.append(repr(e))
                # an e-stop in the middle of it
                if estop is None and time.monotonic() - start > 3:
                    te = monotonic_ns()
                    r = d.request("POST", "/api/v1/estop", timeout=5)
                    assert r.status == 200, r
                    estop = vent_ms(sim, te)
                # then a Modbus link that drops must come back
                elif estop is not None and not dropped:
                    td = monotonic_ns()
                    assert sim.ok("drop 0").startswith("dropped=")
                    dropped = True
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
            t1 = monotonic_ns()
            d.wait_for(lambda: sim_connects(d) > connects0 and all(
                c["connected"] for c in d.status()["controllers"]),
                timeout=10, what="the dropped link back")
            held = len(attack.socks)
            logs = d.logs()
        finally:
            attack.close()
        ts = heartbeats(sim, 0, t0, t1)
        print("attack: %d opened, %d closed by the daemon, %d failed; "
              "e-stop %.1f ms; status (ms) %s; longest tick gap %.0f ms" % (
                  attack.opened, attack.closed, attack.failed, estop,
                  [round(1000 * x) for x in latency],
                  1000 * max(b - a for a, b in zip(ts, ts[1:]))))
        assert d.alive(), d.logs()[-3000:]
        assert failed == [], failed
        assert estop is not None and estop < ESTOP_MS, estop
        # the daemon closed the surplus and the trickling ones
        assert attack.closed >= ATTACK - cap, (attack.closed, held)
        # no flood of accept errors (at most one line a second)
        assert len(re.findall(r"api: accept: ", logs)) <= ATTACK_SECONDS + 2
        assert "Too many open files" not in logs.replace(
            "api: accept: Too many open files", "")
        # Until the drop: after it, the reconnect proves the controller's
        # safe state, which stops its heartbeat for WATCHDOG_MS on purpose.
        assert_ticking(sim, t0, td or t1, "during the attack: ", hz=10)
        assert "%d file descriptors" % NOFILE in logs
        assert "at most %d connections, %d from one address" % (
            cap, cap // 2) in logs
        deadline = time.monotonic() + 15
        while fds(d.pid) > fd0 + 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fds(d.pid) <= fd0 + 4, (fd0, fds(d.pid))
        assert metric(d, "massaged_api_connections") <= 2
        r = d.request("POST", "/api/v1/reset")
        assert r.status == 200, r
        assert_healthy(d, sim, "after the attack")


def sim_connects(d):
    r = d.request("GET", "/metrics", token=None)
    return sum(float(m) for m in re.findall(
        r"^massaged_modbus_connects_total\{[^}]*\} (\S+)$", r.text, re.M))


def test_soft_descriptor_limit_raised_to_hard(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Limited(tmp_path, sim, nofile="256:2048") as d:
        d.wait_ready()
        assert "2048 file descriptors" in d.logs()
        assert metric(d, "massaged_api_connections_max") == \
            (2048 - API_FD_RESERVE) // 2


@timing
def test_accept_errors_pause_not_spin(tmp_path):
    """Below what the daemon needs, accept() fails with EMFILE: the
    listener pauses (little CPU), the error is logged at most once a
    second, and connections that get through are still answered."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with Sim(first, controllers=sim_controllers()) as sim, \
            Daemon(first, sim, args=()) as d:
        d.wait_ready()
        base = fds(d.pid)
    with Sim(second, controllers=sim_controllers()) as sim, \
            Limited(second, sim, nofile=str(base + 6), args=()) as d:
        d.wait_ready()
        socks = []
        try:
            for _ in range(40):
                try:
                    s = connect(d, timeout=1)
                    s.sendall(Attack.HEAD)
                    socks.append(s)
                except OSError:
                    pass
            cpu0 = cpu_seconds(d.pid)
            t = time.monotonic()
            time.sleep(3)
            cpu = (cpu_seconds(d.pid) - cpu0) / (time.monotonic() - t)
            logs = d.logs()
        finally:
            for s in socks:
                reset_close(s)
        lines = re.findall(r"api: accept: .*", logs)
        print("EMFILE: %.0f %% CPU, %d accept lines: %s" % (
            100 * cpu, len(lines), lines[:2]))
        assert lines, logs[-2000:]
        assert len(lines) <= 3 + 6, lines
        assert cpu < 0.5, cpu
        assert metric(d, "massaged_api_accept_errors_total") > 0
        d.wait_for(lambda: d.request("GET", "/api/v1/status").status == 200,
                   timeout=10)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- a stalled log reader -----------------------------------------------------

class PipedDaemon(Daemon):
    """A daemon whose stderr (and stdout) is a small pipe the test reads
    only when it says so."""

    def spawn(self):
        r, w = os.pipe()
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
        self.pipe_r = r
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=w, stderr=w, cwd=self.tmpdir)
        os.close(w)
        self.piped = b""
        return self.proc

    def start(self, timeout=None):
        self.spawn()
        self.host, self.port = "127.0.0.1", int(self.listen.rsplit(":")[1])
        self.url = "http://%s:%d/" % (self.host, self.port)

        def up():
            try:
                return self.request("GET", "/api/v1/status",
                                    timeout=2).status == 200
            except OSError:
                return False
        self.wait_for(up, timeout=30, what="the API")
        return self

    def drain(self, seconds):
        """Reads what the daemon wrote, for a while."""
        os.set_blocking(self.pipe_r, False)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                b = os.read(self.pipe_r, 65536)
                if not b:
                    break
                self.piped += b
            except BlockingIOError:
                time.sleep(0.05)
        return self.piped.decode(errors="replace")

    def stop(self, timeout=15.0):
        rc = super().stop(timeout)
        if getattr(self, "pipe_r", None) is not None:
            os.close(self.pipe_r)
            self.pipe_r = None
        return rc


BAD_REQUESTS = 2000


def flood_bad_requests(d):
    """Refused requests, each a log line (and, with -v, a debug line more,
    with the long URL): far more than a small pipe and the daemon's log
    queue hold."""
    s = None
    pad = b"x" * 1000
    deadline = time.monotonic() + 60
    for i in range(BAD_REQUESTS):
        assert time.monotonic() < deadline, \
            "the daemon stopped answering after %d requests" % i
        s = s or connect(d)
        try:
            s.sendall(b"GET /api/v1/status?pad=%s HTTP/1.1\r\nHost: x"
                      b"\r\nAuthorization: Bearer wrong-%d\r\n\r\n" %
                      (pad, i))
            if s.recv(65536) == b"":
                raise ConnectionResetError
        except OSError:
            s.close()
            s = None
    if s is not None:
        s.close()


@contextlib.contextmanager
def stalled_session(tmp_path):
    """A session on a daemon whose log reader is stalled and flooded;
    yields (sim, daemon, when the flood began)."""
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            PipedDaemon(tmp_path, sim, tick_hz=TICK_HZ,
                        watchdog_ms=WATCHDOG_MS,
                        listen="127.0.0.1:%d" % free_port()) as d:
        d.wait_ready()
        start_session(d)
        t0 = monotonic_ns()
        flood_bad_requests(d)
        yield sim, d, t0


@timing
def test_stalled_log_reader_never_stops_the_heartbeat(tmp_path):
    with stalled_session(tmp_path) as (sim, d, t0):
        assert d.status()["state"] == "running"
        te = monotonic_ns()
        r = d.request("POST", "/api/v1/estop", timeout=5)
        assert r.status == 200, r
        estop = vent_ms(sim, te)
        assert estop < ESTOP_MS
        t1 = monotonic_ns()
        assert_ticking(sim, t0, t1, "with the log reader stalled: ",
                       hz=TICK_HZ)
        dropped = metric(d, "massaged_log_lines_dropped_total")
        ts = heartbeats(sim, 0, t0, t1)
        print("stalled log: %d requests in %.1f s, %d lines dropped, "
              "longest tick gap %.0f ms, e-stop %.1f ms" % (
                  BAD_REQUESTS, (te - t0) / 1e9, dropped,
                  1000 * max(b - a for a, b in zip(ts, ts[1:])), estop))
        assert dropped > 0
        # the reader is back: what is queued comes out, then the count
        out = d.drain(3)
        m = re.search(r"(\d+) log lines? dropped", out)
        assert m, out[-3000:]
        assert int(m.group(1)) >= dropped, (m.group(0), dropped)
        d.drain(0.5)


@timing
def test_stalled_log_reader_does_not_hold_up_the_shutdown(tmp_path):
    """SIGTERM with the log reader stalled: the controllers are vented and
    the daemon exits, after a bounded wait for its log queue."""
    with stalled_session(tmp_path) as (sim, d, _):
        t = monotonic_ns()
        d.signal(signal.SIGTERM)
        assert d.wait_exit(timeout=10) == 0
        assert (monotonic_ns() - t) / 1e9 < 8
        assert vent_ms(sim, t) < 1000


def test_repeated_messages_rate_limited(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, args=()) as d:
        d.wait_ready()
        before = len(d.logs())
        for i in range(200):
            assert d.request("GET", "/api/v1/status",
                             token="wrong-%d" % i).status == 401
        # ten lines, the rest summed up once the window ends
        m = d.wait_for(lambda: re.search(
            r"(\d+) similar messages suppressed in \d+ s, the first: "
            r"api: GET /api/v1/status from 127\.0\.0\.1:\d+: no valid "
            r"bearer token", d.logs()[before:]), timeout=20,
            what="the summary")
        log = d.logs()[before:]
        shown = len(re.findall(r"^<\d>massaged: api: GET \S+ from \S+: no "
                               r"valid bearer token$", log, re.M))
        assert shown == 10, log
        assert int(m.group(1)) == 200 - shown
        assert "wrong-" not in log


@pytest.mark.parametrize("unit", UNITS)
def test_units_state_the_descriptor_limit(unit):
    """The units raise the limit to a stated figure: the API's caps (and
    its log line) follow from it."""
    assert unit_settings(unit).get("LimitNOFILE") == ["8192"]
