#!/usr/bin/env bats
# io.bats: every read/write flavour and the dup family go through TLS; EOF and half-close semantics.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

@test "read/recv/recvfrom/recvmsg/readv (fortified too) and write/send/sendto/sendmsg/writev all go through TLS" {
	start_tls_echo
	local c; c=$(client_conf io "$EPORT")
	run shim "$c" timeout 30 "$PROGS/iomix" 127.0.0.1 "$EPORT"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "ok 30 flavour pairs"
}

@test "dup, dup2, dup3 and F_DUPFD copies share the session, and survive closing the original" {
	start_tls_echo
	local c; c=$(client_conf io "$EPORT")
	run shim "$c" timeout 30 "$PROGS/iomix" 127.0.0.1 "$EPORT"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "ok dup family"
	assert_contains "$output" "ok close copies"
	assert_contains "$output" "all ok"
}

@test "both ends shimmed: iomix against the shimmed echo server" {
	start_echo_server iosrv
	local c; c=$(client_conf io "$PORT")
	run shim "$c" timeout 30 "$PROGS/iomix" 127.0.0.1 "$PORT"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "all ok"
}

@test "server closes: the shimmed client's read returns 0 (openssl s_server -www)" {
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$port" -Verify 1 \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -www
	wait_port "$port"
	local c; c=$(client_conf eof "$port")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$port" $'GET / HTTP/1.0\r\n\r\n'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "HTTP/1.0 200 ok"
	assert_contains "$stderr" "EOF"
}

@test "both ends shimmed: server closes after replying, client sees the reply then EOF" {
	start_echo_server eofsrv -p http
	local c; c=$(client_conf eof "$PORT")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$PORT" $'GET /bye HTTP/1.0\r\n\r\n'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "request: GET /bye HTTP/1.0"
	assert_contains "$stderr" "EOF"
}

@test "both ends shimmed: client shutdown(SHUT_WR), the server sees EOF and still replies" {
	start_echo_server eofsrv -p count
	local c; c=$(client_conf eof "$PORT")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -s 127.0.0.1 "$PORT" hello
	show
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "got 5 bytes sum=532" ]
	assert_contains "$stderr" "EOF"
	assert_file_has "$SRVOUT" '^done 1 in=5 out=20$'
}

@test "socat half-closes to the shimmed server; the server sees EOF and still replies" {
	start_echo_server eofsrv -p count
	run bash -c "printf 'hello' | timeout 15 socat -t 10 - 'OPENSSL:127.0.0.1:$PORT,cert=$PKI/client.crt,key=$PKI/client.key,cafile=$PKI/ca.crt'"
	show
	[ "$output" = "got 5 bytes sum=532" ]
}

@test "shimmed client half-closes to a socat TLS server; the server sees EOF and still replies" {
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/socat.out" socat -t 10 \
		"OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/server.crt,key=$PKI/server.key,cafile=$PKI/ca.crt,verify=1" \
		SYSTEM:'wc -c'
	wait_port "$port"
	local c; c=$(client_conf eof "$port")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -s 127.0.0.1 "$port" "twelve bytes"
	show
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(echo $output)" = "12" ]
	assert_contains "$stderr" "EOF"
}

@test "poll/select/epoll report readable only for application data, including data buffered in the shim" {
	start_tls_echo
	local c; c=$(client_conf rd "$EPORT")
	run shim "$c" timeout 30 "$PROGS/readiness" 127.0.0.1 "$EPORT"
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'ok quiet\nok echo\nok buffered\nok eof' ]
}

@test "both ends shimmed: readiness semantics against the shimmed echo server" {
	start_echo_server rdsrv
	local c; c=$(client_conf rd "$PORT")
	run shim "$c" timeout 30 "$PROGS/readiness" 127.0.0.1 "$PORT"
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'ok quiet\nok echo\nok buffered\nok eof' ]
}
