/* The repository on disk: atomic files, sealed frames, and vault.json — the repository key
 * (encryption, chunk-id and signing keys) wrapped by a key from a passphrase (argon2id) or a
 * key file. Rotation rewrites only vault.json. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vault/vault_internal.h"

#define VAULT_FRAME_MAGIC "GVF1"
#define VAULT_WRAP_AD     "ganglion-vault-key-v1"
#define VAULT_MASTER_LEN  (32 + 32 + 32) /* enc key, hash key, signing seed */

static int vault_dir_fsync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int vault_file_put(const char *dir, const char *rel, const void *data, size_t len)
{
    char tmp[4096], dst[4096];
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/tmp/%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir,
                         rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
                         rnd[7]) >= sizeof tmp ||
        (size_t)snprintf(dst, sizeof dst, "%s/%s", dir, rel) >= sizeof dst)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const uint8_t *p = data;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (!rc && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, dst) < 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* the directory entry too, so a crash after the rename keeps the file */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dst);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    return vault_dir_fsync(parent);
}

int vault_file_get(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
        int e = errno;
        close(fd);
        return (size_t)st.st_size > max ? -EFBIG : -e;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t r = read(fd, buf + off, n - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = off;
    return 0;
}

static int vault_seal_key(const uint8_t *key, const uint8_t *plain, size_t n, const uint8_t *ad,
                          size_t adlen, uint8_t **out, size_t *outlen)
{
    size_t hdr = 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    size_t total = hdr + n + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, VAULT_FRAME_MAGIC, 4);
    randombytes_buf(buf + 4, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + hdr, &clen, plain, n, ad, adlen, NULL, buf + 4,
                                               key);
    *out = buf;
    *outlen = hdr + (size_t)clen;
    return 0;
}

static int vault_open_key(const uint8_t *key, const uint8_t *frame, size_t n, const uint8_t *ad,
                          size_t adlen, uint8_t **out, size_t *outlen)
{
    size_t hdr = 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (n < hdr + crypto_aead_xchacha20poly1305_ietf_ABYTES || memcmp(frame, VAULT_FRAME_MAGIC, 4))
        return -EBADMSG;
    uint8_t *buf = malloc(n - hdr);
    if (!buf)
        return -ENOMEM;
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &plen, NULL, frame + hdr, n - hdr, ad,
                                                   adlen, frame + 4, key) != 0) {
        free(buf);
        return -EBADMSG;
    }
    *out = buf;
    *outlen = (size_t)plen;
    return 0;
}

int vault_seal(const vault_repo_t *r, const uint8_t *plain, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t **out, size_t *outlen)
{
    return vault_seal_key(r->enc_key, plain, n, ad, adlen, out, outlen);
}

int vault_open(const vault_repo_t *r, const uint8_t *frame, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t **out, size_t *outlen)
{
    return vault_open_key(r->enc_key, frame, n, ad, adlen, out, outlen);
}

static void vault_hex(const uint8_t *p, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

static int vault_unhex(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    if (!s || sodium_hex2bin(out, n, s, strlen(s), NULL, &got, NULL) != 0 || got != n)
        return -EINVAL;
    return 0;
}

/* The key-encryption key: argon2id of the passphrase with the repository's salt, or BLAKE2b of
 * the key file's bytes (at least 32 of them). */
static int vault_kek_derive(const vault_key_src_t *key, const uint8_t *salt, unsigned long long ops,
                            size_t mem, uint8_t kek[32], char *err, size_t errlen)
{
    if (key->key_file) {
        uint8_t *buf = NULL;
        size_t n = 0;
        int rc = vault_file_get(key->key_file, 1 << 20, &buf, &n);
        if (rc < 0) {
            snprintf(err, errlen, "cannot read key file %s: %s", key->key_file, strerror(-rc));
            return rc;
        }
        if (n < 32) {
            sodium_memzero(buf, n);
            free(buf);
            snprintf(err, errlen, "key file %s holds %zu bytes; at least 32 random bytes needed",
                     key->key_file, n);
            return -EINVAL;
        }
        crypto_generichash(kek, 32, buf, n, (const uint8_t *)VAULT_WRAP_AD,
                           sizeof VAULT_WRAP_AD - 1);
        sodium_memzero(buf, n);
        free(buf);
        return 0;
    }
    if (!key->passphrase || !*key->passphrase) {
        snprintf(err, errlen,
                 "no repository key: give --key-file or set GANGLION_VAULT_PASSPHRASE");
        return -EINVAL;
    }
    if (crypto_pwhash(kek, 32, key->passphrase, strlen(key->passphrase), salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        snprintf(err, errlen, "argon2id: out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* vault.json for master (96 bytes) wrapped under key. */
static int vault_config_write(const char *dir, const uint8_t *master, const uint8_t *sign_pk,
                              const vault_key_src_t *key, char *err, size_t errlen)
{
    uint8_t salt[crypto_pwhash_SALTBYTES], kek[32];
    randombytes_buf(salt, sizeof salt);
    unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    int rc = vault_kek_derive(key, salt, ops, mem, kek, err, errlen);
    if (rc < 0)
        return rc;
    uint8_t *wrapped = NULL;
    size_t wlen = 0;
    rc = vault_seal_key(kek, master, VAULT_MASTER_LEN, (const uint8_t *)VAULT_WRAP_AD,
                        sizeof VAULT_WRAP_AD - 1, &wrapped, &wlen);
    sodium_memzero(kek, sizeof kek);
    if (rc < 0)
        return rc;
    char whex[2 * 256 + 1], shex[2 * sizeof salt + 1], phex[2 * crypto_sign_PUBLICKEYBYTES + 1];
    vault_hex(wrapped, wlen, whex);
    vault_hex(salt, sizeof salt, shex);
    vault_hex(sign_pk, crypto_sign_PUBLICKEYBYTES, phex);
    free(wrapped);
    json_t *c = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "format",
                          1, "kdf", key->key_file ? "keyfile" : "argon2id", "salt", shex,
                          "opslimit", (json_int_t)ops, "memlimit", (json_int_t)mem, "wrapped_key",
                          whex, "sign_public_key", phex, "algorithms", "chunking",
                          "gear 512KiB/2MiB/8MiB", "chunk_id", "blake2b-256 keyed", "compression",
                          "zstd", "encryption", "xchacha20poly1305-ietf");
    char *text = c ? json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    if (!text)
        return -ENOMEM;
    rc = vault_file_put(dir, "vault.json", text, strlen(text));
    free(text);
    if (rc < 0)
        snprintf(err, errlen, "cannot write %s/vault.json: %s", dir, strerror(-rc));
    return rc;
}

int vault_repo_init(const char *dir, const vault_key_src_t *key, char *err, size_t errlen)
{
    if (sodium_init() < 0)
        return -EIO;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -errno;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return -errno;
    }
    struct dirent *e;
    int used = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            used = 1;
    closedir(d);
    if (used) {
        snprintf(err, errlen, "%s is not empty; a repository is created in a new directory", dir);
        return -EEXIST;
    }
    const char *subs[] = {"tmp", "chunks", "manifests", "locks"};
    char path[4096];
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        if (mkdir(path, 0700) < 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -errno;
        }
    }
    uint8_t master[VAULT_MASTER_LEN], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf(master, sizeof master);
    crypto_sign_seed_keypair(pk, sk, master + 64);
    int rc = vault_config_write(dir, master, pk, key, err, errlen);
    sodium_memzero(master, sizeof master);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int vault_repo_open(const char *dir, const vault_key_src_t *key, vault_repo_t **out, char *err,
                    size_t errlen)
{
    if (sodium_init() < 0)
        return -EIO;
    char path[4096];
    snprintf(path, sizeof path, "%s/vault.json", dir);
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    if (!c) {
        snprintf(err, errlen, "%s is not a vault repository (%s: %s)", dir, path, je.text);
        return -ENOENT;
    }
    uint8_t salt[crypto_pwhash_SALTBYTES], kek[32], wrapped[256];
    const char *kdf = json_string_value(json_object_get(c, "kdf"));
    const char *whex = json_string_value(json_object_get(c, "wrapped_key"));
    size_t wlen = whex ? strlen(whex) / 2 : 0;
    int rc = 0;
    if (json_integer_value(json_object_get(c, "format")) != 1 || !kdf || wlen > sizeof wrapped ||
        vault_unhex(json_string_value(json_object_get(c, "salt")), salt, sizeof salt) < 0 ||
        vault_unhex(whex, wrapped, wlen) < 0) {
        snprintf(err, errlen, "%s: damaged or of an unknown format", path);
        json_decref(c);
        return -EBADMSG;
    }
    if (!strcmp(kdf, "keyfile") != !!key->key_file) {
        snprintf(err, errlen, "this repository is unlocked by %s",
                 strcmp(kdf, "keyfile") ? "a passphrase (GANGLION_VAULT_PASSPHRASE)"
                                        : "a key file (--key-file)");
        json_decref(c);
        return -EACCES;
    }
    rc = vault_kek_derive(
        key, salt, (unsigned long long)json_integer_value(json_object_get(c, "opslimit")),
        (size_t)json_integer_value(json_object_get(c, "memlimit")), kek, err, errlen);
    json_decref(c);
    if (rc < 0)
        return rc;
    uint8_t *master = NULL;
    size_t mlen = 0;
    rc = vault_open_key(kek, wrapped, wlen, (const uint8_t *)VAULT_WRAP_AD,
                        sizeof VAULT_WRAP_AD - 1, &master, &mlen);
    sodium_memzero(kek, sizeof kek);
    if (rc < 0 || mlen != VAULT_MASTER_LEN) {
        if (master)
            free(master);
        snprintf(err, errlen, "wrong key: the repository key in %s does not open with it", path);
        return -EACCES;
    }
    vault_repo_t *r = calloc(1, sizeof *r);
    if (!r) {
        sodium_memzero(master, mlen);
        free(master);
        return -ENOMEM;
    }
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    memcpy(r->enc_key, master, 32);
    memcpy(r->hash_key, master + 32, 32);
    crypto_sign_seed_keypair(r->sign_pk, r->sign_sk, master + 64);
    sodium_memzero(master, mlen);
    free(master);
    *out = r;
    return 0;
}

void vault_repo_close(vault_repo_t *r)
{
    if (!r)
        return;
    sodium_memzero(r, sizeof *r);
    free(r);
}

int vault_key_rotate(vault_repo_t *r, const vault_key_src_t *newkey, char *err, size_t errlen)
{
    uint8_t master[VAULT_MASTER_LEN];
    memcpy(master, r->enc_key, 32);
    memcpy(master + 32, r->hash_key, 32);
    crypto_sign_ed25519_sk_to_seed(master + 64, r->sign_sk);
    int rc = vault_config_write(r->dir, master, r->sign_pk, newkey, err, errlen);
    sodium_memzero(master, sizeof master);
    return rc;
}
