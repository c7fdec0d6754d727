/* ocsp_req.h: what to ask an OCSP responder about one certificate, and where. */
#ifndef MTLSSHIM_OCSP_REQ_H
#define MTLSSHIM_OCSP_REQ_H

#include <stddef.h>
#include <openssl/x509.h>

#include "common/config.h"

/* Where to ask about cert: the rule's ocsp_responder, else cert's AIA (http only); malloc'd, or NULL. */
char	*ocsp_req_url(const struct rule *, X509 *cert);
/*
 * The DER request for cert, issued by issuer (one certificate id, SHA-1,
 * no nonce: what responders cache), in *der (OPENSSL_free it); its length,
 * or -1 (no memory) with OpenSSL's error queue cleared.
 */
int	 ocsp_req_der(X509 *cert, X509 *issuer, unsigned char **der);
/* url for the log: without a user:password@ part, into buf. */
const char *ocsp_req_urlstr(const char *url, char *buf, size_t len);

#endif
