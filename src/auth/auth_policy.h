/* Roles, scopes and the password policy: the decisions of the security model as pure
 * functions, unit-tested and documented in docs/security.md. */
#ifndef GANGLION_AUTH_POLICY_H
#define GANGLION_AUTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* The roles, in order of decreasing power; NULL-terminated. */
extern const char *const auth_roles[];
bool auth_role_valid(const char *role);

/* Whether role grants scope. "public" is granted to everyone; "self" (one's own session and
 * password) to every role; "admin" and the users/keys domains only to admin; operator gets
 * every <domain>:read and <domain>:write; viewer every <domain>:read; agent a fixed narrow set
 * (agents:read, agents:write, events:read). Unknown roles get nothing. */
bool auth_role_allows(const char *role, const char *scope);

/* A scope string as accepted in an API key's scopes[]: "admin", "self" or <domain>:<read|write>
 * with a lower-case domain. */
bool auth_scope_valid(const char *scope);

/* Password policy: 0 when pw is acceptable, else -1 with a phrase saying what to fix in why
 * ("must be at least 12 characters long (it has 5)"). min_len is the configured floor (the
 * ceiling is 128 characters). */
int auth_password_check(const char *pw, const char *username, size_t min_len, char *why,
                        size_t whylen);

#define AUTH_PASSWORD_MAX 128

/* True when pw (case-insensitively) is in the built-in list of common passwords. */
bool auth_password_common(const char *pw);

#endif
