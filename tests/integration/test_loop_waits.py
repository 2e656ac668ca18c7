"""The loop waits for nobody: routine plugins against the real daemon and
the real simulator (issue 24, items 2, 3 and 9's plugin stderr).

  slow load   a routine whose create() sleeps 1 s (at a step change) and
              one whose constructor sleeps 1 s (at a session's start):
              loading runs in the worker on its own time, awaited by the
              loop's events, never waited for; the heartbeat on the wire
              never pauses (no gap near the watchdog, the daemon's missed
              tick counter stays put), the controllers stay at zero until
              the first routine is ready, the last setpoints hold at a step
              change, and an e-stop issued during the sleep reaches both
              controllers (CONTROL = 0 in the simulator's event log) within
              its usual bound: a tick, a round trip and slack.
  both at once (issue 24's first point whole): the slow create() with
              20,000 writable profiles while a thread pages and searches
              the profile list through the API all along: not one tick
              missed, and the same bounds.
  forged page a routine that answers every question through the page it
              shares with the daemon, forging every field of it, while it
              spins: judged by the CPU time the kernel counts, it is
              stopped within a few ticks, naming the routine.
  stderr      what a plugin writes to stderr reaches the journal as the
              daemon's own lines, named after the routine, at one fixed
              priority: a "<N>" of its own is no priority.
"""

import re
import threading
import time

import pytest

from simctl import monotonic_ns
from test_faults import (LEGS, PELVIS, RT_MS, SLACK_S, TICK_MS, fault_program,
                         plugin_dir, rig)  # noqa: F401 (a fixture)
from test_profiles_scale import N, page, pid_of, write_profiles

SLACK_MS = 150                  # scheduling slack of a shared, loaded box
ESTOP_BOUND_MS = TICK_MS + RT_MS + SLACK_MS
GAP_BOUND_MS = 200              # between two writes to a controller
                                # (watchdog 500 ms; a blocked loop: 1000)
MISSED_MAX = 2                  # ticks the loop may miss meanwhile
# Three questions over the CPU budget (a quarter tick each), then a tick
# to take the last answer in, plus slack.
FORGE_BOUND_MS = 5 * TICK_MS + 500
PAGER_CALLS = 2000              # requests of the profile list at most,
PAGER_S = 60                    # and seconds at most


def slow_program(steps):
    """A program of (name, routine, create_ms, duration_s) steps."""
    out = ["[program]", "name = Slow loading", "description = Slow.", ""]
    for name, routine, create_ms, dur in steps:
        out += ["[step %s]" % name, "routine = %s" % routine,
                "duration_s = %g" % dur, "zones = gluteus_maximus_*",
                "level_kpa = 10", "create_ms = %d" % create_ms, ""]
    return "\n".join(out)


def metric(d, name):
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    assert m, name
    return float(m.group(1))


def sleep_marks(d, name, after_ns):
    """(pid, ns) of "slow NAME pid PID sleeps at NS" lines after after_ns."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"slow %s pid (\d+) sleeps at (\d+)" % re.escape(name), d.logs())
        if int(m.group(2)) > after_ns]


def wait_sleep(d, name, after_ns, n=1, timeout=10.0):
    """Waits for the n-th sleep of routine name after after_ns."""
    return d.wait_for(lambda: (lambda m: m[n - 1] if len(m) >= n else None)(
        sleep_marks(d, name, after_ns)), timeout=timeout,
        what="sleep %d of %s" % (n, name))


def max_gap_ms(r, after_ns, before_ns):
    """The longest time between two writes (FC16) to either controller."""
    gap = 0
    for c in (PELVIS, LEGS):
        ev = r.fc16(c=c, after_ns=after_ns, before_ns=before_ns)
        assert len(ev) > 10, (c, len(ev))
        gap = max([gap] + [(b.ns - a.ns) / 1e6 for a, b in zip(ev, ev[1:])])
    return gap


def estop_reaches_both(r, d):
    """An e-stop now: CONTROL = 0 at both controllers within its bound."""
    t = monotonic_ns()
    rr = d.request("POST", "/api/v1/estop")
    assert rr.status == 200, rr.text
    for c in (PELVIS, LEGS):
        v = r.wait_vent(c, t, timeout=SLACK_S)
        took = (v.ns - t) / 1e6
        assert took <= ESTOP_BOUND_MS, (c, took, ESTOP_BOUND_MS)
    st = d.status()
    assert st["last_stop"]["reason"] == "estop", st
    return t


def slow_create_rig(rig, tmp_path, **kw):
    """A rig whose program "slow" has three steps of slow_create: a at
    once, then b and c whose create() sleeps 1 s at their step change."""
    prog = slow_program([("a", "slow_create", 0, 1.5),
                         ("b", "slow_create", 1000, 2.5),
                         ("c", "slow_create", 1000, 30)])
    return rig(daemon={"plugin_dir": plugin_dir(tmp_path, ["slow_create"])},
               programs={"slow": prog}, **kw)


def slow_create_session(r, missed_max):
    """Runs the program of slow_create_rig(): the session at 50 Hz misses
    at most missed_max ticks while b loads and goes on with it (the last
    setpoints held meanwhile); an e-stop during c's sleep reaches both
    controllers within its bound. Returns the ns of b's sleep, of c's and
    of the e-stop."""
    d = r.d
    missed0 = metric(d, "massaged_missed_ticks_total")
    t0 = monotonic_ns()
    r.start_session("slow")
    r.wait_pressure(2.0, timeout=SLACK_S + 5)
    _, t_b = wait_sleep(d, "slow_create", t0, 1)
    time.sleep(1.3)                 # the sleep is over, step b runs
    st = d.status()
    assert st["state"] == "running", st
    assert st["step"]["name"] == "b", st
    t1 = monotonic_ns()
    gap = max_gap_ms(r, t0 + 100e6, t1)
    assert gap < GAP_BOUND_MS, gap
    assert metric(d, "massaged_missed_ticks_total") - missed0 <= missed_max
    # The setpoints held through the change: never down to 0 meanwhile.
    for e in r.fc16(c=PELVIS, after_ns=t_b, before_ns=t_b + 900e6):
        assert float(e["sp"].split(",")[14]) > 0, e

    _, t_c = wait_sleep(d, "slow_create", t0, 2, timeout=5)
    assert monotonic_ns() < t_c + 700e6, "too late to e-stop in the sleep"
    t = estop_reaches_both(r, d)
    assert t < t_c + 1000e6
    r.wait_vented(timeout=SLACK_S + 2)
    r.check_setpoints()
    return t_b, t_c, t


def test_slow_create_never_holds_the_loop(rig, tmp_path):
    """create() sleeping 1 s at two step changes: the session at 50 Hz
    misses no tick while the first loads and goes on with it (the last
    setpoints held meanwhile); an e-stop during the second sleep reaches
    both controllers within its bound."""
    r = slow_create_rig(rig, tmp_path)
    r.d.wait_ready(timeout=30)
    slow_create_session(r, MISSED_MAX)
    r.finish()


class Pager(threading.Thread):
    """Pages and searches the profile list through the API again and
    again, as panels and scripts would, until stopped: at most
    PAGER_CALLS requests in PAGER_S. Keeps each answered request's (kind,
    sent ns, answered ns) and every failure."""

    QUERIES = (("page", lambda k: "?limit=100&cursor=" + pid_of(k * 613 % N)),
               ("scan", lambda k: "?q=no%20such%20client%20" + str(k)),
               ("search", lambda k: "?q=zelda&limit=100"))

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.done = []
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        end = time.monotonic() + PAGER_S
        k = 0
        while (not self.halt.is_set() and k < PAGER_CALLS and
               time.monotonic() < end):
            kind, query = self.QUERIES[k % len(self.QUERIES)]
            t = monotonic_ns()
            try:
                page(self.d, query(k))
            except Exception as e:      # the test reports it
                self.errors.append((kind, query(k), repr(e)))
                return
            self.done.append((kind, t, monotonic_ns()))
            k += 1

    def stop(self):
        self.halt.set()
        self.join(timeout=60)
        assert not self.is_alive(), "the pager did not end"

    def during(self, a_ns, b_ns, kind=None):
        """The requests in flight at some time between a_ns and b_ns."""
        return [x for x in self.done if (kind is None or x[0] == kind)
                and x[1] < b_ns and x[2] > a_ns]


def test_profiles_and_slow_create_never_hold_the_loop(rig, tmp_path):
    """Issue 24's first point whole: 20,000 writable profiles, a session
    at 50 Hz whose create() sleeps 1 s at two step changes, and a thread
    that pages and searches the profile list all along. Not one tick
    missed, no gap near the watchdog at either controller, the session
    passes the step change; an e-stop during the second sleep reaches
    both controllers within its bound."""
    r = slow_create_rig(rig, tmp_path, start=False, start_timeout=180)
    d = r.d
    write_profiles(d)
    d.start()
    d.wait_ready(timeout=60)
    assert page(d).json()["writable"] == N
    pager = Pager(d)
    pager.start()
    try:
        t_b, t_c, t = slow_create_session(r, 0)
    finally:
        pager.stop()
    assert not pager.errors, pager.errors
    # The list was being read while each create() slept, and at the e-stop.
    for kind, _ in Pager.QUERIES:
        assert pager.during(t_b, t_b + 1000e6, kind), (kind, pager.done)
    assert pager.during(t_c, t), pager.done
    r.finish()


def test_slow_constructor_never_holds_the_loop(rig, tmp_path):
    """A constructor sleeping 1 s when the session's first worker loads:
    the controllers are written every tick, at zero, until it is ready,
    then the session runs; an e-stop during the sleep of the next start
    reaches both controllers within its bound."""
    prog = slow_program([("a", "slow_ctor", 0, 30)])
    r = rig(daemon={"plugin_dir": plugin_dir(tmp_path, ["slow_ctor"])},
            programs={"slow": prog})
    d = r.d
    d.wait_ready(timeout=30)
    missed0 = metric(d, "massaged_missed_ticks_total")
    t0 = monotonic_ns()
    r.start_session("slow")
    _, t_s = wait_sleep(d, "slow_ctor", t0, 1)
    r.wait_pressure(2.0, timeout=SLACK_S + 5)
    t1 = monotonic_ns()
    assert (t1 - t_s) / 1e6 >= 1000, "pressure before the routine loaded"
    gap = max_gap_ms(r, t0 + 100e6, t1)
    assert gap < GAP_BOUND_MS, gap
    assert metric(d, "massaged_missed_ticks_total") - missed0 <= MISSED_MAX
    for e in r.fc16(after_ns=t0, before_ns=t_s + 900e6):
        assert set(e["sp"].split(",")) == {"0.0"}, e
    assert d.request("POST", "/api/v1/session/stop").status == 200
    d.wait_state("idle", timeout=30)

    t2 = monotonic_ns()
    r.start_session("slow")
    _, t_s2 = wait_sleep(d, "slow_ctor", t2, 1)
    assert monotonic_ns() < t_s2 + 700e6, "too late to e-stop in the sleep"
    estop_reaches_both(r, d)
    r.wait_vented(timeout=SLACK_S + 2)
    r.check_quiet(monotonic_ns())
    r.finish()


def test_forged_page_is_not_believed(rig, tmp_path):
    """step() answers every question through the page on time, forging
    every field it can reach, and spins: the kernel's count of its CPU
    time (never a figure in the page) stops the session within a few
    ticks, category 0, naming the routine."""
    r = rig(daemon={"plugin_dir": plugin_dir(tmp_path, ["hostile_forge"])},
            programs={"forge": fault_program("hostile_forge")})
    d = r.d
    d.wait_ready()
    t0 = monotonic_ns()
    r.start_session("forge")
    st = r.wait_stopped("fault", timeout=1 + SLACK_S + 3)
    r.check_operator(st, "fault", "routine_error", 0,
                     r"routine hostile_forge \(step bad\)",
                     r"ms of CPU in step \(counted by the kernel\), over "
                     r"its budget")
    log = d.logs()
    assert "hostile hostile_forge found the page" in log, log[-3000:]
    m = re.search(r"hostile hostile_forge pid (\d+) misbehaves at (\d+)", log)
    assert m and int(m.group(1)) != d.pid
    t_mis = int(m.group(2))
    assert t_mis > t0
    for c in (PELVIS, LEGS):
        v = r.wait_vent(c, t_mis, timeout=SLACK_S)
        took = (v.ns - t_mis) / 1e6
        assert took <= FORGE_BOUND_MS, (c, took, FORGE_BOUND_MS)
    r.wait_vented(timeout=SLACK_S + 2)
    r.check_setpoints()
    r.check_record("routine_error", 0, "hostile_forge")
    r.finish()


def test_plugin_stderr_is_named(rig, tmp_path):
    """Lines a plugin writes to stderr (in its constructor, in step(),
    with "<0>".."<7>" of its own, an escape, a carriage return, one
    without its newline) come out as the daemon's lines at LOG_INFO,
    "routine NAME (stderr): ...", none with a priority of its own."""
    r = rig(daemon={"plugin_dir": plugin_dir(tmp_path, ["hostile_stderr"])},
            programs={"chatty": fault_program("hostile_stderr")})
    d = r.d
    d.wait_ready()
    r.start_session("chatty")
    d.wait_for(lambda: "two prefixes" in d.logs(), timeout=SLACK_S + 3,
               what="the plugin's step() lines")
    assert d.request("POST", "/api/v1/session/stop").status == 200
    d.wait_state("idle", timeout=30)
    d.wait_for(lambda: "no newline at all" in d.logs(), timeout=SLACK_S,
               what="the line without a newline, once the worker ended")
    log = d.logs()
    lines = [ln for ln in log.splitlines()
             if re.search(r"hostile_stderr (ctor|step)|again|two prefixes|"
                          r"no newline at all", ln)]
    assert lines, log[-3000:]
    for ln in lines:
        assert re.match(r"<6>massaged: routine \S+( \S+)? \(stderr\): ",
                        ln), ln
        assert "\x1b" not in ln and "\r" not in ln, repr(ln)
    # The constructor's line, from every worker that loaded the file.
    assert re.search(r"^<6>massaged: routine .*hostile_stderr.* \(stderr\): "
                     r"hostile_stderr ctor: critical, it says$", log, re.M)
    assert re.search(r"^<6>massaged: routine hostile_stderr \(stderr\): "
                     r"hostile_stderr step: emergency\?\[2J\?<3>again$",
                     log, re.M), log[-3000:]
    assert re.search(r"^<6>massaged: routine hostile_stderr \(stderr\): "
                     r"two prefixes$", log, re.M)
    assert re.search(r"^<6>massaged: routine hostile_stderr \(stderr\): "
                     r"no newline at all$", log, re.M)
    assert not re.search(r"^<[0-7]>(?!massaged: )", log, re.M)
    r.finish()
