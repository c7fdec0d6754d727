/*
 * relay.c: carries sessions across exec.
 *
 * A new program image has none of our TLS state, yet inetd, `ncat -e` and
 * sshd-style re-execs hand it the connected socket.  Just before exec we fork
 * a relay that keeps the session; the fd numbers the new image inherits then
 * name a socket pair whose other end the relay joins to the session.  The
 * relay is a grandchild, reparented at once, so the new image never sees an
 * unexpected child of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"
#include "real.h"
#include "relay.h"
#include "session.h"
#include "shim.h"

#define RELAY_BUF	16384
#define RELAY_ENV	"MTLSSHIM_RELAYED"
#define RELAY_MAX	16	/* relayed sockets a new image learns the addresses of */

/*
 * RELAY_ENV=ENTRY[,ENTRY...], ENTRY = INODE/PEER/LOCAL: the inode of the
 * socket the new image holds and the TCP addresses in hex.  It passes
 * through later execs untouched (sh -c 'exec prog'); an entry whose socket
 * is gone matches nothing.
 */
struct relayed {
	unsigned long		ino;
	struct sockaddr_storage	addr[2];	/* peer, local */
	socklen_t		len[2];
};

/* fds naming sessions, each with a reference, as fdtable_foreach found them. */
struct names {
	int		*fd;
	struct fdobj	**obj;
	size_t		 n, cap;
	int		 all;		/* also the close-on-exec ones */
	int		 failed;
};

static int
cloexec(int fd)
{
	int f = REAL(fcntl)(fd, F_GETFD);

	return f != -1 && (f & FD_CLOEXEC);
}

static void
collect_one(int fd, struct fdobj *o, void *arg)
{
	struct names *n = arg;
	void *p;

	if (o->kind != FD_SESSION || (!n->all && cloexec(fd)))
		return;
	if (n->n == n->cap) {
		n->cap = n->cap ? 2 * n->cap : 8;
		if ((p = realloc(n->fd, n->cap * sizeof(*n->fd))) == NULL) {
			n->failed = 1;
			return;
		}
		n->fd = p;
		if ((p = realloc(n->obj, n->cap * sizeof(*n->obj))) == NULL) {
			n->failed = 1;
			return;
		}
		n->obj = p;
	}
	fdobj_hold(o);
	n->fd[n->n] = fd;
	n->obj[n->n++] = o;
}

static void
names_free(struct names *n)
{
	size_t i;

	for (i = 0; i < n->n; i++)
		fdobj_put(n->obj[i]);
	free(n->fd);
	free(n->obj);
}

/* ---- the relay process ---- */

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

	for (;;) {
		n = session_recv(r->s, &iov, 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n > 0 && send_all(r->app, buf, (size_t)n) == 0)
			continue;
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

static int
fd_wrapped(int fd)
{
	struct fdobj *o = fdtable_get(fd);

	if (o != NULL)
		fdobj_put(o);
	return o != NULL;
}

/* Everything but keep[0..n-1] closes; the program's descriptors are not the relay's business. */
static void
close_all_but(const int *keep, int n)
{
	struct rlimit rl;
	int lo = 0, hi, i, fd, top = 1 << 20;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)top)
		top = (int)rl.rlim_cur;
	while (lo < top) {
		hi = top;
		for (i = 0; i < n; i++)
			if (keep[i] >= lo && keep[i] < hi)
				hi = keep[i];
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) == -1)
			for (fd = lo; fd < hi; fd++)
				syscall(SYS_close, fd);
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

static void __attribute__((noreturn))
relay_run(struct session *s, int app, int spare)
{
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
	/* Log lines may go to stderr, unless stderr is a wrapped socket. */
	if (!fd_wrapped(2))
		keep[nkeep++] = 2;
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
	log_info("relayed rule=%s peer=%s to pid %d across exec", s->rule->name,
	    session_peerstr(s, peer, sizeof(peer)), (int)getpid());
	if (pthread_create(&t, NULL, relay_down, &r) != 0)
		_exit(1);
	relay_up(&r);
	session_close(s);
	_exit(0);
}

/*
 * One session, named by fds[0..n-1]: fork the relay (twice, so that it is
 * nobody's child), then put our end of the pair on each name.
 */
static void
hex_append(char *buf, size_t size, const void *p, socklen_t len)
{
	const unsigned char *b = p;
	size_t at = strlen(buf);
	socklen_t i;

	for (i = 0; i < len && at + 2 < size; i++, at += 2)
		snprintf(buf + at, size - at, "%02x", b[i]);
}

/* Appends this relay's entry to the RELAY_ENV value being built in env. */
static void
relay_note(char *env, size_t size, int fd, struct session *s)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	struct stat st;
	size_t at;

	if (fstat(fd, &st) == -1 || s->peerlen == 0 ||
	    REAL(getsockname)(s->fd, (struct sockaddr *)&local, &llen) == -1 ||
	    (at = strlen(env)) + 300 > size)
		return;
	snprintf(env + at, size - at, "%s%lu/", at ? "," : "", (unsigned long)st.st_ino);
	hex_append(env, size, &s->peer, s->peerlen);
	strncat(env, "/", size - strlen(env) - 1);
	hex_append(env, size, &local, llen);
}

static int
relay_session(struct session *s, const int *fds, size_t n, char *env, size_t envsize)
{
	int sp[2], fl, st = 0, e;
	pid_t pid, grand;
	size_t i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return -1;
	fl = REAL(fcntl)(fds[0], F_GETFL);
	if (fl != -1 && (fl & O_NONBLOCK))
		REAL(fcntl)(sp[0], F_SETFL, REAL(fcntl)(sp[0], F_GETFL) | O_NONBLOCK);
	if ((pid = fork()) == -1) {
		e = errno;
		goto fail;
	}
	if (pid == 0) {
		if ((grand = fork()) != 0)
			_exit(grand == -1);
		relay_run(s, sp[1], sp[0]);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	/* (ECHILD, with SIGCHLD ignored, leaves st at 0: nothing to learn.) */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		e = EAGAIN;
		goto fail;
	}
	syscall(SYS_close, sp[1]);
	relay_note(env, envsize, sp[0], s);
	for (i = 0; i < n; i++) {
		hook_forget_fd(fds[i], 1);
		REAL(dup2)(sp[0], fds[i]);
	}
	syscall(SYS_close, sp[0]);
	return 0;
 fail:
	syscall(SYS_close, sp[0]);
	syscall(SYS_close, sp[1]);
	errno = e;
	return -1;
}

/* In a vfork child memory is the parent's: no relay, the sessions' fds just do not go along. */
static void
drop_one(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_SESSION && !cloexec(fd))
		syscall(SYS_close, fd);
}

/* envp with RELAY_ENV extended by add; NULL if out of memory. */
static char **
relay_env(char *const envp[], const char *add)
{
	static const char key[] = RELAY_ENV "=";
	const char *old = NULL;
	char **env, *v;
	size_t i, n = 0, k = 0;

	for (n = 0; envp != NULL && envp[n] != NULL; n++)
		if (strncmp(envp[n], key, sizeof(key) - 1) == 0)
			old = envp[n] + sizeof(key) - 1;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	if ((v = malloc(sizeof(key) + (old ? strlen(old) + 1 : 0) + strlen(add))) == NULL) {
		free(env);
		return NULL;
	}
	sprintf(v, "%s%s%s%s", key, old && *old ? old : "", old && *old ? "," : "", add);
	env[k++] = v;
	for (i = 0; i < n; i++)
		if (strncmp(envp[i], key, sizeof(key) - 1) != 0)
			env[k++] = envp[i];
	return env;
}

char **
relay_before_exec(char *const envp[])
{
	struct names nm = { 0 };
	int saved = errno, r = 0, *fds;
	char note[RELAY_MAX * 300 + 1] = "", **env = (char **)envp;
	size_t i, j, k;

	if (shim_config() == NULL)
		return env;
	if (shim_in_vfork_child()) {
		fdtable_foreach(drop_one, NULL);
		errno = saved;
		return env;
	}
	fdtable_foreach(collect_one, &nm);
	if (nm.n == 0 && !nm.failed) {
		names_free(&nm);
		errno = saved;
		return env;
	}
	if (nm.failed || (fds = malloc((nm.n + 1) * sizeof(*fds))) == NULL) {
		names_free(&nm);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < nm.n && r == 0; i++) {
		for (j = 0; j < i && nm.obj[j] != nm.obj[i]; j++)
			;
		if (j < i)
			continue;	/* another name of a session already relayed */
		for (k = 0, j = i; j < nm.n; j++)
			if (nm.obj[j] == nm.obj[i])
				fds[k++] = nm.fd[j];
		r = relay_session((struct session *)nm.obj[i], fds, k, note, sizeof(note));
	}
	if (r == -1)
		saved = errno;
	free(fds);
	names_free(&nm);
	if (r == 0 && note[0] != '\0' && (env = relay_env(envp, note)) == NULL)
		saved = ENOMEM;
	errno = saved;
	return r == -1 ? NULL : env;
}

void
relay_env_free(char **env, char *const envp[])
{
	if (env == NULL || env == (char **)envp)
		return;
	free(env[0]);
	free(env);
}

/* ---- in the new image ---- */

static struct relayed	relayed[RELAY_MAX];
static int		nrelayed;
static pthread_once_t	relayed_once = PTHREAD_ONCE_INIT;

static socklen_t
unhex(const char *p, const char *end, void *out, size_t size)
{
	unsigned char *b = out;
	socklen_t n = 0;
	unsigned int v;

	while (p + 1 < end && n < size && sscanf(p, "%2x", &v) == 1) {
		b[n++] = (unsigned char)v;
		p += 2;
	}
	return n;
}

static void
relayed_load(void)
{
	const char *p = getenv(RELAY_ENV), *end, *f1, *f2;
	struct relayed *r;

	while (p != NULL && *p != '\0' && nrelayed < RELAY_MAX) {
		end = p + strcspn(p, ",");
		f1 = memchr(p, '/', (size_t)(end - p));
		f2 = f1 ? memchr(f1 + 1, '/', (size_t)(end - f1 - 1)) : NULL;
		if (f2 != NULL) {
			r = &relayed[nrelayed];
			r->ino = strtoul(p, NULL, 10);
			r->len[0] = unhex(f1 + 1, f2, &r->addr[0], sizeof(r->addr[0]));
			r->len[1] = unhex(f2 + 1, end, &r->addr[1], sizeof(r->addr[1]));
			if (r->len[0] > 0 && r->len[1] > 0)
				nrelayed++;
		}
		p = *end ? end + 1 : end;
	}
}

static struct relayed *
relayed_find(int fd)
{
	struct stat st;
	int i, saved = errno;

	pthread_once(&relayed_once, relayed_load);
	if (nrelayed == 0)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return NULL;
	}
	for (i = 0; i < nrelayed; i++)
		if (relayed[i].ino == (unsigned long)st.st_ino)
			return &relayed[i];
	return NULL;
}

int
relay_sockname(int fd, int peer, struct sockaddr *sa, socklen_t *len)
{
	struct relayed *r = relayed_find(fd);
	int i = peer ? 0 : 1;

	if (r == NULL || len == NULL)
		return -1;
	memcpy(sa, &r->addr[i], *len < r->len[i] ? *len : r->len[i]);
	*len = r->len[i];
	return 0;
}

int
relay_is_relayed(int fd)
{
	return relayed_find(fd) != NULL;
}

/* ---- posix_spawn, system, popen ---- */

struct relay_spawn {
	struct names	nm;
};

struct relay_spawn *
relay_spawn_begin(void)
{
	struct relay_spawn *sp;
	size_t i;

	if (shim_config() == NULL || (sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	fdtable_foreach(collect_one, &sp->nm);
	for (i = 0; i < sp->nm.n; i++)
		REAL(fcntl)(sp->nm.fd[i], F_SETFD, FD_CLOEXEC);
	return sp;
}

void
relay_spawn_end(struct relay_spawn *sp)
{
	int saved = errno;
	size_t i;

	if (sp == NULL)
		return;
	for (i = 0; i < sp->nm.n; i++)
		REAL(fcntl)(sp->nm.fd[i], F_SETFD, 0);
	names_free(&sp->nm);
	free(sp);
	errno = saved;
}
