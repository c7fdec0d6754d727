/*
 * recordcost.c: what OpenSSL itself costs per small request and response,
 * with no mtlsshim: two TLS 1.3 endpoints in one thread over a socketpair
 * (mtlsshim's default cipher order), a 34-byte request and a 5-byte reply
 * per round (a redis GET), against the same rounds in plaintext.  With both
 * ends in one thread OpenSSL's code and data stay in the caches, so the
 * difference is the least any OpenSSL-based wrapper adds per request here.
 *
 * Usage: recordcost PKI-DIR [ROUNDS]   (PKI-DIR holds ca, server and client .crt/.key)
 * Prints: plain_us=A tls_us=B cipher=C   (CPU microseconds per round, both ends)
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char req[] = "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n";

/* One end of the pair: TLS when ssl is set, else the plain socket. */
struct end {
	SSL	*ssl;
	int	 fd;
};

static double
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int
put(struct end *e, const char *p, int len)
{
	return e->ssl ? SSL_write(e->ssl, p, len) : (int)write(e->fd, p, (size_t)len);
}

/* Takes the message the other end has just written. */
static int
get(struct end *e)
{
	char buf[64];

	return e->ssl ? SSL_read(e->ssl, buf, sizeof(buf)) : (int)read(e->fd, buf, sizeof(buf));
}

/* CPU per round with both ends in this thread; -1 on failure. */
static double
one_process(struct end *c, struct end *s, int n)
{
	double t0 = cpu_us();
	int i;

	for (i = 0; i < n; i++)
		if (put(c, req, sizeof(req) - 1) <= 0 || get(s) <= 0 ||
		    put(s, "$-1\r\n", 5) <= 0 || get(c) <= 0)
			return -1;
	return (cpu_us() - t0) / n;
}

static int
set_nonblock(int fd, int on)
{
	return ioctl(fd, FIONBIO, &on);
}

static SSL_CTX *
ctx_new(int server, const char *dir)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s.crt", dir, server ? "server" : "client");
	if (c == NULL || SSL_CTX_use_certificate_file(c, p, SSL_FILETYPE_PEM) != 1)
		return NULL;
	snprintf(p, sizeof(p), "%s/%s.key", dir, server ? "server" : "client");
	if (SSL_CTX_use_PrivateKey_file(c, p, SSL_FILETYPE_PEM) != 1)
		return NULL;
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	if (SSL_CTX_load_verify_locations(c, p, NULL) != 1)
		return NULL;
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	/* mtlsshim's default order (src/tlsctx.c). */
	SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	    "TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_num_tickets(c, 0);
	return c;
}

int
main(int argc, char **argv)
{
	struct end pc, ps, tc, ts;
	int sv[2], i, n = argc > 2 ? atoi(argv[2]) : 100000;
	double plain, tls;
	SSL_CTX *cs, *cc;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: recordcost PKI-DIR [ROUNDS]\n");
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	pc = (struct end){ NULL, sv[1] };
	ps = (struct end){ NULL, sv[0] };
	plain = one_process(&pc, &ps, n);

	if ((cs = ctx_new(1, argv[1])) == NULL || (cc = ctx_new(0, argv[1])) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	ts = (struct end){ SSL_new(cs), sv[0] };
	tc = (struct end){ SSL_new(cc), sv[1] };
	SSL_set_fd(ts.ssl, sv[0]);
	SSL_set_fd(tc.ssl, sv[1]);
	SSL_set_accept_state(ts.ssl);
	SSL_set_connect_state(tc.ssl);
	/* Both ends in one thread: each handshake step returns when it must wait. */
	if (set_nonblock(sv[0], 1) == -1 || set_nonblock(sv[1], 1) == -1)
		return 1;
	for (i = 0; i < 100 && !(SSL_is_init_finished(ts.ssl) && SSL_is_init_finished(tc.ssl)); i++) {
		SSL_do_handshake(tc.ssl);
		SSL_do_handshake(ts.ssl);
	}
	if (!SSL_is_init_finished(ts.ssl) || !SSL_is_init_finished(tc.ssl)) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	tls = one_process(&tc, &ts, n);
	if (plain < 0 || tls < 0) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "recordcost: a round failed\n");
		return 1;
	}
	printf("plain_us=%.2f tls_us=%.2f cipher=%s\n", plain, tls, SSL_get_cipher(ts.ssl));
	return 0;
}
