/* shim.c: the process-wide state: the config and a TLS context per rule, set up once before main(). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "common/log.h"
#include "common/real.h"
#include "engine/engine.h"
#include "engine/staple_fetch.h"
#include "engine/tlsctx.h"
#include "preload/fdtable.h"
#include "preload/forkstate.h"
#include "preload/relayed.h"
#include "preload/shim.h"
#include "preload/startcache.h"
#include "preload/statslink.h"

#define EX_CONFIG 78

static pthread_once_t	 shim_once = PTHREAD_ONCE_INIT;
static struct config	*shim_cfg;
static struct tlsholder	*shim_holders;
static int		 shim_preread_due;	/* root started from the cache; see shim_keep_access */
static pthread_mutex_t	 shim_preread_lock = PTHREAD_MUTEX_INITIALIZER;

/* Fail closed: one line naming the file and the problem, then exit before main(). */
static void
shim_die(const char *msg)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "mtlsshim: %s\n", msg);

	syscall(SYS_write, 2, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
	_exit(EX_CONFIG);
}

/* Threads do not survive fork: locks held by them are reset in the child. */
void
shim_atfork_child(void)
{
	size_t i;

	for (i = 0; shim_cfg && i < shim_cfg->nrules; i++) {
		pthread_mutex_init(&shim_holders[i].lock, NULL);
		if (engine_loaded()) {
			tlsholder_atfork_child(&shim_holders[i]);
			tlsholder_staple_atfork_child(&shim_holders[i]);
		} else
			shim_holders[i].forked = 1;
	}
	pthread_mutex_init(&shim_preread_lock, NULL);
}

/* fd 2 is a connection of ours, or the end of a relay's pair: no place for log lines. */
static int
stderr_is_connection(void)
{
	return fdtable_known(2) || relayed_known(2);
}

/* A secret's file (key, PIN, password) every user can read: said once, at start. */
static void
warn_readable(const struct rule *r, const char *opt, const char *path)
{
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("rule=%s: %s %s is readable by every user", r->name, opt, path);
}

static void
warn_key_mode(const struct rule *r)
{
	warn_readable(r, "key_file", r->key_in_token ? NULL : r->key_file);
	warn_readable(r, "pin_file", r->pin_file);
	warn_readable(r, "key_password_file", r->key_password_file);
}

/*
 * A token's login and a key's password are not files the start-up cache
 * can vouch for, nor something to leave until after the program dropped
 * its access: such keys are loaded before main() (but see "deferred").
 */
static int
needs_secret(const struct config *c)
{
	size_t i;

	for (i = 0; i < c->nrules; i++)
		if (c->rules[i].key_in_token || c->rules[i].key_password_file != NULL)
			return 1;
	return 0;
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
	if (!__atomic_load_n(&shim_preread_due, __ATOMIC_ACQUIRE) || forkstate_in_vfork_child()) {
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
	int lazy, cacheable, deferred, secret;

	real_init();
	if ((shim_cfg = config_load(config_path(), err, sizeof(err))) == NULL)
		shim_die(err);
	log_setup(shim_cfg->log_level, shim_cfg->log_file);
	log_set_stderr_check(stderr_is_connection);
	statslink_start(shim_cfg);
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
	secret = needs_secret(shim_cfg);
	cacheable = getuid() == geteuid() && !secret;
	/*
	 * An image exec'd holding relayed sessions (an inetd service, socat's
	 * EXEC) speaks plaintext to its relay and rarely opens a matched socket
	 * of its own; its parent logged in to the token already.  It logs in at
	 * its first matched connection, if it makes one: a service running as a
	 * user who cannot reach the token then still serves its connection.
	 */
	deferred = secret && getenv(RELAYED_ENV) != NULL;
	if ((lazy = deferred || (cacheable && startcache_hit(shim_cfg))) != 0 && geteuid() == 0)
		shim_preread_due = 1;
	if (deferred)
		log_debug("%s: exec'd with relayed sessions; keys loaded on first use",
		    shim_cfg->path);
	else if (lazy)
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
	/* The fork handlers (atfork.c) are registered by its constructor, after this. */
	forkstate_start();
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

struct tlsholder *
shim_holder(const struct rule *r)
{
	return &shim_holders[r - shim_cfg->rules];
}
