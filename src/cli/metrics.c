/* metrics.c: `mtlsshim metrics`: the shared counters in Prometheus's text exposition format. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/metrics.h"
#include "cli/statsnap.h"

/* A label value as the exposition format wants it: backslash, quote and newline escaped. */
static void
label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{config="..",rule=".."  -- the caller adds its own labels and the value. */
static void
series(FILE *f, const struct snapshot *s, const char *name, uint32_t i)
{
	fprintf(f, "%s{config=\"", name);
	label(f, s->name);
	fputs("\",rule=\"", f);
	label(f, s->rules[i].name);
	fputc('"', f);
}

static void
write_metrics(FILE *f, const struct snapshot *s)
{
	const uint32_t *le = stats_bucket_bounds();
	uint64_t cum;
	uint32_t i;
	int b;

	family(f, "mtlsshim_handshakes_total", "counter",
	    "TLS handshakes on matched connections, by the rule's role and the result.");
	for (i = 0; i < s->nrules; i++) {
		const char *role = s->rules[i].is_server ? "server" : "client";
		series(f, s, "mtlsshim_handshakes_total", i);
		fprintf(f, ",role=\"%s\",result=\"ok\"} %llu\n", role,
		    (unsigned long long)s->rules[i].hs_ok);
		series(f, s, "mtlsshim_handshakes_total", i);
		fprintf(f, ",role=\"%s\",result=\"refused\"} %llu\n", role,
		    (unsigned long long)s->rules[i].hs_refused);
	}
	family(f, "mtlsshim_refusals_total", "counter",
	    "Refused handshakes, by reason (the log line's reason, classified).");
	for (i = 0; i < s->nrules; i++)
		for (b = 0; b < STATS_NREASONS; b++) {
			series(f, s, "mtlsshim_refusals_total", i);
			fprintf(f, ",reason=\"%s\"} %llu\n", stats_reason_name((enum stats_reason)b),
			    (unsigned long long)s->rules[i].refusals[b]);
		}
	family(f, "mtlsshim_resumed_total", "counter", "Admitted handshakes that resumed a session.");
	for (i = 0; i < s->nrules; i++) {
		series(f, s, "mtlsshim_resumed_total", i);
		fprintf(f, "} %llu\n", (unsigned long long)s->rules[i].resumed);
	}
	family(f, "mtlsshim_connections_open", "gauge",
	    "Matched connections open now in the program's live processes.");
	for (i = 0; i < s->nrules; i++) {
		series(f, s, "mtlsshim_connections_open", i);
		fprintf(f, "} %llu\n", (unsigned long long)s->open[i]);
	}
	family(f, "mtlsshim_bytes_total", "counter",
	    "Plaintext bytes the program read (in) and wrote (out) on matched connections.");
	for (i = 0; i < s->nrules; i++) {
		series(f, s, "mtlsshim_bytes_total", i);
		fprintf(f, ",direction=\"in\"} %llu\n", (unsigned long long)s->rules[i].bytes_in);
		series(f, s, "mtlsshim_bytes_total", i);
		fprintf(f, ",direction=\"out\"} %llu\n", (unsigned long long)s->rules[i].bytes_out);
	}
	family(f, "mtlsshim_handshake_duration_seconds", "histogram",
	    "Duration of admitted handshakes, from the connection's start to the program's first sight of it.");
	for (i = 0; i < s->nrules; i++) {
		cum = 0;
		for (b = 0; b < STATS_NBUCKETS; b++) {
			cum += s->rules[i].hist[b];
			series(f, s, "mtlsshim_handshake_duration_seconds_bucket", i);
			fprintf(f, ",le=\"%g\"} %llu\n", le[b] / 1e6, (unsigned long long)cum);
		}
		cum += s->rules[i].hist[STATS_NBUCKETS];
		series(f, s, "mtlsshim_handshake_duration_seconds_bucket", i);
		fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		series(f, s, "mtlsshim_handshake_duration_seconds_sum", i);
		fprintf(f, "} %.6f\n", (double)s->rules[i].hist_sum_us / 1e6);
		series(f, s, "mtlsshim_handshake_duration_seconds_count", i);
		fprintf(f, "} %llu\n", (unsigned long long)cum);
	}
	family(f, "mtlsshim_cert_not_after_timestamp_seconds", "gauge",
	    "notAfter of the certificate the rule presents, as last loaded.");
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].cert_not_after != 0) {
			series(f, s, "mtlsshim_cert_not_after_timestamp_seconds", i);
			fprintf(f, "} %lld\n", (long long)s->rules[i].cert_not_after);
		}
	family(f, "mtlsshim_reloads_total", "counter",
	    "Certificate, key, CA or CRL files replaced on disk and taken (ok) or refused (failed).");
	for (i = 0; i < s->nrules; i++) {
		series(f, s, "mtlsshim_reloads_total", i);
		fprintf(f, ",result=\"ok\"} %llu\n", (unsigned long long)s->rules[i].reloads_ok);
		series(f, s, "mtlsshim_reloads_total", i);
		fprintf(f, ",result=\"failed\"} %llu\n", (unsigned long long)s->rules[i].reloads_failed);
	}
	family(f, "mtlsshim_processes", "gauge", "Live processes of the program attached to the counters.");
	fprintf(f, "mtlsshim_processes{config=\"");
	label(f, s->name);
	fprintf(f, "\"} %zu\n", s->nprocs);
}

/* DIR/mtlsshim-NAME.prom by temp file and rename: node_exporter never reads half of one. */
static int
write_textfile(const struct snapshot *s, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int fd;

	if (snprintf(path, sizeof(path), "%s/mtlsshim-%s.prom", dir, s->name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp)) {
		fprintf(stderr, "mtlsshim: %s: path too long\n", dir);
		return 1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "mtlsshim: %s: %s\n", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	write_metrics(f, s);
	if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0) {
		fprintf(stderr, "mtlsshim: %s: %s\n", tmp, strerror(errno));
		unlink(tmp);
		return 1;
	}
	if (rename(tmp, path) == -1) {
		fprintf(stderr, "mtlsshim: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}

int
metrics_main(const struct config *c, const char *textfile)
{
	struct snapshot s;
	char err[1024];
	int rv;

	if (snapshot_take(&s, c, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtlsshim: %s: no counters: %s\n", c->path, err);
		return 1;
	}
	if (textfile != NULL)
		rv = write_textfile(&s, textfile);
	else {
		write_metrics(stdout, &s);
		rv = fflush(stdout) == 0 ? 0 : 1;
	}
	snapshot_free(&s);
	return rv;
}
