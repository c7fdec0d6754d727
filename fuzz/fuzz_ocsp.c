/* fuzz_ocsp.c: libFuzzer target: the input as an OCSP response (a responder's answer or a staple). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "engine/ocsp_resp.h"

/*
 * The certificate asked about is the server certificate of fuzz/pki.sh's
 * PKI, next to $MTLSSHIM_FUZZ_CONFIG, its CA the trust; pki.sh also writes
 * a good response for it as the seed (build-fuzz/corpus/ocsp).
 */
static OCSP_CERTID *id;
static X509_STORE *trust;
static STACK_OF(X509) *chain;

static X509 *
load(const char *dir, const char *name)
{
	char path[4096];
	X509 *x = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (x == NULL) {
		fprintf(stderr, "fuzz_ocsp: cannot read %s\n", path);
		exit(1);
	}
	return x;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *conf = getenv("MTLSSHIM_FUZZ_CONFIG");
	char dir[4096], *slash;
	X509 *ca, *leaf;

	if (conf == NULL || strlen(conf) >= sizeof(dir)) {
		fprintf(stderr, "fuzz_ocsp: set MTLSSHIM_FUZZ_CONFIG\n");
		exit(1);
	}
	strcpy(dir, conf);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	ca = load(dir, "ca.crt");
	leaf = load(dir, "server.crt");
	id = OCSP_cert_to_id(NULL, leaf, ca);
	trust = X509_STORE_new();
	chain = sk_X509_new_null();
	if (id == NULL || trust == NULL || chain == NULL || !X509_STORE_add_cert(trust, ca) ||
	    !sk_X509_push(chain, leaf) || !sk_X509_push(chain, ca))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocsp_answer a;

	(void)ocsp_resp_check(data, size, id, chain, trust, &a);
	if (memchr(a.why, '\0', sizeof(a.why)) == NULL)
		abort();	/* the reason is always a string */
	ERR_clear_error();
	return 0;
}
