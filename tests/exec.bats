#!/usr/bin/env bats
# exec.bats: a wrapped socket handed to a new program image (inetd style, connect-then-exec)
# keeps speaking mTLS through a relay; spawned children never inherit a TLS socket.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

# start_execserve N PROGRAM ARGS...: a shimmed inetd-style server on a fresh port; sets PORT,
# SRVLOG (the library's log) and SRVOUT (the server's own output).
start_execserve() {
	PORT=$(free_port)
	local c; c=$(server_conf exsrv "$PORT")
	SRVLOG=$BATS_TEST_TMPDIR/exsrv.log
	SRVOUT=$BATS_TEST_TMPDIR/exsrv.out
	shim_bg "$SRVOUT" "$c" "$PROGS/execserve" "$PORT" "$@"
	SRVPID=$BGPID
	wait_for "$SRVOUT" '^ready' 10
}

# relay_gone PID: the relay process has ended (gone, or a zombie nobody reaped yet), within 10 s.
relay_gone() {
	local i st
	for i in $(seq 1 100); do
		st=$(ps -o stat= -p "$1" 2>/dev/null || true)
		case $st in ''|Z*) return 0 ;; esac
		sleep 0.1
	done
	echo "relay $1 still running: $st" >&2
	return 1
}

@test "inetd-style server: the exec'd service answers an openssl s_client over mTLS" {
	start_execserve 1 sh -c 'read line; echo "got $line"; echo "on stderr" >&2'
	run bash -c "echo hello | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$PORT \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>/dev/null"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "got hello"
	assert_contains "$output" "on stderr"
	# execserve dup2s the socket onto 0, 1 and 2 before exec: the relay starts at the first dup2.
	wait_for "$SRVLOG" 'relayed rule=exsrv peer=127\.0\.0\.1:[0-9]+ to pid [0-9]+ (across exec|on standard input/output)' 5
	[[ $(cat "$SRVLOG") =~ to\ pid\ ([0-9]+) ]]
	relay_gone "${BASH_REMATCH[1]}"
	wait_for "$SRVOUT" '^done 1' 10
}

@test "inetd-style server: a foreign certificate is refused and the service never runs for it" {
	start_execserve 1 sh -c "touch '$BATS_TEST_TMPDIR/ran'; read line; echo \"got \$line\""
	run bash -c "echo intruder | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$PORT \
		-cert '$PKI/foreign.crt' -key '$PKI/foreign.key' -CAfile '$PKI/ca.crt' 2>&1"
	show
	refute_contains "$output" "got intruder"
	wait_for "$SRVLOG" 'refused rule=exsrv' 5
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
	refute_file_has "$SRVOUT" '^accepted'
	run bash -c "echo friend | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$PORT \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>/dev/null"
	assert_contains "$output" "got friend"
	[ -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "inetd-style server running cat: 8 MB each way through the relay, intact, with a shimmed client" {
	start_execserve 1 cat
	local c; c=$(client_conf excl "$PORT")
	head -c 8388608 /dev/urandom > "$BATS_TEST_TMPDIR/in"
	run shim "$c" timeout 60 python3 -c '
import socket, sys, threading, hashlib
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
def writer():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=writer); t.start()
h, n = hashlib.sha256(), 0
while True:
    b = s.recv(65536)
    if not b: break
    h.update(b); n += len(b)
t.join()
print("sent", hashlib.sha256(data).hexdigest(), len(data))
print("got ", h.hexdigest(), n)
' "$BATS_TEST_TMPDIR/in" "$PORT"
	show
	[ "$status" -eq 0 ]
	local sent got
	sent=$(sed -n 's/^sent //p' <<< "$output")
	got=$(sed -n 's/^got  //p' <<< "$output")
	[ -n "$sent" ] && [ "$sent" = "$got" ]
	wait_for "$SRVOUT" '^done 1' 10
}

@test "inetd-style server: two clients at once, each served by its own service and relay" {
	start_execserve 2 sh -c 'read line; sleep 1; echo "got $line"'
	local c i; c=$(client_conf excl "$PORT")
	for i in 1 2; do
		bg "$BATS_TEST_TMPDIR/c$i.out" bash -c "echo client-$i | LD_PRELOAD='$PRELOAD' \
			MTLSSHIM_CONFIG='$c' timeout 15 socat -t 5 - TCP:127.0.0.1:$PORT"
	done
	wait_for "$BATS_TEST_TMPDIR/c1.out" 'got client-1' 10
	wait_for "$BATS_TEST_TMPDIR/c2.out" 'got client-2' 10
	[ "$(count "$SRVLOG" 'relayed rule=exsrv')" -eq 2 ]
}

@test "connect, then exec a program on the socket: it talks to a TLS echo server through the relay" {
	start_tls_echo
	local c; c=$(client_conf exc "$EPORT")
	run shim "$c" timeout 20 "$PROGS/execconnect" 127.0.0.1 "$EPORT" exec \
		sh -c 'echo ping-through-relay; read r; echo "reply=$r" >&2'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "reply=ping-through-relay"
	assert_file_has "$BATS_TEST_TMPDIR/exc.log" 'relayed rule=exc'
}

@test "system() child does not inherit the TLS socket: no plaintext, the session carries on" {
	start_tls_echo
	local c; c=$(client_conf exs "$EPORT")
	run shim "$c" timeout 20 "$PROGS/execconnect" 127.0.0.1 "$EPORT" system \
		'echo PLAINTEXT-FROM-CHILD >&$SOCK && echo child-wrote || echo child-could-not-write'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "child-could-not-write"
	assert_contains "$output" "echo: after-system"
	refute_contains "$output" "PLAINTEXT-FROM-CHILD"
}

@test "inetd-style server: the exec'd service sees the TCP peer and local addresses, and may set TCP options" {
	start_execserve 1 python3 -c '
import socket
s = socket.socket(fileno=0)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("family", s.family.name)
print("peer", s.getpeername()[0])
print("local", s.getsockname()[0], s.getsockname()[1])
'
	run bash -c "echo | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$PORT \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>&1"
	show
	assert_contains "$output" "family AF_INET"
	assert_contains "$output" "peer 127.0.0.1"
	assert_contains "$output" "local 127.0.0.1 $PORT"
}

# helper_case MODE COMMAND: a shimmed client starts COMMAND in MODE's way while holding a
# connection to a TLS echo server; the connection must carry on intact afterwards.
helper_case() {
	start_tls_echo
	local c; c=$(client_conf exh "$EPORT")
	run shim "$c" timeout 20 "$PROGS/execconnect" 127.0.0.1 "$EPORT" "$1" "$2"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "echo: after-$1"
	refute_contains "$output" "PLAINTEXT"
	refute_file_has "$BATS_TEST_TMPDIR/exh.log" 'relayed'
}

@test "a forked helper exec'd with the connection still open does not take it: the parent carries on" {
	helper_case forkhelper 'sleep 0.5; echo helper ran'
	assert_contains "$output" "helper ran"
}

@test "posix_spawn with the TLS socket dup2'd onto the child's stdout is refused (EINVAL); the session carries on" {
	helper_case spawn 'echo PLAINTEXT-FROM-SPAWNED-CHILD'
	assert_contains "$output" "spawn: EINVAL"
	assert_file_has "$BATS_TEST_TMPDIR/exh.log" 'posix_spawn refused'
}

@test "a vfork child that dup2s and closes the socket before exec leaves the parent's session alone" {
	helper_case vfork 'echo PLAINTEXT-FROM-VFORK-CHILD || true'
}

@test "SO_RCVTIMEO set before exec bounds the program's reads, not the relay's: an idle peer is kept" {
	start_tls_echo
	local c; c=$(client_conf ext "$EPORT")
	MTLSSHIM_TEST_RCVTIMEO=1 run shim "$c" timeout 20 "$PROGS/execconnect" 127.0.0.1 "$EPORT" exec \
		sh -c 'sleep 2; echo late-ping; read r; echo "reply=$r" >&2'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "reply=late-ping"
}

@test "a shell that opened the connection, ran a command, then exec'd a program: the program still has it" {
	start_tls_echo
	local c; c=$(client_conf exb "$EPORT")
	# bash's /dev/tcp connects; the fork for /bin/true must not make the session look inherited.
	run shim "$c" timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$EPORT; /bin/true; \
		exec python3 -c 'import os; os.write(3, b\"ping-after-fork\\n\"); print(\"reply:\", os.read(3, 100))'"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "reply: b'ping-after-fork"
	assert_file_has "$BATS_TEST_TMPDIR/exb.log" 'relayed rule=exb'
}
