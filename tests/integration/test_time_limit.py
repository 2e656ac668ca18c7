"""The profile's session time limit, end to end: whatever the program says,
the session ends with a category 1 stop (a ramp down at the profile's ramp
rate, then a vent) when the limit is reached, and the record says why.

The shortest limit a profile may set is one minute, so this test takes a
little over one minute.
"""

import json
import os

from daemon import Daemon, sim_controllers
from simctl import Sim, monotonic_ns

PROFILE = """[client]
name = Time limit test client
conditions = none
[limits]
cap_kpa = 25
ramp_kpa_s = 4
max_session_min = 1
intensity = 100
"""

PROGRAM = """[program]
name = Longer than the client may stay
[step hold]
routine = swedish
duration_s = 600
zones = gluteus_maximus_*
stroke = kneading
pressure_kpa = 16
"""


def test_time_limit_ends_the_session_with_a_ramp_down(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, profiles={"brief": PROFILE},
                   programs={"long": PROGRAM}) as d:
        d.wait_ready()
        t0 = monotonic_ns()
        r = d.request("POST", "/api/v1/session",
                      {"program": "long", "profile": "brief"})
        assert r.status == 201, r.text
        assert r.json()["remaining_s"] <= 60
        st = d.wait_for(lambda: (lambda s: s if s["state"] == "stopping"
                                 else None)(d.status()), timeout=75,
                        interval=0.1, what="the time limit")
        t_stop = monotonic_ns()
        assert 58 <= (t_stop - t0) / 1e9 <= 64, (t_stop - t0) / 1e9
        assert st["last_stop"]["reason"] == "time_limit"
        assert st["last_stop"]["category"] == 1
        d.wait_state("idle", timeout=20)

        # on the wire: gluteus_maximus_left (pelvis channel 14) came down
        # no faster than 4 kPa/s, and CONTROL = 0 only once it was down
        writes = [e for e in sim.events("fc16", c=0)
                  if e.ns > t_stop - 200_000_000 and "sp" in e.kv]
        sp = [(e.ns, float(e["sp"].split(",")[14]), e["control"])
              for e in writes]
        down = [(t, v) for t, v, c in sp if c == "1"]
        assert down and down[0][1] > 2, sp[:5]
        for (ta, a), (tb, b) in zip(down, down[1:]):
            assert a - b <= 4 * (tb - ta) / 1e9 + 0.1 + 1e-6, (a, b)
        assert down[-1][1] <= 0.1
        vent = sim.wait_event("fc6", c=0, after_ns=t_stop, timeout=5,
                              where=lambda e: e["value"] == "0")
        assert vent.ns >= down[-1][0]
        sim.wait_for(lambda: max(sim.get(0)["pressures"]) < 0.5, timeout=5)

        # the record says why
        with open(os.path.join(d.state_dir, "sessions.jsonl")) as f:
            end = [json.loads(x) for x in f if x.strip()][-1]
        assert end["phase"] == "end" and end["end_reason"] == "time_limit"
        assert end["stop_category"] == 1
        assert end["max_session_s"] == 60
    assert d.sanitizer_report() == ""
