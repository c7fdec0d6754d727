#!/usr/bin/env bash
# bench/run.sh: mtlsshim performance benchmark, the entry point of `make bench`.
# Usage: bash bench/run.sh [--help]; knobs are environment variables (below).
#
# Every workload runs three ways in the same run, on loopback only:
#   plain    the program pair talking plaintext TCP;
#   stunnel  client -> stunnel client -> stunnel server -> server (verify = 2 on both,
#            each with cert, key and CAfile), the programs themselves plaintext;
#   shim     both programs under build/mtlsshim (a server rule and a client rule);
#   native   for redis request/response also redis's own TLS (redis-server --tls-port
#            with client certificates required, redis-benchmark --tls), the same
#            PKI and TLS 1.3 ciphersuites: OpenSSL inside the program, as the
#            program's authors wrote it, the closest thing to a ceiling for the shim.
# Workloads: iperf3 bulk, redis-benchmark GET/SET at -c 1 and -c 50 (and p50
# latency), redis-benchmark -k 0 (a new connection per request) with and without
# session resumption, TLS handshakes per second (openssl s_time -new) beside
# openssl s_server; admitted handshakes per second (bench/hsclient.py: PING and +PONG
# on every new connection) to the shimmed redis-server (shim_ping) and to a second one
# whose rule has ocsp = "leaf" (shim_ocsp), its cache warmed from an `openssl ocsp`
# responder the bench starts: the cost of a cached OCSP check per handshake (the
# responder must be asked once per server process, not once per handshake; redis must
# have accepted every measured connection); server RSS per idle mTLS
# connection (1,000 connections), the
# start-up cost of /bin/true with the preload, and (sections locks, scaling, base):
#   locks    process-wide lock acquisitions per request in steady state, from a
#            build with -DMTLSSHIM_LOCKSTAT (make B=build-lockstat), server and
#            client counting into one file ($MTLSSHIM_LOCKSTAT): redis-server with
#            redis-benchmark -c 50, and memcached -t 2 with memaslap (memcaslap,
#            libmemcached-tools: -T 2 threads, -c 50 connections, event-driven),
#            both ends under the shim. One server start, then BENCH_LOCK_REPS
#            pairs of runs of BENCH_LOCK_N1 and BENCH_LOCK_N2 requests over the same
#            50 connections; a pair gives (locks2 - locks1) / (N2 - N1), so the
#            handshakes and set-up cancel out; median of the pairs.
#   scaling  memcached -t 1 and -t 2, plain and under the shim, memaslap -T 2 -c 50:
#            requests/s, shim/plain at each, and -t 2 over -t 1.
#   stats    the shimmed redis pair with stats = true (the default) and with stats = false:
#            redis-benchmark -c 50 and hsclient.py handshakes, interleaved.
#   base     only with BENCH_BASE=<git ref>: the library at that ref, built in a git
#            worktree at build-bench/base (make B=build-bench-<commit> there), beside
#            the build under test ("new" vs "old"), interleaved in the same run:
#            redis GET/SET -c 50 (requests/s, CPU per request) and memcached -t 1
#            and -t 2; the table gives new/old. Without BENCH_BASE these rows are left
#            out. Example: BENCH_BASE=HEAD~3 BENCH_ONLY=base bash bench/run.sh
#
# It installs what it lacks from Debian's packages (as root), makes a throwaway
# EC P-256 PKI, picks free ports, starts every server itself and stops each by
# PID. Output: one table on stdout, and under bench/results/ bench.csv, bench.png
# and README-table.md (scratch files and logs go to bench/results/work/; a
# BENCH_ONLY run writes its table, and its scratch files, to bench/results/only/
# instead, leaving the full run's files alone).
#
# Knobs (environment): BENCH_ONLY: a comma-separated list of sections to run, of
# bulk, rr (redis -c 1 / -c 50, OpenSSL alone), k0 (-k 0 and the resumption probes),
# hs, rss, startup, locks, scaling, base, stats (default: all; base needs BENCH_BASE), e.g.
# BENCH_ONLY=locks,scaling; BENCH_BASE: a git ref for the base section (above);
# BENCH_REPS (5) runs per short measurement, median kept;
# BENCH_RR_REPS (9) for the plain, shim and native redis -c 1 and -c 50 runs, the noisiest;
# BENCH_IPERF_REPS (3); BENCH_REDIS_N1 (10000) and BENCH_REDIS_N50 (50000)
# requests per test at -c 1 and -c 50; BENCH_K0_N (2000) and BENCH_K0_C (10) for
# -k 0; BENCH_HS_TIME (4) seconds per s_time run; BENCH_RSS_N (1000);
# BENCH_LOCK_N1 (20000), BENCH_LOCK_N2 (120000) requests per locks run (redis:
# -t set,get, half each), BENCH_LOCK_REPS (3); BENCH_MC_N (150000) memaslap
# operations per scaling and base run, BENCH_MC_REPS (7) for scaling and base;
# BENCH_SHIM_LOG_LEVEL (warn); MTLSSHIM_BUILD (build); MTLSSHIM_LOCKSTAT_BUILD
# (build-lockstat); BENCH_SHIM_RESUME_OPTS:
# top-level config lines for the "resumed" shim client (default
# `session_resumption = true` where the library knows that option, else none:
# the run then measures what exists; the "full" row sets it to false).
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,/^set -euo pipefail/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
	exit 0 ;;
"") ;;
*) echo "usage: bash bench/run.sh [--help] (knobs are environment variables: see --help)" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH=$ROOT/bench
OUT=$BENCH/results
ONLY=${BENCH_ONLY:-}
BASE_REF=${BENCH_BASE:-}
SECTIONS="bulk rr k0 hs rss startup locks scaling base stats"
for sec in ${ONLY//,/ }; do
	case " $SECTIONS " in *" $sec "*) ;; *) echo "bench: BENCH_ONLY: unknown section '$sec' (of: $SECTIONS)" >&2; exit 2 ;; esac
done
# A partial run keeps the full run's table: its own goes to results/only/.
[ -n "$ONLY" ] && OUT=$BENCH/results/only
W=$OUT/work
B=${MTLSSHIM_BUILD:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
LIB=$B/libmtlsshim.so
LAUNCHER=$B/mtlsshim

REPS=${BENCH_REPS:-5}
RR_REPS=${BENCH_RR_REPS:-9}
IPERF_REPS=${BENCH_IPERF_REPS:-3}
IPERF_TIME=5
RB_N1=${BENCH_REDIS_N1:-10000}
RB_N50=${BENCH_REDIS_N50:-50000}
K0_N=${BENCH_K0_N:-2000}
K0_C=${BENCH_K0_C:-10}
HS_TIME=${BENCH_HS_TIME:-4}
RSS_N=${BENCH_RSS_N:-1000}
LOGLEVEL=${BENCH_SHIM_LOG_LEVEL:-warn}
RESUME_OPTS=${BENCH_SHIM_RESUME_OPTS:-}
LOCK_N1=${BENCH_LOCK_N1:-20000}
LOCK_N2=${BENCH_LOCK_N2:-120000}
LOCK_REPS=${BENCH_LOCK_REPS:-3}
MC_N=${BENCH_MC_N:-150000}
MC_REPS=${BENCH_MC_REPS:-7}
MC_C=50
MC_T=2
LB=${MTLSSHIM_LOCKSTAT_BUILD:-build-lockstat}
case $LB in /*) ;; *) LB=$ROOT/$LB ;; esac
[ "$LOCK_N2" -gt "$LOCK_N1" ] || { echo "bench: BENCH_LOCK_N2 must be larger than BENCH_LOCK_N1" >&2; exit 2; }

T0=$EPOCHREALTIME

# ---------------------------------------------------------------- helpers

# want SECTION: true when this run measures SECTION (BENCH_ONLY, BENCH_BASE).
want() {
	[ "$1" = base ] && [ -z "$BASE_REF" ] && return 1
	[ -z "$ONLY" ] && return 0
	case ",$ONLY," in *",$1,"*) return 0 ;; esac
	return 1
}

say() { printf '[%6.1fs] %s\n' "$(awk "BEGIN{print $EPOCHREALTIME - $T0}")" "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
calc() { awk "BEGIN{printf \"%.${2:-3}f\", $1}"; }

# rec KEY VALUE [REP]: one raw measurement (several per KEY: the report keeps the median).
# REP pairs it with the other modes' runs of the same repetition, which ran just before
# or after it: the report's ratios are medians of those pairs' ratios.
rec() { echo "$1 $2${3:+ $3}" >> "$W/raw.txt"; }
# meta KEY VALUE...: a fact about the run for the report.
meta() { local k=$1; shift; printf '%s\t%s\n' "$k" "$*" >> "$W/meta.txt"; }
# fail KEY WHAT [LOG...]: a measurement that did not complete; the evidence goes to
# errors.txt and stderr, and the table shows ERR for KEY.
fail() {
	local key=$1 what=$2 f
	shift 2
	{
		printf '== %s: %s\n' "$key" "$what"
		for f in "$@"; do
			[ -s "$f" ] || continue
			printf -- '-- %s (last lines)\n' "${f#"$ROOT"/}"
			tail -n 15 "$f"
		done
		if [ -s "$W/logs/shim.log" ]; then
			printf -- '-- %s (last lines)\n' "${W#"$ROOT"/}/logs/shim.log"
			tail -n 10 "$W/logs/shim.log"
		fi
	} | tee -a "$W/errors.txt" >&2
	echo "$key" >> "$W/failed.txt"
}

PIDS=()
# spawn LOG CMD...: start CMD in the background, stdin from /dev/null, stdout and
# stderr to LOG; sets SPAWNED to its PID (the program itself: the launcher execs).
spawn() {
	local log=$1
	shift
	"$@" </dev/null >"$log" 2>&1 &
	SPAWNED=$!
	PIDS+=("$SPAWNED")
}
# stop PID: TERM, up to 5 s, then KILL; reaps it.
stop() {
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
cleanup() {
	local p
	trap - EXIT
	for p in "${PIDS[@]}"; do
		stop "$p"
	done
	PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_port PORT [PID]: bounded (10 s) wait until something listens on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 1 100); do
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	return 1
}

# wait_line FILE ERE SECONDS PID: bounded wait for ERE in FILE while PID lives.
wait_line() {
	local i n=$(($3 * 10))
	for i in $(seq 1 "$n"); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || { grep -Eq -- "$2" "$1" 2>/dev/null; return; }
		sleep 0.1
	done
	return 1
}

# skip KEY: true when KEY already failed once in this run (a hung workload is not
# retried, so that one hang costs one timeout and not one per repetition).
skip() {
	if grep -qxF "$1" "$W/failed.txt"; then
		say "   skipping $1: it failed earlier in this run"
		return 0
	fi
	return 1
}

# order REP MODE...: the modes of one repetition, reversed on every other one, so that
# neither runs first (or next to the same neighbour) every time.
order() {
	local rep=$1
	shift
	if [ $((rep % 2)) = 1 ]; then echo "$@"; else printf '%s\n' "$@" | tac | tr '\n' ' '; fi
}

vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- dependencies

install_deps() {
	# memcached and libmemcached-tools (memcaslap, i.e. memaslap) for the locks, scaling and base rows.
	local pkgs="iperf3 redis-server redis-tools stunnel4 gnuplot-nox openssl python3 procps iproute2 coreutils memcached libmemcached-tools binutils"
	local missing=() p want_hf=0
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	command -v hyperfine >/dev/null 2>&1 || want_hf=1
	[ ${#missing[@]} -eq 0 ] && [ $want_hf = 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		[ ${#missing[@]} -eq 0 ] && return 0    # hyperfine is optional
		die "missing packages: ${missing[*]}; run as root or install them"
	fi
	export DEBIAN_FRONTEND=noninteractive
	say "apt-get update (missing: ${missing[*]:-none}${want_hf:+, hyperfine?})"
	apt-get update -qq
	if [ $want_hf = 1 ]; then
		if apt-cache policy hyperfine 2>/dev/null | grep -Eq 'Candidate: [^( ]'; then
			missing+=(hyperfine)
		else
			say "hyperfine is not available here: start-up is timed with a bash loop"
		fi
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing: ${missing[*]}"
	# The daemons (redis, memcached) must not start system instances during the install
	# (as in tests/deps.sh): policy-rc.d says no, and goes again afterwards.
	local rc=0 policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ $policy = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- setup

install_deps
if [ ! -f "$LIB" ] || [ ! -x "$LAUNCHER" ]; then
	say "building (make B=${B#"$ROOT"/} all)"
	make -C "$ROOT" -s B="$B" all
fi
MEMASLAP=$(command -v memcaslap || command -v memaslap || true)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

rm -rf "$W"
mkdir -p "$W/logs" "$W/pki" "$W/bin"
# A snapshot of the build under test, so that a rebuild during the run changes nothing
# (the launcher loads the libmtlsshim.so that sits beside it, and that the engine beside it).
cp "$LIB" "$B/libmtlsshim-tls.so" "$LAUNCHER" "$W/bin/"
BUILT="$(cat "$LIB" "$B/libmtlsshim-tls.so" | sha256sum | cut -c1-12), built $(date -u -r "$LIB" '+%Y-%m-%d %H:%M UTC')"
LIB=$W/bin/libmtlsshim.so
LAUNCHER=$W/bin/mtlsshim
# OpenSSL's own cost per small request and response, without mtlsshim (bench/recordcost.c).
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$W/bin/recordcost" "$BENCH/recordcost.c" -lssl -lcrypto ||
	die "cannot build bench/recordcost.c (a C compiler and libssl-dev are needed, as for the library)"
: > "$W/raw.txt"
: > "$W/meta.txt"
: > "$W/errors.txt"
: > "$W/failed.txt"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((2 * RSS_N + 200)) ] || die "need $((2 * RSS_N + 200)) descriptors, have $(ulimit -n)"

say "throwaway PKI (EC P-256) in ${W#"$ROOT"/}/pki"
(
	set -e
	cd "$W/pki"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	cat > ext.cnf <<-'CNF'
	[srv]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = serverAuth, clientAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1
	[cli]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = clientAuth, serverAuth
	subjectAltName = DNS:client.test
	CNF
	# shellcheck disable=SC2086
	openssl req -x509 $ec -keyout ca.key -out ca.crt -subj "/CN=mtlsshim bench CA" -days 365
	for n in server client; do
		s=srv
		[ $n = client ] && s=cli
		# shellcheck disable=SC2086
		openssl req -new $ec -keyout $n.key -out $n.csr -subj "/CN=$n"
		openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
			-extfile ext.cnf -extensions $s -out $n.crt
	done
) > "$W/logs/pki.log" 2>&1 || { cat "$W/logs/pki.log" >&2; die "PKI generation failed"; }
PKI=$W/pki
# The OCSP responder's database (hs, shim_ocsp): an `openssl ca` index.txt in which
# `openssl ca -valid` lists the client certificate as valid; the CA signs the answers.
(
	set -e
	mkdir -p "$PKI/ocsp"
	cd "$PKI/ocsp"
	: > index.txt
	printf '[ca]\ndefault_ca = bench\n[bench]\ndatabase = %s/index.txt\ncertificate = %s/ca.crt\nprivate_key = %s/ca.key\ndefault_md = sha256\n' \
		"$PKI/ocsp" "$PKI" "$PKI" > ca.cnf
	openssl ca -config ca.cnf -valid "$PKI/client.crt"
	grep -q '^V' index.txt
) > "$W/logs/pki-ocsp.log" 2>&1 || { cat "$W/logs/pki-ocsp.log" >&2; die "OCSP index generation failed"; }

# Distinct free ports, all held at once while they are chosen.
# shellcheck disable=SC2046
set -- $("$PY" - <<'EOF'
import socket
socks = []
for _ in range(31):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
P_REDIS=$1 P_REDIS_SHIM=$2 P_IPERF=$3 P_IPERF_SHIM=$4
P_ST_REDIS_S=$5 P_ST_REDIS_C=$6 P_ST_REDISFULL_C=$7 P_ST_IPERF_S=$8 P_ST_IPERF_C=$9
P_SSERVER=${10} P_RSS_PLAIN=${11} P_RSS_ST=${12} P_RSS_ST_S=${13} P_RSS_ST_C=${14}
P_RSS_SHIM=${15} P_REDIS_NATIVE=${16}
# locks, scaling and base: memcached plain and shimmed at -t 1 and -t 2, the counting
# build's redis and memcached, the base section's new and old redis and memcached.
P_MC_PLAIN1=${17} P_MC_PLAIN2=${18} P_MC_SHIM1=${19} P_MC_SHIM2=${20}
P_REDIS_LOCK=${21} P_MC_LOCK=${22} P_REDIS_NEW=${23} P_REDIS_OLD=${24}
P_MC_NEW1=${25} P_MC_NEW2=${26} P_MC_OLD1=${27} P_MC_OLD2=${28}
# hs, shim_ocsp: the redis-server whose rule checks client certificates by OCSP, and its responder.
P_REDIS_OCSP=${29} P_OCSP=${30}
# stats: the shimmed redis-server whose configuration says stats = false.
P_REDIS_NOSTATS=${31}
set --

# The shim's configuration: one server rule and one client rule per shimmed port.
shim_conf() { # FILE EXTRA-TOP-LEVEL-LINES
	cat > "$1" <<-EOF
	# generated by bench/run.sh
	log_level = "$LOGLEVEL"
	log_file = "$W/logs/shim.log"
	ca_file = "pki/ca.crt"
	cert_file = "pki/server.crt"
	key_file = "pki/server.key"
	handshake_timeout = 10
	$2
	server "redis" { port = $P_REDIS_SHIM }
	client "redis-c" { port = $P_REDIS_SHIM  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }
	server "redis-ocsp" { port = $P_REDIS_OCSP  ocsp = "leaf"  ocsp_responder = "http://127.0.0.1:$P_OCSP" }
	server "iperf" { port = $P_IPERF_SHIM }
	client "iperf-c" { port = $P_IPERF_SHIM  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }
	server "rss" { port = $P_RSS_SHIM }
	client "rss-c" { port = $P_RSS_SHIM  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }
	client "probe-c" { port = $P_SSERVER  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }
	EOF
}
SHIMCONF=$W/shim.conf
FULLCONF=$W/shim-full.conf
RESUMECONF=$W/shim-resume.conf
STARTCONF=$W/shim-start.conf
shim_conf "$SHIMCONF" ""
# Session resumption: where the library has `session_resumption`, the -k 0 client
# turns it off for the full-handshake row and on for the resumed row; a library
# without it runs both rows as it is (BENCH_SHIM_RESUME_OPTS can name another option).
shim_conf "$W/probe.conf" "session_resumption = false"
if "$LAUNCHER" check -c "$W/probe.conf" > "$W/logs/check-resumption.log" 2>&1; then
	HAS_RESUMPTION=1
	FULL_OPTS="session_resumption = false"
	RESUME_OPTS=${BENCH_SHIM_RESUME_OPTS-session_resumption = true}
else
	HAS_RESUMPTION=0
	FULL_OPTS=""
fi
rm -f "$W/probe.conf"
shim_conf "$FULLCONF" "$FULL_OPTS"
# stats: the same rules with the counters off, the redis pair on a port of its own (the default,
# stats = true, is what every other shim row measures).
NOSTATSCONF=$W/shim-nostats.conf
shim_conf "$NOSTATSCONF" "stats = false"
sed -i "s/port = $P_REDIS_SHIM /port = $P_REDIS_NOSTATS /" "$NOSTATSCONF"
shim_conf "$RESUMECONF" "$RESUME_OPTS"
# Start-up: the usual both-ends configuration, one server and one client rule.
cat > "$STARTCONF" <<-EOF
log_level = "$LOGLEVEL"
ca_file = "pki/ca.crt"
cert_file = "pki/server.crt"
key_file = "pki/server.key"
server "redis" { port = $P_REDIS_SHIM }
client "redis-c" { port = $P_REDIS_SHIM  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }
EOF
"$LAUNCHER" check -c "$SHIMCONF" > "$W/logs/check.log" 2>&1 || { cat "$W/logs/check.log" >&2; die "mtlsshim check failed"; }
# The locks, scaling and base rows: their own file, so that the rows above keep theirs;
# the counting build and the base library read it too.
NEWCONF=$W/shim-new.conf
{
	printf '# generated by bench/run.sh: locks, scaling, base\n'
	printf 'log_level = "%s"\nlog_file = "%s"\n' "$LOGLEVEL" "$W/logs/shim.log"
	printf 'ca_file = "pki/ca.crt"\ncert_file = "pki/server.crt"\nkey_file = "pki/server.key"\nhandshake_timeout = 10\n'
	for p in "$P_MC_SHIM1" "$P_MC_SHIM2" "$P_REDIS_LOCK" "$P_MC_LOCK" "$P_REDIS_NEW" "$P_REDIS_OLD" \
		"$P_MC_NEW1" "$P_MC_NEW2" "$P_MC_OLD1" "$P_MC_OLD2"; do
		printf 'server "s%s" { port = %s }\n' "$p" "$p"
		printf 'client "c%s" { port = %s  host = "127.0.0.1"  cert_file = "pki/client.crt"  key_file = "pki/client.key" }\n' "$p" "$p"
	done
} > "$NEWCONF"
"$LAUNCHER" check -c "$NEWCONF" > "$W/logs/check-new.log" 2>&1 || { cat "$W/logs/check-new.log" >&2; die "mtlsshim check $NEWCONF failed"; }
if { want locks || want scaling || want base; } && [ -z "$MEMASLAP" ]; then
	die "memaslap (memcaslap, package libmemcached-tools) is missing"
fi

# The counting build (locks): built here, from the same tree as the build under test, and
# used from a snapshot like it.
LOCK_ERR=""
BASE_LOCK_LAUNCHER=""
if want locks; then
	say "building the counting library (make B=${LB#"$ROOT"/} CFLAGS='-O2 -g -DMTLSSHIM_LOCKSTAT' all)"
	lockstat_make() {
		make -C "$ROOT" -s B="$LB" CFLAGS='-O2 -g -DMTLSSHIM_LOCKSTAT' "$@" all > "$W/logs/make-lockstat.log" 2>&1
	}
	# (grep without -q: under pipefail, nm killed by SIGPIPE would fail the test.)
	counts() { nm "$LB/libmtlsshim.so" 2>/dev/null | grep -w lockstat_count > /dev/null &&
		nm "$LB/libmtlsshim-tls.so" 2>/dev/null | grep -w lockstat_count > /dev/null; }
	if ! lockstat_make; then
		LOCK_ERR="make B=${LB#"$ROOT"/} failed (logs/make-lockstat.log)"
	elif ! counts; then
		# Objects built earlier without -DMTLSSHIM_LOCKSTAT: rebuilt once, all of them.
		if ! lockstat_make -B; then
			LOCK_ERR="make -B B=${LB#"$ROOT"/} failed (logs/make-lockstat.log)"
		elif ! counts; then
			LOCK_ERR="${LB#"$ROOT"/} does not count (no lockstat_count in its libraries)"
		fi
	fi
	if [ -z "$LOCK_ERR" ]; then
		mkdir -p "$W/lockstat-bin"
		cp "$LB/libmtlsshim.so" "$LB/libmtlsshim-tls.so" "$LB/mtlsshim" "$W/lockstat-bin/"
		LOCK_LAUNCHER=$W/lockstat-bin/mtlsshim
		meta lockstat_build "$(cat "$W/lockstat-bin/libmtlsshim.so" "$W/lockstat-bin/libmtlsshim-tls.so" | sha256sum | cut -c1-12), make B=${LB#"$ROOT"/} CFLAGS='-O2 -g -DMTLSSHIM_LOCKSTAT' all"
	else
		tail -n 20 "$W/logs/make-lockstat.log" >&2 || true
		say "   locks rows: $LOCK_ERR"
	fi
fi

# The base library (BENCH_BASE): a git worktree at build-bench/base, checked out at the
# ref, built into a directory of its commit there (so a change of ref rebuilds nothing stale).
if want base; then
	BASE_COMMIT=$(git -C "$ROOT" rev-parse --verify -q "$BASE_REF^{commit}") || die "BENCH_BASE=$BASE_REF: no such commit"
	BASE_SHORT=$(git -C "$ROOT" rev-parse --short "$BASE_COMMIT")
	BASE_TREE=$ROOT/build-bench/base
	if [ -e "$BASE_TREE/.git" ]; then
		git -C "$BASE_TREE" checkout -q --force --detach "$BASE_COMMIT" || die "cannot check $BASE_REF out in ${BASE_TREE#"$ROOT"/}"
	else
		mkdir -p "$ROOT/build-bench"
		git -C "$ROOT" worktree prune
		git -C "$ROOT" worktree add -q --detach "$BASE_TREE" "$BASE_COMMIT" > "$W/logs/worktree.log" 2>&1 ||
			{ cat "$W/logs/worktree.log" >&2; die "git worktree add ${BASE_TREE#"$ROOT"/} $BASE_REF failed"; }
	fi
	say "building the base library $BASE_REF ($BASE_SHORT) in ${BASE_TREE#"$ROOT"/} (make B=build-bench-$BASE_SHORT all)"
	make -C "$BASE_TREE" -s B="build-bench-$BASE_SHORT" all > "$W/logs/make-base.log" 2>&1 ||
		{ tail -n 20 "$W/logs/make-base.log" >&2; die "the base library $BASE_REF does not build"; }
	BB=$BASE_TREE/build-bench-$BASE_SHORT
	mkdir -p "$W/base-bin"
	# An engine library beside the preload where that version has one.
	cp "$BB/libmtlsshim.so" "$BB/mtlsshim" "$W/base-bin/"
	[ -f "$BB/libmtlsshim-tls.so" ] && cp "$BB/libmtlsshim-tls.so" "$W/base-bin/"
	BASE_LAUNCHER=$W/base-bin/mtlsshim
	"$BASE_LAUNCHER" check -c "$NEWCONF" > "$W/logs/check-base.log" 2>&1 ||
		{ cat "$W/logs/check-base.log" >&2; die "the base library $BASE_REF refuses $NEWCONF"; }
	# Its counting build, where it has the counter (src/common/lockstat.c or older places).
	BASE_LOCK_LAUNCHER=""
	if want locks && git -C "$BASE_TREE" grep -q MTLSSHIM_LOCKSTAT -- src; then
		BLB=$BASE_TREE/build-lockstat-$BASE_SHORT
		if make -C "$BASE_TREE" -s B="$BLB" CFLAGS='-O2 -g -DMTLSSHIM_LOCKSTAT' all > "$W/logs/make-base-lockstat.log" 2>&1 &&
			nm "$BLB/libmtlsshim.so" | grep -w lockstat_count > /dev/null; then
			mkdir -p "$W/base-lockstat-bin"
			cp "$BLB/libmtlsshim.so" "$BLB/mtlsshim" "$W/base-lockstat-bin/"
			[ -f "$BLB/libmtlsshim-tls.so" ] && cp "$BLB/libmtlsshim-tls.so" "$W/base-lockstat-bin/"
			BASE_LOCK_LAUNCHER=$W/base-lockstat-bin/mtlsshim
		else
			say "   the base library's counting build failed (logs/make-base-lockstat.log): no old locks rows"
		fi
	fi
	meta base "$BASE_SHORT"
	meta base_desc "BENCH_BASE=$BASE_REF: $BASE_SHORT ($(git -C "$ROOT" log -1 --format=%s "$BASE_COMMIT" | cut -c1-80)), libmtlsshim.so $(cat "$W"/base-bin/*.so | sha256sum | cut -c1-12)"
fi

# stunnel_conf FILE client|server SERVICE ACCEPT CONNECT [EXTRA] [SERVICE ...]
stunnel_conf() {
	local f=$1 role=$2 cert=server
	shift 2
	[ "$role" = client ] && cert=client
	{
		echo "; generated by bench/run.sh"
		echo "foreground = yes"
		echo "pid ="
		echo "syslog = no"
		echo "debug = 4"
		while [ $# -gt 0 ]; do
			echo "[$1]"
			[ "$role" = client ] && echo "client = yes"
			echo "accept = 127.0.0.1:$2"
			echo "connect = 127.0.0.1:$3"
			echo "cert = $PKI/$cert.crt"
			echo "key = $PKI/$cert.key"
			echo "CAfile = $PKI/ca.crt"
			echo "verify = 2"
			[ -n "$4" ] && echo "$4"
			shift 4
		done
	} > "$f"
}
stunnel_conf "$W/stunnel-srv.conf" server \
	redis "$P_ST_REDIS_S" "$P_REDIS" "" \
	iperf "$P_ST_IPERF_S" "$P_IPERF" ""
stunnel_conf "$W/stunnel-cli.conf" client \
	redis "$P_ST_REDIS_C" "$P_ST_REDIS_S" "" \
	redis-full "$P_ST_REDISFULL_C" "$P_ST_REDIS_S" "sessionResume = no" \
	iperf "$P_ST_IPERF_C" "$P_ST_IPERF_S" ""

STUNNEL=$(command -v stunnel4 || command -v stunnel)
REDIS_ARGS=(--bind 127.0.0.1 --save "" --appendonly no --protected-mode no --maxclients $((RSS_N + 1000)) --dir "$W")

# start NAME PORT CMD...: spawn a server and wait until it listens; sets SPAWNED.
start() {
	local name=$1 port=$2
	shift 2
	spawn "$W/logs/$name.out" "$@"
	wait_port "$port" "$SPAWNED" || { cat "$W/logs/$name.out" >&2; die "$name did not listen on $port"; }
}

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "make bench (bash bench/run.sh)"
meta machine "$(nproc) cores, $(uname -sr), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
meta versions "$(openssl version | cut -d' ' -f1-2); $(redis-server --version | cut -d' ' -f1-3); $(iperf3 --version | head -1 | cut -d' ' -f1-2); $("$STUNNEL" -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*')"
meta shim "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet -- src 2>/dev/null || echo '+dirty'); libmtlsshim.so $BUILT"
meta rss_n "$RSS_N"
if [ "$HAS_RESUMPTION" = 1 ]; then
	meta resumption_conf "shim -k 0 client: full row '$FULL_OPTS', resumed row '${RESUME_OPTS:-defaults}'"
else
	extra=""
	[ -n "$RESUME_OPTS" ] && extra=" (the resumed row adds: $RESUME_OPTS)"
	meta resumption_conf "the library has no session_resumption option: both shim -k 0 rows run its defaults$extra"
fi
meta params "reps=$REPS redis_reps=$RR_REPS iperf_reps=$IPERF_REPS iperf_time=${IPERF_TIME}s redis_n1=$RB_N1 redis_n50=$RB_N50 k0_n=$K0_N k0_c=$K0_C hs_time=${HS_TIME}s rss_n=$RSS_N lock_n1=$LOCK_N1 lock_n2=$LOCK_N2 lock_reps=$LOCK_REPS mc_n=$MC_N mc_reps=$MC_REPS"
[ -n "$ONLY" ] && meta only "$ONLY"
if want locks || want scaling || want base; then
	meta memcached "$(memcached -V 2>&1 | head -1); $("$MEMASLAP" -V 2>&1 | head -1) -T $MC_T -c $MC_C -X 32 (90% get, 10% set)"
fi

say "starting servers"
start redis-plain "$P_REDIS" redis-server --port "$P_REDIS" "${REDIS_ARGS[@]}" --logfile "$W/logs/redis-plain.log"
REDIS_PID_PLAIN=$SPAWNED
start redis-shim "$P_REDIS_SHIM" "$LAUNCHER" -c "$SHIMCONF" redis-server --port "$P_REDIS_SHIM" "${REDIS_ARGS[@]}" --logfile "$W/logs/redis-shim.log"
REDIS_PID_SHIM=$SPAWNED
# redis's own TLS, where this redis-server was built with it (Debian's is); without it
# the native figures are left out, and the run says why.
NATIVE_CS=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
NATIVE_TLS=(--tls --cert "$PKI/client.crt" --key "$PKI/client.key" --cacert "$PKI/ca.crt" --tls-ciphersuites "$NATIVE_CS")
spawn "$W/logs/redis-native.out" redis-server --port 0 --tls-port "$P_REDIS_NATIVE" "${REDIS_ARGS[@]}" \
	--tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/server.key" --tls-ca-cert-file "$PKI/ca.crt" \
	--tls-auth-clients yes --tls-ciphersuites "$NATIVE_CS" --tls-prefer-server-ciphers yes \
	--logfile "$W/logs/redis-native.log"
REDIS_PID_NATIVE=$SPAWNED
if wait_port "$P_REDIS_NATIVE" "$REDIS_PID_NATIVE"; then
	HAS_NATIVE=1
	meta native "redis-server --tls-port, --tls-auth-clients yes, ciphersuites $NATIVE_CS; redis-benchmark --tls with the client certificate"
else
	HAS_NATIVE=0
	meta native "not measured: this redis-server has no TLS ($(head -c 200 "$W/logs/redis-native.out" | tr '\n' ' '))"
fi
start iperf-plain "$P_IPERF" iperf3 -s -p "$P_IPERF" -B 127.0.0.1
start iperf-shim "$P_IPERF_SHIM" "$LAUNCHER" -c "$SHIMCONF" iperf3 -s -p "$P_IPERF_SHIM" -B 127.0.0.1
start stunnel-srv "$P_ST_REDIS_S" "$STUNNEL" "$W/stunnel-srv.conf"
start stunnel-cli "$P_ST_REDIS_C" "$STUNNEL" "$W/stunnel-cli.conf"
start s_server "$P_SSERVER" openssl s_server -accept "127.0.0.1:$P_SSERVER" -cert "$PKI/server.crt" \
	-key "$PKI/server.key" -CAfile "$PKI/ca.crt" -Verify 2 -verify_quiet -www -quiet
for p in "$P_ST_REDISFULL_C" "$P_ST_IPERF_C" "$P_ST_IPERF_S"; do
	wait_port "$p" || die "stunnel does not listen on $p"
done

# Every workload: which port the client uses and whether it runs under the shim.
port_of() { # MODE WORKLOAD
	case $1/$2 in
	plain/redis) echo "$P_REDIS" ;;
	native/redis) echo "$P_REDIS_NATIVE" ;;
	stunnel/redis) echo "$P_ST_REDIS_C" ;;
	stunnel_full/redis) echo "$P_ST_REDISFULL_C" ;;
	shim_nostats/redis) echo "$P_REDIS_NOSTATS" ;;
	shim*/redis) echo "$P_REDIS_SHIM" ;;
	new/redis) echo "$P_REDIS_NEW" ;;
	old/redis) echo "$P_REDIS_OLD" ;;
	plain/iperf) echo "$P_IPERF" ;;
	stunnel/iperf) echo "$P_ST_IPERF_C" ;;
	shim/iperf) echo "$P_IPERF_SHIM" ;;
	esac
}
# wrap MODE: sets WRAP to the prefix that runs a client of MODE (the shim for shim modes).
wrap() {
	case $1 in
	shim_resumed) WRAP=("$LAUNCHER" -c "$RESUMECONF") ;;
	shim_full) WRAP=("$LAUNCHER" -c "$FULLCONF") ;;
	shim_nostats) WRAP=("$LAUNCHER" -c "$NOSTATSCONF") ;;
	shim*) WRAP=("$LAUNCHER" -c "$SHIMCONF") ;;
	new) WRAP=("$LAUNCHER" -c "$NEWCONF") ;;
	old) WRAP=("$BASE_LAUNCHER" -c "$NEWCONF") ;;
	*) WRAP=() ;;
	esac
}

# ---------------------------------------------------------------- 1. bulk

iperf_run() { # MODE REP
	local mode=$1 log=$W/logs/iperf-$1-$2
	skip "bulk.$mode" && return 0
	wrap "$mode"
	if ! timeout $((IPERF_TIME + 25)) "${WRAP[@]}" iperf3 -c 127.0.0.1 -p "$(port_of "$mode" iperf)" -t "$IPERF_TIME" -J \
		> "$log.json" 2> "$log.err"; then
		fail "bulk.$mode" "iperf3 client failed or timed out (rep $2)" "$log.err" "$log.json" "$W/logs/iperf-$mode.out"
		return 0
	fi
	local g
	if g=$("$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
if "error" in d: sys.exit(d["error"])
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' "$log.json" 2>>"$log.err"); then
		rec "bulk.$mode" "$g" "$2"
	else
		fail "bulk.$mode" "iperf3 reported an error (rep $2)" "$log.err"
	fi
}

if want bulk; then
	say "1. bulk: iperf3 single stream, ${IPERF_TIME}s x $IPERF_REPS per mode"
	for r in $(seq 1 "$IPERF_REPS"); do
		for m in $(order "$r" plain shim stunnel); do
			iperf_run "$m" "$r"
		done
	done
fi

# ---------------------------------------------------------------- 2, 3. redis

# CPU time of a process so far, in clock ticks (user + system).
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
TIMEFORMAT='%3U %3S'

# rb KEY MODE REP ARGS...: one redis-benchmark run, recording KEY.MODE.{get,set}.{rps,p50};
# at -c 50, plain, shim and native, also cpu50.MODE: microseconds of CPU per request, the
# redis-server and the redis-benchmark process together.
rb() {
	local key=$1 mode=$2 rep=$3 log spid="" t0=0
	shift 3
	log=$W/logs/rb-$key-$mode-$rep
	skip "$key.$mode" && return 0
	wrap "$mode"
	case $key/$mode in
	c50/plain) spid=$REDIS_PID_PLAIN ;;
	c50/shim) spid=$REDIS_PID_SHIM ;;
	c50/native) spid=$REDIS_PID_NATIVE ;;
	bc50/new) spid=$REDIS_PID_NEW ;;
	bc50/old) spid=$REDIS_PID_OLD ;;
	esac
	[ "$mode" = native ] && set -- "${NATIVE_TLS[@]}" "$@"
	[ -n "$spid" ] && t0=$(cputicks "$spid")
	if ! { time timeout 45 "${WRAP[@]}" redis-benchmark -h 127.0.0.1 -p "$(port_of "$mode" redis)" --csv "$@" > "$log.csv" 2> "$log.err"; } 2> "$log.time"; then
		fail "$key.$mode" "redis-benchmark $* failed or timed out (rep $rep)" "$log.err" "$log.csv"
		return 0
	fi
	if [ -n "$spid" ]; then
		# -t set,get -n N: 2N requests.
		rec "${key%c50}cpu50.$mode" "$(awk -v s="$(( ($(cputicks "$spid") - t0) * TICK_US ))" -v n="$RB_N50" \
			'{printf "%.2f", (s + ($1 + $2) * 1e6) / (2 * n)}' "$log.time")" "$rep"
	fi
	local n
	n=$(tr -d '"' < "$log.csv" | awk -F, -v k="$key.$mode" -v raw="$W/raw.txt" -v rep="$rep" '
		NR > 1 && $2 + 0 > 0 { t = tolower($1); print k "." t ".rps " $2 " " rep >> raw; print k "." t ".p50 " $5 " " rep >> raw; n++ }
		END { print n + 0 }')
	[ "$n" -gt 0 ] || fail "$key.$mode" "redis-benchmark $* printed no result (rep $rep)" "$log.err" "$log.csv"
}

if want rr; then
	say "2. request/response: redis-benchmark GET,SET at -c 1 (n=$RB_N1) and -c 50 (n=$RB_N50), $RR_REPS reps (stunnel $REPS)"
	for r in $(seq 1 "$(( RR_REPS > REPS ? RR_REPS : REPS ))"); do
		# The shim/plain pairs are the targets, and the noisiest: more of them than of stunnel's;
		# redis's own TLS is the ceiling the shim is judged against, as many.
		modes=""
		[ "$r" -le "$RR_REPS" ] && modes="plain shim"
		[ "$r" -le "$RR_REPS" ] && [ "$HAS_NATIVE" = 1 ] && modes="$modes native"
		[ "$r" -le "$REPS" ] && modes="$modes stunnel"
		for m in $(order "$r" $modes); do
			rb c1 "$m" "$r" -t set,get -c 1 -n "$RB_N1"
			rb c50 "$m" "$r" -t set,get -c 50 -n "$RB_N50"
		done
	done

	say "   OpenSSL alone: bench/recordcost.c, 3 x 100,000 small request/response rounds in one process"
	for r in 1 2 3; do
		if out=$("$W/bin/recordcost" "$PKI" 100000 2> "$W/logs/recordcost.err"); then
			rec floor.plain "$(sed -n 's/.*plain_us=\([0-9.]*\).*/\1/p' <<< "$out")" "$r"
			rec floor.tls "$(sed -n 's/.*tls_us=\([0-9.]*\).*/\1/p' <<< "$out")" "$r"
			meta floor_cipher "$(sed -n 's/.*cipher=\([^ ]*\).*/\1/p' <<< "$out")"
		else
			fail floor "recordcost failed (rep $r)" "$W/logs/recordcost.err"
		fi
	done
fi

if want k0; then
	say "3. connection per request: redis-benchmark -k 0 -t get -c $K0_C -n $K0_N, $REPS reps"
	for r in $(seq 1 "$REPS"); do
		for m in $(order "$r" plain stunnel_full stunnel shim_full shim_resumed); do
			rb k0 "$m" "$r" -t get -k 0 -c "$K0_C" -n "$K0_N"
		done
	done

	# Does resumption happen? Server side: openssl s_client saves the session of a first
	# connection to the shimmed redis (PING, QUIT) and offers it on 3 more. Client side:
	# the shimmed client (resumed config) asks openssl s_server -www 4 times in a row.
	say "   resumption probes"
	rm -f "$W/sess.pem"
	n=0
	for i in 1 2 3 4; do
		sess=()
		[ -f "$W/sess.pem" ] && sess=(-sess_in "$W/sess.pem")
		printf 'PING\r\nQUIT\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$P_REDIS_SHIM" -ign_eof \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -CAfile "$PKI/ca.crt" \
			-sess_out "$W/sess.new" "${sess[@]}" > "$W/logs/probe-server-$i.out" 2>&1 || true
		if [ -s "$W/sess.new" ]; then mv "$W/sess.new" "$W/sess.pem"; fi
		if [ "$i" -gt 1 ] && grep -aq '^Reused,' "$W/logs/probe-server-$i.out"; then n=$((n + 1)); fi
	done
	meta probe_server "the shimmed server resumed $n of 3 offered sessions (openssl s_client -sess_in)"
	if out=$(timeout 30 "$LAUNCHER" -c "$RESUMECONF" "$PY" "$BENCH/resumeprobe.py" 127.0.0.1 "$P_SSERVER" 4 2> "$W/logs/probe-client.err"); then
		meta probe_client "the shimmed client (resumed config) resumed ${out#reused } connections to openssl s_server"
	else
		meta probe_client "shimmed client probe failed: $(tail -n 3 "$W/logs/probe-client.err" | tr '\n' ' ')"
	fi
fi

# ---------------------------------------------------------------- 4. handshakes

# hs_run MODE PORT REP [ping]: handshakes/s of openssl s_time -new, or with ping of
# bench/hsclient.py (a PING answered on every connection: handshakes the server admitted).
hs_run() {
	local log=$W/logs/hs-$1-$3 t1 t2 n
	skip "hs.$1" && return 0
	t1=$EPOCHREALTIME
	if [ "${4:-}" = ping ]; then
		timeout $((HS_TIME + 20)) "$PY" "$BENCH/hsclient.py" 127.0.0.1 "$2" "$HS_TIME" "$PKI" > "$log" 2>&1 || true
	else
		timeout $((HS_TIME + 20)) openssl s_time -connect "127.0.0.1:$2" -new -time "$HS_TIME" \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -CAfile "$PKI/ca.crt" > "$log" 2>&1 || true
	fi
	t2=$EPOCHREALTIME
	n=$(grep -Eo '^[0-9]+ connections in [0-9.]+s' "$log" | awk '{print $1; exit}')
	if [ -n "$n" ] && [ "$n" -gt 0 ] && ! grep -q ERROR "$log"; then
		rec "hs.$1" "$(calc "$n / ($t2 - $t1)" 1)" "$3"
	else
		fail "hs.$1" "${4:+hsclient.py, not }openssl s_time -new against port $2 made no connection (rep $3)" "$log"
	fi
}

# ocsp_queries LOG: how many requests the `openssl ocsp -text` responder of LOG has served.
ocsp_queries() { local n; n=$(grep -c '^OCSP Request Data:' "$1" 2>/dev/null) || true; echo "${n:-0}"; }

# ocsp_start: the responder of the shim_ocsp server (OCSP_PID, its log OCSP_LOG) and that
# server (REDIS_PID_OCSP), whose rule redis-ocsp asks it; then one handshake with the client
# certificate warms the server's cache, and the responder's log must show its one query,
# answered "good". Sets OCSP_ERR to what went wrong, if anything.
ocsp_start() {
	local log=$W/logs/hs-shim_ocsp-warm.out
	OCSP_ERR="" OCSP_PID="" REDIS_PID_OCSP=""
	OCSP_LOG=$W/logs/ocsp-responder.log
	# OpenSSL 3.0's -port takes a port only: it listens on every interface.
	spawn "$OCSP_LOG" stdbuf -oL -eL openssl ocsp -index "$PKI/ocsp/index.txt" -port "$P_OCSP" \
		-rsigner "$PKI/ca.crt" -rkey "$PKI/ca.key" -CA "$PKI/ca.crt" -text -ndays 1
	OCSP_PID=$SPAWNED
	wait_port "$P_OCSP" "$OCSP_PID" || { OCSP_ERR="the OCSP responder did not listen on $P_OCSP"; return 1; }
	spawn "$W/logs/redis-ocsp.out" "$LAUNCHER" -c "$SHIMCONF" redis-server --port "$P_REDIS_OCSP" \
		"${REDIS_ARGS[@]}" --logfile "$W/logs/redis-ocsp.log"
	REDIS_PID_OCSP=$SPAWNED
	wait_port "$P_REDIS_OCSP" "$REDIS_PID_OCSP" || { OCSP_ERR="the shim_ocsp redis-server did not listen on $P_REDIS_OCSP"; return 1; }
	[ "$(ocsp_queries "$OCSP_LOG")" = 0 ] || { OCSP_ERR="the responder was asked before the warm-up handshake"; return 1; }
	printf 'PING\r\nQUIT\r\n' | timeout 15 openssl s_client -connect "127.0.0.1:$P_REDIS_OCSP" -ign_eof \
		-cert "$PKI/client.crt" -key "$PKI/client.key" -CAfile "$PKI/ca.crt" > "$log" 2>&1 || true
	grep -q '^+PONG' "$log" || { OCSP_ERR="the warm-up handshake got no PONG (logs/${log##*/})"; return 1; }
	wait_line "$OCSP_LOG" 'Cert Status: good' 5 "$OCSP_PID" ||
		{ OCSP_ERR="the responder's log shows no good answer after the warm-up"; return 1; }
	[ "$(ocsp_queries "$OCSP_LOG")" = 1 ] ||
		{ OCSP_ERR="the warm-up handshake made $(ocsp_queries "$OCSP_LOG") queries, not 1"; return 1; }
}

if want hs; then
	say "4. handshakes/s: openssl s_time -new ${HS_TIME}s vs s_server, stunnel server, shimmed redis-server; hsclient.py vs shimmed redis-server without and with ocsp = leaf"
	# shim_ping and shim_ocsp: the shimmed redis-servers without and with ocsp = "leaf",
	# bench/hsclient.py as the client, so that every handshake counted went through the check.
	hs_modes="s_server shim shim_ping shim_ocsp stunnel"
	if ! ocsp_start; then
		fail hs.shim_ocsp "$OCSP_ERR" "$W/logs/hs-shim_ocsp-warm.out" "$OCSP_LOG" "$W/logs/redis-ocsp.out"
		hs_modes="s_server shim shim_ping stunnel"
	fi
	meta ocsp "redis-server under the shim, rule ocsp = \"leaf\", ocsp_responder = http://127.0.0.1:$P_OCSP (openssl ocsp -index, an openssl ca index listing the client certificate valid, -rsigner the CA, -ndays 1); its cache warmed by one handshake before the reps"
	for r in $(seq 1 "$REPS"); do
		for m in $(order "$r" $hs_modes); do
			case $m in
			s_server) hs_run s_server "$P_SSERVER" "$r" ;;
			shim) hs_run shim "$P_REDIS_SHIM" "$r" ;;
			shim_ping) hs_run shim_ping "$P_REDIS_SHIM" "$r" ping ;;
			shim_ocsp) hs_run shim_ocsp "$P_REDIS_OCSP" "$r" ping ;;
			stunnel) hs_run stunnel "$P_ST_REDIS_S" "$r" ;;
			esac
		done
	done
	if [ -n "$OCSP_PID" ] && [ -z "$OCSP_ERR" ]; then
		# One query per server process (the warm-up's), however many handshakes.
		nq=$(ocsp_queries "$OCSP_LOG")
		nh=$(cat "$W"/logs/hs-shim_ocsp-[0-9]* 2>/dev/null | grep -Eo '^[0-9]+ connections in [0-9.]+s' | awk '{n += $1} END {print n + 0}')
		meta ocsp_queries "the responder was asked $nq time(s) by the 1 server process, for its 1 warm-up and $nh measured handshakes (expected: once)"
		[ "$nq" = 1 ] || fail hs.ocsp_queries "the responder got $nq queries from one server process (expected 1: the cache should answer every later handshake)" "$OCSP_LOG"
		# Every measured connection reached redis-server, so through the check (hsclient.py
		# waits for +PONG on each): its own count, the warm-up, the handshakes and this query.
		log=$W/logs/hs-shim_ocsp-stats.out
		printf 'INFO stats\r\nQUIT\r\n' | timeout 15 openssl s_client -connect "127.0.0.1:$P_REDIS_OCSP" -ign_eof \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -CAfile "$PKI/ca.crt" > "$log" 2>&1 || true
		na=$(sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p' "$log")
		meta ocsp_admitted "redis-server behind the ocsp rule accepted ${na:-?} connections: the warm-up, the $nh measured and the one that asked"
		[ -n "$na" ] && [ "$na" = $((nh + 2)) ] ||
			fail hs.shim_ocsp "the ocsp server accepted ${na:-no} connections, not $((nh + 2)) (the warm-up, $nh measured, this query)" "$log"
		[ "$(ocsp_queries "$OCSP_LOG")" = "$nq" ] || fail hs.ocsp_queries "the query after the reps asked the responder again" "$OCSP_LOG"
	fi
	for p in "$REDIS_PID_OCSP" "$OCSP_PID"; do
		if [ -n "$p" ]; then stop "$p"; fi
	done
fi

# ---------------------------------------------------------------- 5. RSS

# rss_run MODE PORT CLIENTMODE SERVERPID...: KiB of server RSS per idle connection.
rss_run() {
	local mode=$1 port=$2 cmode=$3 log=$W/logs/rss-$1 p before=0 after=0 cpid
	shift 3
	wrap "$cmode"
	if ! timeout 60 "${WRAP[@]}" "$PY" "$BENCH/rssclient.py" 127.0.0.1 "$port" 20 0 > "$log-warm.out" 2>&1; then
		fail "rss.$mode" "warm-up client failed" "$log-warm.out"
		return 0
	fi
	sleep 1
	for p in "$@"; do before=$((before + $(vmrss "$p"))); done
	spawn "$log.out" "${WRAP[@]}" "$PY" "$BENCH/rssclient.py" 127.0.0.1 "$port" "$RSS_N" 120
	cpid=$SPAWNED
	if wait_line "$log.out" '^ready' 90 "$cpid"; then
		sleep 1
		for p in "$@"; do after=$((after + $(vmrss "$p"))); done
		rec "rss.$mode" "$(calc "($after - $before) / $RSS_N" 1)"
		meta "rss_$mode" "server VmRSS ${before} KiB -> ${after} KiB with $RSS_N idle connections ($(awk '{print $3 "s to open"}' "$log.out"))"
	else
		fail "rss.$mode" "$RSS_N connections were not all up within 90 s" "$log.out"
	fi
	stop "$cpid"
}

# ---------------------------------------------------------------- stats on and off

# The same shimmed redis pair with stats = true (the default) and stats = false, interleaved:
# redis-benchmark -c 50 and admitted handshakes (hsclient.py), the counters' cost per request
# and per handshake.
if want stats; then
	say "stats: redis -c 50 (n=$RB_N50, $RR_REPS reps) and hsclient.py handshakes (${HS_TIME}s, $REPS reps), stats = true vs false"
	start redis-nostats "$P_REDIS_NOSTATS" "$LAUNCHER" -c "$NOSTATSCONF" redis-server --port "$P_REDIS_NOSTATS" \
		"${REDIS_ARGS[@]}" --logfile "$W/logs/redis-nostats.log"
	NOSTATS_PID=$SPAWNED
	for r in $(seq 1 "$RR_REPS"); do
		for m in $(order "$r" shim shim_nostats); do
			rb st50 "$m" "$r" -t set,get -c 50 -n "$RB_N50"
		done
	done
	for r in $(seq 1 "$REPS"); do
		for m in $(order "$r" stats_on stats_off); do
			case $m in
			stats_on) hs_run stats_on "$P_REDIS_SHIM" "$r" ping ;;
			stats_off) hs_run stats_off "$P_REDIS_NOSTATS" "$r" ping ;;
			esac
		done
	done
	# The counters really counted on the one side and not on the other.
	if "$LAUNCHER" status -c "$SHIMCONF" > "$W/logs/stats-status.txt" 2>&1; then
		meta stats "stats = true: $(grep -m1 'server "redis"' "$W/logs/stats-status.txt" | sed 's/^ *//')"
	else
		fail stats "mtlsshim status found no counters for the stats = true server" "$W/logs/stats-status.txt"
	fi
	"$LAUNCHER" status -c "$NOSTATSCONF" > "$W/logs/stats-status-off.txt" 2>&1 &&
		fail stats "mtlsshim status found counters for the stats = false server" "$W/logs/stats-status-off.txt"
	stop "$NOSTATS_PID"
fi

if want rss; then
	say "5. server RSS per idle connection: $RSS_N connections, fresh servers"
	start rss-redis-plain "$P_RSS_PLAIN" redis-server --port "$P_RSS_PLAIN" "${REDIS_ARGS[@]}" --logfile "$W/logs/rss-redis-plain.log"
	rss_run plain "$P_RSS_PLAIN" plain "$SPAWNED"
	stop "$SPAWNED"
	start rss-redis-st "$P_RSS_ST" redis-server --port "$P_RSS_ST" "${REDIS_ARGS[@]}" --logfile "$W/logs/rss-redis-st.log"
	rpid=$SPAWNED
	stunnel_conf "$W/stunnel-rss-srv.conf" server rss "$P_RSS_ST_S" "$P_RSS_ST" ""
	stunnel_conf "$W/stunnel-rss-cli.conf" client rss "$P_RSS_ST_C" "$P_RSS_ST_S" ""
	start stunnel-rss-srv "$P_RSS_ST_S" "$STUNNEL" "$W/stunnel-rss-srv.conf"
	spid=$SPAWNED
	start stunnel-rss-cli "$P_RSS_ST_C" "$STUNNEL" "$W/stunnel-rss-cli.conf"
	cpid=$SPAWNED
	rss_run stunnel "$P_RSS_ST_C" plain "$spid" "$rpid"
	for p in "$cpid" "$spid" "$rpid"; do stop "$p"; done
	start rss-redis-shim "$P_RSS_SHIM" "$LAUNCHER" -c "$SHIMCONF" redis-server --port "$P_RSS_SHIM" "${REDIS_ARGS[@]}" --logfile "$W/logs/rss-redis-shim.log"
	rss_run shim "$P_RSS_SHIM" shim "$SPAWNED"
	stop "$SPAWNED"
fi

# ---------------------------------------------------------------- 6. start-up

# start_run KEYPREFIX RUNAS...: median ms of /bin/true plain, under the preload, and
# (root only) through the launcher; RUNAS is a command prefix (setpriv for nobody).
start_run() {
	local pre=$1 lib=$2 conf=$3 launcher=$4 json
	shift 4
	json=$(dirname "$lib")/hyperfine-$pre.json
	if ! "$@" env LD_PRELOAD="$lib" MTLSSHIM_CONFIG="$conf" /bin/true 2> "$W/logs/start-$pre.err"; then
		fail "$pre.shim" "/bin/true under the preload failed" "$W/logs/start-$pre.err"
	elif command -v hyperfine > /dev/null 2>&1; then
		local cmds=(-n plain "env /bin/true" -n shim "env 'LD_PRELOAD=$lib' 'MTLSSHIM_CONFIG=$conf' /bin/true")
		[ -n "$launcher" ] && cmds+=(-n launcher "'$launcher' -c '$conf' /bin/true")
		if timeout 180 "$@" hyperfine -N --style none --warmup 30 --runs 300 \
			--export-json "$json" "${cmds[@]}" > "$W/logs/hyperfine-$pre.out" 2>&1; then
			"$PY" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%s.%s %.3f" % (sys.argv[2], r["command"], r["median"] * 1000))' "$json" "$pre" >> "$W/raw.txt"
		else
			fail "$pre.shim" "hyperfine failed" "$W/logs/hyperfine-$pre.out"
		fi
	else
		local r
		for r in $(seq 1 "$REPS"); do
			rec "$pre.plain" "$("$@" bash -c 't=$EPOCHREALTIME; for ((i = 0; i < 300; i++)); do env /bin/true; done; awk "BEGIN{printf \"%.3f\", ($EPOCHREALTIME - $t) * 1000 / 300}"')"
			rec "$pre.shim" "$("$@" env LIB="$lib" CONF="$conf" bash -c 't=$EPOCHREALTIME; for ((i = 0; i < 300; i++)); do env LD_PRELOAD="$LIB" MTLSSHIM_CONFIG="$CONF" /bin/true; done; awk "BEGIN{printf \"%.3f\", ($EPOCHREALTIME - $t) * 1000 / 300}"')"
		done
	fi
}
if want startup; then
	say "6. start-up: /bin/true with and without the preload, as root and as an unprivileged user"
	if command -v hyperfine > /dev/null 2>&1; then
		meta startup_tool "hyperfine -N, 30 warm-up + 300 runs each, median"
	else
		meta startup_tool "bash loop of 300 runs x $REPS, mean per run, median of the $REPS"
	fi
	start_run start "$LIB" "$STARTCONF" "$LAUNCHER"
	# The same files as user nobody, from a copy it can read (the warm-up's first run records
	# that they passed; the measured runs are repeat starts).
	if id nobody > /dev/null 2>&1 && command -v setpriv > /dev/null 2>&1; then
		U=$(mktemp -d /tmp/mtlsshim-bench-start.XXXXXX)
		chmod 755 "$U"
		cp "$LIB" "$W/bin/libmtlsshim-tls.so" "$U/"
		cp -r "$W/pki" "$U/pki"
		sed "s|\"pki/|\"$U/pki/|" "$STARTCONF" > "$U/start.conf"
		chown -R nobody "$U"
		start_run start.user "$U/libmtlsshim.so" "$U/start.conf" "" \
			setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups
		meta startup_user "user nobody, files copied to /tmp, cache in /tmp/mtlsshim-$(id -u nobody)"
		rm -rf "$U"
	else
		meta startup_user "not measured: no user nobody or no setpriv"
	fi
fi

# ---------------------------------------------------------------- 7, 8, 9. locks, threads, base

# memcached -t THREADS on PORT, plaintext; spawned under PREFIX... (the shim's launcher).
MC_ARGS=(-l 127.0.0.1 -U 0 -m 64 -c 4096)
[ "$(id -u)" = 0 ] && MC_ARGS+=(-u root)
start_mc() { # NAME PORT THREADS [PREFIX...]
	local name=$1 port=$2 t=$3
	shift 3
	start "$name" "$port" "$@" memcached -p "$port" -t "$t" "${MC_ARGS[@]}"
}
# memaslap: MC_T event-driven threads, MC_C connections, N operations (90% get, 10% set
# of 32-byte values), and nothing else; one line "OPS TPS" on stdout, or failure.
memaslap_run() { # LOG N PORT [PREFIX...]
	local log=$1 n=$2 port=$3 ops tps
	shift 3
	timeout 90 "$@" "$MEMASLAP" -s "127.0.0.1:$port" -T "$MC_T" -c "$MC_C" -x "$n" -X 32 \
		> "$log.out" 2> "$log.err" || return 1
	ops=$(sed -n 's/.*Ops: \([0-9]*\).*/\1/p' "$log.out")
	tps=$(sed -n 's/.*TPS: \([0-9]*\).*/\1/p' "$log.out")
	[ -n "$ops" ] && [ -n "$tps" ] && [ "$ops" -gt 0 ] || return 1
	echo "$ops $tps"
}
# mc KEY REP PORT [PREFIX...]: one memaslap run of MC_N operations, recording KEY (req/s).
mc() {
	local key=$1 rep=$2 port=$3 log=$W/logs/mc-$1-$2 out
	shift 3
	skip "$key" && return 0
	if out=$(memaslap_run "$log" "$MC_N" "$port" "$@"); then
		rec "$key" "${out#* }" "$rep"
	else
		fail "$key" "memaslap -T $MC_T -c $MC_C -x $MC_N against port $port failed or timed out (rep $rep)" "$log.err" "$log.out"
	fi
}

# Lock acquisitions: the counter at the start of FILE, a little-endian uint64.
lockcount() { local v; v=$(od -An -tu8 -N8 "$1" 2>/dev/null | tr -d ' '); echo "${v:-0}"; }
# lock_pairs KEY FILE RUN: runs "RUN N LOG" (one load of N requests, printing how many it
# made) once to warm up, then LOCK_REPS times with N1 and N2, reading FILE around each;
# records KEY = (d2 - d1) / (n2 - n1) per repetition, and the raw totals in meta.
lock_pairs() {
	local key=$1 file=$2 run=$3 r N n c0 d n1 d1 raws=""
	if ! n=$("$run" "$LOCK_N1" "$W/logs/$key-warm"); then
		fail "$key" "warm-up load failed" "$W/logs/$key-warm.err" "$W/logs/$key-warm.out"
		return 0
	fi
	for r in $(seq 1 "$LOCK_REPS"); do
		for N in "$LOCK_N1" "$LOCK_N2"; do
			c0=$(lockcount "$file")
			if ! n=$("$run" "$N" "$W/logs/$key-$r-$N"); then
				fail "$key" "load of $N requests failed (rep $r)" "$W/logs/$key-$r-$N.err" "$W/logs/$key-$r-$N.out"
				return 0
			fi
			d=$(( $(lockcount "$file") - c0 ))
			if [ "$N" = "$LOCK_N1" ]; then
				n1=$n d1=$d
			else
				rec "$key" "$(calc "($d - $d1) / ($n - $n1)" 6)" "$r"
				raws="$raws${raws:+; }$d1 in $n1 requests, $d in $n"
			fi
		done
	done
	meta "$key" "$raws"
	[ "$(lockcount "$file")" -gt 0 ] || meta "${key}_zero" "the counter never moved, not even for the handshakes"
}
# The loads of the locks rows: both ends under LOCKL (a counting launcher), counting into
# LOCKF; each prints how many requests it made.
redis_load() { # N LOG: redis-benchmark -c 50 -t set,get, N/2 each
	timeout 90 env MTLSSHIM_LOCKSTAT="$LOCKF" "$LOCKL" -c "$NEWCONF" \
		redis-benchmark -h 127.0.0.1 -p "$P_REDIS_LOCK" -c 50 -t set,get -n $(($1 / 2)) --csv > "$2.out" 2> "$2.err" &&
		echo $(($1 / 2 * 2))
}
mc_load() { # N LOG
	local out
	out=$(memaslap_run "$2" "$1" "$P_MC_LOCK" env MTLSSHIM_LOCKSTAT="$LOCKF" "$LOCKL" -c "$NEWCONF") &&
		echo "${out% *}"
}
# locks_run SUFFIX LAUNCHER: the two locks rows for one counting build (keys locks.redis
# and locks.mc, then SUFFIX), each against a server of its own, started once.
locks_run() {
	local sfx=$1 lpid
	LOCKL=$2
	say "   redis-server, redis-benchmark -c 50 -t set,get (both under the shim)"
	LOCKF=$W/locks-redis$sfx
	: > "$LOCKF"
	truncate -s 4096 "$LOCKF"
	start "redis-lock$sfx" "$P_REDIS_LOCK" env MTLSSHIM_LOCKSTAT="$LOCKF" "$LOCKL" -c "$NEWCONF" \
		redis-server --port "$P_REDIS_LOCK" "${REDIS_ARGS[@]}" --logfile "$W/logs/redis-lock$sfx.log"
	lpid=$SPAWNED
	lock_pairs "locks.redis$sfx" "$LOCKF" redis_load
	stop "$lpid"
	say "   memcached -t 2, memaslap -T $MC_T -c $MC_C (both under the shim)"
	LOCKF=$W/locks-mc$sfx
	: > "$LOCKF"
	truncate -s 4096 "$LOCKF"
	start_mc "mc-lock$sfx" "$P_MC_LOCK" 2 env MTLSSHIM_LOCKSTAT="$LOCKF" "$LOCKL" -c "$NEWCONF"
	lpid=$SPAWNED
	lock_pairs "locks.mc$sfx" "$LOCKF" mc_load
	stop "$lpid"
}

if want locks; then
	say "7. process-wide lock acquisitions per request (counting build): $LOCK_REPS pairs of $LOCK_N1 and $LOCK_N2 requests, 50 connections"
	meta lock_n "$LOCK_N1 $LOCK_N2"
	if [ -n "$LOCK_ERR" ]; then
		for k in locks.redis locks.mc; do
			fail "$k" "$LOCK_ERR" "$W/logs/make-lockstat.log"
		done
	else
		locks_run "" "$LOCK_LAUNCHER"
	fi
	# With BENCH_BASE, the old library too, where it has the counter.
	if want base && [ -n "$BASE_LOCK_LAUNCHER" ]; then
		say "   the same with the old library ($BASE_SHORT, counting build)"
		locks_run .old "$BASE_LOCK_LAUNCHER"
	elif want base; then
		say "   the old library ($BASE_SHORT) has no counter (MTLSSHIM_LOCKSTAT): its figures are left out"
		meta locks_old "the old library $BASE_SHORT has no lock counter (no MTLSSHIM_LOCKSTAT in its src/)"
	fi
fi

if want scaling; then
	say "8. threads: memcached -t 1 and -t 2, plain and shim, memaslap -T $MC_T -c $MC_C -x $MC_N, $MC_REPS reps"
	start_mc mc-plain1 "$P_MC_PLAIN1" 1
	start_mc mc-plain2 "$P_MC_PLAIN2" 2
	start_mc mc-shim1 "$P_MC_SHIM1" 1 "$LAUNCHER" -c "$NEWCONF"
	start_mc mc-shim2 "$P_MC_SHIM2" 2 "$LAUNCHER" -c "$NEWCONF"
	mcpids=("${PIDS[@]: -4}")
	for r in $(seq 1 "$MC_REPS"); do
		for t in $(order "$r" 1 2); do
			pp=P_MC_PLAIN$t ps=P_MC_SHIM$t
			for m in $(order "$r" plain shim); do
				if [ "$m" = plain ]; then
					mc "mc.t$t.plain" "$r" "${!pp}"
				else
					mc "mc.t$t.shim" "$r" "${!ps}" "$LAUNCHER" -c "$NEWCONF"
				fi
			done
		done
	done
	for p in "${mcpids[@]}"; do stop "$p"; done
fi

if want base; then
	say "9. new vs old library ($BASE_REF, $BASE_SHORT): redis -c 50 GET/SET, memcached -t 1 and -t 2, $MC_REPS reps"
	start redis-new "$P_REDIS_NEW" "$LAUNCHER" -c "$NEWCONF" redis-server --port "$P_REDIS_NEW" "${REDIS_ARGS[@]}" --logfile "$W/logs/redis-new.log"
	REDIS_PID_NEW=$SPAWNED
	start redis-old "$P_REDIS_OLD" "$BASE_LAUNCHER" -c "$NEWCONF" redis-server --port "$P_REDIS_OLD" "${REDIS_ARGS[@]}" --logfile "$W/logs/redis-old.log"
	REDIS_PID_OLD=$SPAWNED
	start_mc mc-new1 "$P_MC_NEW1" 1 "$LAUNCHER" -c "$NEWCONF"
	start_mc mc-new2 "$P_MC_NEW2" 2 "$LAUNCHER" -c "$NEWCONF"
	start_mc mc-old1 "$P_MC_OLD1" 1 "$BASE_LAUNCHER" -c "$NEWCONF"
	start_mc mc-old2 "$P_MC_OLD2" 2 "$BASE_LAUNCHER" -c "$NEWCONF"
	bpids=("${PIDS[@]: -6}")
	for r in $(seq 1 "$MC_REPS"); do
		for m in $(order "$r" new old); do
			rb bc50 "$m" "$r" -t set,get -c 50 -n "$RB_N50"
		done
		for t in $(order "$r" 1 2); do
			pn=P_MC_NEW$t po=P_MC_OLD$t
			for m in $(order "$r" new old); do
				if [ "$m" = new ]; then
					mc "bmc.t$t.new" "$r" "${!pn}" "$LAUNCHER" -c "$NEWCONF"
				else
					mc "bmc.t$t.old" "$r" "${!po}" "$BASE_LAUNCHER" -c "$NEWCONF"
				fi
			done
		done
	done
	for p in "${bpids[@]}"; do stop "$p"; done
fi

# ---------------------------------------------------------------- report

meta elapsed "$(calc "$EPOCHREALTIME - $T0" 0) s"
if [ -s "$W/logs/shim.log" ]; then
	meta shim_log "$(wc -l < "$W/logs/shim.log") lines in ${W#"$ROOT"/}/logs/shim.log"
fi
cleanup
say "report"
"$PY" "$BENCH/report.py" "$W" "$OUT"
if command -v gnuplot > /dev/null 2>&1; then
	gnuplot -e "datafile='$W/chart.dat'; outfile='$OUT/bench.png'; subtitle='$(sed -n 's/^date\t//p' "$W/meta.txt")'" \
		"$BENCH/chart.gp" 2> "$W/logs/gnuplot.err" || { cat "$W/logs/gnuplot.err" >&2; echo "bench: chart failed" >&2; }
fi
echo "wrote ${OUT#"$ROOT"/}/bench.csv, bench.png, README-table.md (logs in ${W#"$ROOT"/}/logs)"
if [ -s "$W/failed.txt" ]; then
	echo "bench: $(sort -u "$W/failed.txt" | wc -l) measurement(s) failed; evidence in ${W#"$ROOT"/}/errors.txt" >&2
	exit 1
fi
