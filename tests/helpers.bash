# helpers.bash: what the mtlsshim end-to-end suites share beyond bats-mtlsshim: the build under test, sanitizers, the openssl PKI, configs, peers, the wire check.

bats_require_minimum_version 1.5.0

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MTLSSHIM_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
SHIMLIB=$BUILD/libmtlsshim.so
LAUNCHER=$BUILD/mtlsshim
PROGS=$BUILD/progs
[ -d "$PROGS" ] || PROGS=$REPO/build/progs

# Under a sanitizer build (build-asan, build-tsan) its runtime, SANRT, must be preloaded too:
# the programs we run are not instrumented.
SANRT=
PRELOAD=$SHIMLIB
if [ "$(basename "$BUILD")" = build-asan ]; then
	SANRT=$(gcc -print-file-name=libasan.so)
	PRELOAD="$SANRT:$SHIMLIB"
	export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
elif [ "$(basename "$BUILD")" = build-tsan ]; then
	# The shim first, the runtime right after it (ld.so alone would load it, the shim's
	# dependency, after libc: too late for the program's calls). Not the runtime first: the
	# program's epoll_wait would then reach our hook inside the runtime's blocking-call
	# interceptor, which ignores every lock and atomic taken within, so our own locking went
	# unseen there (dozens of false races in epollset, sweep and tlsctx).
	# Each process writes its reports to $TSAN_LOGDIR/tsan.PID, one directory per test, and
	# tsan_check (common_teardown) fails the test on any, whatever the program's exit status;
	# no halt_on_error, so one run shows them all. die_after_fork=0: fork servers and relays
	# start threads in the child of a threaded parent. history_size=7: the second stack.
	# disable_coredump=0: the runtime's start-up setrlimit(RLIMIT_CORE) would reach our
	# (instrumented) setrlimit hook before the runtime is ready, a crash; ulimit -c 0 instead
	# (nor may the stack be unlimited: TSan would setrlimit and re-exec).
	# No suppressions: these suites need none. The caller's own TSAN_OPTIONS come last and
	# win (e.g. detect_deadlocks=0, suppressions=FILE); MTLSSHIM_TSAN_OPTIONS keeps them, as
	# the tests inherit the file's TSAN_OPTIONS.
	SANRT=$(gcc -print-file-name=libtsan.so)
	PRELOAD="$SHIMLIB:$SANRT"
	TSAN_LOGDIR=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}}/tsan
	mkdir -p "$TSAN_LOGDIR"
	ulimit -c 0
	: "${MTLSSHIM_TSAN_OPTIONS=${TSAN_OPTIONS:-}}"
	export MTLSSHIM_TSAN_OPTIONS
	export TSAN_OPTIONS="log_path=$TSAN_LOGDIR/tsan:die_after_fork=0:history_size=7:second_deadlock_stack=1:disable_coredump=0${MTLSSHIM_TSAN_OPTIONS:+:$MTLSSHIM_TSAN_OPTIONS}"
fi
export PRELOAD SHIMLIB LAUNCHER PROGS

# bats-mtlsshim (tests/bats-mtlsshim/load.bash), the library users test their services with,
# serves these suites too: ports, background processes, configs, the launcher. It drives this
# build's launcher, with the sanitizer runtime preloaded under a sanitizer build: the launcher
# only prepends the shim (ASan's runtime then follows the shim, as verify_asan_link_order=0
# allows; TSan's must follow it). Exported, so that a suite a test runs (library.bats) has it.
source "$REPO/tests/bats-mtlsshim/load.bash"
MTLSSHIM=$LAUNCHER
if [ -n "$SANRT" ]; then
	export MTLS_LAUNCH_PREFIX="env LD_PRELOAD=$SANRT"
else
	unset MTLS_LAUNCH_PREFIX
fi

# The older names of the library's functions, which the suites use.
# A sanitizer runtime goes before an LD_PRELOAD the caller set, which the launcher must keep.
launcher() {
	if [ -n "$SANRT" ] && [ -n "${LD_PRELOAD:-}" ]; then
		local MTLS_LAUNCH_PREFIX="env LD_PRELOAD=$SANRT:$LD_PRELOAD"
	fi
	mtls_launcher "$@"
}
free_port() { mtls_free_port; }
wait_port() { mtls_wait_port "$1"; }
# bg OUTFILE CMD...: mtls_bg, PID in BGPID; kill_bg: mtls_teardown (stops every bg and mtls_start).
bg() {
	local out=$1; shift
	mtls_bg "$out" "$@"
	BGPID=$MTLS_PID
}
kill_bg() { mtls_teardown; }

# shim CONF PROG ARGS...: run PROG with the shim preloaded and CONF as its config.
shim() {
	local conf=$1; shift
	LD_PRELOAD="$PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" MTLSSHIM_CONFIG=$conf "$@"
}

asan_build() { [ "$(basename "$BUILD")" = build-asan ]; }
tsan_build() { [ "$(basename "$BUILD")" = build-tsan ]; }

# curl cannot run with the ASan or TSan runtime preloaded (it hangs in setlocale even without
# the shim), so tests that put curl itself under the shim skip under the sanitizer builds.
require_shimmable_curl() {
	if asan_build; then skip "curl hangs under a preloaded ASan runtime"; fi
	if tsan_build; then skip "curl hangs under a preloaded TSan runtime"; fi
}

# tsan_check: under the TSan build, fails when a process of this test left a ThreadSanitizer
# report (any non-empty $TSAN_LOGDIR/tsan.PID: races, lock-order inversions, TSan's own fatal
# errors), and prints them. Elsewhere it does nothing. common_teardown calls it last.
tsan_check() {
	tsan_build || return 0
	local f n=0
	for f in "$TSAN_LOGDIR"/tsan.*; do
		[ -s "$f" ] || continue
		n=$((n + 1))
		echo "ThreadSanitizer report in $f:" >&2
		cat "$f" >&2
	done
	[ $n = 0 ] || { echo "tsan_check: $n process(es) reported (TSan build)" >&2; return 1; }
}

require_build() {
	[ -x "$LAUNCHER" ] && [ -f "$SHIMLIB" ] || skip "shim not built ($BUILD)"
}

# mkpki DIR: throwaway EC P-256 PKI.
#   ca.{crt,key}            the trusted CA
#   server.{crt,key}        CN=localhost, SAN DNS:localhost,IP:127.0.0.1,IP:::1
#   client.{crt,key}        CN=client, SAN DNS:client.test
#   client2.{crt,key}       CN=client2 (a second trusted client)
#   foreign-ca.{crt,key}    an unrelated CA
#   foreign.{crt,key}       CN=intruder, signed by foreign-ca (usable as client or server)
#   expired.{crt,key}       CN=expired, signed by ca, valid 2020-01-01..2020-01-02
#   ca-bundle.crt           ca + foreign-ca (for tools that must accept both)
mkpki() {
	local d=$1 ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	mkdir -p "$d" && (
	set -e
	cd "$d"
	cat > ext.cnf <<-'CNF'
	[srv]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = serverAuth, clientAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
	[cli]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = clientAuth, serverAuth
	subjectAltName = DNS:client.test
	[foreign]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = clientAuth, serverAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
	CNF
	openssl req -x509 $ec -keyout ca.key -out ca.crt -subj "/CN=mtlsshim test CA" -days 30
	openssl req -x509 $ec -keyout foreign-ca.key -out foreign-ca.crt -subj "/CN=foreign CA" -days 30
	issue() { # name subject section ca
		openssl req -new $ec -keyout "$1.key" -out "$1.csr" -subj "$2"
		openssl x509 -req -in "$1.csr" -CA "$4.crt" -CAkey "$4.key" -CAcreateserial \
			-days 30 -extfile ext.cnf -extensions "$3" -out "$1.crt"
	}
	issue server /CN=localhost srv ca
	issue client /CN=client cli ca
	issue client2 /CN=client2 cli ca
	issue foreign /CN=intruder foreign foreign-ca
	# An expired client cert needs explicit dates: openssl ca can set them.
	mkdir -p cadb && : > cadb/index.txt && echo 1000 > cadb/serial
	cat > cadb/ca.cnf <<-CNF
	[ca]
	default_ca = test
	[test]
	database = $d/cadb/index.txt
	serial = $d/cadb/serial
	new_certs_dir = $d/cadb
	default_md = sha256
	policy = any
	unique_subject = no
	[any]
	commonName = supplied
	[cli]
	basicConstraints = CA:FALSE
	keyUsage = digitalSignature
	extendedKeyUsage = clientAuth
	CNF
	openssl req -new $ec -keyout expired.key -out expired.csr -subj /CN=expired
	openssl ca -batch -config cadb/ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
		-startdate 20200101000000Z -enddate 20200102000000Z -extensions cli -out expired.crt -notext
	cat ca.crt foreign-ca.crt > ca-bundle.crt
	chmod 644 ./*.key
	) >"$d/mkpki.log" 2>&1 || { cat "$d/mkpki.log" >&2; return 1; }
}

# wait_for FILE PATTERN [SECONDS]: bounded wait for an ERE to appear in FILE.
wait_for() {
	local i n=$(( ${3:-10} * 10 ))
	for i in $(seq 1 "$n"); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for /$2/ in $1:" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}

# A config in the test's temp dir. Usage: conf NAME <<EOF ...body... EOF
# The body follows a header pointing at the file's PKI and a per-test log file.
# Prints the config's path.
conf() {
	local f=$BATS_TEST_TMPDIR/$1.conf
	{
		echo "log_level = \"info\""
		echo "log_file = \"$BATS_TEST_TMPDIR/$1.log\""
		echo "ca_file = \"$PKI/ca.crt\""
		echo "handshake_timeout = 10"
		cat
	} > "$f"
	echo "$f"
}

# server_conf NAME PORT [CERT-BASE], client_conf NAME PORT [CERT-BASE]: a config with one rule
# NAME on PORT presenting $PKI/CERT-BASE (default server / client), logging to NAME.log in the
# test's directory (mtls_server_conf / mtls_client_conf). Prints its path.
server_conf() { rule_conf server "$1" "$2" "${3:-server}"; }
client_conf() { rule_conf client "$1" "$2" "${3:-client}"; }

# rule_conf server|client NAME PORT CERT-BASE [LINE...]: the same with LINEs inside the rule.
rule_conf() {
	MTLS_PKI=$PKI MTLS_RULE=$2 MTLS_CERT=$4 MTLS_LOG=$BATS_TEST_TMPDIR/$2.log \
		"mtls_$1_conf" "$3" "${@:5}"
}

# Standard setup_file / teardown for suites.
common_setup_file() {
	export PKI=$BATS_FILE_TMPDIR/pki
	mkpki "$PKI"
}
common_teardown() {
	wire_stop
	kill_bg
	tsan_check
}

# assert_start_refused CONF WORD...: through the launcher and through LD_PRELOAD the program
# never runs, exit 78, exactly one stderr line, starting "mtlsshim: " and containing each WORD
# (a literal string; ~ERE: matching the ERE instead). Leaves the last run's stderr in $stderr.
assert_start_refused() {
	local c=$1 how w; shift
	for how in launcher preload; do
		if [ $how = launcher ]; then
			run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
		else
			run --separate-stderr shim "$c" sh -c 'echo RAN'
		fi
		echo "[$how] status=$status stdout=$output"
		echo "[$how] stderr=$stderr"
		[ "$status" -eq 78 ]
		refute_contains "$output" RAN
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "mtlsshim: "* ]]
		for w in "$@"; do
			if [[ $w == "~"* ]]; then
				[[ "$stderr" =~ ${w#"~"} ]] || { echo "[$how] stderr does not match /${w#"~"}/" >&2; return 1; }
			else
				assert_contains "$stderr" "$w"
			fi
		done
	done
}

# conn_a_script: python3, plain ssl (no shim): a long-lived client connection.
#   conn_a.py PORT DIR: connect, print the server's CN, echo "before" through it, wait for DIR/go
#   (<= 60 s), echo "after" through the same connection, exit.
conn_a_script() {
	local f=$BATS_TEST_TMPDIR/conn_a.py
	cat > "$f" <<-'PY'
	import os, socket, ssl, sys, time
	port, d, pki = int(sys.argv[1]), sys.argv[2], sys.argv[3]
	ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
	ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
	s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
	cn = [v for rdn in s.getpeercert()["subject"] for k, v in rdn if k == "commonName"]
	print("server CN=" + cn[0], flush=True)
	def echo(line):
	    s.sendall(line.encode() + b"\n")
	    buf = b""
	    while not buf.endswith(b"\n"):
	        b = s.recv(100)
	        if not b:
	            return "EOF"
	        buf += b
	    return buf.decode().strip()
	print("echo " + echo("before"), flush=True)
	deadline = time.time() + 60
	while not os.path.exists(os.path.join(d, "go")) and time.time() < deadline:
	    time.sleep(0.05)
	print("echo " + echo("after"), flush=True)
	PY
	echo "$f"
}

# curl presenting the trusted client cert.
mcurl() {
	curl -sS --max-time 15 --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" "$@"
}

# s_client presenting the trusted client cert; stdin is sent.
sclient() {
	timeout 15 openssl s_client -quiet -verify_return_error -CAfile "$PKI/ca.crt" \
		-cert "$PKI/client.crt" -key "$PKI/client.key" "$@"
}

# tls_say PORT TEXT [SECONDS]: an unshimmed openssl s_client presenting the trusted client cert
# sends TEXT (a printf format) to 127.0.0.1:PORT, stays SECONDS (default 1) for the answer, and
# prints what came back. For `run`.
tls_say() {
	{ printf "$2"; sleep "${3:-1}"; } | timeout 15 openssl s_client -quiet -verify_return_error \
		-CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" \
		-connect "127.0.0.1:$1" 2>/dev/null
}

# put SRC DEST: replaces DEST atomically (a temp file beside it, renamed over it), as the
# tools that rotate certificates and CRLs do.
put() {
	cp "$1" "$(dirname "$2")/.put.tmp"
	mv -f "$(dirname "$2")/.put.tmp" "$2"
}

# Counts lines matching an ERE in a file (0 when absent).
count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# shim_bg OUTFILE CONF CMD...: start CMD in the background under the shim (LD_PRELOAD form).
shim_bg() {
	local out=$1 c=$2; shift 2
	bg "$out" env LD_PRELOAD="$PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" MTLSSHIM_CONFIG="$c" "$@"
}

# A plaintext echo_server under a server rule; sets PORT, SRVLOG (shim log), SRVOUT (program output).
# Usage: start_echo_server NAME [echo_server options...]
start_echo_server() {
	local name=$1; shift
	PORT=$(free_port)
	local c; c=$(server_conf "$name" "$PORT")
	SRVLOG=$BATS_TEST_TMPDIR/$name.log
	SRVOUT=$BATS_TEST_TMPDIR/$name.out
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" "$@" "$PORT"
	SRVPID=$BGPID
	wait_port "$PORT"
}

# An independent TLS echo peer (socat + OpenSSL, no shim) requiring a client cert from ca.
# Usage: start_tls_echo [cert-base]; sets EPORT.
start_tls_echo() {
	EPORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/tls-echo.out" socat -t 15 \
		"OPENSSL-LISTEN:$EPORT,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/${1:-server}.crt,key=$PKI/${1:-server}.key,cafile=$PKI/ca.crt,verify=1" \
		EXEC:cat
	wait_port "$EPORT"
}

# s_server_rev [CERT-BASE]: an openssl s_server -rev requiring our CA's client cert; sets SPORT.
s_server_rev() {
	SPORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$SPORT" -Verify 1 -verify_return_error \
		-cert "$PKI/${1:-server}.crt" -key "$PKI/${1:-server}.key" -CAfile "$PKI/ca.crt" -rev
	wait_port "$SPORT"
}

# stall_script: a python3 program holding N idle TCP connections to a port.
#   stall.py PORT N hold DIR   connect N, print "connected N", wait for DIR/go (<= 60 s), print
#                              "open=X eof=Y" (X still open and silent), wait for DIR/done (<= 60 s)
#   stall.py PORT N eof SECS   connect N, print "connected N", wait up to SECS for the peer to close
#                              each, print "eof=Y of N"
stall_script() {
	local f=$BATS_TEST_TMPDIR/stall.py
	cat > "$f" <<-'PY'
	import os, select, socket, sys, time
	port, n, mode, arg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
	socks = []
	for i in range(n):
	    s = socket.create_connection(("127.0.0.1", port), timeout=10)
	    s.setblocking(False)
	    socks.append(s)
	print("connected", len(socks), flush=True)
	def closed(s):
	    try:
	        d = s.recv(4096)
	        return d == b""  # TLS alerts or other bytes do not count as closed
	    except BlockingIOError:
	        return False
	    except OSError:
	        return True
	if mode == "hold":
	    deadline = time.time() + 60
	    while not os.path.exists(os.path.join(arg, "go")) and time.time() < deadline:
	        time.sleep(0.05)
	    eof = sum(1 for s in socks if closed(s))
	    print("open=%d eof=%d" % (n - eof, eof), flush=True)
	    deadline = time.time() + 60
	    while not os.path.exists(os.path.join(arg, "done")) and time.time() < deadline:
	        time.sleep(0.05)
	else:
	    deadline = time.time() + float(arg)
	    pending = set(socks)
	    eof = 0
	    while pending and time.time() < deadline:
	        r, _, _ = select.select(list(pending), [], [], 0.5)
	        for s in r:
	            if closed(s):
	                eof += 1
	                pending.discard(s)
	    print("eof=%d of %d" % (eof, n), flush=True)
	PY
	echo "$f"
}

# assert_has FILE-OR-STRING...: small assertion helpers that print what they saw.
assert_contains() { # HAYSTACK NEEDLE
	if [[ "$1" != *"$2"* ]]; then
		echo "expected to find: $2" >&2
		echo "in: $1" >&2
		return 1
	fi
}
refute_contains() {
	if [[ "$1" == *"$2"* ]]; then
		echo "did not expect: $2" >&2
		echo "in: $1" >&2
		return 1
	fi
}
assert_file_has() { # FILE ERE
	if ! grep -Eq -- "$2" "$1" 2>/dev/null; then
		echo "expected /$2/ in $1:" >&2
		cat "$1" >&2 2>/dev/null
		return 1
	fi
}
refute_file_has() {
	if grep -Eq -- "$2" "$1" 2>/dev/null; then
		echo "did not expect /$2/ in $1:" >&2
		cat "$1" >&2
		return 1
	fi
}

# show: prints the last `run`'s result (bats shows it only when the test fails).
show() {
	echo "status=$status"
	echo "output: ${output:0:3000}"
	[ -z "${stderr:-}" ] || echo "stderr: ${stderr:0:3000}"
}

# ---------------------------------------------------------------------------------------------
# Wire check: every byte on a matched connection is a TLS record (tcpdump + tests/wirecheck.py).
#   wire_start PORT...; <traffic>; wire_check [OPTS]     (one capture at a time, any number per test)
# ---------------------------------------------------------------------------------------------

# wire_start PORT...: starts tcpdump on lo in the background (WIRE_PID) for TCP traffic with either
# end on one of the PORTs, into $BATS_TEST_TMPDIR/wire.N.pcap (WIRE_PCAP), and returns once it
# listens (bounded, 10 s); fails the test when it cannot start. WIRE_BUFFER: the kernel capture
# buffer in KiB (default 16384; up to 2000000, tcpdump's limit, for transfers of GBs), which
# must hold what tcpdump, real-time (or at nice -10) ahead of the traffic it watches, has not written yet.
# The filter also takes UDP to a fence port (WIRE_FENCE) for wire_fence; wirecheck.py looks at
# TCP only.
wire_start() {
	[ $# -gt 0 ] || { echo "wire_start: no port given" >&2; return 1; }
	# (A WIRE_PID left set by a wire_check under `run`, in a subshell, is no longer running.)
	if [ -n "${WIRE_PID:-}" ] && kill -0 "$WIRE_PID" 2>/dev/null; then
		echo "wire_start: capture $WIRE_PID still running: wire_check it first" >&2
		return 1
	fi
	command -v tcpdump >/dev/null || { echo "wire_start: tcpdump is not installed (make deps)" >&2; return 1; }
	WIRE_N=$(( ${WIRE_N:-0} + 1 ))
	WIRE_PCAP=$BATS_TEST_TMPDIR/wire.$WIRE_N.pcap
	WIRE_ERR=$BATS_TEST_TMPDIR/wire.$WIRE_N.err
	WIRE_PORTS=$*
	WIRE_FENCE=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
	local p filter=
	for p in "$@"; do filter="${filter:+$filter or }port $p"; done
	# Ahead of the traffic it watches: real-time where allowed (bulk rows fill 2 cores, and a
	# niced tcpdump still loses packets at 10 Gbit/s), else nice -10.
	local prio="nice -n -10"
	chrt -f 1 true 2>/dev/null && prio="chrt -f 1"
	setsid $prio tcpdump -i lo -U -s 0 -B "${WIRE_BUFFER:-16384}" -Z "$(id -un)" -w "$WIRE_PCAP" \
		"(tcp and ($filter)) or (udp and dst host 127.0.0.1 and dst port $WIRE_FENCE)" \
		</dev/null >"$WIRE_ERR" 2>&1 3>&- &
	WIRE_PID=$!
	local i
	for i in $(seq 1 100); do
		grep -q 'listening on' "$WIRE_ERR" 2>/dev/null && return 0
		kill -0 "$WIRE_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "wire_start: tcpdump did not start listening:" >&2
	cat "$WIRE_ERR" >&2
	wire_stop
	return 1
}

# wire_stop: stops the running capture, if any, by its PID: SIGINT, so that tcpdump finishes
# its file and prints its statistics; SIGKILL after 10 s. common_teardown calls it.
wire_stop() {
	[ -n "${WIRE_PID:-}" ] || return 0
	local pid=$WIRE_PID i
	WIRE_PID=
	kill -INT "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "wire_stop: tcpdump $pid still running 10 s after SIGINT: killed" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# wire_fence: makes sure everything captured so far is in the file: the kernel hands tcpdump
# its packets a block at a time (a block is written when full or after up to a second), so this
# sends UDP datagrams carrying a fresh marker to the fence port until the marker shows up in the
# file (bounded, 10 s); what came before it on lo is then there too.
wire_fence() {
	python3 - "$WIRE_PCAP" "$WIRE_FENCE" <<-'PY'
	import os, socket, sys, time
	path, port = sys.argv[1], int(sys.argv[2])
	marker = b"mtlsshim-wire-fence-%d-%d." % (os.getpid(), time.time_ns())
	payload = marker * (60000 // len(marker))
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	pos, tail = os.path.getsize(path), b""
	deadline = time.time() + 10
	with open(path, "rb") as f:
	    while time.time() < deadline:
	        for _ in range(16):
	            s.sendto(payload, ("127.0.0.1", port))
	        time.sleep(0.02)
	        f.seek(pos)
	        new = f.read()
	        pos += len(new)
	        if marker in tail + new:
	            sys.exit(0)
	        tail = new[-len(marker):]
	sys.exit("wire_fence: the fence marker did not reach %s in 10 s" % path)
	PY
}

# wire_check [OPTS]: ends the capture of wire_start and asserts the wire: once wire_fence has
# seen everything written, tcpdump is stopped, must report 0 packets dropped by kernel,
# and tests/wirecheck.py OPTS PCAP PORTS must pass (every matched connection TLS records only,
# both ways, and at least one with data both ways). OPTS: --allow-empty (ignore connections
# without data, e.g. port probes), --min-conns N, --allow-reset-partial, -v. Prints the report;
# on failure prints it to stderr with tcpdump's output and fails (the pcap is kept, else removed).
wire_check() {
	[ -n "${WIRE_PCAP:-}" ] || { echo "wire_check: no capture (wire_start first)" >&2; return 1; }
	local fenced=0
	wire_fence || fenced=$?
	wire_stop
	if [ $fenced -ne 0 ]; then
		cat "$WIRE_ERR" >&2
		WIRE_PCAP=
		return 1
	fi
	local pcap=$WIRE_PCAP drops
	WIRE_PCAP=
	drops=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$WIRE_ERR")
	if [ "$drops" != 0 ]; then
		echo "wire_check: tcpdump dropped packets (${drops:-no statistics}); its output:" >&2
		cat "$WIRE_ERR" >&2
		return 1
	fi
	local out rc=0
	out=$(python3 "$REPO/tests/wirecheck.py" "$@" "$pcap" $WIRE_PORTS 2>&1) || rc=$?
	if [ $rc -ne 0 ]; then
		echo "wire_check: port(s) $WIRE_PORTS: not TLS only (wirecheck.py exit $rc, $pcap):" >&2
		echo "$out" >&2
		sed 's/^/  tcpdump: /' "$WIRE_ERR" >&2
		return 1
	fi
	echo "$out"
	rm -f "$pcap"
}

# ---------------------------------------------------------------------------------------------
# Identity, rotation and check suites (authz.bats, rotate.bats, check.bats): extra certificates.
# ---------------------------------------------------------------------------------------------

# issue_cert DIR NAME SUBJECT EXT [DAYS] [CA] [KEY]: DIR/NAME.{crt,key} signed by DIR/CA.{crt,key}.
#   EXT   extension lines, e.g. $'extendedKeyUsage = clientAuth\nsubjectAltName = URI:spiffe://t/x';
#         basicConstraints = CA:FALSE is always added. "" for no further extensions.
#   DAYS  validity (default 30); CA default "ca"; KEY "ec" (P-256, default), "ec:CURVE" or "rsa:BITS".
# The key is left mode 600.
issue_cert() {
	local d=$1 name=$2 subj=$3 ext=$4 days=${5:-30} ca=${6:-ca} key=${7:-ec} kopt
	case $key in
	ec) kopt="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
	ec:*) kopt="-newkey ec -pkeyopt ec_paramgen_curve:${key#ec:}" ;;
	rsa:*) kopt="-newkey $key" ;;
	*) echo "issue_cert: bad key type $key" >&2; return 1 ;;
	esac
	(
	set -e
	cd "$d"
	printf '[x]\nbasicConstraints = CA:FALSE\n%s\n' "$ext" > "$name.ext"
	openssl req -new $kopt -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj"
	openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
		-days "$days" -extfile "$name.ext" -extensions x -out "$name.crt"
	chmod 600 "$name.key"
	) >"$d/$name.log" 2>&1 || { cat "$d/$name.log" >&2; return 1; }
}

# mkcrl DIR OUT [CERT...]: writes OUT, a PEM CRL signed by DIR/ca revoking each CERT (none: an
# empty CRL), using its own `openssl ca` database in a fresh directory beside OUT.
# MKCRL_CA: sign with DIR/$MKCRL_CA.{crt,key} instead (an intermediate); MKCRL_OPTS: more
# `openssl ca -gencrl` options, e.g. "-crlhours 48" or "-crl_nextupdate 20200102000000Z".
mkcrl() {
	local d=$1 out=$2 ca=${MKCRL_CA:-ca}; shift 2
	local db; db=$(mktemp -d "$(dirname "$out")/cadb.XXXXXX")
	(
	set -e
	: > "$db/index.txt"
	echo 1000 > "$db/crlnumber"
	echo 2000 > "$db/serial"
	cat > "$db/openssl.cnf" <<-CNF
	[ca]
	default_ca = crl
	[crl]
	database = $db/index.txt
	serial = $db/serial
	crlnumber = $db/crlnumber
	new_certs_dir = $db
	certificate = $d/$ca.crt
	private_key = $d/$ca.key
	default_md = sha256
	default_crl_days = 30
	policy = any
	[any]
	commonName = supplied
	CNF
	local c
	for c in "$@"; do
		openssl ca -batch -config "$db/openssl.cnf" -revoke "$c"
	done
	openssl ca -batch -config "$db/openssl.cnf" -gencrl ${MKCRL_OPTS:-} -out "$out.tmp"
	mv "$out.tmp" "$out"
	) >"$db/log" 2>&1 || { cat "$db/log" >&2; return 1; }
}
