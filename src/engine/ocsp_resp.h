/* ocsp_resp.h: whether an OCSP response vouches for one certificate. */
#ifndef MTLSSHIM_OCSP_RESP_H
#define MTLSSHIM_OCSP_RESP_H

#include <stddef.h>
#include <time.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>

#include "common/config.h"

enum ocsp_status {
	OCSP_ST_GOOD,
	OCSP_ST_REVOKED,
	OCSP_ST_UNKNOWN,	/* the responder does not know the certificate */
	OCSP_ST_BAD,		/* no usable answer: unsigned, stale, for another certificate */
};

struct ocsp_answer {
	enum ocsp_status status;
	time_t		 until;		/* wall-clock second the answer goes stale */
	time_t		 this_update, next_update;	/* the answer's, as said; 0: none */
	char		 why[192];	/* for the log: what the answer said or what was wrong */
};

/* An answer without nextUpdate is kept this long (seconds). */
#define OCSP_DEFAULT_TTL	3600
/* Clock skew allowed on thisUpdate and nextUpdate (seconds). */
#define OCSP_LEEWAY		300

/*
 * A context of a rule with ocsp on, as it is built: the trust answers are
 * verified against (its CA certificates, without the CRL checks), and a
 * client asks for the server's staple.  0, or -1 with OpenSSL's error.
 */
int	 ocsp_resp_setup(SSL_CTX *, const struct rule *);
/* That trust (NULL: the context's rule has ocsp off). */
X509_STORE *ocsp_resp_trust(SSL_CTX *);

/*
 * The certificate that issued cert: one of chain (the certificates sent
 * with it) that did, else the issuer store finds; a reference, or NULL.
 */
X509	*ocsp_resp_issuer(X509 *cert, STACK_OF(X509) *chain, X509_STORE *store);

/*
 * Checks the DER response der (len bytes) for the certificate id names: a
 * successful basic response signed by the issuer or by a signer it
 * delegated to (found in the response or in untrusted, verified against
 * trust), with a status for id inside its thisUpdate..nextUpdate window.
 * Fills a and returns a->status.
 */
enum ocsp_status ocsp_resp_check(const unsigned char *der, size_t len, OCSP_CERTID *id,
		    STACK_OF(X509) *untrusted, X509_STORE *trust, struct ocsp_answer *a);

#endif
