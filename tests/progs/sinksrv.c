/* sinksrv.c: a plaintext server that reads nothing until a gate file exists, then counts everything up to EOF. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/*
 * usage: sinksrv PORT GATE
 *   Accepts one connection on 127.0.0.1:PORT; reads nothing until the file GATE exists
 *   (or 15 s passed), then reads to EOF (20 s bound per read), answers
 *   "total=N hash=H\n" and closes.
 * Prints "listening port=P", "gate=go" or "gate=timeout" (the peer never opened it),
 *   "total=N hash=H tail=LAST32" (FNV-1a over all bytes) and "eof" or "read: ERR".
 * Exit: 0 read to EOF, 3 the read failed or timed out, 1 setup failed.
 */
int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sinksrv PORT GATE\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16)) {
		perror("bind/listen");
		return 1;
	}
	printf("listening port=%s\n", argv[1]);
	int f = accept(ls, NULL, NULL);
	if (f < 0) {
		perror("accept");
		return 1;
	}
	int i;
	for (i = 0; i < 300 && access(argv[2], F_OK) != 0; i++)
		usleep(50000);
	printf("gate=%s\n", i < 300 ? "go" : "timeout");
	struct timeval tv = { 20, 0 };
	setsockopt(f, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	static unsigned char buf[65536];
	uint64_t hash = 1469598103934665603ull;
	long total = 0;
	char tail[33] = "";
	ssize_t n;
	while ((n = read(f, buf, sizeof buf)) > 0) {
		for (ssize_t k = 0; k < n; k++) {
			hash ^= buf[k];
			hash *= 1099511628211ull;
		}
		total += n;
		size_t keep = n >= 32 ? 32 : (size_t)n, old = strlen(tail);
		if (old + keep > 32) {
			memmove(tail, tail + (old + keep - 32), 32 - keep);
			old = 32 - keep;
		}
		for (size_t k = 0; k < keep; k++) {
			unsigned char c = buf[n - keep + k];
			tail[old + k] = c >= 32 && c < 127 ? (char)c : '.';
		}
		tail[old + keep] = 0;
	}
	int e = errno;
	printf("total=%ld hash=%016llx tail=%s\n", total, (unsigned long long)hash, tail);
	if (n < 0) {
		printf("read: %s\n", strerror(e));
		return 3;
	}
	printf("eof\n");
	char line[128];
	int len = snprintf(line, sizeof line, "total=%ld hash=%016llx\n", total, (unsigned long long)hash);
	if (write(f, line, (size_t)len) < 0)
		perror("write");
	close(f);
	return 0;
}
