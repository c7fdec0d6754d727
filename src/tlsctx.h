/* tlsctx.h: builds the OpenSSL context of a rule: certificate, key, CA and peer verification. */
#ifndef MTLSSHIM_TLSCTX_H
#define MTLSSHIM_TLSCTX_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "config.h"

/*
 * A context presenting the rule's certificate and demanding a peer that
 * verifies against its CA (servers: a client certificate is required).
 * Every file is read now.  On error returns NULL with one line in err
 * naming the config file, the rule, the option and the file.
 */
SSL_CTX	*tlsctx_new(const struct config *, const struct rule *, char *err, size_t errlen);

/* OpenSSL's reason for the most recent error, in words, and clears it. */
const char *tlsctx_errstr(char *buf, size_t len);

#endif
