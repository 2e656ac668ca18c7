"""make demo-spa's script (scripts/demo-spa.sh): two tables on one
throwaway PostgreSQL, as make runs it.

The script runs from the repository on fixed ports of 127.0.0.1 given
through its environment (free ones, found here), in a process group of its
own, as a terminal runs it. It makes its own server (initdb, as nobody
when root) under DEMO_DIR, the roles and database of docs/store.md, and
starts make demo's script once per table. A client taken in on Table 1
must be on Table 2 within seconds, a session run on Table 2 must be in
Table 1's history saying so, and Ctrl-C (SIGINT to the process group) must
stop everything it started, the controllers vented first and the server
last, with exit 130 and no process left.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from daemon import REPO, daemon_binary
from pgserver import pg_bindir
from simctl import Event, monotonic_ns, wait_for
from test_demo import free_ports, launch, read_output

BUILD = os.path.dirname(daemon_binary())
VARICOSE = {"name": "Zelda Quistgaard-Spa", "conditions": ["varicose_veins"],
            "pressure": "medium", "ramp": "gentle",
            "zones": {"cap": ["piriformis_left"], "avoid": ["lumbar_left"]},
            "note": "Left side first"}

pytestmark = pytest.mark.skipif(
    pg_bindir() is None, reason="no PostgreSQL server installed (Debian's "
    "postgresql package; make deps installs it)")


def _start(pid):
    """pid's start time (so that a PID used again is not taken for it),
    or None once it is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if rest[0] == "Z" else rest[19]


def descendants(pid):
    """Every live process under pid, as (pid, start time, comm)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(k) for k in f.read().split()]
            for k in kids:
                with open("/proc/%d/comm" % k) as f:
                    out.append((k, _start(k), f.read().strip()))
        except OSError:
            continue
        todo += kids
    return [d for d in out if d[1] is not None]


def alive(procs):
    """Those of procs (from descendants()) still running."""
    return [d for d in procs if _start(d[0]) == d[1]]


class Spa:
    def __init__(self, pg_port=None):
        b = free_ports(8)
        self.ports = {1: b[0], 2: b[1]}
        self.sim_port = b[2]            # Table 2's: b[4] and b[5]
        self.control_port = b[6]        # Table 2's: b[7]
        self.pg_port = pg_port or free_ports(1)[0]
        # Not pytest's tmp_path: nobody (the server's user, as root) must
        # reach the cluster under it, as under build/ of a clone.
        self.dir = tempfile.mkdtemp(prefix="massaged-demo-spa-test-")
        self.out_path = os.path.join(self.dir, "script.out")
        env = dict(os.environ)
        env.update(DEMO_PORT=str(self.ports[1]),
                   DEMO_SIM_PORT=str(self.sim_port),
                   DEMO_SIM_CONTROL_PORT=str(self.control_port),
                   DEMO_PG_PORT=str(self.pg_port), DEMO_DIR=self.dir)
        self._out, self.proc = launch("scripts/demo-spa.sh", env,
                                      self.out_path)

    def output(self):
        return read_output(self.out_path)

    def wait_output(self, pattern, timeout=120):
        def found():
            m = re.search(pattern, self.output())
            if m or self.proc.poll() is None:
                return m
            raise AssertionError("demo-spa exited (%s):\n%s"
                                 % (self.proc.returncode, self.output()))
        return wait_for(found, timeout, interval=0.05, what=pattern)

    def token(self, n):
        with open(os.path.join(self.dir, "table%d" % n, "token")) as f:
            return f.read().strip()

    def request(self, n, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.ports[n],
                                       timeout=10)
        try:
            c.request(method, path, json.dumps(body) if body else None,
                      {"Authorization": "Bearer " + self.token(n),
                       "Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
        finally:
            c.close()

    def state(self, n):
        st, doc = self.request(n, "GET", "/api/v1/status")
        return doc["state"] if st == 200 else None

    def events(self, n):
        with open(os.path.join(self.dir, "table%d" % n,
                               "sim-events.log")) as f:
            return [Event(line) for line in f if line.strip()]

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def spa():
    s = Spa()
    yield s
    s.close()


def vented(events, since_ns):
    """The controllers whose CONTROL went to 0 after since_ns."""
    return {e.c for e in events if e.ns > since_ns and (
        (e.kind == "fc16" and e.get("control") == "0") or
        (e.kind == "fc6" and e.get("addr") == "0" and e.get("value") == "0"))}


def test_spa_demo_shares_clients_and_history(spa):
    spa.wait_output(r"Press Ctrl-C")
    out = spa.output()
    for n in (1, 2):
        m = re.search(r"Table %d panel:\s+(\S+)" % n, out)
        assert m and m.group(1) == "http://127.0.0.1:%d/" % spa.ports[n], out
        assert re.search(r"Table %d token:\s+%s$" % (n, spa.token(n)), out,
                         re.M), out
        st, doc = spa.request(n, "GET", "/api/v1/status")
        assert st == 200, doc
        assert doc["table"] == "Table %d" % n, doc["table"]
        assert doc["store"]["reachable"] is True, doc["store"]
        assert doc["store"]["url"] == "postgresql://table%d@127.0.0.1:%d/" \
            "spa" % (n, spa.pg_port), doc["store"]
    assert "applied 0001_init.sql" in out, out
    # The cluster is under DEMO_DIR, the passwords 0600.
    assert os.path.isdir(os.path.join(spa.dir, "pg", "data"))
    for login in ("owner", "table1", "table2"):
        st = os.stat(os.path.join(spa.dir, login + ".pw"))
        assert st.st_mode & 0o777 == 0o600
    # A client taken in on Table 1 is on Table 2 within seconds.
    st, doc = spa.request(1, "POST", "/api/v1/profiles", VARICOSE)
    assert st == 201, doc
    pid = doc["id"]
    got = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        spa.request(2, "GET", "/api/v1/profiles/" + pid)), 5,
        interval=0.05, what="the client on Table 2")
    assert got["name"] == VARICOSE["name"], got
    # A session for them on Table 2 is in Table 1's history.
    st, doc = spa.request(2, "POST", "/api/v1/session",
                          {"program": "relaxation", "profile": pid})
    assert st == 201, doc
    sid = doc["session_id"]
    wait_for(lambda: spa.state(2) == "running", 20, what="running")
    st, doc = spa.request(2, "POST", "/api/v1/session/stop")
    assert st == 200, doc
    wait_for(lambda: spa.state(2) == "idle", 20, what="idle")

    def in_history():
        st, doc = spa.request(1, "GET", "/api/v1/sessions")
        assert st == 200, doc
        return [s for s in doc["sessions"] if s["table"] == "Table 2" and
                s["id"] == sid and s["phase"] == "end"] and doc
    doc = wait_for(in_history, 15, interval=0.2, what="Table 1's history")
    assert doc["source"] == "store", doc
    mine = [s for s in doc["sessions"] if s["table"] == "Table 2"][0]
    assert mine["client"] == VARICOSE["name"], mine

    # The tables' scripts and the server run in sessions of their own:
    # Ctrl-C is the script's alone (its one-second sleep aside).
    every = descendants(spa.proc.pid)
    kids = [int(k) for k in open("/proc/%d/task/%d/children" % (
        spa.proc.pid, spa.proc.pid)).read().split()]
    kids = {k: c for k, _, c in every if k in kids and c != "sleep"}
    assert sorted(kids.values()) == ["postgres", "sh", "sh"], kids
    for k in kids:
        assert os.getsid(k) == k
    names = {d[2] for d in every}
    assert {"massaged", "massaged-sim", "postgres"} <= names, names
    t_int = monotonic_ns()
    os.killpg(spa.proc.pid, signal.SIGINT)
    assert spa.proc.wait(timeout=90) == 130
    out = spa.output()
    assert out.rstrip().endswith("demo stopped"), out
    left = alive(every)
    assert not left, left
    # Each table vented both its controllers.
    for n in (1, 2):
        assert vented(spa.events(n), t_int) == {0, 1}, n
    # The server is gone with its cluster; its port is closed.
    assert not os.path.exists(os.path.join(spa.dir, "pg"))
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", spa.pg_port)) != 0


def test_spa_demo_says_when_its_server_port_is_taken():
    """Another process on DEMO_PG_PORT: exit 1 saying so, nothing left."""
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        spa = Spa(pg_port=busy.getsockname()[1])
        try:
            seen = set()
            t0 = time.monotonic()
            while spa.proc.poll() is None and time.monotonic() - t0 < 120:
                seen.update(descendants(spa.proc.pid))
                time.sleep(0.01)
            assert "postgres" in {d[2] for d in seen}, seen
            assert spa.proc.wait(timeout=1) == 1
            out = spa.output()
            assert "the PostgreSQL server did not start on 127.0.0.1:%d" \
                % spa.pg_port in out, out
            assert "DEMO_PG_PORT" in out, out
            assert out.rstrip().endswith("demo stopped"), out
            assert not alive(seen), alive(seen)
            assert not os.path.exists(os.path.join(spa.dir, "pg"))
            assert not os.path.exists(os.path.join(spa.dir, "table1"))
        finally:
            spa.close()


def test_spa_demo_sigterm_stops_everything(spa):
    """SIGTERM to the process group (its one-second sleep dies first):
    the same stop as Ctrl-C, exit 143."""
    spa.wait_output(r"Press Ctrl-C")
    every = descendants(spa.proc.pid)
    assert {"massaged", "massaged-sim", "postgres"} <= \
        {d[2] for d in every}, every
    os.killpg(spa.proc.pid, signal.SIGTERM)
    assert spa.proc.wait(timeout=90) == 143
    assert spa.output().rstrip().endswith("demo stopped"), spa.output()
    assert not alive(every), alive(every)
    assert not os.path.exists(os.path.join(spa.dir, "pg"))
