/* timeo.c: blocking recv/send on a wrapped socket give up after SO_RCVTIMEO / SO_SNDTIMEO. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

/*
 * usage: timeo HOST PORT GATE
 *   Connects (blocking) to a peer that neither sends nor reads until GATE exists.
 *   recv() with SO_RCVTIMEO = 300 ms must fail with EAGAIN; then send() of 64 MB with
 *   SO_SNDTIMEO = 300 ms must stop with a short count or EAGAIN.  Creates GATE, then
 *   shuts down and exits.
 * Prints "recv = -1 (ERR)", "send = N of M" or "send = -1 (ERR)".
 * Exit: 0 both calls came back as the kernel's would, 1 otherwise, 4 setup.
 */
int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { 0, 300000 };
	size_t big = 64u << 20;
	char buf[256], *data;
	ssize_t r;
	int s, ok = 1, fd;

	if (argc != 4)
		return 4;
	a.sin_port = htons(atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(s, (void *)&a, sizeof a)) {
		perror("connect");
		return 4;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	r = recv(s, buf, sizeof buf, 0);
	printf("recv = %zd (%s)\n", r, r < 0 ? strerror(errno) : "data");
	if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		ok = 0;
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if ((data = calloc(1, big)) == NULL)
		return 4;
	r = send(s, data, big, MSG_NOSIGNAL);
	if (r < 0)
		printf("send = -1 (%s)\n", strerror(errno));
	else
		printf("send = %zd of %zu\n", r, big);
	if (!((r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) || (r >= 0 && (size_t)r < big)))
		ok = 0;
	if ((fd = open(argv[3], O_CREAT | O_WRONLY, 0600)) >= 0)
		close(fd);
	shutdown(s, SHUT_WR);
	close(s);
	return ok ? 0 : 1;
}
