"""massagectl --all: every table of a tables file at once (client/cmd-fleet.c).

Two real daemons, each with its own simulator, and one table that does not
answer: one line per table in the file's order, the e-stop reaches every
live table even though one is dead, and the exit code is the worst.
"""

import json
import os

import pytest

from daemon import Daemon, free_port, sim_controllers
from simctl import Sim

SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)


@pytest.fixture
def two(tmp_path):
    for n in ("sa", "sb"):
        (tmp_path / n).mkdir()
    with Sim(tmp_path / "sa", controllers=sim_controllers()) as sa, \
            Sim(tmp_path / "sb", controllers=sim_controllers()) as sb:
        da = Daemon(tmp_path, sa, name="table-a", **SLACK)
        db = Daemon(tmp_path, sb, name="table-b", **SLACK)
        try:
            da.wait_ready()
            db.wait_ready()
            yield da, db
        finally:
            da.stop()
            db.stop()
    assert da.sanitizer_report() == "" and db.sanitizer_report() == ""


def tables_file(tmp_path, lines):
    p = tmp_path / "tables"
    p.write_text("# the spa's tables\n\n" + "\n".join(lines) + "\n")
    return str(p)


def test_all_status_and_estop(tmp_path, two):
    da, db = two
    dead = "http://127.0.0.1:%d" % free_port()
    live = tables_file(tmp_path, [
        "room-1 http://127.0.0.1:%d %s" % (da.port, da.token_path),
        "room-2\thttp://127.0.0.1:%d   # its own token file" % db.port,
    ])
    r = da.request("POST", "/api/v1/session",
                   {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r.text
    da.wait_state("running")

    out = da.run_ctl("--all", "--tables", live, "status", url=False,
                     env={"MASSAGED_TOKEN_FILE": db.token_path})
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()
    assert rows[0].split()[:3] == ["TABLE", "STATE", "PROGRAM"]
    assert rows[1].split()[:4] == ["room-1", "running", "api_test", "1/2"]
    assert rows[2].split()[:3] == ["room-2", "idle", "-"]
    assert rows[2].endswith("ready")
    assert len(rows) == 3

    out = da.run_ctl("--json", "--all", "--tables", live, "status",
                     url=False, env={"MASSAGED_TOKEN_FILE": db.token_path})
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert [(x["table"], x["exit"], x["reply"]["state"]) for x in docs] == \
        [("room-1", 0, "running"), ("room-2", 0, "idle")]

    # STOP everything, with one table that does not answer in the file.
    fleet = tables_file(tmp_path, [
        "room-1 http://127.0.0.1:%d" % da.port,
        "gone %s" % dead,
        "room-2 http://127.0.0.1:%d" % db.port,
    ])
    out = da.run_ctl("--all", "--tables", fleet, "estop", url=False)
    assert out.returncode == 3, (out.stdout, out.stderr)
    rows = out.stdout.splitlines()
    assert [x.split()[0] for x in rows] == ["room-1", "gone", "room-2"]
    assert "EMERGENCY STOP" in rows[0] and "EMERGENCY STOP" in rows[2]
    assert rows[1].split()[1] == "ERROR"
    for d in (da, db):
        st = d.status()
        assert st["state"] == "fault", st
        assert st["last_stop"]["reason"] == "estop"
    assert da.request("GET", "/api/v1/sessions").json()["sessions"][0][
        "end_reason"] == "estop"

    # A wrong token is that table's error only.
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token\n")
    os.chmod(bad, 0o600)
    mixed = tables_file(tmp_path, [
        "room-1 http://127.0.0.1:%d" % da.port,
        "room-2 http://127.0.0.1:%d %s" % (db.port, bad),
    ])
    out = da.run_ctl("--all", "--tables", mixed, "status", url=False)
    assert out.returncode == 4, (out.stdout, out.stderr)
    rows = out.stdout.splitlines()
    assert rows[1].split()[1] == "fault"
    assert "authentication failed" in rows[2]


def test_all_usage(tmp_path, two):
    da, _ = two
    f = tables_file(tmp_path, ["room-1"])
    out = da.run_ctl("--all", "--tables", f, "status", url=False)
    assert out.returncode == 2
    assert "tables:3: expected NAME URL [TOKEN_FILE]" in out.stderr
    f = tables_file(tmp_path, ["room-1 http://127.0.0.1:%d" % da.port])
    out = da.run_ctl("--all", "--tables", f, "start", "x", url=False)
    assert out.returncode == 2
    out = da.run_ctl("--all", "--tables", f, "pause", url=False)
    assert out.returncode == 2 and "status, stop" in out.stderr
    out = da.run_ctl("--all", "--tables", str(tmp_path / "none"), "status",
                     url=False)
    assert out.returncode == 2 and "none" in out.stderr
    out = da.run_ctl("--all", "--tables", f, "stop", url=False)
    assert out.returncode == 1          # nothing to stop: refused
    assert "invalid_state" in out.stdout
