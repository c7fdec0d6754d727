/* nbfill.c: a non-blocking writer that fills the send path, then half-closes (shut) or drops a message (drop). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: nbfill -m shut|drop HOST PORT GATE
 *   Connects (blocking, SO_SNDBUF 4096), goes O_NONBLOCK and writes 64 KiB messages of a
 *   deterministic stream until write() says EAGAIN and POLLOUT stays off for 300 ms. A
 *   message that got EAGAIN is dropped: only the bytes write() reported count. The peer
 *   (sinksrv) reads nothing until the file GATE exists.
 *   -m shut  a second thread calls recv(MSG_DONTWAIT) while the main thread calls
 *            shutdown(SHUT_WR); both must return on their own, before GATE is created.
 *   -m drop  creates GATE, waits (<= 10 s) for POLLOUT and writes a different message,
 *            MARKER, then shutdown(SHUT_WR).
 *   Then waits (<= 20 s) for the peer's reply line and EOF.
 * Prints "accepted=N hash=H" (FNV-1a of the bytes write() accepted, marker included),
 *   "shutdown = R (ERR)", "recv(MSG_DONTWAIT) = R (ERR)" (shut), "marker = N" (drop),
 *   "peer: LINE" and "eof".
 * Exit: 0 ok, 2 connect failed, 3 shutdown failed, 4 the DONTWAIT recv got no EAGAIN,
 *       5 the marker could not be written, 6 no reply/EOF from the peer.
 */
#define MARKER "MARKER-0123456789-END"

static int s;
static ssize_t rres;
static int rerr;
static uint64_t hash = 1469598103934665603ull;
static long accepted;

static void account(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		hash ^= p[i];
		hash *= 1099511628211ull;
	}
	accepted += (long)n;
}

static void *dontwait_reader(void *arg)
{
	char b[16];

	(void)arg;
	usleep(100000);
	rres = recv(s, b, sizeof b, MSG_DONTWAIT);
	rerr = errno;
	return NULL;
}

int main(int argc, char **argv)
{
	int drop = 0, opt, rc = 0, sz = 4096;

	while ((opt = getopt(argc, argv, "m:")) != -1) {
		if (opt != 'm')
			return 1;
		drop = strcmp(optarg, "drop") == 0;
	}
	if (optind + 3 != argc) {
		fprintf(stderr, "usage: nbfill -m shut|drop HOST PORT GATE\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	const char *gate = argv[optind + 2];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[optind + 1])) };
	if (inet_pton(AF_INET, argv[optind], &a.sin_addr) != 1)
		return 1;
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);

	static unsigned char buf[65536];
	for (unsigned msgno = 0; msgno < 100000; msgno++) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (unsigned char)('a' + (msgno + i / 4096) % 26);
		ssize_t w = write(s, buf, sizeof buf);
		if (w > 0) {
			account(buf, (size_t)w);
			continue;
		}
		if (w < 0 && errno != EAGAIN) {
			printf("write: %s\n", strerror(errno));
			return 6;
		}
		/* EAGAIN: this message is dropped; the next one is another */
		struct pollfd p = { .fd = s, .events = POLLOUT };
		if (poll(&p, 1, 300) == 0)
			break;
	}

	if (!drop) {
		pthread_t t;
		pthread_create(&t, NULL, dontwait_reader, NULL);
		int r = shutdown(s, SHUT_WR);
		int e = errno;
		printf("shutdown = %d (%s)\n", r, r ? strerror(e) : "ok");
		pthread_join(t, NULL);
		printf("recv(MSG_DONTWAIT) = %zd (%s)\n", rres, rres < 0 ? strerror(rerr) : "data");
		if (r)
			rc = 3;
		else if (!(rres < 0 && (rerr == EAGAIN || rerr == EWOULDBLOCK)))
			rc = 4;
	}
	int g = open(gate, O_CREAT | O_WRONLY, 0644);
	if (g >= 0)
		close(g);
	if (drop) {
		size_t off = 0, len = strlen(MARKER);
		for (int tries = 0; off < len && tries < 100; tries++) {
			struct pollfd p = { .fd = s, .events = POLLOUT };
			if (poll(&p, 1, 10000) != 1)
				break;
			ssize_t w = write(s, MARKER + off, len - off);
			if (w > 0) {
				account((const unsigned char *)MARKER + off, (size_t)w);
				off += (size_t)w;
			} else if (w < 0 && errno != EAGAIN)
				break;
		}
		printf("marker = %zu\n", off);
		if (off != len)
			rc = 5;
		int r = shutdown(s, SHUT_WR);
		printf("shutdown = %d (%s)\n", r, r ? strerror(errno) : "ok");
		if (r && !rc)
			rc = 3;
	}
	printf("accepted=%ld hash=%016llx\n", accepted, (unsigned long long)hash);

	char line[256];
	size_t got = 0;
	int eof = 0;
	for (int i = 0; i < 400 && !eof; i++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		if (poll(&p, 1, 50) < 0)
			break;
		ssize_t n = recv(s, line + got, sizeof line - 1 - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			eof = 1;
		else if (errno != EAGAIN)
			break;
	}
	line[got] = 0;
	if (got && line[got - 1] == '\n')
		line[got - 1] = 0;
	printf("peer: %s\n", line);
	if (eof)
		printf("eof\n");
	else if (!rc)
		rc = 6;
	close(s);
	return rc;
}
