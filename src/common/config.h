/* config.h: the configuration file parsed once into an immutable struct (no OpenSSL, no sockets). */
#ifndef MTLSSHIM_CONFIG_H
#define MTLSSHIM_CONFIG_H

#include <stddef.h>
#include "common/rules.h"

#define CONFIG_DEFAULT_PATH "/etc/mtlsshim/mtlsshim.conf"
#define CONFIG_ENV "MTLSSHIM_CONFIG"

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum rule_kind { RULE_SERVER, RULE_CLIENT };

struct strlist {
	char		**v;
	size_t		  n;
};

struct rule {
	enum rule_kind	 kind;
	size_t		 index;		/* in config.rules: its counters' place (common/stats.h) */
	char		*name;
	int		 port;		/* 1..65535 */
	int		 has_host;	/* client rules: host was given */
	struct cidr	 host;
	char		*ca_file;	/* absolute paths, inherited from the top level */
	char		*cert_file;
	char		*key_file;	/* a path, or a pkcs11: URI (RFC 7512) */
	char		*key_password_file;	/* an encrypted key_file's password, or NULL */
	char		*pkcs11_module;	/* the token's PKCS#11 library, or NULL */
	char		*pin_file;	/* the token's PIN, or NULL */
	int		 key_in_token;	/* key_file is a pkcs11: URI */
	int		 cert_in_token;	/* cert_file is one too */
	int		 handshake_timeout;	/* seconds */

	/* Who may connect: any pattern of any list; no lists, anyone the CA vouches for. */
	struct strlist	 allow_cn, allow_dns, allow_uri;
	struct cidr	*allow_ip;
	size_t		 nallow_ip;
	char		*server_name;	/* client rules: SNI and the name to verify */
	char		*crl_file;	/* absolute, or NULL */
	int		 min_tls_version; /* 12 or 13 */
	char		*ciphers, *ciphersuites, *groups;	/* NULL: OpenSSL's defaults */
	int		 session_resumption;
	int		 allow_expired_cert;

	/* Revocation. */
	int		 ocsp;		/* OCSP_OFF, OCSP_LEAF, OCSP_CHAIN */
	char		*ocsp_responder;	/* overrides the certificates' AIA, or NULL */
	int		 ocsp_require;	/* no definite "good": refuse */
	int		 ocsp_timeout;	/* seconds per exchange, at most handshake_timeout */
	int		 ocsp_stapling;	/* server: staple our own status, fetched */
	char		*ocsp_staple_file;	/* server: staple this DER response, or NULL */
	int		 crl_check;	/* CRL_CHECK_LEAF or CRL_CHECK_CHAIN */
};

enum { OCSP_OFF, OCSP_LEAF, OCSP_CHAIN };
enum { CRL_CHECK_LEAF, CRL_CHECK_CHAIN };

#define PKCS11_SCHEME "pkcs11:"
/* 1 if p is a pkcs11: URI rather than a path. */
int		 config_is_pkcs11(const char *p);

/* 1 if the rule restricts peer identities at all. */
int		 rule_has_allow(const struct rule *);

struct config {
	char		*path;		/* the file this came from */
	enum log_level	 log_level;
	char		*log_file;	/* "stderr", "syslog" or an absolute path */
	int		 handshake_timeout;
	int		 stats;		/* shared counters (common/stats.h) */
	struct rule	*rules;
	size_t		 nrules;
};

/*
 * Parses path and validates every value (not the files' contents).
 * Relative file paths are resolved against the config file's directory.
 * On error returns NULL and writes one line, without the "mtlsshim: " prefix
 * but naming the file, into err.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);
void		 config_free(struct config *);

/* The path the library and launcher use: $MTLSSHIM_CONFIG or the default. */
const char	*config_path(void);

const char	*config_level_name(enum log_level);

#endif
