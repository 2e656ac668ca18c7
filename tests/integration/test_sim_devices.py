"""The simulator's device personalities (issue 25), driven directly with
the small Modbus clients of simctl.py: the WAGO 750-352 coupler and its
Modbus watchdog over TCP, and the RS-485 AO, AI and relay modules on one
RTU line (a socat pty pair) and behind one TCP port (a gateway).

The layouts and behaviours are those docs/simulator.md gives (from the
shared facts of issue 25). Times are read from the simulator's own event
log (CLOCK_MONOTONIC), never from how fast the test runs; every process
is started on free ports in the test's own directory and stopped by PID.

Run: MASSAGED_BUILD=build /usr/bin/python3 -m pytest -q \
         tests/integration/test_sim_devices.py
"""

import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simctl import (ModbusError, ModbusRtu, PtyPair, Sim,  # noqa: E402
                    sim_binary)
from test_sim import make_sim  # noqa: E402,F401 (a fixture)

pytestmark = pytest.mark.skipif(not os.access(sim_binary(), os.X_OK),
                                reason="%s not built" % sim_binary())

# WAGO 750-352: the watchdog's holding registers and its values.
WD_TIME, WD_MASK, WD_TRIGGER, WD_STATUS, WD_RESTART, WD_STOP = (
    0x1000, 0x1001, 0x1003, 0x1006, 0x1007, 0x1008)
WD_OFF, WD_ACTIVE, WD_EXPIRED = 0, 1, 2
MASK_WRITES = 0x8000 | 0x4000 | 0x0020 | 0x0010     # FC16, FC15, FC6, FC5
MASK_ANY = 0xffff
OUT = 0x0200                                        # outputs read back
FULL = 0x7ff8                                       # 10 V = 60 kPa
SERVER_FAILURE = 4

TICK_MARGIN_MS = 100    # the loop's tick and a loaded machine




@pytest.fixture
def pty(tmp_path):
    with PtyPair(tmp_path) as p:
        yield p


def wago(make_sim, **kw):
    ctl = dict(personality="wago-750-352")
    ctl.update(kw)
    return make_sim(controllers=[ctl])


def exception_of(fn, *args):
    with pytest.raises(ModbusError) as e:
        fn(*args)
    return e.value.code


def kpa_raw(kpa):
    return int(round(kpa / 60.0 * FULL)) & FULL


# -- WAGO 750-352 ------------------------------------------------------------

def test_wago_power_up_identity_and_process_image(make_sim):
    sim = wago(make_sim)
    with sim.client(0, unit=1) as m:
        # The watchdog is off after power-up, every register at 0.
        assert m.read_holding(WD_TIME, 9) == [0] * 9
        assert m.read_holding(0x2011, 2) == [750, 352]
        assert m.read_input(0x2011, 2) == [750, 352]
        # The vent valve (DO 0) is off: venting; outputs read back at 0x200.
        m.write_registers(0, [kpa_raw(30)] + [0] * 7)
        m.write_coil(0, 1)
        assert m.read_holding(OUT, 8)[0] == kpa_raw(30)
        assert m.read_coils(OUT, 8) == [1] + [0] * 7
        # Analogue inputs: the channel's sensor, 0-10 V = 0-60 kPa.
        sim.wait_for(lambda: abs(m.read_input(0, 1)[0] - kpa_raw(30)) <= 16,
                     timeout=3, what="AI 0 at 30 kPa")
        # FC3 at 0x0000 reads the input image too, as a coupler does.
        assert abs(m.read_holding(0, 1)[0] - m.read_input(0, 1)[0]) <= 16
        # DI 0 the e-stop circuit (1 = closed), DI 1 the client's switch.
        assert m.read_discrete(0, 2) == [1, 0]
        sim.ok("estop 0 on")
        sim.ok("client_stop 0 on")
        assert m.read_discrete(0, 2) == [0, 1]
        # Nothing was driven by the simulator itself: the master vents.
        assert sim.get(0)["vent_open"] is False
        # The watchdog stayed off all along, and nothing tripped.
        time.sleep(0.3)
        assert m.read_holding(WD_STATUS, 1) == [WD_OFF]
        assert exception_of(m.read_input, 0x0008, 1) == 2
        assert exception_of(m.read_holding, 0x3000, 1) == 2
        assert exception_of(m.write_register, WD_STATUS, 1) == 2
    assert sim.get(0)["watchdog"]["status"] == WD_OFF


def test_wago_watchdog_fed_by_writes_not_by_reads(make_sim):
    sim = wago(make_sim)
    with sim.client(0) as m:
        m.write_register(WD_MASK, MASK_WRITES)      # the mask first
        m.write_coil(0, 1)
        m.write_registers(0, [kpa_raw(20)] * 8)
        m.write_register(WD_TIME, 3)                # 300 ms: armed
        assert m.read_holding(WD_TIME, 7) == [3, MASK_WRITES, 0, 0, 0, 0,
                                              WD_ACTIVE]
        # FC16 writes of a changing WD_TRIGGER feed it, well past 300 ms.
        for i in range(1, 16):
            m.write_registers(WD_TRIGGER, [i])
            time.sleep(0.05)
        assert m.read_holding(WD_STATUS, 1) == [WD_ACTIVE]
        # Reads alone (FC3, FC4 are not in the mask) do not: it trips.
        deadline = time.monotonic() + 3
        status = WD_ACTIVE
        while status == WD_ACTIVE and time.monotonic() < deadline:
            try:
                m.read_input(0, 8)
            except ModbusError as e:
                assert e.code == SERVER_FAILURE
            status = m.read_holding(WD_STATUS, 1)[0]
            time.sleep(0.02)
        assert status == WD_EXPIRED
        # After expiry: exception 04 to reads and writes of the image.
        assert exception_of(m.read_input, 0, 8) == SERVER_FAILURE
        assert exception_of(m.read_holding, OUT, 8) == SERVER_FAILURE
        assert exception_of(m.write_registers, 0, [100]) == SERVER_FAILURE
        assert exception_of(m.write_coil, 0, 1) == SERVER_FAILURE
        state = sim.get(0)
        assert state["outputs"] == [0] * 8 and state["coils"] == [0] * 8
        assert state["vent_open"] is True
        # It tripped 300 ms after the last feed (the simulator's clock).
        feed = [e for e in sim.events(kind="fc16", c=0)
                if e.get("addr") == str(WD_TRIGGER)][-1]
        trip = sim.wait_event("watchdog", c=0)
        assert trip["ms"] == "300"
        ms = (trip.ns - feed.ns) / 1e6
        assert 300 <= ms <= 300 + TICK_MARGIN_MS, ms
        assert sim.wait_event("vent", c=0)["reason"] == "watchdog"
        # A simple stop resets it; the outputs stay 0 until written.
        m.write_register(WD_STOP, 0xaa55)
        assert m.read_holding(WD_STATUS, 1) == [WD_OFF]
        assert m.read_holding(OUT, 8) == [0] * 8
        assert m.read_coils(OUT, 1) == [0]
        m.write_registers(0, [kpa_raw(10)])
        assert m.read_holding(OUT, 1) == [kpa_raw(10)]


def test_wago_mask_that_lets_any_request_feed(make_sim):
    sim = wago(make_sim)
    with sim.client(0) as m:
        m.write_register(WD_MASK, MASK_ANY)
        m.write_register(WD_TIME, 2)                # 200 ms
        for _ in range(20):                         # 1 s of reads only
            m.read_input(0, 1)
            time.sleep(0.05)
        assert m.read_holding(WD_STATUS, 1) == [WD_ACTIVE]
    state = sim.get(0)
    assert state["watchdog"]["status"] == WD_ACTIVE
    # Left alone, it trips.
    sim.wait_for(lambda: sim.get(0)["watchdog"]["status"] == WD_EXPIRED,
                 timeout=2, what="the watchdog to expire")


def test_wago_mask_and_time_not_changed_while_running(make_sim):
    """WAGO: "It is not possible to modify this value while the watchdog
    is running." The simulator answers the write normally and keeps the
    old value, so only a read-back shows it (docs/simulator.md)."""
    sim = wago(make_sim)
    with sim.client(0) as m:
        m.write_register(WD_MASK, MASK_WRITES)
        m.write_register(WD_TIME, 50)               # 5 s
        m.write_register(WD_MASK, MASK_ANY)         # answered, not taken
        m.write_register(WD_TIME, 1)
        assert m.read_holding(WD_TIME, 2) == [50, MASK_WRITES]
        m.write_register(WD_STOP, 0x55aa)
        assert m.read_holding(WD_STATUS, 1) == [WD_OFF]
        m.write_register(WD_MASK, MASK_ANY)
        assert m.read_holding(WD_MASK, 1) == [MASK_ANY]
        # Time and mask in one write: the time starts it, so the mask
        # after it is not taken (write the mask first).
        m.write_register(WD_STOP, 0xaa55)
        m.write_registers(WD_TIME, [50, MASK_WRITES])
        assert m.read_holding(WD_TIME, 2) == [50, MASK_ANY]
        assert m.read_holding(WD_STATUS, 1) == [WD_ACTIVE]


def test_wago_restart_and_powercycle(make_sim):
    sim = wago(make_sim)
    with sim.client(0) as m:
        m.write_register(WD_TIME, 3)                # 300 ms, mask 0
        sim.wait_for(lambda: sim.get(0)["watchdog"]["status"] == WD_EXPIRED,
                     timeout=2, what="the watchdog to expire")
        m.write_register(WD_RESTART, 1)
        assert m.read_holding(WD_STATUS, 1) == [WD_ACTIVE]
        for i in range(1, 11):                      # WD_TRIGGER feeds
            m.write_register(WD_TRIGGER, i)
            time.sleep(0.05)
        assert m.read_holding(WD_STATUS, 1) == [WD_ACTIVE]
        m.write_coil(0, 1)
        # A power cycle: the watchdog off, as after any power-up; the
        # connection stays (behind a live link).
        sim.ok("powercycle 0")
        assert m.read_holding(WD_TIME, 9) == [0] * 9
        assert m.read_coils(OUT, 1) == [0]
    assert sim.wait_event("powercycle", c=0)["watchdog"] == str(WD_ACTIVE)


def test_wago_idle_timeout_leaves_outputs(make_sim):
    sim = wago(make_sim, idle_ms=300)
    m = sim.client(0)
    try:
        m.write_coil(0, 1)
        m.write_registers(0, [kpa_raw(25)])
        m.sock.settimeout(3)
        t0 = time.monotonic()
        assert m.sock.recv(16) == b""               # closed by the coupler
        assert time.monotonic() - t0 < 3
    finally:
        m.close()
    assert sim.wait_event("disconnect", c=0)["reason"] == "idle"
    with sim.client(0) as m:
        assert m.read_holding(OUT, 1) == [kpa_raw(25)]
        assert m.read_coils(OUT, 1) == [1]
    assert sim.get(0)["vent_open"] is False


def test_wago_wrong_unit_id_on_its_own_port(make_sim):
    """The coupler answers any unit id; 'unit C ID' makes it answer one."""
    sim = wago(make_sim)
    with sim.client(0, unit=17) as m:
        assert m.read_holding(0x2012, 1) == [352]
        sim.ok("unit 0 9")
        m.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            m.read_holding(0x2012, 1)
    sim.wait_event("ignore", c=0, where=lambda e: e["unit"] == "17")
    with sim.client(0, unit=9) as m:
        assert m.read_holding(0x2012, 1) == [352]
        sim.ok("unit 0 off")
        m.unit = 17
        assert m.read_holding(0x2012, 1) == [352]


def test_wago_only_on_tcp(tmp_path):
    import subprocess
    out = subprocess.run(
        [sim_binary(), "--control", "127.0.0.1:0", "--personality",
         "wago-750-352", "--rtu", str(tmp_path / "tty")],
        capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "Modbus TCP coupler" in out.stderr
    out = subprocess.run(
        [sim_binary(), "--personality", "wago", "--tcp", ":0"],
        capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "--personality" in out.stderr
    out = subprocess.run(
        [sim_binary(), "--control", "127.0.0.1:0", "--personality",
         "rs485-ai8", "--tcp", ":0"],
        capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "rs485-ao8 before it" in out.stderr


# -- RS-485 modules ----------------------------------------------------------

AO, AI, RELAY = 0, 1, 2             # controller indexes


def rs485_line(make_sim, where):
    """AO (unit 1), AI (unit 2) and relay (unit 3) on one RTU line, or
    behind one TCP port (where: dict(rtu=device) or dict(tcp="gateway"))."""
    more = dict(where) if "rtu" in where else dict(tcp="=0")
    return make_sim(controllers=[
        dict(where, unit_id=1, personality="rs485-ao8"),
        dict(more, unit_id=2, personality="rs485-ai8"),
        dict(more, unit_id=3, personality="rs485-relay")])


def toggle(m, n, period=0.04, unit=3):
    """Toggles coil 0 of the relay module n times, every period."""
    was, m.unit = m.unit, unit
    try:
        for i in range(n):
            m.write_coil(0, i % 2 == 0)
            time.sleep(period)
    finally:
        m.unit = was


def toggle_until(m, sim, pred, timeout=5.0):
    """Toggles coil 0 (the relay stays in) until pred(pressures of the AO
    module) holds: the plant settles in its own time, not in toggles."""
    deadline = time.monotonic() + timeout
    while True:
        toggle(m, 5)
        p = sim.get(AO)["pressures"]
        if pred(p):
            return p
        assert time.monotonic() < deadline, p


def test_rs485_relay_drops_when_coil_0_stops(make_sim, pty):
    sim = rs485_line(make_sim, dict(rtu=pty.a))
    with ModbusRtu(pty.b) as m:
        assert m.request(bytes([3, 0, 0, 0, 8]), unit=1)[1] == 16
        m.unit = 1
        m.write_registers(0, [500, 0, 0, 0, 0, 0, 0, 1000])
        assert m.read_holding(0, 8) == [500, 0, 0, 0, 0, 0, 0, 1000]
        # No toggles yet: the relay is out, regulators off, vent open.
        m.unit = 3
        assert m.read_discrete(0, 3) == [0, 1, 0]
        time.sleep(0.3)
        m.unit = 2
        assert m.read_input(0, 8)[0] <= 2
        # Toggling coil 0 pulls it in: the channels follow the AO module.
        toggle(m, 30)
        m.unit = 3
        assert m.read_discrete(0, 1) == [1]
        m.unit = 2
        ai = m.read_input(0, 8)
        assert abs(ai[0] - 500) <= 5 and abs(ai[7] - 1000) <= 5, ai
        # A stuck-on coil 0 (no more toggles) drops it after dropout_ms.
        m.unit = 3
        deadline = time.monotonic() + 3
        while m.read_discrete(0, 1) == [1] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert m.read_discrete(0, 1) == [0]
        last = [e for e in sim.events(kind="fc5", c=RELAY)][-1]
        out = sim.wait_event("relay", c=RELAY, where=lambda e: "out" in
                             e.args)
        ms = (out.ns - last.ns) / 1e6
        assert 200 <= ms <= 200 + TICK_MARGIN_MS, ms
        assert 200 <= float(out["ms"]) <= 200 + TICK_MARGIN_MS
        # Dropout cut the regulators and opened the vent valve.
        assert sim.wait_event("vent", c=AO)["reason"] == "relay"
        sim.wait_event("vented", c=AO, timeout=3)
        m.unit = 2
        assert m.read_input(0, 8)[0] <= 8
        m.unit = 1
        assert m.read_holding(0, 1) == [500]        # the module kept it


def test_rs485_welded_relay_never_drops(make_sim, pty):
    sim = rs485_line(make_sim, dict(rtu=pty.a))
    with ModbusRtu(pty.b, unit=1) as m:
        m.write_registers(0, [600])
        sim.ok("relay-weld %d on" % RELAY)          # '-' for '_' is taken
        toggle(m, 2)
        time.sleep(0.6)                             # 3 x dropout_ms
        m.unit = 3
        assert m.read_discrete(0, 1) == [1]
        state = sim.get(RELAY)
        assert state["welded"] is True and state["relay_in"] is True
        assert sim.get(AO)["vent_open"] is False
        m.unit = 2
        assert abs(m.read_input(0, 1)[0] - 600) <= 6
        assert not [e for e in sim.events(kind="relay", c=RELAY)
                    if "out" in e.args]
        sim.ok("relay_weld %d off" % RELAY)
        m.unit = 3
        assert m.read_discrete(0, 1) == [0]
    assert sim.get(AO)["vent_open"] is True


def test_rs485_frozen_sensor_and_stuck_regulator(make_sim, pty):
    sim = rs485_line(make_sim, dict(rtu=pty.a))
    with ModbusRtu(pty.b, unit=1) as m:
        m.write_registers(0, [500, 500])
        toggle_until(m, sim, lambda p: abs(p[0] - 30.0) < 0.3)
        sim.ok("freeze %d 0 on" % AI)
        err = sim.cmd("freeze %d 0 on" % AO)
        assert err.startswith("err freeze: controller 0 (rs485-ao8) has no")
        m.unit = 3
        deadline = time.monotonic() + 3
        while m.read_discrete(0, 1) == [1] and time.monotonic() < deadline:
            time.sleep(0.02)
        sim.wait_event("vented", c=AO, timeout=3)
        m.unit = 2
        ai = m.read_input(0, 2)
        assert abs(ai[0] - 500) <= 5 and ai[1] <= 8, ai   # 0 froze
        assert sim.get(AO)["pressures"][0] < 0.5
        sim.ok("freeze %d 0 off" % AI)
        assert m.read_input(0, 1)[0] <= 8
        # A stuck regulator holds its pressure against its setpoint.
        m.unit = 1
        toggle_until(m, sim, lambda p: abs(p[1] - 30.0) < 0.3)
        sim.ok("stick %d 1 on" % AO)
        m.write_registers(0, [100, 100])
        p = toggle_until(m, sim, lambda p: abs(p[0] - 6.0) < 0.5)
        assert abs(p[1] - 30.0) < 0.5, p    # stuck: it held its pressure


def test_rs485_wrong_unit_id(make_sim, pty):
    sim = rs485_line(make_sim, dict(rtu=pty.a))
    with ModbusRtu(pty.b, unit=2, timeout=0.3) as m:
        assert len(m.read_input(0, 8)) == 8
        sim.ok("unit %d 7" % AI)
        assert sim.get(AI)["wrong_unit"] == 7
        with pytest.raises(TimeoutError):
            m.read_input(0, 8)
        sim.wait_event("ignore", c=AO, where=lambda e: e["unit"] == "2")
        m.unit = 7
        assert len(m.read_input(0, 8)) == 8
        sim.ok("unit %d off" % AI)
        m.flush_input()
        m.unit = 2
        assert len(m.read_input(0, 8)) == 8


def test_rs485_module_limits(make_sim, pty):
    rs485_line(make_sim, dict(rtu=pty.a))
    with ModbusRtu(pty.b, unit=1) as m:
        assert exception_of(m.write_registers, 0, [1001]) == 3
        assert exception_of(m.write_registers, 7, [1, 2]) == 2
        assert exception_of(m.read_input, 0, 1) == 1     # AO: no FC4
        m.unit = 2
        assert exception_of(m.read_holding, 0, 1) == 1   # AI: no FC3
        assert exception_of(m.read_input, 4, 5) == 2
        m.unit = 3
        assert exception_of(m.read_holding, 0, 1) == 1
        assert exception_of(m.read_coils, 0, 9) == 2
        m.write_coils(0, [0, 1, 1])
        assert m.read_coils(0, 8) == [0, 1, 1, 0, 0, 0, 0, 0]


def test_rs485_units_behind_one_tcp_port(make_sim):
    sim = rs485_line(make_sim, dict(tcp="127.0.0.1:0"))
    assert False not in [s == sim.ports[0] for s in sim.ports]
    with sim.client(AO, unit=1) as m:
        m.write_registers(0, [800])
        m.unit = 3
        toggle(m, 30)
        assert m.read_discrete(0, 3) == [1, 1, 0]
        m.unit = 2
        assert abs(m.read_input(0, 1)[0] - 800) <= 8
        m.unit = 9                                  # nobody's
        m.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            m.read_input(0, 1)
    assert sim.get(AI)["wired_to"] == AO and sim.get(RELAY)["wired_to"] == AO
