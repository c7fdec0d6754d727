/* stats.h: counters shared by every process of a shimmed program, in a file mapped MAP_SHARED. */
#ifndef MTLSSHIM_STATS_H
#define MTLSSHIM_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"

/*
 * One file per configuration, RUNDIR/NAME-HASH.stats (stats_path), mapped by
 * every process that uses it: forks inherit the mapping, exec'd images and
 * relays map it again.  Counters are per rule and only grow; they are
 * updated with relaxed atomic adds on paths that already do work (the end
 * of a handshake, a close, a reload, a read or write that moved bytes), so
 * no lock and no system call is added to the data path.  What is "now"
 * rather than "so far" (open connections) is kept per process, in a slot the
 * process claims at its first matched socket, so that a process that dies
 * stops counting without having to say so: readers skip slots whose process
 * is gone.
 */

#define STATS_MAGIC	UINT64_C(0x3174617473736d74)	/* "tmsstat1" little-endian */
#define STATS_VERSION	1
#define STATS_PROCS	1024	/* slots; a process that finds none goes uncounted */
#define STATS_NAME_MAX	64

/* Why a handshake was refused, as the metric's reason label names it. */
#define STATS_REASONS(X) \
	X(NO_CERTIFICATE, "no_certificate") \
	X(UNKNOWN_CA, "unknown_ca") \
	X(EXPIRED, "expired") \
	X(NOT_YET_VALID, "not_yet_valid") \
	X(REVOKED, "revoked") \
	X(IDENTITY, "identity") \
	X(BAD_PURPOSE, "bad_purpose") \
	X(CA_AS_LEAF, "ca_as_leaf") \
	X(TIMEOUT, "timeout") \
	X(PROTOCOL, "protocol") \
	X(PEER_CLOSED, "peer_closed") \
	X(OTHER, "other")
#define STATS_REASON_ENUM(e, s)	STATS_R_##e,
enum stats_reason { STATS_REASONS(STATS_REASON_ENUM) STATS_NREASONS };

/* Handshake duration buckets, upper bounds in microseconds (Prometheus le, cumulated by readers). */
#define STATS_BUCKETS_US \
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, \
	5000000, 10000000
#define STATS_NBUCKETS	13

struct stats_rule {
	char		 name[STATS_NAME_MAX];
	int32_t		 is_server;
	int32_t		 port;
	uint64_t	 hs_ok, hs_refused, resumed;
	uint64_t	 refusals[STATS_NREASONS];
	uint64_t	 hist[STATS_NBUCKETS + 1];	/* the last: above every bound */
	uint64_t	 hist_sum_us;
	int64_t		 cert_not_after;	/* seconds since the epoch; 0 unknown */
	uint64_t	 reloads_ok, reloads_failed;
	int64_t		 last_reload;		/* seconds since the epoch; 0 never */
	uint64_t	 reload_stamp;		/* of the files last counted */
	/* Apart: these move on every read and write. */
	uint64_t	 bytes_in __attribute__((aligned(64)));
	uint64_t	 bytes_out;
} __attribute__((aligned(64)));

struct stats_proc {
	int32_t		 pid;		/* 0: free */
	int32_t		 pad;
	uint64_t	 start;		/* /proc/PID/stat starttime: tells a reused pid */
	/* then uint32_t open[nrules] */
};

struct stats_head {
	uint64_t	 magic;
	uint32_t	 version;
	uint32_t	 nrules;
	uint64_t	 size;		/* of the whole file */
	int64_t		 created;	/* seconds since the epoch */
	char		 config[512];	/* the configuration's path */
	char		 name[STATS_NAME_MAX];
	/* then struct stats_rule rules[nrules], then the process slots */
};

/* A mapped file, the library's (read-write) or a reader's. */
struct stats_area {
	struct stats_head	*head;
	struct stats_rule	*rules;
	unsigned char		*procs;
	size_t			 proc_size;	/* bytes per slot */
	size_t			 size;
};

/* The run directory: root /run/mtlsshim, else $XDG_RUNTIME_DIR/mtlsshim, else /tmp/mtlsshim-UID. */
int	 stats_rundir(char *buf, size_t len);
/* Makes dir (0700) or finds it ours and writable by us alone: 0, or -1 with why in err. */
int	 stats_rundir_ready(const char *dir, char *err, size_t errlen);
/*
 * The file of config c in the run directory, and its short NAME (the config's
 * file name less ".conf"), which the textfile output is named after.
 */
int	 stats_path(const struct config *c, char *buf, size_t len, char *name, size_t namelen);

/*
 * Maps (creating it, and the run directory, when absent) the file of c, read
 * and write.  0, or -1 with why in err: metrics are then off for this process.
 */
int	 stats_open(struct stats_area *, const struct config *c, char *err, size_t errlen);
/* A reader's view of the file of c; -1 with why in err. */
int	 stats_open_ro(struct stats_area *, const struct config *c, char *err, size_t errlen);
void	 stats_close(struct stats_area *);

/* Slot i's open counters. */
static inline uint32_t *
stats_proc_open(const struct stats_area *a, struct stats_proc *p)
{
	(void)a;
	return (uint32_t *)(void *)(p + 1);
}

static inline struct stats_proc *
stats_proc_at(const struct stats_area *a, size_t i)
{
	return (struct stats_proc *)(void *)(a->procs + i * a->proc_size);
}

/*
 * Claims a slot for this process (pid, start time), its open counts zero:
 * a free one, else one whose process is gone, else one left by this very
 * pid before an exec.  NULL when every slot is taken.
 */
struct stats_proc *stats_claim(struct stats_area *);
/* Gives the slot back (a process ending normally). */
void	 stats_release(struct stats_area *, struct stats_proc *);
/* 1 when the process of slot p is alive (same pid, same start time). */
int	 stats_proc_alive(const struct stats_proc *p);
/* This process's start time, as /proc/self/stat gives it; 0 unknown. */
uint64_t stats_self_start(void);

/* FNV-1a, for the file's name and reload stamps. */
#define STATS_HASH_INIT	UINT64_C(0xcbf29ce484222325)
uint64_t stats_hash(uint64_t h, const void *p, size_t n);

/* The reason label of a refusal, from the reason the log line gives. */
enum stats_reason stats_reason_of(const char *reason);
const char *stats_reason_name(enum stats_reason);
/* The STATS_NBUCKETS upper bounds, in microseconds. */
const uint32_t *stats_bucket_bounds(void);

#define STATS_ADD(field, n)	__atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define STATS_GET(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * The process's mapping and its slot: the preload's (preload/statslink.c),
 * which the engine reaches through its front; NULL when stats are off or
 * could not be had.  The slot is claimed before main() and in each fork child.
 */
struct stats_area *stats_shared(void);
struct stats_proc *stats_self(void);

/* Updates; a NULL area or an index past the file's rules does nothing. */
void	 stats_handshake(struct stats_area *, size_t rule, const char *refusal, uint64_t us,
	    int resumed);
/*
 * A reload of files whose stamps hash to stamp: counted once, by the first
 * process of the program that takes (or refuses) that set of files.
 */
void	 stats_reload(struct stats_area *, size_t rule, int ok, int64_t when, uint64_t stamp);
void	 stats_cert(struct stats_area *, size_t rule, int64_t not_after);

static inline void
stats_bytes(struct stats_area *a, size_t rule, int in, size_t n)
{
	if (a != NULL && a->head != NULL && rule < a->head->nrules && n > 0) {
		if (in)
			STATS_ADD(a->rules[rule].bytes_in, n);
		else
			STATS_ADD(a->rules[rule].bytes_out, n);
	}
}

static inline void
stats_open_add(struct stats_area *a, struct stats_proc *p, size_t rule, int delta)
{
	if (a != NULL && p != NULL && a->head != NULL && rule < a->head->nrules)
		__atomic_add_fetch(&stats_proc_open(a, p)[rule], (uint32_t)delta, __ATOMIC_RELAXED);
}

#endif
