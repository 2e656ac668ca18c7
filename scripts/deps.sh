#!/bin/sh
# Install the Debian packages named on the command line that are missing.
# As root this runs apt-get; otherwise it prints the exact line to run.
# A name of the form "cmd:package" counts as present when the command is
# on PATH (node and npm may come from a build that bundles both).
missing=""
for p in "$@"; do
	case "$p" in
	*:*)
		command -v "${p%%:*}" >/dev/null 2>&1 && continue
		p=${p#*:}
		;;
	esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || exit 1
	apt-get install -y -qq --no-install-recommends $missing || exit 1
else
	echo "deps: missing Debian packages; run as root:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi
