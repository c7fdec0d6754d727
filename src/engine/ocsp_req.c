/* ocsp_req.c: what to ask an OCSP responder about one certificate, and where. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "engine/ocsp_req.h"

char *
ocsp_req_url(const struct rule *r, X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *aia;
	char *url = NULL, *u;
	int i;

	if (r->ocsp_responder != NULL)
		return strdup(r->ocsp_responder);
	if ((aia = X509_get1_ocsp(cert)) == NULL)
		return NULL;
	for (i = 0; i < sk_OPENSSL_STRING_num(aia) && url == NULL; i++)
		if (strncmp(u = sk_OPENSSL_STRING_value(aia, i), "http://", 7) == 0)
			url = strdup(u);
	X509_email_free(aia);
	return url;
}

int
ocsp_req_der(X509 *cert, X509 *issuer, unsigned char **der)
{
	OCSP_REQUEST *req;
	OCSP_CERTID *id = NULL;
	int n = -1;

	*der = NULL;
	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(NULL, cert, issuer)) == NULL)
		goto out;
	if (OCSP_request_add0_id(req, id) == NULL) {
		OCSP_CERTID_free(id);
		goto out;
	}
	if ((n = i2d_OCSP_REQUEST(req, der)) <= 0) {
		*der = NULL;
		n = -1;
	}
 out:
	ERR_clear_error();
	OCSP_REQUEST_free(req);
	return n;
}

const char *
ocsp_req_urlstr(const char *url, char *buf, size_t len)
{
	const char *host = strstr(url, "://"), *at, *slash;

	host = host ? host + 3 : url;
	slash = strchr(host, '/');
	at = strchr(host, '@');
	if (at != NULL && (slash == NULL || at < slash))
		snprintf(buf, len, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(buf, len, "%s", url);
	return buf;
}
