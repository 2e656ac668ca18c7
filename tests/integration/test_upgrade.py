"""An upgrade never interrupts a client (docs/deploy.md, "Upgrades"): the
real daemon, worker and simulator, and the package's own
systemd/massaged-upgrade (what the postinst runs), without systemd: the
test plays systemd's part (Restart=always) by starting the binary again
once the old one has exited.

The "new version" is the same build with its version string changed in
the binaries (same length, so nothing else moves): the daemon and the
worker of an installed copy are replaced the way dpkg replaces files (a
new file renamed over the old path) while a session runs.

  during a session  massaged-upgrade PID: new sessions refused (503
                    restarting, recorded), the running program goes on
                    through its step change (a new worker: the daemon's
                    own version, held since its start, not the new file)
                    and ends as it would have (program_end); then the
                    daemon exits 0 by itself, and the binary started again
                    is the new version.
  idle              the daemon exits at once, 0.
  mixed versions    a daemon handed a worker of another version refuses
                    it, saying both versions.
"""

import os
import shutil
import subprocess
import time

import pytest

from daemon import REPO, Daemon, daemon_binary, sim_controllers
from simctl import Sim

UPGRADE = os.path.join(REPO, "systemd", "massaged-upgrade")
PROGRAM = """\
[program]
name = Upgrade test
description = Two short Swedish steps.

[step one]
routine = swedish
duration_s = 6
zones = gluteus_maximus_*
stroke = kneading
pressure_kpa = 10

[step two]
routine = swedish
duration_s = 6
zones = gluteus_medius_*
stroke = effleurage
pressure_kpa = 8
"""


def version():
    out = subprocess.run([daemon_binary(), "-V"], capture_output=True,
                         text=True, timeout=30).stdout
    return out.split()[1]


def newer(v):
    """v with its last digit changed: as long as v, never equal."""
    return v[:-1] + str((int(v[-1]) + 1) % 10)


def replaced(src, dst, old, new):
    """src with every old version string made new, renamed over dst as
    dpkg does (the old file's inode lives on for whoever holds it)."""
    with open(src, "rb") as f:
        data = f.read()
    assert data.count(old.encode()) > 0
    tmp = dst + ".dpkg-new"
    with open(tmp, "wb") as f:
        f.write(data.replace(old.encode(), new.encode()))
    shutil.copymode(src, tmp)
    os.rename(tmp, dst)


@pytest.fixture
def inst(tmp_path, monkeypatch):
    """An installed copy of the build: daemon, worker, plugins."""
    build = os.path.dirname(daemon_binary())
    d = tmp_path / "inst"
    d.mkdir()
    for f in ("massaged", "massaged-worker"):
        shutil.copy2(os.path.join(build, f), d / f)
    shutil.copytree(os.path.join(build, "plugins"), d / "plugins")
    monkeypatch.setenv("MASSAGED_WORKER", str(d / "massaged-worker"))
    return str(d)


def upgrade(pid):
    r = subprocess.run([UPGRADE, str(pid)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "restarts for the upgrade" in r.stdout, r.stdout


def test_upgrade_during_a_session_ends_it_normally(tmp_path, inst):
    old = version()
    new = newer(old)
    with Sim(tmp_path, controllers=sim_controllers()) as sim:
        d = Daemon(tmp_path, sim, build=inst, programs={"upgrade": PROGRAM})
        try:
            d.wait_ready()
            r = d.request("POST", "/api/v1/session",
                          {"program": "upgrade", "profile": "standard"})
            assert r.status == 201, r.text
            sid = r.json()["session_id"]
            # the package's files are replaced while the session runs
            for f in ("massaged", "massaged-worker"):
                replaced(os.path.join(inst, f), os.path.join(inst, f), old,
                         new)
            upgrade(d.pid)
            st = d.wait_for(lambda: (lambda s: s if s["restart_pending"]
                                     else None)(d.status()))
            assert st["state"] == "running", st
            r = d.request("POST", "/api/v1/session",
                          {"program": "upgrade", "profile": "standard"})
            assert r.status == 503, r.text
            assert r.json()["error"] == "restarting", r.text
            assert "restarts for an upgrade" in r.json()["message"]
            # the second step starts a worker: the daemon's own version
            d.wait_for(lambda: d.status()["step"]["index"] == 1,
                       timeout=15, what="the second step")
            # the program ends as it would have; then the daemon exits 0
            assert d.wait_exit(timeout=30) == 0, d.logs()
            logs = d.logs()
            assert "restarting for an upgrade: the table is idle" in logs
            assert "is of massaged %s" % new not in logs, logs
            lines = [ln for ln in open(os.path.join(
                d.state_dir, "sessions.jsonl"))]
            assert '"phase":"refused"' in "".join(lines).replace(" ", "")
            assert '"error":"restarting"' in "".join(lines).replace(" ", "")
            # systemd's part: the unit starts again, on the new files
            d.start()
            d.wait_ready()
            assert "massaged %s started" % new in d.logs(since_start=True)
            r = d.request("GET", "/api/v1/sessions?limit=2")
            end = [x for x in r.json()["sessions"] if x.get("id") == sid][0]
            assert (end["phase"], end["end_reason"]) == \
                ("end", "program_end"), end
            # and the new version runs sessions with its own worker
            r = d.request("POST", "/api/v1/session",
                          {"program": "upgrade", "profile": "standard"})
            assert r.status == 201, r.text
            assert d.status()["restart_pending"] is False
        finally:
            d.stop()


def test_upgrade_of_an_idle_table_restarts_at_once(tmp_path, inst):
    with Sim(tmp_path, controllers=sim_controllers()) as sim:
        d = Daemon(tmp_path, sim, build=inst)
        try:
            d.wait_ready()
            t0 = time.monotonic()
            upgrade(d.pid)
            assert d.wait_exit(timeout=15) == 0, d.logs()
            assert time.monotonic() - t0 < 15
            assert "restarting for an upgrade: the table is idle" in \
                d.logs()
        finally:
            d.stop()


def test_a_worker_of_another_version_is_refused(tmp_path, inst):
    old = version()
    new = newer(old)
    worker = os.path.join(inst, "massaged-worker")
    replaced(worker, worker, old, new)
    with Sim(tmp_path, controllers=sim_controllers()) as sim:
        d = Daemon(tmp_path, sim, build=inst, start=False)
        d.spawn()
        try:
            d.wait_listening()
            d.wait_for(lambda: "the worker is of massaged %s, this daemon "
                       "of %s" % (new, old) in d.logs(), timeout=20,
                       what="the worker refused")
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status != 201, r.text
        finally:
            d.stop()
