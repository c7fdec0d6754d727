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
/*
 * fork() for a relay (relay.c): the sessions stay the parent's own, as if
 * it had not forked, since the child leaves them to it.
 */
pid_t			 shim_fork_relay(void);
/* 1 in a child that shares our memory (vfork, clone without fork handlers). */
int			 shim_in_vfork_child(void);

/* 1 if every caught signal has SA_RESTART: an interrupted wait of ours goes on. */
int			 signals_restart(void);

/* A listening TCP socket under a server rule becomes a listener (returned held); else NULL. */
struct fdobj		*shim_listener_for(int fd);
/* The client rule for connecting fd to addr, or NULL (not TCP, or no rule). */
const struct rule	*shim_client_rule(int fd, const struct sockaddr *, socklen_t);

#endif
