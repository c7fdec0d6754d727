/* session.h: the TLS engine for one connection: handshake, read, write, shutdown. */
#ifndef MTLSSHIM_SESSION_H
#define MTLSSHIM_SESSION_H

#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "preload/fdtable.h"

enum session_state {
	SS_CONNECTING,		/* client: TCP connect in progress */
	SS_HANDSHAKE,
	SS_OPEN,
	SS_FAILED,		/* handshake failed; err says how */
};

/* What a non-blocking step needs before it can go on. */
#define STEP_DONE	0
#define STEP_FAILED	(-1)
/* otherwise POLLIN or POLLOUT */

struct listener;
struct epreg;
struct ocsp_check;

struct session {
	struct fdobj		 hdr;
	pthread_mutex_t		 lock;
	int			 fd;		/* the socket the BIO reads and writes */
	const struct rule	*rule;
	SSL			*ssl;
	enum session_state	 state;
	int			 is_server;
	int			 err;		/* errno for a failed handshake */
	int			 err_reported;	/* SO_ERROR gave it out */
	int			 rd_eof;	/* peer finished sending */
	int			 rd_err;	/* errno once reading failed */
	int			 wr_err;	/* errno once writing failed */
	int			 shut_wr;	/* close_notify sent */
	int			 bio_errno;	/* last errno of the socket calls */
	int			 forked;	/* SSL state was copied by fork */
	int			 used;		/* I/O done since the fork */
	int			 claimed;	/* given a new name (dup) since the fork */
	int			 inherited;	/* this process got it from fork, not made it */
	ino_t			 ino;		/* the socket's, for a vfork child's exec */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	struct timespec		 deadline;	/* handshake */
	struct timespec		 started;	/* monotonic, at session_new */
	int			 counted;	/* in this process's open count (common/stats.h) */
	struct ocsp_check	*ocsp;		/* handshake done, the peer's status asked (ocsp.c) */

	/* Ciphertext the kernel has not taken yet. */
	unsigned char		*wbuf;
	size_t			 wlen, woff, wcap;
	int			 shut_pending;	/* SHUT_WR waits for wbuf to drain */
	int			 closed;	/* the fd was closed under us */
	int			 waiters;	/* threads waiting in poll on fd, unlocked */
	ino_t			 close_ino;	/* close deferred until the waiters leave */
	pthread_cond_t		 close_cv;	/* signalled when close_ino clears */

	/* Listener queues (pending handshake, ready for accept). */
	struct session		*lnext, *lprev;
	uint32_t		 levents;	/* what the listener's epoll set waits for */
	int			 want;		/* handshake: POLLIN or POLLOUT */
	int			 lfd;		/* the descriptor in the listener's set for it */
	int			 elsewhere;	/* want is for the OCSP responder's socket */

	/* The warm list (sweep.c): sessions whose OpenSSL buffers may be allocated. */
	struct session		*idle_next, **idle_prevp;
	unsigned		 idle_gen;	/* the sweep it was last used in */
	int			 warm;		/* on the list (changed under both locks) */
	int			 held;		/* swept with data inside: off until a read or write */

	/* The watched list (revwatch.c): open, its peer's revocation looked at. */
	struct session		*rev_next, **rev_prevp;
	int			 rev_on;	/* on the list */
	unsigned		 rev_gen;	/* the rule's context generation it was checked against */
	time_t			 rev_retry;	/* no OCSP refresh before (monotonic seconds) */
};

/* Once, when the engine library is loaded. */
int		 session_global_init(void);
struct tlsholder;
/* A session over a connected (or connecting) socket, on the rule's current context. */
struct session	*session_new(int fd, const struct rule *, struct tlsholder *, int is_server,
		    const struct sockaddr *peer, socklen_t peerlen, int connecting);

/* The following take the session lock themselves. */
int		 session_step(struct session *);	/* STEP_* or POLLIN/POLLOUT */
/*
 * Milliseconds until the handshake must be stepped whatever its descriptor
 * says (0: now): its deadline, or an OCSP exchange's.
 */
int		 session_deadline_ms(struct session *);
/*
 * The descriptor session_step's POLLIN/POLLOUT is for: the socket, or while
 * an OCSP responder is asked, the responder's.
 */
int		 session_wait_fd(struct session *);
/*
 * session_deadline_ms for a caller that can watch only s->fd: while a
 * responder is asked, 0 once its socket is ready, else a short tick.
 */
int		 session_due_ms(struct session *);
/* Drives the handshake to its end for a blocking caller, bounded by the rule. */
int		 session_handshake_blocking(struct session *);
/* 1 if a read would not block: decrypted data, EOF or an error waits. */
int		 session_readable(struct session *);
/* session_readable, from what the session holds: no socket read unless a record waits. */
int		 session_readable_held(struct session *);
/* 1 if decrypted bytes are left in the session after a read (for edge-triggered epoll). */
int		 session_buffered(struct session *);
ssize_t		 session_recv(struct session *, const struct iovec *, int iovcnt, int flags);
ssize_t		 session_send(struct session *, const struct iovec *, int iovcnt, int flags);
int		 session_shutdown_write(struct session *);
/* Records wait for the kernel: readiness translation must watch for POLLOUT. */
int		 session_has_output(struct session *);
/* Sends what waits; 0 when all is out, POLLOUT if not, -1 on error. */
int		 session_flush_output(struct session *);
/*
 * The last fd naming s is being closed: close_notify if this process owns
 * it.  Returns 1 if threads still wait on the fd: the last of them closes it
 * (the caller must not), so the number cannot be reused under them.
 */
int		 session_close(struct session *);
/* Waits (bounded) until a close deferred by session_close has really closed the fd. */
void		 session_await_close(struct session *);
/* Decrypted bytes available without blocking (FIONREAD). */
int		 session_nread(struct session *);
/* Consumes the error of a failed handshake for getsockopt(SO_ERROR). */
int		 session_take_error(struct session *);
void		 session_mark_forked(struct session *, int child);

void		 session_log_result(struct session *, const char *reason);
/* The peer's address as text ("?" if unknown). */
const char	*session_peerstr(struct session *, char *buf, size_t len);
/* errno ETIMEDOUT, logged as refused. */
void		 session_fail_timeout(struct session *);
/*
 * Ends an open connection for reason (logged as closed): close_notify, then
 * both directions shut; the program reads end of file, writes get EPIPE.
 * s->lock held.
 */
void		 session_cut_locked(struct session *, const char *reason);

/*
 * Frees OpenSSL's buffers of the sessions idle since the last sweep, if a
 * sweep is due.  Returns -1, or while sessions may still hold buffers the
 * milliseconds a program's wait may last before the next sweep is due.
 */
int		 session_sweep_idle(void);
#define SWEEP_PREPARE	0
#define SWEEP_PARENT	1
#define SWEEP_CHILD	2
/* fork: the sweep's lock, taken after the preload's and released before them. */
void		 session_sweep_atfork(int phase);

/* Waits for events on fd, without any lock; -1/errno on EINTR or timeout (EAGAIN). */
int		 wait_fd(int fd, short events, int timeout_ms);

#endif
