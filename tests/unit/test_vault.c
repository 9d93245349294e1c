/* The vault's pure parts and its object framing: chunk boundaries that survive an insertion,
 * chunks that refuse damage or a swapped name, manifests that refuse damage and a wrong key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "vault/vault_chunk.h"
#include "vault/vault_internal.h"

#define DATA_LEN (24u << 20)

/* The cut points of p[0..n) as offsets; returns how many. */
static size_t cuts_of(const uint8_t *p, size_t n, size_t *cuts, size_t max)
{
    size_t off = 0, k = 0;
    while (off < n && k < max) {
        size_t c = vault_chunk_cut(p + off, n - off, 1);
        assert_true(c > 0);
        assert_true(c <= VAULT_CHUNK_MAX);
        if (off + c < n)
            assert_true(c >= VAULT_CHUNK_MIN);
        off += c;
        cuts[k++] = off;
    }
    return k;
}

static void test_chunk_boundaries_survive_insertion(void **state)
{
    (void)state;
    uint8_t seed[randombytes_SEEDBYTES] = {1};
    uint8_t *a = malloc(DATA_LEN), *b = malloc(DATA_LEN + 1000);
    randombytes_buf_deterministic(a, DATA_LEN, seed);
    size_t at = 10u << 20;
    memcpy(b, a, at);
    memset(b + at, 'x', 1000);
    memcpy(b + at + 1000, a + at, DATA_LEN - at);
    size_t ca[64], cb[64];
    size_t na = cuts_of(a, DATA_LEN, ca, 64), nb = cuts_of(b, DATA_LEN + 1000, cb, 64);
    assert_true(na >= 4); /* 24 MiB at ~2.5 MiB per chunk */
    /* every cut after the insertion reappears shifted by 1000 bytes, but at most one or two */
    size_t same = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++)
            if (cb[k] == (ca[i] < at ? ca[i] : ca[i] + 1000))
                same++;
    assert_true(same + 2 >= na);
    /* the same bytes cut the same way, whatever the read size */
    assert_int_equal(vault_chunk_cut(a, VAULT_CHUNK_MAX, 0), vault_chunk_cut(a, DATA_LEN, 0));
    assert_int_equal(vault_chunk_cut(a, 1000, 0), 0);
    assert_int_equal(vault_chunk_cut(a, 1000, 1), 1000);
    free(a);
    free(b);
}

static void test_chunk_uniform_input_is_capped(void **state)
{
    (void)state;
    uint8_t *z = calloc(1, VAULT_CHUNK_MAX + 10);
    size_t c = vault_chunk_cut(z, VAULT_CHUNK_MAX + 10, 0);
    assert_true(c >= VAULT_CHUNK_MIN && c <= VAULT_CHUNK_MAX);
    free(z);
}

typedef struct fixture {
    char dir[256], keyfile[300];
    vault_repo_t *repo;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_vault_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->keyfile, sizeof f->keyfile, "%s.key", f->dir);
    FILE *k = fopen(f->keyfile, "w");
    fputs("0123456789abcdef0123456789abcdef-key", k);
    fclose(k);
    char repo[300], err[256];
    snprintf(repo, sizeof repo, "%s/r", f->dir);
    vault_key_src_t key = {.key_file = f->keyfile};
    assert_int_equal(vault_repo_init(repo, &key, err, sizeof err), 0);
    assert_int_equal(vault_repo_open(repo, &key, &f->repo, err, sizeof err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[600];
    vault_repo_close(f->repo);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->dir, f->keyfile);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void flip_byte(const char *path, long at)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, at, at < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, -1, SEEK_CUR);
    fputc(c ^ 0x01, fp);
    fclose(fp);
}

static void test_chunk_frame_refuses_damage_and_swaps(void **state)
{
    fixture_t *f = *state;
    const char *text = "the same bytes twice the same bytes twice the same bytes twice";
    char h1[65], h2[65], err[256], p1[4096], p2[4096];
    int added = 0;
    size_t stored = 0, n = 0;
    assert_int_equal(
        vault_chunk_put(f->repo, (const uint8_t *)text, strlen(text), h1, &added, &stored), 0);
    assert_int_equal(added, 1);
    assert_int_equal(
        vault_chunk_put(f->repo, (const uint8_t *)text, strlen(text), h1, &added, &stored), 0);
    assert_int_equal(added, 0); /* deduplicated */
    assert_int_equal(vault_chunk_put(f->repo, (const uint8_t *)"other", 5, h2, &added, &stored), 0);
    uint8_t *out = NULL;
    assert_int_equal(vault_chunk_get(f->repo, h1, &out, &n, err, sizeof err), 0);
    assert_memory_equal(out, text, strlen(text));
    free(out);
    /* a chunk copied over another's name does not pass for it (the id is associated data) */
    vault_chunk_path(f->repo, h1, p1, sizeof p1);
    vault_chunk_path(f->repo, h2, p2, sizeof p2);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p1, p2);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(vault_chunk_get(f->repo, h2, &out, &n, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "authentication failed"));
    /* one flipped byte */
    flip_byte(p1, -3);
    assert_int_equal(vault_chunk_get(f->repo, h1, &out, &n, err, sizeof err), -EBADMSG);
}

static void test_manifest_signed_sealed(void **state)
{
    fixture_t *f = *state;
    json_t *m = json_pack("{s:s, s:s, s:[]}", "id", "20260101T000000Z-00000000", "description", "d",
                          "components");
    assert_int_equal(vault_manifest_put(f->repo, m), 0);
    json_decref(m);
    json_t *back = NULL;
    char err[256], path[4096], repo[300];
    assert_int_equal(
        vault_manifest_get(f->repo, "20260101T000000Z-00000000", &back, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(back, "description")), "d");
    json_decref(back);
    /* a wrong key file does not open the repository */
    snprintf(repo, sizeof repo, "%s/r", f->dir);
    FILE *k = fopen(f->keyfile, "w");
    fputs("another key file of more than thirty-two bytes", k);
    fclose(k);
    vault_key_src_t key = {.key_file = f->keyfile};
    vault_repo_t *r2 = NULL;
    assert_int_equal(vault_repo_open(repo, &key, &r2, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, "wrong key"));
    snprintf(path, sizeof path, "%s/r/manifests/20260101T000000Z-00000000", f->dir);
    flip_byte(path, 40);
    assert_int_equal(
        vault_manifest_get(f->repo, "20260101T000000Z-00000000", &back, err, sizeof err), -EBADMSG);
}

static int write_connectome(void *ud, const char *path, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fputs((const char *)ud, fp);
    fclose(fp);
    return 0;
}

static int fail_export(void *ud, const char *path, char *err, size_t errlen)
{
    (void)ud;
    (void)path;
    snprintf(err, errlen, "index locked");
    return -EBUSY;
}

/* A declared component goes into the backup as domain:NAME and comes back in
 * vault-components/NAME; a failing one fails the backup with its reason and writes no manifest. */
static void test_declared_component_backed_up_and_restored(void **state)
{
    fixture_t *f = *state;
    char dd[300], target[300], path[400], err[512];
    snprintf(dd, sizeof dd, "%s/data", f->dir);
    snprintf(target, sizeof target, "%s/restored", f->dir);
    assert_int_equal(mkdir(dd, 0700), 0);
    static char connectome[] = "neurons: 3";
    vault_component_t c = {.name = "brains", .fn = write_connectome, .ud = connectome};
    json_t *m = NULL;
    assert_int_equal(
        vault_backup_run(
            f->repo,
            &(vault_backup_src_t){.data_dir = dd, .description = "t", .extra = &c, .n_extra = 1},
            NULL, NULL, &m, err, sizeof err),
        0);
    json_t *comp = json_array_get(json_object_get(m, "components"), 0);
    assert_string_equal(json_string_value(json_object_get(comp, "name")), "domain:brains");
    assert_int_equal(vault_restore_run(f->repo, json_string_value(json_object_get(m, "id")),
                                       &(vault_restore_dst_t){.data_dir = target}, NULL, NULL, err,
                                       sizeof err),
                     0);
    json_decref(m);
    snprintf(path, sizeof path, "%s/vault-components/brains", target);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char buf[64] = "";
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "neurons: 3");

    vault_component_t bad = {.name = "memory", .fn = fail_export};
    json_t *ids = NULL;
    assert_int_equal(
        vault_backup_run(
            f->repo,
            &(vault_backup_src_t){.data_dir = dd, .description = "t", .extra = &bad, .n_extra = 1},
            NULL, NULL, &m, err, sizeof err),
        -EBUSY);
    assert_non_null(strstr(err, "domain:memory: index locked"));
    assert_int_equal(vault_manifest_ids(f->repo, &ids), 0);
    assert_int_equal(json_array_size(ids), 1);
    json_decref(ids);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_boundaries_survive_insertion),
        cmocka_unit_test(test_chunk_uniform_input_is_capped),
        cmocka_unit_test_setup_teardown(test_chunk_frame_refuses_damage_and_swaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_signed_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_component_backed_up_and_restored, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
