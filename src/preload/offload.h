/* offload.h: TLS for a process that gives up fork: a helper forked while it still can. */
#ifndef MTLSSHIM_OFFLOAD_H
#define MTLSSHIM_OFFLOAD_H

#include <sys/socket.h>

struct rule;

/*
 * dovecot's login processes set RLIMIT_NPROC to 1 so that they can never
 * fork, yet they hand each connection to another process (SCM_RIGHTS),
 * which needs a relay, which needs a fork.  So just before a process lowers
 * that limit, offload_before_nproc_limit forks a helper (a grandchild,
 * nobody's child) while it still can.  From then on the process's
 * listeners send each new connection to it raw: the helper forks a worker
 * that does the handshake and, once the peer is verified, sends back one
 * end of a socket pair it relays to the session.  The program accepts that
 * end and holds no TLS at all, so it may pass it anywhere.
 */
void	offload_before_nproc_limit(void);
/* 1 once the helper runs for this process. */
int	offload_active(void);
/*
 * Gives a raw connection (closed here either way) to the helper; the
 * verified plaintext end comes back on reply (offload_receive).  0, or -1
 * with errno.
 */
int	offload_submit(int fd, const struct rule *, const struct sockaddr *peer, socklen_t,
	    int reply);
/*
 * A verified connection from the helper on reply: the program's end, its
 * peer address in *peer.  -1 with errno EAGAIN when none waits.
 */
int	offload_receive(int reply, struct sockaddr_storage *peer, socklen_t *len);
/* In a fork child: the helper serves the parent. */
void	offload_atfork_child(void);

#endif
