/* static_hello.c: a statically linked program that says it ran: a line on stdout, its last argument created. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	int fd;

	/* O_EXCL: run as a script's interpreter, argv[1] is the script; never truncate it. */
	if (argc > 1 && (fd = open(argv[argc - 1], O_WRONLY | O_CREAT | O_EXCL, 0644)) != -1)
		close(fd);
	printf("static_hello ran\n");
	return 0;
}
