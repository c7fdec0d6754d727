#!/usr/bin/env bats
# peerenv.bats: a program started per connection finds the verified peer in its environment
# (MTLSSHIM_PEER_*, MTLSSHIM_RULE), escaped for a shell, and only while it holds the session.

load helpers

setup_file() {
	common_setup_file
	# A workload certificate: two URI SANs (the first, a SPIFFE ID, is MTLSSHIM_PEER_URI) and an IP.
	issue_cert "$PKI" svc "/CN=svc/O=Example Org" $'extendedKeyUsage = clientAuth\nsubjectAltName = DNS:svc.test, URI:spiffe://example.org/ns/prod/sa/web, URI:https://second.example/x, IP:127.0.0.1'
	# A subject that would run commands, end lines and split words in a shell that took it raw.
	# (-subj cannot hold '/', hence the relative file names; the test runs eval in its own dir.)
	issue_cert "$PKI" hostile "/CN=a \$(touch pwned); \`touch pwned2\`/OU='sq' \"dq\" 100% back\\\\slash "$'\n'"line2/L=~user *glob <tag> #hash \${HOME} & | >x/O=Example, Inc\\+x" \
		'extendedKeyUsage = clientAuth'
	# A URI SAN with a comma and what reads like another SAN after it.
	issue_cert "$PKI" commasan "/CN=commasan" $'extendedKeyUsage = clientAuth\nsubjectAltName = @alt\n[alt]\nURI.1 = https://a.example/x,DNS:admin.example\nDNS.1 = b.example'
	# A URI SAN longer than a value may be (PEERENV_VALUE_MAX, 16384 bytes escaped).
	issue_cert "$PKI" longuri "/CN=longuri" "extendedKeyUsage = clientAuth
subjectAltName = DNS:long.test, URI:spiffe://example.org/$(printf 'a%.0s' $(seq 17000))"
}
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# The service: prints our variables (sorted) and "end"; with a directory argument it also
# records what its own children see: two with stdin and stdout away from the connection
# (dash runs the first with vfork, the second forks a shell that execs) and one that keeps
# the connection on its stdin.
peer_script() {
	cat > "$T/peer.sh" <<-'EOF'
	env | grep -E '^MTLSSHIM_(PEER_|RULE=)' | sort
	echo end
	if [ -n "${1:-}" ]; then
		env </dev/null >"$1/gc-away.env"
		sh -c 'exec env' </dev/null >"$1/gc-away2.env"
		sh -c 'exec env' >"$1/gc-with.env"
	fi
	EOF
}

# start_inetd_peer [-E] [ENV=VALUE...]: a shimmed openbsd-inetd, its environment with ENVs, on a
# server-rule port (PORT, rule "pe") running peer.sh $T (or $PEER_SVC $T) for each connection, and on a port no
# rule matches (PLAINPORT, plaintext) running it too. -E: inetd keeps LD_PRELOAD for the service,
# which is then shimmed itself; without, inetd launders it away.
start_inetd_peer() {
	local opt=()
	[ "${1:-}" != -E ] || { opt=(-E); shift; }
	PORT=$(free_port)
	PLAINPORT=$(free_port)
	peer_script
	{
		echo "127.0.0.1:$PORT stream tcp nowait root /bin/sh sh ${PEER_SVC:-$T/peer.sh} $T"
		echo "127.0.0.1:$PLAINPORT stream tcp nowait root /bin/sh sh $T/peer.sh"
	} > "$T/inetd-peer.conf"
	shim_bg "$T/inetd.out" "$(server_conf pe "$PORT")" env "$@" /usr/sbin/inetd -d "${opt[@]}" "$T/inetd-peer.conf"
	wait_port "$PORT"
	wait_port "$PLAINPORT"
}

# connect_as CERT-BASE: an unshimmed s_client presenting $PKI/CERT-BASE to PORT; output is
# what the service printed.
connect_as() {
	run bash -c "sleep 2 | timeout 15 openssl s_client -quiet -verify_return_error -CAfile '$PKI/ca.crt' \
		-cert '$PKI/$1.crt' -key '$PKI/$1.key' -connect 127.0.0.1:$PORT 2>/dev/null"
	show
}

# var NAME [TEXT]: NAME's value among TEXT's (default $output) NAME=VALUE lines; fails if absent.
var() {
	local line
	line=$(grep -m1 -- "^$1=" <<< "${2:-$output}") || { echo "no $1 in: ${2:-$output}" >&2; return 1; }
	printf '%s' "${line#*=}"
}

# decode VALUE: undoes the %XX escaping.
decode() { printf '%b' "${1//%/\\x}"; }

# rfc2253 CERT-BASE subject|issuer: the name as mtlsshim writes it (RFC 2253, UTF-8 unescaped).
rfc2253() {
	local n
	n=$(openssl x509 -in "$PKI/$1.crt" -noout "-$2" -nameopt RFC2253,-esc_msb)
	printf '%s' "${n#"$2"=}"
}

# check_vars CERT-BASE RULE LOG: the variables in $output are CERT-BASE's, as openssl reads it,
# for the connection LOG logged as accepted by RULE.
check_vars() {
	local crt=$PKI/$1.crt want got
	[ "$(decode "$(var MTLSSHIM_PEER_SUBJECT)")" = "$(rfc2253 "$1" subject)" ]
	[ "$(decode "$(var MTLSSHIM_PEER_ISSUER)")" = "$(rfc2253 "$1" issuer)" ]
	want=$(openssl x509 -in "$crt" -noout -serial)
	[ "$(var MTLSSHIM_PEER_SERIAL)" = "${want#serial=}" ]
	want=$(openssl x509 -in "$crt" -noout -enddate)
	[ "$(var MTLSSHIM_PEER_NOT_AFTER)" = "$(date -u -d "${want#notAfter=}" +%Y-%m-%dT%H:%M:%SZ)" ]
	want=$(openssl x509 -in "$crt" -noout -fingerprint -sha256)
	[ "$(var MTLSSHIM_PEER_FINGERPRINT)" = "${want#*=}" ]
	[ "$(var MTLSSHIM_RULE)" = "$2" ]
	# The SANs and the TCP peer exactly as the accepted line logged them.
	[[ $(grep "accepted rule=$2 " "$3" | tail -1) =~ peer=([0-9.]+):([0-9]+)\ .*san=\"([^\"]*)\" ]]
	[ "$(var MTLSSHIM_PEER_ADDR)" = "${BASH_REMATCH[1]}" ]
	[ "$(var MTLSSHIM_PEER_PORT)" = "${BASH_REMATCH[2]}" ]
	got=$(var MTLSSHIM_PEER_SAN)
	[ "$(decode "$got")" = "${BASH_REMATCH[3]}" ]
}

@test "inetd: the service sees the client certificate's subject, issuer, SANs, first URI, serial, notAfter, fingerprint, address and rule" {
	start_inetd_peer
	wire_start "$PORT"
	connect_as svc
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = end ]
	check_vars svc pe "$T/pe.log"
	[ "$(var MTLSSHIM_PEER_SAN)" = "DNS:svc.test,URI:spiffe://example.org/ns/prod/sa/web,URI:https://second.example/x,IP:127.0.0.1" ]
	[ "$(var MTLSSHIM_PEER_URI)" = "spiffe://example.org/ns/prod/sa/web" ]
	[ "$(var MTLSSHIM_PEER_SUBJECT)" = "O=Example%20Org,CN=svc" ]
	[ "$(var MTLSSHIM_PEER_ISSUER)" = "CN=mtlsshim%20test%20CA" ]
	[ "$(var MTLSSHIM_PEER_ADDR)" = 127.0.0.1 ]
	# Ten variables, no more.
	[ "$(grep -c '^MTLSSHIM_' <<< "$output")" -eq 10 ]
	wire_check
}

@test "inetd: a certificate without a URI SAN gives no MTLSSHIM_PEER_URI; the next connection gets its own peer" {
	start_inetd_peer
	connect_as client
	check_vars client pe "$T/pe.log"
	[ "$(var MTLSSHIM_PEER_SAN)" = DNS:client.test ]
	[ "$(grep -c '^MTLSSHIM_PEER_URI=' <<< "$output")" -eq 0 ]
	connect_as client2
	check_vars client2 pe "$T/pe.log"
	[ "$(var MTLSSHIM_PEER_SUBJECT)" = CN=client2 ]
}

@test "a comma inside a SAN is %2C in MTLSSHIM_PEER_SAN: split at commas, then decode, gives each SAN" {
	start_inetd_peer
	connect_as commasan
	[ "${lines[-1]}" = end ]
	check_vars commasan pe "$T/pe.log"
	local san; san=$(var MTLSSHIM_PEER_SAN)
	[ "$san" = "URI:https://a.example/x%2CDNS:admin.example,DNS:b.example" ]
	local -a each; IFS=, read -ra each <<< "$san"
	[ "${#each[@]}" -eq 2 ]
	[ "$(decode "${each[0]}")" = "URI:https://a.example/x,DNS:admin.example" ]
	[ "$(var MTLSSHIM_PEER_URI)" = "https://a.example/x,DNS:admin.example" ]
}

@test "a value longer than 16384 bytes is left out whole, never cut, and the log says so" {
	start_inetd_peer
	connect_as longuri
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = end ]
	[ "$(grep -Ec '^MTLSSHIM_PEER_(URI|SAN)=' <<< "$output")" -eq 0 ]
	[ "$(var MTLSSHIM_PEER_SUBJECT)" = CN=longuri ]
	[ "$(var MTLSSHIM_RULE)" = pe ]
	assert_file_has "$T/pe.log" 'MTLSSHIM_PEER_URI left out of the program.s environment: 170[0-9]{2} bytes escaped, more than 16384'
	assert_file_has "$T/pe.log" 'MTLSSHIM_PEER_SAN left out'
}

@test "a subject full of shell syntax: every value is inert under eval (bash and dash) and decodes back to the RFC 2253 text" {
	start_inetd_peer
	wire_start "$PORT"
	connect_as hostile
	[ "$status" -eq 0 ]
	wire_check
	local vars want
	vars=$(grep -E '^MTLSSHIM_(PEER_|RULE=)' <<< "$output")
	# Nothing but the safe bytes and %XX in any value.
	[ "$(grep -c . <<< "$vars")" -eq 9 ]
	[ "$(grep -Evc '^MTLSSHIM_[A-Z_]+=([A-Za-z0-9_.,:/=@+-]|%[0-9A-F]{2})*$' <<< "$vars")" -eq 0 ]
	want=$(rfc2253 hostile subject)
	# The raw name would run two commands and break the line.
	[[ $want == *'$(touch pwned)'* && $want == *'`touch pwned2`'* && $want == *'\0A'* ]]
	mkdir "$T/evalbash" "$T/evaldash"
	run bash -c 'cd "$1" && eval "$2" && printf "%s" "$MTLSSHIM_PEER_SUBJECT"' - "$T/evalbash" "$vars"
	[ "$status" -eq 0 ]
	[ "$(decode "$output")" = "$want" ]
	run sh -c 'cd "$1" && eval "$2" && printf "%s" "$MTLSSHIM_PEER_SUBJECT"' - "$T/evaldash" "$vars"
	[ "$status" -eq 0 ]
	[ "$(decode "$output")" = "$want" ]
	[ "$(find "$T/evalbash" "$T/evaldash" -mindepth 1 | wc -l)" -eq 0 ]
	[ ! -e "$HOME/pwned" ]
	[ ! -e pwned ]
}

@test "inetd -E (the service shimmed too): its children see the variables only while they hold the connection on stdin or stdout" {
	start_inetd_peer -E
	connect_as svc
	[ "${lines[-1]}" = end ]
	check_vars svc pe "$T/pe.log"
	wait_for "$T/gc-with.env" '^MTLSSHIM_RULE=' 5
	# Kept: the same values as the service's own.
	[ "$(grep -E '^MTLSSHIM_(PEER_|RULE=)' "$T/gc-with.env" | sort)" = "$(grep -E '^MTLSSHIM_(PEER_|RULE=)' <<< "$output")" ]
	# Away from the connection, by vfork and by fork: none, though MTLSSHIM_RELAYED goes on.
	grep -q '^MTLSSHIM_RELAYED=' "$T/gc-away.env"
	[ "$(grep -Ec '^MTLSSHIM_(PEER_|RULE=)' "$T/gc-away.env")" -eq 0 ]
	[ "$(grep -Ec '^MTLSSHIM_(PEER_|RULE=)' "$T/gc-away2.env")" -eq 0 ]
}

@test "MTLSSHIM_PEER_* and MTLSSHIM_RULE in the server's own environment reach no service: replaced for a TLS connection, dropped for a plaintext one" {
	start_inetd_peer -E MTLSSHIM_PEER_SUBJECT=CN=forged MTLSSHIM_PEER_EXTRA=forged MTLSSHIM_RULE=forged
	connect_as client
	[ "${lines[-1]}" = end ]
	check_vars client pe "$T/pe.log"
	refute_contains "$output" forged
	# A port no rule matches: plaintext, no session, so no peer at all.
	run bash -c "sleep 1 | timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))
s.settimeout(8)
out = b\"\"
while not out.endswith(b\"end\\n\"):
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())' $PLAINPORT"
	show
	[ "$output" = end ]
}

# spawn_script: spawn.sh, a service that prints our variables and "end", then execs spawn.py DIR:
# children started by os.posix_spawn / posix_spawnp with file actions, each a python that writes
# its environment to DIR/NAME.env without exec'ing anything, then (last) an exec with 0 and 1
# close-on-exec. Each NAME says what the child holds on 0 and 1.
spawn_script() {
	cat > "$T/spawn.sh" <<-'EOF'
	env | grep -E '^MTLSSHIM_(PEER_|RULE=)' | sort
	echo end
	exec python3 "${0%/*}/spawn.py" "$1"
	EOF
	cat > "$T/spawn.py" <<-'EOF'
	import os, sys
	d = sys.argv[1]
	dump = "import os, sys\nopen(sys.argv[1], 'w').write(''.join(k + '=' + v + '\\n' for k, v in os.environ.items()))"
	def spawn(name, fa, fn=os.posix_spawn, prog=sys.executable):
	    pid = fn(prog, ["python3", "-c", dump, d + "/" + name + ".env"], os.environ, file_actions=fa)
	    os.waitpid(pid, 0)
	null = (os.O_RDWR, 0)
	# 0 and 1 elsewhere: none.
	spawn("away", [(os.POSIX_SPAWN_OPEN, 0, "/dev/null") + null, (os.POSIX_SPAWN_OPEN, 1, "/dev/null") + null])
	# The connection stays on 0: kept.
	spawn("stdin", [(os.POSIX_SPAWN_OPEN, 1, "/dev/null") + null])
	# No file actions, 0 and 1 the connection: kept.
	spawn("nofa", None)
	# 0 and 1 elsewhere, then the connection dup2'd back onto 0 from another number: kept.
	fd = os.dup(0)
	spawn("dup", [(os.POSIX_SPAWN_OPEN, 0, "/dev/null") + null, (os.POSIX_SPAWN_CLOSE, 1),
	              (os.POSIX_SPAWN_DUP2, fd, 0)])
	# Another descriptor dup2'd over 0 and 1, by posix_spawnp: none.
	n = os.open("/dev/null", os.O_RDWR)
	spawn("spawnp", [(os.POSIX_SPAWN_DUP2, n, 0), (os.POSIX_SPAWN_DUP2, n, 1)], os.posix_spawnp, "python3")
	# The connection closed over once it was on 0: none.
	spawn("dupclosed", [(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_CLOSE, 0), (os.POSIX_SPAWN_CLOSE, 1)])
	# 0 close-on-exec, 1 elsewhere: none.
	os.set_inheritable(0, False)
	spawn("cloexec", [(os.POSIX_SPAWN_OPEN, 1, "/dev/null") + null])
	# An exec with 0 and 1 both close-on-exec: the new image holds neither, so none.
	os.set_inheritable(1, False)
	os.execv(sys.executable, ["python3", "-c", dump, d + "/execcloexec.env"])
	EOF
}

@test "posix_spawn and posix_spawnp (python os.posix_spawn): the child gets the variables only if its file actions leave or dup2 the connection on 0 or 1; an exec with 0 and 1 close-on-exec drops them" {
	command -v python3 >/dev/null || skip "no python3"
	spawn_script
	PEER_SVC=$T/spawn.sh start_inetd_peer -E
	connect_as svc
	[ "${lines[-1]}" = end ]
	check_vars svc pe "$T/pe.log"
	local want name
	want=$(grep -E '^MTLSSHIM_(PEER_|RULE=)' <<< "$output")
	wait_for "$T/execcloexec.env" '^MTLSSHIM_RELAYED=' 10
	for name in stdin nofa dup; do
		[ "$(grep -E '^MTLSSHIM_(PEER_|RULE=)' "$T/$name.env" | sort)" = "$want" ] || { echo "$name: not kept" >&2; return 1; }
	done
	for name in away spawnp dupclosed cloexec execcloexec; do
		grep -q '^MTLSSHIM_RELAYED=' "$T/$name.env"
		[ "$(grep -Ec '^MTLSSHIM_(PEER_|RULE=)' "$T/$name.env")" -eq 0 ] || { echo "$name: kept" >&2; return 1; }
		# Nor does the image's MTLSSHIM_RELAYED still mark a peer.
		refute_file_has "$T/$name.env" '^MTLSSHIM_RELAYED=.*/P(,|$)'
	done
}

@test "socat EXEC:...,nofork (socket on stdin and stdout): the program sees the peer" {
	PORT=$(free_port)
	peer_script
	shim_bg "$T/socat.out" "$(server_conf pesocat "$PORT")" env MTLSSHIM_PEER_SUBJECT=CN=forged \
		socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:sh $T/peer.sh,nofork"
	wait_port "$PORT"
	wire_start "$PORT"
	connect_as svc
	[ "${lines[-1]}" = end ]
	check_vars svc pesocat "$T/pesocat.log"
	wire_check
}

@test "a client that connects, then execs with the socket on stdin and stdout: the program sees the server's certificate" {
	s_server_rev
	local c; c=$(client_conf pecli "$SPORT")
	run --separate-stderr shim "$c" timeout 20 "$PROGS/execconnect" 127.0.0.1 "$SPORT" exec \
		sh -c 'env | grep -E "^MTLSSHIM_(PEER_|RULE=)" | sort >&2'
	show
	output=$stderr
	[ "$(decode "$(var MTLSSHIM_PEER_SUBJECT)")" = CN=localhost ]
	[ "$(var MTLSSHIM_PEER_SAN)" = "DNS:localhost,IP:127.0.0.1,IP:::1" ]
	[ "$(var MTLSSHIM_PEER_ADDR)" = 127.0.0.1 ]
	[ "$(var MTLSSHIM_PEER_PORT)" = "$SPORT" ]
	[ "$(var MTLSSHIM_RULE)" = pecli ]
	local want; want=$(openssl x509 -in "$PKI/server.crt" -noout -fingerprint -sha256)
	[ "$(var MTLSSHIM_PEER_FINGERPRINT)" = "${want#*=}" ]
}

@test "ncat -e keeps the connection and gives its program pipes: no peer variables, and forged ones are dropped" {
	# ncat (7.x) relays between the socket and the program's pipes itself (ncat_posix.c
	# netexec): the program never holds the session, so nothing describes a peer to it.
	PORT=$(free_port)
	peer_script
	shim_bg "$T/ncat.out" "$(server_conf pencat "$PORT")" env MTLSSHIM_PEER_SUBJECT=CN=forged \
		MTLSSHIM_RULE=forged ncat -l -k 127.0.0.1 "$PORT" -e "/bin/sh $T/peer.sh"
	wait_port "$PORT"
	wire_start "$PORT"
	connect_as client
	[ "$status" -eq 0 ]
	[ "$output" = end ]
	wire_check
	assert_file_has "$T/pencat.log" 'accepted rule=pencat .*subject="CN=client"'
}
