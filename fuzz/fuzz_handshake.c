/* fuzz_handshake.c: libFuzzer target: the input as a client's bytes to a server context from src/tlsctx.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/log.h"
#include "engine/tlsctx.h"

/*
 * The context is the one the library builds for a server rule (same options, verification,
 * allow-lists), from $MTLSSHIM_FUZZ_CONFIG (make fuzz writes build-fuzz/pki/fuzz.conf).
 * Memory BIOs stand in for the socket: the engine's session code calls libc through the
 * preload's dlsym(RTLD_NEXT) table and its fd table, which a fuzzer binary cannot host.
 */
static struct tlsholder holder;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("MTLSSHIM_FUZZ_CONFIG");
	char err[1024];
	struct config *c;
	size_t i;

	if (path == NULL) {
		fprintf(stderr, "fuzz_handshake: set MTLSSHIM_FUZZ_CONFIG\n");
		exit(1);
	}
	if ((c = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_handshake: %s\n", err);
		exit(1);
	}
	log_setup(LOG_LVL_ERROR, "stderr");
	for (i = 0; i < c->nrules && c->rules[i].kind != RULE_SERVER; i++)
		;
	if (i < c->nrules)
		tlsholder_setup(&holder, c, &c->rules[i]);
	if (i == c->nrules || tlsholder_load(&holder, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_handshake: %s\n", i == c->nrules ? "no server rule" : err);
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SSL *ssl = SSL_new(holder.ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	unsigned char buf[4096];
	size_t n;
	int i;

	if (ssl == NULL || in == NULL || out == NULL)
		abort();
	BIO_write(in, data, (int)size);
	SSL_set_bio(ssl, in, out);
	SSL_set_accept_state(ssl);
	/* Handshake, then the record path for whatever follows, until the input runs dry. */
	for (i = 0; i < 8; i++) {
		if (SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1) {
			int e = SSL_get_error(ssl, 0);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				break;
			if (BIO_ctrl_pending(in) == 0)
				break;
		}
		(void)BIO_reset(out);
	}
	(void)tlsctx_refusal(ssl);
	SSL_free(ssl);
	ERR_clear_error();
	return 0;
}
