#!/usr/bin/env python3
"""soak: programs back to back under random faults, every invariant checked.

    make soak [SOAK_SECONDS=300]
    MASSAGED_BUILD=build/soak python3 tests/soak/soak.py --seconds 300

Runs the simulator (demo table) and the daemon, then, until the time is up:
starts a random short program for a random profile, and during it injects
random faults on the simulator's control socket (client_stop, estop, drop,
hang, delay under and over the response timeout, stick, overpressure,
exceptions, sensor_fault) and random API actions (pause, resume,
intensity, stop, estop); after each session it clears the faults and
resets. The simulator's event log is read as it grows, and every invariant
is checked throughout:

  limits    every setpoint of every fc16, inside a session, is at or below
            its zone's effective limit (the session's start record); between
            sessions every setpoint is 0 and no controller is enabled
  ramp      no setpoint rises faster than the profile's ramp between two
            consecutive fc16 of its zone (one tick and one wire step of slack)
  vent      every stop writes CONTROL = 0 to every controller whose link is
            up, and every controller is vented (below 0.5 kPa) soon after
  states    the state machine: known states only, no session that the soak
            did not start, no resume it did not ask for, category 0 stops
            latch a fault and category 1 stops end idle, a fault stays until
            a reset, a stop has a cause (a fault, an action, the program end)
  records   every session has a start and an end record, and the end record
            gives the reason the operator saw
  process   the daemon never dies, exits 0 on SIGTERM, sanitizers silent

Prints a summary and, last, "N passed, N failed" (invariant checks); the
exit status is 0 only when nothing failed. Every process is stopped by its
PID; the run is bounded in time (--seconds plus the last session, at most
a couple of minutes more).
"""

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from daemon import Daemon, sim_controllers  # noqa: E402
from simctl import Event, Sim, monotonic_ns  # noqa: E402

TICK_HZ = 50
TICK_S = 1.0 / TICK_HZ
RT_MS = 50
WD_MS = 500
VENTED_KPA = 0.5
ACTIVE = ("running", "paused", "stopping")
STATES = ("idle",) + ACTIVE + ("fault",)
CAT0 = {"estop", "client_stop", "estop_circuit", "controller_fault",
        "link_lost", "overpressure", "stuck", "routine_error", "shutdown"}
CAT1 = {"operator", "time_limit", "program_end", "contraindicated",
        "pause_timeout"}

PROGRAMS = {
    "soak_swedish": """\
[program]
name = Soak: Swedish
[step effleurage]
routine = swedish
duration_s = 6
zones = lumbar_*, gluteus_*, hamstring_*
stroke = effleurage
pressure_kpa = 12
period_s = 4
[step kneading]
routine = swedish
duration_s = 6
zones = gluteus_*, piriformis_*
stroke = kneading
pressure_kpa = 16
""",
    "soak_deep": """\
[program]
name = Soak: deep tissue
[step deep]
routine = deep_tissue
duration_s = 10
zones = gluteus_maximus_*, hamstring_upper_*
pressure_kpa = 28
warmup_s = 2
segment_s = 5
travel_s = 2
""",
    "soak_mix": """\
[program]
name = Soak: everything, endangerment sites included
[step all]
routine = swedish
duration_s = 7
zones = *
stroke = circular
pressure_kpa = 25
[step deep]
routine = deep_tissue
duration_s = 6
zones = gluteus_*, calf_*
pressure_kpa = 35
warmup_s = 1
segment_s = 5
travel_s = 2
""",
    "soak_trigger": """\
[program]
name = Soak: one trigger point
[step point]
routine = trigger_point
duration_s = 40
zones = gluteus_medius_left
pressure_kpa = 30
ramp_s = 5
hold_s = 30
release_s = 5
rest_s = 0
""",
}
PROGRAM_WEIGHTS = {"soak_swedish": 5, "soak_deep": 3, "soak_mix": 4,
                   "soak_trigger": 1}
PROFILES = ["standard", "sciatica", "gentle", "varicose", "pregnant",
            "hip_replacement", "anticoagulated", "refused_dvt"]

# Faults: kind -> (weight, stop reasons it may cause, breaks the link)
FAULTS = {
    "client_stop": (2, {"client_stop"}, False),
    "estop": (2, {"estop_circuit"}, False),
    "drop": (2, {"link_lost"}, True),
    "hang": (2, {"link_lost", "controller_fault"}, True),
    "delay_under": (1, set(), False),
    "delay_over": (2, {"link_lost", "controller_fault"}, True),
    "stick": (2, {"stuck"}, False),
    "overpressure": (2, {"controller_fault", "overpressure"}, False),
    "exception": (2, {"link_lost", "controller_fault"}, True),
    "sensor_fault": (1, {"controller_fault"}, False),
}
ACTIONS = {"pause": 2, "intensity": 3, "stop": 2, "estop": 1}


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.passed = collections.Counter()
        self.failed = collections.Counter()
        self.failures = []
        self.faults = collections.Counter()
        self.actions = collections.Counter()
        self.reasons = collections.Counter()
        self.sessions = 0
        self.refused = 0
        self.refusals = set()   # (program, profile) refused once
        self.sim = None
        self.d = None
        # event log tail
        self._ev_off = 0
        self._ev_buf = b""
        self.prev = {}          # (c, ch) -> (ns, sp, heartbeat)
        self.window = None      # the session being checked
        self.closed = []        # windows whose end grace still runs
        self.max_sp = 0.0

    # -- bookkeeping ---------------------------------------------------------

    def ok(self, what, cond, detail=""):
        if cond:
            self.passed[what] += 1
        else:
            self.failed[what] += 1
            msg = "FAIL %s: %s" % (what, detail)
            self.failures.append(msg)
            if len(self.failures) <= 100:
                print(msg, flush=True)
        return cond

    def log(self, msg):
        print("soak: %7.1f s  %s" % (time.monotonic() - self.t_start, msg),
              flush=True)

    # -- setup ---------------------------------------------------------------

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="soak-", dir=self.args.workdir)
        self.sim = Sim(self.tmp, controllers=sim_controllers())
        self.d = Daemon(self.tmp, self.sim, tick_hz=TICK_HZ,
                        watchdog_ms=WD_MS, response_timeout_ms=RT_MS,
                        programs=PROGRAMS, build=self.args.build)
        self.d.wait_ready(timeout=30)
        self.zones = {}          # (c, ch) -> zone name
        idx = {n: i for i, (n, _) in enumerate(self.d.controllers)}
        for name, z in self.d.zones:
            self.zones[(idx[z["controller"]], int(z["channel"]))] = name
        self.nctls = len(self.d.controllers)
        self.records_path = os.path.join(self.d.state_dir, "sessions.jsonl")

    def stop(self):
        rc = None
        if self.d is not None:
            rc = self.d.stop()
            self.ok("process", rc == 0, "massaged exited %s" % rc)
            rep = self.d.sanitizer_report()
            self.ok("process", rep == "", rep)
        if self.sim is not None:
            self.sim.stop()
        self.d = self.sim = None
        return rc

    # -- the event log -------------------------------------------------------

    def events(self):
        """New complete lines of the simulator's event log."""
        with open(self.sim.events_path, "rb") as f:
            f.seek(self._ev_off)
            data = f.read()
        self._ev_off += len(data)
        data = self._ev_buf + data
        end = data.rfind(b"\n") + 1
        self._ev_buf = data[end:]
        out = []
        for line in data[:end].decode(errors="replace").split("\n"):
            if line.strip():
                try:
                    out.append(Event(line))
                except (ValueError, IndexError):
                    pass
        return out

    def pump(self):
        """Reads and checks everything the simulator logged so far."""
        for e in self.events():
            if e.kind == "fc16" and "control" in e.kv:
                self.check_fc16(e)
            elif e.kind == "fc6" and e.get("addr") == "0" and \
                    e.get("value") == "0":
                for w in [self.window] + self.closed:
                    if w is not None:
                        w["vents"].append((e.ns, e.c))
            elif e.kind == "watchdog":
                for w in [self.window] + self.closed:
                    if w is not None:
                        w["watchdogs"].append((e.ns, e.c))

    def window_of(self, ns):
        w = self.window
        if w is not None and ns >= w["t0"] and (w["t1"] is None or
                                                ns <= w["t1"] + w["grace"]):
            return w
        for w in self.closed:
            if w["t0"] <= ns <= w["t1"] + w["grace"]:
                return w
        return None

    def check_fc16(self, e):
        sp = [float(x) for x in e["sp"].split(",")]
        hb = int(e["heartbeat"])
        w = self.window_of(e.ns)
        if w is None:
            self.ok("idle", e["control"] in ("0", "2") and
                    not any(sp), "outside a session: %r" % e)
        for ch, v in enumerate(sp):
            key = (e.c, ch)
            name = self.zones.get(key)
            if w is not None:
                lim = w["limits"].get(name, 0.0) if name else 0.0
                self.ok("limits", v <= lim + 1e-9,
                        "%s %.1f kPa above the limit %.1f kPa of session "
                        "%s: %r" % (name, v, lim, w["id"], e))
                ramp = w["ramp"]
            else:
                ramp = 0.0
            if v > self.max_sp:
                self.max_sp = v
            p = self.prev.get(key)
            if p is not None and v > p[1]:
                dt = (e.ns - p[0]) / 1e9
                ticks = ((hb - p[2]) % 65536) * TICK_S
                allowed = ramp * (max(dt, ticks) + TICK_S) + 0.1 + 1e-9
                self.ok("ramp", v - p[1] <= allowed,
                        "%s rose %.1f -> %.1f kPa in %.0f ms (%d ticks), "
                        "ramp %.1f kPa/s: %r" % (name, p[1], v, dt * 1000,
                                                 (hb - p[2]) % 65536, ramp,
                                                 e))
            elif p is not None:
                self.passed["ramp"] += 1
            self.prev[key] = (e.ns, v, hb)

    # -- the daemon ------------------------------------------------------------

    def status(self):
        return self.d.status()

    def post(self, path, body=None, method="POST"):
        return self.d.request(method, path, body)

    def record_lines(self):
        try:
            with open(self.records_path) as f:
                return [json.loads(x) for x in f if x.strip()]
        except (OSError, ValueError):
            return []

    # -- faults ------------------------------------------------------------------

    def inject(self, kind, state):
        c = self.rng.randrange(self.nctls)
        chans = [ch for (cc, ch) in self.zones if cc == c]
        ch = self.rng.choice(chans)
        undo = []
        if kind == "client_stop":
            cmd, undo = "client_stop %d on" % c, ["client_stop %d off" % c]
        elif kind == "estop":
            cmd, undo = "estop %d on" % c, ["estop %d off" % c]
        elif kind == "drop":
            cmd = "drop %d" % c
        elif kind == "hang":
            cmd = "hang %d %d" % (c, self.rng.randint(100, 1500))
            undo = ["hang %d 0" % c]
        elif kind == "delay_under":
            cmd, undo = "delay %d %d" % (c, int(RT_MS * 0.5)), \
                ["delay %d 0" % c]
        elif kind == "delay_over":
            cmd, undo = "delay %d %d" % (c, int(RT_MS * 1.5)), \
                ["delay %d 0" % c]
        elif kind == "stick":
            cmd, undo = "stick %d %d on" % (c, ch), \
                ["stick %d %d off" % (c, ch)]
            state["stuck"].add((c, ch))
        elif kind == "overpressure":
            cmd = "overpressure %d %d" % (c, ch)
        elif kind == "exception":
            cmd = "exception %d %d" % (c, self.rng.choice([2, 4, 6]))
            undo = ["exception %d off" % c]
        elif kind == "sensor_fault":
            cmd, undo = "sensor_fault %d on" % c, ["sensor_fault %d off" % c]
        self.sim.ok(cmd)
        self.faults[kind] += 1
        state["undo"] += undo
        state["expect"] |= FAULTS[kind][1]
        if FAULTS[kind][2]:
            state["link_broken"].add(c)
        state["did"].append(cmd)

    def act(self, kind, state):
        if kind == "pause":
            r = self.post("/api/v1/session/pause")
            if r.status == 200:
                state["paused"] = True
                state["plan"].append((time.monotonic() +
                                      self.rng.uniform(0.3, 3), "resume"))
        elif kind == "resume":
            r = self.post("/api/v1/session/resume")
            if r.status == 200:
                state["paused"] = False
        elif kind == "intensity":
            r = self.post("/api/v1/session/intensity",
                          {"percent": self.rng.randint(10, 100)}, "PUT")
        elif kind == "stop":
            r = self.post("/api/v1/session/stop")
            state["expect"].add("operator")
        elif kind == "estop":
            state["expect"].add("estop")
            r = self.post("/api/v1/estop")
        self.actions[kind] += 1
        state["did"].append("%s -> %d" % (kind, r.status))

    # -- one session -------------------------------------------------------------

    def pick(self, table):
        keys = list(table)
        weights = [table[k] if not isinstance(table[k], tuple)
                   else table[k][0] for k in keys]
        return self.rng.choices(keys, weights)[0]

    def pick_fault(self):
        """Mostly the kind injected least so far, so that a run of a few
        minutes covers every kind; sometimes any kind, by weight."""
        if self.rng.random() < 0.3:
            return self.pick(FAULTS)
        least = min(self.faults[k] for k in FAULTS)
        return self.rng.choice([k for k in FAULTS
                                if self.faults[k] == least])

    def one_session(self, hard_deadline):
        while True:
            prog = self.pick(PROGRAM_WEIGHTS)
            prof = self.rng.choice(PROFILES)
            if (prog, prof) not in self.refusals:
                break
        t_post = monotonic_ns()
        self.window = None
        r = self.post("/api/v1/session", {"program": prog, "profile": prof})
        if r.status == 422:
            self.refused += 1
            self.refusals.add((prog, prof))
            self.ok("states", r.json().get("error") == "contraindicated",
                    "422 without contraindicated: %r" % r)
            return
        if not self.ok("states", r.status == 201,
                       "start %s/%s: %r" % (prog, prof, r)):
            return
        st = r.json()
        sid = st["session_id"]
        starts = [x for x in self.record_lines()
                  if x["id"] == sid and x["phase"] == "start"]
        if not self.ok("records", len(starts) == 1,
                       "session %s: %d start records" % (sid, len(starts))):
            return
        rec = starts[-1]
        self.sessions += 1
        w = {"id": sid, "t0": t_post, "t1": None,
             "grace": int((2 * RT_MS / 1000 + 2 * TICK_S + 0.3) * 1e9),
             "limits": rec["limits"], "ramp": rec["ramp_kpa_s"],
             "vents": [], "watchdogs": []}
        self.window = w
        state = {"undo": [], "expect": {"program_end"}, "link_broken": set(),
                 "stuck": set(), "did": [], "paused": False, "plan": []}
        now = time.monotonic()
        total = sum(float(x.split("=")[1]) for x in PROGRAMS[prog].split("\n")
                    if x.startswith("duration_s"))
        # what happens during this session
        nfaults = self.rng.choices([0, 1, 2], [25, 55, 20])[0]
        for _ in range(nfaults):
            state["plan"].append((now + self.rng.uniform(0.5, min(total, 15)),
                                  "fault:" + self.pick_fault()))
        for _ in range(self.rng.choice([0, 0, 1, 2, 3])):
            state["plan"].append((now + self.rng.uniform(0.3, total),
                                  self.pick(ACTIONS)))
        last_active_ns = monotonic_ns()
        last_state = st["state"]
        end_deadline = now + total + 60 + 30     # stopping lasts <= 60 s
        while True:
            self.pump()
            t_poll = monotonic_ns()
            if not self.ok("process", self.d.alive(), "massaged died"):
                raise RuntimeError("massaged died")
            st = self.status()
            s = st["state"]
            self.ok("states", s in STATES, "unknown state %r" % s)
            self.ok("states", st["session_id"] == sid,
                    "session id %s, expected %s" % (st["session_id"], sid))
            if s == "paused":
                self.ok("states", state["paused"],
                        "paused without a pause: %s" % state["did"])
            if s == "running" and last_state == "paused":
                self.ok("states", not state["paused"],
                        "resumed on its own: %s" % state["did"])
            if s not in ACTIVE:
                break
            last_state = s
            last_active_ns = t_poll
            now = time.monotonic()
            if now > end_deadline or now > hard_deadline:
                self.ok("states", now <= end_deadline,
                        "session %s never ended: %s" % (sid, state["did"]))
                self.post("/api/v1/estop")
                state["expect"].add("estop")
                continue
            for due, what in sorted(state["plan"]):
                if due <= now:
                    state["plan"].remove((due, what))
                    if what.startswith("fault:"):
                        self.inject(what[6:], state)
                    elif what == "pause" and s != "running":
                        pass
                    elif what == "resume" and s != "paused":
                        pass
                    else:
                        self.act(what, state)
            time.sleep(0.1)
        t_obs = monotonic_ns()
        w["t1"] = t_obs
        self.check_stop(w, st, state, last_active_ns, t_obs)
        self.closed.append(w)
        self.window = None
        for cmd in state["undo"]:
            self.sim.ok(cmd)
        self.log("session %d %s/%s: %s (%s)%s" % (
            sid, prog, prof, st["last_stop"]["reason"],
            st["last_stop"]["message"][:70],
            "; " + ", ".join(state["did"]) if state["did"] else ""))

    def check_stop(self, w, st, state, t_prev, t_obs):
        last = st["last_stop"] or {}
        reason = last.get("reason")
        self.reasons[reason] += 1
        cat = last.get("category")
        self.ok("states", (reason in CAT0 and cat == 0) or
                (reason in CAT1 and cat == 1),
                "reason %s with category %s" % (reason, cat))
        want_state = "fault" if cat == 0 else "idle"
        self.ok("states", st["state"] == want_state,
                "%s stop left %s" % (reason, st["state"]))
        self.ok("states", reason in state["expect"],
                "session %s stopped with %s (%s) but only %s was caused: %s"
                % (w["id"], reason, last.get("message"),
                   sorted(state["expect"]), state["did"]))
        # vents: CONTROL = 0 to every controller whose link is up
        bound = time.monotonic() + 2.0
        for c in range(self.nctls):
            if c in state["link_broken"]:
                continue
            while True:
                self.pump()
                if [ns for ns, cc in w["vents"] if cc == c and
                        t_prev < ns]:
                    break
                if time.monotonic() > bound:
                    break
                time.sleep(0.05)
            got = [ns for ns, cc in w["vents"] if cc == c and t_prev < ns]
            self.ok("vent", bool(got), "session %s (%s): no CONTROL = 0 on "
                    "controller %d after the stop" % (w["id"], reason, c))
        # every controller vented (stuck channels keep their reading)
        bound = time.monotonic() + WD_MS / 1000 + 3.0
        while True:
            high = []
            for c in range(self.nctls):
                s = self.sim.get(c)
                for ch, p in enumerate(s["pressures"]):
                    if (c, ch) not in state["stuck"] and p >= VENTED_KPA:
                        high.append((c, ch, p))
                if s["active"]:
                    high.append((c, "active", True))
            if not high or time.monotonic() > bound:
                break
            time.sleep(0.05)
        self.ok("vented", not high, "session %s (%s): not vented: %s"
                % (w["id"], reason, high))
        # the record
        ends = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ends = [x for x in self.record_lines()
                    if x["id"] == w["id"] and x["phase"] == "end"]
            if ends:
                break
            time.sleep(0.1)
        if self.ok("records", ends and len(ends) == 1,
                   "session %s: end records %r" % (w["id"], ends)):
            self.ok("records", ends[0]["end_reason"] == reason and
                    ends[0]["stop_category"] == cat,
                    "record %r, status %r" % (ends[0], last))

    # -- between sessions ------------------------------------------------------

    def recover(self, timeout=40):
        """Back to idle with every controller up and no fault; the state
        must not move on its own meanwhile."""
        deadline = time.monotonic() + timeout
        prev = None
        while time.monotonic() < deadline:
            self.pump()
            st = self.status()
            s = st["state"]
            self.ok("states", s in ("idle", "fault"),
                    "between sessions: %s" % s)
            if prev == "fault" and s == "idle":
                self.ok("states", self._reset_sent,
                        "fault cleared without a reset")
            prev = s
            ctls = st["controllers"]
            clean = all(c["connected"] and not c["status"]["fault"] and
                        not c["status"]["estop"] and
                        not c["status"]["client_stop"] for c in ctls)
            if s == "idle" and clean:
                return True
            if s == "fault" or not clean:
                r = self.post("/api/v1/reset")
                self._reset_sent = r.status == 200
            time.sleep(0.25)
        self.ok("states", False, "could not get back to idle in %d s: %r"
                % (timeout, self.status()))
        return False

    # -- the run -----------------------------------------------------------------

    def run(self):
        self.t_start = time.monotonic()
        deadline = self.t_start + self.args.seconds
        hard = deadline + 120
        self._reset_sent = False
        try:
            self.start()
            self.log("seed %d, %d s, build %s, in %s" % (
                self.args.seed, self.args.seconds, self.args.build,
                self.tmp))
            while time.monotonic() < deadline:
                self._reset_sent = False
                if not self.recover():
                    break
                self._reset_sent = False
                # trim windows whose grace is over
                now = monotonic_ns()
                self.closed = [w for w in self.closed
                               if w["t1"] + w["grace"] > now - int(5e9)]
                self.one_session(hard)
            self.recover()
            time.sleep(1.0)
            self.pump()
        except Exception:
            self.ok("process", False, traceback.format_exc())
        finally:
            sim = self.sim
            self.stop()
            if sim is not None:
                self.sim = sim
                try:
                    self.pump()
                except OSError:
                    pass
        return self.summary()

    def summary(self):
        secs = time.monotonic() - self.t_start
        passed = sum(self.passed.values())
        failed = sum(self.failed.values())
        print()
        print("soak: %.0f s, seed %d: %d sessions (%d program/profile pairs "
              "refused as contraindicated), highest setpoint %.1f kPa"
              % (secs, self.args.seed, self.sessions, self.refused,
                 self.max_sp))
        print("soak: %d faults injected: %s" % (
            sum(self.faults.values()),
            ", ".join("%s %d" % kv for kv in sorted(self.faults.items()))))
        print("soak: %d API actions: %s" % (
            sum(self.actions.values()),
            ", ".join("%s %d" % kv for kv in sorted(self.actions.items()))))
        print("soak: stops: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(self.reasons.items(),
                                          key=lambda kv: str(kv[0]))))
        for k in sorted(set(self.passed) | set(self.failed)):
            print("soak: invariant %-8s %9d checked, %d failed"
                  % (k, self.passed[k] + self.failed[k], self.failed[k]))
        if failed:
            print("soak: first failures:")
            for f in self.failures[:20]:
                print("  " + f)
            print("soak: the run is kept in %s" % self.tmp)
        elif not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print("%d passed, %d failed" % (passed, failed))
        return 0 if failed == 0 and passed > 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS", 300)))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default=os.environ.get("MASSAGED_BUILD",
                                                      "build/soak"))
    ap.add_argument("--workdir", default=None,
                    help="where the run's directory goes (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run's directory even when all passed")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int(time.time()) % 100000
    args.build = os.path.abspath(args.build)
    os.environ["MASSAGED_BUILD"] = args.build
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
