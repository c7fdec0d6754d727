# redis-setup.bash: the fixture suites' setup (tests/library.bats runs them): a throwaway PKI and
# redis-server under a server rule on PORT, stopped by mtls_teardown.
setup() {
	mtls_pki "$BATS_TEST_TMPDIR/pki"
	PORT=$(mtls_free_port)
	mtls_start "$(mtls_server_conf "$PORT")" redis-server --port "$PORT" --bind 127.0.0.1 \
		--save '' --appendonly no --dir "$BATS_TEST_TMPDIR"
}
teardown() { mtls_teardown; }
