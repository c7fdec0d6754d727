/* identity.c: a peer certificate's identity in words (subject and SANs). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "common/config.h"
#include "engine/identity.h"
#include "common/rules.h"

char *
identity_name(X509_NAME *name, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if (name == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return buf;
	X509_NAME_print_ex(b, name, 0, IDENTITY_NAME_FLAGS);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return buf;
}

char *
identity_subject(X509 *cert, char *buf, size_t len)
{
	return identity_name(cert ? X509_get_subject_name(cert) : NULL, buf, len);
}

char *
identity_issuer(X509 *cert, char *buf, size_t len)
{
	return identity_name(cert ? X509_get_issuer_name(cert) : NULL, buf, len);
}

/* Appends "sep tag:value" to buf, dropping quotes so a log line stays parseable. */
static void
sans_append(char *buf, size_t len, const char *tag, const char *val, size_t vlen)
{
	size_t n = strlen(buf), i;

	if (n + strlen(tag) + 3 >= len)
		return;
	n += snprintf(buf + n, len - n, "%s%s:", n ? "," : "", tag);
	for (i = 0; i < vlen && n + 1 < len; i++)
		buf[n++] = (val[i] == '"' || (unsigned char)val[i] < 0x20) ? '?' : val[i];
	buf[n] = '\0';
}

char *
identity_sans(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *names;
	char ip[INET6_ADDRSTRLEN];
	int i;

	buf[0] = '\0';
	if (cert == NULL)
		return buf;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (names == NULL)
		return buf;
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s;

		switch (gn->type) {
		case GEN_DNS:
		case GEN_URI:
		case GEN_EMAIL:
			s = gn->d.ia5;
			sans_append(buf, len, gn->type == GEN_DNS ? "DNS" :
			    gn->type == GEN_URI ? "URI" : "email",
			    (const char *)ASN1_STRING_get0_data(s),
			    (size_t)ASN1_STRING_length(s));
			break;
		case GEN_IPADD:
			s = gn->d.ip;
			if (ASN1_STRING_length(s) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			else if (ASN1_STRING_length(s) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			else
				strcpy(ip, "?");
			sans_append(buf, len, "IP", ip, strlen(ip));
			break;
		}
	}
	GENERAL_NAMES_free(names);
	return buf;
}

int
identity_glob(const char *p, const char *v, char sep, int nocase)
{
	const char *t;
	int across;

	for (; *p; p++, v++) {
		if (*p == '*') {
			across = p[1] == '*';
			p += across ? 2 : 1;
			/* One or more characters, within a segment unless '**'. */
			for (t = v; *t && (across || *t != sep); t++)
				if (identity_glob(p, t + 1, sep, nocase))
					return 1;
			return 0;
		}
		if (*v == '\0')
			return 0;
		if (nocase ? tolower((unsigned char)*p) != tolower((unsigned char)*v) : *p != *v)
			return 0;
	}
	return *v == '\0';
}

static int
list_match(const struct strlist *l, const char *v, size_t vlen, char sep, int nocase)
{
	size_t i;

	/* A name with an embedded NUL is not a name. */
	if (strlen(v) != vlen)
		return 0;
	for (i = 0; i < l->n; i++)
		if (identity_glob(l->v[i], v, sep, nocase))
			return 1;
	return 0;
}

static int
ip_match(const struct rule *r, const unsigned char *ip, int len)
{
	struct sockaddr_storage ss;
	size_t i;

	memset(&ss, 0, sizeof(ss));
	if (len == 4) {
		ss.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)&ss)->sin_addr, ip, 4);
	} else if (len == 16) {
		ss.ss_family = AF_INET6;
		memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, ip, 16);
	} else
		return 0;
	for (i = 0; i < r->nallow_ip; i++)
		if (cidr_match(&r->allow_ip[i], (struct sockaddr *)&ss))
			return 1;
	return 0;
}

int
identity_allowed(X509 *cert, const struct rule *r)
{
	GENERAL_NAMES *names;
	X509_NAME *subj;
	const ASN1_STRING *s;
	int i, ok = 0;

	if (!rule_has_allow(r))
		return 1;
	if (cert == NULL)
		return 0;
	if (r->allow_cn.n && (subj = X509_get_subject_name(cert)) != NULL) {
		for (i = -1; !ok && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
			s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
			unsigned char *utf8 = NULL;
			int n = ASN1_STRING_to_UTF8(&utf8, s);
			if (n >= 0)
				ok = list_match(&r->allow_cn, (char *)utf8, (size_t)n, '.', 1);
			OPENSSL_free(utf8);
		}
	}
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; !ok && names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

		if (gn->type == GEN_DNS && r->allow_dns.n)
			ok = list_match(&r->allow_dns, (const char *)ASN1_STRING_get0_data(gn->d.ia5),
			    (size_t)ASN1_STRING_length(gn->d.ia5), '.', 1);
		else if (gn->type == GEN_URI && r->allow_uri.n)
			ok = list_match(&r->allow_uri, (const char *)ASN1_STRING_get0_data(gn->d.ia5),
			    (size_t)ASN1_STRING_length(gn->d.ia5), '/', 0);
		else if (gn->type == GEN_IPADD && r->nallow_ip)
			ok = ip_match(r, ASN1_STRING_get0_data(gn->d.ip), ASN1_STRING_length(gn->d.ip));
	}
	GENERAL_NAMES_free(names);
	return ok;
}
