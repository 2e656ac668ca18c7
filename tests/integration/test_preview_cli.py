"""massagectl preview: the offline preview from the command line."""

import csv
import os
import subprocess

from daemon import REPO, ctl_binary

PLUGINS = os.path.abspath(os.path.join(
    os.environ.get("MASSAGED_BUILD", "build"), "plugins"))


def preview(tmp_path, *args):
    # The shipped file leaves state_dir at the installed /var/lib/massaged,
    # whose saved profiles the preview reads: a directory of the test's.
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return subprocess.run(
        [ctl_binary(), "preview"] + list(args) +
        ["-f", os.path.join(REPO, "config", "massaged.ini"),
         "-o", "plugin_dir=" + PLUGINS, "-o", "state_dir=%s" % state],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=120)


def test_writes_csv_and_svg(tmp_path):
    r = preview(tmp_path, "piriformis_relief", "--profile", "standard")
    assert r.returncode == 0, r.stderr
    assert "ended by program_end" in r.stderr
    rows = list(csv.reader(open(tmp_path / "piriformis_relief-standard.csv")))
    header, limits, data = rows[0], rows[1], rows[2:]
    assert header[0] == "t_s" and "piriformis_left" in header
    assert limits[0] == "limit"
    pl = header.index("piriformis_left")
    assert float(limits[pl]) == 20.0       # the standard profile's zone cap
    assert len(data) > 10 * 60 * 20        # 10 rows a second, > 20 min
    # never above a limit, and the trigger point hold reaches piriformis
    for row in data:
        for i in range(1, len(header)):
            assert float(row[i]) <= float(limits[i]) + 1e-6
    assert max(float(row[pl]) for row in data) > 10
    svg = (tmp_path / "piriformis_relief-standard.svg").read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "trigger_points (trigger_point)" in svg
    assert len(svg) < 1_000_000


def test_stdout_and_intensity(tmp_path):
    full = preview(tmp_path, "relaxation", "--profile", "standard",
                   "--csv", "-", "--svg", "/dev/null", "--intensity", "100")
    half = preview(tmp_path, "relaxation", "--profile", "standard",
                   "--csv", "-", "--svg", "/dev/null", "--intensity", "50")
    assert full.returncode == 0 and half.returncode == 0

    def total(out):
        rows = list(csv.reader(out.splitlines()))[2:]
        return sum(float(v) for row in rows for v in row[1:])
    assert 0.3 < total(half.stdout) / total(full.stdout) < 0.6


def test_refused_and_errors(tmp_path):
    r = preview(tmp_path, "piriformis_relief", "--profile", "anticoagulated")
    assert r.returncode == 1
    assert "contraindicated: anticoagulants" in r.stderr
    assert not (tmp_path / "piriformis_relief-anticoagulated.csv").exists()
    r = preview(tmp_path, "piriformis_relief")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = preview(tmp_path, "nope", "--profile", "standard")
    assert r.returncode == 1 and "no program 'nope'" in r.stderr
    r = subprocess.run([ctl_binary(), "preview", "relaxation", "--profile",
                        "standard", "-f", str(tmp_path / "missing.ini")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "cannot open" in r.stderr
    r = subprocess.run([ctl_binary(), "preview", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--profile" in r.stdout
