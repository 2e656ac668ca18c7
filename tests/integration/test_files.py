"""Files the daemon trusts (docs/security.md): configuration, profiles,
rules, programs and the token file are read non-blocking, must be regular
files of bounded size, owned by root or the daemon's user, not writable by
others, in directories not writable by others; `massaged -n` checks the
same and never hangs. And what the parsers refuse, as `-n` reports it.

The reload side of a file that never ends: test_reload.py::
test_a_file_that_never_ends_is_refused_at_once.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from daemon import TOKEN, WRAPPER_SLOW, Daemon, sim_controllers
from simctl import Sim
from test_security import NO_SIM, check, start_refused

NOBODY = 65534
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0,
                               reason="needs root to chown")


def check_fast(d, timeout=20):
    """massaged -n, which must finish: a hang is a failure, not a stall."""
    t0 = time.monotonic()
    try:
        rc, out = check(d, timeout=timeout * WRAPPER_SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("massaged -n did not finish in %d s" % timeout)
    return rc, out, time.monotonic() - t0


# -- files that never end -----------------------------------------------------

@pytest.mark.parametrize("what", ["profile", "config"])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_check_refuses_a_file_that_never_ends(tmp_path, what, kind):
    d = Daemon(tmp_path, NO_SIM, start=False)
    if what == "profile":
        path = os.path.join(d.profile_dir, "endless.ini")
    else:
        path = d.config_path
        os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
        desc = "a FIFO"
    else:
        os.symlink("/dev/zero", path)
        desc = "a character device"
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert ("%s: refused: the file is not a regular file (it is %s)"
            % (path, desc)) in out, out


def test_a_fifo_config_is_refused_at_start(tmp_path):
    """The daemon itself refuses to start on it, at once."""
    d = Daemon(tmp_path, NO_SIM, start=False)
    os.unlink(d.config_path)
    os.mkfifo(d.config_path)
    d.spawn()
    try:
        rc = d.wait_exit(20)
    finally:
        d.stop()
    assert rc != 0
    assert "it is a FIFO" in d.logs()


# -- who may write them -------------------------------------------------------

def test_profile_writable_by_others_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    path = os.path.join(d.profile_dir, "standard.ini")
    os.chmod(path, 0o666)
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    want = ("%s: refused: the file is writable by its group and others "
            "(mode 0666), who could change what the daemon does "
            "(chmod go-w %s)" % (path, path))
    assert want in out, out
    # the daemon refuses to start on it too, with the same words
    log = start_refused(d)
    assert want in log
    # and the fix it names works
    subprocess.run(["chmod", "go-w", path], check=True)
    rc, out, _ = check_fast(d)
    assert rc == 0 and "configuration OK" in out, out


@pytest.mark.parametrize("which", ["rules", "program", "config"])
def test_other_files_writable_refused(tmp_path, which):
    d = Daemon(tmp_path, NO_SIM, start=False)
    path = {"rules": d.rules_path,
            "program": os.path.join(d.program_dir, "api_test.ini"),
            "config": d.config_path}[which]
    os.chmod(path, 0o646)
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert ("%s: refused: the file is writable by others (mode 0646)"
            % path) in out, out


def test_profile_directory_writable_by_others_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    os.chmod(d.profile_dir, 0o1777)
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert ("refused: its directory %s is writable by its group and "
            "others (mode 1777), who could change what the daemon does "
            "(chmod go-w %s)" % (d.profile_dir, d.profile_dir)) in out, out


@ROOT_ONLY
def test_profile_owned_by_another_user_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    path = os.path.join(d.profile_dir, "standard.ini")
    os.chown(path, NOBODY, NOBODY)
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert ("%s: refused: the file is owned by uid %d, not by root or the "
            "daemon's user (uid 0), who could change what the daemon does "
            "(chown root %s)" % (path, NOBODY, path)) in out, out


def test_profile_too_large_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    path = os.path.join(d.profile_dir, "standard.ini")
    with open(path, "a") as f:
        f.write(("; padding" + " " * 90 + "\n") * 10486)
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert "%s: refused: the file is too large" % path in out, out
    assert "at most 1048576)" in out, out


# -- the token file -----------------------------------------------------------

@ROOT_ONLY
def test_token_file_of_another_user_refused(tmp_path):
    """0600 but owned by someone else: that someone chose the tokens."""
    d = Daemon(tmp_path, NO_SIM, start=False)
    os.chown(d.token_path, NOBODY, NOBODY)
    log = start_refused(d)
    assert ("token file %s: refused: the file is owned by uid %d, not by "
            "root or the daemon's user (uid 0)" % (d.token_path, NOBODY)) \
        in log, log
    rc, out, _ = check_fast(d)
    assert rc == 1 and "owned by uid %d" % NOBODY in out, out


def test_token_file_in_a_directory_others_can_write_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    tdir = os.path.join(d.tmpdir, "tokens.d")
    os.mkdir(tdir)
    os.chmod(tdir, 0o777)
    path = os.path.join(tdir, "tokens")
    shutil.move(d.token_path, path)
    d.daemon_keys["token_file"] = path
    d.write_config()
    log = start_refused(d)
    assert ("token file %s: refused: its directory %s is writable by its "
            "group and others (mode 0777)" % (path, tdir)) in log, log


def test_token_file_symlink_refused(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    real = d.token_path + ".real"
    os.rename(d.token_path, real)
    os.symlink(real, d.token_path)
    log = start_refused(d)
    assert ("token file %s: refused: the file is a symbolic link"
            % d.token_path) in log, log


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to act as nobody")
def test_planted_token_file_is_not_loaded(tmp_path):
    """The attack of the report: the token file's directory is writable by
    another user (here by accident, 0777), who renames a file of their own
    over it and waits for a reload. The reload refuses the planted file,
    the admin's token keeps working, the planted one never does."""
    base = tempfile.mkdtemp(prefix="massaged-plant-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        tdir = os.path.join(base, "tokens.d")
        os.mkdir(tdir, 0o755)
        path = os.path.join(tdir, "tokens")
        with Daemon(tmp_path, NO_SIM, start=False) as d:
            shutil.move(d.token_path, path)
            d.daemon_keys["token_file"] = path
            d.write_config()
            d.start()
            assert d.request("GET", "/api/v1/status").status == 200
            os.chmod(tdir, 0o777)       # the mistake
            planted = "planted-token-0123456789abcdef"
            script = ('umask 077 && printf "%s\\n" "$1" >"$2.new" && '
                      'mv "$2.new" "$2"')
            subprocess.run(["setpriv", "--reuid=%d" % NOBODY,
                            "--regid=%d" % NOBODY, "--clear-groups",
                            "/bin/sh", "-c", script, "sh", planted, path],
                           check=True)
            assert os.stat(path).st_uid == NOBODY
            with open(path) as f:
                assert f.read() == planted + "\n"
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: "tokens not reloaded" in d.logs(),
                       timeout=10 * WRAPPER_SLOW, what="the token reload")
            assert d.request("GET", "/api/v1/status",
                             token=planted).status == 401
            assert d.request("GET", "/api/v1/status",
                             token=TOKEN).status == 200
            assert "owned by uid %d" % NOBODY in d.logs()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- what the parsers refuse, as -n says it -----------------------------------

PROFILE = """\
[client]
name = {name}
conditions = {conditions}

[limits]
cap_kpa = {cap}
ramp_kpa_s = 5
max_session_min = 30
intensity = 60
{extra}"""


def profile(name="Test", conditions="none", cap="25", extra=""):
    return PROFILE.format(name=name, conditions=conditions, cap=cap,
                          extra=extra)


def test_check_reports_what_the_parsers_refuse(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False, profiles={
        "hex": profile(cap="0x19"),
        "hexfloat": profile(extra="[zone_caps]\npiriformis_* = 0x1p4\n"),
        "utf8": profile(name="Zo@ broken"),
        "above": profile(cap="20", extra="[zone_caps]\npiriformis_* = 22\n"),
    })
    # a NUL byte in the middle of a value, then a line it used to swallow
    with open(os.path.join(d.profile_dir, "nul.ini"), "wb") as f:
        f.write(profile().replace("max_session_min = 30",
                                  "max_session_min = 3\0 0").encode())
    # a line that is a secret, not INI: reported by number only
    with open(os.path.join(d.profile_dir, "secret.ini"), "w") as f:
        f.write(profile(extra="root:$6$saltsalt$hashhashhash:19000::\n"))
    # utf8.ini: a lead byte with no continuation
    p = os.path.join(d.profile_dir, "utf8.ini")
    with open(p, "rb") as f:
        raw = f.read()
    with open(p, "wb") as f:
        f.write(raw.replace(b"Zo@", b"Zo\xc3"))
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    pd = d.profile_dir
    for want in (
            "%s/hex.ini:6: [limits] cap_kpa: not valid" % pd,
            "%s/hexfloat.ini:11: [zone_caps] piriformis_*: not valid "
            "(expected a decimal number" % pd,
            "%s/utf8.ini:2: [client] not valid UTF-8 (at byte 10 of the "
            "line)" % pd,
            "%s/above.ini:11: [zone_caps] piriformis_*: 22 kPa is above "
            "the profile's cap_kpa (20 kPa)" % pd,
            "%s/nul.ini:8: [limits] contains a NUL byte (at column 20)" % pd,
            "%s/secret.ini:10: [limits] syntax error: not a 'key = value' "
            "line or a '[section]' header" % pd):
        assert want in out, (want, out)
    # no content of a file beyond keys and positions
    for secret in ("hashhash", "root:", "0x19", "0x1p4", "broken"):
        assert secret not in out, (secret, out)
    # the line after the NUL was read as its own line, not swallowed
    assert "nul.ini:9:" not in out, out


def test_check_refuses_a_profile_that_leaves_no_zone(tmp_path):
    rules_path = os.path.join(os.path.dirname(__file__), "..", "..",
                              "config", "contraindications.ini")
    with open(rules_path) as f:
        rules = f.read()
    rules += ("\n[whole_body_burn]\nreason = Burns all over: no zone may "
              "be pressed.\nexclude_zones = *\n")
    d = Daemon(tmp_path, NO_SIM, start=False, rules=rules,
               profiles={"burn": profile(conditions="whole_body_burn")})
    rc, out, _ = check_fast(d)
    assert rc == 1, out
    assert ("%s/burn.ini:3: [client] conditions: with these conditions and "
            "zone caps no zone of %s is left to press (every one is "
            "excluded or capped at 0 kPa): no session could start"
            % (d.profile_dir, d.config_path)) in out, out


# -- limits above what the hardware can do -------------------------------------

def test_zone_limit_above_controller_rating_reported(tmp_path):
    """MAX_PRESSURE is known once a controller answers: a zone limit above
    it is logged with the file and line, the zone and both numbers."""
    with Sim(tmp_path, controllers=sim_controllers(max_kpa=20.0)) as sim:
        with Daemon(tmp_path, sim) as d:
            d.wait_ready()
            # Repeated warnings are rate-limited (10 of one kind in 10 s),
            # so any zone over the rating may be the one shown.
            over = [(n, c) for n, c in d.zones
                    if float(c.get("limit_kpa", 0)) > 20]
            d.wait_for(lambda: any(
                "[zone %s] limit_kpa: %g kPa is above the rating of "
                "controller %s (20 kPa, read from it); the rating applies"
                % (n, float(c["limit_kpa"]), c["controller"]) in d.logs()
                for n, c in over), what="the rating warning")
            assert d.stop() == 0
            assert d.sanitizer_report() == ""
