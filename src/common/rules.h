/* rules.h: which rule, if any, a socket address matches; pure, no I/O. */
#ifndef MTLSSHIM_RULES_H
#define MTLSSHIM_RULES_H

#include <sys/socket.h>

struct config;
struct rule;

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network byte order, masked */
	int		prefix;		/* bits */
};

/* "10.0.0.5", "10.0.0.0/8", "::1", "fd00::/8". Returns 0, or -1 if malformed. */
int	cidr_parse(const char *s, struct cidr *out);
/* IPv4-mapped IPv6 addresses match IPv4 networks. */
int	cidr_match(const struct cidr *, const struct sockaddr *);

/* Port of an AF_INET/AF_INET6 address, or -1. */
int	sockaddr_port(const struct sockaddr *);
/* "1.2.3.4:80" / "[::1]:80" into buf; returns buf. */
char	*sockaddr_str(const struct sockaddr *, char *buf, size_t len);

/* The first server rule whose port is local's port, or NULL. */
const struct rule *rules_match_server(const struct config *, const struct sockaddr *local);
/* The first client rule whose port (and host, if any) matches remote, or NULL. */
const struct rule *rules_match_client(const struct config *, const struct sockaddr *remote);

#endif
