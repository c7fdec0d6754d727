/* test_identity.c: table-driven tests of identity_glob, the allow_cn/allow_dns/allow_uri pattern matcher. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/identity.h"

/* The public API under test, as specified; a conflicting declaration in identity.h fails the build. */
int identity_glob(const char *pattern, const char *value, char sep, int nocase);

static int passed, failed;

#define DNS '.', 1	/* CN and DNS SANs: labels separated by '.', case-insensitive */
#define DNSCASE '.', 0	/* the same matcher asked to keep case */
#define URI '/', 0	/* URI SANs (SPIFFE IDs): segments separated by '/', case-sensitive */

struct gcase {
	const char	*pattern;
	const char	*value;
	char		 sep;
	int		 nocase;
	int		 want;
	const char	*why;
};

static const struct gcase cases[] = {
	/* exact matches */
	{ "web.example.test", "web.example.test", DNS, 1, "exact DNS name" },
	{ "client", "client", DNS, 1, "exact CN" },
	{ "web.example.test", "web.example.tes", DNS, 0, "value shorter than pattern" },
	{ "web.example.test", "web.example.testx", DNS, 0, "value longer than pattern" },
	{ "web.example.test", "xweb.example.test", DNS, 0, "extra leading character" },
	{ "web.example.test", "api.example.test", DNS, 0, "different first label" },
	{ "client", "client2", DNS, 0, "a pattern without wildcards is not a prefix match" },
	{ "client2", "client", DNS, 0, "nor a superstring match" },
	{ "", "x", DNS, 0, "empty pattern against a name" },
	{ "x", "", DNS, 0, "a name against an empty value" },

	/* '*' within one DNS label */
	{ "*.example.test", "web.example.test", DNS, 1, "* as a whole label" },
	{ "*.example.test", "a.b.example.test", DNS, 0, "* does not cross a '.'" },
	{ "*.example.test", "example.test", DNS, 0, "* is not zero labels" },
	{ "*.example.test", ".example.test", DNS, 0, "* needs at least one character" },
	{ "web-*.example.test", "web-1.example.test", DNS, 1, "* as a label suffix" },
	{ "web-*.example.test", "web-.example.test", DNS, 0, "* as a suffix needs one character" },
	{ "web-*.example.test", "web-1.x.example.test", DNS, 0, "suffix * does not cross a '.'" },
	{ "w*b.example.test", "web.example.test", DNS, 1, "* in the middle of a label" },
	{ "w*b.example.test", "wb.example.test", DNS, 0, "* in the middle needs one character" },
	{ "w*b.example.test", "w.b.example.test", DNS, 0, "* in the middle does not match '.'" },
	{ "api.*.example.test", "api.prod.example.test", DNS, 1, "* as a middle label" },
	{ "api.*.example.test", "api.prod.eu.example.test", DNS, 0, "a middle * is one label only" },
	{ "api.*.example.test", "api..example.test", DNS, 0, "a middle * is not an empty label" },
	{ "*", "localhost", DNS, 1, "a lone * matches a single-label name" },
	{ "*", "web.example.test", DNS, 0, "a lone * does not match a dotted name" },
	{ "*", "", DNS, 0, "a lone * does not match nothing" },
	{ "*-*.test", "a-b.test", DNS, 1, "two stars in one label" },
	{ "*-*.test", "a-b-c.test", DNS, 1, "two stars, several ways to split" },
	{ "*-*.test", "a-.test", DNS, 0, "each of two stars needs a character" },
	{ "*ab.test", "aab.test", DNS, 1, "star then literal needs backtracking" },
	{ "*ab.test", "ab.test", DNS, 0, "star then literal, star empty" },
	{ "*.*.test", "a.b.test", DNS, 1, "two single-label stars" },
	{ "*.*.test", "a.test", DNS, 0, "two single-label stars need two labels" },
	{ "*.*.test", "a.b.c.test", DNS, 0, "two single-label stars are not three labels" },
	{ "*.example.test", "web.example.test.evil", DNS, 0, "trailing labels after the pattern" },
	{ "*.example.test", "web.exampleXtest", DNS, 0, "a literal '.' in the pattern is a '.'" },

	/* '**' across labels */
	{ "**.example.test", "web.example.test", DNS, 1, "** over one label" },
	{ "**.example.test", "a.b.c.example.test", DNS, 1, "** over several labels" },
	{ "**.example.test", "example.test", DNS, 0, "** needs at least one character" },
	{ "**.example.test", ".example.test", DNS, 0, "** needs at least one character (empty label)" },
	{ "**.example.test", "web.other.test", DNS, 0, "** does not make the rest optional" },
	{ "api.**.test", "api.a.b.test", DNS, 1, "** in the middle" },
	{ "api.**.test", "api.test", DNS, 0, "** in the middle needs a character" },
	{ "**", "a.b.c", DNS, 1, "a lone ** matches everything non-empty" },
	{ "**", "", DNS, 0, "a lone ** does not match nothing" },

	/* case: DNS names and CNs fold ASCII case, URIs do not */
	{ "WEB.Example.TEST", "web.example.test", DNS, 1, "nocase: upper-case pattern" },
	{ "web.example.test", "WEB.EXAMPLE.TEST", DNS, 1, "nocase: upper-case value" },
	{ "*.EXAMPLE.test", "Api.example.TEST", DNS, 1, "nocase with a star" },
	{ "**.Example.Test", "A.B.example.test", DNS, 1, "nocase with **" },
	{ "CLIENT", "client", DNS, 1, "nocase CN" },
	{ "WEB.Example.TEST", "web.example.test", DNSCASE, 0, "case kept when nocase is 0" },
	{ "web.example.test", "web.example.test", DNSCASE, 1, "exact still matches with case kept" },

	/* SPIFFE IDs in URI SANs */
	{ "spiffe://example.test/ns/prod/sa/web", "spiffe://example.test/ns/prod/sa/web", URI, 1,
	  "exact SPIFFE ID" },
	{ "spiffe://example.test/ns/prod/sa/*", "spiffe://example.test/ns/prod/sa/web", URI, 1,
	  "* as the last path segment" },
	{ "spiffe://example.test/ns/prod/sa/*", "spiffe://example.test/ns/prod/sa/web/v2", URI, 0,
	  "* does not cross a '/'" },
	{ "spiffe://example.test/ns/prod/sa/*", "spiffe://example.test/ns/prod/sa/", URI, 0,
	  "* needs at least one character in a segment" },
	{ "spiffe://example.test/ns/prod/sa/*", "spiffe://example.test/ns/staging/sa/web", URI, 0,
	  "literal segment differs" },
	{ "spiffe://example.test/ns/*/sa/web", "spiffe://example.test/ns/staging/sa/web", URI, 1,
	  "* as a middle segment" },
	{ "spiffe://example.test/ns/*/sa/web", "spiffe://example.test/ns/a/b/sa/web", URI, 0,
	  "a middle * is one segment only" },
	{ "spiffe://example.test/ns/prod/**", "spiffe://example.test/ns/prod/sa/web", URI, 1,
	  "** over several segments" },
	{ "spiffe://example.test/ns/prod/**", "spiffe://example.test/ns/prod/sa/web/v2", URI, 1,
	  "** over more segments" },
	{ "spiffe://example.test/ns/prod/**", "spiffe://example.test/ns/production/sa/web", URI, 0,
	  "** after a '/' does not extend the segment before it" },
	{ "spiffe://example.test/ns/prod/**", "spiffe://example.test/ns/prod/", URI, 0,
	  "** needs at least one character" },
	{ "spiffe://example.test/**", "spiffe://example.test/ns/prod/sa/web", URI, 1,
	  "the whole trust domain" },
	{ "spiffe://example.test/**", "spiffe://other.test/ns/prod/sa/web", URI, 0,
	  "another trust domain" },
	{ "spiffe://example.test/**", "spiffe://example.test.evil/ns/prod/sa/web", URI, 0,
	  "a trust domain with a suffix" },
	{ "spiffe://example.test/ns/**/sa/web", "spiffe://example.test/ns/a/b/sa/web", URI, 1,
	  "** in the middle of a path" },
	{ "spiffe://*.test/ns/prod/sa/web", "spiffe://a.b.test/ns/prod/sa/web", URI, 1,
	  "with sep '/', '.' is an ordinary character" },
	{ "spiffe://example.test/ns/Prod/sa/web", "spiffe://example.test/ns/prod/sa/web", URI, 0,
	  "URIs are case-sensitive" },
	{ "spiffe://example.test/ns/prod/sa/*", "spiffe://example.test/ns/prod/sa/web", '/', 1, 1,
	  "nocase on a URI pattern still matches the same case" },
};

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct gcase *t = &cases[i];
		int got = identity_glob(t->pattern, t->value, t->sep, t->nocase);

		if ((got == 1) == (t->want == 1) && (got == 0 || got == 1)) {
			passed++;
		} else {
			failed++;
			fprintf(stderr, "FAIL identity_glob(\"%s\", \"%s\", '%c', %d) = %d, want %d: %s\n",
			    t->pattern, t->value, t->sep, t->nocase, got, t->want, t->why);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
