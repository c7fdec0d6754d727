/* peerenv.c: the verified peer in environment words, for a program started per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "engine/identity.h"
#include "engine/peerenv.h"
#include "engine/session.h"

#define NAME_MAX_LEN	4096	/* RFC 2253 text of one name, before escaping */

/* Bytes a shell takes literally in an assignment, wherever they stand (no '~': tilde expansion). */
static int
plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("_-.,:/=@+", c) != NULL);
}

/* "NAME=value" with value's n bytes escaped; NULL if out of memory. */
static char *
var_new(const char *name, const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t nl = strlen(name), i, at;
	char *p;

	if ((p = malloc(nl + 1 + 3 * n + 1)) == NULL)
		return NULL;
	memcpy(p, name, nl);
	p[nl] = '=';
	for (at = nl + 1, i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (plain(c))
			p[at++] = (char)c;
		else {
			p[at++] = '%';
			p[at++] = hex[c >> 4];
			p[at++] = hex[c & 15];
		}
	}
	p[at] = '\0';
	return p;
}

/* The first URI SAN, as its bytes; NULL if none. */
static const ASN1_STRING *
first_uri(GENERAL_NAMES *names)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

		if (gn->type == GEN_URI)
			return gn->d.ia5;
	}
	return NULL;
}

/* Uppercase hex, as `openssl x509 -serial` prints it. */
static int
serial_hex(X509 *cert, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	int r = -1;

	/* Whole bytes, as openssl prints them: BN_bn2hex gives zero as "0", openssl "00". */
	if (h != NULL && strlen(h) + 2 <= len) {
		buf[0] = '\0';
		if (strcmp(h, "0") == 0)
			strcat(buf, "0");
		strcat(buf, h);
		r = 0;
	}
	OPENSSL_free(h);
	BN_free(bn);
	return r;
}

/* ISO 8601 in UTC: 2027-12-04T12:00:00Z. */
static int
not_after(X509 *cert, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1 ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

/* SHA-256 of the DER, uppercase hex pairs with colons, as `openssl x509 -fingerprint -sha256`. */
static int
fingerprint(X509 *cert, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;

	if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || len < 3 * (size_t)n)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(buf + 3 * i, len - 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
	return 0;
}

/* The TCP peer, numeric, as getpeername shows it. */
static int
peer_addr(const struct session *s, char *addr, size_t alen, char *port, size_t plen)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&s->peer;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&s->peer;

	if (s->peerlen == 0)
		return -1;
	if (s->peer.ss_family == AF_INET && inet_ntop(AF_INET, &in->sin_addr, addr, alen))
		snprintf(port, plen, "%u", ntohs(in->sin_port));
	else if (s->peer.ss_family == AF_INET6 && inet_ntop(AF_INET6, &in6->sin6_addr, addr, alen))
		snprintf(port, plen, "%u", ntohs(in6->sin6_port));
	else
		return -1;
	return 0;
}

/* The variable name=v, n bytes, unless v is NULL (left out); -1 when out of memory. */
static int
add(char **vars, int *at, int max, const char *name, const char *v, size_t n)
{
	if (v == NULL || *at >= max)
		return 0;
	if ((vars[*at] = var_new(name, v, n)) == NULL)
		return -1;
	(*at)++;
	return 0;
}

int
peerenv_build(struct session *s, char **vars, int max)
{
	char subj[NAME_MAX_LEN], iss[NAME_MAX_LEN], sans[NAME_MAX_LEN], serial[128], end[32],
	    fp[3 * EVP_MAX_MD_SIZE], addr[INET6_ADDRSTRLEN], port[8];
	const ASN1_STRING *uri = NULL;
	GENERAL_NAMES *names = NULL;
	X509 *cert = NULL;
	int n = 0, rv = -1, i, have_addr;

	pthread_mutex_lock(&s->lock);
	/* Fail closed: a session is only described once its peer was verified. */
	if (s->state == SS_OPEN && s->ssl != NULL &&
	    SSL_get_verify_result(s->ssl) == X509_V_OK)
		cert = SSL_get1_peer_certificate(s->ssl);
	have_addr = peer_addr(s, addr, sizeof(addr), port, sizeof(port)) == 0;
	pthread_mutex_unlock(&s->lock);
	if (cert == NULL) {
		rv = 0;
		goto out;
	}
	identity_subject(cert, subj, sizeof(subj));
	identity_issuer(cert, iss, sizeof(iss));
	identity_sans(cert, sans, sizeof(sans));
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	uri = names ? first_uri(names) : NULL;
	{
		const struct { const char *name, *v; } w[] = {
			{ PEERENV_PREFIX "SUBJECT", subj },
			{ PEERENV_PREFIX "ISSUER", iss },
			{ PEERENV_PREFIX "SAN", sans },
			{ PEERENV_PREFIX "SERIAL", serial_hex(cert, serial, sizeof(serial)) ? NULL : serial },
			{ PEERENV_PREFIX "NOT_AFTER", not_after(cert, end, sizeof(end)) ? NULL : end },
			{ PEERENV_PREFIX "FINGERPRINT", fingerprint(cert, fp, sizeof(fp)) ? NULL : fp },
			{ PEERENV_PREFIX "ADDR", have_addr ? addr : NULL },
			{ PEERENV_PREFIX "PORT", have_addr ? port : NULL },
			{ PEERENV_RULE, s->rule->name },
		};
		size_t k;

		/* The URI's bytes as they are: an embedded NUL comes out as %00, not cut short. */
		if (uri != NULL && add(vars, &n, max, PEERENV_PREFIX "URI",
		    (const char *)ASN1_STRING_get0_data(uri), (size_t)ASN1_STRING_length(uri)) == -1)
			goto out;
		for (k = 0; k < sizeof(w) / sizeof(w[0]); k++)
			if (add(vars, &n, max, w[k].name, w[k].v, w[k].v ? strlen(w[k].v) : 0) == -1)
				goto out;
	}
	rv = n;
 out:
	if (rv == -1) {
		for (i = 0; i < n; i++)
			free(vars[i]);
		errno = ENOMEM;
	}
	GENERAL_NAMES_free(names);
	X509_free(cert);
	return rv;
}
