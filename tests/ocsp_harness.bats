#!/usr/bin/env bats
# ocsp_harness.bats: the OCSP harness of tests/ocsp.bash on its own, with plain openssl tools only.

load helpers
load ocsp

setup_file() {
	export OPKI=$BATS_FILE_TMPDIR/opki
	export OPORT; OPORT=$(free_port)
	export OURL=http://127.0.0.1:$OPORT
	mkocsp_pki "$OPKI" "$OURL"
	ocsp_issue "$OPKI" srv /CN=localhost "$OURL"
	ocsp_issue "$OPKI" cli /CN=cli "$OURL" client
	ocsp_issue "$OPKI" isrv /CN=isrv "$OURL" server int
}
teardown() { common_teardown; }

@test "mkocsp_pki and ocsp_issue: certificates with the right extensions and AIA, a real ca database" {
	run openssl verify -CAfile "$OPKI/ca.crt" "$OPKI/srv.crt" "$OPKI/cli.crt" "$OPKI/ocsp.crt" "$OPKI/int.crt"
	show
	[ "$status" -eq 0 ]
	run openssl verify -CAfile "$OPKI/ca.crt" -untrusted "$OPKI/int.crt" "$OPKI/isrv.crt"
	[ "$status" -eq 0 ]
	run openssl x509 -in "$OPKI/srv.crt" -noout -ext subjectAltName,authorityInfoAccess,extendedKeyUsage
	show
	assert_contains "$output" "OCSP - URI:$OURL"
	assert_contains "$output" "DNS:localhost, IP Address:127.0.0.1"
	assert_contains "$output" "TLS Web Server Authentication"
	run openssl x509 -in "$OPKI/ocsp.crt" -noout -ext extendedKeyUsage
	assert_contains "$output" "OCSP Signing"
	run openssl x509 -in "$OPKI/int.crt" -noout -ext authorityInfoAccess,basicConstraints
	show
	assert_contains "$output" "OCSP - URI:$OURL"
	assert_contains "$output" "CA:TRUE"
	run openssl x509 -in "$OPKI/cli.crt" -noout -ext extendedKeyUsage
	refute_contains "$output" "Server Authentication"
	# The database knows every certificate it issued; the chain file is leaf then intermediate.
	[ "$(grep -c '^V' "$OPKI/index.txt")" -eq 6 ]
	[ "$(grep -c 'BEGIN CERTIFICATE' "$OPKI/isrv-chain.crt")" -eq 2 ]
	[ "$(stat -c %a "$OPKI/srv.key")" = 644 ]
}

@test "responder: good, then revoked after ocsp_revoke while it runs; the query count" {
	local pki=$BATS_TEST_TMPDIR/pki url port
	port=$(free_port)
	url=http://127.0.0.1:$port
	mkocsp_pki "$pki"
	ocsp_issue "$pki" victim /CN=victim "$url" client
	ocsp_issue "$pki" other /CN=other "$url" client
	ocsp_responder_start "$pki" "$port"
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 0 ]
	run ocsp_ask "$pki" victim "$url"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "victim.crt: good"
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 1 ]
	ocsp_revoke "$pki" victim
	grep -q '^R.*/CN=victim$' "$pki/index.txt"
	# The very next query already sees it (ocsp_revoke made the responder reload).
	run ocsp_ask "$pki" victim "$url"
	show
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "victim.crt: revoked"
	run ocsp_ask "$pki" other "$url"
	assert_contains "$output" "other.crt: good"
	# ocsp_revoke's own reload query is not counted.
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 3 ]
	ocsp_responder_stop
	run ocsp_ask "$pki" other "$url"
	refute_contains "$output" "other.crt: good"
}

@test "responder for the intermediate's certificates (OCSP_CA=int)" {
	local port; port=$(free_port)
	OCSP_CA=int ocsp_responder_start "$OPKI" "$port"
	run ocsp_ask "$OPKI" isrv "http://127.0.0.1:$port" int
	show
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "isrv.crt: good"
}

@test "ocsp_staple: an offline DER response that openssl verifies for its certificate" {
	local out=$BATS_TEST_TMPDIR/srv.der
	ocsp_staple "$OPKI" srv "$out"
	run openssl ocsp -respin "$out" -issuer "$OPKI/ca.crt" -cert "$OPKI/srv.crt" -CAfile "$OPKI/ca.crt"
	show
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "srv.crt: good"
	assert_contains "$output" "Next Update:"
	run openssl ocsp -respin "$out" -resp_text -noverify
	assert_contains "$output" "OCSP Response Status: successful"
	# -nmin replaces the default day (openssl would add the two).
	ocsp_staple "$OPKI" srv "$BATS_TEST_TMPDIR/short.der" -nmin 5
	run openssl ocsp -respin "$BATS_TEST_TMPDIR/short.der" -resp_text -noverify
	local next; next=$(date -u -d "$(sed -n 's/^ *Next Update: //p' <<<"$output")" +%s)
	[ $(( next - $(date +%s) )) -le 300 ] && [ $(( next - $(date +%s) )) -ge 240 ]
	# One made by the intermediate's signer, for the intermediate's certificate.
	ocsp_staple "$OPKI" isrv "$BATS_TEST_TMPDIR/isrv.der"
	run openssl ocsp -respin "$BATS_TEST_TMPDIR/isrv.der" -issuer "$OPKI/int.crt" -cert "$OPKI/isrv.crt" \
		-CAfile "$OPKI/ca-chain.crt"
	show
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "isrv.crt: good"
	# openssl s_server staples it (-status_file), s_client -status shows it.
	local sport; sport=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$sport" \
		-cert "$OPKI/srv.crt" -key "$OPKI/srv.key" -status_file "$out" -www
	wait_port "$sport"
	run bash -c "timeout 10 openssl s_client -connect 127.0.0.1:$sport -status -CAfile '$OPKI/ca.crt' </dev/null 2>&1"
	show
	assert_contains "$output" "OCSP Response Status: successful"
	assert_contains "$output" "Cert Status: good"
}

@test "ocsp_staple after ocsp_revoke says revoked; ocsp_staple_dated makes an expired one" {
	local pki=$BATS_TEST_TMPDIR/pki
	mkocsp_pki "$pki"
	ocsp_issue "$pki" gone /CN=gone http://127.0.0.1:9/
	ocsp_revoke "$pki" gone
	ocsp_staple "$pki" gone "$BATS_TEST_TMPDIR/gone.der"
	run openssl ocsp -respin "$BATS_TEST_TMPDIR/gone.der" -issuer "$pki/ca.crt" -cert "$pki/gone.crt" -CAfile "$pki/ca.crt"
	show
	assert_contains "$output" "gone.crt: revoked"
	ocsp_staple_dated "$OPKI" srv "$BATS_TEST_TMPDIR/old.der" -7200 -3600
	run openssl ocsp -respin "$BATS_TEST_TMPDIR/old.der" -issuer "$OPKI/ca.crt" -cert "$OPKI/srv.crt" -CAfile "$OPKI/ca.crt"
	show
	assert_contains "$output" "Response verify OK"
	assert_contains "$output" "status expired"
	ocsp_staple_dated "$OPKI" srv "$BATS_TEST_TMPDIR/rev.der" -60 3600 revoked
	run openssl ocsp -respin "$BATS_TEST_TMPDIR/rev.der" -issuer "$OPKI/ca.crt" -cert "$OPKI/srv.crt" -CAfile "$OPKI/ca.crt"
	assert_contains "$output" "srv.crt: revoked"
}
