/* What the vault's files share: the open repository (its keys), sealed frames, atomic files.
 * Internal to src/vault/. */
#ifndef GANGLION_VAULT_INTERNAL_H
#define GANGLION_VAULT_INTERNAL_H

#include <sodium.h>
#include <stdint.h>

#include "vault/vault.h"

#define VAULT_ID_BYTES 32 /* a chunk id: keyed BLAKE2b-256 of its plaintext */

struct vault_repo {
    char dir[2048];
    uint8_t enc_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES]; /* chunks and manifests */
    uint8_t hash_key[crypto_generichash_KEYBYTES];                /* chunk ids */
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];                  /* manifests' signatures */
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
};

/* dir/rel written whole: temp file in dir/tmp, fsync, rename, fsync of the directory. */
int vault_file_put(const char *dir, const char *rel, const void *data, size_t len);
/* Reads path whole (at most max bytes); *out malloc'd. -EFBIG when larger. */
int vault_file_get(const char *path, size_t max, uint8_t **out, size_t *len);

/* Seals plain with the repository key: "GVF1" | nonce | AEAD(plain, ad). *out malloc'd. */
int vault_seal(const vault_repo_t *r, const uint8_t *plain, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t **out, size_t *outlen);
/* Opens a sealed frame: -EBADMSG when the frame or tag does not check. *out malloc'd. */
int vault_open(const vault_repo_t *r, const uint8_t *frame, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t **out, size_t *outlen);

/* Chunk store: id of plain; put (compressed, sealed, written atomically unless present);
 * get (read, opened, decompressed and rehashed: -EBADMSG when anything fails). */
void vault_chunk_id(const vault_repo_t *r, const uint8_t *p, size_t n, uint8_t id[VAULT_ID_BYTES]);
int vault_chunk_put(vault_repo_t *r, const uint8_t *p, size_t n, char hex[2 * VAULT_ID_BYTES + 1],
                    int *added, size_t *stored);
int vault_chunk_get(const vault_repo_t *r, const char *hex, uint8_t **out, size_t *len, char *err,
                    size_t errlen);
void vault_chunk_path(const vault_repo_t *r, const char *hex, char *out, size_t len);

/* Manifests: written sealed and signed; read back opened and signature-checked. */
int vault_manifest_put(vault_repo_t *r, const json_t *m);
int vault_manifest_get(const vault_repo_t *r, const char *id, json_t **out, char *err,
                       size_t errlen);
/* The ids in dir/manifests, sorted; *out an array of strings, owned. */
int vault_manifest_ids(const vault_repo_t *r, json_t **out);

/* The repository lock (locks/repository.lock): shared for a backup, exclusive for a prune.
 * *fd_out holds it until closed. -EBUSY when the other kind holds it. */
int vault_lock_take(const vault_repo_t *r, bool exclusive, int *fd_out, char *err, size_t errlen);

/* PostgreSQL (vault_pg.c): the declared tables exported with COPY in one REPEATABLE READ READ
 * ONLY transaction into path (*schema: the store's version; *tables_out: {tables[{domain,
 * table, rows}], undeclared[]}, owned); and an export loaded back in one transaction (the
 * schema versions must match; force: replace rows already there). */
int vault_pg_export(const char *url, const backup_decl_t *const *decls, size_t n, const char *path,
                    vault_progress_fn progress, void *parg, int *schema, json_t **tables_out,
                    char *err, size_t errlen);
int vault_pg_import(const char *url, const char *path, int want_schema, bool force,
                    vault_store_prepare_fn prepare, void *ud, vault_progress_fn progress,
                    void *parg, char *err, size_t errlen);

#endif
