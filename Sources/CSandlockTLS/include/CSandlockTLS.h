// TLS for the HTTP proxy (sandlock-http-proxy), over the system's OpenSSL (libssl-dev):
// the user's CA, leaf certificates minted per SNI name and cached, server and client
// sessions on a connected socket. OpenSSL's types stay in tls.c; Swift sees opaque handles.
// Every symbol is `csl_tls_…`; errors are written to `error` (NUL-terminated).
#ifndef CSANDLOCK_TLS_H
#define CSANDLOCK_TLS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct csl_tls_authority csl_tls_authority;
typedef struct csl_tls_session csl_tls_session;

// Loads the CA certificate and key (PEM), checks they belong together and that the
// certificate is a CA, makes the leaf key, and loads the trust store for upstream servers
// (SSL_CERT_FILE, else OpenSSL's default bundle) into memory. NULL on error.
csl_tls_authority *csl_tls_authority_load(const char *cert_path, const char *key_path, char *error, size_t error_size);

// Server side of an intercepted connection on `fd`: the handshake, with a leaf for the
// client's SNI name, which must be one of `allowed_names` (comma-separated, lower case).
// ALPN: http/1.1 only. NULL on error (no SNI, another name, handshake failure).
csl_tls_session *csl_tls_accept(csl_tls_authority *authority, int fd, const char *allowed_names, char *error, size_t error_size);

// The SNI name the client sent (lower case), valid while the session lives.
const char *csl_tls_server_name(const csl_tls_session *session);

// Client side towards the original destination on `fd`: SNI `host`, the server's
// certificate verified against the trust store and `host`, ALPN http/1.1. NULL on error.
csl_tls_session *csl_tls_connect(csl_tls_authority *authority, int fd, const char *host, char *error, size_t error_size);

// Bytes read (> 0), 0 at the end of the stream, -1 on error.
ssize_t csl_tls_read(csl_tls_session *session, void *buffer, size_t size);
// Bytes written (all of them), or -1.
ssize_t csl_tls_write(csl_tls_session *session, const void *buffer, size_t size);
// Bytes decrypted and not read yet.
int csl_tls_pending(const csl_tls_session *session);
// Sends close_notify and frees the session (the descriptor stays the caller's).
void csl_tls_close(csl_tls_session *session);

// How many distinct leaf certificates have been minted (the cache's size).
int csl_tls_minted_count(csl_tls_authority *authority);

#endif
