/* listener.h: a listening socket under a server rule; handshakes run before accept returns. */
#ifndef MTLSSHIM_LISTENER_H
#define MTLSSHIM_LISTENER_H

#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "preload/fdtable.h"

struct session;
struct tlsholder;

struct listener {
	struct fdobj		 hdr;
	pthread_mutex_t		 lock;
	int			 fd;
	const struct rule	*rule;
	struct tlsholder	*tls;
	/* Handshakes in flight wait in an epoll set of our own, with a
	 * timerfd for the oldest deadline, so one fd shows all their progress. */
	int			 pfd, tfd;
	struct timespec		 armed;		/* tfd's expiry; zero: disarmed */
	struct session		*pend_head, *pend_tail;	/* oldest first */
	struct session		*ready_head, *ready_tail;
	int			 npending, nready;
	int			 nocsp;		/* pending, waiting for an OCSP responder */
	/*
	 * ocsp_stapling: the fetch of the rule's staple, stepped here
	 * (tlsholder_staple_step): its socket in pfd (data: &sfd; -1: none)
	 * and when it must be stepped again (zero: at the next service), or
	 * sooner once the holder's context is replaced (its gen is not sgen).
	 */
	int			 sfd;
	struct timespec		 sdue;
	unsigned int		 sgen;
	/*
	 * This process has called accept on it (since it was made or forked):
	 * until then readiness calls show the kernel's queue as it is and take
	 * nothing from it.  postfix's and dovecot's masters poll a listener
	 * they never accept on, for a child that will.
	 */
	int			 accepting;
	/*
	 * In a process that gave up fork (offload.h): connections verified
	 * by the helper, as plaintext ends, and the socket they come back on
	 * (reply[0], in pfd; reply[1] goes to the helper with each one).
	 */
	struct listener_plain {
		int			 fd;
		socklen_t		 len;
		struct sockaddr_storage	 peer;
	}			*plain;
	int			 nplain, capplain;
	int			 reply[2];
};

struct listener	*listener_new(int fd, const struct rule *, struct tlsholder *);
/* The body of accept4() on a matched listening socket. */
int		 listener_accept(struct listener *, struct sockaddr *, socklen_t *, int flags);
/* The kernel says fd is readable: take what connections wait, without blocking. */
void		 listener_take(struct listener *);
/* A new listener: starts what it drives by itself (the fetch of its staple), without blocking. */
void		 listener_start(struct listener *);
/* Drives pending handshakes without blocking; returns how many are ready. */
int		 listener_service(struct listener *);
int		 listener_nready(struct listener *);
/* 1 once this process accepts on it: readiness calls may then take connections. */
int		 listener_accepting(struct listener *);
/* The fd that becomes readable when a pending handshake can progress (created on demand). */
int		 listener_pollfd(struct listener *);
/* In a child after fork: the handshakes belong to the parent. */
void		 listener_atfork_child(struct listener *);

#endif
