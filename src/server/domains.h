/* The domains the daemon runs, in start order: each a row of functions that serve.c calls at
 * the same points of the daemon's life, and whose migrations schema.c merges. A new domain is one
 * row in serve.c's serve_domains[]. */
#ifndef GANGLION_SERVER_DOMAINS_H
#define GANGLION_SERVER_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

typedef struct serve_domain {
    const char *name;
    /* Its migrations (a static array and its length): one hundred versions per domain. */
    const store_migration_t *(*migrations)(size_t *n);
    /* Creates the domain's state on the hub: no registry work. 0 or -1 (logged). */
    int (*start)(struct hub *hub);
    /* Registers its endpoints, metrics and hooks (its *_api.c). 0 or -1. */
    int (*api_register)(struct hub *hub);
    /* Daemon shutdown begins: stop taking work. NULL when there is nothing to stop. */
    void (*shutdown)(struct hub *hub);
    /* Work still in flight that the drain waits for. NULL when never busy. */
    bool (*busy)(const struct hub *hub);
    /* Frees the state (NULL-safe, also when start never ran or failed). */
    void (*destroy)(struct hub *hub);
    /* What it contributes to a backup (core/backup.h); NULL for nothing. */
    const backup_decl_t *backup;
} serve_domain_t;

extern const serve_domain_t serve_domains[];
extern const size_t serve_domains_count;

#endif
