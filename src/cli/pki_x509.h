/* pki_x509.h: keys, certificates and CRLs for `mtlsshim pki`, built with libcrypto alone. */
#ifndef MTLSSHIM_PKI_X509_H
#define MTLSSHIM_PKI_X509_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* A CN holds at most 64 bytes (RFC 5280 ub-common-name); OpenSSL refuses more. */
#define PKIX_CN_MAX	64

/* Days a CRL stays current (nextUpdate); every revoke signs a fresh one. */
#define PKIX_CRL_DAYS	30

#define PKIX_EKU_SERVER	0x1
#define PKIX_EKU_CLIENT	0x2

enum pkix_san_type { PKIX_SAN_DNS, PKIX_SAN_IP, PKIX_SAN_URI };

/* One subjectAltName entry; text for DNS and URI, ip (4 or 16 bytes) for IP. */
struct pkix_san {
	enum pkix_san_type	 type;
	const char		*text;
	unsigned char		 ip[16];
	int			 iplen;
};

/* Validity as day offsets from now: [start, end]. */
struct pkix_window {
	int	start, end;
};

/* What a leaf certificate says. */
struct pkix_leaf {
	const char		*name;		/* subject CN */
	int			 eku;		/* PKIX_EKU_* */
	const struct pkix_san	*san;
	size_t			 nsan;
	struct pkix_window	 valid;
};

/* EC P-256, or RSA 2048 when rsa; NULL with the OpenSSL error queue set. */
EVP_PKEY	*pkix_keygen(int rsa);

/* A self-signed CA certificate for key, valid from now for days. */
X509		*pkix_ca(EVP_PKEY *key, const char *cn, int days, time_t now);

/* A leaf certificate for key, issued by ca and signed with cakey. */
X509		*pkix_leaf(const struct pkix_leaf *l, EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey,
		    time_t now);

/*
 * A v2 CRL of ca: old's entries (none when old is NULL) plus serial when not NULL, crlNumber one
 * more than old's (1 for the first), lastUpdate now, nextUpdate now + PKIX_CRL_DAYS.
 */
X509_CRL	*pkix_crl(X509 *ca, EVP_PKEY *cakey, X509_CRL *old, const ASN1_INTEGER *serial,
		    time_t now);

/* crl's crlNumber as decimal text (the caller frees it with OPENSSL_free), NULL when absent. */
char		*pkix_crl_number(X509_CRL *crl);

#endif
