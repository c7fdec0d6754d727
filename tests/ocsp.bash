# ocsp.bash: OCSP test harness (a real `openssl ca` database, `openssl ocsp` responders, staples).
# Sourced by bats files after helpers.bash (`load helpers` then `load ocsp`); needs bg/kill_bg,
# wait_port and wait_for from there. Real components only: `openssl ca` keeps the index that
# `openssl ocsp` answers from; python3's cryptography makes the one thing openssl cannot (a
# response dated in the past, ocsp_staple_dated).
#
# The responder listens on loopback only: OpenSSL 3.0's `openssl ocsp -port` takes no address
# and would listen on every interface, so tests/ocsp_front.py takes each HTTP request on
# 127.0.0.1 and has `openssl ocsp -index -reqin -respout` answer it, reading index.txt afresh:
# a revocation is answered at once. ocsp_revoke still sends each running responder of the
# directory one query of its own (it did so for `openssl ocsp -port`, which looked at the index
# before waiting for the next request); ocsp_query_count leaves those out.

# mkocsp_pki DIR [URL]: a throwaway EC P-256 PKI with one `openssl ca` database (DIR/index.txt,
# DIR/serial, DIR/ca.cnf, issued copies in DIR/newcerts), shared by both CAs so serials are unique:
#   ca.{crt,key}          the root CA (trust anchor; no AIA)
#   ocsp.{crt,key}        OCSP signer for certificates ca issued: signed by ca,
#                         extendedKeyUsage OCSPSigning (and id-pkix-ocsp-nocheck)
#   int.{crt,key}         an intermediate CA signed by ca; its AIA points at URL when given
#                         (the responder for ca's certificates), for ocsp = "chain" tests
#   int-ocsp.{crt,key}    OCSP signer for certificates int issued (OCSP_CA=int, below)
#   ca-chain.crt          ca + int
# Key files are mode 644 like mkpki's, so a shimmed program under another uid can read them.
mkocsp_pki() {
	local d=$1 url=${2:-}
	mkdir -p "$d/newcerts" && (
	set -e
	cd "$d"
	: > index.txt
	echo 1000 > serial
	echo 1000 > crlnumber
	cat > ca.cnf <<-CNF
	[ca]
	default_ca = ocsptest
	[ocsptest]
	database = $d/index.txt
	serial = $d/serial
	crlnumber = $d/crlnumber
	new_certs_dir = $d/newcerts
	default_md = sha256
	default_days = 30
	default_crl_days = 30
	policy = any
	unique_subject = no
	email_in_dn = no
	[any]
	commonName = supplied
	[req]
	distinguished_name = dn
	[dn]
	[root]
	basicConstraints = critical, CA:TRUE
	keyUsage = critical, keyCertSign, cRLSign
	subjectKeyIdentifier = hash
	CNF
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config ca.cnf \
		-extensions root -keyout ca.key -out ca.crt -subj "/CN=mtlsshim OCSP test CA" -days 30
	_ocsp_sign ca ocsp /CN=ocsp-signer $'keyUsage = critical, digitalSignature\nextendedKeyUsage = critical, OCSPSigning\nnoCheck = ignored'
	_ocsp_sign ca int "/CN=mtlsshim OCSP test intermediate" \
		"basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid${url:+
authorityInfoAccess = OCSP;URI:$url}"
	_ocsp_sign int int-ocsp /CN=int-ocsp-signer $'keyUsage = critical, digitalSignature\nextendedKeyUsage = critical, OCSPSigning\nnoCheck = ignored'
	cat ca.crt int.crt > ca-chain.crt
	) >"$d/mkocsp_pki.log" 2>&1 || { cat "$d/mkocsp_pki.log" >&2; return 1; }
}

# _ocsp_sign CA NAME SUBJECT EXT: (inside DIR, for the functions here) a new P-256 key NAME.key
# and NAME.crt signed by CA.{crt,key} through the database, with the extension lines EXT
# (basicConstraints = CA:FALSE unless EXT sets it).
_ocsp_sign() {
	local ca=$1 name=$2 subj=$3 ext=$4
	case $ext in *basicConstraints*) ;; *) ext="basicConstraints = CA:FALSE
$ext" ;; esac
	printf '[x]\n%s\n' "$ext" > "$name.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config ca.cnf \
		-keyout "$name.key" -out "$name.csr" -subj "$subj"
	openssl ca -batch -config ca.cnf -cert "$ca.crt" -keyfile "$ca.key" -notext \
		-extfile "$name.ext" -extensions x -in "$name.csr" -out "$name.crt"
	chmod 644 "$name.key"
}

# ocsp_issue DIR NAME SUBJECT URL [server|client] [CA]: DIR/NAME.{crt,key}, a leaf signed by
# DIR/CA (ca, the default, or int) whose AIA is `OCSP;URI:URL`. server (the default): SAN
# DNS:localhost, IP:127.0.0.1, serverAuth and clientAuth; client: SAN DNS:NAME.test, clientAuth.
# Issued by int, DIR/NAME-chain.crt holds the leaf then int (a cert_file that sends its chain).
ocsp_issue() {
	local d=$1 name=$2 subj=$3 url=$4 kind=${5:-server} ca=${6:-ca} ext
	case $kind in
	server) ext=$'keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1' ;;
	client) ext="keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:$name.test" ;;
	*) echo "ocsp_issue: kind is server or client, not $kind" >&2; return 1 ;;
	esac
	(
	set -e
	cd "$d"
	_ocsp_sign "$ca" "$name" "$subj" "$ext
authorityInfoAccess = OCSP;URI:$url"
	[ "$ca" = ca ] || cat "$name.crt" "$ca.crt" > "$name-chain.crt"
	) >"$d/$name.log" 2>&1 || { cat "$d/$name.log" >&2; return 1; }
}

# ocsp_revoke DIR NAME: marks DIR/NAME.crt revoked in DIR/index.txt (openssl ca -revoke). When
# it returns, every responder ocsp_responder_start runs for DIR answers "revoked": each is sent
# one query (any answer will do) so that it reloads the index (see the top of this file); those
# queries are noted in LOG.own and not counted by ocsp_query_count.
ocsp_revoke() {
	local d=$1 name=$2 pid port log dir
	openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.crt" -keyfile "$d/ca.key" \
		-revoke "$d/$name.crt" >"$d/$name.revoke.log" 2>&1 || { cat "$d/$name.revoke.log" >&2; return 1; }
	[ -f "$BATS_TEST_TMPDIR/ocsp.responders" ] || return 0
	while read -r pid port log dir; do
		[ "$dir" = "$d" ] && kill -0 "$pid" 2>/dev/null || continue
		ocsp_ask "$d" "$name" "http://127.0.0.1:$port" </dev/null >/dev/null || true
		echo "$name" >> "$log.own"
	done < "$BATS_TEST_TMPDIR/ocsp.responders"
}

# _ocsp_days ARGS...: (for the functions here) "-ndays 1" unless ARGS set -ndays or -nmin
# (openssl ocsp adds the two, so the default would otherwise lengthen a -nmin).
_ocsp_days() {
	case " $* " in *" -ndays "*|*" -nmin "*) ;; *) echo "-ndays 1" ;; esac
}

# ocsp_responder_start DIR PORT [ARGS...]: an `openssl ocsp` responder on 127.0.0.1:PORT answering
# from DIR/index.txt, in the background (bg: own process group, PID in OCSP_PID, ended by PID in
# kill_bg at teardown), signing with DIR/ocsp (or DIR/int-ocsp for certificates int issued, with
# OCSP_CA=int). ARGS go to openssl ocsp after the defaults (-ndays N or -nmin N for the
# responses' nextUpdate, a day from now by default). Logs the requests and responses as text to OCSP_LOG
# ($BATS_TEST_TMPDIR/ocsp.PORT.log, line-buffered), for ocsp_query_count. Returns once the port
# listens (bounded, 10 s), without connecting to it (a probe would count as a query).
ocsp_responder_start() {
	local d=$1 port=$2 ca=${OCSP_CA:-ca}; shift 2
	local signer=ocsp
	[ "$ca" = ca ] || signer=$ca-ocsp
	OCSP_LOG=$BATS_TEST_TMPDIR/ocsp.$port.log
	bg "$OCSP_LOG.front" python3 "$BATS_TEST_DIRNAME/ocsp_front.py" "$port" "$OCSP_LOG" -- \
		-index "$d/index.txt" -rsigner "$d/$signer.crt" -rkey "$d/$signer.key" -CA "$d/$ca.crt" \
		$(_ocsp_days "$@") "$@"
	OCSP_PID=$BGPID
	echo "$OCSP_PID $port $OCSP_LOG $d" >> "$BATS_TEST_TMPDIR/ocsp.responders"
	wait_port "$port" || { cat "$OCSP_LOG" >&2; return 1; }
}

# ocsp_responder_stop: ends the responder ocsp_responder_start started last, by its PID (its
# process group), and waits (bounded, 5 s) for it to go; e.g. to test a responder that is down.
ocsp_responder_stop() {
	[ -n "${OCSP_PID:-}" ] || return 0
	local i
	kill -TERM -- "-$OCSP_PID" 2>/dev/null || kill -TERM "$OCSP_PID" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$OCSP_PID" 2>/dev/null || break
		sleep 0.1
	done
	OCSP_PID=
}

# ocsp_query_count LOGFILE: how many requests the responder of LOGFILE (its OCSP_LOG) has
# served so far: one "OCSP Request Data:" block each (0 when there is no log yet), less those
# ocsp_revoke sent it.
ocsp_query_count() {
	local n own
	n=$(grep -c '^OCSP Request Data:' "$1" 2>/dev/null || true)
	own=$({ wc -l < "$1.own"; } 2>/dev/null || echo 0)
	echo $(( ${n:-0} - own ))
}

# ocsp_ask DIR NAME URL [CA]: an ordinary client query (openssl ocsp -issuer -cert -url) for
# DIR/NAME.crt, issued by DIR/CA (default ca), verifying the answer against DIR/ca.crt; prints
# openssl's report ("DIR/NAME.crt: good", "...: revoked" with the time, and the validity lines).
ocsp_ask() {
	local d=$1 name=$2 url=$3 ca=${4:-ca}
	timeout 15 openssl ocsp -issuer "$d/$ca.crt" -cert "$d/$name.crt" -url "$url" \
		-CAfile "$d/ca-chain.crt" -timeout 10 2>&1
}

# ocsp_staple DIR NAME OUT [ARGS...]: writes OUT, a DER OCSP response (what
# `openssl ocsp -respout` writes, what s_server -status_file serves) for DIR/NAME.crt with its
# status in DIR/index.txt now, signed by DIR/ocsp (int-ocsp when NAME was issued by int), made
# offline: a request file answered by `openssl ocsp -index -reqin -respout`, no network, no
# nonce. thisUpdate now, nextUpdate a day later unless ARGS (more openssl ocsp options) say
# otherwise, e.g. -nmin 5.
ocsp_staple() {
	local d=$1 name=$2 out=$3 ca=ca signer=ocsp; shift 3
	# Whose certificate: the issuer named in the leaf.
	if [ "$(openssl x509 -in "$d/$name.crt" -noout -issuer_hash)" = \
	    "$(openssl x509 -in "$d/int.crt" -noout -subject_hash)" ]; then
		ca=int signer=int-ocsp
	fi
	(
	set -e
	openssl ocsp -issuer "$d/$ca.crt" -cert "$d/$name.crt" -no_nonce -reqout "$out.req"
	openssl ocsp -index "$d/index.txt" -rsigner "$d/$signer.crt" -rkey "$d/$signer.key" \
		-CA "$d/$ca.crt" $(_ocsp_days "$@") "$@" -reqin "$out.req" -respout "$out.tmp"
	mv -f "$out.tmp" "$out"
	rm -f "$out.req"
	) >"$out.log" 2>&1 || { cat "$out.log" >&2; return 1; }
}

# ocsp_staple_dated DIR NAME OUT THIS NEXT [good|revoked]: writes OUT, a DER OCSP response for
# DIR/NAME.crt (issued by ca) with the given status (default good) and thisUpdate THIS and
# nextUpdate NEXT, each a number of seconds from now (negative: the past; e.g. -7200 -3600 is a
# response that expired an hour ago), signed by DIR/ocsp. openssl ocsp cannot date a response,
# so python3's cryptography builds it.
ocsp_staple_dated() {
	local d=$1 name=$2 out=$3 this=$4 next=$5 st=${6:-good}
	python3 - "$d" "$name" "$out" "$this" "$next" "$st" <<-'PY'
	import datetime, sys
	from cryptography import x509
	from cryptography.hazmat.primitives import hashes, serialization
	from cryptography.x509 import ocsp
	d, name, out, this, nxt, st = sys.argv[1:]
	load = lambda f: x509.load_pem_x509_certificate(open(f, "rb").read())
	cert, ca, signer = load(f"{d}/{name}.crt"), load(f"{d}/ca.crt"), load(f"{d}/ocsp.crt")
	key = serialization.load_pem_private_key(open(f"{d}/ocsp.key", "rb").read(), None)
	now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
	at = lambda s: now + datetime.timedelta(seconds=int(s))
	status = ocsp.OCSPCertStatus.GOOD if st == "good" else ocsp.OCSPCertStatus.REVOKED
	b = ocsp.OCSPResponseBuilder().add_response(
	    cert=cert, issuer=ca, algorithm=hashes.SHA1(), cert_status=status,
	    this_update=at(this), next_update=at(nxt),
	    revocation_time=at(this) if st != "good" else None, revocation_reason=None)
	b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, signer).certificates([signer])
	open(out, "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
	PY
}

# status_client [s_client options...]: an unshimmed openssl s_client presenting the trusted
# client certificate to $PORT sends "hello" and prints everything it shows (for `run`).
# With -status it shows the stapled response (staple.bats, stapling.bats).
status_client() {
	{ printf 'hello\n'; sleep 1; } | timeout 15 openssl s_client -connect "127.0.0.1:$PORT" \
		-verify_return_error -CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" \
		"$@" 2>&1
}

# assert_stapled_good OUTPUT: status_client -status OUTPUT shows a stapled response, successful and
# good, and the echo of "hello".
assert_stapled_good() {
	assert_contains "$1" "OCSP Response Status: successful"
	assert_contains "$1" "Cert Status: good"
	assert_contains "$1" "hello"
}
