/* crl.h: a rule's certificate revocation lists: loading, coverage of the chain, expiry. */
#ifndef MTLSSHIM_CRL_H
#define MTLSSHIM_CRL_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/filedata.h"

#define CRL_WARN_DAYS	3	/* warn when fewer days than this are left before a nextUpdate */

/* One CRL in words, for errors and for check. */
struct crlinfo {
	char	issuer[512];		/* RFC 2253 */
	char	next_update[32];	/* "" when the CRL names no nextUpdate */
	int	days_left;		/* whole days until nextUpdate; INT_MAX without one */
	int	expired;		/* nextUpdate has passed */
};

/* The CRLs in f, in file order (other PEM blocks are skipped); NULL if f is damaged. */
STACK_OF(X509_CRL) *crl_read(const struct filedata *f);

void	 crl_info(X509_CRL *, struct crlinfo *);

/*
 * Adds the CRLs of f (the rule's crl_file, read) to ctx's store and turns
 * on CRL checking: of the peer's own certificate (crl_check = "leaf"), or
 * of every certificate of its chain but the trust anchor ("chain"), each
 * needing a CRL from its issuer.  A CRL past its nextUpdate is refused (one
 * without a nextUpdate never expires).  0, or -1 with one line in err
 * naming the config file, the rule, the option and the file.  No crl_file: 0.
 */
int	 crl_load(SSL_CTX *ctx, const struct config *, const struct rule *, const char *kind,
	    const struct filedata *f, char *err, size_t errlen);

#endif
