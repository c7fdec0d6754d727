/*
 * relay.c: hands sessions to relay processes, across exec, descriptor passing and stdio.
 *
 * A new program image has none of our TLS state, yet inetd, `ncat -e` and
 * sshd-style re-execs hand it the connected socket.  Just before exec we fork
 * a relay that keeps the session; the fd numbers the new image inherits then
 * name a socket pair whose other end the relay joins to the session.  The
 * relay is a grandchild, reparented at once, so the new image never sees an
 * unexpected child of its own.  The same serves a session on fd 0, 1 or 2
 * (stdio) and one passed to another process.  What the relay process does
 * is relayproc.c; the addresses its socket pair shows, relayed.c.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "common/log.h"
#include "common/real.h"
#include "engine/peerenv.h"
#include "engine/session.h"
#include "preload/fdforget.h"
#include "preload/forkstate.h"
#include "preload/readiness.h"
#include "preload/relay.h"
#include "preload/relayed.h"
#include "preload/relayproc.h"
#include "preload/shim.h"
#include "preload/spawnfa.h"

/* fds naming sessions, each with a reference, as fdtable_foreach found them. */
struct names {
	int		*fd;
	struct fdobj	**obj;
	size_t		 n, cap;
	int		 all;		/* also the close-on-exec ones */
	struct fdobj	*only;		/* just this session's names */
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
	size_t cap;
	void *p;

	if (o->kind != FD_SESSION || (n->only && o != n->only) || (!n->all && cloexec(fd)))
		return;
	if (n->failed)
		return;
	if (n->n == n->cap) {
		cap = n->cap ? 2 * n->cap : 8;
		if ((p = realloc(n->fd, cap * sizeof(*n->fd))) == NULL) {
			n->failed = 1;
			return;
		}
		n->fd = p;
		if ((p = realloc(n->obj, cap * sizeof(*n->obj))) == NULL) {
			n->failed = 1;
			return;
		}
		n->obj = p;
		n->cap = cap;
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

/* Appends this relay's entry to the RELAYED_ENV value being built in env. */
static void
relay_note(char *env, size_t size, int fd, struct session *s)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (REAL(getsockname)(s->fd, (struct sockaddr *)&local, &llen) == 0)
		relayed_note(env, size, fd, (struct sockaddr *)&s->peer, s->peerlen,
		    (struct sockaddr *)&local, llen);
}

/* The program's receive and send timeouts go with its descriptor onto the pair. */
static void
copy_timeouts(int from, int to)
{
	static const int opts[] = { SO_RCVTIMEO, SO_SNDTIMEO };
	struct timeval tv;
	socklen_t len;
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		len = sizeof(tv);
		if (REAL(getsockopt)(from, SOL_SOCKET, opts[i], &tv, &len) == 0 &&
		    (tv.tv_sec != 0 || tv.tv_usec != 0))
			REAL(setsockopt)(to, SOL_SOCKET, opts[i], &tv, sizeof(tv));
	}
}

/*
 * One session, named by fds[0..n-1]: fork the relay (twice, so that it is
 * nobody's child), then put our end of the pair on each name, keeping each
 * name's close-on-exec flag.  The relay says it is up through a pipe, which
 * works whatever the program did to SIGCHLD.
 */
static int
relay_session(struct session *s, const int *fds, size_t n, int keep_stderr, char *env,
    size_t envsize, const char *why)
{
	sigset_t all, old;
	int sp[2], rp[2] = { -1, -1 }, fl, e = 0, *ce;
	pid_t pid, grand;
	ssize_t r;
	size_t i;
	char c;

	if ((ce = calloc(n + 1, sizeof(*ce))) == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		free(ce);
		return -1;
	}
	if (pipe2(rp, O_CLOEXEC) == -1) {
		e = errno;
		goto fail;
	}
	fl = REAL(fcntl)(fds[0], F_GETFL);
	if (fl != -1 && (fl & O_NONBLOCK))
		REAL(fcntl)(sp[0], F_SETFL, REAL(fcntl)(sp[0], F_GETFL) | O_NONBLOCK);
	copy_timeouts(s->fd, sp[0]);
	/* The program's handlers must not run in our children before they are reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((pid = forkstate_fork_relay()) == -1) {
		e = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto fail;
	}
	if (pid == 0) {
		syscall(SYS_close, rp[0]);
		if ((grand = fork()) != 0)
			_exit(grand == -1);
		relayproc_run(s, sp[1], sp[0], rp[1], keep_stderr, why);
	}
	syscall(SYS_close, rp[1]);
	rp[1] = -1;
	while ((r = REAL(read)(rp[0], &c, 1)) == -1 && errno == EINTR)
		;
	/* Reaps the middle child; ECHILD with SIGCHLD ignored is as good. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 1) {
		e = EAGAIN;
		goto fail;
	}
	syscall(SYS_close, rp[0]);
	syscall(SYS_close, sp[1]);
	/* The relay owns it now: closing our names must not end it (no close_notify). */
	session_mark_forked(s, 0);
	relay_note(env, envsize, sp[0], s);
	for (i = 0; i < n; i++)
		ce[i] = cloexec(fds[i]);
	for (i = 0; i < n; i++) {
		fdforget_one(fds[i], 1);
		if (REAL(dup3)(sp[0], fds[i], ce[i] ? O_CLOEXEC : 0) == -1)
			syscall(SYS_close, fds[i]);	/* never the TCP socket */
	}
	syscall(SYS_close, sp[0]);
	free(ce);
	return 0;
 fail:
	syscall(SYS_close, sp[0]);
	syscall(SYS_close, sp[1]);
	if (rp[0] >= 0)
		syscall(SYS_close, rp[0]);
	if (rp[1] >= 0)
		syscall(SYS_close, rp[1]);
	free(ce);
	errno = e;
	return -1;
}

/* ---- a vfork child ---- */

struct inode_hit {
	ino_t	ino;
	int	hit;
};

static void
match_inode(int fd, struct fdobj *o, void *arg)
{
	struct inode_hit *h = arg;
	struct stat st;

	if (o->kind == FD_SESSION && ((struct session *)o)->ino == h->ino)
		h->hit = 1;
	else if (o->kind == FD_LISTENER && fstat(fd, &st) == 0 && st.st_ino == h->ino)
		h->hit = 1;
}

/*
 * A vfork child shares our memory, so it can neither fork a relay nor touch
 * our tables; its hooks left them alone.  Whatever number it put a wrapped
 * socket on (dup2 onto 0 and 1 included), that socket does not go along:
 * every descriptor is matched by inode, without malloc.
 */
static void
vfork_drop_wrapped(void)
{
	char buf[4096];
	struct inode_hit h;
	struct stat st;
	long n, off;
	int dir, fd;

	if ((dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += *(unsigned short *)(buf + off + 16)) {
			const char *name = buf + off + 19;

			if (name[0] < '0' || name[0] > '9' || (fd = atoi(name)) == dir ||
			    fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) || cloexec(fd))
				continue;
			h.ino = st.st_ino;
			h.hit = 0;
			fdtable_foreach(match_inode, &h);
			if (h.hit)
				syscall(SYS_close, fd);
		}
	syscall(SYS_close, dir);
}

/* ---- the environment of the new image ---- */

/* 1 for one of the variables describing a session's peer (engine/peerenv.h). */
static int
peer_var(const char *e)
{
	return strncmp(e, PEERENV_PREFIX, strlen(PEERENV_PREFIX)) == 0 ||
	    strncmp(e, PEERENV_RULE "=", strlen(PEERENV_RULE) + 1) == 0;
}

static int
peer_vars_in(char *const envp[])
{
	size_t i;

	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (peer_var(envp[i]))
			return 1;
	return 0;
}

/*
 * envp with some variables set (a NULL key: vals[j] is new, nothing to
 * replace) and, with drop_peer, every peer variable of envp left out: the
 * block's first slot counts the strings we allocated, which come first
 * (relay_env_free).  NULL if out of memory.
 */
static char **
env_with(char *const envp[], const char **keys, char **vals, int nk, int drop_peer)
{
	size_t i, n, k = 0, klen;
	char **block, **env;
	int j, skip;

	for (n = 0; envp != NULL && envp[n] != NULL; n++)
		;
	if ((block = calloc(n + (size_t)nk + 2, sizeof(*block))) == NULL)
		return NULL;
	env = block + 1;
	for (j = 0; j < nk; j++)
		if (vals[j] != NULL)
			env[k++] = vals[j];
	block[0] = (char *)(uintptr_t)k;
	for (i = 0; i < n; i++) {
		for (skip = drop_peer && peer_var(envp[i]), j = 0; j < nk && !skip; j++) {
			if (keys[j] == NULL)
				continue;
			klen = strlen(keys[j]);
			skip = vals[j] != NULL && strncmp(envp[i], keys[j], klen) == 0 &&
			    envp[i][klen] == '=';
		}
		if (!skip)
			env[k++] = envp[i];
	}
	return env;
}

/* The first slot of an env_without_peer block: on the caller's stack, nothing to free. */
#define ENV_ON_STACK	((char *)UINTPTR_MAX)

size_t
relay_exec_room(char *const envp[])
{
	size_t n;

	if (!forkstate_in_vfork_child() || !peer_vars_in(envp))
		return 1;
	for (n = 0; envp[n] != NULL && n + 2 <= RELAY_ROOM_MAX; n++)
		;
	return n + 2 <= RELAY_ROOM_MAX ? n + 2 : 1;
}

/*
 * envp without its peer variables, in a vfork child: no malloc there (the
 * parent's heap and locks) and nothing it maps would be unmapped after the
 * exec, so the copy goes in room, relay_exec_room(envp) slots of the
 * caller's stack.  NULL with E2BIG when they are too few (a giant envp):
 * the exec fails rather than pass the variables on.
 */
static char **
env_without_peer(char *const envp[], char **room, size_t nroom)
{
	size_t i, k = 0;

	for (i = 0; envp[i] != NULL; i++)
		;
	if (i + 2 > nroom) {
		errno = E2BIG;
		return NULL;
	}
	room[0] = ENV_ON_STACK;
	for (i = 0; envp[i] != NULL; i++)
		if (!peer_var(envp[i]))
			room[1 + k++] = envp[i];
	room[1 + k] = NULL;
	return room + 1;
}

static const char *
env_get(char *const envp[], const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], key, klen) == 0 && envp[i][klen] == '=')
			return envp[i] + klen + 1;
	return NULL;
}

static char *
strjoin(const char *a, const char *b, const char *c, const char *d)
{
	size_t len = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
	char *p = malloc(len);

	if (p != NULL)
		snprintf(p, len, "%s%s%s%s", a, b, c, d);
	return p;
}

/*
 * A wrapped listening socket that survives exec is safe only in an image
 * that loads us: put the library and the config back if a daemon's clean
 * environment dropped them.  (A setuid image still drops LD_PRELOAD.)
 */
static void
env_for_listeners(char *const envp[], char **vals)
{
	const char *pre = env_get(envp, "LD_PRELOAD"), *cfg = env_get(envp, "MTLSSHIM_CONFIG");
	const char *path = shim_config()->path;
	Dl_info dl;

	if (dladdr((void *)relay_before_exec, &dl) == 0 || dl.dli_fname == NULL)
		return;
	if (pre == NULL || strstr(pre, dl.dli_fname) == NULL)
		vals[1] = strjoin("LD_PRELOAD=", dl.dli_fname, pre ? ":" : "", pre ? pre : "");
	if (cfg == NULL || strcmp(cfg, path) != 0)
		vals[2] = strjoin("MTLSSHIM_CONFIG=", path, "", "");
}

/* ---- before exec ---- */

struct survivors {
	int	listeners;
};

static void
find_listeners(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_LISTENER && !cloexec(fd))
		((struct survivors *)arg)->listeners = 1;
}

/*
 * A session this process owns goes to a relay: it made it (forks since do
 * not matter), or used or renamed it since the fork it came through
 * (inetd's dup2 onto 0 and 1).  One it merely inherited belongs to the
 * process that forked us (a helper exec'd by a server must not read the
 * server's connection): its fd just closes.
 */
static int
owned(struct session *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = !s->inherited || s->used || __atomic_load_n(&s->claimed, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * Where the new image's MTLSSHIM_PEER_* come from: its standard input, else
 * its standard output (inetd, tcpserver and socat's nofork put the same on both;
 * a program that puts two connections there gets stdin's; one closed on exec
 * does not count, the new image will not hold it), if that is a session relayed here (*peer, its index in nm) or the pair end of a relay
 * this process made before (*handed, its inode; the strings copied into
 * pv).  Returns how many strings pv holds: 0 for none, -1 for ENOMEM.
 */
static int
peer_pick(const struct names *nm, const int *own, char **pv, ssize_t *peer,
    unsigned long *handed)
{
	int fd, n;
	size_t i;

	*peer = -1;
	*handed = 0;
	for (fd = 0; fd <= 1; fd++) {
		if (cloexec(fd))
			continue;	/* the new image will not hold it */
		for (i = 0; i < nm->n; i++)
			if (nm->fd[i] == fd) {
				if (!own[i])
					return 0;	/* it just closes */
				*peer = (ssize_t)i;
				return peerenv_build((struct session *)nm->obj[i], pv, PEERENV_MAX);
			}
		if ((n = relayed_peer_vars(fd, pv, PEERENV_MAX, handed)) != 0)
			return n;
		*handed = 0;
	}
	return 0;
}

/*
 * 1 if descriptor 0 or 1, open across exec, is still the socket the peer
 * variables this image came with describe: they may go on to the next.
 */
static int
peer_stays(void)
{
	return (relayed_is_peer(0) && !cloexec(0)) || (relayed_is_peer(1) && !cloexec(1));
}

/*
 * RELAYED_ENV for the new image: the one it came with, then the relays made
 * here.  Without keep_mark, the old entries lose their mark: the peer
 * variables were dropped or now describe another socket.  0, or -1 for ENOMEM.
 */
static int
env_relayed(char *const envp[], const char *note, int keep_mark, char **val)
{
	const char *old = env_get(envp, RELAYED_ENV);
	char *copy = NULL;

	if (note[0] == '\0' && (keep_mark || old == NULL || strstr(old, "/P") == NULL))
		return 0;	/* unchanged */
	if (old != NULL && !keep_mark) {
		if ((copy = strdup(old)) == NULL)
			return -1;
		relayed_unmark(copy);
		old = copy;
	}
	*val = strjoin(RELAYED_ENV "=", old ? old : "", old && *old && *note ? "," : "", note);
	free(copy);
	return *val == NULL ? -1 : 0;
}

char **
relay_before_exec(char *const envp[], char **room, size_t nroom)
{
	static const char *keys[3 + PEERENV_MAX] = { RELAYED_ENV, "LD_PRELOAD", "MTLSSHIM_CONFIG" };
	struct names nm = { 0 };
	struct survivors sv = { 0 };
	struct stat st;
	char note[2 * RELAYED_MAX * RELAYED_NOTE + 1] = "", **env = (char **)envp;
	char *vals[3 + PEERENV_MAX] = { 0 }, **pv = vals + 3;
	int saved = errno, r = 0, *fds = NULL, *own, keep_stderr, j, npv = 0, drop_peer;
	int had_peer = peer_vars_in(envp);
	unsigned long handed = 0;
	ssize_t peer = -1;
	size_t i, k, m, before;

	/*
	 * Without a config no session exists here.  A vfork child closes the
	 * ones it has: 0 and 1 hold none then, and the peer variables go on
	 * only with the socket they came with.
	 */
	if (shim_config() == NULL)
		return env;
	if (forkstate_in_vfork_child()) {
		vfork_drop_wrapped();
		if (had_peer && !peer_stays() && (env = env_without_peer(envp, room, nroom)) == NULL)
			return NULL;
		errno = saved;
		return env;
	}
	fdtable_foreach(collect_one, &nm);
	fdtable_foreach(find_listeners, &sv);
	if (nm.n == 0 && !nm.failed && !sv.listeners && relayed_handed() == 0 &&
	    (!had_peer || peer_stays())) {
		names_free(&nm);
		errno = saved;
		return env;
	}
	if (nm.failed || (fds = malloc((nm.n + 1) * sizeof(*fds))) == NULL ||
	    (own = calloc(nm.n + 1, sizeof(*own))) == NULL) {
		if (!nm.failed)
			free(fds);
		names_free(&nm);
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * Decided before the first relay forks: that fork marks every session
	 * forked, and may leave another session's pair on fd 2.
	 */
	keep_stderr = fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode);
	for (i = 0; i < nm.n; i++)
		own[i] = owned((struct session *)nm.obj[i]);
	/* Asked before anything is relayed, so that running out of memory stops the exec whole. */
	if ((npv = peer_pick(&nm, own, pv, &peer, &handed)) == -1) {
		r = -1;
		npv = 0;
	}
	for (i = 0; i < nm.n && r == 0; i++) {
		for (k = 0; k < i && nm.obj[k] != nm.obj[i]; k++)
			;
		if (k < i)
			continue;	/* another name of a session already handled */
		for (m = 0, k = i; k < nm.n; k++)
			if (nm.obj[k] == nm.obj[i])
				fds[m++] = nm.fd[k];
		before = strlen(note);
		if (own[i])
			r = relay_session((struct session *)nm.obj[i], fds, m, keep_stderr,
			    note, sizeof(note), "across exec");
		else
			for (k = 0; k < m; k++) {
				fdforget_one(fds[k], 1);
				syscall(SYS_close, fds[k]);
			}
		if (r == 0 && npv > 0 && peer >= 0 && nm.obj[i] == nm.obj[peer] &&
		    strlen(note) > before)
			relayed_mark_peer(note, sizeof(note));
	}
	if (r == -1)
		saved = errno;
	free(fds);
	free(own);
	names_free(&nm);
	if (r == -1)
		goto fail;
	relayed_handed_notes(note, sizeof(note), npv > 0 ? handed : 0);
	/*
	 * The peer variables go on only with the session they describe: new ones
	 * for a session relayed onto 0 or 1 here; the ones this image came with
	 * while 0 or 1 is still their socket; else none, whoever set them.
	 */
	drop_peer = npv > 0 || (had_peer && !peer_stays());
	if (env_relayed(envp, note, !drop_peer, &vals[0]) == -1) {
		saved = ENOMEM;
		goto fail;
	}
	if (sv.listeners)
		env_for_listeners(envp, vals);
	for (j = 0; j < 3 + npv && !vals[j]; j++)
		;
	if ((j < 3 + npv || drop_peer) &&
	    (env = env_with(envp, keys, vals, 3 + npv, drop_peer)) == NULL) {
		saved = ENOMEM;
		goto fail;
	}
	errno = saved;
	return env;
 fail:
	for (j = 0; j < 3 + PEERENV_MAX; j++)
		free(vals[j]);
	errno = saved;
	return NULL;
}

void
relay_env_free(char **env, char *const envp[])
{
	uintptr_t i, owned_n;
	char **block;

	if (env == NULL || env == (char **)envp)
		return;
	block = env - 1;
	if (block[0] == ENV_ON_STACK)
		return;
	owned_n = (uintptr_t)block[0];
	for (i = 0; i < owned_n; i++)
		free(env[i]);
	free(block);
}

/* ---- while the program runs on ---- */

/*
 * stdio and descriptor passing reach a socket through glibc's own __read
 * and __write, or from another process: neither sees our hooks.  The session
 * goes to a relay as for exec, and every name of it here becomes one end of
 * the relay's socket pair, so the bytes are plaintext only on the pair.
 * Epoll sets that watched the socket watch the pair instead, with the
 * program's own events and data.
 */
int
relay_handover(struct session *s, const char *why)
{
	struct names nm = { .all = 1, .only = &s->hdr };
	struct epollset_saved *regs = NULL;
	char note[RELAYED_NOTE + 1] = "", peer[64], *pv[PEERENV_MAX];
	struct stat st;
	int r = -1, e = ENOMEM, saved = errno, keep_stderr, nregs = 0, *at = NULL, busy, npv = 0;
	size_t i;

	if (forkstate_in_vfork_child()) {
		errno = EINVAL;
		return -1;
	}
	/* A thread blocked on it would find its descriptor swapped under it. */
	pthread_mutex_lock(&s->lock);
	busy = s->waiters > 0;
	pthread_mutex_unlock(&s->lock);
	if (busy) {
		e = EBUSY;
		log_error("rule=%s peer=%s: cannot hand the connection to a relay (%s): "
		    "another thread is waiting on it", s->rule->name,
		    session_peerstr(s, peer, sizeof(peer)), why);
		goto out;
	}
	fdtable_foreach(collect_one, &nm);
	if (nm.failed || (at = calloc(nm.n + 1, sizeof(*at))) == NULL)
		goto out;
	if (nm.n == 0) {
		r = 0;
		goto out;
	}
	for (i = 0; i < nm.n; i++)
		nregs += epollset_save(nm.fd[i], NULL, 0);
	if (nregs > 0 && (regs = calloc((size_t)nregs, sizeof(*regs))) == NULL)
		goto out;
	for (nregs = 0, i = 0; i < nm.n; i++) {
		at[i] = nregs;
		nregs += epollset_save(nm.fd[i], regs + nregs, INT32_MAX);
	}
	at[nm.n] = nregs;
	keep_stderr = fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode);
	/* For an image exec'd later with the pair on 0 or 1 (inetd's dup2 before execv). */
	if ((npv = peerenv_build(s, pv, PEERENV_MAX)) == -1) {
		npv = 0;
		r = -1;
		goto out;
	}
	if ((r = relay_session(s, nm.fd, nm.n, keep_stderr, note, sizeof(note), why)) == -1) {
		e = errno;
		log_error("rule=%s peer=%s: cannot hand the connection to a relay (%s): %s",
		    s->rule->name, session_peerstr(s, peer, sizeof(peer)), why, strerror(e));
		goto out;
	}
	relayed_add(note, pv, npv);
	npv = 0;
	for (i = 0; i < nm.n; i++)
		epollset_restore(nm.fd[i], regs + at[i], at[i + 1] - at[i]);
 out:
	while (npv > 0)
		free(pv[--npv]);
	free(regs);
	free(at);
	names_free(&nm);
	errno = r == -1 ? e : saved;
	return r;
}

void
relay_foreach_passed(const struct msghdr *msg, int (*fn)(int, void *), void *arg)
{
	struct cmsghdr *c;
	const char *end;
	const int *fds;
	size_t i, n;

	if (msg == NULL || msg->msg_control == NULL || msg->msg_controllen < sizeof(*c))
		return;
	end = (const char *)msg->msg_control + msg->msg_controllen;
	for (c = CMSG_FIRSTHDR((struct msghdr *)msg); c != NULL;
	    c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0) || (const char *)CMSG_DATA(c) > end)
			continue;
		fds = (const int *)CMSG_DATA(c);
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		/* The kernel refuses a header that runs past the buffer; we only read within. */
		if (n > (size_t)(end - (const char *)fds) / sizeof(int))
			n = (size_t)(end - (const char *)fds) / sizeof(int);
		for (i = 0; i < n; i++)
			if (fn(fds[i], arg) == -1)
				return;
	}
}

static int
pass_one(int fd, void *arg)
{
	struct fdobj *o;
	int *r = arg;

	if (!fdtable_known(fd) || (o = fdtable_get(fd)) == NULL)
		return 0;
	if (o->kind == FD_SESSION)
		*r = relay_handover((struct session *)o, "passed to another process");
	fdobj_put(o);
	return *r;
}

int
relay_before_pass(const struct msghdr *msg)
{
	int r = 0;

	relay_foreach_passed(msg, pass_one, &r);
	return r;
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
	struct fdobj *o;
	int saved = errno;
	size_t i;

	if (sp == NULL)
		return;
	/* Only numbers that still name the same session: another thread may have reused one. */
	for (i = 0; i < sp->nm.n; i++) {
		if ((o = fdtable_get(sp->nm.fd[i])) == sp->nm.obj[i])
			REAL(fcntl)(sp->nm.fd[i], F_SETFD, 0);
		if (o != NULL)
			fdobj_put(o);
	}
	names_free(&sp->nm);
	free(sp);
	errno = saved;
}

/*
 * The caller runs posix_spawn, so this may allocate: envp goes on as it is
 * only to a child that holds the peer's socket on 0 or 1 (spawnfa.c).
 */
char **
relay_spawn_env(const void *fa, char *const envp[])
{
	static const char *keys[1] = { RELAYED_ENV };
	char *vals[1] = { NULL }, **env;

	if (shim_config() == NULL || !peer_vars_in(envp) || spawnfa_keeps_peer(fa))
		return (char **)envp;
	if (env_relayed(envp, "", 0, &vals[0]) == -1 ||
	    (env = env_with(envp, keys, vals, 1, 1)) == NULL) {
		free(vals[0]);
		errno = ENOMEM;
		return NULL;
	}
	return env;
}

/*
 * File actions that dup2 a wrapped socket would give glibc's child a TLS
 * socket it cannot speak, out of our reach: such a spawn is refused.
 */
#define SPAWN_MARKS	64
static const void	*spawn_marked[SPAWN_MARKS];
static pthread_mutex_t	 spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 spawn_overflow;

void
relay_spawn_mark(const void *fa, int fd)
{
	struct fdobj *o = fdtable_get(fd);
	int i, free_slot = -1;

	if (o == NULL)
		return;
	if (o->kind == FD_SESSION || o->kind == FD_LISTENER) {
		plock(&spawn_lock);
		for (i = 0; i < SPAWN_MARKS && spawn_marked[i] != fa; i++)
			if (spawn_marked[i] == NULL && free_slot < 0)
				free_slot = i;
		if (i == SPAWN_MARKS && free_slot >= 0)
			spawn_marked[free_slot] = fa;
		else if (i == SPAWN_MARKS)
			spawn_overflow = 1;	/* cannot tell any more: refuse them all */
		pthread_mutex_unlock(&spawn_lock);
	}
	fdobj_put(o);
}

void
relay_spawn_unmark(const void *fa)
{
	int i;

	plock(&spawn_lock);
	for (i = 0; i < SPAWN_MARKS; i++)
		if (spawn_marked[i] == fa)
			spawn_marked[i] = NULL;
	pthread_mutex_unlock(&spawn_lock);
}

int
relay_spawn_refused(const void *fa)
{
	int i, r = 0;

	if (fa == NULL)
		return 0;
	plock(&spawn_lock);
	r = spawn_overflow;
	for (i = 0; i < SPAWN_MARKS && !r; i++)
		r = spawn_marked[i] == fa;
	pthread_mutex_unlock(&spawn_lock);
	if (r)
		log_error("posix_spawn refused: its file actions hand a TLS socket to the "
		    "child, which cannot speak TLS; fork and exec instead");
	return r;
}

void
relay_atfork_child(void)
{
	pthread_mutex_init(&spawn_lock, NULL);
}
