"""Integration tests of the table simulator massaged-sim on its own.

Run: MASSAGED_BUILD=build /usr/bin/python3 -m pytest -q \
         tests/integration/test_sim.py

Every test starts its own simulator on kernel-chosen ports in its own temp
directory and stops it by PID; nothing depends on fixed ports.
"""

import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simctl import (ModbusError, ModbusRtu, PtyPair, Sim,  # noqa: E402
                    SimError, monotonic_ns, rtu_frame, sim_binary, wait_for)

ENABLE = 1
FAULT_RESET = 2
ST_READY, ST_ACTIVE, ST_FAULT, ST_ESTOP, ST_CLIENT_STOP, ST_WATCHDOG = (
    1, 2, 4, 8, 16, 32)

pytestmark = pytest.mark.skipif(not os.access(sim_binary(), os.X_OK),
                                reason="%s not built" % sim_binary())


@pytest.fixture
def make_sim(tmp_path):
    sims = []

    def make(**kw):
        s = Sim(tmp_path, **kw)
        sims.append(s)
        return s

    yield make
    for s in sims:
        was_alive = s.alive()
        rc = s.stop()
        log = s.stderr()
        # a clean exit on SIGTERM, and nothing from the sanitizers
        assert "Sanitizer" not in log and "runtime error" not in log, log
        if was_alive:
            assert rc == 0, log


def status(m):
    return m.read_input(0, 1)[0]


def enable(m, n, sp, hb=1):
    """One daemon-style tick: CONTROL, HEARTBEAT and n SETPOINTs (kPa)."""
    sp = list(sp) + [0] * (n - len(sp))
    m.write_registers(0, [ENABLE, hb] + [int(round(v * 10)) for v in sp])


# -- register map ------------------------------------------------------------

def test_banner_and_map_registers(make_sim):
    sim = make_sim(controllers=[dict(channels=4, max_kpa=25.5),
                                dict(channels=32, map_version=7)])
    assert [a[0] for a in sim.addresses] == ["tcp", "tcp"]
    assert all(p > 0 for p in sim.ports) and sim.control_port > 0
    with sim.client(0) as m:
        assert m.read_input(100, 3) == [1, 4, 255]
        assert m.read_holding(100, 1) == [1000]
        assert m.read_holding(0, 6) == [0] * 6
        st, fault = m.read_input(0, 2)
        assert st == ST_READY and fault == 0
        assert m.read_input(2, 4) == [0] * 4
    with sim.client(1) as m:
        assert m.read_input(100, 3) == [7, 32, 400]
        assert len(m.read_input(0, 34)) == 34


def test_addresses_outside_map_and_bad_requests(make_sim):
    sim = make_sim(controllers=[dict(channels=4)])
    with sim.client(0) as m:
        for fn, args in [(m.read_input, (6, 1)), (m.read_input, (0, 7)),
                         (m.read_input, (99, 1)), (m.read_input, (103, 1)),
                         (m.read_input, (100, 4)), (m.read_holding, (6, 1)),
                         (m.read_holding, (101, 1)), (m.read_holding, (5, 96)),
                         (m.write_register, (6, 0)),
                         (m.write_register, (101, 0)),
                         (m.write_registers, (4, [0, 0, 0]))]:
            with pytest.raises(ModbusError) as e:
                fn(*args)
            assert e.value.code == 2, (fn.__name__, args)
        # quantity out of range -> 03, unknown function -> 01
        for pdu, fc, code in [(struct.pack(">BHH", 3, 0, 0), 3, 3),
                              (struct.pack(">BHH", 4, 0, 126), 4, 3),
                              (struct.pack(">BHH", 1, 0, 1), 1, 1),
                              (struct.pack(">BHH", 5, 0, 0xff00), 5, 1),
                              (struct.pack(">BHHB", 16, 0, 2, 3) + b"\0" * 3,
                               16, 3)]:
            with pytest.raises(ModbusError) as e:
                m.request(pdu)
            assert (e.value.function, e.value.code) == (fc, code)
        # WATCHDOG_MS: 50..10000
        for bad in (0, 49, 10001, 65535):
            with pytest.raises(ModbusError) as e:
                m.write_register(100, bad)
            assert e.value.code == 3
            with pytest.raises(ModbusError) as e:
                m.write_registers(100, [bad])
            assert e.value.code == 3
        m.write_register(100, 50)
        m.write_registers(100, [10000])
        assert m.read_holding(100, 1) == [10000]
    assert sim.get(0)["exceptions"] >= 17


# -- physics -----------------------------------------------------------------

def test_pressure_follows_setpoint_with_time_constant(make_sim):
    tau = 0.150

    def first_order(t, target):
        return target * (1 - math.exp(-max(t, 0) / tau))

    sim = make_sim(controllers=[dict(channels=3, tau_ms=150)])
    with sim.client(0) as m:
        tw = time.monotonic()
        enable(m, 3, [20.0, 10.0, 0.0])
        t0 = time.monotonic()
        samples = []
        hb = 2
        while time.monotonic() - t0 < 3 * tau:
            m.write_register(1, hb)
            hb += 1
            tb = time.monotonic()
            p = m.read_input(2, 3)
            samples.append((tb - t0, time.monotonic() - tw, p))
            time.sleep(0.01)
        # every reading lies on the first-order curve, whatever the timing
        # of this test: the physics ran between the write and the read
        for lo_t, hi_t, p in samples:
            assert first_order(lo_t, 200) - 2 <= p[0] <= \
                first_order(hi_t, 200) + 2, (lo_t, hi_t, p)
            assert first_order(lo_t, 100) - 2 <= p[1] <= \
                first_order(hi_t, 100) + 2, (lo_t, hi_t, p)
            assert p[2] == 0
        assert len(samples) >= 5
        # after three time constants: within 10 % of the setpoint
        p = m.read_input(2, 3)
        assert 180 <= p[0] <= 200 and 90 <= p[1] <= 100 and p[2] == 0, p
        assert status(m) == ST_READY | ST_ACTIVE


def test_enable_zero_vents_at_once(make_sim):
    sim = make_sim(controllers=[dict(channels=4, tau_ms=20, vent_tau_ms=40)])
    with sim.client(0) as m:
        enable(m, 4, [30.0, 20.0, 10.0, 5.0])
        wait_for(lambda: m.read_input(2, 1)[0] >= 280, 2, what="rise")
        t_off = monotonic_ns()
        m.write_register(0, 0)
        assert not status(m) & ST_ACTIVE
        wait_for(lambda: max(m.read_input(2, 4)) < 5, 1, what="vent")
        # setpoints are kept, only ignored
        assert m.read_holding(2, 4) == [300, 200, 100, 50]
    vent = sim.wait_event("vent", after_ns=t_off)
    assert vent["reason"] == "disable"
    vented = sim.wait_event("vented", after_ns=t_off)
    # 30 kPa -> 0.5 kPa with tau 40 ms: ln(60) * 40 = 164 ms
    assert 0.12 < (vented.ns - vent.ns) / 1e9 < 0.4
    assert abs(float(vented["ms"]) - (vented.ns - vent.ns) / 1e6) < 1


def test_stuck_channel_freezes(make_sim):
    sim = make_sim(controllers=[dict(channels=2, tau_ms=300)])
    with sim.client(0) as m:
        enable(m, 2, [30.0, 30.0])
        wait_for(lambda: m.read_input(2, 1)[0] >= 50, 2)
        assert sim.ok("stick 0 0 on") == ""
        frozen = m.read_input(2, 1)[0]
        time.sleep(0.2)
        m.write_register(1, 2)
        p = m.read_input(2, 2)
        assert abs(p[0] - frozen) <= 1 and p[1] > p[0] + 20, p
        assert sim.get(0)["stuck"] == [True, False]
        sim.ok("stick 0 all off")
        wait_for(lambda: m.read_input(2, 1)[0] > frozen + 20, 2)
        with pytest.raises(SimError):
            sim.ok("stick 0 2 on")


# -- watchdog and faults -----------------------------------------------------

def test_watchdog_trips_when_heartbeat_stops(make_sim):
    sim = make_sim(controllers=[dict(channels=2, tau_ms=20)])
    with sim.client(0) as m:
        m.write_register(100, 100)
        enable(m, 2, [10.0, 10.0], hb=1)
        # a changing heartbeat keeps it alive for 3 watchdog periods
        for hb in range(2, 17):
            time.sleep(0.02)
            m.write_registers(0, [ENABLE, hb, 100, 100])
        assert status(m) & ST_ACTIVE and m.read_input(1, 1) == [0]
        m.write_registers(0, [ENABLE, 16, 100, 100])   # same value: no feed
        wd = sim.wait_event("watchdog", timeout=2)
        last = [e for e in sim.events("fc16")
                if e["heartbeat"] == "16"][0]
        assert 0.1 <= (wd.ns - last.ns) / 1e9 < 0.2
        st, code = m.read_input(0, 2)
        assert code == 1
        assert st == ST_READY | ST_FAULT | ST_WATCHDOG
        wait_for(lambda: max(m.read_input(2, 2)) < 5, 1, what="vent")
        assert sim.wait_event("fault")["code"] == "1"
        assert sim.wait_event("vent")["reason"] == "fault"


def test_watchdog_idle_while_disabled(make_sim):
    sim = make_sim(controllers=[dict(channels=1, watchdog_ms=50)])
    with sim.client(0) as m:
        assert m.read_holding(100, 1) == [50]
        time.sleep(0.2)
        assert m.read_input(0, 2) == [ST_READY, 0]
        # enabling starts the period afresh, it does not trip at once
        m.write_registers(0, [ENABLE, 0, 0])
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]
        wait_for(lambda: m.read_input(1, 1) == [1], 1, what="watchdog")


def test_setpoint_above_max_refused_whole_write(make_sim):
    sim = make_sim(controllers=[dict(channels=3, max_kpa=30)])
    with sim.client(0) as m:
        m.write_registers(0, [0, 5, 100, 200, 300])     # 300 = max: fine
        for regs in ([ENABLE, 6, 100, 301, 0], [ENABLE, 6, 65535, 0, 0]):
            with pytest.raises(ModbusError) as e:
                m.write_registers(0, regs)
            assert e.value.code == 3
        with pytest.raises(ModbusError) as e:
            m.write_register(4, 301)
        assert e.value.code == 3
        assert m.read_holding(0, 5) == [0, 5, 100, 200, 300]
        assert status(m) == ST_READY
    st = sim.get(0)
    assert st["setpoints"] == [10.0, 20.0, 30.0] and st["writes"] == 1
    assert [e["code"] for e in sim.events("exception")] == ["3", "3", "3"]


def test_overpressure_latches_fault_2(make_sim):
    sim = make_sim(controllers=[dict(channels=2, max_kpa=40)])
    with sim.client(0) as m:
        enable(m, 2, [10.0, 10.0])
        sim.ok("overpressure 0 1")
        st, code = m.read_input(0, 2)
        assert code == 2 and st & ST_FAULT and not st & ST_ACTIVE
        # the reading falls as it vents; once below MAX a reset clears it
        wait_for(lambda: max(m.read_input(2, 2)) < 5, 1, what="vent")
        m.write_registers(0, [ENABLE | FAULT_RESET, 2, 100, 100])
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]
        # a stuck sensor above MAX: reset refused until it comes down
        sim.ok("stick 0 0 on")
        sim.ok("overpressure 0 0")
        assert m.read_input(1, 2)[:2] == [2, 440]
        m.write_registers(0, [ENABLE, 3, 100, 100])
        m.write_registers(0, [ENABLE | FAULT_RESET, 4, 100, 100])
        assert m.read_input(1, 1) == [2]
        assert sim.events("reset_refused")
        sim.ok("stick 0 0 off")
        wait_for(lambda: m.read_input(2, 1)[0] < 5, 1, what="vent")
        m.write_registers(0, [ENABLE, 5, 100, 100])
        m.write_registers(0, [ENABLE | FAULT_RESET, 6, 100, 100])
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]


def test_estop_fault_3_resets_only_after_release(make_sim):
    sim = make_sim(controllers=[dict(channels=2, tau_ms=20)])
    with sim.client(0) as m:
        enable(m, 2, [20.0, 20.0])
        wait_for(lambda: m.read_input(2, 1)[0] > 150, 1)
        t = monotonic_ns()
        sim.ok("estop 0 on")
        st, code = m.read_input(0, 2)
        assert code == 3 and st == ST_READY | ST_FAULT | ST_ESTOP
        assert sim.wait_event("vent", after_ns=t)["reason"] == "fault"
        wait_for(lambda: max(m.read_input(2, 2)) < 5, 1, what="vent")
        # reset while the circuit is open: refused
        m.write_registers(0, [ENABLE | FAULT_RESET, 2, 200, 200])
        assert m.read_input(0, 2) == [ST_READY | ST_FAULT | ST_ESTOP, 3]
        sim.ok("estop 0 off")
        # closed again, but still latched until a reset edge
        m.write_registers(0, [ENABLE | FAULT_RESET, 3, 200, 200])
        time.sleep(0.05)
        assert m.read_input(0, 2) == [ST_READY | ST_FAULT, 3]
        assert max(m.read_input(2, 2)) < 5
        m.write_registers(0, [ENABLE, 4, 200, 200])
        m.write_registers(0, [ENABLE | FAULT_RESET, 5, 200, 200])
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]
        wait_for(lambda: m.read_input(2, 1)[0] > 100, 1, what="rise")
    codes = [e["code"] for e in sim.events("reset")]
    assert codes == ["3"]


def test_fault_reset_edge_and_enable(make_sim):
    sim = make_sim(controllers=[dict(channels=1, watchdog_ms=100)])
    with sim.client(0) as m:
        # FAULT_RESET held high from the start: no edge when the fault comes
        m.write_registers(0, [ENABLE | FAULT_RESET, 1, 100])
        wait_for(lambda: m.read_input(1, 1) == [1], 1, what="watchdog")
        for hb in range(2, 6):
            m.write_registers(0, [ENABLE | FAULT_RESET, hb, 100])
        assert m.read_input(0, 2) == [ST_READY | ST_FAULT | ST_WATCHDOG, 1]
        # edge with ENABLE=0: fault cleared, but still vented
        m.write_registers(0, [0, 6, 100])
        m.write_registers(0, [FAULT_RESET, 7, 100])
        assert m.read_input(0, 2) == [ST_READY, 0]
        wait_for(lambda: m.read_input(2, 1)[0] < 5, 1, what="vent")
        time.sleep(0.05)
        st, code, p = m.read_input(0, 3)
        assert (st, code) == (ST_READY, 0) and p < 5
        # ENABLE=1 again: follows the setpoint
        m.write_registers(0, [ENABLE, 8, 100])
        assert status(m) == ST_READY | ST_ACTIVE
        wait_for(lambda: m.read_input(2, 1)[0] > 20, 1, what="rise")
        # FC6 edges count too
        m.write_register(0, ENABLE)
        wait_for(lambda: m.read_input(1, 1) == [1], 1, what="watchdog")
        m.write_register(0, ENABLE | FAULT_RESET)
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]


def test_sensor_fault_4_and_client_stop(make_sim):
    sim = make_sim(controllers=[dict(channels=1)])
    with sim.client(0) as m:
        enable(m, 1, [5.0])
        sim.ok("client_stop 0 on")
        assert status(m) == ST_READY | ST_ACTIVE | ST_CLIENT_STOP
        sim.ok("client_stop 0 off")
        assert status(m) == ST_READY | ST_ACTIVE
        sim.ok("sensor_fault 0 on")
        assert m.read_input(0, 2) == [ST_READY | ST_FAULT, 4]
        m.write_registers(0, [0, 2, 50])
        m.write_registers(0, [ENABLE | FAULT_RESET, 3, 50])
        assert m.read_input(1, 1) == [4]
        sim.ok("sensor_fault 0 off")
        m.write_registers(0, [ENABLE, 4, 50])
        m.write_registers(0, [ENABLE | FAULT_RESET, 5, 50])
        assert m.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]


# -- link fault injection ----------------------------------------------------

def test_hang_discards_requests(make_sim):
    sim = make_sim(controllers=[dict(channels=1)])
    with sim.client(0, timeout=0.3) as m:
        sim.ok("hang 0 400")
        t0 = time.monotonic()
        with pytest.raises(socket.timeout):
            m.read_input(0, 1)
        assert sim.events("discard")[0]["reason"] == "hang"
        assert sim.get(0)["hang"] is True
    time.sleep(max(0, 0.45 - (time.monotonic() - t0)))
    with sim.client(0) as m:
        assert m.read_input(100, 1) == [1]
        sim.ok("hang 0 -1")
    with sim.client(0, timeout=0.2) as m:
        with pytest.raises(socket.timeout):
            m.read_input(0, 1)
        sim.ok("hang 0 0")
    with sim.client(0) as m:
        assert m.read_input(100, 1) == [1]


def test_delay_replies_later_without_blocking_others(make_sim):
    sim = make_sim(controllers=[dict(channels=1), dict(channels=1)])
    a, b = sim.client(0), sim.client(1)
    try:
        sim.ok("delay 0 250")
        t0 = time.monotonic()
        a.send_request(struct.pack(">BHH", 4, 100, 1))
        a.send_request(struct.pack(">BHH", 6, 1, 7))
        # the other controller answers at once meanwhile
        assert b.read_input(100, 1) == [1]
        assert time.monotonic() - t0 < 0.1
        tid, _, rsp = a.recv_adu()
        t1 = time.monotonic() - t0
        assert 0.24 <= t1 < 0.5 and rsp[0] == 4 and tid == 1
        tid, _, rsp = a.recv_adu()
        assert tid == 2 and rsp[0] == 6
        # the write took effect when answered
        assert sim.get(0)["heartbeat"] == 7
        sim.ok("delay 0 0")
        t0 = time.monotonic()
        assert a.read_input(100, 1) == [1]
        assert time.monotonic() - t0 < 0.1
    finally:
        a.close()
        b.close()
    req = sim.events("fc4", c=0)[0]
    rep = sim.events("reply", c=0)[0]
    assert 0.245 <= (rep.ns - req.ns) / 1e9 < 0.4


def test_exception_injection(make_sim):
    sim = make_sim(controllers=[dict(channels=2)])
    with sim.client(0) as m:
        sim.ok("exception 0 6")
        for fn, args in [(m.read_input, (0, 1)), (m.read_holding, (0, 1)),
                         (m.write_register, (1, 1))]:
            with pytest.raises(ModbusError) as e:
                fn(*args)
            assert e.value.code == 6
        sim.ok("exception 0 off")
        assert m.read_holding(1, 1) == [0]     # the write was not applied
    assert sim.cmd("exception 0 12").startswith("err ")


def test_drop_and_refuse(make_sim):
    sim = make_sim(controllers=[dict(channels=1)])
    m1, m2 = sim.client(0), sim.client(0)
    try:
        assert m1.read_input(100, 1) == [1] and m2.read_input(100, 1) == [1]
        assert sim.get(0)["clients"] == 2
        assert sim.ok("drop 0") == "dropped=2"
        for m in (m1, m2):
            with pytest.raises((ConnectionError, OSError)):
                m.read_input(100, 1)
    finally:
        m1.close()
        m2.close()
    sim.wait_for(lambda: sim.get(0)["clients"] == 0, 2)
    keep = sim.client(0)
    try:
        assert keep.read_input(100, 1) == [1]     # accepted before refusing
        sim.ok("refuse 0 on")
        # new connections are reset at once...
        with pytest.raises((ConnectionError, OSError)):
            m = sim.client(0)
            try:
                m.read_input(100, 1)
            finally:
                m.close()
        # ...existing ones keep working
        assert keep.read_input(100, 1) == [1]
        sim.ok("refuse 0 off")
        with sim.client(0) as m:
            assert m.read_input(100, 1) == [1]
    finally:
        keep.close()
    assert sim.events("refused")
    assert [e["reason"] for e in sim.events("disconnect")][:2] == ["drop",
                                                                   "drop"]


def test_malformed_frames_never_crash(make_sim):
    sim = make_sim(controllers=[dict(channels=2)])
    junk = [b"\xff" * 300, b"\x00\x01\x00\x05\x00\x06\x01\x03\x00\x00\x00\x01",
            b"\x00\x01\x00\x00\x00\x00\x01", b"\x00\x01\x00\x00\x00\x01\x01",
            b"\x00\x01\x00\x00\xff\xff\x01\x03", b"\x00\x01\x00",
            b"\x00\x01\x00\x00\x00\x03\x01\x03\x00"]
    for data in junk:
        s = socket.create_connection(("127.0.0.1", sim.ports[0]), timeout=1)
        try:
            s.sendall(data)
            time.sleep(0.02)
        finally:
            s.close()
    with sim.client(0) as m:
        # short PDUs and byte-count mismatches are answered 03
        for pdu in (b"\x03\x00", b"\x10\x00\x00\x00\x01\x02\x00",
                    b"\x10\x00\x00\x00\x02\x02\x00\x00",
                    b"\x06\x00\x00\x00\x00\x00"):
            with pytest.raises(ModbusError) as e:
                m.request(pdu)
            assert e.value.code == 3
        with pytest.raises(ModbusError) as e:
            m.request(b"\x2b\x0e\x01\x00")
        assert e.value.code == 1
        # pipelined requests in one segment are all answered, in order
        frames = b"".join(struct.pack(">HHHBBHH", t, 0, 6, 1, 4, 100, 1)
                          for t in (10, 11, 12))
        m.send_raw(frames)
        assert [m.recv_adu()[0] for _ in range(3)] == [10, 11, 12]
        assert m.read_input(100, 3) == [1, 2, 400]
    assert sim.alive()
    assert sim.events("bad_frame")


# -- several controllers, clients, event log ----------------------------------

def test_two_controllers_are_independent(make_sim):
    sim = make_sim(controllers=[dict(channels=2, tau_ms=20),
                                dict(channels=3, max_kpa=20, tau_ms=20)])
    a, b = sim.client(0), sim.client(1)
    try:
        enable(a, 2, [30.0, 30.0])
        enable(b, 3, [20.0, 20.0, 20.0])
        sim.ok("estop 1 on")
        assert a.read_input(0, 2) == [ST_READY | ST_ACTIVE, 0]
        assert b.read_input(0, 2) == [ST_READY | ST_FAULT | ST_ESTOP, 3]
        wait_for(lambda: a.read_input(2, 1)[0] > 250, 1)
        wait_for(lambda: max(b.read_input(2, 3)) < 5, 1, what="b vents")
        assert a.read_input(0, 1) == [ST_READY | ST_ACTIVE]
        with pytest.raises(ModbusError):
            b.write_register(2, 300)        # over controller 1's MAX only
        a.write_register(2, 300)
        both = sim.get("all")
        assert [s["controller"] for s in both] == [0, 1]
        assert both[0]["setpoints"] == [30.0, 30.0]
        assert both[1]["setpoints"] == [20.0, 20.0, 20.0]
        assert both[0]["estop"] is False and both[1]["estop"] is True
        sim.ok("estop all off")
        assert sim.get(1)["estop"] is False
    finally:
        a.close()
        b.close()


def test_several_clients_per_controller(make_sim):
    sim = make_sim(controllers=[dict(channels=1)])
    clients = [sim.client(0) for _ in range(4)]
    try:
        for i, m in enumerate(clients):
            m.write_register(1, i + 10)
        for m in clients:
            assert m.read_holding(1, 1) == [13]
        st = sim.get(0)
        assert st["clients"] == 4 and st["writes"] == 4
    finally:
        for m in clients:
            m.close()
    sim.wait_for(lambda: sim.get(0)["clients"] == 0, 2)
    ids = {e["cl"] for e in sim.events("connect")}
    assert len(ids) == 4


def test_event_log_format_and_clock(make_sim):
    sim = make_sim(controllers=[dict(channels=2)])
    with sim.client(0) as m:
        t0 = monotonic_ns()
        m.write_registers(0, [ENABLE, 42, 120, 0])
        t1 = monotonic_ns()
        m.write_register(0, 0)
        m.read_input(0, 4)
        m.read_holding(0, 4)
    ev = sim.wait_for(lambda: sim.events("disconnect") and sim.events(),
                      what="disconnect")
    ns = [e.ns for e in ev]
    assert ns == sorted(ns)
    w = sim.events("fc16")[0]
    assert t0 <= w.ns <= t1
    assert w.line.split()[2:] == ["fc16", "control=1", "heartbeat=42",
                                  "sp=12.0,0.0", "cl=1"]
    assert sim.events("fc6")[0].line.split()[2:5] == ["fc6", "addr=0",
                                                      "value=0"]
    assert sim.events("fc4")[0]["n"] == "4"
    assert sim.events("fc3")[0]["addr"] == "0"
    kinds = [e.kind for e in ev]
    for k in ("connect", "fc16", "active", "reply", "fc6", "vent", "vented",
              "fc4", "fc3", "disconnect"):
        assert k in kinds, k
    sim.ok("estop 0 on")
    ctl = sim.wait_event("ctl")
    assert ctl.args == ["estop", "on"]


# -- RTU -------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("socat") is None, reason="socat missing")
def test_rtu_over_pty_pair(make_sim, tmp_path):
    with PtyPair(tmp_path) as pty:
        sim = make_sim(controllers=[dict(channels=2)],
                       rtu=dict(rtu=pty.a, unit_id=5, channels=4, max_kpa=30,
                                baud=115200, parity="E"))
        assert sim.addresses[1] == ("rtu", pty.a)
        assert sim.ports[1] is None
        with ModbusRtu(pty.b, unit=5, timeout=1.0) as r:
            assert r.read_input(100, 3) == [1, 4, 300]
            r.write_registers(0, [ENABLE, 1, 100, 200, 300, 0])
            assert r.read_holding(0, 6) == [ENABLE, 1, 100, 200, 300, 0]
            with pytest.raises(ModbusError) as e:
                r.write_register(2, 301)
            assert e.value.code == 3
            with pytest.raises(ModbusError) as e:
                r.read_input(6, 1)
            assert e.value.code == 2
            wait_for(lambda: r.read_input(2, 1)[0] > 50, 1, what="rise")
            # another unit id: silence
            r.send_raw(rtu_frame(6, struct.pack(">BHH", 4, 100, 1)))
            with pytest.raises(TimeoutError):
                r.recv_response(timeout=0.3)
            # a bad CRC: silence, and the next frame is fine
            bad = bytearray(rtu_frame(5, struct.pack(">BHH", 4, 100, 1)))
            bad[-1] ^= 0xff
            r.send_raw(bytes(bad))
            with pytest.raises(TimeoutError):
                r.recv_response(timeout=0.3)
            assert r.read_input(101, 1) == [4]
            # broadcast write: applied, not answered
            r.send_raw(rtu_frame(0, struct.pack(">BHH", 6, 0, 0)))
            with pytest.raises(TimeoutError):
                r.recv_response(timeout=0.3)
            assert r.read_holding(0, 1) == [0]
            # injections apply to RTU as well
            sim.ok("exception 1 4")
            with pytest.raises(ModbusError) as e:
                r.read_input(0, 1)
            assert e.value.code == 4
            sim.ok("exception 1 off")
            sim.ok("hang 1 -1")
            r.send_raw(rtu_frame(5, struct.pack(">BHH", 4, 0, 1)))
            with pytest.raises(TimeoutError):
                r.recv_response(timeout=0.3)
            sim.ok("hang 1 0")
            assert r.read_input(100, 1) == [1]
        # the TCP controller of the same process is unaffected
        with sim.client(0) as m:
            assert m.read_input(100, 3) == [1, 2, 400]
        kinds = {e.kind for e in sim.events(c=1)}
        assert {"fc16", "fc4", "fc3", "fc6", "ignore", "bad_frame",
                "exception", "discard"} <= kinds
        sim.stop()


# -- process -----------------------------------------------------------------

@pytest.mark.parametrize("how", ["quit", signal.SIGTERM, signal.SIGINT])
def test_clean_exit(make_sim, how):
    sim = make_sim(controllers=[dict(channels=1)])
    with sim.client(0) as m:
        m.read_input(0, 1)
        if how == "quit":
            ans, rc = sim.quit()
            assert ans == "ok bye"
        else:
            os.kill(sim.pid, how)
            rc = sim.proc.wait(timeout=5)
    assert rc == 0, sim.stderr()
    assert "ERROR" not in sim.stderr() and "Sanitizer" not in sim.stderr()


def test_control_errors(make_sim):
    sim = make_sim(controllers=[dict(channels=2)])
    for line in ("frobnicate", "estop", "estop 2 on", "estop 0 maybe",
                 "hang 0 -2", "delay 0 x", "stick 0 5 on", "overpressure 0 9",
                 "get", "get 1", "exception 0 0x1", ""):
        assert sim.cmd(line).startswith("err "), line
    assert sim.cmd("ping") == "ok pong"
    assert "estop C on|off" in sim.cmd("help")
    # the socket still serves after errors, and a second client works too
    other = socket.create_connection(("127.0.0.1", sim.control_port), 2)
    try:
        other.sendall(b"get 0\r\n")
        assert other.recv(65536).startswith(b"ok {")
    finally:
        other.close()


def test_command_line(tmp_path):
    binary = sim_binary()
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         timeout=5)
    assert out.returncode == 0
    for opt in ("--tcp", "--rtu", "--channels", "--max-kpa", "--tau-ms",
                "--vent-tau-ms", "--unit-id", "--map-version", "--baud",
                "--parity", "--data-bits", "--stop-bits", "--control",
                "--events"):
        assert opt in out.stdout, opt
    out = subprocess.run([binary, "-V"], capture_output=True, text=True,
                         timeout=5)
    assert out.returncode == 0 and out.stdout.startswith("massaged-sim ")
    for bad in (["--channels", "33", "--tcp", "0"], ["--channels", "0"],
                ["--max-kpa", "abc"], ["--parity", "X"],
                ["--tcp", "127.0.0.1:70000"], ["--watchdog-ms", "20"],
                ["--rtu", str(tmp_path / "no-such-tty")], ["extra"]):
        out = subprocess.run([binary, "--control", "127.0.0.1:0"] + bad,
                             capture_output=True, text=True, timeout=5)
        assert out.returncode == 1, bad
        assert "ready" not in out.stdout
        assert out.stderr.strip(), bad


# -- the control client (massaged-sim --control-cmd) ---------------------------

def control_cmd(sim, *cmds, stdin=None, port=None):
    return subprocess.run(
        [sim_binary(), "--control-cmd",
         "127.0.0.1:%d" % (port or sim.control_port)] + list(cmds),
        input=stdin, capture_output=True, text=True, timeout=30)


def test_control_cmd_sends_commands_and_prints_answers(tmp_path):
    with Sim(tmp_path) as sim:
        r = control_cmd(sim, "estop 0 on", "get 0")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "ok"
        assert json.loads(lines[1][3:])["estop"] is True
        assert sim.get(0)["estop"] is True
        # With no command arguments, one command per line of stdin.
        r = control_cmd(sim, stdin="estop 0 off\n\nping\n")
        assert (r.returncode, r.stdout) == (0, "ok\nok pong\n"), r.stderr
        assert sim.get(0)["estop"] is False


def test_control_cmd_exit_status(tmp_path):
    with Sim(tmp_path) as sim:
        r = control_cmd(sim, "ping", "estop 7 on", "ping")
        assert r.returncode == 1
        assert r.stdout.splitlines()[0] == "ok pong"
        assert r.stdout.splitlines()[1].startswith("err bad controller")
        assert r.stdout.splitlines()[2] == "ok pong"
        port = sim.control_port
    r = control_cmd(None, "ping", port=port)
    assert r.returncode == 2 and r.stdout == ""
    assert "Connection refused" in r.stderr
    r = subprocess.run([sim_binary(), "--control-cmd", "nowhere", "ping"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--control-cmd" in r.stderr
