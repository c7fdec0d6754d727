/* token.h: a rule's key (and perhaps certificate) in a PKCS#11 token. */
#ifndef MTLSSHIM_TOKEN_H
#define MTLSSHIM_TOKEN_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct rule;

/*
 * The key named by the rule's pkcs11: key_file, logged in with the PIN in
 * pin_file.  The key stays in the token: the EVP_PKEY only asks it to sign.
 * Loaded once per process and kept, so that a rotation of cert_file does
 * not log in again; fork children sign through it too (libp11 opens their
 * own sessions, PKCS#11 sessions not surviving fork).  Through an OpenSSL
 * provider named "pkcs11" when one is loaded, else libp11's engine.  A new
 * reference, or NULL with why in err (the rule's prefix is the caller's).
 */
EVP_PKEY	*token_key(const struct rule *, char *err, size_t errlen);
/* Fork: the lock goes with the sweep's (sweep.c); phase is a SWEEP_ one. */
void		 token_atfork(int phase);
/* The certificate named by a pkcs11: cert_file, from the same token; NULL with why in err. */
X509		*token_cert(const struct rule *, char *err, size_t errlen);
/*
 * After a failed handshake of a rule with a token key: 1 and the token's
 * reason in buf when signing in the token is what failed (a worker that
 * cannot reach it), else 0.  Takes the thread's OpenSSL errors.
 */
int		 token_failure(const struct rule *, char *buf, size_t len);
/* The value of attribute name ("token", "object") in a pkcs11: URI's path, as written: 1, or 0. */
int		 token_uri_attr(const char *uri, const char *name, char *buf, size_t len);
/* "token \"mtls\", object \"server\"": what a pkcs11: URI names, for people. */
void		 token_describe(const char *uri, char *buf, size_t len);

#endif
