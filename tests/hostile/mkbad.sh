#!/bin/sh
# mkbad.sh DIR: certificates a peer must be refused for, beside mkpki's PKI in DIR (needs DIR/ca.*).
#   notyet      valid from 2099 (signed by ca)
#   old         expired in 2020 (signed by ca; serverAuth and clientAuth, unlike mkpki's expired)
#   srvonly     EKU serverAuth only (a client must not use it)
#   clionly     EKU clientAuth only (a server must not use it)
#   selfsigned  a self-signed leaf (CA:FALSE)
#   intca       an intermediate CA (CA:TRUE, keyCertSign) signed by ca, also used as a leaf
#   viaint      a leaf signed by intca; viaint-chain.crt is the leaf followed by intca
#   weak        RSA-1024 key, signed by ca
#   bigchain.crt  the client leaf followed by > 100 KB (DER) of padding certificates
set -eu
d=$1
cd "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
san="subjectAltName = DNS:localhost, DNS:client.test, IP:127.0.0.1"
cat > bad.cnf <<CNF
[both]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth, clientAuth
$san
[srvonly]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
$san
[clionly]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
$san
[intca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
$san
[ca]
default_ca = bad
[bad]
database = $d/baddb/index.txt
serial = $d/baddb/serial
new_certs_dir = $d/baddb
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
CNF
sign() { # name ca section [days]
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
		-days "${4:-30}" -extfile bad.cnf -extensions "$3" -out "$1.crt"
}
csr() { # name subject [keyopts]
	openssl req -new ${3:-$ec} -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
}
csr srvonly /CN=srvonly; sign srvonly ca srvonly
csr clionly /CN=clionly; sign clionly ca clionly
csr weak /CN=weak "-newkey rsa:1024"; sign weak ca both
csr intca "/CN=mtlsshim intermediate CA"; sign intca ca intca
csr viaint /CN=localhost; sign viaint intca both
cat viaint.crt intca.crt > viaint-chain.crt
openssl req -x509 $ec -keyout selfsigned.key -out selfsigned.crt -subj /CN=localhost \
	-days 30 -config bad.cnf -extensions both
mkdir -p baddb && : > baddb/index.txt && echo 3000 > baddb/serial
csr notyet /CN=notyet
openssl ca -batch -config bad.cnf -cert ca.crt -keyfile ca.key -in notyet.csr \
	-startdate 20990101000000Z -enddate 20991231000000Z -extensions both -out notyet.crt -notext
csr old /CN=old
openssl ca -batch -config bad.cnf -cert ca.crt -keyfile ca.key -in old.csr \
	-startdate 20200101000000Z -enddate 20200102000000Z -extensions both -out old.crt -notext
# Padding: a large RSA certificate repeated until the chain passes 100 KB.
openssl req -x509 -newkey rsa:4096 -nodes -keyout pad.key -out pad.crt -subj /CN=padding -days 30
cp client.crt bigchain.crt
while [ "$(wc -c < bigchain.crt)" -lt 150000 ]; do cat pad.crt >> bigchain.crt; done
chmod 644 ./*.key
