/* pki_x509.c: keys, certificates and CRLs for `mtlsshim pki`, built with libcrypto alone. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "cli/pki_x509.h"

/* An extension in OpenSSL's config syntax; only fixed strings of ours, never user input. */
struct ext {
	int		 nid;
	const char	*value;
};

EVP_PKEY *
pkix_keygen(int rsa)
{
	return rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

/* 159 random bits with the top one set: positive, 20 bytes in DER, as CAs do (RFC 5280 4.1.2.2). */
static int
set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int rv = -1;

	if (bn == NULL || !BN_rand(bn, 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	rv = 0;
 out:
	BN_free(bn);
	return rv;
}

/* What a CA and a leaf share: v3, serial, subject CN=cn, validity, public key. */
static X509 *
cert_new(const char *cn, EVP_PKEY *key, struct pkix_window w, time_t now)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (x == NULL || n == NULL || !X509_set_version(x, X509_VERSION_3) || set_serial(x) == -1 ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, n) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), w.start, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), w.end, 0, &now) == NULL ||
	    !X509_set_pubkey(x, key)) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(n);
	return x;
}

/* Adds each extension in order (the SKI before the AKI: a self-signed AKI reads it). */
static int
add_exts(X509 *x, X509V3_CTX *ctx, const struct ext *v, size_t n)
{
	X509_EXTENSION *e;
	size_t i;
	int ok;

	for (i = 0; i < n; i++) {
		if ((e = X509V3_EXT_conf_nid(NULL, ctx, v[i].nid, v[i].value)) == NULL)
			return -1;
		ok = X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		if (!ok)
			return -1;
	}
	return 0;
}

X509 *
pkix_ca(EVP_PKEY *key, const char *cn, int days, time_t now)
{
	static const struct ext exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
	};
	struct pkix_window w = { 0, days };
	X509V3_CTX ctx;
	X509 *x;

	if ((x = cert_new(cn, key, w, now)) == NULL)
		return NULL;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    add_exts(x, &ctx, exts, sizeof(exts) / sizeof(exts[0])) == -1 ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/*
 * The SAN built from values, not from a config string: a --dns or --uri with a comma
 * or "IP:" in it stays one name of the type asked for.
 */
static int
add_san(X509 *x, const struct pkix_san *v, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g;
	ASN1_STRING *s;
	size_t i;
	int rv = -1, type;

	if (gens == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (v[i].type == PKIX_SAN_IP) {
			type = GEN_IPADD;
			s = ASN1_OCTET_STRING_new();
			if (s != NULL && !ASN1_OCTET_STRING_set(s, v[i].ip, v[i].iplen))
				goto bad;
		} else {
			type = v[i].type == PKIX_SAN_DNS ? GEN_DNS : GEN_URI;
			s = ASN1_IA5STRING_new();
			if (s != NULL && !ASN1_STRING_set(s, v[i].text, -1))
				goto bad;
		}
		if (s == NULL || (g = GENERAL_NAME_new()) == NULL)
			goto bad;
		GENERAL_NAME_set0_value(g, type, s);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1)
		rv = 0;
	goto out;
 bad:
	ASN1_STRING_free(s);
 out:
	GENERAL_NAMES_free(gens);
	return rv;
}

X509 *
pkix_leaf(const struct pkix_leaf *l, EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey, time_t now)
{
	static const char *const eku[] = {
		[PKIX_EKU_SERVER] = "serverAuth",
		[PKIX_EKU_CLIENT] = "clientAuth",
		[PKIX_EKU_SERVER | PKIX_EKU_CLIENT] = "serverAuth,clientAuth",
	};
	/* RSA key exchange (TLS 1.2's RSA suites) encrypts to the key: keyEncipherment too. */
	int rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	struct ext exts[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, rsa ? "critical,digitalSignature,keyEncipherment" :
		    "critical,digitalSignature" },
		{ NID_ext_key_usage, eku[l->eku & (PKIX_EKU_SERVER | PKIX_EKU_CLIENT)] },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
	};
	X509V3_CTX ctx;
	X509 *x;

	if (exts[2].value == NULL || (x = cert_new(l->name, key, l->valid, now)) == NULL)
		return NULL;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    add_exts(x, &ctx, exts, sizeof(exts) / sizeof(exts[0])) == -1 ||
	    add_san(x, l->san, l->nsan) == -1 ||
	    X509_sign(x, cakey, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* old's crlNumber plus one; 1 when old is NULL or has none. */
static ASN1_INTEGER *
next_number(X509_CRL *old)
{
	ASN1_INTEGER *on = NULL, *nn = NULL;
	BIGNUM *bn = NULL;

	if (old != NULL && (on = X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL)) != NULL)
		bn = ASN1_INTEGER_to_BN(on, NULL);
	else
		bn = BN_new();
	if (bn != NULL && BN_add_word(bn, 1))
		nn = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	ASN1_INTEGER_free(on);
	return nn;
}

/* A copy of each of old's entries, so that the new CRL owns its own. */
static int
copy_revoked(X509_CRL *crl, X509_CRL *old)
{
	STACK_OF(X509_REVOKED) *v = old ? X509_CRL_get_REVOKED(old) : NULL;
	X509_REVOKED *r;
	int i;

	for (i = 0; i < sk_X509_REVOKED_num(v); i++) {
		if ((r = X509_REVOKED_dup(sk_X509_REVOKED_value(v, i))) == NULL)
			return -1;
		if (!X509_CRL_add0_revoked(crl, r)) {
			X509_REVOKED_free(r);
			return -1;
		}
	}
	return 0;
}

static int
add_revoked(X509_CRL *crl, const ASN1_INTEGER *serial, const ASN1_TIME *when)
{
	X509_REVOKED *r = X509_REVOKED_new();

	if (r == NULL || !X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)serial) ||
	    !X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)when) || !X509_CRL_add0_revoked(crl, r)) {
		X509_REVOKED_free(r);
		return -1;
	}
	return 0;
}

X509_CRL *
pkix_crl(X509 *ca, EVP_PKEY *cakey, X509_CRL *old, const ASN1_INTEGER *serial, time_t now)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_adj(NULL, now, 0, 0);
	ASN1_TIME *next = ASN1_TIME_adj(NULL, now, PKIX_CRL_DAYS, 0);
	ASN1_INTEGER *num = next_number(old);
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok = 0;

	if (crl == NULL || last == NULL || next == NULL || num == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !X509_CRL_set1_lastUpdate(crl, last) || !X509_CRL_set1_nextUpdate(crl, next) ||
	    copy_revoked(crl, old) == -1 ||
	    (serial != NULL && add_revoked(crl, serial, last) == -1))
		goto out;
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) == NULL ||
	    !X509_CRL_add_ext(crl, aki, -1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) ||
	    !X509_CRL_sort(crl) || X509_CRL_sign(crl, cakey, EVP_sha256()) <= 0)
		goto out;
	ok = 1;
 out:
	if (!ok) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(next);
	ASN1_TIME_free(last);
	return crl;
}

char *
pkix_crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	BIGNUM *bn = n ? ASN1_INTEGER_to_BN(n, NULL) : NULL;
	char *s = bn ? BN_bn2dec(bn) : NULL;

	BN_free(bn);
	ASN1_INTEGER_free(n);
	return s;
}
