"""Core: the daemon against the real simulator over loopback and a pty.

Connect-time checks, the per-tick Modbus traffic, vents on SIGTERM, the
controllers' watchdog after SIGKILL, link loss and reconnect, a hung
controller next to a healthy one, RTU, and the -n/-V/--help front door.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from daemon import (REPO, Daemon, daemon_binary, sim_controllers)
from simctl import PtyPair, Sim, monotonic_ns


def fc16(sim, c, after_ns=0):
    return [e for e in sim.events("fc16", c=c) if e.ns > after_ns
            and "control" in e.kv]


def start_session(d, program="api_test", profile="standard"):
    r = d.request("POST", "/api/v1/session",
                  {"program": program, "profile": profile})
    assert r.status == 201, r.text
    return r


def test_connect_checks_and_watchdog_written(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, watchdog_ms=400) as d:
        st = d.wait_ready()
        assert [c["name"] for c in st["controllers"]] == ["pelvis", "legs"]
        for c in (0, 1):
            assert sim.get(c)["watchdog_ms"] == 400
        log = d.logs()
        assert "controller pelvis: connected, map version 1, 16 channels" \
            in log
        assert "controller legs: connected, map version 1, 10 channels" \
            in log


def test_wrong_map_version_refused(tmp_path):
    ctls = sim_controllers()
    ctls[1]["map_version"] = 3
    with Sim(tmp_path, controllers=ctls) as sim, Daemon(tmp_path, sim) as d:
        d.wait_for(lambda: "controller legs: refused: register map version "
                   "3, expected 1 or 2" in d.logs(), what="refusal logged")
        st = d.status()
        legs = st["controllers"][1]
        assert legs["name"] == "legs" and not legs["connected"]
        assert "register map version 3" in legs["error"]
        # pelvis is driven once its safe state is proven
        d.wait_for(lambda: d.status()["controllers"][0]["connected"],
                   what="pelvis proven")
        # nothing starts on a table with a refused controller
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 409
        assert "controller legs is not connected" in r.json()["message"]
        # the refused controller never got a tick's traffic
        assert fc16(sim, 1) == []


def test_too_few_channels_refused(tmp_path):
    ctls = sim_controllers()
    ctls[0]["channels"] = 8        # the table uses 16 on pelvis
    with Sim(tmp_path, controllers=ctls) as sim, Daemon(tmp_path, sim) as d:
        d.wait_for(lambda: "controller pelvis: refused: it has 8 channels, "
                   "the configured zones use 16" in d.logs(),
                   what="refusal logged")


def test_heartbeat_changes_every_tick(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        t0 = monotonic_ns()
        sim.wait_for(lambda: len(fc16(sim, 0, t0)) >= 50, timeout=10)
        for c in (0, 1):
            beats = [int(e["heartbeat"]) for e in fc16(sim, c, t0)]
            assert len(beats) >= 40
            # one FC16 per tick, each with a new heartbeat (+1 mod 2^16)
            for a, b in zip(beats, beats[1:]):
                assert b == (a + 1) % 65536, beats
            # and one FC04 of STATUS, FAULT_CODE and pressures per tick
            reads = [e for e in sim.events("fc4", c=c) if e.ns > t0 and
                     e.get("addr") == "0"]
            assert abs(len(reads) - len(beats)) <= 2
        # idle: controllers disabled, setpoints zero
        e = fc16(sim, 0, t0)[-1]
        assert e["control"] == "0"
        assert set(e["sp"].split(",")) == {"0.0"}


def test_setpoints_arrive_and_stay_under_limits(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        start_session(d)
        # gluteus_maximus_left is pelvis channel 14 in the demo table
        sim.wait_for(lambda: sim.get(0)["pressures"][14] > 3, timeout=15,
                     what="pressure on gluteus_maximus_left")
        st = d.status()
        assert st["state"] == "running"
        zones = {z["name"]: z for z in st["zones"]}
        assert zones["gluteus_maximus_left"]["setpoint_kpa"] > 0
        assert zones["lumbar_left"]["setpoint_kpa"] == 0
        limits = [z["limit_kpa"] for z in st["zones"]]
        for e in fc16(sim, 0) + fc16(sim, 1):
            sp = [float(x) for x in e["sp"].split(",")]
            # off, on, or the fault reset pulse of the proof of the safe
            # state at connect
            assert e["control"] in ("0", "1", "2")
            c = int(e.c)
            for z, (name, zc) in enumerate(d.zones):
                if zc["controller"] == ("pelvis", "legs")[c]:
                    assert sp[int(zc["channel"])] <= limits[z] + 1e-9


def test_sigterm_vents_then_exits_0(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        start_session(d)
        sim.wait_for(lambda: sim.get(0)["pressures"][14] > 3, timeout=15)
        t0 = monotonic_ns()
        d.signal(signal.SIGTERM)
        assert d.wait_exit(15) == 0
        for c in (0, 1):
            vents = [e for e in sim.events("fc6", c=c) if e.ns > t0 and
                     e["addr"] == "0" and e["value"] == "0"]
            assert vents, "no CONTROL = 0 on controller %d" % c
        sim.wait_for(lambda: max(sim.get(0)["pressures"]) < 0.5, timeout=5)
        assert sim.get(0)["control"] == 0
        assert "shutting down: venting every controller" in d.logs()
        assert d.sanitizer_report() == ""


def test_sigkill_controller_watchdog_vents(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, watchdog_ms=300) as d:
        d.wait_ready()
        start_session(d)
        sim.wait_for(lambda: sim.get(0)["pressures"][14] > 3, timeout=15)
        t0 = monotonic_ns()
        d.signal(signal.SIGKILL)
        d.wait_exit(5)
        # the heartbeat stopped: each controller trips within WATCHDOG_MS
        for c in (0, 1):
            e = sim.wait_event("watchdog", c=c, after_ns=t0, timeout=3)
            assert (e.ns - t0) / 1e6 < 300 + 60
        sim.wait_for(lambda: max(sim.get(0)["pressures"]) < 0.5, timeout=3)
        assert sim.get(0)["fault_code"] == 1
        # a restarted daemon comes up vented, in fault, never resuming
        d.start()
        st = d.wait_for(lambda: (lambda s: s if s["state"] == "fault"
                                 else None)(d.status()), timeout=10)
        assert "watchdog" in st["fault"]
        t1 = monotonic_ns()
        time.sleep(0.5)
        assert all(e["control"] == "0" for e in fc16(sim, 0, t1))
        assert max(sim.get(0)["pressures"]) < 0.5


def test_link_drop_and_reconnect(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        start_session(d)
        sim.wait_for(lambda: sim.get(0)["pressures"][14] > 3, timeout=15)
        t0 = monotonic_ns()
        sim.ok("drop 1")
        # the session stops at once with the link named, the other vents
        st = d.wait_state("fault", timeout=5)
        assert st["last_stop"]["reason"] == "link_lost"
        assert st["last_stop"]["category"] == 0
        assert "controller legs" in st["last_stop"]["message"]
        sim.wait_event("fc6", c=0, after_ns=t0, timeout=2,
                       where=lambda e: e["value"] == "0")
        # reconnects by itself, with the connect-time checks again
        d.wait_for(lambda: all(c["connected"] for c in
                               d.status()["controllers"]), timeout=10)
        assert d.logs().count("controller legs: connected") >= 2
        assert [e for e in sim.events("fc4", c=1) if e.ns > t0
                and e.get("addr") == "100"]


def test_reconnect_backoff(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        sim.ok("refuse 1 on")
        sim.ok("drop 1")
        t0 = monotonic_ns()
        time.sleep(2.5)
        tries = [e.ns for e in sim.events(c=1) if e.ns > t0 and
                 e.kind in ("refused", "connect")]
        # 100 ms doubling: about 5 tries in 2.5 s, not hundreds
        assert 3 <= len(tries) <= 8, tries
        gaps = [(b - a) / 1e6 for a, b in zip(tries, tries[1:])]
        assert all(g2 >= g1 * 1.5 for g1, g2 in zip(gaps, gaps[1:])), gaps
        sim.ok("refuse 1 off")
        d.wait_for(lambda: d.status()["controllers"][1]["connected"],
                   timeout=10)


def test_hung_controller_does_not_delay_the_other(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        t0 = monotonic_ns()
        time.sleep(1.0)
        before = [e.ns for e in fc16(sim, 0, t0)]
        sim.ok("hang 1 -1")
        t1 = monotonic_ns()
        time.sleep(1.0)
        during = [e.ns for e in fc16(sim, 0, t1)]
        # pelvis keeps its cadence (idle: 10 Hz) while legs never answers
        assert len(during) >= len(before) - 2, (len(before), len(during))
        gap = max((b - a) / 1e6 for a, b in zip(during, during[1:]))
        usual = max((b - a) / 1e6 for a, b in zip(before, before[1:]))
        assert gap < usual + 50, (gap, usual)
        # and a vent reaches pelvis at once while legs hangs
        t2 = monotonic_ns()
        r = d.request("POST", "/api/v1/estop")
        assert r.status == 200
        e = sim.wait_event("fc6", c=0, after_ns=t2, timeout=2,
                           where=lambda e: e["value"] == "0")
        assert (e.ns - t2) / 1e6 < 40
        sim.ok("hang 1 0")


def test_hung_controller_during_a_session(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        start_session(d)
        sim.wait_for(lambda: sim.get(0)["pressures"][14] > 3, timeout=15)
        t0 = monotonic_ns()
        sim.ok("hang 1 -1")
        # legs stops answering: after max_failures (3) response timeouts
        # (50 ms) it is down and the session stops; pelvis, healthy, is
        # vented meanwhile and kept its 50 Hz ticks until then
        st = d.wait_state("fault", timeout=5)
        assert st["last_stop"]["reason"] == "link_lost"
        vent = sim.wait_event("fc6", c=0, after_ns=t0, timeout=2,
                              where=lambda e: e["value"] == "0")
        ticks = [e.ns for e in fc16(sim, 0, t0) if e.ns < vent.ns]
        assert ticks and (ticks[0] - t0) / 1e6 < 40
        gaps = [(b - a) / 1e6 for a, b in zip(ticks, ticks[1:])]
        assert not gaps or max(gaps) < 40, gaps
        assert (vent.ns - t0) / 1e6 < 3 * 50 + 3 * 20 + 100
        sim.wait_for(lambda: max(sim.get(0)["pressures"]) < 0.5, timeout=3)
        sim.ok("hang 1 0")


def test_rtu_over_pty(tmp_path):
    with PtyPair(tmp_path) as pty:
        ctls = [dict(channels=4, max_kpa=40, rtu=pty.a, baud=115200)]
        with Sim(tmp_path, controllers=ctls) as sim:
            zones = [("piriformis_left", dict(
                controller="seat", channel="0", along_cm="95",
                across_cm="-9", limit_kpa="30")),
                ("piriformis_right", dict(
                    controller="seat", channel="1", along_cm="95",
                    across_cm="9", limit_kpa="30"))]
            program = """[program]
name = RTU test
[step glide]
routine = swedish
duration_s = 60
zones = piriformis_*
stroke = kneading
pressure_kpa = 10
"""
            profile = """[client]
name = RTU test client
conditions = none
[limits]
cap_kpa = 25
ramp_kpa_s = 8
max_session_min = 10
intensity = 100
"""
            ctl = [("seat", dict(transport="rtu", device=pty.b,
                                 baud="115200", parity="N", unit_id="1"))]
            with Daemon(tmp_path, None, controllers=ctl, zones=zones,
                        response_timeout_ms=100, watchdog_ms=500,
                        copy_programs=False, copy_profiles=False,
                        programs={"rtu": program},
                        profiles={"rtu": profile}) as d:
                d.wait_ready(timeout=15)
                t0 = monotonic_ns()
                sim.wait_for(lambda: len(fc16(sim, 0, t0)) >= 20,
                             timeout=10)
                beats = [int(e["heartbeat"]) for e in fc16(sim, 0, t0)]
                assert all(b == (a + 1) % 65536
                           for a, b in zip(beats, beats[1:]))
                start_session(d, "rtu", "rtu")
                sim.wait_for(lambda: sim.get(0)["pressures"][0] > 2,
                             timeout=20, what="pressure over RTU")
                t1 = monotonic_ns()
                d.signal(signal.SIGTERM)
                assert d.wait_exit(15) == 0
                assert [e for e in sim.events("fc6", c=0) if e.ns > t1
                        and e["value"] == "0"]
            sim.stop()


def run(*argv):
    return subprocess.run([daemon_binary()] + list(argv),
                          capture_output=True, text=True, timeout=30,
                          cwd=REPO)


def plugin_dir():
    return os.path.abspath(os.path.join(
        os.environ.get("MASSAGED_BUILD", "build"), "plugins"))


def test_check_shipped_config_ok(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("0123456789abcdef0123\n")
    os.chmod(tokens, 0o600)
    # A state directory of the test's: the shipped file leaves state_dir
    # at the installed /var/lib/massaged, whose saved profiles -n reads.
    state = tmp_path / "state"
    state.mkdir()
    r = run("-n", "-f", "config/massaged.ini", "-o",
            "plugin_dir=" + plugin_dir(), "-o", "token_file=%s" % tokens,
            "-o", "state_dir=%s" % state)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "configuration OK\n"
    # The token file is part of the check: without it the daemon would
    # exit at once (a restart loop under systemd), so the check fails.
    tokens.unlink()
    r = run("-n", "-f", "config/massaged.ini", "-o",
            "plugin_dir=" + plugin_dir(), "-o", "token_file=%s" % tokens,
            "-o", "state_dir=%s" % state)
    assert r.returncode == 1
    assert r.stdout == ""
    assert re.search(r"^<3>massaged: token file %s: cannot open: No such file" %
                     re.escape(str(tokens)), r.stderr, re.M), r.stderr
    assert r.stderr.splitlines()[-1] == \
        "<3>massaged: config/massaged.ini: 1 error", r.stderr


def test_check_everything_in_one_run(tmp_path):
    """One run of massaged -n reports the errors of the table, of every
    profile, program and rule, and of the token file, each a line with
    the journald priority of an error, then the count."""
    conf = tmp_path / "conf"
    shutil.copytree(os.path.join(REPO, "config"), conf)
    table = conf / "massaged.ini"
    text = table.read_text().replace("tick_hz = 50", "tick_hz = fast")
    table.write_text(text)
    gentle = conf / "profiles" / "gentle.ini"
    gentle.write_text(gentle.read_text().replace("cap_kpa = 20",
                                                 "cap_kpa = lots"))
    with open(conf / "profiles" / "standard.ini", "a") as f:
        f.write("\n[bogus]\nx = 1\n")
    with open(conf / "programs" / "relaxation.ini", "a") as f:
        f.write("\n[step extra]\nroutine = no_such_routine\n"
                "duration = 1min\nzones = lumbar_*\n")
    with open(conf / "contraindications.ini", "a") as f:
        f.write("\n[bad_rule]\nreason = ours\nrefuse = perhaps\n")
    r = run("-n", "-f", str(table), "-o", "plugin_dir=" + plugin_dir(),
            "-o", "state_dir=%s" % (tmp_path / "state"))
    assert r.returncode == 1
    assert "configuration OK" not in r.stdout
    # Info lines (each routine loaded, with its version) may come too;
    # every other line is an error with an error's priority.
    lines = [ln for ln in r.stderr.splitlines()
             if not ln.startswith("<6>massaged: routine ")]
    assert lines and all(ln.startswith("<3>massaged: ") for ln in lines), \
        r.stderr
    wants = [(str(table), "tick_hz"),
             (str(gentle), "cap_kpa"),
             (str(conf / "profiles" / "standard.ini"), "bogus"),
             (str(conf / "programs" / "relaxation.ini"), "no_such_routine"),
             (str(conf / "contraindications.ini"), "refuse"),
             (str(conf / "tokens"), "No such file")]
    for path, what in wants:
        assert [ln for ln in lines if path in ln and what in ln], \
            (path, what, r.stderr)
    n = int(re.match(r"<3>massaged: %s: (\d+) errors$" % re.escape(
        str(table)), lines[-1]).group(1))
    assert n == len(lines) - 1


def test_check_reports_every_error(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[daemon]\ntick_hz = fast\n[zone x]\nchannel = 99\n"
                   "colour = red\n")
    r = run("-n", "-f", str(bad))
    assert r.returncode == 1
    for want in ("bad.ini:2: [daemon] tick_hz: not valid",
                 "bad.ini:4: [zone x] channel: not valid",
                 "bad.ini:5: [zone x] colour: unknown key",
                 "bad.ini:3: [zone x] controller: missing",
                 "bad.ini:1: no [controller NAME] section"):
        assert want in r.stderr, r.stderr
    assert "configuration OK" not in r.stdout


def test_version_and_help():
    r = run("-V")
    assert r.returncode == 0 and r.stdout.startswith("massaged ")
    r = run("--help")
    assert r.returncode == 0
    for opt in ("-f, --config", "-n, --check", "-o KEY=VALUE", "-v",
                "SIGHUP"):
        assert opt in r.stdout
    r = run("--bogus")
    assert r.returncode == 2 and "usage:" in r.stderr


def test_one_late_reply_does_not_take_the_link_down(tmp_path):
    """A reply later than the response timeout (but by less than one more
    timeout) must not be taken for the answer to the next request, which
    would fail that one too, and so on until the link is declared down:
    while idle it costs at most two failures (max_failures is 3). (During
    a session one missed timeout is a stop: test_faults.py.)"""
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim) as d:
        d.wait_ready()
        for delay in (70, 80, 90, 80):
            # one reply late (response timeout 50 ms), then on time
            t0 = monotonic_ns()
            sim.ok("delay 1 %d" % delay)
            sim.wait_for(lambda: [e for e in sim.events(c=1) if e.ns > t0
                                  and e.kind in ("fc16", "fc4", "fc3")],
                         interval=0.001, what="one request delayed")
            sim.ok("delay 1 0")
            time.sleep(0.5)
            st = d.status()
            assert st["state"] == "idle", st["last_stop"]
            assert st["controllers"][1]["connected"]
        assert "link down" not in d.logs()
        assert "failed" in d.logs()     # the late replies were failures


def split_layout(d, layout_path):
    """Rewrites d's table file as a table of a model: its controllers
    (without their addresses) and zones go to layout_path, the table file
    keeps [daemon], layout = and the addresses."""
    out = ["[daemon]", "layout = %s" % os.path.relpath(
        layout_path, os.path.dirname(d.config_path))]
    out += ["%s = %s" % kv for kv in d.daemon_keys.items()]
    lay = ["; the model's layout"]
    for n, c in d.controllers:
        lay += ["", "[controller %s]" % n]
        lay += ["%s = %s" % kv for kv in c.items() if kv[0] != "address"]
        out += ["", "[controller %s]" % n, "address = %s" % c["address"]]
    for n, z in d.zones:
        lay += ["", "[zone %s]" % n]
        lay += ["%s = %s" % kv for kv in z.items()]
    with open(layout_path, "w") as f:
        f.write("\n".join(lay) + "\n")
    with open(d.config_path, "w") as f:
        f.write("\n".join(out) + "\n")


def test_tables_of_one_layout(tmp_path):
    """Two tables of one model share a layout file and differ only in
    their listen address and controller endpoints; each runs against its
    own simulator, and a reload re-reads the shared layout."""
    layout = tmp_path / "model.ini"
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    with Sim(tmp_path / "a", controllers=sim_controllers()) as sim_a, \
            Sim(tmp_path / "b", controllers=sim_controllers()) as sim_b:
        tables = []
        for name, sim in (("t1", sim_a), ("t2", sim_b)):
            d = Daemon(tmp_path, sim, name=name, start=False,
                       response_timeout_ms=200, watchdog_ms=1000)
            split_layout(d, str(layout))
            tables.append(d)
        try:
            for d in tables:
                r = subprocess.run(d.argv() + ["-n"], capture_output=True,
                                   text=True, timeout=60)
                assert r.returncode == 0, r.stderr
                with open(d.config_path) as f:
                    assert "[zone" not in f.read()
                d.start()
                st = d.wait_ready()
                assert len(st["zones"]) == len(d.zones)
                d.wait_for(lambda: all(c["connected"] for c in
                                       d.status()["controllers"]),
                           timeout=20, what="controllers connected")
            # Each table drives its own simulator.
            for d, sim in ((tables[0], sim_a), (tables[1], sim_b)):
                start_session(d)
                sim.wait_for(lambda: max(max(c["pressures"]) for c in
                                         sim.get("all")) > 1,
                             timeout=20, what="pressure")
                r = d.request("POST", "/api/v1/session/stop")
                assert r.status in (200, 202), r.text
            # One edit of the layout, one reload per table.
            zone = tables[0].zones[0][0]
            old = float(dict(tables[0].zones[0][1])["limit_kpa"])
            text = layout.read_text()
            head, sep, rest = text.partition("[zone %s]\n" % zone)
            rest = rest.replace("limit_kpa = %s" % dict(
                tables[0].zones[0][1])["limit_kpa"], "limit_kpa = %g" %
                (old - 1), 1)
            layout.write_text(head + sep + rest)
            for d in tables:
                d.wait_for(lambda: d.status()["state"] == "idle",
                           timeout=30, what="idle")
                d.signal(signal.SIGHUP)
                d.wait_for(lambda: d.status()["zones"][0]["limit_kpa"] ==
                           old - 1, timeout=20, what="the new limit")
        finally:
            for d in tables:
                if d.proc is not None:
                    assert d.stop() == 0, d.logs()
