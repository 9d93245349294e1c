/* The vault: encrypted, deduplicated, signed backups of a data directory into a repository on a
 * local directory (docs/vault.md). Every call here blocks (files, hashing, compression): the CLI
 * calls it directly; the daemon would call it from the thread pool. Errors: 0 or a negative
 * errno, with a sentence in err. */
#ifndef GANGLION_VAULT_H
#define GANGLION_VAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"

typedef struct vault_repo vault_repo_t;

/* Where the key that unlocks a repository comes from: a passphrase (argon2id) or a key file
 * (its bytes, hashed). Exactly one is set. Borrowed. */
typedef struct vault_key_src {
    const char *passphrase;
    const char *key_file;
} vault_key_src_t;

/* Progress of a long operation: bytes done of total (total 0 = unknown). */
typedef void (*vault_progress_fn)(void *arg, const char *what, unsigned long long done,
                                  unsigned long long total);

/* Creates a repository in dir (absent or empty): a fresh repository key wrapped by key. */
int vault_repo_init(const char *dir, const vault_key_src_t *key, char *err, size_t errlen);

/* Opens dir with key; *out owned by the caller (vault_repo_close). -EACCES for a wrong key. */
int vault_repo_open(const char *dir, const vault_key_src_t *key, vault_repo_t **out, char *err,
                    size_t errlen);
void vault_repo_close(vault_repo_t *r);

/* Re-wraps the repository key under newkey; chunks and manifests are not rewritten. */
int vault_key_rotate(vault_repo_t *r, const vault_key_src_t *newkey, char *err, size_t errlen);

/* State a domain declares beyond its files (vault_component_register): fn writes it into the
 * file at path (created empty, owner-only). It runs on a worker thread, so it must not touch
 * loop-owned state without its own lock. 0 or a negative errno with err. */
typedef int (*vault_component_fn)(void *ud, const char *path, char *err, size_t errlen);
typedef struct vault_component {
    char name[64]; /* [a-z0-9_-]: the component "domain:NAME", restored as vault-components/NAME */
    vault_component_fn fn;
    void *ud;
} vault_component_t;

/* What a backup reads. store_url: NULL, "" or sqlite:... = the SQLite store in data_dir
 * (ganglion.db) through the online backup API; postgres://... = the declared tables exported
 * with COPY in one REPEATABLE READ READ ONLY transaction (vault_pg.c). decls: what each domain
 * declared (core/backup.h), named per domain in the manifest and, for PostgreSQL, the tables
 * exported. extra: state declared through vault_component_register. Everything borrowed. */
typedef struct vault_backup_src {
    const char *data_dir;
    const char *config_file; /* may be NULL */
    const char *store_url;
    const char *description;
    const backup_decl_t *const *decls;
    size_t n_decls;
    const vault_component_t *extra;
    size_t n_extra;
} vault_backup_src_t;

/* Backs up src (the store, the key files, config and the other files in the data directory)
 * and writes the manifest last. *manifest_out (owned, may be NULL): the manifest plus
 * "added_chunks", "added_bytes" and "seconds". */
int vault_backup_run(vault_repo_t *r, const vault_backup_src_t *src, vault_progress_fn progress,
                     void *parg, json_t **manifest_out, char *err, size_t errlen);

/* Every manifest's summary (id, created_at, description, size, chunks), oldest first. */
int vault_backup_list(vault_repo_t *r, json_t **out, char *err, size_t errlen);

/* Checks every manifest and (sample_pct < 100: a random sample of) chunk; *report (owned):
 * {ok, manifests, chunks_checked, damage[{object, problem}]}. Returns 0 even with damage.
 * only_id (may be NULL): that backup alone (-ENOENT when there is none). */
int vault_verify_run(vault_repo_t *r, const char *only_id, double sample_pct,
                     vault_progress_fn progress, void *parg, json_t **report, char *err,
                     size_t errlen);

/* Where a restore writes. data_dir must be absent or empty unless force. A backup of a
 * PostgreSQL store needs store_url (postgres://...): the database must hold no row in
 * ganglion's tables unless force, and no daemon may be connected to it; store_prepare (may be
 * NULL) brings its schema to this binary's version first (the CLI runs the migrations). */
typedef int (*vault_store_prepare_fn)(void *ud, const char *url, char *err, size_t errlen);
typedef struct vault_restore_dst {
    const char *data_dir;
    const char *store_url;
    bool force;
    vault_store_prepare_fn store_prepare;
    void *prepare_ud;
} vault_restore_dst_t;

/* Rebuilds backup id into dst. Every file is written to a temporary name and checked, the
 * database loaded in one transaction, and only then are the files moved into place. */
int vault_restore_run(vault_repo_t *r, const char *id, const vault_restore_dst_t *dst,
                      vault_progress_fn progress, void *parg, char *err, size_t errlen);

/* A retention policy: keep the newest `last`, and the newest backup of each of the newest
 * `daily` days, `weekly` ISO weeks, `monthly` months (UTC). 0 = rule off. */
typedef struct vault_retention {
    int last, daily, weekly, monthly;
} vault_retention_t;

/* Forgets the backups the policy does not keep, then removes the chunks no remaining backup
 * references (none at all when a manifest cannot be read). *report (owned): {kept[],
 * forgotten[], chunks_removed, bytes_freed, dry_run, swept}. -EBUSY while a backup runs. */
int vault_prune_run(vault_repo_t *r, const vault_retention_t *keep, bool dry_run, json_t **report,
                    char *err, size_t errlen);

/* ---- the daemon side (vault_daemon.c, vault_api.c) ------------------------------------ */

struct hub;
struct store_migration;

/* The daemon's vault: repository operations on the thread pool, the schedule, events. */
const struct store_migration *vault_migrations(size_t *n);
int vault_start(struct hub *hub);
int vault_api_register(struct hub *hub);
void vault_shutdown(struct hub *hub);
bool vault_busy(const struct hub *hub);
void vault_destroy(struct hub *hub);

typedef enum {
    VAULT_OP_BACKUP,
    VAULT_OP_LIST,
    VAULT_OP_GET,
    VAULT_OP_VERIFY,
    VAULT_OP_PRUNE
} vault_op_t;

/* Called on the loop thread when a job ends: rc 0 with result (owned by the callee), or a
 * negative errno with err. */
typedef void (*vault_done_fn)(void *arg, int rc, json_t *result, const char *err);

/* Runs op on the thread pool (id: GET's backup; keep: PRUNE's rules; who: the principal that
 * asked, for the events). -ENODEV when no repository is configured. */
int vault_job_submit(struct hub *hub, vault_op_t op, const char *id, const vault_retention_t *keep,
                     const char *who, vault_done_fn done, void *arg);

/* A domain declares state to back up beyond its files in the data directory (serve.c wires
 * it: domains do not include each other). Up to 16; every daemon backup then holds it as the
 * component "domain:NAME". 0, -EINVAL for a bad name, -ENOSPC when full, -EEXIST. */
#define VAULT_COMPONENTS_MAX 16
int vault_component_register(struct hub *hub, const char *name, vault_component_fn fn, void *ud);

/* What the platform and the domains contribute to a backup (core/backup.h), in order: serve.c
 * hands the list over once at start (the vault names no domain). Borrowed, static. -EINVAL
 * past VAULT_DECLS_MAX. */
#define VAULT_DECLS_MAX 32
int vault_decls_set(struct hub *hub, const backup_decl_t *const *decls, size_t n);

/* What the schedule and the last runs say: {repo, interval_s, cron, next_run, last_success,
 * last_size, last_duration_s, runs_ok, runs_failed, running}. Owned by the caller. */
json_t *vault_schedule_get(const struct hub *hub);

#endif
