#!/usr/bin/env bats
# redis.bats: redis-server behind mtlsshim, as a user tests it with bats-mtlsshim.
# Run: BATS_LIB_PATH=$PREFIX/lib/bats bats redis.bats   (PREFIX of `make install`; /usr needs none)

bats_load_library bats-mtlsshim

setup() {
	command -v redis-server >/dev/null || skip "redis-server is not installed"
	mtls_pki "$BATS_TEST_TMPDIR/pki"       # ca, server, client, foreign, expired, revoked
	PORT=$(mtls_free_port)
	# One server rule on PORT; the LINE goes inside the rule: refuse what crl.pem revokes.
	CONF=$(mtls_server_conf "$PORT" "crl_file = \"$MTLS_PKI/crl.pem\"")
	mtls_start "$CONF" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$BATS_TEST_TMPDIR"
}

teardown() {
	mtls_teardown
}

@test "a client certificate from our CA is accepted" {
	assert_mtls_accepts "$PORT"
	assert_shim_log "accepted rule=server .*subject=\"CN=client\""
}

@test "no client certificate: refused" {
	assert_mtls_refuses "$PORT" none 'did not return a certificate'
}

@test "a certificate from another CA: refused" {
	assert_mtls_refuses "$PORT" foreign 'unable to get local issuer certificate'
}

@test "an expired certificate: refused" {
	assert_mtls_refuses "$PORT" expired 'certificate has expired'
}

@test "a revoked certificate: refused" {
	assert_mtls_refuses "$PORT" revoked 'certificate revoked'
	refute_shim_log 'accepted rule=server .*CN=revoked'
}

@test "a plaintext client gets no plaintext answer" {
	assert_no_plaintext "$PORT" 'PING\r\n'
}

@test "redis-cli under the shim: PING, SET and GET over mTLS" {
	local cli; cli=$(mtls_client_conf "$PORT")
	run mtls_run "$cli" redis-cli -h 127.0.0.1 -p "$PORT" PING
	[ "$status" -eq 0 ]
	[ "$output" = PONG ]
	run mtls_run "$cli" redis-cli -h 127.0.0.1 -p "$PORT" SET greeting "hello over mtls"
	[ "$output" = OK ]
	run mtls_run "$cli" redis-cli -h 127.0.0.1 -p "$PORT" GET greeting
	[ "$output" = "hello over mtls" ]
	assert_shim_log "connected rule=client peer=127\.0\.0\.1:$PORT"
}
