/* token.c: keys in a PKCS#11 token, through libp11's engine or a "pkcs11" provider; the PIN from pin_file. */
#define OPENSSL_SUPPRESS_DEPRECATED	/* ENGINE: Debian 12's libp11 is an engine, not a provider */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include "common/config.h"
#include "common/filedata.h"
#include "common/lockstat.h"
#include "engine/pinguard.h"
#include "engine/sweep.h"
#include "engine/token.h"

#define PIN_MAX		256
#define TOKEN_KEEP	64	/* token objects one process keeps; more are loaded per use */
#define STORE_TRIES	64	/* objects an OSSL_STORE search may hand back before we give up */

/* PKCS#11 return values (pkcs11t.h) that libp11 and pkcs11-provider give as reason codes. */
#define CKR_PIN_INCORRECT	0xa0
#define CKR_PIN_LEN_RANGE	0xa2
#define CKR_PIN_LOCKED		0xa4

/*
 * What one process loaded from a token, keys and certificates, and its
 * failures too: a rotation or a CRL's reload rebuilds the context from
 * these, without a second login or a pin_file that may be gone by then,
 * and a process offers a pin_file once however often it asks.  Keyed by the
 * URI, module and pin_file, not the rule: two rules naming one object share it.
 */
static struct kept {
	char		*uri;
	char		*module;
	char		*pin_file;
	int		 cert;
	void		*obj;		/* EVP_PKEY or X509, or NULL */
	char		*err;		/* why obj is NULL */
}			 kept[TOKEN_KEEP];
static size_t		 nkept;
static ENGINE		*eng;		/* initialised, with eng_module loaded */
static char		*eng_module;
static pthread_mutex_t	 token_lock = PTHREAD_MUTEX_INITIALIZER;

/* Lock order: after the sweep's and the OCSP cache's (sweep.c). */
void
token_atfork(int phase)
{
	if (phase == SWEEP_PREPARE)
		plock(&token_lock);
	else
		pthread_mutex_unlock(&token_lock);	/* the child's thread took it in PREPARE */
}

/* The first line of pin_file, in pin (PIN_MAX); 0, or -1 with why in err.  Never logged. */
static int
read_pin(const struct rule *r, char *pin, char *err, size_t errlen)
{
	if (filedata_secret(r->pin_file, pin, PIN_MAX) == 0)
		return 0;
	snprintf(err, errlen, "pin_file %s: %s", r->pin_file, errno == ENODATA ?
	    "empty (the PIN is its first line)" : errno == E2BIG ? "not a PIN (too long, "
	    "or binary)" : errno == EINVAL ? "not a regular file" : strerror(errno));
	return -1;
}

/* OpenSSL's engines directory: $OPENSSL_ENGINES, else the one it was built with. */
static void
engines_dir(char *buf, size_t len)
{
	const char *d = getenv("OPENSSL_ENGINES"), *q;

	if (d != NULL && *d != '\0') {
		snprintf(buf, len, "%s", d);
		return;
	}
	/* ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3" */
	d = OpenSSL_version(OPENSSL_ENGINES_DIR);
	if ((d = strchr(d, '"')) != NULL && (q = strchr(d + 1, '"')) != NULL)
		snprintf(buf, len, "%.*s", (int)(q - d - 1), d + 1);
	else
		snprintf(buf, len, "/usr/lib/engines-3");
}

/*
 * libp11's engine, once per process; token_lock held.  Our own instance,
 * loaded through "dynamic" and not added to OpenSSL's list: the program's
 * own ENGINE_by_id("pkcs11") (curl --engine, an openssl.cnf engines
 * section) gets its instance, with its module and its login, not ours.
 * libp11 keeps one module per engine.
 */
static ENGINE *
engine_for(const struct rule *r, char *err, size_t errlen)
{
	char so[PATH_MAX];
	unsigned long e;
	ENGINE *en;

	if (eng != NULL) {
		if (strcmp(eng_module, r->pkcs11_module) == 0)
			return eng;
		snprintf(err, errlen, "pkcs11_module %s: this process has %s loaded already (one "
		    "module per process)", r->pkcs11_module, eng_module);
		return NULL;
	}
	engines_dir(so, sizeof(so) - sizeof("/pkcs11.so"));
	strcat(so, "/pkcs11.so");
	if (access(so, R_OK) == -1) {
		snprintf(err, errlen, "a pkcs11: key needs libp11's OpenSSL engine %s, which is not "
		    "installed (Debian: apt install libengine-pkcs11-openssl)", so);
		return NULL;
	}
	/* Quiet: libp11 prints to fd 2, which in a per-connection service is the peer. */
	if ((en = ENGINE_by_id("dynamic")) == NULL ||
	    !ENGINE_ctrl_cmd_string(en, "SO_PATH", so, 0) ||
	    !ENGINE_ctrl_cmd_string(en, "ID", "pkcs11", 0) ||
	    !ENGINE_ctrl_cmd_string(en, "LIST_ADD", "0", 0) ||
	    !ENGINE_ctrl_cmd_string(en, "LOAD", NULL, 0) ||
	    !ENGINE_ctrl_cmd_string(en, "QUIET", NULL, 0) ||
	    !ENGINE_ctrl_cmd_string(en, "MODULE_PATH", r->pkcs11_module, 0) ||
	    !ENGINE_init(en)) {
		e = ERR_peek_last_error();
		snprintf(err, errlen, "pkcs11_module %s: cannot load it: %s", r->pkcs11_module,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
		ERR_clear_error();
		ENGINE_free(en);
		return NULL;
	}
	if ((eng_module = strdup(r->pkcs11_module)) == NULL) {
		ENGINE_finish(en);
		ENGINE_free(en);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	eng = en;
	return eng;
}

/* An error of the token's own library (libp11's "PKCS#11 module", or a provider's). */
static int
from_token(unsigned long e)
{
	const char *lib = ERR_lib_error_string(e);

	return ERR_GET_LIB(e) == ERR_LIB_PROV || (lib != NULL &&
	    (strcasestr(lib, "PKCS#11") != NULL || strcasestr(lib, "pkcs11") != NULL));
}

/* What the token said, in words; *pin: 1 when it refused the PIN, 2 when it has locked it. */
static void
load_error(char *buf, size_t len, int *pin)
{
	const char *reason, *last = NULL;
	unsigned long e;
	int code;

	*pin = 0;
	while ((e = ERR_get_error()) != 0) {
		code = ERR_GET_REASON(e);
		reason = ERR_reason_error_string(e);
		if (from_token(e) && code == CKR_PIN_LOCKED)
			*pin = 2;
		else if (*pin == 0 && ((from_token(e) && (code == CKR_PIN_INCORRECT ||
		    code == CKR_PIN_LEN_RANGE)) || (reason != NULL &&
		    (strstr(reason, "PIN incorrect") != NULL ||
		    strstr(reason, "PIN is incorrect") != NULL))))
			*pin = 1;
		/* The token's own reason beats the engine's "failed loading private key". */
		if (reason != NULL && (last == NULL || strstr(reason, "PIN") != NULL ||
		    strstr(last, "failed") != NULL))
			last = reason;
	}
	snprintf(buf, len, "%s", last != NULL ? last : "not found");
}

static int
pin_cb(char *buf, int size, int rwflag, void *u)
{
	int n = (int)strlen(u);

	if (n >= size)
		return -1;
	memcpy(buf, u, (size_t)n);
	return n;
}

/* Through an OSSL_STORE provider for pkcs11: (pkcs11-provider); NULL if it has no such object. */
static void *
store_load(const char *uri, int type, char *pin)
{
	UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pin_cb, 0);
	OSSL_STORE_CTX *s;
	OSSL_STORE_INFO *info;
	void *obj = NULL;
	int n;

	if (ui == NULL || (s = OSSL_STORE_open(uri, ui, pin, NULL, NULL)) == NULL) {
		UI_destroy_method(ui);
		return NULL;
	}
	OSSL_STORE_expect(s, type);
	/* A failed search is not the end of the store: stop at its error, and in any case soon. */
	for (n = 0; obj == NULL && n < STORE_TRIES && !OSSL_STORE_eof(s); n++) {
		if ((info = OSSL_STORE_load(s)) == NULL) {
			if (OSSL_STORE_error(s))
				break;
			continue;
		}
		if (type == OSSL_STORE_INFO_PKEY && OSSL_STORE_INFO_get_type(info) == type)
			obj = OSSL_STORE_INFO_get1_PKEY(info);
		else if (type == OSSL_STORE_INFO_CERT && OSSL_STORE_INFO_get_type(info) == type)
			obj = OSSL_STORE_INFO_get1_CERT(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(s);
	UI_destroy_method(ui);
	return obj;
}

/*
 * Logs in and loads; token_lock held.  The PIN lives on our stack for the
 * call; libp11 keeps its own copy in the token's slot to log forked
 * children in again, and the engine's copy is wiped after the load.  A
 * certificate is usually found without a login: loading one neither
 * spends nor clears the pin_file's count (pinguard.h), only a key does.
 */
static void *
load(const struct rule *r, int cert, char *err, size_t errlen)
{
	struct { const char *id; X509 *cert; } params = { NULL, NULL };
	char pin[PIN_MAX], why[256];
	const char *uri = cert ? r->cert_file : r->key_file;
	void *obj = NULL;
	ENGINE *e = NULL;
	int guard, refused = 0, n;

	if (!OSSL_PROVIDER_available(NULL, "pkcs11") && (e = engine_for(r, err, errlen)) == NULL)
		return NULL;
	if ((guard = pinguard_begin(r, err, errlen)) == -1)
		return NULL;
	if (read_pin(r, pin, err, errlen) == -1) {
		pinguard_end(r, guard, PINGUARD_OTHER);
		return NULL;
	}
	if (e == NULL)
		obj = store_load(uri, cert ? OSSL_STORE_INFO_CERT : OSSL_STORE_INFO_PKEY, pin);
	else if (ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		if (cert) {
			params.id = uri;
			if (ENGINE_ctrl_cmd(e, "LOAD_CERT_CTRL", 0, &params, NULL, 1))
				obj = params.cert;
		} else
			obj = ENGINE_load_private_key(e, uri, NULL, NULL);
	}
	explicit_bzero(pin, sizeof(pin));
	load_error(why, sizeof(why), &refused);
	if (e != NULL)
		ENGINE_ctrl_cmd_string(e, "PIN", "", 0);
	ERR_clear_error();
	n = pinguard_end(r, guard, refused == 1 ? PINGUARD_REFUSED : obj != NULL && !cert ?
	    PINGUARD_TAKEN : PINGUARD_OTHER);
	if (obj != NULL)
		return obj;
	if (refused == 2)
		snprintf(err, errlen, "the token has locked the PIN (%s): unlock it with the SO PIN",
		    why);
	else if (refused == 1)
		snprintf(err, errlen, "the token refused the PIN in pin_file %s (%s; refusal %d "
		    "of at most %d before it is not offered again)", r->pin_file, why, n,
		    PINGUARD_TRIES);
	else
		snprintf(err, errlen, "cannot load it through %s %s: %s", e != NULL ?
		    "pkcs11_module" : "the pkcs11 provider, not", r->pkcs11_module, why);
	return NULL;
}

static int
same(const struct kept *k, const struct rule *r, int cert)
{
	return k->cert == cert && strcmp(k->uri, cert ? r->cert_file : r->key_file) == 0 &&
	    strcmp(k->module, r->pkcs11_module) == 0 && strcmp(k->pin_file, r->pin_file) == 0;
}

static int
up_ref(void *obj, int cert)
{
	return cert ? X509_up_ref(obj) : EVP_PKEY_up_ref(obj);
}

/* The kept object of r (a new reference), loading it the first time; token_lock taken here. */
static void *
get(const struct rule *r, int cert, char *err, size_t errlen)
{
	struct kept *k;
	void *obj = NULL;
	size_t i;

	plock(&token_lock);
	for (i = 0; i < nkept && !same(&kept[i], r, cert); i++)
		;
	if (i < nkept) {
		if (kept[i].obj != NULL && up_ref(kept[i].obj, cert))
			obj = kept[i].obj;
		else
			snprintf(err, errlen, "%s", kept[i].err ? kept[i].err : "out of memory");
	} else if ((obj = load(r, cert, err, errlen), nkept < TOKEN_KEEP) &&
	    (obj == NULL || up_ref(obj, cert))) {
		k = &kept[nkept++];
		k->uri = strdup(cert ? r->cert_file : r->key_file);
		k->module = strdup(r->pkcs11_module);
		k->pin_file = strdup(r->pin_file);
		k->cert = cert;
		k->obj = obj;
		k->err = obj == NULL ? strdup(err) : NULL;
		if (k->uri == NULL || k->module == NULL || k->pin_file == NULL)
			nkept--;	/* not findable: a later call loads it again (and leaks the entry) */
	}
	pthread_mutex_unlock(&token_lock);
	return obj;
}

EVP_PKEY *
token_key(const struct rule *r, char *err, size_t errlen)
{
	return get(r, 0, err, errlen);
}

X509 *
token_cert(const struct rule *r, char *err, size_t errlen)
{
	return get(r, 1, err, errlen);
}

int
token_uri_attr(const char *uri, const char *name, char *buf, size_t len)
{
	const char *p = uri + sizeof(PKCS11_SCHEME) - 1, *end;
	size_t n = strlen(name), vlen;

	while (*p != '\0' && *p != '?') {
		end = p + strcspn(p, ";?");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			vlen = (size_t)(end - p) - n - 1;
			snprintf(buf, len, "%.*s", (int)vlen, p + n + 1);
			return 1;
		}
		p = *end == ';' ? end + 1 : end;
	}
	return 0;
}

void
token_describe(const char *uri, char *buf, size_t len)
{
	char tok[128] = "", obj[128] = "", id[128] = "";
	int t = token_uri_attr(uri, "token", tok, sizeof(tok));
	int o = token_uri_attr(uri, "object", obj, sizeof(obj));

	if (o)
		snprintf(buf, len, "token \"%s\", object \"%s\"", t ? tok : "any", obj);
	else if (token_uri_attr(uri, "id", id, sizeof(id)))
		snprintf(buf, len, "token \"%s\", id %s", t ? tok : "any", id);
	else
		snprintf(buf, len, "token \"%s\"", t ? tok : "any");
}

int
token_failure(const struct rule *r, char *buf, size_t len)
{
	const char *why = NULL;
	unsigned long e;

	/* The handshake's own error comes last ("EVP lib"); the token's is below it. */
	while ((e = ERR_get_error()) != 0)
		if (why == NULL && from_token(e))
			why = ERR_reason_error_string(e);
	if (why == NULL)
		return 0;
	snprintf(buf, len, "the token did not sign: %s (pkcs11_module %s, uid %u)", why,
	    r->pkcs11_module, (unsigned)geteuid());
	return 1;
}
