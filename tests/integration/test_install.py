"""make install: PREFIX and DESTDIR, the files in place, configuration never
overwritten, the installed daemon against the (installed) simulator, the
plugin SDK through pkg-config, the units through `systemd-analyze verify`,
and the sysusers and tmpfiles entries through systemd-sysusers and
systemd-tmpfiles on a scratch root.

These tests build the tree themselves (a plain build, in a directory of
their own), because the installed binaries must be built for the PREFIX
they are installed under.
"""

import os
import re
import shutil
import stat
import subprocess

import pytest

from daemon import REPO, Daemon, demo_table, sim_controllers
from simctl import Sim

# Generous Modbus timeouts: these tests are about other things, and a
# loaded test machine must not turn a slow reply into a lost link.
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

PLUGINS = ("swedish", "deep_tissue", "trigger_point", "myofascial")
WORKER = "/usr/libexec/massaged/massaged-worker"
MAN = ("man1/massagectl.1", "man1/massaged-sim.1", "man5/massaged.ini.5",
       "man8/massaged.8")
FLEET = ("prometheus/massaged-alerts.yml", "grafana/massaged-dashboard.json")


def make(*args, timeout=600):
    """Runs make in the repository, outside any make of the caller."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
                        "SAN", "OPT", "BUILD", "PREFIX", "DESTDIR",
                        "SYSCONFDIR", "CFLAGS", "LDFLAGS", "CPPFLAGS")}
    p = subprocess.run(["make", "-C", REPO, "--no-print-directory",
                        "-j%d" % (os.cpu_count() or 2)] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=env, timeout=timeout)
    assert p.returncode == 0, "make %s failed:\n%s\n%s" % (
        " ".join(args), p.stdout[-4000:], p.stderr[-4000:])
    return p.stdout + p.stderr


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    """One build for PREFIX=/usr, installed into a DESTDIR."""
    top = tmp_path_factory.mktemp("install")
    build = str(top / "build")
    root = str(top / "root")
    out = make("BUILD=" + build, "PREFIX=/usr", "DESTDIR=" + root,
               "install")
    # The binaries name the worker at its installed place, which is in
    # the DESTDIR here: tell them (the daemon, -n and massagectl).
    os.environ["MASSAGED_WORKER"] = os.path.join(root, WORKER.lstrip("/"))
    yield {"top": str(top), "build": build, "root": root, "out": out}
    del os.environ["MASSAGED_WORKER"]


def rooted(inst, path):
    return os.path.join(inst["root"], path.lstrip("/"))


def test_files_in_place(inst, tmp_path):
    r = lambda p: rooted(inst, p)
    for exe in ("/usr/sbin/massaged", "/usr/bin/massagectl",
                "/usr/bin/massaged-sim", WORKER):
        assert os.access(r(exe), os.X_OK), exe
    for p in PLUGINS:
        assert os.path.isfile(r("/usr/lib/massaged/routines/%s.so" % p)), p
    for h in ("routine.h", "routine-test.h"):
        with open(r("/usr/include/massaged/" + h)) as f, \
                open(os.path.join(REPO, "include/massaged", h)) as g:
            assert f.read() == g.read(), h
    with open(r("/usr/lib/pkgconfig/massaged-routine.pc")) as f:
        pc = f.read()
    assert "@" not in pc, pc
    # Relative to ${prefix}, so --define-prefix and a sysroot work.
    assert "prefix=/usr\n" in pc and "includedir=${prefix}/include\n" in pc
    assert "plugindir=${prefix}/lib/massaged/routines\n" in pc
    assert re.search(r"^Version: \d+\.\d+\.\d+$", pc, re.M), pc
    for m in MAN:
        path = r("/usr/share/man/" + m)
        assert os.path.isfile(path), m
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                           capture_output=True, text=True)
        assert p.returncode == 0 and p.stderr == "", (m, p.stderr)
    for u in ("massaged.service", "massaged@.service"):
        with open(r("/usr/lib/systemd/system/" + u)) as f:
            unit = f.read()
        assert "ExecStart=/usr/sbin/massaged -f /etc/massaged/" in unit, u
        assert "ExecStartPre=/usr/sbin/massaged -n -f" in unit, u
        assert "Type=notify" in unit and "WatchdogSec=" in unit
        # Any exit systemd did not ask for is restarted, a clean one too,
        # within a start limit; the serial drivers load before the start
        # resolves DeviceAllow=char-ttyUSB/char-ttyACM.
        assert "\nRestart=always\n" in unit and "StartLimitBurst=" in unit
        for drv in ("usbserial", "cdc_acm"):
            assert re.search(r"^Wants=.*modprobe@%s\.service" % drv, unit,
                             re.M), (u, drv)
            assert re.search(r"^After=.*modprobe@%s\.service" % drv, unit,
                             re.M), (u, drv)
        for dev in ("ttyS", "ttyUSB", "ttyACM"):
            assert "DeviceAllow=char-%s rw" % dev in unit
    for f in FLEET:
        with open(r("/usr/share/massaged/" + f)) as a, \
                open(os.path.join(REPO, "contrib", f)) as b:
            assert a.read() == b.read(), f
    assert os.path.isfile(r("/usr/lib/sysusers.d/massaged.conf"))
    assert os.path.isfile(r("/usr/lib/tmpfiles.d/massaged.conf"))
    with open(r("/etc/logrotate.d/massaged")) as f, \
            open(os.path.join(REPO, "systemd", "massaged.logrotate")) as g:
        assert f.read() == g.read()
    # Configuration: every file of config/, and no token file.
    for sub in ("", "profiles", "programs", "devices"):
        src = os.path.join(REPO, "config", sub)
        for fn in os.listdir(src):
            if fn.endswith(".ini"):
                dst = r(os.path.join("/etc/massaged", sub, fn))
                with open(os.path.join(src, fn)) as f, open(dst) as g:
                    assert f.read() == g.read(), dst
    assert not os.path.exists(r("/etc/massaged/tokens"))
    assert not [p for p in _walk(inst["root"]) if p.endswith(".dist")]
    # (config/examples/, tables for integrators to start from, stay in
    # the source tree: docs/devices.md)
    with open(r("/etc/massaged/.installed-examples")) as f:
        assert sorted(f.read().split()) == sorted(
            os.path.relpath(p, os.path.join(REPO, "config"))
            for p in _walk(os.path.join(REPO, "config"))
            if p.endswith(".ini") and "/examples/" not in p)
    # The panel, when the tree has one.
    panel = os.path.join(REPO, "panel")
    if os.path.isdir(panel):
        for fn in os.listdir(panel):
            if not fn.startswith(".") and os.path.isfile(
                    os.path.join(panel, fn)):
                assert os.path.isfile(r("/usr/share/massaged/panel/" + fn))
    # Built for this prefix: the defaults point at the installed places.
    # Those of this machine may exist (massaged installed): the plugins
    # are named whether they load or not; state_dir, the machine's state,
    # is the test's.
    p = subprocess.run([r("/usr/sbin/massaged"), "--help"],
                       capture_output=True, text=True)
    assert "/etc/massaged/massaged.ini" in p.stdout
    p = subprocess.run([r("/usr/sbin/massaged"), "-v", "-n", "-f",
                        r("/etc/massaged/massaged.ini"),
                        "-o", "state_dir=%s" % tmp_path],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert re.search(r"/usr/lib/massaged/routines(: cannot open|/\w+\.so)",
                     p.stderr), p.stderr


def _walk(top):
    for d, _, files in os.walk(top):
        for fn in files:
            yield os.path.join(d, fn)


def test_reinstall_never_overwrites_an_edited_config(inst, tmp_path):
    root = str(tmp_path / "root")
    args = ("BUILD=" + inst["build"], "PREFIX=/usr", "DESTDIR=" + root,
            "install")
    make(*args)
    conf = os.path.join(root, "etc/massaged")
    edited = {
        "contraindications.ini": "\n[our_rule]\nreason = ours\nrefuse = yes\n",
        "profiles/standard.ini": "\n; our clinic's note\n",
    }
    for fn, extra in edited.items():
        with open(os.path.join(conf, fn), "a") as f:
            f.write(extra)
    removed = os.path.join(conf, "profiles/gentle.ini")
    os.unlink(removed)
    out = make(*args)
    for fn, extra in edited.items():
        with open(os.path.join(conf, fn)) as f:
            assert f.read().endswith(extra), fn
        with open(os.path.join(conf, fn + ".dist")) as f, \
                open(os.path.join(REPO, "config", fn)) as g:
            assert f.read() == g.read(), fn
        assert "kept the edited %s" % os.path.join(conf, fn) in out, out
    # Unedited files get no .dist; an example the admin deleted stays
    # deleted, and install says so.
    dists = sorted(os.path.relpath(p, conf) for p in _walk(conf)
                   if p.endswith(".dist"))
    assert dists == sorted(fn + ".dist" for fn in edited)
    assert not os.path.exists(removed)
    assert "not bringing back %s" % removed in out, out
    # The logrotate file is configuration too.
    lr = os.path.join(root, "etc/logrotate.d/massaged")
    with open(lr, "a") as f:
        f.write("# ours\n")
    out = make(*args)
    assert "kept the edited %s" % lr in out, out
    with open(lr) as f:
        assert f.read().endswith("# ours\n")
    assert os.path.isfile(lr + ".dist")
    # A third install changes nothing that is already there.
    before = {p: os.stat(p).st_mtime_ns
              for p in list(_walk(conf)) + [lr]}
    make(*args)
    for p, mtime in before.items():
        if not p.endswith(".dist"):
            assert os.stat(p).st_mtime_ns == mtime, p


def test_uninstall_removes_what_install_put(inst, tmp_path):
    """make uninstall leaves nothing of make install behind but the
    configuration an admin edited; make install into a fresh root after
    uninstall installs every example again."""
    root = str(tmp_path / "root")
    args = ("BUILD=" + inst["build"], "PREFIX=/usr", "DESTDIR=" + root)
    make(*(args + ("install",)))
    conf = os.path.join(root, "etc/massaged")
    with open(os.path.join(conf, "profiles/gentle.ini"), "a") as f:
        f.write("\n; ours\n")
    # An admin's own file in an installed directory stays, and so does
    # its directory.
    with open(os.path.join(conf, "profiles/ours.ini"), "w") as f:
        f.write("; ours\n")
    installed = set(_walk(root))
    out = make(*(args + ("uninstall",)))
    left = sorted(os.path.relpath(p, root) for p in _walk(root))
    assert left == ["etc/massaged/profiles/gentle.ini",
                    "etc/massaged/profiles/ours.ini"], left
    assert "kept the edited %s" % os.path.join(
        conf, "profiles/gentle.ini") in out, out
    dirs = sorted(os.path.relpath(d, root) for d, _, _ in os.walk(root))
    assert "usr/share/massaged" not in dirs
    assert "usr/lib/massaged" not in dirs
    assert "usr/include/massaged" not in dirs
    # Nothing installed was left out of uninstall's list but those two.
    assert installed - set(_walk(root)) and not [
        p for p in _walk(root) if p not in installed]
    # With its list gone, a new install brings every example back.
    os.unlink(os.path.join(conf, "profiles/ours.ini"))
    make(*(args + ("install",)))
    assert os.path.isfile(os.path.join(conf, "profiles/standard.ini"))


def test_installed_daemon_against_the_simulator(inst, tmp_path):
    r = lambda p: rooted(inst, p)
    bindir = r("/usr/bin")
    conf = r("/etc/massaged")
    ctls, zones = demo_table(os.path.join(conf, "massaged.ini"))
    for _, c in ctls:
        c.pop("address", None)
    overrides = {
        "plugin_dir": r("/usr/lib/massaged/routines"),
        "profile_dir": os.path.join(conf, "profiles"),
        "program_dir": os.path.join(conf, "programs"),
        "rules": os.path.join(conf, "contraindications.ini"),
        "panel_dir": r("/usr/share/massaged/panel"),
    }
    args = ["-v"]
    for k, v in overrides.items():
        args += ["-o", "%s=%s" % (k, v)]
    with Sim(tmp_path, controllers=sim_controllers(), build=bindir) as sim:
        d = Daemon(tmp_path, sim, controllers=ctls, zones=zones,
                   copy_profiles=False, copy_programs=False,
                   build=r("/usr/sbin"), args=args, start=False, **SLACK)
        assert d.binary == r("/usr/sbin/massaged")
        check = subprocess.run(d.argv() + ["-n"], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
        assert "configuration OK" in check.stdout
        d.start()
        try:
            st = d.wait_ready()
            assert len(st["zones"]) == len(zones)
            progs = d.request("GET", "/api/v1/programs").json()["programs"]
            assert {p["id"] for p in progs} >= {
                fn[:-4] for fn in os.listdir(overrides["program_dir"])
                if fn.endswith(".ini")}
            routines = d.request("GET", "/api/v1/routines").json()
            assert {x["name"] for x in routines["routines"]} >= set(PLUGINS)
            # A shipped program for the shipped standard profile.
            started = None
            for p in sorted(progs, key=lambda p: p["id"]):
                resp = d.request("POST", "/api/v1/session",
                                 {"program": p["id"], "profile": "standard"})
                if resp.status == 201:
                    started = p["id"]
                    break
                assert resp.status == 422, resp.text
            assert started, "no shipped program runs for profile standard"
            d.wait_for(lambda: any(z["setpoint_kpa"] > 0 for z in
                                   d.status()["zones"]), timeout=20,
                       what="a setpoint")
            d.wait_for(lambda: any(max(c["pressures"]) > 0.5
                                   for c in sim.get("all")), timeout=20,
                       what="pressure on the simulator")
            assert d.request("POST", "/api/v1/estop").status == 200
            r_ = d.request("GET", "/api/v1/sessions")
            assert r_.status == 200
            assert r_.json()["sessions"][0]["program"] == started
            panel = d.request("GET", "/", token=False)
            if os.listdir(overrides["panel_dir"]):
                assert panel.status == 200, panel
        finally:
            rc = d.stop()
        assert rc == 0, d.logs()


def test_plugin_sdk_through_pkg_config(inst, tmp_path):
    """The installed header and .pc build a plugin the installed daemon
    loads."""
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed")
    r = lambda p: rooted(inst, p)
    env = dict(os.environ, PKG_CONFIG_PATH=r("/usr/lib/pkgconfig"),
               PKG_CONFIG_LIBDIR="")

    def pc(*a, sysroot=None):
        e = dict(env)
        if sysroot:
            e["PKG_CONFIG_SYSROOT_DIR"] = sysroot
        return subprocess.run(["pkg-config"] + list(a) + ["massaged-routine"],
                              env=e, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert pc("--variable=plugindir") == "/usr/lib/massaged/routines"
    version = subprocess.run([r("/usr/sbin/massaged"), "-V"],
                             capture_output=True, text=True).stdout.split()[1]
    assert pc("--modversion") == version
    # The DESTDIR stands in for the root the SDK would be installed in:
    # as a sysroot, or with the prefix taken from where the .pc is.
    cflags = pc("--cflags", sysroot=inst["root"]).split()
    assert "-I" + r("/usr/include") in cflags, cflags
    assert pc("--define-prefix", "--cflags").split() == cflags
    assert pc("--define-prefix", "--variable=plugindir") == \
        r("/usr/lib/massaged/routines")
    plugdir = tmp_path / "plugins"
    shutil.copytree(r("/usr/lib/massaged/routines"), plugdir)
    src = os.path.join(REPO, "docs/examples/hello_routine/hello.c")
    p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-fPIC", "-shared", "-fvisibility=hidden"] + cflags +
                       ["-o", str(plugdir / "hello.so"), src, "-lm"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    tokens = tmp_path / "tokens"
    tokens.write_text("0123456789abcdef0123\n")
    os.chmod(tokens, 0o600)
    p = subprocess.run([r("/usr/sbin/massaged"), "-v", "-n", "-f",
                        r("/etc/massaged/massaged.ini"), "-o",
                        "plugin_dir=%s" % plugdir, "-o",
                        "token_file=%s" % tokens, "-o",
                        "state_dir=%s" % tmp_path], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert re.search(r"routine \S+ .*loaded from %s" %
                     re.escape(str(plugdir / "hello.so")), p.stderr), p.stderr
    # The installed test harness unit-tests it, as the guide shows.
    test = os.path.join(REPO, "docs/examples/hello_routine/hello_test.c")
    p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] +
                       cflags + ["-o", str(tmp_path / "hello_test"), test,
                                 "-lm"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([str(tmp_path / "hello_test"),
                        str(plugdir / "hello.so")], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "peak 6.00 kPa" in p.stdout


def _systemd_tool(name):
    if shutil.which(name) is None:
        pytest.skip("%s is not installed" % name)
    p = subprocess.run([name, "--version"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("%s cannot run here: %s" % (name, p.stderr.strip()))


def test_units_verify(tmp_path):
    """systemd-analyze verify checks the units as installed, with the
    binary and the man pages they name in place: an install under a
    PREFIX in the temporary directory (which also shows the units get the
    PREFIX's paths)."""
    _systemd_tool("systemd-analyze")
    prefix = str(tmp_path / "p")
    etc = str(tmp_path / "etc")
    make("BUILD=" + str(tmp_path / "build"), "PREFIX=" + prefix,
         "SYSCONFDIR=" + etc, "install")
    unitdir = os.path.join(prefix, "lib/systemd/system")
    with open(os.path.join(unitdir, "massaged@.service")) as f:
        unit = f.read()
    assert "ExecStart=%s/sbin/massaged -f %s/massaged/%%i.ini" % (
        prefix, etc) in unit, unit
    inst_dir = tmp_path / "units"
    inst_dir.mkdir()
    shutil.copy(os.path.join(unitdir, "massaged.service"), inst_dir)
    shutil.copy(os.path.join(unitdir, "massaged@.service"),
                inst_dir / "massaged@table1.service")
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"),
               SYSTEMD_LOG_LEVEL="notice")
    for u in ("massaged.service", "massaged@table1.service"):
        p = subprocess.run(["systemd-analyze", "verify",
                            str(inst_dir / u)], capture_output=True,
                           text=True, env=env, cwd=str(tmp_path))
        if p.returncode != 0 and ("Failed to " in p.stderr and
                                  "bus" in p.stderr.lower()):
            pytest.skip("systemd-analyze verify cannot run in this "
                        "sandbox: " + p.stderr.strip())
        assert p.returncode == 0 and p.stdout + p.stderr == "", \
            (u, p.stdout, p.stderr)
    # The hardening target of docs/deploy.md.
    p = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        str(inst_dir / "massaged@table1.service")],
                       capture_output=True, text=True, env=env)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.0, p.stdout
    with open(os.path.join(REPO, "docs/deploy.md")) as f:
        assert "Overall exposure level: %s" % m.group(1) in f.read()


def test_sysusers_and_tmpfiles(inst, tmp_path):
    """The sysusers and tmpfiles entries applied to a scratch root: the
    user, the state directory and the token file's mode and owner."""
    apply_sysusers_and_tmpfiles(inst["root"], tmp_path)


def apply_sysusers_and_tmpfiles(root, tmp_path):
    """Applies the entries installed under root (the package's, too) to a
    scratch root and checks the result."""
    _systemd_tool("systemd-sysusers")
    _systemd_tool("systemd-tmpfiles")
    sysroot = tmp_path / "sysroot"
    (sysroot / "etc/massaged").mkdir(parents=True)
    (sysroot / "var/lib").mkdir(parents=True)
    # This machine's users, but for a massaged user of an installed
    # package: the entries must make theirs.
    for fn in ("passwd", "group"):
        with open("/etc/" + fn) as f:
            (sysroot / "etc" / fn).write_text("".join(
                ln for ln in f if not ln.startswith("massaged:")))
    tokens = sysroot / "etc/massaged/tokens"
    tokens.write_text("0123456789abcdef0123\n")
    os.chmod(tokens, 0o644)
    p = subprocess.run(["systemd-sysusers", "--root=%s" % sysroot,
                        os.path.join(root, "usr/lib/sysusers.d/massaged.conf")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    users = {ln.split(":")[0]: ln.split(":") for ln in
             (sysroot / "etc/passwd").read_text().splitlines()}
    assert "massaged" in users
    uid = int(users["massaged"][2])
    assert users["massaged"][5] == "/var/lib/massaged"
    assert users["massaged"][6].endswith("nologin")
    p = subprocess.run(["systemd-tmpfiles", "--root=%s" % sysroot,
                        "--create",
                        os.path.join(root, "usr/lib/tmpfiles.d/massaged.conf")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    st = os.stat(sysroot / "var/lib/massaged")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert st.st_uid == uid
    st = os.stat(tokens)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid
