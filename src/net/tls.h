/* TLS material for the HTTP listener and the development certificate of `ganglion cert`:
 * PEM files read and checked once at start (so a bad file is an error naming it, not a vague
 * failure later), the GnuTLS priority string checked, and a self-signed ECDSA P-256
 * certificate written for local use. The listener's sessions are in http_tls.c. */
#ifndef GANGLION_TLS_H
#define GANGLION_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define TLS_FILE_MAX  (1024 * 1024) /* a PEM file larger than this is refused */
#define TLS_HOSTS_MAX 32            /* --host names in one certificate */
#define TLS_DAYS_MAX  3650
#define TLS_CERT_NAME "cert.pem"
#define TLS_KEY_NAME  "key.pem"

/* The certificate chain and key as read from their files, NUL-terminated (GnuTLS takes
 * C strings). Owned; tls_material_free() wipes the key. */
typedef struct tls_material {
    char *cert_pem;
    char *key_pem;
    size_t key_len;
    mode_t key_mode;   /* permission bits of the key file, to warn when others may read it */
    time_t not_before; /* validity of the first certificate in cert_file */
    time_t not_after;
    char subject[256]; /* its subject DN, for the log */
} tls_material_t;

/* Reads cert_file (one or more PEM certificates, the server's first) and key_file (a PEM
 * private key, unencrypted) and checks that the key belongs to the first certificate. 0, or a
 * negative errno with err naming the file and the reason. *m is zeroed first. */
int tls_material_load(const char *cert_file, const char *key_file, tls_material_t *m, char *err,
                      size_t errlen);

void tls_material_free(tls_material_t *m);

/* 0 when GnuTLS accepts the priority string, else -EINVAL with err showing where it stops. */
int tls_priorities_check(const char *priorities, char *err, size_t errlen);

typedef struct tls_selfsigned_opts {
    const char *dir;          /* created (0700) when missing */
    const char *const *hosts; /* extra DNS names or IP addresses, besides localhost/127.0.0.1/::1 */
    size_t nhosts;
    int days;   /* validity, 1..TLS_DAYS_MAX */
    bool force; /* replace existing files */
} tls_selfsigned_opts_t;

/* Writes dir/cert.pem (0644) and dir/key.pem (0600): an ECDSA P-256 key and a self-signed
 * server certificate for it (random serial, CA:FALSE, digitalSignature, serverAuth, SANs for
 * localhost, 127.0.0.1, ::1 and the given hosts). Refuses to overwrite without `force`. The
 * paths written go to cert_path/key_path. 0, or a negative errno with err filled. */
int tls_selfsigned_write(const tls_selfsigned_opts_t *o, char *cert_path, size_t cert_len,
                         char *key_path, size_t key_len, char *err, size_t errlen);

/* True when s is a usable certificate host: an IPv4/IPv6 address or a DNS name (letters,
 * digits, '-', '.', an optional leading "*."). */
bool tls_host_valid(const char *s);

#endif
