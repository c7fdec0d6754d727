/* identity.c: a peer certificate's identity in words (subject and SANs). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "identity.h"

char *
identity_subject(X509 *cert, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if (cert == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return buf;
	X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return buf;
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
