/* progcheck.c: can LD_PRELOAD reach this program? ELF interpreter, secure mode, scripts, Go. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/config.h"
#include "cli/progcheck.h"

#define DEFAULT_PATH	"/bin:/usr/bin"	/* glibc's execvp when PATH is unset */
#define HEAD_LEN	256		/* what the kernel reads of a #! line */
#define MAX_READ	(1u << 22)	/* bound on headers and name tables read */
#define MAX_NOTES	65536

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA	ELFDATA2LSB
#else
#define HOST_DATA	ELFDATA2MSB
#endif
#define HOST_CLASS	(sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)
/* This launcher's machine; 0: unknown, not compared. */
#if defined(__x86_64__)
#define HOST_MACHINE	EM_X86_64
#elif defined(__i386__)
#define HOST_MACHINE	EM_386
#elif defined(__aarch64__)
#define HOST_MACHINE	EM_AARCH64
#elif defined(__arm__)
#define HOST_MACHINE	EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE	EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE	EM_PPC64
#elif defined(__s390__)
#define HOST_MACHINE	EM_S390
#else
#define HOST_MACHINE	0
#endif

/* The ELF header fields we use, either class. */
struct elfhdr {
	unsigned char	cls, data;
	uint16_t	type, machine, phentsize, shentsize;
	uint32_t	phnum, shnum, shstrndx;
	uint64_t	phoff, shoff;
};

/* A program or section header: the fields we use. */
struct elfpart {
	uint32_t	type, name, link, info;
	uint64_t	off, size, align;
};

/* Appends to the string in buf, cut at its size: messages are bounded, never split. */
static void
append(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/* The verdict: status, and the reason after the interpreters that led to it (pre). */
static int
progcheck_set(struct progcheck *p, int status, const char *pre, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	p->status = status;
	p->reason[0] = '\0';
	append(p->reason, sizeof(p->reason), "%s", pre);
	if ((n = strlen(p->reason)) + 1 >= sizeof(p->reason))
		return status;
	va_start(ap, fmt);
	vsnprintf(p->reason + n, sizeof(p->reason) - n, fmt, ap);
	va_end(ap);
	return status;
}

/* What execve needs of a path: a regular file we may execute. -1 with ENOENT-like or EACCES. */
static int
exec_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) == -1) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

/*
 * glibc's execvp search: a name with a slash as is; else each PATH entry
 * (empty: the current directory), going on past ENOENT-like errors and
 * EACCES, which it reports if nothing is found.
 */
static int
resolve(const char *name, char *out, size_t len)
{
	const char *path, *p, *end;
	int n, eacces = 0;

	if (*name == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (strchr(name, '/') != NULL) {
		if ((size_t)snprintf(out, len, "%s", name) >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return exec_ok(out);
	}
	if (strlen(name) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((path = getenv("PATH")) == NULL)
		path = DEFAULT_PATH;
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		n = snprintf(out, len, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", name);
		if (n >= 0 && (size_t)n < len) {
			if (exec_ok(out) == 0)
				return 0;
			if (errno == EACCES)
				eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE &&
			    errno != ENODEV && errno != ETIMEDOUT)
				return -1;
		}
		if (*end == '\0')
			break;
	}
	errno = eacces ? EACCES : ENOENT;
	return -1;
}

/* len bytes at off, NUL-terminated; NULL when out of bounds or unreadable. */
static unsigned char *
read_at(int fd, uint64_t off, uint64_t len)
{
	unsigned char *b;
	size_t got = 0;
	ssize_t r;

	if (len > MAX_READ || off > (uint64_t)INT64_MAX - len || (b = malloc(len + 1)) == NULL)
		return NULL;
	while (got < len) {
		r = pread(fd, b + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			return NULL;
		}
		got += (size_t)r;
	}
	b[len] = '\0';
	return b;
}

/* 0, or -1 when b is no ELF header we can read (another byte order is left to the caller). */
static int
elf_header(const unsigned char *b, size_t n, struct elfhdr *h)
{
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;

	memset(h, 0, sizeof(*h));
	if (n < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG) != 0)
		return -1;
	h->cls = b[EI_CLASS];
	h->data = b[EI_DATA];
	if (h->data != HOST_DATA)
		return 0;
	if (h->cls == ELFCLASS64 && n >= sizeof(e64)) {
		memcpy(&e64, b, sizeof(e64));
		h->type = e64.e_type;
		h->machine = e64.e_machine;
		h->phoff = e64.e_phoff;
		h->phentsize = e64.e_phentsize;
		h->phnum = e64.e_phnum;
		h->shoff = e64.e_shoff;
		h->shentsize = e64.e_shentsize;
		h->shnum = e64.e_shnum;
		h->shstrndx = e64.e_shstrndx;
	} else if (h->cls == ELFCLASS32 && n >= sizeof(e32)) {
		memcpy(&e32, b, sizeof(e32));
		h->type = e32.e_type;
		h->machine = e32.e_machine;
		h->phoff = e32.e_phoff;
		h->phentsize = e32.e_phentsize;
		h->phnum = e32.e_phnum;
		h->shoff = e32.e_shoff;
		h->shentsize = e32.e_shentsize;
		h->shnum = e32.e_shnum;
		h->shstrndx = e32.e_shstrndx;
	} else
		return -1;
	return 0;
}

static void
elf_phdr(const struct elfhdr *h, const unsigned char *b, struct elfpart *s)
{
	Elf64_Phdr p64;
	Elf32_Phdr p32;

	memset(s, 0, sizeof(*s));
	if (h->cls == ELFCLASS64) {
		memcpy(&p64, b, sizeof(p64));
		s->type = p64.p_type;
		s->off = p64.p_offset;
		s->size = p64.p_filesz;
		s->align = p64.p_align;
	} else {
		memcpy(&p32, b, sizeof(p32));
		s->type = p32.p_type;
		s->off = p32.p_offset;
		s->size = p32.p_filesz;
		s->align = p32.p_align;
	}
}

static void
elf_shdr(const struct elfhdr *h, const unsigned char *b, struct elfpart *s)
{
	Elf64_Shdr s64;
	Elf32_Shdr s32;

	memset(s, 0, sizeof(*s));
	if (h->cls == ELFCLASS64) {
		memcpy(&s64, b, sizeof(s64));
		s->type = s64.sh_type;
		s->name = s64.sh_name;
		s->link = s64.sh_link;
		s->info = s64.sh_info;
		s->off = s64.sh_offset;
		s->size = s64.sh_size;
	} else {
		memcpy(&s32, b, sizeof(s32));
		s->type = s32.sh_type;
		s->name = s32.sh_name;
		s->link = s32.sh_link;
		s->info = s32.sh_info;
		s->off = s32.sh_offset;
		s->size = s32.sh_size;
	}
}

/* Section 0, which holds the real counts when they overflow the ELF header. */
static int
elf_shdr0(int fd, const struct elfhdr *h, struct elfpart *s)
{
	unsigned char *b;

	if (h->shoff == 0 || (b = read_at(fd, h->shoff, h->shentsize)) == NULL)
		return -1;
	elf_shdr(h, b, s);
	free(b);
	return 0;
}

/* Go's build ID note: name "Go", type 4 (cmd/internal/buildid). */
static int
notes_have_go(const unsigned char *b, size_t len, size_t align)
{
	uint32_t namesz, descsz, type;
	size_t off = 0, n, d;

	while (len - off >= 12) {
		memcpy(&namesz, b + off, 4);
		memcpy(&descsz, b + off + 4, 4);
		memcpy(&type, b + off + 8, 4);
		off += 12;
		n = ((size_t)namesz + align - 1) & ~(align - 1);
		d = ((size_t)descsz + align - 1) & ~(align - 1);
		if (n > len - off)
			return 0;
		if (type == 4 && namesz >= 3 && memcmp(b + off, "Go", 3) == 0)
			return 1;
		off += n;
		if (d > len - off)
			return 0;
		off += d;
	}
	return 0;
}

/* A .go.buildinfo or .note.go.buildid section. Bad section headers only mean no answer. */
static int
sections_have_go(int fd, const struct elfhdr *h)
{
	size_t esz = h->cls == ELFCLASS64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	uint64_t shnum = h->shnum, strndx = h->shstrndx, i;
	unsigned char *sh = NULL, *names = NULL;
	struct elfpart s, str;
	int go = 0;

	if (h->shoff == 0 || h->shentsize < esz)
		return 0;
	if ((shnum == 0 || strndx == SHN_XINDEX) && elf_shdr0(fd, h, &s) == 0) {
		if (shnum == 0)
			shnum = s.size;
		if (strndx == SHN_XINDEX)
			strndx = s.link;
	}
	if (shnum == 0 || strndx >= shnum || shnum > MAX_READ / h->shentsize ||
	    (sh = read_at(fd, h->shoff, shnum * h->shentsize)) == NULL)
		goto out;
	elf_shdr(h, sh + strndx * h->shentsize, &str);
	if ((names = read_at(fd, str.off, str.size)) == NULL)
		goto out;
	for (i = 0; i < shnum && !go; i++) {
		elf_shdr(h, sh + i * h->shentsize, &s);
		go = s.name < str.size && (strcmp((char *)names + s.name, ".go.buildinfo") == 0 ||
		    strcmp((char *)names + s.name, ".note.go.buildid") == 0);
	}
 out:
	free(names);
	free(sh);
	return go;
}

/* PT_INTERP (interp[0] NUL: none) and Go's marks. -1 when the program headers are unreadable. */
static int
elf_scan(int fd, const struct elfhdr *h, char *interp, size_t ilen, int *go)
{
	size_t esz = h->cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	unsigned char *ph = NULL, *seg;
	uint64_t phnum = h->phnum, i;
	struct elfpart s;
	int rv = -1;

	interp[0] = '\0';
	*go = 0;
	if (phnum == PN_XNUM) {
		if (elf_shdr0(fd, h, &s) == -1)
			return -1;
		phnum = s.info;
	}
	if (phnum == 0 || h->phentsize < esz || phnum > MAX_READ / h->phentsize ||
	    (ph = read_at(fd, h->phoff, phnum * h->phentsize)) == NULL)
		goto out;
	for (i = 0; i < phnum; i++) {
		elf_phdr(h, ph + i * h->phentsize, &s);
		if (s.type == PT_INTERP) {
			if (s.size == 0 || s.size >= ilen || (seg = read_at(fd, s.off, s.size)) == NULL)
				goto out;
			memcpy(interp, seg, s.size + 1);
			free(seg);
		} else if (s.type == PT_NOTE && !*go && s.size <= MAX_NOTES &&
		    (seg = read_at(fd, s.off, s.size)) != NULL) {
			*go = notes_have_go(seg, s.size, s.align == 8 ? 8 : 4);
			free(seg);
		}
	}
	if (!*go)
		*go = sections_have_go(fd, h);
	rv = 0;
 out:
	free(ph);
	return rv;
}

static const char *
machine_name(uint16_t m, char *buf, size_t len)
{
	switch (m) {
	case EM_386:		return "i386";
	case EM_X86_64:		return "x86-64";
	case EM_ARM:		return "arm";
	case EM_AARCH64:	return "aarch64";
	case EM_RISCV:		return "riscv";
	case EM_PPC:		return "ppc";
	case EM_PPC64:		return "ppc64";
	case EM_S390:		return "s390";
	case EM_MIPS:		return "mips";
	}
	snprintf(buf, len, "machine %u", m);
	return buf;
}

/*
 * Would the kernel set AT_SECURE (ld.so then ignores LD_PRELOAD)?  Set-id
 * bits that change an id from the caller's real one, or file capabilities;
 * nothing on a nosuid mount, and no set-id under no_new_privs.  Root gains
 * nothing from capabilities, so no secure mode for it.
 */
static int
secure_mode(int fd, const struct stat *st, char *why, size_t len)
{
	struct statvfs vfs;
	struct passwd *pw;
	struct group *gr;
	int nnp;

	if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		return 0;
	nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
	if (!nnp && (st->st_mode & S_ISUID) && st->st_uid != getuid()) {
		if ((pw = getpwuid(st->st_uid)) != NULL)
			snprintf(why, len, "setuid %s", pw->pw_name);
		else
			snprintf(why, len, "setuid %u", (unsigned)st->st_uid);
		return 1;
	}
	/* Without group execute, S_ISGID means mandatory locking, not setgid. */
	if (!nnp && (st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
	    st->st_gid != getgid()) {
		if ((gr = getgrgid(st->st_gid)) != NULL)
			snprintf(why, len, "setgid %s", gr->gr_name);
		else
			snprintf(why, len, "setgid %u", (unsigned)st->st_gid);
		return 1;
	}
	if (getuid() != 0 && fgetxattr(fd, "security.capability", NULL, 0) >= 0) {
		snprintf(why, len, "file capabilities");
		return 1;
	}
	return 0;
}

/* The ELF image the kernel loads last: p's verdict. */
static int
inspect_elf(struct progcheck *p, const struct progcheck_lib *l, int fd, const struct stat *st,
    const unsigned char *head, size_t n, const char *pre, const char *dpre, int flags)
{
	char interp[PATH_MAX], why[300], m1[32], m2[32];
	struct elfhdr h;
	int go;

	if (elf_header(head, n, &h) == -1)
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "a malformed ELF file");
	if (h.data != HOST_DATA)
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "an ELF file of the other byte "
		    "order: ld.so cannot load the library into it");
	if (h.type != ET_EXEC && h.type != ET_DYN)
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "an ELF file that is not an "
		    "executable");
	if (l != NULL && l->elfclass != 0 && (h.cls != l->elfclass || h.machine != l->machine))
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "built for %d-bit %s, the library "
		    "for %d-bit %s: ld.so skips the library", h.cls == ELFCLASS64 ? 64 : 32,
		    machine_name(h.machine, m1, sizeof(m1)), l->elfclass == ELFCLASS64 ? 64 : 32,
		    machine_name(l->machine, m2, sizeof(m2)));
	if (elf_scan(fd, &h, interp, sizeof(interp), &go) == -1)
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "a malformed ELF file (its "
		    "program headers cannot be read)");
	/* Static and static-pie alike: no PT_INTERP, no ld.so to read LD_PRELOAD. */
	if (interp[0] == '\0')
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "statically linked: LD_PRELOAD "
		    "cannot reach it");
	if (go && !(flags & PROGCHECK_ALLOW_GO))
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "a Go program: its network I/O "
		    "bypasses libc (--allow-go runs it anyway)");
	if (secure_mode(fd, st, why, sizeof(why)))
		return progcheck_set(p, PROGCHECK_REFUSED, pre, "%s: ld.so ignores LD_PRELOAD in "
		    "secure-execution mode", why);
	p->go = go;
	p->status = PROGCHECK_OK;
	p->detail[0] = '\0';
	append(p->detail, sizeof(p->detail), "%s%sdynamically linked, interpreter %s", dpre,
	    go ? "a Go program allowed by --allow-go, " : "", interp);
	return PROGCHECK_OK;
}

/*
 * The #! line in head: interpreter and its one optional argument, split as
 * the kernel does (blanks around, the rest of the line as one word).
 */
static void
shebang(unsigned char *head, size_t n, char **interp, char **arg)
{
	char *s = (char *)head + 2, *end, *e;

	head[n < HEAD_LEN ? n : HEAD_LEN - 1] = '\0';
	if ((end = strchr(s, '\n')) != NULL)
		*end = '\0';
	s += strspn(s, " \t");
	*interp = s;
	s += strcspn(s, " \t");
	if (*s != '\0')
		*s++ = '\0';
	s += strspn(s, " \t");
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = '\0';
	*arg = s;
}

/*
 * #!/usr/bin/env [OPTION...] [NAME=VALUE...] NAME: NAME, or NULL (env alone
 * prints the environment).  -1 with why when env drops LD_PRELOAD.
 */
static int
env_target(char *arg, char **name, char *why, size_t len)
{
	char *w, *save = NULL;
	int opts = 1, unset = 0, skip = 0;

	*name = NULL;
	for (w = strtok_r(arg, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (unset || strncmp(w, "--unset=", 8) == 0 || (opts && strncmp(w, "-u", 2) == 0 &&
		    w[2] != '\0')) {
			const char *var = unset ? w : w[1] == '-' ? w + 8 : w + 2;

			unset = 0;
			if (strcmp(var, "LD_PRELOAD") == 0 || strcmp(var, CONFIG_ENV) == 0) {
				snprintf(why, len, "its #! line runs env, which unsets %s", var);
				return -1;
			}
		} else if (skip)
			skip = 0;
		else if (opts && (strcmp(w, "-i") == 0 || strcmp(w, "-") == 0 ||
		    strcmp(w, "--ignore-environment") == 0)) {
			snprintf(why, len, "its #! line runs env %s, which clears LD_PRELOAD", w);
			return -1;
		} else if (opts && (strcmp(w, "-u") == 0 || strcmp(w, "--unset") == 0))
			unset = 1;
		else if (opts && (strcmp(w, "-C") == 0 || strcmp(w, "--chdir") == 0))
			skip = 1;
		else if (opts && strcmp(w, "--") == 0)
			opts = 0;
		else if ((opts && w[0] == '-') || strchr(w, '=') != NULL)
			continue;
		else {
			*name = w;
			return 0;
		}
	}
	return 0;
}

static int
is_env(const char *path)
{
	const char *b = strrchr(path, '/');

	return strcmp(b ? b + 1 : path, "env") == 0;
}

int
progcheck_program(struct progcheck *p, const struct progcheck_lib *l, const char *name, int flags)
{
	char file[PATH_MAX], found[PATH_MAX], why[300], *interp, *arg, *target;
	char pre[PROGCHECK_MSGLEN], dpre[PROGCHECK_MSGLEN];
	unsigned char head[HEAD_LEN];
	int depth, fd = -1, rv;
	struct stat st;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (resolve(name, p->path, sizeof(p->path)) == -1) {
		snprintf(p->path, sizeof(p->path), "%s", name);
		return progcheck_set(p, errno == ENOENT ? PROGCHECK_NOTFOUND : PROGCHECK_NOEXEC,
		    "", "%s", strerror(errno));
	}
	snprintf(file, sizeof(file), "%s", p->path);
	pre[0] = dpre[0] = '\0';
	for (depth = 0;; depth++) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
			rv = progcheck_set(p, PROGCHECK_REFUSED, pre, "cannot be read (%s), so "
			    "whether LD_PRELOAD reaches it is unknown", strerror(errno));
			goto out;
		}
		while ((n = pread(fd, head, sizeof(head), 0)) == -1 && errno == EINTR)
			;
		if (n < 0)
			n = 0;
		if (n >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0) {
			rv = inspect_elf(p, l, fd, &st, head, (size_t)n, pre, dpre, flags);
			goto out;
		}
		if (depth == PROGCHECK_DEPTH) {
			rv = progcheck_set(p, PROGCHECK_REFUSED, pre, "#! interpreters nested more "
			    "than %d deep", PROGCHECK_DEPTH);
			goto out;
		}
		/* What the kernel cannot run, execvp hands to /bin/sh (so does the launcher). */
		interp = (char *)PROGCHECK_SHELL;
		arg = NULL;
		if (n >= 2 && head[0] == '#' && head[1] == '!') {
			shebang(head, (size_t)n, &interp, &arg);
			if (*interp == '\0')
				interp = (char *)PROGCHECK_SHELL;
		}
		close(fd);
		fd = -1;
		if (exec_ok(interp) == -1) {
			rv = progcheck_set(p, errno == ENOENT ? PROGCHECK_NOTFOUND : PROGCHECK_NOEXEC,
			    pre, "bad interpreter %s: %s", interp, strerror(errno));
			goto out;
		}
		target = NULL;
		/* env only passes the environment on: what it runs is what counts. */
		if (arg != NULL && is_env(interp)) {
			if (env_target(arg, &target, why, sizeof(why)) == -1) {
				rv = progcheck_set(p, PROGCHECK_REFUSED, pre, "%s", why);
				goto out;
			}
			if (target != NULL && resolve(target, found, sizeof(found)) == -1) {
				rv = progcheck_set(p, errno == ENOENT ? PROGCHECK_NOTFOUND :
				    PROGCHECK_NOEXEC, pre, "%s cannot run %s: %s", interp, target,
				    strerror(errno));
				goto out;
			}
		}
		if (target != NULL)
			snprintf(file, sizeof(file), "%s", found);
		else
			snprintf(file, sizeof(file), "%s", interp);
		append(pre, sizeof(pre), "interpreter %s%s: ", file, target ? " (through env)" : "");
		append(dpre, sizeof(dpre), "a script run by %s%s, ", file,
		    target ? " (through env)" : "");
	}
 out:
	if (fd != -1)
		close(fd);
	return rv;
}

/* Do the segments ld.so maps lie within the file?  One that ends past it faults (SIGBUS). */
static int
elf_fits(int fd, const struct elfhdr *h, uint64_t size)
{
	size_t esz = h->cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	unsigned char *ph;
	struct elfpart s;
	uint64_t i;
	int ok = 1;

	/* Another class or a header that makes no sense: dlopen says so better. */
	if (h->cls != HOST_CLASS || h->phnum == 0 ||
	    h->phnum == PN_XNUM || h->phentsize != esz)
		return 1;
	if (h->phoff > size || (uint64_t)h->phnum * h->phentsize > size - h->phoff)
		return 0;
	if ((ph = read_at(fd, h->phoff, (uint64_t)h->phnum * h->phentsize)) == NULL)
		return 1;
	for (i = 0; i < h->phnum && ok; i++) {
		elf_phdr(h, ph + i * h->phentsize, &s);
		if ((s.type == PT_LOAD || s.type == PT_DYNAMIC) && (s.off > size || s.size > size - s.off))
			ok = 0;
	}
	free(ph);
	return ok;
}

int
progcheck_library(struct progcheck_lib *l, const char *path)
{
	unsigned char head[sizeof(Elf64_Ehdr)];
	const char *old, *e;
	char *saved = NULL, m1[32], m2[32];
	struct elfhdr h;
	struct stat st;
	size_t plen;
	ssize_t n;
	void *dl;
	int fd;

	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "%s", path);
	/*
	 * Its class and machine, which a program must share (ld.so skips it
	 * otherwise), and a look for what would crash dlopen rather than fail
	 * it: a truncated file.  A name without a slash is searched for: dlopen
	 * alone judges it.
	 */
	if (strchr(path, '/') != NULL && (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = pread(fd, head, sizeof(head), 0);
		if (n > 0 && elf_header(head, (size_t)n, &h) == 0 && h.data == HOST_DATA) {
			/* dlopen would say "No such file" of another machine's library. */
			if (h.cls != HOST_CLASS || (HOST_MACHINE != 0 && h.machine != HOST_MACHINE)) {
				snprintf(l->err, sizeof(l->err), "built for %d-bit %s, this launcher "
				    "for %d-bit %s", h.cls == ELFCLASS64 ? 64 : 32,
				    machine_name(h.machine, m1, sizeof(m1)),
				    HOST_CLASS == ELFCLASS64 ? 64 : 32,
				    machine_name(HOST_MACHINE, m2, sizeof(m2)));
				close(fd);
				return -1;
			}
			if (fstat(fd, &st) == 0 && !elf_fits(fd, &h, (uint64_t)st.st_size)) {
				snprintf(l->err, sizeof(l->err), "truncated: its segments end past the "
				    "end of the file");
				close(fd);
				return -1;
			}
			l->elfclass = h.cls;
			l->elfdata = h.data;
			l->machine = h.machine;
		}
		close(fd);
	}
	/*
	 * Then dlopen, not an ELF-level check: ld.so's own verdict, dependencies
	 * included.  The library's constructor runs here too; pointed at an
	 * empty config it parses no rule, loads no engine and writes no start-up
	 * cache (the real config would, and would log its warnings once more),
	 * so it costs little beyond the mapping.
	 */
	if ((old = getenv(CONFIG_ENV)) != NULL && (saved = strdup(old)) == NULL) {
		snprintf(l->err, sizeof(l->err), "out of memory");
		return -1;
	}
	setenv(CONFIG_ENV, "/dev/null", 1);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (saved != NULL)
		setenv(CONFIG_ENV, saved, 1);
	else
		unsetenv(CONFIG_ENV);
	free(saved);
	if (dl == NULL) {
		l->elfclass = 0;
		/* dlerror() starts with the path, which the caller names already. */
		e = dlerror();
		plen = strlen(path);
		if (e != NULL && strncmp(e, path, plen) == 0 && strncmp(e + plen, ": ", 2) == 0)
			e += plen + 2;
		snprintf(l->err, sizeof(l->err), "%s", e ? e : "cannot be loaded");
		return -1;
	}
	l->ok = 1;
	return 0;
}
