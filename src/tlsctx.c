/* tlsctx.c: builds the OpenSSL context of a rule: certificate, key, CA and peer verification. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tlsctx.h"

const char *
tlsctx_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "unknown error");
	ERR_clear_error();
	return buf;
}

/* Checks a file can be opened, so the error names errno rather than a PEM routine. */
static int
tlsctx_readable(const char *path, const char *cfg, const char *what,
    const struct rule *r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": %s %s: %s", cfg,
		    r->kind == RULE_SERVER ? "server" : "client", r->name,
		    what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

SSL_CTX *
tlsctx_new(const struct config *c, const struct rule *r, char *err, size_t errlen)
{
	const char *kind = r->kind == RULE_SERVER ? "server" : "client";
	STACK_OF(X509_NAME) *cas;
	SSL_CTX *ctx = NULL;
	char why[256];

	ERR_set_mark();
	if (tlsctx_readable(r->ca_file, c->path, "ca_file", r, err, errlen) == -1 ||
	    tlsctx_readable(r->cert_file, c->path, "cert_file", r, err, errlen) == -1 ||
	    tlsctx_readable(r->key_file, c->path, "key_file", r, err, errlen) == -1)
		goto fail;
	ctx = SSL_CTX_new(r->kind == RULE_SERVER ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": cannot create a TLS context: %s",
		    c->path, kind, r->name, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * A transparent byte stream: TCP FIN is EOF as it was in plaintext,
	 * renegotiation is refused, and idle connections give their buffers back.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, r->cert_file) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": cert_file %s: %s", c->path,
		    kind, r->name, r->cert_file, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, r->key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": key_file %s: %s", c->path,
		    kind, r->name, r->key_file, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s \"%s\": key_file %s does not match "
		    "cert_file %s", c->path, kind, r->name, r->key_file, r->cert_file);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, r->ca_file, NULL) != 1) {
		snprintf(err, errlen, "%s: %s \"%s\": ca_file %s: %s", c->path,
		    kind, r->name, r->ca_file, tlsctx_errstr(why, sizeof(why)));
		goto fail;
	}
	if (r->kind == RULE_SERVER) {
		/* Tells clients such as curl which certificate to present. */
		if ((cas = SSL_load_client_CA_file(r->ca_file)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, cas);
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)r->name,
		    (unsigned int)strnlen(r->name, SSL_MAX_SID_CTX_LENGTH));
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	ERR_pop_to_mark();
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	ERR_pop_to_mark();
	return NULL;
}
