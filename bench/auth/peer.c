/* The reference for bench/auth: the raw primitives ganglion's checks are built on, timed in a
 * tight loop without HTTP — Ed25519 verifications/s (an access token's signature), keyed
 * BLAKE2b hashes/s (an API key lookup's hash) and one argon2id verification (a login) with the
 * given parameters. Prints one JSON object. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || argc < 4)
        return 2;
    unsigned long long ops = strtoull(argv[1], NULL, 10);
    size_t mem = (size_t)strtoull(argv[2], NULL, 10);
    double secs = atof(argv[3]);
    unsigned char pk[32], sk[64], sig[64], key[32], h[32];
    const char *msg =
        "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJnYW5nbGlvbiIsImF1ZCI6Imdhbmdsa"
        "W9uIiwic3ViIjoiMSIsInJvbGUiOiJhZG1pbiJ9";
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), sk);
    randombytes_buf(key, sizeof key);
    long n = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs) {
        for (int i = 0; i < 100; i++)
            if (crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg), pk) != 0)
                return 1;
        n += 100;
    }
    double ed = (double)n / (now_s() - t0);
    n = 0;
    t0 = now_s();
    const char *secret = "gk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd";
    while (now_s() - t0 < secs) {
        for (int i = 0; i < 1000; i++)
            crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), key,
                               sizeof key);
        n += 1000;
    }
    double bl = (double)n / (now_s() - t0);
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, "correct horse battery", 21, ops, mem) != 0)
        return 1;
    double best = 1e9;
    for (int i = 0; i < 5; i++) {
        t0 = now_s();
        if (crypto_pwhash_str_verify(hash, "correct horse battery", 21) != 0)
            return 1;
        double d = now_s() - t0;
        if (d < best)
            best = d;
    }
    printf("{\"ed25519_verify_per_s\": %.0f, \"blake2b_keyed_per_s\": %.0f, "
           "\"argon2id_verify_ms\": %.1f}\n",
           ed, bl, best * 1000.0);
    return 0;
}
