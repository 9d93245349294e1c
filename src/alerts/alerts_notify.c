/* The notifier kinds' table and what they share (the body signature). Add a kind here. */
#include "alerts/alerts_notify.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const alerts_notifier_kind_t *const alerts_notifier_kinds[] = {
    &alerts_notifier_webhook, &alerts_notifier_slack, &alerts_notifier_chat,
    &alerts_notifier_exec,    &alerts_notifier_email,
};

const alerts_notifier_kind_t *alerts_notifier_kind_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof alerts_notifier_kinds / sizeof alerts_notifier_kinds[0];
         i++)
        if (strcmp(alerts_notifier_kinds[i]->name, name) == 0)
            return alerts_notifier_kinds[i];
    return NULL;
}

void alerts_sign(const char *key, const char *body, size_t len, char *out, size_t outlen)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof mac + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    if (outlen)
        snprintf(out, outlen, "sha256=%s", hex);
}
