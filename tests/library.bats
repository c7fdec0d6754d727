#!/usr/bin/env bats
# library.bats: bats-mtlsshim as a user meets it: installed by make install, loaded with
# bats_load_library or by path, its example suite passing and its failures readable.

load helpers

EXAMPLE=$REPO/tests/bats-mtlsshim/example/redis.bats
# Suites written to fail in given ways, and to load the library otherwise (not run by `bats tests`).
FIXTURES=$REPO/tests/library

# The build is installed once per file into a private PREFIX. -o: the build's own targets are
# taken as they are, so the install never rebuilds them (say, without build-asan's flags).
setup_file() {
	export PREFIX_DIR=$BATS_FILE_TMPDIR/prefix
	[ -x "$LAUNCHER" ] || return 0
	make -C "$REPO" B="$BUILD" -o "$BUILD/libmtlsshim.so" -o "$BUILD/libmtlsshim-tls.so" \
		-o "$BUILD/mtlsshim" install PREFIX="$PREFIX_DIR" > "$BATS_FILE_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/install.log" >&2; return 1; }
}
setup() {
	require_build
	command -v redis-server >/dev/null || skip "redis-server is not installed (make deps)"
}
teardown() { common_teardown; }

# user_bats FILE: `run`s bats --tap on FILE as a user would: the installed launcher on PATH, the
# installed library on BATS_LIB_PATH, none of our own settings (helpers.bash points MTLSSHIM at
# the build); MTLS_LAUNCH_PREFIX, the sanitizer runtime of our ASan/TSan builds, stays.
user_bats() {
	run env -u MTLSSHIM -u MTLS_PKI -u MTLS_LOG PATH="$PREFIX_DIR/bin:$PATH" \
		BATS_LIB_PATH="$PREFIX_DIR/lib/bats" bats --tap "$1"
	show
}

# tap_block N: the TAP lines of test N of the last user_bats, its diagnostics included.
tap_block() {
	awk -v n="$1" '/^(not )?ok [0-9]+ / { on = ($0 ~ "^(not )?ok " n " ") } on' <<< "$output"
}

# tap_has N TEXT...: test N's TAP lines contain each TEXT.
tap_has() {
	local b t; b=$(tap_block "$1"); shift
	for t in "$@"; do assert_contains "$b" "$t"; done
}

@test "make install puts the library where bats_load_library finds it; the example suite passes against the installed launcher" {
	cmp "$REPO/tests/bats-mtlsshim/load.bash" "$PREFIX_DIR/lib/bats/bats-mtlsshim/load.bash"
	[ -x "$PREFIX_DIR/bin/mtlsshim" ]
	user_bats "$EXAMPLE"
	local n; n=$(grep -c '^@test ' "$EXAMPLE")
	[ "$n" -ge 7 ]
	[ "$status" -eq 0 ]
	[ "$(head -n 1 <<< "$output")" = "1..$n" ]
	[ "$(grep -Ec '^ok [0-9]+ ' <<< "$output")" -eq "$n" ]
	refute_contains "$output" "not ok"
	refute_contains "$output" "# skip"
}

@test "README's example suite is the one tested here" {
	run awk '/^## Testing your service.s mTLS with bats/ { on = 1 } on && /^```$/ && ex { exit }
		ex { print } on && /^```bash$/ { ex = 1 }' "$REPO/README.md"
	[ -n "$output" ]
	[ "$output" = "$(cat "$EXAMPLE")" ]
}

@test "a failing assertion fails its test with a readable explanation" {
	user_bats "$FIXTURES/fails.bats"
	[ "$status" -eq 1 ]
	[ "$(grep -Ec '^not ok ' <<< "$output")" -eq 6 ]
	tap_has 1 "-- mTLS handshake not accepted --" "accepts a client presenting foreign" \
		"got        : the server sent tlsv1 alert unknown ca (alert number 48)" "Verify return code: 0 (ok)"
	[[ $(tap_block 1) =~ refused\ rule=server\ peer=127\.0\.0\.1:[0-9]+\ reason=\"certificate\ verify\ failed:\ unable\ to\ get\ local\ issuer ]]
	tap_has 2 "-- mTLS handshake not refused --" "the handshake completed and the connection stayed open" \
		"accepted rule=server"
	tap_has 3 "-- refused, but not for the expected reason --" 'reason="/certificate revoked/"' \
		"logged reasons: certificate verify failed: certificate has expired"
	tap_has 4 "-- plaintext answered in plaintext --" "byte 0 is not part of a TLS record" "+PONG"
	tap_has 5 "-- no such line in the shim log --" "a line matching /accepted rule=nosuchrule/"
	tap_has 6 "-- mtls_start: redis-server did not start --" "it exited with status 78 before port" \
		"/nonexistent.key"
}

@test "loaded by path from the checkout, MTLSSHIM naming the launcher, without bats-support: plain messages on stderr" {
	# Not on PATH: found through MTLSSHIM only.
	run env -u MTLS_PKI -u MTLS_LOG MTLSSHIM="$PREFIX_DIR/bin/mtlsshim" bats --tap "$FIXTURES/bypath.bats"
	show
	[ "$status" -eq 1 ]
	[ "$(head -n 1 <<< "$output")" = "1..3" ]
	assert_contains "$output" "ok 1 no bats-support here"
	assert_contains "$output" "ok 2 accepted"
	assert_contains "$(tap_block 3)" $'# -- mTLS handshake not refused --\n# expected   : port '
}

@test "with bats-support loaded, failures go through its batslib_decorate and fail" {
	user_bats "$FIXTURES/support.bats"
	[ "$status" -eq 1 ]
	assert_contains "$output" "# FAILED-BY-FAIL"
	assert_contains "$output" "# DECORATED[mTLS handshake not refused]"
	assert_contains "$output" "# expected   : port "
}

@test "mtls_start waits for the port; mtls_teardown stops the program and what it started, by PID" {
	mtls_pki "$BATS_TEST_TMPDIR/pki"
	local port; port=$(mtls_free_port)
	# A shell under the shim starts a child in a session of its own (out of the group) and
	# then, after a second, a server: mtls_start returns only once the server listens.
	mtls_start "$(mtls_server_conf "$port")" bash -c \
		'setsid sleep 300 & echo "child $!"; sleep 1; exec python3 -m http.server --bind 127.0.0.1 '"$port"
	local pid=$MTLS_PID child
	_mtls_listening "$port"
	assert_mtls_accepts "$port"
	child=$(awk '/^child / { print $2 }' "$MTLS_OUT")
	[ -n "$child" ] && kill -0 "$child"
	mtls_teardown
	! kill -0 "$pid" 2>/dev/null
	! kill -0 "$child" 2>/dev/null
	! _mtls_listening "$port"
}
