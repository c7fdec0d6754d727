/* status.c: `mtlsshim status`: per rule and per process, what the shared counters say, text or JSON. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/metrics.h"
#include "cli/statsnap.h"

static void
jstr(const char *v)
{
	putchar('"');
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int
days_left(int64_t t)
{
	int64_t d = t - (int64_t)time(NULL);

	return (int)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

static void
when(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_ms(const char *what, double s)
{
	if (s < 0)
		printf(" %s -", what);
	else
		printf(" %s %.1f ms", what, s * 1e3);
}

static void
text_rule(const struct snapshot *s, uint32_t i)
{
	const struct stats_rule *r = &s->rules[i];
	int order[STATS_NREASONS], b, j, k, shown = 0;
	char at[32];

	printf("  %s \"%s\": port %d, open %llu, %s %llu, refused %llu", r->is_server ? "server" :
	    "client", r->name, r->port, (unsigned long long)s->open[i], r->is_server ? "accepted" :
	    "connected", (unsigned long long)r->hs_ok, (unsigned long long)r->hs_refused);
	/* The most frequent reasons first. */
	for (b = 0; b < STATS_NREASONS; b++)
		order[b] = b;
	for (j = 1; j < STATS_NREASONS; j++)
		for (k = j; k > 0 && r->refusals[order[k]] > r->refusals[order[k - 1]]; k--) {
			b = order[k];
			order[k] = order[k - 1];
			order[k - 1] = b;
		}
	for (j = 0; j < STATS_NREASONS && shown < 3 && r->refusals[order[j]] > 0; j++)
		printf("%s%s %llu", shown++ ? ", " : " (", stats_reason_name((enum stats_reason)order[j]),
		    (unsigned long long)r->refusals[order[j]]);
	printf("%s, resumed %llu\n   ", shown ? ")" : "", (unsigned long long)r->resumed);
	print_ms("handshake p50", snapshot_quantile(s, i, 0.5));
	print_ms("p99", snapshot_quantile(s, i, 0.99));
	printf(", bytes in %llu out %llu", (unsigned long long)r->bytes_in,
	    (unsigned long long)r->bytes_out);
	if (r->cert_not_after != 0)
		printf(", cert %d days left", days_left(r->cert_not_after));
	when(r->last_reload, at, sizeof(at));
	printf(", last reload %s (%llu ok, %llu failed)\n", at, (unsigned long long)r->reloads_ok,
	    (unsigned long long)r->reloads_failed);
}

static void
print_text(const struct config *c, const struct snapshot *s)
{
	size_t k;
	uint32_t i;
	int any;

	printf("%s: %s, %zu process%s\n", c->path, s->path, s->nprocs, s->nprocs == 1 ? "" : "es");
	for (i = 0; i < s->nrules; i++)
		text_rule(s, i);
	for (k = 0; k < s->nprocs; k++) {
		printf("  pid %ld:", (long)s->procs[k].pid);
		for (i = 0, any = 0; i < s->nrules; i++)
			if (s->procs[k].open[i] > 0)
				printf("%s %s open %u", any++ ? "," : "", s->rules[i].name,
				    s->procs[k].open[i]);
		printf("%s\n", any ? "" : " no open connections");
	}
}

static void
json_num(const char *key, double v, int sep)
{
	printf("%s\"%s\":", sep ? "," : "", key);
	if (v < 0)
		printf("null");
	else
		printf("%.6f", v);
}

static void
json_rule(const struct snapshot *s, uint32_t i)
{
	const struct stats_rule *r = &s->rules[i];
	char at[32];
	int b;

	printf("{\"name\":");
	jstr(r->name);
	printf(",\"role\":\"%s\",\"port\":%d,\"open\":%llu,\"accepted\":%llu,\"refused\":%llu,"
	    "\"refusals\":{", r->is_server ? "server" : "client", r->port,
	    (unsigned long long)s->open[i], (unsigned long long)r->hs_ok,
	    (unsigned long long)r->hs_refused);
	for (b = 0; b < STATS_NREASONS; b++)
		printf("%s\"%s\":%llu", b ? "," : "", stats_reason_name((enum stats_reason)b),
		    (unsigned long long)r->refusals[b]);
	printf("},\"resumed\":%llu,\"handshakes_timed\":%llu", (unsigned long long)r->resumed,
	    (unsigned long long)snapshot_hist_count(s, i));
	json_num("handshake_p50_seconds", snapshot_quantile(s, i, 0.5), 1);
	json_num("handshake_p99_seconds", snapshot_quantile(s, i, 0.99), 1);
	printf(",\"bytes_in\":%llu,\"bytes_out\":%llu,\"cert_not_after\":",
	    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out);
	if (r->cert_not_after != 0)
		printf("%lld,\"cert_days_left\":%d", (long long)r->cert_not_after,
		    days_left(r->cert_not_after));
	else
		printf("null,\"cert_days_left\":null");
	printf(",\"reloads_ok\":%llu,\"reloads_failed\":%llu,\"last_reload\":",
	    (unsigned long long)r->reloads_ok, (unsigned long long)r->reloads_failed);
	when(r->last_reload, at, sizeof(at));
	if (r->last_reload != 0)
		jstr(at);
	else
		printf("null");
	putchar('}');
}

static void
print_json(const struct config *c, const struct snapshot *s)
{
	size_t k;
	uint32_t i;
	int any;

	printf("{\"config\":");
	jstr(c->path);
	printf(",\"name\":");
	jstr(s->name);
	printf(",\"stats_file\":");
	jstr(s->path);
	printf(",\"created\":%lld,\"rules\":[", (long long)s->created);
	for (i = 0; i < s->nrules; i++) {
		if (i)
			putchar(',');
		json_rule(s, i);
	}
	printf("],\"processes\":[");
	for (k = 0; k < s->nprocs; k++) {
		printf("%s{\"pid\":%ld,\"open\":{", k ? "," : "", (long)s->procs[k].pid);
		for (i = 0, any = 0; i < s->nrules; i++) {
			if (any++)
				putchar(',');
			jstr(s->rules[i].name);
			printf(":%u", s->procs[k].open[i]);
		}
		printf("}}");
	}
	printf("]}\n");
}

int
status_main(const struct config *c, int json)
{
	struct snapshot s;
	char err[1024];

	if (snapshot_take(&s, c, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtlsshim: %s: no counters: %s\n", c->path, err);
		return 1;
	}
	if (json)
		print_json(c, &s);
	else
		print_text(c, &s);
	snapshot_free(&s);
	return fflush(stdout) == 0 ? 0 : 1;
}
