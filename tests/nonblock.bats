#!/usr/bin/env bats
# nonblock.bats: non-blocking connect and event loops (poll, select, epoll LT/ET) on both sides of the shim.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

MB=1048576

nb_to_socat() { # MODE CHUNK [extra nbclient flags]
	start_tls_echo
	local c; c=$(client_conf nb "$EPORT")
	run --separate-stderr shim "$c" timeout 60 "$PROGS/nbclient" -m "$1" ${3:-} 127.0.0.1 "$EPORT" "$MB" "$2"
	show
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok sent=$MB rcvd=$MB"* ]]
	assert_contains "$stderr" "connect returned EINPROGRESS"
	assert_file_has "$BATS_TEST_TMPDIR/nb.log" "connected rule=nb peer=127\\.0\\.0\\.1:$EPORT"
}

@test "non-blocking client with poll streams 1 MB both ways through a TLS echo peer" {
	nb_to_socat poll 16384
}

@test "non-blocking client with select streams 1 MB both ways" {
	nb_to_socat select 16384
}

@test "non-blocking client with epoll (level-triggered) streams 1 MB both ways" {
	nb_to_socat epoll 16384
}

@test "non-blocking client with epoll (edge-triggered) streams 1 MB both ways" {
	nb_to_socat epollet 16384
}

@test "non-blocking client with epoll ET, socket added to the epoll set before connect()" {
	nb_to_socat epollet 16384 -E
}

@test "non-blocking client with epoll LT, socket added to the epoll set before connect()" {
	nb_to_socat epoll 16384 -E
}

@test "non-blocking client with poll and small odd-sized chunks" {
	nb_to_socat poll 1000
}

@test "non-blocking client with epoll ET and large chunks" {
	nb_to_socat epollet 100000
}

@test "non-blocking connect to an untrusted server: writable with SO_ERROR = ECONNREFUSED" {
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/socat.out" socat -t 5 \
		"OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/foreign.crt,key=$PKI/foreign.key,cafile=$PKI/ca.crt,verify=1" \
		EXEC:cat
	wait_port "$port"
	local c; c=$(client_conf nb "$port")
	for m in poll select epoll epollet "epollet -E"; do
		run --separate-stderr shim "$c" timeout 20 "$PROGS/nbclient" -m $m 127.0.0.1 "$port" 1000 100
		show
		echo "$m: $stderr"
		[ "$status" -eq 2 ]
		assert_contains "$stderr" "connect: Connection refused"
	done
	assert_file_has "$BATS_TEST_TMPDIR/nb.log" 'refused rule=nb .*(verify|issuer)'
}

@test "non-blocking epoll ET server serves many concurrent curl and s_client peers" {
	start_echo_server nbsrv -m epoll -p http
	local i pids=()
	for i in $(seq 1 8); do
		timeout 30 curl -sS --max-time 25 --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
			"https://127.0.0.1:$PORT/curl$i" > "$BATS_TEST_TMPDIR/curl$i.out" 2>&1 &
		pids+=($!)
	done
	for i in $(seq 1 4); do
		printf 'GET /sclient%d HTTP/1.0\r\n\r\n' "$i" | timeout 30 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -connect "127.0.0.1:$PORT" \
			> "$BATS_TEST_TMPDIR/sclient$i.out" 2>/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	for i in $(seq 1 8); do assert_file_has "$BATS_TEST_TMPDIR/curl$i.out" "request: GET /curl$i HTTP"; done
	for i in $(seq 1 4); do assert_file_has "$BATS_TEST_TMPDIR/sclient$i.out" "request: GET /sclient$i HTTP"; done
	[ "$(count "$SRVOUT" '^accept ')" -eq 12 ]
	[ "$(count "$SRVLOG" 'accepted rule=nbsrv')" -eq 12 ]
}

@test "both ends shimmed: epoll ET echo server and epoll ET client stream 1 MB" {
	start_echo_server nbsrv -m epoll
	local c; c=$(client_conf nbcli "$PORT")
	run --separate-stderr shim "$c" timeout 60 "$PROGS/nbclient" -m epollet 127.0.0.1 "$PORT" "$MB" 16384
	show
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok sent=$MB rcvd=$MB"* ]]
}

@test "both ends shimmed: select client against the epoll server, with half-close" {
	start_echo_server nbsrv -m epoll
	local c; c=$(client_conf nbcli "$PORT")
	run --separate-stderr shim "$c" timeout 60 "$PROGS/nbclient" -s -m select 127.0.0.1 "$PORT" "$MB" 7000
	show
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "ok sent=$MB rcvd=$MB eof" ]
}

@test "shimmed curl (non-blocking connect + poll) fetches from a shimmed epoll server" {
	require_shimmable_curl
	start_echo_server nbsrv -m epoll -p http
	local c; c=$(client_conf nbcli "$PORT")
	for i in 1 2 3; do
		run shim "$c" timeout 20 curl -sS --max-time 15 "http://127.0.0.1:$PORT/n$i"
		show
		[ "$status" -eq 0 ]
		assert_contains "$output" "request: GET /n$i HTTP/1.1"
	done
}
