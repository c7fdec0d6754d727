/* session.c: the TLS engine for one connection; the socket is driven non-blocking inside. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/deadline.h"
#include "engine/identity.h"
#include "engine/ocsp.h"
#include "engine/revwatch.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/real.h"
#include "common/rules.h"
#include "engine/session.h"
#include "preload/signals.h"
#include "engine/sweep.h"
#include "engine/tlsctx.h"
#include "engine/token.h"

#define RECORD_MAX	16384		/* plaintext per TLS record */
#define BATCH_MAX	(4 * RECORD_MAX)	/* plaintext encrypted per flush */

static BIO_METHOD *bio_method;

/* ---- the private BIO: real socket calls, never our hooks ---- */

static int
bio_read(BIO *b, char *buf, int len)
{
	struct session *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	/*
	 * A handshake flight still in wbuf has not reached the peer, so its
	 * answer cannot be here: no recv that can only fail.  The step sends
	 * the flight, then waits for POLLIN.
	 */
	if (s->state != SS_OPEN && s->wlen > s->woff) {
		BIO_set_retry_read(b);
		return -1;
	}
	do
		n = REAL(recv)(s->fd, buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		else
			s->bio_errno = errno;
		return -1;
	}
	return (int)n;
}

/* Records queue in wbuf; session_flush hands them to the kernel. */
static int
bio_write(BIO *b, const char *buf, int len)
{
	struct session *s = BIO_get_data(b);
	size_t need = s->wlen + (size_t)len;
	unsigned char *p;

	BIO_clear_retry_flags(b);
	if (need > s->wcap) {
		size_t cap = s->wcap ? s->wcap : 4096;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(s->wbuf, cap)) == NULL) {
			s->bio_errno = ENOMEM;
			return -1;
		}
		s->wbuf = p;
		s->wcap = cap;
	}
	memcpy(s->wbuf + s->wlen, buf, (size_t)len);
	/* session_has_output reads it without the lock. */
	__atomic_store_n(&s->wlen, s->wlen + (size_t)len, __ATOMIC_RELAXED);
	return len;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int
session_global_init(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mtlsshim");
	if (bio_method == NULL)
		return -1;
	BIO_meth_set_read(bio_method, bio_read);
	BIO_meth_set_write(bio_method, bio_write);
	BIO_meth_set_ctrl(bio_method, bio_ctrl);
	return 0;
}

/*
 * Sends wbuf.  Returns 0 when empty, POLLOUT when the kernel is full,
 * -1 with s->wr_err set when the socket failed.
 */
static int
session_flush(struct session *s)
{
	ssize_t n;

	if (s->closed) {
		s->wr_err = EBADF;
		return -1;
	}
	while (s->woff < s->wlen) {
		n = REAL(send)(s->fd, s->wbuf + s->woff, s->wlen - s->woff,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return POLLOUT;
			if (s->wr_err == 0) {
				char peer[64];
				log_info("closed rule=%s peer=%s reason=\"write: %s\"",
				    s->rule->name, session_peerstr(s, peer, sizeof(peer)),
				    strerror(errno));
			}
			s->wr_err = errno;
			return -1;
		}
		s->woff += (size_t)n;
	}
	/* Idle connections keep no buffer. */
	free(s->wbuf);
	s->wbuf = NULL;
	s->woff = s->wcap = 0;
	__atomic_store_n(&s->wlen, 0, __ATOMIC_RELAXED);
	if (s->shut_pending) {
		/* The FIN follows the last byte, as the kernel's would. */
		s->shut_pending = 0;
		REAL(shutdown)(s->fd, SHUT_WR);
	}
	return 0;
}

/* close_cv runs on the monotonic clock, like every other deadline of ours. */
static void
session_cond_init(struct session *s)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&s->close_cv, &a);
	pthread_condattr_destroy(&a);
}

static void
session_destroy(struct fdobj *o)
{
	struct session *s = (struct session *)o;

	if (s->counted)
		stats_open_add(stats_shared(), stats_self(), s->rule->index, -1);
	sweep_forget(s);
	revwatch_forget(s);
	ocsp_free(s->ocsp);
	SSL_free(s->ssl);
	free(s->wbuf);
	pthread_cond_destroy(&s->close_cv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct session *
session_new(int fd, const struct rule *r, struct tlsholder *tls, int is_server,
    const struct sockaddr *peer, socklen_t peerlen, int connecting)
{
	SSL_CTX *ctx;
	char peerstr[64];
	struct timespec timeout;
	struct stat st;
	struct session *s;
	BIO *bio;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((ctx = tlsholder_get(tls)) == NULL) {
		free(s);
		errno = ECONNREFUSED;
		return NULL;
	}
	ERR_set_mark();
	s->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);	/* the SSL holds its own reference */
	bio = BIO_new(bio_method);
	if (s->ssl == NULL || bio == NULL) {
		SSL_free(s->ssl);
		BIO_free(bio);
		ERR_pop_to_mark();
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	ERR_pop_to_mark();
	BIO_set_data(bio, s);
	BIO_set_init(bio, 1);
	SSL_set_bio(s->ssl, bio, bio);
	if (is_server)
		SSL_set_accept_state(s->ssl);
	else {
		SSL_set_connect_state(s->ssl);
		tlsholder_client_prepare(tls, s->ssl, peer && peerlen ?
		    sockaddr_str(peer, peerstr, sizeof(peerstr)) : NULL);
	}
	s->hdr.kind = FD_SESSION;
	s->hdr.destroy = session_destroy;
	if (fstat(fd, &st) == 0)
		s->ino = st.st_ino;
	pthread_mutex_init(&s->lock, NULL);
	session_cond_init(s);
	s->fd = fd;
	s->rule = r;
	s->is_server = is_server;
	s->state = connecting ? SS_CONNECTING : SS_HANDSHAKE;
	if (peer && peerlen <= sizeof(s->peer)) {
		memcpy(&s->peer, peer, peerlen);
		s->peerlen = peerlen;
	}
	timeout.tv_sec = r->handshake_timeout;
	timeout.tv_nsec = 0;
	s->deadline = deadline_after(&timeout);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	return s;
}

/* ---- handshake ---- */

const char *
session_peerstr(struct session *s, char *buf, size_t len)
{
	if (s->peerlen == 0)
		snprintf(buf, len, "?");
	else
		sockaddr_str((struct sockaddr *)&s->peer, buf, len);
	return buf;
}

/* Since session_new: what the handshake took, as the program waited for it. */
static uint64_t
session_age_us(const struct session *s)
{
	struct timespec now;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - s->started.tv_sec) * 1000000 +
	    (now.tv_nsec - s->started.tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

void
session_log_result(struct session *s, const char *reason)
{
	char peer[64], subj[512], sans[1024];
	X509 *cert;

	session_peerstr(s, peer, sizeof(peer));
	stats_handshake(stats_shared(), s->rule->index, reason, session_age_us(s),
	    reason == NULL && SSL_session_reused(s->ssl));
	if (reason != NULL) {
		log_info("refused rule=%s peer=%s reason=\"%s\"", s->rule->name, peer, reason);
		return;
	}
	if (!log_enabled(LOG_LVL_INFO))
		return;
	cert = SSL_get1_peer_certificate(s->ssl);
	identity_subject(cert, subj, sizeof(subj));
	identity_sans(cert, sans, sizeof(sans));
	X509_free(cert);
	log_info("%s rule=%s peer=%s subject=\"%s\" san=\"%s\" version=%s cipher=%s "
	    "resumed=%s", s->is_server ? "accepted" : "connected", s->rule->name, peer,
	    subj, sans, SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl),
	    SSL_session_reused(s->ssl) ? "yes" : "no");
}

/* Why a handshake failed, in OpenSSL's words; also picks the errno for the caller. */
static int
session_reason(struct session *s, int ssl_err, char *buf, size_t len)
{
	long v = SSL_get_verify_result(s->ssl);
	unsigned long e = ERR_peek_last_error();
	const char *ours = tlsctx_refusal(s->ssl);

	if (ours != NULL) {
		snprintf(buf, len, "%s", ours);
		return ECONNREFUSED;
	}
	if (v != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		return ECONNREFUSED;
	}
	if (e != 0 && s->rule->key_in_token && token_failure(s->rule, buf, len))
		return ECONNREFUSED;
	if (e != 0 && ERR_reason_error_string(e) != NULL) {
		snprintf(buf, len, "%s", ERR_reason_error_string(e));
		return ECONNREFUSED;
	}
	if (s->bio_errno != 0) {
		snprintf(buf, len, "%s", strerror(s->bio_errno));
		return s->bio_errno;
	}
	snprintf(buf, len, s->state == SS_OPEN ? "peer closed the connection" :
	    "peer closed the connection during the handshake");
	return ECONNRESET;
}

static void
session_fail(struct session *s, int err, const char *reason)
{
	s->state = SS_FAILED;
	s->err = err;
	if (reason)
		session_log_result(s, reason);
	/* Nothing more may cross this socket, in either direction. */
	REAL(shutdown)(s->fd, SHUT_RDWR);
}

void
session_fail_timeout(struct session *s)
{
	char why[64];

	pthread_mutex_lock(&s->lock);
	if (s->state != SS_OPEN && s->state != SS_FAILED) {
		snprintf(why, sizeof(why), "handshake timed out after %ds",
		    s->rule->handshake_timeout);
		session_fail(s, ETIMEDOUT, why);
	}
	pthread_mutex_unlock(&s->lock);
}

void
session_cut_locked(struct session *s, const char *reason)
{
	char peer[64];

	log_info("closed rule=%s peer=%s reason=\"%s\"", s->rule->name,
	    session_peerstr(s, peer, sizeof(peer)), reason);
	if (!s->shut_wr && s->wr_err == 0) {
		ERR_set_mark();
		SSL_shutdown(s->ssl);
		ERR_pop_to_mark();
		(void)session_flush(s);
	}
	s->shut_wr = 1;
	s->rd_eof = 1;
	if (s->wr_err == 0)
		s->wr_err = EPIPE;
	/* Both ways: a program waiting on the socket wakes (POLLHUP) and reads end of file. */
	REAL(shutdown)(s->fd, SHUT_RDWR);
}

/* The step itself; s->lock held. */
static int
session_step_locked(struct session *s)
{
	char why[256];
	int r, e, err, f;
	socklen_t elen = sizeof(err);
	struct pollfd p;

	if (s->state == SS_OPEN)
		return STEP_DONE;
	if (s->state == SS_FAILED)
		return STEP_FAILED;
	if (deadline_ms(&s->deadline) == 0) {
		snprintf(why, sizeof(why), "handshake timed out after %ds",
		    s->rule->handshake_timeout);
		session_fail(s, ETIMEDOUT, why);
		return STEP_FAILED;
	}
	if (s->state == SS_CONNECTING) {
		p.fd = s->fd;
		p.events = POLLOUT;
		p.revents = 0;
		if (REAL(poll)(&p, 1, 0) == 0)
			return POLLOUT;
		if (REAL(getsockopt)(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err != 0) {
			/* Plain TCP failure: the program sees what it would have seen. */
			s->state = SS_FAILED;
			s->err = err;
			return STEP_FAILED;
		}
		s->state = SS_HANDSHAKE;
	}
	if ((f = session_flush(s)) != 0)
		goto flushed;
	if (s->ocsp != NULL)
		goto checked;
	sweep_touch(s);
	ERR_set_mark();
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		ERR_pop_to_mark();
		/* Tickets and the last flight go out before the program may write. */
		if ((f = session_flush(s)) != 0)
			goto flushed;
		goto checked;
	}
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_pop_to_mark();
		if ((f = session_flush(s)) != 0)
			goto flushed;
		return e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
	}
	err = session_reason(s, e, why, sizeof(why));
	ERR_pop_to_mark();
	session_flush(s);	/* the alert, so the peer learns why */
	session_fail(s, err, why);
	return STEP_FAILED;
 checked:
	/* The peer verified; with ocsp on, the program sees it once its status is good. */
	if ((r = ocsp_step(s, why, sizeof(why))) == STEP_FAILED) {
		session_fail(s, ECONNREFUSED, why);
		return STEP_FAILED;
	}
	if (r != STEP_DONE)
		return r;
	s->state = SS_OPEN;
	session_log_result(s, NULL);
	s->counted = 1;
	stats_open_add(stats_shared(), stats_self(), s->rule->index, 1);
	revwatch_add(s);
	return STEP_DONE;
 flushed:
	if (f == POLLOUT)
		return POLLOUT;
	snprintf(why, sizeof(why), "%s", strerror(s->wr_err));
	session_fail(s, s->wr_err, why);
	return STEP_FAILED;
}

/* session_deadline_ms; s->lock held. */
static int
deadline_ms_locked(struct session *s)
{
	int ms = deadline_ms(&s->deadline), o = s->state == SS_HANDSHAKE ? ocsp_ms_left(s) : -1;

	return o >= 0 && o < ms ? o : ms;
}

/* session_wait_fd; s->lock held. */
static int
wait_fd_locked(struct session *s)
{
	/* An open connection's OCSP refresh (revwatch.c) is stepped by the library, not waited on. */
	int fd = s->state == SS_HANDSHAKE ? ocsp_fd(s) : -1;

	return fd >= 0 ? fd : s->fd;
}

int
session_deadline_ms(struct session *s)
{
	int ms;

	pthread_mutex_lock(&s->lock);
	ms = deadline_ms_locked(s);
	pthread_mutex_unlock(&s->lock);
	return ms;
}

int
session_wait_fd(struct session *s)
{
	int fd;

	pthread_mutex_lock(&s->lock);
	fd = wait_fd_locked(s);
	pthread_mutex_unlock(&s->lock);
	return fd;
}

/*
 * A client's connection in the program's epoll set: the set holds its
 * socket, not the responder's, so while a responder is asked the program's
 * wait wakes every OCSP_TICK_MS to look (bounded by ocsp_timeout).
 */
#define OCSP_TICK_MS	10

int
session_due_ms(struct session *s)
{
	struct pollfd p = { .fd = -1, .events = (short)s->want };
	int ms;

	pthread_mutex_lock(&s->lock);
	ms = deadline_ms_locked(s);
	if ((p.fd = ocsp_fd(s)) >= 0 && ms > 0)
		ms = REAL(poll)(&p, 1, 0) == 1 ? 0 : ms < OCSP_TICK_MS ? ms : OCSP_TICK_MS;
	pthread_mutex_unlock(&s->lock);
	return ms;
}

int
session_step(struct session *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = session_step_locked(s);
	s->want = r > 0 ? r : 0;
	s->elsewhere = r > 0 && ocsp_fd(s) >= 0;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int
session_handshake_blocking(struct session *s)
{
	int r, ms, fd;

	for (;;) {
		r = session_step(s);
		if (r == STEP_DONE)
			return 0;
		if (r == STEP_FAILED) {
			errno = s->err;
			return -1;
		}
		/* A deadline that passed is the next step's to handle. */
		pthread_mutex_lock(&s->lock);
		ms = deadline_ms_locked(s);
		fd = wait_fd_locked(s);
		pthread_mutex_unlock(&s->lock);
		if (ms > 0 && wait_fd(fd, (short)r, ms) == -1 && errno == EINTR &&
		    !signals_restart())
			return -1;
	}
}

/* ---- waiting ---- */

int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = REAL(poll)(&p, 1, timeout_ms);

	if (r == 0) {
		errno = EAGAIN;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/*
 * The program closed fd while threads waited on it: the last of them closes
 * it.  Until now the number named us, so stray calls got EBADF.  The slot
 * empties before the number is free (a new socket may get it at once), and
 * the socket is shut first so nothing can cross it in between.  s->lock held.
 */
static void
session_finish_close(struct session *s, int fd)
{
	struct stat st;
	int ours = fstat(fd, &st) == 0 && st.st_ino == s->close_ino;

	s->close_ino = 0;
	fdtable_clear_if(fd, &s->hdr);
	if (ours)
		syscall(SYS_close, fd);
	pthread_cond_broadcast(&s->close_cv);
}

/*
 * Waits for events on the session's socket with s->lock released; counted,
 * so that a close() from another thread can wake us.  Called and returns
 * with s->lock held; keeps wait_fd's errno.
 */
static int
session_wait_unlocked(struct session *s, short events, int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L }, d;
	int fd = s->fd, wfd = wait_fd_locked(s), r, e, idle, left = ms;

	if (ms >= 0)
		d = deadline_after(&t);
	s->waiters++;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		/* While it sleeps, idle sessions (this one too) still give their buffers back. */
		idle = session_sweep_idle();
		if (idle < 0 || (ms >= 0 && left <= idle)) {
			r = wait_fd(wfd, events, left);
			break;
		}
		if ((r = wait_fd(wfd, events, idle)) == 0 || errno != EAGAIN)
			break;
		if (ms >= 0 && (left = deadline_ms(&d)) == 0)
			break;
	}
	e = errno;
	pthread_mutex_lock(&s->lock);
	if (--s->waiters == 0 && s->close_ino != 0)
		session_finish_close(s, fd);
	errno = e;
	return r;
}

/* SO_RCVTIMEO or SO_SNDTIMEO of a blocking socket, as a poll timeout (-1: none). */
static int
timeo_ms(int fd, int opt)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	if (REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &len) == -1 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

static int
app_nonblocking(int fd, int flags)
{
	return (flags & MSG_DONTWAIT) || (REAL(fcntl)(fd, F_GETFL) & O_NONBLOCK);
}

/*
 * Gets the session to SS_OPEN for a data call.  Returns 0, or -1 with errno:
 * EAGAIN for a non-blocking caller, the handshake's error otherwise.
 * Called and returns with s->lock held.
 */
static int
session_ready_locked(struct session *s, int flags)
{
	int r;

	for (;;) {
		r = session_step_locked(s);
		if (r == STEP_DONE)
			return 0;
		if (r == STEP_FAILED) {
			errno = s->err;
			return -1;
		}
		if (app_nonblocking(s->fd, flags)) {
			errno = EAGAIN;
			return -1;
		}
		/* A deadline that passed (EAGAIN) is the next step's to handle. */
		r = session_wait_unlocked(s, (short)r, deadline_ms_locked(s));
		if (s->closed) {
			errno = EBADF;
			return -1;
		}
		if (r == -1 && errno == EINTR && !signals_restart())
			return -1;
	}
}

/* ---- reading ---- */

/* A broken record or a reset: the reason is logged, the program gets an errno. */
static void
session_read_failed(struct session *s, int ssl_err)
{
	char why[256], peer[64];

	session_reason(s, ssl_err, why, sizeof(why));
	log_info("closed rule=%s peer=%s reason=\"%s\"", s->rule->name,
	    session_peerstr(s, peer, sizeof(peer)), why);
	s->rd_err = s->bio_errno ? s->bio_errno : ECONNRESET;
}

/* Processes records until application data, EOF or WANT_READ; s->lock held. */
static int
session_pump_locked(struct session *s)
{
	char c;
	size_t got;
	int r, e;

	if (s->rd_eof || s->rd_err || SSL_pending(s->ssl) > 0)
		return 1;
	sweep_touch(s);
	ERR_set_mark();
	r = SSL_peek_ex(s->ssl, &c, 1, &got);
	if (r == 1) {
		ERR_pop_to_mark();
		return 1;
	}
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_pop_to_mark();
		session_flush(s);
		return 0;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		s->rd_eof = 1;
	else {
		session_read_failed(s, e);
	}
	ERR_pop_to_mark();
	return 1;
}

/* held: judge by what the session holds, reading the socket only for a waiting record. */
static int
session_readable_common(struct session *s, int held)
{
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->state == SS_FAILED)
		r = 1;
	else if (s->state != SS_OPEN)
		r = 0;
	else if (!held)
		r = session_pump_locked(s);
	else if (s->rd_eof || s->rd_err || SSL_pending(s->ssl) > 0)
		r = 1;
	else
		r = SSL_has_pending(s->ssl) && session_pump_locked(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int
session_readable(struct session *s)
{
	return session_readable_common(s, 0);
}

int
session_readable_held(struct session *s)
{
	return session_readable_common(s, 1);
}

int
session_buffered(struct session *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->state == SS_OPEN && (SSL_pending(s->ssl) > 0 || SSL_has_pending(s->ssl));
	pthread_mutex_unlock(&s->lock);
	return r;
}

int
session_nread(struct session *s)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	if (s->state == SS_OPEN && session_pump_locked(s))
		n = SSL_pending(s->ssl);
	pthread_mutex_unlock(&s->lock);
	return n;
}

ssize_t
session_recv(struct session *s, const struct iovec *iov, int iovcnt, int flags)
{
	size_t total = 0, want = 0, got, off = 0;
	ssize_t rv = -1;
	int i = 0, r, e, ms;
	short ev;

	for (r = 0; r < iovcnt; r++)
		want += iov[r].iov_len;
	pthread_mutex_lock(&s->lock);
	s->used = 1;
	if (s->closed) {
		errno = EBADF;
		goto out;
	}
	if (session_ready_locked(s, flags) == -1)
		goto out;
	if (want == 0) {
		rv = 0;
		goto out;
	}
	sweep_touch_data(s);
	while (i < iovcnt) {
		if (iov[i].iov_len == off) {
			i++;
			off = 0;
			continue;
		}
		if (s->rd_err) {
			errno = s->rd_err;
			break;
		}
		if (s->rd_eof)
			break;
		ERR_set_mark();
		if (flags & MSG_PEEK)
			r = SSL_peek_ex(s->ssl, (char *)iov[i].iov_base + off,
			    iov[i].iov_len - off, &got);
		else
			r = SSL_read_ex(s->ssl, (char *)iov[i].iov_base + off,
			    iov[i].iov_len - off, &got);
		if (r == 1) {
			ERR_pop_to_mark();
			total += got;
			off += got;
			if (flags & MSG_PEEK)
				break;
			/* Take more only if it is already here: a read never waits once it has data. */
			if (!(flags & MSG_WAITALL) && SSL_pending(s->ssl) == 0 &&
			    !SSL_has_pending(s->ssl))
				break;
			continue;
		}
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			ERR_pop_to_mark();
			session_flush(s);
			if (total > 0 && !(flags & MSG_WAITALL))
				break;
			if (app_nonblocking(s->fd, flags)) {
				if (total > 0)
					break;
				errno = EAGAIN;
				goto out;
			}
			ms = timeo_ms(s->fd, SO_RCVTIMEO);
			/* Our own records still waiting for the kernel go out meanwhile. */
			ev = (short)(POLLIN | (s->wlen ? POLLOUT : 0));
			r = session_wait_unlocked(s, ev, ms);
			if (s->closed) {
				errno = EBADF;
				goto out;
			}
			if (r == -1) {
				if (errno == EINTR && signals_restart())
					continue;
				if (total > 0)
					break;
				goto out;
			}
			continue;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			s->rd_eof = 1;
		} else
			session_read_failed(s, e);
		ERR_pop_to_mark();
	}
	if (total > 0 || s->rd_eof || !s->rd_err)
		rv = (ssize_t)total;
	else
		errno = s->rd_err;
	if (rv > 0 && !(flags & MSG_PEEK))
		stats_bytes(stats_shared(), s->rule->index, 1, (size_t)rv);
 out:
	pthread_mutex_unlock(&s->lock);
	sweep_maybe();
	return rv;
}

/* ---- writing ---- */

/* Emulates the kernel: EPIPE raises SIGPIPE unless the caller said MSG_NOSIGNAL. */
static ssize_t
session_write_error(int err, int flags)
{
	if (err == EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	errno = err;
	return -1;
}

/* Copies up to len bytes of the iovec stream starting at *pos into buf. */
static size_t
iov_gather(const struct iovec *iov, int iovcnt, size_t pos, unsigned char *buf,
    size_t len, const unsigned char **direct)
{
	size_t n = 0, skip = pos, take;
	int i;

	for (i = 0; i < iovcnt && skip >= iov[i].iov_len; i++)
		skip -= iov[i].iov_len;
	if (i < iovcnt && iov[i].iov_len - skip >= len) {
		/* One contiguous piece: no copy. */
		*direct = (const unsigned char *)iov[i].iov_base + skip;
		return len;
	}
	for (; i < iovcnt && n < len; i++, skip = 0) {
		take = iov[i].iov_len - skip;
		if (take > len - n)
			take = len - n;
		memcpy(buf + n, (const unsigned char *)iov[i].iov_base + skip, take);
		n += take;
	}
	*direct = buf;
	return n;
}

/*
 * Like the kernel's send buffer: bytes SSL_write took count as written; the
 * records they became wait in wbuf (at most one batch beyond what the kernel
 * holds) and go out on the next call, from readiness translation, or at close.
 * A non-blocking caller gets EAGAIN only when nothing could be taken.
 */
ssize_t
session_send(struct session *s, const struct iovec *iov, int iovcnt, int flags)
{
	unsigned char chunk[RECORD_MAX];
	const unsigned char *p;
	size_t total = 0, done = 0, batch, n, wrote;
	ssize_t rv = -1;
	int f, r, i, nonblock = -1;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > SSIZE_MAX)
		total = SSIZE_MAX;
	pthread_mutex_lock(&s->lock);
	s->used = 1;
	if (session_ready_locked(s, flags) == -1)
		goto out;
	if (s->wr_err || s->shut_wr || s->closed) {
		pthread_mutex_unlock(&s->lock);
		return session_write_error(s->closed ? EBADF : s->wr_err ? s->wr_err : EPIPE, flags);
	}
	for (;;) {
		if ((f = session_flush(s)) == -1) {
			if (done > 0)
				break;
			pthread_mutex_unlock(&s->lock);
			return session_write_error(s->wr_err, flags);
		}
		if (f == POLLOUT) {
			if (nonblock == -1)
				nonblock = app_nonblocking(s->fd, flags);
			if (nonblock) {
				if (done > 0)
					break;
				errno = EAGAIN;
				goto out;
			}
			/* Blocking: the caller expects its bytes on their way when we return. */
			r = session_wait_unlocked(s, POLLOUT, timeo_ms(s->fd, SO_SNDTIMEO));
			if (s->closed) {
				errno = EBADF;
				r = -1;
			}
			if (r == -1 && (s->closed || !(errno == EINTR && signals_restart()))) {
				if (done > 0)
					break;
				goto out;
			}
			continue;
		}
		if (done >= total)
			break;
		batch = 0;
		sweep_touch_data(s);
		ERR_set_mark();
		while (done + batch < total && batch < BATCH_MAX) {
			n = total - done - batch;
			if (n > RECORD_MAX)
				n = RECORD_MAX;
			n = iov_gather(iov, iovcnt, done + batch, chunk, n, &p);
			if (SSL_write_ex(s->ssl, p, n, &wrote) != 1) {
				char why[256], peer[64];
				session_reason(s, 0, why, sizeof(why));
				log_info("closed rule=%s peer=%s reason=\"write: %s\"", s->rule->name,
				    session_peerstr(s, peer, sizeof(peer)), why);
				s->wr_err = s->bio_errno ? s->bio_errno : EPIPE;
				break;
			}
			batch += wrote;
		}
		ERR_pop_to_mark();
		done += batch;
		if (s->wr_err) {
			if (done > 0)
				break;
			errno = s->wr_err;
			goto out;
		}
	}
	rv = (ssize_t)done;
	stats_bytes(stats_shared(), s->rule->index, 0, done);
 out:
	pthread_mutex_unlock(&s->lock);
	sweep_maybe();
	return rv;
}

int
session_has_output(struct session *s)
{
	return __atomic_load_n(&s->wlen, __ATOMIC_RELAXED) != 0;
}

int
session_flush_output(struct session *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = session_flush(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Waits, without the lock, until wbuf is empty or ms pass; s->lock held. */
static void
session_drain_locked(struct session *s, int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L }, d;

	d = deadline_after(&t);
	while (session_flush(s) == POLLOUT && (ms = deadline_ms(&d)) > 0)
		session_wait_unlocked(s, POLLOUT, ms);
}

/*
 * close_notify, then the FIN once every record is out.  Returns 1 if the
 * caller may shut the socket's write side now, 0 if the FIN was deferred
 * behind records the kernel has not taken (non-blocking callers).
 */
int
session_shutdown_write(struct session *s)
{
	int now = 1;

	pthread_mutex_lock(&s->lock);
	if (s->state == SS_OPEN && !s->shut_wr && !s->wr_err && !s->closed) {
		sweep_touch_data(s);
		ERR_set_mark();
		SSL_shutdown(s->ssl);
		ERR_pop_to_mark();
		s->shut_wr = 1;
		if (session_flush(s) == POLLOUT) {
			if (app_nonblocking(s->fd, 0)) {
				s->shut_pending = 1;
				now = 0;
			} else
				session_drain_locked(s, 1000 * s->rule->handshake_timeout);
		}
	} else if (s->shut_pending)
		now = 0;
	pthread_mutex_unlock(&s->lock);
	return now;
}

int
session_close(struct session *s)
{
	struct stat st;
	int deferred = 0;

	pthread_mutex_lock(&s->lock);
	/* close_notify only from a process that still owns the session. */
	if (s->state == SS_OPEN && !s->shut_wr && s->wr_err == 0 &&
	    (!s->forked || s->used)) {
		sweep_touch_data(s);
		ERR_set_mark();
		SSL_shutdown(s->ssl);
		ERR_pop_to_mark();
	} else if (s->state == SS_OPEN && s->rd_err == 0 && s->wr_err == 0)
		/*
		 * Handed on (a fork-per-connection parent closing its copy):
		 * the session is sound, and OpenSSL would otherwise drop it
		 * from the server's cache as if the connection had failed.
		 */
		SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN);
	s->shut_wr = 1;
	/* The kernel would still deliver what was written; so do we, for a while. */
	if (!s->forked || s->used)
		session_drain_locked(s, 1000 * s->rule->handshake_timeout);
	/*
	 * Threads still inside a call on this session must not touch the fd
	 * once the number is free (it may name another socket by then).
	 */
	s->closed = 1;
	if (s->waiters > 0 && !s->forked && fstat(s->fd, &st) == 0) {
		/*
		 * Keep the number until the waiters leave, so it cannot name
		 * another socket under their poll.  Shutting both directions
		 * (what close does anyway) makes poll report POLLHUP whatever
		 * they wait for, so they leave at once, even one that only
		 * reaches poll after this.
		 */
		REAL(shutdown)(s->fd, SHUT_RDWR);
		s->close_ino = st.st_ino;
		deferred = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return deferred;
}

/*
 * A program about to reuse the number (dup2 onto it, close_range) must not
 * hand it over while a waiter may still be on its way into poll(fd): that
 * waiter would then sleep on the new socket.  The waiters leave at once
 * (POLLHUP); the bound only guards against one stopped in a debugger.
 */
void
session_await_close(struct session *s)
{
	struct timespec t = { 2, 0 }, d;

	d = deadline_after(&t);
	pthread_mutex_lock(&s->lock);
	while (s->close_ino != 0 &&
	    pthread_cond_timedwait(&s->close_cv, &s->lock, &d) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
}

int
session_take_error(struct session *s)
{
	int e = 0;

	pthread_mutex_lock(&s->lock);
	if (s->state == SS_FAILED && !s->err_reported) {
		e = s->err;
		s->err_reported = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

void
session_mark_forked(struct session *s, int child)
{
	/* The parent's other threads go on using s; in the child a holder of the lock is gone. */
	if (child) {
		pthread_mutex_init(&s->lock, NULL);
		session_cond_init(s);
		s->inherited = 1;
	} else
		pthread_mutex_lock(&s->lock);
	s->forked = 1;
	s->used = 0;
	__atomic_store_n(&s->claimed, 0, __ATOMIC_RELAXED);
	if (!child)
		pthread_mutex_unlock(&s->lock);
	else if (s->counted)
		/* The child holds it too, until it closes its copy. */
		stats_open_add(stats_shared(), stats_self(), s->rule->index, 1);
}
