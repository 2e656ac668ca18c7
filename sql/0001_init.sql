-- 0001_init.sql: the spa's shared store (docs/store.md).
--
-- Applied by `massaged --migrate` in one transaction, which records the
-- version in massaged.schema_version itself: this file holds no BEGIN,
-- COMMIT or version row. Run as the database's owner (the migrator);
-- the role massaged_table (NOLOGIN, the tables' logins are its members)
-- must exist: the GRANTs name it.

CREATE SCHEMA massaged;
REVOKE ALL ON SCHEMA massaged FROM PUBLIC;
GRANT USAGE ON SCHEMA massaged TO massaged_table;

-- One row per migration applied; the schema's version is the highest.
CREATE TABLE massaged.schema_version (
	version		integer PRIMARY KEY CHECK (version > 0),
	applied_at	timestamptz NOT NULL DEFAULT now(),
	applied_by	text NOT NULL DEFAULT current_user
);

-- Client profiles, one row per revision: an edit inserts revision + 1
-- (If-Match compares the newest), so the history is there and concurrent
-- edits of one revision collide on the primary key. The current profile
-- is the newest revision (massaged.profiles_current). Deletion and
-- erasure delete every revision of the id. The fields are those of a
-- profile INI file (docs/profiles.md, daemon/core/profile.h).
CREATE TABLE massaged.profiles (
	id		text NOT NULL CHECK (id ~ '^[a-z0-9_]{1,47}$'),
	revision	integer NOT NULL CHECK (revision > 0),
	name		text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 95),
	cap_kpa		double precision NOT NULL CHECK (cap_kpa >= 0),
	-- [caps]: [{"glob": "legs_*", "cap_kpa": 6.0}, ...], at most 64
	caps		jsonb NOT NULL DEFAULT '[]'
			CHECK (jsonb_typeof(caps) = 'array'
			    AND jsonb_array_length(caps) <= 64),
	ramp_kpa_s	double precision NOT NULL CHECK (ramp_kpa_s > 0),
	max_session_min	double precision NOT NULL CHECK (max_session_min > 0),
	intensity_pct	integer NOT NULL CHECK (intensity_pct BETWEEN 10 AND 100),
	conditions	text[] NOT NULL DEFAULT '{}'
			CHECK (cardinality(conditions) <= 16),
	pressure	text NOT NULL DEFAULT '',
	ramp		text NOT NULL DEFAULT '',
	note		text NOT NULL DEFAULT ''
			CHECK (octet_length(note) <= 400),
	written_at	timestamptz NOT NULL DEFAULT now(),
	written_by	text NOT NULL,		-- the table's name
	PRIMARY KEY (id, revision)
);

CREATE VIEW massaged.profiles_current AS
	SELECT DISTINCT ON (id) *
	FROM massaged.profiles
	ORDER BY id, revision DESC;

-- Session records as each table wrote them to its sessions.jsonl, one
-- line each; the outbox ships them idempotently on (table_name,
-- session_id). Refusals (no session id) are not shipped.
CREATE TABLE massaged.records (
	table_name	text NOT NULL,
	session_id	bigint NOT NULL CHECK (session_id > 0),
	profile_id	text,			-- for erasure and history
	line		jsonb NOT NULL,
	received_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (table_name, session_id)
);
CREATE INDEX records_profile ON massaged.records (profile_id);

-- Erasures: what every table must apply, even one switched off that day.
-- No personal data: the profile id (a pseudonym such as client_3fa2c1d0),
-- when, and which table asked.
CREATE TABLE massaged.erasures (
	seq		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	profile_id	text NOT NULL,
	erased_at	timestamptz NOT NULL DEFAULT now(),
	erased_by	text NOT NULL
);
CREATE INDEX erasures_profile ON massaged.erasures (profile_id);

-- The tables: rows only, no DDL (they own nothing and have no CREATE).
GRANT SELECT ON massaged.schema_version TO massaged_table;
GRANT SELECT, INSERT, DELETE ON massaged.profiles TO massaged_table;
GRANT SELECT ON massaged.profiles_current TO massaged_table;
GRANT SELECT, INSERT, UPDATE ON massaged.records TO massaged_table;
GRANT SELECT, INSERT ON massaged.erasures TO massaged_table;
