"""One version (issue 27): the top entry of debian/changelog, the package's,
is what `massaged -V`, `massagectl -V`, `massaged-sim -V`,
`massaged_build_info{version=...}` in /metrics and the status's `version`
say (the Makefile takes it from there), and the manual pages' headers.
The panel shows the status's: tests/browser/version.test.mjs.
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

from daemon import REPO, TOKEN, Daemon, ctl_binary, daemon_binary

# Controller ports nobody listens on: the daemon starts, the links do not.
NO_SIM = [1, 2]
VIEWER = "viewer-token-0123456789abcdef"


def changelog_version():
    """The version of debian/changelog's top entry, read as the Makefile's
    fallback reads it: 'massaged (0.1.0) unstable; urgency=medium'."""
    with open(os.path.join(REPO, "debian", "changelog")) as f:
        first = f.readline()
    m = re.match(r"^\S+ \(([^)]+)\) ", first)
    assert m, first
    return m.group(1)


def first_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()[0]


def test_changelog_is_read_as_dpkg_reads_it():
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("no dpkg-parsechangelog (dpkg-dev)")
    r = subprocess.run(["dpkg-parsechangelog", "-l",
                        os.path.join(REPO, "debian", "changelog"),
                        "-S", "Version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == changelog_version()


def test_programs_say_the_changelog_version():
    want = changelog_version()
    build = os.path.dirname(daemon_binary())
    assert first_line([daemon_binary(), "-V"]).startswith(
        "massaged %s (" % want)
    assert first_line([ctl_binary(), "-V"]) == "massagectl %s" % want
    assert first_line([os.path.join(build, "massaged-sim"), "-V"]).startswith(
        "massaged-sim %s" % want)


def test_metrics_and_status_say_the_changelog_version(tmp_path):
    want = changelog_version()
    with Daemon(tmp_path, NO_SIM,
                tokens=[TOKEN, "wall %s viewer" % VIEWER]) as d:
        r = d.request("GET", "/metrics", token=False)
        assert r.status == 200, r
        info = [ln for ln in r.text.splitlines()
                if ln.startswith("massaged_build_info{")]
        assert len(info) == 1, r.text[:2000]
        assert 'version="%s"' % want in info[0], info
        assert d.status()["version"] == want
        # A viewer sees it too: it says nothing of a client.
        r = d.request("GET", "/api/v1/status", token=VIEWER)
        assert r.status == 200, r
        assert r.json()["version"] == want
        assert d.stop() == 0


def test_manual_pages_name_the_changelog_version():
    want = changelog_version()
    pages = glob.glob(os.path.join(REPO, "docs", "man", "*.[0-9]"))
    assert len(pages) >= 4, pages
    for page in pages:
        with open(page) as f:
            th = [ln for ln in f if ln.startswith(".TH ")]
        assert len(th) == 1, page
        assert '"massaged %s"' % want in th[0], (page, th[0])
