/* statsnap.h: one reading of a configuration's shared counters, for status and metrics. */
#ifndef MTLSSHIM_STATSNAP_H
#define MTLSSHIM_STATSNAP_H

#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/stats.h"

struct snap_proc {
	pid_t		 pid;
	uint32_t	*open;		/* per rule */
};

struct snapshot {
	char			 path[4096];	/* the stats file */
	char			 name[STATS_NAME_MAX];
	int64_t			 created;
	uint32_t		 nrules;
	struct stats_rule	*rules;		/* copies */
	uint64_t		*open;		/* per rule, summed over live processes */
	struct snap_proc	*procs;		/* live processes */
	size_t			 nprocs;
};

/* Reads the file of c; 0, or -1 with why in err (no file yet: no process has used c). */
int	 snapshot_take(struct snapshot *, const struct config *c, char *err, size_t errlen);
void	 snapshot_free(struct snapshot *);
/* The q-quantile (0..1) of rule i's handshake durations, seconds, as Prometheus interpolates; -1 none. */
double	 snapshot_quantile(const struct snapshot *, uint32_t i, double q);
uint64_t snapshot_hist_count(const struct snapshot *, uint32_t i);

#endif
