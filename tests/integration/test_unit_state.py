"""The unit tests on a machine where massaged is installed: they never read
the system's state directory (/var/lib/massaged), whose saved profiles are
health data and belong to the daemon's user. When one did, building the
package there failed (`client_*.ini owned by uid 995`, issue 24).

Each unit test runs in a mount namespace of its own in which /var/lib is a
tmpfs holding what an installed daemon leaves there: a saved profile owned
by the daemon's user. A unit test that reads it fails.
"""

import glob
import os
import shutil
import subprocess

import pytest

from daemon import REPO

DAEMON_UID = 995        # the uid dpkg-buildpackage met
NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) for a mount namespace")

# Runs "$@" with /var/lib/massaged as an installed daemon leaves it.
INSTALLED = r"""
set -e
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mkdir -p -m 0750 /var/lib/massaged/profiles
printf '[profile]\nname = Installed Client\nrevision = 1\n' \
    >/var/lib/massaged/profiles/client_0123456789abcdef.ini
printf '{"id":1}\n' >/var/lib/massaged/sessions.jsonl
chown -R %d:%d /var/lib/massaged
chmod 0640 /var/lib/massaged/profiles/*.ini
exec "$@"
""" % (DAEMON_UID, DAEMON_UID)


def unit_tests():
    build = os.path.abspath(os.environ.get("MASSAGED_BUILD", "build"))
    return build, sorted(t for t in glob.glob(os.path.join(build, "tests",
                                                           "test_*"))
                         if os.access(t, os.X_OK))


@NEEDS_ROOT
@pytest.mark.skipif(
    os.environ.get("MASSAGED_UNIT_SUITE_ISOLATED") == "1",
    reason="tests/run.sh ran this run's unit suite in tests/isolate.sh's "
    "namespace, whose /var/lib/massaged holds the same (a profile owned by "
    "uid 995): the suite passing there is this test")
def test_unit_tests_pass_beside_an_installed_state_dir():
    build, tests = unit_tests()
    assert tests, "no unit tests in %s (set MASSAGED_BUILD)" % build
    probe = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "mount", "-t", "tmpfs", "tmpfs", "/var/lib"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here: %s" % probe.stderr[-200:])
    env = dict(os.environ, MASSAGED_BUILD=build,
               MASSAGED_WORKER=os.path.join(build, "massaged-worker"))
    failed = []
    for t in tests:
        p = subprocess.run(["unshare", "-m", "--propagation", "private",
                            "sh", "-c", INSTALLED, "sh", t],
                           cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            failed.append("%s (exit %d):\n%s" % (
                os.path.basename(t), p.returncode,
                (p.stdout + p.stderr)[-2000:]))
    assert failed == [], "\n".join(failed)
