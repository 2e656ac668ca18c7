"""The Debian packages of this tree, built once per test run: `make deb`
(dpkg-buildpackage -b in a copy of the tree) with DEB_BUILD_OPTIONS=nocheck
(the test suite is what is running). conftest.py's deb_packages fixture
builds them; test_package.py and the packaged path of test_guides.py take
them from there."""

import glob
import os
import shutil
import subprocess

from daemon import REPO

PACKAGES = ("massaged", "massagectl", "massaged-sim", "massaged-dev")


def have_dpkg_dev():
    return shutil.which("dpkg-buildpackage") is not None


def clean_env():
    """The environment without the test build's settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
                        "SAN", "OPT", "BUILD", "PREFIX", "DESTDIR",
                        "SYSCONFDIR", "CFLAGS", "LDFLAGS", "CPPFLAGS",
                        "ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD")}
    env["DEB_BUILD_OPTIONS"] = "nocheck"
    return env


def build(out):
    """make deb into out: {"out", "files": {package: path}, "changes",
    "log"}; AssertionError with its output if it fails."""
    p = subprocess.run(["make", "-C", REPO, "--no-print-directory", "deb",
                        "DEB_OUT=%s" % out], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=clean_env(),
                       timeout=1800)
    assert p.returncode == 0, "make deb failed:\n%s\n%s" % (
        p.stdout[-6000:], p.stderr[-6000:])
    files = {}
    for path in glob.glob(os.path.join(str(out), "*.deb")):
        files[os.path.basename(path).split("_")[0]] = path
    for name in PACKAGES:
        assert name in files, (name, sorted(files))
    changes = glob.glob(os.path.join(str(out), "*.changes"))
    assert len(changes) == 1, changes
    return {"out": str(out), "files": files, "changes": changes[0],
            "log": p.stdout}


def stand_ins(bindir):
    """Commands a maintainer script runs that need a real system (root,
    the massaged user, systemd as PID 1): each a no-op in bindir."""
    os.makedirs(bindir, exist_ok=True)
    for cmd in ("chown", "systemd-sysusers", "systemd-tmpfiles",
                "deb-systemd-helper", "deb-systemd-invoke", "systemctl"):
        path = os.path.join(bindir, cmd)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
    return bindir
