#!/bin/sh
# pki.sh DIR: a throwaway CA, server cert and key, and fuzz.conf naming them, for fuzz_handshake.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
# fuzz_ocsp's seed: a good response for server.crt, signed by the CA, made offline.
seed() {
	[ -f ocsp-good.der ] && return 0
	printf 'V\t%s\t\t%s\tunknown\t/CN=localhost\n' \
		"$(openssl x509 -in server.crt -noout -enddate | sed 's/notAfter=//' | \
		    xargs -I{} date -u -d {} +%y%m%d%H%M%SZ)" \
		"$(openssl x509 -in server.crt -noout -serial | sed 's/serial=//')" > index.txt
	openssl ocsp -issuer ca.crt -cert server.crt -no_nonce -reqout ocsp-req.der 2>/dev/null
	openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -ndays 3650 \
		-reqin ocsp-req.der -respout ocsp-good.der >/dev/null 2>&1
	mkdir -p ../corpus/ocsp
	cp ocsp-good.der ../corpus/ocsp/seed-good.der
}
if [ -f fuzz.conf ]; then
	seed
	exit 0
fi
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -subj "/CN=fuzz CA" -days 3650 2>/dev/null
openssl req -new $ec -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
	-extfile ext.cnf -out server.crt 2>/dev/null
chmod 600 server.key
cat > fuzz.conf <<CONF
log_level = "error"
ca_file = "ca.crt"
cert_file = "server.crt"
key_file = "server.key"
server "fuzz" {
    port = 8443
}
CONF
seed
