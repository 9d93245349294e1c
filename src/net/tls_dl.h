/* GnuTLS, loaded on demand: a daemon with TLS off and no SMTP relay over TLS never maps
 * libgnutls and what it brings (p11-kit, nettle, hogweed, libtasn1: about 1.8 MB resident at
 * idle). Its headers still supply types and constants; every call goes through the table
 * `ltls`, filled once by tls_dl_load() and read-only afterwards. */
#ifndef GANGLION_NET_TLS_DL_H
#define GANGLION_NET_TLS_DL_H

#include <stddef.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* Every GnuTLS function ganglion calls; X(name) per function (gnutls_transport_set_int is a
 * macro over gnutls_transport_set_int2; gnutls_free is a variable, see tls_dl_free). */
#define TLS_DL_FUNCS(X)                                                                            \
    X(gnutls_bye)                                                                                  \
    X(gnutls_certificate_allocate_credentials)                                                     \
    X(gnutls_certificate_free_credentials)                                                         \
    X(gnutls_certificate_server_set_request)                                                       \
    X(gnutls_certificate_set_x509_key_mem)                                                         \
    X(gnutls_certificate_set_x509_system_trust)                                                    \
    X(gnutls_certificate_set_x509_trust_file)                                                      \
    X(gnutls_credentials_set)                                                                      \
    X(gnutls_deinit)                                                                               \
    X(gnutls_error_is_fatal)                                                                       \
    X(gnutls_handshake)                                                                            \
    X(gnutls_init)                                                                                 \
    X(gnutls_priority_deinit)                                                                      \
    X(gnutls_priority_init)                                                                        \
    X(gnutls_priority_set)                                                                         \
    X(gnutls_record_check_pending)                                                                 \
    X(gnutls_record_get_direction)                                                                 \
    X(gnutls_record_recv)                                                                          \
    X(gnutls_record_send)                                                                          \
    X(gnutls_rnd)                                                                                  \
    X(gnutls_server_name_set)                                                                      \
    X(gnutls_session_set_verify_cert)                                                              \
    X(gnutls_set_default_priority)                                                                 \
    X(gnutls_strerror)                                                                             \
    X(gnutls_x509_crt_deinit)                                                                      \
    X(gnutls_x509_crt_export2)                                                                     \
    X(gnutls_x509_crt_get_activation_time)                                                         \
    X(gnutls_x509_crt_get_dn)                                                                      \
    X(gnutls_x509_crt_get_expiration_time)                                                         \
    X(gnutls_x509_crt_get_key_id)                                                                  \
    X(gnutls_x509_crt_init)                                                                        \
    X(gnutls_x509_crt_list_import2)                                                                \
    X(gnutls_x509_crt_set_activation_time)                                                         \
    X(gnutls_x509_crt_set_authority_key_id)                                                        \
    X(gnutls_x509_crt_set_basic_constraints)                                                       \
    X(gnutls_x509_crt_set_dn_by_oid)                                                               \
    X(gnutls_x509_crt_set_expiration_time)                                                         \
    X(gnutls_x509_crt_set_key)                                                                     \
    X(gnutls_x509_crt_set_key_purpose_oid)                                                         \
    X(gnutls_x509_crt_set_key_usage)                                                               \
    X(gnutls_x509_crt_set_serial)                                                                  \
    X(gnutls_x509_crt_set_subject_alt_name)                                                        \
    X(gnutls_x509_crt_set_subject_key_id)                                                          \
    X(gnutls_x509_crt_set_version)                                                                 \
    X(gnutls_x509_crt_sign2)                                                                       \
    X(gnutls_x509_privkey_deinit)                                                                  \
    X(gnutls_x509_privkey_export2_pkcs8)                                                           \
    X(gnutls_x509_privkey_generate)                                                                \
    X(gnutls_x509_privkey_get_key_id)                                                              \
    X(gnutls_x509_privkey_import2)                                                                 \
    X(gnutls_x509_privkey_init)                                                                    \
    X(gnutls_transport_set_int2)

/* Members are named after the functions and typed from their declarations, so a signature can
 * never drift from the header. */
#define TLS_DL_MEMBER(name) __typeof__(name) *name;
typedef struct tls_dl {
    TLS_DL_FUNCS(TLS_DL_MEMBER)
    gnutls_free_function *free_fn; /* the address of the library's gnutls_free variable */
} tls_dl_t;
#undef TLS_DL_MEMBER

/* Valid only after tls_dl_load() returned 0. */
extern const tls_dl_t *const ltls;

/* Loads libgnutls.so.30 and resolves every function, once per process (thread-safe; later
 * calls return the first outcome). Returns 0, or -1 with a message naming the package in err.
 * The library is never unloaded. */
int tls_dl_load(char *err, size_t errlen);

/* gnutls_free(p) for memory GnuTLS allocated (valid once loaded). */
void tls_dl_free(void *p);

#endif
