/* keystore.h: where a rule's private key lives (a PEM file, an encrypted one, a token) and loading it. */
#ifndef MTLSSHIM_KEYSTORE_H
#define MTLSSHIM_KEYSTORE_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct filedata;
struct rule;

enum keystore_where { KEYSTORE_FILE, KEYSTORE_ENCRYPTED, KEYSTORE_TOKEN };

/* Where the rule's key lives; f: key_file's bytes (unused for a token). */
enum keystore_where	 keystore_where(const struct rule *, const struct filedata *f);
/* "file", "encrypted file", "token". */
const char		*keystore_where_name(enum keystore_where);

/*
 * The rule's private key: from f, decrypted with key_password_file's first
 * line if it is encrypted, or from the token.  NULL with one phrase in err
 * naming the file or URI and why ("key_file X is encrypted: set
 * key_password_file"); the config and rule prefix are the caller's.
 */
EVP_PKEY	*keystore_key(const struct rule *, const struct filedata *f, char *err,
		    size_t errlen);
/* The certificate of a pkcs11: cert_file (token.h); NULL with why in err. */
X509		*keystore_cert(const struct rule *, char *err, size_t errlen);

#endif
