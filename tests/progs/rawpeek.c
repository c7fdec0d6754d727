/* rawpeek.c: a plain (never TLS) TCP server that reports the first bytes each peer sends; run without the shim. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: rawpeek [-b BACKLOG] [-f] [-d SECS] [-n COUNT] [-q MS] [-g GREETING] PORT
 *   Listens on 127.0.0.1:PORT and serves COUNT (default 1) connections one after another.
 *   -b  listen backlog (default 16)
 *   -f  fill the accept queue first with a connection of its own (with -b 0 the kernel then
 *       drops further SYNs, holding the next client's connect() until the filler is accepted)
 *   -d  sleep SECS after "ready" before the first accept (the filler is accepted first)
 *   -g  send GREETING to each peer right after accepting it
 *   -q  stop reading a peer after MS milliseconds without bytes (default 2000), or at EOF,
 *       or after 15 s in all, then close it
 * Prints "ready port=P" once it listens (and the filler is queued), then for each peer
 *   "conn I bytes=N first=0xHH" (first=none when nothing arrived) and "conn I text=PRINTABLE"
 *   (non-printable bytes as '.').
 * Exit: 0 served COUNT peers, 1 setup failed, 3 no peer came within 20 s.
 */
int main(int argc, char **argv)
{
	int backlog = 16, fill = 0, delay = 0, count = 1, quiet = 2000, opt, one = 1;
	const char *greet = NULL;

	while ((opt = getopt(argc, argv, "b:fd:n:q:g:")) != -1) {
		switch (opt) {
		case 'b': backlog = atoi(optarg); break;
		case 'f': fill = 1; break;
		case 'd': delay = atoi(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'q': quiet = atoi(optarg); break;
		case 'g': greet = optarg; break;
		default: return 1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: rawpeek [-b N] [-f] [-d SECS] [-n COUNT] [-q MS] [-g MSG] PORT\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[optind])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, backlog)) {
		perror("bind/listen");
		return 1;
	}
	int filler = -1;
	if (fill) {
		filler = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(filler, (struct sockaddr *)&a, sizeof a)) {
			perror("filler connect");
			return 1;
		}
	}
	printf("ready port=%s\n", argv[optind]);
	if (delay)
		sleep(delay);
	if (fill) {
		int f = accept(ls, NULL, NULL);
		if (f < 0) {
			perror("accept filler");
			return 1;
		}
		/* keep both ends open: only the queue slot mattered */
	}
	for (int i = 1; i <= count; i++) {
		struct pollfd lp = { .fd = ls, .events = POLLIN };
		if (poll(&lp, 1, 20000) != 1) {
			printf("conn %d none: no peer within 20 s\n", i);
			return 3;
		}
		int f = accept(ls, NULL, NULL);
		if (f < 0) {
			perror("accept");
			return 1;
		}
		if (greet && write(f, greet, strlen(greet)) < 0)
			perror("greeting");
		static unsigned char buf[65536];
		size_t got = 0;
		time_t end = time(NULL) + 15;
		while (got < sizeof buf && time(NULL) < end) {
			struct pollfd p = { .fd = f, .events = POLLIN };
			int n = poll(&p, 1, quiet);
			if (n <= 0)
				break;
			ssize_t r = read(f, buf + got, sizeof buf - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got)
			printf("conn %d bytes=%zu first=0x%02x\n", i, got, buf[0]);
		else
			printf("conn %d bytes=0 first=none\n", i);
		printf("conn %d text=", i);
		for (size_t k = 0; k < got; k++)
			putchar(buf[k] >= 32 && buf[k] < 127 ? buf[k] : '.');
		putchar('\n');
		close(f);
	}
	(void)filler;
	return 0;
}
