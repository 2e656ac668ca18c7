"""`massaged -n` on tables with kind = device controllers: the example
tables of config/examples pass as shipped (and print the RS-485 line's
time per tick), and a watchdog-less device without a relay interlock is
refused with the reason at its device = line. No simulator: the check
touches no controller. The unit tests (tests/unit/test_table_device.c)
cover every key and check.
"""

import os
import re
import shutil
import subprocess

from daemon import REPO, daemon_binary

EXAMPLES = os.path.join(REPO, "config", "examples")


def check(tmp_path, table):
    """massaged -n on table, with a token file and state directory of the
    test's own (never the machine's)."""
    tokens = tmp_path / "tokens"
    tokens.write_text("test-token-0123456789abcdef\n")
    tokens.chmod(0o600)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    build = os.path.dirname(daemon_binary())
    return subprocess.run(
        [daemon_binary(), "-n", "-f", str(table),
         "-o", "token_file=%s" % tokens, "-o", "state_dir=%s" % state,
         "-o", "plugin_dir=%s" % os.path.join(build, "plugins")],
        capture_output=True, text=True, timeout=60, cwd=REPO)


def test_examples_pass_the_check(tmp_path):
    for name in ("table-wago.ini", "table-rs485.ini"):
        r = check(tmp_path, os.path.join(EXAMPLES, name))
        assert r.returncode == 0, r.stderr
        assert "configuration OK" in r.stdout
    # The RS-485 line: three modules, four transactions a tick.
    m = re.search(r"line /tmp/massaged-rs485: 1 controller, ([0-9.]+) ms "
                  r"of line time per tick at 115200 baud, a tick is 40.0 ms",
                  r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) < 40.0


def test_watchdogless_device_without_interlock_refused(tmp_path):
    """rs485-ao8 alone: refused, naming the device = line and why; the
    same table with its relay passes (above)."""
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples)
    os.symlink(os.path.join(REPO, "config", "devices"),
               tmp_path / "devices")
    for f in ("contraindications.ini", "intake.ini"):
        os.symlink(os.path.join(REPO, "config", f), tmp_path / f)
    table = examples / "table-rs485.ini"
    text = table.read_text()
    lines = text.splitlines(keepends=True)
    device_line = next(i + 1 for i, l in enumerate(lines)
                       if l.startswith("device = "))
    table.write_text("".join(l for l in lines
                             if not l.startswith("interlock")))
    r = check(tmp_path, table)
    assert r.returncode != 0
    assert ("%s:%d: [controller pelvis] device: the watchdog of rs485-ao8 "
            "is not trusted: it has no communication watchdog (kind = "
            "none); such a device is driven only behind a relay "
            "interlock: name one with interlock = FILE (docs/devices.md)"
            % (table, device_line)) in r.stderr


def absolute_example(name, listen):
    """An example table with every path made absolute, on its own listen
    address, for a directory of tables."""
    text = open(os.path.join(EXAMPLES, name)).read()
    text = text.replace("../devices/", os.path.join(REPO, "config",
                                                    "devices") + "/")
    for key, rel in (("profile_dir", "profiles"), ("program_dir", "programs"),
                     ("rules", "../contraindications.ini"),
                     ("intake", "../intake.ini")):
        text = text.replace("%s = %s\n" % (key, rel), "%s = %s\n" % (
            key, os.path.normpath(os.path.join(EXAMPLES, rel))))
    return text.replace("listen = 127.0.0.1:8080", "listen = " + listen)


def test_table_directory_sees_every_part_unit(tmp_path):
    """-n on a directory: a register map controller of another table on
    the interlock's unit of the RS-485 line is one controller driven by
    two daemons."""
    tables = tmp_path / "tables"
    tables.mkdir()
    a = absolute_example("table-rs485.ini", "127.0.0.1:8081")
    (tables / "a.ini").write_text(a)
    start = a.index("[controller pelvis]")
    end = a.index("[zone ")
    b = a[:start] + ("[controller pelvis]\ntransport = rtu\n"
                     "serial = /tmp/massaged-rs485\nbaud = 115200\n"
                     "unit_id = 3\nresponse_timeout_ms = 50\n\n") + a[end:]
    b = b.replace("listen = 127.0.0.1:8081", "listen = 127.0.0.1:8082")
    (tables / "b.ini").write_text(b)
    line = b[:b.index("[controller pelvis]")].count("\n") + 1
    r = check(tmp_path, tables)
    assert r.returncode != 0
    assert ("%s:%d: [controller pelvis] /tmp/massaged-rs485 unit 3 is also "
            "controller pelvis of %s: one controller, two daemons"
            % (tables / "b.ini", line, tables / "a.ini")) in r.stderr, \
        r.stderr
    # On unit 4 it is another device on the line: fine.
    (tables / "b.ini").write_text(b.replace("unit_id = 3", "unit_id = 4"))
    r = check(tmp_path, tables)
    assert r.returncode == 0, r.stderr
