/* claim.c: which sockets become ours: a listening or connecting TCP socket under a rule. */
#include <errno.h>
#include <netinet/in.h>

#include "common/log.h"
#include "common/real.h"
#include "common/rules.h"
#include "engine/session.h"
#include "engine/tlsctx.h"
#include "preload/claim.h"
#include "preload/listener.h"
#include "preload/shim.h"

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
claim_listener(int fd)
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
	if (o == &l->hdr) {
		log_debug("rule=%s: listening socket fd %d", r->name, fd);
		if (tlsholder_warm(shim_holder(r)) != NULL)
			listener_start(l);
	}
	fdobj_put(&l->hdr);
	errno = saved;
	return o;
}

const struct rule *
claim_client_rule(int fd, const struct sockaddr *sa, socklen_t len)
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
