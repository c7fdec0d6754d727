#!/usr/bin/env bats
# fails.bats: every test fails, each through another bats-mtlsshim function (tests/library.bats
# checks the explanations).
bats_load_library bats-mtlsshim
load redis-setup

@test "accepts a foreign certificate" {
	assert_mtls_accepts "$PORT" foreign
}

@test "refuses the trusted client" {
	assert_mtls_refuses "$PORT" client
}

@test "refuses an expired certificate for the wrong reason" {
	assert_mtls_refuses "$PORT" expired 'certificate revoked'
}

@test "a plaintext redis answers in plaintext" {
	local p; p=$(mtls_free_port)
	mtls_bg "$BATS_TEST_TMPDIR/plain.out" redis-server --port "$p" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$BATS_TEST_TMPDIR"
	mtls_wait_port "$p"
	assert_no_plaintext "$p"
}

@test "a log line that never comes" {
	refute_shim_log 'accepted'
	assert_shim_log 'accepted rule=nosuchrule'
}

@test "a program that cannot start" {
	local c; c=$(MTLS_RULE=broken mtls_server_conf "$(mtls_free_port)" 'key_file = "/nonexistent.key"')
	mtls_start "$c" redis-server --port 1 --save ''
}
