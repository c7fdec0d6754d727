/* shim.h: the process-wide state: the config and a TLS context per rule, set up once before main(). */
#ifndef MTLSSHIM_SHIM_H
#define MTLSSHIM_SHIM_H

#include <sys/socket.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "preload/fdtable.h"
#include "engine/tlsctx.h"

/* Loads everything on first use; a bad config ends the process (status 78). */
const struct config	*shim_config(void);
/* The rule's live TLS context (rebuilt when its files change). */
struct tlsholder	*shim_holder(const struct rule *);
/*
 * Before the program chroots or gives up its ids: a root process that left
 * its contexts for first use loads the engine and reads their files now.
 */
void			 shim_keep_access(void);
/* In a fork child (atfork.c): locks held by threads that did not survive the fork. */
void			 shim_atfork_child(void);

#endif
