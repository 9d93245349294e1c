/* The FeagiByteContainer v4 and XYZP codec (src/brain/brain_fbc.c): round trips, the exact
 * bytes of a small container, and every malformed case the decoder refuses, each with its own
 * error code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brain/brain_fbc.h"

static const uint8_t agent[BRAIN_FBC_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

/* A container with one XYZP struct of two areas (3 and 1 points). */
static void build_two_areas(strbuf_t *b)
{
    static const uint32_t x1[] = {0, 1, 2}, y1[] = {3, 4, 5}, z1[] = {6, 7, 8};
    static const float p1[] = {1.0f, 0.5f, -2.25f};
    static const uint32_t x2[] = {4294967295u}, y2[] = {0}, z2[] = {9};
    static const float p2[] = {100.0f};
    brain_fbc_area_t areas[2] = {{.n = 3, .x = x1, .y = y1, .z = z1, .p = p1},
                                 {.n = 1, .x = x2, .y = y2, .z = z2, .p = p2}};
    assert_int_equal(brain_fbc_id_from_name("i__inf", areas[0].id), 0);
    assert_int_equal(brain_fbc_id_from_name("o__mot", areas[1].id), 0);
    strbuf_init(b, 0);
    assert_int_equal(brain_fbc_encode_xyzp(b, 513, agent, areas, 2), 0);
}

static void test_xyzp_round_trip(void **state)
{
    (void)state;
    strbuf_t b;
    build_two_areas(&b);
    /* header: version 4, counter 513 (0x0201 little-endian), one struct, the agent id */
    const uint8_t *d = (const uint8_t *)b.data;
    assert_int_equal(d[0], 4);
    assert_int_equal(d[1], 0x01);
    assert_int_equal(d[2], 0x02);
    assert_int_equal(d[3], 1);
    assert_memory_equal(d + 4, agent, 8);
    /* struct length: 2 + 2 + 2 * 16 + 16 * 4 points */
    size_t slen = 4 + 32 + 64;
    assert_int_equal(d[12] | d[13] << 8, slen);
    assert_int_equal(b.len, 16 + slen);

    brain_fbc_t fbc;
    assert_int_equal(brain_fbc_decode(b.data, b.len, &fbc), 0);
    assert_int_equal(fbc.counter, 513);
    assert_memory_equal(fbc.agent_id, agent, 8);
    assert_int_equal(fbc.n, 1);
    assert_int_equal(fbc.structs[0].type, BRAIN_FBC_T_XYZP);
    brain_fbc_view_t views[4];
    brain_fbc_frame_t x;
    assert_int_equal(brain_fbc_xyzp_decode(&fbc.structs[0], NULL, views, 4, &x), 0);
    assert_int_equal(x.n_areas, 2);
    assert_int_equal(x.points, 4);
    char name[9];
    brain_fbc_id_to_name(x.areas[0].id, name);
    assert_string_equal(name, "i__inf__");
    /* the first area's data starts right after the table: offset 4 + 32 from the struct */
    assert_ptr_equal(x.areas[0].data, fbc.structs[0].data + 36);
    uint32_t px, py, pz;
    float pp;
    brain_fbc_xyzp_point(&x.areas[0], 2, &px, &py, &pz, &pp);
    assert_int_equal(px, 2);
    assert_int_equal(py, 5);
    assert_int_equal(pz, 8);
    assert_true(pp == -2.25f);
    brain_fbc_xyzp_point(&x.areas[1], 0, &px, &py, &pz, &pp);
    assert_int_equal(px, 4294967295u);
    assert_int_equal(pz, 9);
    assert_true(pp == 100.0f);
    strbuf_free(&b);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    strbuf_t b;
    strbuf_init(&b, 0);
    assert_int_equal(brain_fbc_encode_json(&b, 7, agent, "\"heart_beat\"", 12), 0);
    assert_int_equal(b.len, 12 + 4 + 2 + 12);
    brain_fbc_t fbc;
    assert_int_equal(brain_fbc_decode(b.data, b.len, &fbc), 0);
    const char *j;
    size_t n;
    assert_int_equal(brain_fbc_json(&fbc.structs[0], &j, &n), 0);
    assert_int_equal(n, 12);
    assert_memory_equal(j, "\"heart_beat\"", 12);
    brain_fbc_view_t v[1];
    brain_fbc_frame_t x;
    assert_int_equal(brain_fbc_xyzp_decode(&fbc.structs[0], NULL, v, 1, &x), BRAIN_FBC_E_TYPE);
    strbuf_free(&b);
}

static void test_multi_struct_and_empty(void **state)
{
    (void)state;
    static const uint8_t a[] = {1, 1, '{', '}'}, c[] = {11, 1, 0, 0};
    brain_fbc_struct_t st[2] = {{.data = a, .len = sizeof a}, {.data = c, .len = sizeof c}};
    strbuf_t b;
    strbuf_init(&b, 0);
    assert_int_equal(brain_fbc_encode(&b, 0, agent, st, 2), 0);
    brain_fbc_t fbc;
    assert_int_equal(brain_fbc_decode(b.data, b.len, &fbc), 0);
    assert_int_equal(fbc.n, 2);
    assert_int_equal(fbc.structs[1].type, 11);
    brain_fbc_view_t v[1];
    brain_fbc_frame_t x;
    assert_int_equal(brain_fbc_xyzp_decode(&fbc.structs[1], NULL, v, 1, &x), 0);
    assert_int_equal(x.n_areas, 0);
    /* no structs at all is a valid, empty container */
    strbuf_reset(&b);
    assert_int_equal(brain_fbc_encode(&b, 0, agent, NULL, 0), 0);
    assert_int_equal(b.len, 12);
    assert_int_equal(brain_fbc_decode(b.data, b.len, &fbc), 0);
    assert_int_equal(fbc.n, 0);
    /* a struct without its 2-byte header cannot be encoded */
    brain_fbc_struct_t tiny = {.data = a, .len = 1};
    assert_int_equal(brain_fbc_encode(&b, 0, agent, &tiny, 1), BRAIN_FBC_E_TOO_BIG);
    strbuf_free(&b);
}

static void test_container_malformed(void **state)
{
    (void)state;
    strbuf_t b;
    build_two_areas(&b);
    uint8_t *d = malloc(b.len);
    brain_fbc_t fbc;
    memcpy(d, b.data, b.len);
    for (size_t n = 0; n < 12; n++)
        assert_int_equal(brain_fbc_decode(d, n, &fbc), BRAIN_FBC_E_SHORT);
    d[0] = 3;
    assert_int_equal(brain_fbc_decode(d, b.len, &fbc), BRAIN_FBC_E_VERSION);
    d[0] = 4;
    /* more structs announced than the length table has room for */
    d[3] = 255;
    assert_int_equal(brain_fbc_decode(d, b.len, &fbc), BRAIN_FBC_E_LOOKUP);
    d[3] = 1;
    /* a struct length past the end, also one that would wrap a 32-bit sum */
    uint32_t lens[] = {(uint32_t)(b.len - 16 + 1), 0xffffffffu};
    for (size_t i = 0; i < 2; i++) {
        memcpy(d, b.data, b.len);
        d[12] = (uint8_t)lens[i];
        d[13] = (uint8_t)(lens[i] >> 8);
        d[14] = (uint8_t)(lens[i] >> 16);
        d[15] = (uint8_t)(lens[i] >> 24);
        assert_int_equal(brain_fbc_decode(d, b.len, &fbc), BRAIN_FBC_E_STRUCT_BOUNDS);
    }
    /* a struct of one byte: no room for its type and version */
    memcpy(d, b.data, b.len);
    d[12] = 1;
    d[13] = 0;
    assert_int_equal(brain_fbc_decode(d, b.len, &fbc), BRAIN_FBC_E_STRUCT_SHORT);
    /* the whole buffer cut short: the struct runs past the end */
    assert_int_equal(brain_fbc_decode(b.data, b.len - 1, &fbc), BRAIN_FBC_E_STRUCT_BOUNDS);
    /* trailing bytes after the last struct are ignored, as feagi-core does */
    strbuf_append(&b, "xx", 2);
    assert_int_equal(brain_fbc_decode(b.data, b.len, &fbc), 0);
    free(d);
    strbuf_free(&b);
}

/* Decodes the XYZP struct of buf after patch() changed it; returns the code. */
static int xyzp_patched(const strbuf_t *b, size_t at, uint32_t v, const brain_fbc_limits_t *lim,
                        size_t cap)
{
    uint8_t *d = malloc(b->len);
    memcpy(d, b->data, b->len);
    if (at != SIZE_MAX) {
        d[at] = (uint8_t)v;
        d[at + 1] = (uint8_t)(v >> 8);
        d[at + 2] = (uint8_t)(v >> 16);
        d[at + 3] = (uint8_t)(v >> 24);
    }
    brain_fbc_t fbc;
    int rc = brain_fbc_decode(d, b->len, &fbc);
    brain_fbc_view_t views[8];
    brain_fbc_frame_t x;
    if (rc == 0)
        rc = brain_fbc_xyzp_decode(&fbc.structs[0], lim, views, cap, &x);
    free(d);
    return rc;
}

static void test_xyzp_malformed(void **state)
{
    (void)state;
    strbuf_t b;
    build_two_areas(&b);
    /* offsets within the container: the struct starts at 16, its area table at 16 + 4 */
    size_t s = 16, t0 = s + 4, off0 = t0 + 8, len0 = t0 + 12, off1 = t0 + 16 + 8;
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, NULL, 8), 0);
    /* struct version */
    assert_int_equal(xyzp_patched(&b, s, 11 | (2 << 8) | (2u << 16), NULL, 8),
                     BRAIN_FBC_E_STRUCT_VERSION);
    /* more areas than the struct's table can hold, than the limit, than the caller's array */
    assert_int_equal(xyzp_patched(&b, s, 11 | (1 << 8) | (7u << 16), NULL, 8),
                     BRAIN_FBC_E_AREA_TABLE);
    assert_int_equal(xyzp_patched(&b, s, 11 | (1 << 8) | (65535u << 16), NULL, 8),
                     BRAIN_FBC_E_AREAS);
    brain_fbc_limits_t one_area = {.areas_max = 1};
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, &one_area, 8), BRAIN_FBC_E_AREAS);
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, NULL, 1), BRAIN_FBC_E_AREAS);
    /* an offset inside the area table, past the struct, and one that wraps with the length */
    assert_int_equal(xyzp_patched(&b, off0, 4, NULL, 8), BRAIN_FBC_E_AREA_BOUNDS);
    assert_int_equal(xyzp_patched(&b, off1, 1000, NULL, 8), BRAIN_FBC_E_AREA_BOUNDS);
    assert_int_equal(xyzp_patched(&b, off0, 0xfffffff0u, NULL, 8), BRAIN_FBC_E_AREA_BOUNDS);
    /* a length past the struct's end, and one not a multiple of 16 */
    assert_int_equal(xyzp_patched(&b, len0, 16 * 5, NULL, 8), BRAIN_FBC_E_AREA_BOUNDS);
    assert_int_equal(xyzp_patched(&b, len0, 40, NULL, 8), BRAIN_FBC_E_AREA_LENGTH);
    /* point limits: per area and in all */
    brain_fbc_limits_t per = {.points_per_area_max = 2}, total = {.points_max = 3};
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, &per, 8), BRAIN_FBC_E_POINTS_AREA);
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, &total, 8), BRAIN_FBC_E_POINTS_TOTAL);
    brain_fbc_limits_t exact = {.areas_max = 2, .points_per_area_max = 3, .points_max = 4};
    assert_int_equal(xyzp_patched(&b, SIZE_MAX, 0, &exact, 8), 0);
    /* a struct too short for its area count */
    static const uint8_t three[] = {11, 1, 0};
    brain_fbc_struct_t st = {.type = 11, .version = 1, .data = three, .len = 3};
    brain_fbc_view_t v[1];
    brain_fbc_frame_t x;
    assert_int_equal(brain_fbc_xyzp_decode(&st, NULL, v, 1, &x), BRAIN_FBC_E_AREA_TABLE);
    strbuf_free(&b);
}

static void test_ids_and_errors(void **state)
{
    (void)state;
    uint8_t id[8];
    char name[9];
    assert_int_equal(brain_fbc_id_from_name("", id), -1);
    assert_int_equal(brain_fbc_id_from_name("123456789", id), -1);
    assert_int_equal(brain_fbc_id_from_name("c__for", id), 0);
    assert_memory_equal(id, "c__for__", 8);
    assert_int_equal(brain_fbc_id_from_name("c__for12", id), 0);
    brain_fbc_id_to_name(id, name);
    assert_string_equal(name, "c__for12");
    const uint8_t odd[8] = {'a', 0x01, 'b', 0xff, 0, 0, 0, 0};
    brain_fbc_id_to_name(odd, name);
    assert_string_equal(name, "a?b?");
    for (int e = BRAIN_FBC_E_NOMEM; e <= 0; e++)
        assert_string_not_equal(brain_fbc_strerror(e), "unknown error");
    assert_string_equal(brain_fbc_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xyzp_round_trip),        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_multi_struct_and_empty), cmocka_unit_test(test_container_malformed),
        cmocka_unit_test(test_xyzp_malformed),         cmocka_unit_test(test_ids_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
