#!/usr/bin/env bats
# docs.bats: the operator documentation tells the truth: every option documented, the man pages
# clean, make install complete, the systemd drop-ins' commands working against a real redis-server.

load helpers

MAN1=$REPO/man/mtlsshim.1
MAN5=$REPO/man/mtlsshim.conf.5
DROPINS=(launcher preload)

# A fresh machine has neither redis-server nor groff: tests/deps.sh (make deps) installs them.
setup_file() {
	if ! command -v redis-server >/dev/null || ! command -v groff >/dev/null; then
		[ "$(id -u)" != 0 ] || sh "$REPO/tests/deps.sh" >&2
	fi
}
setup() { require_build; }
teardown() { common_teardown; }

# config_options: the option and section names of src/common/config.c's cfg_opt_t tables.
config_options() {
	grep -oE 'CFG_(STR|INT|BOOL|FLOAT|STR_LIST|INT_LIST|SEC|FUNC|PTR|SIMPLE_[A-Z]+)\("[a-z_]+"' \
		"$REPO/src/common/config.c" | sed -E 's/.*\("//; s/"$//' | sort -u
}

# assert_all_found WHAT CMD...: `CMD NAME` succeeds for every option name; else prints the missing.
assert_all_found() {
	local what=$1 n missing=(); shift
	for n in $(config_options); do
		"$@" "$n" || missing+=("$n")
	done
	[ ${#missing[@]} = 0 ] || { echo "not in $what: ${missing[*]}" >&2; return 1; }
}

in_man5() { grep -Eq "^\.BI? \"?$1( |\"|$)" "$MAN5"; }
in_conf() { grep -Eq "^[[:space:]]*#?$1[[:space:]]*(=|\")" "$REPO/conf/mtlsshim.conf"; }
in_readme() { grep -Fq "\`$1" "$REPO/README.md"; }

# make_var NAME: the Makefile's value of NAME with the default PREFIX.
make_var() {
	make -s --no-print-directory -C "$REPO" -f Makefile -f - print-var <<< "print-var: ; @echo \$($1)"
}

# dropin FORM: the path of conf/systemd/mtlsshim-FORM.conf.
dropin() { echo "$REPO/conf/systemd/mtlsshim-$1.conf"; }

# unit_value FILE KEY: the value of the last non-empty KEY= line of the unit file FILE.
unit_value() {
	sed -n "s/^$2=//p" "$1" | grep -v '^$' | tail -n 1
}

# to_test WORD...: the words of a drop-in command with the installed paths made this build's and
# this test's: the launcher, the library (after a sanitizer runtime), the config in $CONF, and
# redis.conf replaced by a private loopback redis on $PORT. Sets the array CMD.
to_test() {
	local w
	CMD=()
	for w in "$@"; do
		case $w in
		/usr/local/bin/mtlsshim) CMD+=("$LAUNCHER") ;;
		LD_PRELOAD=/usr/local/lib/mtlsshim/libmtlsshim.so) CMD+=("LD_PRELOAD=$PRELOAD") ;;
		MTLSSHIM_CONFIG=/etc/mtlsshim/redis.conf) CMD+=("MTLSSHIM_CONFIG=$CONF") ;;
		/etc/mtlsshim/redis.conf) CMD+=("$CONF") ;;
		/etc/redis/redis.conf) CMD+=(--port "$PORT" --bind 127.0.0.1 --save "" --appendonly no
			--dir "$BATS_TEST_TMPDIR") ;;
		/usr/local/*) echo "to_test: no test stand-in for $w" >&2; return 1 ;;
		*) CMD+=("$w") ;;
		esac
	done
}

# REDIS_EXEC: the redis unit's ExecStart, which the launcher drop-in keeps and the preload uses.
REDIS_UNIT=/lib/systemd/system/redis-server.service
REDIS_EXEC="/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no"

# dropin_cmd FORM KEY: CMD, the drop-in's KEY command (the redis unit's own ExecStart when the
# drop-in has none) for this test, after `env` and the words of its Environment= (or the
# sanitizer runtime the launcher needs under such a build).
dropin_cmd() {
	local f env run
	f=$(dropin "$1")
	read -ra env <<< "$(unit_value "$f" Environment)"
	read -ra run <<< "$(unit_value "$f" "$2")"
	if [ ${#run[@]} -eq 0 ] && [ "$2" = ExecStart ]; then read -ra run <<< "$REDIS_EXEC"; fi
	[ ${#run[@]} -gt 0 ] || { echo "no $2= in $f" >&2; return 1; }
	if [ ${#env[@]} -eq 0 ] && [ -n "$SANRT" ]; then env=("LD_PRELOAD=$SANRT"); fi
	to_test env "${env[@]}" "${run[@]}"
}

@test "docs: every option of config.c is in mtlsshim.conf(5), conf/mtlsshim.conf and README" {
	[ "$(config_options | wc -l)" -ge 25 ]
	assert_all_found man/mtlsshim.conf.5 in_man5
	assert_all_found conf/mtlsshim.conf in_conf
	assert_all_found README.md in_readme
}

@test "docs: groff -man -ww -z finds nothing to warn about in either man page; man -l renders them" {
	command -v groff >/dev/null || skip "groff is not installed (make deps)"
	local p
	for p in "$MAN1" "$MAN5"; do
		run groff -man -ww -z "$p"
		show
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
	run env MANWIDTH=80 man -l "$MAN5"
	[ "$status" -eq 0 ]
	assert_contains "$output" "MTLSSHIM.CONF(5)"
	run env MANWIDTH=80 man -l "$MAN1"
	assert_contains "$output" "mtlsshim.conf(5)"
}

@test "docs: the configurations of mtlsshim.conf(5) EXAMPLES pass mtlsshim check" {
	local d=$BATS_TEST_TMPDIR/ex
	mkdir -p "$d"
	launcher pki init "$d/pki" > /dev/null
	launcher pki issue "$d/pki" host > /dev/null
	cp "$d/pki/ca.crt" "$d/pki/spiffe-bundle.crt"
	awk '/^\.SH EXAMPLES/ { on = 1 } /^\.SH FILES/ { on = 0 } on && /^\.EE/ { ex = 0 }
		on && ex { print } on && /^\.EX/ { ex = 1 }' "$MAN5" > "$d/examples.conf"
	grep -q '^server "api"' "$d/examples.conf"
	run launcher check -c "$d/examples.conf"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "4 rules"
}

@test "docs: make install DESTDIR=... PREFIX=/usr installs binaries, man1, man5, the drop-ins and the bats library" {
	local root=$BATS_TEST_TMPDIR/root f
	run make -C "$REPO" B="$BUILD" -o "$BUILD/libmtlsshim.so" -o "$BUILD/libmtlsshim-tls.so" \
		-o "$BUILD/mtlsshim" install DESTDIR="$root" PREFIX=/usr
	show
	[ "$status" -eq 0 ]
	for f in usr/bin/mtlsshim usr/lib/mtlsshim/libmtlsshim.so usr/lib/mtlsshim/libmtlsshim-tls.so; do
		[ -x "$root/$f" ] || { echo "not installed: $f" >&2; return 1; }
	done
	cmp "$MAN1" "$root/usr/share/man/man1/mtlsshim.1"
	cmp "$MAN5" "$root/usr/share/man/man5/mtlsshim.conf.5"
	for f in "${DROPINS[@]}"; do
		cmp "$(dropin "$f")" "$root/usr/share/doc/mtlsshim/systemd/mtlsshim-$f.conf"
	done
	cmp "$REPO/tests/bats-mtlsshim/load.bash" "$root/usr/lib/bats/bats-mtlsshim/load.bash"
	cmp "$REPO/conf/mtlsshim.conf" "$root/etc/mtlsshim/mtlsshim.conf.example"
}

@test "docs: the drop-ins name what make install installs and keep the redis unit's ExecStart" {
	local bindir libdir f
	bindir=$(make_var BINDIR)
	libdir=$(make_var LIBDIR)
	[ "$bindir" = /usr/local/bin ] && [ "$libdir" = /usr/local/lib/mtlsshim ]
	for f in "${DROPINS[@]}"; do
		f=$(dropin "$f")
		[ "$(unit_value "$f" ExecStartPre)" = "$bindir/mtlsshim check -c /etc/mtlsshim/redis.conf /usr/bin/redis-server" ]
		[ "$(unit_value "$f" RestartPreventExitStatus)" = 78 ]
		grep -qx "ExecPaths=$bindir/mtlsshim $libdir" "$f"
	done
	f=$(dropin launcher)
	# ExecStart= first clears the unit's own.
	[ "$(grep -m1 '^ExecStart=' "$f")" = "ExecStart=" ]
	[ "$(unit_value "$f" ExecStart)" = "$bindir/mtlsshim -c /etc/mtlsshim/redis.conf $REDIS_EXEC" ]
	[ "$(unit_value "$(dropin preload)" Environment)" = \
		"LD_PRELOAD=$libdir/libmtlsshim.so MTLSSHIM_CONFIG=/etc/mtlsshim/redis.conf" ]
	! grep -q '^ExecStart=' "$(dropin preload)"
	if [ -f "$REDIS_UNIT" ]; then
		[ "$(unit_value "$REDIS_UNIT" ExecStart)" = "$REDIS_EXEC" ]
	fi
}

# run_dropin FORM: the drop-in's ExecStartPre= passes, a broken config fails it with 78, and its
# ExecStart= (the launcher's, or the redis unit's own under the preload) serves mTLS only.
run_dropin() {
	command -v redis-server >/dev/null || skip "redis-server is not installed (make deps)"
	mtls_pki
	PORT=$(mtls_free_port)
	CONF=$(MTLS_RULE=redis mtls_server_conf "$PORT")
	dropin_cmd "$1" ExecStartPre
	run "${CMD[@]}"
	show
	[ "$status" -eq 0 ]
	local good=$CONF
	CONF=$BATS_TEST_TMPDIR/broken.conf
	sed 's/key_file = .*/key_file = "missing.key"/' "$good" > "$CONF"
	dropin_cmd "$1" ExecStartPre
	run "${CMD[@]}"
	show
	[ "$status" -eq 78 ]
	CONF=$good
	dropin_cmd "$1" ExecStart
	mtls_bg "$BATS_TEST_TMPDIR/redis.out" "${CMD[@]}"
	mtls_wait_port "$PORT"
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	PKI=$MTLS_PKI run tls_say "$PORT" 'PING\r\n'
	assert_contains "$output" "+PONG"
	wire_check --min-conns 2
	assert_no_plaintext "$PORT"
	assert_shim_log 'accepted rule=redis '
}

@test "docs: mtlsshim-launcher.conf's commands run redis-server behind mutual TLS" {
	run_dropin launcher
}

@test "docs: mtlsshim-preload.conf's commands run redis-server behind mutual TLS" {
	run_dropin preload
}

# Without ExecPaths= the unit mounts the library's directory noexec: ld.so would ignore the
# preload and redis would serve plaintext. The check, in the same sandbox, refuses the start.
@test "docs: the drop-ins' check fails the start (78) when the library cannot be mapped executable" {
	command -v redis-server >/dev/null || skip "redis-server is not installed (make deps)"
	unshare -m true 2>/dev/null || skip "cannot make a mount namespace here"
	mtls_pki
	PORT=$(mtls_free_port)
	CONF=$(MTLS_RULE=redis mtls_server_conf "$PORT")
	local f noex=$BATS_TEST_TMPDIR/noexec
	mkdir -p "$noex"
	for f in "${DROPINS[@]}"; do
		dropin_cmd "$f" ExecStartPre
		run unshare -m sh -c 'mount -t tmpfs -o noexec tmpfs "$0" && cp "$1"/libmtlsshim*.so "$0"/ &&
			shift && MTLSSHIM_LIBRARY=$0/libmtlsshim.so exec "$@"' "$noex" "$BUILD" "${CMD[@]}"
		show
		[ "$status" -eq 78 ]
		assert_contains "$output" "failed to map segment"
	done
}

@test "docs: systemd-analyze verify accepts redis-server.service with each drop-in" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	local d=$BATS_TEST_TMPDIR/units f
	[ -f "$REDIS_UNIT" ] || skip "no $REDIS_UNIT (redis-server is not installed: make deps)"
	mkdir -p "$d/redis-server.service.d"
	cp "$REDIS_UNIT" "$d/"
	for f in "${DROPINS[@]}"; do
		# The installed paths made this build's, which exist here (verify checks the commands).
		sed -e "s#/usr/local/bin/mtlsshim#$LAUNCHER#g" -e "s#/usr/local/lib/mtlsshim#$BUILD#g" \
			"$(dropin "$f")" > "$d/redis-server.service.d/mtlsshim.conf"
		run systemd-analyze verify "$d/redis-server.service"
		show
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
}
