/* test_crl.c: table-driven tests of crl_read, crl_info and crl_load on CRLs made in memory. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "engine/crl.h"

#include "check.h"

#define NONE	LONG_MIN	/* no nextUpdate */

static EVP_PKEY *key;

/* A PEM CRL issued by CN=cn, lastUpdate a day ago, nextUpdate next seconds from now (or none). */
static void
pem_crl(BIO *out, const char *cn, long next)
{
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_TIME *t = ASN1_TIME_new();

	if (crl == NULL || name == NULL || t == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
	    -1, -1, 0) != 1 || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, name) != 1 || X509_gmtime_adj(t, -86400) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    (next != NONE && (X509_gmtime_adj(t, next) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1)) ||
	    X509_CRL_sign(crl, key, EVP_sha256()) == 0 || PEM_write_bio_X509_CRL(out, crl) != 1) {
		ERR_print_errors_fp(stderr);
		exit(2);
	}
	ASN1_TIME_free(t);
	X509_NAME_free(name);
	X509_CRL_free(crl);
}

/* f takes out's bytes (the caller frees f.buf). */
static struct filedata
bio_data(BIO *out)
{
	struct filedata f;
	char *p;

	memset(&f, 0, sizeof(f));
	f.len = (size_t)BIO_get_mem_data(out, &p);
	if ((f.buf = malloc(f.len + 1)) == NULL)
		exit(2);
	memcpy(f.buf, p, f.len);
	return f;
}

static const struct one {
	const char	*what;
	long		 next;		/* seconds from now, or NONE */
	int		 days_left, expired;
} ones[] = {
	{ "no nextUpdate", NONE, INT_MAX, 0 },
	{ "30 days ahead", 30 * 86400 + 60, 30, 0 },
	{ "2 days ahead", 2 * 86400 - 60, 1, 0 },
	{ "an hour ahead", 3600, 0, 0 },
	{ "an hour ago", -3600, -1, 1 },
	{ "a year ago", -365L * 86400, -365, 1 },
};

static void
test_info(void)
{
	STACK_OF(X509_CRL) *v;
	struct crlinfo ci;
	struct filedata f;
	size_t i;
	BIO *out;

	for (i = 0; i < sizeof(ones) / sizeof(ones[0]); i++) {
		out = BIO_new(BIO_s_mem());
		pem_crl(out, "Test CA", ones[i].next);
		f = bio_data(out);
		v = crl_read(&f);
		CHECK(v != NULL && sk_X509_CRL_num(v) == 1, "%s: read", ones[i].what);
		if (v != NULL && sk_X509_CRL_num(v) == 1) {
			crl_info(sk_X509_CRL_value(v, 0), &ci);
			CHECK(strcmp(ci.issuer, "CN=Test CA") == 0, "%s: issuer %s", ones[i].what,
			    ci.issuer);
			CHECK(ci.days_left == ones[i].days_left, "%s: days_left %d", ones[i].what,
			    ci.days_left);
			CHECK(ci.expired == ones[i].expired, "%s: expired %d", ones[i].what,
			    ci.expired);
			CHECK((ones[i].next == NONE) == (ci.next_update[0] == '\0'),
			    "%s: next_update \"%s\"", ones[i].what, ci.next_update);
		}
		sk_X509_CRL_pop_free(v, X509_CRL_free);
		free(f.buf);
		BIO_free(out);
	}
}

/* Several CRLs in one file, other PEM blocks between them skipped; damage is NULL. */
static void
test_read(void)
{
	static const char junk[] = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
	STACK_OF(X509_CRL) *v;
	struct filedata f;
	BIO *out = BIO_new(BIO_s_mem());
	struct crlinfo ci;

	pem_crl(out, "Root", 86400 * 30);
	PEM_write_bio_PUBKEY(out, key);
	pem_crl(out, "Intermediate A", NONE);
	pem_crl(out, "Intermediate B", 86400);
	f = bio_data(out);
	v = crl_read(&f);
	CHECK(v != NULL && sk_X509_CRL_num(v) == 3, "three CRLs: %d", v ? sk_X509_CRL_num(v) : -1);
	if (v != NULL && sk_X509_CRL_num(v) == 3) {
		crl_info(sk_X509_CRL_value(v, 1), &ci);
		CHECK(strcmp(ci.issuer, "CN=Intermediate A") == 0, "file order: %s", ci.issuer);
	}
	sk_X509_CRL_pop_free(v, X509_CRL_free);
	free(f.buf);
	BIO_free(out);

	f.buf = (char *)"no PEM here\n";
	f.len = strlen(f.buf);
	v = crl_read(&f);
	CHECK(v != NULL && sk_X509_CRL_num(v) == 0, "no CRL: an empty list");
	sk_X509_CRL_pop_free(v, X509_CRL_free);
	f.buf = (char *)junk;
	f.len = strlen(junk);
	CHECK(crl_read(&f) == NULL, "a damaged PEM block: NULL");
	ERR_clear_error();
}

/* crl_load: flags per crl_check; an expired CRL is one error line naming it; none without nextUpdate. */
static void
test_load(void)
{
	static const char want[] = "/etc/t.conf: server \"web\": crl_file /etc/crl.pem: "
	    "the CRL of issuer=CN=Intermediate A has expired (nextUpdate ";
	struct config c;
	struct rule r;
	struct filedata f;
	unsigned long flags;
	char err[1024];
	SSL_CTX *ctx;
	BIO *out;
	int rv;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	c.path = (char *)"/etc/t.conf";
	r.name = (char *)"web";
	r.crl_file = (char *)"/etc/crl.pem";

	out = BIO_new(BIO_s_mem());
	pem_crl(out, "Root", NONE);
	pem_crl(out, "Intermediate A", 86400);
	f = bio_data(out);
	for (r.crl_check = CRL_CHECK_LEAF; r.crl_check <= CRL_CHECK_CHAIN; r.crl_check++) {
		ctx = SSL_CTX_new(TLS_server_method());
		err[0] = '\0';
		rv = crl_load(ctx, &c, &r, "server", &f, err, sizeof(err));
		CHECK(rv == 0, "crl_check %d: loads: %s", r.crl_check, err);
		flags = X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(SSL_CTX_get_cert_store(ctx)));
		CHECK(flags & X509_V_FLAG_CRL_CHECK, "crl_check %d: CRL_CHECK", r.crl_check);
		CHECK(!(flags & X509_V_FLAG_CRL_CHECK_ALL) == (r.crl_check == CRL_CHECK_LEAF),
		    "crl_check %d: CRL_CHECK_ALL only for chain", r.crl_check);
		SSL_CTX_free(ctx);
	}
	free(f.buf);
	BIO_free(out);

	out = BIO_new(BIO_s_mem());
	pem_crl(out, "Root", 86400);
	pem_crl(out, "Intermediate A", -7200);
	f = bio_data(out);
	ctx = SSL_CTX_new(TLS_server_method());
	rv = crl_load(ctx, &c, &r, "server", &f, err, sizeof(err));
	CHECK(rv == -1, "an expired CRL is refused");
	CHECK(strncmp(err, want, strlen(want)) == 0 && strchr(err, '\n') == NULL,
	    "the error names it: %s", err);
	SSL_CTX_free(ctx);
	free(f.buf);
	BIO_free(out);
}

int
main(void)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);

	if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1) != 1 ||
	    EVP_PKEY_keygen(kc, &key) != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	EVP_PKEY_CTX_free(kc);
	test_info();
	test_read();
	test_load();
	EVP_PKEY_free(key);
	printf("test_crl: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
