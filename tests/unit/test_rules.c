/* test_rules.c: table-driven tests of cidr_parse/cidr_match, sockaddr helpers and rule matching. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "common/rules.h"

#include "check.h"

/* An address string with optional port into a sockaddr_storage (v4 or v6). */
static const struct sockaddr *addr(const char *ip, int port)
{
	static struct sockaddr_storage ss[8];
	static int next;
	struct sockaddr_storage *s = &ss[next++ % 8];

	memset(s, 0, sizeof *s);
	struct sockaddr_in *s4 = (struct sockaddr_in *)s;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)s;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	} else {
		fprintf(stderr, "test bug: bad address %s\n", ip);
		exit(2);
	}
	return (const struct sockaddr *)s;
}

static void test_cidr_parse(void)
{
	static const struct { const char *s; int ok, family, prefix; } t[] = {
		{ "127.0.0.1", 1, AF_INET, 32 },
		{ "10.0.0.0/8", 1, AF_INET, 8 },
		{ "0.0.0.0/0", 1, AF_INET, 0 },
		{ "192.168.1.7/32", 1, AF_INET, 32 },
		{ "172.16.0.0/12", 1, AF_INET, 12 },
		{ "::1", 1, AF_INET6, 128 },
		{ "::/0", 1, AF_INET6, 0 },
		{ "fd00::/8", 1, AF_INET6, 8 },
		{ "2001:db8::/32", 1, AF_INET6, 32 },
		{ "2001:db8::1/127", 1, AF_INET6, 127 },
		{ "", 0, 0, 0 },
		{ "localhost", 0, 0, 0 },
		{ "1.2.3", 0, 0, 0 },
		{ "256.1.1.1", 0, 0, 0 },
		{ "10.0.0.0/33", 0, 0, 0 },
		{ "10.0.0.0/-1", 0, 0, 0 },
		{ "10.0.0.0/", 0, 0, 0 },
		{ "10.0.0.0/8x", 0, 0, 0 },
		{ "10.0.0.0/8/8", 0, 0, 0 },
		{ "/8", 0, 0, 0 },
		{ "::1/129", 0, 0, 0 },
		{ "fd00::/abc", 0, 0, 0 },
		{ "1.2.3.4 ", 0, 0, 0 },
		{ "1:2:3:4:5:6:7:8:9", 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		struct cidr c;
		int r = cidr_parse(t[i].s, &c);
		CHECK((r == 0) == t[i].ok, "cidr_parse(\"%s\") = %d", t[i].s, r);
		if (r == 0 && t[i].ok) {
			CHECK(c.family == t[i].family, "\"%s\" family %d", t[i].s, c.family);
			CHECK(c.prefix == t[i].prefix, "\"%s\" prefix %d", t[i].s, c.prefix);
		}
	}
	/* Host bits beyond the prefix are masked away. */
	struct cidr c;
	CHECK(cidr_parse("10.1.2.3/8", &c) == 0 && c.addr[0] == 10 && c.addr[1] == 0 && c.addr[3] == 0,
	    "10.1.2.3/8 not masked");
	CHECK(cidr_parse("10.1.255.3/20", &c) == 0 && c.addr[1] == 1 && c.addr[2] == 0xf0 && c.addr[3] == 0,
	    "10.1.255.3/20 not masked: %d.%d", c.addr[2], c.addr[3]);
	CHECK(cidr_parse(NULL, &c) == -1, "NULL accepted");
}

static void test_cidr_match(void)
{
	static const struct { const char *net, *ip; int match; } t[] = {
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "127.0.0.2", 0 },
		{ "127.0.0.1/32", "127.0.0.1", 1 },
		{ "192.168.1.7/32", "192.168.1.8", 0 },
		{ "10.0.0.0/8", "10.255.1.2", 1 },
		{ "10.0.0.0/8", "11.0.0.1", 0 },
		{ "10.0.0.0/8", "9.255.255.255", 0 },
		{ "172.16.0.0/12", "172.31.255.255", 1 },
		{ "172.16.0.0/12", "172.32.0.0", 0 },
		{ "0.0.0.0/0", "1.2.3.4", 1 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "0.0.0.0/0", "0.0.0.0", 1 },
		/* IPv4-mapped IPv6 peers match IPv4 networks. */
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
		{ "10.0.0.0/8", "::ffff:11.1.2.3", 0 },
		{ "127.0.0.1", "::ffff:127.0.0.1", 1 },
		{ "0.0.0.0/0", "::ffff:8.8.8.8", 1 },
		/* A plain IPv6 address never matches an IPv4 network, nor the reverse. */
		{ "0.0.0.0/0", "::1", 0 },
		{ "10.0.0.0/8", "::a00:1", 0 },
		{ "::1", "127.0.0.1", 0 },
		{ "fd00::/8", "10.0.0.1", 0 },
		/* IPv6 prefixes. */
		{ "::1", "::1", 1 },
		{ "::1", "::2", 0 },
		{ "::1/128", "::1", 1 },
		{ "fd00::/8", "fd12:3456::1", 1 },
		{ "fd00::/8", "fe80::1", 0 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
		{ "2001:db8::/33", "2001:db8:8000::1", 0 },
		{ "2001:db8::/127", "2001:db8::1", 1 },
		{ "2001:db8::/127", "2001:db8::2", 0 },
		{ "::/0", "fe80::1", 1 },
		{ "::/0", "::", 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		struct cidr c;
		if (cidr_parse(t[i].net, &c) != 0) {
			CHECK(0, "cidr_parse(\"%s\") failed", t[i].net);
			continue;
		}
		int m = cidr_match(&c, addr(t[i].ip, 1));
		CHECK(!!m == t[i].match, "%s matches %s: got %d want %d", t[i].net, t[i].ip, m, t[i].match);
	}
	/* A non-IP family never matches. */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct cidr any;
	cidr_parse("0.0.0.0/0", &any);
	CHECK(cidr_match(&any, (struct sockaddr *)&un) == 0, "AF_UNIX matched 0.0.0.0/0");
}

static void test_sockaddr(void)
{
	char buf[128];
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	CHECK(sockaddr_port(addr("127.0.0.1", 8443)) == 8443, "v4 port");
	CHECK(sockaddr_port(addr("::1", 65535)) == 65535, "v6 port");
	CHECK(sockaddr_port(addr("10.0.0.1", 0)) == 0, "port 0");
	CHECK(sockaddr_port((struct sockaddr *)&un) == -1, "AF_UNIX port");
	CHECK(strcmp(sockaddr_str(addr("127.0.0.1", 443), buf, sizeof buf), "127.0.0.1:443") == 0, "str v4: %s", buf);
	CHECK(strcmp(sockaddr_str(addr("::1", 443), buf, sizeof buf), "[::1]:443") == 0, "str v6: %s", buf);
}

/* Rule matching against a real config file (first match wins, kinds and hosts respected). */
static void test_match(void)
{
	char tmpl[] = "/tmp/mtlsshim-unit.XXXXXX", path[PATH_MAX], err[512];

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(path, sizeof path, "%s/rules.conf", tmpl);
	FILE *f = fopen(path, "w");
	fputs("ca_file = \"ca.crt\"\ncert_file = \"h.crt\"\nkey_file = \"h.key\"\n"
	    "server \"web\" {\n port = 8443\n}\n"
	    "server \"web2\" {\n port = 8443\n}\n"		/* shadowed by web */
	    "server \"v6only\" {\n port = 9443\n}\n"
	    "client \"lan\" {\n port = 5432\n host = \"10.0.0.0/8\"\n}\n"
	    "client \"one\" {\n port = 5432\n host = \"192.168.1.7\"\n}\n"
	    "client \"any\" {\n port = 5432\n}\n"		/* fallback for other hosts */
	    "client \"v6\" {\n port = 6379\n host = \"fd00::/8\"\n}\n"
	    "client \"loop6\" {\n port = 6379\n host = \"::1/128\"\n}\n"
	    "client \"web-out\" {\n port = 8443\n host = \"127.0.0.0/8\"\n}\n", f);
	fclose(f);
	struct config *c = config_load(path, err, sizeof err);
	CHECK(c != NULL, "rules config rejected: %s", err);
	if (!c)
		goto out;

	static const struct { int server; const char *ip; int port; const char *want; } t[] = {
		{ 1, "127.0.0.1", 8443, "web" },		/* first of two server rules on the port */
		{ 1, "0.0.0.0", 8443, "web" },
		{ 1, "::", 8443, "web" },
		{ 1, "::1", 9443, "v6only" },
		{ 1, "127.0.0.1", 5432, NULL },			/* client ports are not server ports */
		{ 1, "127.0.0.1", 1, NULL },
		{ 0, "10.1.2.3", 5432, "lan" },
		{ 0, "::ffff:10.1.2.3", 5432, "lan" },
		{ 0, "192.168.1.7", 5432, "one" },
		{ 0, "192.168.1.8", 5432, "any" },
		{ 0, "::1", 5432, "any" },
		{ 0, "fd12::5", 6379, "v6" },
		{ 0, "::1", 6379, "loop6" },
		{ 0, "127.0.0.1", 6379, NULL },			/* no v4 network on 6379 */
		{ 0, "127.0.0.1", 8443, "web-out" },		/* server rule on the port is not a client rule */
		{ 0, "10.0.0.1", 8443, NULL },
		{ 0, "127.0.0.1", 9443, NULL },
		{ 0, "127.0.0.1", 5433, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const struct sockaddr *sa = addr(t[i].ip, t[i].port);
		const struct rule *r = t[i].server ? rules_match_server(c, sa) : rules_match_client(c, sa);
		const char *got = r ? r->name : NULL;
		CHECK((got == NULL && t[i].want == NULL) || (got && t[i].want && strcmp(got, t[i].want) == 0),
		    "%s %s port %d: got %s, want %s", t[i].server ? "server" : "client", t[i].ip, t[i].port,
		    got ? got : "(none)", t[i].want ? t[i].want : "(none)");
		if (r)
			CHECK(r->kind == (t[i].server ? RULE_SERVER : RULE_CLIENT), "%s: wrong kind", r->name);
	}
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	CHECK(rules_match_server(c, (struct sockaddr *)&un) == NULL, "AF_UNIX matched a server rule");
	CHECK(rules_match_client(c, (struct sockaddr *)&un) == NULL, "AF_UNIX matched a client rule");
	CHECK(rules_match_client(NULL, addr("127.0.0.1", 5432)) == NULL, "NULL config matched");
	config_free(c);
out:
	unlink(path);
	rmdir(tmpl);
}

int main(void)
{
	test_cidr_parse();
	test_cidr_match();
	test_sockaddr();
	test_match();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
