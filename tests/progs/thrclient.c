/* thrclient.c: one socket, a writer thread and a reader thread, against an echo peer; verifies every byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: thrclient HOST PORT MEGABYTES [THREADPAIRS]
 * Each pair: a connection; one thread writes MEGABYTES of a pseudo-random stream in
 * odd-sized chunks while another reads the echo back and compares it byte by byte.
 * Prints "ok bytes=N hash=H" per pair; exit 0 only if all pairs verified.
 */

static struct sockaddr_storage peer;
static socklen_t peerlen;
static size_t total;

static unsigned char stream_byte(uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 17));
}

struct pair {
	int fd;
	int ok;
	uint64_t hash;
	char err[128];
};

static void *writer(void *arg)
{
	struct pair *p = arg;
	unsigned char buf[40000];
	size_t off = 0;
	unsigned step = 0;

	while (off < total) {
		size_t n = 1000 + (step++ * 7919) % 39000;
		if (n > total - off)
			n = total - off;
		for (size_t i = 0; i < n; i++)
			buf[i] = stream_byte(off + i);
		size_t done = 0;
		while (done < n) {
			ssize_t w = write(p->fd, buf + done, n - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(p->err, sizeof p->err, "write at %zu: %s", off + done,
				    w < 0 ? strerror(errno) : "0");
				return NULL;
			}
			done += w;
		}
		off += n;
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct pair *p = arg;
	unsigned char buf[16384];
	size_t got = 0;
	uint64_t h = 1469598103934665603ull;

	while (got < total) {
		ssize_t r = read(p->fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(p->err, sizeof p->err, "read at %zu: %s", got, r < 0 ? strerror(errno) : "EOF");
			return NULL;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != stream_byte(got + i)) {
				snprintf(p->err, sizeof p->err, "mismatch at %zu", got + i);
				return NULL;
			}
			h = (h ^ buf[i]) * 1099511628211ull;
		}
		got += r;
	}
	p->hash = h;
	p->ok = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: thrclient HOST PORT MEGABYTES [PAIRS]\n");
		return 64;
	}
	memset(&peer, 0, sizeof peer);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer;
	if (inet_pton(AF_INET, argv[1], &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(atoi(argv[2]));
		peerlen = sizeof *s4;
	} else if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(atoi(argv[2]));
		peerlen = sizeof *s6;
	} else {
		fprintf(stderr, "bad host\n");
		return 64;
	}
	total = (size_t)atoi(argv[3]) * 1024 * 1024;
	int npairs = argc == 5 ? atoi(argv[4]) : 1;
	if (npairs < 1 || npairs > 16)
		return 64;
	signal(SIGPIPE, SIG_IGN);

	struct pair pairs[16];
	pthread_t tw[16], tr[16];
	memset(pairs, 0, sizeof pairs);
	for (int i = 0; i < npairs; i++) {
		pairs[i].fd = socket(peer.ss_family, SOCK_STREAM, 0);
		if (pairs[i].fd < 0 || connect(pairs[i].fd, (struct sockaddr *)&peer, peerlen) < 0) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			return 2;
		}
	}
	for (int i = 0; i < npairs; i++) {
		pthread_create(&tr[i], NULL, reader, &pairs[i]);
		pthread_create(&tw[i], NULL, writer, &pairs[i]);
	}
	int bad = 0;
	for (int i = 0; i < npairs; i++) {
		pthread_join(tw[i], NULL);
		pthread_join(tr[i], NULL);
		if (pairs[i].ok) {
			printf("ok bytes=%zu hash=%016llx\n", total, (unsigned long long)pairs[i].hash);
		} else {
			printf("FAIL pair %d: %s\n", i, pairs[i].err);
			bad = 1;
		}
		close(pairs[i].fd);
	}
	return bad ? 1 : 0;
}
