/* statsnap.c: copies the counters out of the shared file and sums the live processes' gauges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/statsnap.h"

int
snapshot_take(struct snapshot *s, const struct config *c, char *err, size_t errlen)
{
	struct stats_area a;
	struct stats_proc *p;
	uint32_t i, *open;
	size_t k;

	memset(s, 0, sizeof(*s));
	if (stats_path(c, s->path, sizeof(s->path), s->name, sizeof(s->name)) == -1) {
		snprintf(err, errlen, "no run directory for the stats file");
		return -1;
	}
	if (stats_open_ro(&a, c, err, errlen) == -1)
		return -1;
	s->created = a.head->created;
	s->nrules = a.head->nrules;
	s->rules = calloc(s->nrules + 1, sizeof(*s->rules));
	s->open = calloc(s->nrules + 1, sizeof(*s->open));
	s->procs = calloc(STATS_PROCS, sizeof(*s->procs));
	if (s->rules == NULL || s->open == NULL || s->procs == NULL) {
		snprintf(err, errlen, "out of memory");
		stats_close(&a);
		snapshot_free(s);
		return -1;
	}
	/* Field by field, relaxed: each counter is exact, the set is as of "about now". */
	for (i = 0; i < s->nrules; i++) {
		uint64_t *dst = (uint64_t *)(void *)&s->rules[i], *src = (uint64_t *)(void *)&a.rules[i];
		for (k = 0; k < sizeof(struct stats_rule) / sizeof(uint64_t); k++)
			dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
		s->rules[i].name[STATS_NAME_MAX - 1] = '\0';
	}
	for (k = 0; k < STATS_PROCS; k++) {
		p = stats_proc_at(&a, k);
		if (!stats_proc_alive(p))
			continue;
		open = stats_proc_open(&a, p);
		s->procs[s->nprocs].pid = p->pid;
		if ((s->procs[s->nprocs].open = calloc(s->nrules + 1, sizeof(uint32_t))) == NULL)
			continue;
		for (i = 0; i < s->nrules; i++) {
			s->procs[s->nprocs].open[i] = __atomic_load_n(&open[i], __ATOMIC_RELAXED);
			s->open[i] += s->procs[s->nprocs].open[i];
		}
		s->nprocs++;
	}
	stats_close(&a);
	return 0;
}

void
snapshot_free(struct snapshot *s)
{
	size_t k;

	for (k = 0; s->procs != NULL && k < s->nprocs; k++)
		free(s->procs[k].open);
	free(s->procs);
	free(s->open);
	free(s->rules);
	memset(s, 0, sizeof(*s));
}

uint64_t
snapshot_hist_count(const struct snapshot *s, uint32_t i)
{
	uint64_t n = 0;
	int b;

	for (b = 0; b <= STATS_NBUCKETS; b++)
		n += s->rules[i].hist[b];
	return n;
}

double
snapshot_quantile(const struct snapshot *s, uint32_t i, double q)
{
	const uint32_t *le = stats_bucket_bounds();
	uint64_t total = snapshot_hist_count(s, i), cum = 0;
	double rank, lo;
	int b;

	if (total == 0)
		return -1;
	rank = q * (double)total;
	for (b = 0; b < STATS_NBUCKETS; b++) {
		if ((double)(cum + s->rules[i].hist[b]) >= rank) {
			lo = b == 0 ? 0 : le[b - 1];
			return (lo + (le[b] - lo) * ((rank - (double)cum) /
			    (double)(s->rules[i].hist[b] ? s->rules[i].hist[b] : 1))) / 1e6;
		}
		cum += s->rules[i].hist[b];
	}
	/* Above the last bound: as Prometheus, the last bound. */
	return le[STATS_NBUCKETS - 1] / 1e6;
}
