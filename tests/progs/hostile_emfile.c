/* hostile_emfile.c: a blocking server that runs out of descriptors before accept(), then recovers. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: hostile_emfile PORT DIR
 *   listens on 127.0.0.1:PORT with RLIMIT_NOFILE 64, prints "listening fds=N", fills the
 *   descriptor table with /dev/null, prints "filled", waits (<= 20 s) for DIR/go, then calls
 *   accept() with a 5 s alarm and prints "accept1 errno=NAME"; frees 4 descriptors, prints
 *   "freed", accepts again (alarm 20 s): "accept2 ok" or "accept2 errno=NAME"; echoes one line
 *   back, closes everything it opened, the listener too, and prints "end fds=N" (one less
 *   than at "listening" unless a descriptor leaked).
 */
static void on_alarm(int sig) { (void)sig; }

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static int accept_alarm(int lfd, unsigned secs)
{
	alarm(secs);
	int fd = accept(lfd, NULL, NULL);
	int e = errno;
	alarm(0);
	errno = e;
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: hostile_emfile PORT DIR\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART: accept gets EINTR */
	sigaction(SIGALRM, &sa, NULL);
	struct rlimit rl = { 64, 64 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("setrlimit");
		return 1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 16) < 0) {
		perror("bind/listen");
		return 1;
	}
	int before = count_fds();
	printf("listening fds=%d\n", before);

	int fill[64], nfill = 0, fd;
	while (nfill < 64 && (fd = open("/dev/null", O_RDONLY)) >= 0)
		fill[nfill++] = fd;
	printf("filled %d\n", nfill);

	char go[4096];
	snprintf(go, sizeof go, "%s/go", argv[2]);
	for (int i = 0; i < 200 && access(go, F_OK) != 0; i++)
		usleep(100000);

	fd = accept_alarm(lfd, 5);
	if (fd >= 0) {
		printf("accept1 ok\n");
		close(fd);
	} else
		printf("accept1 errno=%s\n", strerrorname_np(errno));

	for (int i = 0; i < 4 && nfill > 0; i++)
		close(fill[--nfill]);
	printf("freed\n");
	fd = accept_alarm(lfd, 20);
	if (fd < 0)
		printf("accept2 errno=%s\n", strerrorname_np(errno));
	else {
		char buf[256];
		ssize_t n = read(fd, buf, sizeof buf);
		printf("accept2 ok read=%zd\n", n);
		if (n > 0 && write(fd, buf, n) != n)
			printf("write failed\n");
		close(fd);
	}
	while (nfill > 0)
		close(fill[--nfill]);
	close(lfd);
	printf("end fds=%d\n", count_fds());
	return 0;
}
