/* shim.c: the process-wide state: the config and a TLS context per rule, set up once before main(). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "engine/engine.h"
#include "preload/listener.h"
#include "preload/startcache.h"
#include "common/log.h"
#include "preload/offload.h"
#include "preload/readiness.h"
#include "preload/relayed.h"
#include "common/real.h"
#include "common/rules.h"
#include "engine/session.h"
#include "preload/shim.h"
#include "engine/tlsctx.h"

#define EX_CONFIG 78

static pthread_once_t	 shim_once = PTHREAD_ONCE_INIT;
static struct config	*shim_cfg;
static pid_t		 shim_pid;	/* as fork handlers saw it; vfork runs none */
static struct tlsholder	*shim_holders;
static int		 shim_preread_due;	/* root started from the cache; see shim_keep_access */
static pthread_mutex_t	 shim_preread_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 shim_fork_swept;	/* the fork handlers hold the sweep's lock */
static __thread int	 shim_relay_forking;	/* this thread forks a relay: see shim_fork_relay */

/* Fail closed: one line naming the file and the problem, then exit before main(). */
static void
shim_die(const char *msg)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "mtlsshim: %s\n", msg);

	syscall(SYS_write, 2, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
	_exit(EX_CONFIG);
}

static void
shim_atfork_child_one(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_SESSION)
		session_mark_forked((struct session *)o, 1);
	else if (o->kind == FD_LISTENER)
		listener_atfork_child((struct listener *)o);
}

static void
shim_atfork_parent_one(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_SESSION)
		session_mark_forked((struct session *)o, 0);
}

/* Threads do not survive fork: locks held by them are reset in the child. */
static void
shim_atfork_child(void)
{
	size_t i;

	for (i = 0; shim_cfg && i < shim_cfg->nrules; i++) {
		pthread_mutex_init(&shim_holders[i].lock, NULL);
		if (engine_loaded())
			tlsholder_atfork_child(&shim_holders[i]);
		else
			shim_holders[i].forked = 1;
	}
	if (shim_fork_swept)
		session_sweep_atfork(SWEEP_CHILD);
	shim_pid = (pid_t)syscall(SYS_getpid);
	pthread_mutex_init(&shim_preread_lock, NULL);
	relayed_atfork_child();
	offload_atfork_child();
	engine_atfork_child();
	fdtable_atfork_child();
	epollset_atfork_child();
	fdtable_foreach(shim_atfork_child_one, NULL);
}

/* Lock order as everywhere: the epoll registry, the fd table, then the engine's sweep. */
static void
shim_atfork_prepare(void)
{
	epollset_atfork_prepare();
	fdtable_atfork_prepare();
	if ((shim_fork_swept = engine_loaded()))
		session_sweep_atfork(SWEEP_PREPARE);
}

static void
shim_atfork_parent(void)
{
	if (shim_fork_swept)
		session_sweep_atfork(SWEEP_PARENT);
	fdtable_atfork_parent();
	epollset_atfork_parent();
	/* A relay's fork copies no session to a process that will use it as the program. */
	if (!shim_relay_forking)
		fdtable_foreach(shim_atfork_parent_one, NULL);
}

pid_t
shim_fork_relay(void)
{
	pid_t pid;

	shim_relay_forking = 1;
	pid = fork();
	shim_relay_forking = 0;
	return pid;
}

/* fd 2 is a connection of ours, or the end of a relay's pair: no place for log lines. */
static int
stderr_is_connection(void)
{
	return fdtable_known(2) || relayed_known(2);
}

static void
warn_key_mode(const struct rule *r)
{
	struct stat st;

	if (stat(r->key_file, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("rule=%s: key_file %s is readable by every user", r->name,
		    r->key_file);
}

/*
 * Root that started from the cache may chroot or give up its ids before its
 * first connection (nginx workers, haproxy, postfix): shim_keep_access loads
 * the engine and reads the files of contexts not yet built before the first
 * such call, so that only the parsing waits.
 */
static void
holder_preread(struct tlsholder *h)
{
	const char *path;
	int j;

	plock(&h->lock);
	for (j = 0; h->ctx == NULL && j < TLSCTX_FILES; j++)
		if ((path = tlsctx_path(h->rule, j)) != NULL && h->pre[j].buf == NULL &&
		    filedata_read(path, &h->pre[j]) == -1)
			log_error("rule=%s: cannot read %s before losing access to it: %s",
			    h->rule->name, path, strerror(errno));
	pthread_mutex_unlock(&h->lock);
}

void
shim_keep_access(void)
{
	char err[1024];
	size_t i;
	int saved = errno;

	shim_config();
	if (!__atomic_load_n(&shim_preread_due, __ATOMIC_ACQUIRE) || shim_in_vfork_child()) {
		errno = saved;
		return;
	}
	plock(&shim_preread_lock);
	if (shim_preread_due) {
		if (engine_load(err, sizeof(err)) == -1)
			log_error("%s; matched connections will be refused", err);
		else
			log_debug("engine loaded before losing access to it");
		for (i = 0; i < shim_cfg->nrules; i++)
			holder_preread(&shim_holders[i]);
		__atomic_store_n(&shim_preread_due, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&shim_preread_lock);
	errno = saved;
}

static void
shim_init(void)
{
	char err[1024];
	time_t recheck, t;
	size_t i;
	int lazy, cacheable;

	real_init();
	if ((shim_cfg = config_load(config_path(), err, sizeof(err))) == NULL)
		shim_die(err);
	log_setup(shim_cfg->log_level, shim_cfg->log_file);
	log_set_stderr_check(stderr_is_connection);
	engine_locate();
	if ((shim_holders = calloc(shim_cfg->nrules + 1, sizeof(*shim_holders))) == NULL)
		shim_die("out of memory");
	for (i = 0; i < shim_cfg->nrules; i++) {
		tlsholder_setup(&shim_holders[i], shim_cfg, &shim_cfg->rules[i]);
		warn_key_mode(&shim_cfg->rules[i]);
	}
	/*
	 * Files that passed before, unchanged: the contexts are built at the
	 * first matched connection.  A setuid program neither reads nor writes
	 * the cache.
	 */
	cacheable = getuid() == geteuid();
	if ((lazy = cacheable && startcache_hit(shim_cfg)) != 0 && geteuid() == 0)
		shim_preread_due = 1;
	if (lazy)
		log_debug("%s: files unchanged since checked; contexts built on first use",
		    shim_cfg->path);
	else if (shim_cfg->nrules > 0) {
		if (engine_load(err, sizeof(err)) == -1)
			shim_die(err);
		for (i = 0; i < shim_cfg->nrules; i++)
			if (tlsholder_load(&shim_holders[i], err, sizeof(err)) == -1)
				shim_die(err);
		if (cacheable) {
			recheck = tlsholder_recheck_after(&shim_holders[0]);
			for (i = 1; i < shim_cfg->nrules; i++)
				if ((t = tlsholder_recheck_after(&shim_holders[i])) < recheck)
					recheck = t;
			startcache_store(shim_cfg, recheck);
		}
	}
	shim_pid = (pid_t)syscall(SYS_getpid);
	pthread_atfork(shim_atfork_prepare, shim_atfork_parent, shim_atfork_child);
	log_debug("loaded %s: %zu rules", shim_cfg->path, shim_cfg->nrules);
}

const struct config *
shim_config(void)
{
	int saved = errno;

	pthread_once(&shim_once, shim_init);
	errno = saved;
	return shim_cfg;
}

__attribute__((constructor)) static void
shim_constructor(void)
{
	shim_config();
}

int
shim_in_vfork_child(void)
{
	return shim_pid != 0 && (pid_t)syscall(SYS_getpid) != shim_pid;
}

struct tlsholder *
shim_holder(const struct rule *r)
{
	return &shim_holders[r - shim_cfg->rules];
}

static int
is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t len = sizeof(type);

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(proto);
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == -1)
		return 0;
	return proto == IPPROTO_TCP;
}

struct fdobj *
shim_listener_for(int fd)
{
	const struct config *c = shim_config();
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct rule *r;
	struct listener *l;
	struct fdobj *o;
	int acc = 0, saved = errno;
	socklen_t alen = sizeof(acc);

	if (c->nrules == 0)
		return NULL;
	/* The kernel's own address: a TCP socket is never one a relay stands in for. */
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == -1 || !acc ||
	    !is_tcp(fd) || REAL(getsockname)(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (r = rules_match_server(c, (struct sockaddr *)&ss)) == NULL) {
		errno = saved;
		return NULL;
	}
	if ((l = listener_new(fd, r, shim_holder(r))) == NULL) {
		errno = saved;
		return NULL;
	}
	/* Another thread may have got there first: use its listener. */
	fdobj_hold(&l->hdr);
	o = fdtable_publish(fd, &l->hdr);
	fdobj_put(&l->hdr);
	if (o == &l->hdr) {
		log_debug("rule=%s: listening socket fd %d", r->name, fd);
		tlsholder_warm(shim_holder(r));
	}
	errno = saved;
	return o;
}

const struct rule *
shim_client_rule(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct config *c = shim_config();
	const struct rule *r;
	int saved = errno;

	if (c->nrules == 0 || sa == NULL || len < sizeof(sa_family_t) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return NULL;
	if ((r = rules_match_client(c, sa)) == NULL || !is_tcp(fd))
		r = NULL;
	errno = saved;
	return r;
}

/*
 * A signal that interrupts our wait would have been restarted inside the
 * real call if its handler has SA_RESTART.  We cannot tell which signal it
 * was, so we restart only when every caught signal asks for it.
 */
int
signals_restart(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &sa) == -1)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return 0;
	}
	return 1;
}
