-- 0002_tables.sql: each table's name, claimed by the login it uses
-- (docs/store.md, "The daemon's link"), and the order the spa's history
-- is read in.
--
-- The outbox ships a table's records keyed on (table_name, session_id):
-- two tables of one name would overwrite each other's. A table claims its
-- name at every connect; a name already claimed by another login is
-- refused, so give each table a name and a login of its own.

CREATE TABLE massaged.tables (
	name		text PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 47),
	login		text NOT NULL DEFAULT current_user,
	claimed_at	timestamptz NOT NULL DEFAULT now()
);

-- A table may claim a name and read who holds which; never take one over.
GRANT SELECT, INSERT ON massaged.tables TO massaged_table;

-- The history across tables, newest first (store-history.c's ORDER BY).
CREATE INDEX records_start ON massaged.records
	((line->>'start') DESC, session_id DESC, table_name DESC);

-- What an erasure leaves of a session record (docs/security.md): as a
-- table rewrites its own files (daemon/engine/record-erase.c), so that a
-- record erased in the store reads like one erased at the table.
CREATE FUNCTION massaged.scrub(line jsonb, id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT line || jsonb_build_object('erased', true, 'client', id,
		'conditions', '[]'::jsonb, 'limits', NULL, 'excluded', NULL,
		'peak_kpa', NULL, 'stop_message', NULL)
	    || CASE WHEN line->>'end_reason' = 'contraindicated'
		THEN jsonb_build_object('end_reason', 'unknown',
		    'stop_category', NULL)
		ELSE '{}'::jsonb END
$$;
REVOKE ALL ON FUNCTION massaged.scrub(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION massaged.scrub(jsonb, text) TO massaged_table;
