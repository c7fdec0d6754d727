/* config.c: libconfuse → an immutable struct config; values validated, files not opened. */
#include <confuse.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

#define DEFAULT_TIMEOUT 10
#define DEFAULT_OCSP_TIMEOUT 3

static const char *level_names[] = { "error", "warn", "info", "debug" };

/* Rule-level options; NODEFAULT so that "not given" means "inherit". */
/* Options a rule inherits from the top level. */
#define SHARED_OPTS \
	CFG_STR("ca_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("cert_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("key_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("crl_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("key_password_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("pkcs11_module", NULL, CFGF_NODEFAULT), \
	CFG_STR("pin_file", NULL, CFGF_NODEFAULT), \
	CFG_INT("handshake_timeout", 0, CFGF_NODEFAULT), \
	CFG_STR_LIST("allow_cn", NULL, CFGF_NODEFAULT), \
	CFG_STR_LIST("allow_dns", NULL, CFGF_NODEFAULT), \
	CFG_STR_LIST("allow_uri", NULL, CFGF_NODEFAULT), \
	CFG_STR_LIST("allow_ip", NULL, CFGF_NODEFAULT), \
	CFG_STR("min_tls_version", NULL, CFGF_NODEFAULT), \
	CFG_STR("ciphers", NULL, CFGF_NODEFAULT), \
	CFG_STR("ciphersuites", NULL, CFGF_NODEFAULT), \
	CFG_STR("groups", NULL, CFGF_NODEFAULT), \
	CFG_BOOL("session_resumption", cfg_true, CFGF_NODEFAULT), \
	CFG_BOOL("allow_expired_cert", cfg_false, CFGF_NODEFAULT), \
	CFG_STR("ocsp", NULL, CFGF_NODEFAULT), \
	CFG_STR("ocsp_responder", NULL, CFGF_NODEFAULT), \
	CFG_BOOL("ocsp_require", cfg_true, CFGF_NODEFAULT), \
	CFG_INT("ocsp_timeout", 0, CFGF_NODEFAULT), \
	CFG_BOOL("ocsp_stapling", cfg_false, CFGF_NODEFAULT), \
	CFG_STR("ocsp_staple_file", NULL, CFGF_NODEFAULT), \
	CFG_STR("crl_check", NULL, CFGF_NODEFAULT)

#define RULE_OPTS(...) { \
	CFG_INT("port", 0, CFGF_NODEFAULT), \
	SHARED_OPTS, \
	__VA_ARGS__ \
	CFG_END() }

/* libconfuse reports through a callback; it lands here for config_load. */
static char	*parse_err;
static size_t	 parse_errlen;

static void
config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (parse_err == NULL || parse_err[0] != '\0')
		return;		/* keep the first error: the later ones follow from it */
	if (cfg && cfg->filename && cfg->line > 0)
		snprintf(parse_err, parse_errlen, "%s: line %d: %s",
		    cfg->filename, cfg->line, msg);
	else
		snprintf(parse_err, parse_errlen, "%s", msg);
}

const char *
config_path(void)
{
	const char *p = getenv(CONFIG_ENV);

	return (p && *p) ? p : CONFIG_DEFAULT_PATH;
}

const char *
config_level_name(enum log_level l)
{
	return level_names[l];
}

int
config_is_pkcs11(const char *p)
{
	return p != NULL && strncmp(p, PKCS11_SCHEME, sizeof(PKCS11_SCHEME) - 1) == 0;
}

/* A path from the config, made absolute against the config file's directory; a token URI stays. */
static char *
config_abspath(const char *dir, const char *p)
{
	char *out;

	if (p == NULL)
		return NULL;
	if (p[0] == '/' || dir == NULL || config_is_pkcs11(p))
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static char *
config_dirname(const char *path)
{
	char abs[PATH_MAX], *slash;

	if (realpath(path, abs) == NULL)
		return NULL;
	slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	return strdup(abs);
}

/* The section that sets name: the rule, else the top level, else NULL. */
static cfg_t *
cfg_from(cfg_t *sec, cfg_t *top, const char *name)
{
	if (cfg_size(sec, name) > 0)
		return sec;
	return cfg_size(top, name) > 0 ? top : NULL;
}

static const char *
cfg_inherit_str(cfg_t *sec, cfg_t *top, const char *name)
{
	cfg_t *c = cfg_from(sec, top, name);

	return c ? cfg_getstr(c, name) : NULL;
}

static int
cfg_inherit_bool(cfg_t *sec, cfg_t *top, const char *name, int dflt)
{
	cfg_t *c = cfg_from(sec, top, name);

	return c ? cfg_getbool(c, name) == cfg_true : dflt;
}

static char *
strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
cfg_inherit_list(cfg_t *sec, cfg_t *top, const char *name, struct strlist *l)
{
	cfg_t *c = cfg_from(sec, top, name);
	size_t i;

	if (c == NULL)
		return 0;
	l->n = cfg_size(c, name);
	if ((l->v = calloc(l->n, sizeof(*l->v))) == NULL)
		return -1;
	for (i = 0; i < l->n; i++)
		if ((l->v[i] = strdup(cfg_getnstr(c, name, i))) == NULL)
			return -1;
	return 0;
}

int
rule_has_allow(const struct rule *r)
{
	return r->allow_cn.n || r->allow_dns.n || r->allow_uri.n || r->nallow_ip;
}

/* Identity, protocol and resumption options of a rule. */
static int
config_rule_tls(struct rule *r, cfg_t *sec, cfg_t *top, const char *path,
    const char *kname, char *err, size_t errlen)
{
	struct strlist ips = { NULL, 0 };
	const char *v;
	size_t i;

	if (cfg_inherit_list(sec, top, "allow_cn", &r->allow_cn) == -1 ||
	    cfg_inherit_list(sec, top, "allow_dns", &r->allow_dns) == -1 ||
	    cfg_inherit_list(sec, top, "allow_uri", &r->allow_uri) == -1 ||
	    cfg_inherit_list(sec, top, "allow_ip", &ips) == -1)
		goto nomem;
	if (ips.n > 0 && (r->allow_ip = calloc(ips.n, sizeof(*r->allow_ip))) == NULL)
		goto nomem;
	for (i = 0; i < ips.n; i++) {
		if (cidr_parse(ips.v[i], &r->allow_ip[i]) == -1) {
			snprintf(err, errlen, "%s: %s \"%s\": allow_ip \"%s\" is not an "
			    "IPv4/IPv6 address or CIDR", path, kname, r->name, ips.v[i]);
			goto fail;
		}
		r->nallow_ip++;
	}
	v = cfg_inherit_str(sec, top, "min_tls_version");
	if (v == NULL || strcmp(v, "1.2") == 0)
		r->min_tls_version = 12;
	else if (strcmp(v, "1.3") == 0)
		r->min_tls_version = 13;
	else {
		snprintf(err, errlen, "%s: %s \"%s\": min_tls_version \"%s\" is not "
		    "\"1.2\" or \"1.3\"", path, kname, r->name, v);
		goto fail;
	}
	r->ciphers = strdup_or_null(cfg_inherit_str(sec, top, "ciphers"));
	r->ciphersuites = strdup_or_null(cfg_inherit_str(sec, top, "ciphersuites"));
	r->groups = strdup_or_null(cfg_inherit_str(sec, top, "groups"));
	if (r->kind == RULE_CLIENT && cfg_size(sec, "server_name") > 0) {
		v = cfg_getstr(sec, "server_name");
		if (*v == '\0') {
			snprintf(err, errlen, "%s: %s \"%s\": server_name is empty",
			    path, kname, r->name);
			goto fail;
		}
		r->server_name = strdup(v);
	}
	r->session_resumption = cfg_inherit_bool(sec, top, "session_resumption", 1);
	r->allow_expired_cert = cfg_inherit_bool(sec, top, "allow_expired_cert", 0);
	for (i = 0; i < ips.n; i++)
		free(ips.v[i]);
	free(ips.v);
	return 0;
 nomem:
	snprintf(err, errlen, "%s: out of memory", path);
 fail:
	for (i = 0; i < ips.n; i++)
		free(ips.v[i]);
	free(ips.v);
	return -1;
}

/* The index of v in names[0..n-1], or -1. */
static int
keyword(const char *v, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	return -1;
}

/* http://host[:port][/path]: host may be a name, an IPv4 address or [IPv6]. */
static int
url_ok(const char *u)
{
	const char *h = u + 7, *e;

	if (strncmp(u, "http://", 7) != 0)
		return 0;
	if (*h == '[')
		e = strchr(h, ']');
	else
		e = h + strcspn(h, ":/");
	return e != NULL && e > h + (*h == '[');
}

/* Revocation: OCSP, stapling and which certificates the CRLs must cover. */
static int
config_rule_revocation(struct rule *r, cfg_t *sec, cfg_t *top, const char *dir,
    const char *path, const char *kname, char *err, size_t errlen)
{
	static const char *const ocsp_modes[] = { "off", "leaf", "chain" };	/* OCSP_* */
	static const char *const crl_modes[] = { "leaf", "chain" };		/* CRL_CHECK_* */
	const char *v;
	cfg_t *from;

	v = cfg_inherit_str(sec, top, "ocsp");
	if ((r->ocsp = v == NULL ? OCSP_OFF : keyword(v, ocsp_modes, 3)) < 0) {
		snprintf(err, errlen, "%s: %s \"%s\": ocsp \"%s\" is not one of off, leaf, "
		    "chain", path, kname, r->name, v);
		return -1;
	}
	v = cfg_inherit_str(sec, top, "ocsp_responder");
	if (v != NULL && *v != '\0') {
		if (!url_ok(v)) {
			snprintf(err, errlen, "%s: %s \"%s\": ocsp_responder \"%s\" is not "
			    "an http://host:port/path URL", path, kname, r->name, v);
			return -1;
		}
		r->ocsp_responder = strdup(v);
	}
	r->ocsp_require = cfg_inherit_bool(sec, top, "ocsp_require", 1);
	from = cfg_from(sec, top, "ocsp_timeout");
	r->ocsp_timeout = from ? (int)cfg_getint(from, "ocsp_timeout") : DEFAULT_OCSP_TIMEOUT;
	if (r->ocsp_timeout < 1 || r->ocsp_timeout > 3600) {
		snprintf(err, errlen, "%s: %s \"%s\": ocsp_timeout must be 1..3600 seconds",
		    path, kname, r->name);
		return -1;
	}
	/* One exchange fits in the handshake's time, or the handshake times out first. */
	if (r->ocsp_timeout > r->handshake_timeout)
		r->ocsp_timeout = r->handshake_timeout;
	if (r->kind == RULE_CLIENT && (cfg_size(sec, "ocsp_stapling") > 0 ||
	    cfg_size(sec, "ocsp_staple_file") > 0)) {
		snprintf(err, errlen, "%s: %s \"%s\": %s is for server rules (a client "
		    "checks the staple it gets when ocsp is on)", path, kname, r->name,
		    cfg_size(sec, "ocsp_stapling") > 0 ? "ocsp_stapling" : "ocsp_staple_file");
		return -1;
	}
	if (r->kind == RULE_SERVER) {
		r->ocsp_stapling = cfg_inherit_bool(sec, top, "ocsp_stapling", 0);
		v = cfg_inherit_str(sec, top, "ocsp_staple_file");
		if (v != NULL && *v != '\0')
			r->ocsp_staple_file = config_abspath(dir, v);
		if (r->ocsp_stapling && r->ocsp_staple_file != NULL) {
			snprintf(err, errlen, "%s: %s \"%s\": ocsp_stapling and "
			    "ocsp_staple_file are two sources of one staple: set one",
			    path, kname, r->name);
			return -1;
		}
	}
	v = cfg_inherit_str(sec, top, "crl_check");
	if ((r->crl_check = v == NULL ? CRL_CHECK_LEAF : keyword(v, crl_modes, 2)) < 0) {
		snprintf(err, errlen, "%s: %s \"%s\": crl_check \"%s\" is not \"leaf\" or "
		    "\"chain\"", path, kname, r->name, v);
		return -1;
	}
	if (r->crl_check == CRL_CHECK_CHAIN && r->crl_file == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": crl_check = \"chain\" needs crl_file",
		    path, kname, r->name);
		return -1;
	}
	return 0;
}

/* Where the key lives: a file, an encrypted file, or a token (and what opens it). */
static int
config_rule_key(struct rule *r, cfg_t *sec, cfg_t *top, const char *dir, const char *path,
    const char *kname, char *err, size_t errlen)
{
	const char *bad = NULL;

	r->key_password_file = config_abspath(dir, cfg_inherit_str(sec, top, "key_password_file"));
	r->pkcs11_module = config_abspath(dir, cfg_inherit_str(sec, top, "pkcs11_module"));
	r->pin_file = config_abspath(dir, cfg_inherit_str(sec, top, "pin_file"));
	r->key_in_token = config_is_pkcs11(r->key_file);
	r->cert_in_token = config_is_pkcs11(r->cert_file);
	if (r->cert_in_token && !r->key_in_token)
		bad = "cert_file is a pkcs11: URI but key_file is not: a token's certificate "
		    "goes with the token's key";
	else if (r->key_in_token && r->key_password_file != NULL)
		bad = "key_password_file is for an encrypted key_file, not a pkcs11: URI "
		    "(the token's PIN goes in pin_file)";
	else if (r->key_in_token && r->pkcs11_module == NULL)
		bad = "key_file is a pkcs11: URI: set pkcs11_module (the token's PKCS#11 "
		    "library, e.g. /usr/lib/softhsm/libsofthsm2.so)";
	else if (r->key_in_token && r->pin_file == NULL)
		bad = "key_file is a pkcs11: URI: set pin_file (a file holding the token's PIN)";
	else if (r->key_in_token && (strstr(r->key_file, "pin-value=") != NULL ||
	    strstr(r->key_file, "pin-source=") != NULL))
		bad = "key_file: the PIN goes in pin_file, not in the URI";
	if (bad != NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": %s", path, kname, r->name, bad);
		return -1;
	}
	return 0;
}

static int
config_rule(struct rule *r, cfg_t *sec, enum rule_kind kind, cfg_t *top,
    const char *dir, const char *path, char *err, size_t errlen)
{
	const char *kname = kind == RULE_SERVER ? "server" : "client";
	const char *host;
	long port;

	r->kind = kind;
	r->name = strdup(cfg_title(sec));
	if (cfg_size(sec, "port") == 0) {
		snprintf(err, errlen, "%s: %s \"%s\": port is required",
		    path, kname, r->name);
		return -1;
	}
	port = cfg_getint(sec, "port");
	if (port < 1 || port > 65535) {
		snprintf(err, errlen, "%s: %s \"%s\": port %ld is not in 1..65535",
		    path, kname, r->name, port);
		return -1;
	}
	r->port = (int)port;
	host = (kind == RULE_CLIENT && cfg_size(sec, "host") > 0) ?
	    cfg_getstr(sec, "host") : NULL;
	if (host != NULL) {
		if (cidr_parse(host, &r->host) == -1) {
			snprintf(err, errlen, "%s: %s \"%s\": host \"%s\" is not "
			    "an IPv4/IPv6 address or CIDR", path, kname, r->name, host);
			return -1;
		}
		r->has_host = 1;
	}
	r->ca_file = config_abspath(dir, cfg_inherit_str(sec, top, "ca_file"));
	r->cert_file = config_abspath(dir, cfg_inherit_str(sec, top, "cert_file"));
	r->key_file = config_abspath(dir, cfg_inherit_str(sec, top, "key_file"));
	r->crl_file = config_abspath(dir, cfg_inherit_str(sec, top, "crl_file"));
	r->handshake_timeout = cfg_size(sec, "handshake_timeout") > 0 ?
	    (int)cfg_getint(sec, "handshake_timeout") :
	    cfg_size(top, "handshake_timeout") > 0 ?
	    (int)cfg_getint(top, "handshake_timeout") : DEFAULT_TIMEOUT;
	if (config_rule_tls(r, sec, top, path, kname, err, errlen) == -1)
		return -1;
	if (r->handshake_timeout < 1 || r->handshake_timeout > 3600) {
		snprintf(err, errlen, "%s: %s \"%s\": handshake_timeout must be "
		    "1..3600 seconds", path, kname, r->name);
		return -1;
	}
	if (config_rule_revocation(r, sec, top, dir, path, kname, err, errlen) == -1)
		return -1;
	if (r->ca_file == NULL || r->cert_file == NULL || r->key_file == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": %s is not set (at the top "
		    "level or in the rule)", path, kname, r->name,
		    r->ca_file == NULL ? "ca_file" :
		    r->cert_file == NULL ? "cert_file" : "key_file");
		return -1;
	}
	return config_rule_key(r, sec, top, dir, path, kname, err, errlen);
}

/*
 * libconfuse accepts a file that ends inside a section; an unclosed brace
 * is a syntax error to us.  Returns the line of the first unclosed '{', or 0.
 */
static int
config_unclosed(const char *path)
{
	int c, q = 0, depth = 0, line = 1, first = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while ((c = getc(f)) != EOF) {
		if (c == '\n') {
			line++;
			continue;
		}
		if (q) {		/* inside a string */
			if (c == '\\' && q == '"' && getc(f) == '\n')
				line++;
			else if (c == q)
				q = 0;
			continue;
		}
		if (c == '/') {
			c = getc(f);
			if (c == '*') {
				int prev = 0;
				while ((c = getc(f)) != EOF && !(prev == '*' && c == '/')) {
					if (c == '\n')
						line++;
					prev = c;
				}
				continue;
			}
			if (c != '/') {
				ungetc(c, f);
				continue;
			}
			c = '#';
		}
		if (c == '#') {
			while ((c = getc(f)) != EOF && c != '\n')
				;
			line++;
		} else if (c == '"' || c == '\'')
			q = c;
		else if (c == '{' && depth++ == 0)
			first = line;
		else if (c == '}' && depth > 0)
			depth--;
	}
	fclose(f);
	return depth > 0 ? first : 0;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	cfg_opt_t server_opts[] = RULE_OPTS();
	cfg_opt_t client_opts[] = RULE_OPTS(CFG_STR("host", NULL, CFGF_NODEFAULT),
	    CFG_STR("server_name", NULL, CFGF_NODEFAULT),);
	cfg_opt_t opts[] = {
		CFG_STR("log_level", "info", CFGF_NONE),
		CFG_STR("log_file", "stderr", CFGF_NONE),
		CFG_BOOL("stats", cfg_true, CFGF_NONE),
		SHARED_OPTS,
		CFG_SEC("server", server_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_SEC("client", client_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_END()
	};
	struct config *c = NULL, *rv = NULL;
	const char *lvl, *logf;
	char *dir = NULL;
	cfg_t *cfg;
	size_t i, j, ns, nc;
	int r, lv;

	err[0] = '\0';
	parse_err = err;
	parse_errlen = errlen;
	cfg = cfg_init(opts, CFGF_NONE);
	if (cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	cfg_set_error_function(cfg, config_errfunc);
	r = cfg_parse(cfg, path);
	if (r == CFG_FILE_ERROR) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (r != CFG_SUCCESS) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: parse error", path);
		goto out;
	}
	if ((r = config_unclosed(path)) > 0) {
		snprintf(err, errlen, "%s: line %d: '{' is never closed", path, r);
		goto out;
	}
	if ((dir = config_dirname(path)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	c->path = config_abspath(NULL, path);
	lvl = cfg_getstr(cfg, "log_level");
	if ((lv = keyword(lvl, level_names, 4)) < 0) {
		snprintf(err, errlen, "%s: log_level \"%s\" is not one of "
		    "error, warn, info, debug", path, lvl);
		goto out;
	}
	c->log_level = (enum log_level)lv;
	logf = cfg_getstr(cfg, "log_file");
	if (*logf == '\0') {
		snprintf(err, errlen, "%s: log_file is empty", path);
		goto out;
	}
	c->log_file = (strcmp(logf, "stderr") == 0 || strcmp(logf, "syslog") == 0) ?
	    strdup(logf) : config_abspath(dir, logf);
	c->stats = cfg_getbool(cfg, "stats") ? 1 : 0;
	c->handshake_timeout = cfg_size(cfg, "handshake_timeout") > 0 ?
	    (int)cfg_getint(cfg, "handshake_timeout") : DEFAULT_TIMEOUT;
	ns = cfg_size(cfg, "server");
	nc = cfg_size(cfg, "client");
	c->nrules = ns + nc;
	if (c->nrules > 0 && (c->rules = calloc(c->nrules, sizeof(*c->rules))) == NULL)
		goto out;
	for (i = 0; i < c->nrules; i++) {
		cfg_t *sec = i < ns ? cfg_getnsec(cfg, "server", i) :
		    cfg_getnsec(cfg, "client", i - ns);
		c->rules[i].index = i;
		if (config_rule(&c->rules[i], sec, i < ns ? RULE_SERVER : RULE_CLIENT,
		    cfg, dir, path, err, errlen) == -1)
			goto out;
		for (j = 0; j < i; j++) {
			if (strcmp(c->rules[j].name, c->rules[i].name) == 0) {
				snprintf(err, errlen, "%s: rule name \"%s\" is used "
				    "twice", path, c->rules[i].name);
				goto out;
			}
			/* libp11's engine loads one PKCS#11 module per process. */
			if (c->rules[j].key_in_token && c->rules[i].key_in_token &&
			    strcmp(c->rules[j].pkcs11_module, c->rules[i].pkcs11_module) != 0) {
				snprintf(err, errlen, "%s: rules \"%s\" and \"%s\" name two "
				    "pkcs11_modules: one process loads one", path,
				    c->rules[j].name, c->rules[i].name);
				goto out;
			}
		}
	}
	rv = c;
	c = NULL;
 out:
	if (rv == NULL && err[0] == '\0')
		snprintf(err, errlen, "%s: out of memory", path);
	parse_err = NULL;
	config_free(c);
	free(dir);
	if (cfg)
		cfg_free(cfg);
	return rv;
}

static void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nrules; i++) {
		struct rule *r = &c->rules[i];
		free(r->name);
		free(r->ca_file);
		free(r->cert_file);
		free(r->key_file);
		free(r->key_password_file);
		free(r->pkcs11_module);
		free(r->pin_file);
		free(r->crl_file);
		free(r->ocsp_responder);
		free(r->ocsp_staple_file);
		strlist_free(&r->allow_cn);
		strlist_free(&r->allow_dns);
		strlist_free(&r->allow_uri);
		free(r->allow_ip);
		free(r->server_name);
		free(r->ciphers);
		free(r->ciphersuites);
		free(r->groups);
	}
	free(c->rules);
	free(c->path);
	free(c->log_file);
	free(c);
}
