/* ocsp.h: a peer's certificates checked by OCSP once its handshake is done. */
#ifndef MTLSSHIM_OCSP_H
#define MTLSSHIM_OCSP_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "common/config.h"

struct session;
struct ocsp_check;

/*
 * After SSL_do_handshake succeeded: STEP_DONE once every certificate the
 * rule checks is good (or, with ocsp_require = false, admitted with a
 * warning), STEP_FAILED with the reason in why, or POLLIN/POLLOUT for
 * ocsp_fd while a responder is asked.  s->lock held.
 */
int	 ocsp_step(struct session *, char *why, size_t len);
/* The responder's socket while an exchange is in flight, else -1.  s->lock held. */
int	 ocsp_fd(const struct session *);
/* Milliseconds until the exchange in flight gives up (-1: none).  s->lock held. */
int	 ocsp_ms_left(const struct session *);
void	 ocsp_free(struct ocsp_check *);

#endif
