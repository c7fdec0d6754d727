#!/usr/bin/env bats
# hostile.bats: hostile peers, faults and resource limits: keep working, lose nothing, let no one in.
# (refuse.bats covers single refusals against python; stall.bats 200 silent peers; interop.bats
# key material in one log; check.bats the world-readable key warning of `mtlsshim check`.)

load helpers

HOSTILE=$REPO/tests/hostile

setup_file() {
	common_setup_file
	sh "$HOSTILE/mkbad.sh" "$PKI" >"$PKI/mkbad.log" 2>&1 || { cat "$PKI/mkbad.log" >&2; return 1; }
}
setup() { require_build; }
teardown() { common_teardown; }

# note TEXT...: a line in the test output (bats shows fd 3), for figures and tables.
note() { printf '# %s\n' "$*" >&3; }

# A shimmed echo_server with its own handshake_timeout; sets PORT, SRVLOG, SRVOUT, SRVPID.
# Usage: start_server NAME TIMEOUT [echo_server options...]
start_server() {
	local name=$1 to=$2; shift 2
	PORT=$(free_port)
	SRVLOG=$BATS_TEST_TMPDIR/$name.log
	SRVOUT=$BATS_TEST_TMPDIR/$name.out
	local c; c=$(conf "$name" <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "$name" {
	    port = $PORT
	    handshake_timeout = $to
	}
	EOF
	)
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" "$@" "$PORT"
	SRVPID=$BGPID
	wait_port "$PORT"
}

# wait_count FILE ERE N [SECS]: bounded wait until FILE has at least N lines matching ERE.
wait_count() {
	local i
	for i in $(seq 1 $(( ${4:-10} * 10 ))); do
		[ "$(count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "expected $3 lines /$2/ in $1, found $(count "$1" "$2"):" >&2
	tail -n 20 "$1" >&2
	return 1
}

# good_echo TAG: a shimmed client sends "good-TAG" to $PORT (echo server) and gets it back.
good_echo() {
	local c; c=$(client_conf "goodcli" "$PORT")
	[ -z "${GOOD_LEVEL:-}" ] || sed -i "s/^log_level = .*/log_level = \"$GOOD_LEVEL\"/" "$c"
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -s 127.0.0.1 "$PORT" "good-$1"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "good-$1" ]
}

# ---------------------------------------------------------------------------------------------
# 1. Stalled and slow handshakes

@test "1,000 stalled handshakes (20 dripping a ClientHello byte by byte) do not keep a good client out; all are cut at handshake_timeout" {
	[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096
	start_server stall 3 -p http
	run timeout 60 python3 "$HOSTILE/stall.py" "$PORT" 1000 20 "$PKI" 3
	show
	[ "$status" -eq 0 ]
	# The good client (5 handshakes + requests, median) was served while all 1,000 were held open.
	[[ "$output" =~ baseline_ms=([0-9.]+)\ stalled_ms=([0-9.]+)\ open_after_good=1000\ of\ 1000 ]]
	note "good client (median of 5): baseline ${BASH_REMATCH[1]} ms, under 1000 stalled handshakes ${BASH_REMATCH[2]} ms"
	[[ "$output" =~ cut=1000\ of\ 1000\ first_cut_s=([0-9.]+)\ last_cut_s=([0-9.]+) ]]
	note "stalled peers cut between ${BASH_REMATCH[1]} s and ${BASH_REMATCH[2]} s (handshake_timeout = 3)"
	wait_count "$SRVLOG" 'refused rule=stall peer=127\.0\.0\.1:[0-9]+ reason="handshake timed out' 1000 10
	[ "$(count "$SRVLOG" 'refused rule=stall ')" -eq 1000 ]
	# The program saw the 10 good requests and nothing else.
	[ "$(count "$SRVOUT" '^accept ')" -eq 10 ]
	[ "$(count "$SRVLOG" 'accepted rule=stall ')" -eq 10 ]
}

# ---------------------------------------------------------------------------------------------
# 2. Malformed and downgraded traffic

# hostile_send KIND: one hostile peer against $PORT.
hostile_send() {
	case $1 in
	garbage)
		timeout 10 python3 -c "
import os, socket
s = socket.create_connection(('127.0.0.1', $PORT), timeout=5)
s.sendall(bytes(range(256)) * 4 + os.urandom(4000))
try:
    while s.recv(65536): pass
except OSError: pass" ;;
	truncated-hello)
		timeout 10 python3 -c "
import socket, ssl
ctx = ssl.create_default_context()
i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(i, o, server_hostname='localhost')
try: obj.do_handshake()
except ssl.SSLWantReadError: pass
hello = o.read()
s = socket.create_connection(('127.0.0.1', $PORT), timeout=5)
s.sendall(hello[:len(hello) // 2])
s.shutdown(socket.SHUT_WR)
try:
    while s.recv(65536): pass
except OSError: pass" ;;
	plaintext-http)
		printf 'GET /secret HTTP/1.0\r\nHost: x\r\n\r\n' | timeout 10 socat -t 5 - "TCP:127.0.0.1:$PORT" ;;
	tls1.0|tls1.1)
		local v=-tls1; [ "$1" = tls1.1 ] && v=-tls1_1
		printf 'sneaky\n' | timeout 10 openssl s_client -quiet $v -cipher 'DEFAULT@SECLEVEL=0' \
			-CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" -connect "127.0.0.1:$PORT" ;;
	renegotiation)
		# s_client (without -quiet) renegotiates on a line "R"; "after" must never arrive.
		(printf 'before\n'; sleep 1; printf 'R\n'; sleep 1; printf 'after\n'; sleep 1) |
			timeout 10 openssl s_client -tls1_2 -legacy_renegotiation -CAfile "$PKI/ca.crt" \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -connect "127.0.0.1:$PORT" ;;
	big-chain)
		printf 'sneaky\n' | timeout 10 openssl s_client -quiet -CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" \
			-key "$PKI/client.key" -cert_chain "$PKI/bigchain.crt" -connect "127.0.0.1:$PORT" ;;
	esac
}

@test "garbage, a truncated ClientHello, plaintext HTTP, TLS 1.0/1.1, renegotiation and a >100 KB chain are logged and dropped; the server keeps serving" {
	start_server inputs 5
	local chain; chain=$(openssl crl2pkcs7 -nocrl -certfile "$PKI/bigchain.crt" | openssl pkcs7 -outform DER | wc -c)
	[ "$chain" -gt 102400 ]
	local kind n=0 before reason
	note "$(printf '%-16s %-8s %s' input outcome 'logged reason')"
	for kind in garbage truncated-hello plaintext-http tls1.0 tls1.1 renegotiation big-chain; do
		before=$(count "$SRVLOG" '(refused|closed) rule=inputs ')
		hostile_send "$kind" > "$BATS_TEST_TMPDIR/$kind.out" 2>&1 || true
		wait_count "$SRVLOG" '(refused|closed) rule=inputs ' $((before + 1)) 10
		reason=$(grep -E '(refused|closed) rule=inputs ' "$SRVLOG" | tail -n 1 | sed 's/.*reason=//')
		if [ "$kind" = renegotiation ]; then
			# A good client's first handshake is admitted; its renegotiation ends the connection.
			assert_file_has "$BATS_TEST_TMPDIR/$kind.out" 'RENEGOTIATING'
			assert_file_has "$SRVLOG" 'closed rule=inputs .*reason="[^"]+'
			note "$(printf '%-16s %-8s %s' "$kind" closed "$reason")"
		else
			note "$(printf '%-16s %-8s %s' "$kind" refused "$reason")"
		fi
		[ "$(count "$SRVLOG" '(refused|closed) rule=inputs ')" -eq $((before + 1)) ]
		n=$((n + 1))
		good_echo "$n"
	done
	[ "$chain" -gt 0 ] && note "(big-chain: $chain bytes of DER certificates)"
	assert_file_has "$SRVLOG" 'refused rule=inputs .*reason="unsupported protocol"'
	assert_file_has "$SRVLOG" 'refused rule=inputs .*reason="excessive message size"'
	# The program saw the 7 good clients and the renegotiating client's first line, nothing else.
	[ "$(count "$SRVOUT" '^accept ')" -eq 8 ]
	local seen; seen=$(grep -E '^done ' "$SRVOUT" | sed 's/.* in=\([0-9]*\).*/\1/' | sort -n | tr '\n' ' ')
	echo "bytes per connection: $seen"
	[ "$seen" = "6 6 6 6 6 6 6 7 " ]	# "good-N" and "before\n"
	refute_file_has "$SRVOUT" 'accept (9|1[0-9])'
}

# ---------------------------------------------------------------------------------------------
# 3. Certificates that must be refused, both ways

# The certificate table: KIND CERT-BASE (mkpki/mkbad names; "-" for none).
# Server side: the client presents CERT-BASE; client side: s_server presents it.
CERT_KINDS=(
	"no-certificate -"
	"foreign-CA foreign"
	"expired old"
	"not-yet-valid notyet"
	"wrong-EKU @"
	"self-signed-leaf selfsigned"
	"root-CA-as-leaf ca"
	"intermediate-CA-as-leaf intca"
	"intermediate-missing viaint"
	"weak-key-RSA-1024 weak"
)

@test "bad certificates are refused both ways: client certs by a shimmed server, server certs by a shimmed client" {
	start_server certs 5
	local cli; cli=$(client_conf certcli 0)
	local rows=() kind base tried=0 refused=0 line before acc
	for line in "${CERT_KINDS[@]}"; do
		read -r kind base <<<"$line"
		# --- a bad client against the shimmed server
		[ "$base" = "@" ] && base=srvonly
		local args=()
		[ "$base" = - ] || args=(-cert "$PKI/$base.crt" -key "$PKI/$base.key")
		before=$(count "$SRVLOG" 'refused rule=certs ')
		acc=$(count "$SRVOUT" '^accept ')
		(printf 'secret-%s\n' "$kind"; sleep 1) | timeout 10 openssl s_client -quiet -cipher 'DEFAULT@SECLEVEL=0' \
			-CAfile "$PKI/ca.crt" "${args[@]}" -connect "127.0.0.1:$PORT" >"$BATS_TEST_TMPDIR/c-$kind.out" 2>&1 || true
		tried=$((tried + 1))
		local ok=no
		if wait_count "$SRVLOG" 'refused rule=certs ' $((before + 1)) 5 2>/dev/null &&
		    [ "$(count "$SRVOUT" '^accept ')" -eq "$acc" ]; then
			ok=yes; refused=$((refused + 1))
		fi
		rows+=("$(printf '%-24s %-16s %-5s %-7s %s' "$kind" "client->server" 1 "$ok" \
			"$(grep 'refused rule=certs ' "$SRVLOG" | tail -n 1 | sed 's/.*reason=//')")")

		# --- a shimmed client against s_server presenting a bad certificate
		base=${line#* }
		[ "$base" = "@" ] && base=clionly
		local sport; sport=$(free_port)
		local sargs=(-cert "$PKI/$base.crt" -key "$PKI/$base.key")
		[ "$base" = - ] && sargs=(-nocert -tls1_2 -cipher 'aNULL:@SECLEVEL=0')
		[ "$base" = weak ] && sargs+=(-cipher 'DEFAULT@SECLEVEL=0')
		start_s_server "$kind" "$sport" "${sargs[@]}"
		cli=$(client_conf certcli "$sport")
		local clog=$BATS_TEST_TMPDIR/certcli.log
		before=$(count "$clog" 'refused rule=certcli ')
		run --separate-stderr shim "$cli" timeout 15 "$PROGS/client" 127.0.0.1 "$sport" "secret-$kind"
		echo "$kind (client side): status=$status stderr=$stderr"
		tried=$((tried + 1))
		ok=no
		sleep 0.3
		# Refused by the client itself (not a server that hung up), and nothing reached s_server.
		if [ "$status" -eq 2 ] && [[ "$stderr" == *"connect: Connection refused"* ]] &&
		    [ "$(count "$clog" 'refused rule=certcli ')" -eq $((before + 1)) ] &&
		    ! grep -q "secret-" "$BATS_TEST_TMPDIR/s-$kind.out"; then
			ok=yes; refused=$((refused + 1))
		fi
		rows+=("$(printf '%-24s %-16s %-5s %-7s %s' "$kind" "server->client" 1 "$ok" \
			"$(grep 'refused rule=certcli ' "$clog" | tail -n 1 | sed 's/.*reason=//')")")
		kill_bg_one "$BGPID"
	done
	note "$(printf '%-24s %-16s %-5s %-7s %s' kind direction tried refused 'logged reason')"
	for line in "${rows[@]}"; do note "$line"; done
	note "total: tried $tried, refused $refused"
	printf '%s\n' "${rows[@]}"
	[ "$tried" -eq 20 ]
	[ "$refused" -eq "$tried" ]
	# Controls: the same server admits the leaf when the client sends its intermediate, and a good client.
	acc=$(count "$SRVOUT" '^accept ')
	(printf 'chained\n'; sleep 1) | timeout 10 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
		-cert "$PKI/viaint.crt" -key "$PKI/viaint.key" -cert_chain "$PKI/intca.crt" -connect "127.0.0.1:$PORT" >/dev/null 2>&1 || true
	wait_count "$SRVOUT" '^accept ' $((acc + 1)) 5
	good_echo control
	# ... and the shimmed client talks to s_server presenting the good server certificate.
	local sport; sport=$(free_port)
	start_s_server control "$sport" -cert "$PKI/server.crt" -key "$PKI/server.key"
	cli=$(client_conf certcli "$sport")
	run --separate-stderr shim "$cli" timeout 3 "$PROGS/client" 127.0.0.1 "$sport" "control-ok"
	wait_for "$BATS_TEST_TMPDIR/s-control.out" 'control-ok' 5
}

# start_s_server KIND PORT ARGS...: openssl s_server for one connection, requiring a client cert
# from ca; its stdin stays open (s_server ends at EOF on stdin). Output in s-KIND.out.
start_s_server() {
	local kind=$1 port=$2; shift 2
	local args; printf -v args ' %q' "$@"
	bg "$BATS_TEST_TMPDIR/s-$kind.out" bash -c "sleep 20 | timeout 20 openssl s_server -accept 127.0.0.1:$port \
		-naccept 1 -Verify 1 -CAfile '$PKI/ca.crt' $args"
	wait_port "$port"
}

# kill_bg_one PID: ends one background job early (it stays in the list for teardown).
kill_bg_one() {
	kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# 4. Peers that die or stop reading

# stream_case PEERMODE STREAMARGS...: a shimmed hostile_stream against tlspeer.py; the peer is
# killed with SIGKILL once the stream is under way. Sets RESULT (the program's last line).
stream_case() {
	local mode=$1; shift
	local p; p=$(free_port)
	bg "$BATS_TEST_TMPDIR/peer.out" python3 -u "$HOSTILE/tlspeer.py" "$p" "$PKI" "$mode"
	local peer=$BGPID
	wait_for "$BATS_TEST_TMPDIR/peer.out" '^listening' 10
	local c; c=$(conf streamcli <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "streamcli" {
	    port = $p
	    handshake_timeout = 3
	}
	EOF
	)
	local out=$BATS_TEST_TMPDIR/stream.out
	rm -f "$out"
	shim_bg "$out" "$c" timeout 60 "$PROGS/hostile_stream" "$@" 127.0.0.1 "$p" 0
	local prog=$BGPID
	wait_for "$out" '^progress ' 15
	sleep 1	# a writer to a peer that stopped reading is blocked by now
	kill -KILL "$peer"
	# Bounded: handshake_timeout (3 s) + 5 s. A hang check, not a speed check.
	wait_for "$out" '^result=' 8
	local i
	for i in $(seq 1 30); do kill -0 "$prog" 2>/dev/null || break; sleep 0.1; done
	wait "$prog" 2>/dev/null; STATUS=$?
	cat "$out"
	RESULT=$(grep '^result=' "$out")
}

@test "peer stops reading, then is killed: a shimmed writer using MSG_NOSIGNAL gets an error, not SIGPIPE" {
	stream_case mute -m write -s nosignal
	[ "$STATUS" -eq 0 ]
	[[ "$RESULT" =~ ^result=error\ errno=(EPIPE|ECONNRESET) ]]
	note "writer (MSG_NOSIGNAL): $RESULT"
}

@test "peer stops reading, then is killed: a shimmed writer ignoring SIGPIPE gets an error" {
	stream_case mute -m write -s ignore
	[ "$STATUS" -eq 0 ]
	[[ "$RESULT" =~ ^result=error\ errno=(EPIPE|ECONNRESET) ]]
	note "writer (SIGPIPE ignored): $RESULT"
}

@test "peer killed while streaming to a shimmed reader: the read ends with EOF or an error" {
	stream_case source -m read
	[ "$STATUS" -eq 0 ]
	[[ "$RESULT" =~ ^result=(eof|error\ errno=ECONNRESET) ]]
	note "reader: $RESULT"
}

@test "a client that stops reading a shimmed echo server, then dies: the server's write fails, it serves on" {
	start_server deadcli 3
	bg "$BATS_TEST_TMPDIR/flood.out" python3 -u -c "
import socket, ssl
ctx = ssl.create_default_context(cafile='$PKI/ca.crt')
ctx.load_cert_chain('$PKI/client.crt', '$PKI/client.key')
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', $PORT)), server_hostname='localhost')
buf, sent = b'z' * 65536, 0
while True:
    s.sendall(buf)
    sent += len(buf)
    if sent == 4 << 20:
        print('sent 4 MiB', flush=True)
"
	local flood=$BGPID
	wait_for "$BATS_TEST_TMPDIR/flood.out" '^sent' 20
	wait_for "$SRVOUT" '^accept 1 ' 5
	kill -KILL "$flood"
	wait_for "$SRVOUT" '^done 1 ' 8
	assert_file_has "$SRVOUT" '^(write|read) error conn=1: (Broken pipe|Connection reset by peer)'
	kill -0 "$SRVPID"
	good_echo after
	assert_file_has "$SRVLOG" 'closed rule=deadcli peer=127\.0\.0\.1:[0-9]+ reason='
}

@test "a client killed mid-upload to a shimmed counting server: the server's read ends, it serves on" {
	start_server upload 3 -p count
	bg "$BATS_TEST_TMPDIR/up.out" python3 -u -c "
import socket, ssl, time
ctx = ssl.create_default_context(cafile='$PKI/ca.crt')
ctx.load_cert_chain('$PKI/client.crt', '$PKI/client.key')
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', $PORT)), server_hostname='localhost')
for i in range(64):
    s.sendall(b'u' * 65536)
print('sent 4 MiB', flush=True)
time.sleep(60)
"
	wait_for "$BATS_TEST_TMPDIR/up.out" '^sent' 20
	kill -KILL "$BGPID"
	wait_for "$SRVOUT" '^done 1 ' 8
	kill -0 "$SRVPID"
	local c; c=$(client_conf upcli "$PORT")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -s 127.0.0.1 "$PORT" "abc"
	show
	[ "$output" = "got 3 bytes sum=294" ]
}

# ---------------------------------------------------------------------------------------------
# 5. Descriptor exhaustion

@test "EMFILE during accept: the shimmed server gets EMFILE as without the shim, leaks nothing, then serves" {
	local mode out p results=()
	for mode in plain shim; do
		p=$(free_port)
		out=$BATS_TEST_TMPDIR/emfile-$mode.out
		rm -f "$BATS_TEST_TMPDIR/go"
		local c; c=$(server_conf emfile "$p")
		if [ $mode = shim ]; then
			shim_bg "$out" "$c" "$PROGS/hostile_emfile" "$p" "$BATS_TEST_TMPDIR"
		else
			bg "$out" "$PROGS/hostile_emfile" "$p" "$BATS_TEST_TMPDIR"
		fi
		wait_for "$out" '^filled ' 10
		# A client is waiting in the backlog while the table is full.
		if [ $mode = shim ]; then
			bg "$BATS_TEST_TMPDIR/emcli.out" bash -c "(printf 'ping\n'; sleep 5) | timeout 30 openssl s_client -quiet \
				-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$p"
		else
			bg "$BATS_TEST_TMPDIR/emcli.out" bash -c "(printf 'ping\n'; sleep 5) | timeout 30 socat - TCP:127.0.0.1:$p"
		fi
		sleep 0.5
		touch "$BATS_TEST_TMPDIR/go"
		wait_for "$out" '^end fds=' 30
		cat "$out"
		wait_for "$BATS_TEST_TMPDIR/emcli.out" '^ping' 5
		results+=("$(grep -E '^accept[12]' "$out" | tr '\n' ' ')")
		local start end
		start=$(sed -n 's/^listening fds=//p' "$out")
		end=$(sed -n 's/^end fds=//p' "$out")
		note "$mode: $(grep -E '^accept[12]' "$out" | tr '\n' ' ')fds at start $start, at end $end (listener closed)"
		[ "$end" -eq $((start - 1)) ]
	done
	[ "${results[0]}" = "${results[1]}" ]
	assert_contains "${results[1]}" "accept1 errno=EMFILE"
	assert_contains "${results[1]}" "accept2 ok read=5"
	assert_file_has "$BATS_TEST_TMPDIR/emfile.log" 'accepted rule=emfile '
}

# ---------------------------------------------------------------------------------------------
# 6. Many connections: memory and descriptors stay flat

@test "10,000 mTLS connections opened and closed: RSS and descriptor count stay flat" {
	local total=10000 warm=1000
	if asan_build; then total=3000; fi	# the ASan build handshakes about 3x slower (stated in the output)
	start_server churn 10
	state() { echo "$(awk '/^VmRSS/ {print $2}' "/proc/$SRVPID/status") $(ls "/proc/$SRVPID/fd" | wc -l)"; }
	local half=$(( (total - warm) / 2 ))
	run timeout 120 python3 "$HOSTILE/churn.py" "$PORT" "$PKI" "$warm"
	show
	[ "$status" -eq 0 ]
	local rss1 fd1 rss2 fd2
	read -r rss1 fd1 <<<"$(state)"
	# Two clients at once, to use both cores.
	bg "$BATS_TEST_TMPDIR/churn2.out" timeout 120 python3 "$HOSTILE/churn.py" "$PORT" "$PKI" "$half"
	run timeout 120 python3 "$HOSTILE/churn.py" "$PORT" "$PKI" "$((total - warm - half))"
	show
	[ "$status" -eq 0 ]
	wait_for "$BATS_TEST_TMPDIR/churn2.out" '^done ' 60
	read -r rss2 fd2 <<<"$(state)"
	wait_count "$SRVLOG" 'accepted rule=churn ' "$total" 10
	note "after $warm connections: VmRSS $rss1 kB, $fd1 fds; after $total: VmRSS $rss2 kB, $fd2 fds (slack: 1024 kB, 0 fds)"
	[ "$fd2" -eq "$fd1" ]
	# ASan's quarantine keeps freed memory resident by design: RSS says nothing there.
	if asan_build; then note "(ASan build: RSS not compared)"; else [ "$rss2" -le $((rss1 + 1024)) ]; fi
	[ "$(count "$SRVLOG" 'refused rule=churn ')" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# 7. valgrind

@test "valgrind memcheck: a shimmed daemon serving good, refused and garbage peers has 0 errors and no definite leaks" {
	if asan_build; then skip "valgrind cannot run an ASan build"; fi
	command -v valgrind >/dev/null || skip "valgrind missing"
	PORT=$(free_port)
	local c; c=$(server_conf vg "$PORT")
	local vlog=$BATS_TEST_TMPDIR/valgrind.txt
	bg "$BATS_TEST_TMPDIR/vg.out" env LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$c" valgrind --log-file="$vlog" \
		--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		"$PROGS/echo_server" "$PORT"
	local vpid=$BGPID
	wait_port "$PORT"
	run timeout 120 python3 "$HOSTILE/churn.py" "$PORT" "$PKI" 120
	show
	[ "$status" -eq 0 ]
	local i
	for i in $(seq 1 10); do
		timeout 10 openssl s_client -quiet -CAfile "$PKI/ca.crt" -cert "$PKI/foreign.crt" -key "$PKI/foreign.key" \
			-connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1 || true
		timeout 10 openssl s_client -quiet -CAfile "$PKI/ca.crt" -connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1 || true
		head -c 3000 /dev/urandom | timeout 5 socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 || true
	done
	wait_count "$BATS_TEST_TMPDIR/vg.log" 'refused rule=vg ' 30 20
	run timeout 60 python3 "$HOSTILE/churn.py" "$PORT" "$PKI" 30
	[ "$status" -eq 0 ]
	kill -TERM "$vpid"
	wait_for "$vlog" 'ERROR SUMMARY' 30
	cat "$vlog"
	note "valgrind: $(count "$BATS_TEST_TMPDIR/vg.log" 'accepted rule=vg ') accepted, $(count "$BATS_TEST_TMPDIR/vg.log" 'refused rule=vg ') refused; $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$vlog"); $(grep -o 'definitely lost: .*' "$vlog")"
	assert_file_has "$vlog" 'ERROR SUMMARY: 0 errors'
	assert_file_has "$vlog" 'definitely lost: 0 bytes'
	[ "$(count "$BATS_TEST_TMPDIR/vg.log" 'accepted rule=vg ')" -eq 150 ]
}

# ---------------------------------------------------------------------------------------------
# 8. Secrets

@test "no key material in any log, at debug level, across accepted, refused and broken connections" {
	PORT=$(free_port)
	local c; c=$(server_conf keys "$PORT")
	sed -i 's/^log_level = .*/log_level = "debug"/' "$c"
	SRVLOG=$BATS_TEST_TMPDIR/keys.log
	SRVOUT=$BATS_TEST_TMPDIR/keys.out
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" "$PORT"
	wait_port "$PORT"
	local clog=$BATS_TEST_TMPDIR/goodcli.log
	GOOD_LEVEL=debug good_echo 1
	GOOD_LEVEL=debug good_echo 2
	assert_file_has "$clog" 'connected rule=goodcli '
	hostile_send garbage >/dev/null 2>&1 || true
	timeout 10 openssl s_client -quiet -CAfile "$PKI/ca.crt" -cert "$PKI/foreign.crt" -key "$PKI/foreign.key" \
		-connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1 || true
	wait_count "$SRVLOG" 'refused rule=keys ' 2 10
	local f line k
	for f in "$SRVLOG" "$clog"; do
		refute_file_has "$f" 'PRIVATE|BEGIN|CLIENT_RANDOM|_SECRET|MASTER'
		for k in server client; do
			# Every base64 line of both private keys, and the private scalar in hex.
			while read -r line; do
				[ "${#line}" -ge 16 ] || continue
				! grep -qF -- "${line:0:24}" "$f"
			done < <(grep -v -- '-----' "$PKI/$k.key")
			local hex; hex=$(openssl pkey -in "$PKI/$k.key" -noout -text | sed -n '/^priv:/,/^pub:/p' | grep -v ':$' | tr -d ' :\n' | head -c 24)
			[ -n "$hex" ]
			! grep -qiF -- "$hex" "$f"
		done
	done
	assert_file_has "$SRVLOG" 'accepted rule=keys '
}

@test "a world-readable private key gives a warning at start-up; a mode 600 key does not" {
	# (mtlsshim check's warning is covered by check.bats.)
	cp "$PKI/server.crt" "$BATS_TEST_TMPDIR/k.crt"
	cp "$PKI/server.key" "$BATS_TEST_TMPDIR/k.key"
	local c
	for mode in 644 600; do
		chmod "$mode" "$BATS_TEST_TMPDIR/k.key"
		c=$(conf "wr$mode" <<-EOF
		cert_file = "$BATS_TEST_TMPDIR/k.crt"
		key_file = "$BATS_TEST_TMPDIR/k.key"
		server "wr" {
		    port = 8443
		}
		EOF
		)
		run shim "$c" sh -c 'echo RAN'
		[ "$status" -eq 0 ]
		[ "$output" = RAN ]
	done
	cat "$BATS_TEST_TMPDIR/wr644.log"
	assert_file_has "$BATS_TEST_TMPDIR/wr644.log" "rule=wr: key_file $BATS_TEST_TMPDIR/k\\.key is readable by every user"
	refute_file_has "$BATS_TEST_TMPDIR/wr600.log" 'readable by every user'
}

# ---------------------------------------------------------------------------------------------
# 9. Children

@test "a setuid-root program started from a shimmed process running as nobody still runs (without the shim)" {
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[ "$(id -u)" -eq 0 ] || skip "needs root to make a setuid-root program"
	local d; d=$(mktemp -d /tmp/mtlsshim-suid.XXXXXX)
	chmod 755 "$d"
	cp "$PROGS/hostile_whoami" "$d/whoami"
	chmod 4755 "$d/whoami"
	cp "$PKI/ca.crt" "$PKI/server.crt" "$PKI/server.key" "$d/"
	chmod 644 "$d"/*.crt "$d/server.key"
	printf 'log_file = "%s/shim.log"\nca_file = "ca.crt"\ncert_file = "server.crt"\nkey_file = "server.key"\nserver "s" {\n port = 8443\n}\n' "$d" > "$d/shim.conf"
	: > "$d/shim.log"
	chmod 666 "$d/shim.log"
	chmod 644 "$d/shim.conf"
	if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$SHIMLIB"; then
		rm -rf "$d"
		skip "nobody cannot read the build directory"
	fi
	run --separate-stderr setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$d/shim.conf" sh -c "$PROGS/hostile_whoami; $d/whoami; echo parent-status=\$?"
	show
	local log; log=$(cat "$d/shim.log")
	rm -rf "$d"
	echo "shim log: $log"
	[ "$status" -eq 0 ]
	# The shimmed parent runs as nobody with the shim; the setuid child runs as root without it.
	[[ "${lines[0]}" == "whoami uid=65534 euid=65534 shim=yes "* ]]
	[[ "${lines[1]}" == "whoami uid=65534 euid=0 shim=no "* ]]
	[ "${lines[2]}" = "parent-status=0" ]
}

@test "a child with no matching sockets behaves identically with and without the shim" {
	local p; p=$(free_port)
	bg "$BATS_TEST_TMPDIR/plain.out" socat -t 5 "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$p"
	local other; other=$(free_port)
	local c; c=$(conf kids <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "kids" {
	    port = $other
	}
	server "kidsrv" {
	    port = $other
	}
	EOF
	)
	# A shell whose child talks plaintext to an unmatched port, reads stdin, writes stderr, exits 3.
	local py=$BATS_TEST_TMPDIR/child.py
	cat > "$py" <<-EOF
	import socket, sys
	s = socket.create_connection(("127.0.0.1", $p), timeout=5)
	s.sendall(sys.stdin.read().encode())
	s.shutdown(socket.SHUT_WR)
	d = b""
	while True:
	    b = s.recv(4096)
	    if not b:
	        break
	    d += b
	print("child got", d.decode().strip())
	print("to stderr", file=sys.stderr)
	sys.exit(3)
	EOF
	local script="python3 $py; echo child-status=\$?"
	run --separate-stderr bash -c "printf 'hello child\n' | sh -c '$script'"
	local plain="$status|$output|$stderr"
	run --separate-stderr bash -c "printf 'hello child\n' | LD_PRELOAD='$PRELOAD' MTLSSHIM_CONFIG='$c' sh -c '$script'"
	local shimmed="$status|$output|$stderr"
	echo "plain:   $plain"
	echo "shimmed: $shimmed"
	[ "$plain" = "$shimmed" ]
	assert_contains "$plain" "child got hello child"
	assert_contains "$plain" "child-status=3"
	refute_file_has "$BATS_TEST_TMPDIR/kids.log" 'accepted|connected|refused'
}
