/* engine.h: the TLS engine (session, tlsctx, identity) as a library loaded when first needed. */
#ifndef MTLSSHIM_ENGINE_H
#define MTLSSHIM_ENGINE_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/config.h"
#include "common/real.h"

/*
 * Mapping libssl and libcrypto costs every process about 2 ms before
 * main(), whether or not it ever opens a matched socket.  So the preload
 * (hooks, fd table, config, rules, log) links no OpenSSL; the engine lives
 * in libmtlsshim-tls.so beside it and is loaded with dlopen at start-up
 * when the files must be checked, else at the first matched connection.
 * Its calls into the preload go through struct engine_front, so neither
 * library exports anything the program could collide with.
 */
#define ENGINE_LIBRARY	"libmtlsshim-tls.so"
#define ENGINE_VERSION	1
/* Both sides must agree on the shared structures; where both are complete. */
#define ENGINE_ABI	(sizeof(struct session) * 31 + sizeof(struct tlsholder) * 7 + \
			 sizeof(struct engine_front) * 3 + sizeof(struct engine_ops))

struct session;
struct tlsholder;
struct rule;
struct fdobj;
struct stats_area;
struct stats_proc;

/*
 * The engine's entry points: X(return type, name, parameters, arguments); V
 * for void ones; L for one that may come first and so loads the engine.  The
 * rest take a session or a holder, which only a loaded engine makes.
 */
#define ENGINE_FUNCS(X, V, L) \
	L(struct session *, session_new, (int fd, const struct rule *r, struct tlsholder *h, \
	    int is_server, const struct sockaddr *peer, socklen_t peerlen, int connecting), \
	    (fd, r, h, is_server, peer, peerlen, connecting)) \
	X(int, session_step, (struct session *s), (s)) \
	X(int, session_deadline_ms, (struct session *s), (s)) \
	X(int, session_wait_fd, (struct session *s), (s)) \
	X(int, session_due_ms, (struct session *s), (s)) \
	X(int, session_handshake_blocking, (struct session *s), (s)) \
	X(int, session_readable, (struct session *s), (s)) \
	X(int, session_readable_held, (struct session *s), (s)) \
	X(int, session_buffered, (struct session *s), (s)) \
	X(ssize_t, session_recv, (struct session *s, const struct iovec *iov, int iovcnt, \
	    int flags), (s, iov, iovcnt, flags)) \
	X(ssize_t, session_send, (struct session *s, const struct iovec *iov, int iovcnt, \
	    int flags), (s, iov, iovcnt, flags)) \
	X(int, session_shutdown_write, (struct session *s), (s)) \
	X(int, session_has_output, (struct session *s), (s)) \
	X(int, session_flush_output, (struct session *s), (s)) \
	X(int, session_close, (struct session *s), (s)) \
	V(session_await_close, (struct session *s), (s)) \
	X(int, session_nread, (struct session *s), (s)) \
	X(int, session_take_error, (struct session *s), (s)) \
	V(session_mark_forked, (struct session *s, int child), (s, child)) \
	X(const char *, session_peerstr, (struct session *s, char *buf, size_t len), \
	    (s, buf, len)) \
	X(int, peerenv_build, (struct session *s, char **vars, int max), (s, vars, max)) \
	V(session_fail_timeout, (struct session *s), (s)) \
	X(int, session_sweep_idle, (void), ()) \
	V(session_sweep_atfork, (int phase), (phase)) \
	X(int, tlsholder_load, (struct tlsholder *h, char *err, size_t errlen), (h, err, errlen)) \
	X(time_t, tlsholder_recheck_after, (struct tlsholder *h), (h)) \
	L(struct tlsholder *, tlsholder_warm, (struct tlsholder *h), (h)) \
	V(tlsholder_atfork_child, (struct tlsholder *h), (h)) \
	X(int, tlsholder_staple_step, (struct tlsholder *h, const void *owner, int *events, \
	    struct timespec *due), (h, owner, events, due)) \
	V(tlsholder_staple_atfork_child, (struct tlsholder *h), (h))

#define ENGINE_FIELD(ret, name, params, args)	ret (*name) params;
#define ENGINE_VFIELD(name, params, args)	void (*name) params;
struct engine_ops {
	ENGINE_FUNCS(ENGINE_FIELD, ENGINE_VFIELD, ENGINE_FIELD)
};

/* What the engine uses of the preload: its log, its real libc calls, its tables. */
struct engine_front {
	int		 version;
	size_t		 abi;
	void		(*log_vmsg)(enum log_level, const char *, va_list);
	int		(*log_enabled)(enum log_level);
	int		(*fdtable_clear_if)(int, struct fdobj *);
	char		*(*sockaddr_str)(const struct sockaddr *, char *, size_t);
	int		(*cidr_match)(const struct cidr *, const struct sockaddr *);
	int		(*rule_has_allow)(const struct rule *);
	int		(*signals_restart)(void);
	struct stats_area *(*stats_shared)(void);
	struct stats_proc *(*stats_self)(void);
#define ENGINE_REAL_FIELD(ret, name, args)	ret (*name) args;
	struct {
		REAL_FUNCS(ENGINE_REAL_FIELD)
	}		 real;
};

/* The engine library's one exported symbol; 0 on success, else ENGINE_E*. */
#define ENGINE_EVERSION	(-1)	/* another build */
#define ENGINE_EOPENSSL	(-2)	/* OpenSSL or its configuration (OPENSSL_CONF) failed */
typedef int	 engine_open_fn(const struct engine_front *, struct engine_ops *);
#define ENGINE_OPEN	"mtlsshim_engine_open"

/*
 * Loads the engine once (any thread); 0, or -1 with the reason logged and in
 * err.  Every engine call loads it too, so a call before a session exists may
 * fail: session_new then returns NULL with errno ECONNREFUSED.
 */
int	 engine_load(char *err, size_t errlen);
/* 1 once loaded: calls that take no session or holder made by it are safe. */
int	 engine_loaded(void);
/* Finds the engine beside the preload now, while the path still resolves. */
void	 engine_locate(void);
/* Its path (engine_locate first). */
const char *engine_file(void);
/* In a fork child: a thread loading the engine in the parent is gone. */
void	 engine_atfork_child(void);

#endif
