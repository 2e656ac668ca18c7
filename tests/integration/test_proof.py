"""The proof of the safe state (docs/devices.md, "The proof"): after every
connect, before anything is driven, the daemon shows on the controller
itself that it vents when no longer fed: for the register map, enabled at
zero setpoints, the heartbeat stopped, the WATCHDOG fault seen within
WATCHDOG_MS plus a margin, then reset. A controller that lies (its
watchdog never trips) is never driven, and the status, the panel's data,
/metrics and `massaged -n --prove` say why.

Every test runs the real daemon against the real simulator.
"""

import subprocess

from simctl import Sim
from test_bus import bus_daemon, start, tcp_ctls


def sp_max(e):
    """The highest setpoint an fc16 event of the register map carries."""
    sp = e.get("sp")
    return max(float(x) for x in sp.split(",")) if sp else 0.0


def test_proven_before_anything_is_driven(tmp_path):
    """Status shows the proof's steps; on the wire, the watchdog fault was
    latched by the missing heartbeat before any setpoint above zero."""
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1), watchdog_ms=300) as d:
            st = d.wait_ready()
            c = st["controllers"][0]
            assert c["kind"] == "regmap"
            p = c["proof"]
            assert p["state"] == "passed", p
            assert (p["passed"], p["failed"], p["why"]) == (1, 0, None)
            texts = " | ".join(s["text"] for s in p["steps"])
            assert "heartbeat fed" in texts and "watchdog tripped" in texts
            assert p["ms"] >= 300, p        # it waited for the trip
            trip = sim.wait_event("fault", c=0,
                                  where=lambda e: e["name"] == "watchdog")
            start(d)
            sim.wait_for(lambda: sim.get(0)["pressures"][0] > 2, timeout=15)
            pressed = [e for e in sim.events("fc16", c=0) if sp_max(e) > 0]
            assert pressed and pressed[0].ns > trip.ns
            m = d.request("GET", "/metrics").text
            assert ('massaged_controller_proofs_total{controller="c0",'
                    'result="passed"} 1') in m


def test_a_watchdog_that_never_trips_is_never_driven(tmp_path):
    """A controller whose watchdog lies is not driven: it is not
    connected, its error and proof say what was not seen, a start is
    refused, and no setpoint above zero ever reaches it."""
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        sim.ok("watchdog_broken 0 on")
        with bus_daemon(tmp_path, tcp_ctls(sim, 1), watchdog_ms=200) as d:
            c = d.wait_for(lambda: (lambda c: c if c["proof"]["failed"]
                                    else None)(d.status()["controllers"][0]),
                           timeout=10, what="a failed proof")
            assert not c["connected"]
            assert c["proof"]["state"] == "failed"
            assert "no watchdog trip within" in c["proof"]["why"]
            assert c["error"].startswith(
                "not driven: the proof of its safe state failed")
            r = d.request("POST", "/api/v1/session",
                          {"program": "bus", "profile": "bus"})
            assert r.status == 409, r.text
            assert not [e for e in sim.events("fc16", c=0) if sp_max(e) > 0]
            # left vented: the proof stopped half way, enabled at zero
            sim.wait_for(lambda: sim.get(0)["control"] == 0, timeout=2)
            # Repaired, it is proven at the next try and driven.
            sim.ok("watchdog_broken 0 off")
            d.wait_ready(timeout=20)
            start(d)
            sim.wait_for(lambda: sim.get(0)["pressures"][0] > 2, timeout=15)


def test_proven_again_after_a_power_cycle(tmp_path):
    """A power cycle in a session stops it; the controller is proven again
    before it is driven again."""
    with Sim(tmp_path, controllers=[dict(channels=4)]) as sim:
        with bus_daemon(tmp_path, tcp_ctls(sim, 1)) as d:
            d.wait_ready()
            start(d)
            sim.wait_for(lambda: sim.get(0)["active"], timeout=10)
            sim.ok("powercycle 0")
            d.wait_for(lambda: d.status()["last_stop"], timeout=2,
                       what="the stop")
            c = d.wait_for(lambda: (lambda c: c if c["proof"]["passed"] >= 2
                                    else None)(d.status()["controllers"][0]),
                           timeout=15, what="a second proof")
            assert c["connected"] and c["proof"]["failed"] == 0


def test_check_prove_prints_each_step(tmp_path):
    """massaged -n --prove: every step with its time, exit 0 when every
    controller is proven; 1 with what was not seen when one lies."""
    sims = [dict(channels=4), dict(channels=4)]
    with Sim(tmp_path, controllers=sims) as sim:
        d = bus_daemon(tmp_path, tcp_ctls(sim, 2), watchdog_ms=200,
                       start=False)
        cmd = [d.binary, "-n", "--prove", "-f", d.config_path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "configuration OK" in r.stdout
        assert "controller c0 (regmap, 127.0.0.1:%d, unit 1):" % \
            sim.ports[0] in r.stdout
        assert "watchdog tripped" in r.stdout
        assert "2 of 2 controllers proven" in r.stdout
        sim.ok("watchdog_broken 1 on")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "NOT PROVEN: no watchdog trip within 270 ms" in r.stdout
        assert "1 of 2 controllers proven" in r.stdout
        r = subprocess.run([d.binary, "--prove", "-f", d.config_path],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--prove goes with -n" in r.stderr
