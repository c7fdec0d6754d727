/* rules.c: which rule, if any, a socket address matches; pure, no I/O. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/rules.h"

int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	int bits, maxbits, i;
	long prefix;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return -1;
	memset(out, 0, sizeof(*out));
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else
		return -1;
	prefix = maxbits;
	if (slash) {
		if (*slash == '\0')
			return -1;
		prefix = strtol(slash, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > maxbits)
			return -1;
	}
	out->prefix = (int)prefix;
	/* Keep the network masked so matching compares bytes. */
	for (i = 0; i < 16; i++) {
		bits = out->prefix - i * 8;
		if (bits >= 8)
			continue;
		out->addr[i] &= bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
	}
	return 0;
}

static int
prefix_equal(const unsigned char *a, const unsigned char *net, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return (a[full] & (unsigned char)(0xff << (8 - rest))) == net[full];
}

int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;
	static const unsigned char mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return 0;
		return prefix_equal((const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr, c->addr, c->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	s6 = (const struct sockaddr_in6 *)sa;
	if (c->family == AF_INET6)
		return prefix_equal(s6->sin6_addr.s6_addr, c->addr, c->prefix);
	if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0)
		return prefix_equal(s6->sin6_addr.s6_addr + 12, c->addr, c->prefix);
	return 0;
}

int
sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

char *
sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof(host));
		snprintf(buf, len, "%s:%d", host, sockaddr_port(sa));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    host, sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, sockaddr_port(sa));
	} else
		snprintf(buf, len, "(family %d)", sa->sa_family);
	return buf;
}

static const struct rule *
rules_match(const struct config *c, enum rule_kind kind, const struct sockaddr *sa)
{
	int port = sockaddr_port(sa);
	size_t i;

	if (c == NULL || port < 0)
		return NULL;
	for (i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];
		if (r->kind != kind || r->port != port)
			continue;
		if (r->has_host && !cidr_match(&r->host, sa))
			continue;
		return r;
	}
	return NULL;
}

const struct rule *
rules_match_server(const struct config *c, const struct sockaddr *local)
{
	return rules_match(c, RULE_SERVER, local);
}

const struct rule *
rules_match_client(const struct config *c, const struct sockaddr *remote)
{
	return rules_match(c, RULE_CLIENT, remote);
}
