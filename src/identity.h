/* identity.h: a peer certificate's identity in words (subject and SANs). */
#ifndef MTLSSHIM_IDENTITY_H
#define MTLSSHIM_IDENTITY_H

#include <stddef.h>
#include <openssl/x509.h>

/* RFC 2253 one-line subject, e.g. "CN=client,O=Example". */
char	*identity_subject(X509 *, char *buf, size_t len);
/* Comma-separated SANs, e.g. "DNS:a.example,IP:10.0.0.1,URI:spiffe://t/x"; "" if none. */
char	*identity_sans(X509 *, char *buf, size_t len);

#endif
