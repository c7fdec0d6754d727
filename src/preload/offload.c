/* offload.c: TLS for a process that gives up fork: a helper forked while it still can (offload.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "common/log.h"
#include "common/real.h"
#include "engine/session.h"
#include "preload/forkstate.h"
#include "preload/offload.h"
#include "preload/relayed.h"
#include "preload/relayproc.h"
#include "preload/shim.h"

/* What the program sends the helper with a connection and its reply socket. */
struct offload_req {
	int			rule;		/* index in the config */
	socklen_t		peerlen;
	struct sockaddr_storage	peer;
};

/* What comes back with the program's end of a verified connection. */
struct offload_rep {
	socklen_t		len[2];
	struct sockaddr_storage	addr[2];	/* peer, local */
};

static int		offload_fd = -1;	/* the program's end of the helper's socket */
static pthread_mutex_t	offload_lock = PTHREAD_MUTEX_INITIALIZER;

/* One message with n descriptors; 0, or -1 with errno. */
static int
send_fds(int sock, const void *data, size_t len, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)data, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };
	struct cmsghdr *c;
	ssize_t r;

	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	while ((r = REAL(sendmsg)(sock, &m, MSG_NOSIGNAL)) == -1 && errno == EINTR)
		;
	return r == (ssize_t)len ? 0 : -1;
}

/*
 * One message of exactly len bytes with up to max descriptors (close-on-exec);
 * returns how many came, or -1 with errno (EPROTO for a short message, 0 for
 * end of file).  A message that is not what we expect loses its descriptors.
 */
static int
recv_fds(int sock, void *data, size_t len, int *fds, int max, int flags)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { data, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int n = 0, i, got[2];
	ssize_t r;

	while ((r = REAL(recvmsg)(sock, &m, MSG_CMSG_CLOEXEC | flags)) == -1 && errno == EINTR)
		;
	if (r == -1)
		return -1;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (i = 0; (size_t)i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n < 2;
			    i++)
				memcpy(&got[n++], CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof(int));
	if (r != (ssize_t)len || n > max || (m.msg_flags & MSG_CTRUNC)) {
		for (i = 0; i < n; i++)
			syscall(SYS_close, got[i]);
		errno = r == 0 ? 0 : EPROTO;
		return -1;
	}
	memcpy(fds, got, (size_t)n * sizeof(int));
	return n;
}

/* A worker: one handshake; a verified peer's plaintext end goes back on reply. */
static void __attribute__((noreturn))
offload_work(int fd, int reply, const struct offload_req *q)
{
	const struct config *c = shim_config();
	struct offload_rep rep;
	const struct rule *r;
	struct session *s;
	int sp[2], fl;

	if (q->rule < 0 || (size_t)q->rule >= c->nrules)
		_exit(1);
	r = &c->rules[q->rule];
	if ((fl = REAL(fcntl)(fd, F_GETFL)) != -1)
		REAL(fcntl)(fd, F_SETFL, fl & ~O_NONBLOCK);
	s = session_new(fd, r, shim_holder(r), 1, (const struct sockaddr *)&q->peer, q->peerlen, 0);
	if (s == NULL)
		_exit(1);
	if (session_handshake_blocking(s) != 0)
		_exit(0);	/* refused, and logged so */
	memset(&rep, 0, sizeof(rep));
	rep.addr[0] = q->peer;
	rep.len[0] = q->peerlen;
	rep.len[1] = sizeof(rep.addr[1]);
	if (REAL(getsockname)(fd, (struct sockaddr *)&rep.addr[1], &rep.len[1]) == -1)
		rep.len[1] = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1 ||
	    send_fds(reply, &rep, sizeof(rep), &sp[0], 1) == -1)
		_exit(1);
	syscall(SYS_close, sp[0]);
	syscall(SYS_close, reply);
	relayproc_serve(s, sp[1], "for a process that cannot fork");
}

/* The helper: a worker per connection, each nobody's child; ends with the program. */
static void __attribute__((noreturn))
offload_serve(int ctl)
{
	struct offload_req q;
	int fds[2], n, i;
	pid_t pid = -1;

	for (;;) {
		if ((n = recv_fds(ctl, &q, sizeof(q), fds, 2, 0)) == -1) {
			if (errno == EPROTO)
				continue;
			_exit(0);	/* the program is gone */
		}
		if (n == 2 && (pid = fork()) == 0) {
			if (fork() != 0)
				_exit(0);
			syscall(SYS_close, ctl);
			offload_work(fds[0], fds[1], &q);
		}
		for (i = 0; i < n; i++)
			syscall(SYS_close, fds[i]);
		if (n == 2 && pid > 0)
			while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
				;
	}
}

static int
has_server_rule(const struct config *c)
{
	size_t i;

	for (i = 0; c != NULL && i < c->nrules; i++)
		if (c->rules[i].kind == RULE_SERVER)
			return 1;
	return 0;
}

void
offload_before_nproc_limit(void)
{
	sigset_t all, old;
	struct stat st;
	int sp[2], keep[2], nkeep = 1, saved = errno;
	pid_t pid;

	if (!has_server_rule(shim_config()) || forkstate_in_vfork_child())
		return;
	plock(&offload_lock);
	if (offload_fd >= 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_error("cannot start the TLS helper for a process that gives up fork: %s",
		    strerror(errno));
		goto out;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((pid = forkstate_fork_relay()) == 0) {
		if (fork() != 0)
			_exit(0);
		syscall(SYS_close, sp[0]);
		prctl(PR_SET_NAME, "mtlsshim-tls");
		keep[0] = sp[1];
		if (fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode))
			keep[nkeep++] = 2;
		relayproc_prepare_child(keep, nkeep);
		offload_serve(sp[1]);
	}
	syscall(SYS_close, sp[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		log_error("cannot start the TLS helper for a process that gives up fork: %s",
		    strerror(errno));
		syscall(SYS_close, sp[0]);
		goto out;
	}
	offload_fd = sp[0];
	log_debug("handshakes go to a helper: this process gives up fork");
 out:
	pthread_mutex_unlock(&offload_lock);
	errno = saved;
}

int
offload_active(void)
{
	return __atomic_load_n(&offload_fd, __ATOMIC_RELAXED) >= 0;
}

int
offload_submit(int fd, const struct rule *r, const struct sockaddr *peer, socklen_t len,
    int reply)
{
	struct offload_req q;
	int fds[2] = { fd, reply }, rv;

	memset(&q, 0, sizeof(q));
	q.rule = (int)(r - shim_config()->rules);
	q.peerlen = len < sizeof(q.peer) ? len : sizeof(q.peer);
	memcpy(&q.peer, peer, q.peerlen);
	rv = send_fds(offload_fd, &q, sizeof(q), fds, 2);
	syscall(SYS_close, fd);
	return rv;
}

int
offload_receive(int reply, struct sockaddr_storage *peer, socklen_t *len)
{
	struct offload_rep rep;
	int fd;

	if (recv_fds(reply, &rep, sizeof(rep), &fd, 1, MSG_DONTWAIT) != 1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			errno = EAGAIN;
		return -1;
	}
	*peer = rep.addr[0];
	*len = rep.len[0];
	relayed_note_handed(fd, (struct sockaddr *)&rep.addr[0], rep.len[0],
	    (struct sockaddr *)&rep.addr[1], rep.len[1]);
	return fd;
}

void
offload_atfork_child(void)
{
	pthread_mutex_init(&offload_lock, NULL);
	if (offload_fd >= 0)
		syscall(SYS_close, offload_fd);
	offload_fd = -1;
}
