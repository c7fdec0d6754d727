/* lockstat.c: a counting build's tally of process-wide lock acquisitions (make bench). */
#include "common/lockstat.h"

#ifdef MTLSSHIM_LOCKSTAT
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOCKSTAT_SIZE	4096
#define NONE		((uint64_t *)1)

static uint64_t	*counter;	/* NULL: not looked yet; NONE: no file */

/* Raw system calls: this runs inside our own hooks' locks. */
static uint64_t *
lockstat_map(void)
{
	const char *path = getenv(LOCKSTAT_ENV);
	struct stat st;
	void *p;
	int fd;

	if (path == NULL || *path == '\0')
		return NONE;
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return NONE;
	if (syscall(SYS_fstat, fd, &st) == -1 ||
	    (st.st_size < LOCKSTAT_SIZE && syscall(SYS_ftruncate, fd, LOCKSTAT_SIZE) == -1)) {
		syscall(SYS_close, fd);
		return NONE;
	}
	p = mmap(NULL, LOCKSTAT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	syscall(SYS_close, fd);
	return p == MAP_FAILED ? NONE : p;
}

void
lockstat_count(void)
{
	uint64_t *c = __atomic_load_n(&counter, __ATOMIC_ACQUIRE), *expect = NULL;

	if (c == NULL) {
		c = lockstat_map();
		/* Two first callers: one mapping wins, the other stays unused. */
		if (!__atomic_compare_exchange_n(&counter, &expect, c, 0, __ATOMIC_ACQ_REL,
		    __ATOMIC_ACQUIRE))
			c = expect;
	}
	if (c != NONE)
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}
#endif
