/* tlsctx.h: a rule's OpenSSL context: certificate, key, CA, CRL, staple, peer verification, rotation. */
#ifndef MTLSSHIM_TLSCTX_H
#define MTLSSHIM_TLSCTX_H

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/config.h"
#include "common/filedata.h"

struct staple;
struct staple_fetch;

/*
 * A context presenting the rule's certificate and demanding a peer that
 * verifies against its CA (and CRL, and allow-lists).  Every file is read
 * now.  On error returns NULL with one line in err naming the config file,
 * the rule, the option and the file.
 */
SSL_CTX	*tlsctx_new(const struct config *, const struct rule *, char *err, size_t errlen);

/* OpenSSL's reason for the most recent error, in words, and clears it. */
const char *tlsctx_errstr(char *buf, size_t len);

/* Whole days until t (until cert expires), rounded down: negative once it is past. */
int	 tlsctx_days_until(const ASN1_TIME *t);
int	 tlsctx_days_left(X509 *);

/* t as 2006-01-02T15:04:05Z, or "?"; returns buf. */
const char *tlsctx_time_str(const ASN1_TIME *t, char *buf, size_t len);

/* Trusts every certificate in f (certs), takes its CRLs; a server names them as client CAs. */
int	 tlsctx_load_trust(SSL_CTX *, const struct filedata *f, int certs, int client_cas);

/* Why our own checks refused the peer of ssl (identity lists, a CA of its chain by CRL), or NULL. */
const char *tlsctx_refusal(SSL *);

/* A rule's files, in this order. */
enum { TLSCTX_CA, TLSCTX_CERT, TLSCTX_KEY, TLSCTX_CRL, TLSCTX_STAPLE, TLSCTX_FILES };
#define TLSCTX_CACHE	64	/* client sessions kept per rule */
#define TLSCTX_PER_PEER	32	/* of which for one server address */
#define TLSCTX_SERVER_CACHE 1024	/* sessions a server context keeps */

static inline const char *
tlsctx_path(const struct rule *r, int i)
{
	const char *p[TLSCTX_FILES] = { r->ca_file, r->cert_file, r->key_file, r->crl_file,
	    r->ocsp_staple_file };

	/* What lives in a token is not a file to read, watch or cache. */
	if ((i == TLSCTX_CERT && r->cert_in_token) || (i == TLSCTX_KEY && r->key_in_token))
		return NULL;
	return p[i];
}

/* tlsctx_new from files the caller read already (f[i].buf set), the rest from disk; caller frees f. */
SSL_CTX	*tlsctx_new_from(const struct config *, const struct rule *, struct filedata f[TLSCTX_FILES],
	    char *err, size_t errlen);

/* The live context of a rule; rebuilt when its files change on disk. */
struct tlsholder {
	pthread_mutex_t		 lock;
	const struct config	*cfg;
	const struct rule	*rule;
	SSL_CTX			*ctx;
	struct filestamp	 seen[TLSCTX_FILES];	/* what ctx (or the last failed try) was built from */
	/* Read before main() by a process that may lose access before its first connection. */
	struct filedata		 pre[TLSCTX_FILES];
	time_t			 checked;		/* monotonic second of the last look */
	time_t			 warned;		/* last expiry warning */
	struct {
		char		 key[64];
		SSL_SESSION	*sess;
		unsigned long	 seq;		/* order of arrival */
	}			 cache[TLSCTX_CACHE];
	int			 cache_next;
	unsigned long		 cache_seq;
	int			 forked;		/* in a child of the process that set it up */
	unsigned int		 gen;			/* bumped (atomically) when ctx is replaced */
	/* ocsp_stapling: the good response stapled now (staple.h), and its fetch (staple_fetch.h). */
	struct staple		*stapled;
	struct staple_fetch	*fetch;
};

/*
 * Empty: the files passed before (startcache.h), so the context is built by
 * the first tlsholder_get.  No OpenSSL here: the preload calls it before the
 * engine is loaded.
 */
static inline void
tlsholder_setup(struct tlsholder *h, const struct config *c, const struct rule *r)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->cfg = c;
	h->rule = r;
}
/* Builds the context of a holder tlsholder_setup made, now; -1 with the reason in err. */
int	 tlsholder_load(struct tlsholder *, char *err, size_t errlen);
/*
 * The current context, with a reference for the caller (SSL_CTX_free it);
 * NULL (logged) if a lazily built one cannot be made: refuse the connection.
 */
SSL_CTX	*tlsholder_get(struct tlsholder *);
/*
 * Builds the context now if it is not built yet: a listener's, before the
 * program forks its workers or a child per connection, which would each
 * build their own (and issue tickets the others cannot read).  h, or NULL
 * (logged) if it cannot be made.
 */
struct tlsholder *tlsholder_warm(struct tlsholder *);
/* In a fork child (the holder's lock is fresh). */
void	 tlsholder_atfork_child(struct tlsholder *);
/* When the expiry warnings of the holder's certificates fall due (0: no context). */
time_t	 tlsholder_recheck_after(struct tlsholder *);
/* Client side: SNI, name to verify, and a cached session for peer (e.g. "10.0.0.5:5432"). */
void	 tlsholder_client_prepare(struct tlsholder *, SSL *, const char *peer);

#endif
