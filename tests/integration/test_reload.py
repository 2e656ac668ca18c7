"""Reload (SIGHUP, `systemctl reload`): control_reload() and
session_reload() with the real daemon against the simulator.

A running session keeps its resolved limits unless the new ones are
stricter, which apply at once; a broken configuration is refused with every
error logged and the old one stays; a condition that now refuses the
session ends it with a category 1 stop and the rule's reason.
"""

import json
import os
import re
import signal
import time

import pytest

from daemon import WRAPPER_SLOW, Daemon, sim_controllers
from simctl import Sim, monotonic_ns

# Generous Modbus timeouts: these tests are about other things, and a
# loaded test machine must not turn a slow reply into a lost link.
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

PROFILE = """\
[client]
name = Reload test
conditions = {conditions}

[limits]
cap_kpa = {cap}
ramp_kpa_s = 20
max_session_min = 30
intensity = 100
"""

ZONE = "gluteus_maximus_left"


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


def zone(st, name=ZONE):
    return [z for z in st["zones"] if z["name"] == name][0]


def metric(d, name):
    r = d.request("GET", "/metrics", token=False)
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    assert m, name
    return float(m.group(1))


def reload(d, counter="massaged_reloads_total"):
    """SIGHUP, then wait until the daemon counted it (applied or not)."""
    before = metric(d, counter)
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: metric(d, counter) == before + 1,
               timeout=5 * WRAPPER_SLOW, what=counter)


def write_profile(d, cap, conditions="none"):
    d.write_profile("reload_test", PROFILE.format(cap=cap,
                                                  conditions=conditions))


def watch_setpoints(d, seconds, limit):
    """Polls the status for a while: no zone is ever commanded above
    limit; returns the highest setpoint of ZONE seen."""
    top = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = d.status()
        assert st["state"] == "running", (st["last_stop"], d.logs())
        for z in st["zones"]:
            assert z["setpoint_kpa"] <= limit + 1e-6, z
        top = max(top, zone(st)["setpoint_kpa"])
        time.sleep(0.05)
    return top


@pytest.fixture
def daemon(tmp_path, sim):
    d = Daemon(tmp_path, sim, start=False, **SLACK,
               # The actuator needs a moment to let air out after a lower
               # limit: do not let that moment count as over-pressure.
               safety={"overpressure_ms": 1000})
    write_profile(d, 30)
    d.start()
    d.wait_ready()
    yield d
    rc = d.stop()
    assert rc == 0, d.logs()
    assert d.sanitizer_report() == ""


def start(d, profile="reload_test"):
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": profile})
    assert r.status == 201, r.text
    return d.wait_state("running")


def test_stricter_applies_at_once_looser_does_not(daemon, sim):
    d = daemon
    st = start(d)
    assert zone(st)["limit_kpa"] == 30
    # The kneading goes above what the new limit will be.
    d.wait_for(lambda: zone(d.status())["setpoint_kpa"] > 11, timeout=10,
               what="a setpoint above 11 kPa")

    write_profile(d, 10)
    reload(d)
    t_done = monotonic_ns()
    st = d.status()
    assert zone(st)["limit_kpa"] == 10
    assert metric(d, 'massaged_zone_limit_pascals{zone="%s",'
                  'controller="pelvis"}' % ZONE) == 10000
    # At once: every setpoint on the wire after the reload is under the
    # new limit (the tick after the reload already sends it).
    time.sleep(0.3 * WRAPPER_SLOW)
    after = [e for e in sim.events(kind="fc16", c=0)
             if e.ns > t_done and "sp" in e.kv]
    assert len(after) >= 3, after
    for e in after:
        assert max(float(x) for x in e["sp"].split(",")) <= 10.0, e
    top = watch_setpoints(d, 2.0, 10)
    assert top > 5, top              # still massaging, only lower

    # Looser: the running session keeps 10.
    write_profile(d, 30)
    reload(d)
    assert zone(d.status())["limit_kpa"] == 10
    watch_setpoints(d, 1.5, 10)
    assert "keeps its limits where the new ones are looser" in d.logs()

    # The next session gets the new profile's limits.
    assert d.request("POST", "/api/v1/session/stop").status == 200
    d.wait_state("idle", timeout=20)
    st = start(d)
    assert zone(st)["limit_kpa"] == 30


def test_broken_config_is_refused_and_the_old_stays(daemon):
    d = daemon
    start(d)
    programs = sorted(p["id"] for p in
                      d.request("GET", "/api/v1/programs").json()["programs"])
    errors_before = metric(d, "massaged_reload_failures_total")

    # Three errors in two files: every one is logged.
    d.write_profile("reload_test", PROFILE.format(cap="lots",
                                                  conditions="none")
                    + "bogus_key = 1\n")
    d.write_program("broken", "[program]\nname = Broken\n\n[step one]\n"
                    "routine = no_such_routine\nduration_s = 10\n"
                    "zones = calf_*\n")
    t = time.monotonic()
    reload(d, "massaged_reload_failures_total")
    logs = d.logs()
    prof = os.path.join(d.profile_dir, "reload_test.ini")
    prog = os.path.join(d.program_dir, "broken.ini")
    assert re.search(r"%s:6: .*cap_kpa" % re.escape(prof), logs), logs
    assert re.search(r"%s:10: .*bogus_key" % re.escape(prof), logs), logs
    assert re.search(r"%s:5: .*no_such_routine" % re.escape(prog), logs), \
        logs
    assert "reload refused: 3 errors" in logs, logs
    assert metric(d, "massaged_reload_failures_total") == errors_before + 1

    # The old configuration runs on: same session, same limits, same
    # programs (the broken one is not there).
    st = d.status()
    assert st["state"] == "running"
    assert zone(st)["limit_kpa"] == 30
    now = sorted(p["id"] for p in
                 d.request("GET", "/api/v1/programs").json()["programs"])
    assert now == programs and "broken" not in now
    assert time.monotonic() - t < 5 * WRAPPER_SLOW

    # An error in the table itself is refused the same way.
    os.unlink(prog)
    write_profile(d, 30)
    with open(d.config_path) as f:
        table = f.read()
    with open(d.config_path, "a") as f:
        f.write("\n[safety]\npause_kpa = -3\n")
    reload(d, "massaged_reload_failures_total")
    assert re.search(r"%s:\d+: \[safety\] pause_kpa" %
                     re.escape(d.config_path), d.logs()), d.logs()
    assert d.status()["state"] == "running"
    assert metric(d, "massaged_reload_failures_total") == errors_before + 2

    # Fixed again: the next reload is applied.
    with open(d.config_path, "w") as f:
        f.write(table)
    reload(d)
    assert d.status()["state"] == "running"


def test_wiring_change_is_refused(daemon):
    d = daemon
    with open(d.config_path) as f:
        table = f.read()
    with open(d.config_path, "w") as f:
        f.write(re.sub(r"(\[controller legs\]\n(?:.*\n)*?address = "
                       r"127\.0\.0\.1:)\d+", r"\g<1>1", table, count=1))
    reload(d, "massaged_reload_failures_total")
    assert "reload refused: controller legs changed" in d.logs()
    assert all(c["connected"] for c in d.status()["controllers"])


def test_refusing_condition_ends_the_session(daemon):
    d = daemon
    st = start(d)
    sid = st["session_id"]
    write_profile(d, 30, conditions="dvt")
    reload(d)
    st = d.wait_state("idle", timeout=15)
    last = st["last_stop"]
    assert last["reason"] == "contraindicated", last
    assert last["category"] == 1, last
    assert "dvt" in last["message"] and "Deep vein thrombosis" in \
        last["message"], last
    # A category 1 stop: a controlled ramp down, not a latched fault.
    assert st["fault"] is None
    def last_record():
        with open(os.path.join(d.state_dir, "sessions.jsonl")) as f:
            return [json.loads(ln) for ln in f if ln.strip()][-1]
    # The end of a ramped-down stop is written as it happens, not before
    # an API answer: give the writer its moment.
    end = d.wait_for(lambda: (lambda x: x if x["phase"] == "end" else None)(
        last_record()), timeout=5, what="the end record")
    assert (end["id"], end["phase"], end["end_reason"],
            end["stop_category"]) == (sid, "end", "contraindicated", 1)
    # And the profile is refused from now on.
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "reload_test"})
    assert r.status == 422, r.text


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_file_that_never_ends_is_refused_at_once(daemon, sim, kind):
    """A profile that never ends (a FIFO nobody writes to, whose open()
    and read() would wait for a writer; a symlink to /dev/zero) is refused
    at once by the reload, which never waits on it: the session ticks on,
    the old configuration stays, the reload thread is free again, and a
    later SIGHUP, the file gone, reloads. SIGTERM then exits at once."""
    d = daemon
    bad = os.path.join(d.profile_dir, "stalled.ini")
    if kind == "fifo":
        os.mkfifo(bad)
        what = "a FIFO"
    else:
        os.symlink("/dev/zero", bad)
        what = "a character device"
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r.text
    d.wait_state("running")
    t0 = monotonic_ns()
    reload(d, "massaged_reload_failures_total")
    assert ("%s: refused: the file is not a regular file (it is %s)"
            % (bad, what)) in d.logs()
    assert "reload refused" in d.logs()
    time.sleep(0.5)
    # the session ticked on at 50 Hz throughout
    ticks = [e.ns for e in sim.events("fc16", c=0) if e.ns > t0]
    assert len(ticks) >= 20, len(ticks)
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 100e6
    assert d.status()["state"] == "running"
    # the next SIGHUP is not lost behind a stuck thread
    os.unlink(bad)
    write_profile(d, 25)
    reload(d)
    # the counter is counted before the log writer thread writes the line
    d.wait_for(lambda: "reloaded" in d.logs(), timeout=5, what="reloaded")
    assert "reload already running" not in d.logs()
    # and SIGTERM does not wait on anything: vent, exit 0
    t1 = time.monotonic()
    assert d.stop() == 0, d.logs()
    assert time.monotonic() - t1 < 10 * WRAPPER_SLOW


def test_a_sighup_during_a_reload_is_not_lost(tmp_path, sim):
    """A SIGHUP while a reload runs is said in the log and done after it:
    two SIGHUPs, two reloads. (3000 profiles make the reload take long
    enough for the second signal to find it running.)"""
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    with open(os.path.join(d.profile_dir, "standard.ini")) as f:
        text = f.read()
    for i in range(3000):
        d.write_profile("many_%04d" % i, text)
    d.start()
    try:
        d.wait_ready()
        before = metric(d, "massaged_reloads_total")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "reloading" in d.logs(), interval=0.002,
                   what="the first reload")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: metric(d, "massaged_reloads_total") == before + 2,
                   timeout=30 * WRAPPER_SLOW, what="both reloads")
        assert d.logs().count(
            "reload already running; will reload again after it") == 1
        assert d.logs().count("massaged: reloaded: ") == 2, d.logs()
    finally:
        assert d.stop() == 0, d.logs()
    assert d.sanitizer_report() == ""
