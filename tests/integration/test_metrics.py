"""/metrics (daemon/engine/metrics.c): the Prometheus text format 0.0.4, checked
line by line, and the values checked against what the daemon and the
simulator are doing."""

import re
import signal
import subprocess
import time

import pytest

from daemon import WRAPPER, Daemon, daemon_binary, sim_controllers
from simctl import Sim

# Generous Modbus timeouts: these tests are about other things, and a
# loaded test machine must not turn a slow reply into a lost link.
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$"
                       % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Exposition:
    """A parsed scrape: families {name: {"type", "help", "samples"}},
    samples as (name, {label: value}, float)."""

    def __init__(self, text):
        assert text.endswith("\n"), "the last line must end in a newline"
        self.families = {}
        self.samples = []
        current = None
        done = set()
        for n, line in enumerate(text.split("\n")[:-1], 1):
            where = "line %d: %r" % (n, line)
            if line.startswith("# HELP "):
                name, _, help_ = line[7:].partition(" ")
                assert re.fullmatch(NAME, name), where
                assert help_, where
                assert name not in self.families, "HELP twice, " + where
                if current is not None:
                    done.add(current)
                current = name
                self.families[name] = {"help": help_, "type": None,
                                       "samples": []}
                continue
            if line.startswith("# TYPE "):
                name, _, typ = line[7:].partition(" ")
                assert name == current, "TYPE without HELP, " + where
                assert typ in TYPES, where
                assert self.families[name]["type"] is None, where
                assert not self.families[name]["samples"], where
                self.families[name]["type"] = typ
                continue
            assert not line.startswith("#"), where
            m = SAMPLE_RE.match(line)
            assert m, "not a sample, " + where
            name, labels, value = m.group(1), m.group(2), m.group(3)
            fam = self.family_of(name)
            assert fam == current, "sample outside its family, " + where
            assert fam not in done, where
            lab = dict(LABEL_RE.findall(labels or ""))
            v = float(value)        # also +Inf, NaN
            self.families[fam]["samples"].append((name, lab, v))
            self.samples.append((name, lab, v))
        for name, f in self.families.items():
            assert f["type"] is not None, "no TYPE for " + name
            assert f["samples"], "no samples for " + name

    def family_of(self, name):
        if name in self.families:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and base in self.families and \
                    self.families[base]["type"] == "histogram":
                return base
        raise AssertionError("sample %s of no declared family" % name)

    def get(self, name, **labels):
        got = [v for n, lab, v in self.samples
               if n == name and all(lab.get(k) == str(x)
                                    for k, x in labels.items())]
        assert len(got) == 1, (name, labels, got)
        return got[0]

    def all(self, name):
        return [(lab, v) for n, lab, v in self.samples if n == name]


def scrape(d):
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200, r
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain"), ctype
    assert "version=0.0.4" in ctype, ctype
    return Exposition(r.text)


def check_histogram(m, name, **labels):
    """Buckets cumulative, ascending, +Inf last and equal to _count."""
    buckets = [(lab["le"], v) for lab, v in m.all(name + "_bucket")
               if all(lab.get(k) == x for k, x in labels.items())]
    assert buckets and buckets[-1][0] == "+Inf", buckets
    les = [float(le) for le, _ in buckets]
    assert les == sorted(les) and len(set(les)) == len(les), les
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), buckets
    count = m.get(name + "_count", **labels)
    assert counts[-1] == count
    assert m.get(name + "_sum", **labels) >= 0
    return count


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


def test_format_and_conventions(tmp_path, sim):
    with Daemon(tmp_path, sim, **SLACK) as d:
        d.wait_ready()
        time.sleep(0.5)
        m = scrape(d)
        for name, f in m.families.items():
            assert name.startswith("massaged_") or name.startswith(
                "process_"), name
            if f["type"] == "counter":
                assert name.endswith("_total"), name
            else:
                assert not name.endswith("_total"), name
            # base units: no kPa, ms or percent in a name
            assert not re.search(r"kpa|_ms$|_ms_|percent|_milli", name), name
        required = {
            "massaged_build_info": "gauge",
            "massaged_ticks_total": "counter",
            "massaged_missed_ticks_total": "counter",
            "massaged_tick_lateness_seconds": "histogram",
            "massaged_modbus_transactions_total": "counter",
            "massaged_modbus_errors_total": "counter",
            "massaged_modbus_roundtrip_seconds": "histogram",
            "massaged_controller_up": "gauge",
            "massaged_zone_pressure_pascals": "gauge",
            "massaged_zone_setpoint_pascals": "gauge",
            "massaged_zone_limit_pascals": "gauge",
            "massaged_session_state": "gauge",
            "massaged_stops_total": "counter",
            "massaged_reloads_total": "counter",
            "massaged_reload_failures_total": "counter",
            "massaged_record_write_errors_total": "counter",
        }
        for name, typ in required.items():
            assert name in m.families, name
            assert m.families[name]["type"] == typ, name
        assert m.families["massaged_tick_lateness_seconds"]["type"] == \
            "histogram"
        version = subprocess.run([daemon_binary(), "-V"], capture_output=True,
                                 text=True).stdout.split()[1]
        build = m.all("massaged_build_info")
        assert len(build) == 1 and build[0][1] == 1
        assert build[0][0]["version"] == version

        ticks = m.get("massaged_ticks_total")
        assert check_histogram(m, "massaged_tick_lateness_seconds") == ticks
        for c in ("pelvis", "legs"):
            n = check_histogram(m, "massaged_modbus_roundtrip_seconds",
                                controller=c)
            assert n == m.get("massaged_modbus_transactions_total",
                              controller=c) > 0
        # Every stop reason with its category, zeros included, so rate()
        # works from the first stop.
        stops = {(lab["reason"], lab["category"]): v
                 for lab, v in m.all("massaged_stops_total")}
        assert stops[("estop", "0")] == 0
        assert stops[("operator", "1")] == 0
        assert stops[("link_lost", "0")] == 0
        assert all(cat in ("0", "1") for _, cat in stops)
        states = {lab["state"]: v for lab, v in m.all("massaged_session_state")}
        assert states == {"idle": 1, "running": 0, "paused": 0,
                          "stopping": 0, "fault": 0}
        # One series per zone, labelled with its controller.
        zones = {lab["zone"]: lab["controller"] for lab, _ in
                 m.all("massaged_zone_limit_pascals")}
        assert len(zones) == 26
        assert zones["piriformis_left"] == "pelvis"
        assert zones["calf_right"] == "legs"
        assert m.get("massaged_zone_limit_pascals",
                     zone="sciatic_notch_left") == 15000
    assert d.sanitizer_report() == ""


def test_values_follow_the_table(tmp_path, sim):
    with Daemon(tmp_path, sim, **SLACK) as d:
        d.wait_ready()
        m0 = scrape(d)
        t0 = time.monotonic()
        time.sleep(1.0)
        m1 = scrape(d)
        dt = time.monotonic() - t0
        dticks = m1.get("massaged_ticks_total") - \
            m0.get("massaged_ticks_total")
        # idle: no session, the loop polls at 10 Hz (session ticks: 50 Hz)
        assert dticks <= 10 * dt * 1.2 + 2, (dticks, dt)
        if not WRAPPER:         # valgrind may not keep the rate
            assert dticks >= 10 * dt * 0.8, (dticks, dt)
        for c in ("pelvis", "legs"):
            assert m1.get("massaged_controller_up", controller=c) == 1
            dtx = m1.get("massaged_modbus_transactions_total", controller=c) \
                - m0.get("massaged_modbus_transactions_total", controller=c)
            # a write and a read each tick
            assert abs(dtx - 2 * dticks) <= 6, (dtx, dticks)

        # A session: setpoints and pressures in pascals, limits as status.
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 201, r.text
        time.sleep(3.0)
        st = d.status()
        m = scrape(d)
        assert m.get("massaged_session_state", state="running") == 1
        assert m.get("massaged_session_state", state="idle") == 0
        assert 0 < m.get("massaged_session_remaining_seconds") <= 60
        for z in st["zones"]:
            lim = m.get("massaged_zone_limit_pascals", zone=z["name"])
            assert lim == pytest.approx(z["limit_kpa"] * 1000, abs=1), z
        sp = m.get("massaged_zone_setpoint_pascals",
                   zone="gluteus_maximus_left")
        p = m.get("massaged_zone_pressure_pascals",
                  zone="gluteus_maximus_left")
        assert 1000 < sp <= 30000, sp
        assert 500 < p <= 32000, p
        assert m.get("massaged_zone_setpoint_pascals", zone="calf_left") == 0

        r = d.request("POST", "/api/v1/estop")
        assert r.status == 200
        m = scrape(d)
        assert m.get("massaged_stops_total", reason="estop",
                     category="0") == 1
        assert m.get("massaged_session_state", state="fault") == 1
        assert m.get("massaged_fault_latched") == 1
        assert m.get("massaged_zone_setpoint_pascals",
                     zone="gluteus_maximus_left") == 0
        assert d.request("POST", "/api/v1/reset").status == 200
        d.wait_state("idle")

        # A controller that stops answering: errors counted, down, and
        # its zones' pressures absent (unknown is not 0).
        sim.ok("hang 1 -1")
        d.wait_for(lambda: scrape(d).get("massaged_controller_up",
                                         controller="legs") == 0,
                   what="legs down")
        m = scrape(d)
        assert m.get("massaged_modbus_errors_total", controller="legs") >= 3
        assert m.get("massaged_modbus_errors_total", controller="pelvis") == 0
        assert m.get("massaged_controller_up", controller="pelvis") == 1
        zones = {lab["zone"] for lab, _ in
                 m.all("massaged_zone_pressure_pascals")}
        assert "calf_left" not in zones and "piriformis_left" in zones
        connects = m.get("massaged_modbus_connects_total", controller="legs")
        sim.ok("hang 1 0")
        d.wait_for(lambda: scrape(d).get("massaged_controller_up",
                                         controller="legs") == 1,
                   timeout=15, what="legs up again")
        assert scrape(d).get("massaged_modbus_connects_total",
                             controller="legs") == connects + 1

        # Reloads, applied and refused.
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: scrape(d).get("massaged_reloads_total") == 1,
                   what="a reload")
        with open(d.config_path, "a") as f:
            f.write("\n[zone bogus]\n")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: scrape(d).get("massaged_reload_failures_total")
                   == 1, what="a refused reload")
        assert scrape(d).get("massaged_reloads_total") == 1
    assert d.sanitizer_report() == ""
