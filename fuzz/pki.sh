#!/bin/sh
# pki.sh DIR: a throwaway CA, server cert and key, and fuzz.conf naming them, for fuzz_handshake.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
[ -f fuzz.conf ] && exit 0
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
