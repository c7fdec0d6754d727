/*
 * recordcost.c: what OpenSSL itself costs per small request and response,
 * with no mtlsshim and no second process: two TLS 1.3 endpoints in one
 * thread over a socketpair, a 34-byte request and a 5-byte reply per round
 * (a redis GET), against the same rounds in plaintext, with mtlsshim's
 * default cipher order.  The difference is
 * the floor any OpenSSL-based wrapper pays per request on this machine.
 *
 * Usage: recordcost PKI-DIR [ROUNDS]   (PKI-DIR holds ca, server and client .crt/.key)
 * Prints: plain_us=X tls_us=Y cipher=Z   (CPU microseconds per round)
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

static double
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
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
	int sv[2], i, n = argc > 2 ? atoi(argv[2]) : 100000;
	SSL_CTX *cs, *cc;
	SSL *s, *c;
	char buf[64];
	double t0, plain, tls;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: recordcost PKI-DIR [ROUNDS]\n");
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		if (write(sv[1], req, sizeof(req) - 1) < 0 || read(sv[0], buf, sizeof(buf)) < 0 ||
		    write(sv[0], "$-1\r\n", 5) < 0 || read(sv[1], buf, sizeof(buf)) < 0)
			return 1;
	}
	plain = (cpu_us() - t0) / n;

	if ((cs = ctx_new(1, argv[1])) == NULL || (cc = ctx_new(0, argv[1])) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	s = SSL_new(cs);
	c = SSL_new(cc);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	/* Both ends in one thread: each handshake step returns when it must wait. */
	for (i = 0; i < 2; i++) {
		int fl = 1;

		if (ioctl(sv[i], FIONBIO, &fl) == -1)
			return 1;
	}
	for (i = 0; i < 100 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); i++) {
		SSL_do_handshake(c);
		SSL_do_handshake(s);
	}
	if (!SSL_is_init_finished(s) || !SSL_is_init_finished(c)) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	t0 = cpu_us();
	for (i = 0; i < n; i++) {
		if (SSL_write(c, req, sizeof(req) - 1) <= 0 || SSL_read(s, buf, sizeof(buf)) <= 0 ||
		    SSL_write(s, "$-1\r\n", 5) <= 0 || SSL_read(c, buf, sizeof(buf)) <= 0) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
	}
	tls = (cpu_us() - t0) / n;
	printf("plain_us=%.2f tls_us=%.2f cipher=%s\n", plain, tls, SSL_get_cipher(s));
	return 0;
}
