"""The stop causes: one table (daemon/core/cause.c), served by
GET /api/v1/causes, read by the panel (panel/panel.js keeps no list of its
own). A cause is complete when the enum, the list and every panel
catalogue agree: these tests fail when a cause lacks a catalogue entry, or
the daemon reports a reason the list does not have.

Run: MASSAGED_BUILD=build /usr/bin/python3 -m pytest -q \\
         tests/integration/test_causes.py
"""

import glob
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import REPO, TOKEN, Daemon, daemon_binary, sim_controllers  # noqa: E402,E501
from simctl import Sim, sim_binary  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (os.access(daemon_binary(), os.X_OK) and os.access(sim_binary(),
                                                          os.X_OK)),
    reason="massaged or massaged-sim not built (set MASSAGED_BUILD)")

VIEWER = "viewer-token-0123456789ab"
CATALOGUES = sorted(f for f in glob.glob(os.path.join(REPO, "panel", "i18n",
                                                      "*.json"))
                    if os.path.basename(f) != "index.json")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("causes")
    sim = Sim(tmp, controllers=sim_controllers())
    d = None
    try:
        d = Daemon(tmp, sim, tokens=[TOKEN, "hall %s viewer" % VIEWER])
        d.wait_ready()
        yield sim, d
    finally:
        rc = d.stop() if d is not None else 0
        sim.stop()
        if d is not None:
            assert d.sanitizer_report() == "", d.sanitizer_report()
            assert rc == 0, d.logs()[-3000:]


@pytest.fixture(scope="module")
def causes(env):
    r = env[1].request("GET", "/api/v1/causes")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    return r.json()["causes"]


def enum_keys():
    """The wire names of enum stop_reason, from daemon/core/cause.h:
    STOP_LINK_LOST is "link_lost"; STOP_NONE and STOP_NREASONS are not
    causes."""
    with open(os.path.join(REPO, "daemon", "core", "cause.h")) as f:
        m = re.search(r"enum stop_reason \{(.*?)\};", f.read(), re.S)
    assert m, "enum stop_reason not in cause.h"
    names = re.findall(r"^\s*STOP_(\w+)", m.group(1), re.M)
    assert names[0] == "NONE" and names[-1] == "NREASONS", names
    return [n.lower() for n in names[1:-1]]


def test_any_token_may_read_them(env):
    d = env[1]
    r = d.request("GET", "/api/v1/causes", token=None)
    assert r.status == 401, r
    r = d.request("GET", "/api/v1/causes", token=VIEWER)
    assert r.status == 200, r
    assert r.json() == d.request("GET", "/api/v1/causes").json()


def test_the_list_is_the_enum(causes):
    assert [c["key"] for c in causes] == enum_keys()
    for c in causes:
        assert set(c) == {"key", "category", "latches", "label", "text",
                          "advice"}, c
        assert c["category"] in (0, 1), c
        assert isinstance(c["latches"], bool), c
        assert c["label"] == "reason." + c["key"], c
        # The fault banner explains every category 0 stop; a category 1
        # stop is a normal end, named by its label only.
        if c["category"] == 0:
            assert c["text"] and c["advice"], c
        else:
            assert c["text"] is None and c["advice"] is None, c
            assert not c["latches"], c


@pytest.mark.parametrize("catalogue", CATALOGUES,
                         ids=[os.path.basename(f) for f in CATALOGUES])
def test_every_catalogue_has_every_cause(causes, catalogue):
    with open(catalogue, encoding="utf-8") as f:
        cat = json.load(f)
    missing = [k for c in causes for k in (c["label"], c["text"],
                                           c["advice"])
               if k is not None and not cat.get(k)]
    assert missing == [], "%s lacks %s" % (os.path.basename(catalogue),
                                           missing)
    # What the panel says for a reason it does not know (a record's
    # "unknown" end) and for a fault without its own text.
    for k in ("reason.unknown", "fault.other", "fault.other.do"):
        assert cat.get(k), "%s lacks %s" % (os.path.basename(catalogue), k)


def test_the_catalogues_exist():
    names = [os.path.basename(f) for f in CATALOGUES]
    assert "en.json" in names and "de.json" in names, names


def test_metrics_count_the_same_causes(env, causes):
    """/metrics counts stops per reason, one series for every value of
    the enum: the reasons the daemon can report are the list."""
    text = env[1].request("GET", "/metrics", token=None).text
    seen = re.findall(r'^massaged_stops_total\{reason="(\w+)",'
                      r'category="(\d)"\}', text, re.M)
    assert sorted(seen) == sorted((c["key"], str(c["category"]))
                                  for c in causes)


def test_a_stop_reports_a_listed_cause(env, causes):
    """A real stop: status, event and record name it by a key of the
    list."""
    sim, d = env
    keys = {c["key"] for c in causes}
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r
    d.wait_state("running")
    assert d.request("POST", "/api/v1/estop").status == 200
    st = d.wait_state("fault")
    assert st["fault_reason"] == "estop" and "estop" in keys
    assert st["last_stop"]["reason"] in keys
    assert st["last_stop"]["category"] == 0
    sessions = d.request("GET", "/api/v1/sessions?limit=1").json()["sessions"]
    assert sessions[0]["end_reason"] == "estop", sessions
    assert d.request("POST", "/api/v1/reset").status == 200
    d.wait_state("idle")
