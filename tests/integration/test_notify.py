"""systemd notifications (daemon/engine/notify.c) under a test NOTIFY_SOCKET.

The test plays systemd: it binds an AF_UNIX datagram socket, starts the
real daemon with NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the
daemon's own PID: a shell exports $$ and execs the daemon) against the
simulator, and reads what arrives.

The stalled loop is a real stall: SIGSTOP freezes the whole daemon, as a
swap storm or a blocked system call would. Nothing can be sent while it is
frozen, so the test looks at what happens when it thaws: the watchdog
timer is overdue and fires at once, and it must NOT ping then, because the
control loop missed its ticks. The first ping comes one interval later.
A daemon that pinged from a bare timer would ping at once.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from daemon import WRAPPER, WRAPPER_SLOW, Daemon, daemon_binary, \
    sim_controllers
from simctl import Sim

# Generous Modbus timeouts: these tests are about other things, and a
# loaded test machine must not turn a slow reply into a lost link.
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

WATCHDOG_USEC = 1000000          # pings every 0.5 s


def _built_with_libsystemd():
    try:
        out = subprocess.run(["ldd", daemon_binary()], capture_output=True,
                             text=True).stdout
    except OSError:
        return True
    return "libsystemd" in out


# A build without libsystemd sends nothing, by design (notify.h).
pytestmark = pytest.mark.skipif(not _built_with_libsystemd(),
                                reason="massaged built without libsystemd")
# Under valgrind (MASSAGED_WRAPPER) the loop cannot keep 50 Hz: what the
# watchdog and the status countdown do then is right, but not what these
# tests time.
timed = pytest.mark.skipif(bool(WRAPPER), reason="timing tests are "
                           "meaningless under MASSAGED_WRAPPER")


class Notifications:
    """A NOTIFY_SOCKET: collects (CLOCK_MONOTONIC s, message) pairs."""

    def __init__(self):
        # sun_path is 108 bytes: pytest's tmp_path can be longer.
        self.dir = tempfile.mkdtemp(prefix="mn-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode()))

    def close(self):
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def all(self, since=0.0):
        with self.lock:
            return [(t, m) for t, m in self.msgs if t >= since]

    def times(self, line, since=0.0):
        """Arrival times of messages with this exact line in them."""
        return [t for t, m in self.all(since) if line in m.split("\n")]

    def statuses(self, since=0.0):
        out = []
        for t, m in self.all(since):
            for ln in m.split("\n"):
                if ln.startswith("STATUS="):
                    out.append((t, ln[7:]))
        return out

    def wait(self, pred, timeout=10.0, what="notification"):
        deadline = time.monotonic() + timeout * WRAPPER_SLOW
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.02)
        raise AssertionError("timed out waiting for %s; got %r"
                             % (what, self.all()))

    def wait_line(self, line, since=0.0, timeout=10.0):
        return self.wait(lambda: self.times(line, since), timeout,
                         "%s since %.3f" % (line, since))[0]

    def wait_status(self, fragment, since=0.0, timeout=10.0):
        return self.wait(lambda: [s for s in self.statuses(since)
                                  if fragment in s[1]], timeout,
                         "STATUS= with %r" % fragment)[0]


class NotifyDaemon(Daemon):
    """The test daemon, started through a shell that sets WATCHDOG_PID to
    the PID the daemon will have (exec keeps it)."""

    watchdog_pid = "$$"

    def argv(self):
        return ["/bin/sh", "-c",
                'WATCHDOG_PID=%s; export WATCHDOG_PID; exec "$@"'
                % self.watchdog_pid, "sh"] + super().argv()


@pytest.fixture
def notify(monkeypatch):
    n = Notifications()
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    yield n
    n.close()


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


def check_clean(d):
    rc = d.stop()
    assert rc == 0, d.logs()
    assert d.sanitizer_report() == ""


@timed
def test_ready_status_and_watchdog_interval(tmp_path, sim, notify):
    t0 = time.monotonic()
    d = NotifyDaemon(tmp_path, sim, daemon={"name": "Table 3"}, **SLACK)
    try:
        t_ready = notify.wait_line("READY=1", t0)
        # READY=1 means the API answers now.
        assert d.status()["state"] == "idle"
        # which table: several run on one machine
        notify.wait_status("Table 3: idle, 2/2 controllers connected", t0)
        # The pings: every 0.5 s while the loop keeps its time (counted
        # from here: the controllers are connected once their safe state
        # is proven, a watchdog period or so after READY=1).
        t_conn = time.monotonic()
        time.sleep(3.2)
        pings = notify.times("WATCHDOG=1", t_conn)
        assert 5 <= len(pings) <= 8, pings
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.35 <= g <= 0.75 for g in gaps), gaps
        assert len(notify.times("READY=1")) == 1
        assert "watchdog: pinging systemd every 500 ms" in d.logs()
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


@timed
def test_no_watchdog_while_the_loop_stalls(tmp_path, sim, notify):
    d = NotifyDaemon(tmp_path, sim, **SLACK)
    try:
        notify.wait_line("READY=1")
        notify.wait(lambda: len(notify.times("WATCHDOG=1")) >= 2,
                    what="two pings")
        d.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        time.sleep(2.0)
        t_cont = time.monotonic()
        d.signal(signal.SIGCONT)
        first = notify.wait_line("WATCHDOG=1", t_cont, timeout=5)
        during = [t for t in notify.times("WATCHDOG=1", t_stop + 0.05)
                  if t < t_cont]
        assert during == []
        # The overdue check at the thaw is withheld: the next ping is
        # one interval later, not at once.
        assert first - t_cont >= 0.3, (first - t_cont, notify.all(t_stop))
        assert first - t_cont <= 1.5
        assert "watchdog: not telling systemd the daemon is alive" in \
            d.logs()
        assert "keeps its time again" in d.logs()
        # And the pings go on at their pace.
        time.sleep(1.6)
        assert len(notify.times("WATCHDOG=1", first)) >= 3
    finally:
        d.signal(signal.SIGCONT)
        d.stop()
    assert d.sanitizer_report() == ""


@pytest.mark.parametrize("case", ["other_pid", "no_watchdog"])
def test_no_pings_unless_the_watchdog_is_ours(tmp_path, sim, notify,
                                              monkeypatch, case):
    class Other(NotifyDaemon):
        watchdog_pid = "1"       # the watchdog is meant for another process

    if case == "no_watchdog":
        monkeypatch.delenv("WATCHDOG_USEC")
    cls = Other if case == "other_pid" else NotifyDaemon
    d = cls(tmp_path, sim, **SLACK)
    try:
        t_ready = notify.wait_line("READY=1")
        time.sleep(1.5)
        assert notify.times("WATCHDOG=1") == []
        assert notify.times("READY=1", t_ready) != []
    finally:
        check_clean(d)


def test_reload_sends_reloading_then_ready(tmp_path, sim, notify):
    d = NotifyDaemon(tmp_path, sim, **SLACK)
    try:
        notify.wait_line("READY=1")
        notify.wait_status("idle, 2/2", timeout=5)
        before = time.clock_gettime(time.CLOCK_MONOTONIC)
        t = time.monotonic()
        d.signal(signal.SIGHUP)
        t_rel = notify.wait_line("RELOADING=1", t)
        after = time.clock_gettime(time.CLOCK_MONOTONIC)
        msg = [m for tt, m in notify.all(t) if "RELOADING=1" in m][0]
        usec = [ln for ln in msg.split("\n")
                if ln.startswith("MONOTONIC_USEC=")]
        assert usec, msg
        assert before * 1e6 - 1000 <= int(usec[0][15:]) <= after * 1e6 + 1000
        t_ready = notify.wait_line("READY=1", t_rel)
        assert t_ready >= t_rel
        assert "reloaded" in d.logs()

        # A broken configuration: refused, READY=1 again, and the status
        # line says so.
        with open(d.config_path, "a") as f:
            f.write("\n[controller pelvis]\nbogus_key = 1\n")
        t = time.monotonic()
        d.signal(signal.SIGHUP)
        t_rel = notify.wait_line("RELOADING=1", t)
        notify.wait_line("READY=1", t_rel)
        notify.wait_status("last reload refused", t)
        assert "reload refused" in d.logs()
        # The running configuration stayed: the daemon still serves.
        assert d.status()["state"] == "idle"
    finally:
        check_clean(d)


@timed
def test_status_follows_the_session(tmp_path, sim, notify):
    d = NotifyDaemon(tmp_path, sim, **SLACK)
    try:
        notify.wait_line("READY=1")
        d.wait_ready()
        t = time.monotonic()
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 201, r.text
        _, text = notify.wait_status("running api_test for standard", t,
                                     timeout=3)
        assert "step 1/2" in text and " left" in text, text
        # The countdown: at most one STATUS= a second while running.
        time.sleep(3)
        running = [s for s in notify.statuses(t) if "running" in s[1]]
        assert 2 <= len(running) <= 5, running
        gaps = [b[0] - a[0] for a, b in zip(running, running[1:])]
        assert all(g >= 0.9 for g in gaps), gaps

        t = time.monotonic()
        r = d.request("POST", "/api/v1/estop")
        assert r.status == 200, r.text
        # A state change goes out at once.
        t_fault, text = notify.wait_status("FAULT: ", t, timeout=2)
        assert t_fault - t < 0.5, t_fault - t
        assert "emergency stop" in text, text

        t = time.monotonic()
        d.signal(signal.SIGTERM)
        notify.wait_line("STOPPING=1", t)
        assert d.wait_exit(15) == 0, d.logs()
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_a_manager_that_never_reads_does_not_stall_the_loop(tmp_path, sim,
                                                              monkeypatch):
    """sd_notify() blocks once the socket's queue is full: the loop must
    not. A socket nobody reads fills after a few messages; the daemon must
    go on ticking, answering and venting."""
    d_ = tempfile.mkdtemp(prefix="mn-", dir="/tmp")
    path = os.path.join(d_, "notify")
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")    # a ping every 50 ms
    d = NotifyDaemon(tmp_path, sim, **SLACK)
    try:
        d.wait_ready()
        # far more notifications than the socket queue holds
        for _ in range(5):
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status == 201, r.text
            assert d.request("POST", "/api/v1/estop").status == 200
            assert d.request("POST", "/api/v1/reset").status == 200
            d.wait_state("idle")
        time.sleep(1.0)
        # still ticking: the heartbeat changes on the wire
        beats = [e["heartbeat"] for e in sim.events("fc16", c=0)]
        t = time.monotonic()
        while time.monotonic() < t + 5:
            newer = [e["heartbeat"] for e in sim.events("fc16", c=0)]
            if len(newer) > len(beats) + 3:
                break
            time.sleep(0.05)
        assert len(newer) > len(beats) + 3
        # still venting at once
        t0 = time.monotonic_ns()
        assert d.request("POST", "/api/v1/estop").status == 200
        sim.wait_event("fc6", c=1, after_ns=t0, timeout=2,
                       where=lambda e: e["value"] == "0")
        assert "notifications are dropped" in d.logs()
    finally:
        d.stop()
        deaf.close()
        shutil.rmtree(d_, ignore_errors=True)
    assert d.sanitizer_report() == ""
