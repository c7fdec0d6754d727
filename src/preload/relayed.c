/* relayed.c: sockets that are ends of relays' pairs, and the TCP addresses they stand for. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/lockstat.h"
#include "preload/forkstate.h"
#include "preload/relayed.h"

struct relayed {
	unsigned long		ino;
	struct sockaddr_storage	addr[2];	/* peer, local */
	socklen_t		len[2];
};

/* The entries RELAYED_ENV brought into this image. */
static struct relayed	relayed[RELAYED_MAX];
static int		nrelayed;
static unsigned long	peer_ino;	/* the entry marked /P, 0 for none */
static pthread_once_t	relayed_once = PTHREAD_ONCE_INIT;
static atomic_int	relayed_ready;	/* relayed_load has run */

/* Relays this process made while it runs on: the last RELAYED_MAX. */
static struct relayed	handed[RELAYED_MAX];
static char		handed_note[RELAYED_MAX][RELAYED_NOTE];
static char		**handed_peer[RELAYED_MAX];	/* its session's MTLSSHIM_PEER_*, or NULL */
static atomic_uint	nhanded;	/* ever made; written under handed_lock */
static pthread_mutex_t	handed_lock = PTHREAD_MUTEX_INITIALIZER;

static void
hex_append(char *buf, size_t size, const void *p, socklen_t len)
{
	const unsigned char *b = p;
	size_t at = strlen(buf);
	socklen_t i;

	for (i = 0; i < len && at + 2 < size; i++, at += 2)
		snprintf(buf + at, size - at, "%02x", b[i]);
}

void
relayed_note(char *env, size_t size, int fd, const struct sockaddr *peer, socklen_t plen,
    const struct sockaddr *local, socklen_t llen)
{
	struct stat st;
	size_t at;

	if (fstat(fd, &st) == -1 || plen == 0 || llen == 0 ||
	    (at = strlen(env)) + RELAYED_NOTE > size)
		return;
	snprintf(env + at, size - at, "%s%lu/", at ? "," : "", (unsigned long)st.st_ino);
	hex_append(env, size, peer, plen);
	strncat(env, "/", size - strlen(env) - 1);
	hex_append(env, size, local, llen);
}

void
relayed_note_handed(int fd, const struct sockaddr *peer, socklen_t plen,
    const struct sockaddr *local, socklen_t llen)
{
	char note[RELAYED_NOTE + 1] = "";

	relayed_note(note, sizeof(note), fd, peer, plen, local, llen);
	relayed_add(note, NULL, 0);
}

static socklen_t
unhex(const char *p, const char *end, void *out, size_t size)
{
	unsigned char *b = out;
	socklen_t n = 0;
	unsigned int v;

	while (p + 1 < end && n < size && sscanf(p, "%2x", &v) == 1) {
		b[n++] = (unsigned char)v;
		p += 2;
	}
	return n;
}

/* One ENTRY (see RELAYED_ENV) into r; 1 if it held both addresses. */
static int
relayed_parse(const char *p, const char *end, struct relayed *r)
{
	const char *f1, *f2;

	const char *f3;

	f1 = memchr(p, '/', (size_t)(end - p));
	f2 = f1 ? memchr(f1 + 1, '/', (size_t)(end - f1 - 1)) : NULL;
	if (f2 == NULL)
		return 0;
	if ((f3 = memchr(f2 + 1, '/', (size_t)(end - f2 - 1))) == NULL)
		f3 = end;
	r->ino = strtoul(p, NULL, 10);
	r->len[0] = unhex(f1 + 1, f2, &r->addr[0], sizeof(r->addr[0]));
	r->len[1] = unhex(f2 + 1, f3, &r->addr[1], sizeof(r->addr[1]));
	return r->len[0] > 0 && r->len[1] > 0;
}

static void
relayed_load(void)
{
	const char *p = getenv(RELAYED_ENV), *end;
	struct relayed r;

	while (p != NULL && *p != '\0') {
		end = p + strcspn(p, ",");
		/* The mark counts beyond RELAYED_MAX: it may be on the newest entry. */
		if (relayed_parse(p, end, &r)) {
			if (end - p > 2 && memcmp(end - 2, "/P", 2) == 0)
				peer_ino = r.ino;
			if (nrelayed < RELAYED_MAX)
				relayed[nrelayed++] = r;
		}
		p = *end ? end + 1 : end;
	}
	atomic_store(&relayed_ready, 1);
}

/*
 * RELAYED_ENV is read by the constructor below, or by the first use before
 * it (another library's constructor), never by a vfork child: it shares our
 * memory and must take no lock.  One that finds it unread (a vfork made
 * before the constructor) reads no entries: no peer, the variables drop.
 */
static int
relayed_loaded(void)
{
	if (atomic_load(&relayed_ready))
		return 1;
	if (forkstate_in_vfork_child())
		return 0;
	pthread_once(&relayed_once, relayed_load);
	return 1;
}

__attribute__((constructor)) static void
relayed_init(void)
{
	relayed_loaded();
}

int
relayed_is_peer(int fd)
{
	struct stat st;
	int saved = errno, r;

	r = relayed_loaded() && peer_ino != 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (unsigned long)st.st_ino == peer_ino;
	errno = saved;
	return r;
}

void
relayed_unmark(char *env)
{
	char *p = env, *end;

	while (*p != '\0') {
		end = p + strcspn(p, ",");
		if (end - p > 2 && memcmp(end - 2, "/P", 2) == 0) {
			memmove(end - 2, end, strlen(end) + 1);
			end -= 2;
		}
		p = *end ? end + 1 : end;
	}
}

void
relayed_mark_peer(char *env, size_t size)
{
	size_t at = strlen(env);

	if (at > 0 && at + 3 <= size)
		memcpy(env + at, "/P", 3);
}

static void
vars_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
relayed_add(const char *note, char **vars, int nvars)
{
	char **keep = NULL, **old = NULL;
	unsigned i;
	int j;

	/* A socket whose peer cannot be kept is one without: never another's. */
	if (nvars > 0 && (keep = calloc((size_t)nvars + 1, sizeof(*keep))) != NULL)
		memcpy(keep, vars, (size_t)nvars * sizeof(*keep));
	else
		for (j = 0; j < nvars; j++)
			free(vars[j]);
	if (note[0] == '\0') {
		vars_free(keep);
		return;
	}
	plock(&handed_lock);
	i = atomic_load(&nhanded) % RELAYED_MAX;
	if (relayed_parse(note, note + strlen(note), &handed[i])) {
		snprintf(handed_note[i], sizeof(handed_note[i]), "%s", note);
		old = handed_peer[i];
		handed_peer[i] = keep;
		keep = NULL;
		atomic_fetch_add(&nhanded, 1);
	}
	pthread_mutex_unlock(&handed_lock);
	vars_free(old);
	vars_free(keep);
}

int
relayed_peer_vars(int fd, char **vars, int max, unsigned long *ino)
{
	struct stat st;
	unsigned i = 0, k, n, all;
	int saved = errno, r = 0, j, found = 0;

	if (atomic_load(&nhanded) == 0 || fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return 0;
	}
	plock(&handed_lock);
	all = atomic_load(&nhanded);
	n = all < RELAYED_MAX ? all : RELAYED_MAX;
	/* The newest entry of the inode: an older one may be a closed socket's, its number reused. */
	for (k = 1; k <= n && !found; k++) {
		i = (all - k) % RELAYED_MAX;
		found = handed[i].ino == (unsigned long)st.st_ino;
	}
	for (j = 0; found && handed_peer[i] != NULL && j < max && handed_peer[i][j] != NULL; j++)
		if ((vars[j] = strdup(handed_peer[i][j])) == NULL) {
			while (j-- > 0)
				free(vars[j]);
			r = -1;
			break;
		}
	if (r == 0)
		r = j;
	pthread_mutex_unlock(&handed_lock);
	*ino = (unsigned long)st.st_ino;
	errno = r == -1 ? ENOMEM : saved;
	return r;
}

unsigned
relayed_handed(void)
{
	return atomic_load(&nhanded);
}

void
relayed_handed_notes(char *buf, size_t size, unsigned long mark)
{
	unsigned i, n;
	size_t at;

	plock(&handed_lock);
	n = atomic_load(&nhanded) < RELAYED_MAX ? atomic_load(&nhanded) : RELAYED_MAX;
	for (i = 0; i < n; i++) {
		at = strlen(buf);
		snprintf(buf + at, size - at, "%s%s", at ? "," : "", handed_note[i]);
		if (mark != 0 && handed[i].ino == mark)
			relayed_mark_peer(buf, size);
	}
	pthread_mutex_unlock(&handed_lock);
}

/* fd's entry, copied to out; 0, or -1 if fd is not a relayed socket. */
static int
relayed_find(int fd, struct relayed *out)
{
	struct stat st;
	unsigned i, n;
	int saved = errno, found = -1;

	if (!relayed_loaded() || (nrelayed == 0 && atomic_load(&nhanded) == 0))
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return -1;
	}
	for (i = 0; i < (unsigned)nrelayed && found; i++)
		if (relayed[i].ino == (unsigned long)st.st_ino) {
			*out = relayed[i];
			found = 0;
		}
	if (found && atomic_load(&nhanded) > 0) {
		plock(&handed_lock);
		n = atomic_load(&nhanded) < RELAYED_MAX ? atomic_load(&nhanded) : RELAYED_MAX;
		for (i = 0; i < n && found; i++)
			if (handed[i].ino == (unsigned long)st.st_ino) {
				*out = handed[i];
				found = 0;
			}
		pthread_mutex_unlock(&handed_lock);
	}
	return found;
}

int
relayed_sockname(int fd, int peer, struct sockaddr *sa, socklen_t *len)
{
	struct relayed r;
	int i = peer ? 0 : 1;

	if (sa == NULL || len == NULL || relayed_find(fd, &r) == -1)
		return -1;	/* the real call reports EFAULT or the truth */
	memcpy(sa, &r.addr[i], *len < r.len[i] ? *len : r.len[i]);
	*len = r.len[i];
	return 0;
}

int
relayed_known(int fd)
{
	struct relayed r;

	return relayed_find(fd, &r) == 0;
}

void
relayed_atfork_child(void)
{
	pthread_mutex_init(&handed_lock, NULL);
}
