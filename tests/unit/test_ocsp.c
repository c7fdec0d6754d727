/* test_ocsp.c: ocsp_resp_check against responses built here: signer, window, serial, status. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "engine/ocsp_resp.h"

static int passed, failed;

static void
expect(const char *what, enum ocsp_status got, enum ocsp_status want, const char *why)
{
	if (got == want) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s: status %d, want %d (%s)\n", what, got, want, why);
}

static EVP_PKEY *
key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A certificate for k named cn, signed by (ca, cakey), or self-signed; eku e.g. "OCSPSigning". */
static X509 *
cert(const char *cn, EVP_PKEY *k, X509 *ca, EVP_PKEY *cakey, int is_ca, const char *eku)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : X509_get_subject_name(x));
	X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, is_ca ? "critical,CA:TRUE" :
	    "CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (eku != NULL) {
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, eku);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, cakey ? cakey : k, EVP_sha256());
	return x;
}

struct resp {
	int		 rstatus;	/* OCSP_RESPONSE_STATUS_* */
	int		 cstatus;	/* V_OCSP_CERTSTATUS_* */
	long		 this_off, next_off;	/* seconds from now; next_off 0: no nextUpdate */
	X509		*about;		/* the certificate the status is for */
	X509		*signer;
	EVP_PKEY	*signkey;
	int		 include_signer;
};

/* The DER response r describes; *len its length.  Free with OPENSSL_free. */
static unsigned char *
build(const struct resp *r, X509 *issuer, int *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *resp;
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, r->about, issuer);
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, r->this_off);
	ASN1_TIME *nextupd = r->next_off ? X509_gmtime_adj(NULL, r->next_off) : NULL;
	ASN1_TIME *rev = X509_gmtime_adj(NULL, -60);
	unsigned char *der = NULL;

	OCSP_basic_add1_status(bs, id, r->cstatus, r->cstatus == V_OCSP_CERTSTATUS_REVOKED ?
	    OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1, rev, thisupd, nextupd);
	OCSP_basic_sign(bs, r->signer, r->signkey, EVP_sha256(), NULL,
	    r->include_signer ? 0 : OCSP_NOCERTS);
	resp = OCSP_response_create(r->rstatus, r->rstatus == OCSP_RESPONSE_STATUS_SUCCESSFUL ?
	    bs : NULL);
	*len = i2d_OCSP_RESPONSE(resp, &der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(rev);
	return der;
}

int
main(void)
{
	EVP_PKEY *cak = key(), *leafk = key(), *otherk = key(), *sigk = key(), *badk = key(),
	    *foreignk = key();
	X509 *ca = cert("unit CA", cak, NULL, NULL, 1, NULL);
	X509 *leaf = cert("leaf", leafk, ca, cak, 0, "clientAuth");
	X509 *other = cert("other", otherk, ca, cak, 0, "clientAuth");
	X509 *signer = cert("ocsp signer", sigk, ca, cak, 0, "OCSPSigning");
	X509 *nosign = cert("not a signer", badk, ca, cak, 0, "clientAuth");
	X509 *foreign = cert("foreign CA", foreignk, NULL, NULL, 1, NULL);
	X509_STORE *trust = X509_STORE_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, ca);
	STACK_OF(X509) *chain = sk_X509_new_null();
	const struct {
		const char	*what;
		struct resp	 r;
		enum ocsp_status want;
	} cases[] = {
		{ "good, signed by the issuer", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, ca, cak, 0 }, OCSP_ST_GOOD },
		{ "good, without nextUpdate", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 0, leaf, ca, cak, 0 }, OCSP_ST_GOOD },
		{ "revoked", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_REVOKED, -60, 3600, leaf, ca, cak, 0 }, OCSP_ST_REVOKED },
		{ "unknown", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_UNKNOWN, -60, 3600, leaf, ca, cak, 0 }, OCSP_ST_UNKNOWN },
		{ "good, by a delegated signer it includes", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, signer, sigk, 1 }, OCSP_ST_GOOD },
		{ "delegated signer not included anywhere", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, signer, sigk, 0 }, OCSP_ST_BAD },
		{ "signer without OCSPSigning", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, nosign, badk, 1 }, OCSP_ST_BAD },
		{ "signed by a CA we do not trust", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, foreign, foreignk, 1 }, OCSP_ST_BAD },
		{ "revoked, signed by a CA we do not trust", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_REVOKED, -60, 3600, leaf, foreign, foreignk, 1 }, OCSP_ST_BAD },
		{ "past its nextUpdate", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -7200, -3600, leaf, ca, cak, 0 }, OCSP_ST_BAD },
		{ "thisUpdate in the future", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, 3600, 7200, leaf, ca, cak, 0 }, OCSP_ST_BAD },
		{ "within the clock leeway", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, 60, 3600, leaf, ca, cak, 0 }, OCSP_ST_GOOD },
		{ "for another certificate (serial)", { OCSP_RESPONSE_STATUS_SUCCESSFUL,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, other, ca, cak, 0 }, OCSP_ST_BAD },
		{ "tryLater", { OCSP_RESPONSE_STATUS_TRYLATER,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, ca, cak, 0 }, OCSP_ST_BAD },
		{ "unauthorized", { OCSP_RESPONSE_STATUS_UNAUTHORIZED,
		    V_OCSP_CERTSTATUS_GOOD, -60, 3600, leaf, ca, cak, 0 }, OCSP_ST_BAD },
	};
	static const unsigned char junk[] = { 0x30, 0x03, 0x0a, 0x01, 0x00, 0xff };
	struct ocsp_answer a;
	unsigned char *der;
	size_t i;
	int len;
	time_t now = time(NULL);

	X509_STORE_add_cert(trust, ca);
	sk_X509_push(chain, leaf);
	sk_X509_push(chain, ca);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = build(&cases[i].r, ca, &len);
		expect(cases[i].what, ocsp_resp_check(der, (size_t)len, id, chain, trust, &a),
		    cases[i].want, a.why);
		if (i == 0 && (a.until < now + 3500 || a.until > now + 3700)) {
			failed++;
			printf("FAIL until is nextUpdate: %lld\n", (long long)(a.until - now));
		}
		if (i == 1 && (a.until < now + OCSP_DEFAULT_TTL - 100 ||
		    a.until > now + OCSP_DEFAULT_TTL + 100)) {
			failed++;
			printf("FAIL no nextUpdate keeps an hour: %lld\n", (long long)(a.until - now));
		}
		if (i == 2 && strcmp(a.why, "certificate revoked (OCSP)") != 0) {
			failed++;
			printf("FAIL revoked reason: %s\n", a.why);
		}
		/* Every prefix of a good response is refused, none crashes. */
		if (i == 0)
			for (len = len - 1; len >= 0; len--)
				expect("truncated", ocsp_resp_check(der, (size_t)len, id, chain,
				    trust, &a), OCSP_ST_BAD, a.why);
		OPENSSL_free(der);
	}
	expect("not DER", ocsp_resp_check(junk, sizeof(junk), id, chain, trust, &a), OCSP_ST_BAD,
	    a.why);
	printf("test_ocsp: %d passed, %d failed\n", passed, failed);
	OCSP_CERTID_free(id);
	sk_X509_free(chain);
	X509_STORE_free(trust);
	X509_free(ca);
	X509_free(leaf);
	X509_free(other);
	X509_free(signer);
	X509_free(nosign);
	X509_free(foreign);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(leafk);
	EVP_PKEY_free(otherk);
	EVP_PKEY_free(sigk);
	EVP_PKEY_free(badk);
	EVP_PKEY_free(foreignk);
	return failed != 0;
}
