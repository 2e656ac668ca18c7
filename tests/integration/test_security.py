"""Security: what the daemon refuses before it serves anything, where it
listens, and which privileges it runs with.

- The token file: mode 0600 (or stricter) starts; readable or writable by
  group or others, or not a regular file, refuses to start with a message
  that says what to do; tokens are revoked by a reload. (A missing or empty
  token file and a short token: test_api.py::
  test_daemon_refuses_a_bad_token_file.)
- Routine plugins are code: a plugin file, or its directory, that another
  user could change (group/world writable, owned by someone else, reached
  through a symlink into /tmp) is refused, by "massaged -n" and at start.
- The API listens on loopback by default (the shipped config/massaged.ini
  and the built-in default); a non-loopback address is logged as a warning.
  Fixed ports are only used inside a private network namespace.
- Privileges: the daemon works fully as an unprivileged user with no
  capabilities and no_new_privs (what systemd/massaged.service gives it);
  the unit's hardening is checked statically and with
  "systemd-analyze security --offline" when available.

Every process is stopped by its PID. docs/security.md points here.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from daemon import (REPO, TOKEN, Daemon, DaemonError, daemon_binary,
                    sim_controllers)
from simctl import Sim

# Controllers on ports where nothing answers, for daemons that are only
# started to be refused, or that never need a controller.
NO_SIM = [1, 2]
NOBODY = 65534


def build_dir():
    return os.path.dirname(daemon_binary())


def check(d, timeout=60):
    """massaged -n on d's configuration: (exit status, stdout + stderr)."""
    r = subprocess.run([d.binary, "-n", "-f", d.config_path],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, cwd=d.tmpdir)
    return r.returncode, r.stdout + r.stderr


def start_refused(d, timeout=30):
    """Starts d, expects it to exit non-zero; returns its log."""
    d.spawn()
    try:
        rc = d.wait_exit(timeout)
    finally:
        d.stop()
    assert rc != 0, "massaged started:\n" + d.logs()
    assert "api: listening" not in d.logs()
    assert d.sanitizer_report() == ""
    return d.logs()


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def listening_sockets(pid):
    """(family, address, port) of every listening TCP socket in pid's
    network namespace, from /proc/PID/net/tcp and tcp6."""
    out = []
    for fam in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, fam)) as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            local, st = parts[1], parts[3]
            if st != "0A":                      # TCP_LISTEN
                continue
            addr, port = local.split(":")
            if fam == "tcp":
                ip = ".".join(str(b) for b in
                              reversed(bytes.fromhex(addr)))
            else:
                words = [bytes.fromhex(addr[i:i + 8])[::-1].hex()
                         for i in range(0, 32, 8)]
                ip = ":".join(w[i:i + 4] for w in words
                              for i in (0, 4))
            out.append((fam, ip, int(port, 16)))
    return out


def have_netns():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "--net", "true"],
                       capture_output=True, timeout=10)
    return r.returncode == 0


NETNS_ARGV = ["unshare", "--net", "--", "sh", "-c",
              'ip link set lo up 2>/dev/null; exec "$@"', "sh"]
needs_netns = pytest.mark.skipif(
    not have_netns(), reason="needs root and unshare --net (a private "
    "network namespace for fixed or non-loopback ports)")


class NetnsDaemon(Daemon):
    """A Daemon in a network namespace of its own: unshare and sh exec
    into massaged, so the PID is massaged's."""

    def argv(self):
        return NETNS_ARGV + super().argv()


# -- the token file ----------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602])
def test_token_file_readable_by_others_refused(tmp_path, mode):
    d = Daemon(tmp_path, NO_SIM, token_mode=mode, start=False)
    log = start_refused(d)
    assert ("cannot start the API: token file %s: refused: the file is "
            "readable or writable by group or others (mode %04o), who could "
            "read or change it (chmod 600 %s)"
            % (d.token_path, mode, d.token_path)) in log


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_token_file_private_starts(tmp_path, mode):
    with Daemon(tmp_path, NO_SIM, token_mode=mode) as d:
        assert d.request("GET", "/api/v1/status").status == 200
        assert d.request("GET", "/api/v1/status", token=None).status == 401
        # read once and closed: no descriptor of the daemon points at it
        fds = os.listdir("/proc/%d/fd" % d.pid)
        targets = []
        for fd in fds:
            try:        # a link thread may close a socket meanwhile
                targets.append(os.readlink("/proc/%d/fd/%s" % (d.pid, fd)))
            except FileNotFoundError:
                pass
        assert d.token_path not in targets
        assert d.sanitizer_report() == ""


def test_token_file_not_regular_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    os.unlink(d.token_path)
    os.mkdir(d.token_path, 0o700)
    log = start_refused(d)
    assert ("token file %s: refused: the file is not a regular file"
            % d.token_path) in log


def test_token_revoked_by_reload(tmp_path):
    """Deleting a token's line and reloading (SIGHUP) revokes it at once;
    a token file made unsafe meanwhile is not read, the old tokens stay."""
    other = "second-token-abcdefghijklmnop"
    with Daemon(tmp_path, NO_SIM, tokens=[TOKEN, other]) as d:
        assert d.request("GET", "/api/v1/status", token=other).status == 200
        d.write_tokens([TOKEN])
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: d.request("GET", "/api/v1/status",
                                     token=other).status == 401,
                   timeout=10, what="token revoked")
        assert d.request("GET", "/api/v1/status").status == 200
        d.write_tokens([other], mode=0o644)
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "tokens not reloaded, the old ones stay" in
                   d.logs(), timeout=10, what="refused token reload")
        assert d.request("GET", "/api/v1/status").status == 200
        assert d.request("GET", "/api/v1/status", token=other).status == 401
        assert d.sanitizer_report() == ""


def test_check_flag_reports_token_file(tmp_path):
    d = Daemon(tmp_path, NO_SIM, token_mode=0o644, start=False)
    rc, out = check(d)
    assert rc != 0 and "token file" in out, out


# -- plugins -----------------------------------------------------------------

def plugin_copy(tmp_path, name="plugins"):
    """A private copy of the built plugins: (directory, [files])."""
    dst = os.path.join(str(tmp_path), name)
    os.makedirs(dst)
    os.chmod(dst, 0o755)
    src = os.path.join(build_dir(), "plugins")
    files = []
    for fn in sorted(os.listdir(src)):
        if fn.endswith(".so"):
            shutil.copy(os.path.join(src, fn), dst)
            os.chmod(os.path.join(dst, fn), 0o755)
            files.append(os.path.join(dst, fn))
    assert files, "no plugins built in %s" % src
    return dst, files


def routine_of(path):
    """The routine a shipped plugin file holds: its name."""
    return os.path.basename(path)[:-len(".so")]


def plugin_daemon(tmp_path, plugin_dir):
    return Daemon(tmp_path, NO_SIM, daemon={"plugin_dir": plugin_dir},
                  start=False)


def assert_refused_both_ways(d, message):
    rc, out = check(d)
    assert rc == 1, out
    assert message in out, out
    assert "configuration OK" not in out
    log = start_refused(d)
    assert message in log, log


def assert_file_refused(d, message, routine):
    """A refused plugin file: a warning for massaged -n (which passes)
    and at start; the daemon starts, and the programs that need the file
    are unavailable, saying why."""
    rc, out = check(d)
    assert rc == 0, out
    assert message in out and "configuration OK" in out, out
    d.start()
    try:
        assert message in d.logs()
        progs = d.request("GET", "/api/v1/programs").json()["programs"]
        needing = [p for p in progs
                   if any(s["routine"] == routine for s in p["steps"])]
        assert needing, "no program uses %s" % routine
        for p in needing:
            assert p["available"] is False, p
            assert message in p["unavailable"], p
        others = [p for p in progs if p not in needing]
        assert others and all(p["available"] for p in others), others
    finally:
        d.stop()       # by its PID, also when an assertion failed


def test_private_plugins_accepted(tmp_path):
    pdir, _ = plugin_copy(tmp_path)
    d = plugin_daemon(tmp_path, pdir)
    rc, out = check(d)
    assert rc == 0 and "configuration OK" in out, out


@pytest.mark.parametrize("mode,by", [(0o757, "others"), (0o775, "its group"),
                                     (0o777, "its group and others")])
def test_plugin_file_writable_refused(tmp_path, mode, by):
    pdir, files = plugin_copy(tmp_path)
    os.chmod(files[0], mode)
    d = plugin_daemon(tmp_path, pdir)
    assert_file_refused(
        d, "%s: refused: the file is writable by %s (mode %04o), who could "
        "replace code the daemon runs (chmod go-w %s)"
        % (files[0], by, mode, files[0]), routine_of(files[0]))


@pytest.mark.parametrize("mode,by", [(0o757, "others"), (0o775, "its group")])
def test_plugin_dir_writable_refused(tmp_path, mode, by):
    pdir, files = plugin_copy(tmp_path)
    os.chmod(pdir, mode)
    d = plugin_daemon(tmp_path, pdir)
    assert_refused_both_ways(
        d, "%s: refused: the routine directory is writable by %s (mode "
        "%04o), who could replace code the daemon runs (chmod go-w %s)"
        % (pdir, by, mode, pdir))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_plugin_owned_by_another_user_refused(tmp_path):
    pdir, files = plugin_copy(tmp_path)
    os.chown(files[1], NOBODY, NOBODY)
    d = plugin_daemon(tmp_path, pdir)
    assert_file_refused(
        d, "%s: refused: the file is owned by uid %d, not by root or the "
        "daemon's user (uid %d)" % (files[1], NOBODY, os.geteuid()),
        routine_of(files[1]))


def test_plugin_symlink_into_world_writable_dir_refused(tmp_path):
    """A symlink in a safe directory to a plugin in /tmp: the directory
    that holds the real file is checked too."""
    pdir, files = plugin_copy(tmp_path)
    fd, outside = tempfile.mkstemp(suffix=".so", dir="/tmp")
    os.close(fd)
    try:
        shutil.copy(files[0], outside)
        os.chmod(outside, 0o755)
        os.unlink(files[0])
        os.symlink(outside, files[0])
        d = plugin_daemon(tmp_path, pdir)
        assert_file_refused(
            d, "refused: its directory /tmp is writable by its group and "
            "others", routine_of(files[0]))
    finally:
        os.unlink(outside)


# -- where the API listens ---------------------------------------------------

def test_shipped_config_says_loopback():
    with open(os.path.join(REPO, "config", "massaged.ini")) as f:
        listen = [line.split("=", 1)[1].strip() for line in f
                  if re.match(r"\s*listen\s*=", line)]
    assert len(listen) == 1
    assert listen[0].rsplit(":", 1)[0] == "127.0.0.1"


def run_in_netns(tmp_path, config, extra=()):
    """Starts massaged -f config in a network namespace of its own (its
    fixed port cannot clash with anything) with the paths a test needs;
    returns (proc, log path). The caller stops it."""
    tdir = os.path.join(str(tmp_path), "netns")
    os.makedirs(os.path.join(tdir, "state"), exist_ok=True)
    tokens = os.path.join(tdir, "tokens")
    with open(os.open(tokens, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(TOKEN + "\n")
    argv = NETNS_ARGV + [
        daemon_binary(), "-f", config,
        "-o", "token_file=" + tokens,
        "-o", "plugin_dir=" + os.path.join(build_dir(), "plugins"),
        "-o", "state_dir=" + os.path.join(tdir, "state"),
        "-o", "panel_dir=" + os.path.join(REPO, "panel"),
    ] + list(extra)
    log = os.path.join(tdir, "massaged.log")
    with open(log, "wb") as lf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                                stderr=lf, cwd=tdir)
    return proc, log


def wait_listening_log(proc, log, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        with open(log, errors="replace") as f:
            text = f.read()
        m = re.search(r"api: listening on (\S+)", text)
        if m:
            return m.group(1), text
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DaemonError("not listening (%s):\n%s"
                              % (proc.poll(), text))
        time.sleep(0.05)


def stop_proc(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(15)


@needs_netns
def test_shipped_config_listens_on_loopback_only(tmp_path):
    proc, log = run_in_netns(tmp_path,
                             os.path.join(REPO, "config", "massaged.ini"))
    try:
        url, text = wait_listening_log(proc, log)
        assert url == "http://127.0.0.1:8080/"
        assert "not a loopback address" not in text
        assert listening_sockets(proc.pid) == [("tcp", "127.0.0.1", 8080)]
    finally:
        stop_proc(proc)


@needs_netns
def test_default_listen_is_loopback(tmp_path):
    """A table without a listen key: the built-in default."""
    src = os.path.join(REPO, "config", "massaged.ini")
    dst = os.path.join(str(tmp_path), "nolisten.ini")
    with open(src) as f, open(dst, "w") as g:
        g.writelines(line for line in f
                     if not re.match(r"\s*listen\s*=", line))
    cfg = os.path.join(REPO, "config")
    proc, log = run_in_netns(tmp_path, dst, [
        "-o", "profile_dir=" + os.path.join(cfg, "profiles"),
        "-o", "program_dir=" + os.path.join(cfg, "programs"),
        "-o", "rules=" + os.path.join(cfg, "contraindications.ini")])
    try:
        url, _ = wait_listening_log(proc, log)
        assert url == "http://127.0.0.1:8080/"
        assert listening_sockets(proc.pid) == [("tcp", "127.0.0.1", 8080)]
    finally:
        stop_proc(proc)


@needs_netns
@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":::0"])
def test_non_loopback_listen_warns(tmp_path, listen):
    with NetnsDaemon(tmp_path, NO_SIM, listen=listen) as d:
        log = d.logs()
        assert re.search(r"<4>massaged: api: listening on http://\S+, which is not a "
                         r"loopback address: anyone on that network with a "
                         r"token controls the table", log), log
        socks = listening_sockets(d.pid)
        assert len(socks) == 1 and socks[0][1] in ("0.0.0.0", "0000:0000:"
                                                   "0000:0000:0000:0000:0000:"
                                                   "0000"), socks


def test_loopback_listen_does_not_warn(tmp_path):
    with Daemon(tmp_path, NO_SIM) as d:
        assert "not a loopback address" not in d.logs()
        socks = listening_sockets(d.pid)
        assert ("tcp", "127.0.0.1", d.port) in socks
        assert all(ip == "127.0.0.1" for _, ip, port in socks
                   if port == d.port)


# -- privileges --------------------------------------------------------------

def caps(st, key):
    return int(st[key], 16)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to drop to nobody")
def copy_for_nobody(d, dest):
    """The clone may sit where other users cannot enter (a home directory
    is 0700 on Debian 12, so is a mktemp -d): copies the daemon, the
    plugins and the panel to dest, readable by all, and points d at the
    copies, as an installation would have them."""
    plugins = os.path.join(dest, "plugins")
    os.makedirs(plugins)
    binary = os.path.join(dest, "massaged")
    shutil.copy(d.binary, binary)
    # The routine worker goes next to the daemon, where it looks first
    # when MASSAGED_WORKER does not name one (the caller unsets it).
    shutil.copy(os.path.join(d.build, "massaged-worker"),
                os.path.join(dest, "massaged-worker"))
    for so in glob.glob(os.path.join(d.build, "plugins", "*.so")):
        shutil.copy(so, plugins)
    shutil.copytree(d.daemon_keys["panel_dir"], os.path.join(dest, "panel"))
    for root, dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n),
                     0o755 if n in ("massaged", "massaged-worker") or
                     n.endswith(".so")
                     else 0o644)
    d.binary = binary
    d.daemon_keys["plugin_dir"] = plugins
    d.daemon_keys["panel_dir"] = os.path.join(dest, "panel")
    d.write_config()


def test_daemon_needs_no_privileges(tmp_path, monkeypatch):
    """As systemd/massaged.service runs it: another user, no capabilities
    at all (empty bounding set), no_new_privs. Everything still works: the
    controllers, a session, the session record."""
    monkeypatch.delenv("MASSAGED_WORKER", raising=False)
    base = tempfile.mkdtemp(prefix="massaged-nobody-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        with Sim(base, controllers=sim_controllers()) as sim:
            d = Daemon(base, sim, start=False)
            copy_for_nobody(d, os.path.join(base, "install"))
            for root, dirs, files in os.walk(d.tmpdir):
                for n in dirs + files:
                    os.chown(os.path.join(root, n), NOBODY, NOBODY)
            os.chown(d.tmpdir, NOBODY, NOBODY)
            argv = d.argv
            d.argv = lambda: ["setpriv", "--reuid=%d" % NOBODY,
                              "--regid=%d" % NOBODY, "--clear-groups",
                              "--no-new-privs", "--bounding-set=-all",
                              "--inh-caps=-all", "--"] + argv()
            d.start()
            try:
                d.wait_ready()
                st = proc_status(d.pid)
                assert st["Uid"].split()[:2] == [str(NOBODY)] * 2
                assert st["NoNewPrivs"] == "1"
                for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"):
                    assert caps(st, k) == 0, (k, st[k])
                r = d.request("POST", "/api/v1/session",
                              {"program": "api_test", "profile": "standard"})
                assert r.status == 201, r.text
                d.wait_state("running")
                r = d.request("POST", "/api/v1/session/stop")
                assert r.status == 200, r.text
                d.wait_state("idle", timeout=30)
                rec = os.path.join(d.state_dir, "sessions.jsonl")
                assert os.path.exists(rec)
                assert os.stat(rec).st_uid == NOBODY
            finally:
                assert d.stop() == 0, d.logs()
            assert d.sanitizer_report() == ""
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_daemon_gains_nothing(tmp_path):
    """Started by anyone, the daemon asks for nothing more: no ambient or
    inheritable capabilities, no more than its parent had."""
    with Daemon(tmp_path, NO_SIM) as d:
        st = proc_status(d.pid)
        me = proc_status(os.getpid())
        assert caps(st, "CapAmb") == 0 and caps(st, "CapInh") == 0
        assert caps(st, "CapEff") & ~caps(me, "CapEff") == 0
        assert caps(st, "CapBnd") & ~caps(me, "CapBnd") == 0
        assert st["Uid"] == me["Uid"]


def test_daemon_sets_no_new_privs_itself(tmp_path):
    with Daemon(tmp_path, NO_SIM) as d:
        assert proc_status(d.pid)["NoNewPrivs"] == "1"


# -- the systemd units -------------------------------------------------------

UNITS = ["massaged.service", "massaged@.service"]


def unit_settings(name):
    """[Service] settings: key -> list of values, in order."""
    out = {}
    sect = None
    with open(os.path.join(REPO, "systemd", name)) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sect = line
                continue
            if sect == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_hardening(unit):
    s = unit_settings(unit)
    one = {k: v[-1] for k, v in s.items()}
    assert one.get("User") == "massaged"         # never root
    assert one.get("NoNewPrivileges") == "yes"
    assert one.get("CapabilityBoundingSet", None) == ""
    assert one.get("AmbientCapabilities", "") == ""
    assert one.get("ProtectSystem") == "strict"
    assert one.get("ProtectHome") == "yes"
    assert one.get("PrivateTmp") == "yes"
    assert one.get("UMask") == "0077"
    assert one.get("RestrictSUIDSGID") == "yes"
    assert one.get("MemoryDenyWriteExecute") == "yes"
    fams = set(one.get("RestrictAddressFamilies", "").split())
    assert fams and fams <= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "SystemCallFilter" in s
    assert one.get("DevicePolicy") == "closed"
    # the configuration is checked before every start
    assert any(" -n " in v for v in s.get("ExecStartPre", []))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS)
def test_unit_exposure_score(unit):
    """systemd's own exposure score (0 best, 10 worst) of the unit file,
    offline: 'OK' is below 5."""
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        "--no-pager", os.path.join(REPO, "systemd", unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    if r.returncode != 0 and m is None:
        pytest.skip("systemd-analyze security --offline failed: %s"
                    % r.stderr.strip()[:200])
    assert m, r.stdout
    assert float(m.group(1)) <= 2.0, r.stdout
