/* client.c: a plaintext blocking TCP client for the shim's e2e tests: send, optionally half-close, print the reply. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: client [-v] [-s] [-l LINES] [-w SECS] HOST PORT [MSG]
 *   -v: say "connected" on stderr once connect() returned.
 *   connects (blocking), writes MSG, with -s calls shutdown(SHUT_WR), then copies
 *   what it reads to stdout until EOF (or until LINES newlines with -l).
 *   -w SECS: sleep before writing (lets a peer act first).
 * Exit: 0 ok ("EOF" on stderr when read returned 0), 2 connect failed ("connect: ERR"),
 *       3 read failed ("read: ERR"), 4 write failed ("write: ERR").
 */
int main(int argc, char **argv)
{
	int shut = 0, lines = -1, wait = 0, verbose = 0, opt;

	while ((opt = getopt(argc, argv, "vsl:w:")) != -1) {
		switch (opt) {
		case 's': shut = 1; break;
		case 'v': verbose = 1; break;
		case 'l': lines = atoi(optarg); break;
		case 'w': wait = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		goto usage;
	const char *host = argv[optind], *msg = argc - optind == 3 ? argv[optind + 2] : NULL;
	int port = atoi(argv[optind + 1]);
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof *s6;
	} else {
		goto usage;
	}
	signal(SIGPIPE, SIG_IGN);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return 2;
	}
	if (verbose)
		fprintf(stderr, "connected\n");
	if (wait)
		sleep(wait);
	if (msg) {
		size_t n = strlen(msg), off = 0;
		while (off < n) {
			ssize_t w = write(fd, msg + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, "write: %s\n", w < 0 ? strerror(errno) : "0");
				return 4;
			}
			off += w;
		}
	}
	if (shut && shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "shutdown: %s\n", strerror(errno));
		return 4;
	}
	char buf[16384];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fflush(stdout);
			fprintf(stderr, "read: %s\n", strerror(errno));
			return 3;
		}
		if (r == 0) {
			fflush(stdout);
			fprintf(stderr, "EOF\n");
			break;
		}
		fwrite(buf, 1, r, stdout);
		if (lines > 0) {
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] == '\n')
					lines--;
			if (lines <= 0)
				break;
		}
	}
	fflush(stdout);
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: client [-v] [-s] [-l LINES] [-w SECS] HOST PORT [MSG]\n");
	return 64;
}
