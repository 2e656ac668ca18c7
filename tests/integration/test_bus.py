"""The bus as tables are wired: shared RS-485 lines, gateways, one master per
controller (register map v2), local guards, table identity, hang detection
and controllers verified continuously (power cycles behind a live link).

Every test runs the real daemon against the real simulator.
"""

import json
import os
import re
import signal
import subprocess

import pytest

from daemon import REPO, Daemon, daemon_binary, sim_controllers
from simctl import PtyPair, Sim, monotonic_ns

PROGRAM = """[program]
name = Bus test
[step press]
routine = swedish
duration_s = 120
zones = seat_*
stroke = kneading
pressure_kpa = 10
"""

PROFILE = """[client]
name = Bus test client
conditions = none
[limits]
cap_kpa = 25
ramp_kpa_s = 20
max_session_min = 10
intensity = 100
"""


def seat_zones(names):
    """Two zones (channels 0 and 1) on each controller named."""
    zones = []
    for i, n in enumerate(names):
        for ch, side in ((0, "left"), (1, "right")):
            zones.append(("seat_%s_%s" % (n, side), dict(
                controller=n, channel=str(ch), along_cm=str(60 + 20 * i),
                across_cm="-9" if side == "left" else "9",
                limit_kpa="30")))
    return zones


def bus_daemon(tmp_path, controllers, name="massaged", **kw):
    names = [n for n, _ in controllers]
    return Daemon(tmp_path, None, controllers=controllers,
                  zones=seat_zones(names), copy_programs=False,
                  copy_profiles=False, programs={"bus": PROGRAM},
                  profiles={"bus": PROFILE}, name=name, **kw)


def start(d):
    r = d.request("POST", "/api/v1/session",
                  {"program": "bus", "profile": "bus"})
    assert r.status == 201, r.text


def fc16(sim, c, after_ns=0):
    return [e for e in sim.events("fc16", c=c) if e.ns > after_ns
            and "control" in e.kv]


def tcp_ctls(sim, n, unit_ids=None, **extra):
    out = []
    for i in range(n):
        c = dict(address="127.0.0.1:%d" % sim.ports[i],
                 unit_id=str(unit_ids[i] if unit_ids else 1))
        c.update(extra)
        out.append(("c%d" % i, c))
    return out


# -- one master per controller ----------------------------------------------

def test_second_daemon_refused_by_owner_claim(tmp_path):
    """Two daemons (as on two machines: separate run directories), one set
    of v2 controllers: the second is refused and names the owner; the first's
    session is untouched on the wire, also when the second stops."""
    sims = [dict(channels=4, map_version=2), dict(channels=4, map_version=2)]
    with Sim(tmp_path, controllers=sims) as sim:
        ctls = tcp_ctls(sim, 2)
        with bus_daemon(tmp_path, ctls, name="a",
                        daemon={"owner_id": 1001,
                                "name": "Table A"}) as a:
            a.wait_ready()
            assert a.status()["controllers"][0]["owner"] == 1001
            start(a)
            sim.wait_for(lambda: sim.get(0)["pressures"][0] > 2, timeout=15)
            t0 = monotonic_ns()
            with bus_daemon(tmp_path, ctls, name="b",
                            daemon={"owner_id": 1002,
                                    "name": "Table B"}) as b:
                b.wait_for(lambda: "controller claimed by another master: "
                           "owner 1001 (ours 1002)" in b.logs(),
                           what="refusal logged")
                st = b.status()
                assert st["table"] == "Table B"
                assert not any(c["connected"] for c in st["controllers"])
                assert "claimed by another master" in \
                    st["controllers"][0]["error"]
                r = b.request("POST", "/api/v1/session",
                              {"program": "bus", "profile": "bus"})
                assert r.status == 409, r.text
                refused = [e for e in sim.events("claim_refused")
                           if e.ns > t0]
                assert refused and all(e["by"] == "1002" for e in refused)
            # b has stopped (and would have vented what it owned: nothing)
            assert a.status()["state"] == "running"
            for c in (0, 1):
                assert sim.get(c)["active"]
                assert sim.get(c)["owner"] == 1001
            # nothing but a's frames reached the controllers
            for c in (0, 1):
                for e in fc16(sim, c, t0):
                    assert e["owner"] == "1001", e
                assert not [e for e in sim.events("fc6", c=c)
                            if e.ns > t0 and e["addr"] == "0"]
            assert not [e for e in sim.events("claim") if e.ns > t0]


def test_claim_taken_by_another_master_stops_session(tmp_path):
    """The daemon reads OWNER every tick: a claim that is not its own is a
    category 0 stop with the reason."""
    sims = [dict(channels=4, map_version=2)]
    with Sim(tmp_path, controllers=sims) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1),
                        daemon={"owner_id": 7}) as d:
            d.wait_ready()
            start(d)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)
            # another master cannot claim a live claim...
            m = sim.client(0)
            with pytest.raises(Exception):
                m.write_register(6, 9)   # OWNER of a 4-channel controller
            # ...and cannot write CONTROL without the owner's id
            with pytest.raises(Exception):
                m.write_registers(0, [1, 5, 0, 0, 0, 0, 9])
            # a power cycle drops the claim: the daemon sees OWNER 0
            sim.ok("powercycle 0")
            st = d.wait_state("fault", timeout=5) if False else None
            d.wait_for(lambda: (d.status()["last_stop"] or {}).get(
                "message", "").find("lost our claim") >= 0, timeout=2,
                what="stop for the lost claim")
            st = d.status()
            assert st["last_stop"]["category"] == 0
            assert st["state"] != "running"
            # ...then the connect sequence again: claimed and up
            d.wait_for(lambda: d.status()["controllers"][0]["connected"],
                       timeout=5)
            assert sim.get(0)["owner"] == 7
            m.close()


def test_endpoint_lock_on_one_machine(tmp_path):
    """Two daemons on one machine (one run directory), one controller: the
    second is refused by the endpoint lock, naming the first's pid."""
    run = os.path.join(str(tmp_path), "run")
    os.makedirs(run)
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        ctls = tcp_ctls(sim, 1)
        with bus_daemon(tmp_path, ctls, name="a",
                        daemon={"run_dir": run}) as a:
            a.wait_ready()
            with bus_daemon(tmp_path, ctls, name="b",
                            daemon={"run_dir": run}) as b:
                b.wait_for(lambda: "endpoint locked by another massaged on "
                           "this machine (pid %d" % a.pid in b.logs(),
                           what="lock refusal")
                assert not b.status()["controllers"][0]["connected"]
                assert a.status()["controllers"][0]["connected"]
            # b gone: a still drives its controller
            assert a.status()["controllers"][0]["connected"]


# -- shared wires -------------------------------------------------------------

def test_four_controllers_on_one_pty(tmp_path):
    """Four controllers on one RTU line: sessions run on all four, a stop
    vents all four by broadcast, a dead unit is found within one timeout and
    the others are vented at once."""
    with PtyPair(tmp_path) as pty:
        sims = [dict(channels=4, rtu=pty.a, baud=115200, unit_id=u,
                     map_version=2) for u in (1, 2, 3, 4)]
        with Sim(tmp_path, controllers=sims) as sim:
            ctls = [("u%d" % u, dict(transport="rtu", device=pty.b,
                                      baud="115200", unit_id=str(u)))
                    for u in (1, 2, 3, 4)]
            with bus_daemon(tmp_path, ctls, tick_hz=20,
                            response_timeout_ms=100, watchdog_ms=1000) as d:
                d.wait_ready(timeout=20)
                assert "4 controllers on 1 links" in d.logs()
                start(d)
                for c in range(4):
                    sim.wait_for(lambda c=c: sim.get(c)["pressures"][0] > 2,
                                 timeout=20, what="pressure on unit %d" % c)
                t1 = monotonic_ns()
                r = d.request("POST", "/api/v1/estop")
                assert r.status in (200, 202), r.text
                for c in range(4):
                    sim.wait_event("fc6", c=c, after_ns=t1, timeout=3,
                                   where=lambda e: e["unit"] == "0")
                    sim.wait_for(lambda c=c: not sim.get(c)["active"],
                                 timeout=3)
                # the broadcast went first, before any unit's own vent
                first = min(e.ns for c in range(4)
                            for e in sim.events("fc6", c=c) if e.ns > t1)
                bc = [e for e in sim.events("fc6", c=0)
                      if e.ns > t1 and e["unit"] == "0"][0]
                assert bc.ns == first

                # a dead unit during a session
                r = d.request("POST", "/api/v1/reset")
                assert r.status in (200, 202, 409), r.text
                d.wait_for(lambda: d.status()["state"] == "idle", timeout=10)
                d.wait_ready(timeout=10)
                start(d)
                for c in range(4):
                    sim.wait_for(lambda c=c: sim.get(c)["active"],
                                 timeout=10)
                t2 = monotonic_ns()
                sim.ok("hang 2 -1")
                bc = sim.wait_event("fc6", c=0, after_ns=t2, timeout=3,
                                    where=lambda e: e["unit"] == "0")
                st = d.wait_for(lambda: (lambda s: s if s["last_stop"] and
                                         s["state"] != "running" else None)(
                    d.status()), timeout=3)
                assert st["last_stop"]["category"] == 0
                assert "u3" in st["last_stop"]["message"]
                # one request lost to the dead unit, not three
                lost = [e for e in sim.events("discard", c=2)
                        if t2 < e.ns < bc.ns]
                assert len(lost) == 1, lost
                for c in (0, 1, 3):
                    sim.wait_for(lambda c=c: not sim.get(c)["active"],
                                 timeout=2)
                sim.ok("hang 2 0")


def test_gateway_three_units_on_one_port(tmp_path):
    """A Modbus TCP gateway: three unit ids behind one host:port share one
    link, each gets its own traffic."""
    sims = [dict(channels=4, unit_id=1, map_version=2),
            dict(channels=4, unit_id=2, map_version=2, tcp="=0"),
            dict(channels=4, unit_id=3, map_version=2, tcp="=0")]
    with Sim(tmp_path, controllers=sims) as sim:
        assert sim.ports[0] == sim.ports[1] == sim.ports[2]
        addr = "127.0.0.1:%d" % sim.ports[0]
        ctls = [("g%d" % u, dict(address=addr, unit_id=str(u)))
                for u in (1, 2, 3)]
        with bus_daemon(tmp_path, ctls) as d:
            d.wait_ready()
            assert "3 controllers on 1 links" in d.logs()
            assert sim.get(0)["clients"] == 1
            start(d)
            for c in range(3):
                sim.wait_for(lambda c=c: sim.get(c)["pressures"][1] > 2,
                             timeout=15)
                units = {e["unit"] for e in fc16(sim, c)}
                assert units == {str(c + 1)}


def test_version_1_controller(tmp_path):
    """A map version 1 controller is driven, with a warning at connect."""
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=1)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1)) as d:
            st = d.wait_ready()
            assert st["controllers"][0]["map_version"] == 1
            assert st["controllers"][0]["owner"] is None
            assert "register map version 1 has no owner claim" in d.logs()
            start(d)
            sim.wait_for(lambda: sim.get(0)["pressures"][0] > 2, timeout=15)
            assert all("owner" not in e.kv for e in fc16(sim, 0))


# -- verification ------------------------------------------------------------

@pytest.mark.parametrize("version", [1, 2])
def test_power_cycle_detected_within_one_second(tmp_path, version):
    """A controller that resets behind a live link (CONTROL 0, WATCHDOG_MS
    back to its default, v2: no claim) is a category 0 stop with the reason
    within one second, then a fresh connect sequence."""
    sims = [dict(channels=4, map_version=version, watchdog_ms=1000)]
    with Sim(tmp_path, controllers=sims) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1), watchdog_ms=500) as d:
            d.wait_ready()
            start(d)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)
            t0 = monotonic_ns()
            sim.ok("powercycle 0")
            st = d.wait_for(lambda: (lambda s: s if s["last_stop"] else None)(
                d.status()), timeout=1.0, what="the stop")
            msg = st["last_stop"]["message"]
            assert st["last_stop"]["category"] == 0
            # v2: whichever read comes first after the power cycle sees
            # it: the tick's OWNER (0: the claim is gone) or the read-back
            # of WATCHDOG_MS; both name the power cycle.
            if version == 1:
                assert "WATCHDOG_MS reads 1000, 500 written" in msg, msg
            else:
                assert ("lost our claim" in msg or
                        "WATCHDOG_MS reads 1000, 500 written" in msg), msg
            assert "reset or power cycle" in msg, msg
            # the connect sequence again: WATCHDOG_MS written back
            sim.wait_for(lambda: sim.get(0)["watchdog_ms"] == 500,
                         timeout=3)
            assert [e for e in sim.events("fc6", c=0) if e.ns > t0
                    and e["addr"] == "100" and e["value"] == "500"]
            m = [ln for ln in d.logs().splitlines()
                 if "controller c0:" in ln and ("reset or power cycle" in ln
                                                or "lost our claim" in ln)]
            assert m


def test_identity_change_detected(tmp_path):
    """The identity is read again while connected: a controller that now
    reports another MAX_PRESSURE (a swapped board) stops the session with
    the reason."""
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=2)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1)) as d:
            d.wait_ready()
            start(d)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)
            sim.ok("identity 0 2 25")
            st = d.wait_for(lambda: (lambda s: s if s["last_stop"] else None)(
                d.status()), timeout=2, what="the stop")
            assert st["last_stop"]["category"] == 0
            assert "controller changed: map version 2, 4 channels, rated " \
                "25.0 kPa (at connect 2, 4, 40.0 kPa)" in \
                st["last_stop"]["message"], st["last_stop"]


def test_watchdog_written_behind_the_daemon_detected(tmp_path):
    """WATCHDOG_MS is read back while connected: a value written behind the
    daemon's back (v1: no claim) is a lost configuration."""
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=1)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1)) as d:
            d.wait_ready()
            m = sim.client(0)
            m.write_register(100, 2000)
            d.wait_for(lambda: "WATCHDOG_MS reads 2000, 500 written" in
                       d.logs(), timeout=3, what="read-back mismatch")
            m.close()


# -- table identity, timeouts ---------------------------------------------------

def test_table_name_everywhere(tmp_path):
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1),
                        daemon={"name": "Table 2 (room 4)"}) as d:
            st = d.wait_ready()
            assert st["table"] == "Table 2 (room 4)"
            r = d.request("GET", "/metrics")
            assert 'massaged_table_info{massaged_table="Table 2 (room 4)"}' \
                ' 1' in r.text
            start(d)
            d.request("POST", "/api/v1/session/stop")
            d.wait_for(lambda: d.status()["state"] == "idle", timeout=15)
            path = os.path.join(d.state_dir, "sessions.jsonl")
            d.wait_for(lambda: os.path.exists(path) and
                       open(path).read().count("\n") >= 2, timeout=5)
            recs = [json.loads(ln) for ln in open(path)]
            assert all(r["table"] == "Table 2 (room 4)" for r in recs)


def test_long_response_timeout_connects(tmp_path):
    """response_timeout_ms = 2000: the byte timeout (1 s) is set, not
    refused by libmodbus (a microsecond part of a second or more)."""
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1), response_timeout_ms=2000,
                        watchdog_ms=6000) as d:
            d.wait_ready()
            assert "response timeout 2000 ms" in d.logs()
            assert "cannot set the timeouts" not in d.logs()


def test_shared_wire_config_errors(tmp_path):
    """Two controllers on one wire with one unit id, or a line with
    differing settings, are configuration errors with file:line."""
    d = bus_daemon(tmp_path, [
        ("a", dict(address="127.0.0.1:1502", unit_id="1")),
        ("b", dict(address="127.0.0.1:1502", unit_id="1")),
        ("c", dict(transport="rtu", device="/dev/ttyS9", baud="9600",
                   unit_id="1")),
        ("e", dict(transport="rtu", device="/dev/ttyS9", baud="19200",
                   unit_id="2"))], start=False)
    r = subprocess.run([daemon_binary(), "-n", "-f", d.config_path],
                       capture_output=True, text=True, timeout=30, cwd=REPO)
    assert r.returncode != 0
    assert "unit 1 on 127.0.0.1:1502 is already controller a" in r.stderr
    assert "/dev/ttyS9 is shared with controller c but the line settings " \
        "differ" in r.stderr


# -- massaged -n -------------------------------------------------------------

def check(*argv):
    return subprocess.run([daemon_binary(), "-n"] + list(argv),
                          capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def test_check_directory_of_tables(tmp_path):
    """-n on a directory of table files (the template unit's layout):
    each table is checked, then two tables naming one controller endpoint
    or one listen address are reported, naming both files."""
    tables = os.path.join(str(tmp_path), "tables")
    os.makedirs(tables)
    made = []
    for name, port, listen in (("one", 1502, "127.0.0.1:8081"),
                               ("two", 1503, "127.0.0.1:8082")):
        d = bus_daemon(tmp_path, [("c0", dict(address="127.0.0.1:%d" % port,
                                              unit_id="1"))],
                       name=name, listen=listen, start=False)
        made.append(d)
    for d in made:
        os.rename(d.config_path, os.path.join(tables, d.tmpdir.rsplit(
            "/", 1)[1] + ".ini"))
    # a file that is not a table is not taken for one
    with open(os.path.join(tables, "contraindications.ini"), "w") as f:
        f.write("[condition x]\nname = x\n")
    r = check("-f", tables)
    assert r.returncode == 0, r.stderr
    assert "configuration OK: 2 tables" in r.stdout

    # the administrator's copy: cp one.ini three.ini, only listen changed
    text = open(os.path.join(tables, "one.ini")).read()
    with open(os.path.join(tables, "three.ini"), "w") as f:
        f.write(text.replace("127.0.0.1:8081", "127.0.0.1:8083"))
    # and a fourth on two's listen address
    text = open(os.path.join(tables, "two.ini")).read()
    with open(os.path.join(tables, "zfour.ini"), "w") as f:
        f.write(text.replace("127.0.0.1:1503", "127.0.0.1:1504"))
    r = check("-f", tables)
    assert r.returncode == 1
    assert "three.ini:" in r.stderr and "127.0.0.1:1502 unit 1 is also " \
        "controller c0 of %s/one.ini" % tables in r.stderr, r.stderr
    assert "zfour.ini: listen 127.0.0.1:8082 is also the listen address " \
        "of %s/two.ini" % tables in r.stderr, r.stderr


def test_check_rtu_line_time(tmp_path):
    """-n computes each RTU line's time per tick and refuses a tick rate
    the line cannot carry, naming the line and the figures."""
    ctls = [("u%d" % u, dict(transport="rtu", device="/dev/ttyS7",
                             baud="115200", unit_id=str(u)))
            for u in (1, 2, 3, 4)]
    d = bus_daemon(tmp_path, ctls, start=False)
    r = check("-f", d.config_path)
    assert r.returncode == 1
    # 4 x ((19+8+8+15 bytes) x 10 bits / 115200 baud + 4 x 1.75 ms)
    assert "/dev/ttyS7 cannot carry tick_hz = 50: 4 controllers need " \
        "45.4 ms of line time per tick at 115200 baud, a tick is 20.0 ms; " \
        "lower tick_hz to 22 or raise the baud rate" in r.stderr, r.stderr
    d.daemon_keys["tick_hz"] = "20"
    d.write_config()
    r = check("-f", d.config_path)
    assert r.returncode == 0, r.stderr
    assert "line /dev/ttyS7: 4 controllers, 45.4 ms of line time per tick " \
        "at 115200 baud, a tick is 50.0 ms (the line carries at most " \
        "22 Hz)" in r.stdout, r.stdout


@pytest.mark.parametrize("mode,text", [
    ("unit", "Response not from requested slave"),
    ("proto", "Protocol error")])
def test_reply_with_wrong_unit_or_protocol_is_an_error(tmp_path, mode, text):
    """libmodbus takes a Modbus TCP reply with any unit id or protocol id;
    the daemon counts it as an error on the link: the controller goes down
    (idle: after max_failures), and comes back once replies are right."""
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1)) as d:
            d.wait_ready()
            sim.ok("badreply 0 %s" % mode)
            d.wait_for(lambda: not d.status()["controllers"][0]["connected"],
                       timeout=5, what="controller down")
            assert re.search(r"controller c0: (read|write) of .* failed: "
                             + text, d.logs())
            assert text in d.status()["controllers"][0]["error"]
            sim.ok("badreply 0 off")
            d.wait_for(lambda: d.status()["controllers"][0]["connected"],
                       timeout=10, what="reconnected")


def test_serial_line_locked_and_rs485_mode(tmp_path):
    """A serial line is locked while open: a second daemon (its own run
    directory, so the endpoint lock does not answer first) gets an error
    naming the device."""
    with PtyPair(tmp_path) as pty:
        sims = [dict(channels=4, rtu=pty.a, baud=115200)]
        with Sim(tmp_path, controllers=sims):
            ctl = [("u1", dict(transport="rtu", device=pty.b,
                               baud="115200", unit_id="1"))]
            with bus_daemon(tmp_path, ctl, name="a",
                            response_timeout_ms=100) as a:
                a.wait_ready(timeout=15)
                with bus_daemon(tmp_path, ctl, name="b",
                                response_timeout_ms=100) as b:
                    b.wait_for(lambda: "cannot lock %s: another process has "
                               "it open" % pty.b in b.logs(), timeout=10,
                               what="lock refusal")
                    assert not b.status()["controllers"][0]["connected"]
                assert a.status()["controllers"][0]["connected"]
            # the RS-485 options are applied at open (a pty takes them)
            ctl[0][1].update(serial_mode="rs485", rts="up",
                             rts_delay_us="100")
            with bus_daemon(tmp_path, ctl, name="c",
                            response_timeout_ms=100) as c:
                c.wait_ready(timeout=15)


def test_reload_renames_the_table(tmp_path):
    """A new name applies on reload; a new owner_id needs a restart."""
    with Sim(tmp_path, controllers=[dict(channels=4, map_version=2)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1),
                        daemon={"name": "Old name"}) as d:
            d.wait_ready()
            d.daemon_keys["name"] = "New name"
            d.write_config()
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: d.status()["table"] == "New name",
                       timeout=10, what="renamed")
            d.daemon_keys["owner_id"] = "77"
            d.write_config()
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: "reload refused: owner_id or run_dir "
                       "changed" in d.logs(), timeout=10, what="refusal")
            assert d.status()["controllers"][0]["owner"] != 77


def test_claim_lapses_when_the_owner_dies(tmp_path):
    """The claim lives as long as the owner writes: killed, its claim
    lapses (watchdog), and the refused second daemon takes over."""
    sims = [dict(channels=4, map_version=2)]
    with Sim(tmp_path, controllers=sims) as sim:
        ctls = tcp_ctls(sim, 1)
        a = bus_daemon(tmp_path, ctls, name="a", daemon={"owner_id": 11})
        try:
            a.wait_ready()
            with bus_daemon(tmp_path, ctls, name="b",
                            daemon={"owner_id": 12}) as b:
                b.wait_for(lambda: "claimed by another master: owner 11"
                           in b.logs(), what="refusal")
                t0 = monotonic_ns()
                a.signal(signal.SIGKILL)
                a.wait_exit()
                sim.wait_event("claim_lapsed", c=0, after_ns=t0, timeout=3)
                b.wait_for(lambda: b.status()["controllers"][0]["connected"],
                           timeout=10, what="b took over")
                assert sim.get(0)["owner"] == 12
                assert b.status()["controllers"][0]["owner"] == 12
        finally:
            a.stop()
