#!/usr/bin/env bats
# ocsp.bats: ocsp = leaf|chain against real `openssl ocsp` responders (tests/ocsp.bash): good and
# revoked peers on both sides, staples, responders down or slow, ocsp_require, the cache.

load helpers
load ocsp

setup_file() {
	export PKI=$BATS_FILE_TMPDIR/opki
	export OPORT IPORT SLOWPORT DOWNPORT
	OPORT=$(free_port); IPORT=$(free_port); SLOWPORT=$(free_port); DOWNPORT=$(free_port)
	export OURL=http://127.0.0.1:$OPORT IURL=http://127.0.0.1:$IPORT
	mkocsp_pki "$PKI" "$OURL"
	ocsp_issue "$PKI" srv /CN=localhost "$OURL"
	ocsp_issue "$PKI" rsrv /CN=localhost "$OURL"
	ocsp_issue "$PKI" cli /CN=cli "$OURL" client
	ocsp_issue "$PKI" cli2 /CN=cli2 "$OURL" client
	ocsp_issue "$PKI" rcli /CN=rcli "$OURL" client
	ocsp_issue "$PKI" slowcli /CN=slowcli "http://127.0.0.1:$SLOWPORT" client
	ocsp_issue "$PKI" downcli /CN=downcli "http://127.0.0.1:$DOWNPORT" client
	ocsp_issue "$PKI" icli /CN=icli "$IURL" client int
	ocsp_revoke "$PKI" rsrv
	ocsp_revoke "$PKI" rcli
}
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# osrv NAME PORT [LINES]: a server rule with ocsp = "leaf" (LINES may override it).
osrv() {
	conf "$1" <<-EOF
	cert_file = "$PKI/srv.crt"
	key_file = "$PKI/srv.key"
	server "$1" {
	    port = $2
	    ocsp = "leaf"
	    $3
	}
	EOF
}

# start_osrv NAME [LINES]: the echo server (epoll, all connections at once) under osrv; sets PORT and SRVLOG.
start_osrv() {
	PORT=$(free_port)
	local c; c=$(osrv "$1" "$PORT" "${2:-}")
	SRVLOG=$T/$1.log
	shim_bg "$T/$1.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
}

# say CERT TEXT: an unshimmed s_client presenting $PKI/CERT sends TEXT to PORT; prints the echo.
say() {
	{ printf '%s\n' "$2"; sleep 1; } | timeout 15 openssl s_client -quiet -no_ign_eof -verify_return_error \
		-CAfile "$PKI/ca.crt" -cert "$PKI/$1.crt" -key "$PKI/$1.key" \
		-connect "127.0.0.1:$PORT" 2>/dev/null
}

# ocli NAME PORT [CERT] [LINES]: a client rule with ocsp = "leaf".
ocli() {
	conf "$1" <<-EOF
	cert_file = "$PKI/${3:-cli}.crt"
	key_file = "$PKI/${3:-cli}.key"
	client "$1" {
	    port = $2
	    ocsp = "leaf"
	    $4
	}
	EOF
}

# s_server_on CERT [ARGS...]: openssl s_server -rev with $PKI/CERT, demanding a client cert; sets SPORT.
s_server_on() {
	local cert=$1; shift
	SPORT=$(free_port)
	bg "$T/s_server.out" openssl s_server -accept "127.0.0.1:$SPORT" -Verify 1 -verify_return_error \
		-cert "$PKI/$cert.crt" -key "$PKI/$cert.key" -CAfile "$PKI/ca.crt" -rev "$@"
	wait_port "$SPORT"
}

# A responder that accepts and never answers.
start_silent_responder() {
	bg "$T/silent.out" python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
for _ in range(200):
    held.append(s.accept())' "$SLOWPORT"
	wait_port "$SLOWPORT"
}

@test "server: a good client is served; a revoked one is refused, logged 'certificate revoked (OCSP)'" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_osrv os
	wire_start "$PORT"
	run say cli "hello good"
	show
	[ "$output" = "hello good" ]
	run say rcli "hello revoked"
	show
	refute_contains "$output" "hello revoked"
	wait_for "$SRVLOG" 'refused rule=os peer=127\.0\.0\.1:[0-9]+ reason="certificate revoked \(OCSP\)"' 5
	assert_file_has "$SRVLOG" 'accepted rule=os peer=127\.0\.0\.1:[0-9]+ subject="CN=cli"'
	# The program saw one connection: the good one.
	[ "$(count "$T/os.out" '^accept [0-9]')" -eq 1 ]
	wire_check --min-conns 2
}

@test "server: a revoked client asked about again gets a certificate_revoked alert from the cache" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_osrv os
	run say rcli "first"
	wait_for "$SRVLOG" 'refused .*certificate revoked \(OCSP\)' 5
	run bash -c "{ echo again; sleep 1; } | timeout 10 openssl s_client -quiet -no_ign_eof -CAfile '$PKI/ca.crt' \
		-cert '$PKI/rcli.crt' -key '$PKI/rcli.key' -connect 127.0.0.1:$PORT 2>&1"
	show
	assert_contains "$output" "alert certificate revoked"
	[ "$(count "$SRVLOG" 'refused .*certificate revoked \(OCSP\)')" -eq 2 ]
	# One query: the second answer came from the cache.
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 1 ]
}

@test "server: ten connections with one certificate ask the responder once" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_osrv os
	wire_start "$PORT"
	local i
	for i in $(seq 10); do
		run say cli2 "n$i"
		[ "$output" = "n$i" ]
	done
	[ "$(count "$SRVLOG" 'accepted rule=os .*CN=cli2')" -eq 10 ]
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 1 ]
	wire_check --min-conns 10
}

@test "server: responder down refuses with ocsp_require (the default); ocsp_require = false admits and warns" {
	start_osrv os
	run say downcli "no answer"
	show
	refute_contains "$output" "no answer"
	wait_for "$SRVLOG" 'refused rule=os peer=[^ ]+ reason="OCSP responder connect: Connection refused"' 5
	start_osrv soft "ocsp_require = false"
	wire_start "$PORT"
	run say downcli "admitted"
	show
	[ "$output" = admitted ]
	assert_file_has "$SRVLOG" 'rule=soft peer=127\.0\.0\.1:[0-9]+: no definite OCSP answer \(OCSP responder connect: Connection refused\); admitted: ocsp_require = false'
	assert_file_has "$SRVLOG" 'accepted rule=soft .*CN=downcli'
	wire_check --min-conns 1
}

@test "server: while one client's responder is silent, other clients are served; it is refused at ocsp_timeout" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_silent_responder
	start_osrv os "ocsp_timeout = 6"
	# cli's status is cached first; then slowcli waits for its silent responder.
	run say cli warm
	[ "$output" = warm ]
	{ printf 'slow\n'; sleep 8; } | timeout 15 openssl s_client -quiet -no_ign_eof -CAfile "$PKI/ca.crt" \
		-cert "$PKI/slowcli.crt" -key "$PKI/slowcli.key" -connect "127.0.0.1:$PORT" \
		> "$T/slow.out" 2>&1 &
	local slow=$! i
	wait_for "$SRVLOG" 'key_file' 5
	for i in 1 2 3 4 5; do
		run say cli "during $i"
		[ "$output" = "during $i" ]
	done
	# All five were served before the silent responder's exchange gave up.
	refute_file_has "$SRVLOG" 'slowcli|did not answer'
	wait_for "$SRVLOG" 'refused rule=os peer=[^ ]+ reason="OCSP responder did not answer within 6s"' 10
	wait "$slow" || true
	refute_contains "$(cat "$T/slow.out")" "slow"
	[ "$(count "$SRVLOG" 'accepted rule=os .*CN=cli"')" -eq 6 ]
}

@test "server: ocsp = chain refuses a client whose intermediate is revoked; leaf mode does not ask about it" {
	local P=$T/chainpki ip
	ip=$(free_port)
	mkocsp_pki "$P" "http://127.0.0.1:$OPORT"
	ocsp_issue "$P" srv /CN=localhost "http://127.0.0.1:$OPORT"
	ocsp_issue "$P" icli /CN=icli "http://127.0.0.1:$ip" client int
	OCSP_CA=int ocsp_responder_start "$P" "$ip"
	ocsp_responder_start "$P" "$OPORT"
	ocsp_revoke "$P" int
	local save=$PKI; PKI=$P
	start_osrv ch 'ocsp = "chain"'
	run timeout 10 bash -c "{ echo chained; sleep 1; } | openssl s_client -quiet -no_ign_eof -CAfile '$P/ca.crt' \
		-cert '$P/icli.crt' -cert_chain '$P/int.crt' -key '$P/icli.key' -connect 127.0.0.1:$PORT 2>/dev/null"
	show
	refute_contains "$output" chained
	wait_for "$SRVLOG" 'refused rule=ch peer=[^ ]+ reason="certificate revoked \(OCSP\)"' 5
	start_osrv lf 'ocsp = "leaf"'
	run timeout 10 bash -c "{ echo leafonly; sleep 1; } | openssl s_client -quiet -no_ign_eof -CAfile '$P/ca.crt' \
		-cert '$P/icli.crt' -cert_chain '$P/int.crt' -key '$P/icli.key' -connect 127.0.0.1:$PORT 2>/dev/null"
	show
	[ "$output" = leafonly ]
	PKI=$save
}

@test "client: a good server is reached; a revoked one is refused and the program's connect fails" {
	ocsp_responder_start "$PKI" "$OPORT"
	s_server_on srv
	local c; c=$(ocli oc "$SPORT")
	wire_start "$SPORT"
	run shim "$c" timeout 20 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'hello\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = olleh ]
	s_server_on rsrv
	c=$(ocli oc2 "$SPORT")
	run shim "$c" timeout 20 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'secret\n'
	show
	[ "$status" -eq 2 ]
	refute_contains "$output" terces
	assert_file_has "$T/oc2.log" "refused rule=oc2 peer=127\\.0\\.0\\.1:$SPORT reason=\"certificate revoked \\(OCSP\\)\""
	wire_check --min-conns 1
}

@test "client: a server's staple (s_server -status_file) settles it without asking the responder" {
	ocsp_staple "$PKI" srv "$T/good.der"
	ocsp_staple "$PKI" rsrv "$T/revoked.der"
	# No responder runs: only the staple can say good.
	s_server_on srv -status_file "$T/good.der"
	local c; c=$(ocli st "$SPORT")
	wire_start "$SPORT"
	run shim "$c" timeout 20 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'stapled\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = delpats ]
	s_server_on rsrv -status_file "$T/revoked.der"
	c=$(ocli st2 "$SPORT")
	run shim "$c" timeout 20 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'x\n'
	show
	[ "$status" -eq 2 ]
	assert_file_has "$T/st2.log" 'refused rule=st2 .*reason="certificate revoked \(OCSP\)"'
	wire_check --min-conns 1
}

@test "client: non-blocking connect in poll, epoll LT and ET loops waits for the responder" {
	ocsp_responder_start "$PKI" "$OPORT"
	local m c
	for m in poll epoll epollet; do
		start_echo_peer
		c=$(ocli "nb$m" "$EPORT")
		run shim "$c" timeout 30 "$PROGS/nbclient" -m "$m" 127.0.0.1 "$EPORT" 65536 4096
		show
		[ "$status" -eq 0 ]
		assert_contains "$output" "ok sent=65536 rcvd=65536"
	done
}

# start_echo_peer: socat's OpenSSL echo with $PKI/srv, demanding our CA's client cert; sets EPORT.
start_echo_peer() {
	EPORT=$(free_port)
	bg "$T/tls-echo.out" socat -t 15 \
		"OPENSSL-LISTEN:$EPORT,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/srv.crt,key=$PKI/srv.key,cafile=$PKI/ca.crt,verify=1" \
		EXEC:cat
	wait_port "$EPORT"
}
