#!/usr/bin/env bats
# crl.bats: crl_file with several CRLs, crl_check = "chain" across a root and two intermediates,
# expired CRLs at start and on reload, and what `mtlsshim check` says of each CRL.

load helpers

# The PKI: mkpki's ca is the root; intA and intB are CAs it signed; the leaves a-* come from intA,
# b-* from intB, each with its intermediate in NAME.chain for the client to send.
setup_file() {
	common_setup_file
	mkica intA "/CN=mtlsshim test intermediate A"
	mkica intB "/CN=mtlsshim test intermediate B"
	leaf a-good intA
	leaf a-revoked intA
	leaf b-good intB
	leaf b-revoked intB
	# Servers (for client rules), one under each intermediate.
	local srv=$'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1'
	issue_cert "$PKI" a-srv /CN=localhost "$srv" 30 intA
	issue_cert "$PKI" b-srv /CN=localhost "$srv" 30 intB
	# The root's CRLs: one revoking nobody, one revoking intermediate B.
	mkcrl "$PKI" "$PKI/root-empty.crl"
	mkcrl "$PKI" "$PKI/root-revB.crl" "$PKI/intB.crt"
	MKCRL_CA=intA mkcrl "$PKI" "$PKI/intA.crl" "$PKI/a-revoked.crt"
	MKCRL_CA=intB mkcrl "$PKI" "$PKI/intB.crl" "$PKI/b-revoked.crt"
	MKCRL_CA=intA MKCRL_OPTS="-crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z" \
		mkcrl "$PKI" "$PKI/intA-expired.crl" "$PKI/a-revoked.crt"
	MKCRL_CA=intB MKCRL_OPTS="-crlhours 48" mkcrl "$PKI" "$PKI/intB-soon.crl" "$PKI/b-revoked.crt"
	cat "$PKI/root-empty.crl" "$PKI/intA.crl" "$PKI/intB.crl" > "$PKI/all.crl"
	cat "$PKI/root-revB.crl" "$PKI/intA.crl" "$PKI/intB.crl" > "$PKI/revB.crl"
	cat "$PKI/intA.crl" "$PKI/intB.crl" > "$PKI/noroot.crl"
	cat "$PKI/root-empty.crl" "$PKI/intA.crl" > "$PKI/nointB.crl"
	cat "$PKI/root-empty.crl" "$PKI/intB.crl" "$PKI/intA-expired.crl" > "$PKI/stale.crl"
	cat "$PKI/root-empty.crl" "$PKI/intA.crl" "$PKI/intB-soon.crl" > "$PKI/soon.crl"
}
setup() { require_build; }
teardown() { common_teardown; }

# mkica NAME SUBJECT: PKI/NAME.{crt,key}, an intermediate CA signed by the root (PKI/ca).
mkica() {
	(
	set -e
	cd "$PKI"
	printf '[x]\nbasicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n' > "$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
		-extfile "$1.ext" -extensions x -out "$1.crt"
	) >"$PKI/$1.log" 2>&1 || { cat "$PKI/$1.log" >&2; return 1; }
}

# leaf NAME CA: a client certificate CN=NAME issued by PKI/CA, its chain (CA) in PKI/NAME.chain.
leaf() {
	issue_cert "$PKI" "$1" "/CN=$1" $'extendedKeyUsage = clientAuth\nsubjectAltName = DNS:'"$1.test" 30 "$2"
	cp "$PKI/$2.crt" "$PKI/$1.chain"
}

# ruleconf KIND NAME PORT CERT LINE...: prints the path of a config with a KIND (server, client)
# rule NAME on PORT presenting PKI/CERT.{crt,key}, LINEs in the rule.
ruleconf() {
	local k=$1 n=$2 p=$3 cert=$4; shift 4
	{
		echo "cert_file = \"$PKI/$cert.crt\""
		echo "key_file = \"$PKI/$cert.key\""
		echo "$k \"$n\" {"
		echo "    port = $p"
		printf '    %s\n' "$@"
		echo "}"
	} | conf "$n"
}

# srvconf NAME PORT LINE...: ruleconf for a server rule presenting PKI/server.
srvconf() { ruleconf server "$1" "$2" server "${@:3}"; }

# serve NAME LINE...: a shimmed echo_server under server rule NAME (LINEs in the rule) on PORT;
# sets LOG (the shim's), OUT (the program's).
serve() {
	local n=$1 c; shift
	PORT=$(free_port)
	c=$(srvconf "$n" "$PORT" "$@")
	LOG=$BATS_TEST_TMPDIR/$n.log
	OUT=$BATS_TEST_TMPDIR/$n.out
	shim_bg "$OUT" "$c" "$PROGS/echo_server" "$PORT"
	wait_port "$PORT"
}

# say LEAF: openssl s_client (no shim) presents PKI/LEAF and its chain, sends "hello from LEAF"; for run.
say() {
	{ printf 'hello from %s\n' "$1"; sleep 1; } | timeout 15 openssl s_client -quiet -no_ign_eof -verify_return_error \
		-CAfile "$PKI/ca.crt" -cert "$PKI/$1.crt" -key "$PKI/$1.key" -cert_chain "$PKI/$1.chain" \
		-connect "127.0.0.1:$PORT" 2>/dev/null
}

# more FILE ERE N: bounded wait (10 s) until more than N lines of FILE match ERE.
more() {
	local i
	for i in $(seq 1 100); do
		[ "$(count "$1" "$2")" -gt "$3" ] && return 0
		sleep 0.1
	done
	echo "no new line /$2/ in $1:" >&2
	cat "$1" >&2
	return 1
}

# served LEAF: the program echoes LEAF's line, and the shim logs one more acceptance of it.
served() {
	local re="accepted rule=[^ ]+ peer=127\\.0\\.0\\.1:[0-9]+ subject=\"CN=$1\"" before
	before=$(count "$LOG" "$re")
	run say "$1"
	show
	[ "$output" = "hello from $1" ]
	more "$LOG" "$re" "$before"
}

# refused LEAF ERE: LEAF's line never comes back nor reaches the program; the log says one more
# time why (ERE, the reason from its start).
refused() {
	local re="refused rule=[^ ]+ peer=127\\.0\\.0\\.1:[0-9]+ reason=\"$2" before accepts admits
	before=$(count "$LOG" "$re")
	accepts=$(count "$OUT" '^accept ')
	admits=$(count "$LOG" "accepted rule=.*subject=\"CN=$1\"")
	run say "$1"
	show
	refute_contains "$output" "hello from $1"
	more "$LOG" "$re" "$before"
	sleep 0.3
	[ "$(count "$OUT" '^accept ')" -eq "$accepts" ]
	[ "$(count "$LOG" "accepted rule=.*subject=\"CN=$1\"")" -eq "$admits" ]
}

# start_fails CONF WORD...: launcher and preload both exit 78 before the program runs, with one
# line on stderr that names CONF and each WORD.
start_fails() {
	local c=$1 how w; shift
	for how in launcher preload; do
		if [ $how = launcher ]; then
			run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
		else
			run --separate-stderr shim "$c" sh -c 'echo RAN'
		fi
		echo "[$how]"; show
		[ "$status" -eq 78 ]
		refute_contains "$output" RAN
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "mtlsshim: $c: server "* ]]
		for w in "$@"; do assert_contains "$stderr" "$w"; done
	done
}

@test "crl_file with several CRLs: each intermediate's revocations are honoured" {
	serve multi "crl_file = \"$PKI/all.crl\""
	wire_start "$PORT"
	served a-good
	served b-good
	refused a-revoked 'certificate verify failed: certificate revoked'
	refused b-revoked 'certificate verify failed: certificate revoked'
	wire_check
	[ "$(count "$OUT" '^accept ')" -eq 2 ]
}

@test "crl_check = chain: a revoked intermediate refuses its leaves; the other intermediate's are served" {
	# crl_check = "leaf" (the default) looks at the leaf's own CRL only: B's leaf passes.
	serve leafonly "crl_file = \"$PKI/revB.crl\""
	wire_start "$PORT"
	served b-good
	wire_check
	kill_bg || true
	serve chain "crl_file = \"$PKI/revB.crl\"" 'crl_check = "chain"'
	wire_start "$PORT"
	served a-good
	refused b-good 'certificate verify failed: certificate revoked: CA certificate at depth 1: subject=CN=mtlsshim test intermediate B'
	refused a-revoked 'certificate verify failed: certificate revoked"'
	served a-good
	wire_check
	[ "$(count "$OUT" '^accept ')" -eq 2 ]
}

@test "crl_check = chain: a CA of the chain without a CRL refuses the peer, naming it" {
	# No CRL from the root: nothing says whether intermediate A is revoked.
	serve noroot "crl_file = \"$PKI/noroot.crl\"" 'crl_check = "chain"'
	wire_start "$PORT"
	refused a-good 'certificate verify failed: unable to get certificate CRL: CA certificate at depth 1: subject=CN=mtlsshim test intermediate A'
	wire_check --min-conns 0
	kill_bg || true
	# No CRL from intermediate B: nothing says whether B's leaf is revoked; A's chain is covered.
	serve nointB "crl_file = \"$PKI/nointB.crl\"" 'crl_check = "chain"'
	wire_start "$PORT"
	refused b-good 'certificate verify failed: unable to get certificate CRL"'
	served a-good
	wire_check
}

@test "crl_check = chain on a client rule: a server under a revoked intermediate is refused" {
	local c base
	for base in a-srv b-srv; do
		SPORT=$(free_port)
		bg "$BATS_TEST_TMPDIR/s_server.$base.out" openssl s_server -accept "127.0.0.1:$SPORT" -Verify 1 \
			-verify_return_error -cert "$PKI/$base.crt" -key "$PKI/$base.key" \
			-cert_chain "$PKI/${base%-srv}-good.chain" -CAfile "$PKI/ca.crt" -rev
		wait_port "$SPORT"
		c=$(ruleconf client "cc-$base" "$SPORT" client "crl_file = \"$PKI/revB.crl\"" 'crl_check = "chain"')
		wire_start "$SPORT"
		run --separate-stderr shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$SPORT" $'to the server\n'
		show
		if [ $base = a-srv ]; then
			wire_check
			[ "$status" -eq 0 ]
			[ "$output" = "revres eht ot" ]
			assert_file_has "$BATS_TEST_TMPDIR/cc-$base.log" "connected rule=cc-a-srv peer=127\\.0\\.0\\.1:$SPORT "
		else
			wire_check --min-conns 0
			[ "$status" -eq 2 ]
			assert_contains "$stderr" "Connection refused"
			refute_contains "$output" "revres"
			wait_for "$BATS_TEST_TMPDIR/cc-$base.log" "refused rule=cc-b-srv peer=127\\.0\\.0\\.1:$SPORT reason=\"certificate verify failed: certificate revoked: CA certificate at depth 1: subject=CN=mtlsshim test intermediate B\""
		fi
	done
}

@test "crl_check = chain without crl_file, or with a file holding no CRL, fails closed" {
	local c
	c=$(srvconf nofile 8443 'crl_check = "chain"')
	start_fails "$c" 'crl_check = "chain" needs crl_file'
	c=$(srvconf nocrl 8443 'crl_check = "chain"' "crl_file = \"$PKI/ca.crt\"")
	start_fails "$c" "crl_file $PKI/ca.crt: no CRL found"
}

@test "an expired CRL stops the program at start: exit 78, one line naming the CRL's issuer and nextUpdate" {
	local c
	c=$(srvconf stale 8443 "crl_file = \"$PKI/stale.crl\"")
	start_fails "$c" "server \"stale\": crl_file $PKI/stale.crl: " \
		"the CRL of issuer=CN=mtlsshim test intermediate A has expired (nextUpdate 2020-01-02T00:00:00Z)"
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	assert_contains "$output" "issuer: CN=mtlsshim test intermediate A, nextUpdate 2020-01-02T00:00:00Z (EXPIRED)"
	assert_contains "$output" "error: $c: server \"stale\": crl_file $PKI/stale.crl: the CRL of issuer=CN=mtlsshim test intermediate A has expired"
	[ "${lines[-1]}" = FAILED ]
}

@test "an expired CRL on reload: the rule keeps its last good context and logs one line" {
	mkdir -p "$BATS_TEST_TMPDIR/live"
	local live=$BATS_TEST_TMPDIR/live/crl.pem i
	cp "$PKI/all.crl" "$live"
	serve reload "crl_file = \"$live\""
	wire_start "$PORT"
	served a-good
	cp "$PKI/stale.crl" "$live.tmp" && mv -f "$live.tmp" "$live"
	# The next connections find the new file, refuse it and go on with the old context.
	for i in 1 2 3; do
		served a-good
		refused a-revoked 'certificate verify failed: certificate revoked'
		sleep 1.1
	done
	assert_file_has "$LOG" "^mtlsshim\\[[0-9]+\\]: reload failed rule=reload: [^ ]+: server \"reload\": crl_file $live: the CRL of issuer=CN=mtlsshim test intermediate A has expired \\(nextUpdate 2020-01-02T00:00:00Z\\); keeping the previous certificate\$"
	[ "$(count "$LOG" 'reload failed')" -eq 1 ]
	refute_file_has "$LOG" 'reloaded rule=reload'
	# A good file again is taken.
	cp "$PKI/revB.crl" "$live.tmp" && mv -f "$live.tmp" "$live"
	for i in $(seq 1 30); do
		run say b-good
		grep -q 'reloaded rule=reload' "$LOG" && break
		sleep 0.3
	done
	assert_file_has "$LOG" 'reloaded rule=reload'
	served b-good
	wire_check
}

@test "a CRL that expires while in use: warned of, then peers refused; the next start fails, cache or not" {
	# Valid for 8 s from now: "due for renewal" at start, past its nextUpdate soon after.
	local end=$(( $(date +%s) + 8 )) c
	MKCRL_CA=intA MKCRL_OPTS="-crlsec 8" mkcrl "$PKI" "$BATS_TEST_TMPDIR/short.crl"
	cat "$PKI/root-empty.crl" "$BATS_TEST_TMPDIR/short.crl" > "$BATS_TEST_TMPDIR/brief.crl"
	serve brief "crl_file = \"$BATS_TEST_TMPDIR/brief.crl\"" 'crl_check = "chain"'
	c=${LOG%.log}.conf
	wire_start "$PORT"
	served a-good
	assert_file_has "$LOG" 'rule=brief: the CRL of issuer=CN=mtlsshim test intermediate A is due for renewal: nextUpdate [0-9-]+T[0-9:]+Z, in 0 days'
	# A second start with the same files passes (and may remember that it did).
	run --separate-stderr shim "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
	while [ "$(date +%s)" -le "$end" ]; do sleep 0.5; done
	refused a-good 'certificate verify failed: CRL has expired'
	wire_check --min-conns 1
	run --separate-stderr shim "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "crl_file $BATS_TEST_TMPDIR/brief.crl: the CRL of issuer=CN=mtlsshim test intermediate A has expired (nextUpdate "
}

@test "check: each CRL's issuer and nextUpdate, text and JSON; a CRL due within 3 days warns" {
	local c
	c=$(srvconf soon 8443 "crl_file = \"$PKI/soon.crl\"" 'crl_check = "chain"')
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = ok ]
	assert_contains "$output" "crl: $PKI/soon.crl (loaded), crl_check chain"
	[[ "$output" =~ issuer:\ CN=mtlsshim\ test\ CA,\ nextUpdate\ [0-9-]+T[0-9:]+Z\ \((29|30)\ days\ left\) ]]
	[[ "$output" =~ issuer:\ CN=mtlsshim\ test\ intermediate\ A,\ nextUpdate\ [0-9-]+T[0-9:]+Z\ \((29|30)\ days\ left\) ]]
	[[ "$output" =~ issuer:\ CN=mtlsshim\ test\ intermediate\ B,\ nextUpdate\ [0-9-]+T[0-9:]+Z\ \(1\ days\ left\) ]]
	[[ "$output" =~ warning:\ crl_file\ $PKI/soon\.crl:\ the\ CRL\ of\ issuer=CN=mtlsshim\ test\ intermediate\ B\ is\ due\ for\ renewal:\ nextUpdate\ [0-9-]+T[0-9:]+Z,\ in\ 1\ days ]]
	[ "$(grep -c 'warning: crl_file' <<< "$output")" -eq 1 ]
	run --separate-stderr launcher check --json -c "$c"
	show
	[ "$status" -eq 0 ]
	python3 - "$output" "$PKI/soon.crl" <<-'PY'
	import json, re, sys
	d = json.loads(sys.argv[1])
	crl = d["rules"][0]["crl"]
	assert crl["file"] == sys.argv[2] and crl["loaded"] is True and crl["revoked"] is False, crl
	assert crl["check"] == "chain", crl
	v = crl["crls"]
	assert [x["issuer"] for x in v] == ["CN=mtlsshim test CA", "CN=mtlsshim test intermediate A",
	                                    "CN=mtlsshim test intermediate B"], v
	assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", x["next_update"]) for x in v), v
	assert [x["days_left"] for x in v][2] == 1 and all(x["days_left"] >= 29 for x in v[:2]), v
	assert not any(x["expired"] for x in v), v
	w = [x for x in d["rules"][0]["warnings"] if x.startswith("crl_file")]
	assert len(w) == 1 and "intermediate B is due for renewal" in w[0], w
	assert d["rules"][0]["errors"] == [] and d["ok"] is True, d
	PY
}

@test "check --json: an expired CRL is an error (exit 78) and marked expired" {
	local c
	c=$(srvconf stalej 8443 "crl_file = \"$PKI/stale.crl\"")
	run --separate-stderr launcher check --json -c "$c"
	show
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "has expired (nextUpdate 2020-01-02T00:00:00Z)"
	python3 - "$output" <<-'PY'
	import json, sys
	d = json.loads(sys.argv[1])
	r = d["rules"][0]
	v = r["crl"]["crls"]
	assert [x["expired"] for x in v] == [False, False, True], v
	assert v[2]["next_update"] == "2020-01-02T00:00:00Z" and v[2]["days_left"] < 0, v
	assert d["ok"] is False and any("has expired" in e for e in r["errors"]), r
	PY
}
