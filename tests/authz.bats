#!/usr/bin/env bats
# authz.bats: who may connect (allow_cn/dns/uri/ip), server_name, crl_file, TLS versions and ciphers,
# session resumption: real peers on both sides, checked by what they see and what the log says.

load helpers

setup_file() {
	common_setup_file
	local cli='extendedKeyUsage = clientAuth, serverAuth'
	# SPIFFE-style workloads (usable as client or server).
	issue_cert "$PKI" web /CN=web "$cli"$'\nsubjectAltName = DNS:web.prod.example.test, URI:spiffe://example.test/ns/prod/sa/web'
	issue_cert "$PKI" stg /CN=web "$cli"$'\nsubjectAltName = DNS:web.staging.example.test, URI:spiffe://example.test/ns/staging/sa/web'
	issue_cert "$PKI" deep /CN=deep "$cli"$'\nsubjectAltName = DNS:a.web.prod.example.test, URI:spiffe://example.test/ns/prod/sa/web/v2'
	issue_cert "$PKI" other /CN=web "$cli"$'\nsubjectAltName = DNS:web.prod.other.test, URI:spiffe://other.test/ns/prod/sa/web'
	issue_cert "$PKI" upper /CN=Upper "$cli"$'\nsubjectAltName = DNS:API.Prod.Example.TEST'
	# IP identities.
	issue_cert "$PKI" ip10 /CN=ip10 "$cli"$'\nsubjectAltName = IP:10.1.2.3'
	issue_cert "$PKI" ip6 /CN=ip6 "$cli"$'\nsubjectAltName = IP:fd00::5'
	issue_cert "$PKI" ip192 /CN=ip192 "$cli"$'\nsubjectAltName = IP:192.168.7.7'
	# Servers for server_name.
	issue_cert "$PKI" db /CN=db "$cli"$'\nsubjectAltName = DNS:db.example.test'
	issue_cert "$PKI" cnonly /CN=db.example.test "$cli"$'\nsubjectAltName = DNS:other.example.test'
	# Revocation.
	issue_cert "$PKI" revoked /CN=revoked "$cli"$'\nsubjectAltName = DNS:revoked.test'
	issue_cert "$PKI" revoked-srv /CN=localhost "$cli"$'\nsubjectAltName = DNS:localhost, IP:127.0.0.1'
	mkcrl "$PKI" "$PKI/crl.pem" "$PKI/revoked.crt" "$PKI/revoked-srv.crt"
	mkcrl "$PKI" "$PKI/crl-empty.pem"
}
setup() { require_build; }
teardown() { common_teardown; }

# srv NAME PORT [LINE...], cli NAME PORT [LINE...]: a server (client) rule config presenting
# the server (client) cert, with LINEs inside the rule block.
srv() { rule_conf server "$1" "$2" server "${@:3}"; }
cli() { rule_conf client "$1" "$2" client "${@:3}"; }

# start_py CONF: a shimmed python http.server on $PORT serving "secret page"; sets PYOUT, SRVLOG.
start_py() {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "secret page" > "$BATS_TEST_TMPDIR/www/index.txt"
	SRVLOG=$(sed -n 's/^log_file = "\(.*\)"$/\1/p' "$1")
	PYOUT=$BATS_TEST_TMPDIR/py.out
	shim_bg "$PYOUT" "$1" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$PORT"
	wait_port "$PORT"
}

# curl_as CERT-BASE: GET /index.txt presenting PKI/CERT-BASE.
curl_as() {
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/$1.crt" --key "$PKI/$1.key" \
		"https://127.0.0.1:$PORT/index.txt"
	show
}

# admitted CERT-BASE RULE: the client gets the page, the program saw one more request, the log an accept.
admitted() {
	local before; before=$(count "$PYOUT" 'GET /index.txt')
	curl_as "$1"
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	wait_for "$PYOUT" 'GET /index.txt' 5
	wait_for "$SRVLOG" "accepted rule=$2 " 5
	[ "$(count "$PYOUT" 'GET /index.txt')" -eq $((before + 1)) ]
}

# refused CERT-BASE RULE SUBJECT-ERE: curl fails, the refusal names the identity, the program saw nothing new.
refused() {
	local before; before=$(count "$PYOUT" 'GET ')
	local nref; nref=$(count "$SRVLOG" "refused rule=$2 ")
	curl_as "$1"
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	local i
	for i in $(seq 1 50); do
		[ "$(count "$SRVLOG" "refused rule=$2 ")" -gt "$nref" ] && break
		sleep 0.1
	done
	[ "$(count "$SRVLOG" "refused rule=$2 ")" -eq $((nref + 1)) ]
	assert_file_has "$SRVLOG" "refused rule=$2 peer=127\\.0\\.0\\.1:[0-9]+ reason=\"identity not allowed: subject=$3"
	sleep 0.2
	[ "$(count "$PYOUT" 'GET ')" -eq "$before" ]
}

# assert_fail_closed CONF WORD...: exit 78 before the program runs, one stderr line naming each
# WORD; `mtlsshim check` says the same.
assert_fail_closed() {
	local c=$1 w; shift
	assert_start_refused "$c" "$@"
	run --separate-stderr launcher check -c "$c"
	echo "[check] status=$status stdout=$output"
	echo "[check] stderr=$stderr"
	[ "$status" -eq 78 ]
	[[ "$stderr" == "mtlsshim: "* ]]
	for w in "$@"; do assert_contains "$stderr" "$w"; done
}

# ---------------------------------------------------------------------------------------------
# Server side: allow lists

@test "allow_cn admits the named client and refuses another client of the same CA" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_cn = {"client", "nobody-*"}')"
	admitted client az
	refused client2 az 'CN=client2 san=DNS:client\.test"'
	refute_file_has "$SRVLOG" 'accepted rule=az .*CN=client2'
}

@test "allow_cn is case-insensitive and supports * within the name" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_cn = {"CLIENT", "upp*"}')"
	admitted client az
	admitted upper az
	refused client2 az 'CN=client2 '
	refused web az 'CN=web '
}

@test "allow_dns with * admits one label only; ** spans labels; matching ignores case" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_dns = {"*.prod.example.test"}')"
	admitted web az
	admitted upper az
	refused stg az 'CN=web san=DNS:web\.staging\.example\.test,URI:spiffe://example\.test/ns/staging/sa/web"'
	refused deep az 'CN=deep san=DNS:a\.web\.prod\.example\.test'
	refused client az 'CN=client san=DNS:client\.test"'
	kill_bg || true
	PORT=$(free_port)
	start_py "$(srv az2 "$PORT" 'allow_dns = {"**.example.test"}')"
	admitted deep az2
	admitted stg az2
	refused other az2 'CN=web san=DNS:web\.prod\.other\.test'
	refused client az2 'CN=client '
}

@test "allow_uri with SPIFFE IDs: * is one path segment" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_uri = {"spiffe://example.test/ns/prod/sa/*"}')"
	admitted web az
	refused stg az 'CN=web san=[^"]*URI:spiffe://example\.test/ns/staging/sa/web'
	refused deep az 'CN=deep san=[^"]*URI:spiffe://example\.test/ns/prod/sa/web/v2'
	refused other az 'CN=web san=[^"]*URI:spiffe://other\.test/ns/prod/sa/web'
	# A certificate without any URI SAN.
	refused client az 'CN=client '
}

@test "allow_uri with SPIFFE IDs: ** spans segments, several patterns are alternatives" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_uri = {"spiffe://example.test/ns/*/sa/web", "spiffe://example.test/ns/prod/**"}')"
	admitted web az
	admitted stg az
	admitted deep az
	refused other az 'CN=web san=[^"]*URI:spiffe://other\.test/'
}

@test "allow_uri is case-sensitive" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_uri = {"SPIFFE://example.test/ns/prod/sa/web"}')"
	refused web az 'CN=web '
}

@test "allow_ip matches IP SANs by CIDR and address, not the peer's address" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_ip = {"10.0.0.0/8", "fd00::5"}')"
	admitted ip10 az
	admitted ip6 az
	refused ip192 az 'CN=ip192 san=IP:192\.168\.7\.7"'
	refused client az 'CN=client '
	kill_bg || true
	# The peer connects from 127.0.0.1, but its certificate names no address: refused.
	PORT=$(free_port)
	start_py "$(srv az2 "$PORT" 'allow_ip = {"127.0.0.0/8", "::1"}')"
	refused client az2 'CN=client san=DNS:client\.test"'
	refused ip10 az2 'CN=ip10 san=IP:10\.1\.2\.3"'
}

@test "a peer is admitted when any pattern of any list matches" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT" 'allow_cn = {"client"}' 'allow_dns = {"*.staging.example.test"}' \
		'allow_uri = {"spiffe://example.test/ns/prod/sa/web"}' 'allow_ip = {"10.0.0.0/8"}')"
	admitted client az	# by CN
	admitted stg az		# by DNS
	admitted web az		# by URI
	admitted ip10 az	# by IP
	refused client2 az 'CN=client2 '
	refused deep az 'CN=deep '
	refused ip192 az 'CN=ip192 '
}

@test "allow lists at the top level apply to rules; a rule's own list replaces them" {
	PORT=$(free_port)
	local p2; p2=$(free_port)
	local c; c=$(conf az <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	allow_cn = {"client2"}
	server "inherit" {
	    port = $PORT
	}
	server "own" {
	    port = $p2
	    allow_cn = {"client"}
	}
	EOF
	)
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "secret page" > "$BATS_TEST_TMPDIR/www/index.txt"
	SRVLOG=$BATS_TEST_TMPDIR/az.log
	PYOUT=$BATS_TEST_TMPDIR/py.out
	shim_bg "$PYOUT" "$c" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$PORT"
	shim_bg "$BATS_TEST_TMPDIR/py2.out" "$c" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$p2"
	wait_port "$PORT"
	wait_port "$p2"
	admitted client2 inherit
	refused client inherit 'CN=client '
	PYOUT=$BATS_TEST_TMPDIR/py2.out PORT=$p2
	admitted client own
	refused client2 own 'CN=client2 '
}

@test "no allow lists: any certificate the CA vouches for is admitted" {
	PORT=$(free_port)
	start_py "$(srv az "$PORT")"
	admitted client az
	admitted client2 az
	admitted other az
	refute_file_has "$SRVLOG" 'identity not allowed'
}

@test "a refused identity never reaches the C server, even when s_client sends data at once" {
	PORT=$(free_port)
	local c; c=$(srv csrv "$PORT" 'allow_uri = {"spiffe://example.test/ns/prod/**"}')
	SRVLOG=$BATS_TEST_TMPDIR/csrv.log
	SRVOUT=$BATS_TEST_TMPDIR/csrv.out
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" "$PORT"
	wait_port "$PORT"
	run bash -c "(printf 'sneaky data\n'; sleep 2) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/stg.crt' -key '$PKI/stg.key' -connect 127.0.0.1:$PORT"
	show
	refute_contains "$output" "sneaky data"
	wait_for "$SRVLOG" 'refused rule=csrv peer=127\.0\.0\.1:[0-9]+ reason="identity not allowed: subject=CN=web san=DNS:web\.staging\.example\.test,URI:spiffe://example\.test/ns/staging/sa/web"'
	refute_file_has "$SRVOUT" '^accept '
	run bash -c "(printf 'good data\n'; sleep 3) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/web.crt' -key '$PKI/web.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "good data" ]
	[ "$(count "$SRVOUT" '^accept ')" -eq 1 ]
	assert_file_has "$SRVLOG" 'accepted rule=csrv .*URI:spiffe://example\.test/ns/prod/sa/web'
}

# ---------------------------------------------------------------------------------------------
# Client side: pinning the server's identity

# socat_sink CERT-BASE: a socat TLS server that appends what it receives to $RECV; sets SPORT.
socat_sink() {
	SPORT=$(free_port)
	RECV=$BATS_TEST_TMPDIR/received
	: > "$RECV"
	bg "$BATS_TEST_TMPDIR/socat.out" socat -t 5 \
		"OPENSSL-LISTEN:$SPORT,bind=127.0.0.1,reuseaddr,fork,cert=$PKI/$1.crt,key=$PKI/$1.key,cafile=$PKI/ca.crt,verify=1" \
		"OPEN:$RECV,creat,append"
	wait_port "$SPORT"
}

@test "client allow_dns pins the server: the right server is reached" {
	s_server_rev server
	local c; c=$(cli pin "$SPORT" 'allow_dns = {"localhost"}')
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'pinned hello\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "olleh dennip" ]
	assert_file_has "$BATS_TEST_TMPDIR/pin.log" "connected rule=pin peer=127\\.0\\.0\\.1:$SPORT .*subject=\"CN=localhost\""
}

@test "client allow_dns pins the server: another server of the same CA is refused, nothing reaches it" {
	socat_sink client2
	local c; c=$(cli pin "$SPORT" 'allow_dns = {"localhost", "*.example.test"}')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'plaintext secret\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "connect: Connection refused"
	wait_for "$BATS_TEST_TMPDIR/pin.log" "refused rule=pin peer=127\\.0\\.0\\.1:$SPORT reason=\"identity not allowed: subject=CN=client2 san=DNS:client\\.test\""
	refute_file_has "$BATS_TEST_TMPDIR/pin.log" 'connected rule=pin'
	sleep 0.5
	[ ! -s "$RECV" ]
}

@test "client allow_uri pins a SPIFFE server identity" {
	s_server_rev web
	local c; c=$(cli pin "$SPORT" 'allow_uri = {"spiffe://example.test/ns/prod/sa/*"}')
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'spiffe\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "effips" ]
	kill_bg || true
	socat_sink stg
	c=$(cli pin2 "$SPORT" 'allow_uri = {"spiffe://example.test/ns/prod/sa/*"}')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'to staging\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Connection refused"
	wait_for "$BATS_TEST_TMPDIR/pin2.log" 'refused rule=pin2 .*reason="identity not allowed: subject=CN=web san=[^"]*URI:spiffe://example\.test/ns/staging/sa/web'
	sleep 0.5
	[ ! -s "$RECV" ]
}

# ---------------------------------------------------------------------------------------------
# server_name

@test "server_name is sent as SNI and verified: s_server switches to the named cert only on that SNI" {
	# Without SNI (or with another name) s_server presents server.crt (localhost); only SNI
	# db.example.test selects db.crt, which is the only cert valid for that name.
	SPORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$SPORT" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" \
		-servername db.example.test -servername_fatal -cert2 "$PKI/db.crt" -key2 "$PKI/db.key" -tlsextdebug -rev
	wait_port "$SPORT"
	local c; c=$(cli sni "$SPORT" 'server_name = "db.example.test"')
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'named\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "deman" ]
	assert_file_has "$BATS_TEST_TMPDIR/s_server.out" 'TLS client extension "server name"'
	assert_file_has "$BATS_TEST_TMPDIR/s_server.out" 'db\.example\.'
	assert_file_has "$BATS_TEST_TMPDIR/sni.log" "connected rule=sni peer=127\\.0\\.0\\.1:$SPORT .*subject=\"CN=db\" san=\"DNS:db\\.example\\.test\""
}

@test "server_name mismatch: connect fails with ECONNREFUSED, 'hostname mismatch', nothing sent" {
	socat_sink server
	local c; c=$(cli sni "$SPORT" 'server_name = "db.example.test"')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'to the wrong host\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "connect: Connection refused"
	wait_for "$BATS_TEST_TMPDIR/sni.log" "refused rule=sni peer=127\\.0\\.0\\.1:$SPORT reason=\"[^\"]*hostname mismatch"
	sleep 0.5
	[ ! -s "$RECV" ]
}

@test "server_name: no CN fallback when the cert has SANs" {
	# cnonly: CN=db.example.test, SAN DNS:other.example.test.
	socat_sink cnonly
	local c; c=$(cli sni "$SPORT" 'server_name = "db.example.test"')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'cn fallback\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Connection refused"
	wait_for "$BATS_TEST_TMPDIR/sni.log" 'refused rule=sni .*reason="[^"]*hostname mismatch'
	sleep 0.5
	[ ! -s "$RECV" ]
	# The SAN name is fine.
	kill_bg || true
	s_server_rev cnonly
	c=$(cli sni2 "$SPORT" 'server_name = "other.example.test"')
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'by san\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "nas yb" ]
}

@test "server_name with an IP address checks IP SANs" {
	s_server_rev server
	local c; c=$(cli sni "$SPORT" 'server_name = "127.0.0.1"')
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'by ip\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "pi yb" ]
	kill_bg || true
	socat_sink server
	c=$(cli sni2 "$SPORT" 'server_name = "10.9.9.9"')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'wrong ip\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Connection refused"
	wait_for "$BATS_TEST_TMPDIR/sni2.log" 'refused rule=sni2 .*reason="[^"]*IP address mismatch'
	sleep 0.5
	[ ! -s "$RECV" ]
}

@test "server_name at the top level or in a server rule fails closed" {
	local c
	c=$(conf top <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server_name = "db.example.test"
	client "c" {
	    port = 5432
	}
	EOF
	)
	assert_fail_closed "$c" server_name
	c=$(srv s 8443 'server_name = "db.example.test"')
	assert_fail_closed "$c" server_name
}

# ---------------------------------------------------------------------------------------------
# crl_file

@test "crl_file: a revoked client is refused with 'certificate revoked'; others are served" {
	PORT=$(free_port)
	start_py "$(srv crl "$PORT" "crl_file = \"$PKI/crl.pem\"")"
	curl_as revoked
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=crl peer=127\.0\.0\.1:[0-9]+ reason="[^"]*certificate revoked'
	refute_file_has "$PYOUT" 'GET '
	admitted client crl
	admitted client2 crl
}

@test "crl_file: an empty CRL revokes nobody" {
	PORT=$(free_port)
	start_py "$(srv crl "$PORT" "crl_file = \"$PKI/crl-empty.pem\"")"
	admitted revoked crl
}

@test "crl_file on a client rule: a revoked server is refused" {
	socat_sink revoked-srv
	local c; c=$(cli crlc "$SPORT" "crl_file = \"$PKI/crl.pem\"")
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$SPORT" $'to a revoked server\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Connection refused"
	wait_for "$BATS_TEST_TMPDIR/crlc.log" "refused rule=crlc peer=127\\.0\\.0\\.1:$SPORT reason=\"[^\"]*certificate revoked"
	sleep 0.5
	[ ! -s "$RECV" ]
	kill_bg || true
	s_server_rev server
	c=$(cli crlc2 "$SPORT" "crl_file = \"$PKI/crl.pem\"")
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'fine\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "enif" ]
}

@test "crl_file that does not exist fails closed" {
	local c; c=$(srv crl 8443 "crl_file = \"$BATS_TEST_TMPDIR/missing-crl.pem\"")
	assert_fail_closed "$c" missing-crl.pem
}

# ---------------------------------------------------------------------------------------------
# TLS versions, ciphers, groups

@test "min_tls_version 1.3: s_client -tls1_2 is refused, -tls1_3 is served" {
	PORT=$(free_port)
	local c; c=$(srv v13 "$PORT" 'min_tls_version = "1.3"')
	SRVOUT=$BATS_TEST_TMPDIR/v13.out
	shim_bg "$SRVOUT" "$c" "$PROGS/echo_server" "$PORT"
	wait_port "$PORT"
	run bash -c "(printf 'old protocol\n'; sleep 2) | timeout 10 openssl s_client -quiet -tls1_2 -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "old protocol"
	wait_for "$BATS_TEST_TMPDIR/v13.log" 'refused rule=v13 peer=127\.0\.0\.1:[0-9]+ reason='
	refute_file_has "$SRVOUT" '^accept '
	run bash -c "(printf 'new protocol\n'; sleep 3) | timeout 10 openssl s_client -quiet -tls1_3 -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "new protocol" ]
	assert_file_has "$BATS_TEST_TMPDIR/v13.log" 'accepted rule=v13 .*version=TLSv1\.3'
}

@test "min_tls_version 1.2 (the default) still serves TLS 1.2 clients" {
	PORT=$(free_port)
	start_py "$(srv v12 "$PORT")"
	run curl -sS --max-time 10 --tls-max 1.2 --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
		"https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	assert_file_has "$SRVLOG" 'accepted rule=v12 .*version=TLSv1\.2'
}

@test "min_tls_version 1.3 on a client rule: a TLS 1.2-only server is refused" {
	SPORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$SPORT" -tls1_2 -Verify 1 \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -rev
	wait_port "$SPORT"
	local c; c=$(cli v13c "$SPORT" 'min_tls_version = "1.3"')
	run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'never\n'
	show
	[ "$status" -eq 2 ]
	assert_contains "$stderr" "Connection refused"
	wait_for "$BATS_TEST_TMPDIR/v13c.log" "refused rule=v13c peer=127\\.0\\.0\\.1:$SPORT reason="
}

@test "ciphersuites and ciphers restrict what is negotiated" {
	PORT=$(free_port)
	start_py "$(srv cs "$PORT" 'ciphersuites = "TLS_CHACHA20_POLY1305_SHA256"' 'ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"')"
	run mcurl "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	assert_file_has "$SRVLOG" 'accepted rule=cs .*version=TLSv1\.3 cipher=TLS_CHACHA20_POLY1305_SHA256'
	run mcurl --tls-max 1.2 "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	assert_file_has "$SRVLOG" 'accepted rule=cs .*version=TLSv1\.2 cipher=ECDHE-ECDSA-AES128-GCM-SHA256'
	# A TLS 1.2 client offering only another cipher gets nothing.
	run bash -c "printf 'GET /index.txt HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -tls1_2 \
		-cipher ECDHE-ECDSA-CHACHA20-POLY1305 -CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' \
		-connect 127.0.0.1:$PORT"
	show
	refute_contains "$output" "secret page"
	[ "$status" -ne 0 ]
}

@test "groups restricts key exchange groups" {
	PORT=$(free_port)
	start_py "$(srv grp "$PORT" 'groups = "P-256"')"
	run bash -c "printf 'GET /index.txt HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -groups P-256 \
		-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT"
	show
	assert_contains "$output" "secret page"
	run bash -c "printf 'GET /index.txt HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -groups X25519 \
		-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
}

@test "bad option values fail closed, naming the option" {
	local c
	c=$(srv bad 8443 'min_tls_version = "1.1"');		assert_fail_closed "$c" min_tls_version
	c=$(srv bad 8443 'min_tls_version = "tls13"');		assert_fail_closed "$c" min_tls_version
	c=$(srv bad 8443 'ciphers = "NO-SUCH-CIPHER"');		assert_fail_closed "$c" ciphers
	c=$(srv bad 8443 'ciphersuites = "TLS_NO_SUCH_SUITE"');	assert_fail_closed "$c" ciphersuites
	c=$(srv bad 8443 'groups = "P-999"');			assert_fail_closed "$c" groups
	c=$(srv bad 8443 'allow_ip = {"10.0.0.0/33"}');		assert_fail_closed "$c" allow_ip
	c=$(srv bad 8443 'allow_ip = {"not-an-address"}');	assert_fail_closed "$c" allow_ip
	c=$(srv bad 8443 'session_resumption = "maybe"');	assert_fail_closed "$c" session_resumption
	c=$(conf badtop <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	min_tls_version = "1.0"
	server "s" {
	    port = 8443
	}
	EOF
	)
	assert_fail_closed "$c" min_tls_version
}

# ---------------------------------------------------------------------------------------------
# Session resumption

# twice_py: a python3 program that connects to 127.0.0.1:PORT once per further argument
# (each "HOST" or "HOST:PORT"), sends a line, prints the echoed line, closes.
twice_py() {
	local f=$BATS_TEST_TMPDIR/twice.py
	cat > "$f" <<-'PY'
	import socket, sys
	port = int(sys.argv[1])
	for i, target in enumerate(sys.argv[2:] or ["127.0.0.1", "127.0.0.1"]):
	    host, _, p = target.partition(":")
	    s = socket.create_connection((host, int(p or port)), timeout=10)
	    s.sendall(b"round %d\n" % i)
	    buf = b""
	    while not buf.endswith(b"\n"):
	        d = s.recv(100)
	        if not d:
	            break
	        buf += d
	    print(buf.decode().strip(), flush=True)
	    s.close()
	PY
	echo "$f"
}

# resumed_seq LOG WHAT RULE: the resumed= values of WHAT ("accepted"/"connected") lines, space-separated.
resumed_seq() {
	grep -E "^mtlsshim\\[[0-9]+\\]: $2 rule=$3 " "$1" | sed -nE 's/.* resumed=(yes|no)$/\1/p' | tr '\n' ' ' | sed 's/ $//'
}

# resume_echo N [echo_server options]: a shimmed echo_server (rule res) and a shimmed python
# client (rule resc) connecting N times in a row; waits until the server logged N accepts.
resume_echo() {
	local n=$1 i targets=()
	shift
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/res.out" "$sc" "$PROGS/echo_server" "$@" "$PORT"
	wait_port "$PORT"
	for i in $(seq 1 "$n"); do targets+=(127.0.0.1); done
	local cc; cc=$(cli resc "$PORT")
	run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT" "${targets[@]}"
	show
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^round')" -eq "$n" ]
	for i in $(seq 1 50); do [ "$(count "$BATS_TEST_TMPDIR/res.log" 'accepted rule=res ')" -ge "$n" ] && break; sleep 0.1; done
	cat "$BATS_TEST_TMPDIR/resc.log" "$BATS_TEST_TMPDIR/res.log"
}

@test "session resumption: a shimmed client's second connection resumes; both ends log resumed=yes" {
	resume_echo 2
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no yes" ]
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/res.log" accepted res)" = "no yes" ]
}

@test "session resumption with a fork-per-connection server: the parent handshakes, and keeps the sessions its children served" {
	resume_echo 3 -m fork
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no yes yes" ]
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/res.log" accepted res)" = "no yes yes" ]
}

@test "session resumption with pre-forked workers: a worker resumes a ticket another worker issued" {
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT")
	# Listens, then forks 3 workers that each accept and echo, like nginx or apache prefork.
	cat > "$BATS_TEST_TMPDIR/prefork.py" <<-'PY'
	import os, socket, sys
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", int(sys.argv[1])))
	s.listen(16)
	kids = []
	for _ in range(3):
	    pid = os.fork()
	    if pid == 0:
	        while True:
	            c, _ = s.accept()
	            c.sendall(c.recv(100))
	            c.close()
	    kids.append(pid)
	print("workers", *kids, flush=True)
	os.wait()
	PY
	shim_bg "$BATS_TEST_TMPDIR/res.out" "$sc" python3 "$BATS_TEST_TMPDIR/prefork.py" "$PORT"
	wait_for "$BATS_TEST_TMPDIR/res.out" workers
	local cc; cc=$(cli resc "$PORT")
	run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT" 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1
	show
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^round')" -eq 6 ]
	local i
	for i in $(seq 1 50); do [ "$(count "$BATS_TEST_TMPDIR/res.log" 'accepted rule=res ')" -ge 6 ] && break; sleep 0.1; done
	cat "$BATS_TEST_TMPDIR/resc.log" "$BATS_TEST_TMPDIR/res.log"
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no yes yes yes yes yes" ]
	# More than one worker served them.
	[ "$(grep 'accepted rule=res ' "$BATS_TEST_TMPDIR/res.log" | sed -E 's/^mtlsshim\[([0-9]+)\].*/\1/' | sort -u | wc -l)" -ge 2 ]
	for i in $(sed -n 's/^workers //p' "$BATS_TEST_TMPDIR/res.out"); do kill "$i" 2>/dev/null || true; done
}

@test "session resumption, client side, TLS 1.2: one session id serves every reconnect" {
	PORT=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -tls1_2 -rev -accept "127.0.0.1:$PORT" \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -Verify 1
	wait_port "$PORT"
	local cc; cc=$(cli resc "$PORT")
	run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT" 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1
	show
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c 'dnuor')" -eq 4 ]
	cat "$BATS_TEST_TMPDIR/resc.log"
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no yes yes yes" ]
}

@test "session_resumption = false on both sides: every connection is a full handshake" {
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT" 'session_resumption = false')
	shim_bg "$BATS_TEST_TMPDIR/res.out" "$sc" "$PROGS/echo_server" "$PORT"
	wait_port "$PORT"
	local cc; cc=$(cli resc "$PORT" 'session_resumption = false')
	run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT"
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'round 0\nround 1' ]
	local i
	for i in $(seq 1 50); do [ "$(count "$BATS_TEST_TMPDIR/res.log" 'accepted rule=res ')" -ge 2 ] && break; sleep 0.1; done
	cat "$BATS_TEST_TMPDIR/resc.log" "$BATS_TEST_TMPDIR/res.log"
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no no" ]
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/res.log" accepted res)" = "no no" ]
}

@test "session_resumption = false on one side is enough to disable it" {
	local side
	for side in server client; do
		PORT=$(free_port)
		local s_opt=() c_opt=()
		if [ $side = server ]; then s_opt=('session_resumption = false'); else c_opt=('session_resumption = false'); fi
		local sc; sc=$(srv "res$side" "$PORT" "${s_opt[@]}")
		shim_bg "$BATS_TEST_TMPDIR/res$side.out" "$sc" "$PROGS/echo_server" "$PORT"
		wait_port "$PORT"
		local cc; cc=$(cli "resc$side" "$PORT" "${c_opt[@]}")
		run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT"
		show
		[ "$status" -eq 0 ]
		[ "$output" = $'round 0\nround 1' ]
		local i
		for i in $(seq 1 50); do [ "$(count "$BATS_TEST_TMPDIR/res$side.log" "accepted rule=res$side ")" -ge 2 ] && break; sleep 0.1; done
		echo "[$side off]"; cat "$BATS_TEST_TMPDIR/resc$side.log" "$BATS_TEST_TMPDIR/res$side.log"
		[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc$side.log" connected "resc$side")" = "no no" ]
		[ "$(resumed_seq "$BATS_TEST_TMPDIR/res$side.log" accepted "res$side")" = "no no" ]
	done
}

@test "session resumption: the client's cache is keyed by server address" {
	# Two independent shimmed servers on 127.0.0.1 and 127.0.0.2, same port, same client rule.
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/resA.out" "$sc" "$PROGS/echo_server" -b 127.0.0.1 "$PORT"
	shim_bg "$BATS_TEST_TMPDIR/resB.out" "$sc" "$PROGS/echo_server" -b 127.0.0.2 "$PORT"
	wait_port "$PORT"
	local i
	for i in $(seq 1 100); do
		[ "$(ss -Hltn "sport = :$PORT" | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	local cc; cc=$(cli resc "$PORT")
	run shim "$cc" timeout 20 python3 "$(twice_py)" "$PORT" 127.0.0.1 127.0.0.2 127.0.0.1 127.0.0.2
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'round 0\nround 1\nround 2\nround 3' ]
	cat "$BATS_TEST_TMPDIR/resc.log"
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/resc.log" connected resc)" = "no no yes yes" ]
	grep -E 'connected rule=resc peer=127\.0\.0\.1:' "$BATS_TEST_TMPDIR/resc.log" | tail -n 1 | grep -q 'resumed=yes$'
	grep -E 'connected rule=resc peer=127\.0\.0\.2:' "$BATS_TEST_TMPDIR/resc.log" | tail -n 1 | grep -q 'resumed=yes$'
}

@test "session resumption: openssl s_client -sess_out/-sess_in is Reused (TLS 1.3 and 1.2)" {
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/res.out" "$sc" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	local v sess
	for v in tls1_3 tls1_2; do
		sess=$BATS_TEST_TMPDIR/$v.sess
		run bash -c "(printf 'first\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_out '$sess' -CAfile '$PKI/ca.crt' \
			-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>&1"
		show
		assert_contains "$output" "New, TLSv1."
		assert_contains "$output" "first"
		[ -s "$sess" ]
		run bash -c "(printf 'second\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_in '$sess' -CAfile '$PKI/ca.crt' \
			-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>&1"
		show
		assert_contains "$output" "Reused, TLSv1."
		assert_contains "$output" "second"
	done
	cat "$BATS_TEST_TMPDIR/res.log"
	[ "$(resumed_seq "$BATS_TEST_TMPDIR/res.log" accepted res)" = "no yes no yes" ]
}

@test "session_resumption = false: s_client -sess_in is not Reused" {
	PORT=$(free_port)
	local sc; sc=$(srv res "$PORT" 'session_resumption = false')
	shim_bg "$BATS_TEST_TMPDIR/res.out" "$sc" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	local sess=$BATS_TEST_TMPDIR/s.sess v
	for v in tls1_3 tls1_2; do
		run bash -c "(printf 'first\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_out '$sess' -CAfile '$PKI/ca.crt' \
			-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>&1"
		show
		assert_contains "$output" "first"
		if [ -s "$sess" ]; then
			run bash -c "(printf 'second\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_in '$sess' -CAfile '$PKI/ca.crt' \
				-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>&1"
			show
			assert_contains "$output" "second"
			refute_contains "$output" "Reused,"
		fi
		rm -f "$sess"
	done
	refute_file_has "$BATS_TEST_TMPDIR/res.log" 'resumed=yes'
}

@test "a session from a permissive rule cannot be resumed on a stricter rule of the same process" {
	# One echo_server process, two listening ports: "open" admits any client, "admin" only CN=client.
	PORT=$(free_port)
	local p2; p2=$(free_port)
	local c; c=$(conf two <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "open" {
	    port = $PORT
	}
	server "admin" {
	    port = $p2
	    allow_cn = {"client"}
	}
	EOF
	)
	SRVLOG=$BATS_TEST_TMPDIR/two.log
	# Two shimmed servers from one config are two processes; one process with both ports needs
	# a program that listens twice: python's socketserver in two threads.
	local py=$BATS_TEST_TMPDIR/two.py
	cat > "$py" <<-'PY'
	import socketserver, sys, threading
	class Echo(socketserver.StreamRequestHandler):
	    def handle(self):
	        for line in self.rfile:
	            self.wfile.write(line)
	socketserver.ThreadingTCPServer.allow_reuse_address = True
	servers = [socketserver.ThreadingTCPServer(("127.0.0.1", int(p)), Echo) for p in sys.argv[1:]]
	for s in servers[1:]:
	    threading.Thread(target=s.serve_forever, daemon=True).start()
	print("listening", flush=True)
	servers[0].serve_forever()
	PY
	shim_bg "$BATS_TEST_TMPDIR/two.out" "$c" python3 -u "$py" "$PORT" "$p2"
	wait_port "$PORT"
	wait_port "$p2"
	local v sess
	for v in tls1_3 tls1_2; do
		sess=$BATS_TEST_TMPDIR/$v.sess
		run bash -c "(printf 'open $v\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_out '$sess' -CAfile '$PKI/ca.crt' \
			-cert '$PKI/client2.crt' -key '$PKI/client2.key' -connect 127.0.0.1:$PORT 2>&1"
		show
		assert_contains "$output" "open $v"
		[ -s "$sess" ]
		# The same session offered to the admin port: no resumption, and client2 is refused there.
		run bash -c "(printf 'admin $v\n'; sleep 1) | timeout 10 openssl s_client -$v -sess_in '$sess' -CAfile '$PKI/ca.crt' \
			-cert '$PKI/client2.crt' -key '$PKI/client2.key' -connect 127.0.0.1:$p2 2>&1"
		show
		refute_contains "$output" "Reused,"
		refute_contains "$output" "admin $v"
	done
	refute_file_has "$SRVLOG" 'accepted rule=admin'
	assert_file_has "$SRVLOG" 'refused rule=admin .*identity not allowed: subject=CN=client2'
}
