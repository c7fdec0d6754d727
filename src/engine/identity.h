/* identity.h: a peer certificate's identity in words (subject and SANs). */
#ifndef MTLSSHIM_IDENTITY_H
#define MTLSSHIM_IDENTITY_H

#include <stddef.h>
#include <openssl/x509.h>

struct rule;

/* How names are written: RFC 2253, UTF-8 as it is (X509_NAME_print_ex flags). */
#define IDENTITY_NAME_FLAGS	(XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* RFC 2253 one-line subject, e.g. "CN=client,O=Example"; cut at len. */
char	*identity_subject(X509 *, char *buf, size_t len);
char	*identity_issuer(X509 *, char *buf, size_t len);
/* The same for any name (a CRL's issuer); NULL gives "". */
char	*identity_name(X509_NAME *, char *buf, size_t len);
/* Comma-separated SANs, e.g. "DNS:a.example,IP:10.0.0.1,URI:spiffe://t/x"; "" if none. */
char	*identity_sans(X509 *, char *buf, size_t len);

/*
 * Glob match of value against pattern: '*' matches one or more characters
 * within a segment (not sep), '**' one or more across segments.  Returns 1
 * on a match.  nocase folds ASCII case (DNS names, CNs).
 */
int	identity_glob(const char *pattern, const char *value, char sep, int nocase);

/*
 * 1 if cert is admitted by the rule's allow_cn/allow_dns/allow_uri/allow_ip
 * lists (a rule without lists admits every certificate), else 0.
 */
int	identity_allowed(X509 *cert, const struct rule *);

#endif
