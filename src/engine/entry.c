/* entry.c: inside libmtlsshim-tls.so: the preload's services as plain calls, and the entry point. */
#include <errno.h>
#include <stdarg.h>

#include <openssl/ssl.h>

#include "engine/engine.h"
#include "engine/peerenv.h"
#include "common/log.h"
#include "common/rules.h"
#include "common/stats.h"
#include "engine/session.h"
#include "engine/staple_fetch.h"
#include "preload/signals.h"
#include "engine/tlsctx.h"

static const struct engine_front *front;

#define REAL_DEFINE(ret, name, args) ret (*real_##name) args;
REAL_FUNCS(REAL_DEFINE)
#undef REAL_DEFINE

/* The preload resolved them before it loaded us; dlsym from here would find the wrong "next". */
void
real_init(void)
{
#define REAL_COPY(ret, name, args) real_##name = front->real.name;
	REAL_FUNCS(REAL_COPY)
#undef REAL_COPY
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	front->log_vmsg(level, fmt, ap);
	va_end(ap);
}

int
log_enabled(enum log_level level)
{
	return front->log_enabled(level);
}

int
fdtable_clear_if(int fd, struct fdobj *o)
{
	return front->fdtable_clear_if(fd, o);
}

char *
sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	return front->sockaddr_str(sa, buf, len);
}

int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	return front->cidr_match(c, sa);
}

int
rule_has_allow(const struct rule *r)
{
	return front->rule_has_allow(r);
}

int
signals_restart(void)
{
	return front->signals_restart();
}

struct stats_area *
stats_shared(void)
{
	return front->stats_shared();
}

struct stats_proc *
stats_self(void)
{
	return front->stats_self();
}

__attribute__((visibility("default"))) int
mtlsshim_engine_open(const struct engine_front *f, struct engine_ops *ops)
{
	if (f->version != ENGINE_VERSION || f->abi != ENGINE_ABI)
		return ENGINE_EVERSION;
	front = f;
	real_init();
	/*
	 * openssl.cnf (system policy, SECLEVEL, providers) now, while it is
	 * still reachable: the first context may be built after a chroot.
	 */
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 || session_global_init() == -1)
		return ENGINE_EOPENSSL;
#define ENGINE_SET(ret, name, params, args)	ops->name = name;
#define ENGINE_VSET(name, params, args)		ops->name = name;
	ENGINE_FUNCS(ENGINE_SET, ENGINE_VSET, ENGINE_SET)
	return 0;
}
