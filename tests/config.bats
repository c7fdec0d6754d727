#!/usr/bin/env bats
# config.bats: fail-closed configuration, `mtlsshim check`, the launcher, and programs the config does not match.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() {
	common_teardown
	# nobody_setup's directories, whatever the test's outcome.
	if [ -f "$BATS_TEST_TMPDIR/nbdirs" ]; then xargs rm -rf < "$BATS_TEST_TMPDIR/nbdirs"; fi
}

# A config with a good server rule plus extra text; prints its path.
cfg() { # NAME [extra lines on stdin]
	conf "$1"
}

good_top() {
	cat <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	EOF
}

# assert_fail_closed CONF WORD...: the program never runs, exit 78, one stderr line
# "mtlsshim: ..." naming CONF and each WORD; through the launcher and through LD_PRELOAD.
assert_fail_closed() {
	local c=$1
	assert_start_refused "$@" "$c"
	run --separate-stderr launcher check -c "$c"
	show
	echo "[check] status=$status stderr=$stderr"
	[ "$status" -eq 78 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "mtlsshim: "* ]]
	assert_contains "$stderr" "$c"
}

@test "a valid config passes mtlsshim check and runs the program" {
	local c; c=$({ good_top; echo 'server "s" {'; echo ' port = 8443'; echo '}'; echo 'client "c" {'; echo ' port = 5432'; echo ' host = "10.0.0.0/8"'; echo '}'; } | cfg ok)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	[ -z "$stderr" ] || [[ "$stderr" != *error* ]]
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
	run shim "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
}

@test "syntax error: fail closed" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n}}\n'; } | cfg syntax)
	assert_fail_closed "$c" line
}

@test "unterminated rule block: fail closed" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n'; } | cfg unclosed)
	assert_fail_closed "$c"
}

@test "unknown option: fail closed, naming the option" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n verify_depth = 3\n}\n'; } | cfg unknown)
	assert_fail_closed "$c" verify_depth
}

@test "revocation options: bad values fail closed, named; the enforced ones start" {
	local c
	# ocsp_stapling is enforced (stapling.bats): a certificate without a responder (no AIA) and
	# no ocsp_responder is named; with ocsp_responder it starts.
	c=$({ good_top; printf 'server "s" {\n port = 8443\n ocsp_stapling = true\n}\n'; } | cfg stapling)
	assert_fail_closed "$c" "server \"s\": ocsp_stapling: cert_file $PKI/server.crt names no OCSP responder" ocsp_responder
	c=$({ good_top; printf 'server "s" {\n port = 8443\n ocsp_stapling = true\n ocsp_responder = "http://127.0.0.1:9/"\n}\n'; } | cfg stapleok)
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	echo "status=$status out=$output err=$stderr"
	[ "$status" -eq 0 ] && [ "$output" = RAN ]
	# ocsp_staple_file is enforced (staple.bats): its file is checked, a missing one named.
	c=$({ good_top; printf 'server "s" {\n port = 8443\n ocsp_staple_file = "x.der"\n}\n'; } | cfg staple)
	assert_fail_closed "$c" "ocsp_staple_file $BATS_TEST_TMPDIR/x.der: No such file"
	# crl_check = "chain" is enforced now (tests/crl.bats): it runs, given a CRL.
	mkcrl "$PKI" "$BATS_TEST_TMPDIR/crl.pem"
	c=$({ good_top; printf 'server "s" {\n port = 8443\n crl_check = "chain"\n crl_file = "%s"\n}\n' \
	    "$BATS_TEST_TMPDIR/crl.pem"; } | cfg crlchain)
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	echo "status=$status out=$output err=$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
	refute_contains "$stderr" "not supported"
	# Bad values are named as such; "off" and the defaults run as before.
	c=$({ good_top; printf 'server "s" {\n port = 8443\n ocsp = "maybe"\n}\n'; } | cfg badocsp)
	assert_fail_closed "$c" 'ocsp "maybe"'
	c=$({ good_top; printf 'ocsp_responder = "ftp://x"\nserver "s" {\n port = 8443\n}\n'; } | cfg badurl)
	assert_fail_closed "$c" ocsp_responder
	c=$({ good_top; printf 'ocsp = "off"\nocsp_require = false\ncrl_check = "leaf"\nserver "s" {\n port = 8443\n}\n'; } | cfg offok)
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	echo "status=$status out=$output err=$stderr"
	[ "$status" -eq 0 ] && [ "$output" = RAN ]
	# ocsp is enforced (ocsp.bats): it starts.
	c=$({ good_top; printf 'ocsp = "chain"\nocsp_responder = "http://127.0.0.1:9/"\nserver "s" {\n port = 8443\n}\n'; } | cfg ocspok)
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	echo "status=$status out=$output err=$stderr"
	[ "$status" -eq 0 ] && [ "$output" = RAN ]
}

@test "missing cert file: fail closed, naming the file" {
	local c; c=$({ printf 'cert_file = "%s"\nkey_file = "%s"\n' "$PKI/nope.crt" "$PKI/server.key"; printf 'server "s" {\n port = 8443\n}\n'; } | cfg nocert)
	assert_fail_closed "$c" "$PKI/nope.crt"
}

@test "missing key file: fail closed, naming the file" {
	local c; c=$({ printf 'cert_file = "%s"\nkey_file = "%s"\n' "$PKI/server.crt" "$PKI/nope.key"; printf 'server "s" {\n port = 8443\n}\n'; } | cfg nokey)
	assert_fail_closed "$c" "$PKI/nope.key"
}

@test "missing CA file (given relative to the config): fail closed, naming the resolved file" {
	local c; c=$({ good_top; printf 'client "c" {\n port = 5432\n ca_file = "no/such/ca.crt"\n}\n'; } | cfg noca)
	assert_fail_closed "$c" "$BATS_TEST_TMPDIR/no/such/ca.crt"
}

@test "missing file in a rule override fails closed even though no socket is ever opened" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n key_file = "/nonexistent/dir/k.key"\n}\n'; } | cfg ruleover)
	assert_fail_closed "$c" "/nonexistent/dir/k.key"
}

@test "a cert file that is not a certificate: fail closed" {
	echo "not a certificate" > "$BATS_TEST_TMPDIR/junk.crt"
	local c; c=$({ printf 'cert_file = "%s"\nkey_file = "%s"\n' "$BATS_TEST_TMPDIR/junk.crt" "$PKI/server.key"; printf 'server "s" {\n port = 8443\n}\n'; } | cfg junkcert)
	assert_fail_closed "$c" "$BATS_TEST_TMPDIR/junk.crt"
}

@test "a CA file that holds no certificate: fail closed" {
	echo "junk" > "$BATS_TEST_TMPDIR/junk-ca.crt"
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n ca_file = "%s"\n}\n' "$BATS_TEST_TMPDIR/junk-ca.crt"; } | cfg junkca)
	assert_fail_closed "$c" "$BATS_TEST_TMPDIR/junk-ca.crt"
}

@test "key does not match cert: fail closed" {
	local c; c=$({ printf 'cert_file = "%s"\nkey_file = "%s"\n' "$PKI/server.crt" "$PKI/client.key"; printf 'server "s" {\n port = 8443\n}\n'; } | cfg mismatch)
	assert_fail_closed "$c"
	[[ "$stderr" == *"$PKI/client.key"* || "$stderr" == *"$PKI/server.crt"* ]]
}

@test "unreadable key file (as an unprivileged user): fail closed" {
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	# Everything but the key must be reachable by nobody.
	local d; d=$(mktemp -d /tmp/mtlsshim-nobody.XXXXXX)
	chmod 755 "$d"
	cp "$PKI/ca.crt" "$PKI/server.crt" "$PKI/server.key" "$d/"
	chmod 644 "$d/ca.crt" "$d/server.crt"
	chmod 000 "$d/server.key"
	printf 'log_file = "stderr"\nca_file = "ca.crt"\ncert_file = "server.crt"\nkey_file = "server.key"\nserver "s" {\n port = 8443\n}\n' > "$d/shim.conf"
	chmod 644 "$d/shim.conf"
	if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$LAUNCHER" 2>/dev/null; then
		rm -rf "$d"
		skip "nobody cannot read the build directory"
	fi
	if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$d/server.key" >/dev/null 2>&1; then
		rm -rf "$d"
		skip "nobody can still read a mode 000 file"
	fi
	local pre=""
	[ "$(basename "$BUILD")" = build-asan ] && pre="$(gcc -print-file-name=libasan.so)"
	run --separate-stderr env ${pre:+LD_PRELOAD=$pre} setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$LAUNCHER" -c "$d/shim.conf" sh -c 'echo RAN'
	show
	local st=$status out=$output err=$stderr nerr=${#stderr_lines[@]}
	run --separate-stderr setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$d/shim.conf" sh -c 'echo RAN'
	show
	local st2=$status out2=$output err2=$stderr nerr2=${#stderr_lines[@]}
	rm -rf "$d"
	echo "launcher: $st $out / $err"
	echo "preload: $st2 $out2 / $err2"
	[ "$st" -eq 78 ] && [ "$st2" -eq 78 ]
	refute_contains "$out$out2" RAN
	[ "$nerr" -eq 1 ] && [ "$nerr2" -eq 1 ]
	[[ "$err" == "mtlsshim: "* ]]
	assert_contains "$err" "$d/shim.conf"
	assert_contains "$err" "$d/server.key"
	assert_contains "$err2" "$d/server.key"
}

@test "bad port (0 and 70000): fail closed" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 0\n}\n'; } | cfg port0)
	assert_fail_closed "$c" port
	c=$({ good_top; printf 'client "c" {\n port = 70000\n}\n'; } | cfg port70000)
	assert_fail_closed "$c" port 70000
}

@test "bad host CIDR: fail closed" {
	local c; c=$({ good_top; printf 'client "c" {\n port = 5432\n host = "10.0.0.0/40"\n}\n'; } | cfg badcidr)
	assert_fail_closed "$c" host "10.0.0.0/40"
	c=$({ good_top; printf 'client "c" {\n port = 5432\n host = "db.internal"\n}\n'; } | cfg badhost)
	assert_fail_closed "$c" host "db.internal"
}

@test "bad log_level: fail closed" {
	local c; c=$({ good_top; echo 'log_level = "loud"'; } | cfg badlevel)
	assert_fail_closed "$c" log_level
}

@test "a config file that does not exist: fail closed" {
	local c=$BATS_TEST_TMPDIR/absent.conf
	assert_fail_closed "$c"
}

@test "errors go to stderr even when log_file names a file" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n}}\n'; } | cfg tofile)
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 78 ]
	[[ "$stderr" == "mtlsshim: "* ]]
}

@test "launcher passes arguments through and preserves an existing LD_PRELOAD" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n}\n'; } | cfg launch)
	run launcher -c "$c" sh -c 'printf "<%s>" "$@"' zero 'a b' '' 'c*' "--x=1"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "<a b><><c*><--x=1>" ]
	local libm; libm=$(ldconfig -p | awk '/libm\.so\.6 / {print $NF; exit}')
	[ -n "$libm" ]
	LD_PRELOAD=$libm run launcher -c "$c" sh -c 'echo "$LD_PRELOAD"'
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "libmtlsshim.so"
	assert_contains "$output" "$libm"
	run launcher -c "$c" sh -c 'exit 7'
	show
	[ "$status" -eq 7 ]
}

@test "launcher exports MTLSSHIM_CONFIG as an absolute path" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n}\n'; } | cfg rel)
	cd "$BATS_TEST_TMPDIR"
	run launcher -c rel.conf sh -c 'echo "$MTLSSHIM_CONFIG"'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "$BATS_TEST_TMPDIR/rel.conf" ]
}

@test "a program whose sockets match no rule behaves as without the shim" {
	local port; port=$(free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "plain page" > "$BATS_TEST_TMPDIR/www/index.txt"
	# The shimmed server's rule is for another port: it serves plaintext.
	local other; other=$(free_port)
	local s; s=$(server_conf unmatched "$other")
	shim_bg "$BATS_TEST_TMPDIR/py.out" "$s" python3 -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$port"
	wait_port "$port"
	run curl -sS --max-time 10 "http://127.0.0.1:$port/index.txt"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "plain page" ]
	# A shimmed curl whose client rule is for another port, or another host, goes plaintext too.
	local c; c=$(conf cli <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "otherport" {
	    port = $other
	}
	client "otherhost" {
	    port = $port
	    host = "127.0.0.2"
	}
	EOF
	)
	if asan_build; then	# curl hangs under the ASan runtime; python goes through the same hooks
		run shim "$c" timeout 20 python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/index.txt', timeout=10).read().decode())"
	else
		run shim "$c" timeout 20 curl -sS --max-time 10 "http://127.0.0.1:$port/index.txt"
	fi
	show
	[ "$status" -eq 0 ]
	[ "$output" = "plain page" ]
	refute_file_has "$BATS_TEST_TMPDIR/cli.log" 'connected rule=|refused rule='
	refute_file_has "$BATS_TEST_TMPDIR/unmatched.log" 'accepted rule=|refused rule='
}

@test "a program that opens no sockets at all is unaffected (exit status, stdin, stdout)" {
	local c; c=$({ good_top; printf 'server "s" {\n port = 8443\n}\n'; } | cfg inert)
	run bash -c "printf 'abc\n' | LD_PRELOAD='$PRELOAD' MTLSSHIM_CONFIG='$c' tr a-z A-Z"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "ABC" ]
}

# as_nobody CMD...: CMD as user nobody with the library preloaded and $NB/shim.conf.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$NB/shim.conf" "$@"
}

@test "a repeat start (non-root) with unchanged files builds contexts on first use; a changed key is checked again and fails closed" {
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	NB=$(mktemp -d /tmp/mtlsshim-nobody.XXXXXX)
	chmod 755 "$NB"
	cp "$PKI/ca.crt" "$PKI/server.crt" "$PKI/server.key" "$NB/"
	chmod 644 "$NB"/*
	local port; port=$(free_port)
	printf 'log_level = "debug"\nlog_file = "stderr"\nca_file = "ca.crt"\ncert_file = "server.crt"\nkey_file = "server.key"\nserver "s" {\n port = %s\n}\n' \
		"$port" > "$NB/shim.conf"
	chmod 644 "$NB/shim.conf"
	if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$SHIMLIB" 2>/dev/null; then
		rm -rf "$NB"
		skip "nobody cannot read the build directory"
	fi
	run --separate-stderr as_nobody /bin/true
	show
	[ "$status" -eq 0 ]
	run --separate-stderr as_nobody /bin/true
	show
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "files unchanged since checked; contexts built on first use"
	# Such a process maps no OpenSSL (libmtlsshim-tls.so, libssl) until it needs it.
	run --separate-stderr as_nobody sh -c 'grep -cE "libmtlsshim-tls|libssl" /proc/$$/maps'
	[ "$output" = 0 ]
	# Such a process still serves mTLS, loading the files when it starts listening.
	bg "$BATS_TEST_TMPDIR/nb.out" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$NB/shim.conf" "$PROGS/echo_server" "$port"
	wait_port "$port"
	run bash -c "echo cached-start | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>/dev/null"
	show
	assert_contains "$output" "cached-start"
	assert_file_has "$BATS_TEST_TMPDIR/nb.out" 'accepted rule=s'
	assert_file_has "/proc/$BGPID/maps" 'libmtlsshim-tls\.so'
	# A key that no longer matches is caught before main() again.
	cp "$PKI/client.key" "$NB/server.key"
	chmod 644 "$NB/server.key"
	run --separate-stderr as_nobody sh -c 'echo RAN'
	show
	rm -rf "$NB"
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "server"
}

@test "root repeat start: a server that listens, then chroots and drops to nobody, still serves" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	local d=$BATS_TEST_TMPDIR/rc c port run t
	mkdir -p "$d/jail"
	cp "$PKI/ca.crt" "$PKI/server.crt" "$PKI/server.key" "$d/"
	chmod 600 "$d/server.key"
	port=$(free_port)
	c=$(conf rc <<-EOF
	log_level = "debug"
	cert_file = "$d/server.crt"
	key_file = "$d/server.key"
	server "rc" {
	    port = $port
	}
	EOF
	)
	# Binds as root, chroots into an empty directory, becomes nobody, then serves one echo.
	cat > "$d/dropper.py" <<-'PY'
	import os, socket, sys
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", int(sys.argv[1])))
	s.listen(4)
	os.chroot(sys.argv[2])
	os.chdir("/")
	os.setgroups([])
	os.setgid(65534)
	os.setuid(65534)
	print("dropped", flush=True)
	c, _ = s.accept()
	c.sendall(c.recv(100))
	c.close()
	PY
	for run in first repeat; do
		shim_bg "$BATS_TEST_TMPDIR/rc-$run.out" "$c" python3 "$d/dropper.py" "$port" "$d/jail"
		wait_for "$BATS_TEST_TMPDIR/rc-$run.out" dropped
		run bash -c "echo served-$run | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port \
			-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>/dev/null"
		show
		assert_contains "$output" "served-$run"
		for t in $(seq 1 50); do kill -0 "$BGPID" 2>/dev/null || break; sleep 0.1; done
	done
	# Each start's python3 came after a process (env) that checked or had checked the files,
	# so it built its context when it listened, as root, before the chroot (in the jail the
	# log file is out of reach: the served echo is the evidence).
	assert_file_has "$BATS_TEST_TMPDIR/rc.log" 'files unchanged since checked'
}

@test "root repeat start: no OpenSSL before main(); a client that chroots and drops to nobody before it connects still gets mTLS" {
	[ "$(id -u)" -eq 0 ] || skip "not root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	local d=$BATS_TEST_TMPDIR/cc c run
	mkdir -p "$d/jail"
	cp "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$d/"
	chmod 600 "$d/client.key"
	s_server_rev
	c=$(conf cc <<-EOF
	log_level = "debug"
	ca_file = "$d/ca.crt"
	cert_file = "$d/client.crt"
	key_file = "$d/client.key"
	client "cc" {
	    port = $SPORT
	}
	EOF
	)
	cat > "$d/dropper.py" <<-'PY'
	import encodings.idna, os, socket, sys  # idna: socket names its host with it, after the chroot
	os.chroot(sys.argv[2])
	os.chdir("/")
	os.setgroups([])
	os.setgid(65534)
	os.setuid(65534)
	c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
	c.sendall(b"jailed client\n")
	print(c.recv(100).decode().strip(), flush=True)
	PY
	shim "$c" /bin/true
	run shim "$c" sh -c 'grep -cE "libmtlsshim-tls|libssl" /proc/$$/maps'
	show
	[ "$output" = 0 ]
	assert_file_has "$BATS_TEST_TMPDIR/cc.log" 'files unchanged since checked'
	for run in 1 2; do
		run shim "$c" timeout 15 python3 "$d/dropper.py" "$SPORT" "$d/jail"
		show
		[ "$status" -eq 0 ]
		assert_contains "$output" "tneilc deliaj"
	done
	# The engine and files were loaded as the program called chroot, while still in reach.
	assert_file_has "$BATS_TEST_TMPDIR/cc.log" 'engine loaded before losing access'
}

@test "the TLS engine library missing beside the preload: fail closed before main(), naming it" {
	local d=$BATS_TEST_TMPDIR/lonely c
	mkdir -p "$d"
	cp "$SHIMLIB" "$d/"
	c=$(conf lonely <<-EOF
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "lonely" {
	    port = 8443
	}
	EOF
	)
	[ "$(id -u)" -eq 0 ] || skip "not root (a repeat start would only fail at its first connection)"
	run --separate-stderr env LD_PRELOAD="${PRELOAD/"$SHIMLIB"/"$d/libmtlsshim.so"}" \
		MTLSSHIM_CONFIG="$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "mtlsshim: cannot load the TLS engine: $d/libmtlsshim-tls.so"
	[ "$(printf '%s\n' "$stderr" | grep -c mtlsshim)" -eq 1 ]
	# With no rule at all the engine is never needed.
	c=$(conf empty < /dev/null)
	run env LD_PRELOAD="${PRELOAD/"$SHIMLIB"/"$d/libmtlsshim.so"}" MTLSSHIM_CONFIG="$c" sh -c 'echo RAN'
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
}

@test "the start-up cache lives in XDG_RUNTIME_DIR and forgets configurations that are gone" {
	local x=$BATS_TEST_TMPDIR/xdg a b
	mkdir -m 700 "$x"
	a=$(server_conf gone "$(free_port)")
	b=$(server_conf kept "$(free_port)")
	XDG_RUNTIME_DIR=$x run shim "$a" /bin/true
	[ "$status" -eq 0 ]
	run grep -rl "$a" "$x/mtlsshim"
	[ "$status" -eq 0 ]
	rm -f "$a"
	XDG_RUNTIME_DIR=$x run shim "$b" /bin/true
	[ "$status" -eq 0 ]
	run grep -rl "$a" "$x/mtlsshim"
	[ "$status" -eq 1 ]
	run grep -rl "$b" "$x/mtlsshim"
	[ "$status" -eq 0 ]
}

@test "repeat start of a fork-per-connection server: the context is built once, in the parent, when it listens" {
	local port c n
	port=$(free_port)
	c=$(conf forky <<-EOF
	log_level = "debug"
	cert_file = "$PKI/server.crt"
	key_file = "$PKI/server.key"
	server "forky" {
	    port = $port
	}
	EOF
	)
	run shim "$c" /bin/true
	[ "$status" -eq 0 ]
	shim_bg "$BATS_TEST_TMPDIR/forky.out" "$c" "$PROGS/echo_server" -m fork "$port"
	wait_port "$port"
	# Built right after listen() returns in the kernel, before any connection.
	wait_for "$BATS_TEST_TMPDIR/forky.log" "^mtlsshim\[$BGPID\]: rule=forky: context built on first use"
	for n in 1 2 3; do
		run bash -c "echo fork-$n | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$port \
			-cert '$PKI/client.crt' -key '$PKI/client.key' -CAfile '$PKI/ca.crt' 2>/dev/null"
		show
		assert_contains "$output" "fork-$n"
	done
	[ "$(count "$BATS_TEST_TMPDIR/forky.log" 'context built on first use')" -eq 1 ]
	[ "$(count "$BATS_TEST_TMPDIR/forky.log" 'accepted rule=forky')" -eq 3 ]
}

# nobody_setup: $NB, a directory user nobody can read, with copies of the PKI, both libraries
# (NBLIB: the preload there) and shim.conf (a client rule for port $1); skips where it cannot.
nobody_setup() {
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	asan_build && skip "the ASan runtime is not in the copied preload list"
	NB=$(mktemp -d /tmp/mtlsshim-nobody.XXXXXX)
	chmod 755 "$NB"
	cp "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$SHIMLIB" "$BUILD/libmtlsshim-tls.so" "$NB/"
	NBLIB=$NB/libmtlsshim.so
	printf 'log_level = "info"\nlog_file = "stderr"\nca_file = "ca.crt"\ncert_file = "client.crt"\nkey_file = "client.key"\nclient "c" {\n port = %s\n}\n' \
		"$1" > "$NB/shim.conf"
	chown -R nobody "$NB"
	echo "$NB" >> "$BATS_TEST_TMPDIR/nbdirs"
}
nobody_run() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env XDG_RUNTIME_DIR= LD_PRELOAD="$NBLIB" MTLSSHIM_CONFIG="$NB/shim.conf" "$@"
}

@test "a repeat start (non-root) whose TLS engine library went missing fails closed before main(), naming it" {
	nobody_setup "$(free_port)"
	run --separate-stderr nobody_run /bin/true
	[ "$status" -eq 0 ]
	run --separate-stderr nobody_run /bin/true
	[ "$status" -eq 0 ]
	rm "$NB/libmtlsshim-tls.so"
	run --separate-stderr nobody_run sh -c 'echo RAN'
	show
	rm -rf "$NB"
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "cannot load the TLS engine: $NB/libmtlsshim-tls.so"
}

@test "a first connection that cannot load the TLS engine (EMFILE) is refused, and a later one loads it" {
	start_tls_echo
	nobody_setup "$EPORT"
	run --separate-stderr nobody_run /bin/true
	[ "$status" -eq 0 ]
	cat > "$NB/emfile.py" <<-'PY'
	import os, resource, socket, sys, time
	port = int(sys.argv[1])
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	s = socket.socket()
	resource.setrlimit(resource.RLIMIT_NOFILE, (s.fileno() + 1, hard))
	try:
	    s.connect(("127.0.0.1", port))
	    print("first: connected")
	except OSError as e:
	    print("first:", e.strerror)
	s.close()
	resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
	time.sleep(1.2)
	s = socket.create_connection(("127.0.0.1", port), timeout=10)
	s.sendall(b"second\n")
	print("second:", s.recv(100).decode().strip())
	PY
	run --separate-stderr nobody_run timeout 20 python3 "$NB/emfile.py" "$EPORT"
	show
	rm -rf "$NB"
	[ "$status" -eq 0 ]
	assert_contains "$output" "first: Connection refused"
	assert_contains "$output" "second: second"
	assert_contains "$stderr" "cannot load the TLS engine"
	assert_contains "$stderr" "connected rule=c"
}

@test "a repeat start under another OPENSSL_CONF is checked in full again, and its policy applies" {
	local c strict=$BATS_TEST_TMPDIR/strict.cnf
	c=$(server_conf pol "$(free_port)")
	printf 'openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nCipherString = DEFAULT:@SECLEVEL=4\n' > "$strict"
	run shim "$c" /bin/true
	[ "$status" -eq 0 ]
	run --separate-stderr env OPENSSL_CONF="$strict" LD_PRELOAD="$PRELOAD" MTLSSHIM_CONFIG="$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "too small"
}
