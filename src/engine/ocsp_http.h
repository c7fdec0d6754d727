/* ocsp_http.h: one OCSP exchange over HTTP/1.0, driven non-blocking by its caller. */
#ifndef MTLSSHIM_OCSP_HTTP_H
#define MTLSSHIM_OCSP_HTTP_H

#include <stddef.h>

/* Largest response taken (a basic response for one certificate is ~1-2 KiB). */
#define OCSP_HTTP_MAX	(64 * 1024)

struct ocsp_http {
	int		 fd;		/* -1: no exchange */
	int		 connecting;
	int		 done;		/* the whole response is in */
	unsigned char	*out;		/* the request, headers and body */
	size_t		 outlen, outoff;
	unsigned char	*in;		/* the response as received */
	size_t		 inlen;
	size_t		 want;		/* headers plus Content-Length, once known */
};

/*
 * Connects (non-blocking) to the host of url ("http://host[:port][/path]")
 * and queues the POST of the DER request req.  A host that is not an
 * address literal is resolved with getaddrinfo, which may wait for DNS:
 * hence ocsp_responder, which takes a literal.  0, or -1 with why.
 */
int	 ocsp_http_start(struct ocsp_http *, const char *url, const unsigned char *req,
	    size_t reqlen, char *why, size_t whylen);
/*
 * Moves the exchange on without blocking: 0 once the response is in, -1
 * with why, or POLLIN/POLLOUT: what h->fd must become ready for.
 */
int	 ocsp_http_step(struct ocsp_http *, char *why, size_t whylen);
/* The body of a complete 200 response, its length in *len; NULL with why otherwise. */
const unsigned char *ocsp_http_body(struct ocsp_http *, size_t *len, char *why, size_t whylen);
/* Ends the exchange (if any) and frees its buffers; h may be started again. */
void	 ocsp_http_close(struct ocsp_http *);

#endif
