/* ownstatus.h: check's look at a rule's own certificate status: its OCSP responder, its staple. */
#ifndef MTLSSHIM_OWNSTATUS_H
#define MTLSSHIM_OWNSTATUS_H

#include <time.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "engine/ocsp_resp.h"

/* What the responder of a rule's own certificate said of it. */
struct ownocsp {
	char		*url;		/* the responder asked; NULL: none known, nothing asked */
	enum ocsp_status status;	/* OCSP_ST_BAD: no usable answer, error says why */
	char		 error[256];	/* "" with a verified answer */
	char		 this_update[32], next_update[32];	/* the answer's; "" when none */
	int		 days_left;	/* until next_update */
};

/* The staple of a rule's ocsp_staple_file, as its context holds it. */
struct ownstaple {
	int		 have;		/* a staple is configured and loaded */
	char		 next_update[32];	/* "" when the response has none */
	int		 days_left;	/* until next_update */
};

/*
 * When a responder is known for cert (the rule's ocsp_responder, else its
 * AIA), asks it about cert, blocking for at most the rule's ocsp_timeout,
 * and verifies the answer: cert's issuer from chain (the rest of
 * cert_file) or ca_file, the answer's signer trusted by ca_file's
 * certificates.  Fills o; release it with ownstatus_free.
 */
void	 ownstatus_ocsp(struct ownocsp *o, const struct rule *, X509 *cert, STACK_OF(X509) *chain);
void	 ownstatus_free(struct ownocsp *o);
/* "good", "revoked", "unknown" or "error". */
const char *ownstatus_name(enum ocsp_status);

/*
 * The staple of the rule's ocsp_staple_file as ctx, the rule's context,
 * holds it (checked at load); none without the option or the context.
 */
void	 ownstatus_staple(struct ownstaple *s, const struct rule *, SSL_CTX *ctx);

#endif
