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

# Idle sessions give OpenSSL's buffers back (sweep.c) while busy ones keep them.
# A python3 server under the shim: connection A's bytes arrive and epoll reports
# them (a record is decrypted, more wait behind it), then the server only polls
# connection B for 0.6 s, each poll a chance to sweep; A's bytes must all still be
# there.  Then both sit idle past two sweeps and must still carry data both ways.
@test "both ends shimmed: bytes left unread through idle sweeps arrive intact, and idle connections keep working" {
	local port; port=$(free_port)
	local s c; s=$(server_conf idlesrv "$port"); c=$(client_conf idlecli "$port")
	sed -i 's/^log_level = .*/log_level = "debug"/' "$s"
	cat > "$BATS_TEST_TMPDIR/srv.py" <<-'PY'
	import hashlib, select, socket, sys, time
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(("127.0.0.1", int(sys.argv[1])))
	ls.listen(4)
	a, _ = ls.accept()
	b, _ = ls.accept()
	ep = select.epoll()
	ep.register(a.fileno(), select.EPOLLIN)
	if not ep.poll(10):
	    sys.exit("no data on A")
	end, polls = time.monotonic() + 0.6, 0
	while time.monotonic() < end and polls < 100:
	    select.select([b], [], [], 0.05)
	    polls += 1
	data = b""
	while len(data) < 300000:
	    chunk = a.recv(65536)
	    if not chunk:
	        break
	    data += chunk
	a.sendall(b"%d %s\n" % (len(data), hashlib.sha256(data).hexdigest().encode()))
	for conn in (a, b):
	    line = conn.recv(100)
	    time.sleep(0.3)
	    conn.sendall(b"again " + line)
	print("server done polls=%d" % polls, flush=True)
	PY
	cat > "$BATS_TEST_TMPDIR/cli.py" <<-'PY'
	import hashlib, os, socket, sys, time
	port = int(sys.argv[1])
	a = socket.create_connection(("127.0.0.1", port), timeout=20)
	b = socket.create_connection(("127.0.0.1", port), timeout=20)
	data = os.urandom(300000)
	a.sendall(data)
	f = a.makefile("rb")
	got = f.readline().decode().split()
	want = [str(len(data)), hashlib.sha256(data).hexdigest()]
	print("hash ok" if got == want else "hash mismatch %r" % got, flush=True)
	time.sleep(0.5)
	for name, conn in (("a", a), ("b", b)):
	    conn.sendall(b"ping-" + name.encode())
	    reply = conn.recv(100) if conn is b else f.read1(100)
	    print(reply.decode(), flush=True)
	PY
	shim_bg "$BATS_TEST_TMPDIR/srv.out" "$s" timeout 60 python3 "$BATS_TEST_TMPDIR/srv.py" "$port"
	wait_port "$port"
	run shim "$c" timeout 60 python3 "$BATS_TEST_TMPDIR/cli.py" "$port"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "hash ok"
	assert_contains "$output" "again ping-a"
	assert_contains "$output" "again ping-b"
	wait_for "$BATS_TEST_TMPDIR/srv.out" "server done" 10
	# The sweeps did free buffers (B's while A's bytes waited, then both).
	assert_file_has "$BATS_TEST_TMPDIR/idlesrv.log" "freed the TLS buffers of [0-9]+ idle connection"
}
