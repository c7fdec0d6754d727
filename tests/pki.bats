#!/usr/bin/env bats
# pki.bats: `mtlsshim pki init|issue|revoke` as openssl sees its files, its refusals (message, exit
# status, nothing left behind), and its CA, certificates and CRL in use under the shim.

load helpers

setup_file() {
	[ -x "$LAUNCHER" ] || return 0
	# The shared PKI, made by the command under test; tests that change it work on a copy.
	export PKI=$BATS_FILE_TMPDIR/pki
	pki init "$PKI" >/dev/null
	pki issue "$PKI" server --server --dns localhost --ip 127.0.0.1 --ip ::1 >/dev/null
	pki issue "$PKI" client --client >/dev/null
	pki issue "$PKI" client2 --client >/dev/null
	pki issue "$PKI" both >/dev/null
	pki issue "$PKI" rsa --key rsa >/dev/null
	pki issue "$PKI" sans --dns a.test --dns b.test --ip 192.0.2.7 --ip 2001:db8::7 \
		--uri spiffe://test/svc >/dev/null
	pki issue "$PKI" expired --expired >/dev/null
	pki issue "$PKI" future --not-yet-valid >/dev/null
	# A second, unrelated CA and its client.
	export OTHER=$BATS_FILE_TMPDIR/other
	pki init "$OTHER" --name "other CA" >/dev/null
	pki issue "$OTHER" client --client >/dev/null
}
setup() { require_build; }
teardown() { common_teardown; }

# pki ARGS...: `mtlsshim pki ARGS...`; under the ASan build with leak detection on, so that a
# leak fails the command (LeakSanitizer's exit status 23).
pki() {
	if asan_build; then
		ASAN_OPTIONS=detect_leaks=1 "$LAUNCHER" pki "$@"
	else
		"$LAUNCHER" pki "$@"
	fi
}

# ext CERT: the four extensions a user checks, as openssl prints them.
ext() {
	openssl x509 -in "$1" -noout -ext basicConstraints,keyUsage,extendedKeyUsage,subjectAltName
}

# A PKI of this test's own (ca, a server and a client), for the tests that change one.
own_pki() {
	D=$BATS_TEST_TMPDIR/own
	pki init "$D" >/dev/null
	pki issue "$D" srv --server --dns localhost --ip 127.0.0.1 >/dev/null
	pki issue "$D" alice --client >/dev/null
	pki issue "$D" bob --client >/dev/null
}

# crl_number CRL: the CRL's crlNumber, in decimal.
crl_number() {
	openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//' | python3 -c 'import sys; print(int(sys.stdin.read().strip(), 16))'
}

# snap DIR: every entry below DIR (dot files too) with its type, mode and contents' digest.
snap() {
	(cd "$1" && find . -printf '%p %y %m\n' | sort && find . -type f -exec md5sum {} + | sort)
}

# refuses STATUS MESSAGE DIR ARGS...: `mtlsshim pki ARGS...` exits STATUS with the one stderr line
# "mtlsshim pki: MESSAGE", prints nothing on stdout, and leaves DIR as it was (no temp file).
refuses() {
	local want=$1 msg=$2 dir=$3; shift 3
	local before; before=$(snap "$dir")
	run --separate-stderr pki "$@"
	show
	[ "$status" -eq "$want" ]
	[ "$stderr" = "mtlsshim pki: $msg" ] || { echo "want stderr: mtlsshim pki: $msg" >&2; return 1; }
	[ -z "$output" ]
	[ "$(snap "$dir")" = "$before" ] || { echo "DIR changed:"; diff <(echo "$before") <(snap "$dir"); return 1; }
}

@test "init: ca.crt, ca.key (0600), crl.pem in a new 0700 directory, one line for each" {
	local d=$BATS_TEST_TMPDIR/new
	run --separate-stderr pki init "$d"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "wrote $d/crl.pem
wrote $d/ca.key
wrote $d/ca.crt" ]
	[ -z "$stderr" ]
	[ "$(stat -c %a "$d")" = 700 ]
	[ "$(stat -c %a "$d/ca.key")" = 600 ]
	[ "$(ls -A "$d" | tr '\n' ' ')" = "ca.crt ca.key crl.pem " ]
	run ext "$d/ca.crt"
	show
	assert_contains "$output" $'X509v3 Basic Constraints: critical\n    CA:TRUE'
	assert_contains "$output" $'X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign'
	run openssl x509 -in "$d/ca.crt" -noout -subject -issuer -ext subjectKeyIdentifier,authorityKeyIdentifier
	assert_contains "$output" "subject=CN = mtlsshim test CA"
	assert_contains "$output" "issuer=CN = mtlsshim test CA"
	assert_contains "$output" "X509v3 Subject Key Identifier"
	assert_contains "$output" "X509v3 Authority Key Identifier"
	# 3650 days by default.
	openssl x509 -in "$d/ca.crt" -noout -checkend $((3649 * 86400)) >/dev/null
	! openssl x509 -in "$d/ca.crt" -noout -checkend $((3651 * 86400)) >/dev/null
	openssl verify -CAfile "$d/ca.crt" "$d/ca.crt"
	grep -q 'BEGIN PRIVATE KEY' "$d/ca.key"
}

@test "init: the CRL is empty, v2, signed by the CA, with AKI, crlNumber 1 and nextUpdate in 30 days" {
	run openssl crl -in "$PKI/crl.pem" -CAfile "$PKI/ca.crt" -noout -text
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "verify OK"
	assert_contains "$output" "Version 2 (0x1)"
	assert_contains "$output" "No Revoked Certificates"
	assert_contains "$output" "X509v3 Authority Key Identifier"
	[ "$(crl_number "$PKI/crl.pem")" = 1 ]
	local next; next=$(openssl crl -in "$PKI/crl.pem" -noout -nextupdate | sed 's/^nextUpdate=//')
	local days=$(( ($(date -d "$next" +%s) - $(date +%s)) / 86400 ))
	[ "$days" -ge 29 ] && [ "$days" -le 30 ]
}

@test "init --name --days: the CA's CN and lifetime; an existing empty directory is used" {
	local d=$BATS_TEST_TMPDIR/empty
	mkdir "$d"
	run pki init "$d" --name "Acme test root" --days 10
	show
	[ "$status" -eq 0 ]
	run openssl x509 -in "$d/ca.crt" -noout -subject
	[ "$output" = "subject=CN = Acme test root" ]
	openssl x509 -in "$d/ca.crt" -noout -checkend $((9 * 86400)) >/dev/null
	! openssl x509 -in "$d/ca.crt" -noout -checkend $((11 * 86400)) >/dev/null
}

@test "issue --server: verifies; CA:FALSE, digitalSignature, serverAuth only, the SANs asked for" {
	openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt"
	run ext "$PKI/server.crt"
	show
	assert_contains "$output" $'X509v3 Basic Constraints: critical\n    CA:FALSE'
	assert_contains "$output" $'X509v3 Key Usage: critical\n    Digital Signature\n'
	assert_contains "$output" $'X509v3 Extended Key Usage: \n    TLS Web Server Authentication\n'
	assert_contains "$output" $'X509v3 Subject Alternative Name: \n    DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'
	run openssl x509 -in "$PKI/server.crt" -noout -subject -issuer
	assert_contains "$output" "subject=CN = server"
	assert_contains "$output" "issuer=CN = mtlsshim test CA"
}

@test "issue --client: clientAuth only; no SAN given: DNS:NAME" {
	openssl verify -CAfile "$PKI/ca.crt" "$PKI/client.crt"
	run ext "$PKI/client.crt"
	show
	assert_contains "$output" $'X509v3 Extended Key Usage: \n    TLS Web Client Authentication\n'
	assert_contains "$output" $'X509v3 Subject Alternative Name: \n    DNS:client'
	refute_contains "$output" "Server Authentication"
}

@test "issue without --server or --client: both EKUs; subject CN=NAME, SAN DNS:NAME" {
	openssl verify -CAfile "$PKI/ca.crt" "$PKI/both.crt"
	run ext "$PKI/both.crt"
	show
	assert_contains "$output" $'X509v3 Extended Key Usage: \n    TLS Web Server Authentication, TLS Web Client Authentication'
	assert_contains "$output" $'X509v3 Subject Alternative Name: \n    DNS:both'
	run openssl x509 -in "$PKI/both.crt" -noout -subject
	[ "$output" = "subject=CN = both" ]
}

@test "issue --dns --ip (v4, v6) --uri: each in the SAN, in order, and no DNS:NAME" {
	openssl verify -CAfile "$PKI/ca.crt" "$PKI/sans.crt"
	run ext "$PKI/sans.crt"
	show
	assert_contains "$output" $'X509v3 Subject Alternative Name: \n    DNS:a.test, DNS:b.test, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:7, URI:spiffe://test/svc'
	refute_contains "$output" "DNS:sans"
}

@test "issue: EC P-256 by default, --key rsa is RSA 2048 with keyEncipherment; PKCS#8 keys, 0600" {
	run openssl pkey -in "$PKI/both.key" -noout -text
	assert_contains "$output" "ASN1 OID: prime256v1"
	run openssl x509 -in "$PKI/both.crt" -noout -text
	assert_contains "$output" "Signature Algorithm: ecdsa-with-SHA256"
	run openssl pkey -in "$PKI/rsa.key" -noout -text
	assert_contains "$output" "Private-Key: (2048 bit"
	openssl verify -CAfile "$PKI/ca.crt" "$PKI/rsa.crt"
	run ext "$PKI/rsa.crt"
	assert_contains "$output" $'X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment'
	local k
	for k in "$PKI"/*.key "$OTHER"/*.key; do
		[ "$(stat -c %a "$k")" = 600 ] || { echo "$k: $(stat -c %a "$k")"; return 1; }
		head -1 "$k" | grep -qx -- '-----BEGIN PRIVATE KEY-----'
	done
	# Each key is its certificate's.
	[ "$(openssl x509 -in "$PKI/rsa.crt" -noout -pubkey)" = "$(openssl pkey -in "$PKI/rsa.key" -pubout)" ]
	[ "$(openssl x509 -in "$PKI/both.crt" -noout -pubkey)" = "$(openssl pkey -in "$PKI/both.key" -pubout)" ]
}

@test "issue: a random positive 159-bit serial, SKI and AKI (the CA's SKI), 825 days by default" {
	local s1 s2
	s1=$(openssl x509 -in "$PKI/client.crt" -noout -serial | sed 's/serial=//')
	s2=$(openssl x509 -in "$PKI/client2.crt" -noout -serial | sed 's/serial=//')
	[ "$s1" != "$s2" ]
	[[ $s1 =~ ^[4-7][0-9A-F]{39}$ ]]
	local ski aki
	ski=$(openssl x509 -in "$PKI/ca.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
	aki=$(openssl x509 -in "$PKI/client.crt" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ')
	[ "$aki" = "$ski" ] || [ "$aki" = "keyid:$ski" ]
	openssl x509 -in "$PKI/client.crt" -noout -ext subjectKeyIdentifier | grep -q 'Subject Key Identifier'
	openssl x509 -in "$PKI/client.crt" -noout -checkend $((824 * 86400)) >/dev/null
	! openssl x509 -in "$PKI/client.crt" -noout -checkend $((826 * 86400)) >/dev/null
}

@test "issue --expired fails verify with 'certificate has expired'; --not-yet-valid with 'not yet valid'" {
	run openssl verify -CAfile "$PKI/ca.crt" "$PKI/expired.crt"
	show
	[ "$status" -ne 0 ]
	assert_contains "$output" "certificate has expired"
	run openssl verify -CAfile "$PKI/ca.crt" "$PKI/future.crt"
	show
	[ "$status" -ne 0 ]
	assert_contains "$output" "not yet valid"
	# Otherwise sound: only the time is wrong.
	openssl verify -no_check_time -CAfile "$PKI/ca.crt" "$PKI/expired.crt" "$PKI/future.crt"
}

@test "issue --force replaces NAME.crt and NAME.key; without it an existing NAME is refused" {
	own_pki
	local old; old=$(openssl x509 -in "$D/alice.crt" -noout -serial)
	refuses 1 "$D/alice.crt already exists (--force replaces it)" "$D" issue "$D" alice
	run pki issue "$D" alice --force --key rsa
	show
	[ "$status" -eq 0 ]
	[ "$(openssl x509 -in "$D/alice.crt" -noout -serial)" != "$old" ]
	[ "$(stat -c %a "$D/alice.key")" = 600 ]
	openssl pkey -in "$D/alice.key" -noout -text | grep -q 'Private-Key: (2048 bit'
	openssl verify -CAfile "$D/ca.crt" "$D/alice.crt"
	[ -z "$(ls -A "$D" | grep -v -E '^(ca|srv|alice|bob)\.(crt|key)$|^crl\.pem$')" ]
}

@test "revoke: the CRL names the certificate, which verify -crl_check refuses; the others still verify" {
	own_pki
	run --separate-stderr pki revoke "$D" alice
	show
	[ "$status" -eq 0 ]
	[ "$output" = "wrote $D/crl.pem" ]
	run openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/alice.crt"
	show
	[ "$status" -ne 0 ]
	assert_contains "$output" "certificate revoked"
	openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/bob.crt" "$D/srv.crt"
	run openssl crl -in "$D/crl.pem" -CAfile "$D/ca.crt" -noout -text
	assert_contains "$output" "verify OK"
	assert_contains "$output" "Serial Number: $(openssl x509 -in "$D/alice.crt" -noout -serial | sed 's/serial=//')"
	[ "$(crl_number "$D/crl.pem")" = 2 ]
	[ "$(stat -c %a "$D/crl.pem")" = 644 ]
}

@test "revoke: crlNumber goes up with each, entries are kept; revoking twice says so, exits 0, changes nothing" {
	own_pki
	pki revoke "$D" alice >/dev/null
	pki revoke "$D" bob >/dev/null
	[ "$(crl_number "$D/crl.pem")" = 3 ]
	local sum; sum=$(md5sum < "$D/crl.pem")
	run --separate-stderr pki revoke "$D" alice
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "$D/alice.crt (serial "
	assert_contains "$output" ") is already revoked in $D/crl.pem; nothing written"
	[ -z "$stderr" ]
	[ "$(md5sum < "$D/crl.pem")" = "$sum" ]
	local f
	for f in alice bob; do
		run openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/$f.crt"
		assert_contains "$output" "certificate revoked"
	done
	openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/srv.crt"
	# A reissued NAME is a new certificate: revocable in its turn.
	pki issue "$D" alice --force >/dev/null
	openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/alice.crt"
	pki revoke "$D" alice >/dev/null
	[ "$(crl_number "$D/crl.pem")" = 4 ]
	[ "$(openssl crl -in "$D/crl.pem" -noout -text | grep -c 'Serial Number')" = 3 ]
}

@test "usage errors exit 64 with one line and write nothing" {
	own_pki
	refuses 64 "bad NAME a/b: has a '/' (NAME is a file name in DIR)" "$D" issue "$D" a/b
	refuses 64 "bad NAME : empty" "$D" issue "$D" ""
	refuses 64 "bad NAME .hidden: starts with '.' (NAME is a file name in DIR)" "$D" issue "$D" .hidden
	refuses 64 "bad NAME (a value with control bytes): has control bytes" "$D" issue "$D" $'x\ty'
	refuses 64 "bad NAME (a value with control bytes): has control bytes" "$D" revoke "$D" $'x\ny'
	refuses 64 "bad NAME ca: reserved for the CA's own ca.crt and ca.key" "$D" issue "$D" ca
	refuses 64 "bad NAME ca: reserved for the CA's own ca.crt and ca.key" "$D" revoke "$D" ca
	refuses 64 "bad NAME a b: no DNS name (spaces or non-ASCII), so give the SAN with --dns, --ip or --uri" "$D" issue "$D" "a b"
	refuses 64 "bad NAME $(printf 'x%.0s' $(seq 65)): longer than 64 bytes (it is the certificate's CN)" "$D" issue "$D" "$(printf 'x%.0s' $(seq 65))"
	refuses 64 "bad --ip 1.2.3: not an IPv4 or IPv6 address" "$D" issue "$D" x --ip 1.2.3
	refuses 64 "bad --ip 256.0.0.1: not an IPv4 or IPv6 address" "$D" issue "$D" x --ip 256.0.0.1
	refuses 64 "bad --ip 2001:db8::1::2: not an IPv4 or IPv6 address" "$D" issue "$D" x --ip 2001:db8::1::2
	refuses 64 "bad --ip localhost: not an IPv4 or IPv6 address" "$D" issue "$D" x --ip localhost
	local uri="needs a scheme (as in spiffe://x/y) and no spaces, control or non-ASCII bytes"
	refuses 64 "bad --uri example.com/x: $uri" "$D" issue "$D" x --uri example.com/x
	refuses 64 "bad --uri 1http://x: $uri" "$D" issue "$D" x --uri 1http://x
	refuses 64 "bad --uri :x: $uri" "$D" issue "$D" x --uri :x
	refuses 64 "bad --uri spiffe://a b: $uri" "$D" issue "$D" x --uri "spiffe://a b"
	refuses 64 "bad --uri (a value with control bytes): $uri" "$D" issue "$D" x --uri $'http://a\001'
	refuses 64 "bad --dns : a DNS name, ASCII without spaces or control bytes" "$D" issue "$D" x --dns ""
	refuses 64 "bad --dns a b: a DNS name, ASCII without spaces or control bytes" "$D" issue "$D" x --dns "a b"
	local days="a whole number of days from 1 to 36500"
	refuses 64 "bad --days 0: $days" "$D" issue "$D" x --days 0
	refuses 64 "bad --days -5: $days" "$D" issue "$D" x --days -5
	refuses 64 "bad --days 12x: $days" "$D" issue "$D" x --days 12x
	refuses 64 "bad --days : $days" "$D" issue "$D" x --days=
	refuses 64 "bad --days 36501: $days" "$D" issue "$D" x --days 36501
	refuses 64 "bad --days 99999999999999999999: $days" "$D" issue "$D" x --days 99999999999999999999
	refuses 64 "bad --key dsa: ec or rsa" "$D" issue "$D" x --key dsa
	refuses 64 "issue: --expired and --not-yet-valid exclude each other" "$D" issue "$D" x --expired --not-yet-valid
	refuses 64 "issue: --days with --expired: its window is fixed (30 days ago to yesterday)" "$D" issue "$D" x --expired --days 3
	refuses 64 "issue: unknown option --bogus (mtlsshim pki --help)" "$D" issue "$D" x --bogus
	refuses 64 "issue: --name is not an option of issue (mtlsshim pki --help)" "$D" issue "$D" x --name y
	refuses 64 "revoke: --force is not an option of revoke (mtlsshim pki --help)" "$D" revoke "$D" alice --force
	refuses 64 "issue: --dns needs a value" "$D" issue "$D" x --dns
	refuses 64 "issue: --server takes no value" "$D" issue "$D" x --server=yes
	refuses 64 "issue: missing NAME (mtlsshim pki --help)" "$D" issue "$D"
	refuses 64 "revoke: missing DIR (mtlsshim pki --help)" "$D" revoke
	refuses 64 "issue: unexpected argument extra" "$D" issue "$D" x extra
	refuses 64 "unknown command bogus (init, issue or revoke)" "$D" bogus "$D"
	refuses 64 "bad --name : a CN of 1 to 64 bytes without control bytes" "$D" init "$BATS_TEST_TMPDIR/n" --name ""
	refuses 64 "bad --days x: $days" "$D" init "$BATS_TEST_TMPDIR/n" --days x
	[ ! -e "$BATS_TEST_TMPDIR/n" ]
	# The usage text: on stderr with 64 for no command, on stdout with 0 for --help.
	run --separate-stderr pki
	[ "$status" -eq 64 ]
	assert_contains "$stderr" "usage: mtlsshim pki init DIR"
	run --separate-stderr pki --help
	[ "$status" -eq 0 ]
	assert_contains "$output" "mtlsshim pki revoke DIR NAME"
	run --separate-stderr "$LAUNCHER" --help
	assert_contains "$stderr" "mtlsshim pki issue DIR NAME"
}

@test "runtime refusals exit 1 with one line and write nothing" {
	own_pki
	local p=$BATS_TEST_TMPDIR
	refuses 1 "$D already holds a PKI (ca.crt, ca.key): init refuses to replace it" "$D" init "$D"
	refuses 1 "$D already holds a PKI (ca.crt, ca.key): init refuses to replace it" "$D" init "$D/"
	mkdir "$p/junk" && echo hi > "$p/junk/notes.txt"
	refuses 1 "$p/junk is not empty and not a PKI made by \`mtlsshim pki init\` (no ca.crt and ca.key): init wants a new or empty directory" "$p/junk" init "$p/junk"
	refuses 1 "$p/junk is not a PKI made by \`mtlsshim pki init\` (no ca.crt and ca.key)" "$p/junk" issue "$p/junk" x
	refuses 1 "$p/junk is not a PKI made by \`mtlsshim pki init\` (no ca.crt and ca.key)" "$p/junk" revoke "$p/junk" x
	refuses 1 "$p/nowhere: no such directory (mtlsshim pki init $p/nowhere makes one)" "$p/junk" issue "$p/nowhere" x
	refuses 1 "cannot create $p/no/such: No such file or directory" "$p/junk" init "$p/no/such"
	[ ! -e "$p/no" ] && [ ! -e "$p/nowhere" ]
	refuses 1 "$D/nobody.crt does not exist: no certificate nobody was issued in $D" "$D" revoke "$D" nobody
	refuses 1 "$D/bob.crt already exists (--force replaces it)" "$D" issue "$D" bob --server
	rm "$D/bob.crt"
	refuses 1 "$D/bob.key already exists (--force replaces it)" "$D" issue "$D" bob
	# A certificate of another CA put into DIR is not revoked by this one.
	cp "$OTHER/client.crt" "$D/stranger.crt"
	refuses 1 "$D/stranger.crt was not issued by $D/ca.crt" "$D" revoke "$D" stranger
	# A CRL of another CA is not carried over.
	cp "$OTHER/crl.pem" "$D/crl.pem"
	refuses 1 "$D/crl.pem is not signed by $D/ca.crt" "$D" revoke "$D" alice
}

@test "a write that fails half-way (a full file system) leaves no temp file and no half file" {
	own_pki
	# A tmpfs of four pages: ca.crt, ca.key and crl.pem take three, NAME.key the last, so
	# NAME.crt cannot be written; NAME.key, already staged, must go too.
	local m=$BATS_TEST_TMPDIR/tiny
	mkdir "$m"
	mount -t tmpfs -o size=16k,mode=700 tmpfs "$m" 2>/dev/null || skip "cannot mount a tmpfs"
	cp -p "$D"/ca.* "$D/crl.pem" "$m/"
	local before; before=$(snap "$m")
	run --separate-stderr pki issue "$m" x --key rsa
	show
	ls -la "$m"
	local ok=1
	[ "$status" -eq 1 ] || ok=0
	[[ $stderr == "mtlsshim pki: cannot write $m/x."*": No space left on device" ]] || ok=0
	[ "$(snap "$m")" = "$before" ] || ok=0
	umount "$m"
	[ "$ok" = 1 ]
}

# rule KIND NAME PORT CERT-BASE [LINE...]: a KIND (server, client) rule NAME on PORT presenting
# PKI/CERT-BASE.{crt,key}, LINEs inside it, for conf's body.
rule() {
	local k=$1 n=$2 port=$3 base=$4; shift 4
	printf '%s "%s" {\n    port = %s\n' "$k" "$n" "$port"
	printf '    cert_file = "%s"\n    key_file = "%s"\n' "$PKI/$base.crt" "$PKI/$base.key"
	[ $# -eq 0 ] || printf '    %s\n' "$@"
	echo "}"
}

@test "mtlsshim check is happy with pki-made certificates and CRL (no warnings)" {
	local c
	c=$({ echo "crl_file = \"$PKI/crl.pem\""; rule server web 8443 server; rule client up 8444 client; } | conf pkichk)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	refute_contains "$output" "warning"
	refute_contains "$output" "error"
	[ "$(tail -1 <<< "$output")" = ok ]
}

# say PKIDIR CERT-BASE TEXT: an unshimmed s_client presenting PKIDIR/CERT-BASE.{crt,key} sends TEXT
# to the echo server at PORT, trusting PKI's CA; prints what came back.
say() {
	{ printf '%s\n' "$3"; sleep 1; } | timeout 15 openssl s_client -quiet -no_ign_eof -verify_return_error \
		-CAfile "$PKI/ca.crt" -cert "$1/$2.crt" -key "$1/$2.key" \
		-connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null
}

# echo_under NAME [LINE...]: an echo server under a server rule NAME on a free PORT presenting the
# pki-made server certificate, LINEs in the rule; sets PORT and SRVLOG.
echo_under() {
	local n=$1 c; shift
	PORT=$(free_port)
	c=$(rule server "$n" "$PORT" server "$@" | conf "$n")
	SRVLOG=$BATS_TEST_TMPDIR/$n.log
	shim_bg "$BATS_TEST_TMPDIR/$n.out" "$c" "$PROGS/echo_server" -m fork "$PORT"
	wait_port "$PORT"
}

@test "end to end: a shimmed echo server with pki-made certificates takes the pki client, refuses another CA's and, with crl_file, the revoked one" {
	# s_client verifies the server: the pki-made server certificate passes -verify_return_error.
	echo_under e2e
	run say "$PKI" client "hello from client"
	show
	[ "$output" = "hello from client" ]
	run say "$OTHER" client "hello from elsewhere"
	show
	refute_contains "$output" "hello from elsewhere"
	wait_for "$SRVLOG" 'refused rule=e2e .*reason=".*(unknown ca|unable to get local issuer certificate)' 5

	# A second server, the same CA with one client revoked: crl_file = crl.pem.
	local d=$BATS_TEST_TMPDIR/rev
	cp -a "$PKI" "$d"
	run pki revoke "$d" client
	[ "$status" -eq 0 ]
	PKI=$d echo_under e2ecrl "crl_file = \"$d/crl.pem\""
	PKI=$d run say "$d" client "hello while revoked"
	show
	refute_contains "$output" "hello while revoked"
	wait_for "$SRVLOG" 'refused rule=e2ecrl .*reason="certificate verify failed: certificate revoked"' 5
	PKI=$d run say "$d" client2 "hello from client2"
	show
	[ "$output" = "hello from client2" ]
}
