/* main.c: the mtlsshim launcher: run a program under the preload, check a config, or pki. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/config.h"
#include "common/filedata.h"
#include "engine/crl.h"
#include "engine/identity.h"
#include "engine/keystore.h"
#include "engine/token.h"
#include "cli/metrics.h"
#include "cli/ownstatus.h"
#include "cli/pki.h"
#include "cli/progcheck.h"
#include "engine/tlsctx.h"

#define EX_USAGE	64
#define EX_CONFIG	78
#define LIBNAME		"libmtlsshim.so"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mtlsshim [-c FILE] [--allow-go] [--] PROGRAM [ARGS...]\n"
	    "       mtlsshim check [-c FILE] [--json] [--allow-go] [PROGRAM...]\n"
	    "       mtlsshim status [-c FILE] [--json]\n"
	    "       mtlsshim metrics [-c FILE] [--textfile DIR]\n"
	    "       mtlsshim pki init DIR [--days N] [--name CN]\n"
	    "       mtlsshim pki issue DIR NAME [--server] [--client] [--dns NAME]... [--ip ADDR]...\n"
	    "                [--uri URI]... [--days N] [--expired | --not-yet-valid] [--key ec|rsa] [--force]\n"
	    "       mtlsshim pki revoke DIR NAME\n"
	    "Runs PROGRAM with its matching TCP connections wrapped in mutual TLS;\n"
	    "refuses (exit 78) a PROGRAM that LD_PRELOAD would not reach.\n"
	    "FILE defaults to $MTLSSHIM_CONFIG, else " CONFIG_DEFAULT_PATH ".\n");
	exit(EX_USAGE);
}

/*
 * $MTLSSHIM_LIBRARY, else the library beside this binary (build tree), else BINDIR/../lib/mtlsshim
 * (an install under any PREFIX, also when the binary was built for another), else LIBDIR's.
 */
static const char *
find_library(void)
{
	static const char *const rel[] = { "", "../lib/mtlsshim/" };
	static char path[PATH_MAX];
	const char *env = getenv("MTLSSHIM_LIBRARY");
	char exe[PATH_MAX], *slash;
	ssize_t n;
	size_t k;

	if (env != NULL && *env != '\0')
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			slash[1] = '\0';
			for (k = 0; k < sizeof(rel) / sizeof(rel[0]); k++) {
				if (snprintf(path, sizeof(path), "%s%s%s", exe, rel[k], LIBNAME) >=
				    (int)sizeof(path))
					continue;
				/* Present but unreadable is reported as such, not passed over. */
				if (access(path, F_OK) == 0)
					return path;
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s", MTLSSHIM_LIBDIR, LIBNAME);
	return path;
}

#define MAXNOTES 16

/* What check found for the programs named after its options. */
struct progreport {
	struct progcheck_lib	 lib;
	struct progcheck	*v;
	int			 n;
};

/* What check found for one rule. */
struct report {
	const struct rule	*r;
	char			 subject[512], sans[1024], issuer[512];
	char			 not_before[32], not_after[32];
	int			 have_cert, days_left, key_loaded, key_matches, chains, crl_loaded,
				 revoked;
	enum keystore_where	 key_where;
	char			 key_token[300];	/* a token key: what its URI names */
	struct crlinfo		*crls;		/* each CRL of crl_file */
	int			 ncrls;
	struct ownocsp		 ocsp;		/* what our responder says of our certificate */
	struct ownstaple	 staple;	/* of ocsp_staple_file */
	char			*warnings[MAXNOTES], *errors[MAXNOTES];
	int			 nwarn, nerr;
};

static void
note(char **v, int *n, const char *fmt, ...)
{
	va_list ap;

	if (*n >= MAXNOTES)
		return;
	va_start(ap, fmt);
	if (vasprintf(&v[*n], fmt, ap) >= 0)
		(*n)++;
	va_end(ap);
}

static X509 *
load_chain(const char *file, STACK_OF(X509) **rest)
{
	BIO *b = BIO_new_file(file, "r");
	X509 *leaf = NULL, *x;

	*rest = sk_X509_new_null();
	if (b == NULL)
		return NULL;
	leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	while (leaf && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(*rest, x);
	BIO_free(b);
	ERR_clear_error();
	return leaf;
}

/* A secret's file (key, PIN, password) that every user can read. */
static void
check_mode(struct report *rp, const char *opt, const char *path)
{
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		note(rp->warnings, &rp->nwarn, "%s %s is readable by every user (chmod 600 it)",
		    opt, path);
}

/* Where the key lives, and whether it is the certificate's; tlsctx_new reported why not loaded. */
static void
check_key(struct report *rp, X509 *cert)
{
	const struct rule *r = rp->r;
	struct filedata f;
	char err[1024];
	EVP_PKEY *pk;
	int bits, id;

	memset(&f, 0, sizeof(f));
	if (!r->key_in_token) {
		check_mode(rp, "key_file", r->key_file);
		if (filedata_read(r->key_file, &f) == -1)
			return;
	}
	check_mode(rp, "pin_file", r->pin_file);
	check_mode(rp, "key_password_file", r->key_password_file);
	rp->key_where = keystore_where(r, &f);
	if (rp->key_where == KEYSTORE_FILE && r->key_password_file != NULL)
		note(rp->warnings, &rp->nwarn, "key_password_file %s is set, but key_file %s is "
		    "not encrypted", r->key_password_file, r->key_file);
	if (r->key_in_token)
		token_describe(r->key_file, rp->key_token, sizeof(rp->key_token));
	/* A token key comes from token.c's keeping: the PIN is not offered twice. */
	pk = keystore_key(r, &f, err, sizeof(err));
	filedata_free(&f);
	ERR_clear_error();
	if (pk == NULL)
		return;
	rp->key_loaded = 1;
	rp->key_matches = cert && X509_check_private_key(cert, pk) == 1;
	bits = EVP_PKEY_get_bits(pk);
	id = EVP_PKEY_get_base_id(pk);
	if (((id == EVP_PKEY_RSA || id == EVP_PKEY_DSA || id == EVP_PKEY_DH) && bits < 2048) ||
	    (id == EVP_PKEY_EC && bits < 256))
		note(rp->warnings, &rp->nwarn, "weak key: %s %d bits", OBJ_nid2sn(id), bits);
	EVP_PKEY_free(pk);
	ERR_clear_error();
}

/* Does our own certificate chain to the CA (and pass the CRL)? */
static void
check_chain(struct report *rp, X509 *cert, STACK_OF(X509) *rest)
{
	const struct rule *r = rp->r;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	X509_LOOKUP *lu;
	int err;

	if (st == NULL || x == NULL || X509_STORE_load_file(st, r->ca_file) != 1)
		goto out;
	if (r->crl_file && (lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) != NULL &&
	    X509_load_crl_file(lu, r->crl_file, X509_FILETYPE_PEM) > 0) {
		rp->crl_loaded = 1;
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	}
	if (X509_STORE_CTX_init(x, st, cert, rest) != 1)
		goto out;
	/* Expiry is reported on its own; the chain is what matters here. */
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(x), X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(x) == 1)
		rp->chains = 1;
	else if ((err = X509_STORE_CTX_get_error(x)) == X509_V_ERR_CERT_REVOKED) {
		rp->chains = 1;
		rp->revoked = 1;
		note(rp->errors, &rp->nerr, "cert_file %s is revoked by crl_file %s",
		    r->cert_file, r->crl_file);
	} else
		note(rp->errors, &rp->nerr, "cert_file %s does not chain to ca_file %s: %s",
		    r->cert_file, r->ca_file, X509_verify_cert_error_string(err));
 out:
	X509_STORE_CTX_free(x);
	X509_STORE_free(st);
	ERR_clear_error();
}

/*
 * Each CRL of crl_file in words; one that is due soon warns.  An expired
 * one is an error already: tlsctx_new refuses it as the library would.
 */
static void
check_crls(struct report *rp)
{
	const struct rule *r = rp->r;
	STACK_OF(X509_CRL) *v = NULL;
	struct filedata f;
	struct crlinfo *ci;
	int i;

	memset(&f, 0, sizeof(f));
	if (r->crl_file == NULL || filedata_read(r->crl_file, &f) == -1 ||
	    (v = crl_read(&f)) == NULL ||
	    (rp->crls = calloc((size_t)sk_X509_CRL_num(v) + 1, sizeof(*rp->crls))) == NULL)
		goto out;
	for (i = 0; i < sk_X509_CRL_num(v); i++) {
		ci = &rp->crls[rp->ncrls++];
		crl_info(sk_X509_CRL_value(v, i), ci);
		if (!ci->expired && ci->days_left < CRL_WARN_DAYS)
			note(rp->warnings, &rp->nwarn, "crl_file %s: the CRL of issuer=%s is "
			    "due for renewal: nextUpdate %s, in %d days", r->crl_file,
			    ci->issuer, ci->next_update, ci->days_left);
	}
 out:
	sk_X509_CRL_pop_free(v, X509_CRL_free);
	filedata_free(&f);
	ERR_clear_error();
}

/* Our responder's word on our certificate: revoked is an error, no definite answer a warning. */
static void
check_ocsp(struct report *rp, X509 *cert, STACK_OF(X509) *rest)
{
	const struct rule *r = rp->r;
	struct ownocsp *o = &rp->ocsp;

	ownstatus_ocsp(o, r, cert, rest);
	if (o->url == NULL)
		return;
	if (o->status == OCSP_ST_REVOKED)
		note(rp->errors, &rp->nerr, "cert_file %s is revoked by its OCSP responder %s",
		    r->cert_file, o->url);
	else if (o->status == OCSP_ST_UNKNOWN)
		note(rp->warnings, &rp->nwarn, "OCSP responder %s does not know cert_file %s",
		    o->url, r->cert_file);
	else if (o->status != OCSP_ST_GOOD)
		note(rp->warnings, &rp->nwarn, "OCSP responder %s gave no status for cert_file "
		    "%s: %s", o->url, r->cert_file, o->error);
}

/* The staple of ocsp_staple_file, warned about a day before its nextUpdate. */
static void
check_staple(struct report *rp, SSL_CTX *ctx)
{
	const struct rule *r = rp->r;

	ownstatus_staple(&rp->staple, r, ctx);
	if (rp->staple.have && rp->staple.next_update[0] && rp->staple.days_left < 1)
		note(rp->warnings, &rp->nwarn, "ocsp_staple_file %s is due for renewal: "
		    "nextUpdate %s, in less than a day", r->ocsp_staple_file,
		    rp->staple.next_update);
}

static void
check_rule(const struct config *c, struct report *rp)
{
	const struct rule *r = rp->r;
	STACK_OF(X509) *rest = NULL;
	uint32_t xku;
	char err[1024];
	SSL_CTX *ctx;
	X509 *cert;

	/* Exactly what the library would do at start-up. */
	if ((ctx = tlsctx_new(c, r, err, sizeof(err))) == NULL)
		note(rp->errors, &rp->nerr, "%s", err);
	check_staple(rp, ctx);
	SSL_CTX_free(ctx);
	check_crls(rp);
	if (r->cert_in_token) {
		rest = sk_X509_new_null();
		cert = keystore_cert(r, err, sizeof(err));
		ERR_clear_error();
	} else
		cert = load_chain(r->cert_file, &rest);
	if (cert == NULL)
		goto out;
	rp->have_cert = 1;
	identity_subject(cert, rp->subject, sizeof(rp->subject));
	identity_sans(cert, rp->sans, sizeof(rp->sans));
	identity_issuer(cert, rp->issuer, sizeof(rp->issuer));
	tlsctx_time_str(X509_get0_notBefore(cert), rp->not_before, sizeof(rp->not_before));
	tlsctx_time_str(X509_get0_notAfter(cert), rp->not_after, sizeof(rp->not_after));
	rp->days_left = tlsctx_days_left(cert);
	if (rp->days_left < 0 && r->allow_expired_cert)
		note(rp->warnings, &rp->nwarn, "cert_file %s has expired (allowed by "
		    "allow_expired_cert)", r->cert_file);
	else if (rp->days_left >= 0 && rp->days_left <= 7)
		note(rp->warnings, &rp->nwarn, "cert_file %s expires in %d days",
		    r->cert_file, rp->days_left);
	check_key(rp, cert);
	check_chain(rp, cert, rest);
	check_ocsp(rp, cert, rest);
	if (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) {
		xku = X509_get_extended_key_usage(cert);
		if (r->kind == RULE_SERVER && !(xku & XKU_SSL_SERVER))
			note(rp->warnings, &rp->nwarn, "cert_file %s lacks the serverAuth "
			    "extended key usage a server rule needs", r->cert_file);
		if (r->kind == RULE_CLIENT && !(xku & XKU_SSL_CLIENT))
			note(rp->warnings, &rp->nwarn, "cert_file %s lacks the clientAuth "
			    "extended key usage a client rule needs", r->cert_file);
	}
 out:
	X509_free(cert);
	sk_X509_pop_free(rest, X509_free);
	ERR_clear_error();
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
json_list(char **v, int n)
{
	int i;

	putchar('[');
	for (i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_str(v[i]);
	}
	putchar(']');
}

/* SANs are kept comma-separated; JSON gets them as a list. */
static void
json_sans(const char *sans)
{
	char *copy = strdup(sans), *tok, *save = NULL;
	int first = 1;

	putchar('[');
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		if (!first)
			putchar(',');
		json_str(tok);
		first = 0;
	}
	putchar(']');
	free(copy);
}

/* A token key: the token and object its URI names, and the module that reaches it. */
static void
json_token(const struct rule *r)
{
	char v[256];

	printf(",\"token\":");
	json_str(token_uri_attr(r->key_file, "token", v, sizeof(v)) ? v : "");
	printf(",\"object\":");
	json_str(token_uri_attr(r->key_file, "object", v, sizeof(v)) ? v : "");
	printf(",\"module\":");
	json_str(r->pkcs11_module);
}

static void
json_str_or_null(const char *s)
{
	if (s != NULL)
		json_str(s);
	else
		printf("null");
}

static void
json_progs(const struct progreport *pr)
{
	const struct progcheck *p;
	int k;

	printf(",\"library\":{\"path\":");
	json_str(pr->lib.path);
	printf(",\"ok\":%s,\"reason\":", pr->lib.ok ? "true" : "false");
	json_str_or_null(pr->lib.ok ? NULL : pr->lib.err);
	printf("},\"programs\":[");
	for (k = 0; k < pr->n; k++) {
		p = &pr->v[k];
		printf("%s{\"path\":", k ? "," : "");
		json_str(p->path);
		printf(",\"ok\":%s,\"status\":%d,\"reason\":", p->status == PROGCHECK_OK ?
		    "true" : "false", p->status);
		json_str_or_null(p->status == PROGCHECK_OK ? NULL : p->reason);
		printf(",\"detail\":");
		json_str_or_null(p->status == PROGCHECK_OK ? p->detail : NULL);
		printf("}");
	}
	printf("]");
}

/* "next_update" and "days_left", both null without a nextUpdate. */
static void
json_days(const char *next, int days)
{
	printf(",\"next_update\":");
	json_str_or_null(next[0] ? next : NULL);
	if (next[0])
		printf(",\"days_left\":%d", days);
	else
		printf(",\"days_left\":null");
}

static void
json_ocsp(const struct ownocsp *o)
{
	if (o->url == NULL) {
		printf("null");
		return;
	}
	printf("{\"responder\":");
	json_str(o->url);
	printf(",\"status\":\"%s\",\"this_update\":", ownstatus_name(o->status));
	json_str_or_null(o->this_update[0] ? o->this_update : NULL);
	json_days(o->next_update, o->days_left);
	printf(",\"error\":");
	json_str_or_null(o->error[0] ? o->error : NULL);
	printf("}");
}

static void
json_staple(const struct rule *r, const struct ownstaple *s)
{
	if (!s->have) {
		printf("null");
		return;
	}
	printf("{\"file\":");
	json_str(r->ocsp_staple_file);
	json_days(s->next_update, s->days_left);
	printf("}");
}

static void
json_crls(const struct crlinfo *v, int n)
{
	int i;

	putchar('[');
	for (i = 0; i < n; i++) {
		printf("%s{\"issuer\":", i ? "," : "");
		json_str(v[i].issuer);
		json_days(v[i].next_update, v[i].days_left);
		printf(",\"expired\":%s}", v[i].expired ? "true" : "false");
	}
	putchar(']');
}

static void
print_json(const struct config *c, struct report *rp, size_t n, const struct progreport *pr,
    int ok)
{
	size_t i;

	printf("{\"config\":");
	json_str(c->path);
	printf(",\"ok\":%s,\"rules\":[", ok ? "true" : "false");
	for (i = 0; i < n; i++) {
		const struct rule *r = rp[i].r;
		printf("%s{\"name\":", i ? "," : "");
		json_str(r->name);
		printf(",\"kind\":\"%s\",\"port\":%d,\"cert\":",
		    r->kind == RULE_SERVER ? "server" : "client", r->port);
		if (rp[i].have_cert) {
			printf("{\"file\":");
			json_str(r->cert_file);
			printf(",\"subject\":");
			json_str(rp[i].subject);
			printf(",\"san\":");
			json_sans(rp[i].sans);
			printf(",\"issuer\":");
			json_str(rp[i].issuer);
			printf(",\"not_before\":\"%s\",\"not_after\":\"%s\",\"days_left\":%d}",
			    rp[i].not_before, rp[i].not_after, rp[i].days_left);
		} else
			printf("null");
		printf(",\"key\":{\"file\":");
		json_str(r->key_file);
		printf(",\"where\":\"%s\"", keystore_where_name(rp[i].key_where));
		if (r->key_in_token)
			json_token(r);
		printf(",\"loaded\":%s,\"matches\":%s},\"ca_file\":", rp[i].key_loaded ? "true" :
		    "false", rp[i].key_matches ? "true" : "false");
		json_str(r->ca_file);
		printf(",\"chains_to_ca\":%s,\"crl\":", rp[i].chains ? "true" : "false");
		if (r->crl_file) {
			printf("{\"file\":");
			json_str(r->crl_file);
			printf(",\"loaded\":%s,\"revoked\":%s,\"check\":\"%s\",\"crls\":",
			    rp[i].crl_loaded ? "true" : "false", rp[i].revoked ? "true" : "false",
			    r->crl_check == CRL_CHECK_CHAIN ? "chain" : "leaf");
			json_crls(rp[i].crls, rp[i].ncrls);
			printf("}");
		} else
			printf("null");
		printf(",\"ocsp\":");
		json_ocsp(&rp[i].ocsp);
		printf(",\"staple\":");
		json_staple(r, &rp[i].staple);
		printf(",\"warnings\":");
		json_list(rp[i].warnings, rp[i].nwarn);
		printf(",\"errors\":");
		json_list(rp[i].errors, rp[i].nerr);
		printf("}");
	}
	printf("]");
	if (pr != NULL)
		json_progs(pr);
	printf("}\n");
}

static void
text_progs(const struct progreport *pr)
{
	const struct progcheck *p;
	int k;

	if (pr->lib.ok)
		printf("library %s: ok\n", pr->lib.path);
	else
		printf("library %s: cannot be loaded: %s\n", pr->lib.path, pr->lib.err);
	for (k = 0; k < pr->n; k++) {
		p = &pr->v[k];
		if (p->status == PROGCHECK_OK)
			printf("program %s: ok (%s)\n", p->path, p->detail);
		else
			printf("program %s: refused: %s\n", p->path, p->reason);
	}
}

static void
text_crl(const struct crlinfo *ci)
{
	if (ci->next_update[0] == '\0')
		printf("      issuer: %s, no nextUpdate\n", ci->issuer);
	else if (ci->expired)
		printf("      issuer: %s, nextUpdate %s (EXPIRED)\n", ci->issuer, ci->next_update);
	else
		printf("      issuer: %s, nextUpdate %s (%d days left)\n", ci->issuer,
		    ci->next_update, ci->days_left);
}

/* One line: the responder, what it said, the answer's window. */
static void
text_ocsp(const struct ownocsp *o)
{
	if (o->url == NULL)
		return;
	if (o->status == OCSP_ST_BAD) {
		printf("    ocsp: %s: no status: %s\n", o->url, o->error);
		return;
	}
	printf("    ocsp: %s: %s, thisUpdate %s, ", o->url, o->status == OCSP_ST_REVOKED ?
	    "REVOKED" : ownstatus_name(o->status), o->this_update[0] ? o->this_update : "?");
	if (o->next_update[0])
		printf("nextUpdate %s (%d days left)\n", o->next_update, o->days_left);
	else
		printf("no nextUpdate\n");
}

static void
text_staple(const struct rule *r, const struct ownstaple *s)
{
	if (s->have && s->next_update[0])
		printf("    staple: %s, nextUpdate %s (%d days left)\n", r->ocsp_staple_file,
		    s->next_update, s->days_left);
	else if (s->have)
		printf("    staple: %s, no nextUpdate\n", r->ocsp_staple_file);
}

static void
print_text(const struct config *c, struct report *rp, size_t n, const struct progreport *pr,
    int ok)
{
	size_t i;
	int j;

	printf("%s: %zu rule%s, log_level=%s log_file=%s\n", c->path, n, n == 1 ? "" : "s",
	    config_level_name(c->log_level), c->log_file);
	for (i = 0; i < n; i++) {
		const struct rule *r = rp[i].r;
		printf("  %s \"%s\": port %d, handshake_timeout %ds, min TLS 1.%d%s%s\n",
		    r->kind == RULE_SERVER ? "server" : "client", r->name, r->port,
		    r->handshake_timeout, r->min_tls_version - 10,
		    r->server_name ? ", server_name " : "", r->server_name ? r->server_name : "");
		if (rp[i].have_cert) {
			printf("    cert: %s\n      subject: %s\n      san: %s\n      issuer: %s\n"
			    "      valid: %s .. %s (%d days left)\n", r->cert_file,
			    rp[i].subject, rp[i].sans[0] ? rp[i].sans : "(none)", rp[i].issuer,
			    rp[i].not_before, rp[i].not_after, rp[i].days_left);
		}
		printf("    key: %s (%s) %s\n", r->key_file, r->key_in_token ? rp[i].key_token :
		    keystore_where_name(rp[i].key_where), !rp[i].key_loaded ?
		    "could NOT be loaded (see the error)" : rp[i].key_matches ?
		    "matches the certificate" : "does NOT match the certificate");
		printf("    ca: %s (%s)\n", r->ca_file, rp[i].chains ?
		    "the certificate chains to it" : "the certificate does NOT chain to it");
		if (r->crl_file)
			printf("    crl: %s (%s%s), crl_check %s\n", r->crl_file, rp[i].crl_loaded ?
			    "loaded" : "NOT loaded", rp[i].revoked ? ", our certificate is REVOKED" :
			    "", r->crl_check == CRL_CHECK_CHAIN ? "chain" : "leaf");
		for (j = 0; j < rp[i].ncrls; j++)
			text_crl(&rp[i].crls[j]);
		text_ocsp(&rp[i].ocsp);
		text_staple(r, &rp[i].staple);
		if (rule_has_allow(r))
			printf("    allow: %zu cn, %zu dns, %zu uri, %zu ip patterns\n",
			    r->allow_cn.n, r->allow_dns.n, r->allow_uri.n, r->nallow_ip);
		for (j = 0; j < rp[i].nwarn; j++)
			printf("    warning: %s\n", rp[i].warnings[j]);
		for (j = 0; j < rp[i].nerr; j++)
			printf("    error: %s\n", rp[i].errors[j]);
	}
	if (pr != NULL)
		text_progs(pr);
	printf("%s\n", ok ? "ok" : "FAILED");
}

/* The library and each program, judged as the launcher would before exec. */
static int
check_programs(struct progreport *pr, char **names, int n, int flags)
{
	int k, ok;

	ok = progcheck_library(&pr->lib, find_library()) == 0;
	if ((pr->v = calloc((size_t)n, sizeof(*pr->v))) == NULL)
		return -1;
	pr->n = n;
	for (k = 0; k < n; k++)
		if (progcheck_program(&pr->v[k], &pr->lib, names[k], flags) != PROGCHECK_OK)
			ok = 0;
	return ok;
}

static int
check(const char *path, int json, char **names, int nnames, int flags)
{
	struct progreport progs, *pr = NULL;
	struct report *rp;
	char err[1024];
	struct config *c;
	size_t i;
	int ok = 1, rules_ok, j, k;

	if ((c = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mtlsshim: %s\n", err);
		return EX_CONFIG;
	}
	if ((rp = calloc(c->nrules + 1, sizeof(*rp))) == NULL)
		return 1;
	for (i = 0; i < c->nrules; i++) {
		rp[i].r = &c->rules[i];
		check_rule(c, &rp[i]);
		if (rp[i].nerr)
			ok = 0;
	}
	rules_ok = ok;
	if (nnames > 0) {
		memset(&progs, 0, sizeof(progs));
		pr = &progs;
		if ((j = check_programs(pr, names, nnames, flags)) == -1)
			return 1;
		ok = ok && j;
	}
	if (json)
		print_json(c, rp, c->nrules, pr, ok);
	else
		print_text(c, rp, c->nrules, pr, ok);
	/* The first error, in the fail-closed form, for scripts reading stderr. */
	for (i = 0; !rules_ok && i < c->nrules; i++)
		if (rp[i].nerr) {
			fprintf(stderr, "mtlsshim: %s\n", rp[i].errors[0]);
			break;
		}
	if (rules_ok && pr != NULL && !pr->lib.ok)
		fprintf(stderr, "mtlsshim: %s: cannot be loaded: %s\n", pr->lib.path, pr->lib.err);
	else if (rules_ok && pr != NULL)
		for (k = 0; k < pr->n; k++)
			if (pr->v[k].status != PROGCHECK_OK) {
				fprintf(stderr, "mtlsshim: %s: %s\n", pr->v[k].path, pr->v[k].reason);
				break;
			}
	if (pr != NULL)
		free(pr->v);
	for (i = 0; i < c->nrules; i++)
		for (j = 0; j < MAXNOTES; j++) {
			free(rp[i].warnings[j]);
			free(rp[i].errors[j]);
		}
	for (i = 0; i < c->nrules; i++) {
		free(rp[i].crls);
		ownstatus_free(&rp[i].ocsp);
	}
	free(rp);
	config_free(c);
	return ok ? 0 : EX_CONFIG;
}

/*
 * ld.so only warns when LD_PRELOAD cannot take effect and the program then
 * runs in plaintext, so refuse first: one line, EX_CONFIG (126/127, as a
 * shell, when the program cannot run at all).
 */
static int
launch_check(struct progcheck *p, const char *lib, const char *name, int flags)
{
	struct progcheck_lib l;

	progcheck_library(&l, lib);
	progcheck_program(p, &l, name, flags);
	if (p->status == PROGCHECK_NOTFOUND || p->status == PROGCHECK_NOEXEC) {
		fprintf(stderr, "mtlsshim: %s: %s\n", p->path, p->reason);
		return p->status;
	}
	if (!l.ok) {
		fprintf(stderr, "mtlsshim: %s: cannot preload %s: %s\n", p->path, l.path, l.err);
		return EX_CONFIG;
	}
	if (p->status != PROGCHECK_OK) {
		fprintf(stderr, "mtlsshim: %s: %s\n", p->path, p->reason);
		return EX_CONFIG;
	}
	return 0;
}

/* Runs the file progcheck judged, not a fresh PATH search; as execvp, /bin/sh for ENOEXEC. */
static void
launch_exec(const char *path, char **argv)
{
	char **sh;
	int n;

	execv(path, argv);
	if (errno != ENOEXEC)
		return;
	for (n = 0; argv[n] != NULL; n++)
		;
	if ((sh = calloc((size_t)n + 2, sizeof(*sh))) == NULL)
		return;
	sh[0] = (char *)PROGCHECK_SHELL;
	sh[1] = (char *)path;
	memcpy(sh + 2, argv + 1, (size_t)(n > 0 ? n - 1 : 0) * sizeof(*sh));
	execv(PROGCHECK_SHELL, sh);
	errno = ENOEXEC;
	free(sh);
}

/* status and metrics: the counters of the config's processes (common/stats.h). */
static int
counters(int argc, char *argv[])
{
	const char *conf = NULL, *textfile = NULL;
	struct config *c;
	char err[1024];
	int i, json = 0, metrics = strcmp(argv[1], "metrics") == 0, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (!metrics && strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (metrics && strcmp(argv[i], "--textfile") == 0 && i + 1 < argc)
			textfile = argv[++i];
		else
			usage();
	}
	if ((c = config_load(conf != NULL ? conf : config_path(), err, sizeof(err))) == NULL) {
		fprintf(stderr, "mtlsshim: %s\n", err);
		return EX_CONFIG;
	}
	if (!c->stats) {
		fprintf(stderr, "mtlsshim: %s: stats = false: no counters are kept\n", c->path);
		config_free(c);
		return 1;
	}
	rv = metrics ? metrics_main(c, textfile) : status_main(c, json);
	config_free(c);
	return rv;
}

int
main(int argc, char *argv[])
{
	const char *conf = NULL, *lib, *old;
	char abs[PATH_MAX], *preload;
	struct progcheck pc;
	int i = 1, do_check = 0, json = 0, flags = 0, rv;

	if (argc > 1 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "metrics") == 0))
		return counters(argc, argv);
	if (argc > 1 && strcmp(argv[1], "pki") == 0)
		return pki_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		do_check = 1;
		i = 2;
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (do_check && strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--allow-go") == 0)
			flags |= PROGCHECK_ALLOW_GO;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			usage();
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-')
			usage();
		else
			break;
	}
	if (conf == NULL)
		conf = config_path();
	if (do_check)
		return check(conf, json, argv + i, argc - i, flags);
	if (i >= argc)
		usage();
	if (realpath(conf, abs) == NULL) {
		fprintf(stderr, "mtlsshim: %s: %s\n", conf, strerror(errno));
		return EX_CONFIG;
	}
	lib = find_library();
	if ((rv = launch_check(&pc, lib, argv[i], flags)) != 0)
		return rv;
	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? " " : "", old ? old : "") < 0)
		return 1;
	setenv("LD_PRELOAD", preload, 1);
	setenv("MTLSSHIM_CONFIG", abs, 1);
	launch_exec(pc.path, &argv[i]);
	fprintf(stderr, "mtlsshim: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
