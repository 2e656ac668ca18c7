#!/bin/sh
# make demo-spa: a spa of two tables on one PostgreSQL database, in the
# foreground (docs/store.md; docs/guide/second-table.md sets up the same
# on a real machine).
#   scripts/demo-spa.sh BUILD
#
# A throwaway PostgreSQL cluster is made under DEMO_DIR/pg (initdb, as
# nobody when run as root: PostgreSQL never runs as root), listening on
# 127.0.0.1 only; the roles and the database of docs/store.md are made
# with generated passwords (0600 files in DEMO_DIR), the schema applied
# by massaged --migrate as massaged_owner. Then each table is make demo's
# script (scripts/demo.sh: a simulator and a daemon, supervised) with a
# name, a login and a state directory of its own: "Table 1" as table1,
# "Table 2" as table2.
#
# Environment (or make variables: make demo-spa DEMO_PORT=9090):
#   DEMO_PORT              Table 1's panel and API (default 8080)
#   DEMO_SIM_PORT          Table 1's first controller (default 1502; its
#                          second the next port)
#   DEMO_SIM_CONTROL_PORT  Table 1's simulator control socket (1600)
#   DEMO_PG_PORT           the PostgreSQL server, on 127.0.0.1 (15432)
#   DEMO_HOST              where the tables listen (127.0.0.1)
#   DEMO_DIR               everything of the spa (default BUILD/demo-spa)
# Table 2 takes the next port of each: panel DEMO_PORT + 1, controllers
# DEMO_SIM_PORT + 2 and + 3, control socket DEMO_SIM_CONTROL_PORT + 1.
#
# Ctrl-C (or SIGTERM) stops each table as make demo does (its daemon
# vents every controller, then its simulator stops), then the server; the
# cluster is removed. Every process runs in a session of its own (setsid),
# so the terminal's Ctrl-C reaches this script alone, and each is stopped
# by its PID.
set -eu
BUILD=${1:-build}
HOST=${DEMO_HOST:-127.0.0.1}
PORT=${DEMO_PORT:-8080}
SIM=${DEMO_SIM_PORT:-1502}
SIMCTL=${DEMO_SIM_CONTROL_PORT:-1600}
PGPORT=${DEMO_PG_PORT:-15432}
DIR=${DEMO_DIR:-$BUILD/demo-spa}
DB=spa

t1_pid=""
t2_pid=""
pg_pid=""
sleep_pid=""
stopping=""
PGDIR=""

say() {
	echo "demo-spa: $*" >&2
}

# The tables first (each vents its controllers, then stops its
# simulator), then the server.
stop() {
	trap '' INT TERM
	[ -n "$stopping" ] && return
	stopping=1
	# (set -e: a command that may fail is never last in an && list.)
	if [ -n "$sleep_pid" ]; then
		kill "$sleep_pid" 2>/dev/null || true
	fi
	for p in $t1_pid $t2_pid; do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [ -n "$t1_pid$t2_pid" ]; then
		say "stopping the tables (each vents every controller first)"
	fi
	for p in $t1_pid $t2_pid; do
		wait "$p" 2>/dev/null || true
	done
	t1_pid=""
	t2_pid=""
	# SIGINT: PostgreSQL's fast shutdown.
	if [ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null; then
		say "stopping the PostgreSQL server"
		wait "$pg_pid" 2>/dev/null || true
	fi
	pg_pid=""
	if [ -n "$PGDIR" ]; then
		rm -rf "$PGDIR"
	fi
	echo "demo stopped"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

mkdir -p "$DIR"
chmod 711 "$DIR"
ABSDIR=$(cd "$DIR" && pwd)

# --- the server -------------------------------------------------------------
BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
	say "no PostgreSQL server installed: run make deps as root, or" \
	    "apt-get install postgresql"
	exit 1
fi

# PostgreSQL refuses root: as root the cluster is nobody's, in a directory
# nobody can reach (under DEMO_DIR, else a temporary one).
AS_SERVER=""
if [ "$(id -u)" -eq 0 ]; then
	AS_SERVER="setpriv --reuid=65534 --regid=65534 --clear-groups --"
fi

old=$ABSDIR/pg/data/postmaster.pid
if [ -f "$old" ] && kill -0 "$(head -n 1 "$old")" 2>/dev/null; then
	say "the server of an earlier run still runs (pid $(head -n 1 "$old")):" \
	    "stop it first"
	exit 1
fi
rm -rf "$ABSDIR/pg"
if $AS_SERVER test -x "$ABSDIR"; then
	PGDIR=$ABSDIR/pg
	mkdir "$PGDIR"
else
	PGDIR=$(mktemp -d /tmp/massaged-demo-spa.XXXXXX)
	say "$ABSDIR is out of reach for the server's user: cluster in $PGDIR"
fi
chmod 700 "$PGDIR"
if [ "$(id -u)" -eq 0 ]; then
	chown 65534:65534 "$PGDIR"
fi

(cd "$PGDIR" && LC_ALL=C $AS_SERVER "$BINDIR/initdb" -D "$PGDIR/data" \
    -U postgres -E UTF8 --no-locale --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync >"$PGDIR/initdb.log" 2>&1) || {
	say "initdb failed:"
	cat "$PGDIR/initdb.log" >&2
	exit 1
}
(cd "$PGDIR" && LC_ALL=C exec setsid $AS_SERVER "$BINDIR/postgres" \
    -D "$PGDIR/data" -p "$PGPORT" -c listen_addresses=127.0.0.1 \
    -c "unix_socket_directories=$PGDIR" -c fsync=off \
    -c max_connections=20 >>"$PGDIR/server.log" 2>&1 </dev/null) &
pg_pid=$!
i=0
until "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; do
	if ! kill -0 "$pg_pid" 2>/dev/null || [ $i -ge 300 ]; then
		say "the PostgreSQL server did not start on 127.0.0.1:$PGPORT" \
		    "(another port: DEMO_PG_PORT=...):"
		tail -n 5 "$PGDIR/server.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done

# The roles and the database, as docs/store.md makes them.
umask 077
for login in owner table1 table2; do
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$ABSDIR/$login.pw"
	echo >>"$ABSDIR/$login.pw"
done
umask 022
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PGPORT" \
    -U postgres -d postgres \
    -v owner="$(cat "$ABSDIR/owner.pw")" \
    -v table1="$(cat "$ABSDIR/table1.pw")" \
    -v table2="$(cat "$ABSDIR/table2.pw")" >/dev/null <<'SQL'
CREATE ROLE massaged_owner LOGIN PASSWORD :'owner';
CREATE ROLE massaged_table NOLOGIN;
CREATE ROLE table1 LOGIN PASSWORD :'table1' IN ROLE massaged_table;
CREATE ROLE table2 LOGIN PASSWORD :'table2' IN ROLE massaged_table;
CREATE DATABASE spa OWNER massaged_owner;
REVOKE ALL ON DATABASE spa FROM PUBLIC;
GRANT CONNECT ON DATABASE spa TO massaged_table;
SQL

store_url() {
	echo "postgresql://$1@127.0.0.1:$PGPORT/$DB"
}
"$BUILD/massaged" --migrate -f config/massaged.ini \
    -o "store=$(store_url massaged_owner)" \
    -o "store_password_file=$ABSDIR/owner.pw"

# --- the tables -------------------------------------------------------------
# start_table N: make demo's script for table N, on its own ports, in its
# own session, its output (its daemon's log too) in DIR/tableN/demo.log.
# (demo.sh's copy of the table file for other ports names no intake file:
# the clinic's intake choices are given here.)
start_table() {
	tdir=$DIR/table$1
	mkdir -p "$tdir"
	chmod 700 "$tdir"
	# A new database each run: nothing of the last one's in the table.
	rm -rf "$tdir/state"
	DEMO_DIR=$tdir DEMO_PORT=$((PORT + $1 - 1)) \
	    DEMO_SIM_PORT=$((SIM + 2 * ($1 - 1))) \
	    DEMO_SIM_CONTROL_PORT=$((SIMCTL + $1 - 1)) \
	    setsid sh scripts/demo.sh "$BUILD" -o "name=Table $1" \
	    -o "intake=$(pwd)/config/intake.ini" \
	    -o "store=$(store_url "table$1")" \
	    -o "store_password_file=$ABSDIR/table$1.pw" \
	    >"$tdir/demo.log" 2>&1 </dev/null &
}

# wait_table N PID: up when its demo says so and its link to the store is
# up; at most 60 s.
wait_table() {
	i=0
	while [ $i -lt 600 ]; do
		if ! kill -0 "$2" 2>/dev/null; then
			say "Table $1 did not start:"
			tail -n 20 "$DIR/table$1/demo.log" >&2
			return 1
		fi
		if grep -q 'massaged demo is running' "$DIR/table$1/demo.log" &&
		    "$BUILD/massagectl" \
		    --url "http://$HOST:$((PORT + $1 - 1))" \
		    --token-file "$DIR/table$1/token" --json status \
		    2>/dev/null | grep -q '"reachable": *true'; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	say "Table $1 did not reach the store in 60 s (see $DIR/table$1/demo.log)"
	return 1
}

start_table 1
t1_pid=$!
start_table 2
t2_pid=$!
wait_table 1 "$t1_pid" || exit 1
wait_table 2 "$t2_pid" || exit 1

URL1=http://$HOST:$PORT
URL2=http://$HOST:$((PORT + 1))
cat <<MSG

  massaged spa demo is running
  ----------------------------
  Table 1 panel:  $URL1/
  Table 1 token:  $(cat "$DIR/table1/token")
  Table 2 panel:  $URL2/
  Table 2 token:  $(cat "$DIR/table2/token")
  store:          $(store_url table1) (and table2)
  try:            "New client..." on Table 1, a session for that client
                  on Table 2, then History on Table 1
  command line:   MASSAGED_URL=$URL1 MASSAGED_TOKEN_FILE=$DIR/table1/token \\
                    $BUILD/massagectl sessions
  simulators:     fault injection on $HOST:$SIMCTL (Table 1), :$((SIMCTL + 1)) (Table 2):
                  $BUILD/massaged-sim --control-cmd $HOST:$SIMCTL 'client_stop 0 on'
  logs:           $DIR/table1/demo.log, $DIR/table2/demo.log

  Press Ctrl-C to stop (every controller is vented first, then the
  database stops).

MSG

# Until Ctrl-C, or a table's demo or the server ends on its own.
while kill -0 "$t1_pid" 2>/dev/null && kill -0 "$t2_pid" 2>/dev/null &&
    kill -0 "$pg_pid" 2>/dev/null; do
	sleep 1 &
	sleep_pid=$!
	wait "$sleep_pid" || true
	sleep_pid=""
done
if ! kill -0 "$pg_pid" 2>/dev/null; then
	say "the PostgreSQL server ended; stopping the demo"
	tail -n 5 "$PGDIR/server.log" >&2
else
	say "a table's demo ended; stopping the demo (see its demo.log)"
fi
exit 1
