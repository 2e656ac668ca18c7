"""The run directory and the endpoint lock (issue 24, item 9, last point):
a missing run directory outside systemd turned the lock off with a warning,
and a second daemon then wrote CONTROL = 0 into the first one's session on
a register map v1 controller, which has no owner claim to refuse it.

  created     a run directory that does not exist is created, mode 0755
              whatever the umask (its last component only), and the lock
              taken in it.
  refused     a run directory that cannot be made (under a regular file,
              or whose parent is missing): a v1 controller is refused after
              its identity is read, nothing written to it (the simulator's
              event log), its status and the log name the lock file or the
              directory and the error; a v2 controller (the owner claim
              guards it) still runs a session.
  two daemons two daemons on one v1 controller and one run directory that
              did not exist: the first creates it and runs a session, the
              second is refused by the lock, never connects, and writes
              nothing into the first's session, even when told to e-stop.

Every test runs the real daemon against the real simulator.
"""

import os
import stat
import time

import pytest

from simctl import Sim, monotonic_ns
from test_bus import bus_daemon, fc16, start, tcp_ctls

V1_REFUSAL = ("refused: register map version 1 has no owner claim and the "
              "endpoint lock cannot be taken: ")


def lock_path(run, sim, c=0):
    return os.path.join(run, "tcp-127.0.0.1-%d-unit1.lock" % sim.ports[c])


def writes(sim, c, after_ns=0):
    """Every write that reached controller c after after_ns."""
    return [e for e in sim.events(c=c) if e.ns > after_ns and
            e.kind in ("fc6", "fc16")]


def test_missing_run_dir_is_created_0755(tmp_path):
    """A run directory that does not exist is created (mode 0755 under a
    umask of 077) and the endpoint lock is taken in it: the lock file holds
    the daemon's pid and is locked."""
    run = os.path.join(str(tmp_path), "run-missing")
    assert not os.path.exists(run)
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=1)]) as sim:
        old = os.umask(0o077)
        try:
            d = bus_daemon(tmp_path, tcp_ctls(sim, 1),
                           daemon={"run_dir": run})
        finally:
            os.umask(old)
        with d:
            d.wait_ready()
            st = os.stat(run, follow_symlinks=False)
            assert stat.S_ISDIR(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o755
            d.wait_for(lambda: "run directory %s: created (mode 0755)" % run
                       in d.logs(), what="creation logged")
            with open(lock_path(run, sim)) as f:
                assert f.read().strip() == str(d.pid)
            # a v1 controller with the lock held is driven
            start(d)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)


@pytest.mark.parametrize("where", ["under_a_file", "parent_missing"])
def test_v1_refused_without_the_lock_v2_runs(tmp_path, where):
    """A run directory the daemon cannot make: a v1 controller is refused
    (never enabled, nothing written, the reason in its status and the log),
    a v2 controller on the same daemon runs a session."""
    base = str(tmp_path)
    if where == "under_a_file":
        with open(os.path.join(base, "plain"), "w") as f:
            f.write("not a directory\n")
        run = os.path.join(base, "plain", "run")
    else:
        run = os.path.join(base, "gone", "run")
    sims = [dict(channels=4, map_version=1), dict(channels=4, map_version=2)]
    with Sim(tmp_path, controllers=sims) as sim:
        ctls = tcp_ctls(sim, 2)
        # the v2 controller alone drives the zones of a session
        with bus_daemon(tmp_path, ctls, daemon={"run_dir": run}) as d:
            def why(c):
                if where == "under_a_file":
                    return "cannot create the endpoint lock %s: Not a " \
                        "directory" % lock_path(run, sim, c)
                return "cannot create the run directory %s: No such file " \
                    "or directory" % run
            d.wait_for(lambda: (d.status()["controllers"][0]["error"] or "")
                       == V1_REFUSAL + why(0), what="v1 refusal in status")
            d.wait_for(lambda: "controller c0: " + V1_REFUSAL + why(0) in
                       d.logs(), what="v1 refusal logged")
            # the v2 controller runs, warned of the missing lock
            d.wait_for(lambda: d.status()["controllers"][1]["connected"],
                       timeout=10, what="v2 connected")
            d.wait_for(lambda: "controller c1: no endpoint lock: " + why(1)
                       in d.logs(), what="v2 warned")
            # the refused one's identity was read (it was asked), and the
            # daemon keeps trying with back-off: still nothing written
            sim.wait_for(lambda: len([e for e in sim.events("fc4", c=0)
                                      if e["addr"] == "100"]) >= 2,
                         timeout=10, what="identity read again")
            st = d.status()
            assert not st["controllers"][0]["connected"]
            r = d.request("POST", "/api/v1/session",
                          {"program": "bus", "profile": "bus"})
            assert r.status == 409, r.text
            assert writes(sim, 0) == []
            assert not sim.get(0)["active"]
            assert not os.path.exists(os.path.dirname(run)) or \
                where == "under_a_file"      # parents are not created
        # c1 on its own: the same daemon, a table of the v2 controller only
        with bus_daemon(tmp_path, ctls[1:], name="v2",
                        daemon={"run_dir": run}) as d2:
            d2.wait_ready()
            t0 = monotonic_ns()
            start(d2)
            sim.wait_for(lambda: sim.get(1)["active"], timeout=10)
            assert fc16(sim, 1, t0)
        assert writes(sim, 0) == []


def test_second_daemon_on_a_v1_controller_writes_nothing(tmp_path):
    """Two daemons on one machine, one v1 controller, one run directory that
    did not exist (as /run/massaged outside systemd): the first creates it
    and runs a session; the second is refused by the lock, naming the
    first's pid, never connects and never writes (no CONTROL = 0 into the
    first's session, not even on an e-stop of its own)."""
    run = os.path.join(str(tmp_path), "run-missing")
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=1)]) as sim:
        ctls = tcp_ctls(sim, 1)
        with bus_daemon(tmp_path, ctls, name="a",
                        daemon={"run_dir": run}) as a:
            a.wait_ready()
            start(a)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)
            t0 = monotonic_ns()
            with bus_daemon(tmp_path, ctls, name="b",
                            daemon={"run_dir": run}) as b:
                b.wait_for(lambda: "endpoint locked by another massaged on "
                           "this machine (pid %d, %s)" % (
                               a.pid, lock_path(run, sim)) in b.logs(),
                           what="lock refusal")
                st = b.status()
                assert not st["controllers"][0]["connected"]
                assert "endpoint locked by another massaged" in \
                    st["controllers"][0]["error"]
                r = b.request("POST", "/api/v1/session",
                              {"program": "bus", "profile": "bus"})
                assert r.status == 409, r.text
                r = b.request("POST", "/api/v1/estop")
                assert r.status == 200, r.text
                time.sleep(1.0)     # b's retries (back-off 100 ms on)
            # b has stopped; a's session went on untouched
            assert a.status()["state"] == "running"
            assert sim.get(0)["active"]
            assert not [e for e in sim.events("connect", c=0) if e.ns > t0]
            assert not [e for e in writes(sim, 0, t0)
                        if e.kind == "fc6" or e.get("control") != "1"]


def test_a_described_controller_locks_every_unit_it_uses(tmp_path):
    """A kind = device controller made of three devices on one RS-485
    line (outputs unit 1, sensors unit 2, interlock relay unit 3) holds the
    endpoint lock of each, so a second daemon here can drive none of them,
    not even the relay."""
    import fcntl
    from devtable import DeviceTable

    with DeviceTable(tmp_path, "rs485") as t:
        t.d.wait_ready(timeout=20)
        serial = dict(t.d.controllers)["pelvis"]["serial"]
        stem = "rtu-%s" % serial[1:].replace("/", "_").replace(":", "_")
        for unit in (1, 2, 3):
            path = os.path.join(t.d.run_dir, "%s-unit%d.lock" % (stem, unit))
            with open(path) as f:
                assert f.read().strip() == str(t.d.pid), path
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    raise AssertionError("%s is not locked" % path)
