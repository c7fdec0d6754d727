/* staple.h: a server rule's stapled OCSP response from ocsp_staple_file: checks at load, stapling. */
#ifndef MTLSSHIM_STAPLE_H
#define MTLSSHIM_STAPLE_H

#include <stddef.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/filedata.h"

/*
 * Checks f (the rule's ocsp_staple_file, read: a DER OCSP response as
 * `openssl ocsp -respout` writes it) and has ctx staple it to clients that
 * ask (status_request).  ctx holds the rule's certificate and its trust
 * already.  The response must be a successful basic response about this
 * certificate (its issuer from cert_file's chain or ca_file), signed by
 * that issuer or an OCSP signer it trusts, say "good" and be within its
 * thisUpdate (a few minutes' leeway) and nextUpdate.  0, or -1 with one line
 * in err naming the config file, the rule, the option and the file.  No
 * ocsp_staple_file: 0.  Once the response's nextUpdate has passed, ctx
 * stops stapling it and says so in one log line.
 */
int	 staple_load(SSL_CTX *ctx, const struct config *, const struct rule *, const char *kind,
	    const struct filedata *f, char *err, size_t errlen);
/* The nextUpdate of the response ctx staples, in seconds since the epoch; 0: none or no staple. */
time_t	 staple_next_update(SSL_CTX *ctx);

#endif
