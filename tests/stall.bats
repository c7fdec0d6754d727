#!/usr/bin/env bats
# stall.bats: silent peers neither block a single-threaded server nor live past handshake_timeout.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() {
	touch "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/done"
	common_teardown
}

# A shimmed blocking, single-threaded C server (http) with the given handshake_timeout.
start_server() { # TIMEOUT
	PORT=$(free_port)
	SRVLOG=$BATS_TEST_TMPDIR/stall.log
	SRVOUT=$BATS_TEST_TMPDIR/stall.out
	local c; c=$(conf stall <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "stall" {
	    port = $PORT
	    handshake_timeout = $1
	}
	EOF
	)
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" -p http "$PORT"
	wait_port "$PORT"
}

@test "200 stalled handshakes do not keep a good client from being served" {
	start_server 30
	local py; py=$(stall_script)
	bg "$BATS_TEST_TMPDIR/py.out" python3 -u "$py" "$PORT" 200 hold "$BATS_TEST_TMPDIR"
	wait_for "$BATS_TEST_TMPDIR/py.out" '^connected 200$' 20
	run timeout 20 curl -sS --max-time 20 --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
		"https://127.0.0.1:$PORT/while-stalled"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "request: GET /while-stalled"
	run sclient -connect "127.0.0.1:$PORT" < <(printf 'GET /again HTTP/1.0\r\n\r\n')
	show
	assert_contains "$output" "request: GET /again"
	# The stalled peers were still open while the good ones were served, and the program saw none of them.
	touch "$BATS_TEST_TMPDIR/go"
	wait_for "$BATS_TEST_TMPDIR/py.out" '^open=' 20
	assert_file_has "$BATS_TEST_TMPDIR/py.out" '^open=200 eof=0$'
	[ "$(count "$SRVOUT" '^accept ')" -eq 2 ]
}

@test "with handshake_timeout = 2 stalled handshakes are cut and logged" {
	start_server 2
	local py; py=$(stall_script)
	bg "$BATS_TEST_TMPDIR/py.out" python3 -u "$py" "$PORT" 200 eof 20
	wait_for "$BATS_TEST_TMPDIR/py.out" '^connected 200$' 20
	wait_for "$BATS_TEST_TMPDIR/py.out" '^eof=' 30
	assert_file_has "$BATS_TEST_TMPDIR/py.out" '^eof=200 of 200$'
	assert_file_has "$SRVLOG" 'refused rule=stall peer=127\.0\.0\.1:[0-9]+ reason="[^"]*timed out'
	refute_file_has "$SRVOUT" '^accept '
	# And the server is still fine.
	run mcurl "https://127.0.0.1:$PORT/after"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "request: GET /after"
}

@test "a peer that stalls after a partial ClientHello is cut as well" {
	start_server 2
	run timeout 20 python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $PORT), timeout=15)
s.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')
t = time.time()
try:
    d = s.recv(4096)
    while d:
        d = s.recv(4096)
    print('eof')
except OSError as e:
    print('closed', e.__class__.__name__)
"
	show
	[ "$status" -eq 0 ]
	[[ "$output" == eof || "$output" == closed* ]]
	wait_for "$SRVLOG" 'refused rule=stall .*timed out' 5
}

# A TCP server that accepts and never speaks: the client side's handshake must time out.
start_mute_server() {
	MPORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/mute.out" python3 -u -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', $MPORT)); l.listen(16)
held = []
end = time.time() + 60
l.settimeout(1)
while time.time() < end:
    try:
        c, _ = l.accept(); held.append(c); print('accepted', flush=True)
    except socket.timeout:
        pass
"
	wait_port "$MPORT"
}

@test "shimmed blocking connect to a mute server fails with ETIMEDOUT after handshake_timeout" {
	start_mute_server
	local c; c=$(conf mutecli <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "mutecli" {
	    port = $MPORT
	    handshake_timeout = 2
	}
	EOF
	)
	run --separate-stderr shim "$c" timeout 20 "$PROGS/client" 127.0.0.1 "$MPORT" $'x\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "connect: Connection timed out"
	assert_file_has "$BATS_TEST_TMPDIR/mutecli.log" 'refused rule=mutecli .*timed out'
}

@test "shimmed non-blocking connect to a mute server reports ETIMEDOUT through SO_ERROR" {
	start_mute_server
	local c; c=$(conf mutecli <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "mutecli" {
	    port = $MPORT
	    handshake_timeout = 2
	}
	EOF
	)
	run --separate-stderr shim "$c" timeout 20 "$PROGS/nbclient" -m poll 127.0.0.1 "$MPORT" 1000 100
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "connect: Connection timed out"
}
