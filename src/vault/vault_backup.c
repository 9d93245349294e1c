/* Backup and restore of a data directory: the SQLite store copied through the online backup
 * API from a read-only connection (never the live files), then every file streamed through
 * the chunker into the repository; the manifest is written last, so an interrupted backup
 * leaves only unreferenced chunks. A restore writes into a staging directory and moves the
 * files into place only once every one has been checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "vault/vault_chunk.h"
#include "vault/vault_internal.h"

#define VAULT_STORE_FILE    "ganglion.db"
#define VAULT_SNAPSHOT_PREF ".vault-snapshot-"
#define VAULT_CONFIG_NAME   "ganglion.conf"
#define VAULT_PG_EXPORT     ".vault-pg-export" /* staged only, loaded into the database */
#define VAULT_MAX_FILES     100000
#define VAULT_MAX_DEPTH     8

typedef struct vault_job {
    vault_repo_t *repo;
    vault_progress_fn progress;
    void *parg;
    unsigned long long done, total;
    size_t added_chunks, added_bytes, files;
    char *err;
    size_t errlen;
} vault_job_t;

static double vault_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Streams the file at path into chunks; the component {name, size, mode, chunks, hash}. */
static int vault_component_add(vault_job_t *j, json_t *comps, const char *name, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(j->err, j->errlen, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    struct stat st;
    fstat(fd, &st);
    uint8_t *buf = malloc(VAULT_CHUNK_MAX);
    json_t *chunks = json_array();
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, j->repo->hash_key, sizeof j->repo->hash_key, VAULT_ID_BYTES);
    size_t fill = 0;
    unsigned long long size = 0;
    int eof = 0, rc = buf ? 0 : -ENOMEM;
    while (!rc && (!eof || fill > 0)) {
        while (!eof && fill < VAULT_CHUNK_MAX) {
            ssize_t r = read(fd, buf + fill, VAULT_CHUNK_MAX - fill);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = -errno;
                snprintf(j->err, j->errlen, "reading %s: %s", path, strerror(errno));
                break;
            }
            if (r == 0)
                eof = 1;
            fill += (size_t)r;
        }
        if (rc || fill == 0)
            break;
        size_t cut = vault_chunk_cut(buf, fill, eof);
        char hex[2 * VAULT_ID_BYTES + 1];
        int added = 0;
        size_t stored = 0;
        rc = vault_chunk_put(j->repo, buf, cut, hex, &added, &stored);
        if (rc < 0) {
            snprintf(j->err, j->errlen, "writing a chunk of %s: %s", name, strerror(-rc));
            break;
        }
        /* the component's hash covers its chunk ids in order: each id covers its chunk's bytes
         * (rechecked on every read), so the content is covered without hashing it twice */
        crypto_generichash_update(&hs, (const uint8_t *)hex, 2 * VAULT_ID_BYTES);
        json_array_append_new(chunks, json_string(hex));
        j->added_chunks += (size_t)added;
        j->added_bytes += stored;
        size += cut;
        j->done += cut;
        memmove(buf, buf + cut, fill - cut);
        fill -= cut;
        if (j->progress)
            j->progress(j->parg, name, j->done, j->total);
    }
    close(fd);
    free(buf);
    if (rc < 0) {
        json_decref(chunks);
        return rc;
    }
    uint8_t h[VAULT_ID_BYTES];
    char hhex[2 * VAULT_ID_BYTES + 1];
    crypto_generichash_final(&hs, h, sizeof h);
    sodium_bin2hex(hhex, sizeof hhex, h, sizeof h);
    json_array_append_new(comps, json_pack("{s:s, s:I, s:i, s:o, s:s}", "name", name, "size",
                                           (json_int_t)size, "mode", (int)(st.st_mode & 0777),
                                           "chunks", chunks, "hash", hhex));
    return 0;
}

/* A consistent copy of the SQLite store at dst through the online backup API. */
static int vault_sqlite_snapshot(const char *src, const char *dst, int *schema, char *err,
                                 size_t errlen)
{
    sqlite3 *in = NULL, *out = NULL;
    int rc = sqlite3_open_v2(src, &in, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(dst, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(in, 5000);
        sqlite3_backup *b = sqlite3_backup_init(out, "main", in, "main");
        if (!b) {
            rc = sqlite3_errcode(out);
        } else {
            do {
                rc = sqlite3_backup_step(b, -1);
                if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                    sqlite3_sleep(50);
            } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
            sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    }
    if (rc == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        *schema = 0;
        if (sqlite3_prepare_v2(out, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            *schema = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    } else {
        snprintf(err, errlen, "snapshot of %s: %s", src, sqlite3_errstr(rc));
    }
    sqlite3_close(in);
    sqlite3_close(out);
    return rc == SQLITE_OK ? 0 : -EIO;
}

/* A declared component: its export written next to the store snapshot, then chunked. */
static int vault_extra_add(vault_job_t *j, json_t *comps, const char *data_dir, const char *id,
                           const vault_component_t *c)
{
    char path[4096], name[128];
    snprintf(path, sizeof path, "%s/%s%ld-%s-%s.part", data_dir, VAULT_SNAPSHOT_PREF,
             (long)getpid(), id, c->name);
    snprintf(name, sizeof name, "domain:%s", c->name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(j->err, j->errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    close(fd);
    char e[400] = "";
    int rc = c->fn(c->ud, path, e, sizeof e);
    if (rc < 0)
        snprintf(j->err, j->errlen, "component %s: %s", name, *e ? e : strerror(-rc));
    else
        rc = vault_component_add(j, comps, name, path);
    unlink(path);
    return rc;
}

/* The snapshots of backups killed before they could remove them: .vault-snapshot-<pid>-… of a
 * pid that is gone. */
static void vault_snapshots_stale_remove(const char *data_dir)
{
    DIR *d = opendir(data_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, VAULT_SNAPSHOT_PREF, sizeof VAULT_SNAPSHOT_PREF - 1))
            continue;
        long pid = strtol(e->d_name + sizeof VAULT_SNAPSHOT_PREF - 1, NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", data_dir, e->d_name) < sizeof path)
                unlink(path);
        }
    }
    if (d)
        closedir(d);
}

static int vault_skip(const char *rel)
{
    static const char *skip[] = {VAULT_STORE_FILE, VAULT_STORE_FILE "-wal", VAULT_STORE_FILE "-shm",
                                 VAULT_STORE_FILE "-journal", "ganglion.lock"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (!strcmp(rel, skip[i]))
            return 1;
    return !strncmp(rel, VAULT_SNAPSHOT_PREF, sizeof VAULT_SNAPSHOT_PREF - 1);
}

/* Every regular file under root/rel, as components "file:REL". */
static int vault_files_add(vault_job_t *j, json_t *comps, const char *root, const char *rel,
                           int depth)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[2048], full[4096], name[2100];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
            sizeof sub)
            continue;
        if (vault_skip(sub))
            continue;
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < VAULT_MAX_DEPTH) {
            rc = vault_files_add(j, comps, root, sub, depth + 1);
        } else if (S_ISREG(st.st_mode) && j->files < VAULT_MAX_FILES) {
            j->files++;
            snprintf(name, sizeof name, "file:%s", sub);
            rc = vault_component_add(j, comps, name, full);
        }
    }
    closedir(d);
    return rc;
}

static int vault_backup_write(vault_repo_t *r, vault_job_t *jp, const vault_backup_src_t *src,
                              const char *id, const char *created, json_t **manifest_out);

int vault_backup_run(vault_repo_t *r, const vault_backup_src_t *src, vault_progress_fn progress,
                     void *parg, json_t **manifest_out, char *err, size_t errlen)
{
    double t0 = vault_now();
    vault_job_t j = {.repo = r, .progress = progress, .parg = parg, .err = err, .errlen = errlen};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec;
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32], created[32], id[64];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    uint8_t rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    /* microseconds in the id: ids sort in the order backups were made, which prune relies on */
    stamp[15] = '\0'; /* "YYYYMMDDTHHMMSS" without the Z */
    snprintf(id, sizeof id, "%s.%06ldZ-%02x%02x%02x%02x", stamp, ts.tv_nsec / 1000, rnd[0], rnd[1],
             rnd[2], rnd[3]);

    int lock = -1;
    int rc = vault_lock_take(r, false, &lock, err, errlen);
    if (rc < 0)
        return rc;
    rc = vault_backup_write(r, &j, src, id, created, manifest_out);
    close(lock);
    if (rc == 0 && manifest_out)
        json_object_set_new(*manifest_out, "seconds", json_real(vault_now() - t0));
    return rc;
}

/* A snapshot file next to the store: created owner-only from the first byte (it holds what the
 * store holds), named so that a backup killed before removing it is cleaned up later. */
static int vault_snapshot_create(const char *data_dir, const char *id, const char *ext, char *path,
                                 size_t len, char *err, size_t errlen)
{
    vault_snapshots_stale_remove(data_dir);
    snprintf(path, len, "%s/%s%ld-%s.%s", data_dir, VAULT_SNAPSHOT_PREF, (long)getpid(), id, ext);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    close(fd);
    return 0;
}

static bool vault_store_is_pg(const char *url)
{
    return url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13));
}

/* The store into comps: SQLite through the online backup API, PostgreSQL through COPY. */
static int vault_store_add(vault_job_t *j, json_t *comps, const vault_backup_src_t *src,
                           const char *id, int *schema, const char **kind, json_t **tables)
{
    char snap[4096], store[4096];
    struct stat st;
    int rc;
    if (vault_store_is_pg(src->store_url)) {
        *kind = "postgres (COPY of the declared tables in one REPEATABLE READ READ ONLY "
                "transaction)";
        rc = vault_snapshot_create(src->data_dir, id, "pg", snap, sizeof snap, j->err, j->errlen);
        if (rc < 0)
            return rc;
        rc = vault_pg_export(src->store_url, src->decls, src->n_decls, snap, j->progress, j->parg,
                             schema, tables, j->err, j->errlen);
        if (!rc && stat(snap, &st) == 0)
            j->total += (unsigned long long)st.st_size;
        if (!rc)
            rc = vault_component_add(j, comps, "store:postgres", snap);
        unlink(snap);
        return rc;
    }
    *kind = "none (no SQLite store in the data directory)";
    snprintf(store, sizeof store, "%s/%s", src->data_dir, VAULT_STORE_FILE);
    if (stat(store, &st) < 0)
        return 0;
    *kind = "sqlite (online backup API)";
    j->total += (unsigned long long)st.st_size;
    rc = vault_snapshot_create(src->data_dir, id, "db", snap, sizeof snap, j->err, j->errlen);
    if (rc < 0)
        return rc;
    rc = vault_sqlite_snapshot(store, snap, schema, j->err, j->errlen);
    if (!rc)
        rc = vault_component_add(j, comps, "store:sqlite", snap);
    unlink(snap);
    return rc;
}

/* What each domain declared, as the manifest's "domains": its tables (with their rows for
 * PostgreSQL) and the declared files present in the data directory. */
static json_t *vault_domains_json(const vault_backup_src_t *src, const json_t *tables)
{
    json_t *out = json_array();
    for (size_t d = 0; d < src->n_decls; d++) {
        const backup_decl_t *b = src->decls[d];
        json_t *tl = json_array(), *fl = json_array();
        for (const char *const *t = b->tables; *t; t++) {
            size_t i;
            json_t *e, *row = NULL;
            json_array_foreach(json_object_get(tables, "tables"), i,
                               e) if (!strcmp(json_string_value(json_object_get(e, "table")), *t))
                row = json_object_get(e, "rows");
            json_array_append_new(tl, row ? json_pack("{s:s, s:O}", "table", *t, "rows", row)
                                          : json_pack("{s:s}", "table", *t));
        }
        for (const char *const *f = b->files; *f; f++) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", src->data_dir, *f);
            if (stat(path, &st) == 0)
                json_array_append_new(fl, json_string(*f));
        }
        json_array_append_new(
            out, json_pack("{s:s, s:o, s:o}", "name", b->domain, "tables", tl, "files", fl));
    }
    return out;
}

static int vault_backup_write(vault_repo_t *r, vault_job_t *jp, const vault_backup_src_t *src,
                              const char *id, const char *created, json_t **manifest_out)
{
    vault_job_t j = *jp;
    char *err = j.err;
    size_t errlen = j.errlen;
    json_t *comps = json_array(), *tables = NULL;
    int schema = 0, rc = 0;
    const char *store_kind = "";
    struct stat st;
    if (stat(src->data_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        json_decref(comps);
        snprintf(err, errlen, "data directory %s: %s", src->data_dir, strerror(ENOTDIR));
        return -ENOTDIR;
    }
    rc = vault_store_add(&j, comps, src, id, &schema, &store_kind, &tables);
    if (!rc && src->config_file)
        rc = vault_component_add(&j, comps, "config", src->config_file);
    for (size_t k = 0; !rc && k < src->n_extra; k++)
        rc = vault_extra_add(&j, comps, src->data_dir, id, &src->extra[k]);
    if (!rc)
        rc = vault_files_add(&j, comps, src->data_dir, "", 0);
    if (rc < 0) {
        json_decref(comps);
        json_decref(tables);
        return rc;
    }
    unsigned long long total = 0;
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c) total +=
        (unsigned long long)json_integer_value(json_object_get(c, "size"));
    json_t *m =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:o}", "id", id, "created_at", created,
                  "ganglion_version", GANGLION_VERSION, "schema_version", schema, "store",
                  store_kind, "description", src->description ? src->description : "", "size",
                  (json_int_t)total, "components", comps);
    if (m) {
        json_object_set_new(m, "domains", vault_domains_json(src, tables));
        json_t *und = json_object_get(tables, "undeclared");
        if (json_array_size(und))
            json_object_set(m, "undeclared_tables", und);
    }
    json_decref(tables);
    rc = m ? vault_manifest_put(r, m) : -ENOMEM;
    if (rc < 0) {
        json_decref(m);
        snprintf(err, errlen, "writing manifest %s: %s", id, strerror(-rc));
        return rc;
    }
    if (manifest_out) {
        json_object_set_new(m, "added_chunks", json_integer((json_int_t)j.added_chunks));
        json_object_set_new(m, "added_bytes", json_integer((json_int_t)j.added_bytes));
        *manifest_out = m;
    } else {
        json_decref(m);
    }
    return 0;
}

int vault_backup_list(vault_repo_t *r, json_t **out, char *err, size_t errlen)
{
    json_t *ids = NULL;
    int rc = vault_manifest_ids(r, &ids);
    if (rc < 0) {
        snprintf(err, errlen, "cannot list %s/manifests: %s", r->dir, strerror(-rc));
        return rc;
    }
    json_t *a = json_array(), *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        json_t *m = NULL;
        char e[512];
        if (vault_manifest_get(r, json_string_value(v), &m, e, sizeof e) < 0) {
            json_array_append_new(a, json_pack("{s:O, s:s}", "id", v, "error", e));
            continue;
        }
        size_t nchunks = 0, k;
        json_t *c;
        json_array_foreach(json_object_get(m, "components"), k, c) nchunks +=
            json_array_size(json_object_get(c, "chunks"));
        json_array_append_new(
            a,
            json_pack("{s:O, s:O, s:O, s:O, s:I, s:I}", "id", v, "created_at",
                      json_object_get(m, "created_at"), "description",
                      json_object_get(m, "description"), "size", json_object_get(m, "size"),
                      "components", (json_int_t)json_array_size(json_object_get(m, "components")),
                      "chunks", (json_int_t)nchunks));
        json_decref(m);
    }
    json_decref(ids);
    *out = a;
    return 0;
}

static void vault_damage(json_t *damage, const char *object, const char *problem)
{
    json_array_append_new(damage, json_pack("{s:s, s:s}", "object", object, "problem", problem));
}

int vault_verify_run(vault_repo_t *r, const char *only_id, double sample_pct,
                     vault_progress_fn progress, void *parg, json_t **report, char *err,
                     size_t errlen)
{
    json_t *ids = NULL;
    int rc = vault_manifest_ids(r, &ids);
    if (rc < 0) {
        snprintf(err, errlen, "cannot list %s/manifests: %s", r->dir, strerror(-rc));
        return rc;
    }
    if (only_id) {
        bool found = false;
        size_t k;
        json_t *x;
        json_array_foreach(ids, k, x) found = found || !strcmp(json_string_value(x), only_id);
        json_decref(ids);
        if (!found) {
            snprintf(err, errlen, "backup %s: no such backup", only_id);
            return -ENOENT;
        }
        ids = json_pack("[s]", only_id);
    }
    json_t *damage = json_array(), *seen = json_object(), *v;
    size_t i, checked = 0, refs = 0;
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        json_t *m = NULL;
        char e[512], obj[256];
        snprintf(obj, sizeof obj, "manifest %s", id);
        if (vault_manifest_get(r, id, &m, e, sizeof e) < 0) {
            vault_damage(damage, obj, e);
            continue;
        }
        size_t k, q;
        json_t *c, *h;
        json_array_foreach(json_object_get(m, "components"), k, c)
            json_array_foreach(json_object_get(c, "chunks"), q, h)
        {
            const char *hex = json_string_value(h);
            if (!hex || json_object_get(seen, hex))
                continue;
            refs++;
            json_object_set_new(seen, hex, json_true());
            if (sample_pct < 100.0 && randombytes_uniform(10000) >= (uint32_t)(sample_pct * 100))
                continue;
            uint8_t *data = NULL;
            size_t n = 0;
            if (vault_chunk_get(r, hex, &data, &n, e, sizeof e) < 0) {
                char where[600];
                snprintf(where, sizeof where, "%s (in backup %s, %s)", e, id,
                         json_string_value(json_object_get(c, "name")));
                snprintf(obj, sizeof obj, "chunk %s", hex);
                vault_damage(damage, obj, where);
            }
            free(data);
            checked++;
            if (progress)
                progress(parg, "verify", checked, 0);
        }
        json_decref(m);
    }
    *report = json_pack("{s:b, s:I, s:I, s:I, s:f, s:o}", "ok", json_array_size(damage) == 0,
                        "manifests", (json_int_t)json_array_size(ids), "chunks_referenced",
                        (json_int_t)refs, "chunks_checked", (json_int_t)checked, "sample_pct",
                        sample_pct, "damage", damage);
    json_decref(ids);
    json_decref(seen);
    return 0;
}

static void vault_tree_remove(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            vault_tree_remove(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int vault_dirs_make(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return 0;
}

/* One component into stage/rel: every chunk opened and checked, the whole hash compared. */
static int vault_component_restore(vault_job_t *j, json_t *c, const char *stage)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *rel = NULL;
    if (!name)
        return -EBADMSG;
    if (!strcmp(name, "store:sqlite"))
        rel = VAULT_STORE_FILE;
    else if (!strcmp(name, "store:postgres"))
        rel = VAULT_PG_EXPORT;
    else if (!strcmp(name, "config"))
        rel = VAULT_CONFIG_NAME;
    else if (!strncmp(name, "file:", 5))
        rel = name + 5;
    char dom[128];
    if (!strncmp(name, "domain:", 7)) {
        snprintf(dom, sizeof dom, "vault-components/%s", name + 7);
        rel = dom;
    }
    if (!rel || !*rel || rel[0] == '/' || strstr(rel, "..")) {
        snprintf(j->err, j->errlen, "component '%.100s': not a name this version restores", name);
        return -EBADMSG;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", stage, rel) >= sizeof path)
        return -ENAMETOOLONG;
    int rc = vault_dirs_make(path);
    int mode = (int)json_integer_value(json_object_get(c, "mode"));
    int fd = rc < 0
                 ? -1
                 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ? mode & 0700 : 0600);
    if (fd < 0) {
        snprintf(j->err, j->errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, j->repo->hash_key, sizeof j->repo->hash_key, VAULT_ID_BYTES);
    unsigned long long size = 0;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(c, "chunks"), i, h)
    {
        uint8_t *data = NULL;
        size_t n = 0;
        rc = vault_chunk_get(j->repo, json_string_value(h) ? json_string_value(h) : "", &data, &n,
                             j->err, j->errlen);
        if (rc < 0)
            break;
        crypto_generichash_update(&hs, (const uint8_t *)json_string_value(h), 2 * VAULT_ID_BYTES);
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, data + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = -errno;
                snprintf(j->err, j->errlen, "writing %s: %s", path, strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        free(data);
        if (rc < 0)
            break;
        size += n;
        j->done += n;
        if (j->progress)
            j->progress(j->parg, name, j->done, j->total);
    }
    /* the database export is loaded and removed, never kept: no need to wait for the disk */
    if (!rc && strcmp(rel, VAULT_PG_EXPORT) && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        return rc;
    uint8_t sum[VAULT_ID_BYTES];
    char hex[2 * VAULT_ID_BYTES + 1];
    crypto_generichash_final(&hs, sum, sizeof sum);
    sodium_bin2hex(hex, sizeof hex, sum, sizeof sum);
    const char *want = json_string_value(json_object_get(c, "hash"));
    if (size != (unsigned long long)json_integer_value(json_object_get(c, "size")) || !want ||
        strcmp(want, hex)) {
        snprintf(j->err, j->errlen, "component %s: restored content does not match the manifest",
                 name);
        return -EBADMSG;
    }
    return 0;
}

static int vault_dir_empty(const char *dir, int *exists)
{
    DIR *d = opendir(dir);
    *exists = d != NULL;
    if (!d)
        return errno == ENOENT ? 1 : -errno;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

/* The database a backup of a PostgreSQL store goes back into, from the staged export. */
static int vault_restore_pg(const json_t *m, const char *stage, const vault_restore_dst_t *dst,
                            vault_progress_fn progress, void *parg, char *err, size_t errlen)
{
    bool has_pg = false;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "components"), i, c) has_pg =
        has_pg || !strcmp(json_string_value(json_object_get(c, "name")) ?: "", "store:postgres");
    bool want_pg = vault_store_is_pg(dst->store_url);
    if (has_pg && !want_pg) {
        snprintf(err, errlen,
                 "this backup holds a PostgreSQL store: give --store postgres://... for the "
                 "database to restore it into");
        return -EINVAL;
    }
    if (!has_pg && want_pg) {
        snprintf(err, errlen,
                 "this backup holds no PostgreSQL store (%s); restore it into a data directory "
                 "without --store",
                 json_string_value(json_object_get(m, "store")) ?: "?");
        return -EINVAL;
    }
    if (!has_pg)
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", stage, VAULT_PG_EXPORT);
    int rc = vault_pg_import(
        dst->store_url, path, (int)json_integer_value(json_object_get(m, "schema_version")),
        dst->force, dst->store_prepare, dst->prepare_ud, progress, parg, err, errlen);
    unlink(path);
    return rc;
}

int vault_restore_run(vault_repo_t *r, const char *id, const vault_restore_dst_t *dst,
                      vault_progress_fn progress, void *parg, char *err, size_t errlen)
{
    const char *target = dst->data_dir;
    bool force = dst->force;
    json_t *m = NULL;
    int rc = vault_manifest_get(r, id, &m, err, errlen);
    if (rc < 0)
        return rc;
    int exists = 0, empty = vault_dir_empty(target, &exists);
    if (empty < 0 || (!empty && !force)) {
        json_decref(m);
        snprintf(err, errlen,
                 "%s is not empty; restore into a new directory, or give --force "
                 "to replace what it holds",
                 target);
        return -ENOTEMPTY;
    }
    if (!exists && mkdir(target, 0700) < 0) {
        json_decref(m);
        snprintf(err, errlen, "cannot create %s: %s", target, strerror(errno));
        return -errno;
    }
    char stage[4096];
    uint8_t rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(stage, sizeof stage, "%s/.vault-restore-%02x%02x%02x%02x", target, rnd[0], rnd[1],
             rnd[2], rnd[3]);
    if (mkdir(stage, 0700) < 0) {
        json_decref(m);
        snprintf(err, errlen, "cannot create %s: %s", stage, strerror(errno));
        return -errno;
    }
    vault_job_t j = {.repo = r,
                     .progress = progress,
                     .parg = parg,
                     .err = err,
                     .errlen = errlen,
                     .total = (unsigned long long)json_integer_value(json_object_get(m, "size"))};
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "components"), i, c)
    {
        if ((rc = vault_component_restore(&j, c, stage)) < 0)
            break;
    }
    /* every file checked: the database next (one transaction), the files last */
    if (!rc)
        rc = vault_restore_pg(m, stage, dst, progress, parg, err, errlen);
    /* everything checked: move the staged entries into place */
    DIR *d = rc < 0 ? NULL : opendir(stage);
    if (d) {
        struct dirent *e;
        while (!rc && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char from[4096], to[4096];
            if ((size_t)snprintf(from, sizeof from, "%s/%s", stage, e->d_name) >= sizeof from ||
                (size_t)snprintf(to, sizeof to, "%s/%s", target, e->d_name) >= sizeof to)
                continue;
            if (force)
                vault_tree_remove(to);
            if (rename(from, to) < 0) {
                rc = -errno;
                snprintf(err, errlen, "moving %s into place: %s", to, strerror(errno));
            }
        }
        closedir(d);
    }
    vault_tree_remove(stage);
    if (!exists && rc < 0)
        rmdir(target);
    json_decref(m);
    return rc;
}
