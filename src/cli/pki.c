/* pki.c: `mtlsshim pki init|issue|revoke`: arguments, the three commands, their files in DIR. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli/pki.h"
#include "cli/pki_file.h"
#include "cli/pki_x509.h"

#define EX_USAGE	64

/* What makes a directory a PKI of ours: init writes ca.crt last, so both mean init finished. */
#define CA_BASE		"ca"
#define CA_CRT		CA_BASE ".crt"
#define CA_KEY		CA_BASE ".key"
#define CRL_PEM		"crl.pem"
#define NOT_PKI		"not a PKI made by `mtlsshim pki init` (no ca.crt and ca.key)"

/* --expired: a window that ended yesterday; --not-yet-valid: one that opens in 30 days. */
#define EXPIRED_START	(-30)
#define EXPIRED_END	(-1)
#define NOTYET_START	30

enum cmd { CMD_INIT = 0x1, CMD_ISSUE = 0x2, CMD_REVOKE = 0x4 };

/* The command's state and, as libtls keeps it, the one error that ends it. */
struct pki {
	char	 dir[PATH_MAX];		/* as given, less trailing slashes: for messages */
	int	 dirfd;
	int	 code;			/* exit status for err */
	char	 err[1024];
};

struct args {
	enum cmd		 cmd;
	const char		*pos[2];	/* DIR, NAME */
	int			 npos, days, days_set, eku, expired, notyet, rsa, force;
	const char		*cn;
	struct pkix_san		*san;		/* argc entries, nsan used */
	size_t			 nsan;
};

enum opt_id {
	OPT_DAYS, OPT_NAME, OPT_SERVER, OPT_CLIENT, OPT_DNS, OPT_IP, OPT_URI, OPT_EXPIRED,
	OPT_NOTYET, OPT_KEY, OPT_FORCE
};

static const struct opt {
	const char	*name;
	enum opt_id	 id;
	int		 arg, cmds;
} opts[] = {
	{ "--days", OPT_DAYS, 1, CMD_INIT | CMD_ISSUE },
	{ "--name", OPT_NAME, 1, CMD_INIT },
	{ "--server", OPT_SERVER, 0, CMD_ISSUE },
	{ "--client", OPT_CLIENT, 0, CMD_ISSUE },
	{ "--dns", OPT_DNS, 1, CMD_ISSUE },
	{ "--ip", OPT_IP, 1, CMD_ISSUE },
	{ "--uri", OPT_URI, 1, CMD_ISSUE },
	{ "--expired", OPT_EXPIRED, 0, CMD_ISSUE },
	{ "--not-yet-valid", OPT_NOTYET, 0, CMD_ISSUE },
	{ "--key", OPT_KEY, 1, CMD_ISSUE },
	{ "--force", OPT_FORCE, 0, CMD_ISSUE },
};

static const struct command {
	const char	*name;
	enum cmd	 cmd;
	int		 npos;
} commands[] = {
	{ "init", CMD_INIT, 1 },
	{ "issue", CMD_ISSUE, 2 },
	{ "revoke", CMD_REVOKE, 2 },
};

static const char usage_text[] =
    "usage: mtlsshim pki init DIR [--days N] [--name CN]\n"
    "       mtlsshim pki issue DIR NAME [--server] [--client] [--dns NAME]... [--ip ADDR]...\n"
    "                [--uri URI]... [--days N] [--expired | --not-yet-valid] [--key ec|rsa]\n"
    "                [--force]\n"
    "       mtlsshim pki revoke DIR NAME\n";

static void
vset(struct pki *p, int code, const char *tail, const char *fmt, va_list ap)
{
	int n;

	p->code = code;
	n = vsnprintf(p->err, sizeof(p->err), fmt, ap);
	if (tail != NULL && n >= 0 && (size_t)n < sizeof(p->err))
		snprintf(p->err + n, sizeof(p->err) - (size_t)n, ": %s", tail);
}

/* A runtime failure, with strerror(errno) appended. */
static void
pki_seterr(struct pki *p, const char *fmt, ...)
{
	const char *tail = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vset(p, 1, tail, fmt, ap);
	va_end(ap);
}

/* A failure in our own words, exit status code. */
static void
pki_seterrx(struct pki *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(p, code, NULL, fmt, ap);
	va_end(ap);
}

/* A runtime failure in libcrypto, with its last reason appended. */
static void
pki_setssl(struct pki *p, const char *fmt, ...)
{
	const char *tail = ERR_reason_error_string(ERR_peek_last_error());
	va_list ap;

	va_start(ap, fmt);
	vset(p, 1, tail ? tail : "unknown OpenSSL error", fmt, ap);
	va_end(ap);
	ERR_clear_error();
}

/* Control bytes never reach the terminal through a message. */
static const char *
shown(const char *s)
{
	const unsigned char *c;

	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			return "(a value with control bytes)";
	return s;
}

/* Bytes below 0x20 and DEL; with ia5 (DNS names, URIs) also the space and non-ASCII. */
static int
bad_bytes(const char *s, int ia5)
{
	const unsigned char *c;

	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f || (ia5 && (*c == ' ' || *c > 0x7f)))
			return 1;
	return 0;
}

/* NAME becomes NAME.crt and NAME.key in DIR, and the CN. */
static int
check_name(struct pki *p, const char *s)
{
	const char *why = NULL;

	if (*s == '\0')
		why = "empty";
	else if (strchr(s, '/') != NULL)
		why = "has a '/' (NAME is a file name in DIR)";
	else if (*s == '.')
		why = "starts with '.' (NAME is a file name in DIR)";
	else if (bad_bytes(s, 0))
		why = "has control bytes";
	else if (strcmp(s, CA_BASE) == 0)
		why = "reserved for the CA's own ca.crt and ca.key";
	else if (strlen(s) > PKIX_CN_MAX)
		why = "longer than 64 bytes (it is the certificate's CN)";
	if (why == NULL)
		return 0;
	pki_seterrx(p, EX_USAGE, "bad NAME %s: %s", shown(s), why);
	return -1;
}

static int
check_cn(struct pki *p, const char *s)
{
	if (*s != '\0' && !bad_bytes(s, 0) && strlen(s) <= PKIX_CN_MAX)
		return 0;
	pki_seterrx(p, EX_USAGE, "bad --name %s: a CN of 1 to 64 bytes without control bytes",
	    shown(s));
	return -1;
}

static int
parse_days(struct pki *p, const char *s, int *days)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && v >= 1 && v <= PKI_MAX_DAYS) {
		*days = (int)v;
		return 0;
	}
	pki_seterrx(p, EX_USAGE, "bad --days %s: a whole number of days from 1 to %d", shown(s),
	    PKI_MAX_DAYS);
	return -1;
}

/* A URI needs its scheme, RFC 3986's ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) and ':'. */
static int
check_uri(struct pki *p, const char *s)
{
	const char *c = s;

	if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z'))
		for (c++; (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'; c++)
			;
	if (c > s && *c == ':' && !bad_bytes(s, 1))
		return 0;
	pki_seterrx(p, EX_USAGE, "bad --uri %s: needs a scheme (as in spiffe://x/y) and no spaces, "
	    "control or non-ASCII bytes", shown(s));
	return -1;
}

static int
add_san(struct pki *p, struct args *a, enum pkix_san_type type, const char *v)
{
	struct pkix_san *s = &a->san[a->nsan];

	memset(s, 0, sizeof(*s));
	s->type = type;
	s->text = v;
	if (type == PKIX_SAN_DNS && (*v == '\0' || bad_bytes(v, 1))) {
		pki_seterrx(p, EX_USAGE, "bad --dns %s: a DNS name, ASCII without spaces or control "
		    "bytes", shown(v));
		return -1;
	}
	if (type == PKIX_SAN_IP) {
		if (inet_pton(AF_INET, v, s->ip) == 1)
			s->iplen = 4;
		else if (inet_pton(AF_INET6, v, s->ip) == 1)
			s->iplen = 16;
		else {
			pki_seterrx(p, EX_USAGE, "bad --ip %s: not an IPv4 or IPv6 address", shown(v));
			return -1;
		}
	}
	if (type == PKIX_SAN_URI && check_uri(p, v) == -1)
		return -1;
	a->nsan++;
	return 0;
}

static int
apply_opt(struct pki *p, struct args *a, enum opt_id id, const char *v)
{
	switch (id) {
	case OPT_DAYS:
		a->days_set = 1;
		return parse_days(p, v, &a->days);
	case OPT_NAME:
		a->cn = v;
		return check_cn(p, v);
	case OPT_SERVER:
		a->eku |= PKIX_EKU_SERVER;
		return 0;
	case OPT_CLIENT:
		a->eku |= PKIX_EKU_CLIENT;
		return 0;
	case OPT_DNS:
		return add_san(p, a, PKIX_SAN_DNS, v);
	case OPT_IP:
		return add_san(p, a, PKIX_SAN_IP, v);
	case OPT_URI:
		return add_san(p, a, PKIX_SAN_URI, v);
	case OPT_EXPIRED:
		a->expired = 1;
		return 0;
	case OPT_NOTYET:
		a->notyet = 1;
		return 0;
	case OPT_KEY:
		if (strcmp(v, "ec") == 0 || strcmp(v, "rsa") == 0) {
			a->rsa = v[0] == 'r';
			return 0;
		}
		pki_seterrx(p, EX_USAGE, "bad --key %s: ec or rsa", shown(v));
		return -1;
	case OPT_FORCE:
		a->force = 1;
		return 0;
	}
	return -1;
}

/* One option at argv[*i] ("--opt VALUE" or "--opt=VALUE"); *i moves past its value. */
static int
parse_opt(struct pki *p, struct args *a, const char *cmdname, int argc, char **argv, int *i)
{
	const char *arg = argv[*i], *eq = strchr(arg, '='), *v = NULL;
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg), k;

	for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
		if (strlen(opts[k].name) == len && strncmp(opts[k].name, arg, len) == 0)
			break;
	if (k == sizeof(opts) / sizeof(opts[0])) {
		pki_seterrx(p, EX_USAGE, "%s: unknown option %s (mtlsshim pki --help)", cmdname,
		    shown(arg));
		return -1;
	}
	if (!(opts[k].cmds & a->cmd)) {
		pki_seterrx(p, EX_USAGE, "%s: %s is not an option of %s (mtlsshim pki --help)",
		    cmdname, opts[k].name, cmdname);
		return -1;
	}
	if (opts[k].arg && eq != NULL)
		v = eq + 1;
	else if (opts[k].arg && *i + 1 < argc)
		v = argv[++*i];
	else if (opts[k].arg || eq != NULL) {
		pki_seterrx(p, EX_USAGE, "%s: %s %s", cmdname, opts[k].name,
		    opts[k].arg ? "needs a value" : "takes no value");
		return -1;
	}
	return apply_opt(p, a, opts[k].id, v);
}

/* The positional arguments and options after the command; the checks that need them all. */
static int
parse_args(struct pki *p, struct args *a, const struct command *c, int argc, char **argv)
{
	int i, dashdash = 0;

	for (i = 2; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = 1;
		else if (!dashdash && argv[i][0] == '-' && argv[i][1] != '\0') {
			if (parse_opt(p, a, c->name, argc, argv, &i) == -1)
				return -1;
		} else if (a->npos == c->npos) {
			pki_seterrx(p, EX_USAGE, "%s: unexpected argument %s", c->name, shown(argv[i]));
			return -1;
		} else
			a->pos[a->npos++] = argv[i];
	}
	if (a->npos < c->npos) {
		pki_seterrx(p, EX_USAGE, "%s: missing %s (mtlsshim pki --help)", c->name,
		    a->npos == 0 ? "DIR" : "NAME");
		return -1;
	}
	if (a->expired && a->notyet) {
		pki_seterrx(p, EX_USAGE, "issue: --expired and --not-yet-valid exclude each other");
		return -1;
	}
	if (a->expired && a->days_set) {
		pki_seterrx(p, EX_USAGE, "issue: --days with --expired: its window is fixed "
		    "(30 days ago to yesterday)");
		return -1;
	}
	if (*a->pos[0] == '\0') {
		pki_seterrx(p, EX_USAGE, "%s: empty DIR", c->name);
		return -1;
	}
	if (c->npos > 1 && check_name(p, a->pos[1]) == -1)
		return -1;
	/* No SAN given: DNS:NAME, which NAME must then be able to be. */
	if (c->cmd == CMD_ISSUE && a->nsan == 0 && bad_bytes(a->pos[1], 1)) {
		pki_seterrx(p, EX_USAGE, "bad NAME %s: no DNS name (spaces or non-ASCII), so give "
		    "the SAN with --dns, --ip or --uri", a->pos[1]);
		return -1;
	}
	if (c->cmd == CMD_ISSUE && a->nsan == 0 && add_san(p, a, PKIX_SAN_DNS, a->pos[1]) == -1)
		return -1;
	if (!a->days_set)
		a->days = c->cmd == CMD_INIT ? PKI_CA_DAYS : PKI_LEAF_DAYS;
	return 0;
}

/* DIR for messages: "a/b/" is shown "a/b"; "/" stays. */
static int
set_dir(struct pki *p, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n >= sizeof(p->dir)) {
		pki_seterrx(p, EX_USAGE, "DIR is longer than %d bytes", PATH_MAX - 1);
		return -1;
	}
	memcpy(p->dir, dir, n);
	p->dir[n] = '\0';
	return 0;
}

/*
 * Opens DIR and takes its lock (flock: two revokes at once must not lose an entry). *made is
 * set when init created DIR here, so a failure can take it away again.
 */
static int
open_dir(struct pki *p, int create, int *made)
{
	*made = 0;
	if (create) {
		if (mkdir(p->dir, 0700) == 0)
			*made = 1;
		else if (errno != EEXIST) {
			pki_seterr(p, "cannot create %s", p->dir);
			return -1;
		}
	}
	if ((p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			pki_seterrx(p, 1, "%s: no such directory (mtlsshim pki init %s makes one)",
			    p->dir, p->dir);
		else
			pki_seterr(p, "cannot open %s", p->dir);
		return -1;
	}
	if (flock(p->dirfd, LOCK_EX) == -1) {
		pki_seterr(p, "cannot lock %s", p->dir);
		return -1;
	}
	return 0;
}

static int
is_pki(struct pki *p)
{
	return pkif_exists(p->dirfd, CA_CRT) && pkif_exists(p->dirfd, CA_KEY);
}

static int
no_pass(char *buf, int size, int rw, void *u)
{
	/* Our keys are not encrypted; never prompt on a terminal for one that is. */
	return -1;
}

static void *
rd_x509(FILE *f)
{
	return PEM_read_X509(f, NULL, no_pass, NULL);
}

static void *
rd_key(FILE *f)
{
	return PEM_read_PrivateKey(f, NULL, no_pass, NULL);
}

static void *
rd_crl(FILE *f)
{
	return PEM_read_X509_CRL(f, NULL, no_pass, NULL);
}

/* One PEM object of DIR/name, read by rd; NULL with the error set. */
static void *
read_pem(struct pki *p, const char *name, void *(*rd)(FILE *), const char *what)
{
	FILE *f;
	void *o;

	if ((f = pkif_open(p->dirfd, name)) == NULL) {
		pki_seterr(p, "cannot read %s/%s", p->dir, name);
		return NULL;
	}
	o = rd(f);
	fclose(f);
	if (o == NULL)
		pki_setssl(p, "%s/%s: not a PEM %s", p->dir, name, what);
	return o;
}

static int
wr_x509(BIO *b, const void *o)
{
	return PEM_write_bio_X509(b, o);
}

static int
wr_key(BIO *b, const void *o)
{
	return PEM_write_bio_PKCS8PrivateKey(b, o, NULL, NULL, 0, NULL, NULL);
}

static int
wr_crl(BIO *b, const void *o)
{
	return PEM_write_bio_X509_CRL(b, o);
}

/* obj as PEM into a staged DIR/name; a key's bytes pass through the cleansed secure heap. */
static int
stage_pem(struct pki *p, struct pkif_staged *s, const char *name, mode_t mode,
    int (*wr)(BIO *, const void *), const void *obj)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data;
	long len;
	int rv = -1;

	if (b == NULL || !wr(b, obj) || (len = BIO_get_mem_data(b, &data)) <= 0) {
		pki_setssl(p, "cannot encode %s/%s", p->dir, name);
		goto out;
	}
	if (pkif_stage(p->dirfd, s, name, mode, data, (size_t)len) == -1) {
		pki_seterr(p, "cannot write %s/%s", p->dir, name);
		goto out;
	}
	rv = 0;
 out:
	BIO_free(b);
	return rv;
}

/* One file a command writes: obj as PEM, by wr, into DIR/name with mode. */
struct out {
	const char	*name;
	mode_t		 mode;
	int		(*wr)(BIO *, const void *);
	const void	*obj;
};

#define MAXOUT	3

/*
 * Writes every file of v or none: all are staged first, then renamed into place in order,
 * and each is reported on stdout, a line each.
 */
static int
write_files(struct pki *p, const struct out *v, size_t n)
{
	struct pkif_staged st[MAXOUT];
	size_t i;
	int rv = -1;

	memset(st, 0, sizeof(st));
	for (i = 0; i < n; i++)
		if (stage_pem(p, &st[i], v[i].name, v[i].mode, v[i].wr, v[i].obj) == -1)
			goto out;
	if (pkif_commit(p->dirfd, st, n) == -1) {
		pki_seterr(p, "cannot write into %s", p->dir);
		goto out;
	}
	for (i = 0; i < n; i++)
		printf("wrote %s/%s\n", p->dir, v[i].name);
	rv = 0;
 out:
	pkif_abort(p->dirfd, st, n);
	return rv;
}

/*
 * DIR/base.key (0600) and DIR/base.crt, after crl.pem when crl is not NULL. The key goes
 * before its certificate: a NAME.crt always has its key beside it, and init's marker pair
 * (ca.crt with ca.key) is complete only once all three are in place.
 */
static int
write_identity(struct pki *p, const char *base, EVP_PKEY *key, X509 *cert, X509_CRL *crl)
{
	char crt[NAME_MAX + 1], keyf[NAME_MAX + 1];
	struct out v[MAXOUT];
	size_t n = 0;

	snprintf(crt, sizeof(crt), "%s.crt", base);
	snprintf(keyf, sizeof(keyf), "%s.key", base);
	if (crl != NULL)
		v[n++] = (struct out){ CRL_PEM, 0644, wr_crl, crl };
	v[n++] = (struct out){ keyf, 0600, wr_key, key };
	v[n++] = (struct out){ crt, 0644, wr_x509, cert };
	return write_files(p, v, n);
}

/* The CA's certificate and key, which must belong together. */
static int
load_ca(struct pki *p, X509 **ca, EVP_PKEY **key)
{
	*key = NULL;
	if ((*ca = read_pem(p, CA_CRT, rd_x509, "certificate")) == NULL ||
	    (*key = read_pem(p, CA_KEY, rd_key, "private key")) == NULL)
		return -1;
	if (X509_check_private_key(*ca, *key) != 1) {
		ERR_clear_error();
		pki_seterrx(p, 1, "%s/%s does not belong to %s/%s", p->dir, CA_KEY, p->dir, CA_CRT);
		return -1;
	}
	return 0;
}

static int
cmd_init(struct pki *p, const struct args *a, time_t now)
{
	EVP_PKEY *key = NULL;
	X509_CRL *crl = NULL;
	X509 *ca = NULL;
	int rv = -1, empty;

	if (is_pki(p)) {
		pki_seterrx(p, 1, "%s already holds a PKI (ca.crt, ca.key): init refuses to replace it",
		    p->dir);
		goto out;
	}
	if ((empty = pkif_empty(p->dirfd)) == -1) {
		pki_seterr(p, "cannot read %s", p->dir);
		goto out;
	}
	if (!empty) {
		pki_seterrx(p, 1, "%s is not empty and %s: init wants a new or empty directory",
		    p->dir, NOT_PKI);
		goto out;
	}
	if ((key = pkix_keygen(0)) == NULL || (ca = pkix_ca(key, a->cn, a->days, now)) == NULL ||
	    (crl = pkix_crl(ca, key, NULL, NULL, now)) == NULL) {
		pki_setssl(p, "cannot make the CA");
		goto out;
	}
	rv = write_identity(p, CA_BASE, key, ca, crl);
 out:
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rv;
}

static int
cmd_issue(struct pki *p, const struct args *a, time_t now)
{
	const char *name = a->pos[1];
	char crt[NAME_MAX + 1], keyf[NAME_MAX + 1];
	struct pkix_leaf l;
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	int rv = -1;

	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(keyf, sizeof(keyf), "%s.key", name);
	if (!a->force && (pkif_exists(p->dirfd, crt) || pkif_exists(p->dirfd, keyf))) {
		pki_seterrx(p, 1, "%s/%s already exists (--force replaces it)", p->dir,
		    pkif_exists(p->dirfd, crt) ? crt : keyf);
		goto out;
	}
	if (load_ca(p, &ca, &cakey) == -1)
		goto out;
	memset(&l, 0, sizeof(l));
	l.name = name;
	/* Neither flag: both, so one certificate serves either end of a rule. */
	l.eku = a->eku ? a->eku : PKIX_EKU_SERVER | PKIX_EKU_CLIENT;
	l.san = a->san;
	l.nsan = a->nsan;
	l.valid.start = a->expired ? EXPIRED_START : a->notyet ? NOTYET_START : 0;
	l.valid.end = a->expired ? EXPIRED_END : l.valid.start + a->days;
	if ((key = pkix_keygen(a->rsa)) == NULL || (x = pkix_leaf(&l, key, ca, cakey, now)) == NULL) {
		pki_setssl(p, "cannot make the certificate %s", name);
		goto out;
	}
	rv = write_identity(p, name, key, x, NULL);
 out:
	X509_free(x);
	EVP_PKEY_free(key);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rv;
}

/* The serial in hex, for messages; NULL-safe for the caller's printf. */
static char *
serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *s = bn ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return s;
}

static int
cmd_revoke(struct pki *p, const struct args *a, time_t now)
{
	const char *name = a->pos[1];
	char crt[NAME_MAX + 1], *hex = NULL;
	struct out out = { CRL_PEM, 0644, wr_crl, NULL };
	X509_CRL *old = NULL, *crl = NULL;
	X509_REVOKED *r;
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL, *x = NULL;
	int rv = -1;

	snprintf(crt, sizeof(crt), "%s.crt", name);
	if (!pkif_exists(p->dirfd, crt)) {
		pki_seterrx(p, 1, "%s/%s does not exist: no certificate %s was issued in %s", p->dir,
		    crt, name, p->dir);
		goto out;
	}
	if ((x = read_pem(p, crt, rd_x509, "certificate")) == NULL || load_ca(p, &ca, &cakey) == -1 ||
	    (old = read_pem(p, CRL_PEM, rd_crl, "CRL")) == NULL)
		goto out;
	if (X509_check_issued(ca, x) != X509_V_OK || X509_verify(x, cakey) != 1) {
		ERR_clear_error();
		pki_seterrx(p, 1, "%s/%s was not issued by %s/%s", p->dir, crt, p->dir, CA_CRT);
		goto out;
	}
	/* Entries are carried over: one we did not sign must not become ours. */
	if (X509_CRL_verify(old, cakey) != 1) {
		ERR_clear_error();
		pki_seterrx(p, 1, "%s/%s is not signed by %s/%s", p->dir, CRL_PEM, p->dir, CA_CRT);
		goto out;
	}
	hex = serial_hex(x);
	if (X509_CRL_get0_by_serial(old, &r, X509_get0_serialNumber(x)) == 1) {
		printf("%s/%s (serial %s) is already revoked in %s/%s; nothing written\n", p->dir,
		    crt, hex ? hex : "?", p->dir, CRL_PEM);
		rv = 0;
		goto out;
	}
	if ((crl = pkix_crl(ca, cakey, old, X509_get0_serialNumber(x), now)) == NULL) {
		pki_setssl(p, "cannot make the CRL");
		goto out;
	}
	out.obj = crl;
	rv = write_files(p, &out, 1);
 out:
	OPENSSL_free(hex);
	X509_CRL_free(crl);
	X509_CRL_free(old);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rv;
}

/* Parses, opens DIR, runs the command; the error, if any, is left in p. */
static int
pki_run(struct pki *p, struct args *a, const struct command *c, int argc, char **argv)
{
	time_t now = time(NULL);
	int made = 0, rv = -1;

	if (parse_args(p, a, c, argc, argv) == -1 || set_dir(p, a->pos[0]) == -1)
		return -1;
	if (open_dir(p, c->cmd == CMD_INIT, &made) == -1)
		goto out;
	if (c->cmd != CMD_INIT && !is_pki(p)) {
		pki_seterrx(p, 1, "%s is %s", p->dir, NOT_PKI);
		goto out;
	}
	if (c->cmd == CMD_INIT)
		rv = cmd_init(p, a, now);
	else if (c->cmd == CMD_ISSUE)
		rv = cmd_issue(p, a, now);
	else
		rv = cmd_revoke(p, a, now);
 out:
	if (p->dirfd != -1)
		close(p->dirfd);
	/* A directory init made for a PKI that failed goes again (rmdir: only while empty). */
	if (rv == -1 && made)
		rmdir(p->dir);
	return rv;
}

int
pki_main(int argc, char **argv)
{
	struct args a;
	struct pki p;
	size_t k;
	int rv;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[1], commands[k].name) == 0)
			break;
	if (k == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "mtlsshim pki: unknown command %s (init, issue or revoke)\n",
		    shown(argv[1]));
		return EX_USAGE;
	}
	memset(&p, 0, sizeof(p));
	p.dirfd = -1;
	memset(&a, 0, sizeof(a));
	a.cmd = commands[k].cmd;
	a.cn = "mtlsshim test CA";
	/* One SAN per argument at most, and the default DNS:NAME. */
	if ((a.san = calloc((size_t)argc + 1, sizeof(*a.san))) == NULL) {
		fprintf(stderr, "mtlsshim pki: %s\n", strerror(errno));
		return 1;
	}
	rv = pki_run(&p, &a, &commands[k], argc, argv);
	free(a.san);
	if (fflush(stdout) == EOF && rv == 0) {
		pki_seterr(&p, "cannot write to stdout");
		rv = -1;
	}
	if (rv == -1) {
		fprintf(stderr, "mtlsshim pki: %s\n", p.err);
		return p.code ? p.code : 1;
	}
	return 0;
}
