"""Every shipped program (config/programs/*.ini, with the shipped profile
`standard`) on a table built of described devices (devtable.py, layout
"demo": the demo table's 26 zones, the zones the shipped programs and
profiles name): four WAGO 750-352 couplers on Modbus TCP, and four sets
of RS-485 modules (analogue outputs without a watchdog, analogue inputs,
a relay interlock) on two RTU lines. The real daemon and simulator;
test_devices.py has the stop paths and the proof.

How much of each program runs, and why: each starts and runs until every
zone its first step names has been pressed on the wire by its stroke (a
setpoint of half the step's pressure at the profile's intensity), at
least MIN_RUN_S and at most MAX_RUN_S, then the operator stops it.
Every shipped program's first step is a Swedish warm-up of four or five
minutes over most of the program's zones (14 to 24 of the 26), so this
drives those channels of every device with a whole stroke. The later
steps (kneading, deep
tissue, trigger points, myofascial release) last minutes each, and their
routines refuse a shortened step (a trigger point hold does not fit in a
few seconds), so running them would take the whole program, half an
hour; their output reaches the devices through the same limit pipeline
and ramp, which the wire checks here and in test_devices.py hold.

Throughout: no fault, no stop but the operator's, the records say so,
and the wire checks of test_devices.py over every session: no raw count
above its zone's limit on the description's map, none rising faster
than the profile's ramp.
"""

import configparser
import fnmatch
import os
import time

import pytest

from daemon import REPO
from devtable import DeviceTable, KINDS
from simctl import monotonic_ns
from test_faults import note

PROGRAMS = sorted(f[:-4] for f in os.listdir(os.path.join(
    REPO, "config", "programs")) if f.endswith(".ini"))
PROFILE = "standard"
RAMP_KPA_S = 6              # config/profiles/standard.ini
MIN_RUN_S = 10
MAX_RUN_S = 40              # the slowest warm-up stroke is 24 s
# The soak's slack for a shared machine: the WAGO couplers' own watchdog
# allows 200 ms replies; the RS-485 relay drops out after 200 ms, which
# the daemon holds to at least three response timeouts (60 ms each).
SOAK_SLACK = {"wago": dict(response_timeout_ms=200, watchdog_ms=1000),
              "rs485": dict(response_timeout_ms=60)}


def first_step(program, zones):
    """The zones of the table the program's first step names, and its
    pressure_kpa."""
    cp = configparser.ConfigParser(interpolation=None,
                                   inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"))
    cp.read(os.path.join(REPO, "config", "programs", program + ".ini"))
    step = cp[next(s for s in cp.sections() if s.startswith("step "))]
    globs = [g.strip() for g in step["zones"].split(",")]
    return (set(z for z in zones if any(fnmatch.fnmatchcase(z, g)
                                        for g in globs)),
            float(step["pressure_kpa"]))


def pressed(t, after_ns, kpa=None):
    """The zones whose setpoint on the wire went above their output's
    safe value (and the proof's one-count probe), or reached kpa."""
    out = set()
    for k, ctl in enumerate(t.names):
        writes = t.outputs(k, after_ns)
        for ch, m in enumerate(t.desc[k].ao):
            zone = t.zone_at.get((ctl, ch))
            top = m.safe + 1 if kpa is None else m.raw(kpa) - 1
            if zone and any(raws[ch] > top for _, raws, _ in writes):
                out.add(zone)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_program_runs(tmp_path, kind):
    with DeviceTable(tmp_path, kind, layout="demo") as t:
        d = t.d
        st = d.wait_ready(timeout=20)
        assert len(st["controllers"]) == 4 and len(st["zones"]) == 26
        zones = [z["name"] for z in st["zones"]]
        limits = None
        for program in PROGRAMS:
            want, kpa = first_step(program, zones)
            assert want, program
            # The stroke has passed over a zone once its setpoint reached
            # half the step's pressure at the profile's intensity (75 %).
            kpa *= 0.75 / 2
            t0 = monotonic_ns()
            lim = t.start(program, PROFILE)
            assert limits is None or lim == limits, program
            limits = lim
            d.wait_for(lambda: want <= pressed(t, t0, kpa) or None,
                       timeout=MAX_RUN_S, interval=0.5,
                       what="%s: the warm-up's stroke over every zone of "
                       "its first step" % program)
            run_s = (monotonic_ns() - t0) / 1e9
            time.sleep(max(0.0, MIN_RUN_S - run_s))
            note(kind=kind, program=program, stroke_s=round(run_s, 1))
            st = d.status()
            assert (st["state"], st["program"], st["last_stop"]) == \
                ("running", program, None), st
            assert st["step"]["index"] == 0, st["step"]
            r = d.request("POST", "/api/v1/session/stop")
            assert r.status == 200, r.text
            d.wait_state("idle", timeout=10)
            end = d.wait_for(lambda: (lambda r: r if r["phase"] == "end"
                                      else None)(d.request(
                "GET", "/api/v1/sessions?limit=1").json()["sessions"][0]),
                what="the end record")
            assert (end["id"], end["program"], end["end_reason"],
                    end["stop_category"], end["step"]["index"]) == (
                t.session_id, program, "operator", 1, 0), end
            # Nothing but the zones of the step it ran.
            assert pressed(t, t0) <= want, program
        n, _ = t.check_wire(limits, RAMP_KPA_S)
        st = d.status()
        assert st["state"] == "idle" and st["fault"] is None, st
        assert all(c["proof"]["passed"] == 1 and c["proof"]["failed"] == 0
                   for c in st["controllers"]), st["controllers"]
        t.finish()


def program_s(program):
    """The length of a shipped program: the sum of its steps."""
    cp = configparser.ConfigParser(interpolation=None,
                                   inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"))
    cp.read(os.path.join(REPO, "config", "programs", program + ".ini"))
    total = 0
    for sec in cp.sections():
        if sec.startswith("step "):
            v = cp[sec]["duration"].strip()
            total += int(v[:-3]) * 60 if v.endswith("min") else \
                int(v.rstrip("s"))
    return total


@pytest.mark.skipif(os.environ.get("MASSAGED_FULL_PROGRAMS") != "1",
                    reason="every program to its end takes hours: "
                    "make soak-devices")
@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_program_to_its_end(tmp_path, kind, program):
    """`make soak-devices`: a shipped program from its first step to its
    last on a table of described devices (its own daemon and simulator,
    so that the cases can run side by side), ending by itself, with the
    wire checks over the whole run and no fault."""
    # Half an hour on a shared machine: a link judged on a loaded box's
    # time (50 ms timeouts, as the examples) would stop what is under test.
    with DeviceTable(tmp_path, kind, layout="demo",
                     **SOAK_SLACK[kind]) as t:
        t.devices_first()
        d = t.d
        st = d.wait_ready(timeout=20)
        t0 = monotonic_ns()
        limits = t.start(program, PROFILE)
        st = d.wait_for(lambda: (lambda st: st if st["state"] not in (
            "running", "paused", "stopping") else None)(d.status()),
            timeout=program_s(program) + 120, interval=2.0,
            what="%s to its end" % program)
        assert st["state"] == "idle", (program, st["last_stop"],
                                       st["fault"], d.logs()[-4000:])
        end = d.wait_for(lambda: (lambda r: r if r["phase"] == "end"
                                  else None)(d.request(
            "GET", "/api/v1/sessions?limit=1").json()["sessions"][0]),
            what="the end record")
        assert end["end_reason"] == "program_end", end
        # Half an hour of the wire, read at the lowest priority: the
        # cases beside this one run their tables meanwhile.
        os.nice(19)
        n, _ = t.check_wire(limits, RAMP_KPA_S, after_ns=t0)
        note(kind=kind, program=program, writes_checked=n,
             run_s=round((monotonic_ns() - t0) / 1e9))
        st = d.status()
        assert st["state"] == "idle" and st["fault"] is None, st
        t.finish()
