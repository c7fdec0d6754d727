#!/bin/sh
# Installs the build and test dependencies on Debian when they are missing (needs root).
set -e
pkgs="build-essential pkg-config libssl-dev libconfuse-dev openssl bats curl python3 procps iproute2 socat redis-server redis-tools nginx-light util-linux wget wrk iperf3 stunnel4 openbsd-inetd ncat valgrind clang busybox postfix swaks libnet-ssleay-perl libio-socket-ssl-perl dovecot-imapd tcpdump fzf libcap2-bin python3-cryptography prometheus prometheus-node-exporter groff-base man-db softhsm2 libengine-pkcs11-openssl opensc gdb"
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
# postfix asks how to configure the system's mail; the tests run private instances: none.
case " $missing " in *" postfix "*)
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections ;;
esac
# The daemons among the packages (redis, nginx, inetd, postfix, dovecot) must not start system
# instances on their ports during the install: policy-rc.d says no, and goes again afterwards.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	trap 'exit 1' HUP INT TERM
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
