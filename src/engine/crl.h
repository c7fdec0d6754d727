/* crl.h: a rule's certificate revocation lists: loading, coverage of the chain, expiry. */
#ifndef MTLSSHIM_CRL_H
#define MTLSSHIM_CRL_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/filedata.h"

/*
 * Adds the CRLs of f (the rule's crl_file, read) to ctx's store and turns
 * on CRL checking of the peer's own certificate; 0, or -1 with one line in err naming
 * the config file, the rule, the option and the file.  No crl_file: 0.
 */
int	 crl_load(SSL_CTX *ctx, const struct config *, const struct rule *, const char *kind,
	    const struct filedata *f, char *err, size_t errlen);

#endif
