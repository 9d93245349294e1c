/* What a domain contributes to a backup: its tables in the store and its files in the data
 * directory. Each domain defines one (agents_backup, ...), serve.c lists them beside the
 * domains, and the vault reads the list: a new domain joins the backup without touching it. */
#ifndef GANGLION_CORE_BACKUP_H
#define GANGLION_CORE_BACKUP_H

typedef struct backup_decl {
    const char *domain;
    /* Its tables, NULL-terminated: exported from PostgreSQL one by one, listed in the manifest
     * for SQLite (whose file is copied whole). Names are [a-z0-9_]. */
    const char *const *tables;
    /* Files and directories it keeps in the data directory, NULL-terminated (the data directory
     * is backed up whole; these are named per domain in the manifest). */
    const char *const *files;
} backup_decl_t;

#define BACKUP_LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define BACKUP_NONE      ((const char *const[]){NULL})

#endif
