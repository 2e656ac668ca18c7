#!/bin/sh
# make demo: the simulator and the daemon on the shipped demo table, in the
# foreground. Ctrl-C stops both (the daemon vents every controller first).
#   scripts/demo.sh BUILD
# Environment: DEMO_PORT (panel/API, default 8080), DEMO_SIM_PORT (first
# controller port, default 1502; the second uses the next one).
set -eu
BUILD=${1:-build}
PORT=${DEMO_PORT:-8080}
SIM1=${DEMO_SIM_PORT:-1502}
SIM2=$((SIM1 + 1))
DIR=$BUILD/demo
mkdir -p "$DIR/state"
chmod 700 "$DIR"

# A token for the panel and massagectl, readable by its owner only.
if [ ! -s "$DIR/token" ]; then
	umask 077
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/token"
	echo >>"$DIR/token"
	umask 022
fi
TOKEN=$(cat "$DIR/token")

sim_pid=""
daemon_pid=""
stop() {
	trap - INT TERM EXIT
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && \
	    wait "$daemon_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null && \
	    wait "$sim_pid" 2>/dev/null
	echo "demo stopped"
}
trap stop INT TERM EXIT

# The demo table: "pelvis" with 16 channels, "legs" with 10.
"$BUILD/massaged-sim" --events "$DIR/sim-events.log" \
    --channels 16 --tcp "127.0.0.1:$SIM1" \
    --channels 10 --tcp "127.0.0.1:$SIM2" >"$DIR/sim.out" 2>"$DIR/sim.log" &
sim_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	grep -q '^ready' "$DIR/sim.out" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q '^ready' "$DIR/sim.out"; then
	echo "demo: the simulator did not start:" >&2
	cat "$DIR/sim.log" >&2
	exit 1
fi
CONTROL=$(sed -n 's/^control //p' "$DIR/sim.out")

# The shipped config expects the controllers on 1502 and 1503; other ports
# are given through a copy of it.
CONF=config/massaged.ini
if [ "$SIM1" != 1502 ]; then
	sed -e "s/127.0.0.1:1502/127.0.0.1:$SIM1/" \
	    -e "s/127.0.0.1:1503/127.0.0.1:$SIM2/" \
	    -e "s|^profile_dir = .*|profile_dir = $(pwd)/config/profiles|" \
	    -e "s|^program_dir = .*|program_dir = $(pwd)/config/programs|" \
	    -e "s|^rules = .*|rules = $(pwd)/config/contraindications.ini|" \
	    config/massaged.ini >"$DIR/massaged.ini"
	CONF=$DIR/massaged.ini
fi

"$BUILD/massaged" -f "$CONF" \
    -o "listen=127.0.0.1:$PORT" \
    -o "plugin_dir=$BUILD/plugins" \
    -o "state_dir=$DIR/state" \
    -o "token_file=$DIR/token" \
    -o "panel_dir=panel" &
daemon_pid=$!
sleep 1
if ! kill -0 "$daemon_pid" 2>/dev/null; then
	daemon_pid=""
	echo "demo: the daemon did not start (see above)" >&2
	exit 1
fi

cat <<MSG

  massaged demo is running
  ------------------------
  control panel:  http://127.0.0.1:$PORT/
  token:          $TOKEN
  simulator:      controllers on 127.0.0.1:$SIM1 and :$SIM2 (16 + 10 channels)
                  fault injection: echo "client_stop 0 on" | nc -q1 ${CONTROL%:*} ${CONTROL##*:}
  command line:   MASSAGED_URL=http://127.0.0.1:$PORT MASSAGED_TOKEN_FILE=$DIR/token \\
                    $BUILD/massagectl status

  Press Ctrl-C to stop (every controller is vented first).

MSG
wait "$daemon_pid" || true
daemon_pid=""
