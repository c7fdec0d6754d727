/* iomix.c: exercises every read/write flavour (fortified too), poll and the dup family on one socket against an echo peer. */
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2	/* makes read/recv/recvfrom/poll go through __*_chk like Debian packages do */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * usage: iomix HOST PORT
 * For each pair (write flavour, read flavour) sends a distinct message and reads the echo
 * back with the other flavour, checking it. Then does the same through dup, dup2, dup3
 * and F_DUPFD copies, closing the original in between. Prints one "ok ..." line per
 * step and "all ok" at the end; exit 1 at the first failure.
 */

static int fd;

static ssize_t w_write(int s, const char *p, size_t n) { return write(s, p, n); }
static ssize_t w_send(int s, const char *p, size_t n) { return send(s, p, n, MSG_NOSIGNAL); }
static ssize_t w_sendto(int s, const char *p, size_t n) { return sendto(s, p, n, 0, NULL, 0); }
static ssize_t w_sendmsg(int s, const char *p, size_t n)
{
	size_t h = n / 2;
	struct iovec iov[2] = { { (void *)p, h }, { (void *)(p + h), n - h } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	return sendmsg(s, &m, 0);
}
static ssize_t w_writev(int s, const char *p, size_t n)
{
	size_t a = n / 3, b = n / 3;
	struct iovec iov[3] = { { (void *)p, a }, { (void *)(p + a), b }, { (void *)(p + a + b), n - a - b } };
	return writev(s, iov, 3);
}

/* The readers use fixed-size arrays so that _FORTIFY_SOURCE picks the __*_chk variants. */
static char rb[4096];
static volatile size_t rlen_v = sizeof rb;	/* not a compile-time constant: forces __read_chk & co */
#define RLEN ((size_t)rlen_v)
static volatile nfds_t one_v = 1;
static ssize_t r_read(int s, size_t n) { (void)n; return read(s, rb, RLEN); }
static ssize_t r_recv(int s, size_t n) { (void)n; return recv(s, rb, RLEN, 0); }
static ssize_t r_recvfrom(int s, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	(void)n;
	return recvfrom(s, rb, RLEN, 0, (struct sockaddr *)&ss, &sl);
}
static ssize_t r_recvmsg(int s, size_t n)
{
	size_t h = sizeof rb / 2;
	struct iovec iov[2] = { { rb, 3 }, { rb + 3, h } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	(void)n;
	return recvmsg(s, &m, 0);
}
static ssize_t r_readv(int s, size_t n)
{
	struct iovec iov[2] = { { rb, 5 }, { rb + 5, sizeof rb - 5 } };
	(void)n;
	return readv(s, iov, 2);
}
static ssize_t r_waitall(int s, size_t n) { return recv(s, rb, n < sizeof rb ? n : sizeof rb, MSG_WAITALL); }

struct wfn { const char *name; ssize_t (*fn)(int, const char *, size_t); };
struct rfn { const char *name; ssize_t (*fn)(int, size_t); };

static const struct wfn writers[] = {
	{ "write", w_write }, { "send", w_send }, { "sendto", w_sendto },
	{ "sendmsg", w_sendmsg }, { "writev", w_writev },
};
static const struct rfn readers[] = {
	{ "read", r_read }, { "recv", r_recv }, { "recvfrom", r_recvfrom },
	{ "recvmsg", r_recvmsg }, { "readv", r_readv }, { "recv_waitall", r_waitall },
};

/* Sends msg with writer w on wfd and reads it back with reader r on rfd. */
static int roundtrip(int wfd, int rfd, const struct wfn *w, const struct rfn *r, const char *msg)
{
	size_t n = strlen(msg), off = 0;
	char got[4096];
	size_t have = 0;

	while (off < n) {
		ssize_t k = w->fn(wfd, msg + off, n - off);
		if (k <= 0) {
			printf("FAIL %s: %s\n", w->name, k < 0 ? strerror(errno) : "0");
			return -1;
		}
		off += k;
	}
	while (have < n) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int pr = poll(&p, one_v, 10000);
		if (pr <= 0) {
			printf("FAIL poll before %s: %s\n", r->name, pr < 0 ? strerror(errno) : "timeout");
			return -1;
		}
		ssize_t k = r->fn(rfd, n - have);
		if (k <= 0) {
			printf("FAIL %s: %s\n", r->name, k < 0 ? strerror(errno) : "EOF");
			return -1;
		}
		if (have + k > n) {
			printf("FAIL %s: got more than sent\n", r->name);
			return -1;
		}
		memcpy(got + have, rb, k);
		have += k;
	}
	if (memcmp(got, msg, n) != 0) {
		printf("FAIL %s->%s: data differs: %.*s\n", w->name, r->name, (int)n, got);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: iomix HOST PORT\n");
		return 64;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return 64;
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	char msg[256];
	int k = 0;
	for (size_t i = 0; i < sizeof writers / sizeof *writers; i++) {
		for (size_t j = 0; j < sizeof readers / sizeof *readers; j++) {
			snprintf(msg, sizeof msg, "message %d via %s read by %s\n", k++, writers[i].name, readers[j].name);
			if (roundtrip(fd, fd, &writers[i], &readers[j], msg) < 0)
				return 1;
		}
	}
	printf("ok %d flavour pairs\n", k);
	fflush(stdout);

	/* The dup family: every copy is the same connection. */
	int d1 = dup(fd);
	if (d1 < 0 || roundtrip(d1, fd, &writers[0], &readers[0], "through dup\n") < 0)
		return 1;
	int d2 = dup2(fd, 100);
	if (d2 != 100 || roundtrip(fd, d2, &writers[1], &readers[1], "through dup2\n") < 0)
		return 1;
	int d3 = dup3(fd, 101, O_CLOEXEC);
	if (d3 != 101 || roundtrip(d3, d1, &writers[2], &readers[2], "through dup3\n") < 0)
		return 1;
	int d4 = fcntl(fd, F_DUPFD, 200);
	if (d4 < 200 || roundtrip(d4, d3, &writers[3], &readers[3], "through F_DUPFD\n") < 0)
		return 1;
	int d5 = fcntl(fd, F_DUPFD_CLOEXEC, 300);
	if (d5 < 300 || roundtrip(d2, d5, &writers[4], &readers[4], "through F_DUPFD_CLOEXEC\n") < 0)
		return 1;
	printf("ok dup family\n");
	fflush(stdout);
	/* Closing copies, including the original, must not end the session for the others. */
	close(fd);
	close(d1);
	close(d3);
	if (roundtrip(d2, d4, &writers[0], &readers[1], "after closing the original\n") < 0)
		return 1;
	close(d2);
	close(d4);
	if (roundtrip(d5, d5, &writers[1], &readers[0], "last copy\n") < 0)
		return 1;
	/* dup2 over an existing session fd replaces it with another fd of the same session. */
	printf("ok close copies\n");
	close(d5);
	printf("all ok\n");
	return 0;
}
