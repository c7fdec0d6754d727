#!/usr/bin/env bats
# regress.bats: regressions from the engine review (Fast Open, EINTR connects, epoll cookies and
# one-shot, close races, non-blocking shutdown and dropped writes, listeners added to epoll early).
# (An epoll registration made before connect() is covered by nonblock.bats, -E.)

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

SECRET=SECRET-PLAINTEXT-4b1d

# start_rawpeek NAME [rawpeek options...]: a plain, never-TLS server without the shim, on a
# fresh port; sets RPORT and RAWOUT and waits until it is ready.
start_rawpeek() {
	local name=$1; shift
	RPORT=$(free_port)
	RAWOUT=$BATS_TEST_TMPDIR/$name.out
	bg "$RAWOUT" "$PROGS/rawpeek" "$@" "$RPORT"
	RAWPID=$BGPID
	wait_for "$RAWOUT" '^ready ' 10
}

# no_plaintext_seen FILE N: the plain server's report for N connections says each got only a
# TLS record (first byte 0x16, a ClientHello) or nothing, and the secret never showed up.
no_plaintext_seen() {
	local i
	for i in $(seq 1 "$2"); do
		assert_file_has "$1" "^conn $i bytes=([0-9]+ first=0x16|0 first=none)\$"
	done
	refute_file_has "$1" "SECRET"
}

# wait_exit PID SECONDS: bounded wait for a background job to end.
wait_exit() {
	local i
	for i in $(seq 1 $(( $2 * 10 ))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "process $1 still running after $2 s" >&2
	return 1
}

@test "TCP Fast Open (sendto and sendmsg) to a matched port never sends plaintext to a non-TLS server" {
	start_rawpeek raw -n 2 -q 1500
	local c; c=$(client_conf tfo "$RPORT")
	local out1 out2
	out1=$(shim "$c" timeout 30 "$PROGS/tfo" -m sendto 127.0.0.1 "$RPORT" "$SECRET" 2>&1) || true
	out2=$(shim "$c" timeout 30 "$PROGS/tfo" -m sendmsg 127.0.0.1 "$RPORT" "$SECRET" 2>&1) || true
	echo "client: $out1"
	echo "client: $out2"
	wait_exit "$RAWPID" 20
	cat "$RAWOUT"
	no_plaintext_seen "$RAWOUT" 2
	# A TLS handshake with a plain server cannot succeed: the program must not be told it sent.
	refute_contains "$out1" "sendto(MSG_FASTOPEN) = ${#SECRET}"
	refute_contains "$out2" "sendmsg(MSG_FASTOPEN) = ${#SECRET}"
}

@test "both ends shimmed: TCP Fast Open (sendto and sendmsg) payload arrives intact through TLS" {
	start_echo_server tfosrv
	local c; c=$(client_conf tfo "$PORT")
	for m in sendto sendmsg; do
		run shim "$c" timeout 30 "$PROGS/tfo" -m $m -e 127.0.0.1 "$PORT" "$SECRET-$m"
		show
		[ "$status" -eq 0 ]
		[ "$output" = "$m(MSG_FASTOPEN) = $(( ${#SECRET} + 1 + ${#m} ))"$'\necho ok' ]
	done
	[ "$(count "$SRVLOG" 'accepted rule=tfosrv')" -eq 2 ]
	assert_file_has "$BATS_TEST_TMPDIR/tfo.log" "connected rule=tfo peer=127\\.0\\.0\\.1:$PORT"
}

# eintr_case MODE: a blocking connect whose SYN the plain server holds (backlog 0, a filler in the
# accept queue, accept after 2 s) is interrupted by SIGALRM; the program then goes on with MODE.
eintr_case() {
	start_rawpeek raw -b 0 -f -d 3 -q 1500
	local c; c=$(client_conf eintr "$RPORT")
	run shim "$c" timeout 40 "$PROGS/eintr" -m "$1" 127.0.0.1 "$RPORT" "$SECRET"
	show
	# The scenario really ran: connect() was interrupted while the SYN was held.
	assert_contains "$output" "connect = -1 (Interrupted system call)"
	# The handshake with a non-TLS server cannot succeed: the program is told so.
	[ "$status" -ne 0 ]
	refute_contains "$output" "write = ${#SECRET} "
	wait_exit "$RAWPID" 30
	cat "$RAWOUT"
	no_plaintext_seen "$RAWOUT" 1
}

@test "connect() interrupted by a signal, then poll + SO_ERROR + write: no plaintext reaches a non-TLS server" {
	eintr_case poll
}

@test "connect() interrupted by a signal, then connect() again + write: no plaintext reaches a non-TLS server" {
	eintr_case again
}

@test "epoll: dup, register with data 7777, close, 100k times while another thread waits: only 7777 comes back" {
	start_echo_server cksrv
	local c; c=$(client_conf ck "$PORT")
	run shim "$c" timeout 120 "$PROGS/epcookie" 127.0.0.1 "$PORT" 100000
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "closer: 100000 iterations"
	[[ "$output" =~ events:\ program=([0-9]+)\ foreign=0 ]]
	[ "${BASH_REMATCH[1]}" -gt 0 ]
}

@test "close() while another thread is blocked in recv(): the reader gets an error, never the new connection's bytes" {
	start_echo_server crsrv
	start_rawpeek plain -n 10 -g HELLO-PLAIN -q 300
	local c i; c=$(client_conf cr "$PORT")
	# The outcome may depend on when the old peer's close arrives: ten rounds.
	for i in $(seq 1 10); do
		run shim "$c" timeout 40 "$PROGS/closerace" 127.0.0.1 "$PORT" "$RPORT" HELLO-PLAIN
		echo "round $i"
		show
		refute_contains "$output" "reader got:"
		refute_contains "$output" "reader still blocked"
		[[ "$output" =~ reader:\ recv\ =\ -1\  ]]
		assert_contains "$output" "new connection: got HELLO-PLAIN"
		[ "$status" -eq 0 ]
	done
	# The new connections were plain (no rule): their peer saw nothing, TLS or otherwise.
	wait_exit "$RAWPID" 20
	[ "$(count "$RAWOUT" '^conn [0-9]+ bytes=0 first=none$')" -eq 10 ]
}

@test "both ends shimmed: shutdown(SHUT_WR) with a full send path returns at once; the peer gets every byte, then EOF" {
	local port gate=$BATS_TEST_TMPDIR/gate
	port=$(free_port)
	local sc; sc=$(server_conf sinksrv "$port")
	shim_bg "$BATS_TEST_TMPDIR/sink.out" "$sc" "$PROGS/sinksrv" "$port" "$gate"
	local spid=$BGPID
	wait_port "$port"
	local c; c=$(client_conf fill "$port")
	run shim "$c" timeout 60 "$PROGS/nbfill" -m shut 127.0.0.1 "$port" "$gate"
	show
	wait_exit "$spid" 30
	cat "$BATS_TEST_TMPDIR/sink.out"
	[ "$status" -eq 0 ]
	assert_contains "$output" "shutdown = 0 (ok)"
	assert_contains "$output" "recv(MSG_DONTWAIT) = -1 (Resource temporarily unavailable)"
	# Neither call waited for the peer: the peer started reading only when the gate opened,
	# which the client does after both calls returned.
	assert_file_has "$BATS_TEST_TMPDIR/sink.out" '^gate=go$'
	[[ "$output" =~ accepted=([0-9]+)\ hash=([0-9a-f]+) ]]
	local n=${BASH_REMATCH[1]} h=${BASH_REMATCH[2]}
	[ "$n" -gt 0 ]
	assert_file_has "$BATS_TEST_TMPDIR/sink.out" "^total=$n hash=$h "
	assert_file_has "$BATS_TEST_TMPDIR/sink.out" '^eof$'
	assert_contains "$output" "peer: total=$n hash=$h"
	assert_contains "$output" $'\neof'
}

@test "a wrapped socket passed as the epoll fd: epoll_ctl/epoll_wait fail with EINVAL or EBADF, the socket still works" {
	start_echo_server bepsrv
	local c; c=$(client_conf bep "$PORT")
	run shim "$c" timeout 30 "$PROGS/badepfd" 127.0.0.1 "$PORT"
	show
	[ "$status" -eq 0 ]
	[ "$(grep -Ec ' = -1 \((Invalid argument|Bad file descriptor)\)$' <<< "$output")" -eq 5 ]
	assert_contains "$output" "echo ok"
}

@test "both ends shimmed: EPOLLONESHOT re-armed for EPOLLIN still fires when the reply follows the TLS 1.3 tickets" {
	local port; port=$(free_port)
	local sc; sc=$(server_conf dsrv "$port")
	shim_bg "$BATS_TEST_TMPDIR/dsrv.out" "$sc" "$PROGS/delayecho" "$port" 500
	wait_port "$port"
	local c; c=$(client_conf os "$port")
	run shim "$c" timeout 40 "$PROGS/oneshot" 127.0.0.1 "$port" REQ-1
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "reply: reply:REQ-1"
	[[ "$output" =~ wait2\ n=1\ events=0x[0-9a-f]*[1357]\ data=42 ]]
	assert_file_has "$BATS_TEST_TMPDIR/os.log" "connected rule=os .*version=TLSv1\\.3"
	assert_file_has "$BATS_TEST_TMPDIR/dsrv.out" '^replied 1$'
}

# preadd_case [-a]: a shimmed epoll server; a shimmed client must be served after a wake.
preadd_case() {
	local port; port=$(free_port)
	local sc; sc=$(server_conf pasrv "$port")
	shim_bg "$BATS_TEST_TMPDIR/pa.out" "$sc" "$PROGS/preadd" "$@" "$port"
	local spid=$BGPID
	wait_port "$port"
	local c; c=$(client_conf pacli "$port")
	run --separate-stderr shim "$c" timeout 30 "$PROGS/client" 127.0.0.1 "$port" hello-epoll
	show
	wait_exit "$spid" 25
	cat "$BATS_TEST_TMPDIR/pa.out"
	[ "$status" -eq 0 ]
	[ "$output" = "pong:hello-epoll" ]
	assert_file_has "$BATS_TEST_TMPDIR/pa.out" '^wait n=1$'
	assert_file_has "$BATS_TEST_TMPDIR/pa.out" '^accept = [0-9]+ \(ok\)$'
	assert_file_has "$BATS_TEST_TMPDIR/pa.out" '^served: hello-epoll$'
	assert_file_has "$BATS_TEST_TMPDIR/pasrv.log" 'accepted rule=pasrv'
}

@test "both ends shimmed: a listener added to epoll before listen() wakes epoll_wait for a verified peer" {
	preadd_case
}

@test "both ends shimmed: a listener added to epoll after listen() (control)" {
	preadd_case -a
}

@test "both ends shimmed: a non-blocking writer drops a message after EAGAIN; the peer gets exactly the accepted bytes, then the marker" {
	local port gate=$BATS_TEST_TMPDIR/gate
	port=$(free_port)
	local sc; sc=$(server_conf sinksrv "$port")
	shim_bg "$BATS_TEST_TMPDIR/sink.out" "$sc" "$PROGS/sinksrv" "$port" "$gate"
	local spid=$BGPID
	wait_port "$port"
	local c; c=$(client_conf fill "$port")
	run shim "$c" timeout 60 "$PROGS/nbfill" -m drop 127.0.0.1 "$port" "$gate"
	show
	wait_exit "$spid" 30
	cat "$BATS_TEST_TMPDIR/sink.out"
	[ "$status" -eq 0 ]
	assert_contains "$output" "marker = 21"
	[[ "$output" =~ accepted=([0-9]+)\ hash=([0-9a-f]+) ]]
	local n=${BASH_REMATCH[1]} h=${BASH_REMATCH[2]}
	[ "$n" -gt 21 ]
	assert_file_has "$BATS_TEST_TMPDIR/sink.out" "^total=$n hash=$h tail=.*MARKER-0123456789-END\$"
	assert_file_has "$BATS_TEST_TMPDIR/sink.out" '^eof$'
	assert_contains "$output" "peer: total=$n hash=$h"
}

@test "both ends shimmed: SO_RCVTIMEO and SO_SNDTIMEO bound blocking recv and send (EAGAIN or a short count)" {
	local port gate=$BATS_TEST_TMPDIR/gate
	port=$(free_port)
	local sc; sc=$(server_conf sinksrv "$port")
	shim_bg "$BATS_TEST_TMPDIR/sink.out" "$sc" "$PROGS/sinksrv" "$port" "$gate"
	local spid=$BGPID
	wait_port "$port"
	local c; c=$(client_conf timeo "$port")
	run shim "$c" timeout 60 "$PROGS/timeo" 127.0.0.1 "$port" "$gate"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "recv = -1 (Resource temporarily unavailable)"
	[[ "$output" =~ send\ =\ ([0-9]+)\ of\ 67108864 || "$output" =~ send\ =\ -1\ \(Resource\ temporarily\ unavailable\) ]]
	wait_exit "$spid" 30
}

@test "one socket in 20 epoll sets (level-triggered): every set reports the reply, also after a dup registered in 12 of them is closed" {
	s_server_rev
	wire_start "$SPORT"
	cat > "$BATS_TEST_TMPDIR/many.py" <<-'PY'
	import select, socket, sys
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
	eps = [select.epoll() for _ in range(20)]
	for e in eps:
	    e.register(s.fileno(), select.EPOLLIN)
	def each_reports(what):
	    for i, e in enumerate(eps):
	        if not e.poll(5):
	            sys.exit(f"set {i} did not report {what}")
	s.sendall(b"hello\n")
	each_reports("the first reply")
	first = s.recv(100)
	d = s.dup()
	for e in eps[:12]:
	    e.register(d.fileno(), select.EPOLLOUT)
	d.close()
	s.sendall(b"again\n")
	each_reports("the second reply")
	print("replies", first.decode().strip(), s.recv(100).decode().strip())
	PY
	local c; c=$(client_conf many "$SPORT")
	run shim "$c" timeout 60 python3 "$BATS_TEST_TMPDIR/many.py" "$SPORT"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "replies olleh niaga" ]
	wire_check
}
