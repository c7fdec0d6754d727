/* readiness.c: poll/select/epoll must report readable only for application data, including data buffered inside the shim. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: readiness HOST PORT   (the peer must echo and send nothing unprompted)
 * 1. Right after connect (TLS 1.3 tickets may have arrived): poll, select and epoll all
 *    report "not readable", and a non-blocking recv says EAGAIN.
 * 2. After sending "ping\n": readable; the echo is read back.
 * 3. After a 3-line burst is echoed, read 1 byte: the rest is still reported readable at
 *    once by poll, select and epoll (it may sit decrypted inside the shim), then read in full.
 * Prints "ok STEP" lines; exit 1 with "FAIL ..." at the first difference.
 */

static int fd, ep;

static int readable_poll(int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);
	return r > 0 && (p.revents & POLLIN);
}

static int readable_select(int ms)
{
	fd_set r;
	FD_ZERO(&r);
	FD_SET(fd, &r);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return select(fd + 1, &r, NULL, NULL, &tv) > 0 && FD_ISSET(fd, &r);
}

static int readable_epoll(int ms)
{
	struct epoll_event ev;
	return epoll_wait(ep, &ev, 1, ms) > 0 && (ev.events & EPOLLIN);
}

#define FAIL(...) do { printf("FAIL "); printf(__VA_ARGS__); printf("\n"); return 1; } while (0)

static int read_exact(char *buf, size_t n)
{
	size_t have = 0;
	while (have < n) {
		if (!readable_poll(10000))
			return -1;
		ssize_t r = recv(fd, buf + have, n - have, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return -1;
		have += r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: readiness HOST PORT\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);

	/* 1: nothing to read yet, whatever protocol bytes arrived. */
	usleep(300000);
	if (readable_poll(500))
		FAIL("poll reports readable before any application data");
	if (readable_select(300))
		FAIL("select reports readable before any application data");
	if (readable_epoll(300))
		FAIL("epoll reports readable before any application data");
	char buf[256];
	ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		FAIL("non-blocking recv before data: %zd (%s)", r, r < 0 ? strerror(errno) : "data or EOF");
	printf("ok quiet\n");

	/* 2: one echo. */
	if (write(fd, "ping\n", 5) != 5)
		FAIL("write: %s", strerror(errno));
	if (!readable_poll(10000))
		FAIL("poll never reported the echo");
	if (read_exact(buf, 5) < 0 || memcmp(buf, "ping\n", 5) != 0)
		FAIL("echo of ping");
	if (readable_poll(300))
		FAIL("poll reports readable after the echo was consumed");
	printf("ok echo\n");

	/* 3: buffered plaintext is reported by every readiness call. */
	const char *burst = "first line\nsecond line\nthird line\n";
	size_t bl = strlen(burst);
	if (write(fd, burst, bl) != (ssize_t)bl)
		FAIL("write burst: %s", strerror(errno));
	usleep(500000);	/* let the whole echo arrive */
	if (read_exact(buf, 1) < 0 || buf[0] != 'f')
		FAIL("first byte of burst");
	size_t have = 1;
	if (!readable_poll(0))
		FAIL("poll(0) does not report the rest of the burst");
	if (!readable_select(0))
		FAIL("select(0) does not report the rest of the burst");
	if (!readable_epoll(0))
		FAIL("epoll_wait(0) does not report the rest of the burst");
	while (have < bl) {
		if (!readable_poll(5000))
			FAIL("poll lost the rest of the burst at %zu", have);
		r = recv(fd, buf + have, bl - have, MSG_DONTWAIT);
		if (r <= 0)
			FAIL("recv of burst at %zu: %s", have, r < 0 ? strerror(errno) : "EOF");
		have += r;
	}
	if (memcmp(buf, burst, bl) != 0)
		FAIL("burst differs");
	printf("ok buffered\n");

	/* 4: EOF is readable. */
	shutdown(fd, SHUT_WR);
	if (!readable_poll(10000))
		FAIL("poll does not report EOF");
	r = read(fd, buf, sizeof buf);
	if (r != 0)
		FAIL("read at EOF: %zd", r);
	printf("ok eof\n");
	close(fd);
	return 0;
}
