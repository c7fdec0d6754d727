#!/usr/bin/env bats
# refuse.bats: peers that fail mutual TLS are refused at the handshake, logged, and never reach the program.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

# A shimmed python http.server; sets PORT, PYOUT (its own request log), SRVLOG.
start_python_server() {
	PORT=$(free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "secret page" > "$BATS_TEST_TMPDIR/www/index.txt"
	local c; c=$(server_conf pysrv "$PORT")
	SRVLOG=$BATS_TEST_TMPDIR/pysrv.log
	PYOUT=$BATS_TEST_TMPDIR/py.out
	shim_bg "$PYOUT" "$c" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$PORT"
	wait_port "$PORT"
}

# The good client still gets served, and it is the only request the program ever saw.
good_client_served_only() {
	run mcurl "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	wait_for "$PYOUT" 'GET /index.txt' 5
	[ "$(count "$PYOUT" 'GET ')" -eq 1 ]
}

@test "client without a certificate is refused and never reaches python" {
	start_python_server
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=pysrv peer=127\.0\.0\.1:[0-9]+ reason="[^"]*certificate'
	refute_file_has "$PYOUT" 'GET '
	good_client_served_only
}

@test "client cert from a foreign CA is refused with a verify reason" {
	start_python_server
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/foreign.crt" --key "$PKI/foreign.key" \
		"https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=pysrv peer=127\.0\.0\.1:[0-9]+ reason="[^"]*(verify|issuer)'
	refute_file_has "$PYOUT" 'GET '
	refute_file_has "$SRVLOG" 'accepted rule='
	good_client_served_only
}

@test "expired client cert is refused with an expiry reason" {
	start_python_server
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/expired.crt" --key "$PKI/expired.key" \
		"https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=pysrv .*reason="[^"]*expired'
	refute_file_has "$PYOUT" 'GET '
	good_client_served_only
}

@test "s_client with a foreign cert sends data that never reaches the C server" {
	start_echo_server csrv
	# TLS 1.3: s_client may finish its side of the handshake and send before the refusal arrives.
	run bash -c "(printf 'sneaky data\n'; sleep 2) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/foreign.crt' -key '$PKI/foreign.key' -connect 127.0.0.1:$PORT"
	show
	refute_contains "$output" "sneaky data"
	wait_for "$SRVLOG" 'refused rule=csrv'
	refute_file_has "$SRVOUT" '^accept '
	# The server still serves a good peer.
	run bash -c "(printf 'good data\n'; sleep 3) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "good data" ]
	[ "$(count "$SRVOUT" '^accept ')" -eq 1 ]
}

@test "plaintext HTTP to a shimmed port is logged and dropped; the server keeps serving" {
	start_python_server
	run bash -c "printf 'GET /index.txt HTTP/1.0\r\n\r\n' | timeout 5 socat - TCP:127.0.0.1:$PORT"
	show
	refute_contains "$output" "secret page"
	refute_contains "$output" "HTTP/1.0 200"
	wait_for "$SRVLOG" 'refused rule=pysrv peer=127\.0\.0\.1:[0-9]+ reason='
	refute_file_has "$PYOUT" 'GET '
	good_client_served_only
}

@test "garbage bytes to a shimmed port are logged and dropped; the server keeps serving" {
	start_python_server
	run timeout 10 python3 -c "
import socket, os
s = socket.create_connection(('127.0.0.1', $PORT), timeout=5)
s.sendall(bytes(range(256)) * 4 + os.urandom(2000))
try:
    print('got', len(s.recv(65536)))
except OSError as e:
    print('error', e)
"
	show
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=pysrv'
	refute_file_has "$PYOUT" 'GET '
	good_client_served_only
}

@test "peers that hang up mid-handshake are dropped; the server keeps serving" {
	start_python_server
	run timeout 10 python3 -c "
import socket
for i in range(20):
    s = socket.create_connection(('127.0.0.1', $PORT), timeout=5)
    if i % 2:
        s.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')  # a truncated ClientHello
    s.close()
print('done')
"
	show
	[ "$output" = "done" ]
	good_client_served_only
}

@test "shimmed client refuses a server whose cert is from a foreign CA; nothing reaches it" {
	local port recv=$BATS_TEST_TMPDIR/received; port=$(free_port)
	: > "$recv"
	bg "$BATS_TEST_TMPDIR/socat.out" socat -t 5 \
		"OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/foreign.crt,key=$PKI/foreign.key,cafile=$PKI/ca-bundle.crt,verify=1" \
		"OPEN:$recv,creat,append"
	wait_port "$port"
	local c; c=$(client_conf cli "$port")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$port" $'plaintext secret\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "connect: Connection refused"
	wait_for "$BATS_TEST_TMPDIR/cli.log" "refused rule=cli peer=127\\.0\\.0\\.1:$port reason=\"[^\"]*(verify|issuer)"
	if ! asan_build; then	# curl hangs under the ASan runtime
		run shim "$c" timeout 20 curl -sS --max-time 10 -d 'posted secret' "http://127.0.0.1:$port/"
		show
		[ "$status" -ne 0 ]
	fi
	sleep 0.5
	[ ! -s "$recv" ]
}

@test "a shimmed client whose cert the server does not trust gets no data through" {
	# The client rule points at a cert from the foreign CA; the socat server requires our CA.
	local port recv=$BATS_TEST_TMPDIR/received; port=$(free_port)
	: > "$recv"
	bg "$BATS_TEST_TMPDIR/socat.out" socat -t 5 \
		"OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/server.crt,key=$PKI/server.key,cafile=$PKI/ca.crt,verify=1" \
		"OPEN:$recv,creat,append"
	wait_port "$port"
	local c; c=$(client_conf cli "$port" foreign)
	# TLS 1.3: connect may succeed and the first read fail; what matters is that no data arrives.
	run shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$port" $'must not arrive\n'
	show
	[ "$status" -ne 0 ]
	sleep 0.5
	[ ! -s "$recv" ]
}
