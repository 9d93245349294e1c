/* `ganglion vault`: init, backup, ls, verify, restore and key rotate on a repository in a local
 * directory (docs/vault.md). These run in the CLI process against the data directory and the
 * repository; nothing goes through the daemon. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_priv.h"
#include "core/config.h"
#include "core/log.h"
#include "core/opt.h"
#include "server/schema.h"
#include "store/store.h"
#include "vault/vault.h"

typedef struct cli_vault_opts {
    const char *repo, *key_file, *new_key_file, *data_dir, *config, *description, *target;
    const char *store; /* --store URL: a PostgreSQL store to back up or restore into */
    const char *id;
    double sample;
    bool force, dry_run;
    vault_retention_t keep;
} cli_vault_opts_t;

/* --keep-last/daily/weekly/monthly N: 1 when argv[*i] is one (read into keep), 0 when not,
 * -EINVAL for a bad count. */
static int cli_vault_keep_opt(int argc, char **argv, int *i, vault_retention_t *keep)
{
    static const char *names[] = {"--keep-last", "--keep-daily", "--keep-weekly", "--keep-monthly"};
    int *slots[] = {&keep->last, &keep->daily, &keep->weekly, &keep->monthly};
    for (size_t k = 0; k < 4; k++) {
        const char *v = NULL;
        int r = opt_value(argc, argv, i, names[k], &v);
        if (!r)
            continue;
        char *end = NULL;
        long n = r < 0 ? -1 : strtol(v, &end, 10);
        if (r < 0 || !end || *end || n < 1 || n > 100000) {
            fprintf(stderr, "ganglion vault: %s takes a count from 1 to 100000\n", names[k]);
            return -EINVAL;
        }
        *slots[k] = (int)n;
        return 1;
    }
    return 0;
}

/* Reads the options every vault command shares; unknown options are a usage error. */
static int cli_vault_opts_parse(int argc, char **argv, cli_vault_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->repo = getenv("GANGLION_VAULT_REPO");
    o->data_dir = getenv("GANGLION_DATA_DIR");
    if (!o->data_dir || !*o->data_dir)
        o->data_dir = "./var";
    o->sample = 100.0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = opt_value(argc, argv, &i, "--repo", &o->repo)) ||
            (r = opt_value(argc, argv, &i, "--key-file", &o->key_file)) ||
            (r = opt_value(argc, argv, &i, "--new-key-file", &o->new_key_file)) ||
            (r = opt_value(argc, argv, &i, "--data-dir", &o->data_dir)) ||
            (r = opt_value(argc, argv, &i, "--config", &o->config)) ||
            (r = opt_value(argc, argv, &i, "--store", &o->store)) ||
            (r = opt_value(argc, argv, &i, "--description", &o->description))) {
            if (r < 0) {
                fprintf(stderr, "ganglion vault: %s needs a value\n", argv[i]);
                return -EINVAL;
            }
        } else if ((r = opt_value(argc, argv, &i, "--sample", &v))) {
            char *end = NULL;
            o->sample = r < 0 ? -1 : strtod(v, &end);
            if (r < 0 || !end || (*end && strcmp(end, "%")) || o->sample <= 0 || o->sample > 100) {
                fprintf(stderr, "ganglion vault: --sample takes a percentage in (0, 100]\n");
                return -EINVAL;
            }
        } else if (!strcmp(argv[i], "--force")) {
            o->force = true;
        } else if (!strcmp(argv[i], "--dry-run")) {
            o->dry_run = true;
        } else if ((r = cli_vault_keep_opt(argc, argv, &i, &o->keep))) {
            if (r < 0)
                return -EINVAL;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ganglion vault: unknown option %s\n", argv[i]);
            return -EINVAL;
        } else if (!o->id) {
            o->id = argv[i];
        } else {
            fprintf(stderr, "ganglion vault: unexpected argument %s\n", argv[i]);
            return -EINVAL;
        }
    }
    if (!o->repo || !*o->repo) {
        fprintf(stderr, "ganglion vault: which repository? give --repo DIR or set "
                        "GANGLION_VAULT_REPO\n");
        return -EINVAL;
    }
    return 0;
}

static vault_key_src_t cli_vault_key(const char *key_file, const char *env)
{
    vault_key_src_t k = {.key_file = key_file};
    if (!key_file)
        k.passphrase = getenv(env);
    return k;
}

static int cli_vault_open(const cli_vault_opts_t *o, vault_repo_t **r)
{
    char err[512] = "";
    vault_key_src_t k = cli_vault_key(o->key_file, "GANGLION_VAULT_PASSPHRASE");
    if (vault_repo_open(o->repo, &k, r, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion vault: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* A progress line on a terminal (stderr), nothing otherwise. */
static void cli_vault_progress(void *arg, const char *what, unsigned long long done,
                               unsigned long long total)
{
    (void)arg;
    if (total)
        fprintf(stderr, "\r\033[K%-40.40s %8.1f / %.1f MiB", what, done / 1048576.0,
                total / 1048576.0);
    else if (!strncmp(what, "export ", 7) || !strncmp(what, "load ", 5)) /* PostgreSQL */
        fprintf(stderr, "\r\033[K%-40.40s %8.1f MiB", what, done / 1048576.0);
    else
        fprintf(stderr, "\r\033[K%-40.40s %llu", what, done);
    fflush(stderr);
}

static vault_progress_fn cli_vault_progress_fn(void)
{
    return isatty(2) ? cli_vault_progress : NULL;
}

static void cli_vault_progress_end(void)
{
    if (isatty(2))
        fprintf(stderr, "\r\033[K");
}

static int cli_vault_init(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    char err[512] = "";
    vault_key_src_t k = cli_vault_key(o.key_file, "GANGLION_VAULT_PASSPHRASE");
    if (vault_repo_init(o.repo, &k, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion vault init: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        json_t *v = json_pack("{s:s, s:s}", "repository", o.repo, "kdf",
                              o.key_file ? "keyfile" : "argon2id");
        cli_json_print(v, ctx->out_tty);
        json_decref(v);
    } else {
        printf("repository created in %s\nkeep its key safe: without the %s nothing in it can be "
               "read back\n",
               o.repo, o.key_file ? "key file" : "passphrase");
    }
    return CLI_EXIT_OK;
}

static int cli_vault_backup(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    json_t *m = NULL;
    const backup_decl_t *decls[SCHEMA_BACKUP_MAX];
    /* the store as the daemon finds it: --store, else $GANGLION_STORE_URL, else the config's
     * store.url */
    const char *store_url = o.store ? o.store : getenv("GANGLION_STORE_URL");
    config_t *cfg = NULL;
    if (!store_url && o.config && (cfg = calloc(1, sizeof *cfg))) {
        config_defaults(cfg);
        if (config_load_file(cfg, o.config, err, sizeof err) < 0) {
            fprintf(stderr, "ganglion vault backup: %s\n", err);
            free(cfg);
            vault_repo_close(r);
            return CLI_EXIT_USAGE;
        }
        store_url = cfg->store_url;
    }
    vault_backup_src_t src = {.data_dir = o.data_dir,
                              .config_file = o.config,
                              .store_url = store_url,
                              .description = o.description,
                              .decls = decls,
                              .n_decls = schema_backup_decls(decls, SCHEMA_BACKUP_MAX)};
    int rc = vault_backup_run(r, &src, cli_vault_progress_fn(), NULL, &m, err, sizeof err);
    free(cfg);
    cli_vault_progress_end();
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault backup: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    const char *store = json_string_value(json_object_get(m, "store"));
    if (store && !strncmp(store, "none", 4))
        fprintf(stderr,
                "ganglion vault backup: warning: %s held no ganglion.db: no store in this "
                "backup (a PostgreSQL store is backed up with --store postgres://...)\n",
                o.data_dir);
    size_t k;
    json_t *u;
    json_array_foreach(json_object_get(m, "undeclared_tables"), k, u)
        fprintf(stderr,
                "ganglion vault backup: warning: table %s belongs to no domain and was not "
                "exported\n",
                json_string_value(u));
    if (ctx->json) {
        json_object_del(m, "components");
        cli_json_print(m, ctx->out_tty);
    } else {
        printf("backup %s: %.1f MiB in %zu components, %lld new chunks (%.1f MiB stored), %.2f s\n",
               json_string_value(json_object_get(m, "id")),
               json_integer_value(json_object_get(m, "size")) / 1048576.0,
               json_array_size(json_object_get(m, "components")),
               (long long)json_integer_value(json_object_get(m, "added_chunks")),
               json_integer_value(json_object_get(m, "added_bytes")) / 1048576.0,
               json_real_value(json_object_get(m, "seconds")));
    }
    json_decref(m);
    return CLI_EXIT_OK;
}

static int cli_vault_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    json_t *a = NULL;
    int rc = vault_backup_list(r, &a, err, sizeof err);
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault ls: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        cli_json_print(a, ctx->out_tty);
    } else {
        size_t i;
        json_t *b;
        printf("%-26s %-20s %10s %7s  %s\n", "ID", "CREATED", "SIZE MiB", "CHUNKS", "DESCRIPTION");
        json_array_foreach(a, i, b)
        {
            if (json_object_get(b, "error")) {
                printf("%-26s %s\n", json_string_value(json_object_get(b, "id")),
                       json_string_value(json_object_get(b, "error")));
                continue;
            }
            printf("%-26s %-20s %10.1f %7lld  %s\n", json_string_value(json_object_get(b, "id")),
                   json_string_value(json_object_get(b, "created_at")),
                   json_integer_value(json_object_get(b, "size")) / 1048576.0,
                   (long long)json_integer_value(json_object_get(b, "chunks")),
                   json_string_value(json_object_get(b, "description")));
        }
    }
    json_decref(a);
    return CLI_EXIT_OK;
}

static int cli_vault_verify(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    json_t *rep = NULL;
    int rc =
        vault_verify_run(r, o.id, o.sample, cli_vault_progress_fn(), NULL, &rep, err, sizeof err);
    cli_vault_progress_end();
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault verify: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    int ok = json_is_true(json_object_get(rep, "ok"));
    if (ctx->json) {
        cli_json_print(rep, ctx->out_tty);
    } else {
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(rep, "damage"), i, d)
            printf("DAMAGED %s: %s\n", json_string_value(json_object_get(d, "object")),
                   json_string_value(json_object_get(d, "problem")));
        printf("%s: %lld manifests, %lld of %lld chunks checked\n", ok ? "ok" : "damaged",
               (long long)json_integer_value(json_object_get(rep, "manifests")),
               (long long)json_integer_value(json_object_get(rep, "chunks_checked")),
               (long long)json_integer_value(json_object_get(rep, "chunks_referenced")));
    }
    json_decref(rep);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* Brings the database a restore loads to this binary's schema: the daemon's own migrations. */
static int cli_vault_store_prepare(void *ud, const char *url, char *err, size_t errlen)
{
    (void)ud;
    log_level_set(LOG_LEVEL_WARN); /* not a line per migration applied on the way */
    store_options_t opt = {.pool_size = 1, .busy_timeout_ms = 60000};
    store_t *s = NULL;
    if (store_open(url, &opt, &s, err, errlen) < 0)
        return -EIO;
    store_migration_t migs[SCHEMA_MAX];
    size_t n = schema_migrations(migs);
    int rc = store_migrate(s, migs, n, err, errlen) < 0 ? -EIO : 0;
    store_close(&s);
    return rc;
}

static int cli_vault_restore(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    if (!o.id) {
        fprintf(stderr, "ganglion vault restore: which backup? give its ID (vault ls)\n");
        return CLI_EXIT_USAGE;
    }
    bool dd_given = false;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--data-dir", 10))
            dd_given = true;
    if (!dd_given) {
        fprintf(stderr, "ganglion vault restore: into which directory? give --data-dir NEW\n");
        return CLI_EXIT_USAGE;
    }
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    vault_restore_dst_t dst = {.data_dir = o.data_dir,
                               .store_url = o.store,
                               .force = o.force,
                               .store_prepare = cli_vault_store_prepare};
    int rc = vault_restore_run(r, o.id, &dst, cli_vault_progress_fn(), NULL, err, sizeof err);
    cli_vault_progress_end();
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault restore: %s; nothing was restored\n", err);
        return rc == -ENOTEMPTY ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        json_t *v = json_pack("{s:s, s:s}", "id", o.id, "data_dir", o.data_dir);
        cli_json_print(v, ctx->out_tty);
        json_decref(v);
    } else {
        printf("backup %s restored into %s%s%s\nstart it: ganglion serve --data-dir %s%s%s\n", o.id,
               o.data_dir, o.store ? " and the database " : "", o.store ? "at --store" : "",
               o.data_dir, o.store ? " --store " : "", o.store ? "URL" : "");
    }
    return CLI_EXIT_OK;
}

static int cli_vault_prune(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc, argv, &o) < 0)
        return CLI_EXIT_USAGE;
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    json_t *rep = NULL;
    int rc = vault_prune_run(r, &o.keep, o.dry_run, &rep, err, sizeof err);
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault prune: %s\n", err);
        return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        cli_json_print(rep, ctx->out_tty);
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(rep, "forgotten"), i, v)
            printf("%s %s\n", o.dry_run ? "would forget" : "forgot", json_string_value(v));
        printf("%zu kept, %zu forgotten, %lld chunks %s (%.1f MiB)%s\n",
               json_array_size(json_object_get(rep, "kept")),
               json_array_size(json_object_get(rep, "forgotten")),
               (long long)json_integer_value(json_object_get(rep, "chunks_removed")),
               o.dry_run ? "would go" : "removed",
               json_integer_value(json_object_get(rep, "bytes_freed")) / 1048576.0,
               json_is_true(json_object_get(rep, "swept"))
                   ? ""
                   : "; no chunk swept: a manifest could not be read (run verify)");
    }
    json_decref(rep);
    return CLI_EXIT_OK;
}

static int cli_vault_key_cmd(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "rotate")) {
        fprintf(stderr, "usage: ganglion vault key rotate --repo DIR [--key-file F] "
                        "[--new-key-file F]\n");
        return CLI_EXIT_USAGE;
    }
    cli_vault_opts_t o;
    vault_repo_t *r = NULL;
    if (cli_vault_opts_parse(argc - 1, argv + 1, &o) < 0)
        return CLI_EXIT_USAGE;
    if (cli_vault_open(&o, &r))
        return CLI_EXIT_FAIL;
    char err[512] = "";
    vault_key_src_t k = cli_vault_key(o.new_key_file, "GANGLION_VAULT_NEW_PASSPHRASE");
    int rc = vault_key_rotate(r, &k, err, sizeof err);
    vault_repo_close(r);
    if (rc < 0) {
        fprintf(stderr, "ganglion vault key rotate: %s; the old key still opens the repository\n",
                err);
        return CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        json_t *v = json_pack("{s:s, s:b}", "repository", o.repo, "rotated", 1);
        cli_json_print(v, ctx->out_tty);
        json_decref(v);
    } else {
        printf("repository key re-wrapped; from now on only the new %s opens %s\n",
               o.new_key_file ? "key file" : "passphrase", o.repo);
    }
    return CLI_EXIT_OK;
}

#define CLI_VAULT_KEYOPTS                                                                          \
    "  --repo DIR          the repository (or $GANGLION_VAULT_REPO)\n"                             \
    "  --key-file FILE     its key file; else the passphrase in $GANGLION_VAULT_PASSPHRASE\n"

static const cli_cmd_t cli_vault_cmds[] = {
    {"init", "create a repository: --repo DIR [--key-file F]",
     "[OPTIONS]\n\nCreates a repository in a new or empty directory, its key wrapped by a "
     "passphrase (argon2id) or a key file.\n\noptions:\n" CLI_VAULT_KEYOPTS,
     cli_vault_init},
    {"backup", "back up a data directory: --repo DIR [--data-dir D]",
     "[OPTIONS]\n\nBacks up the store (a consistent snapshot, the daemon may run), the key "
     "files and every other file of the data directory.\n\noptions:\n" CLI_VAULT_KEYOPTS
     "  --data-dir DIR      the data directory (default $GANGLION_DATA_DIR or ./var)\n"
     "  --config FILE       the daemon's config file, kept with the backup\n"
     "  --description TEXT  a note kept in the manifest\n"
     "  --store URL         a PostgreSQL store (postgres://...; else $GANGLION_STORE_URL, else "
     "store.url of --config): its tables exported in one snapshot\n",
     cli_vault_backup},
    {"ls", "the backups in a repository",
     "[OPTIONS]\n\nLists the backups.\n\noptions:\n" CLI_VAULT_KEYOPTS, cli_vault_ls},
    {"verify", "check every manifest and chunk [ID] [--sample N%]",
     "[ID] [OPTIONS]\n\nChecks backup ID, or every manifest (signature, tag) and every chunk (tag, "
     "id, references); "
     "exit 1 with a line per damaged object.\n\noptions:\n" CLI_VAULT_KEYOPTS
     "  --sample N%         check only about N % of the chunks\n",
     cli_vault_verify},
    {"restore", "rebuild a data directory: ID --data-dir NEW [--force]",
     "ID --data-dir NEW [OPTIONS]\n\nRestores backup ID into a new directory; every file is "
     "checked before it is moved into place.\n\noptions:\n" CLI_VAULT_KEYOPTS
     "  --data-dir DIR      the directory to rebuild (absent or empty)\n"
     "  --store URL         the PostgreSQL database a backup of a PostgreSQL store goes into\n"
     "  --force             replace what a non-empty directory (or database) holds\n",
     cli_vault_restore},
    {"prune", "forget old backups, remove unreferenced chunks: --keep-last N ...",
     "[OPTIONS]\n\nKeeps the backups a rule names, forgets the others, then removes the chunks no "
     "remaining backup references. Interrupted, it leaves a usable "
     "repository.\n\noptions:\n" CLI_VAULT_KEYOPTS "  --keep-last N       the newest N backups\n"
     "  --keep-daily N      the newest backup of each of the newest N days (UTC)\n"
     "  --keep-weekly N     the newest backup of each of the newest N ISO weeks\n"
     "  --keep-monthly N    the newest backup of each of the newest N months\n"
     "  --dry-run           say what would go, change nothing\n",
     cli_vault_prune},
    {"key", "key rotate: re-wrap the repository key", NULL, cli_vault_key_cmd},
};
const cli_group_t cli_vault_group = {"vault", cli_vault_cmds,
                                     sizeof cli_vault_cmds / sizeof cli_vault_cmds[0]};

int cli_cmd_vault(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(
        ctx, &cli_vault_group,
        "examples:\n  ganglion vault init --repo /backup/g\n"
        "  ganglion vault backup --repo /backup/g --data-dir /var/lib/ganglion\n"
        "  ganglion vault restore 20261207T010000.123456Z-1a2b3c4d --repo /backup/g "
        "--data-dir /tmp/drill\n",
        argc, argv);
}
