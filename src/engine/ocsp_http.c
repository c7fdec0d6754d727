/* ocsp_http.c: one OCSP exchange over HTTP/1.0, driven non-blocking by its caller. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/http.h>

#include "common/real.h"
#include "engine/ocsp_http.h"

static int
fail(char *why, size_t len, const char *what, const char *detail)
{
	snprintf(why, len, "OCSP responder %s%s%s", what, detail ? ": " : "",
	    detail ? detail : "");
	return -1;
}

/* One address for host:port; literals never touch the resolver. */
static int
resolve(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *sslen,
    char *why, size_t whylen)
{
	struct addrinfo hints, *res;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		e = getaddrinfo(host, port, &hints, &res);
	}
	if (e != 0)
		return fail(why, whylen, "address unknown", gai_strerror(e));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
ocsp_http_start(struct ocsp_http *h, const char *url, const unsigned char *req,
    size_t reqlen, char *why, size_t whylen)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int tls = 0, n, r = -1;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if (!OSSL_HTTP_parse_url(url, &tls, NULL, &host, &port, NULL, &path, &query, NULL) ||
	    tls) {
		fail(why, whylen, "URL is not http://host[:port][/path]", url);
		goto out;
	}
	if (resolve(host, port, &ss, &sslen, why, whylen) == -1)
		goto out;
	n = snprintf(NULL, 0, "POST %s%s%s HTTP/1.0\r\nHost: %s\r\n"
	    "Content-Type: application/ocsp-request\r\nContent-Length: %zu\r\n\r\n",
	    path, query && *query ? "?" : "", query ? query : "", host, reqlen);
	if ((h->out = malloc((size_t)n + 1 + reqlen)) == NULL) {
		fail(why, whylen, "request", strerror(ENOMEM));
		goto out;
	}
	snprintf((char *)h->out, (size_t)n + 1, "POST %s%s%s HTTP/1.0\r\nHost: %s\r\n"
	    "Content-Type: application/ocsp-request\r\nContent-Length: %zu\r\n\r\n",
	    path, query && *query ? "?" : "", query ? query : "", host, reqlen);
	memcpy(h->out + n, req, reqlen);
	h->outlen = (size_t)n + reqlen;
	/* Our own socket, past the hooks: no rule may claim it. */
	h->fd = REAL(socket)(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		fail(why, whylen, "socket", strerror(errno));
		goto out;
	}
	if (REAL(connect)(h->fd, (struct sockaddr *)&ss, sslen) == -1) {
		if (errno != EINPROGRESS) {
			fail(why, whylen, "connect", strerror(errno));
			goto out;
		}
		h->connecting = 1;
	}
	r = 0;
 out:
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	OPENSSL_free(query);
	if (r == -1)
		ocsp_http_close(h);
	return r;
}

/* Where the body starts (after the blank line), or NULL while headers come. */
static const unsigned char *
body_start(const struct ocsp_http *h)
{
	const unsigned char *p = h->in, *end = h->in + h->inlen;

	for (; p + 4 <= end; p++)
		if (memcmp(p, "\r\n\r\n", 4) == 0)
			return p + 4;
	return NULL;
}

/* Headers complete: how much the whole response is, if it says (else read to EOF). */
static void
want_from_headers(struct ocsp_http *h, const unsigned char *body)
{
	const char *p = (const char *)h->in, *end = (const char *)body, *nl;
	static const char cl[] = "content-length:";

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1)
		if ((size_t)(nl - p) > sizeof(cl) - 1 && strncasecmp(p, cl, sizeof(cl) - 1) == 0) {
			h->want = (size_t)(body - h->in) + strtoul(p + sizeof(cl) - 1, NULL, 10);
			return;
		}
}

int
ocsp_http_step(struct ocsp_http *h, char *why, size_t whylen)
{
	const unsigned char *body;
	socklen_t elen = sizeof(int);
	ssize_t n;
	int err = 0;

	if (h->done)
		return 0;
	if (h->connecting) {
		struct pollfd p = { .fd = h->fd, .events = POLLOUT };

		if (REAL(poll)(&p, 1, 0) == 0)
			return POLLOUT;
		if (REAL(getsockopt)(h->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err != 0)
			return fail(why, whylen, "connect", strerror(err));
		h->connecting = 0;
	}
	while (h->outoff < h->outlen) {
		n = REAL(send)(h->fd, h->out + h->outoff, h->outlen - h->outoff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return POLLOUT;
		if (n < 0 && errno != EINTR)
			return fail(why, whylen, "send", strerror(errno));
		if (n > 0)
			h->outoff += (size_t)n;
	}
	for (;;) {
		if (h->in == NULL && (h->in = malloc(OCSP_HTTP_MAX)) == NULL)
			return fail(why, whylen, "response", strerror(ENOMEM));
		if (h->inlen == OCSP_HTTP_MAX)
			return fail(why, whylen, "response is too large", NULL);
		n = REAL(recv)(h->fd, h->in + h->inlen, OCSP_HTTP_MAX - h->inlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return POLLIN;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(why, whylen, "recv", strerror(errno));
		if (n == 0)
			break;
		h->inlen += (size_t)n;
		if (h->want == 0 && (body = body_start(h)) != NULL)
			want_from_headers(h, body);
		if (h->want != 0 && h->inlen >= h->want)
			break;
	}
	h->done = 1;
	return 0;
}

const unsigned char *
ocsp_http_body(struct ocsp_http *h, size_t *len, char *why, size_t whylen)
{
	const unsigned char *body = h->in ? body_start(h) : NULL;
	int code;

	if (body == NULL || sscanf((const char *)h->in, "HTTP/1.%*1[01] %3d", &code) != 1) {
		fail(why, whylen, "answer is not HTTP", NULL);
		return NULL;
	}
	if (code != 200) {
		snprintf(why, whylen, "OCSP responder answered HTTP %d", code);
		return NULL;
	}
	*len = h->want != 0 && h->want <= h->inlen ? h->want - (size_t)(body - h->in) :
	    h->inlen - (size_t)(body - h->in);
	if (*len == 0) {
		fail(why, whylen, "answer has no body", NULL);
		return NULL;
	}
	return body;
}

void
ocsp_http_close(struct ocsp_http *h)
{
	if (h->fd >= 0)
		REAL(close)(h->fd);
	free(h->out);
	free(h->in);
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}
