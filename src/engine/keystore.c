/* keystore.c: a rule's private key from a PEM file, an encrypted PEM or PKCS#8 file, or a PKCS#11 token. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/config.h"
#include "common/filedata.h"
#include "engine/keystore.h"
#include "engine/token.h"

#define PASSWORD_MAX	1024

static int
has(const struct filedata *f, const char *s)
{
	return f->buf != NULL && memmem(f->buf, f->len, s, strlen(s)) != NULL;
}

enum keystore_where
keystore_where(const struct rule *r, const struct filedata *f)
{
	if (r->key_in_token)
		return KEYSTORE_TOKEN;
	/* PKCS#8's EncryptedPrivateKeyInfo, and OpenSSL's traditional encrypted PEM. */
	if (f != NULL && (has(f, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
	    has(f, "Proc-Type: 4,ENCRYPTED")))
		return KEYSTORE_ENCRYPTED;
	return KEYSTORE_FILE;
}

const char *
keystore_where_name(enum keystore_where w)
{
	static const char *const names[] = { "file", "encrypted file", "token" };

	return names[w];
}

/* A plain key has no password to ask for; OpenSSL's default would prompt on the terminal. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int
give_password(char *buf, int size, int rwflag, void *u)
{
	size_t n = strlen(u);

	if (n >= (size_t)size)
		return -1;
	memcpy(buf, u, n);
	return (int)n;
}

static EVP_PKEY *
file_key(const struct rule *r, const struct filedata *f, int encrypted, char *err, size_t errlen)
{
	char pw[PASSWORD_MAX];
	EVP_PKEY *k = NULL;
	unsigned long e;
	BIO *b;

	if (encrypted && r->key_password_file == NULL) {
		snprintf(err, errlen, "key_file %s is encrypted: set key_password_file (a file "
		    "holding its password)", r->key_file);
		return NULL;
	}
	if (encrypted && filedata_secret(r->key_password_file, pw, sizeof(pw)) == -1) {
		snprintf(err, errlen, "key_password_file %s: %s", r->key_password_file,
		    errno == ENODATA ? "empty (the password is its first line)" :
		    errno == E2BIG ? "the password is too long, or binary" : errno == EINVAL ?
		    "not a regular file" : strerror(errno));
		return NULL;
	}
	if ((b = BIO_new_mem_buf(f->buf, (int)f->len)) != NULL)
		k = PEM_read_bio_PrivateKey(b, NULL, encrypted ? give_password : no_password,
		    encrypted ? pw : NULL);
	BIO_free(b);
	if (encrypted)
		explicit_bzero(pw, sizeof(pw));
	if (k != NULL)
		return k;
	e = ERR_peek_last_error();
	if (encrypted)
		/* OpenSSL's reasons here ("pkcs12 cipherfinal error") say nothing to a person. */
		snprintf(err, errlen, "key_file %s: cannot decrypt it with the password in "
		    "key_password_file %s (a wrong password, or a damaged file)", r->key_file,
		    r->key_password_file);
	else
		snprintf(err, errlen, "key_file %s: %s", r->key_file, ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "no private key found");
	ERR_clear_error();
	return NULL;
}

EVP_PKEY *
keystore_key(const struct rule *r, const struct filedata *f, char *err, size_t errlen)
{
	char why[768];
	EVP_PKEY *k;

	switch (keystore_where(r, f)) {
	case KEYSTORE_TOKEN:
		if ((k = token_key(r, why, sizeof(why))) == NULL)
			snprintf(err, errlen, "key_file %s: %s", r->key_file, why);
		return k;
	case KEYSTORE_ENCRYPTED:
		return file_key(r, f, 1, err, errlen);
	default:
		return file_key(r, f, 0, err, errlen);
	}
}

X509 *
keystore_cert(const struct rule *r, char *err, size_t errlen)
{
	char why[768];
	X509 *x;

	if ((x = token_cert(r, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "cert_file %s: %s", r->cert_file, why);
	return x;
}
