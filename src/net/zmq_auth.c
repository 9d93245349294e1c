/* CURVE for the ZMQ transport (see zmq_auth.h): keypair, allow-list, ZAP answers. */
#include "net/zmq_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "core/config.h"
#include "core/log.h"
#include "net/zmq_dl.h"

#define ZMQ_AUTH_KEYS_MAX 10000
#define ZMQ_AUTH_FILE_MAX (1024 * 1024)

struct zmq_auth {
    char public_key[41], secret_key[41];
    char clients_path[CONFIG_STR_MAX + 32];
    unsigned char (*keys)[32];
    size_t nkeys;
    struct timespec keys_mtime;
    off_t keys_size;
    ino_t keys_ino;
    bool keys_loaded;
    uint64_t auth_ok, auth_denied;
};

static int zmq_auth_read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static void zmq_auth_trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Loads DATA_DIR/zmq_curve.key, or makes a keypair there on first use (secret 0600, public
 * beside it in zmq_curve.pub for clients to copy). */
static int zmq_auth_keys_load(zmq_auth_t *s, const char *dir, char *err, size_t errlen)
{
    char sec_path[CONFIG_STR_MAX + 32], pub_path[CONFIG_STR_MAX + 32], buf[128];
    snprintf(sec_path, sizeof sec_path, "%s/zmq_curve.key", dir);
    snprintf(pub_path, sizeof pub_path, "%s/zmq_curve.pub", dir);
    if (zmq_auth_read_small(sec_path, buf, sizeof buf) >= 0) {
        zmq_auth_trim(buf);
        if (strlen(buf) != 40 || lzmq->zmq_curve_public(s->public_key, buf) < 0) {
            snprintf(err, errlen, "%s does not hold a Z85 CURVE secret key", sec_path);
            return -1;
        }
        memcpy(s->secret_key, buf, 41);
    } else if (errno == ENOENT) {
        if (lzmq->zmq_curve_keypair(s->public_key, s->secret_key) < 0) {
            snprintf(err, errlen, "zmq_curve_keypair: %s", lzmq->zmq_strerror(lzmq->zmq_errno()));
            return -1;
        }
        int fd = open(sec_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || dprintf(fd, "%s\n", s->secret_key) < 0 || fsync(fd) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", sec_path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
        log_info(NULL, "zmq: CURVE keypair generated", "{s:s,s:s}", "secret", sec_path,
                 "public_key", s->public_key);
    } else {
        snprintf(err, errlen, "cannot read %s: %s", sec_path, strerror(errno));
        return -1;
    }
    /* The public file is informational; rewrite it if it is missing or stale. */
    if (zmq_auth_read_small(pub_path, buf, sizeof buf) < 0 ||
        (zmq_auth_trim(buf), strcmp(buf, s->public_key) != 0)) {
        int fd = open(pub_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (dprintf(fd, "%s\n", s->public_key) < 0)
                log_warn(NULL, "zmq: cannot write the public key file", "{s:s}", "path", pub_path);
            close(fd);
        }
    }
    return 0;
}

/* (Re)reads the allow-list when the file changed since the last look: a stat per handshake,
 * so edits take effect for the next connection without a restart. */
static void zmq_auth_allow_refresh(zmq_auth_t *s)
{
    struct stat st;
    if (stat(s->clients_path, &st) < 0) {
        if (s->keys_loaded || !s->nkeys) {
            free(s->keys);
            s->keys = NULL;
            s->nkeys = 0;
            if (!s->keys_loaded)
                log_warn(NULL, "zmq: CURVE allow-list missing: every client is refused", "{s:s}",
                         "path", s->clients_path);
            s->keys_loaded = true;
            s->keys_ino = 0;
        }
        return;
    }
    if (s->keys_loaded && s->keys_ino == st.st_ino && s->keys_size == st.st_size &&
        s->keys_mtime.tv_sec == st.st_mtim.tv_sec && s->keys_mtime.tv_nsec == st.st_mtim.tv_nsec)
        return;
    s->keys_loaded = true;
    s->keys_ino = st.st_ino;
    s->keys_size = st.st_size;
    s->keys_mtime = st.st_mtim;
    if (st.st_size > ZMQ_AUTH_FILE_MAX) {
        log_warn(NULL, "zmq: CURVE allow-list too large; keeping the previous one", "{s:s,s:i}",
                 "path", s->clients_path, "max_bytes", ZMQ_AUTH_FILE_MAX);
        return;
    }
    FILE *f = fopen(s->clients_path, "re");
    if (!f)
        return;
    unsigned char(*keys)[32] = calloc(ZMQ_AUTH_KEYS_MAX, 32);
    size_t n = 0;
    char line[256];
    int lineno = 0;
    while (keys && n < ZMQ_AUTH_KEYS_MAX && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        zmq_auth_trim(p);
        if (!*p || *p == '#')
            continue;
        if (strlen(p) != 40 || !lzmq->zmq_z85_decode(keys[n], p)) {
            log_warn(NULL, "zmq: CURVE allow-list line ignored (not a 40-character Z85 key)",
                     "{s:s,s:i}", "path", s->clients_path, "line", lineno);
            continue;
        }
        n++;
    }
    fclose(f);
    if (!keys)
        return;
    free(s->keys);
    s->keys = keys;
    s->nkeys = n;
    log_info(NULL, "zmq: CURVE allow-list loaded", "{s:s,s:i}", "path", s->clients_path, "keys",
             (int)n);
}

static bool zmq_auth_key_allowed(zmq_auth_t *s, const void *key, size_t len)
{
    if (len != 32)
        return false;
    zmq_auth_allow_refresh(s);
    for (size_t i = 0; i < s->nkeys; i++)
        if (memcmp(s->keys[i], key, 32) == 0)
            return true;
    return false;
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity, mechanism,
 * credentials... → version, request id, status code, status text, user id, metadata. */
void zmq_auth_zap_answer(zmq_auth_t *s, void *zap)
{
    zmq_msg_t f[8];
    size_t n = 0;
    int more;
    do {
        zmq_msg_t m;
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, zap, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            break;
        }
        more = lzmq->zmq_msg_more(&m);
        if (n < 8)
            f[n++] = m;
        else
            lzmq->zmq_msg_close(&m);
    } while (more);
    if (n == 0)
        return;
    bool allowed = false;
    const char *why = "malformed ZAP request";
    if (n >= 6) {
        const char *mech = lzmq->zmq_msg_data(&f[5]);
        size_t mlen = lzmq->zmq_msg_size(&f[5]);
        if (mlen == 5 && memcmp(mech, "CURVE", 5) == 0 && n >= 7) {
            allowed = zmq_auth_key_allowed(s, lzmq->zmq_msg_data(&f[6]), lzmq->zmq_msg_size(&f[6]));
            why = allowed ? "OK" : "client key not allowed";
        } else {
            why = "CURVE required";
        }
    }
    if (allowed)
        s->auth_ok++;
    else
        s->auth_denied++;
    if (!allowed) {
        char addr[64] = "";
        if (n >= 4)
            snprintf(addr, sizeof addr, "%.*s", (int)lzmq->zmq_msg_size(&f[3]),
                     (const char *)lzmq->zmq_msg_data(&f[3]));
        log_warn(NULL, "zmq: connection refused", "{s:s,s:s}", "reason", why, "address", addr);
    }
    /* The REP socket must answer every request it took, even a malformed one. */
    const char *code = allowed ? "200" : "400";
    zmq_dl_send(zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (n >= 2)
        zmq_dl_send(zap, lzmq->zmq_msg_data(&f[1]), lzmq->zmq_msg_size(&f[1]),
                    ZMQ_SNDMORE | ZMQ_DONTWAIT);
    else
        zmq_dl_send(zap, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_dl_send(zap, code, 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_dl_send(zap, why, strlen(why), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_dl_send(zap, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_dl_send(zap, "", 0, ZMQ_DONTWAIT);
    for (size_t i = 0; i < n; i++)
        lzmq->zmq_msg_close(&f[i]);
}

int zmq_auth_new(zmq_auth_t **out, const char *data_dir, const char *clients_path, char *err,
                 size_t errlen)
{
    *out = NULL;
    zmq_auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (zmq_auth_keys_load(a, data_dir, err, errlen) < 0) {
        free(a);
        return -1;
    }
    if (clients_path && clients_path[0])
        snprintf(a->clients_path, sizeof a->clients_path, "%s", clients_path);
    else
        snprintf(a->clients_path, sizeof a->clients_path, "%s/zmq_clients", data_dir);
    zmq_auth_allow_refresh(a);
    *out = a;
    return 0;
}

void zmq_auth_destroy(zmq_auth_t **a)
{
    if (!a || !*a)
        return;
    free((*a)->keys);
    sodium_memzero((*a)->secret_key, sizeof(*a)->secret_key);
    free(*a);
    *a = NULL;
}

const char *zmq_auth_secret_key(const zmq_auth_t *a)
{
    return a->secret_key;
}

uint64_t zmq_auth_allowed_count(const zmq_auth_t *a)
{
    return a ? a->auth_ok : 0;
}

uint64_t zmq_auth_denied_count(const zmq_auth_t *a)
{
    return a ? a->auth_denied : 0;
}
