#!/usr/bin/env bats
# fork.bats: fork-per-connection servers, with and without dup2 onto stdin/stdout.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

sequential_and_concurrent() {
	local i pids=()
	for i in 1 2 3; do
		run mcurl "https://127.0.0.1:$PORT/seq$i"
		show
		[ "$status" -eq 0 ]
		assert_contains "$output" "request: GET /seq$i HTTP/1.1"
		assert_contains "$output" "conn=$i "
	done
	for i in $(seq 1 6); do
		timeout 30 curl -sS --max-time 25 --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
			"https://127.0.0.1:$PORT/con$i" > "$BATS_TEST_TMPDIR/curl$i.out" 2>&1 &
		pids+=($!)
	done
	for i in 1 2; do
		printf 'GET /sc%d HTTP/1.0\r\n\r\n' "$i" | timeout 30 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
			-cert "$PKI/client.crt" -key "$PKI/client.key" -connect "127.0.0.1:$PORT" \
			> "$BATS_TEST_TMPDIR/sc$i.out" 2>/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	for i in $(seq 1 6); do assert_file_has "$BATS_TEST_TMPDIR/curl$i.out" "request: GET /con$i HTTP"; done
	for i in 1 2; do assert_file_has "$BATS_TEST_TMPDIR/sc$i.out" "request: GET /sc$i HTTP"; done
	# Every connection was served by a different child.
	local pids_seen
	pids_seen=$(cat "$BATS_TEST_TMPDIR"/curl*.out "$BATS_TEST_TMPDIR"/sc*.out | grep -o 'pid=[0-9]*' | sort -u | wc -l)
	[ "$pids_seen" -eq 8 ]
}

@test "fork-per-connection server serves sequential and concurrent curl and s_client peers" {
	start_echo_server fsrv -m fork -p http
	sequential_and_concurrent
}

@test "fork-per-connection server whose children dup2 the socket onto 0 and 1" {
	start_echo_server fsrv -m fork -D -p http
	sequential_and_concurrent
}

@test "the parent's close does not end the child's session (client speaks late)" {
	start_echo_server fsrv -m fork
	local c; c=$(client_conf fcli "$PORT")
	# -w 1: the client writes only after the parent has long closed its copy.
	run shim "$c" timeout 20 "$PROGS/client" -w 1 -l 2 127.0.0.1 "$PORT" $'late one\nlate two\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'late one\nlate two' ]
	run bash -c "(sleep 1; printf 'late s_client\n'; sleep 3) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "late s_client" ]
}

@test "both ends shimmed: 4 MB through a dup2'd fork child with two threads on the client" {
	start_echo_server fsrv -m fork -D
	local c; c=$(client_conf fcli "$PORT")
	run shim "$c" timeout 90 "$PROGS/thrclient" 127.0.0.1 "$PORT" 4 2
	show
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ok bytes=4194304 ' <<< "$output")" -eq 2 ]
}

# epfork_case [et]: the child of a server that forked after setting up its epoll set serves
# three shimmed clients through that set.
epfork_case() {
	local port c s n; port=$(free_port)
	s=$(server_conf epf "$port")
	c=$(client_conf epc "$port")
	shim_bg "$BATS_TEST_TMPDIR/epf.out" "$s" "$PROGS/epfork" "$port" 3 "$@"
	wait_for "$BATS_TEST_TMPDIR/epf.out" '^child ready' 10
	# (not "i": bats' run uses a loop variable of that name)
	for n in 1 2 3; do
		run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -s 127.0.0.1 "$port" "hello-$n"
		show
		[ "$status" -eq 0 ]
		[ "$output" = "echo:hello-$n" ]
	done
	wait_for "$BATS_TEST_TMPDIR/epf.out" '^child served 3' 10
	[ "$(count "$BATS_TEST_TMPDIR/epf.log" 'accepted rule=epf')" -eq 3 ]
}

@test "both ends shimmed: an epoll set made before fork serves the child (level-triggered)" {
	epfork_case
}

@test "both ends shimmed: an epoll set made before fork serves the child (edge-triggered)" {
	epfork_case et
}
