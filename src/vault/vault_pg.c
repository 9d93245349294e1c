/* The PostgreSQL store in a backup: the tables the domains declared exported with COPY ... TO
 * STDOUT inside one REPEATABLE READ READ ONLY transaction (one snapshot, no pg_dump whose version
 * must match the server's), and loaded back with COPY ... FROM STDIN in one transaction that
 * first empties them. libpq is the store's dlopened table (store/pq_dl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "store/pq_dl.h"
#include "vault/vault_internal.h"

#define VAULT_PG_MAGIC    "ganglion-pg-export 1"
#define VAULT_PG_LINE_MAX (256u << 20) /* one COPY row; a store row is far smaller */
#define VAULT_PG_COLS_MAX 128
#define VAULT_PG_TICK     (4u << 20) /* progress reported every 4 MiB */

/* Progress of an export or a load: bytes through COPY so far (the total is not known ahead). */
typedef struct vault_pg_meter {
    vault_progress_fn fn;
    void *arg;
    unsigned long long done, told;
} vault_pg_meter_t;

static void vault_pg_meter_add(vault_pg_meter_t *m, const char *what, const char *table, size_t n)
{
    m->done += n;
    if (!m->fn || m->done - m->told < VAULT_PG_TICK)
        return;
    char label[96];
    snprintf(label, sizeof label, "%s %s", what, table);
    m->fn(m->arg, label, m->done, 0);
    m->told = m->done;
}

/* Only ganglion's own names: [a-z0-9_], so they go into SQL quoted without escaping. */
static bool vault_pg_name_check(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void vault_pg_err_set(char *err, size_t errlen, const char *what, const char *msg)
{
    snprintf(err, errlen, "postgres: %s: %s", what, msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

static PGconn *vault_pg_conn_open(const char *url, char *err, size_t errlen)
{
    if (pq_dl_load(err, errlen) < 0)
        return NULL;
    const char *const keys[] = {"application_name", "connect_timeout", "dbname", "client_encoding",
                                NULL};
    const char *const vals[] = {"ganglion-vault", "10", url, "UTF8", NULL};
    PGconn *c = pq->PQconnectdbParams(keys, vals, 1);
    if (!c || pq->PQstatus(c) != CONNECTION_OK) {
        vault_pg_err_set(err, errlen, "cannot connect",
                         c ? pq->PQerrorMessage(c) : "out of memory");
        if (c)
            pq->PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs sql with text parameters; the result when its status is want, else NULL with err. */
static PGresult *vault_pg_sql_exec(PGconn *c, const char *sql, int n, const char *const *params,
                                   ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = pq->PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (res && pq->PQresultStatus(res) == want)
        return res;
    vault_pg_err_set(err, errlen, sql, res ? pq->PQresultErrorMessage(res) : pq->PQerrorMessage(c));
    pq->PQclear(res);
    return NULL;
}

static int vault_pg_sql_run(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *res = vault_pg_sql_exec(c, sql, 0, NULL, PGRES_COMMAND_OK, err, errlen);
    pq->PQclear(res);
    return res ? 0 : -EIO;
}

static int vault_pg_schema_read(PGconn *c, int *schema, char *err, size_t errlen)
{
    PGresult *res = vault_pg_sql_exec(c, "SELECT max(version) FROM schema_migrations", 0, NULL,
                                      PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    /* no row, or NULL (no migration yet): 0 */
    int64_t v = 0;
    int rc = pq->PQntuples(res) == 1 && !pq->PQgetisnull(res, 0, 0)
                 ? num_i64_parse(pq->PQgetvalue(res, 0, 0), 0, INT32_MAX, &v)
                 : 0;
    if (rc < 0)
        snprintf(err, errlen, "schema_migrations: version '%.40s' is not a number",
                 pq->PQgetvalue(res, 0, 0));
    pq->PQclear(res);
    *schema = (int)v;
    return rc < 0 ? -EBADMSG : 0;
}

/* The table's columns (generated ones left out: they are computed again) as "a,b,c", and a
 * line "sequence TABLE COLUMN" per column a sequence feeds, its state read now. */
static int vault_pg_columns_read(PGconn *c, const char *table, char *cols, size_t len, FILE *seqs,
                                 char *err, size_t errlen)
{
    const char *p[] = {table};
    PGresult *res = vault_pg_sql_exec(
        c,
        "SELECT a.attname, pg_get_serial_sequence($1, a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' ORDER BY a.attnum",
        1, p, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    int n = pq->PQntuples(res), rc = 0;
    size_t off = 0;
    cols[0] = '\0';
    for (int i = 0; i < n && !rc; i++) {
        const char *name = pq->PQgetvalue(res, i, 0);
        if (!vault_pg_name_check(name) || i >= VAULT_PG_COLS_MAX || off + strlen(name) + 2 >= len) {
            snprintf(err, errlen, "postgres: table %s: column '%.64s' is not one ganglion made",
                     table, name);
            rc = -EINVAL;
            break;
        }
        off += (size_t)snprintf(cols + off, len - off, "%s%s", i ? "," : "", name);
        if (pq->PQgetisnull(res, i, 1))
            continue;
        /* the name comes quoted from the server itself */
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT last_value, is_called FROM %s",
                 pq->PQgetvalue(res, i, 1));
        PGresult *s = vault_pg_sql_exec(c, sql, 0, NULL, PGRES_TUPLES_OK, err, errlen);
        if (!s) {
            rc = -EIO;
            break;
        }
        fprintf(seqs, "sequence %s %s %s %s\n", table, name, pq->PQgetvalue(s, 0, 0),
                pq->PQgetvalue(s, 0, 1));
        pq->PQclear(s);
    }
    pq->PQclear(res);
    return rc;
}

/* COPY table TO STDOUT into out, between a "table NAME COLS" line and the end marker "\.": in
 * COPY's text format a backslash in the data is always doubled, so no row reads as it. */
static int vault_pg_copy_out(PGconn *c, const char *table, FILE *out, FILE *seqs, long long *rows,
                             vault_pg_meter_t *meter, char *err, size_t errlen)
{
    char cols[8192], sql[8400];
    int rc = vault_pg_columns_read(c, table, cols, sizeof cols, seqs, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(sql, sizeof sql, "COPY \"%s\" (%s) TO STDOUT", table, cols);
    PGresult *res = vault_pg_sql_exec(c, sql, 0, NULL, PGRES_COPY_OUT, err, errlen);
    if (!res)
        return -EIO;
    pq->PQclear(res);
    fprintf(out, "table %s %s\n", table, cols);
    char *buf = NULL;
    int n;
    *rows = 0;
    while ((n = pq->PQgetCopyData(c, &buf, 0)) > 0) {
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
            rc = -EIO;
        pq->PQfreemem(buf);
        (*rows)++;
        vault_pg_meter_add(meter, "export", table, (size_t)n);
    }
    res = pq->PQgetResult(c);
    if (n == -2 || !res || pq->PQresultStatus(res) != PGRES_COMMAND_OK) {
        vault_pg_err_set(err, errlen, sql,
                         res ? pq->PQresultErrorMessage(res) : pq->PQerrorMessage(c));
        rc = -EIO;
    }
    pq->PQclear(res);
    while ((res = pq->PQgetResult(c)))
        pq->PQclear(res);
    fputs("\\.\n", out);
    if (rc == -EIO && !*err)
        snprintf(err, errlen, "writing the export of %s: %s", table, strerror(EIO));
    return rc;
}

static int vault_pg_table_exists(PGconn *c, const char *table, bool *present, char *err,
                                 size_t errlen)
{
    const char *p[] = {table};
    PGresult *res = vault_pg_sql_exec(c, "SELECT to_regclass($1) IS NOT NULL", 1, p,
                                      PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    *present = !strcmp(pq->PQgetvalue(res, 0, 0), "t");
    pq->PQclear(res);
    return 0;
}

/* The tables of the current schema no domain declared: listed in the manifest, not exported. */
static int vault_pg_undeclared_list(PGconn *c, const backup_decl_t *const *decls, size_t n,
                                    json_t *out, char *err, size_t errlen)
{
    PGresult *res = vault_pg_sql_exec(c,
                                      "SELECT c.relname FROM pg_class c JOIN pg_namespace s ON "
                                      "s.oid = c.relnamespace WHERE s.nspname = current_schema() "
                                      "AND c.relkind IN ('r', 'p') ORDER BY 1",
                                      0, NULL, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    for (int i = 0; i < pq->PQntuples(res); i++) {
        const char *t = pq->PQgetvalue(res, i, 0);
        bool known = !strcmp(t, "schema_migrations");
        for (size_t d = 0; d < n && !known; d++)
            for (const char *const *x = decls[d]->tables; *x && !known; x++)
                known = !strcmp(*x, t);
        if (!known)
            json_array_append_new(out, json_string(t));
    }
    pq->PQclear(res);
    return 0;
}

int vault_pg_export(const char *url, const backup_decl_t *const *decls, size_t n, const char *path,
                    vault_progress_fn progress, void *parg, int *schema, json_t **tables_out,
                    char *err, size_t errlen)
{
    vault_pg_meter_t meter = {.fn = progress, .arg = parg};
    FILE *out = fopen(path, "we"), *seqs = tmpfile();
    PGconn *c = out && seqs ? vault_pg_conn_open(url, err, errlen) : NULL;
    if (!c) {
        if (!out || !seqs)
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (out)
            fclose(out);
        if (seqs)
            fclose(seqs);
        return -EIO;
    }
    json_t *tables = json_array(), *undeclared = json_array();
    int rc = vault_pg_sql_run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
    if (!rc)
        rc = vault_pg_schema_read(c, schema, err, errlen);
    json_t *present = json_array();
    for (size_t d = 0; !rc && d < n; d++) {
        for (const char *const *t = decls[d]->tables; !rc && *t; t++) {
            bool here = false;
            if (!vault_pg_name_check(*t)) {
                snprintf(err, errlen, "domain %s declares a bad table name '%s'", decls[d]->domain,
                         *t);
                rc = -EINVAL;
                break;
            }
            rc = vault_pg_table_exists(c, *t, &here, err, errlen);
            if (!rc && here)
                json_array_append_new(
                    present, json_pack("{s:s, s:s}", "domain", decls[d]->domain, "table", *t));
        }
    }
    size_t i;
    json_t *e;
    if (!rc) {
        fprintf(out, "%s\nschema %d\ntables", VAULT_PG_MAGIC, *schema);
        json_array_foreach(present, i, e)
            fprintf(out, " %s", json_string_value(json_object_get(e, "table")));
        fputc('\n', out);
    }
    json_array_foreach(present, i, e)
    {
        long long rows = 0;
        if (rc)
            break;
        rc = vault_pg_copy_out(c, json_string_value(json_object_get(e, "table")), out, seqs, &rows,
                               &meter, err, errlen);
        json_object_set_new(e, "rows", json_integer((json_int_t)rows));
        json_array_append(tables, e);
    }
    json_decref(present);
    if (!rc)
        rc = vault_pg_undeclared_list(c, decls, n, undeclared, err, errlen);
    if (!rc)
        rc = vault_pg_sql_run(c, "COMMIT", err, errlen);
    pq->PQfinish(c);
    /* the sequences after every table, so a restore sets them once the rows are in */
    char line[512];
    rewind(seqs);
    while (!rc && fgets(line, sizeof line, seqs))
        fputs(line, out);
    fclose(seqs);
    if (!rc)
        fputs("end\n", out);
    if ((fflush(out) != 0 || ferror(out)) && !rc) {
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
        rc = -EIO;
    }
    fclose(out);
    if (rc < 0) {
        json_decref(tables);
        json_decref(undeclared);
        return rc;
    }
    *tables_out = json_pack("{s:o, s:o}", "tables", tables, "undeclared", undeclared);
    return 0;
}

/* Reads one line of in into *buf (grown); its length, 0 at the end, -EFBIG past the bound. */
static ssize_t vault_pg_line_read(FILE *in, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, in);
    if (n < 0)
        return 0;
    return (size_t)n > VAULT_PG_LINE_MAX ? -EFBIG : n;
}

/* Refuses a database a daemon is connected to, or one holding ganglion's rows without force. */
static int vault_pg_target_check(PGconn *c, char *tables, bool force, char *err, size_t errlen)
{
    PGresult *res = vault_pg_sql_exec(c,
                                      "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND application_name = 'ganglion' "
                                      "AND pid <> pg_backend_pid()",
                                      0, NULL, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    int64_t busy = 0;
    if (num_i64_parse(pq->PQgetvalue(res, 0, 0), 0, INT64_MAX, &busy) < 0) {
        snprintf(err, errlen, "pg_stat_activity: count '%.40s' is not a number",
                 pq->PQgetvalue(res, 0, 0));
        pq->PQclear(res);
        return -EBADMSG;
    }
    pq->PQclear(res);
    if (busy > 0) {
        snprintf(err, errlen,
                 "%" PRId64 " connection(s) of a running ganglion daemon use this database; stop "
                 "the daemon before restoring into it",
                 busy);
        return -EBUSY;
    }
    if (force)
        return 0;
    int rc = 0;
    char *save = NULL;
    for (char *table = strtok_r(tables, " \n", &save); table && !rc;
         table = strtok_r(NULL, " \n", &save)) {
        bool present = false;
        if (!vault_pg_name_check(table))
            continue;
        rc = vault_pg_table_exists(c, table, &present, err, errlen);
        if (rc || !present)
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM \"%s\")", table);
        res = vault_pg_sql_exec(c, sql, 0, NULL, PGRES_TUPLES_OK, err, errlen);
        if (!res)
            rc = -EIO;
        else if (!strcmp(pq->PQgetvalue(res, 0, 0), "t")) {
            snprintf(err, errlen,
                     "the database already holds ganglion data (table %s has rows); restore "
                     "into an empty database, or give --force to replace what it holds",
                     table);
            rc = -ENOTEMPTY;
        }
        pq->PQclear(res);
    }
    return rc;
}

/* The table's indexes, dropped for a bulk load and built again after it in one pass each (as
 * pg_restore does: far faster than keeping them up to date row by row). *rebuild: the
 * statements that build them again, owned; NULL when they stay (a foreign key of another table
 * needs one). Inside the load's transaction: a failure rolls the drop back too. */
static int vault_pg_indexes_drop(PGconn *c, const char *table, json_t **rebuild, char *err,
                                 size_t errlen)
{
    const char *p[] = {table};
    *rebuild = NULL;
    PGresult *res = vault_pg_sql_exec(c,
                                      "SELECT count(*) FROM pg_constraint WHERE confrelid = "
                                      "$1::regclass AND contype = 'f'",
                                      1, p, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    int64_t refs = 0;
    if (num_i64_parse(pq->PQgetvalue(res, 0, 0), 0, INT64_MAX, &refs) < 0) {
        snprintf(err, errlen, "pg_constraint: count '%.40s' is not a number",
                 pq->PQgetvalue(res, 0, 0));
        pq->PQclear(res);
        return -EBADMSG;
    }
    bool referenced = refs > 0;
    pq->PQclear(res);
    if (referenced)
        return 0;
    /* constraints (primary key, unique) first, then plain indexes; both named by the server */
    res = vault_pg_sql_exec(
        c,
        "SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', $1::text, conname), "
        "format('ALTER TABLE %I ADD CONSTRAINT %I %s', $1::text, conname, "
        "pg_get_constraintdef(oid)) FROM pg_constraint WHERE conrelid = $1::regclass AND "
        "contype IN ('p', 'u') UNION ALL "
        "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM "
        "pg_constraint k WHERE k.conindid = i.indexrelid)",
        1, p, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return -EIO;
    json_t *again = json_array();
    int rc = 0;
    for (int i = 0; i < pq->PQntuples(res) && !rc; i++) {
        rc = vault_pg_sql_run(c, pq->PQgetvalue(res, i, 0), err, errlen);
        json_array_append_new(again, json_string(pq->PQgetvalue(res, i, 1)));
    }
    pq->PQclear(res);
    if (rc < 0) {
        json_decref(again);
        return rc;
    }
    *rebuild = again;
    return 0;
}

static int vault_pg_indexes_build(PGconn *c, json_t *rebuild, char *err, size_t errlen)
{
    size_t i;
    json_t *s;
    int rc = 0;
    json_array_foreach(rebuild, i, s) if (!rc) rc =
        vault_pg_sql_run(c, json_string_value(s), err, errlen);
    return rc;
}

/* Every table of the export emptied at once, then loaded; the sequences set last. */
static int vault_pg_tables_load(PGconn *c, FILE *in, vault_pg_meter_t *meter, char *err,
                                size_t errlen)
{
    char *line = NULL, sql[8400];
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = vault_pg_line_read(in, &line, &cap)) != 0) {
        if (n < 0) {
            snprintf(err, errlen, "the export holds a line longer than %u bytes",
                     VAULT_PG_LINE_MAX);
            rc = (int)n;
            break;
        }
        line[n - 1] = line[n - 1] == '\n' ? '\0' : line[n - 1];
        if (!strcmp(line, "end"))
            break;
        char table[64], col[64], value[32], called[8];
        if (sscanf(line, "sequence %63s %63s %31s %7s", table, col, value, called) == 4) {
            const char *p[] = {table, col, value, !strcmp(called, "t") ? "true" : "false"};
            PGresult *res = vault_pg_sql_exec(
                c, "SELECT setval(pg_get_serial_sequence($1, $2), $3::bigint, $4::boolean)", 4, p,
                PGRES_TUPLES_OK, err, errlen);
            rc = res ? 0 : -EIO;
            pq->PQclear(res);
            continue;
        }
        char cols[8192];
        if (strncmp(line, "table ", 6) || sscanf(line + 6, "%63s %8191s", table, cols) != 2 ||
            !vault_pg_name_check(table) ||
            strspn(cols, "abcdefghijklmnopqrstuvwxyz0123456789_,") != strlen(cols)) {
            snprintf(err, errlen, "the export is malformed near '%.60s'", line);
            rc = -EBADMSG;
            break;
        }
        /* CASCADE: a table another references (auth_team_members → auth_users, auth_teams)
         * can only be emptied with its referrers; a domain declares referenced tables before
         * their referrers, so a referrer is emptied here before its own rows are loaded */
        snprintf(sql, sizeof sql, "TRUNCATE \"%s\" CASCADE", table);
        json_t *rebuild = NULL; /* owned; freed on every path below */
        if ((rc = vault_pg_sql_run(c, sql, err, errlen)) < 0 ||
            (rc = vault_pg_indexes_drop(c, table, &rebuild, err, errlen)) < 0)
            break;
        /* FREEZE: the table was emptied in this transaction, so the rows go in already frozen
         * (no rewrite of every page by the first vacuum) */
        snprintf(sql, sizeof sql, "COPY \"%s\" (%s) FROM STDIN WITH (FREEZE)", table, cols);
        PGresult *res = vault_pg_sql_exec(c, sql, 0, NULL, PGRES_COPY_IN, err, errlen);
        if (!res) {
            json_decref(rebuild);
            rc = -EIO;
            break;
        }
        pq->PQclear(res);
        bool ended = false;
        while (!rc && (n = vault_pg_line_read(in, &line, &cap)) > 0) {
            if (!strcmp(line, "\\.\n")) {
                ended = true;
                break;
            }
            if (pq->PQputCopyData(c, line, (int)n) != 1)
                rc = -EIO;
            vault_pg_meter_add(meter, "load", table, (size_t)n);
        }
        if (!ended && !rc) {
            snprintf(err, errlen, "the export of table %s ends early", table);
            rc = -EBADMSG;
        }
        pq->PQputCopyEnd(c, rc ? "the export could not be read" : NULL);
        res = pq->PQgetResult(c);
        if (!res || pq->PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (!rc)
                vault_pg_err_set(err, errlen, sql,
                                 res ? pq->PQresultErrorMessage(res) : pq->PQerrorMessage(c));
            rc = rc ? rc : -EIO;
        }
        pq->PQclear(res);
        while ((res = pq->PQgetResult(c)))
            pq->PQclear(res);
        if (!rc)
            rc = vault_pg_indexes_build(c, rebuild, err, errlen);
        json_decref(rebuild);
    }
    free(line);
    return rc;
}

/* The export's "schema N" line: N, or -1 when the next line is not one. */
static int64_t vault_pg_schema_line(FILE *in)
{
    char line[64];
    int64_t v;
    if (!fgets(line, sizeof line, in) || strncmp(line, "schema ", 7))
        return -1;
    line[strcspn(line, "\n")] = '\0';
    return num_i64_parse(line + 7, 0, INT32_MAX, &v) == 0 ? v : -1;
}

int vault_pg_import(const char *url, const char *path, int want_schema, bool force,
                    vault_store_prepare_fn prepare, void *ud, vault_progress_fn progress,
                    void *parg, char *err, size_t errlen)
{
    vault_pg_meter_t meter = {.fn = progress, .arg = parg};
    FILE *in = fopen(path, "re");
    if (!in) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    char head[64] = "", tables[4096] = "";
    int rc = 0;
    if (!fgets(head, sizeof head, in) || strncmp(head, VAULT_PG_MAGIC "\n", sizeof head) ||
        vault_pg_schema_line(in) != want_schema || !fgets(tables, sizeof tables, in) ||
        strncmp(tables, "tables", 6)) {
        snprintf(err, errlen, "the PostgreSQL export is not one this version reads");
        fclose(in);
        return -EBADMSG;
    }
    PGconn *c = vault_pg_conn_open(url, err, errlen);
    if (!c) {
        fclose(in);
        return -EIO;
    }
    rc = vault_pg_target_check(c, tables + 6, force, err, errlen);
    if (!rc && prepare)
        rc = prepare(ud, url, err, errlen);
    int have = 0;
    if (!rc)
        rc = vault_pg_sql_run(c, "BEGIN", err, errlen);
    if (!rc)
        rc = vault_pg_schema_read(c, &have, err, errlen);
    if (!rc && have != want_schema) {
        snprintf(err, errlen,
                 "the backup holds schema version %d and the database is at %d after "
                 "migrating: restore with the ganglion version that made the backup (%s)",
                 want_schema, have, have > want_schema ? "older" : "newer");
        rc = -EPROTO;
    }
    if (!rc)
        rc = vault_pg_tables_load(c, in, &meter, err, errlen);
    if (!rc)
        rc = vault_pg_sql_run(c, "COMMIT", err, errlen);
    else
        pq->PQclear(pq->PQexec(c, "ROLLBACK"));
    pq->PQfinish(c);
    fclose(in);
    return rc;
}
