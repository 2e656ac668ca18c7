"""debian/: the packages built with dpkg-buildpackage (in a copy of the
tree, DEB_BUILD_OPTIONS=nocheck: the test suite is what is running now),
lintian clean at its default level, the hardening of every ELF file, and
the packages unpacked into a root of their own (dpkg-deb -x), where the
installed massaged checks the installed configuration and runs a table of
the installed simulator.

Skipped only without dpkg-dev; make check installs it (CHECK_DEBS).
"""

import os
import re
import shutil
import subprocess

import pytest

from daemon import REPO, Daemon, demo_table, sim_controllers
from debpkg import PACKAGES, clean_env, have_dpkg_dev, stand_ins
from simctl import Sim
from test_install import apply_sysusers_and_tmpfiles

SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

pytestmark = pytest.mark.skipif(
    not have_dpkg_dev(),
    reason="dpkg-dev is not installed (make check installs it): the "
    "Debian package is not built")


@pytest.fixture(scope="module")
def debs(deb_packages, tmp_path_factory):
    """The packages (conftest.py), unpacked into a root of this module's."""
    root = str(tmp_path_factory.mktemp("debroot"))
    for name in PACKAGES:
        subprocess.run(["dpkg-deb", "-x", deb_packages["files"][name], root],
                       check=True)
    return dict(deb_packages, root=root)


def rooted(debs, path):
    return os.path.join(debs["root"], path.lstrip("/"))


def contents(deb):
    p = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True,
                       text=True, check=True)
    return {ln.split()[-1].lstrip(".") for ln in p.stdout.splitlines()}


def control(deb, member):
    p = subprocess.run(["dpkg-deb", "-I", deb, member], capture_output=True,
                       text=True)
    return p.stdout if p.returncode == 0 else ""


def test_built_with_the_debian_flags(debs):
    """dh's dpkg-buildflags (hardening=+all) reach every compile and link,
    plugins included, with warnings as errors."""
    log = re.sub(r"\\\n\s*", " ", debs["log"])
    lines = [ln for ln in log.splitlines() if ln.startswith("cc ")]
    compiles = [ln for ln in lines if " -c " in ln or "-shared" in ln]
    links = [ln for ln in lines if " -c " not in ln]
    assert compiles and links
    for ln in compiles:
        assert "-D_FORTIFY_SOURCE=2" in ln and "-Werror" in ln, ln
        assert "-fstack-protector-strong" in ln, ln
    for ln in links:
        assert "-Wl,-z,now" in ln, ln
    assert [ln for ln in links if "-shared" in ln]


def test_lintian_clean(debs):
    if shutil.which("lintian") is None:
        pytest.skip("lintian is not installed (make check installs it)")
    p = subprocess.run(["lintian", "--no-cfg", "--fail-on", "error,warning",
                        debs["changes"]], capture_output=True, text=True,
                       timeout=600)
    tags = [ln for ln in p.stdout.splitlines() if re.match(r"^[EW]: ", ln)]
    assert p.returncode == 0 and not tags, p.stdout + p.stderr


def test_hardening(debs):
    """Every ELF file: bind now; executables PIE; the daemon fortified."""
    elves = []
    for d, _, fns in os.walk(debs["root"]):
        for fn in fns:
            path = os.path.join(d, fn)
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    elves.append(path)
    names = {os.path.relpath(p, debs["root"]) for p in elves}
    assert {"usr/sbin/massaged", "usr/bin/massagectl",
            "usr/bin/massaged-sim"} <= names, names
    assert any(n.startswith("usr/lib/massaged/routines/") for n in names)
    for path in elves:
        dyn = subprocess.run(["readelf", "-d", "-W", path],
                             capture_output=True, text=True).stdout
        assert "BIND_NOW" in dyn, path
        if "/bin/" in path or "/sbin/" in path:
            assert re.search(r"FLAGS_1\).*PIE", dyn), path
    syms = subprocess.run(["readelf", "--dyn-syms", "-W",
                           rooted(debs, "/usr/sbin/massaged")],
                          capture_output=True, text=True).stdout
    assert "_chk" in syms


def test_package_contents(debs):
    files = debs["files"]
    daemon = contents(files["massaged"])
    for path in ("/usr/sbin/massaged", "/usr/lib/massaged/routines/swedish.so",
                 "/usr/share/massaged/panel/index.html",
                 "/usr/share/massaged/prometheus/massaged-alerts.yml",
                 "/usr/share/massaged/grafana/massaged-dashboard.json",
                 "/lib/systemd/system/massaged.service",
                 "/lib/systemd/system/massaged@.service",
                 "/usr/lib/sysusers.d/massaged.conf",
                 "/usr/lib/tmpfiles.d/massaged.conf",
                 "/usr/share/massaged/etc/massaged.ini",
                 "/usr/share/massaged/etc/devices/wago-750-352.ini",
                 "/usr/share/massaged/etc/devices/rs485-ao8.ini",
                 "/usr/libexec/massaged/massaged-upgrade",
                 "/usr/share/man/man8/massaged.8.gz"):
        assert path in daemon, path
    # No token in the package: it is made at installation.
    assert not [p for p in daemon if "token" in os.path.basename(p)]
    assert not [p for p in daemon if p.startswith("/usr/lib/systemd/")]
    assert "/usr/bin/massagectl" in contents(files["massagectl"])
    sim = contents(files["massaged-sim"])
    assert {"/usr/bin/massaged-sim",
            "/usr/share/man/man1/massaged-sim.1.gz"} <= sim
    dev = contents(files["massaged-dev"])
    assert {"/usr/include/massaged/routine.h",
            "/usr/share/pkgconfig/massaged-routine.pc"} <= dev
    # No file of the site's is a conffile: an upgrade never asks about
    # one (the postinst copies them into /etc/massaged once); what is in
    # /etc is a conffile.
    conf = set(control(files["massaged"], "conffiles").split())
    etc = {p for p in daemon if p.startswith("/etc/") and not p.endswith("/")}
    assert conf == etc == {"/etc/logrotate.d/massaged"}, (conf, etc)


def test_maintainer_scripts(debs):
    """The user before the directories before the token; the unit enabled,
    not started; the token 0600 and the service user's."""
    post = control(debs["files"]["massaged"], "postinst")
    i_users = post.index("systemd-sysusers")
    i_tmp = post.index("systemd-tmpfiles")
    i_token = post.index("tokens=${DPKG_ROOT:-}/etc/massaged/tokens")
    assert i_users < i_tmp < i_token
    assert "deb-systemd-helper enable 'massaged.service'" in post
    assert "deb-systemd-invoke start" not in post
    assert "deb-systemd-invoke restart" not in post
    block = post[i_token:]
    assert "umask 077" in block and "chmod 0600" in block
    assert "chown massaged:massaged" in block
    assert '[ ! -e "$tokens" ]' in block      # never replaces one
    p = subprocess.run(["sh", "-n"], input=post, text=True)
    assert p.returncode == 0


def test_sysusers_and_tmpfiles_of_the_package(debs, tmp_path):
    """The package's sysusers and tmpfiles entries on a scratch root, as
    its postinst applies them."""
    apply_sysusers_and_tmpfiles(debs["root"], tmp_path)


def test_postinst_makes_a_token(debs, tmp_path):
    """The postinst's token part, run on a scratch directory (chown
    recorded by a stand-in): one token the daemon accepts, mode 0600,
    given to the service user; an existing token file is left alone."""
    post = control(debs["files"]["massaged"], "postinst")
    block = post[post.index('if [ "$1" = "configure" ]; then\n\tsite_files'
                            '\n\ttokens='):].replace("\tsite_files\n", "", 1)
    etc = tmp_path / "etc"
    etc.mkdir()
    tokens = etc / "tokens"
    block = block.replace("/etc/massaged/tokens", str(tokens))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "chown.log"
    (bindir / "chown").write_text('#!/bin/sh\necho "$@" >>%s\n' % log)
    os.chmod(bindir / "chown", 0o755)
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]))
    script = tmp_path / "postinst"
    script.write_text("#!/bin/sh\nset -e\n" + block)
    p = subprocess.run(["sh", str(script), "configure"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "created %s" % tokens in p.stdout
    assert os.stat(tokens).st_mode & 0o777 == 0o600
    token = tokens.read_text()
    assert re.fullmatch(r"[0-9a-f]{48}\n", token), token
    assert log.read_text() == "massaged:massaged %s.new\n" % tokens
    # The daemon accepts it.
    p = installed_check(debs, "-o", "token_file=%s" % tokens)
    assert p.returncode == 0, p.stderr
    # A second configure (an upgrade) keeps it.
    p = subprocess.run(["sh", str(script), "configure"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    assert tokens.read_text() == token


def maintainer(debs, name, root, *args):
    """The package's maintainer script name with DPKG_ROOT=root: its site
    files and purge parts (chown and the systemd helpers stand in)."""
    text = control(debs["files"]["massaged"], name)
    bindir = stand_ins(os.path.join(str(root), "..", "stand-ins"))
    text = text.replace("/usr/libexec/massaged/massaged-upgrade", "true")
    env = dict(os.environ, DPKG_ROOT=str(root),
               PATH="%s:%s" % (bindir, os.environ["PATH"]))
    return subprocess.run(["sh", "-c", text, name] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


def test_site_files_are_the_sites(debs, tmp_path):
    """An unattended upgrade with an edited table file completes: the
    postinst copies the defaults once; an edited file is never touched
    (its new default goes beside it as .dist), a deleted one stays
    deleted, a new default comes; a purge removes what the package made
    and keeps what the site added and /var/lib/massaged."""
    root = tmp_path / "root"
    shutil.copytree(os.path.join(debs["root"], "usr", "share", "massaged",
                                 "etc"),
                    root / "usr" / "share" / "massaged" / "etc")
    (root / "var" / "lib" / "massaged").mkdir(parents=True)
    (root / "var" / "lib" / "massaged" / "sessions.jsonl").write_text("{}\n")
    etc = root / "etc" / "massaged"
    p = maintainer(debs, "postinst", root, "configure", "")
    assert p.returncode == 0, p.stderr
    shipped = root / "usr" / "share" / "massaged" / "etc"
    assert (etc / "massaged.ini").read_text() == \
        (shipped / "massaged.ini").read_text()
    assert (etc / "devices" / "wago-750-352.ini").exists()
    # the site edits its table, deletes a program, adds a file
    (etc / "massaged.ini").write_text("[daemon]\nname = Room 4\n")
    gone = sorted((etc / "programs").iterdir())[0]
    gone.unlink()
    (etc / "site.ini").write_text("ours\n")
    # the next version: the table's default changed, a new default
    (shipped / "massaged.ini").write_text(
        (shipped / "massaged.ini").read_text() + "; new default\n")
    (shipped / "profiles" / "new_default.ini").write_text("[client]\n")
    p = maintainer(debs, "postinst", root, "configure", "0.0.9")
    assert p.returncode == 0, p.stderr
    assert (etc / "massaged.ini").read_text() == "[daemon]\nname = Room 4\n"
    assert (etc / "massaged.ini.dist").read_text().endswith(
        "; new default\n")
    assert not gone.exists()
    assert (etc / "profiles" / "new_default.ini").exists()
    # purge: the package's files go, the site's own and the state stay
    p = maintainer(debs, "postrm", root, "purge")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(etc)) == ["site.ini"]
    assert (root / "var" / "lib" / "massaged" / "sessions.jsonl").exists()


def installed_check(debs, *extra):
    """The installed massaged -n, with the unpacked files and a state
    directory of its own (the default is this machine's
    /var/lib/massaged)."""
    r = lambda p: rooted(debs, p)
    state = os.path.join(debs["out"], "state")
    os.makedirs(state, exist_ok=True)
    return subprocess.run(
        [r("/usr/sbin/massaged"), "-n", "-f",
         r("/usr/share/massaged/etc/massaged.ini"),
         "-o", "plugin_dir=" + r("/usr/lib/massaged/routines"),
         "-o", "panel_dir=" + r("/usr/share/massaged/panel"),
         "-o", "state_dir=" + state] + list(extra),
        capture_output=True, text=True, timeout=60)


def test_installed_check_and_run(debs, tmp_path):
    """massaged -n on the installed configuration: refused without the
    token file the postinst makes, accepted with one; then the installed
    daemon runs a table of the installed simulator."""
    r = lambda p: rooted(debs, p)
    # The defaults the postinst copies into /etc/massaged, where they
    # are read here (their token file is next to them).
    tokens = r("/usr/share/massaged/etc/tokens")
    if os.path.exists(tokens):
        os.unlink(tokens)
    p = installed_check(debs)
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"^<3>massaged: token file %s" % re.escape(tokens),
                     p.stderr, re.M), p.stderr
    assert "configuration OK" not in p.stdout
    fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"0123456789abcdef0123456789abcdef\n")
    os.close(fd)
    p = installed_check(debs)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"

    conf = r("/usr/share/massaged/etc")
    ctls, zones = demo_table(os.path.join(conf, "massaged.ini"))
    for _, c in ctls:
        c.pop("address", None)
    args = ["-v", "-o", "plugin_dir=" + r("/usr/lib/massaged/routines"),
            "-o", "profile_dir=" + os.path.join(conf, "profiles"),
            "-o", "program_dir=" + os.path.join(conf, "programs"),
            "-o", "rules=" + os.path.join(conf, "contraindications.ini"),
            "-o", "panel_dir=" + r("/usr/share/massaged/panel")]
    with Sim(tmp_path, controllers=sim_controllers(),
             build=r("/usr/bin")) as sim:
        d = Daemon(tmp_path, sim, controllers=ctls, zones=zones,
                   copy_profiles=False, copy_programs=False,
                   build=r("/usr/sbin"), args=args, start=False, **SLACK)
        d.start()
        try:
            st = d.wait_ready()
            assert len(st["zones"]) == len(zones)
            assert d.request("GET", "/", token=False).status == 200
        finally:
            rc = d.stop()
        assert rc == 0, d.logs()


def test_check_build_under_dpkg_buildflags(tmp_path):
    """make check's build (ASan+UBSan, warnings as errors) and the unit
    suite under `dpkg-buildflags --export=make` with every hardening
    feature: what the package's test step runs."""
    env = clean_env()
    env["DEB_BUILD_MAINT_OPTIONS"] = "hardening=+all"
    flags = subprocess.run(["dpkg-buildflags", "--export=make"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "_FORTIFY_SOURCE=2" in flags and "-z,now" in flags, flags
    mk = tmp_path / "buildflags.mk"
    mk.write_text(flags)
    build = str(tmp_path / "build")
    p = subprocess.run(["make", "-C", REPO, "--no-print-directory", "-j2",
                        "-f", str(mk), "-f", "Makefile", "BUILD=" + build,
                        "SAN=1", "tests"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=env, timeout=1800)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-6000:]
    assert "-D_FORTIFY_SOURCE=2" in p.stdout and "-Werror " in p.stdout
    env.pop("DEB_BUILD_OPTIONS")
    p = subprocess.run([os.path.join(REPO, "tests/run.sh"), build, "unit"],
                       cwd=REPO, capture_output=True, text=True, env=env,
                       timeout=1800)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-2000:]
    assert re.search(r"^\d+ passed, 0 failed$", p.stdout, re.M), p.stdout
