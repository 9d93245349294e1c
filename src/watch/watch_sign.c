/* Signed evidence: an Ed25519 key made at first start in the data dir (0600), bundles of an
 * anomaly with who exported it and when, signed over a canonical serialisation, and the check
 * that `ganglion watch verify` runs offline. Canonical form: the bundle without "signature",
 * serialised by jansson with sorted keys, no whitespace, non-ASCII escaped, reals as %.17g. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/clock.h"
#include "watch/watch.h"
#include "watch/watch_internal.h"

#define WATCH_BUNDLE_FORMAT "ganglion.watch.evidence/1"

static void watch_key_id(const unsigned char pk[32], char out[17])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2hex(out, 17, h, 8);
}

static int watch_read_all(int fd, unsigned char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    unsigned char extra;
    return read(fd, &extra, 1) == 0 ? 0 : -1;
}

int watch_sign_key_load(watch_t *w, const char *data_dir, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not initialise");
        return -1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data_dir, WATCH_KEY_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        int rc = fstat(fd, &st) == 0 ? watch_read_all(fd, w->sk, sizeof w->sk) : -1;
        close(fd);
        if (rc < 0) {
            snprintf(err, errlen,
                     "%s is not a 64-byte Ed25519 secret key; move it away to make a "
                     "new one (bundles signed with it will no longer verify)",
                     path);
            return -1;
        }
        if (st.st_mode & 077)
            chmod(path, 0600); /* best effort: the key is readable by others */
        crypto_sign_ed25519_sk_to_pk(w->pk, w->sk);
    } else if (errno == ENOENT) {
        crypto_sign_keypair(w->pk, w->sk);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        ssize_t n = write(fd, w->sk, sizeof w->sk);
        int crc = fsync(fd);
        close(fd);
        if (n != (ssize_t)sizeof w->sk || crc < 0) {
            unlink(path);
            snprintf(err, errlen, "cannot write %s", path);
            return -1;
        }
    } else {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    watch_key_id(w->pk, w->key_id);
    return 0;
}

char *watch_bundle_canonical(const json_t *bundle, size_t *len)
{
    json_t *copy = json_deep_copy(bundle);
    if (!copy)
        return NULL;
    json_object_del(copy, "signature");
    char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                   JSON_REAL_PRECISION(17));
    json_decref(copy);
    if (s && len)
        *len = strlen(s);
    return s;
}

static json_t *watch_b64(const unsigned char *b, size_t n)
{
    char out[sodium_base64_ENCODED_LEN(128, sodium_base64_VARIANT_ORIGINAL)];
    if (n > 128)
        return NULL;
    sodium_bin2base64(out, sizeof out, b, n, sodium_base64_VARIANT_ORIGINAL);
    return json_string(out);
}

json_t *watch_public_key_json(const unsigned char pk[32])
{
    char id[17];
    watch_key_id(pk, id);
    return json_pack("{s:s,s:s,s:o,s:s}", "algorithm", "Ed25519", "key_id", id, "public_key",
                     watch_b64(pk, 32), "canonicalization",
                     "the bundle without \"signature\": JSON, keys sorted, no whitespace, "
                     "non-ASCII escaped");
}

json_t *watch_bundle_make(const watch_t *w, const json_t *anomaly, const char *who, int64_t now_ms)
{
    char at[40];
    clock_rfc3339(now_ms, at, sizeof at);
    json_t *b = json_pack("{s:s,s:O,s:s,s:s}", "format", WATCH_BUNDLE_FORMAT, "anomaly", anomaly,
                          "exported_at", at, "exported_by", who ? who : "anonymous");
    if (!b)
        return NULL;
    size_t len = 0;
    char *msg = watch_bundle_canonical(b, &len);
    if (!msg) {
        json_decref(b);
        return NULL;
    }
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, len, w->sk);
    free(msg);
    json_t *s = watch_public_key_json(w->pk);
    json_object_del(s, "canonicalization");
    json_object_set_new(s, "value", watch_b64(sig, sizeof sig));
    json_object_set_new(b, "signature", s);
    return b;
}

int watch_key_parse(const char *text, unsigned char pk[32])
{
    size_t n = 0;
    const char *end = NULL;
    while (*text == ' ' || *text == '\n' || *text == '\t')
        text++;
    size_t tl = strlen(text);
    while (tl && (text[tl - 1] == '\n' || text[tl - 1] == ' ' || text[tl - 1] == '\r'))
        tl--;
    if (tl == 64 && sodium_hex2bin(pk, 32, text, tl, NULL, &n, &end) == 0 && n == 32)
        return 0;
    if (sodium_base642bin(pk, 32, text, tl, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        n == 32 && end == text + tl)
        return 0;
    return -1;
}

int watch_bundle_verify(const json_t *bundle, const unsigned char pk[32], char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not initialise");
        return -1;
    }
    if (!json_is_object(bundle) || !json_is_object(json_object_get(bundle, "anomaly"))) {
        snprintf(err, errlen, "not an evidence bundle (no \"anomaly\" object)");
        return -1;
    }
    json_t *sig = json_object_get(bundle, "signature");
    const char *alg = json_string_value(json_object_get(sig, "algorithm"));
    const char *val = json_string_value(json_object_get(sig, "value"));
    if (!alg || strcmp(alg, "Ed25519") != 0 || !val) {
        snprintf(err, errlen, "the bundle has no Ed25519 signature");
        return -1;
    }
    unsigned char s[crypto_sign_BYTES];
    size_t n = 0;
    if (sodium_base642bin(s, sizeof s, val, strlen(val), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != sizeof s) {
        snprintf(err, errlen, "the signature is not 64 bytes of base64");
        return -1;
    }
    size_t len = 0;
    char *msg = watch_bundle_canonical(bundle, &len);
    if (!msg) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = crypto_sign_verify_detached(s, (const unsigned char *)msg, len, pk);
    free(msg);
    if (rc != 0) {
        snprintf(err, errlen,
                 "the signature does not match: the bundle was changed after "
                 "export, or signed with another key");
        return -1;
    }
    return 0;
}
