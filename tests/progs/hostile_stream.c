/* hostile_stream.c: a plaintext client that streams to or from a peer which may die or stop reading. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: hostile_stream -m write|read [-s nosignal|ignore] HOST PORT BYTES
 *   write: sends BYTES (0: without end) in 64 KiB chunks; read: reads until EOF, an error or BYTES.
 *   -s nosignal  send(MSG_NOSIGNAL), SIGPIPE left at its default (kills on a wrong SIGPIPE)
 *   -s ignore    write(), SIGPIPE ignored (default)
 * Prints "connected", "progress N" once past 1 MiB, then one line
 * "result=ok|eof|error errno=NAME bytes=N ms=T" (T from the progress line to the end), exit 0.
 * Exit 2 if connect fails.
 */
static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *mode = "write", *sig = "ignore";
	int opt;

	while ((opt = getopt(argc, argv, "m:s:")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 's': sig = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	unsigned long long want = strtoull(argv[optind + 2], NULL, 10), done = 0;
	int nosig = !strcmp(sig, "nosignal");
	if (!nosig)
		signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[optind + 1])) };
	inet_pton(AF_INET, argv[optind], &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	printf("connected\n");
	static char buf[65536];
	memset(buf, 'x', sizeof buf);
	int progress = 0, err = 0;
	double t0 = now_ms();
	const char *result = "ok";
	while (want == 0 || done < want) {
		ssize_t n;
		if (!strcmp(mode, "write"))
			n = nosig ? send(fd, buf, sizeof buf, MSG_NOSIGNAL) : write(fd, buf, sizeof buf);
		else
			n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			result = "error";
			break;
		}
		if (n == 0) {
			result = "eof";
			break;
		}
		done += n;
		if (!progress && done >= (1 << 20)) {
			progress = 1;
			t0 = now_ms();
			printf("progress %llu\n", done);
		}
	}
	printf("result=%s errno=%s bytes=%llu ms=%.0f\n", result,
	    err ? strerrorname_np(err) : "0", done, now_ms() - t0);
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: hostile_stream -m write|read [-s nosignal|ignore] HOST PORT BYTES\n");
	return 64;
}
