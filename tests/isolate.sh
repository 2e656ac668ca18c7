#!/bin/sh
# Runs a command where the machine's own massaged state cannot be read:
#   tests/isolate.sh CMD [ARG ...]
#
# As root, where unshare(1) makes a private mount namespace, CMD runs in
# one whose /var/lib/massaged and /etc/massaged are tmpfs directories
# holding what an installed package leaves there, each file wrong for a
# test: a saved profile owned by the daemon's user (uid 995, mode 0600),
# which massaged refuses to read as root; a massaged.ini that does not
# load; a token file (uid 995, 0600) with a token no test daemon has; a
# tables file naming a port nothing listens on. A test that reads either
# directory fails, and nothing of the machine's own is read: an existing
# directory is covered, a missing one is made in an overlay of its parent
# that only this namespace sees. CMD gets MASSAGED_ISOLATED=1.
#
# Elsewhere (not root, no unshare, no mount rights as in most containers)
# CMD runs as it is, after a line saying so when root could not make the
# namespace, and the tests keep to their own directories by themselves
# (tests/integration/test_machine_state.py).
set -u
[ $# -gt 0 ] || { echo "usage: tests/isolate.sh CMD [ARG ...]" >&2; exit 2; }

# Runs in the new namespace: sets up, then execs "$@". $t (a directory
# made outside, removed after) holds the overlays' layers on a tmpfs.
SETUP='
set -eu
uid=995
t=$ISOLATE_TMP
mount -t tmpfs -o mode=0700 isolate "$t"
# overlay DIR: DIR writable here only; the mounts under it (a container
# bind-mounts /etc/hosts, /etc/resolv.conf) are put back on top.
overlay() {
	n=$(echo "$1" | tr / _)
	mkdir "$t/$n.low" "$t/$n.up" "$t/$n.work"
	mount --rbind "$1" "$t/$n.low"
	subs=$(findmnt -rn -o TARGET | grep "^$1/" || true)
	mount -t overlay isolate \
	    -o "lowerdir=$1,upperdir=$t/$n.up,workdir=$t/$n.work" "$1"
	for m in $subs; do
		mount --bind "$t/$n.low${m#"$1"}" "$m"
	done
}
for d in /var/lib/massaged /etc/massaged; do
	if [ -e "$d" ] || [ -L "$d" ]; then
		[ -d "$d" ] && [ ! -L "$d" ] || {
			echo "isolate: $d is not a directory" >&2; exit 1; }
	else
		overlay "${d%/*}"
		mkdir "$d"
	fi
	mount -t tmpfs -o mode=0755 isolate "$d"
done
s=/var/lib/massaged
mkdir -m 0700 $s/profiles
printf "[profile]\nname = A client of this machine (tests/isolate.sh)\n" \
    >$s/profiles/client_0123456789abcdef.ini
printf "{\"id\":1,\"note\":\"%s\"}\n" \
    "a record of this machine (tests/isolate.sh)" >$s/sessions.jsonl
chmod 0600 $s/profiles/client_0123456789abcdef.ini
chmod 0640 $s/sessions.jsonl
chmod 0750 $s
chown -R $uid:$uid $s
e=/etc/massaged
printf "; tests/isolate.sh: a test read /etc/massaged\n[daemon]\n%s\n" \
    "read_by_a_test = yes" >$e/massaged.ini
printf "machine http://127.0.0.1:9 %s/tokens\n" $e >$e/tables
printf "isolate-not-a-token-of-any-test-0123456789\n" >$e/tokens
chmod 0600 $e/tokens
chown $uid:$uid $e/tokens
unset ISOLATE_TMP
export MASSAGED_ISOLATED=1
exec "$@"
'

isolated() {
	ISOLATE_TMP=$(mktemp -d) || return 1
	export ISOLATE_TMP
	trap 'rmdir "$ISOLATE_TMP" 2>/dev/null' EXIT
	trap 'exit 130' INT TERM
	unshare -m --propagation private sh -c "$SETUP" isolate "$@"
	rc=$?
	rmdir "$ISOLATE_TMP"
	trap - EXIT INT TERM
	return $rc
}

[ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 || exec "$@"
if ! why=$(isolated true 2>&1); then
	echo "tests/isolate.sh: no private mount namespace here, the tests" \
	    "run beside /var/lib/massaged and /etc/massaged: $why" >&2
	exec "$@"
fi
isolated "$@"
