"""massagectl --all sessions on tables that share a store (docs/store.md):
each session once, not once per table.

Each table's GET /api/v1/sessions is the spa's when a store answers, so
merging them would list every session as many times as there are tables;
--all asks each for its own (?scope=table) and names each record after
its line of the tables file. A throwaway PostgreSQL of this module's own
(test_store.spa_server), two tables on it as in test_store_link.py.
"""

import csv
import io

from test_store_link import (one_session, pg, spa,  # noqa: F401
                             two_tables, wait_shipped)


def test_all_sessions_lists_a_shared_store_once(tmp_path, pg, spa):  # noqa: F811,E501
    with two_tables(tmp_path, pg, spa, reachable=True) as (d1, d2):
        ran = [("room-1", one_session(d1)), ("room-2", one_session(d2)),
               ("room-1", one_session(d1))]
        for d in (d1, d2):
            wait_shipped(d)
        # Each table alone already lists the spa's three.
        doc = d1.request("GET", "/api/v1/sessions").json()
        assert doc["source"] == "store" and len(doc["sessions"]) == 3
        tables = tmp_path / "tables"
        tables.write_text("room-1 http://127.0.0.1:%d\n"
                          "room-2 http://127.0.0.1:%d\n" % (d1.port, d2.port))
        out = d1.run_ctl("--all", "--tables", str(tables), "sessions",
                         "--csv", url=False)
        assert out.returncode == 0, (out.stdout, out.stderr)
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert [(x["table"], int(x["id"])) for x in rows] == \
            list(reversed(ran)), rows
        out = d1.run_ctl("--all", "--tables", str(tables), "sessions",
                         url=False)
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.splitlines()) == 1 + 3, out.stdout
