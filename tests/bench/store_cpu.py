"""make bench-store: what a shared store costs a table at 100 Hz.

The demo table (2 controllers, 26 zones) on the simulator, a session of
api_test at 100 Hz, the CPU time of the daemon and its routine worker over
a window in the session's first step, measured from /proc (utime + stime
of the daemon and of its children), three ways:

  without a store;
  with a store it is connected to (a throwaway PostgreSQL, pgserver.py):
    the link idle but for its ping, the outbox shipping the session's
    lines;
  with a store and, on the same database, another writer saving one
  profile a second (the link hears every NOTIFY and writes the copy).

Prints a Markdown table; docs/store.md quotes it. Run on a quiet machine:
`make bench-store` (it builds the -O2 daemon as make bench does).
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from daemon import Daemon, sim_controllers  # noqa: E402
from simctl import Sim  # noqa: E402
from test_store import OWNER_PW, TABLE_PW, run, secret, spa_server  # noqa: E402,E501

WINDOW_S = float(os.environ.get("BENCH_STORE_WINDOW_S", "20"))
HZ = 100
TICKS_S = os.sysconf("SC_CLK_TCK")
BODY = {"name": "Bench Client", "conditions": [], "pressure": "medium",
        "ramp": "gentle", "zones": {}, "note": ""}


def cpu_s(pid):
    """utime + stime of pid and of its children now alive, in seconds."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                f_ = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == pid or int(f_[1]) == pid:
            total += int(f_[11]) + int(f_[12])
    return total / TICKS_S


def window(d, writer=None):
    """CPU seconds a second of session over WINDOW_S, in percent, and per
    tick in microseconds."""
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r.text
    time.sleep(2)                   # the worker is up, the ramp under way
    c0, t0 = cpu_s(d.proc.pid), time.monotonic()
    n = 0
    while time.monotonic() - t0 < WINDOW_S:
        if writer is not None:
            writer(n)
            n += 1
        time.sleep(1.0)
    c1, t1 = cpu_s(d.proc.pid), time.monotonic()
    d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=10)
    frac = (c1 - c0) / (t1 - t0)
    return 100 * frac, 1e6 * frac / HZ


def table(tmp, name, sim, daemon=None):
    d = Daemon(tmp, sim, name=name, tick_hz=HZ, args=(), daemon=daemon)
    d.wait_ready()
    return d


def main():
    import tempfile
    tmp = tempfile.mkdtemp(prefix="massaged-bench-store-")
    rows = []
    with Sim(tmp, controllers=sim_controllers()) as sim:
        d = table(tmp, "plain", sim)
        try:
            rows.append(("no store",) + window(d))
        finally:
            d.stop()
        with spa_server(("table1", "table2")) as pg:
            pg.psql(["CREATE DATABASE spa OWNER massaged_owner",
                     "GRANT CONNECT ON DATABASE spa TO massaged_table"])
            keys = {"store": pg.url("table1", "spa"),
                    "store_password_file": secret(tmp, "t1.pw",
                                                  TABLE_PW + "\n")}
            m = Daemon(tmp, [1, 2], start=False, name="migrator", daemon={
                "store": pg.url("massaged_owner", "spa"),
                "store_password_file": secret(tmp, "o.pw", OWNER_PW + "\n")})
            assert run("--migrate", "-f", m.config_path).returncode == 0
            d = table(tmp, "store", sim, keys)
            try:
                d.wait_for(lambda: d.status()["store"]["reachable"],
                           timeout=20)
                rows.append(("store, connected",) + window(d))
                pid = d.request("POST", "/api/v1/profiles", BODY).json()["id"]

                def edit(n):
                    pg.psql("INSERT INTO massaged.profiles (id, revision, "
                            "name, cap_kpa, ramp_kpa_s, max_session_min, "
                            "intensity_pct, written_by) SELECT id, "
                            "revision + 1, name, cap_kpa, ramp_kpa_s, "
                            "max_session_min, intensity_pct, 'other' FROM "
                            "massaged.profiles_current WHERE id = '%s'; "
                            "NOTIFY massaged_profiles, '%s'" % (pid, pid),
                            db="spa")
                rows.append(("store, a profile changed elsewhere each "
                             "second",) + window(d, edit))
            finally:
                d.stop()
    base = rows[0][1]
    print("| Run (100 Hz, demo table, session) | CPU | a tick | added |")
    print("|---|---|---|---|")
    for what, pct, us in rows:
        print("| %s | %.2f %% | %.1f us | %s |" % (
            what, pct, us, "-" if what == "no store" else
            "%+.2f %%" % (pct - base)))


if __name__ == "__main__":
    main()
