"""make demo's script (scripts/demo.sh) behaves like the real thing.

The script runs here as make runs it, from the repository, on fixed ports
of 127.0.0.1 given through its environment. Ctrl-C is a SIGINT to the
script's whole process group, as the terminal sends it: the daemon and the
simulator must not get it (they run in sessions of their own), the daemon
must be stopped first and vent, the simulator after. A daemon killed
under the demo comes back, as systemd would bring it back.
"""

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import time

import pytest

from daemon import REPO, daemon_binary
from simctl import Event, monotonic_ns, sim_binary, wait_for

BUILD = os.path.dirname(daemon_binary())


def _sigint_default():
    """A shell started with SIGINT ignored (as a background job's children
    are) can never trap it: give the script the terminal's default, as
    make demo in a terminal has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def free_ports(n):
    """n consecutive TCP ports of 127.0.0.1 that were free a moment ago.

    Taken below the kernel's ephemeral range, so that no outgoing
    connection of another process takes one before the demo binds it.
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(max(1024, low - 12000), low - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return list(range(base, base + n))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports" % n)


def launch(script, env, out_path):
    """script (sh) on BUILD with env, its output to out_path: in its own
    process group, like a shell in a terminal gives it. (file, proc)"""
    out = open(out_path, "wb")
    proc = subprocess.Popen(["sh", script, BUILD], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=_sigint_default)
    return out, proc


def read_output(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


class Demo:
    def __init__(self, tmp_path):
        ports = free_ports(2)
        self.port, self.sim_port = free_ports(1)[0], ports[0]
        self.control_port = free_ports(1)[0]
        self.dir = os.path.join(str(tmp_path), "demo")
        self.out_path = os.path.join(str(tmp_path), "demo.out")
        env = dict(os.environ)
        env.update(DEMO_PORT=str(self.port), DEMO_SIM_PORT=str(self.sim_port),
                   DEMO_SIM_CONTROL_PORT=str(self.control_port),
                   DEMO_DIR=self.dir, DEMO_RESTART_SEC="1")
        self._out, self.proc = launch("scripts/demo.sh", env,
                                      self.out_path)

    def output(self):
        return read_output(self.out_path)

    def wait_output(self, pattern, timeout=60):
        def found():
            if self.proc.poll() is not None:
                m = re.search(pattern, self.output())
                if m:
                    return m
                raise AssertionError("demo exited (%s):\n%s"
                                     % (self.proc.returncode, self.output()))
            return re.search(pattern, self.output())
        return wait_for(found, timeout, interval=0.05, what=pattern)

    def children(self):
        """{comm: pid} of the script's children."""
        out = {}
        task = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)
        with open(task) as f:
            for pid in f.read().split():
                try:
                    with open("/proc/%s/comm" % pid) as c:
                        out[c.read().strip()] = int(pid)
                except OSError:
                    pass
        return out

    def request(self, method, path, body=None):
        token = open(os.path.join(self.dir, "token")).read().strip()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, json.dumps(body) if body else None,
                      {"Authorization": "Bearer " + token,
                       "Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def state(self):
        try:
            st, body = self.request("GET", "/api/v1/status")
        except OSError:
            return None
        return json.loads(body)["state"] if st == 200 else None

    def events(self):
        with open(os.path.join(self.dir, "sim-events.log")) as f:
            return [Event(line) for line in f if line.strip()]

    def ctrl_c(self):
        os.killpg(self.proc.pid, signal.SIGINT)

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


@pytest.fixture
def demo(tmp_path):
    d = Demo(tmp_path)
    yield d
    d.close()


def test_demo_prints_addresses_and_a_working_fault_command(demo):
    m = demo.wait_output(r"control panel:\s+(http://\S+/)")
    assert m.group(1) == "http://127.0.0.1:%d/" % demo.port
    demo.wait_output(r"Press Ctrl-C")
    out = demo.output()
    assert "nc " not in out
    assert re.search(r"controllers on 127\.0\.0\.1:%d and :%d"
                     % (demo.sim_port, demo.sim_port + 1), out)
    # The fault-injection command printed, run as printed: the simulator's
    # own binary, no nc.
    cmds = re.findall(r"^\s+(\S*massaged-sim --control-cmd \S+ '[^']*')$",
                      out, re.M)
    assert len(cmds) == 2, out
    assert "127.0.0.1:%d" % demo.control_port in cmds[0]
    assert demo.state() == "idle"
    r = subprocess.run(["sh", "-c", cmds[0]], cwd=REPO, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "ok\n", (r.stdout, r.stderr)
    r = subprocess.run([sim_binary(), "--control-cmd",
                        "127.0.0.1:%d" % demo.control_port, "get 0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert json.loads(r.stdout[3:])["client_stop"] is True
    r = subprocess.run(["sh", "-c", cmds[1]], cwd=REPO, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "ok\n", (r.stdout, r.stderr)


def test_ctrl_c_vents_before_the_simulator_stops(demo):
    demo.wait_output(r"Press Ctrl-C")
    st, body = demo.request("POST", "/api/v1/session",
                            {"program": "relaxation", "profile": "standard"})
    assert st == 201, body
    wait_for(lambda: demo.state() == "running", 20, what="running")
    kids = demo.children()
    assert set(kids) == {"massaged", "massaged-sim"}, kids
    # The children are in sessions of their own: Ctrl-C is not theirs.
    for pid in kids.values():
        assert os.getsid(pid) == pid
    t_int = monotonic_ns()
    demo.ctrl_c()
    assert demo.proc.wait(timeout=60) == 130
    out = demo.output()
    assert out.rstrip().endswith("demo stopped"), out
    assert "failed" not in out, out
    for pid in kids.values():
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    ev = demo.events()
    # CONTROL = 0 by FC16 (with the setpoints) or FC06 (the vent alone).
    vents = [e for e in ev if e.ns > t_int and (
        (e.kind == "fc16" and e.get("control") == "0") or
        (e.kind == "fc6" and e.get("addr") == "0" and e.get("value") == "0"))]
    assert {e.c for e in vents} == {0, 1}, [e.line for e in ev[-30:]]
    exits = [e for e in ev if e.kind == "disconnect"
             and e.get("reason") == "exit"]
    # The daemon had closed its connections before the simulator quit;
    # whatever was left open at its exit came after the vent.
    assert all(e.ns > min(v.ns for v in vents) for e in exits)
    closed = [e for e in ev if e.ns > t_int and e.kind == "disconnect"]
    assert closed and min(e.ns for e in closed) > \
        max(min(v.ns for v in vents if v.c == c) for c in (0, 1))


def test_killed_daemon_comes_back(demo):
    demo.wait_output(r"Press Ctrl-C")
    first = demo.children()["massaged"]
    os.kill(first, signal.SIGKILL)
    demo.wait_output(r"the daemon was killed by signal 9; restarting it "
                     r"in 1 s")
    demo.wait_output(r"the daemon is back \(pid (\d+)\)")
    again = demo.children()["massaged"]
    assert again != first
    wait_for(lambda: demo.state() == "idle", 20, what="idle again")
    sim = demo.children()["massaged-sim"]
    demo.ctrl_c()
    assert demo.proc.wait(timeout=60) == 130
    assert not os.path.exists("/proc/%d" % sim) or \
        open("/proc/%d/stat" % sim).read().split()[2] == "Z"
