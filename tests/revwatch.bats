#!/usr/bin/env bats
# revwatch.bats: an open connection is cut within 2 s once its peer's certificate is revoked,
# by a CRL replaced on disk or by an OCSP answer learnt from a new connection.

load helpers
load ocsp

setup_file() {
	common_setup_file
	mkcrl "$PKI" "$PKI/crl-empty.pem"
	mkcrl "$PKI" "$PKI/crl-client.pem" "$PKI/client.crt"
}
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# crl_server NAME MODE: echo_server -m MODE under a server rule whose crl_file ($T/crl.pem)
# starts empty; sets PORT and SRVLOG.
crl_server() {
	PORT=$(free_port)
	cp "$PKI/crl-empty.pem" "$T/crl.pem"
	local c; c=$(conf "$1" <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "$1" {
	    port = $PORT
	    crl_file = "$T/crl.pem"
	}
	EOF
	)
	SRVLOG=$T/$1.log
	shim_bg "$T/$1.out" "$c" "$PROGS/echo_server" -m "$2" "$PORT"
	wait_port "$PORT"
}

# long_client CERT OUT: an s_client that sends a line, then another 8 s later; its output to
# OUT, its PID in CLIPID.
long_client() {
	{ echo first; sleep 8; echo second; sleep 2; } | timeout 15 openssl s_client -quiet -no_ign_eof \
		-CAfile "$PKI/ca.crt" -cert "$PKI/$1.crt" -key "$PKI/$1.key" \
		-connect "127.0.0.1:$PORT" > "$2" 2>&1 &
	CLIPID=$!
}

# revoke_and_see NAME: replaces the CRL by one revoking client (a rename, as tools do), then
# expects the cut within 2 s of it (bounded waits, no timing assertion beyond the issue's 2 s).
revoke_and_see() {
	put "$PKI/crl-client.pem" "$T/crl.pem"
	wait_for "$SRVLOG" "closed rule=$1 peer=127\\.0\\.0\\.1:[0-9]+ reason=\"peer certificate revoked\"" 3
}

@test "CRL replaced on disk: the revoked client's open connection is cut (epoll server); another client stays" {
	crl_server ep epoll
	wire_start "$PORT"
	long_client client "$T/c1.out"
	local c1=$CLIPID
	long_client client2 "$T/c2.out"
	local c2=$CLIPID
	wait_for "$T/c1.out" '^first$' 5
	wait_for "$T/c2.out" '^first$' 5
	revoke_and_see ep
	# The program saw end of file on it: echo_server finishes that connection.
	wait_for "$T/ep.out" '^done [0-9]+ in=6 out=6$' 3
	wait "$c1" || true
	refute_file_has "$T/c1.out" '^second$'
	# client2 is not revoked: its second line is echoed.
	wait "$c2" || true
	assert_file_has "$T/c2.out" '^second$'
	[ "$(count "$SRVLOG" 'peer certificate revoked')" -eq 1 ]
	wire_check --min-conns 2
}

@test "CRL replaced on disk: cut while the program is blocked in read (serial server)" {
	crl_server se serial
	wire_start "$PORT"
	long_client client "$T/c1.out"
	local c1=$CLIPID
	wait_for "$T/c1.out" '^first$' 5
	revoke_and_see se
	wait_for "$T/se.out" '^done [0-9]+ in=6 out=6$' 3
	wait "$c1" || true
	refute_file_has "$T/c1.out" '^second$'
	# A new connection with the revoked certificate is refused at the handshake.
	run tls_say "$PORT" 'again\n'
	refute_contains "$output" again
	wait_for "$SRVLOG" 'refused rule=se .*certificate revoked' 5
	wire_check --min-conns 2
}

@test "OCSP: when the cached answer goes stale, an open connection's certificate is asked about again; revoked, it is cut" {
	local P=$T/opki oport
	oport=$(free_port)
	mkocsp_pki "$P"
	ocsp_issue "$P" srv /CN=localhost "http://127.0.0.1:$oport"
	ocsp_issue "$P" cli /CN=cli "http://127.0.0.1:$oport" client
	ocsp_issue "$P" cli2 /CN=cli2 "http://127.0.0.1:$oport" client
	# Answers good for one minute (openssl ocsp's shortest nextUpdate).
	ocsp_responder_start "$P" "$oport" -nmin 1
	PORT=$(free_port)
	local save=$PKI; PKI=$P
	local c; c=$(conf oc <<-EOF
	cert_file = "$P/srv.crt"
	key_file = "$P/srv.key"
	server "oc" {
	    port = $PORT
	    ocsp = "leaf"
	}
	EOF
	)
	SRVLOG=$T/oc.log
	shim_bg "$T/oc.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	wire_start "$PORT"
	{ echo first; sleep 80; echo second; sleep 2; } | timeout 90 openssl s_client -quiet -no_ign_eof \
		-CAfile "$P/ca.crt" -cert "$P/cli.crt" -key "$P/cli.key" -connect "127.0.0.1:$PORT" \
		> "$T/c1.out" 2>&1 &
	local c1=$!
	{ echo first; sleep 80; echo second; sleep 2; } | timeout 90 openssl s_client -quiet -no_ign_eof \
		-CAfile "$P/ca.crt" -cert "$P/cli2.crt" -key "$P/cli2.key" -connect "127.0.0.1:$PORT" \
		> "$T/c2.out" 2>&1 &
	local c2=$!
	wait_for "$T/c1.out" '^first$' 10
	wait_for "$T/c2.out" '^first$' 10
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 2 ]
	ocsp_revoke "$P" cli
	# The answer for cli goes stale within a minute; within 2 s of that it is cut.
	wait_for "$SRVLOG" 'closed rule=oc peer=127\.0\.0\.1:[0-9]+ reason="peer certificate revoked"' 75
	wait_for "$T/oc.out" '^done [0-9]+ in=6 out=6$' 3
	wait "$c1" || true
	refute_file_has "$T/c1.out" '^second$'
	wait "$c2" || true
	assert_file_has "$T/c2.out" '^second$'
	[ "$(count "$SRVLOG" 'peer certificate revoked')" -eq 1 ]
	# One refresh each: cli (revoked) and cli2 (good again).
	[ "$(ocsp_query_count "$OCSP_LOG")" -ge 4 ]
	PKI=$save
	wire_check --min-conns 2
}
