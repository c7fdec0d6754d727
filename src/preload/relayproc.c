/*
 * relayproc.c: the relay process: it joins a session to one end of a socket
 * pair, decrypting one way and encrypting the other, until both ends finish.
 * relay.c forks it for a session the program's own calls can no longer
 * reach (exec, stdio, descriptor passing); the offload helper runs one per
 * verified connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/real.h"
#include "engine/session.h"
#include "preload/relayproc.h"

#define RELAY_BUF	16384

struct relay {
	struct session	*s;
	int		 app;		/* our end of the pair */
	int		 done[2];	/* the peer-to-program direction ended */
};

static int
send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = REAL(send)(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Peer to program: EOF becomes a FIN on the pair, an error closes both ways. */
static void *
relay_down(void *arg)
{
	struct relay *r = arg;
	char buf[RELAY_BUF];
	struct iovec iov = { buf, sizeof(buf) };
	ssize_t n;

	int discard = 0;

	for (;;) {
		n = session_recv(r->s, &iov, 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n > 0) {
			/* A program that shut its read side still writes: drop, as TCP would. */
			if (!discard && send_all(r->app, buf, (size_t)n) == -1)
				discard = 1;
			continue;
		}
		if (!discard)
			REAL(shutdown)(r->app, n == 0 ? SHUT_WR : SHUT_RDWR);
		break;
	}
	syscall(SYS_write, r->done[1], "x", 1);
	return NULL;
}

/*
 * Program to peer, then: once the program has shut its side, wait until it
 * closes the pair for good (POLLHUP) or the peer's side ends, as a kernel
 * socket would linger in FIN_WAIT.
 */
static void
relay_up(struct relay *r)
{
	char buf[RELAY_BUF];
	struct pollfd p[2];
	struct iovec iov;
	ssize_t n, off, w;

	for (;;) {
		n = REAL(read)(r->app, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (off = 0; off < n; off += w) {
			iov.iov_base = buf + off;
			iov.iov_len = (size_t)(n - off);
			w = session_send(r->s, &iov, 1, MSG_NOSIGNAL);
			if (w == -1 && errno == EINTR)
				w = 0;
			else if (w <= 0) {
				REAL(shutdown)(r->app, SHUT_RDWR);
				return;
			}
		}
	}
	if (n == -1) {
		REAL(shutdown)(r->app, SHUT_RDWR);
		return;
	}
	session_shutdown_write(r->s);
	p[0].fd = r->app;
	p[0].events = 0;
	p[1].fd = r->done[0];
	p[1].events = POLLIN;
	while (REAL(poll)(p, 2, -1) == -1 && errno == EINTR)
		;
}

/* Everything but keep[0..n-1] closes; the program's descriptors are not the relay's business. */
static void
close_all_but(const int *keep, int n)
{
	struct rlimit rl;
	unsigned int lo = 0, hi, fd, top = ~0U, loop_top = 1U << 20;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < (rlim_t)loop_top)
		loop_top = (unsigned int)rl.rlim_max;
	for (;;) {
		hi = top;
		for (i = 0; i < n; i++)
			if ((unsigned int)keep[i] >= lo && (unsigned int)keep[i] < hi)
				hi = (unsigned int)keep[i];
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) == -1)
			for (fd = lo; fd < hi && fd < loop_top; fd++)
				syscall(SYS_close, fd);
		if (hi == top)
			break;
		lo = hi + 1;
	}
}

/* The program's signal handlers are not ours to run; its mask neither. */
static void
relay_signals(void)
{
	struct sigaction sa, dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) == -1)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
			sigaction(sig, &dfl, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void
relayproc_run(struct session *s, int app, int spare, int ready, int keep_stderr, const char *why)
{
	static const struct timeval none = { 0, 0 };
	struct relay r = { s, -1, { -1, -1 } };
	int keep[3], nkeep = 0, tcp, fl, devnull;
	char peer[64];
	pthread_t t;

	syscall(SYS_close, spare);
	prctl(PR_SET_NAME, "mtlsshim-relay");
	relay_signals();
	if ((tcp = REAL(fcntl)(s->fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (r.app = REAL(fcntl)(app, F_DUPFD_CLOEXEC, 3)) == -1)
		_exit(1);
	keep[nkeep++] = tcp;
	keep[nkeep++] = r.app;
	if (keep_stderr)
		keep[nkeep++] = 2;
	/* The program may swap its descriptors now: we hold what we need. */
	syscall(SYS_write, ready, "x", 1);
	close_all_but(keep, nkeep);
	if (nkeep == 2 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1 &&
	    devnull != 2) {
		REAL(dup2)(devnull, 2);
		syscall(SYS_close, devnull);
	}
	if (pipe2(r.done, O_CLOEXEC) == -1)
		_exit(1);
	s->fd = tcp;
	fl = REAL(fcntl)(tcp, F_GETFL);
	if (fl != -1 && (fl & O_NONBLOCK))
		REAL(fcntl)(tcp, F_SETFL, fl & ~O_NONBLOCK);
	/* The program's timeouts now apply to its end of the pair, not to the peer. */
	REAL(setsockopt)(tcp, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	REAL(setsockopt)(tcp, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	log_info("relayed rule=%s peer=%s to pid %d %s", s->rule->name,
	    session_peerstr(s, peer, sizeof(peer)), (int)getpid(), why);
	if (pthread_create(&t, NULL, relay_down, &r) != 0)
		_exit(1);
	pthread_detach(t);	/* the process ends with _exit, whichever half finishes last */
	relay_up(&r);
	session_close(s);
	_exit(0);
}

void
relayproc_prepare_child(const int *keep, int n)
{
	relay_signals();
	close_all_but(keep, n);
}

void
relayproc_serve(struct session *s, int app, const char *why)
{
	struct stat st;

	relayproc_run(s, app, -1, -1, fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode), why);
}
