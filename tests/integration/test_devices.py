"""Described devices (kind = device, docs/devices.md): the real daemon
drives the simulator's device personalities, as the example tables of
config/examples describe them: a WAGO 750-352 coupler on Modbus TCP with
its own watchdog, and three cheap RS-485 modules on one RTU line (an
8-channel analogue output module without a watchdog, unit 1; an analogue
input module as its sensors, unit 2; a relay module as its interlock,
unit 3). devtable.py builds them.

The wire checks of the register map kind (test_core.py, test_faults.py),
in the device's raw counts read from the simulator's event log and
converted with the description's own map: no count above its zone's
limit, none rising faster than the profile's ramp; every stop path vents
within the register map's bounds (a tick to see it, a tick and two
response timeouts to write it, and SLACK_S for a loaded machine); a
killed daemon is vented by the coupler's own watchdog or by the relay
within its rated time plus 10 %.

Then the proof of the safe state (docs/devices.md, "The proof") against
devices that lie: a watchdog the device does not have, a watchdog that
never trips, a power cycle in a session, a welded relay, a device on
another unit id: never driven, the reason named. test_table_device.py
has `massaged -n` refusing a watchdog-less device without an interlock.
test_devices_programs.py runs the shipped programs on device tables.

Measured latencies go to $MASSAGED_FAULT_NOTES when set.
"""

import os
import re
import signal
import subprocess
import time

import pytest

from daemon import DEVICES
from devtable import (DeviceTable, KINDS, RT_MS, SLACK_S, WD_MS,
                      DROPOUT_MS)
from simctl import monotonic_ns
from test_faults import note

RAMP_KPA_S = 6          # DEV_PROFILE's and the example profile's ramp


def ms(ns):
    return round(ns / 1e6, 1)


def wait_fault(d, timeout):
    return d.wait_state("fault", timeout=timeout)


# -- limits and ramp ----------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_raw_counts_stay_under_limits_and_ramp(tmp_path, kind):
    """A program asks 20 kPa, above the profile's 12 kPa cap (8 kPa on
    the piriformis): the counts on the wire reach the count of each cap
    on the description's map and never pass it, and rise no faster than
    the profile's 6 kPa/s; the measured pressures follow."""
    with DeviceTable(tmp_path, kind) as t:
        st = t.d.wait_ready()
        c = st["controllers"][0]
        assert (c["kind"], c["proof"]["state"]) == ("device", "passed"), c
        limits = t.start()
        assert limits["gluteus_maximus_left"] == 12.0, limits
        assert limits["piriformis_left"] == 8.0, limits
        t.wait_pressure(11.0)
        time.sleep(2.0)
        st = t.d.status()
        assert st["state"] == "running" and st["last_stop"] is None, st
        n, peak = t.check_wire(limits, RAMP_KPA_S)
        m = t.desc[0].ao[0]
        for zone in ("gluteus_maximus_left", "piriformis_right"):
            top = m.raw(limits[zone])
            # It got there: a check that could never fail proves nothing.
            assert top - 3 <= peak[zone] <= top, (zone, peak[zone], top)
        worst = max(max(p) for p in t.pressures())
        assert worst <= 12.0 + 0.5, t.pressures()
        # /metrics counts the device's own transactions: 4 a tick (outputs,
        # feed or heartbeat, inputs, sensors), not the map's 2.
        x0, k0 = _metric(t.d, "massaged_modbus_transactions_total"), \
            _metric(t.d, "massaged_ticks_total")
        time.sleep(1.0)
        x1, k1 = _metric(t.d, "massaged_modbus_transactions_total"), \
            _metric(t.d, "massaged_ticks_total")
        assert 3.5 <= (x1 - x0) / (k1 - k0) <= 4.5, (x1 - x0, k1 - k0)
        note(kind=kind, writes_checked=n, peak_raw=peak)
        t.finish()


def _metric(d, name):
    """The first sample of a metric family in /metrics."""
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), r.text,
                  re.M)
    assert m, name
    return float(m.group(1))


# -- stop paths ---------------------------------------------------------------

STOPS = ("estop_circuit", "client_stop", "api_stop", "sigterm")


@pytest.mark.parametrize("path", STOPS)
@pytest.mark.parametrize("kind", KINDS)
def test_stop_vents(tmp_path, kind, path):
    """The e-stop circuit (a digital input), the client's switch (a
    digital input), the API's STOP and SIGTERM, each under pressure:
    the outputs at their safe value (and the coupler's vent valve
    venting) on the wire within the register map's bounds, every channel
    vented; the stop named (category 0); a reset refused while the input
    holds, idle once released, and nothing driven after the vent."""
    with DeviceTable(tmp_path, kind) as t:
        d, sim = t.d, t.sim
        d.wait_ready()
        limits = t.start()
        t.wait_pressure(3.0)
        tick_ms = 1000.0 / t.tick_hz
        di = t.input_sim()
        t0 = monotonic_ns()
        if path == "estop_circuit":
            sim.ok("estop %d on" % di)
        elif path == "client_stop":
            sim.ok("client_stop %d on" % di)
        elif path == "api_stop":
            assert d.request("POST", "/api/v1/estop").status == 200
        else:
            d.signal(signal.SIGTERM)
            assert d.wait_exit(15) == 0
        t_exit = monotonic_ns()
        # Seen at the next read of the inputs (a tick and a response),
        # then the vent goes out ahead of anything else (a response each
        # for the valve and the outputs).
        bound_ms = 2 * tick_ms + 2 * RT_MS + 1000 * SLACK_S
        vent = t.wait_vent_on_wire(t0, timeout=bound_ms / 1000)
        lat = {n: ms(v - t0) for n, v in vent.items()}
        assert max(lat.values()) <= bound_ms, lat
        secs = t.wait_vented()
        note(kind=kind, stop=path, stop_to_vent_ms=lat,
             vented_s=round(secs, 2))
        n, _ = t.check_wire(limits, RAMP_KPA_S)
        if path == "sigterm":
            assert max(vent.values()) < t_exit
            if kind == "wago":
                gone = sim.wait_event("disconnect", c=0, after_ns=t0)
                assert vent["pelvis"] < gone.ns
            assert "shutting down: venting every controller" in d.logs()
            assert d.sanitizer_report() == ""
            return
        reason, words = {
            "estop_circuit": ("estop_circuit", "e-stop circuit open on "
                              "controller pelvis"),
            "client_stop": ("client_stop", "client stop switch pressed "
                            "(controller pelvis)"),
            "api_stop": ("estop", "emergency stop"),
        }[path]
        st = wait_fault(d, SLACK_S)
        last = st["last_stop"]
        assert (last["reason"], last["category"]) == (reason, 0), last
        assert words in last["message"], last
        if path != "api_stop":
            r = d.request("POST", "/api/v1/reset")
            assert r.status == 409 and "cannot reset" in \
                r.json()["message"], r.text
            sim.ok("%s %d off" % (path.split("_circuit")[0], di))
        d.wait_for(lambda: d.request("POST", "/api/v1/reset").status ==
                   200 and d.status()["state"] == "idle",
                   timeout=SLACK_S + 2, interval=0.2,
                   what="a reset once the cause is gone")
        time.sleep(0.5)
        assert d.status()["state"] == "idle"
        assert not t.driven(max(vent.values()))
        t.finish()


def test_sigkill_wago_watchdog_vents(tmp_path):
    """SIGKILL under pressure: the coupler's own watchdog trips its
    timeout (500 ms, the table's watchdog_ms) after the last write that
    fed it, within + 10 %; its outputs go to 0 and its vent valve opens
    (sim: vent reason=watchdog); every channel vents. Restarted, the
    daemon proves the coupler again (it finds the watchdog tripped and
    resets it) before anything is driven."""
    with DeviceTable(tmp_path, "wago") as t:
        d, sim = t.d, t.sim
        d.wait_ready()
        limits = t.start()
        t.wait_pressure(3.0)
        t0 = monotonic_ns()
        d.signal(signal.SIGKILL)
        d.wait_exit(10)
        wd = sim.wait_event("watchdog", c=0, after_ns=t0,
                            timeout=WD_MS / 1000 + SLACK_S)
        assert wd["ms"] == str(WD_MS)
        last = max(e.ns for e in sim.events(c=0) if e.ns < wd.ns and
                   e.kind in ("fc5", "fc6", "fc15", "fc16"))
        since = ms(wd.ns - last)
        # the simulator checks every --tick-ms (5 ms)
        assert WD_MS - 10 <= since <= WD_MS * 1.1, since
        v = sim.wait_event("vent", c=0, after_ns=t0)
        assert v["reason"] == "watchdog" and v.ns - wd.ns < 20e6
        secs = t.wait_vented()
        note(kind="wago", watchdog_after_last_write_ms=since,
             vented_s=round(secs, 2))
        t.check_wire(limits, RAMP_KPA_S)
        t1 = monotonic_ns()
        d.start()
        st = d.wait_ready()
        proof = st["controllers"][0]["proof"]
        assert proof["state"] == "passed", proof
        assert not t.driven(t1)
        t.finish()


def test_sigkill_rs485_relay_vents(tmp_path):
    """SIGKILL under pressure: the relay's heartbeat coil stops changing;
    the safety relay drops within its dropout (200 ms) + 10 % of its last
    change, cutting the regulators and opening the vent valve (sim: vent
    reason=relay); every channel vents."""
    with DeviceTable(tmp_path, "rs485") as t:
        d, sim = t.d, t.sim
        relay = t.relay_sim[0]
        d.wait_ready()
        limits = t.start()
        t.wait_pressure(3.0)
        t0 = monotonic_ns()
        d.signal(signal.SIGKILL)
        d.wait_exit(10)
        out = sim.wait_event("relay", c=relay, after_ns=t0,
                             timeout=DROPOUT_MS / 1000 + SLACK_S,
                             where=lambda e: "out" in e.args)
        beat = max(e.ns for e in sim.events("fc5", c=relay)
                   if e.ns < out.ns and e.get("addr") == "0")
        since = ms(out.ns - beat)
        assert DROPOUT_MS - 10 <= since <= DROPOUT_MS * 1.1, since
        assert float(out["ms"]) <= DROPOUT_MS * 1.1, out
        v = sim.wait_event("vent", c=t.ao_sim[0], after_ns=t0)
        assert v["reason"] == "relay" and v.ns - out.ns < 20e6
        secs = t.wait_vented()
        note(kind="rs485", relay_out_after_last_beat_ms=since,
             vented_s=round(secs, 2))
        t.check_wire(limits, RAMP_KPA_S)


# -- the proof catches every lie ----------------------------------------------

def lying_description(tmp_path, name):
    """A description that lies about the device it drives (a copy of a
    shipped one, in the test's directory)."""
    if name == "ao8_claims_a_watchdog":
        # The analogue output module has no watchdog, nor registers 100
        # and 101: with kind = modbus it passes massaged -n without an
        # interlock, and only the proof can tell.
        text = open(os.path.join(DEVICES, "rs485-ao8.ini")).read()
        text = text.replace("[watchdog]\nkind = none\n", "[watchdog]\n"
                            "kind = modbus\nfed_by = writes\n"
                            "on_trip = zero\ntimeout = 100\nfeed = 101\n")
    elif name == "wago_fed_by_any_request":
        # Says its watchdog is fed by writes only, but sets the coupler's
        # function code mask to every function (reads too).
        text = open(os.path.join(DEVICES, "wago-750-352.ini")).read()
        text = text.replace("configure = 0x1001 = 0xC030",
                            "configure = 0x1001 = 0xFFFF")
    else:
        # The coupler's description on the module (over RTU).
        text = open(os.path.join(DEVICES, "wago-750-352.ini")).read()
        text = text.replace("transports = tcp", "transports = tcp, rtu")
    assert "[watchdog]\nkind = modbus" in text or "0xFFFF" in text
    path = tmp_path / ("%s.ini" % name)
    path.write_text(text)
    return str(path)


def proof_failed(t, *words):
    """Waits for a failed proof; checks that it names why (words), that
    the controller is not connected, a start is refused and nothing was
    driven; returns the controller's status."""
    d = t.d
    c = d.wait_for(lambda: (lambda c: c if c["proof"]["failed"] else None)(
        d.status()["controllers"][0]), timeout=10, what="a failed proof")
    p = c["proof"]
    assert not c["connected"] and p["state"] == "failed", c
    assert p["passed"] == 0, p
    for w in words:
        assert w in p["why"], (w, p)
    assert c["error"] == "not driven: the proof of its safe state failed: " \
        + p["why"], c
    assert p["steps"][-1]["text"] == "NOT SEEN: " + p["why"], p
    refused_start(t)
    return c


def refused_start(t):
    r = t.d.request("POST", "/api/v1/session",
                    {"program": "dev_test", "profile": "dev"})
    assert r.status == 409, r.text
    assert "controller pelvis is not connected" in r.json()["message"]
    assert not t.driven(), t.driven()[:3]


LIES = [
    # (description, kind, what the proof or the connect says)
    ("ao8_claims_a_watchdog", "rs485",
     ("device rs485-ao8 (unit 1): writing holding register 0x0064 = "
      "0x01f4: exception 02",)),
    ("wago_fed_by_any_request", "wago",
     ("device wago-750-352 (unit 1): watchdog did not trip within 600 ms "
      "after feeding stopped (state 1)",)),
    ("wago_on_ao8", "rs485",
     ("device wago-750-352 (unit 1): cannot read its identity",)),
]


@pytest.mark.parametrize("lie", LIES, ids=[x[0] for x in LIES])
def test_description_claims_a_watchdog_the_device_has_not(tmp_path, lie):
    """A description that claims a trusted watchdog passes massaged -n
    without an interlock; the device does not have it (a module without
    any, a coupler whose mask lets reads feed it, a coupler's description
    on a module). Never driven, the reason named: the proof fails at the
    step it could not see (the watchdog at 600 ms: 500 ms plus the margin
    of a tenth and 50 ms), or the connect at the identity check."""
    name, kind, words = lie
    path = lying_description(tmp_path, name)
    with DeviceTable(tmp_path, kind, device=path,
                     drop=("interlock", "interlock_unit_id")) as t:
        d = t.d
        r = subprocess.run(d.argv() + ["-n"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and "configuration OK" in r.stdout, \
            r.stderr
        if name != "wago_on_ao8":
            proof_failed(t, *words)
        else:
            c = d.wait_for(lambda: (lambda c: c if words[0] in (
                c["error"] or "") else None)(d.status()["controllers"][0]),
                timeout=10, what="the error")
            assert not c["connected"] and c["proof"]["passed"] == 0, c
            assert words[0] in c["error"], c
            assert "Illegal data address" in c["error"], c
            refused_start(t)
        time.sleep(1.0)
        assert not t.driven()
        t.finish()


def test_broken_wago_watchdog_never_driven_until_repaired(tmp_path):
    """watchdog_broken: the coupler's watchdog is set up, reads back and
    says it is armed, but never trips. Never driven, the reason named; a
    failed proof is tried again after 5 s (nothing driven meanwhile), and
    once repaired the coupler is proven and driven."""
    with DeviceTable(tmp_path, "wago", sim_cmds=["watchdog_broken 0 on"]) \
            as t:
        d, sim = t.d, t.sim
        proof_failed(t, "device wago-750-352 (unit 1): watchdog did not "
                     "trip within 600 ms after feeding stopped (state 1)")
        first = sim.events("watchdog_start", c=0)[0]
        sim.ok("watchdog_broken 0 off")
        st = d.wait_ready(timeout=15)
        p = st["controllers"][0]["proof"]
        assert (p["state"], p["passed"], p["failed"]) == ("passed", 1, 1), p
        again = [e for e in sim.events("watchdog_start", c=0)
                 if e.ns > first.ns][0]
        # the failed proof took 600 ms and more, then 5 s of back-off
        assert (again.ns - first.ns) / 1e9 >= 5.5, ms(again.ns - first.ns)
        assert not t.driven()
        t.start()
        t.wait_pressure(3.0)
        t.finish()


def test_wago_power_cycle_in_a_session(tmp_path):
    """A power cycle of the coupler in a session (its watchdog off, its
    outputs and vent valve off, as after any power-up): the read-backs
    see it, the session stops naming it, and the coupler is proven again
    (the watchdog seen to trip on the wire) before it is driven again."""
    with DeviceTable(tmp_path, "wago") as t:
        d, sim = t.d, t.sim
        d.wait_ready()
        limits = t.start()
        t.wait_pressure(3.0)
        t0 = monotonic_ns()
        sim.ok("powercycle 0")
        st = wait_fault(d, SLACK_S)
        last = st["last_stop"]
        assert (last["reason"], last["category"]) == ("link_lost", 0), last
        assert "device wago-750-352 (unit 1): its watchdog is off: the " \
            "device was reset or power cycled" in last["message"], last
        c = d.wait_for(lambda: (lambda c: c if c["proof"]["passed"] >= 2
                                else None)(d.status()["controllers"][0]),
                       timeout=10, what="a second proof")
        assert c["connected"] and c["proof"]["failed"] == 0, c
        stop = sim.wait_event("fc5", c=0, after_ns=t0,
                              where=lambda e: e["value"] == "0")
        trip = sim.wait_event("watchdog", c=0, after_ns=t0)
        # Until the read-backs saw it (they run every 500 ms, a step a
        # tick), the outputs were written to a coupler whose own vent
        # valve was open since the power cycle.
        note(powercycle_to_stop_ms=ms(stop.ns - t0))
        assert (stop.ns - t0) / 1e6 < 500 + 10 * 20 + 1000 * SLACK_S
        assert not t.driven(stop.ns)
        t.check_wire(limits, RAMP_KPA_S)
        assert d.request("POST", "/api/v1/reset").status == 200
        d.wait_state("idle")
        t1 = monotonic_ns()
        t.start()
        t.wait_pressure(3.0)
        assert min(ns for _, ns, _ in t.driven(t1)) > trip.ns
        t.finish()


def test_welded_relay_never_driven(tmp_path):
    """relay_weld: the safety relay's contacts stay in whatever its
    heartbeat does. The proof stops toggling and the feedback never
    drops within 200 ms plus the margin: never driven, named."""
    with DeviceTable(tmp_path, "rs485", sim_cmds=["relay_weld 2 on"]) as t:
        proof_failed(t, "interlock relay (unit 3) still in ",
                     "ms after its heartbeat stopped: welded or wired wrong")
        t.finish()


UNITS = [
    # (kind, simulator controller, who does not answer)
    ("wago", 0, "device wago-750-352 (unit 1): reading holding register "
     "0x1006 (watchdog state)"),
    ("rs485", 0, "device rs485-ao8 (unit 1): writing the outputs their "
     "safe value"),
    ("rs485", 1, "device rs485-ai8 (unit 2): cannot read its input "
     "registers 0x0000..0x0007"),
    ("rs485", 2, "device rs485-relay (unit 3): cannot read its discrete "
     "inputs 0x0000..0x0002"),
]


@pytest.mark.parametrize("case", UNITS, ids=["wago", "rs485-ao8",
                                             "rs485-ai8", "rs485-relay"])
def test_device_on_another_unit_id(tmp_path, case):
    """A device set to another unit id than the table's (unit C 7): it
    answers nobody the daemon asks. Not connected, so never proven nor
    driven; the error names the device, the unit id asked and what got
    no answer. Set back, it is proven and ready."""
    kind, c, words = case
    with DeviceTable(tmp_path, kind, sim_cmds=["unit %d 7" % c]) as t:
        d = t.d
        ctl = d.wait_for(lambda: (lambda x: x if words in (x["error"] or "")
                                  else None)(d.status()["controllers"][0]),
                         timeout=10, what="the error")
        assert "timed out" in ctl["error"], ctl
        assert not ctl["connected"] and ctl["proof"]["passed"] == 0, ctl
        refused_start(t)
        t.sim.wait_event("ignore", c=t.ao_sim[0])
        t.sim.ok("unit %d off" % c)
        d.wait_ready(timeout=15)
        assert not t.driven()
        t.finish()


# -- massaged -n --prove ------------------------------------------------------

PROVE_STEPS = {
    "wago": ["device wago-750-352 (unit 1): outputs at their safe value, "
             "vent valves venting, read back",
             "device wago-750-352 (unit 1): watchdog set and read back: "
             "timeout 0x1000 = 5 (500 ms), 1 configure write",
             "device wago-750-352 (unit 1): watchdog armed, fed 3 times, "
             "feeding stopped",
             "device wago-750-352 (unit 1): watchdog tripped ",
             "device wago-750-352 (unit 1): outputs read back their trip "
             "value; watchdog reset",
             "device wago-750-352 (unit 1): watchdog armed and fed again: "
             "proven"],
    "rs485": ["device rs485-ao8 (unit 1): outputs at their safe value, "
              "read back",
              "interlock relay (unit 3) in after ",
              "interlock relay (unit 3) dropped ",
              "interlock relay (unit 3) in again after "],
}


@pytest.mark.parametrize("kind", KINDS)
def test_check_prove(tmp_path, kind):
    """massaged -n --prove on each example table: every step printed with
    its time, in order, exit 0; with the relay welded exit 1 and what was
    not seen."""
    with DeviceTable(tmp_path, kind, start=False) as t:
        cmd = [t.d.binary, "-n", "--prove", "-f", t.d.config_path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert "configuration OK" in lines, r.stdout
        at = 0
        for want in PROVE_STEPS[kind]:
            at = next(i for i, ln in enumerate(lines) if i >= at and
                      ln.startswith("  +") and want in ln)
        assert "1 of 1 controllers proven" in lines, r.stdout
        if kind == "rs485":
            t.sim.ok("relay_weld %d on" % t.relay_sim[0])
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 1, r.stdout + r.stderr
            assert "  NOT PROVEN: interlock relay (unit 3) still in " in \
                r.stdout, r.stdout
            assert "0 of 1 controllers proven" in r.stdout
        assert not t.driven()
