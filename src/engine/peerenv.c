/* peerenv.c: the verified peer in environment words, for a program started per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "engine/identity.h"
#include "engine/peerenv.h"
#include "engine/session.h"

/* Bytes a shell takes literally in an assignment, wherever they stand (no '~': tilde expansion). */
static int
plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("_-.,:/=@+", c) != NULL);
}

/* A "NAME=value" string being built, escaped as it grows; failed once out of memory. */
struct word {
	char	*p;
	size_t	 len, cap, name;	/* name: the length of "NAME=" */
	int	 failed;
};

static char *
word_room(struct word *w, size_t more)
{
	size_t cap;
	char *p;

	if (w->failed)
		return NULL;
	if (w->len + more + 1 > w->cap) {
		cap = w->cap ? w->cap : 128;
		while (cap < w->len + more + 1)
			cap *= 2;
		if ((p = realloc(w->p, cap)) == NULL) {
			w->failed = 1;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	return w->p + w->len;
}

/* Appends s, plain text (a name, a SAN's type), as it is. */
static void
word_raw(struct word *w, const char *s)
{
	size_t n = strlen(s);
	char *at = word_room(w, n);

	if (at != NULL) {
		memcpy(at, s, n + 1);
		w->len += n;
	}
}

/* Appends v's n bytes, each one not plain as %XX, and with comma ',' too (a SAN in the list). */
static void
word_esc(struct word *w, const void *v, size_t n, int comma)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *b = v;
	char *at = word_room(w, 3 * n);
	size_t i;

	if (at == NULL)
		return;
	for (i = 0; i < n; i++)
		if (plain(b[i]) && !(comma && b[i] == ',')) {
			*at++ = (char)b[i];
		} else {
			*at++ = '%';
			*at++ = hex[b[i] >> 4];
			*at++ = hex[b[i] & 15];
		}
	*at = '\0';
	w->len = (size_t)(at - w->p);
}

static void
word_start(struct word *w, const char *name)
{
	memset(w, 0, sizeof(*w));
	word_raw(w, name);
	word_raw(w, "=");
	w->name = w->len;
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
peer_addr(struct session *s, char *addr, size_t alen, char *port, size_t plen)
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

/*
 * Hands the finished w to vars[*at]; a value longer than PEERENV_VALUE_MAX
 * escaped is left out whole (logged), never cut: a cut name or SPIFFE ID
 * (spiffe://td/admin-ro -> spiffe://td/admin) would read as another.  -1
 * when out of memory.
 */
static int
word_add(struct word *w, char **vars, int *at, int max, struct session *s)
{
	char addr[64];

	if (w->failed || *at >= max || w->len - w->name > PEERENV_VALUE_MAX) {
		if (!w->failed && *at < max)
			log_warn("rule=%s peer=%s: %.*s left out of the program's environment: "
			    "%zu bytes escaped, more than %d", s->rule->name,
			    session_peerstr(s, addr, sizeof(addr)), (int)(w->name - 1), w->p,
			    w->len - w->name, PEERENV_VALUE_MAX);
		free(w->p);
		return w->failed ? -1 : 0;
	}
	vars[(*at)++] = w->p;
	return 0;
}

/* The variable name=v, n bytes, unless v is NULL (left out); -1 when out of memory. */
static int
add(char **vars, int *at, int max, struct session *s, const char *name, const char *v,
    size_t n)
{
	struct word w;

	if (v == NULL)
		return 0;
	word_start(&w, name);
	word_esc(&w, v, n, 0);
	return word_add(&w, vars, at, max, s);
}

/* The RFC 2253 text of name, whole: identity_name's, without the bound of a buffer. */
static int
add_name(char **vars, int *at, int max, struct session *s, const char *var,
    X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	struct word w;
	char *p;
	long n;

	word_start(&w, var);
	if (b == NULL || X509_NAME_print_ex(b, name, 0, IDENTITY_NAME_FLAGS) < 0)
		w.failed = 1;
	else if ((n = BIO_get_mem_data(b, &p)) > 0)
		word_esc(&w, p, (size_t)n, 0);
	BIO_free(b);
	return word_add(&w, vars, at, max, s);
}

/*
 * The SANs as TYPE:value (DNS, URI, email, IP), in the certificate's order,
 * joined by ','; within a value a ',' is %2C as well, so splitting at ','
 * and then decoding gives each SAN's bytes exactly.
 */
static int
add_sans(char **vars, int *at, int max, struct session *s, const GENERAL_NAMES *names)
{
	char ip[INET6_ADDRSTRLEN];
	struct word w;
	int i, k = 0;

	word_start(&w, PEERENV_PREFIX "SAN");
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *v = gn->d.ia5;
		const char *tag;

		switch (gn->type) {
		case GEN_DNS:
			tag = "DNS";
			break;
		case GEN_URI:
			tag = "URI";
			break;
		case GEN_EMAIL:
			tag = "email";
			break;
		case GEN_IPADD:
			tag = "IP";
			v = NULL;
			if (ASN1_STRING_length(gn->d.ip) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(gn->d.ip), ip, sizeof(ip));
			else if (ASN1_STRING_length(gn->d.ip) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(gn->d.ip), ip, sizeof(ip));
			else
				strcpy(ip, "?");	/* as the log line has it */
			break;
		default:
			continue;
		}
		word_raw(&w, k++ ? "," : "");
		word_raw(&w, tag);
		word_raw(&w, ":");
		if (v != NULL)
			word_esc(&w, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), 1);
		else
			word_esc(&w, ip, strlen(ip), 1);
	}
	return word_add(&w, vars, at, max, s);
}

int
peerenv_build(struct session *s, char **vars, int max)
{
	char serial[128], end[32], fp[3 * EVP_MAX_MD_SIZE], addr[INET6_ADDRSTRLEN], port[8];
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
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	uri = names ? first_uri(names) : NULL;
	{
		const struct { const char *name, *v; } w[] = {
			{ PEERENV_PREFIX "SERIAL", serial_hex(cert, serial, sizeof(serial)) ? NULL : serial },
			{ PEERENV_PREFIX "NOT_AFTER", not_after(cert, end, sizeof(end)) ? NULL : end },
			{ PEERENV_PREFIX "FINGERPRINT", fingerprint(cert, fp, sizeof(fp)) ? NULL : fp },
			{ PEERENV_PREFIX "ADDR", have_addr ? addr : NULL },
			{ PEERENV_PREFIX "PORT", have_addr ? port : NULL },
			{ PEERENV_RULE, s->rule->name },
		};
		size_t k;

		/* The URI's bytes as they are: an embedded NUL comes out as %00, not cut short. */
		if ((uri != NULL && add(vars, &n, max, s, PEERENV_PREFIX "URI",
		    (const char *)ASN1_STRING_get0_data(uri), (size_t)ASN1_STRING_length(uri)) == -1) ||
		    add_name(vars, &n, max, s, PEERENV_PREFIX "SUBJECT",
		    X509_get_subject_name(cert)) == -1 ||
		    add_name(vars, &n, max, s, PEERENV_PREFIX "ISSUER",
		    X509_get_issuer_name(cert)) == -1 ||
		    add_sans(vars, &n, max, s, names) == -1)
			goto out;
		for (k = 0; k < sizeof(w) / sizeof(w[0]); k++)
			if (add(vars, &n, max, s, w[k].name, w[k].v, w[k].v ? strlen(w[k].v) : 0) == -1)
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
