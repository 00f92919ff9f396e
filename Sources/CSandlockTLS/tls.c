#include "CSandlockTLS.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// Leaf certificates kept per name; past this many, new names are still minted, not kept.
#define CSL_TLS_CACHE_LIMIT 4096

struct cached_leaf {
    char *name;
    X509 *certificate;
};

struct csl_tls_authority {
    X509 *ca_certificate;
    EVP_PKEY *ca_key;
    EVP_PKEY *leaf_key;
    SSL_CTX *server;
    SSL_CTX *client;
    pthread_mutex_t lock;
    struct cached_leaf *cache;
    int cached;
    int minted;
};

struct csl_tls_session {
    SSL *ssl;
    char server_name[256];
};

static int allowed_names_index = -1;
static int authority_index = -1;
static pthread_once_t indexes_once = PTHREAD_ONCE_INIT;

static void make_indexes(void) {
    allowed_names_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    authority_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

// The first queued OpenSSL error after `what`.
static void fail(char *error, size_t size, const char *what) {
    unsigned long code = ERR_get_error();
    char reason[256] = "";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    snprintf(error, size, "%s%s%s", what, code ? ": " : "", reason);
    ERR_clear_error();
}

static X509 *read_certificate(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) return NULL;
    X509 *certificate = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    return certificate;
}

static EVP_PKEY *read_key(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) return NULL;
    EVP_PKEY *key = PEM_read_PrivateKey(file, NULL, NULL, NULL);
    fclose(file);
    return key;
}

static int add_extension(X509 *certificate, X509 *issuer, int nid, const char *value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, nid, value);
    if (!extension) return 0;
    int ok = X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

// A leaf for `name` (a DNS name), signed by the CA, valid from an hour ago for a week (or
// until the CA expires, if sooner).
static X509 *mint(csl_tls_authority *authority, const char *name) {
    X509 *leaf = X509_new();
    if (!leaf) return NULL;
    unsigned char serial[16];
    char san[300];
    ASN1_INTEGER *number = NULL;
    BIGNUM *big = NULL;
    int ok = X509_set_version(leaf, 2) && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        big = BN_bin2bn(serial, sizeof serial, NULL);
        number = big ? BN_to_ASN1_INTEGER(big, NULL) : NULL;
        ok = number && X509_set_serialNumber(leaf, number);
    }
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(leaf), -3600) && X509_gmtime_adj(X509_getm_notAfter(leaf), 7 * 24 * 3600);
    if (ok && ASN1_TIME_compare(X509_get0_notAfter(authority->ca_certificate), X509_get0_notAfter(leaf)) < 0) {
        ok = X509_set1_notAfter(leaf, X509_get0_notAfter(authority->ca_certificate));
    }
    X509_NAME *subject = X509_get_subject_name(leaf);
    ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    ok = ok && X509_set_issuer_name(leaf, X509_get_subject_name(authority->ca_certificate));
    ok = ok && X509_set_pubkey(leaf, authority->leaf_key);
    snprintf(san, sizeof san, "DNS:%s", name);
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_subject_alt_name, san);
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_ext_key_usage, "serverAuth");
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_subject_key_identifier, "hash");
    ok = ok && add_extension(leaf, authority->ca_certificate, NID_authority_key_identifier, "keyid:always");
    ok = ok && X509_sign(leaf, authority->ca_key, EVP_sha256()) > 0;
    ASN1_INTEGER_free(number);
    BN_free(big);
    if (!ok) {
        X509_free(leaf);
        return NULL;
    }
    return leaf;
}

// The cached leaf for `name`, minted on first use; a new reference the caller frees.
static X509 *leaf_for(csl_tls_authority *authority, const char *name) {
    pthread_mutex_lock(&authority->lock);
    for (int i = 0; i < authority->cached; i++) {
        if (strcmp(authority->cache[i].name, name) == 0) {
            X509 *found = authority->cache[i].certificate;
            X509_up_ref(found);
            pthread_mutex_unlock(&authority->lock);
            return found;
        }
    }
    X509 *leaf = mint(authority, name);
    if (leaf) {
        authority->minted++;
        if (authority->cached < CSL_TLS_CACHE_LIMIT) {
            char *copy = strdup(name);
            if (copy) {
                X509_up_ref(leaf);
                authority->cache[authority->cached++] = (struct cached_leaf){copy, leaf};
            }
        }
    }
    pthread_mutex_unlock(&authority->lock);
    return leaf;
}

// Is `name` one of the comma-separated `list`?
static int listed(const char *list, const char *name) {
    size_t length = strlen(name);
    for (const char *cursor = list; *cursor;) {
        const char *end = strchr(cursor, ',');
        size_t size = end ? (size_t)(end - cursor) : strlen(cursor);
        if (size == length && strncmp(cursor, name, size) == 0) return 1;
        if (!end) break;
        cursor = end + 1;
    }
    return 0;
}

// The servername callback (OpenSSL calls it with or without SNI).
static int choose_certificate(SSL *ssl, int *alert, void *unused) {
    (void)unused;
    const char *sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const char *allowed = SSL_get_ex_data(ssl, allowed_names_index);
    csl_tls_authority *authority = SSL_get_ex_data(ssl, authority_index);
    char name[256];
    size_t length = sent ? strlen(sent) : 0;
    if (!sent || !allowed || !authority || length == 0 || length >= sizeof name) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    for (size_t i = 0; i <= length; i++) name[i] = (char)tolower((unsigned char)sent[i]);
    if (name[length - 1] == '.') name[length - 1] = 0;
    if (!listed(allowed, name)) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    X509 *leaf = leaf_for(authority, name);
    int ok = leaf && SSL_use_certificate(ssl, leaf) == 1 && SSL_use_PrivateKey(ssl, authority->leaf_key) == 1;
    X509_free(leaf);
    if (!ok) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static int choose_protocol(SSL *ssl, const unsigned char **out, unsigned char *out_length, const unsigned char *offered,
                           unsigned int offered_length, void *unused) {
    (void)ssl;
    (void)unused;
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, out_length, http11, sizeof http11, offered, offered_length) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

csl_tls_authority *csl_tls_authority_load(const char *cert_path, const char *key_path, char *error, size_t error_size) {
    pthread_once(&indexes_once, make_indexes);
    csl_tls_authority *authority = calloc(1, sizeof *authority);
    if (!authority) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&authority->lock, NULL);
    authority->cache = calloc(CSL_TLS_CACHE_LIMIT, sizeof *authority->cache);
    authority->ca_certificate = read_certificate(cert_path);
    if (!authority->ca_certificate) {
        fail(error, error_size, "https_ca: not a PEM certificate");
        goto failed;
    }
    authority->ca_key = read_key(key_path);
    if (!authority->ca_key) {
        fail(error, error_size, "https_key: not a PEM private key (unencrypted)");
        goto failed;
    }
    if (X509_check_private_key(authority->ca_certificate, authority->ca_key) != 1) {
        fail(error, error_size, "https_key: is not the key of the https_ca certificate");
        goto failed;
    }
    if (X509_check_ca(authority->ca_certificate) == 0) {
        snprintf(error, error_size, "https_ca: the certificate is not a CA (basicConstraints CA:TRUE)");
        goto failed;
    }
    authority->leaf_key = EVP_EC_gen("P-256");
    authority->server = SSL_CTX_new(TLS_server_method());
    authority->client = SSL_CTX_new(TLS_client_method());
    if (!authority->leaf_key || !authority->server || !authority->client || !authority->cache) {
        fail(error, error_size, "TLS set-up failed");
        goto failed;
    }
    SSL_CTX_set_min_proto_version(authority->server, TLS1_2_VERSION);
    SSL_CTX_set_min_proto_version(authority->client, TLS1_2_VERSION);
    SSL_CTX_set_options(authority->server, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_tlsext_servername_callback(authority->server, choose_certificate);
    SSL_CTX_set_alpn_select_cb(authority->server, choose_protocol, NULL);
    // The upstream trust store, read now: the proxy reads no file once confined.
    const char *bundle = getenv("SSL_CERT_FILE");
    if (!bundle || !*bundle) bundle = X509_get_default_cert_file();
    if (SSL_CTX_load_verify_locations(authority->client, bundle, NULL) != 1) {
        fail(error, error_size, "cannot read the trust store for upstream servers (SSL_CERT_FILE or OpenSSL's default bundle)");
        goto failed;
    }
    SSL_CTX_set_verify(authority->client, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(authority->client, http11, sizeof http11);
    return authority;
failed:
    X509_free(authority->ca_certificate);
    EVP_PKEY_free(authority->ca_key);
    EVP_PKEY_free(authority->leaf_key);
    SSL_CTX_free(authority->server);
    SSL_CTX_free(authority->client);
    free(authority->cache);
    free(authority);
    return NULL;
}

static csl_tls_session *session_on(SSL_CTX *context, int fd, char *error, size_t error_size) {
    csl_tls_session *session = calloc(1, sizeof *session);
    SSL *ssl = session ? SSL_new(context) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        fail(error, error_size, "TLS session set-up failed");
        SSL_free(ssl);
        free(session);
        return NULL;
    }
    session->ssl = ssl;
    return session;
}

csl_tls_session *csl_tls_accept(csl_tls_authority *authority, int fd, const char *allowed_names, char *error, size_t error_size) {
    csl_tls_session *session = session_on(authority->server, fd, error, error_size);
    if (!session) return NULL;
    SSL_set_ex_data(session->ssl, allowed_names_index, (void *)allowed_names);
    SSL_set_ex_data(session->ssl, authority_index, authority);
    if (SSL_accept(session->ssl) != 1) {
        fail(error, error_size, "TLS handshake with the sandbox failed (no SNI, or a name the destination was not resolved from)");
        csl_tls_close(session);
        return NULL;
    }
    SSL_set_ex_data(session->ssl, allowed_names_index, NULL);
    const char *name = SSL_get_servername(session->ssl, TLSEXT_NAMETYPE_host_name);
    size_t length = 0;
    for (; name && name[length] && length + 1 < sizeof session->server_name; length++) {
        session->server_name[length] = (char)tolower((unsigned char)name[length]);
    }
    if (length > 0 && session->server_name[length - 1] == '.') length--;
    session->server_name[length] = 0;
    return session;
}

const char *csl_tls_server_name(const csl_tls_session *session) { return session->server_name; }

csl_tls_session *csl_tls_connect(csl_tls_authority *authority, int fd, const char *host, char *error, size_t error_size) {
    csl_tls_session *session = session_on(authority->client, fd, error, error_size);
    if (!session) return NULL;
    if (SSL_set_tlsext_host_name(session->ssl, host) != 1 || SSL_set1_host(session->ssl, host) != 1) {
        fail(error, error_size, "bad upstream host name");
        csl_tls_close(session);
        return NULL;
    }
    if (SSL_connect(session->ssl) != 1) {
        long verdict = SSL_get_verify_result(session->ssl);
        if (verdict != X509_V_OK) {
            snprintf(error, error_size, "the upstream certificate of %s is not trusted: %s", host, X509_verify_cert_error_string(verdict));
            ERR_clear_error();
        } else {
            fail(error, error_size, "TLS handshake with the upstream server failed");
        }
        csl_tls_close(session);
        return NULL;
    }
    snprintf(session->server_name, sizeof session->server_name, "%s", host);
    return session;
}

ssize_t csl_tls_read(csl_tls_session *session, void *buffer, size_t size) {
    size_t count = 0;
    int rc = SSL_read_ex(session->ssl, buffer, size, &count);
    if (rc == 1) return (ssize_t)count;
    int reason = SSL_get_error(session->ssl, rc);
    ERR_clear_error();
    return reason == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

ssize_t csl_tls_write(csl_tls_session *session, const void *buffer, size_t size) {
    size_t written = 0;
    if (size == 0) return 0;
    if (SSL_write_ex(session->ssl, buffer, size, &written) != 1) {
        ERR_clear_error();
        return -1;
    }
    return (ssize_t)written;
}

int csl_tls_pending(const csl_tls_session *session) { return SSL_pending(session->ssl); }

void csl_tls_close(csl_tls_session *session) {
    if (!session) return;
    if (SSL_is_init_finished(session->ssl)) SSL_shutdown(session->ssl);
    SSL_free(session->ssl);
    ERR_clear_error();
    free(session);
}

int csl_tls_minted_count(csl_tls_authority *authority) {
    pthread_mutex_lock(&authority->lock);
    int count = authority->minted;
    pthread_mutex_unlock(&authority->lock);
    return count;
}
