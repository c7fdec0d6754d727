/* engine_load.c: loads the TLS engine library beside the preload when first needed, and forwards to it. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "common/deadline.h"
#include "engine/engine.h"
#include "engine/peerenv.h"
#include "common/log.h"
#include "common/rules.h"
#include "common/stats.h"
#include "engine/session.h"
#include "engine/tlsctx.h"
#include "preload/fdtable.h"
#include "preload/signals.h"

static char			 engine_path[PATH_MAX];
static struct engine_ops	 ops;
static struct engine_front	 front;
static pthread_mutex_t		 engine_lock = PTHREAD_MUTEX_INITIALIZER;
static int			 engine_ok;
static char			 engine_err[PATH_MAX + 256];

/*
 * The preload's own directory, as the loader found it; a relative
 * LD_PRELOAD is made absolute now, before the program can chdir.
 */
void
engine_locate(void)
{
	char cwd[PATH_MAX] = "";
	const char *slash;
	Dl_info di;
	int saved = errno;

	if (dladdr((void *)(uintptr_t)engine_locate, &di) == 0 || di.dli_fname == NULL ||
	    (slash = strrchr(di.dli_fname, '/')) == NULL) {
		snprintf(engine_path, sizeof(engine_path), "%s", ENGINE_LIBRARY);
		errno = saved;
		return;
	}
	if (di.dli_fname[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	snprintf(engine_path, sizeof(engine_path), "%s%s%.*s/%s", cwd, cwd[0] ? "/" : "",
	    (int)(slash - di.dli_fname), di.dli_fname, ENGINE_LIBRARY);
	errno = saved;
}

const char *
engine_file(void)
{
	return engine_path[0] ? engine_path : NULL;
}

/* engine_lock held. */
static void
engine_open(void)
{
	engine_open_fn *open_fn;
	void *lib;
	int r;

	real_init();
#define ENGINE_REAL(ret, name, args) front.real.name = real_##name;
	REAL_FUNCS(ENGINE_REAL)
#undef ENGINE_REAL
	front.version = ENGINE_VERSION;
	front.abi = ENGINE_ABI;
	front.log_vmsg = log_vmsg;
	front.log_enabled = log_enabled;
	front.fdtable_clear_if = fdtable_clear_if;
	front.sockaddr_str = sockaddr_str;
	front.cidr_match = cidr_match;
	front.rule_has_allow = rule_has_allow;
	front.signals_restart = signals_restart;
	front.stats_shared = stats_shared;
	front.stats_self = stats_self;
	if (engine_path[0] == '\0')
		engine_locate();
	/* Never unloaded: sessions and OpenSSL's own state point into it. */
	if ((lib = dlopen(engine_path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) == NULL) {
		snprintf(engine_err, sizeof(engine_err), "cannot load the TLS engine: %s",
		    dlerror());
		return;
	}
	open_fn = (engine_open_fn *)(uintptr_t)dlsym(lib, ENGINE_OPEN);
	if (open_fn == NULL || (r = open_fn(&front, &ops)) == ENGINE_EVERSION) {
		snprintf(engine_err, sizeof(engine_err), "cannot load the TLS engine: %s "
		    "is not the one of this build of mtlsshim", engine_path);
		return;
	}
	if (r != 0) {
		snprintf(engine_err, sizeof(engine_err), "cannot set up OpenSSL%s%s",
		    getenv("OPENSSL_CONF") ? " with OPENSSL_CONF=" : "",
		    getenv("OPENSSL_CONF") ? getenv("OPENSSL_CONF") : "");
		return;
	}
	__atomic_store_n(&engine_ok, 1, __ATOMIC_RELEASE);
}

/*
 * A load that failed (EMFILE, ENOMEM at a first connection) is tried again,
 * at most once a second, rather than leaving the process without TLS.
 */
int
engine_load(char *err, size_t errlen)
{
	static time_t tried;
	int saved = errno, ok;

	if (engine_loaded())
		return 0;
	plock(&engine_lock);
	if (!engine_ok && (tried == 0 || tried != deadline_now_sec())) {
		engine_open();
		tried = deadline_now_sec();
	}
	if (!(ok = engine_ok))
		snprintf(err, errlen, "%s", engine_err);
	pthread_mutex_unlock(&engine_lock);
	errno = saved;
	return ok ? 0 : -1;
}

void
engine_atfork_child(void)
{
	pthread_mutex_init(&engine_lock, NULL);
}

int
engine_loaded(void)
{
	return __atomic_load_n(&engine_ok, __ATOMIC_ACQUIRE);
}

#define ENGINE_WRAP(ret, name, params, args) \
	ret name params { return ops.name args; }
#define ENGINE_VWRAP(name, params, args) \
	void name params { ops.name args; }
/* A first connection in a process that skipped the start-up checks. */
#define ENGINE_LWRAP(ret, name, params, args) \
	ret name params \
	{ \
		static time_t logged; \
		char err[sizeof(engine_err)]; \
		\
		if (engine_load(err, sizeof(err)) == -1) { \
			time_t now = deadline_now_sec(); \
			\
			if (__atomic_exchange_n(&logged, now, __ATOMIC_RELAXED) != now) \
				log_error("%s; refusing connections", err); \
			errno = ECONNREFUSED; \
			return NULL; \
		} \
		return ops.name args; \
	}
ENGINE_FUNCS(ENGINE_WRAP, ENGINE_VWRAP, ENGINE_LWRAP)
