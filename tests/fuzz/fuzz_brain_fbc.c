/* Fuzzes the robot I/O decoder (src/brain/brain_fbc.c) as an unregistered peer reaches it: one
 * ZMQ message decoded as a FeagiByteContainer v4, every XYZP struct in it decoded under tight
 * limits and every point read. Checks beyond memory safety: every view lies inside the input,
 * the point counts add up, and a decoded frame re-encodes to a container that decodes to the
 * same points. Input: one message, exactly as a frame. */
#include <assert.h>

#include "brain/brain_fbc.h"
#include "fuzz_util.h"

#define FUZZ_AREAS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void fuzz_reencode(const brain_fbc_frame_t *x)
{
    brain_fbc_area_t areas[FUZZ_AREAS];
    float *ps[FUZZ_AREAS];
    uint32_t *planes = malloc(sizeof(uint32_t) * 4 * (x->points + 1));
    assert(planes);
    size_t at = 0;
    for (size_t a = 0; a < x->n_areas; a++) {
        const brain_fbc_view_t *v = &x->areas[a];
        uint32_t *px = planes + at, *py = px + v->n, *pz = py + v->n;
        float *pp = ps[a] = malloc(sizeof(float) * (v->n + 1));
        assert(pp);
        for (size_t i = 0; i < v->n; i++)
            brain_fbc_xyzp_point(v, i, &px[i], &py[i], &pz[i], &pp[i]);
        areas[a] = (brain_fbc_area_t){.n = v->n, .x = px, .y = py, .z = pz, .p = pp};
        memcpy(areas[a].id, v->id, BRAIN_FBC_ID_LEN);
        at += 3 * v->n;
    }
    strbuf_t b;
    strbuf_init(&b, 0);
    static const uint8_t id[BRAIN_FBC_ID_LEN];
    assert(brain_fbc_encode_xyzp(&b, 1, id, areas, x->n_areas) == 0);
    brain_fbc_t fbc;
    assert(brain_fbc_decode(b.data, b.len, &fbc) == 0 && fbc.n == 1);
    brain_fbc_view_t views[FUZZ_AREAS];
    brain_fbc_frame_t y;
    assert(brain_fbc_xyzp_decode(&fbc.structs[0], NULL, views, FUZZ_AREAS, &y) == 0);
    assert(y.n_areas == x->n_areas && y.points == x->points);
    for (size_t a = 0; a < y.n_areas; a++) {
        assert(memcmp(y.areas[a].id, x->areas[a].id, BRAIN_FBC_ID_LEN) == 0);
        /* the same bytes: floats compared bit for bit (NaN payloads included) */
        assert(memcmp(y.areas[a].data, x->areas[a].data, 16 * x->areas[a].n) == 0);
        free(ps[a]);
    }
    strbuf_free(&b);
    free(planes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brain_fbc_t *fbc = malloc(sizeof *fbc);
    assert(fbc);
    if (brain_fbc_decode(data, size, fbc) == 0) {
        for (size_t i = 0; i < fbc->n; i++) {
            const brain_fbc_struct_t *st = &fbc->structs[i];
            assert(st->data >= data && st->len <= size && st->data + st->len <= data + size);
            const char *j;
            size_t jn;
            if (brain_fbc_json(st, &j, &jn) == 0)
                assert(jn + 2 == st->len);
            brain_fbc_limits_t lim = {
                .areas_max = FUZZ_AREAS, .points_per_area_max = 4096, .points_max = 8192};
            brain_fbc_view_t views[FUZZ_AREAS];
            brain_fbc_frame_t x;
            if (brain_fbc_xyzp_decode(st, &lim, views, FUZZ_AREAS, &x) != 0)
                continue;
            size_t total = 0;
            for (size_t a = 0; a < x.n_areas; a++) {
                const brain_fbc_view_t *v = &x.areas[a];
                assert(v->data >= st->data && v->data + 16 * v->n <= st->data + st->len);
                total += v->n;
            }
            assert(total == x.points && total <= lim.points_max);
            fuzz_reencode(&x);
        }
    }
    free(fbc);
    return 0;
}
