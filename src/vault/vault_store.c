/* The repository's objects: chunks (chunks/ab/<id>: zstd, then sealed with the id as associated
 * data, so a chunk cannot pass for another) and manifests (manifests/<id>: the signed JSON,
 * sealed with "manifest:<id>" as associated data). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "vault/vault_chunk.h"
#include "vault/vault_internal.h"

#define VAULT_ZSTD_LEVEL     3
#define VAULT_MANIFEST_MAX   (64u << 20)
#define VAULT_CHUNK_FILE_MAX (VAULT_CHUNK_MAX + (1u << 20))

void vault_chunk_id(const vault_repo_t *r, const uint8_t *p, size_t n, uint8_t id[VAULT_ID_BYTES])
{
    crypto_generichash(id, VAULT_ID_BYTES, p, n, r->hash_key, sizeof r->hash_key);
}

void vault_chunk_path(const vault_repo_t *r, const char *hex, char *out, size_t len)
{
    snprintf(out, len, "%s/chunks/%.2s/%s", r->dir, hex, hex);
}

int vault_chunk_put(vault_repo_t *r, const uint8_t *p, size_t n, char hex[2 * VAULT_ID_BYTES + 1],
                    int *added, size_t *stored)
{
    uint8_t id[VAULT_ID_BYTES];
    vault_chunk_id(r, p, n, id);
    sodium_bin2hex(hex, 2 * VAULT_ID_BYTES + 1, id, sizeof id);
    char path[4096];
    vault_chunk_path(r, hex, path, sizeof path);
    struct stat st;
    *added = 0;
    *stored = 0;
    if (stat(path, &st) == 0 && st.st_size > 0)
        return 0; /* deduplicated */
    /* plaintext of the frame: 1 byte (0 stored, 1 zstd) then the bytes */
    size_t bound = ZSTD_compressBound(n) + 1;
    uint8_t *z = malloc(bound);
    if (!z)
        return -ENOMEM;
    size_t zn = ZSTD_compress(z + 1, bound - 1, p, n, VAULT_ZSTD_LEVEL);
    if (!ZSTD_isError(zn) && zn < n) {
        z[0] = 1;
        zn += 1;
    } else {
        z[0] = 0;
        memcpy(z + 1, p, n);
        zn = n + 1;
    }
    uint8_t *frame = NULL;
    size_t flen = 0;
    int rc = vault_seal(r, z, zn, id, sizeof id, &frame, &flen);
    free(z);
    if (rc < 0)
        return rc;
    char sub[4096], rel[256];
    snprintf(sub, sizeof sub, "%s/chunks/%.2s", r->dir, hex);
    if (mkdir(sub, 0700) < 0 && errno != EEXIST) {
        free(frame);
        return -errno;
    }
    snprintf(rel, sizeof rel, "chunks/%.2s/%s", hex, hex);
    rc = vault_file_put(r->dir, rel, frame, flen);
    free(frame);
    if (rc == 0) {
        *added = 1;
        *stored = flen;
    }
    return rc;
}

int vault_chunk_get(const vault_repo_t *r, const char *hex, uint8_t **out, size_t *len, char *err,
                    size_t errlen)
{
    uint8_t id[VAULT_ID_BYTES], check[VAULT_ID_BYTES];
    size_t got = 0;
    if (sodium_hex2bin(id, sizeof id, hex, strlen(hex), NULL, &got, NULL) != 0 ||
        got != sizeof id) {
        snprintf(err, errlen, "chunk id '%.80s' is not 64 hex digits", hex);
        return -EBADMSG;
    }
    char path[4096];
    vault_chunk_path(r, hex, path, sizeof path);
    uint8_t *frame = NULL, *plain = NULL;
    size_t flen = 0, plen = 0;
    int rc = vault_file_get(path, VAULT_CHUNK_FILE_MAX, &frame, &flen);
    if (rc < 0) {
        snprintf(err, errlen, "chunk %s: %s", hex, rc == -ENOENT ? "missing" : strerror(-rc));
        return rc == -ENOENT ? -ENOENT : -EBADMSG;
    }
    rc = vault_open(r, frame, flen, id, sizeof id, &plain, &plen);
    free(frame);
    if (rc < 0 || plen < 1) {
        free(plain);
        snprintf(err, errlen,
                 "chunk %s: authentication failed (damaged, truncated or not of this "
                 "repository)",
                 hex);
        return -EBADMSG;
    }
    uint8_t *data = NULL;
    size_t dn = 0;
    if (plain[0] == 1) {
        unsigned long long want = ZSTD_getFrameContentSize(plain + 1, plen - 1);
        if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
            want > VAULT_CHUNK_MAX) {
            free(plain);
            snprintf(err, errlen, "chunk %s: bad compressed frame", hex);
            return -EBADMSG;
        }
        data = malloc(want ? want : 1);
        if (!data) {
            free(plain);
            return -ENOMEM;
        }
        dn = ZSTD_decompress(data, want, plain + 1, plen - 1);
        free(plain);
        if (ZSTD_isError(dn) || dn != want) {
            free(data);
            snprintf(err, errlen, "chunk %s: bad compressed frame", hex);
            return -EBADMSG;
        }
    } else {
        dn = plen - 1;
        memmove(plain, plain + 1, dn);
        data = plain;
    }
    vault_chunk_id(r, data, dn, check);
    if (sodium_memcmp(check, id, sizeof id) != 0) {
        free(data);
        snprintf(err, errlen, "chunk %s: content does not match its id", hex);
        return -EBADMSG;
    }
    *out = data;
    *len = dn;
    return 0;
}

static void vault_manifest_ad(const char *id, char *ad, size_t len)
{
    snprintf(ad, len, "manifest:%s", id);
}

int vault_manifest_put(vault_repo_t *r, const json_t *m)
{
    const char *id = json_string_value(json_object_get(m, "id"));
    char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    if (!id || !text) {
        free(text);
        return -EINVAL;
    }
    size_t tn = strlen(text);
    uint8_t *signed_buf = malloc(crypto_sign_BYTES + tn);
    if (!signed_buf) {
        free(text);
        return -ENOMEM;
    }
    crypto_sign_detached(signed_buf, NULL, (const uint8_t *)text, tn, r->sign_sk);
    memcpy(signed_buf + crypto_sign_BYTES, text, tn);
    free(text);
    char ad[256], rel[256];
    vault_manifest_ad(id, ad, sizeof ad);
    uint8_t *frame = NULL;
    size_t flen = 0;
    int rc = vault_seal(r, signed_buf, crypto_sign_BYTES + tn, (const uint8_t *)ad, strlen(ad),
                        &frame, &flen);
    free(signed_buf);
    if (rc < 0)
        return rc;
    snprintf(rel, sizeof rel, "manifests/%s", id);
    rc = vault_file_put(r->dir, rel, frame, flen);
    free(frame);
    return rc;
}

int vault_manifest_get(const vault_repo_t *r, const char *id, json_t **out, char *err,
                       size_t errlen)
{
    if (!id || !*id || strchr(id, '/') || strlen(id) > 100) {
        snprintf(err, errlen, "'%.100s' is not a backup id", id ? id : "");
        return -EINVAL;
    }
    char path[4096], ad[256];
    snprintf(path, sizeof path, "%s/manifests/%s", r->dir, id);
    uint8_t *frame = NULL, *plain = NULL;
    size_t flen = 0, plen = 0;
    int rc = vault_file_get(path, VAULT_MANIFEST_MAX, &frame, &flen);
    if (rc < 0) {
        snprintf(err, errlen, "backup %s: %s", id,
                 rc == -ENOENT ? "no such backup" : strerror(-rc));
        return rc;
    }
    vault_manifest_ad(id, ad, sizeof ad);
    rc = vault_open(r, frame, flen, (const uint8_t *)ad, strlen(ad), &plain, &plen);
    free(frame);
    if (rc < 0 || plen < crypto_sign_BYTES) {
        free(plain);
        snprintf(err, errlen,
                 "manifest %s: authentication failed (damaged, truncated or not of "
                 "this repository)",
                 id);
        return -EBADMSG;
    }
    if (crypto_sign_verify_detached(plain, plain + crypto_sign_BYTES, plen - crypto_sign_BYTES,
                                    r->sign_pk) != 0) {
        free(plain);
        snprintf(err, errlen, "manifest %s: bad signature", id);
        return -EBADMSG;
    }
    json_error_t je;
    json_t *m =
        json_loadb((const char *)plain + crypto_sign_BYTES, plen - crypto_sign_BYTES, 0, &je);
    free(plain);
    const char *mid = json_string_value(json_object_get(m, "id"));
    if (!m || !mid || strcmp(mid, id) || !json_is_array(json_object_get(m, "components"))) {
        json_decref(m);
        snprintf(err, errlen, "manifest %s: malformed content", id);
        return -EBADMSG;
    }
    *out = m;
    return 0;
}

static int vault_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vault_manifest_ids(const vault_repo_t *r, json_t **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/manifests", r->dir);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, 2 * cap * sizeof *names);
            if (!nn)
                break;
            names = nn;
            cap *= 2;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!names)
        return -ENOMEM;
    qsort(names, n, sizeof *names, vault_str_cmp);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (names[i])
            json_array_append_new(a, json_string(names[i]));
        free(names[i]);
    }
    free(names);
    *out = a;
    return 0;
}
