/* Role → scope decisions and the password policy. Kept free of state so that the endpoint ×
 * role test and the unit tests can check the table that production uses. */
#include "auth/auth_policy.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_common.inc"

const char *const auth_roles[] = {"admin", "operator", "viewer", "agent", NULL};

bool auth_role_valid(const char *role)
{
    for (size_t i = 0; role && auth_roles[i]; i++)
        if (strcmp(role, auth_roles[i]) == 0)
            return true;
    return false;
}

/* Domains whose every operation is reserved to admins (they hand out power; the guard's rules
 * decide what everyone else may do). */
static bool auth_scope_admin_only(const char *scope)
{
    return strcmp(scope, "admin") == 0 || strncmp(scope, "users:", 6) == 0 ||
           strncmp(scope, "keys:", 5) == 0 || strncmp(scope, "guard_rules:", 12) == 0;
}

static bool auth_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

bool auth_role_allows(const char *role, const char *scope)
{
    if (!role || !scope)
        return false;
    if (strcmp(scope, "public") == 0)
        return true;
    if (!auth_role_valid(role))
        return false;
    if (strcmp(role, "admin") == 0)
        return true;
    if (strcmp(scope, "self") == 0)
        return true;
    if (auth_scope_admin_only(scope))
        return false;
    if (strcmp(role, "operator") == 0)
        return auth_suffix(scope, ":read") || auth_suffix(scope, ":write");
    if (strcmp(role, "viewer") == 0)
        return auth_suffix(scope, ":read");
    if (strcmp(role, "agent") == 0)
        return strcmp(scope, "agents:read") == 0 || strcmp(scope, "agents:write") == 0 ||
               strcmp(scope, "events:read") == 0 || strcmp(scope, "memory:read") == 0 ||
               strcmp(scope, "memory:write") == 0 || strcmp(scope, "tasks:read") == 0 ||
               strcmp(scope, "tasks:write") == 0;
    return false;
}

bool auth_scope_valid(const char *scope)
{
    if (!scope)
        return false;
    if (strcmp(scope, "admin") == 0 || strcmp(scope, "self") == 0)
        return true;
    const char *colon = strchr(scope, ':');
    if (!colon || colon == scope || colon - scope > 32)
        return false;
    for (const char *p = scope; p < colon; p++)
        if (!(islower((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)))
            return false;
    return strcmp(colon + 1, "read") == 0 || strcmp(colon + 1, "write") == 0;
}

bool auth_password_common(const char *pw)
{
    size_t n = sizeof auth_common_passwords / sizeof auth_common_passwords[0];
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(pw, auth_common_passwords[i]) == 0)
            return true;
    return false;
}

/* Characters, not bytes: a multi-byte UTF-8 sequence counts once. */
static size_t auth_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int auth_password_check(const char *pw, const char *username, size_t min_len, char *why,
                        size_t whylen)
{
    const char *msg = NULL;
    size_t n = pw ? auth_utf8_len(pw) : 0;
    if (!pw)
        msg = "is required";
    else if (n < min_len) {
        snprintf(why, whylen, "must be at least %zu characters long (it has %zu)", min_len, n);
        return -1;
    } else if (n > AUTH_PASSWORD_MAX)
        msg = "must be at most 128 characters long";
    else if (username && strcasecmp(pw, username) == 0)
        msg = "must not be the same as the username";
    else if (auth_password_common(pw))
        msg = "is a commonly used password; choose a less guessable one";
    if (!msg)
        return 0;
    snprintf(why, whylen, "%s", msg);
    return -1;
}
