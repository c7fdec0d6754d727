#!/bin/sh
# Installs the build and test dependencies on Debian when they are missing (needs root).
set -e
pkgs="build-essential pkg-config libssl-dev libconfuse-dev openssl bats curl python3 procps iproute2 socat redis-server redis-tools nginx-light util-linux wget wrk iperf3 stunnel4 openbsd-inetd valgrind clang"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "mtlsshim: missing packages:$missing; run 'sudo make deps' or install them" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
