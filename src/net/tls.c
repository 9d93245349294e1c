/* TLS material: reading and checking the PEM files the HTTP listener serves, checking the
 * priority string, and writing the self-signed development certificate (GnuTLS x509 API).
 * Everything here runs at start or in the CLI, never on a serving loop. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/tls_dl.h"

/* ---- reading files ---------------------------------------------------------------------- */

/* Reads a whole regular file of at most TLS_FILE_MAX bytes, NUL-terminated. */
static int tls_file_read(const char *what, const char *path, char **out, size_t *outlen,
                         mode_t *mode, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_size > TLS_FILE_MAX) {
        snprintf(err, errlen, "%s %s: larger than %d bytes", what, path, TLS_FILE_MAX);
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(e));
            explicit_bzero(buf, cap + 1);
            free(buf);
            close(fd);
            return -e;
        }
        if (n == 0)
            break; /* shrank while reading: take what is there */
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    if (len == 0 || strlen(buf) != len) {
        snprintf(err, errlen, "%s %s: %s", what, path,
                 len == 0 ? "the file is empty" : "not a PEM file (binary content)");
        explicit_bzero(buf, cap + 1);
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    *outlen = len;
    if (mode)
        *mode = st.st_mode & 07777;
    return 0;
}

void tls_material_free(tls_material_t *m)
{
    if (!m)
        return;
    free(m->cert_pem);
    if (m->key_pem) {
        explicit_bzero(m->key_pem, m->key_len);
        free(m->key_pem);
    }
    memset(m, 0, sizeof *m);
}

/* Parses the first certificate of the file, fills validity and subject, and returns its key
 * id (SHA-1 of the public key) for the match with the private key. */
static int tls_cert_check(tls_material_t *m, const char *path, unsigned char *id, size_t *idlen,
                          char *err, size_t errlen)
{
    gnutls_datum_t d = {(unsigned char *)m->cert_pem, (unsigned)strlen(m->cert_pem)};
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int rc = ltls->gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n == 0) {
        snprintf(err, errlen, "tls.cert_file %s: not a PEM certificate (%s)", path,
                 rc < 0 ? ltls->gnutls_strerror(rc) : "no certificate found");
        return -EINVAL;
    }
    m->not_before = ltls->gnutls_x509_crt_get_activation_time(list[0]);
    m->not_after = ltls->gnutls_x509_crt_get_expiration_time(list[0]);
    size_t sl = sizeof m->subject;
    if (ltls->gnutls_x509_crt_get_dn(list[0], m->subject, &sl) < 0)
        m->subject[0] = '\0';
    rc = ltls->gnutls_x509_crt_get_key_id(list[0], 0, id, idlen);
    for (unsigned i = 0; i < n; i++)
        ltls->gnutls_x509_crt_deinit(list[i]);
    tls_dl_free(list);
    if (rc < 0) {
        snprintf(err, errlen, "tls.cert_file %s: unusable public key (%s)", path,
                 ltls->gnutls_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

static int tls_key_check(tls_material_t *m, const char *path, unsigned char *id, size_t *idlen,
                         char *err, size_t errlen)
{
    gnutls_x509_privkey_t key;
    if (ltls->gnutls_x509_privkey_init(&key) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    gnutls_datum_t d = {(unsigned char *)m->key_pem, (unsigned)m->key_len};
    int rc = ltls->gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_UNKNOWN_CIPHER_TYPE) {
        snprintf(err, errlen, "tls.key_file %s: the key is encrypted; give an unencrypted key",
                 path);
        rc = -EINVAL;
    } else if (rc < 0) {
        snprintf(err, errlen, "tls.key_file %s: not a PEM private key (%s)", path,
                 ltls->gnutls_strerror(rc));
        rc = -EINVAL;
    } else if ((rc = ltls->gnutls_x509_privkey_get_key_id(key, 0, id, idlen)) < 0) {
        snprintf(err, errlen, "tls.key_file %s: unusable key (%s)", path,
                 ltls->gnutls_strerror(rc));
        rc = -EINVAL;
    }
    ltls->gnutls_x509_privkey_deinit(key);
    return rc < 0 ? rc : 0;
}

int tls_material_load(const char *cert_file, const char *key_file, tls_material_t *m, char *err,
                      size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (tls_dl_load(err, errlen) < 0)
        return -ENOSYS;
    size_t cert_len = 0;
    unsigned char cid[64], kid[64];
    size_t cidlen = sizeof cid, kidlen = sizeof kid;
    int rc = tls_file_read("tls.cert_file", cert_file, &m->cert_pem, &cert_len, NULL, err, errlen);
    if (rc == 0)
        rc = tls_file_read("tls.key_file", key_file, &m->key_pem, &m->key_len, &m->key_mode, err,
                           errlen);
    if (rc == 0)
        rc = tls_cert_check(m, cert_file, cid, &cidlen, err, errlen);
    if (rc == 0)
        rc = tls_key_check(m, key_file, kid, &kidlen, err, errlen);
    if (rc == 0 && (cidlen != kidlen || memcmp(cid, kid, cidlen) != 0)) {
        snprintf(err, errlen, "tls.key_file %s does not match the certificate in tls.cert_file %s",
                 key_file, cert_file);
        rc = -EINVAL;
    }
    if (rc < 0)
        tls_material_free(m);
    return rc;
}

int tls_priorities_check(const char *priorities, char *err, size_t errlen)
{
    gnutls_priority_t p;
    const char *where = NULL;
    if (tls_dl_load(err, errlen) < 0)
        return -ENOSYS;
    int rc = ltls->gnutls_priority_init(&p, priorities, &where);
    if (rc < 0) {
        snprintf(err, errlen, "tls.priorities: GnuTLS refuses it at \"%.60s\" (%s)",
                 where ? where : priorities, ltls->gnutls_strerror(rc));
        return -EINVAL;
    }
    ltls->gnutls_priority_deinit(p);
    return 0;
}

/* ---- the development certificate -------------------------------------------------------- */

bool tls_host_valid(const char *s)
{
    unsigned char ip[16];
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    if (inet_pton(AF_INET, s, ip) == 1 || inet_pton(AF_INET6, s, ip) == 1)
        return true;
    const char *p = s;
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    size_t label = 0;
    for (; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0);
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0 && p[-1] != '-';
}

/* Adds one SAN: an IP address in binary, otherwise a DNS name. */
static int tls_san_add(gnutls_x509_crt_t crt, const char *host)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, host, ip) == 1)
        return ltls->gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                          GNUTLS_FSAN_APPEND);
    if (inet_pton(AF_INET6, host, ip) == 1)
        return ltls->gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                          GNUTLS_FSAN_APPEND);
    return ltls->gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
                                                      (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
}

static bool tls_host_seen(const char *const *hosts, size_t n, const char *h)
{
    static const char *const builtin[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(builtin[i], h) == 0)
            return true;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hosts[i], h) == 0)
            return true;
    return false;
}

/* Builds and self-signs the certificate for key. */
static int tls_crt_build(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                         const tls_selfsigned_opts_t *o)
{
    unsigned char serial[16], id[64];
    size_t idlen = sizeof id;
    int rc;
    /* A positive 127-bit serial: random, so a regenerated certificate never repeats one. */
    if ((rc = ltls->gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) < 0)
        return rc;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    time_t now = time(NULL);
    const char *cn = o->nhosts > 0 ? o->hosts[0] : "localhost";
    static const char org[] = "ganglion development certificate";
    if ((rc = ltls->gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
        /* A minute of slack for clocks a little behind ours. */
        (rc = ltls->gnutls_x509_crt_set_activation_time(crt, now - 60)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_expiration_time(crt, now + (time_t)o->days * 86400)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, org,
                                                  sizeof org - 1)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                  (unsigned)strlen(cn))) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
        (rc = ltls->gnutls_x509_crt_get_key_id(crt, 0, id, &idlen)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_subject_key_id(crt, id, idlen)) < 0 ||
        (rc = ltls->gnutls_x509_crt_set_authority_key_id(crt, id, idlen)) < 0)
        return rc;
    static const char *const builtin[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++)
        if ((rc = tls_san_add(crt, builtin[i])) < 0)
            return rc;
    for (size_t i = 0; i < o->nhosts; i++)
        if (!tls_host_seen(o->hosts, i, o->hosts[i]) && (rc = tls_san_add(crt, o->hosts[i])) < 0)
            return rc;
    return ltls->gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
}

/* mkdir -p with 0700 for the directories it creates. */
static int tls_mkdirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -ENAMETOOLONG;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(e));
            return -e;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -ENOTDIR;
    }
    return 0;
}

/* Writes data to path with mode, through a temporary file renamed into place, so a reader
 * never sees half a key and the mode is right from the first byte. */
static int tls_file_write(const char *path, const gnutls_datum_t *data, mode_t mode, char *err,
                          size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(-rc));
        return rc;
    }
    size_t off = 0;
    while (off < data->size && rc == 0) {
        ssize_t n = write(fd, data->data + off, data->size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        else
            off += (size_t)n;
    }
    if (rc == 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0))
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
        (void)unlink(tmp);
    }
    return rc;
}

int tls_selfsigned_write(const tls_selfsigned_opts_t *o, char *cert_path, size_t cert_len,
                         char *key_path, size_t key_len, char *err, size_t errlen)
{
    if (o->days < 1 || o->days > TLS_DAYS_MAX) {
        snprintf(err, errlen, "--days wants 1..%d, not %d", TLS_DAYS_MAX, o->days);
        return -EINVAL;
    }
    if (tls_dl_load(err, errlen) < 0)
        return -ENOSYS;
    if (o->nhosts > TLS_HOSTS_MAX) {
        snprintf(err, errlen, "at most %d --host names", TLS_HOSTS_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < o->nhosts; i++)
        if (!tls_host_valid(o->hosts[i])) {
            snprintf(err, errlen, "--host '%.80s' is neither a DNS name nor an IP address",
                     o->hosts[i]);
            return -EINVAL;
        }
    if ((size_t)snprintf(cert_path, cert_len, "%s/%s", o->dir, TLS_CERT_NAME) >= cert_len ||
        (size_t)snprintf(key_path, key_len, "%s/%s", o->dir, TLS_KEY_NAME) >= key_len) {
        snprintf(err, errlen, "%s: path too long", o->dir);
        return -ENAMETOOLONG;
    }
    int rc = tls_mkdirs(o->dir, err, errlen);
    if (rc < 0)
        return rc;
    if (!o->force) {
        const char *p = access(key_path, F_OK) == 0    ? key_path
                        : access(cert_path, F_OK) == 0 ? cert_path
                                                       : NULL;
        if (p) {
            snprintf(err, errlen, "%s already exists (use --force to replace it)", p);
            return -EEXIST;
        }
    }

    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kpem = {NULL, 0}, cpem = {NULL, 0};
    int g = ltls->gnutls_x509_privkey_init(&key);
    if (g >= 0)
        g = ltls->gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                               GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (g >= 0)
        g = ltls->gnutls_x509_crt_init(&crt);
    if (g >= 0)
        g = tls_crt_build(crt, key, o);
    if (g >= 0)
        g = ltls->gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                                    GNUTLS_PKCS_PLAIN, &kpem);
    if (g >= 0)
        g = ltls->gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem);
    if (g < 0) {
        snprintf(err, errlen, "cannot generate the certificate: %s", ltls->gnutls_strerror(g));
        rc = -EIO;
    }
    /* The key first: a certificate without its key is of no use. */
    if (rc == 0)
        rc = tls_file_write(key_path, &kpem, 0600, err, errlen);
    if (rc == 0)
        rc = tls_file_write(cert_path, &cpem, 0644, err, errlen);
    if (kpem.data) {
        explicit_bzero(kpem.data, kpem.size);
        tls_dl_free(kpem.data);
    }
    tls_dl_free(cpem.data);
    if (crt)
        ltls->gnutls_x509_crt_deinit(crt);
    if (key)
        ltls->gnutls_x509_privkey_deinit(key);
    return rc;
}
