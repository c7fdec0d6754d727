/* tlsctx.c: a rule's OpenSSL context: certificate, key, CA, CRL, staple, peer verification, rotation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/lockstat.h"
#include "common/deadline.h"
#include "common/filedata.h"
#include "engine/crl.h"
#include "engine/ocsp_cache.h"
#include "engine/ocsp_resp.h"
#include "engine/identity.h"
#include "engine/keystore.h"
#include "common/log.h"
#include "common/stats.h"
#include "engine/staple.h"
#include "engine/tlsctx.h"

#define EXPIRY_WARN_DAYS	7

static int		refusal_idx = -1, peerkey_idx = -1;
static pthread_once_t	idx_once = PTHREAD_ONCE_INIT;

static void
free_string(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

/* Our own ex_data indexes: the program's OpenSSL use keeps its own. */
static void
idx_init(void)
{
	refusal_idx = SSL_get_ex_new_index(0, "mtlsshim refusal", NULL, NULL, free_string);
	peerkey_idx = SSL_get_ex_new_index(0, "mtlsshim peer", NULL, NULL, free_string);
}

const char *
tlsctx_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "unknown error");
	ERR_clear_error();
	return buf;
}

const char *
tlsctx_refusal(SSL *ssl)
{
	pthread_once(&idx_once, idx_init);
	return SSL_get_ex_data(ssl, refusal_idx);
}

/* Keeps why our checks refused the peer of ssl, for its log line (tlsctx_refusal). */
static void
set_refusal(SSL *ssl, const char *fmt, ...)
{
	va_list ap;
	char *why;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&why, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	free(SSL_get_ex_data(ssl, refusal_idx));
	if (!SSL_set_ex_data(ssl, refusal_idx, why)) {
		SSL_set_ex_data(ssl, refusal_idx, NULL);
		free(why);
	}
}

/* What a CA certificate of the peer's chain can fail on under crl_check = "chain". */
static int
revocation_error(int e)
{
	return e == X509_V_ERR_CERT_REVOKED || e == X509_V_ERR_UNABLE_TO_GET_CRL ||
	    e == X509_V_ERR_CRL_HAS_EXPIRED || e == X509_V_ERR_CRL_NOT_YET_VALID ||
	    e == X509_V_ERR_CRL_SIGNATURE_FAILURE || e == X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER;
}

/* Chain verified: now the leaf's identity against the rule's allow-lists. */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tlsholder *h = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(x);
	int depth = X509_STORE_CTX_get_error_depth(x), e = X509_STORE_CTX_get_error(x);
	char subj[256], sans[512];

	/* "certificate revoked" alone would not say it was an intermediate's. */
	if (!ok && h != NULL && depth > 0 && revocation_error(e)) {
		identity_subject(cert, subj, sizeof(subj));
		set_refusal(ssl, "certificate verify failed: %s: CA certificate at depth %d: "
		    "subject=%s", X509_verify_cert_error_string(e), depth, subj);
		return ok;
	}
	if (!ok || h == NULL)
		return ok;
	/* A status already known revoked gets the peer a certificate_revoked alert. */
	if (h->rule->ocsp != OCSP_OFF && (h->rule->ocsp == OCSP_CHAIN || depth == 0) &&
	    ocsp_cache_get(cert) == OCSP_ST_REVOKED) {
		set_refusal(ssl, "certificate revoked (OCSP)");
		X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
		return 0;
	}
	if (depth != 0)
		return ok;
	/*
	 * OpenSSL takes a CA certificate as a leaf, even the trusted root
	 * itself; a peer is an end entity, and a CA key is not a login.
	 */
	if (X509_get_extension_flags(cert) & EXFLAG_CA) {
		identity_subject(cert, subj, sizeof(subj));
		set_refusal(ssl, "peer certificate is a CA certificate: subject=%s", subj);
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (identity_allowed(cert, h->rule))
		return ok;
	identity_subject(cert, subj, sizeof(subj));
	identity_sans(cert, sans, sizeof(sans));
	set_refusal(ssl, "identity not allowed: subject=%s san=%s", subj, sans);
	X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/*
 * Keeps the client's sessions per server, for resumption.  A TLS 1.3
 * ticket is used once (OpenSSL marks its session spent when a resumed
 * handshake ends, and RFC 8446 advises single use), so the cache holds a
 * small pool per server: the newest TLSCTX_PER_PEER tickets, each handed
 * to one connection.  Concurrent reconnects then each find a ticket of
 * their own instead of all waiting for the one newest session.
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tlsholder *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *key = SSL_get_ex_data(ssl, peerkey_idx);
	int i, n = 0, slot = -1, oldest = -1;

	if (h == NULL || key == NULL)
		return 0;
	plock(&h->lock);
	for (i = 0; i < TLSCTX_CACHE; i++) {
		if (h->cache[i].sess == NULL) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (strcmp(h->cache[i].key, key) != 0)
			continue;
		n++;
		if (oldest < 0 || h->cache[i].seq < h->cache[oldest].seq)
			oldest = i;
	}
	if (n >= TLSCTX_PER_PEER)
		slot = oldest;
	else if (slot < 0) {
		slot = h->cache_next;
		h->cache_next = (h->cache_next + 1) % TLSCTX_CACHE;
	}
	SSL_SESSION_free(h->cache[slot].sess);
	snprintf(h->cache[slot].key, sizeof(h->cache[slot].key), "%s", key);
	h->cache[slot].sess = sess;
	h->cache[slot].seq = ++h->cache_seq;
	pthread_mutex_unlock(&h->lock);
	return 1;	/* we keep the reference */
}

static const char *const file_opt[TLSCTX_FILES] = { "ca_file", "cert_file", "key_file", "crl_file",
    "ocsp_staple_file" };

/* Reads what the caller has not, so an error names errno rather than a PEM routine. */
static int
tlsctx_read(const struct config *c, const struct rule *r, const char *kind,
    struct filedata f[TLSCTX_FILES], char *err, size_t errlen)
{
	const char *path;
	int i;

	for (i = 0; i < TLSCTX_FILES; i++) {
		if ((path = tlsctx_path(r, i)) == NULL || f[i].buf != NULL)
			continue;
		if (filedata_read(path, &f[i]) == -1) {
			snprintf(err, errlen, "%s: %s \"%s\": %s %s: %s", c->path, kind,
			    r->name, file_opt[i], path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static BIO *
mem_bio(const struct filedata *f)
{
	return BIO_new_mem_buf(f->buf, (int)f->len);
}

/* Our keys are not encrypted; OpenSSL's default would prompt on the terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* The certificate, then the chain after it in the same file. */
static int
use_chain(SSL_CTX *ctx, const struct filedata *f)
{
	BIO *b = mem_bio(f);
	X509 *x = NULL;
	int ok = 0;

	if (b == NULL || (x = PEM_read_bio_X509_AUX(b, NULL, no_passphrase, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_clear_chain_certs(ctx) != 1)
		goto out;
	X509_free(x);
	ERR_set_mark();
	for (;;) {
		if ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL) {
			/* The end of the file reads as "no start line"; anything else is damage. */
			ok = ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE;
			break;
		}
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			break;
		x = NULL;
	}
	if (ok)
		ERR_pop_to_mark();
	else
		ERR_clear_last_mark();
 out:
	X509_free(x);
	BIO_free(b);
	return ok;
}

/* The rule's key, wherever it lives (keystore.h); why in err, after the rule's prefix. */
static int
use_key(SSL_CTX *ctx, const struct rule *r, const struct filedata *f, char *err, size_t errlen)
{
	EVP_PKEY *k = keystore_key(r, f, err, errlen);
	int ok = k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1;
	char why[256];

	if (k != NULL && !ok && ERR_GET_LIB(ERR_peek_last_error()) == ERR_LIB_X509 &&
	    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
		ERR_clear_error();
		snprintf(err, errlen, "key_file %s does not match cert_file %s", r->key_file,
		    r->cert_file);
	} else if (k != NULL && !ok)
		snprintf(err, errlen, "key_file %s: %s", r->key_file,
		    tlsctx_errstr(why, sizeof(why)));
	EVP_PKEY_free(k);
	return ok;
}

/* A certificate kept in the token with the key; the chain comes from ca_file. */
static int
use_token_cert(SSL_CTX *ctx, const struct rule *r, char *err, size_t errlen)
{
	X509 *x = keystore_cert(r, err, errlen);
	int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1;
	char why[256];

	if (x != NULL && !ok)
		snprintf(err, errlen, "cert_file %s: %s", r->cert_file,
		    tlsctx_errstr(why, sizeof(why)));
	X509_free(x);
	return ok;
}

/*
 * Trusts every certificate in f (and takes its CRLs); a server also names
 * them to clients, so that curl knows which certificate to present.
 * Returns how many objects it took, or -1.
 */
int
tlsctx_load_trust(SSL_CTX *ctx, const struct filedata *f, int certs, int client_cas)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_INFO) *infos;
	X509_INFO *xi;
	BIO *b = mem_bio(f);
	int i, n = 0;

	infos = b != NULL ? PEM_X509_INFO_read_bio(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	if (infos == NULL)
		return -1;
	for (i = 0; i < sk_X509_INFO_num(infos) && n >= 0; i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (certs && xi->x509 != NULL) {
			if (X509_STORE_add_cert(st, xi->x509) != 1 ||
			    (client_cas && SSL_CTX_add_client_CA(ctx, xi->x509) != 1))
				n = -1;
			else
				n++;
		}
		if (n >= 0 && xi->crl != NULL)
			n = X509_STORE_add_crl(st, xi->crl) == 1 ? n + 1 : -1;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return n;
}

int
tlsctx_days_until(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	ASN1_TIME_diff(&days, &secs, NULL, t);
	return days - (secs < 0);
}

int
tlsctx_days_left(X509 *cert)
{
	return tlsctx_days_until(X509_get0_notAfter(cert));
}

const char *
tlsctx_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, len, "?");
	return buf;
}

#define DEFAULT_CIPHERSUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

static int
tlsctx_options(SSL_CTX *ctx, const struct config *c, const struct rule *r,
    const char *kind, char *err, size_t errlen)
{
	char why[256];

	/*
	 * Defaults: Mozilla's "intermediate" order, AES-128-GCM first.  It is
	 * as safe as AES-256 for this use and a third cheaper per byte, which
	 * is most of a bulk transfer's cost; ChaCha20 still wins for a peer
	 * that puts it first (no AES instructions).
	 */
	SSL_CTX_set_cipher_list(ctx, DEFAULT_CIPHERS);
	SSL_CTX_set_ciphersuites(ctx, DEFAULT_CIPHERSUITES);
	SSL_CTX_set_options(ctx, SSL_OP_PRIORITIZE_CHACHA);
	SSL_CTX_set_min_proto_version(ctx, r->min_tls_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	if (r->ciphers && SSL_CTX_set_cipher_list(ctx, r->ciphers) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": ciphers \"%s\": %s", c->path, kind,
		    r->name, r->ciphers, tlsctx_errstr(why, sizeof(why)));
		return -1;
	}
	if (r->ciphersuites && SSL_CTX_set_ciphersuites(ctx, r->ciphersuites) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": ciphersuites \"%s\": %s", c->path,
		    kind, r->name, r->ciphersuites, tlsctx_errstr(why, sizeof(why)));
		return -1;
	}
	if (r->groups && SSL_CTX_set1_groups_list(ctx, r->groups) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": groups \"%s\": %s", c->path, kind,
		    r->name, r->groups, tlsctx_errstr(why, sizeof(why)));
		return -1;
	}
	return 0;
}

/*
 * f: the rule's files (ca, cert, key, crl, staple) as far as the caller read them
 * already; the rest are read here.  The caller frees them.
 */
SSL_CTX *
tlsctx_new_from(const struct config *c, const struct rule *r, struct filedata f[TLSCTX_FILES],
    char *err, size_t errlen)
{
	const char *kind = r->kind == RULE_SERVER ? "server" : "client";
	STACK_OF(X509) *chain = NULL;
	SSL_CTX *ctx = NULL;
	char why[256], what[900];
	int days, n;

	pthread_once(&idx_once, idx_init);
	ERR_set_mark();
	if (tlsctx_read(c, r, kind, f, err, errlen) == -1)
		goto fail;
	ctx = SSL_CTX_new(r->kind == RULE_SERVER ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": cannot create a TLS context: %s",
		    c->path, kind, r->name, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	/*
	 * A transparent byte stream: TCP FIN is EOF as it was in plaintext,
	 * and renegotiation is refused.  No SSL_MODE_RELEASE_BUFFERS: idle
	 * connections give their buffers back through sweep.c instead.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* One recv takes every record the kernel holds, not a header then a body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (tlsctx_options(ctx, c, r, kind, err, errlen) == -1)
		goto fail;
	if (r->cert_in_token && !use_token_cert(ctx, r, what, sizeof(what))) {
		snprintf(err, errlen, "%s: %s \"%s\": %s", c->path, kind, r->name, what);
		goto fail;
	}
	if (!r->cert_in_token && !use_chain(ctx, &f[TLSCTX_CERT])) {
		snprintf(err, errlen, "%s: %s \"%s\": cert_file %s: %s", c->path,
		    kind, r->name, r->cert_file, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	if (!use_key(ctx, r, &f[TLSCTX_KEY], what, sizeof(what))) {
		snprintf(err, errlen, "%s: %s \"%s\": %s", c->path, kind, r->name, what);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s \"%s\": key_file %s does not match "
		    "cert_file %s", c->path, kind, r->name, r->key_file, r->cert_file);
		goto fail;
	}
	if ((days = tlsctx_days_left(SSL_CTX_get0_certificate(ctx))) < 0 && !r->allow_expired_cert) {
		snprintf(err, errlen, "%s: %s \"%s\": cert_file %s has expired (set "
		    "allow_expired_cert = true to use it anyway)", c->path, kind, r->name,
		    r->cert_file);
		goto fail;
	}
	if ((n = tlsctx_load_trust(ctx, &f[TLSCTX_CA], 1, r->kind == RULE_SERVER)) <= 0) {
		snprintf(err, errlen, "%s: %s \"%s\": ca_file %s: %s", c->path, kind,
		    r->name, r->ca_file, n == 0 ? "no certificate or crl found" :
		    tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	/* Before crl_load: the staple's signer is checked against ca_file, not the peers' CRLs. */
	if (staple_load(ctx, c, r, kind, &f[TLSCTX_STAPLE], err, errlen) == -1)
		goto fail;
	if (staple_setup_fetch(ctx, c, r, kind, err, errlen) == -1)
		goto fail;
	if (crl_load(ctx, c, r, kind, &f[TLSCTX_CRL], err, errlen) == -1)
		goto fail;
	/* A fetched staple's signer is checked against that trust too (ca_file without CRLs). */
	if ((r->ocsp != OCSP_OFF || r->ocsp_stapling) && ocsp_resp_setup(ctx, r) == -1) {
		snprintf(err, errlen, "%s: %s \"%s\": ocsp: %s", c->path, kind, r->name,
		    tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	/*
	 * The chain we present, built once here rather than by OpenSSL's
	 * auto-chaining on every handshake (a chain build, with a signature
	 * check of our own certificate, each time).  Intermediates from
	 * ca_file still go out; the root does not, as RFC 8446 allows: a peer
	 * must trust it already, and decoding it cost the peer a certificate
	 * parse per handshake.  A cert_file that carries its chain keeps it
	 * as it is (OpenSSL does not auto-chain that one either).
	 */
	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && sk_X509_num(chain) <= 0)
		SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_NO_ROOT |
		    SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR);
	if (r->kind == RULE_SERVER) {
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)r->name,
		    (unsigned int)strnlen(r->name, SSL_MAX_SID_CTX_LENGTH));
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    verify_cb);
		if (!r->session_resumption) {
			SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
			SSL_CTX_set_num_tickets(ctx, 0);
			SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		}
		else {
			/*
			 * Stateful tickets: a TLS 1.3 ticket names a session kept
			 * here, so resuming costs a table lookup.  A stateless
			 * ticket carries the whole session, client certificate
			 * included, and OpenSSL 3.0 decodes that certificate (its
			 * key through the provider decoders) once to mint every
			 * ticket and once more to resume: most of a resumed
			 * handshake's CPU.  The cache belongs to this context, so
			 * a rotation still drops every session.  A forked child
			 * goes back to stateless tickets (tlsholder_atfork_child).
			 */
			SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
			SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
			SSL_CTX_sess_set_cache_size(ctx, TLSCTX_SERVER_CACHE);
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
		if (r->session_resumption) {
			SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
			    SSL_SESS_CACHE_NO_INTERNAL_STORE);
			SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
		} else
			SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	ERR_pop_to_mark();
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	ERR_pop_to_mark();
	return NULL;
}

SSL_CTX *
tlsctx_new(const struct config *c, const struct rule *r, char *err, size_t errlen)
{
	struct filedata f[TLSCTX_FILES];
	SSL_CTX *ctx;
	int i;

	memset(f, 0, sizeof(f));
	ctx = tlsctx_new_from(c, r, f, err, errlen);
	for (i = 0; i < TLSCTX_FILES; i++)
		filedata_free(&f[i]);
	return ctx;
}

/* ---- rotation ---- */

static void
stamp_all(const struct rule *r, struct filestamp f[TLSCTX_FILES])
{
	int i;

	for (i = 0; i < TLSCTX_FILES; i++)
		filestamp_get(tlsctx_path(r, i), &f[i]);
}

/* Warns, once a day, when our own certificate nears its end; h->lock held. */
static void
warn_cert(const struct rule *r, const char *what, const char *file, X509 *cert)
{
	int days = tlsctx_days_left(cert);

	if (days < 0)
		log_warn("rule=%s: %s %s has expired", r->name, what, file);
	else if (days <= EXPIRY_WARN_DAYS)
		log_warn("rule=%s: %s %s expires in %d days", r->name, what, file, days);
}

/* A CRL that went stale while loaded refuses every peer it covers ("CRL has expired"); h->lock held. */
static void
warn_crl(const struct rule *r, X509_CRL *crl)
{
	struct crlinfo ci;

	crl_info(crl, &ci);
	if (ci.expired)
		log_warn("rule=%s: the CRL of issuer=%s has expired (nextUpdate %s); peers "
		    "it covers are refused until crl_file is renewed", r->name, ci.issuer,
		    ci.next_update);
	else if (ci.days_left < CRL_WARN_DAYS)
		log_warn("rule=%s: the CRL of issuer=%s is due for renewal: nextUpdate %s, "
		    "in %d days", r->name, ci.issuer, ci.next_update, ci.days_left);
}

/* Warns, once a day, when our certificate, a CA certificate or a CRL nears its end; h->lock held. */
static void
warn_expiry(struct tlsholder *h)
{
	STACK_OF(X509_OBJECT) *objs;
	X509 *cert = SSL_CTX_get0_certificate(h->ctx), *ca;
	X509_OBJECT *o;
	X509_CRL *crl;
	int i;

	if (cert == NULL || (h->warned && deadline_now_sec() - h->warned < 86400))
		return;
	h->warned = deadline_now_sec();
	warn_cert(h->rule, "cert_file", h->rule->cert_file, cert);
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(h->ctx));
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		o = sk_X509_OBJECT_value(objs, i);
		if ((ca = X509_OBJECT_get0_X509(o)) != NULL)
			warn_cert(h->rule, "ca_file", h->rule->ca_file, ca);
		else if ((crl = X509_OBJECT_get0_X509_CRL(o)) != NULL)
			warn_crl(h->rule, crl);
	}
}

/*
 * Sessions kept in one process's memory resume only there.  A fork child
 * (a worker sharing the listener, or a child per connection) issues
 * stateless tickets instead, sealed with the keys the parent's context
 * made, so that its siblings, and its parent's next child, can resume them.
 */
static void
tlsholder_adopt(struct tlsholder *h, SSL_CTX *ctx)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	struct tm tm;

	SSL_CTX_set_app_data(ctx, h);
	if (h->forked && h->rule->kind == RULE_SERVER && h->rule->session_resumption)
		SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	if (cert != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
		stats_cert(stats_shared(), h->rule->index, (int64_t)timegm(&tm));
}

void
tlsholder_atfork_child(struct tlsholder *h)
{
	h->forked = 1;
	if (h->ctx != NULL)
		tlsholder_adopt(h, h->ctx);
}

/*
 * Builds from what the process read before main(), if it did, else from
 * disk; h->seen describes exactly the bytes used.  h->lock held (or not yet
 * shared).
 */
static SSL_CTX *
tlsholder_make(struct tlsholder *h, char *err, size_t errlen)
{
	SSL_CTX *ctx = tlsctx_new_from(h->cfg, h->rule, h->pre, err, errlen);
	int i;

	for (i = 0; i < TLSCTX_FILES; i++) {
		h->seen[i] = h->pre[i].st;
		filedata_free(&h->pre[i]);
	}
	if (ctx != NULL)
		tlsholder_adopt(h, ctx);
	return ctx;
}

int
tlsholder_load(struct tlsholder *h, char *err, size_t errlen)
{
	if ((h->ctx = tlsholder_make(h, err, errlen)) == NULL)
		return -1;
	h->checked = deadline_now_sec();
	warn_expiry(h);
	return 0;
}

/* Seconds since the epoch when t, less a warning window of days, arrives. */
static time_t
warn_due(const ASN1_TIME *t, int days)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm) - (time_t)days * 86400;
}

/*
 * A CRL's nextUpdate counts too: a process started from the cache would
 * not refuse, at start, a CRL that expired since it was checked.
 */
time_t
tlsholder_recheck_after(struct tlsholder *h)
{
	STACK_OF(X509_OBJECT) *objs;
	time_t t = time(NULL) + 86400, d;
	const ASN1_TIME *next;
	X509_OBJECT *o;
	X509 *cert;
	int i;

	plock(&h->lock);
	if (h->ctx == NULL)
		t = 0;
	else {
		if ((cert = SSL_CTX_get0_certificate(h->ctx)) != NULL &&
		    (d = warn_due(X509_get0_notAfter(cert), EXPIRY_WARN_DAYS)) < t)
			t = d;
		/* A start-up check skipped after this would miss an expired staple. */
		if ((d = staple_next_update(h->ctx)) != 0 && d < t)
			t = d;
		objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(h->ctx));
		for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
			o = sk_X509_OBJECT_value(objs, i);
			d = t;
			if ((cert = X509_OBJECT_get0_X509(o)) != NULL)
				d = warn_due(X509_get0_notAfter(cert), EXPIRY_WARN_DAYS);
			else if (X509_OBJECT_get0_X509_CRL(o) != NULL && (next =
			    X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(o))) != NULL)
				d = warn_due(next, CRL_WARN_DAYS);
			if (d < t)
				t = d;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return t;
}

/* The first connection of a process that skipped the start-up build; h->lock held. */
static void
tlsholder_build(struct tlsholder *h)
{
	char err[1024];

	if ((h->ctx = tlsholder_make(h, err, sizeof(err))) == NULL) {
		log_error("rule=%s: %s; refusing connections", h->rule->name, err);
		return;
	}
	__atomic_add_fetch(&h->gen, 1, __ATOMIC_RELEASE);
	log_debug("rule=%s: context built on first use", h->rule->name);
	warn_expiry(h);
}

/*
 * Files replaced on disk (spiffe-helper, vault agent and cert-manager
 * rename new ones into place) give new connections a new context; open
 * ones keep theirs.  Half-written or mismatched material is refused and
 * the previous context stays until the files change again.  h->lock held.
 */
static void
tlsholder_reload(struct tlsholder *h)
{
	struct filestamp now[TLSCTX_FILES];
	char err[1024];
	uint64_t stamp;
	SSL_CTX *ctx;
	int i;

	stamp_all(h->rule, now);
	if (memcmp(now, h->seen, sizeof(now)) == 0)
		return;
	memcpy(h->seen, now, sizeof(now));
	stamp = stats_hash(STATS_HASH_INIT, now, sizeof(now));
	if ((ctx = tlsctx_new(h->cfg, h->rule, err, sizeof(err))) == NULL) {
		log_error("reload failed rule=%s: %s; keeping the previous certificate",
		    h->rule->name, err);
		stats_reload(stats_shared(), h->rule->index, 0, (int64_t)time(NULL), stamp);
		return;
	}
	stats_reload(stats_shared(), h->rule->index, 1, (int64_t)time(NULL), stamp);
	tlsholder_adopt(h, ctx);
	SSL_CTX_free(h->ctx);
	h->ctx = ctx;
	__atomic_add_fetch(&h->gen, 1, __ATOMIC_RELEASE);
	h->warned = 0;
	/* Sessions made with the old material would keep presenting (and trusting) it. */
	for (i = 0; i < TLSCTX_CACHE; i++) {
		SSL_SESSION_free(h->cache[i].sess);
		h->cache[i].sess = NULL;
	}
	log_info("reloaded rule=%s cert_file=%s", h->rule->name, h->rule->cert_file);
}

SSL_CTX *
tlsholder_get(struct tlsholder *h)
{
	SSL_CTX *ctx;
	time_t t = deadline_now_sec();

	plock(&h->lock);
	if (t != h->checked) {
		h->checked = t;
		if (h->ctx == NULL)
			tlsholder_build(h);
		else {
			tlsholder_reload(h);
			warn_expiry(h);
		}
	}
	if ((ctx = h->ctx) != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&h->lock);
	return ctx;
}

struct tlsholder *
tlsholder_warm(struct tlsholder *h)
{
	SSL_CTX *ctx = tlsholder_get(h);

	SSL_CTX_free(ctx);
	return ctx != NULL ? h : NULL;
}

void
tlsholder_client_prepare(struct tlsholder *h, SSL *ssl, const char *peer)
{
	const struct rule *r = h->rule;
	SSL_SESSION *sess = NULL;
	unsigned char ip[16];
	char *key;
	int i, best = -1;

	if (r->server_name) {
		if (inet_pton(AF_INET, r->server_name, ip) == 1 ||
		    inet_pton(AF_INET6, r->server_name, ip) == 1)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r->server_name);
		else {
			SSL_set_tlsext_host_name(ssl, r->server_name);
			X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl),
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			SSL_set1_host(ssl, r->server_name);
		}
	}
	if (!r->session_resumption || peer == NULL || (key = strdup(peer)) == NULL)
		return;
	if (!SSL_set_ex_data(ssl, peerkey_idx, key)) {
		free(key);
		return;
	}
	/* The newest unspent ticket for peer, taken out of the pool: one use each (TLS 1.3). */
	plock(&h->lock);
	for (i = 0; i < TLSCTX_CACHE; i++) {
		if (h->cache[i].sess == NULL || strcmp(h->cache[i].key, peer) != 0)
			continue;
		if (!SSL_SESSION_is_resumable(h->cache[i].sess)) {
			SSL_SESSION_free(h->cache[i].sess);
			h->cache[i].sess = NULL;
		} else if (best < 0 || h->cache[i].seq > h->cache[best].seq)
			best = i;
	}
	if (best >= 0) {
		sess = h->cache[best].sess;
		if (SSL_SESSION_get_protocol_version(sess) >= TLS1_3_VERSION)
			h->cache[best].sess = NULL;
		else
			SSL_SESSION_up_ref(sess);	/* a TLS 1.2 session id serves again */
	}
	pthread_mutex_unlock(&h->lock);
	if (sess != NULL) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
}
