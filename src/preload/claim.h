/* claim.h: which sockets become ours: a listening or connecting TCP socket under a rule. */
#ifndef MTLSSHIM_CLAIM_H
#define MTLSSHIM_CLAIM_H

#include <sys/socket.h>

#include "common/config.h"
#include "preload/fdtable.h"

/*
 * A listening TCP socket under a server rule becomes a listener, published
 * in the fd table and returned held (put it with fdobj_put); else NULL.
 * Keeps errno.
 */
struct fdobj		*claim_listener(int fd);
/* The client rule for connecting fd to addr, or NULL (not TCP, or no rule).  Keeps errno. */
const struct rule	*claim_client_rule(int fd, const struct sockaddr *, socklen_t);

#endif
