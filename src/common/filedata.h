/* filedata.h: a certificate, key or CRL file's bytes and identity, read in one go; no OpenSSL. */
#ifndef MTLSSHIM_FILEDATA_H
#define MTLSSHIM_FILEDATA_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

/* Which file a path names now: rotation and the start-up cache compare these. */
struct filestamp {
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtim, ctim;
	int		 missing;
};

struct filedata {
	char			*buf;	/* NULL: not read */
	size_t			 len;
	struct filestamp	 st;	/* of the file these bytes came from */
};

/* The stamp of path (all zero for NULL; missing set if stat fails); padding zeroed. */
void	filestamp_get(const char *path, struct filestamp *);
/* Reads path whole, at most 64 MiB: 0, or -1 with errno (EFBIG when larger). */
int	filedata_read(const char *path, struct filedata *);
/*
 * The first line of path (a PIN, a password) into buf, NUL-terminated; the
 * file's bytes are wiped.  0, or -1 with errno: ENODATA for an empty line,
 * E2BIG when it does not fit or holds a NUL, EINVAL for what is not a
 * regular file.
 */
int	filedata_secret(const char *path, char *buf, size_t len);
/* Wipes the bytes (they may be a private key) and frees them. */
void	filedata_free(struct filedata *);

#endif
