"""devtable: tables of described devices (kind = device, docs/devices.md)
on the simulator's device personalities, for test_devices.py and
test_devices_programs.py.

    with DeviceTable(tmp_path, "wago") as t:     # or "rs485"
        t.d.wait_ready()                         # a daemon.Daemon
        limits = t.start("dev_test", "dev")      # zone -> kPa
        t.wait_pressure(3.0)
        t.check_wire(limits, ramp_kpa_s=6)       # the raw counts on the wire

Two layouts of each kind of shipped hardware:

  "example"  the tables of config/examples: one controller "pelvis" of 8
             zones. wago: a WAGO 750-352 coupler on TCP (simulator
             controller 0). rs485: rs485-ao8 (unit 1, simulator controller
             0), rs485-ai8 (unit 2, controller 1) as its sensors and
             rs485-relay (unit 3, controller 2) as its interlock on one RTU
             line (a socat pty pair), at the example's 25 Hz.
  "demo"     the demo table's 26 zones (config/massaged.ini), so that the
             shipped programs and profiles load: pelvis (16 channels) and
             legs (10) each split over two 8-channel devices. wago: four
             couplers, each on its own TCP port. rs485: two RTU lines, each
             with two AO + AI + relay sets (units 1-3 and 4-6), 20 Hz (two
             controllers' 22 ms of line time a tick at 115200 baud).

Raw counts are read from the simulator's event log (the device's own
fc16 of its outputs, and for the WAGO the tick number in the watchdog's
feed) and converted with the description's own [ao] map.

Every process is started in the test's directory and stopped by its PID.
"""

import configparser
import contextlib
import math
import os
import time

from daemon import DEVICES, REPO, Daemon, demo_table, threads
from simctl import PtyPair, Sim

__all__ = ["DeviceTable", "Description", "EXAMPLES", "DEV_PROFILE",
           "DEV_PROGRAM", "SLACK_S", "VENTED_KPA", "RT_MS", "WD_MS",
           "DROPOUT_MS", "KINDS"]

EXAMPLES = os.path.join(REPO, "config", "examples")
KINDS = ("wago", "rs485")
RT_MS = 50              # response_timeout_ms, as the example tables
WD_MS = 500             # the WAGO's watchdog_ms, as table-wago.ini
DROPOUT_MS = 200        # rs485-relay.ini's dropout_ms
SLACK_S = 2.0           # scheduling slack of a shared, loaded machine
VENTED_KPA = 0.5
BAUD = 115200
WAGO_FEED = 0x1003      # wago-750-352.ini [watchdog] feed

# A profile whose caps a program at 20 kPa reaches within seconds, so
# that the limits bite on the wire (zones of the example tables).
DEV_PROFILE = """\
[client]
name = Device tests: caps that bite
conditions = none

[limits]
cap_kpa = 12
ramp_kpa_s = 6
max_session_min = 60
intensity = 100

[zone_caps]
piriformis_* = 8
"""

DEV_PROGRAM = """\
[program]
name = Device tests: kneading above the caps
description = Kneading at 20 kPa on every zone of the example tables.

[step knead]
routine = swedish
duration_s = 120
zones = gluteus_*, piriformis_*
stroke = kneading
pressure_kpa = 20
"""


def _ini(path):
    cp = configparser.ConfigParser(interpolation=None, strict=True,
                                   inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"))
    cp.optionxform = str
    with open(path) as f:
        cp.read_file(f)
    return cp


class AoMap:
    """One [ao]: its map from kPa to raw counts, safe value, raw range."""

    def __init__(self, name, sect):
        pts = [[float(x) for x in p.split("->")]
               for p in sect["map"].split(",")]
        (self.k0, self.r0), (self.k1, self.r1) = pts
        self.name = name
        self.safe = float(sect["safe"])
        self.slope = (self.r1 - self.r0) / (self.k1 - self.k0)
        self.count_kpa = abs(1 / self.slope)

    def kpa(self, raw):
        return self.k0 + (raw - self.r0) / self.slope

    def raw(self, kpa):
        """The highest raw count at or below kpa (towards less pressure,
        as the daemon rounds)."""
        return math.floor(self.r0 + (kpa - self.k0) * self.slope + 1e-9)


class Description:
    """What the tests need of a device description: its [ao] maps in
    order and its vent valve (a [do] with role = vent_valve)."""

    def __init__(self, path):
        cp = _ini(path)
        self.path = path
        self.name = cp["device"]["name"]
        self.ao = [AoMap(s[3:], cp[s]) for s in cp.sections()
                   if s.startswith("ao ")]
        self.vent = None
        for s in cp.sections():
            if s.startswith("do ") and cp[s]["role"] == "vent_valve":
                reg = cp[s]["register"]
                self.vent = (int(reg, 0), int(cp[s]["active"]))


def _example_ctl(name):
    """The [controller pelvis] of an example table, its descriptions by
    file name (daemon.py finds them in config/devices)."""
    (_, c), = demo_table(os.path.join(EXAMPLES, name))[0]
    for k in ("device", "sensors", "interlock"):
        if k in c:
            c[k] = os.path.basename(c[k])
    c.pop("address", None)
    return c


def _example_zones(name):
    return demo_table(os.path.join(EXAMPLES, name))[1]


def _split_demo_zones():
    """The demo table's zones over 8-channel devices: pelvis channel ch
    on pelvis_a (ch < 8) or pelvis_b (ch - 8), legs likewise."""
    out = []
    for name, z in demo_table()[1]:
        z = dict(z)
        ch = int(z["channel"])
        z["controller"] = "%s_%s" % (z["controller"], "ab"[ch // 8])
        z["channel"] = str(ch % 8)
        out.append((name, z))
    return out


class DeviceTable:
    """A simulator with device personalities and a daemon driving them.

    kind: "wago" or "rs485"; layout: "example" or "demo" (above).
    device: a description path replacing the device part's (a lying one).
    drop: keys left out of each controller (e.g. its interlock).
    sim_cmds: control commands sent before the daemon starts.
    start: False to start the daemon later (t.d.start()).
    Other keywords go to daemon.Daemon.
    """

    def __init__(self, tmp_path, kind, layout="example", device=None,
                 drop=(), sim_cmds=(), start=True, **dkw):
        self.kind = kind
        self.layout = layout
        self._stack = contextlib.ExitStack()
        try:
            self._setup(tmp_path, device, drop, sim_cmds, start, dkw)
        except BaseException:
            self._stack.close()
            raise

    def _setup(self, tmp_path, device, drop, sim_cmds, start, dkw):
        ex = "table-%s.ini" % ("wago" if self.kind == "wago" else "rs485")
        base = _example_ctl(ex)
        if device is not None:
            base["device"] = device
        for k in drop:
            base.pop(k, None)
        nctl = 1 if self.layout == "example" else 4
        names = ["pelvis"] if nctl == 1 else \
            ["pelvis_a", "pelvis_b", "legs_a", "legs_b"]
        sims, ctls, lines = [], [], []
        self.ao_sim, self.relay_sim = [], []
        if self.kind == "wago":
            self.tick_hz = 50
            for n in names:
                self.ao_sim.append(len(sims))
                self.relay_sim.append(None)
                sims.append(dict(personality="wago-750-352"))
                ctls.append((n, dict(base)))
        else:
            self.tick_hz = 25 if nctl == 1 else 20
            lines = [self._stack.enter_context(PtyPair(tmp_path))
                     for _ in range((nctl + 1) // 2)]
            for i, n in enumerate(names):
                line = lines[i // 2]
                u = 1 + 3 * (i % 2)
                self.ao_sim.append(len(sims))
                self.relay_sim.append(len(sims) + 2)
                for k, p in enumerate(("rs485-ao8", "rs485-ai8",
                                       "rs485-relay")):
                    sims.append(dict(rtu=line.a, unit_id=u + k,
                                     personality=p, baud=BAUD))
                c = dict(base, serial=line.b, unit_id=str(u))
                for k, key in ((1, "sensors"), (2, "interlock")):
                    if key in c:
                        c[key + "_unit_id"] = str(u + k)
                ctls.append((n, c))
        self.lines = lines
        self.sim = self._stack.enter_context(Sim(tmp_path, controllers=sims))
        for cmd in sim_cmds:
            self.sim.ok(cmd)
        self.desc = [Description(c["device"] if os.sep in c["device"]
                                 else os.path.join(DEVICES, c["device"]))
                     for _, c in ctls]
        if self.layout == "example":
            zones = _example_zones(ex)
            dkw.setdefault("copy_profiles", False)
            dkw.setdefault("copy_programs", False)
            profiles = {"standard": open(os.path.join(
                EXAMPLES, "profiles", "standard.ini")).read(),
                "dev": DEV_PROFILE}
            programs = {"gluteal_trigger_points": open(os.path.join(
                EXAMPLES, "programs", "gluteal_trigger_points.ini")).read(),
                "dev_test": DEV_PROGRAM}
            profiles.update(dkw.pop("profiles", None) or {})
            programs.update(dkw.pop("programs", None) or {})
            dkw["profiles"], dkw["programs"] = profiles, programs
        else:
            zones = _split_demo_zones()
        dkw.setdefault("tick_hz", self.tick_hz)
        dkw.setdefault("watchdog_ms", WD_MS)
        dkw.setdefault("response_timeout_ms", RT_MS)
        self.tick_hz = dkw["tick_hz"]
        self.d = Daemon(tmp_path, self.sim, controllers=ctls, zones=zones,
                        start=start, **dkw)
        self._stack.callback(self.d.stop)
        self.zone_at = {(z["controller"], int(z["channel"])): name
                        for name, z in zones}
        self.names = names

    def close(self):
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the daemon -----------------------------------------------------------

    def start(self, program="dev_test", profile="dev"):
        """Starts a session; returns its limits (zone -> kPa)."""
        r = self.d.request("POST", "/api/v1/session",
                           {"program": program, "profile": profile})
        assert r.status == 201, r.text
        st = r.json()
        self.session_id = st["session_id"]
        return {z["name"]: z["limit_kpa"] for z in st["zones"]}

    def devices_first(self, nice=-10):
        """The simulator and the RS-485 lines' relays (socat) stand for
        hardware, which never waits for a CPU: on a shared machine they
        run at a higher priority (as root; nothing otherwise), so that the
        machine's load falls on the daemon under test, not on its
        devices. Every thread of each."""
        if os.geteuid() != 0:
            return
        for pid in [self.sim.pid] + [l.proc.pid for l in self.lines]:
            for tid in threads(pid):
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                except ProcessLookupError:
                    pass

    def finish(self):
        """Stops the daemon: exit 0, no sanitizer report."""
        rc = self.d.stop()
        assert rc == 0, self.d.logs()[-4000:]
        assert self.d.sanitizer_report() == ""

    # -- the simulator --------------------------------------------------------

    def pressures(self):
        """Every channel's measured pressure, controller by controller."""
        return [self.sim.get(i)["pressures"] for i in self.ao_sim]

    def wait_pressure(self, kpa=3.0, timeout=20):
        return self.sim.wait_for(
            lambda: max(max(p) for p in self.pressures()) >= kpa,
            timeout=timeout, what="%.1f kPa on a channel" % kpa)

    def wait_vented(self, timeout=SLACK_S):
        """Waits until every channel is below VENTED_KPA; the seconds."""
        t = time.monotonic()
        self.sim.wait_for(
            lambda: max(max(p) for p in self.pressures()) < VENTED_KPA,
            timeout=timeout, what="every channel below %.1f kPa"
            % VENTED_KPA)
        return time.monotonic() - t

    def input_sim(self):
        """The simulator controller with the e-stop circuit and client
        switch inputs: the coupler, or the relay module."""
        return self.ao_sim[0] if self.kind == "wago" else self.relay_sim[0]

    # -- the wire -------------------------------------------------------------

    def outputs(self, k, after_ns=0):
        """Every write of controller k's outputs after after_ns (the
        shipped descriptions' [ao] are holding registers 0 to 7): [ns,
        raw counts of every output, tick] (tick: the WAGO's watchdog feed
        written right after, the control tick's number; None on the
        RS-485 module). An FC06 of one output counts as a write of all,
        the others as last written."""
        out, last = [], [0] * len(self.desc[k].ao)
        for e in self.sim.events(c=self.ao_sim[k]):
            addr = e.get("addr")
            if e.kind == "fc16" and addr == "0":
                vals = [int(v) for v in e["values"].split(",")]
                last = vals + last[len(vals):]
            elif e.kind == "fc6" and addr is not None and \
                    int(addr) < len(last):
                last = list(last)
                last[int(addr)] = int(e["value"])
            else:
                if e.kind == "fc6" and addr == str(WAGO_FEED) and out \
                        and out[-1][2] is None and e.ns > after_ns:
                    out[-1][2] = int(e["value"])
                continue
            if e.ns > after_ns:
                out.append([e.ns, last, None])
        return out

    def check_wire(self, limits, ramp_kpa_s, after_ns=0):
        """Every raw count written to an output, over the event log: at
        or below the count of its zone's limit (limits: zone -> kPa, as
        the status gives them to 0.01 kPa) on the description's map, a
        channel without a zone at its safe value (or the proof's probe,
        one count above it); never rising faster than ramp_kpa_s, from
        one write to the next and over half a second of writes (the time
        between them on the wire or in ticks, whichever is longer, plus
        a tick and one count: a tick of slack between two writes alone
        would let a ramp of half the rate pass). Returns (writes checked,
        {zone: highest count written})."""
        n, peak = 0, {}
        for k, name in enumerate(self.names):
            hist = {}
            for ns, raws, tick in self.outputs(k, after_ns):
                for ch, raw in enumerate(raws):
                    zone = self.zone_at.get((name, ch))
                    self._check_count(k, ch, zone, raw, limits)
                    if zone is not None:
                        peak[zone] = max(peak.get(zone, 0), raw)
                    h = hist.setdefault(ch, [])
                    for p in (h[-1:] + h[:1]):
                        self._check_rise(k, ch, zone, p, (ns, raw, tick),
                                         ramp_kpa_s)
                    h.append((ns, raw, tick))
                    del h[:-int(self.tick_hz / 2)]
                n += 1
        assert n > 0, "no write of the outputs on the wire"
        return n, peak

    def _check_count(self, k, ch, zone, raw, limits):
        m = self.desc[k].ao[ch]
        cap = m.safe + 1
        if zone is not None:
            cap = max(cap, m.raw(limits[zone] + 0.005))
        assert raw <= cap, ("%s channel %d (%s): raw %d above %d (%.2f "
                            "kPa)" % (self.names[k], ch, zone, raw, cap,
                                      m.kpa(cap)))

    def _check_rise(self, k, ch, zone, p, q, ramp_kpa_s):
        """From write p to write q, each (ns, raw, tick)."""
        if q[1] <= p[1]:
            return
        m = self.desc[k].ao[ch]
        tick_s = 1.0 / self.tick_hz
        dt = (q[0] - p[0]) / 1e9
        if q[2] is not None and p[2] is not None:
            dt = max(dt, ((q[2] - p[2]) % 65536) * tick_s)
        rise = m.kpa(q[1]) - m.kpa(p[1])
        assert rise <= ramp_kpa_s * (dt + tick_s) + m.count_kpa + 1e-9, (
            "%s channel %d (%s) rose %d -> %d raw (%.2f kPa) in %.3f s"
            % (self.names[k], ch, zone, p[1], q[1], rise, dt))

    def driven(self, after_ns=0):
        """Writes after after_ns that ask for pressure: an output above
        its safe value by more than the proof's one-count probe."""
        return [(k, ns, raws) for k in range(len(self.names))
                for ns, raws, _ in self.outputs(k, after_ns)
                if any(r > m.safe + 1 for r, m in zip(raws,
                                                       self.desc[k].ao))]

    def vented_on_wire(self, k, after_ns):
        """When the wire took controller k's pressure off after after_ns:
        its outputs all at their safe value, and its vent valve (if it
        has one) venting; the later of the two, or None."""
        desc = self.desc[k]
        outs = [ns for ns, raws, _ in self.outputs(k, after_ns)
                if all(r == m.safe for r, m in zip(raws, desc.ao))]
        if not outs:
            return None
        if desc.vent is None:
            return outs[0]
        reg, level = desc.vent
        valve = [e.ns for e in self.sim.events("fc5", c=self.ao_sim[k])
                 if e.ns > after_ns and e.get("addr") == str(reg) and
                 e.get("value") == str(level)]
        return max(outs[0], valve[0]) if valve else None

    def wait_vent_on_wire(self, after_ns, timeout):
        """Waits until every controller's pressure is off on the wire;
        returns {controller name: ns}."""
        def all_vented():
            t = [self.vented_on_wire(k, after_ns)
                 for k in range(len(self.names))]
            return None if None in t else dict(zip(self.names, t))
        return self.sim.wait_for(all_vented, timeout=timeout,
                                 what="the vent on the wire")
