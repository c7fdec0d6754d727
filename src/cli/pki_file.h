/* pki_file.h: whole files or none in a PKI directory (temp file, fsync, rename). */
#ifndef MTLSSHIM_PKI_FILE_H
#define MTLSSHIM_PKI_FILE_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

/* A file written in full under a temp name, waiting to be renamed over its target. */
struct pkif_staged {
	char	name[NAME_MAX + 1];	/* the target, in the directory */
	char	tmp[NAME_MAX + 1];	/* "" once renamed or removed */
	int	fresh;			/* the target did not exist when staged */
};

/*
 * Writes data to a new temp file ".NAME.XXXXXX.tmp" in dirfd, created O_EXCL with mode (so a
 * key is 0600 from its first byte), and fsyncs it. -1 with errno, no temp file left, on failure.
 */
int	pkif_stage(int dirfd, struct pkif_staged *s, const char *name, mode_t mode,
	    const void *data, size_t len);

/*
 * Renames each staged file over its target, in order, then fsyncs the directory. On a failure
 * the targets renamed so far that were fresh are removed again and the other temp files too:
 * -1 with errno.
 */
int	pkif_commit(int dirfd, struct pkif_staged *v, size_t n);

/* Removes the temp files of v that are still staged. */
void	pkif_abort(int dirfd, struct pkif_staged *v, size_t n);

/* 1 when name exists in dirfd (as anything, a dangling link too), 0 when not. */
int	pkif_exists(int dirfd, const char *name);

/* 1 when dirfd holds no entry but . and .., 0 when it does, -1 with errno. */
int	pkif_empty(int dirfd);

/* name in dirfd opened for reading, NULL with errno. */
FILE	*pkif_open(int dirfd, const char *name);

#endif
