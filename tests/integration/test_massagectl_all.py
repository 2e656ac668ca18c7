"""massagectl --all: every table of a tables file at once (client/cmd-fleet.c).

Two real daemons, each with its own simulator, and one table that does not
answer: one line per table in the file's order, the e-stop reaches every
live table even though one is dead, and the exit code is the worst. Then
the same over HTTPS (client/http-tls.c) through a TLS proxy per table
(tlsproxy.py) with a throwaway CA: --cacert and the system's store, a
wrong CA or name refused before any request, a token file per table
checked as the daemon checks its own, and --all sessions merged with the
table column.
"""

import csv
import io
import json
import os

import pytest

from daemon import Daemon, free_port, sim_controllers
from simctl import Sim
from tlsproxy import TestCA, TlsProxy

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


def tables_file(tmp_path, lines, name="tables"):
    p = tmp_path / name
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


# --- over HTTPS, a token per table (issue 27) ------------------------------
#
# Each daemon behind its own TLS proxy on 127.0.0.1 (tlsproxy.py: what
# nginx is on a box), a throwaway CA made with openssl, and each table its
# own token, so that only its own token file opens it.

TOKEN_A = "token-of-table-a-0123456789"
TOKEN_B = "token-of-table-b-0123456789"


@pytest.fixture
def tls_two(tmp_path):
    ca = TestCA(tmp_path)
    for n in ("sa", "sb"):
        (tmp_path / n).mkdir()
    with Sim(tmp_path / "sa", controllers=sim_controllers()) as sa, \
            Sim(tmp_path / "sb", controllers=sim_controllers()) as sb:
        da = Daemon(tmp_path, sa, name="table-a", tokens=[TOKEN_A], **SLACK)
        db = Daemon(tmp_path, sb, name="table-b", tokens=[TOKEN_B], **SLACK)
        da.token, db.token = TOKEN_A, TOKEN_B
        try:
            da.wait_ready()
            db.wait_ready()
            with TlsProxy(da.port, ca.cert, ca.key) as pa, \
                    TlsProxy(db.port, ca.cert, ca.key) as pb:
                yield ca, da, db, pa, pb
        finally:
            da.stop()
            db.stop()
    assert da.sanitizer_report() == "" and db.sanitizer_report() == ""


def token_file(tmp_path, name, token, mode=0o600):
    d = tmp_path / "admin"
    d.mkdir(mode=0o700, exist_ok=True)
    p = d / name
    p.write_text("%s\n" % token)
    os.chmod(p, mode)
    return str(p)


def ctl(d, *args, env=None):
    """massagectl with no token but the tables file's, and no CA but the
    ones given (SSL_CERT_FILE and SSL_CERT_DIR: the system's store of the
    CA-less test machine, not one the test CA is in)."""
    e = {"SSL_CERT_FILE": "/nonexistent", "SSL_CERT_DIR": "/nonexistent"}
    e.update(env or {})
    return d.run_ctl(*args, url=False, token=False, env=e)


def test_all_over_https_with_a_token_per_table(tmp_path, tls_two):
    ca, da, db, pa, pb = tls_two
    ta = token_file(tmp_path, "a.token", TOKEN_A)
    tb = token_file(tmp_path, "b.token", TOKEN_B)
    f = tables_file(tmp_path, [
        "room-1 https://127.0.0.1:%d %s" % (pa.port, ta),
        "room-2 https://localhost:%d %s" % (pb.port, tb),
    ])
    out = ctl(da, "--all", "--tables", f, "--cacert", ca.ca_path, "status")
    assert out.returncode == 0, (out.stdout, out.stderr)
    rows = out.stdout.splitlines()
    assert [r.split()[:2] for r in rows[1:]] == [["room-1", "idle"],
                                                 ["room-2", "idle"]]
    assert all(r.endswith("ready") for r in rows[1:]), rows
    # Both through their proxies; the name sent for SNI, an address not.
    assert pa.requests == ["GET /api/v1/status HTTP/1.1"]
    assert pb.requests == ["GET /api/v1/status HTTP/1.1"]
    assert pa.server_names == [None] and pb.server_names == ["localhost"]

    # The system's store (SSL_CERT_FILE is what it reads) without --cacert.
    out = ctl(da, "--all", "--tables", f, "status",
              env={"SSL_CERT_FILE": ca.ca_path})
    assert out.returncode == 0, (out.stdout, out.stderr)

    # One table's token file holds the other's token: that table's 401.
    wrong = token_file(tmp_path, "wrong.token", TOKEN_A)
    f2 = tables_file(tmp_path, [
        "room-1 https://127.0.0.1:%d %s" % (pa.port, ta),
        "room-2 https://127.0.0.1:%d %s" % (pb.port, wrong),
    ], name="tables-wrong")
    out = ctl(da, "--all", "--tables", f2, "--cacert", ca.ca_path, "status")
    assert out.returncode == 4, (out.stdout, out.stderr)
    rows = out.stdout.splitlines()
    assert rows[1].split()[:2] == ["room-1", "idle"]
    assert rows[2].split()[:2] == ["room-2", "ERROR"]
    assert "authentication failed (401" in rows[2]

    # The e-stop reaches both, each with its own token.
    out = ctl(da, "--all", "--tables", f, "--cacert", ca.ca_path, "estop")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert all("EMERGENCY STOP" in r for r in out.stdout.splitlines())
    assert da.status()["state"] == "fault" and db.status()["state"] == "fault"


def test_all_refuses_a_token_file_others_could_read(tmp_path, tls_two):
    ca, da, db, pa, pb = tls_two
    ta = token_file(tmp_path, "a.token", TOKEN_A)
    loose = token_file(tmp_path, "b.token", TOKEN_B, mode=0o644)
    link = str(tmp_path / "admin" / "link.token")
    os.symlink(ta, link)
    lines = [
        "room-1 https://127.0.0.1:%d %s" % (pa.port, ta),
        "room-2 https://127.0.0.1:%d %s" % (pb.port, loose),
        "room-3 https://127.0.0.1:%d %s" % (pa.port, link),
    ]
    if os.geteuid() == 0:
        theirs = token_file(tmp_path, "theirs.token", TOKEN_B)
        os.chown(theirs, 995, 995)
        lines.append("room-4 https://127.0.0.1:%d %s" % (pb.port, theirs))
    out = ctl(da, "--all", "--tables", tables_file(tmp_path, lines),
              "--cacert", ca.ca_path, "status")
    assert out.returncode == 2, (out.stdout, out.stderr)
    rows = out.stdout.splitlines()
    assert rows[1].split()[:2] == ["room-1", "idle"]
    assert "mode 0644" in rows[2] and "chmod 600 %s" % loose in rows[2]
    assert "symbolic link" in rows[3], rows[3]
    if os.geteuid() == 0:
        assert "owned by uid 995, not by this user" in rows[4], rows[4]
    # The refused ones were never asked: the token stays home.
    assert len(pa.requests) == 1 and pb.requests == []


def test_https_refuses_what_it_cannot_verify(tmp_path, tls_two):
    ca, da, db, pa, pb = tls_two
    ta = token_file(tmp_path, "a.token", TOKEN_A)
    tb = token_file(tmp_path, "b.token", TOKEN_B)
    f = tables_file(tmp_path, [
        "room-1 https://127.0.0.1:%d %s" % (pa.port, ta),
        "room-2 https://127.0.0.1:%d %s" % (pb.port, tb),
    ])
    for args in (["--cacert", ca.other_ca_path], []):
        out = ctl(da, "--all", "--tables", f, *args, "status")
        assert out.returncode == 3, (args, out.stdout, out.stderr)
        rows = out.stdout.splitlines()
        for r, p in zip(rows[1:], (pa, pb)):
            assert r.split()[1] == "ERROR", r
            assert ("TLS: the certificate of 127.0.0.1 port %d is not "
                    "trusted: unable to get local issuer certificate"
                    % p.port) in r, r
    # Not one request, nor a token, went through.
    assert pa.requests == [] and pb.requests == []
    assert pa.handshakes_failed >= 2 and pb.handshakes_failed >= 2

    # A certificate of the right CA for another name.
    with TlsProxy(da.port, ca.dns_cert, ca.dns_key) as other:
        for host, why in (("127.0.0.1", "IP address mismatch"),
                          ("localhost", "hostname mismatch")):
            out = ctl(da, "--url", "https://%s:%d" % (host, other.port),
                      "--cacert", ca.ca_path, "status",
                      env={"MASSAGED_TOKEN_FILE": ta})
            assert out.returncode == 3, (out.stdout, out.stderr)
            assert ("does not name %s (%s)" % (host, why)) in out.stderr, \
                out.stderr
        assert other.requests == []

    # https:// to the daemon's plain HTTP; a CA file that is none.
    out = ctl(da, "--url", "https://127.0.0.1:%d" % da.port, "--cacert",
              ca.ca_path, "status", env={"MASSAGED_TOKEN_FILE": ta})
    assert out.returncode == 3
    assert "TLS handshake with 127.0.0.1 port %d failed" % da.port \
        in out.stderr, out.stderr
    out = ctl(da, "--all", "--tables", f, "--cacert", ta, "status")
    assert out.returncode == 2
    assert "--cacert %s: no CA certificate in it" % ta in out.stderr
    out = ctl(da, "--all", "--tables", f, "--cacert", str(tmp_path / "no"),
              "status")
    assert out.returncode == 2 and "No such file" in out.stderr


def test_one_table_over_https(tmp_path, tls_two):
    ca, da, db, pa, pb = tls_two
    env = {"MASSAGED_TOKEN": TOKEN_A}
    url = "https://127.0.0.1:%d" % pa.port
    out = ctl(da, "--url", url, "--cacert", ca.ca_path, "--json", "status",
              env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "idle"
    # The event stream through the proxy.
    out = ctl(da, "--url", url, "--cacert", ca.ca_path, "watch", "--count",
              "1", env=env)
    assert out.returncode == 0, out.stderr
    assert "idle" in out.stdout
    out = ctl(da, "--url", url, "--cacert", ca.ca_path, "status",
              env={"MASSAGED_TOKEN": TOKEN_B})
    assert out.returncode == 4


def run_session(d):
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r.text
    d.wait_state("running")
    r = d.request("POST", "/api/v1/session/stop")
    assert r.status == 200, r.text
    d.wait_state("idle", timeout=20)


def test_all_sessions_over_https(tmp_path, tls_two):
    ca, da, db, pa, pb = tls_two
    run_session(da)
    run_session(db)
    # A refused start: only in that table's own records.
    r = da.request("POST", "/api/v1/session",
                   {"program": "api_test", "profile": "nobody"})
    assert r.status == 404, r.text
    f = tables_file(tmp_path, [
        "room-1 https://127.0.0.1:%d %s" % (
            pa.port, token_file(tmp_path, "a.token", TOKEN_A)),
        "room-2 https://127.0.0.1:%d %s" % (
            pb.port, token_file(tmp_path, "b.token", TOKEN_B)),
    ])
    base = ["--all", "--tables", f, "--cacert", ca.ca_path, "sessions"]
    out = ctl(da, *base, "--since", "2000-01-01", "--csv")
    assert out.returncode == 0, (out.stdout, out.stderr)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert out.stdout.split("\r\n")[0].split(",")[:3] == \
        ["id", "phase", "table"]
    got = [(x["table"], x["phase"], x["program"], x["profile"])
           for x in rows]
    # Newest first across both tables.
    assert got == [("room-1", "refused", "api_test", "nobody"),
                   ("room-2", "end", "api_test", "standard"),
                   ("room-1", "end", "api_test", "standard")], got
    assert [x["start"] for x in rows] == sorted(
        (x["start"] for x in rows), reverse=True)
    # Each table asked for its own records only.
    for p in (pa, pb):
        assert p.requests and all("scope=table" in q for q in p.requests)

    out = ctl(da, *base)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:2] == ["TABLE", "ID"]
    assert [ln.split()[0] for ln in lines[1:]] == ["room-1", "room-2",
                                                  "room-1"]
    out = ctl(da, *base, "--limit", "1", "--json")
    doc = json.loads(out.stdout)
    assert [(x["table"], x["phase"]) for x in doc["sessions"]] == \
        [("room-1", "refused")]
    assert [(t["table"], t["exit"]) for t in doc["tables"]] == \
        [("room-1", 0), ("room-2", 0)]

    # A table that does not answer: said on stderr, the others listed.
    gone = tables_file(tmp_path, [
        "room-1 https://127.0.0.1:%d %s" % (
            pa.port, token_file(tmp_path, "a.token", TOKEN_A)),
        "gone https://127.0.0.1:%d %s" % (
            free_port(), token_file(tmp_path, "b.token", TOKEN_B)),
    ], name="tables-gone")
    out = ctl(da, "--all", "--tables", gone, "--cacert", ca.ca_path,
              "sessions", "--csv")
    assert out.returncode == 3
    assert "massagectl: gone: cannot connect" in out.stderr, out.stderr
    assert {x["table"] for x in csv.DictReader(io.StringIO(out.stdout))} \
        == {"room-1"}


def test_all_sessions_usage(tmp_path, tls_two):
    ca, da, _, pa, _ = tls_two
    f = tables_file(tmp_path, ["room-1 https://127.0.0.1:%d" % pa.port])
    for args in (["--csv", "status"], ["--since", "2026-01-01", "estop"],
                 ["--profile", "standard", "sessions"]):
        out = ctl(da, "--all", "--tables", f, "--cacert", ca.ca_path, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert "usage: massagectl --all" in out.stderr
    assert pa.requests == []
