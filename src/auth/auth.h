/* Accounts, tokens, API keys, roles and rate limits: the security domain. auth_start creates
 * the state on the hub and bootstraps the first admin; auth_api_register registers
 * /api/v1/auth, /users and /keys and installs the registry's auth hook that enforces every
 * endpoint's declared scope. */
#ifndef GANGLION_AUTH_H
#define GANGLION_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;
typedef struct auth auth_t;

/* Migrations 100-199 (users, refresh tokens, API keys; 101-103 teams, memberships, a key's team).
 */
const store_migration_t *auth_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t auth_backup;

/* The first start's generated admin password, kept 0600 in the data dir (written before the
 * admin exists) until the admin changes it. */
#define AUTH_FIRST_PASSWORD_FILE "admin.password"

/* Loads or creates the signing key and server secret in the data dir, creates `admin` on an
 * empty users table (password printed on stderr and kept in AUTH_FIRST_PASSWORD_FILE,
 * admin.token written 0600), loads the key index. Runs before the loop starts. 0 or -1. */
int auth_start(struct hub *hub);
/* Registers /api/v1/auth, /users and /keys and installs the registry's auth hook (auth_api.c).
 * After auth_start. 0 or -1. */
int auth_api_register(struct hub *hub);
/* Daemon shutdown: the mail outbox stops looking for mail; a send in flight finishes. */
void auth_shutdown(struct hub *hub);
/* Whether a mail is being sent or recorded (the drain waits for it). */
bool auth_busy(const struct hub *hub);
/* Frees hub->auth (NULL-safe). */
void auth_destroy(struct hub *hub);

#endif
