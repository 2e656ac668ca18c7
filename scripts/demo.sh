#!/bin/sh
# make demo: the simulator and the daemon on the shipped demo table, in the
# foreground, supervised the way systemd runs the daemon.
#   scripts/demo.sh BUILD [-o key=value ...]
#
# Options after BUILD go to the daemon as they are (make demo-spa gives each
# of its tables a name and a store this way: scripts/demo-spa.sh).
#
# Environment (or make variables: make demo DEMO_PORT=9090):
#   DEMO_PORT              panel and API (default 8080)
#   DEMO_SIM_PORT          first controller (default 1502; the second
#                          controller uses the next port)
#   DEMO_SIM_CONTROL_PORT  the simulator's control socket, for fault
#                          injection (default 1600)
#   DEMO_HOST              the address everything listens on (127.0.0.1)
#   DEMO_DIR               token, state and logs (default BUILD/demo)
#   DEMO_RESTART_SEC       first restart delay of a daemon that died (2)
#
# Ctrl-C (or SIGTERM) stops in the order a real shutdown takes: the daemon
# gets SIGTERM and vents every controller (CONTROL = 0), and only once it
# has exited is the simulator stopped. Both run in their own session
# (setsid), so the terminal's Ctrl-C reaches this script alone.
#
# A daemon that dies on its own (a crash, kill -9) is started again after
# DEMO_RESTART_SEC, like Restart=on-failure in systemd/massaged.service;
# the delay doubles (up to 30 s) while it keeps dying within 10 s of its
# start. A daemon that exits cleanly ends the demo.
set -eu
BUILD=${1:-build}
[ $# -gt 0 ] && shift
HOST=${DEMO_HOST:-127.0.0.1}
PORT=${DEMO_PORT:-8080}
SIM1=${DEMO_SIM_PORT:-1502}
SIM2=$((SIM1 + 1))
SIMCTL=${DEMO_SIM_CONTROL_PORT:-1600}
RESTART_SEC=${DEMO_RESTART_SEC:-2}
RESTART_MAX=30
DIR=${DEMO_DIR:-$BUILD/demo}
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
URL=http://$HOST:$PORT

sim_pid=""
daemon_pid=""
sleep_pid=""
stopping=""

say() {
	echo "demo: $*" >&2
}

# The daemon first (it vents every controller on SIGTERM, and needs the
# simulator to hear it), then the simulator.
stop() {
	trap '' INT TERM
	[ -n "$stopping" ] && return
	stopping=1
	[ -n "$sleep_pid" ] && kill "$sleep_pid" 2>/dev/null || true
	if [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null; then
		say "stopping the daemon (it vents every controller first)"
		wait "$daemon_pid" 2>/dev/null || true
	fi
	daemon_pid=""
	if [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null; then
		wait "$sim_pid" 2>/dev/null || true
	fi
	sim_pid=""
	echo "demo stopped"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

# The demo table: "pelvis" with 16 channels, "legs" with 10.
setsid "$BUILD/massaged-sim" --events "$DIR/sim-events.log" \
    --control "$HOST:$SIMCTL" \
    --channels 16 --tcp "$HOST:$SIM1" \
    --channels 10 --tcp "$HOST:$SIM2" >"$DIR/sim.out" 2>"$DIR/sim.log" &
sim_pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q '^ready' "$DIR/sim.out" 2>/dev/null &&
    kill -0 "$sim_pid" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
if ! grep -q '^ready' "$DIR/sim.out"; then
	say "the simulator did not start:"
	cat "$DIR/sim.log" >&2
	exit 1
fi

# The shipped config expects the controllers on 127.0.0.1:1502 and 1503;
# other addresses are given through a copy of it.
CONF=config/massaged.ini
if [ "$SIM1" != 1502 ] || [ "$HOST" != 127.0.0.1 ]; then
	sed -e "s/127.0.0.1:1502/$HOST:$SIM1/" \
	    -e "s/127.0.0.1:1503/$HOST:$SIM2/" \
	    -e "s|^profile_dir = .*|profile_dir = $(pwd)/config/profiles|" \
	    -e "s|^program_dir = .*|program_dir = $(pwd)/config/programs|" \
	    -e "s|^rules = .*|rules = $(pwd)/config/contraindications.ini|" \
	    config/massaged.ini >"$DIR/massaged.ini"
	CONF=$DIR/massaged.ini
fi

start_daemon() {
	setsid "$BUILD/massaged" -f "$CONF" \
	    -o "listen=$HOST:$PORT" \
	    -o "plugin_dir=$BUILD/plugins" \
	    -o "state_dir=$DIR/state" \
	    -o "token_file=$DIR/token" \
	    -o "panel_dir=panel" \
	    -o "intake=$(pwd)/config/intake.ini" "$@" &
	daemon_pid=$!
	started=$(date +%s)
}

# Up when the API answers and every controller has been tried (each is
# driven once its safe state is proven, about a watchdog period after it
# connects); at most 10 s.
wait_daemon() {
	i=0
	while [ $i -lt 100 ]; do
		kill -0 "$daemon_pid" 2>/dev/null || return 1
		"$BUILD/massagectl" --url "$URL" --token-file "$DIR/token" \
		    --json status 2>/dev/null | grep -q '"ready": *true' &&
		    return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

start_daemon "$@"
if ! wait_daemon; then
	say "the daemon did not start (see above)"
	exit 1
fi

cat <<MSG

  massaged demo is running
  ------------------------
  control panel:  $URL/
  token:          $TOKEN
  simulator:      controllers on $HOST:$SIM1 and :$SIM2 (16 + 10 channels)
  fault injection (press the client's stop switch, then release it):
                  $BUILD/massaged-sim --control-cmd $HOST:$SIMCTL 'client_stop 0 on'
                  $BUILD/massaged-sim --control-cmd $HOST:$SIMCTL 'client_stop 0 off'
  command line:   MASSAGED_URL=$URL MASSAGED_TOKEN_FILE=$DIR/token \\
                    $BUILD/massagectl status

  Press Ctrl-C to stop (every controller is vented first).

MSG

delay=$RESTART_SEC
while :; do
	rc=0
	wait "$daemon_pid" || rc=$?
	daemon_pid=""
	[ -n "$stopping" ] && break
	if [ "$rc" -eq 0 ]; then
		say "the daemon exited cleanly; stopping the demo"
		break
	fi
	if [ $(($(date +%s) - started)) -ge 10 ]; then
		delay=$RESTART_SEC
	fi
	if [ "$rc" -gt 128 ]; then
		why="was killed by signal $((rc - 128))"
	else
		why="exited with status $rc"
	fi
	say "the daemon $why; restarting it in $delay s" \
	    "(as systemd's Restart=on-failure would)"
	sleep "$delay" &
	sleep_pid=$!
	wait "$sleep_pid" || true
	sleep_pid=""
	[ -n "$stopping" ] && break
	start_daemon "$@"
	if wait_daemon; then
		say "the daemon is back (pid $daemon_pid)"
	fi
	delay=$((delay * 2))
	[ "$delay" -gt "$RESTART_MAX" ] && delay=$RESTART_MAX
done
