/* staple.h: a server rule's stapled OCSP response (ocsp_staple_file or fetched): checks, stapling. */
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
/* The nextUpdate of the response ctx staples from its file, in seconds since the epoch; 0: none. */
time_t	 staple_next_update(SSL_CTX *ctx);

/*
 * ocsp_stapling: ctx (its certificate and trust loaded) will staple what
 * its holder fetched (tlsholder's stapled, staple_fetch.h).  Its responder
 * is the rule's ocsp_responder, else cert_file's AIA: with neither, or no
 * issuer for cert_file, -1 with one line in err naming the config file, the
 * rule and the option.  ocsp_stapling off: 0.
 */
int	 staple_setup_fetch(SSL_CTX *ctx, const struct config *, const struct rule *,
	    const char *kind, char *err, size_t errlen);

struct staple;
/*
 * The one check of a response to staple, the file's or a fetched one: der
 * must be a successful basic response about ctx's certificate, signed by
 * its issuer or an OCSP signer that chains to trust, saying "good", within
 * thisUpdate (a few minutes' leeway) and nextUpdate.  A new staple, or NULL
 * with the reason in why (no secrets: the rule's file names, OpenSSL's
 * words).  ttl > 0: a response without nextUpdate is stapled that many
 * seconds from now; 0: as long as it is kept.  *revoked: 1 when a verified
 * response said the certificate is revoked.
 */
struct staple *staple_check(SSL_CTX *ctx, X509_STORE *trust, const struct rule *,
		    const unsigned char *der, size_t len, time_t ttl, int *revoked, char *why,
		    size_t whylen);
void	 staple_free(struct staple *);
/* Its nextUpdate (or the end of its ttl), in seconds since the epoch (0: none), and as text. */
time_t	 staple_until(const struct staple *);
const char *staple_until_str(const struct staple *);
/* The certificate that issued leaf: from ctx's chain (cert_file), else its store; a reference. */
X509	*staple_issuer(SSL_CTX *ctx, X509 *leaf);

#endif
