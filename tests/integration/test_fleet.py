"""The fleet files of contrib/ (installed under /usr/share/massaged):
the Prometheus alert rules through promtool (check rules, and the rule
unit tests beside them, a firing and a quiet case for every alert), the
alert texts naming the unit and host of the scrape's labels, and every
metric the rules and the Grafana dashboard query found in a real daemon's
/metrics, with every label they match on, none of them a label the scrape
configuration gives. The daemon has a store (docs/store.md) on a port nothing listens
on, so that the store's metrics are exposed too: all but the time of the
last line shipped, which needs a server (test_store_link.py)."""

import json
import os
import re
import shutil
import subprocess

import pytest

from daemon import REPO, Daemon, sim_controllers
from simctl import Sim
from test_metrics import scrape

RULES = os.path.join(REPO, "contrib/prometheus/massaged-alerts.yml")
RULE_TESTS = os.path.join(REPO, "contrib/prometheus/massaged-alerts.test.yml")
DASHBOARD = os.path.join(REPO, "contrib/grafana/massaged-dashboard.json")
# A store nothing answers at (port 1 is closed on loopback): the link is
# down, its metrics are exposed.
CLOSED_STORE = "postgresql://table1@127.0.0.1:1/spa"

DEPLOY = os.path.join(REPO, "docs/deploy.md")
# Series Prometheus makes itself for every target, and the labels its
# scrape configuration adds (docs/deploy.md): not the daemon's to expose.
PROMETHEUS_SERIES = {"up"}
SCRAPE_LABELS = {"job", "instance", "table", "unit"}
TARGET_LABELS = SCRAPE_LABELS | {"le"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset", "inf", "nan"}


def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (make check installs the "
                    "prometheus package)")
    return path


def test_promtool_check_rules():
    p = subprocess.run([promtool(), "check", "rules", RULES],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 11 rules found" in p.stdout, p.stdout


def test_promtool_rule_unit_tests():
    p = subprocess.run([promtool(), "test", "rules", RULE_TESTS],
                       capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(RULE_TESTS))
    assert p.returncode == 0, p.stdout + p.stderr


def alert_names():
    return re.findall(r"^\s*- alert:\s*(\w+)\s*$", open(RULES).read(), re.M)


def rule_cases():
    """(alertname, fires) of every case of the rule unit tests: fires is
    False for exp_alerts: [] (and for a case without exp_alerts)."""
    text = open(RULE_TESTS).read()
    out = []
    for block in re.split(r"\n\s*- eval_time:", text)[1:]:
        name = re.search(r"alertname:\s*(\w+)", block).group(1)
        m = re.search(r"exp_alerts:(.*)", block, re.S)
        fires = bool(m) and not m.group(1).strip().startswith("[]")
        out.append((name, fires))
    return out


def test_every_alert_has_a_firing_and_a_quiet_case():
    names = alert_names()
    assert len(names) == 11, names
    cases = rule_cases()
    assert {n for n, _ in cases} <= set(names), cases
    for n in names:
        assert (n, True) in cases, "%s never fires in the tests" % n
        assert (n, False) in cases, "%s has no case where it stays " \
            "quiet" % n


def test_alert_texts_name_the_scraped_unit_and_host():
    text = open(RULES).read()
    # Never a unit made up from the table's name: a box may run
    # massaged.service.
    assert "massaged@{{" not in text
    for block in re.split(r"\n\s*- alert:", text)[1:]:
        name = block.split()[0]
        for ln in re.findall(r"(?:summary|description): (.*)", block):
            if "systemctl" in ln or "journalctl" in ln:
                assert "$labels.unit" in ln and "$labels.instance" in ln, \
                    (name, ln)
    tests = open(RULE_TESTS).read()
    # The tests expand both: a target with its unit label, one without.
    assert "massaged@table1.service on spa-host1:8081" in tests
    assert "(the target has no unit label)" in tests


def test_deploy_scrape_config_gives_the_labels_the_alerts_use():
    text = open(DEPLOY).read()
    labels = set()
    for m in re.finditer(r"labels:\s*\{([^}]*)\}", text):
        labels.update(k.strip() for k in re.findall(r"(\w+):", m.group(1)))
    assert {"table", "unit"} <= labels, labels
    assert labels - {"room"} <= SCRAPE_LABELS, labels


def rule_exprs():
    """The expr: of every rule (the file is simple YAML: no parser needed,
    and promtool has checked it)."""
    out = []
    lines = open(RULES).read().split("\n")
    for i, ln in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", ln)
        if not m:
            continue
        expr = m.group(2)
        if expr in (">", "|"):
            ind = len(m.group(1))
            expr = ""
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= ind:
                    break
                expr += " " + nxt.strip()
        out.append(expr.strip())
    return out


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(t["expr"])
    for v in dash["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict):
            out.append(q["query"])
    return out


def selectors(expr):
    """(metric, {label, ...}) of every series selector in a PromQL (or
    Grafana templated) expression."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # strings
    e = re.sub(r"\$\{?\w+\}?", "x", e)                     # $table, $__...
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)                       # grouping labels
    e = re.sub(r"label_values\((.*),\s*\w+\s*\)", r"(\1)", e)
    out = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?",
                         e):
        name, matchers, call = m.group(1), m.group(2), m.group(3)
        if call or name in KEYWORDS:
            continue
        if re.match(r"^\d", name):
            continue
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)",
                                matchers or ""))
        out.append((name, labels))
    return out


def test_every_queried_metric_exists(tmp_path):
    exprs = rule_exprs() + dashboard_exprs()
    assert len(rule_exprs()) == 11 and len(dashboard_exprs()) >= 39
    wanted = {}
    for e in exprs:
        sels = selectors(e)
        assert sels, "no metric in %r" % e
        for name, labels in sels:
            wanted.setdefault(name, set()).update(labels)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, response_timeout_ms=200,
                   watchdog_ms=1000, daemon={"store": CLOSED_STORE}) as d:
        d.wait_ready()
        d.wait_for(lambda: all(c["connected"] for c in
                               d.status()["controllers"]),
                   timeout=20, what="controllers connected")
        # the link has tried and failed, and counted the backlog
        d.wait_for(lambda: (lambda s: s["error"] and s["outbox"]["backlog"]
                            is not None)(d.status()["store"]),
                   timeout=20, what="the store down, the backlog counted")
        m = scrape(d)
    have = {}
    for name, labels, _ in m.samples:
        have.setdefault(name, set()).update(labels)
    missing = []
    for name, labels in sorted(wanted.items()):
        if name in PROMETHEUS_SERIES:
            continue
        if name not in have:
            missing.append(name)
            continue
        extra = labels - have[name] - TARGET_LABELS
        assert not extra, (name, extra, have[name])
    assert not missing, "queried, not exposed: %s" % missing
    # No label of the daemon's clashes with one the scrape gives (it
    # would be renamed exported_table, and the queries miss it).
    clash = {n: sorted(ls & SCRAPE_LABELS) for n, ls in have.items()
             if ls & SCRAPE_LABELS}
    assert not clash, clash
    assert "massaged_table" in have["massaged_table_info"]
    # Every family the daemon exposes is on the dashboard.
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in wanted}
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in have}
    assert families <= shown, sorted(families - shown)
