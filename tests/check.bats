#!/usr/bin/env bats
# check.bats: `mtlsshim check [-c FILE] [--json]` describes each rule's files and finds what is wrong
# with them; allow_expired_cert governs an expired own certificate in check and at start; the own
# certificate's status from its OCSP responder (a real `openssl ocsp`, tests/ocsp.bash) and staple.

load helpers
load ocsp

setup_file() {
	common_setup_file
	local san='subjectAltName = DNS:localhost, IP:127.0.0.1'
	# Copies of the standard pairs with a private key mode (mkpki leaves keys 0644).
	local b
	for b in server client; do
		cp "$PKI/$b.crt" "$PKI/$b-600.crt"
		cp "$PKI/$b.key" "$PKI/$b-600.key"
		chmod 600 "$PKI/$b-600.key"
	done
	issue_cert "$PKI" cliauth /CN=cliauth $'extendedKeyUsage = clientAuth\n'"$san"
	issue_cert "$PKI" srvauth /CN=srvauth $'extendedKeyUsage = serverAuth\n'"$san"
	issue_cert "$PKI" noeku /CN=noeku "$san"
	issue_cert "$PKI" weak /CN=weak $'extendedKeyUsage = serverAuth, clientAuth\n'"$san" 30 ca rsa:1024
	issue_cert "$PKI" weakec /CN=weakec $'extendedKeyUsage = serverAuth, clientAuth\n'"$san" 30 ca ec:P-224
	issue_cert "$PKI" rsa2048 /CN=rsa2048 $'extendedKeyUsage = serverAuth, clientAuth\n'"$san" 30 ca rsa:2048
	issue_cert "$PKI" ownrev /CN=ownrev $'extendedKeyUsage = serverAuth, clientAuth\n'"$san"
	issue_cert "$PKI" short /CN=short $'extendedKeyUsage = serverAuth, clientAuth\n'"$san" 3
	mkcrl "$PKI" "$PKI/crl.pem" "$PKI/ownrev.crt"
	chmod 600 "$PKI/expired.key" "$PKI/foreign.key"
	# The OCSP PKI: own certificates whose AIA names a responder that runs (OURL), or nothing
	# listening (DOWNPORT), or a listener that never answers (SILENTPORT).
	export OPKI=$BATS_FILE_TMPDIR/opki OPORT DOWNPORT SILENTPORT
	OPORT=$(free_port); DOWNPORT=$(free_port); SILENTPORT=$(free_port)
	export OURL=http://127.0.0.1:$OPORT
	mkocsp_pki "$OPKI" "$OURL"
	ocsp_issue "$OPKI" ogood /CN=localhost "$OURL"
	ocsp_issue "$OPKI" orev /CN=localhost "$OURL"
	ocsp_issue "$OPKI" odown /CN=localhost "http://127.0.0.1:$DOWNPORT"
	ocsp_issue "$OPKI" osilent /CN=localhost "http://127.0.0.1:$SILENTPORT"
	ocsp_revoke "$OPKI" orev
	ocsp_staple "$OPKI" ogood "$OPKI/ogood-3d.der" -ndays 3
	ocsp_staple "$OPKI" ogood "$OPKI/ogood-2h.der" -nmin 120
	chmod 600 "$OPKI"/*.key
}
setup() { require_build; }
teardown() { common_teardown; }

# ck NAME KIND CERT-BASE [LINE...]: a config with one rule KIND ("server"/"client") named NAME on port
# 8443 presenting PKI/CERT-BASE.{crt,key} (CKDIR/..., when set), LINEs inside the rule block. Prints its path.
ck() {
	local n=$1 kind=$2 base=$3; shift 3
	{
		echo "$kind \"$n\" {"
		echo "    port = 8443"
		echo "    cert_file = \"${CKDIR:-$PKI}/$base.crt\""
		echo "    key_file = \"${CKDIR:-$PKI}/$base.key\""
		[ $# -eq 0 ] || printf '    %s\n' "$@"
		echo "}"
	} | conf "$n"
}

# ock NAME KIND CERT-BASE [LINE...]: as ck, with OPKI/CERT-BASE.{crt,key} and ca_file OPKI/ca.crt.
ock() {
	local n=$1 kind=$2 base=$3; shift 3
	CKDIR=$OPKI ck "$n" "$kind" "$base" "ca_file = \"$OPKI/ca.crt\"" "$@"
}

# check_json CONF: runs `mtlsshim check -c CONF --json`; JSON in $BATS_TEST_TMPDIR/check.json, status in $status.
check_json() {
	run --separate-stderr launcher check -c "$1" --json
	show
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/check.json"
}

# jq_ EXPR: a Python expression over the parsed check JSON `d`, printed as JSON.
jq_() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(eval(sys.argv[2], {"d": d, "any": any, "all": all, "len": len, "re": __import__("re")})))' \
		"$BATS_TEST_TMPDIR/check.json" "$1"
}

# jq_true EXPR: EXPR over `d` is true (prints the document when not).
jq_true() {
	local v; v=$(jq_ "$1") || { cat "$BATS_TEST_TMPDIR/check.json" >&2; return 1; }
	if [ "$v" != true ]; then
		echo "expected true: $1 (got $v) in:" >&2
		python3 -m json.tool "$BATS_TEST_TMPDIR/check.json" >&2 || cat "$BATS_TEST_TMPDIR/check.json" >&2
		return 1
	fi
}

WORLD='(world|every user|o\+r)'

@test "check: human output names files, subject, SANs, issuer, validity and days left" {
	local c; c=$(conf human <<-EOF
	server "web" {
	    port = 8443
	    cert_file = "$PKI/server-600.crt"
	    key_file = "$PKI/server-600.key"
	}
	client "db" {
	    port = 5432
	    cert_file = "$PKI/client-600.crt"
	    key_file = "$PKI/client-600.key"
	}
	EOF
	)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" '"web"'
	assert_contains "$output" '"db"'
	assert_contains "$output" "$PKI/server-600.crt"
	assert_contains "$output" "$PKI/server-600.key"
	assert_contains "$output" "$PKI/ca.crt"
	assert_contains "$output" "CN=localhost"
	assert_contains "$output" "DNS:localhost"
	assert_contains "$output" "IP:127.0.0.1"
	assert_contains "$output" "CN=client"
	assert_contains "$output" "DNS:client.test"
	assert_contains "$output" "mtlsshim test CA"
	[[ "$output" =~ (29|30)\ days ]]
	# The two validity ends of the 30-day certificate, as dates.
	[[ "$output" =~ $(date -u +%Y) ]]
	refute_contains "$output" "warning"
	refute_contains "$output" "error"
}

@test "check --json: one JSON object with the documented fields" {
	local c; c=$(conf js <<-EOF
	server "web" {
	    port = 8443
	    cert_file = "$PKI/server-600.crt"
	    key_file = "$PKI/server-600.key"
	}
	client "db" {
	    port = 5432
	    cert_file = "$PKI/client-600.crt"
	    key_file = "$PKI/client-600.key"
	    crl_file = "$PKI/crl.pem"
	}
	EOF
	)
	check_json "$c"
	[ "$status" -eq 0 ]
	python3 -m json.tool "$BATS_TEST_TMPDIR/check.json" >/dev/null
	jq_true 'd["ok"] is True and isinstance(d["config"], str) and d["config"].endswith("js.conf")'
	jq_true 'len(d["rules"]) == 2'
	jq_true 'all(set(r) >= {"name","kind","port","cert","key","ca_file","chains_to_ca","crl","warnings","errors"} for r in d["rules"])'
	jq_true 'all(set(r["cert"]) >= {"file","subject","san","issuer","not_before","not_after","days_left"} for r in d["rules"])'
	jq_true 'all(set(r["key"]) >= {"file","matches"} for r in d["rules"])'
	local w='d["rules"][0]' b='d["rules"][1]'
	jq_true "$w[\"name\"] == \"web\" and $w[\"kind\"] == \"server\" and $w[\"port\"] == 8443"
	jq_true "$b[\"name\"] == \"db\" and $b[\"kind\"] == \"client\" and $b[\"port\"] == 5432"
	jq_true "$w[\"cert\"][\"file\"] == \"$PKI/server-600.crt\" and $w[\"key\"][\"file\"] == \"$PKI/server-600.key\""
	jq_true "$w[\"cert\"][\"subject\"] == \"CN=localhost\""
	jq_true "isinstance($w[\"cert\"][\"san\"], list) and \"DNS:localhost\" in $w[\"cert\"][\"san\"] and \"IP:127.0.0.1\" in $w[\"cert\"][\"san\"]"
	jq_true "\"mtlsshim test CA\" in $w[\"cert\"][\"issuer\"]"
	jq_true "isinstance($w[\"cert\"][\"days_left\"], int) and $w[\"cert\"][\"days_left\"] in (29, 30)"
	jq_true "isinstance($w[\"cert\"][\"not_before\"], str) and isinstance($w[\"cert\"][\"not_after\"], str) and $w[\"cert\"][\"not_before\"] < $w[\"cert\"][\"not_after\"]"
	jq_true "$w[\"key\"][\"matches\"] is True and $w[\"chains_to_ca\"] is True and $w[\"ca_file\"] == \"$PKI/ca.crt\""
	jq_true "$w[\"crl\"] is None and $w[\"warnings\"] == [] and $w[\"errors\"] == []"
	jq_true "$b[\"cert\"][\"subject\"] == \"CN=client\" and $b[\"cert\"][\"san\"] == [\"DNS:client.test\"]"
	jq_true "$b[\"crl\"][\"file\"] == \"$PKI/crl.pem\" and $b[\"crl\"][\"revoked\"] is False"
	jq_true "$b[\"warnings\"] == [] and $b[\"errors\"] == []"
}

@test "check: a world-readable private key is a warning, not an error" {
	chmod 644 "$PKI/server.key"	# as mkpki leaves it, to be explicit
	local c; c=$(ck wr server server)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	[[ "$output" =~ $WORLD ]]
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["ok"] is True and d["rules"][0]["errors"] == []'
	jq_true "any(re.search(r'$WORLD', w) and \"$PKI/server.key\" in w for w in d[\"rules\"][0][\"warnings\"])"
	# Group-readable is not world-readable.
	cp "$PKI/server.key" "$BATS_TEST_TMPDIR/g.key"
	cp "$PKI/server.crt" "$BATS_TEST_TMPDIR/g.crt"
	chmod 640 "$BATS_TEST_TMPDIR/g.key"
	c=$(conf grp <<-EOF
	server "grp" {
	    port = 8443
	    cert_file = "$BATS_TEST_TMPDIR/g.crt"
	    key_file = "$BATS_TEST_TMPDIR/g.key"
	}
	EOF
	)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["warnings"] == []'
}

@test "check: an EC P-224 key is a weak-key warning, not an error" {
	local c; c=$(ck weak server weakec)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["ok"] is True and d["rules"][0]["errors"] == []'
	jq_true 'any(re.search(r"(?i)weak", w) and "224" in w for w in d["rules"][0]["warnings"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	[[ "$output" =~ [Ww]eak ]]
}

@test "check: an RSA-1024 key is a weak-key warning; check agrees with the library on whether it loads" {
	local c; c=$(ck weak server weak)
	check_json "$c"
	jq_true 'any(re.search(r"(?i)weak", w) and "1024" in w for w in d["rules"][0]["warnings"])'
	local checked=$status
	# OpenSSL's security level decides whether RSA-1024 is usable at all (Debian: level 2, not
	# usable); check must give the same verdict as starting a program does.
	run --separate-stderr shim "$c" sh -c 'echo RAN'
	show
	if [ "$status" -eq 0 ]; then
		[ "$checked" -eq 0 ]
	else
		[ "$status" -eq 78 ]
		[ "$checked" -eq 78 ]
	fi
}

@test "check: RSA-2048 and EC P-256 keys give no weak-key warning" {
	local c; c=$(ck strong server rsa2048)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["warnings"] == []'
	c=$(ck ec server server-600)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["warnings"] == []'
}

@test "check: a server cert without serverAuth EKU, or a client cert without clientAuth, is a warning" {
	local c; c=$(ck eku server cliauth)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'any("serverAuth" in w for w in d["rules"][0]["warnings"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "serverAuth"
	c=$(ck eku client srvauth)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'any("clientAuth" in w for w in d["rules"][0]["warnings"])'
	# The right EKU for the rule's side, or no EKU extension at all: no warning.
	c=$(ck eku server srvauth);	check_json "$c";	jq_true 'd["rules"][0]["warnings"] == []'
	c=$(ck eku client cliauth);	check_json "$c";	jq_true 'd["rules"][0]["warnings"] == []'
	c=$(ck eku server noeku);	check_json "$c";	jq_true 'd["rules"][0]["warnings"] == []'
	c=$(ck eku client noeku);	check_json "$c";	jq_true 'd["rules"][0]["warnings"] == []'
}

@test "check: a cert from a foreign CA does not chain to ca_file: error, exit 78" {
	local c; c=$(ck foreign server foreign)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False'
	jq_true 'd["rules"][0]["chains_to_ca"] is False and d["rules"][0]["errors"] != []'
	jq_true 'd["rules"][0]["key"]["matches"] is True'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	# A foreign cert next to a good rule: the good rule stays clean, the whole check fails.
	c=$(conf mixed <<-EOF
	server "good" {
	    port = 8443
	    cert_file = "$PKI/server-600.crt"
	    key_file = "$PKI/server-600.key"
	}
	client "bad" {
	    port = 5432
	    cert_file = "$PKI/foreign.crt"
	    key_file = "$PKI/foreign.key"
	}
	EOF
	)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False and len(d["rules"]) == 2'
	jq_true 'd["rules"][0]["chains_to_ca"] is True and d["rules"][0]["errors"] == []'
	jq_true 'd["rules"][1]["chains_to_ca"] is False and d["rules"][1]["errors"] != []'
}

@test "check: a key that does not match the cert is an error (key.matches false), exit 78" {
	local c; c=$(conf mm <<-EOF
	server "mm" {
	    port = 8443
	    cert_file = "$PKI/server-600.crt"
	    key_file = "$PKI/client-600.key"
	}
	EOF
	)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False and d["rules"][0]["key"]["matches"] is False and d["rules"][0]["errors"] != []'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
}

@test "check: an unreadable key file is an error, exit 78" {
	local c; c=$(conf unr <<-EOF
	server "unr" {
	    port = 8443
	    cert_file = "$PKI/server-600.crt"
	    key_file = "$BATS_TEST_TMPDIR/no-such.key"
	}
	EOF
	)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	assert_contains "$output$stderr" "no-such.key"
	run --separate-stderr launcher check -c "$c" --json
	show
	[ "$status" -eq 78 ]
	assert_contains "$output$stderr" "no-such.key"
}

@test "check: an own cert revoked by crl_file is an error, exit 78" {
	local c; c=$(ck rev server ownrev "crl_file = \"$PKI/crl.pem\"")
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False'
	jq_true 'd["rules"][0]["crl"]["file"] == "'"$PKI"'/crl.pem" and d["rules"][0]["crl"]["revoked"] is True'
	jq_true 'any(re.search(r"(?i)revoked", e) for e in d["rules"][0]["errors"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	[[ "$output$stderr" =~ [Rr]evoked ]]
	# The same CRL with a cert it does not list is fine.
	c=$(ck notrev server server-600 "crl_file = \"$PKI/crl.pem\"")
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["crl"]["revoked"] is False and d["rules"][0]["errors"] == []'
}

@test "check: an expired own cert is an error (exit 78) unless allow_expired_cert = true" {
	local c; c=$(ck exp client expired)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False and d["rules"][0]["cert"]["days_left"] < 0'
	jq_true 'any(re.search(r"(?i)expired", e) for e in d["rules"][0]["errors"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	[[ "$output$stderr" =~ [Ee]xpired ]]
	c=$(ck exp client expired 'allow_expired_cert = true')
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["ok"] is True and d["rules"][0]["errors"] == []'
	jq_true 'any(re.search(r"(?i)expired", w) for w in d["rules"][0]["warnings"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
}

@test "check: a cert expiring in 3 days reports days_left and still passes" {
	local c; c=$(ck short server short)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["cert"]["days_left"] in (2, 3) and d["rules"][0]["errors"] == []'
}

@test "an expired own cert stops the program (exit 78, one line) unless allow_expired_cert = true" {
	local c; c=$(ck exp client expired)
	local how
	for how in launcher preload; do
		if [ $how = launcher ]; then
			run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
		else
			run --separate-stderr shim "$c" sh -c 'echo RAN'
		fi
		show
		[ "$status" -eq 78 ]
		refute_contains "$output" RAN
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "mtlsshim: "* ]]
		assert_contains "$stderr" "$PKI/expired.crt"
		[[ "$stderr" =~ [Ee]xpired ]]
	done
	c=$(ck exp2 client expired 'allow_expired_cert = true')
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
	assert_file_has "$BATS_TEST_TMPDIR/exp2.log" 'rule=exp2.*[Ee]xpired'
	# The top-level setting is the default for rules.
	c=$(conf exp3 <<-EOF
	allow_expired_cert = true
	client "exp3" {
	    port = 8443
	    cert_file = "$PKI/expired.crt"
	    key_file = "$PKI/expired.key"
	}
	EOF
	)
	run --separate-stderr shim "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 0 ]
	[ "$output" = RAN ]
}

@test "check without -c uses MTLSSHIM_CONFIG, and --json works there too" {
	local c; c=$(ck envc server server-600)
	export MTLSSHIM_CONFIG=$c
	run --separate-stderr launcher check --json
	show
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/check.json"
	jq_true 'd["ok"] is True and d["rules"][0]["name"] == "envc"'
}

@test "check: an own certificate its OCSP responder (AIA) says good: ocsp line and \"ocsp\" in JSON, exit 0" {
	ocsp_responder_start "$OPKI" "$OPORT"
	local c; c=$(ock og server ogood)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	[[ "$output" =~ "ocsp: $OURL: good, thisUpdate "[0-9-]+T[0-9:]+Z", nextUpdate "[0-9-]+T[0-9:]+Z" ("[01]" days left)" ]]
	refute_contains "$output" "warning"
	check_json "$c"
	[ "$status" -eq 0 ]
	local o='d["rules"][0]["ocsp"]'
	jq_true "d[\"ok\"] is True and $o[\"responder\"] == \"$OURL\" and $o[\"status\"] == \"good\""
	jq_true "isinstance($o[\"this_update\"], str) and $o[\"this_update\"] < $o[\"next_update\"]"
	jq_true "$o[\"days_left\"] in (0, 1) and $o[\"error\"] is None"
	jq_true 'd["rules"][0]["warnings"] == [] and d["rules"][0]["errors"] == [] and d["rules"][0]["staple"] is None'
	# The responder was really asked: once per run.
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 2 ]
	# ocsp_responder overrides the AIA (odown's names a port where nothing listens).
	c=$(ock ovr server odown "ocsp_responder = \"$OURL\"")
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true "$o[\"responder\"] == \"$OURL\" and $o[\"status\"] == \"good\""
}

@test "check: an own certificate its OCSP responder says revoked is an error, exit 78" {
	ocsp_responder_start "$OPKI" "$OPORT"
	local c; c=$(ock orv server orev)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["ok"] is False and d["rules"][0]["ocsp"]["status"] == "revoked"'
	jq_true 'any("revoked" in e and "OCSP" in e and "'"$OPKI"'/orev.crt" in e for e in d["rules"][0]["errors"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 78 ]
	assert_contains "$output" "ocsp: $OURL: REVOKED"
	assert_contains "$stderr" "$OPKI/orev.crt is revoked by its OCSP responder $OURL"
	# Beside it, a good rule stays clean.
	c=$(conf omix <<-EOF
	ca_file = "$OPKI/ca.crt"
	server "good" {
	    port = 8443
	    cert_file = "$OPKI/ogood.crt"
	    key_file = "$OPKI/ogood.key"
	}
	server "bad" {
	    port = 8444
	    cert_file = "$OPKI/orev.crt"
	    key_file = "$OPKI/orev.key"
	}
	EOF
	)
	check_json "$c"
	[ "$status" -eq 78 ]
	jq_true 'd["rules"][0]["ocsp"]["status"] == "good" and d["rules"][0]["errors"] == []'
	jq_true 'd["rules"][1]["ocsp"]["status"] == "revoked" and d["rules"][1]["errors"] != []'
}

@test "check: an OCSP responder down or silent is a warning (exit 0), within ocsp_timeout" {
	local c; c=$(ock odn server odown 'ocsp_timeout = 2')
	local t0=$SECONDS
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["ok"] is True and d["rules"][0]["errors"] == []'
	jq_true 'd["rules"][0]["ocsp"]["responder"] == "http://127.0.0.1:'"$DOWNPORT"'" and d["rules"][0]["ocsp"]["status"] == "error"'
	jq_true 're.search(r"(?i)refused", d["rules"][0]["ocsp"]["error"]) is not None and d["rules"][0]["ocsp"]["next_update"] is None'
	jq_true 'any("OCSP responder" in w and "'"$OPKI"'/odown.crt" in w for w in d["rules"][0]["warnings"])'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "ocsp: http://127.0.0.1:$DOWNPORT: no status:"
	[[ "$output" =~ warning:\ OCSP\ responder ]]
	# A responder that accepts and never answers: the same, after ocsp_timeout.
	bg "$BATS_TEST_TMPDIR/silent.out" python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
held = [s.accept() for _ in range(8)]' "$SILENTPORT"
	wait_port "$SILENTPORT"
	c=$(ock osl server osilent 'ocsp_timeout = 2')
	t0=$SECONDS
	check_json "$c"
	[ "$status" -eq 0 ]
	[ $(( SECONDS - t0 )) -le 4 ]
	jq_true 'd["rules"][0]["ocsp"]["status"] == "error" and "within 2s" in d["rules"][0]["ocsp"]["error"]'
	jq_true 'd["rules"][0]["errors"] == [] and any("OCSP responder" in w for w in d["rules"][0]["warnings"])'
}

@test "check: no OCSP responder known (no AIA, no ocsp_responder): \"ocsp\" null, no ocsp line" {
	local c; c=$(ck noaia server server-600)
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["rules"][0]["ocsp"] is None and d["rules"][0]["staple"] is None and d["rules"][0]["warnings"] == []'
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	refute_contains "$output" "ocsp:"
	refute_contains "$output" "staple:"
}

@test "check: ocsp_staple_file's nextUpdate and days left; a warning within a day of it" {
	ocsp_responder_start "$OPKI" "$OPORT"
	local c; c=$(ock st3 server ogood "ocsp_staple_file = \"$OPKI/ogood-3d.der\"")
	check_json "$c"
	[ "$status" -eq 0 ]
	local s='d["rules"][0]["staple"]'
	jq_true "$s[\"file\"] == \"$OPKI/ogood-3d.der\" and $s[\"days_left\"] in (2, 3) and isinstance($s[\"next_update\"], str)"
	jq_true 'd["rules"][0]["warnings"] == []'
	run --separate-stderr launcher check -c "$c"
	show
	[[ "$output" =~ "staple: $OPKI/ogood-3d.der, nextUpdate "[0-9-]+T[0-9:]+Z" ("[23]" days left)" ]]
	c=$(ock st2 server ogood "ocsp_staple_file = \"$OPKI/ogood-2h.der\"")
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true "$s[\"days_left\"] == 0"
	jq_true 'any("ocsp_staple_file" in w and "less than a day" in w for w in d["rules"][0]["warnings"])'
}
